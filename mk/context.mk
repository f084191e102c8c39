# Context storage (docs/context.md): its benchmark. Its unit tests are tests/unit/test_als_*.c.
$(B)/bench/bench_context: bench/bench_context.c $(B)/libah.a
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $< -o $@ $(B)/libah.a -lpthread

.PHONY: bench-context
bench-context: $(B)/bench/bench_context
	$(Q)$(B)/bench/bench_context

bench: bench-context
ALL_BINS += $(B)/bench/bench_context
