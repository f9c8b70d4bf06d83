/* test_policy.c - the courier policy (common/policy*.c, common/lsap.c) on
 * hand-made states: who is eligible, who is nearest, how one matching round
 * shares out couriers' capacity among several orders; and for the batch
 * policy: min-cost matching, bundling, shift ends, late commitment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lsap.h"
#include "policy.h"

#define NOW 1700000000000LL
#define STALE 60000

/* About 111 m per 0.001 degree of latitude: distances are easy to order. */
static policy_courier courier(const char *id, double north_deg, int cold, long cap, long load)
{
    policy_courier c = {.lat = 10.0 + north_deg,
                        .lon = 20.0,
                        .ts_ms = NOW - 1000,
                        .available = 1,
                        .cold_chain = cold,
                        .capacity = cap,
                        .load = load};
    snprintf(c.id, sizeof(c.id), "%s", id);
    return c;
}

static policy_order order(const char *id, int cold, int urgent, int64_t ready_ms)
{
    policy_order o = {
        .lat = 10.0, .lon = 20.0, .cold_chain = cold, .urgent = urgent, .ready_ms = ready_ms};
    snprintf(o.id, sizeof(o.id), "%s", id);
    return o;
}

static const policy_params params = {
    .kind = POLICY_GREEDY, .now_ms = NOW, .stale_ms = STALE, .radius_m = 5000.0};

static void test_nearest_fresh_courier_chosen(void **state)
{
    (void)state;
    policy_courier c[] = {courier("far", 0.02, 0, 1, 0), courier("near", 0.005, 0, 1, 0),
                          courier("mid", 0.01, 0, 1, 0)};
    policy_order o = order("o1", 0, 0, NOW);
    policy_choice ch[3];
    assert_int_equal(policy_rank(&params, &o, c, 3, ch), 3);
    assert_string_equal(c[ch[0].courier].id, "near");
    assert_string_equal(c[ch[1].courier].id, "mid");
    assert_string_equal(c[ch[2].courier].id, "far");
    assert_true(ch[0].dist_m > 500 && ch[0].dist_m < 600);
    policy_assignment a[1];
    assert_int_equal(policy_match(&params, &o, 1, c, 3, a), 1);
    assert_string_equal(c[a[0].courier].id, "near");
}

static void test_stale_position_skipped(void **state)
{
    (void)state;
    policy_courier c[] = {courier("stale", 0.001, 0, 1, 0), courier("fresh", 0.01, 0, 1, 0)};
    c[0].ts_ms = NOW - STALE - 1;
    policy_order o = order("o1", 0, 0, NOW);
    assert_string_equal(policy_ineligible(&params, &o, &c[0]), "stale_position");
    policy_assignment a[1];
    assert_int_equal(policy_match(&params, &o, 1, c, 2, a), 1);
    assert_string_equal(c[a[0].courier].id, "fresh");
}

static void test_unavailable_and_out_of_range_skipped(void **state)
{
    (void)state;
    policy_courier c[] = {courier("off", 0.001, 0, 1, 0), courier("away", 0.1, 0, 1, 0)};
    c[0].available = 0;
    policy_order o = order("o1", 0, 0, NOW);
    assert_string_equal(policy_ineligible(&params, &o, &c[0]), "unavailable");
    assert_string_equal(policy_ineligible(&params, &o, &c[1]), "out_of_range");
    policy_choice ch[2];
    assert_int_equal(policy_rank(&params, &o, c, 2, ch), 0);
}

static void test_cold_chain_only_to_cold_box(void **state)
{
    (void)state;
    policy_courier c[] = {courier("plain", 0.001, 0, 1, 0), courier("cold", 0.02, 1, 1, 0)};
    policy_order o[] = {order("cold-order", 1, 0, NOW), order("plain-order", 0, 0, NOW + 1)};
    assert_string_equal(policy_ineligible(&params, &o[0], &c[0]), "no_cold_box");
    policy_assignment a[2];
    assert_int_equal(policy_match(&params, o, 2, c, 2, a), 2);
    assert_string_equal(o[a[0].order].id, "cold-order");
    assert_string_equal(c[a[0].courier].id, "cold");
    assert_string_equal(c[a[1].courier].id, "plain");
}

