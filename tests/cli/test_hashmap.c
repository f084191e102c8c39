/*
 * test_hashmap.c - the one hash map (src/cli/common/hashmap.h), against a plain array that
 * knows the answer: keys by value through growth and heavy churn (deletion shifts entries
 * back: a broken probe run shows as a key that cannot be found), keys by content that all
 * collide, the entry limit, running out of memory, iteration.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/hashmap.h"

/* Let ASan's allocator fail like malloc does, for the out-of-memory test. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

struct val {
    uint64_t a;
    uint32_t b;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    /* xorshift64*: deterministic, so a failure replays. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

Test(hashmap, put_get_del_across_growth)
{
    struct ahp_hmap m;
    ahp_hmap_init(&m, sizeof(struct val), 0);
    cr_expect_null(ahp_hmap_get(&m, 0), "empty map, no table yet");
    cr_expect_not(ahp_hmap_del(&m, 0));
    const uint64_t n = 100000;
    for (uint64_t i = 0; i < n; i++) {
        /* Sequential keys, and the extremes: 0 and UINT64_MAX are keys like any other. */
        uint64_t key = i == 1 ? UINT64_MAX : i;
        void *v;
        cr_assert_eq(ahp_hmap_put(&m, key, &v), 1, "key %llu is new", (unsigned long long)key);
        cr_assert_eq((uintptr_t)v % 8, 0, "values are 8-byte aligned");
        struct val *sv = v;
        cr_assert(sv->a == 0 && sv->b == 0, "a new value is zeroed");
        sv->a = key ^ 0x5555;
        sv->b = (uint32_t)i;
    }
    cr_expect_eq(ahp_hmap_count(&m), n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t key = i == 1 ? UINT64_MAX : i;
        struct val *sv = ahp_hmap_get(&m, key);
        cr_assert_not_null(sv, "key %llu survived growth", (unsigned long long)key);
        cr_assert_eq(sv->a, key ^ 0x5555);
        cr_assert_eq(sv->b, (uint32_t)i);
        void *again;
        cr_assert_eq(ahp_hmap_put(&m, key, &again), 0, "present: not inserted twice");
        cr_assert_eq(again, sv);
    }
    cr_expect_null(ahp_hmap_get(&m, 1), "1 was never inserted (UINT64_MAX was)");
    for (uint64_t i = 0; i < n; i += 2)
        cr_assert(ahp_hmap_del(&m, i == 1 ? UINT64_MAX : i));
    cr_expect_eq(ahp_hmap_count(&m), n / 2);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t key = i == 1 ? UINT64_MAX : i;
        if (i % 2 == 0)
            cr_assert_null(ahp_hmap_get(&m, key), "%llu deleted", (unsigned long long)key);
        else
            cr_assert_not_null(ahp_hmap_get(&m, key), "%llu kept", (unsigned long long)key);
    }
    ahp_hmap_free(&m);
    cr_expect_eq(ahp_hmap_count(&m), 0);
    cr_expect_null(ahp_hmap_get(&m, 3), "freed: empty, and usable again");
    void *v;
    cr_expect_eq(ahp_hmap_put(&m, 3, &v), 1);
    ahp_hmap_free(&m);
}

/* Inserts and deletes at random over a key space of KEYS, so that probe runs are long, wrap
 * around the end of the table, and every deletion has entries after it to shift back; after
 * each step the map must agree with an array on every key. */
