/* Unit tests of the stage histograms (common/stages.c): a state change is
 * counted under its pair of states, a final one also end to end, and what
 * cannot be placed is left out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "metrics_text.h"
#include "rxdispatch.pb-c.h"
#include "stages.h"

#define ST(name) RXDISPATCH__V1__ORDER_STATE__##name

static void test_stage_and_end_to_end(void **state)
{
    (void)state;
    metrics *m = metrics_new("rxd");
    stages *s = stages_new(m);
    /* offered 2 s after routing began; delivered 40 min after approval */
    stages_observe(s, ST(ROUTING), ST(OFFERED), 1000, 3000, 500);
    stages_observe(s, ST(PICKED_UP), ST(DELIVERED), 2100000, 3000000, 600000);
    char *t = render(m);
    assert_non_null(strstr(t, "rxd_order_stage_seconds_bucket{from=\"ROUTING\",to=\"OFFERED\","
                              "le=\"1\"} 0\n"
                              "rxd_order_stage_seconds_bucket{from=\"ROUTING\",to=\"OFFERED\","
                              "le=\"5\"} 1\n"));
    assert_non_null(strstr(t, "rxd_order_stage_seconds_sum{from=\"ROUTING\",to=\"OFFERED\"} 2\n"));
    assert_non_null(
        strstr(t, "rxd_order_stage_seconds_sum{from=\"PICKED_UP\",to=\"DELIVERED\"} 900\n"));
    /* OFFERED is not final: no end-to-end series for it */
    assert_null(strstr(t, "order_end_to_end_seconds_count{state=\"OFFERED\"}"));
    assert_non_null(strstr(t, "rxd_order_end_to_end_seconds_sum{state=\"DELIVERED\"} 2400\n"));
    assert_non_null(strstr(t, "rxd_order_end_to_end_seconds_count{state=\"DELIVERED\"} 1\n"));
    free(t);
    stages_free(s);
    metrics_free(m);
}

static void test_what_cannot_be_placed_is_left_out(void **state)
{
    (void)state;
    metrics *m = metrics_new("rxd");
    stages *s = stages_new(m);
    stages_observe(s, 0, ST(OFFERED), 1000, 2000, 0);           /* no previous state */
    stages_observe(s, ST(OFFERED), ST(OFFERED), 1000, 2000, 0); /* not a change */
    stages_observe(s, ST(OFFERED), 99, 1000, 2000, 0);          /* unknown state */
    stages_observe(s, ST(ACCEPTED), ST(READY), 5000, 2000, 0);  /* time runs backwards */
    stages_observe(s, ST(READY), ST(COLLECTED), 0, 2000, 0);    /* no entry time */
    char *t = render(m);
    assert_null(strstr(t, "order_stage_seconds_count"));
    assert_null(strstr(t, "order_end_to_end"));
    free(t);
    stages_free(s);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stage_and_end_to_end),
        cmocka_unit_test(test_what_cannot_be_placed_is_left_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