static void test_capacity_respected_across_orders(void **state)
{
    (void)state;
    /* "a" holds one of its two already: it can take one more, then "b" its
     * two, and the fourth order finds nobody */
    policy_courier c[] = {courier("a", 0.001, 0, 2, 1), courier("b", 0.01, 0, 2, 0)};
    policy_order o[] = {order("o1", 0, 0, NOW + 1), order("o2", 0, 0, NOW + 2),
                        order("o3", 0, 0, NOW + 3), order("o4", 0, 0, NOW + 4)};
    policy_assignment a[4];
    assert_int_equal(policy_match(&params, o, 4, c, 2, a), 3);
    int per[2] = {0, 0};
    for (int i = 0; i < 3; i++)
        per[a[i].courier]++;
    assert_int_equal(per[0], 1);
    assert_int_equal(per[1], 2);
    assert_string_equal(o[a[0].order].id, "o1");
    assert_string_equal(c[a[0].courier].id, "a");
    /* the caller's couriers are not changed by the round */
    assert_int_equal(c[0].load, 1);
}

static void test_urgent_first_then_oldest(void **state)
{
    (void)state;
    policy_courier c[] = {courier("only", 0.001, 0, 1, 0), courier("next", 0.01, 0, 1, 0)};
    policy_order o[] = {order("old-normal", 0, 0, NOW - 5000), order("new-urgent", 0, 1, NOW),
                        order("newer-normal", 0, 0, NOW - 10)};
    policy_assignment a[3];
    assert_int_equal(policy_match(&params, o, 3, c, 2, a), 2);
    assert_string_equal(o[a[0].order].id, "new-urgent");
    assert_string_equal(c[a[0].courier].id, "only");
    assert_string_equal(o[a[1].order].id, "old-normal");
    assert_string_equal(c[a[1].courier].id, "next");
}

static void test_tried_couriers_skipped(void **state)
{
    (void)state;
    policy_courier c[] = {courier("declined", 0.001, 0, 1, 0), courier("other", 0.01, 0, 1, 0)};
    const char *tried[] = {"declined"};
    policy_order o = order("o1", 0, 0, NOW);
    o.tried = tried;
    o.ntried = 1;
    assert_string_equal(policy_ineligible(&params, &o, &c[0]), "tried");
    policy_assignment a[1];
    assert_int_equal(policy_match(&params, &o, 1, c, 2, a), 1);
    assert_string_equal(c[a[0].courier].id, "other");
    /* everyone tried: nothing */
    const char *all[] = {"declined", "other"};
    o.tried = all;
    o.ntried = 2;
    assert_int_equal(policy_match(&params, &o, 1, c, 2, a), 0);
}

static void test_no_courier_no_assignment(void **state)
{
    (void)state;
    policy_order o = order("o1", 0, 0, NOW);
    policy_assignment a[1];
    policy_choice ch[1];
    assert_int_equal(policy_match(&params, &o, 1, NULL, 0, a), 0);
    assert_int_equal(policy_rank(&params, &o, NULL, 0, ch), 0);
    policy_courier full = courier("full", 0.001, 0, 1, 1);
    assert_string_equal(policy_ineligible(&params, &o, &full), "at_capacity");
    assert_int_equal(policy_match(&params, &o, 1, &full, 1, a), 0);
}

static void test_equal_distance_breaks_by_id(void **state)
{
    (void)state;
    policy_courier c[] = {courier("b", 0.003, 0, 1, 0), courier("a", 0.003, 0, 1, 0)};
    policy_order o = order("o1", 0, 0, NOW);
    policy_choice ch[2];
    assert_int_equal(policy_rank(&params, &o, c, 2, ch), 2);
    assert_string_equal(c[ch[0].courier].id, "a");
}

/* ---- batch: a plane in metres, 100 m per minute, 4 min at each counter
 * and door (2 before, 2 after), minutes as times ---- */

#define MIN 60000LL

static policy_params batch_params(int64_t now_min)
{
    return (policy_params){.kind = POLICY_BATCH,
                           .now_ms = now_min * MIN,
                           .stale_ms = STALE,
                           .planar = 1,
                           .speed_m_per_min = 100.0,
                           .travel_quantum_ms = MIN,
                           .pickup_service_ms = 4 * MIN,
                           .dropoff_service_ms = 4 * MIN,
                           .target_ms = 40 * MIN};
}

