/* test_policy.c - the courier policy (common/policy.c) on hand-made states:
 * who is eligible, who is nearest, and how one matching round shares out
 * couriers' capacity among several orders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

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

static const policy_params params = {POLICY_GREEDY, NOW, STALE, 5000.0};

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
