/* Unit tests of the committable-offset tracker (common/offsets.c): finishing
 * in and out of order, gaps, duplicates, unknown offsets, growth, the set of
 * partitions, and a seeded property test against a plain reference model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "offsets.h"

static offsets_part *part_new(offsets **o)
{
    *o = offsets_new();
    assert_non_null(*o);
    offsets_part *p = offsets_track(*o, "orders.approved", 0);
    assert_non_null(p);
    return p;
}

static void part_add_all(offsets_part *p, const int64_t *offs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(offsets_add(p, offs[i]), 0);
}

static void test_in_order(void **state)
{
    (void)state;
    offsets *o;
    offsets_part *p = part_new(&o);
    for (int64_t off = 0; off < 10; off++)
        assert_int_equal(offsets_add(p, off), 0);
    for (int64_t off = 0; off < 10; off++)
        assert_int_equal(offsets_finish(p, off), off + 1);
    assert_int_equal(p->n, 0);
    offsets_free(o);
}

/* A table of finish steps: each finish and the offset it lets us store. */
static void test_out_of_order(void **state)
{
    (void)state;
    static const struct {
        int64_t finish, store;
    } steps[] = {{2, -1}, {1, -1}, {0, 3}, {4, -1}, {3, 5}};
    const int64_t offs[] = {0, 1, 2, 3, 4};
    offsets *o;
    offsets_part *p = part_new(&o);
    part_add_all(p, offs, 5);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        assert_int_equal(offsets_finish(p, steps[i].finish), steps[i].store);
    assert_int_equal(p->n, 0);
    offsets_free(o);
}

static void test_never_passes_unfinished(void **state)
{
    (void)state;
    offsets *o;
    offsets_part *p = part_new(&o);
    for (int64_t off = 10; off <= 20; off++)
        assert_int_equal(offsets_add(p, off), 0);
    for (int64_t off = 10; off <= 20; off++) {
        if (off == 15)
            continue;
        int64_t next = offsets_finish(p, off);
        assert_true(next <= 15); /* 15 is unfinished: never stored past */
        assert_int_equal(next, off < 15 ? off + 1 : -1);
    }
    assert_int_equal(offsets_finish(p, 15), 21);
    offsets_free(o);
}

/* Compaction and transaction markers leave holes: the stored offset is one
 * past the last finished message, not the next existing offset. */
static void test_gaps(void **state)
{
    (void)state;
    const int64_t offs[] = {5, 9, 10, 42};
    offsets *o;
    offsets_part *p = part_new(&o);
    part_add_all(p, offs, 4);
    assert_int_equal(offsets_finish(p, 9), -1);
    assert_int_equal(offsets_finish(p, 5), 10);
    assert_int_equal(offsets_finish(p, 42), -1);
    assert_int_equal(offsets_finish(p, 10), 43);
    offsets_free(o);
}

/* The same offset handed out twice (a replay after a seek) is tracked as two
 * copies: the first finish counts, the second is accepted, and an offset
 * after them is not stored past the copy still unfinished. */
static void test_duplicates_tracked_as_copies(void **state)
{
    (void)state;
    const int64_t offs[] = {7, 7, 9};
    offsets *o;
    offsets_part *p = part_new(&o);
    part_add_all(p, offs, 3);
    assert_int_equal(p->n, 3);
    assert_int_equal(offsets_finish(p, 9), -1);
    assert_int_equal(offsets_finish(p, 7), 8); /* message 7 was processed */
    assert_int_equal(offsets_finish(p, 7), 10);
    assert_int_equal(offsets_finish(p, 7), -1); /* no third copy */
    assert_int_equal(p->n, 0);
    offsets_free(o);
}

static void test_finish_unknown(void **state)
{
    (void)state;
    const int64_t offs[] = {1, 2, 4};
    offsets *o;
    offsets_part *p = part_new(&o);
    part_add_all(p, offs, 3);
    assert_int_equal(offsets_finish(p, 99), -1);
    assert_int_equal(offsets_finish(p, 0), -1);
    assert_int_equal(offsets_finish(p, 3), -1);
    assert_int_equal(p->n, 3); /* nothing was marked */
    assert_int_equal(offsets_finish(p, 1), 2);
    assert_int_equal(offsets_finish(p, 1), -1); /* finished twice */
    assert_int_equal(p->n, 2);
    offsets_free(o);
}

/* A replay after a seek hands out a lower offset: it lands in order. */
static void test_lower_offset_inserted_in_order(void **state)
{
    (void)state;
    const int64_t offs[] = {10, 11, 5};
    offsets *o;
    offsets_part *p = part_new(&o);
    part_add_all(p, offs, 3);
    assert_int_equal(p->slots[0].offset, 5);
    assert_int_equal(offsets_finish(p, 10), -1);
    assert_int_equal(offsets_finish(p, 5), 11);
    assert_int_equal(offsets_finish(p, 11), 12);
    offsets_free(o);
}

