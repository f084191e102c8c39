# What every layer of ahprof uses (src/cli/common/): the hash map; the shared event record
# (src/contracts/ahprof.h: test_event_fields) and the rules BPF and the decoder share
# (src/contracts/batch_rules.h: test_batch_rules). Unit tests, also under ASan+UBSan; they
# are built by the tests/cli rules of mk/datafile.mk.
#
#   make test-common
COMMON_TESTS := $(B)/tests/cli/test_hashmap $(B)/tests/cli/test_event_fields \
	$(B)/tests/cli/test_batch_rules $(B)/tests/cli/test_decode_generations \
	$(B)/tests/cli/test_decode_live
COMMON_ASAN_TESTS := $(COMMON_TESTS:$(B)/%=$(B)/asan/%)
CHECK_BINS += $(COMMON_TESTS) $(COMMON_ASAN_TESTS)
EXTRA_TESTS += test-common

.PHONY: test-common
test-common: $(COMMON_TESTS) $(COMMON_ASAN_TESTS)
	$(Q)set -e; for t in $^; do echo "== $$t"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t $(CRITERION_RUN); done
