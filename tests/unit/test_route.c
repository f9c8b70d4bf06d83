/* Unit tests of eligibility and ranking (common/route.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static route_pharmacy ph(const char *id, double dist, long load)
{
    route_pharmacy p = {0};
    snprintf(p.id, sizeof(p.id), "%s", id);
    p.dist_m = dist;
    p.known = 1;
    p.open = 1;
    p.capacity = 10;
    p.load = load;
    p.cold_chain = 1;
    p.insurance = 1;
    return p;
}

static void test_nearest_first(void **state)
{
    (void)state;
    route_request rq = {0};
    route_pharmacy c[] = {ph("far", 2900, 0), ph("near", 400, 0), ph("mid", 1500, 0)};
    assert_int_equal(route_rank(&rq, c, 3), 3);
    assert_string_equal(c[0].id, "near");
    assert_string_equal(c[1].id, "mid");
    assert_string_equal(c[2].id, "far");
}

static void test_nominated_first_when_eligible(void **state)
{
    (void)state;
    route_request rq = {.nominated = "far"};
    route_pharmacy c[] = {ph("near", 400, 0), ph("far", 2900, 0)};
    assert_int_equal(route_rank(&rq, c, 2), 2);
    assert_string_equal(c[0].id, "far");
    route_pharmacy d[] = {ph("near", 400, 0), ph("far", 2900, 0)};
    d[1].open = 0;
    assert_int_equal(route_rank(&rq, d, 2), 1);
    assert_string_equal(d[0].id, "near");
}

static void test_load_breaks_distance_ties(void **state)
{
    (void)state;
    route_request rq = {0};
    /* 100 m apart: the same distance band, so the emptier one goes first */
    route_pharmacy c[] = {ph("busy", 1000, 8), ph("quiet", 1100, 1)};
    route_rank(&rq, c, 2);
    assert_string_equal(c[0].id, "quiet");
    /* a band apart: distance wins over load */
    route_pharmacy d[] = {ph("busy", 500, 8), ph("quiet", 1100, 1)};
    route_rank(&rq, d, 2);
    assert_string_equal(d[0].id, "busy");
}

static void test_ineligible_reasons(void **state)
{
    (void)state;
    route_request rq = {.needs_cold_chain = 1, .insurance_covered = 1};
    route_pharmacy p = ph("p", 100, 0);
    assert_null(route_ineligible(&rq, &p));
    p.open = 0;
    assert_string_equal(route_ineligible(&rq, &p), "closed");
    p = ph("p", 100, 10);
    assert_string_equal(route_ineligible(&rq, &p), "at_capacity");
    p = ph("p", 100, 0);
    p.stock_known = 1;
    p.stock_ok = 0;
    assert_string_equal(route_ineligible(&rq, &p), "out_of_stock");
    p.stock_ok = 1;
    assert_null(route_ineligible(&rq, &p));
    p = ph("p", 100, 0);
    p.cold_chain = 0;
    assert_string_equal(route_ineligible(&rq, &p), "no_cold_chain");
    p = ph("p", 100, 0);
    p.insurance = 0;
    assert_string_equal(route_ineligible(&rq, &p), "not_insurance_designated");
    p = ph("p", 100, 0);
    p.tried = 1;
    assert_string_equal(route_ineligible(&rq, &p), "tried");
    p = ph("p", 100, 0);
    p.known = 0;
    assert_string_equal(route_ineligible(&rq, &p), "unknown");
    route_request plain = {0};
    p = ph("p", 100, 0);
    p.cold_chain = 0;
    p.insurance = 0;
    assert_null(route_ineligible(&plain, &p));
}

static void test_ineligible_filtered_out(void **state)
{
    (void)state;
    route_request rq = {0};
    route_pharmacy c[] = {ph("a", 100, 0), ph("b", 200, 0), ph("c", 300, 0)};
    c[0].open = 0;
    c[2].load = 10;
    assert_int_equal(route_rank(&rq, c, 3), 1);
    assert_string_equal(c[0].id, "b");
}

static void test_stock_cover(void **state)
{
    (void)state;
    uint32_t need[] = {2, 1};
    long long ok[] = {5, 1}, short_[] = {1, 1}, missing[] = {5, -1};
    assert_true(route_stock_covers(2, need, ok));
    assert_false(route_stock_covers(2, need, short_));
    assert_false(route_stock_covers(2, need, missing));
    assert_true(route_stock_covers(0, need, ok));
}

/* Windows end at band edges: ranking a window alone gives the order that
 * ranking every candidate would give for its eligible members. */
static void test_window_ends_at_band_edge(void **state)
{
    (void)state;
    route_pharmacy c[] = {ph("a", 100, 0), ph("b", 240, 0), ph("c", 260, 0),
                          ph("d", 490, 0), ph("e", 510, 0), ph("f", 900, 0)};
    assert_int_equal(route_window_end(c, 0, 6, 1), 2); /* a, b: band 0 */
    assert_int_equal(route_window_end(c, 0, 6, 3), 4); /* up to d: band 1 is whole */
    assert_int_equal(route_window_end(c, 4, 6, 8), 6); /* the rest */
    assert_int_equal(route_window_end(c, 2, 6, 2), 4);
    /* a full band of loaded pharmacies then a lighter one in the next band:
     * the window of band 0 still ranks the near ones first */
    route_pharmacy d[] = {ph("x", 10, 9), ph("y", 20, 9), ph("z", 260, 0)};
    int end = route_window_end(d, 0, 3, 2);
    assert_int_equal(end, 2);
    route_request rq = {0};
    assert_int_equal(route_rank(&rq, d, end), 2);
    assert_string_equal(d[0].id, "x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nearest_first),
        cmocka_unit_test(test_nominated_first_when_eligible),
        cmocka_unit_test(test_load_breaks_distance_ties),
        cmocka_unit_test(test_ineligible_reasons),
        cmocka_unit_test(test_ineligible_filtered_out),
        cmocka_unit_test(test_stock_cover),
        cmocka_unit_test(test_window_ends_at_band_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