static void churn(uint32_t keys, uint32_t steps, uint64_t salt)
{
    static uint32_t ref[512]; /* value + 1, 0 = absent */
    cr_assert_leq(keys, 512);
    memset(ref, 0, sizeof(ref));
    struct ahp_hmap m;
    ahp_hmap_init(&m, sizeof(uint32_t), 0);
    size_t present = 0;
    for (uint32_t step = 0; step < steps; step++) {
        /* The homes of a few keys are fixed: the salt changes them from run to run. */
        uint32_t k = (uint32_t)(rng() % keys);
        uint64_t key = ((uint64_t)k << 40 | k) ^ salt;
        if (rng() % 3 != 0) {
            void *v;
            int rc = ahp_hmap_put(&m, key, &v);
            cr_assert_eq(rc, ref[k] == 0 ? 1 : 0);
            if (rc == 1)
                present++;
            *(uint32_t *)v = step;
            ref[k] = step + 1;
        } else {
            cr_assert_eq(ahp_hmap_del(&m, key), ref[k] != 0);
            present -= ref[k] != 0;
            ref[k] = 0;
        }
        cr_assert_eq(ahp_hmap_count(&m), present);
        for (uint32_t j = 0; j < keys; j++) {
            uint32_t *v = ahp_hmap_get(&m, ((uint64_t)j << 40 | j) ^ salt);
            if (ref[j] == 0) {
                cr_assert_null(v, "keys %u step %u: key %u absent", keys, step, j);
            } else {
                cr_assert_not_null(v, "keys %u step %u: key %u present", keys, step, j);
                cr_assert_eq(*v, ref[j] - 1);
            }
        }
    }
    ahp_hmap_free(&m);
}

Test(hashmap, churn_matches_reference)
{
    /* 11 keys in 16 slots: runs are long and often wrap around the end of the table. */
    for (uint64_t salt = 0; salt < 100; salt++)
        churn(11, 1000, salt * 0x9e3779b97f4a7c15ull);
    churn(40, 20000, 0);
    churn(512, 4000, 0);
}

Test(hashmap, iteration_visits_each_entry_once)
{
    struct ahp_hmap m;
    ahp_hmap_init(&m, sizeof(uint64_t), 0);
    size_t pos = 0;
    uint64_t key;
    cr_expect_null(ahp_hmap_next(&m, &pos, &key), "nothing to visit in an empty map");
    enum { N = 3000 };
    static uint8_t seen[N];
    memset(seen, 0, sizeof(seen));
    for (uint64_t i = 0; i < N; i++) {
        void *v;
        cr_assert_eq(ahp_hmap_put(&m, i * 7919, &v), 1);
        *(uint64_t *)v = i;
    }
    for (uint64_t i = 0; i < N; i += 3)
        cr_assert(ahp_hmap_del(&m, i * 7919));
    size_t visited = 0;
    pos = 0;
    uint64_t *v;
    while ((v = ahp_hmap_next(&m, &pos, &key)) != NULL) {
        cr_assert_lt(*v, N);
        cr_assert_eq(key, *v * 7919, "the key comes with its value");
        cr_assert_neq(*v % 3, 0, "deleted entries are not visited");
        cr_assert_eq(seen[*v]++, 0, "entry %llu visited twice", (unsigned long long)*v);
        visited++;
    }
    cr_expect_eq(visited, ahp_hmap_count(&m));
    cr_expect_eq(visited, N - (N + 2) / 3);
    ahp_hmap_free(&m);
}

/* Content keys: the caller's strings, indexed by number. */
struct strings {
    const char *s[64];
    const char *sought;
};

static bool str_eq(const void *ctx, const void *val)
{
    const struct strings *st = ctx;
    return strcmp(st->s[*(const uint32_t *)val], st->sought) == 0;
}

static uint32_t intern(struct ahp_hmap *m, struct strings *st, uint32_t *n, const char *s,
                       uint64_t hash)
{
    st->sought = s;
    uint32_t *v = ahp_hmap_find(m, hash, str_eq, st);
    if (v != NULL)
        return *v;
    void *nv;
    cr_assert_eq(ahp_hmap_add(m, hash, &nv), 0);
    st->s[*n] = s;
    *(uint32_t *)nv = *n;
    return (*n)++;
}

