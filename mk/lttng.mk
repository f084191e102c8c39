# The LTTng-UST comparison benchmark (bench/lttng/): what one event costs the fastest userspace
# tracer, next to libah's figures. `make bench-lttng`, also run by `make bench`. It installs
# the LTTng packages first (scripts/install-deps.sh --bench); plain `make` never needs them.
LTTNG_SRCS := bench/lttng/bench_lttng.c bench/lttng/ah_tp.c
# Recursive (=): pkg-config only runs when the benchmark is built.
LTTNG_CFLAGS = -Ibench/lttng $(shell pkg-config --cflags lttng-ust 2>/dev/null)
LTTNG_LIBS = $(or $(shell pkg-config --libs lttng-ust 2>/dev/null),-llttng-ust -ldl)
# Debian installs the headers under /usr/include/<multiarch>/lttng.
LTTNG_UST_H := $(wildcard /usr/include/lttng/tracepoint.h /usr/include/*/lttng/tracepoint.h)

ifneq ($(LTTNG_UST_H),)
# The provider (ah_tp.c) is linked into the program: static linkage of the probe.
$(BENCH_DIR)/bench_lttng: $(LTTNG_SRCS) bench/lttng/ah_tp.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LTTNG_CFLAGS) $(LTTNG_SRCS) -o $@ $(LTTNG_LIBS)
else
$(BENCH_DIR)/bench_lttng:
	@echo "$@ needs the LTTng-UST headers: scripts/install-deps.sh --bench (as root)" >&2
	@false
endif

# The sub-make reads this file again once the packages are installed. Without them (not root,
# no network) the benchmark is skipped rather than failing `make bench`. run.sh is not on a
# $(MAKE) line, so that `make -n bench` only prints it.
.PHONY: bench-lttng bench-lttng-run
bench: bench-lttng
bench-summary: bench-lttng
bench-lttng: | bench-deps bench-start
	$(Q)$(MAKE) --no-print-directory bench-lttng-run

ifneq ($(LTTNG_UST_H),)
bench-lttng-run: $(BENCH_DIR)/bench_lttng
	$(Q)$(call bench_keep,lttng,bench/lttng/run.sh $(BENCH_DIR))
else
bench-lttng-run:
	@echo "lttng bench skipped: no LTTng-UST headers"
endif
