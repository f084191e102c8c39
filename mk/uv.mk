# libah-uv: the LD_PRELOAD interposer that makes an unmodified libuv program a libah program
# (src/uv/, docs/libuv.md). It links libah.so and finds it next to itself ($ORIGIN), in the
# build tree and once installed; ahprof then finds libah's probes in libah.so.0 as usual.
UV_SRCS := $(wildcard src/uv/*.c)
UV_OBJS := $(UV_SRCS:%.c=$(B)/%.o)
UV_DIR := $(B)/tests/uv

$(B)/src/uv/%.o: src/uv/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LIB_CFLAGS) $(CFLAGS) -c $< -o $@

$(B)/libah-uv.so: $(UV_OBJS) $(B)/libah.so
	$(call msg,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,libah-uv.so -o $@ $(UV_OBJS) -L$(B) -lah \
		-Wl,-rpath,'$$ORIGIN' -ldl -lpthread

ALL_BINS += $(B)/libah-uv.so

.PHONY: install-uv
install: install-uv
install-uv: $(B)/libah-uv.so lib
	$(Q)install -d $(DESTDIR)$(LIBDIR)
	$(Q)install -m 755 $(B)/libah-uv.so $(DESTDIR)$(LIBDIR)/

# tests/uv/uvall.c: every handle and request kind with known numbers; plain and ASan builds.
# It knows nothing of libah: the interposer is what makes it a libah program.
$(UV_DIR)/uvall: tests/uv/uvall.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -luv -lpthread

$(UV_DIR)/uvall-asan: tests/uv/uvall.c
	$(call msg,CC-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS) $< -o $@ -luv -lpthread

# The same program as a module that a host not linked with libuv loads RTLD_LOCAL.
$(UV_DIR)/uvall.so: tests/uv/uvall.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -shared -DUVALL_MODULE $< -o $@ -luv -lpthread

$(UV_DIR)/uvhost: tests/uv/uvhost.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -ldl

$(UV_DIR)/uvmany: tests/uv/uvmany.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -luv -lpthread

# ThreadSanitizer: the interposer with libah linked in (both instrumented) and the programs,
# to check the side table that loops on several threads and the thread pool share.
UV_TSAN_OBJS := $(UV_SRCS:%.c=$(B)/tsan/%.o)
$(UV_TSAN_OBJS): $(B)/tsan/src/uv/%.o: src/uv/%.c
	$(call msg,CC-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LIB_CFLAGS) -O1 -g $(TSAN_FLAGS) -c $< -o $@

$(UV_DIR)/tsan/libah-uv.so: $(UV_TSAN_OBJS) $(B)/tsan/libah.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -shared $(TSAN_FLAGS) -o $@ $(UV_TSAN_OBJS) -Wl,--whole-archive $(B)/tsan/libah.a \
		-Wl,--no-whole-archive -ldl -lpthread

$(UV_DIR)/tsan/%: tests/uv/%.c
	$(call msg,CC-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(TSAN_FLAGS) $< -o $@ -luv -lpthread

# The counting interposers are tests/support/callcount.c's (shared with test_hot_path).
$(UV_DIR)/countcalls.so: tests/uv/countcalls.c tests/support/callcount.c tests/support/callcount.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests/support -fPIC -shared $< tests/support/callcount.c \
		-o $@ -ldl -lpthread

# ASan+UBSan: the interposer (libah inside) under the ASan build of the programs.
UV_ASAN_OBJS := $(UV_SRCS:%.c=$(B)/asan/%.o)
$(UV_DIR)/asan/libah-uv.so: $(UV_ASAN_OBJS) $(B)/asan/libah.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -shared $(ASAN_FLAGS) -o $@ $(UV_ASAN_OBJS) -Wl,--whole-archive $(B)/asan/libah.a \
		-Wl,--no-whole-archive -ldl -lpthread

$(UV_DIR)/asan/uvmany: tests/uv/uvmany.c
	$(call msg,CC-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS) $< -o $@ -luv -lpthread

$(UV_DIR)/test_uv: tests/uv/test_uv.c tests/collector/run.c tests/collector/run.h \
		$(TEST_SUPPORT_OBJS)
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -DAHP_BUILD='"$(abspath $(B))"' \
		-DUV_DIR='"$(abspath $(UV_DIR))"' -Itests/collector -Itests/support $< \
		tests/collector/run.c -o $@ $(TEST_SUPPORT_OBJS) $(CRITERION_LIBS) -ljson-c

UV_TEST_DEPS := $(B)/ahprof $(B)/libah-uv.so $(UV_DIR)/uvall $(UV_DIR)/uvall-asan \
	$(UV_DIR)/uvall.so $(UV_DIR)/uvhost $(UV_DIR)/uvmany $(UV_DIR)/countcalls.so \
	$(UV_DIR)/asan/libah-uv.so $(UV_DIR)/asan/uvmany $(UV_DIR)/tsan/libah-uv.so \
	$(UV_DIR)/tsan/uvall $(UV_DIR)/tsan/uvmany $(UV_DIR)/test_uv
CHECK_BINS += $(UV_TEST_DEPS)

# Real BPF: one test at a time.
.PHONY: test-uv
test-uv: $(UV_TEST_DEPS)
	$(Q)echo "== $(UV_DIR)/test_uv (real BPF)"; $(UV_DIR)/test_uv --jobs 1 --short-filename
EXTRA_TESTS += test-uv

# What a wrapped libuv call costs, untraced and under ahprof (docs/BENCHMARKS.md).
$(BENCH_DIR)/bench_uv: bench/bench_uv.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -luv -lpthread

ALL_BINS += $(BENCH_DIR)/bench_uv

.PHONY: bench-uv
bench: bench-uv
bench-uv: $(BENCH_DIR)/bench_uv $(B)/libah-uv.so $(B)/ahprof | bench-deps
	$(Q)bench/uv.sh $(B)
