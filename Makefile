# ahprof - async_hooks for C, profiled with eBPF.
#
#   make            build libah (static and shared), ahprof, the examples, the benchmark programs
#   make check      also build every test program (needs the test packages; runs nothing)
#   make test       install missing packages, build, run every test (also under ASan/UBSan, TSan)
#   make demo       install missing packages, build, profile the bundled example server
#   make bench      run the benchmarks (figures go to docs/BENCHMARKS.md by hand)
#   make install    PREFIX=/usr/local DESTDIR=
#   V=1             show the commands
#
# The packages for each purpose (build, test, bench) are listed in scripts/packages/.
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:
.DEFAULT_GOAL := all

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
B := build

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# The version lives in include/ah.h (AH_VERSION_MAJOR/MINOR/PATCH) only.
VERSION := $(shell sed -n 's/^\#define AH_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9][0-9]*\)$$/\2/p' \
	include/ah.h | paste -sd.)
ifeq ($(filter 3,$(words $(subst ., ,$(VERSION)))),)
$(error cannot read the version (AH_VERSION_MAJOR/MINOR/PATCH) from include/ah.h)
endif
SONAME := libah.so.0

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARN) -fno-omit-frame-pointer -Iinclude -Isrc/lib -Isrc/contracts -MMD -MP
LIB_CFLAGS := $(BASE_CFLAGS) -fPIC -fvisibility=hidden
CRITERION_LIBS := -lcriterion
# tests/support: the tests' one process runner and one scratch-directory helper, compiled once
# per build variant (plain here; ASan and TSan by the $(B)/asan/%.o and $(B)/tsan/%.o rules).
TEST_SUPPORT_OBJS := $(B)/tests/support/proc.o $(B)/tests/support/tmpdir.o
ASAN_TEST_SUPPORT_OBJS := $(TEST_SUPPORT_OBJS:$(B)/%=$(B)/asan/%)
TSAN_TEST_SUPPORT_OBJS := $(TEST_SUPPORT_OBJS:$(B)/%=$(B)/tsan/%)

LIB_SRCS := $(wildcard src/lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

# Sanitizer builds of the library and its unit tests.
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_FLAGS := -fsanitize=thread
ASAN_LIB_OBJS := $(LIB_SRCS:%.c=$(B)/asan/%.o)
TSAN_LIB_OBJS := $(LIB_SRCS:%.c=$(B)/tsan/%.o)
ASAN_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/asan/tests/%)
TSAN_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tsan/tests/%)

# ahprof: BPF object -> skeleton -> collector CLI.
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I/usr/include/$(shell uname -m)-linux-gnu \
	-I$(B)/bpf -Ibpf -Isrc/contracts -Wall -Werror