/* As batch_params, committing every match (not holding any back). */
static policy_params batch_params_now(int64_t now_min)
{
    policy_params p = batch_params(now_min);
    p.commit_ms = 60 * MIN;
    return p;
}

static policy_courier bcourier(const char *id, double x, double y, int64_t now_min)
{
    policy_courier c = {.lat = y, .lon = x, .ts_ms = now_min * MIN, .available = 1, .capacity = 3};
    snprintf(c.id, sizeof(c.id), "%s", id);
    return c;
}

/* An order of pharmacy `ph` at (px, 0), placed at 0, dropped at (dx, dy). */
static policy_order border(const char *id, const char *ph, double px, int64_t ready_min, double dx,
                           double dy)
{
    policy_order o = {.lat = 0,
                      .lon = px,
                      .ready_ms = ready_min * MIN,
                      .placed_ms = 0,
                      .pharmacy = ph,
                      .has_dropoff = 1,
                      .drop_lat = dy,
                      .drop_lon = dx};
    snprintf(o.id, sizeof(o.id), "%s", id);
    return o;
}

static void test_lsap_optimum(void **state)
{
    (void)state;
    /* greedy by rows would take 1 + 7 + ... ; the optimum is 2 + 2 + 3 = 7 */
    const double cost[] = {1, 2, 9, /**/ 3, 7, 2, /**/ 3, 9, 8};
    size_t col[3];
    assert_int_equal(lsap_solve(3, 3, cost, col), 0);
    assert_int_equal(col[0], 1);
    assert_int_equal(col[1], 2);
    assert_int_equal(col[2], 0);
    /* rectangular, with forbidden pairs: row 0 must take column 2 */
    const double rect[] = {LSAP_FORBIDDEN, LSAP_FORBIDDEN, 5, LSAP_FORBIDDEN, /**/ 1, 4, 6, 2};
    assert_int_equal(lsap_solve(2, 4, rect, col), 0);
    assert_int_equal(col[0], 2);
    assert_int_equal(col[1], 0);
    assert_int_equal(lsap_solve(3, 2, rect, col), -1);
}

static void test_batch_min_cost_beats_nearest_first(void **state)
{
    (void)state;
    /* a at x=0 is older; c1 (x=100) is nearest to both a and b (x=300);
     * c2 (x=-200) is 2 min from a but 5 from b. Greedy gives c1 to a and
     * leaves b 5 min away; batch gives c2 to a and c1 to b (both in time). */
    policy_order o[] = {border("a", "pa", 0, 3, 0, 500), border("b", "pb", 300, 3, 300, 500)};
    o[0].ready_ms = 3 * MIN - 1;
    policy_courier c[] = {bcourier("c1", 100, 0, 0), bcourier("c2", -200, 0, 0)};
    policy_params g = batch_params(0);
    g.kind = POLICY_GREEDY;
    policy_assignment a[2];
    assert_int_equal(policy_match(&g, o, 2, c, 2, a), 2);
    assert_string_equal(c[a[0].courier].id, "c1");
    policy_params p = batch_params_now(0);
    assert_int_equal(policy_match(&p, o, 2, c, 2, a), 2);
    for (int i = 0; i < 2; i++)
        assert_string_equal(c[a[i].courier].id, a[i].order == 0 ? "c2" : "c1");
    assert_int_not_equal(a[0].bundle, a[1].bundle);
}

