# The example event-loop server and its load client (examples/README.md).
#
#   build/examples/ah-server         linked with build/libah.so (found through its rpath)
#   build/examples/ah-server-static  libah.a linked in: ahprof finds the probes in the binary
#   build/examples/ah-load           the load client
#
# The server links the context storage patterns of examples/context/ (--log, --trace,
# --crumbs, --db; mk/context-examples.mk has their tests) and so SQLite.

# Linux-only programs: accept4, signalfd and friends.
EXAMPLES_CFLAGS := $(BASE_CFLAGS) -D_GNU_SOURCE -g -pthread
EXAMPLE_SERVER_OBJS := $(patsubst %.c,$(B)/%.o,$(wildcard examples/server/*.c) \
	$(wildcard examples/context/*.c))
EXAMPLE_SERVER_LIBS := -lsqlite3
EXAMPLE_LOAD_OBJS := $(patsubst %.c,$(B)/%.o,$(wildcard examples/load/*.c))
EXAMPLE_BINS := $(B)/examples/ah-server $(B)/examples/ah-server-static $(B)/examples/ah-load

ALL_BINS += $(EXAMPLE_BINS)

.PHONY: examples
examples: $(EXAMPLE_BINS)

# More specific than the library's $(B)/%.o rule: no -fPIC or hidden visibility here.
$(B)/examples/%.o: examples/%.c mk/examples.mk
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(EXAMPLES_CFLAGS) $(CFLAGS) -c $< -o $@

# $ORIGIN/.. is the build directory, so the binary runs from the build tree without
# LD_LIBRARY_PATH wherever the tree is.
$(B)/examples/ah-server: $(EXAMPLE_SERVER_OBJS) $(B)/libah.so
	$(call msg,LD,$@)
	$(Q)$(CC) -pthread -o $@ $(EXAMPLE_SERVER_OBJS) -L$(B) -lah -Wl,-rpath,'$$ORIGIN/..' \
		$(EXAMPLE_SERVER_LIBS)

$(B)/examples/ah-server-static: $(EXAMPLE_SERVER_OBJS) $(B)/libah.a
	$(call msg,LD,$@)
	$(Q)$(CC) -pthread -o $@ $(EXAMPLE_SERVER_OBJS) $(B)/libah.a $(EXAMPLE_SERVER_LIBS)

$(B)/examples/ah-load: $(EXAMPLE_LOAD_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) -pthread -o $@ $(EXAMPLE_LOAD_OBJS) -lm

# The protocol, exact counts of a --requests run, SHUTDOWN and SIGTERM, both builds.
.PHONY: test-examples
test-examples: $(EXAMPLE_BINS)
	$(Q)examples/test/smoke.sh $(B)

EXTRA_TESTS += test-examples
