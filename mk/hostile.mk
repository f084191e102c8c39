# A target that writes garbage where ahprof reads (tests/targets/hostile.c), an ahprof built
# with ASan+UBSan to run against it (tests/collector/test_hostile.c), and the libFuzzer target
# of the batch decoder (what `record` takes out of the ring buffer).
#
#   make test-fuzz-decode   fuzz decode.c + merge.c for FUZZ_TIME seconds (clang, libFuzzer)

# Links libah.a to reach libah's internals (src/lib/internal.h): hidden symbols resolve
# from the archive.
$(B)/targets/hostile: tests/targets/hostile.c $(B)/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ $(B)/libah.a -lpthread

# $(B)/asan/ahprof: the Makefile, next to ahprof.
CHECK_BINS += $(B)/targets/hostile $(B)/asan/ahprof
test-collector: $(B)/targets/hostile $(B)/asan/ahprof

DECODE_SRCS := src/cli/collect/decode.c src/cli/collect/merge.c
DECODE_HDRS := src/cli/common/clock.h src/cli/collect/decode.h src/cli/collect/merge.h src/contracts/ahprof.h src/contracts/batch_rules.h src/contracts/live_rules.h

$(B)/fuzz/fuzz_decode: tests/fuzz/fuzz_decode.c $(DECODE_SRCS) $(DECODE_HDRS)
	$(call msg,FUZZ-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -std=gnu11 $(WARN) -g -O1 -Iinclude -Isrc/cli -Isrc/contracts \
		-fsanitize=fuzzer,address,undefined,float-cast-overflow -fno-sanitize-recover=all \
		$< $(DECODE_SRCS) -o $@

$(B)/fuzz/gen_decode_corpus: tests/fuzz/gen_decode_corpus.c $(DECODE_HDRS)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Isrc/cli $< -o $@

# Like test-fuzz (mk/datafile.mk): fresh seeds from the current layout, a time-bounded run.
.PHONY: test-fuzz-decode
test-fuzz-decode: $(B)/fuzz/fuzz_decode $(B)/fuzz/gen_decode_corpus
	$(Q)rm -rf $(B)/fuzz/decode-corpus $(B)/fuzz/decode-work
	$(Q)mkdir -p $(B)/fuzz/decode-corpus $(B)/fuzz/decode-work
	$(Q)$(B)/fuzz/gen_decode_corpus $(B)/fuzz/decode-corpus
	$(Q)echo "== $(B)/fuzz/fuzz_decode ($(FUZZ_TIME) s)"
	$(Q)if ! $(B)/fuzz/fuzz_decode -max_total_time=$(FUZZ_TIME) -max_len=32768 \
		-print_final_stats=1 -artifact_prefix=$(B)/fuzz/decode- $(B)/fuzz/decode-work \
		$(B)/fuzz/decode-corpus >$(B)/fuzz/decode-log 2>&1; then \
		tail -n 80 $(B)/fuzz/decode-log; exit 1; fi
	$(Q)grep -E '^(Done|stat::peak_rss_mb)' $(B)/fuzz/decode-log
CHECK_BINS += $(B)/fuzz/fuzz_decode $(B)/fuzz/gen_decode_corpus
EXTRA_TESTS += test-fuzz-decode
