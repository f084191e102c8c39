# Benchmarks of libah's event path (docs/BENCHMARKS.md). `make bench` runs every target listed
# as a prerequisite of `bench`; other fragments may add theirs.
BENCH_DIR := $(B)/bench
# Each benchmark's output is kept too, for the one table bench/summary.sh prints at the end of
# `make bench` from the figures of this run only. $(call bench_keep,NAME,COMMAND)
BENCH_OUT := $(BENCH_DIR)/out
bench_keep = mkdir -p $(BENCH_OUT); { $(2); echo $$? >$(BENCH_OUT)/$(1).rc; } | tee $(BENCH_OUT)/$(1).txt; \
	exit $$(cat $(BENCH_OUT)/$(1).rc)

# Figures of an earlier run must not reach this run's table.
.PHONY: bench-start bench-summary
bench-start:
	$(Q)rm -f $(BENCH_OUT)/*.txt $(BENCH_OUT)/*.rc
bench: bench-summary
bench-summary:
	$(Q)bench/summary.sh $(BENCH_OUT)/*.txt

$(BENCH_DIR)/bench_lifecycle_static: bench/bench_lifecycle.c bench/bench_empty.c $(B)/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -DBENCH_STATIC bench/bench_lifecycle.c bench/bench_empty.c \
		-o $@ $(B)/libah.a -lpthread

$(BENCH_DIR)/bench_lifecycle_shared: bench/bench_lifecycle.c bench/bench_empty.c $(B)/libah.so
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) bench/bench_lifecycle.c bench/bench_empty.c -o $@ \
		-L$(B) -lah -Wl,-rpath,$(abspath $(B)) -lpthread

BENCH_LIFECYCLE_BINS := $(BENCH_DIR)/bench_lifecycle_static $(BENCH_DIR)/bench_lifecycle_shared

# The same, with libah's probes (and ahbench:hit) built to trap when traced (AH_PROBE_TRAP,
# src/lib/probes.h): the batch path's cost where a uprobe costs what it does without the
# kernel's nop5 optimisation, measured side by side on this machine (bench/batch.sh).
TRAP_LIB_OBJS := $(LIB_SRCS:%.c=$(BENCH_DIR)/trap/%.o)
$(BENCH_DIR)/trap/%.o: %.c
	$(call msg,CC-TRAP,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LIB_CFLAGS) $(CFLAGS) -DAH_PROBE_TRAP -c $< -o $@
$(BENCH_DIR)/trap/libah.a: $(TRAP_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
$(BENCH_DIR)/bench_lifecycle_trap: bench/bench_lifecycle.c bench/bench_empty.c $(BENCH_DIR)/trap/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -DBENCH_STATIC -DAH_PROBE_TRAP bench/bench_lifecycle.c \
		bench/bench_empty.c -o $@ $(BENCH_DIR)/trap/libah.a -lpthread
-include $(TRAP_LIB_OBJS:.o=.d)

.PHONY: bench bench-lifecycle
bench: bench-lifecycle
bench-summary: bench-lifecycle
bench-lifecycle: $(BENCH_LIFECYCLE_BINS) | bench-deps bench-start
	$(Q)$(call bench_keep,lifecycle,bench/run-lifecycle.sh $(BENCH_DIR))

ALL_BINS += $(BENCH_LIFECYCLE_BINS)

$(BENCH_DIR)/paced: bench/paced.c $(B)/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ $(B)/libah.a -lpthread

ALL_BINS += $(BENCH_DIR)/paced

# Traced cost per event, every way side by side, and the 5 M events/s sustained run.
.PHONY: bench-batch
bench: bench-batch
bench-summary: bench-batch
bench-batch: $(BENCH_DIR)/bench_lifecycle_static $(BENCH_DIR)/bench_lifecycle_trap $(BENCH_DIR)/paced \
		$(B)/ahprof | bench-deps bench-start
	$(Q)$(call bench_keep,batch,bench/batch.sh $(B))

# What `ahprof record` keeps, loses and writes per event (tight loop, 10 M events/s, example
# server, a lossy recording's leak view). OTHER=DIR: the same with another build, side by side.
.PHONY: bench-record
bench: bench-record
bench-record: $(BENCH_DIR)/bench_lifecycle_static $(BENCH_DIR)/paced $(B)/ahprof \
		$(B)/targets/workload $(B)/examples/ah-server $(B)/examples/ah-load | bench-deps
	$(Q)bench/record.sh $(B) $(OTHER)

# What libah's fork handler (src/lib/fork.c) costs a fork(), untraced and traced.
$(BENCH_DIR)/bench_fork: bench/bench_fork.c $(B)/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ $(B)/libah.a -lpthread

ALL_BINS += $(BENCH_DIR)/bench_fork

.PHONY: bench-fork
bench: bench-fork
bench-fork: $(BENCH_DIR)/bench_fork $(B)/ahprof | bench-deps
	$(Q)bench/fork.sh $(B)

# How long `stuck` answers and `record`/`top` take to stop (the tests only bound hangs).
.PHONY: bench-stop
bench: bench-stop
bench-stop: $(B)/ahprof $(B)/targets/stuckers $(B)/targets/workload | bench-deps
	$(Q)bench/stop_latency.sh $(B)