static void test_growth(void **state)
{
    (void)state;
    const int64_t n = 1000; /* well past the first capacity */
    offsets *o;
    offsets_part *p = part_new(&o);
    for (int64_t off = 0; off < n; off++)
        assert_int_equal(offsets_add(p, off * 2), 0);
    assert_int_equal(p->n, (size_t)n);
    assert_true(p->cap >= (size_t)n);
    for (int64_t off = n - 1; off > 0; off--)
        assert_int_equal(offsets_finish(p, off * 2), -1);
    assert_int_equal(offsets_finish(p, 0), (n - 1) * 2 + 1);
    offsets_free(o);
}

static void test_partition_set(void **state)
{
    (void)state;
    offsets *o = offsets_new();
    assert_non_null(o);
    assert_null(offsets_find(o, "a", 0));
    offsets_part *a0 = offsets_track(o, "a", 0);
    assert_non_null(a0);
    uint64_t gen_a0 = a0->gen;
    assert_int_equal(offsets_add(a0, 3), 0);
    offsets_part *a1 = offsets_track(o, "a", 1);
    assert_non_null(offsets_track(o, "b", 0));
    assert_true(a1->gen > gen_a0);
    assert_int_equal(offsets_count(o), 3);
    /* tracking again keeps the partition, its gen and its offsets */
    a0 = offsets_track(o, "a", 0);
    assert_int_equal(a0->gen, gen_a0);
    assert_int_equal(a0->n, 1);
    assert_int_equal(offsets_count(o), 3);
    /* a revoke forgets it; a new assignment is a new generation */
    offsets_untrack(o, "a", 0);
    assert_null(offsets_find(o, "a", 0));
    assert_non_null(offsets_find(o, "b", 0));
    assert_int_equal(offsets_count(o), 2);
    offsets_untrack(o, "a", 0); /* not tracked: nothing happens */
    a0 = offsets_track(o, "a", 0);
    assert_true(a0->gen > gen_a0);
    assert_int_equal(a0->n, 0);
    for (int i = 0; i < 40; i++) /* past the first capacity of the set */
        assert_non_null(offsets_track(o, "c", i));
    assert_int_equal(offsets_count(o), 43);
    assert_int_equal(offsets_find(o, "c", 39)->partition, 39);
    offsets_untrack_all(o);
    assert_int_equal(offsets_count(o), 0);
    assert_null(offsets_find(o, "b", 0));
    offsets_free(o);
}

/* xorshift64: a fixed seed makes a failure reproducible. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Adds (ascending, with random gaps) and finishes (of a random in-flight
 * offset) interleave at random; the model is the list of handed-out offsets
 * with a done flag and the index of the first unfinished one. */
static void property_run(uint64_t seed, size_t total)
{
    offsets *o;
    offsets_part *p = part_new(&o);
    int64_t *offs = calloc(total, sizeof(*offs));
    char *done = calloc(total, 1);
    size_t *inflight = calloc(total, sizeof(*inflight));
    size_t added = 0, ninflight = 0, lo = 0;
    int64_t next_off = (int64_t)(rng_next(&seed) % 100), stored = -1;
    assert_non_null(offs);
    assert_non_null(done);
    assert_non_null(inflight);

    while (lo < total) {
        int add = added < total && (ninflight == 0 || rng_next(&seed) % 3 != 0);
        if (add) {
            offs[added] = next_off;
            next_off += 1 + (int64_t)(rng_next(&seed) % 4 == 0 ? rng_next(&seed) % 5 : 0);
            assert_int_equal(offsets_add(p, offs[added]), 0);
            inflight[ninflight++] = added++;
            continue;
        }
        size_t pick = (size_t)(rng_next(&seed) % ninflight), idx = inflight[pick];
        inflight[pick] = inflight[--ninflight];
        done[idx] = 1;
        size_t was = lo;
        while (lo < added && done[lo])
            lo++;
        int64_t want = lo > was ? offs[lo - 1] + 1 : -1;
        int64_t got = offsets_finish(p, offs[idx]);
        assert_int_equal(got, want);
        if (got >= 0) {
            assert_true(got > stored); /* never moves back */
            stored = got;
        }
        if (lo < added) /* never past an unfinished offset */
            assert_true(stored <= offs[lo]);
        assert_int_equal(p->n, added - lo);
    }
    assert_int_equal(stored, offs[total - 1] + 1);
    free(offs);
    free(done);
    free(inflight);
    offsets_free(o);
}

static void test_property_random_orders(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {1, 42, 0x9e3779b97f4a7c15ULL, 20261203, 7777777};
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
        property_run(seeds[i], 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_never_passes_unfinished),
        cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_duplicates_tracked_as_copies),
        cmocka_unit_test(test_finish_unknown),
        cmocka_unit_test(test_lower_offset_inserted_in_order),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_partition_set),
        cmocka_unit_test(test_property_random_orders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
