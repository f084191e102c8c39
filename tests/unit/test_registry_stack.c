/*
 * test_registry_stack.c - a thread's execution stack, read the way a tracer reads it from
 * outside: only through the registry's header (src/contracts/registry.h, version 3), from the
 * thread's registry block, never through libah's own structures. ahprof stuck and the BPF
 * programs that tag samples with the resource in scope depend on it.
 */
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helpers.h"
#include "registry.h"

extern struct ah_registry ah_registry;

/* One scope as an outside reader sees it. */
struct seen_frame {
    uint64_t id, trigger_id;
    int32_t type;
};

static uint64_t registry_block_of(pid_t tid)
{
    uint64_t blocks = 0;
    for (uint64_t a = ah_registry.threads; a != 0 && blocks < 1000; blocks++) {
        const struct ah_registry_thread *b = (const void *)(uintptr_t)a;
        if (!(b->flags & AH_REGISTRY_RETIRED) && b->tid == tid)
            return a;
        a = b->next;
    }
    return 0;
}

/* The calling thread's open scopes, outermost first, read by offsets only. */
static uint32_t read_stack(struct seen_frame *out, uint32_t max)
{
    cr_assert_eq(ah_registry.version, 3);
    uint64_t block = registry_block_of((pid_t)syscall(SYS_gettid));
    cr_assert_neq(block, 0, "this thread has no registry block");
    uint64_t frames;
    uint32_t depth;
    memcpy(&frames, (const char *)(uintptr_t)block + ah_registry.stack_offset, sizeof(frames));
    memcpy(&depth, (const char *)(uintptr_t)block + ah_registry.depth_offset, sizeof(depth));
    cr_assert_leq(depth, max);
    cr_assert_geq(ah_registry.frame_size, sizeof(struct ah_registry_frame));
    for (uint32_t i = 0; i < depth; i++) {
        struct ah_registry_frame f;
        memcpy(&f, (const char *)(uintptr_t)(frames + i * ah_registry.frame_size), sizeof(f));
        out[i].id = f.id;
        out[i].trigger_id = f.trigger_id;
        memcpy(&out[i].type,
               (const char *)(uintptr_t)(f.resource + ah_registry.resource_type_offset),
               sizeof(out[i].type));
    }
    return depth;
}

Test(registry_stack, nested_scopes_read_by_offsets)
{
    int outer_type = ah_type("OUTER"), inner_type = ah_type("INNER");
    cr_assert_geq(outer_type, 0);
    cr_assert_geq(inner_type, 0);
    ah_resource_t outer = {0}, inner = {0};
    cr_assert_eq(ah_init(&outer, outer_type, 0), 0);
    cr_assert_eq(ah_before(&outer), 0);
    cr_assert_eq(ah_init(&inner, inner_type, 0), 0);
    cr_assert_eq(ah_before(&inner), 0);

    struct seen_frame seen[4];
    cr_assert_eq(read_stack(seen, 4), 2);
    cr_expect_eq(seen[0].id, ah_resource_id(&outer));
    cr_expect_eq(seen[0].trigger_id, AH_ID_ROOT);
    cr_expect_eq(seen[0].type, outer_type);
    cr_expect_eq(seen[1].id, ah_resource_id(&inner));
    cr_expect_eq(seen[1].trigger_id, ah_resource_id(&outer));
    cr_expect_eq(seen[1].type, inner_type);

    /* Destroyed inside its own scope: the scope and what it says stay until ah_after. */
    cr_assert_eq(ah_destroy(&inner), 0);
    cr_assert_eq(read_stack(seen, 4), 2);
    cr_expect_eq(seen[1].id, ah_resource_id(&inner));
    cr_expect_eq(seen[1].type, inner_type);
    cr_assert_eq(ah_after(&inner), 0);
    cr_assert_eq(read_stack(seen, 4), 1);
    cr_assert_eq(ah_after(&outer), 0);
    cr_assert_eq(read_stack(seen, 4), 0);
    cr_assert_eq(ah_destroy(&outer), 0);
}

/* Deeper than the inline stack: the frames move to the heap and the address follows. */
Test(registry_stack, deep_stack_moves_and_stays_readable)
{
    enum { DEPTH = 200 };
    static ah_resource_t r[DEPTH];
    int type = ah_type("DEEP");
    cr_assert_geq(type, 0);
    for (int i = 0; i < DEPTH; i++) {
        cr_assert_eq(ah_init(&r[i], type, 0), 0);
        cr_assert_eq(ah_before(&r[i]), 0);
    }
    static struct seen_frame seen[DEPTH];
    cr_assert_eq(read_stack(seen, DEPTH), DEPTH);
    for (int i = 0; i < DEPTH; i++) {
        cr_expect_eq(seen[i].id, ah_resource_id(&r[i]), "frame %d", i);
        cr_expect_eq(seen[i].trigger_id, i ? ah_resource_id(&r[i - 1]) : AH_ID_ROOT);
        cr_expect_eq(seen[i].type, type);
    }
    for (int i = DEPTH - 1; i >= 0; i--) {
        cr_assert_eq(ah_after(&r[i]), 0);
        cr_assert_eq(ah_destroy(&r[i]), 0);
    }
}