Test(hashmap, content_keys_that_all_collide)
{
    /* Every string gets the same hash: only EQ tells them apart, through growth as well. */
    static const char *words[] = {"REQ",   "TIMER", "WRITE", "LEAK", "a;b", "",   "TIMER2",
                                  "timer", "REQ ",  "x",     "y",    "z",   "zz", "zzz",
                                  "q",     "r",     "s",     "t",    "u",   "v",  "w"};
    const uint32_t nw = sizeof(words) / sizeof(words[0]);
    struct ahp_hmap m;
    ahp_hmap_init(&m, sizeof(uint32_t), 0);
    struct strings st = {0};
    uint32_t n = 0;
    for (uint32_t i = 0; i < nw; i++)
        cr_assert_eq(intern(&m, &st, &n, words[i], 42), i, "\"%s\" is new", words[i]);
    cr_expect_eq(ahp_hmap_count(&m), nw);
    for (uint32_t i = 0; i < nw; i++)
        cr_assert_eq(intern(&m, &st, &n, words[i], 42), i, "\"%s\" found again", words[i]);
    cr_expect_eq(n, nw, "nothing added twice");
    st.sought = "absent";
    cr_expect_null(ahp_hmap_find(&m, 42, str_eq, &st));
    st.sought = "REQ";
    cr_expect_null(ahp_hmap_find(&m, 43, str_eq, &st), "the hash is part of the key");
    ahp_hmap_free(&m);

    /* With real hashes, the same. */
    ahp_hmap_init(&m, sizeof(uint32_t), 0);
    n = 0;
    for (uint32_t i = 0; i < nw; i++)
        cr_assert_eq(intern(&m, &st, &n, words[i], ahp_hash_str(AHP_HASH_SEED, words[i])), i);
    for (uint32_t i = 0; i < nw; i++)
        cr_assert_eq(intern(&m, &st, &n, words[i], ahp_hash_str(AHP_HASH_SEED, words[i])), i);
    ahp_hmap_free(&m);
    cr_expect_neq(ahp_hash_str(ahp_hash_str(AHP_HASH_SEED, "a"), "bc"),
                  ahp_hash_str(ahp_hash_str(AHP_HASH_SEED, "ab"), "c"),
                  "field boundaries are part of a content hash");
}

Test(hashmap, entry_limit)
{
    struct ahp_hmap m;
    ahp_hmap_init(&m, sizeof(uint32_t), 100);
    void *v;
    for (uint64_t i = 0; i < 100; i++)
        cr_assert_eq(ahp_hmap_put(&m, i, &v), 1);
    cr_expect_eq(ahp_hmap_put(&m, 100, &v), -ENOSPC);
    cr_expect_null(v);
    cr_expect_eq(ahp_hmap_add(&m, 100, &v), -ENOSPC);
    cr_expect_eq(ahp_hmap_count(&m), 100, "a refused insertion changes nothing");
    cr_expect_null(ahp_hmap_get(&m, 100));
    cr_expect_eq(ahp_hmap_put(&m, 7, &v), 0, "a present key is still found at the limit");
    cr_expect_not_null(v);
    cr_expect(ahp_hmap_del(&m, 7));
    cr_expect_eq(ahp_hmap_put(&m, 100, &v), 1, "room again after a deletion");
    ahp_hmap_free(&m);
}

Test(hashmap, out_of_memory_leaves_the_map_usable)
{
    /* 16 TiB values: the first table (16 of them) is more than a 47-bit address space holds,
     * so no overcommit setting lets it succeed. */
    struct ahp_hmap m;
    ahp_hmap_init(&m, (size_t)1 << 44, 0);
    void *v = (void *)1;
    cr_expect_eq(ahp_hmap_put(&m, 5, &v), -ENOMEM);
    cr_expect_null(v);
    cr_expect_eq(ahp_hmap_add(&m, 5, &v), -ENOMEM);
    cr_expect_eq(ahp_hmap_count(&m), 0);
    cr_expect_null(ahp_hmap_get(&m, 5));
    cr_expect_not(ahp_hmap_del(&m, 5));
    ahp_hmap_free(&m);
}
