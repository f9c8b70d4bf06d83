/* Unit tests of the waiters on outbox acknowledgement (common/outbox_acks.c):
 * stream ids, targets taken at the first report after joining, entries left
 * in the stream (an unacknowledged or failed produce) holding waiters back,
 * release order, and a seeded property test against a model of the stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "outbox_acks.h"

#define MAXCALLS 4096

/* Records the order in which waiters were called. */
typedef struct calls {
    int seen[MAXCALLS];
    int n;
} calls;

typedef struct waiter_ctx {
    calls *log;
    int id;
    outbox_ackq *q; /* set: the call queues a new waiter (id + 1000) */
    struct waiter_ctx *child;
} waiter_ctx;

static void on_acked(void *arg)
{
    waiter_ctx *w = arg;
    w->log->seen[w->log->n++] = w->id;
    if (w->q)
        assert_int_equal(outbox_ackq_push(w->q, on_acked, w->child), 0);
}

static outbox_stream_id sid(unsigned long long ms, unsigned long long seq)
{
    return (outbox_stream_id){ms, seq};
}

static const outbox_stream_id none = {0, 0};

static void test_stream_ids(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        unsigned long long ms, seq;
    } cases[] = {{"1700000000000-5", 1700000000000ULL, 5},
                 {"12", 12, 0},
                 {"0-0", 0, 0},
                 {"3-18446744073709551615", 3, 18446744073709551615ULL}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        outbox_stream_id id = outbox_stream_id_parse(cases[i].s);
        assert_true(id.ms == cases[i].ms);
        assert_true(id.seq == cases[i].seq);
    }
    assert_true(outbox_stream_id_less(sid(1, 9), sid(2, 0)));
    assert_true(outbox_stream_id_less(sid(2, 0), sid(2, 1)));
    assert_false(outbox_stream_id_less(sid(2, 1), sid(2, 1)));
    assert_false(outbox_stream_id_less(sid(3, 0), sid(2, 7)));
}

static void test_empty_stream_releases_all(void **state)
{
    (void)state;
    calls log = {0};
    waiter_ctx a = {&log, 1, NULL, NULL}, b = {&log, 2, NULL, NULL};
    outbox_ackq *q = outbox_ackq_new();
    assert_non_null(q);
    assert_int_equal(outbox_ackq_push(q, on_acked, &a), 0);
    assert_int_equal(outbox_ackq_push(q, on_acked, &b), 0);
    assert_int_equal(outbox_ackq_pending(q), 2);
    assert_int_equal(outbox_ackq_release(q, 1, none, sid(9, 0)), 2);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.seen[0], 1);
    assert_int_equal(log.seen[1], 2);
    assert_int_equal(outbox_ackq_pending(q), 0);
    assert_int_equal(outbox_ackq_release(q, 1, none, none), 0);
    outbox_ackq_free(q);
}

/* The entries written before the waiter lie at or before its target: it
 * goes only once the oldest entry left lies after the target. An entry the
 * relay failed to produce stays first, report after report. */
static void test_held_until_entries_deleted(void **state)
{
    (void)state;
    calls log = {0};
    waiter_ctx a = {&log, 1, NULL, NULL};
    outbox_ackq *q = outbox_ackq_new();
    assert_int_equal(outbox_ackq_push(q, on_acked, &a), 0);
    assert_int_equal(outbox_ackq_release(q, 0, sid(5, 0), sid(10, 0)), 0); /* target 10-0 */
    assert_int_equal(outbox_ackq_release(q, 0, sid(5, 0), sid(12, 0)), 0); /* failed produce */
    assert_int_equal(outbox_ackq_release(q, 0, sid(5, 0), sid(14, 0)), 0);
    assert_int_equal(outbox_ackq_release(q, 0, sid(10, 0), sid(14, 0)), 0); /* 10-0 is its own */
    assert_int_equal(log.n, 0);
    assert_int_equal(outbox_ackq_pending(q), 1);
    assert_int_equal(outbox_ackq_release(q, 0, sid(10, 1), sid(14, 0)), 1);
    assert_int_equal(log.n, 1);
    outbox_ackq_free(q);
}

/* Acknowledgements out of order delete later entries first: the oldest
 * entry left still holds back every waiter whose target lies after it, and
 * a later waiter is never released before an earlier one. */
static void test_out_of_order_acks_release_in_order(void **state)
{
    (void)state;
    calls log = {0};
    waiter_ctx a = {&log, 1, NULL, NULL}, b = {&log, 2, NULL, NULL}, c = {&log, 3, NULL, NULL};
    outbox_ackq *q = outbox_ackq_new();
    assert_int_equal(outbox_ackq_push(q, on_acked, &a), 0);
    assert_int_equal(outbox_ackq_release(q, 0, sid(1, 0), sid(3, 0)), 0); /* a: 3-0 */
    assert_int_equal(outbox_ackq_push(q, on_acked, &b), 0);
    assert_int_equal(outbox_ackq_push(q, on_acked, &c), 0);
    /* 4-0..6-0 written and acknowledged; 2-0 is still unacknowledged */
    assert_int_equal(outbox_ackq_release(q, 0, sid(2, 0), sid(6, 0)), 0); /* b, c: 6-0 */
    assert_int_equal(outbox_ackq_release(q, 0, sid(4, 0), sid(6, 0)), 1);
    assert_int_equal(log.seen[0], 1);
    assert_int_equal(outbox_ackq_release(q, 0, sid(6, 0), sid(8, 0)), 0);
    assert_int_equal(outbox_ackq_release(q, 0, sid(7, 0), sid(8, 0)), 2);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.seen[1], 2);
    assert_int_equal(log.seen[2], 3);
    outbox_ackq_free(q);
}

