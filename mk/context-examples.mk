# The context storage patterns (docs/context.md, "Examples"): examples/context/ builds
# build/examples/ah-context-demo; tests/context/*.c test each pattern, linked with the
# example's objects, plain, under ASan+UBSan (leak check on) and under TSan.
#
#   make test-context-examples

CTXEX_CFLAGS := $(BASE_CFLAGS) -D_GNU_SOURCE -pthread -Iexamples/context
CTXEX_LIBS := -lsqlite3 -lpthread
CTXEX_SRCS := $(filter-out examples/context/main.c,$(wildcard examples/context/*.c))
CTXEX_TEST_SRCS := $(wildcard tests/context/test_*.c)

# Objects per variant, in directories of their own: no other pattern rule matches them.
CTXEX_OBJS := $(CTXEX_SRCS:examples/context/%.c=$(B)/ctxex/%.o)
CTXEX_ASAN_OBJS := $(CTXEX_SRCS:examples/context/%.c=$(B)/asan/ctxex/%.o)
CTXEX_TSAN_OBJS := $(CTXEX_SRCS:examples/context/%.c=$(B)/tsan/ctxex/%.o)
CTXEX_TESTS := $(CTXEX_TEST_SRCS:tests/context/%.c=$(B)/tests/context/%)
CTXEX_ASAN_TESTS := $(CTXEX_TEST_SRCS:tests/context/%.c=$(B)/asan/tests/context/%)
CTXEX_TSAN_TESTS := $(CTXEX_TEST_SRCS:tests/context/%.c=$(B)/tsan/tests/context/%)

$(CTXEX_OBJS) $(B)/ctxex/main.o: $(B)/ctxex/%.o: examples/context/%.c
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

$(B)/examples/ah-context-demo: $(B)/ctxex/main.o $(CTXEX_OBJS) $(B)/libah.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -pthread -o $@ $(B)/ctxex/main.o $(CTXEX_OBJS) $(B)/libah.a $(CTXEX_LIBS)

$(CTXEX_TESTS): $(B)/tests/context/%: tests/context/%.c $(CTXEX_OBJS) $(B)/libah.a
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) $(CFLAGS) -Itests $< -o $@ $(CTXEX_OBJS) $(B)/libah.a \
		$(CRITERION_LIBS) $(CTXEX_LIBS)
$(CTXEX_ASAN_TESTS): $(B)/asan/tests/context/%: tests/context/%.c $(CTXEX_ASAN_OBJS) $(B)/asan/libah.a
	$(call msg,TEST-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) -O1 -g $(ASAN_FLAGS) -Itests $< -o $@ $(CTXEX_ASAN_OBJS) \
		$(B)/asan/libah.a $(CRITERION_LIBS) $(CTXEX_LIBS)
# tests/support/tsan_criterion.c lets Criterion run under TSan (see there).
$(CTXEX_TSAN_TESTS): $(B)/tsan/tests/context/%: tests/context/%.c tests/support/tsan_criterion.c \
		$(CTXEX_TSAN_OBJS) $(B)/tsan/libah.a
	$(call msg,TEST-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CTXEX_CFLAGS) -O1 -g $(TSAN_FLAGS) -Itests $< tests/support/tsan_criterion.c \
		-o $@ $(CTXEX_TSAN_OBJS) $(B)/tsan/libah.a $(CRITERION_LIBS) $(CTXEX_LIBS)

.PHONY: test-context-examples
test-context-examples: $(CTXEX_TESTS) $(CTXEX_ASAN_TESTS) $(CTXEX_TSAN_TESTS)
	$(Q)set -e; for t in $(CTXEX_TESTS); do echo "== $$t"; $$t $(CRITERION_RUN); done
	$(Q)set -e; for t in $(CTXEX_ASAN_TESTS); do echo "== $$t (ASan+UBSan)"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t $(CRITERION_RUN); done
	$(Q)set -e; for t in $(CTXEX_TSAN_TESTS); do echo "== $$t (TSan)"; \
		TSAN_OPTIONS=halt_on_error=1 setarch $$(uname -m) -R $$t $(CRITERION_RUN); done

EXTRA_ALL += $(B)/examples/ah-context-demo $(CTXEX_TESTS)
EXTRA_TESTS += test-context-examples
