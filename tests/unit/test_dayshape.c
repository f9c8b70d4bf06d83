/* Unit tests of citysim's day of prescriptions (loadtest/citysim/dayshape.c):
 * a whole day sends rate x day, the night is quiet and the peaks are busy,
 * and the count due never goes back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dayshape.h"

static void test_flat_rate(void **state)
{
    (void)state;
    assert_float_equal(dayshape_due(30, 0, 100), 3000, 1e-9);
    assert_float_equal(dayshape_factor(0, 5), 1.0, 1e-12);
}

static void test_whole_days_send_the_mean(void **state)
{
    (void)state;
    /* a day in 240 s at a mean of 50/s: 12,000 a day, 36,000 in three */
    assert_float_equal(dayshape_due(50, 240, 240), 12000, 1e-6);
    assert_float_equal(dayshape_due(50, 240, 720), 36000, 1e-6);
}

static void test_night_quiet_peaks_busy(void **state)
{
    (void)state;
    double day = 2400, hour = day / 24;
    double night = dayshape_factor(day, 3.5 * hour);
    double morning = dayshape_factor(day, 10.5 * hour);
    double evening = dayshape_factor(day, 20.5 * hour);
    assert_true(night < 0.2);
    assert_true(morning > 1.5);
    assert_true(evening > 1.5);
    /* the second day has the first one's shape */
    assert_float_equal(dayshape_factor(day, day + 3.5 * hour), night, 1e-12);
}

static void test_due_never_goes_back(void **state)
{
    (void)state;
    double last = 0;
    for (double t = 0; t < 1000; t += 0.37) {
        double due = dayshape_due(20, 300, t);
        assert_true(due >= last);
        last = due;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat_rate),
        cmocka_unit_test(test_whole_days_send_the_mean),
        cmocka_unit_test(test_night_quiet_peaks_busy),
        cmocka_unit_test(test_due_never_goes_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
