# `ahprof flame -f pprof` and `-f perfetto` (src/cli/export/flame_pprof.c, trace_perfetto.c,
# pb.c), read by their real consumers: `go tool pprof` (golang-go) and `protoc --decode`
# against tests/flame/perfetto_trace.proto (protobuf-compiler); and the libFuzzer target of
# the protobuf writer.
#
#   make test-export        tests/flame/test_pprof_perfetto.c (test-export-read), then fuzz
#                           pb.c for EXPORT_FUZZ_TIME seconds (test-fuzz-pb, default 20)

EXPORT_FUZZ_TIME ?= 20
EXPORT_TEST := $(B)/tests/flame/test_pprof_perfetto

CHECK_BINS += $(EXPORT_TEST) $(B)/fuzz/fuzz_pb
# Two entries, so that make test runs the fuzzer with the other CPU-only families (Makefile).
EXTRA_TESTS += test-export-read test-fuzz-pb

$(EXPORT_TEST): tests/flame/test_pprof_perfetto.c $(TEST_SUPPORT_OBJS)
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -Isrc/cli $(CFLAGS) -DAHP_BUILD='"$(abspath $(B))"' \
		-DAHP_SRC='"$(abspath .)"' -Itests/support $< -o $@ $(TEST_SUPPORT_OBJS) \
		$(CRITERION_LIBS)

# Like the other fuzzers (mk/datafile.mk): clang compiles the writer itself, instrumented.
$(B)/fuzz/fuzz_pb: tests/fuzz/fuzz_pb.c src/cli/export/pb.c src/cli/export/pb.h
	$(call msg,FUZZ-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -std=gnu11 $(WARN) -g -O1 -Isrc/cli \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		$< src/cli/export/pb.c -o $@

.PHONY: test-export test-export-read test-fuzz-pb
test-export: test-export-read
	$(Q)$(MAKE) --no-print-directory test-fuzz-pb

test-export-read: $(EXPORT_TEST) $(B)/tests/flame/ahprof-flame \
		$(B)/asan/tests/flame/ahprof-flame $(B)/tests/flame/flame-gen $(B)/ahprof \
		$(B)/targets/workload
	$(Q)echo "== $(EXPORT_TEST)"
	$(Q)$(EXPORT_TEST) --jobs 2 --short-filename

test-fuzz-pb: $(B)/fuzz/fuzz_pb
	$(Q)rm -rf $(B)/fuzz/pb-work && mkdir -p $(B)/fuzz/pb-work
	$(Q)echo "== $(B)/fuzz/fuzz_pb ($(EXPORT_FUZZ_TIME) s)"
	$(Q)if ! $(B)/fuzz/fuzz_pb -max_total_time=$(EXPORT_FUZZ_TIME) -max_len=4096 \
		-print_final_stats=1 -artifact_prefix=$(B)/fuzz/pb- $(B)/fuzz/pb-work \
		>$(B)/fuzz/pb-log 2>&1; then tail -n 40 $(B)/fuzz/pb-log; exit 1; fi
	$(Q)grep -E '^(Done|stat::peak_rss_mb)' $(B)/fuzz/pb-log
