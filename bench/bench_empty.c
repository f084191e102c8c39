/* bench_empty.c - an empty function in its own object, so that calls to it stay calls. */
void bench_empty(void);

void bench_empty(void) {}
