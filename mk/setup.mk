# The newcomer's path (README "Set-up"): `make` needs only scripts/packages/build.txt, `make
# check` builds every test program, the npm pins of scripts/packages/test.txt suit Debian 12's
# node. tests/setup/test_setup.c reads what make would run (`make -n`) and what npm installed.
SETUP_TEST := $(B)/tests/setup/test_setup

$(SETUP_TEST): tests/setup/test_setup.c $(TEST_SUPPORT_OBJS)
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -DAHP_BUILD='"$(abspath $(B))"' -DAHP_SRC='"$(abspath .)"' \
		-Itests/support $< -o $@ $(TEST_SUPPORT_OBJS) $(CRITERION_LIBS) -ljson-c

CHECK_BINS += $(SETUP_TEST)
EXTRA_TESTS += test-setup

.PHONY: test-setup
test-setup: $(SETUP_TEST) flame-deps
	$(Q)echo "== $(SETUP_TEST)"; $(SETUP_TEST) $(CRITERION_RUN)
