/* Unit tests of the per-topic produce state (common/produce_health.c): which
 * delivery errors are permanent, the capped exponential backoff, and that a
 * failing topic says so once per state change plus a periodic summary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "produce_health.h"

static void test_classifies_errors(void **state)
{
    (void)state;
    assert_true(produce_err_permanent(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
    assert_true(produce_err_permanent(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    assert_true(produce_err_permanent(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
    assert_false(produce_err_permanent(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
    assert_false(produce_err_permanent(RD_KAFKA_RESP_ERR__QUEUE_FULL));
    assert_false(produce_err_permanent(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS));
    assert_false(produce_err_permanent(RD_KAFKA_RESP_ERR__TRANSPORT));
}

static void test_first_failure_blocks_and_reports_once(void **state)
{
    (void)state;
    produce_health h;
    produce_health_init(&h, "patient.notify");
    assert_false(produce_health_blocked(&h, 0));
    assert_int_equal(produce_health_fail(&h, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                         "Broker: Topic authorization failed", 1000),
                     1);
    assert_true(h.permanent);
    assert_true(produce_health_blocked(&h, 1000));
    assert_true(produce_health_blocked(&h, 1099));
    assert_false(produce_health_blocked(&h, 1100));
    /* the rest of the same batch fails too: no new log line, no longer wait */
    for (int i = 0; i < 255; i++)
        assert_int_equal(produce_health_fail(&h, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, "x",
                                             1001 + i % 50),
                         0);
    assert_int_equal(h.backoff_ms, PRODUCE_BACKOFF_MIN_MS);
    assert_int_equal(h.since_summary, 256);
}

static void test_backoff_doubles_up_to_the_cap(void **state)
{
    (void)state;
    produce_health h;
    produce_health_init(&h, "order.events");
    long long now = 0, expect = PRODUCE_BACKOFF_MIN_MS;
    produce_health_fail(&h, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, "timed out", now);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(h.backoff_ms, expect);
        now = h.retry_at_ms; /* the next try, right when allowed */
        produce_health_fail(&h, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, "timed out", now);
        expect = expect * 2 > PRODUCE_BACKOFF_MAX_MS ? PRODUCE_BACKOFF_MAX_MS : expect * 2;
    }
    assert_int_equal(h.backoff_ms, PRODUCE_BACKOFF_MAX_MS);
    assert_false(h.permanent);
}

static void test_success_recovers_once(void **state)
{
    (void)state;
    produce_health h;
    produce_health_init(&h, "order.events");
    assert_int_equal(produce_health_ok(&h), 0);
    produce_health_fail(&h, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "unknown", 5);
    assert_int_equal(produce_health_ok(&h), 1);
    assert_int_equal(produce_health_ok(&h), 0);
    assert_false(produce_health_blocked(&h, 6));
    /* a new outage starts at the shortest wait again */
    produce_health_fail(&h, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "unknown", 10);
    assert_int_equal(h.backoff_ms, PRODUCE_BACKOFF_MIN_MS);
}

static void test_summary_every_window_while_failing(void **state)
{
    (void)state;
    produce_health h;
    produce_health_init(&h, "order.events");
    assert_false(produce_health_summary_due(&h, 1000000));
    produce_health_fail(&h, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, "denied", 0);
    assert_false(produce_health_summary_due(&h, PRODUCE_SUMMARY_MS - 1));
    assert_true(produce_health_summary_due(&h, PRODUCE_SUMMARY_MS));
    assert_false(produce_health_summary_due(&h, PRODUCE_SUMMARY_MS + 1));
    assert_true(produce_health_summary_due(&h, 2 * PRODUCE_SUMMARY_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifies_errors),
        cmocka_unit_test(test_first_failure_blocks_and_reports_once),
        cmocka_unit_test(test_backoff_doubles_up_to_the_cap),
        cmocka_unit_test(test_success_recovers_once),
        cmocka_unit_test(test_summary_every_window_while_failing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
