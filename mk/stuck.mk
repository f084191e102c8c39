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
