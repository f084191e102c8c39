# The reorder window of the batch path (src/cli/merge.c): unit tests, also under ASan+UBSan.
MERGE_TESTS := $(B)/tests/merge/test_merge $(B)/asan/tests/merge/test_merge
EXTRA_ALL += $(B)/tests/merge/test_merge
EXTRA_TESTS += test-merge

$(B)/tests/merge/test_merge: tests/merge/test_merge.c src/cli/merge.c src/cli/merge.h
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Isrc/cli $< src/cli/merge.c -o $@ $(CRITERION_LIBS)

$(B)/asan/tests/merge/test_merge: tests/merge/test_merge.c src/cli/merge.c src/cli/merge.h
	$(call msg,TEST-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS) -Isrc/cli $< src/cli/merge.c -o $@ $(CRITERION_LIBS)

.PHONY: test-merge
test-merge: $(MERGE_TESTS)
	$(Q)set -e; for t in $(MERGE_TESTS); do echo "== $$t"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t $(CRITERION_RUN); done
