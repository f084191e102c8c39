# The interactive `ahprof top` (tests/collector/test_console.c, run under tmux): its target.
$(B)/targets/console: tests/targets/console.c $(B)/libah.so
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ -L$(B) -lah -Wl,-rpath,$(abspath $(B)) -lpthread

CHECK_BINS += $(B)/targets/console
test-collector: $(B)/targets/console
