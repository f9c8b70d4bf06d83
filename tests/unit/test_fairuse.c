/* Unit tests of the per-holder budgets (common/fairuse.c): token buckets
 * refill at their rate up to their burst, one holder's spending leaves
 * another's budget alone, and parked long-polls are capped per holder and
 * in total. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fairuse.h"

static fairuse *fu(void)
{
    fairuse_limits l = {.rate = {{10, 20}, {2, 500}}, .parked_per_holder = 2, .parked_total = 3};
    fairuse *f = fairuse_new(&l);
    assert_non_null(f);
    return f;
}

static void test_burst_then_rate(void **state)
{
    (void)state;
    fairuse *f = fu();
    int64_t retry;
    for (int i = 0; i < 20; i++)
        assert_int_equal(fairuse_take(f, FAIRUSE_REQUESTS, "courier:a", 1, 1000, &retry), 0);
    assert_int_equal(fairuse_take(f, FAIRUSE_REQUESTS, "courier:a", 1, 1000, &retry), -1);
    assert_true(retry > 0 && retry <= 101);
    /* 100 ms later one more token has come back, and only one */
    assert_int_equal(fairuse_take(f, FAIRUSE_REQUESTS, "courier:a", 1, 1100, &retry), 0);
    assert_int_equal(fairuse_take(f, FAIRUSE_REQUESTS, "courier:a", 1, 1100, &retry), -1);
    fairuse_free(f);
}

static void test_holders_apart(void **state)
{
    (void)state;
    fairuse *f = fu();
    int64_t retry;
    while (fairuse_take(f, FAIRUSE_REQUESTS, "courier:abuser", 1, 5000, &retry) == 0)
        ;
    assert_int_equal(fairuse_take(f, FAIRUSE_REQUESTS, "courier:other", 1, 5000, &retry), 0);
    /* positions are a budget of their own */
    assert_int_equal(fairuse_take(f, FAIRUSE_POSITIONS, "courier:abuser", 500, 5000, &retry), 0);
    assert_int_equal(fairuse_take(f, FAIRUSE_POSITIONS, "courier:abuser", 1, 5000, &retry), -1);
    assert_int_equal(retry, 501);
    /* more than the burst can never be taken */
    assert_int_equal(fairuse_take(f, FAIRUSE_POSITIONS, "courier:x", 501, 5000, &retry), -1);
    assert_int_equal(retry, -1);
    fairuse_free(f);
}

static void test_parked_caps(void **state)
{
    (void)state;
    fairuse *f = fu();
    assert_int_equal(fairuse_park(f, "pharmacy:a"), FAIRUSE_PARKED);
    assert_int_equal(fairuse_park(f, "pharmacy:a"), FAIRUSE_PARKED);
    assert_int_equal(fairuse_park(f, "pharmacy:a"), FAIRUSE_HOLDER_FULL);
    assert_int_equal(fairuse_park(f, "pharmacy:b"), FAIRUSE_PARKED);
    assert_int_equal(fairuse_park(f, "pharmacy:c"), FAIRUSE_TOTAL_FULL);
    fairuse_unpark(f, "pharmacy:a");
    assert_int_equal(fairuse_parked_total(f), 2);
    assert_int_equal(fairuse_park(f, "pharmacy:c"), FAIRUSE_PARKED);
    fairuse_free(f);
}

static void test_sweep_forgets_idle(void **state)
{
    (void)state;
    fairuse *f = fu();
    int64_t retry;
    assert_int_equal(fairuse_take(f, FAIRUSE_REQUESTS, "courier:a", 5, 0, &retry), 0);
    assert_int_equal(fairuse_park(f, "pharmacy:b"), FAIRUSE_PARKED);
    assert_int_equal(fairuse_sweep(f, 100), 2);   /* a is still refilling */
    assert_int_equal(fairuse_sweep(f, 10000), 1); /* b is parked */
    fairuse_unpark(f, "pharmacy:b");
    assert_int_equal(fairuse_sweep(f, 10000), 0);
    fairuse_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_holders_apart),
        cmocka_unit_test(test_parked_caps),
        cmocka_unit_test(test_sweep_forgets_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
