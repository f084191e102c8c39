# `ahprof flame` (src/cli/cmd/flame.c, src/cli/export/, src/cli/model/asyncstack.c): async flame graphs and exports,
# tested against their real consumers (headless Chromium, speedscope's importer, graphviz).
#
#   make test-flame    install the test-only packages (tests/flame/install-test-deps.sh),
#                      then run tests/flame/test_flame.c
#
# The flame command is in build/libahprof.a, linked by build/ahprof; the tests also run it
# standalone (tests/flame/flame_main.c), normally and under ASan+UBSan.

FLAME_DIR := $(B)/tests/flame
FLAME_CFLAGS := $(BASE_CFLAGS) -Isrc/cli
FLAME_BINS := $(FLAME_DIR)/ahprof-flame $(B)/asan/tests/flame/ahprof-flame $(FLAME_DIR)/flame-gen \
	$(FLAME_DIR)/test_flame $(B)/asan/tests/flame/test_labels

CHECK_BINS += $(FLAME_BINS)
EXTRA_TESTS += test-flame

$(FLAME_DIR)/ahprof-flame: tests/flame/flame_main.c $(B)/libahprof.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FLAME_CFLAGS) $(CFLAGS) tests/flame/flame_main.c -o $@ $(B)/libahprof.a -lz

$(B)/asan/tests/flame/ahprof-flame: tests/flame/flame_main.c $(B)/asan/libahprof.a
	$(call msg,CC-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FLAME_CFLAGS) -O1 -g $(ASAN_FLAGS) tests/flame/flame_main.c -o $@ \
		$(B)/asan/libahprof.a -lz

$(FLAME_DIR)/flame-gen: tests/flame/gen.c $(B)/libahprof.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FLAME_CFLAGS) $(CFLAGS) tests/flame/gen.c -o $@ $(B)/libahprof.a -lz

$(FLAME_DIR)/test_flame: tests/flame/test_flame.c $(TEST_SUPPORT_OBJS)
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FLAME_CFLAGS) $(CFLAGS) -DAHP_BUILD='"$(abspath $(B))"' \
		-DAHP_SRC='"$(abspath .)"' -Itests/support $< -o $@ $(TEST_SUPPORT_OBJS) \
		$(CRITERION_LIBS) -ljson-c

# Labels and sites, directly (ASan+UBSan).
$(B)/asan/tests/flame/test_labels: tests/flame/test_labels.c $(B)/asan/libahprof.a
	$(call msg,TEST-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FLAME_CFLAGS) -O1 -g $(ASAN_FLAGS) $< -o $@ $(B)/asan/libahprof.a \
		$(CRITERION_LIBS) -lz

.PHONY: test-flame flame-deps
flame-deps:
	$(Q)tests/flame/install-test-deps.sh $(B)

# --jobs 2: the consumers (Chromium, node) are the slow part, and there are 2 cores.
test-flame: flame-deps $(FLAME_BINS) $(B)/ahprof $(B)/targets/workload
	$(Q)echo "== $(B)/asan/tests/flame/test_labels (ASan+UBSan)"
	$(Q)$(B)/asan/tests/flame/test_labels --short-filename
	$(Q)echo "== $(FLAME_DIR)/test_flame"
	$(Q)$(FLAME_DIR)/test_flame --jobs 2 --short-filename
