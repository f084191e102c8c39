# The recorded file format (src/cli/data/: codec.c, writer.c, reader.c), its analysis (model.c) and `ahprof report`
# (report.c): unit tests, also under ASan/UBSan, and the libFuzzer target of the reader.
#
#   make test-datafile   unit tests (normal and ASan+UBSan builds)
#   make test-fuzz       fuzz the reader and the report for FUZZ_TIME seconds (clang, libFuzzer)

DF_SRCS := src/cli/data/codec.c src/cli/data/kreason.c src/cli/data/writer.c src/cli/data/reader.c src/cli/model/model.c src/cli/model/lints.c \
	src/cli/cmd/report.c src/cli/common/escape.c src/cli/common/util.c src/cli/data/recording.c \
	src/cli/common/hashmap.c src/cli/common/json_writer.c
DF_HDRS := src/cli/data/datafile.h src/cli/data/codec.h src/cli/model/model.h src/cli/cmd/report.h \
	src/cli/common/escape.h src/cli/common/util.h src/contracts/ahprof.h src/cli/common/hashmap.h \
	src/cli/common/json_writer.h
DF_CFLAGS := $(BASE_CFLAGS) -Isrc/cli -Itests/support
DF_TEST_NAMES := test_datafile test_report test_json_writer test_packed test_lints_file test_kcodec \
	test_live_scan test_resent_stats
DF_TESTS := $(DF_TEST_NAMES:%=$(B)/tests/cli/%)
DF_ASAN_TESTS := $(DF_TEST_NAMES:%=$(B)/asan/tests/cli/%)
FUZZ_TIME ?= 20

CHECK_BINS += $(DF_TESTS) $(DF_ASAN_TESTS) $(B)/fuzz/fuzz_datafile $(B)/fuzz/gen_corpus
EXTRA_TESTS += test-datafile test-fuzz

$(B)/tests/cli/%: tests/cli/%.c $(TEST_SUPPORT_OBJS) $(B)/libahprof.a
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(DF_CFLAGS) $(CFLAGS) $< -o $@ $(TEST_SUPPORT_OBJS) $(B)/libahprof.a \
		$(CRITERION_LIBS) -ljson-c -lz

$(B)/asan/tests/cli/%: tests/cli/%.c $(ASAN_TEST_SUPPORT_OBJS) $(B)/asan/libahprof.a
	$(call msg,TEST-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(DF_CFLAGS) -O1 -g $(ASAN_FLAGS) $< -o $@ $(ASAN_TEST_SUPPORT_OBJS) \
		$(B)/asan/libahprof.a $(CRITERION_LIBS) -ljson-c -lz

.PHONY: test-datafile test-fuzz
test-datafile: $(DF_TESTS) $(DF_ASAN_TESTS)
	$(Q)set -e; for t in $(DF_TESTS); do echo "== $$t"; $$t $(CRITERION_RUN); done
	$(Q)set -e; for t in $(DF_ASAN_TESTS); do echo "== $$t (ASan+UBSan)"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t $(CRITERION_RUN); done

# libFuzzer needs clang and libclang-rt-14-dev (scripts/install-deps.sh --test). The fuzzers
# compile their sources themselves: the archives are built by $(CC) without the coverage
# instrumentation libFuzzer steers by.
$(B)/fuzz/fuzz_datafile: tests/fuzz/fuzz_datafile.c $(DF_SRCS) $(DF_HDRS) $(B)/bpf/ahp_syscalls.h
	$(call msg,FUZZ-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -std=gnu11 $(WARN) -g -O1 -Iinclude -Isrc/cli -Isrc/contracts -I$(B)/bpf \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		$< $(DF_SRCS) -o $@ -lz

$(B)/fuzz/gen_corpus: tests/fuzz/gen_corpus.c $(B)/libahprof.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(DF_CFLAGS) $(CFLAGS) $< -o $@ $(B)/libahprof.a -lz

# Seeds are written by the current writer, so they follow the format as it is. The run starts
# from them every time (a stale corpus from an older format would only waste the time).
# -close_fd_mask=3: the report's output and error lines would drown libFuzzer's own.
test-fuzz: $(B)/fuzz/fuzz_datafile $(B)/fuzz/gen_corpus
	$(Q)rm -rf $(B)/fuzz/corpus $(B)/fuzz/work && mkdir -p $(B)/fuzz/corpus $(B)/fuzz/work
	$(Q)$(B)/fuzz/gen_corpus $(B)/fuzz/corpus
	$(Q)echo "== $(B)/fuzz/fuzz_datafile ($(FUZZ_TIME) s)"
	$(Q)if ! $(B)/fuzz/fuzz_datafile -max_total_time=$(FUZZ_TIME) -max_len=65536 -close_fd_mask=3 \
		-print_final_stats=1 -artifact_prefix=$(B)/fuzz/ $(B)/fuzz/work $(B)/fuzz/corpus \
		>$(B)/fuzz/log 2>&1; then tail -n 80 $(B)/fuzz/log; exit 1; fi
	$(Q)grep -E '^(Done|stat::peak_rss_mb)' $(B)/fuzz/log
