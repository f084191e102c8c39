# The context storage patterns (docs/context.md, "Examples") run on the example server:
# examples/context/*.c are linked into ah-server (mk/examples.mk) and turned on by its --log,
# --trace, --crumbs and --db options. tests/context/*.c test each pattern, in process where no
# server is needed and otherwise by driving the real server over 127.0.0.1. Everything runs
# plain, under ASan+UBSan (leak check on, in the tests and in the server) and under TSan: each
# test variant starts the server built the same way.
#
#   make test-context-examples

CTXEX_CFLAGS := $(BASE_CFLAGS) -D_GNU_SOURCE -pthread -Iexamples/context
CTXEX_LIBS := -lsqlite3 -lpthread
CTXEX_SRCS := $(wildcard examples/context/*.c)
CTXEX_SERVER_SRCS := $(wildcard examples/server/*.c)
CTXEX_TEST_SRCS := $(wildcard tests/context/test_*.c)

# Objects per variant, in directories of their own: no other pattern rule matches them.
CTXEX_OBJS := $(CTXEX_SRCS:examples/context/%.c=$(B)/ctxex/%.o)
CTXEX_ASAN_OBJS := $(CTXEX_SRCS:examples/context/%.c=$(B)/asan/ctxex/%.o)
CTXEX_TSAN_OBJS := $(CTXEX_SRCS:examples/context/%.c=$(B)/tsan/ctxex/%.o)
CTXEX_ASAN_SERVER_OBJS := $(CTXEX_SERVER_SRCS:examples/server/%.c=$(B)/asan/ctxsrv/%.o)
CTXEX_TSAN_SERVER_OBJS := $(CTXEX_SERVER_SRCS:examples/server/%.c=$(B)/tsan/ctxsrv/%.o)
CTXEX_ASAN_SERVER := $(B)/asan/examples/ah-server
CTXEX_TSAN_SERVER := $(B)/tsan/examples/ah-server
CTXEX_TESTS := $(CTXEX_TEST_SRCS:tests/context/%.c=$(B)/tests/context/%)
CTXEX_ASAN_TESTS := $(CTXEX_TEST_SRCS:tests/context/%.c=$(B)/asan/tests/context/%)
CTXEX_TSAN_TESTS := $(CTXEX_TEST_SRCS:tests/context/%.c=$(B)/tsan/tests/context/%)

$(CTXEX_OBJS): $(B)/ctxex/%.o: examples/context/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) $(CFLAGS) -c $< -o $@
$(CTXEX_ASAN_OBJS): $(B)/asan/ctxex/%.o: examples/context/%.c
	$(call msg,CC-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) -O1 -g $(ASAN_FLAGS) -c $< -o $@
$(CTXEX_TSAN_OBJS): $(B)/tsan/ctxex/%.o: examples/context/%.c
	$(call msg,CC-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) -O1 -g $(TSAN_FLAGS) -c $< -o $@
$(CTXEX_ASAN_SERVER_OBJS): $(B)/asan/ctxsrv/%.o: examples/server/%.c
	$(call msg,CC-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) -O1 -g $(ASAN_FLAGS) -c $< -o $@
$(CTXEX_TSAN_SERVER_OBJS): $(B)/tsan/ctxsrv/%.o: examples/server/%.c
	$(call msg,CC-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) -O1 -g $(TSAN_FLAGS) -c $< -o $@

# The example server built with the sanitizers, for the tests of the same variant.
$(CTXEX_ASAN_SERVER): $(CTXEX_ASAN_SERVER_OBJS) $(CTXEX_ASAN_OBJS) $(B)/asan/libah.a
	$(call msg,LD-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -pthread $(ASAN_FLAGS) -o $@ $^ $(CTXEX_LIBS)
$(CTXEX_TSAN_SERVER): $(CTXEX_TSAN_SERVER_OBJS) $(CTXEX_TSAN_OBJS) $(B)/tsan/libah.a
	$(call msg,LD-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -pthread $(TSAN_FLAGS) -o $@ $^ $(CTXEX_LIBS)

# AH_SERVER_BIN: the server the tests start, as an absolute path so that they run from
# anywhere ($AH_SERVER overrides it).
$(CTXEX_TESTS): $(B)/tests/context/%: tests/context/%.c tests/context/ctx_test.h \
		tests/context/server_test.h $(CTXEX_OBJS) $(TEST_SUPPORT_OBJS) $(B)/libah.a \
		| $(B)/examples/ah-server
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) $(CFLAGS) -Itests -Itests/support \
		-DAH_SERVER_BIN='"$(abspath $(B)/examples/ah-server)"' $< -o $@ $(CTXEX_OBJS) \
		$(TEST_SUPPORT_OBJS) $(B)/libah.a $(CRITERION_LIBS) $(CTXEX_LIBS)
$(CTXEX_ASAN_TESTS): $(B)/asan/tests/context/%: tests/context/%.c tests/context/ctx_test.h \
		tests/context/server_test.h $(CTXEX_ASAN_OBJS) $(ASAN_TEST_SUPPORT_OBJS) \
		$(B)/asan/libah.a | $(CTXEX_ASAN_SERVER)
	$(call msg,TEST-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) -O1 -g $(ASAN_FLAGS) -Itests -Itests/support \
		-DAH_SERVER_BIN='"$(abspath $(CTXEX_ASAN_SERVER))"' $< -o $@ $(CTXEX_ASAN_OBJS) \
		$(ASAN_TEST_SUPPORT_OBJS) $(B)/asan/libah.a $(CRITERION_LIBS) $(CTXEX_LIBS)
# tests/support/tsan_criterion.c lets Criterion run under TSan (see there).
$(CTXEX_TSAN_TESTS): $(B)/tsan/tests/context/%: tests/context/%.c tests/context/ctx_test.h \
		tests/context/server_test.h tests/support/tsan_criterion.c $(CTXEX_TSAN_OBJS) \
		$(TSAN_TEST_SUPPORT_OBJS) $(B)/tsan/libah.a | $(CTXEX_TSAN_SERVER)
	$(call msg,TEST-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) -O1 -g $(TSAN_FLAGS) -Itests -Itests/support \
		-DAH_SERVER_BIN='"$(abspath $(CTXEX_TSAN_SERVER))"' $< tests/support/tsan_criterion.c \
		-o $@ $(CTXEX_TSAN_OBJS) $(TSAN_TEST_SUPPORT_OBJS) $(B)/tsan/libah.a $(CRITERION_LIBS) \
		$(CTXEX_LIBS)

# The servers the tests start are prerequisites here too, so that a rebuilt server is run.
# Sanitizer options reach the servers through the environment.
.PHONY: test-context-examples
test-context-examples: $(CTXEX_TESTS) $(CTXEX_ASAN_TESTS) $(CTXEX_TSAN_TESTS) \
		$(B)/examples/ah-server $(CTXEX_ASAN_SERVER) $(CTXEX_TSAN_SERVER)
	$(Q)set -e; for t in $(CTXEX_TESTS); do echo "== $$t"; $$t $(CRITERION_RUN); done
	$(Q)set -e; for t in $(CTXEX_ASAN_TESTS); do echo "== $$t (ASan+UBSan)"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t $(CRITERION_RUN); done
	$(Q)set -e; for t in $(CTXEX_TSAN_TESTS); do echo "== $$t (TSan)"; \
		TSAN_OPTIONS=halt_on_error=1 setarch $$(uname -m) -R $$t $(CRITERION_RUN); done

CHECK_BINS += $(CTXEX_TESTS) $(CTXEX_ASAN_TESTS) $(CTXEX_TSAN_TESTS) $(CTXEX_ASAN_SERVER) \
	$(CTXEX_TSAN_SERVER)
EXTRA_TESTS += test-context-examples
