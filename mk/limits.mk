# What keeps `ahprof record` bounded and its file safe: the reorder window of the batch path
# (src/cli/collect/merge.c) and the writer on a file that cannot grow (src/cli/data/writer.c). Unit
# tests, also under ASan+UBSan; the collector side is tests/collector/test_record_limits.c.
LIMITS_TESTS := $(B)/tests/merge/test_merge $(B)/tests/cli/test_writer_errors
LIMITS_ASAN_TESTS := $(B)/asan/tests/merge/test_merge $(B)/asan/tests/cli/test_writer_errors
CHECK_BINS += $(LIMITS_TESTS) $(LIMITS_ASAN_TESTS)
EXTRA_TESTS += test-limits

$(B)/tests/merge/test_merge: tests/merge/test_merge.c $(B)/libahprof.a
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Isrc/cli $< -o $@ $(B)/libahprof.a $(CRITERION_LIBS)

$(B)/asan/tests/merge/test_merge: tests/merge/test_merge.c $(B)/asan/libahprof.a
	$(call msg,TEST-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS) -Isrc/cli $< -o $@ $(B)/asan/libahprof.a \
		$(CRITERION_LIBS)

.PHONY: test-limits
test-limits: $(LIMITS_TESTS) $(LIMITS_ASAN_TESTS)
	$(Q)set -e; for t in $^; do echo "== $$t"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t $(CRITERION_RUN); done