static void test_batch_bundles_one_pharmacy_only_when_short(void **state)
{
    (void)state;
    /* one courier, two orders of one pharmacy ready together, doors close */
    policy_order o[] = {border("o1", "p", 0, 5, 0, 600), border("o2", "p", 0, 5, 0, 700)};
    policy_courier c[] = {bcourier("only", 300, 0, 0)};
    policy_params p = batch_params_now(0);
    policy_assignment a[2];
    assert_int_equal(policy_match(&p, o, 2, c, 1, a), 2);
    assert_int_equal(a[0].bundle, a[1].bundle);
    assert_int_equal(a[0].courier, 0);
    assert_int_equal(a[1].courier, 0);
    /* the nearer door first, pickup when ready, drop-offs in sequence */
    assert_int_equal(a[0].order, 0);
    assert_int_equal(a[0].pickup_ms, 5 * MIN);
    assert_true(a[0].dropoff_ms < a[1].dropoff_ms);
    /* two couriers: no reason to share, each order its own trip */
    policy_courier two[] = {bcourier("c1", 300, 0, 0), bcourier("c2", -300, 0, 0)};
    assert_int_equal(policy_match(&p, o, 2, two, 2, a), 2);
    assert_int_not_equal(a[0].bundle, a[1].bundle);
    /* never a bundle across pharmacies: one courier, one order */
    o[1] = border("o2", "other", 100, 5, 0, 700);
    assert_int_equal(policy_match(&p, o, 2, c, 1, a), 1);
}

static void test_batch_commits_late_and_arrives_when_ready(void **state)
{
    (void)state;
    /* ready at 20, the courier is 5 min away: it must leave at 13 (5 travel,
     * 2 at the counter); before that nothing is committed */
    policy_order o = border("o1", "p", 0, 20, 0, 600);
    policy_courier c = bcourier("c", 500, 0, 0);
    policy_assignment a[1];
    policy_params p = batch_params(0);
    assert_int_equal(policy_match(&p, &o, 1, &c, 1, a), 0);
    p = batch_params(12);
    assert_int_equal(policy_match(&p, &o, 1, &c, 1, a), 0);
    p = batch_params(13);
    c.ts_ms = p.now_ms; /* a fresh position */
    assert_int_equal(policy_match(&p, &o, 1, &c, 1, a), 1);
    assert_int_equal(a[0].depart_ms, 13 * MIN);
    assert_int_equal(a[0].pickup_ms, 20 * MIN);
    assert_int_equal(a[0].dropoff_ms, (20 + 2 + 6 + 2) * MIN);
}

static void test_batch_never_a_courier_off_before_pickup(void **state)
{
    (void)state;
    /* the near courier goes off at 9, the order is ready at 10 */
    policy_order o = border("o1", "p", 0, 10, 0, 600);
    policy_courier c[] = {bcourier("leaving", 100, 0, 8), bcourier("staying", 600, 0, 8)};
    c[0].off_ms = 9 * MIN;
    policy_params p = batch_params_now(8);
    assert_string_equal(policy_ineligible(&p, &o, &c[0]), "shift_ends");
    policy_assignment a[1];
    assert_int_equal(policy_match(&p, &o, 1, c, 2, a), 1);
    assert_string_equal(c[a[0].courier].id, "staying");
    c[1].off_ms = 9 * MIN;
    assert_int_equal(policy_match(&p, &o, 1, c, 2, a), 0);
}

static void test_batch_waits_for_a_busy_courier_nearby(void **state)
{
    (void)state;
    /* ready now; a courier free in 2 min at the pharmacy beats one free now
     * 30 min away: nothing is committed, the order waits for it */
    policy_order o = border("o1", "p", 0, 0, 0, 600);
    policy_courier c[] = {bcourier("busy", 0, 0, 0), bcourier("far", 3000, 0, 0)};
    c[0].free_ms = 2 * MIN;
    policy_params p = batch_params(0);
    assert_string_equal(policy_ineligible(&p, &o, &c[0]), "busy");
    policy_assignment a[1];
    assert_int_equal(policy_match(&p, &o, 1, c, 2, a), 0);
    p = batch_params(2);
    c[0].ts_ms = c[1].ts_ms = p.now_ms;
    assert_int_equal(policy_match(&p, &o, 1, c, 2, a), 1);
    assert_string_equal(c[a[0].courier].id, "busy");
}

