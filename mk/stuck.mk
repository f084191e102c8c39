# `ahprof stuck` (tests/collector/test_stuck.c): processes stuck in known ways. Linked with
# libah.a to reach libah's internals (src/lib/internal.h) for the hostile mode: hidden symbols
# resolve from the archive.
$(B)/targets/stuckers: tests/targets/stuckers.c $(B)/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ $(B)/libah.a -lpthread

# test_stuck runs the ASan+UBSan ahprof against the hostile mode ($(B)/asan/ahprof: the
# Makefile).
CHECK_BINS += $(B)/targets/stuckers
test-collector: $(B)/targets/stuckers $(B)/asan/ahprof

# lastrun.c loads bpf/stuck.bpf.c, a task iterator of its own: its skeleton must exist first.
$(B)/src/cli/collect/lastrun.o $(B)/asan/src/cli/collect/lastrun.o: $(B)/bpf/stuck.skel.h

# `stuck`'s resources one by one (tests/collector/test_stuck_resources.c): a process that
# queues work and never runs it.
$(B)/targets/pending: tests/targets/pending.c $(B)/libah.so
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -L$(B) -lah -Wl,-rpath,$(abspath $(B))
CHECK_BINS += $(B)/targets/pending
test-collector: $(B)/targets/pending
$(COLLECTOR_DIR)/test_stuck_resources: $(B)/targets/pending $(B)/targets/stuckers
