# The probe contract test (docs/probes.md): bpftrace against a target linked with libah.a and
# one linked with libah.so (found through its rpath, so that nothing needs installing).
PROBES_DIR := $(B)/tests/probes

$(PROBES_DIR)/probe_target_static: tests/probes/probe_target.c $(B)/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ $(B)/libah.a -lpthread

$(PROBES_DIR)/probe_target_shared: tests/probes/probe_target.c $(B)/libah.so
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -L$(B) -lah -Wl,-rpath,$(abspath $(B)) -lpthread

$(PROBES_DIR)/test_probes: tests/probes/test_probes.c $(TEST_SUPPORT_OBJS)
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -DPROBES_DIR='"$(abspath $(PROBES_DIR))"' \
		-DLIBAH_SO='"$(abspath $(B)/libah.so)"' -Itests/support $< -o $@ $(TEST_SUPPORT_OBJS) \
		$(CRITERION_LIBS)

PROBES_BINS := $(PROBES_DIR)/probe_target_static $(PROBES_DIR)/probe_target_shared \
	$(PROBES_DIR)/test_probes

.PHONY: test-probes
test-probes: $(PROBES_BINS)
	$(Q)echo "== $(PROBES_DIR)/test_probes (bpftrace)"; $(PROBES_DIR)/test_probes $(CRITERION_RUN)

CHECK_BINS += $(PROBES_BINS)
EXTRA_TESTS += test-probes

# The untraced event path: no allocation, lock, system call or atomic read-modify-write.
# The test interposes malloc and pthread_mutex_lock, for libah linked either way.
# The interposers are tests/support/callcount.c's (shared with tests/uv/countcalls.c).
HOT_PATH_SRCS := tests/probes/test_hot_path.c tests/support/callcount.c tests/support/callcount.h
$(PROBES_DIR)/test_hot_path_static: $(HOT_PATH_SRCS) $(B)/libah.a
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests/support -DLIBAH_FILE='"$(abspath $@)"' $< \
		tests/support/callcount.c -o $@ $(B)/libah.a $(CRITERION_LIBS) -ldl -lpthread

$(PROBES_DIR)/test_hot_path_shared: $(HOT_PATH_SRCS) $(B)/libah.so
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests/support -DLIBAH_FILE='"$(abspath $(B)/libah.so)"' \
		$< tests/support/callcount.c -o $@ -L$(B) -lah -Wl,-rpath,$(abspath $(B)) \
		$(CRITERION_LIBS) -ldl -lpthread

HOT_PATH_BINS := $(PROBES_DIR)/test_hot_path_static $(PROBES_DIR)/test_hot_path_shared

.PHONY: test-hot-path
test-hot-path: $(HOT_PATH_BINS)
	$(Q)set -e; for t in $^; do echo "== $$t"; $$t $(CRITERION_RUN); done

CHECK_BINS += $(HOT_PATH_BINS)
EXTRA_TESTS += test-hot-path