static void test_batch_cold_chain_capacity_and_tried(void **state)
{
    (void)state;
    policy_order o[] = {border("cold", "p", 0, 5, 0, 600), border("plain", "p", 0, 5, 0, 650),
                        border("third", "p", 0, 5, 0, 700)};
    o[0].cold_chain = 1;
    const char *tried[] = {"boxed"};
    policy_courier c[] = {bcourier("boxed", 200, 0, 0), bcourier("plain", 100, 0, 0)};
    c[0].cold_chain = 1;
    c[0].capacity = 2;
    c[0].load = 1; /* room for one */
    c[1].capacity = 1;
    policy_params p = batch_params_now(0);
    policy_assignment a[3];
    int n = policy_match(&p, o, 3, c, 2, a);
    assert_int_equal(n, 2);
    int per[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        per[a[i].courier]++;
        if (a[i].order == 0)
            assert_string_equal(c[a[i].courier].id, "boxed");
    }
    assert_int_equal(per[0], 1);
    assert_int_equal(per[1], 1);
    /* the only cold box declined it: the cold order waits */
    o[0].tried = tried;
    o[0].ntried = 1;
    n = policy_match(&p, o, 3, c, 2, a);
    for (int i = 0; i < n; i++)
        assert_int_not_equal(a[i].order, 0);
}

static void test_batch_urgent_first_when_short(void **state)
{
    (void)state;
    /* one courier, nearer to the normal order: the urgent one gets it */
    policy_order o[] = {border("normal", "p1", 100, 5, 100, 600),
                        border("urgent", "p2", 900, 5, 900, 600)};
    o[1].urgent = 1;
    policy_courier c[] = {bcourier("only", 0, 0, 0)};
    policy_params p = batch_params_now(0);
    policy_assignment a[2];
    assert_int_equal(policy_match(&p, o, 2, c, 1, a), 1);
    assert_string_equal(o[a[0].order].id, "urgent");
    o[1].urgent = 0;
    assert_int_equal(policy_match(&p, o, 2, c, 1, a), 1);
    assert_string_equal(o[a[0].order].id, "normal");
}

static void test_batch_deterministic(void **state)
{
    (void)state;
    policy_order o[6];
    policy_courier c[4];
    char id[8];
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "o%d", i);
        o[i] = border(id, i % 2 ? "p1" : "p2", (i % 2) * 400, 3 + i, 100 * i, 500);
    }
    for (int k = 0; k < 4; k++) {
        snprintf(id, sizeof(id), "c%d", k);
        c[k] = bcourier(id, 250.0 * k, 100, 0);
    }
    policy_params p = batch_params_now(0);
    policy_assignment a[6], b[6];
    assert_int_equal(policy_match(&p, o, 0, c, 4, a), 0); /* nothing to do */
    assert_int_equal(policy_match(&p, o, 6, c, 0, a), 0); /* nobody to do it */
    int n = policy_match(&p, o, 6, c, 4, a);
    assert_true(n > 0);
    assert_int_equal(policy_match(&p, o, 6, c, 4, b), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(a[i].order, b[i].order);
        assert_int_equal(a[i].courier, b[i].courier);
        assert_int_equal(a[i].bundle, b[i].bundle);
        assert_int_equal(a[i].pickup_ms, b[i].pickup_ms);
        assert_int_equal(a[i].dropoff_ms, b[i].dropoff_ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nearest_fresh_courier_chosen),
        cmocka_unit_test(test_stale_position_skipped),
        cmocka_unit_test(test_unavailable_and_out_of_range_skipped),
        cmocka_unit_test(test_cold_chain_only_to_cold_box),
        cmocka_unit_test(test_capacity_respected_across_orders),
        cmocka_unit_test(test_urgent_first_then_oldest),
        cmocka_unit_test(test_tried_couriers_skipped),
        cmocka_unit_test(test_no_courier_no_assignment),
        cmocka_unit_test(test_equal_distance_breaks_by_id),
        cmocka_unit_test(test_lsap_optimum),
        cmocka_unit_test(test_batch_min_cost_beats_nearest_first),
        cmocka_unit_test(test_batch_bundles_one_pharmacy_only_when_short),
        cmocka_unit_test(test_batch_commits_late_and_arrives_when_ready),
        cmocka_unit_test(test_batch_never_a_courier_off_before_pickup),
        cmocka_unit_test(test_batch_waits_for_a_busy_courier_nearby),
        cmocka_unit_test(test_batch_cold_chain_capacity_and_tried),
        cmocka_unit_test(test_batch_urgent_first_when_short),
        cmocka_unit_test(test_batch_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