CLI_SRCS := $(wildcard src/cli/*/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(B)/%.o)
# ahprof's core, everything but main(), is one archive that ahprof and the test programs link:
# each source is compiled once per variant (plain, ASan), not once per test program.
CORE_OBJS := $(filter-out $(B)/src/cli/cmd/main.o,$(CLI_OBJS))
# Only the code that loads the BPF program includes its skeleton: a changed BPF program
# recompiles these and nothing else (-MMD -MP records the other headers).
SKEL_USERS := collect/collector
CLI_CFLAGS := $(BASE_CFLAGS) -I$(B)/bpf -Isrc/cli
CLI_LIBS := -lbpf -ldw -lelf -lz -lm -lncurses

# Fragments add what `make` builds to ALL_BINS (it must build with scripts/packages/build.txt
# alone) and test programs to CHECK_BINS, built by `make check`. EXTRA_ALL, the name from before
# the two were split, counts as CHECK_BINS: what a fragment listed there may need the test
# packages.
ALL_BINS :=
CHECK_BINS :=
EXTRA_ALL :=
# An explicit order, not a wildcard: bench.mk defines BENCH_DIR, which lttng.mk uses in target
# names, and EXTRA_TESTS runs in this order.
MK_FRAGMENTS := bench collector common console context-examples context datafile examples export \
	flame hostile kernel limits lttng probes setup stuck uv uvreal
include $(MK_FRAGMENTS:%=mk/%.mk)
# A new fragment must be placed in that order, not silently left out.
MK_UNLISTED := $(filter-out $(MK_FRAGMENTS:%=mk/%.mk),$(wildcard mk/*.mk))
ifneq ($(MK_UNLISTED),)
$(error $(MK_UNLISTED): add to MK_FRAGMENTS in the Makefile)
endif
CHECK_BINS += $(EXTRA_ALL)

.PHONY: print-version
print-version:
	@echo $(VERSION)

.PHONY: all lib check deps bench-deps test test-unit test-asan test-tsan demo bench install uninstall clean format check-format
all: lib $(B)/ahprof $(ALL_BINS)
lib: $(B)/libah.a $(B)/libah.so $(B)/ah.pc
check: all $(UNIT_BINS) $(ASAN_UNIT_BINS) $(TSAN_UNIT_BINS) $(CHECK_BINS)

deps:
	$(Q)scripts/install-deps.sh $(DEPS_FLAGS)

# Order-only prerequisite of the bench-* targets. Without the packages (not root, no network)
# the benchmarks that need them say so and skip.
bench-deps:
	$(Q)scripts/install-deps.sh --bench || \
		echo "bench: packages are missing (as root: scripts/install-deps.sh --bench)"

$(B)/src/lib/%.o: src/lib/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LIB_CFLAGS) $(CFLAGS) -c $< -o $@

$(B)/libah.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/$(SONAME).$(VERSION:0.%=%): $(LIB_OBJS) src/lib/libah.map
	$(call msg,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/lib/libah.map \
		-o $@ $(LIB_OBJS) -lpthread
$(B)/libah.so: $(B)/$(SONAME).$(VERSION:0.%=%)
	$(Q)ln -sf $(notdir $<) $(B)/$(SONAME) && ln -sf $(SONAME) $@

# ah.pc carries the install paths: `make install PREFIX=/x` after `make` must rewrite it. The
# stamp changes (and so ah.pc is rebuilt) only when one of the paths does.
AH_PC_VARS := $(PREFIX):$(LIBDIR):$(INCLUDEDIR):$(VERSION)
$(B)/ah.pc.vars: FORCE
	@mkdir -p $(@D)
	@echo '$(AH_PC_VARS)' | cmp -s - $@ || echo '$(AH_PC_VARS)' > $@
.PHONY: FORCE
FORCE:

$(B)/ah.pc: Makefile $(B)/ah.pc.vars
	$(Q)mkdir -p $(@D)
	$(Q)printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
		'Name: ah' 'Description: async_hooks for C (libah), traced by ahprof' \
		'Version: $(VERSION)' 'Libs: -L$${libdir} -lah' 'Libs.private: -lpthread' \
		'Cflags: -I$${includedir}' > $@

# vmlinux.h comes from the running kernel's BTF; CO-RE relocates it for other kernels.
$(B)/bpf/vmlinux.h:
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(B)/bpf/vmlinux.h
	$(call msg,BPF,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(B)/src/cli/%.o: src/cli/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CLI_CFLAGS) $(CFLAGS) -c $< -o $@
# Where `make install` puts libah-uv.so, for `--uv` when it is not beside ahprof.
$(B)/src/cli/collect/libuv.o $(B)/asan/src/cli/collect/libuv.o: CLI_CFLAGS += -DAHP_LIBDIR='"$(LIBDIR)"'
# The skeleton is generated: its users must wait for it on a first build.
$(SKEL_USERS:%=$(B)/src/cli/%.o): $(B)/bpf/ahprof.skel.h

$(B)/libahprof.a: $(CORE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/ahprof: $(B)/src/cli/cmd/main.o $(B)/libahprof.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(CLI_LIBS)

# The same with ASan+UBSan, for the tests built that way and the ahprof that
# tests/collector/test_hostile.c runs. float-cast-overflow is not part of GCC's
# -fsanitize=undefined; timestamps are doubles.
ASAN_CLI_FLAGS := $(ASAN_FLAGS) -fsanitize=float-cast-overflow
ASAN_CLI_OBJS := $(CLI_SRCS:%.c=$(B)/asan/%.o)
ASAN_CORE_OBJS := $(filter-out $(B)/asan/src/cli/cmd/main.o,$(ASAN_CLI_OBJS))

# A static pattern, so that the $(B)/asan/%.o rule below (library flags) never builds these.
$(ASAN_CLI_OBJS): $(B)/asan/src/cli/%.o: src/cli/%.c
	$(call msg,CC-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CLI_CFLAGS) -O1 -g $(ASAN_CLI_FLAGS) -c $< -o $@
$(SKEL_USERS:%=$(B)/asan/src/cli/%.o): $(B)/bpf/ahprof.skel.h

$(B)/asan/libahprof.a: $(ASAN_CORE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/asan/ahprof: $(B)/asan/src/cli/cmd/main.o $(B)/asan/libahprof.a
	$(call msg,LD,$@)
	$(Q)$(CC) -O1 -g $(ASAN_CLI_FLAGS) -o $@ $^ $(CLI_LIBS)

$(TEST_SUPPORT_OBJS): $(B)/tests/support/%.o: tests/support/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

# Unit tests link the static library so that they run without installing anything.
$(B)/tests/%: tests/unit/%.c $(B)/libah.a
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests $< -o $@ $(B)/libah.a $(CRITERION_LIBS) -lpthread

$(B)/asan/%.o: %.c
	$(call msg,CC-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LIB_CFLAGS) -O1 -g $(ASAN_FLAGS) -c $< -o $@
$(B)/asan/libah.a: $(ASAN_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/asan/tests/%: tests/unit/%.c $(B)/asan/libah.a
	$(call msg,TEST-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS) -Itests $< -o $@ $(B)/asan/libah.a $(CRITERION_LIBS) -lpthread

$(B)/tsan/%.o: %.c
	$(call msg,CC-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LIB_CFLAGS) -O1 -g $(TSAN_FLAGS) -c $< -o $@
$(B)/tsan/libah.a: $(TSAN_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/tsan/tests/%: tests/unit/%.c tests/support/tsan_criterion.c $(B)/tsan/libah.a
	$(call msg,TEST-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(TSAN_FLAGS) -Itests $< tests/support/tsan_criterion.c -o $@ \
		$(B)/tsan/libah.a $(CRITERION_LIBS) -lpthread

# Criterion forks a process per test; --jobs 2 matches the CI machine.
CRITERION_RUN := --jobs 2 --short-filename

test-unit: $(UNIT_BINS)
	$(Q)set -e; for t in $^; do echo "== $$t"; $$t $(CRITERION_RUN); done

test-asan: $(ASAN_UNIT_BINS)
	$(Q)set -e; for t in $^; do echo "== $$t (ASan+UBSan)"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t $(CRITERION_RUN); done

# TSan needs ASLR within the ranges it knows; setarch -R keeps it happy on new kernels.
# tests/support/tsan_criterion.c keeps Criterion's arena inside TSan's application range.
test-tsan: $(TSAN_UNIT_BINS)
	$(Q)set -e; for t in $^; do echo "== $$t (TSan)"; \
		TSAN_OPTIONS=halt_on_error=1 setarch $$(uname -m) -R $$t $(CRITERION_RUN); done

# make test on 2 cores: the build uses both (unless -j was given), and the families that neither
# attach BPF programs nor measure time, rates or CPU shares run two at a time, each family's
# output kept together: they only compete for the CPU. The fuzzers (a fixed time on one core
# each) come first, two of them side by side, then the third beside the rest. Then the other
# families run one at a time, alone on the machine, as collector tests must.
TEST_JOBS ?= 2
CPU_ONLY_TESTS := test-fuzz test-fuzz-decode test-fuzz-pb test-context-examples test-tsan \
	test-asan test-datafile test-unit test-common test-limits test-hot-path test-setup
test: DEPS_FLAGS := --test
test: deps
	$(Q)tests/flame/install-test-deps.sh $(B)
	$(Q)$(MAKE) --no-print-directory $(if $(findstring -j,$(MAKEFLAGS)),,-j$(TEST_JOBS)) check
	$(Q)$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target \
		$(filter test-unit test-asan test-tsan $(EXTRA_TESTS),$(CPU_ONLY_TESTS))
	$(Q)$(MAKE) --no-print-directory $(if $(findstring -j,$(MAKEFLAGS)),-j1) \
		$(filter-out $(CPU_ONLY_TESTS),$(EXTRA_TESTS))

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh $(B)

install: lib
	$(Q)install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	$(Q)install -m 644 include/ah.h $(DESTDIR)$(INCLUDEDIR)/
	$(Q)install -m 644 $(B)/libah.a $(DESTDIR)$(LIBDIR)/
	$(Q)install -m 755 $(B)/$(SONAME).$(VERSION:0.%=%) $(DESTDIR)$(LIBDIR)/
	$(Q)ln -sf $(SONAME).$(VERSION:0.%=%) $(DESTDIR)$(LIBDIR)/$(SONAME)
	$(Q)ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libah.so
	$(Q)install -m 644 $(B)/ah.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	$(Q)$(if $(wildcard $(B)/ahprof),install -d $(DESTDIR)$(BINDIR) && install -m 755 $(B)/ahprof $(DESTDIR)$(BINDIR)/,true)

uninstall:
	$(Q)rm -f $(DESTDIR)$(INCLUDEDIR)/ah.h $(DESTDIR)$(LIBDIR)/libah.a $(DESTDIR)$(LIBDIR)/libah.so* \
		$(DESTDIR)$(LIBDIR)/pkgconfig/ah.pc $(DESTDIR)$(BINDIR)/ahprof

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' | grep -v vmlinux.h)
format:
	$(Q)clang-format -i $(FORMAT_FILES)
check-format:
	$(Q)clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	$(Q)rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
