/* Unit tests of the metrics registry and its Prometheus text (common/metrics.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "metrics_text.h"

static void test_histogram_text(void **state)
{
    (void)state;
    metrics *m = metrics_new("rxd");
    static const double bounds[] = {0.1, 1, 2.5};
    metric *h = metrics_histogram(m, "call_seconds", NULL, "call latency", bounds, 3);
    metric_observe(h, 0.05);
    metric_observe(h, 0.1); /* on a bound: counted in that bucket (le) */
    metric_observe(h, 2);
    metric_observe(h, 7);
    char *s = render(m);
    assert_string_equal(s, "# HELP rxd_call_seconds call latency\n"
                           "# TYPE rxd_call_seconds histogram\n"
                           "rxd_call_seconds_bucket{le=\"0.1\"} 2\n"
                           "rxd_call_seconds_bucket{le=\"1\"} 2\n"
                           "rxd_call_seconds_bucket{le=\"2.5\"} 3\n"
                           "rxd_call_seconds_bucket{le=\"+Inf\"} 4\n"
                           "rxd_call_seconds_sum 9.1500000000000004\n"
                           "rxd_call_seconds_count 4\n");
    assert_int_equal((int)metric_value(h), 4);
    free(s);
    metrics_free(m);
}

static void test_labelled_histogram(void **state)
{
    (void)state;
    metrics *m = metrics_new("rxd");
    static const double bounds[] = {1};
    metric *h = metrics_histogram(m, "d_seconds", "route=\"a\"", "d", bounds, 1);
    metric_observe(h, 3);
    char *s = render(m);
    assert_non_null(strstr(s, "rxd_d_seconds_bucket{route=\"a\",le=\"1\"} 0\n"
                              "rxd_d_seconds_bucket{route=\"a\",le=\"+Inf\"} 1\n"
                              "rxd_d_seconds_sum{route=\"a\"} 3\n"
                              "rxd_d_seconds_count{route=\"a\"} 1\n"));
    free(s);
    metrics_free(m);
}

/* Members of one family created at different times are rendered together
 * under one HELP/TYPE, as the text format requires. */
static void test_family_grouped(void **state)
{
    (void)state;
    metrics *m = metrics_new("rxd");
    metric *a = metrics_counter(m, "req_total", "status=\"2xx\"", "requests");
    metrics_gauge(m, "up", NULL, "up");
    metric *b = metrics_counter(m, "req_total", "status=\"5xx\"", "requests");
    assert_ptr_equal(a, metrics_counter(m, "req_total", "status=\"2xx\"", "requests"));
    assert_ptr_not_equal(a, b);
    metric_add(a, 3);
    metric_add(b, 1);
    char *s = render(m);
    assert_string_equal(s, "# HELP rxd_req_total requests\n"
                           "# TYPE rxd_req_total counter\n"
                           "rxd_req_total{status=\"2xx\"} 3\n"
                           "rxd_req_total{status=\"5xx\"} 1\n"
                           "# HELP rxd_up up\n"
                           "# TYPE rxd_up gauge\n"
                           "rxd_up 0\n");
    free(s);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_text),
        cmocka_unit_test(test_labelled_histogram),
        cmocka_unit_test(test_family_grouped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
