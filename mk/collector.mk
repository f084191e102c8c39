# Collector tests: ahprof with real BPF against the workload targets (tests/targets/).
COLLECTOR_DIR := $(B)/tests/collector
COLLECTOR_TESTS := $(patsubst tests/collector/%.c,$(COLLECTOR_DIR)/%,$(filter-out tests/collector/run.c,$(wildcard tests/collector/test_*.c)))

$(B)/targets/workload: tests/targets/workload.c $(B)/libah.so
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -L$(B) -lah -Wl,-rpath,$(abspath $(B)) -lpthread

$(B)/targets/workload-static: tests/targets/workload.c $(B)/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ $(B)/libah.a -lpthread

$(B)/targets/linty: tests/targets/linty.c $(B)/libah.so
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -L$(B) -lah -Wl,-rpath,$(abspath $(B)) -lpthread

$(B)/targets/lcbad: tests/targets/lcbad.c $(B)/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ $(B)/libah.a -lpthread

$(B)/targets/forker: tests/targets/forker.c $(B)/libah.so
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -L$(B) -lah -Wl,-rpath,$(abspath $(B)) -lpthread

$(B)/targets/forker-static: tests/targets/forker.c $(B)/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ $(B)/libah.a -lpthread

$(COLLECTOR_DIR)/%: tests/collector/%.c tests/collector/run.c tests/collector/run.h \
		$(TEST_SUPPORT_OBJS) $(B)/libahprof.a
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -DAHP_BUILD='"$(abspath $(B))"' -Itests/collector \
		-Itests/support -Isrc/cli $< tests/collector/run.c -o $@ $(TEST_SUPPORT_OBJS) \
		$(B)/libahprof.a $(CRITERION_LIBS) -ljson-c -lz

COLLECTOR_DEPS := $(B)/ahprof $(B)/targets/workload $(B)/targets/workload-static \
	$(B)/targets/forker $(B)/targets/forker-static $(B)/targets/linty $(B)/targets/lcbad \
	$(COLLECTOR_TESTS)
# test_record_rate and test_record_size: the loads of the benchmarks and the example server.
COLLECTOR_DEPS += $(B)/bench/paced $(B)/bench/bench_lifecycle_static $(B)/examples/ah-server \
	$(B)/examples/ah-load
# test_lints: libah-uv on uvall.
COLLECTOR_DEPS += $(B)/tests/uv/uvall $(B)/libah-uv.so
CHECK_BINS += $(COLLECTOR_DEPS)

# One test at a time: each attaches BPF programs and some count events machine-wide. Each
# binary's wall time is printed after it (also when it fails), and all of them, slowest first,
# at the end: the family must fit in make test's 15 minutes, and CI logs show where time goes.
COLLECTOR_TIMES := $(COLLECTOR_DIR)/times.txt
.PHONY: test-collector
test-collector: $(COLLECTOR_DEPS)
	$(Q)set -e; : >$(COLLECTOR_TIMES); for t in $(COLLECTOR_TESTS); do \
		echo "== $$t (real BPF)"; start=$$(date +%s%N); rc=0; \
		$$t --jobs 1 --short-filename || rc=$$?; \
		ms=$$(( ($$(date +%s%N) - start) / 1000000 )); \
		line=$$(printf '%6d.%d s  %s' $$((ms / 1000)) $$((ms % 1000 / 100)) "$${t##*/}"); \
		echo "$$line" >>$(COLLECTOR_TIMES); \
		echo "== $$t (real BPF) $$((ms / 1000)).$$((ms % 1000 / 100)) s$$([ $$rc = 0 ] || echo ", FAILED ($$rc)")"; \
		[ $$rc = 0 ] || exit $$rc; done; \
		echo "== test-collector wall time per binary, slowest first:"; sort -rn $(COLLECTOR_TIMES); \
		awk '{ s += $$1 } END { printf "== test-collector total %.1f s\n", s }' $(COLLECTOR_TIMES)
EXTRA_TESTS += test-collector

# Requests/s of the example server untraced vs top vs record, ingest rate, report cost.
.PHONY: bench-collector
bench: bench-collector
bench-summary: bench-collector
bench-collector: $(B)/ahprof $(B)/targets/workload $(B)/examples/ah-server $(B)/examples/ah-load \
		| bench-deps bench-start
	$(Q)$(call bench_keep,collector,bench/collector.sh $(B))

# The example server's CPU per request, a traced twin against an untraced one (goal 5 of issue
# 13), each server on a CPU of its own: 10 pairs per tracer with 4 connections (the server
# partly idle: it blocks when the load waits) and with 16 (never idle), then 2 more with the
# kernel's BPF run-time statistics on.
.PHONY: bench-server
bench: bench-server
bench-summary: bench-server
bench-server: $(B)/ahprof $(B)/examples/ah-server $(B)/examples/ah-load | bench-deps bench-start bench-collector
	$(Q)$(call bench_keep,server,B=$(B) PIN=1 bench/server_paired.sh 5)
	$(Q)$(call bench_keep,server16,B=$(B) PIN=1 CONNS=16 bench/server_paired.sh 5)
	$(Q)$(call bench_keep,server-bpf,B=$(B) PIN=1 BPF_STATS=1 bench/server_paired.sh 1)

# The tests of `top --serve` share Prometheus and HTTP helpers (tests/support/promtest.c).
PROMTEST_TESTS := $(filter $(COLLECTOR_DIR)/test_prometheus%,$(COLLECTOR_TESTS))
$(B)/tests/support/promtest.o: tests/support/promtest.c tests/support/promtest.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests/support -c $< -o $@
$(PROMTEST_TESTS): $(B)/tests/support/promtest.o
$(PROMTEST_TESTS): CRITERION_LIBS += $(B)/tests/support/promtest.o
$(COLLECTOR_DIR)/test_prometheus_kernel: $(B)/targets/kernel_truths
$(COLLECTOR_DIR)/test_prometheus_kernel: $(B)/targets/cpushare

# Small targets of one test each, linked with libah.so: cpushare (test_prometheus_kernel),
# handover (test_handover: a flush that finds its generation read already), reuse and late
# (test_generations: threads that outlive their libah state, whose memory the next one takes;
# threads that raise events after libah let go of them), early (test_top_early_destroy: destroys
# that reach top before their init, in slots other live ids hold).
LIBAH_TEST_TARGETS := $(addprefix $(B)/targets/,cpushare handover reuse late early)
$(LIBAH_TEST_TARGETS): $(B)/targets/%: tests/targets/%.c $(B)/libah.so
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -L$(B) -lah -Wl,-rpath,$(abspath $(B)) -lpthread
$(COLLECTOR_DIR)/test_handover: $(B)/targets/handover
$(COLLECTOR_DIR)/test_generations: $(B)/targets/reuse $(B)/targets/late
$(COLLECTOR_DIR)/test_top_early_destroy: $(B)/targets/early
CHECK_BINS += $(LIBAH_TEST_TARGETS)
test-collector: $(LIBAH_TEST_TARGETS)
