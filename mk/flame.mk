# `ahprof flame` (src/cli/flame*.c, src/cli/asyncstack.c): async flame graphs and exports,
# tested against their real consumers (headless Chromium, speedscope's importer, graphviz).
#
#   make test-flame    install the test-only packages (tests/flame/install-test-deps.sh),
#                      then run tests/flame/test_flame.c
#
# The flame command is compiled into build/ahprof with every src/cli/*.c; the tests also run
# it standalone (tests/flame/flame_main.c), normally and under ASan+UBSan.

FLAME_DIR := $(B)/tests/flame
FLAME_SRCS := $(wildcard src/cli/flame*.c) src/cli/asyncstack.c src/cli/model.c \
	src/cli/datafile.c src/cli/escape.c src/cli/util.c src/cli/recording.c
FLAME_HDRS := $(wildcard src/cli/flame*.h) src/cli/asyncstack.h src/cli/model.h \
	src/cli/datafile.h src/cli/escape.h src/cli/util.h bpf/ahprof.h
FLAME_CFLAGS := $(BASE_CFLAGS) -Isrc/cli -Ibpf
FLAME_BINS := $(FLAME_DIR)/ahprof-flame $(B)/asan/tests/flame/ahprof-flame $(FLAME_DIR)/flame-gen \
	$(FLAME_DIR)/test_flame $(B)/asan/tests/flame/test_labels

CHECK_BINS += $(FLAME_BINS)
EXTRA_TESTS += test-flame

$(FLAME_DIR)/ahprof-flame: tests/flame/flame_main.c $(FLAME_SRCS) $(FLAME_HDRS)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FLAME_CFLAGS) $(CFLAGS) tests/flame/flame_main.c $(FLAME_SRCS) -o $@ -lz

$(B)/asan/tests/flame/ahprof-flame: tests/flame/flame_main.c $(FLAME_SRCS) $(FLAME_HDRS)
	$(call msg,CC-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FLAME_CFLAGS) -O1 -g $(ASAN_FLAGS) tests/flame/flame_main.c $(FLAME_SRCS) -o $@ -lz

$(FLAME_DIR)/flame-gen: tests/flame/gen.c src/cli/datafile.c src/cli/datafile.h bpf/ahprof.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FLAME_CFLAGS) $(CFLAGS) tests/flame/gen.c src/cli/datafile.c -o $@ -lz

$(FLAME_DIR)/test_flame: tests/flame/test_flame.c
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FLAME_CFLAGS) $(CFLAGS) -DAHP_BUILD='"$(abspath $(B))"' \
		-DAHP_SRC='"$(abspath .)"' $< -o $@ $(CRITERION_LIBS) -ljson-c

# Labels and sites, directly (ASan+UBSan).
$(B)/asan/tests/flame/test_labels: tests/flame/test_labels.c $(FLAME_SRCS) $(FLAME_HDRS)
	$(call msg,TEST-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FLAME_CFLAGS) -O1 -g $(ASAN_FLAGS) $< $(filter-out src/cli/flame%,$(FLAME_SRCS)) \
		-o $@ $(CRITERION_LIBS) -lz

.PHONY: test-flame flame-deps
flame-deps:
	$(Q)tests/flame/install-test-deps.sh $(B)

# --jobs 2: the consumers (Chromium, node) are the slow part, and there are 2 cores.
test-flame: flame-deps $(FLAME_BINS) $(B)/ahprof $(B)/targets/workload
	$(Q)echo "== $(B)/asan/tests/flame/test_labels (ASan+UBSan)"
	$(Q)$(B)/asan/tests/flame/test_labels --short-filename
	$(Q)echo "== $(FLAME_DIR)/test_flame"
	$(Q)$(FLAME_DIR)/test_flame --jobs 2 --short-filename
