# libah-uv on real, unmodified Debian programs (python3-uvloop, kresd, lua-luv, ctest), with
# real BPF: tests/uv/test_uv_real.c and its workloads in tests/uv/real/. A test whose program
# is not installed is skipped and says which package to install.
UVREAL_TEST := $(B)/tests/uv/test_uv_real
# The warnings on the same programs (below).
UVLINTS_TEST := $(B)/tests/uv/test_uv_lints

$(UVREAL_TEST) $(UVLINTS_TEST): $(B)/tests/uv/%: tests/uv/%.c tests/uv/uvreal.h \
		tests/collector/lint_checks.h tests/collector/run.c tests/collector/run.h \
		$(TEST_SUPPORT_OBJS) $(B)/libahprof.a
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -DAHP_BUILD='"$(abspath $(B))"' \
		-DUVREAL_DIR='"$(abspath tests/uv/real)"' -Itests/collector -Itests/support -Isrc/cli \
		-Ibpf $< tests/collector/run.c -o $@ $(TEST_SUPPORT_OBJS) $(B)/libahprof.a \
		$(CRITERION_LIBS) -ljson-c -lz
CHECK_BINS += $(UVREAL_TEST) $(UVLINTS_TEST)

# One test at a time: each attaches BPF programs to a real program.
.PHONY: test-uvreal
test-uvreal: $(UVREAL_TEST) $(B)/ahprof $(B)/libah-uv.so $(B)/tests/uv/asan/libah-uv.so
	$(Q)echo "== $(UVREAL_TEST) (real BPF, real programs)"; $(UVREAL_TEST) --jobs 1 --short-filename
EXTRA_TESTS += test-uvreal

# kresd under dnsperf on loopback: queries/s and CPU per query plain, preloaded untraced,
# under `ahprof top` and under `ahprof record` (figures in docs/BENCHMARKS.md).
.PHONY: bench-uv-kresd
bench: bench-uv-kresd
bench-uv-kresd: $(B)/ahprof $(B)/libah-uv.so | bench-deps
	$(Q)bench/uv_kresd.sh $(B)

# The warnings (docs/lints.md) on the same real programs: none on their clean paths, and
# long-callback with its blocking reason on a uvloop callback that sleeps (test_uv_lints.c).
.PHONY: test-uvlints
test-uvlints: $(UVLINTS_TEST) $(B)/ahprof $(B)/libah-uv.so
	$(Q)echo "== $(UVLINTS_TEST) (real BPF, real programs)"; $(UVLINTS_TEST) --jobs 1 --short-filename
EXTRA_TESTS += test-uvlints