/* A waiter queued from a release call may have written after the report
 * was taken: it waits for the next report, even on an empty stream. */
static void test_waiter_queued_during_release_waits(void **state)
{
    (void)state;
    calls log = {0};
    outbox_ackq *q = outbox_ackq_new();
    waiter_ctx child = {&log, 1002, NULL, NULL}, a = {&log, 2, q, &child};
    assert_int_equal(outbox_ackq_push(q, on_acked, &a), 0);
    assert_int_equal(outbox_ackq_release(q, 1, none, sid(4, 0)), 1);
    assert_int_equal(log.n, 1);
    assert_int_equal(outbox_ackq_pending(q), 1);
    assert_int_equal(outbox_ackq_release(q, 0, sid(5, 0), sid(7, 0)), 0); /* child: 7-0 */
    assert_int_equal(outbox_ackq_release(q, 1, none, sid(7, 0)), 1);
    assert_int_equal(log.seen[1], 1002);
    outbox_ackq_free(q);
}

static void test_free_drops_without_call(void **state)
{
    (void)state;
    calls log = {0};
    waiter_ctx a = {&log, 1, NULL, NULL};
    outbox_ackq *q = outbox_ackq_new();
    assert_int_equal(outbox_ackq_push(q, on_acked, &a), 0);
    assert_int_equal(outbox_ackq_push(q, on_acked, &a), 0);
    outbox_ackq_free(q);
    assert_int_equal(log.n, 0);
    assert_int_equal(outbox_ackq_pending(NULL), 0);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The model: entries are written (ids ascending), deleted in any order (the
 * relay's acknowledgements, some long delayed as if failing), waiters join
 * recording how many entries were written before them, and reports are
 * taken. Checked at every report: a released waiter never has an entry
 * written before it still in the stream (safety), waiters go in join order,
 * and exactly those go whose target entries are all gone (a reference
 * computed by scanning the live entries rather than the oldest one). */
typedef struct model_waiter {
    int written_before; /* entries written when it joined */
    int target;         /* index of the last entry at its first report, -1 none */
    int targeted;
} model_waiter;

static void property_run(uint64_t seed, int steps)
{
    enum { NENT = 4096, NW = MAXCALLS };
    static char live[NENT];
    static model_waiter mw[NW];
    static waiter_ctx ctx[NW];
    calls log = {0};
    int nent = 0, nlive = 0, nw = 0, nrel = 0;
    outbox_ackq *q = outbox_ackq_new();
    assert_non_null(q);
    for (int i = 0; i < NENT; i++)
        live[i] = 0;

    for (int step = 0; step < steps; step++) {
        unsigned op = (unsigned)(rng_next(&seed) % 10);
        if (op < 3 && nent < NENT) {
            live[nent++] = 1;
            nlive++;
        } else if (op < 6 && nlive > 0) {
            /* delete a random live entry, most often one of the oldest */
            int span = rng_next(&seed) % 4 == 0 ? nent : 8, pick = -1;
            int skip = (int)(rng_next(&seed) % (uint64_t)span);
            for (int i = 0, seen = 0; i < nent; i++)
                if (live[i] && seen++ >= skip % nlive) {
                    pick = i;
                    break;
                }
            live[pick] = 0;
            nlive--;
        } else if (op < 8 && nw < NW) {
            mw[nw] = (model_waiter){nent, -1, 0};
            ctx[nw] = (waiter_ctx){&log, nw, NULL, NULL};
            assert_int_equal(outbox_ackq_push(q, on_acked, &ctx[nw]), 0);
            nw++;
        } else {
            int first = -1;
            for (int i = 0; i < nent && first < 0; i++)
                if (live[i])
                    first = i;
            /* id of entry i is (i + 1)-0; last-generated is the newest written */
            outbox_stream_id fid = sid((unsigned long long)first + 1, 0);
            outbox_stream_id lid = sid((unsigned long long)nent, 0);
            int want = 0;
            for (int w = nrel; w < nw; w++)
                if (!mw[w].targeted) {
                    mw[w].target = nent - 1;
                    mw[w].targeted = 1;
                }
            for (int w = nrel; w < nw; w++) {
                int gone = 1;
                for (int i = 0; i <= mw[w].target && gone; i++)
                    gone = !live[i];
                if (!gone)
                    break;
                want++;
            }
            int got = outbox_ackq_release(q, first < 0, fid, lid);
            assert_int_equal(got, want);
            for (int k = 0; k < got; k++) {
                int w = log.seen[nrel + k];
                assert_int_equal(w, nrel + k); /* join order */
                for (int i = 0; i < mw[w].written_before; i++)
                    assert_false(live[i]); /* safety */
            }
            nrel += got;
            assert_int_equal(log.n, nrel);
            assert_int_equal(outbox_ackq_pending(q), nw - nrel);
        }
    }
    /* liveness: once everything is deleted, two reports release everyone */
    for (int i = 0; i < nent; i++)
        live[i] = 0;
    outbox_ackq_release(q, 1, none, sid((unsigned long long)nent, 0));
    outbox_ackq_release(q, 1, none, sid((unsigned long long)nent, 0));
    assert_int_equal(log.n, nw);
    assert_int_equal(outbox_ackq_pending(q), 0);
    outbox_ackq_free(q);
}

static void test_property_against_model(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {1, 42, 0x9e3779b97f4a7c15ULL, 20261203, 31337};
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
        property_run(seeds[i], 8000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_ids),
        cmocka_unit_test(test_empty_stream_releases_all),
        cmocka_unit_test(test_held_until_entries_deleted),
        cmocka_unit_test(test_out_of_order_acks_release_in_order),
        cmocka_unit_test(test_waiter_queued_during_release_waits),
        cmocka_unit_test(test_free_drops_without_call),
        cmocka_unit_test(test_property_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
