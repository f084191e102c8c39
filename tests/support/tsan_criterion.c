/*
 * tsan_criterion.c - linked into every TSan test binary (Makefile).
 *
 * Criterion's runner (BoxFort) maps a shared arena at a MAP_FIXED address drawn with rand_r()
 * from 0x200000000000 + (rand_r() & 0x3fffff) * 16 MiB, and gives up after ten draws. Under
 * TSan almost all of that range is shadow or reserved, so TSan refuses the mapping and every
 * test binary aborts with "Could not initialize inheritable arena" (Snaipe/Criterion#274).
 * This rand_r(), which the executable exports ahead of libc's, only draws offsets inside
 * TSan's application range 0x550000000000..0x568000000000. Nothing in the tests or in libah
 * uses rand_r().
 */
#include <stdlib.h>

int rand_r(unsigned int *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (int)(0x350000u + (*seed >> 8) % 0x18000u);
}
