/* Unit tests of the worker kit's pure part (common/job.c): the retry
 * backoff and the in-flight accounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "job.h"

/* Each delay lies in the upper half of a nominal that doubles up to the cap. */
static void test_backoff_doubles_with_jitter_under_cap(void **state)
{
    (void)state;
    job_backoff b = {0};
    int nominal[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    for (size_t i = 0; i < sizeof(nominal) / sizeof(nominal[0]); i++) {
        int ms = job_backoff_next(&b, 100, 5000);
        assert_int_equal(b.nominal_ms, nominal[i]);
        assert_true(ms >= nominal[i] - nominal[i] / 2);
        assert_true(ms <= nominal[i]);
    }
}

/* Jobs that fail together do not all retry at the same moment. */
static void test_backoff_spreads_jobs(void **state)
{
    (void)state;
    int seen_low = 0, seen_high = 0;
    for (unsigned i = 1; i <= 200; i++) {
        job_backoff b = {.seed = i * 2654435761u};
        job_backoff_next(&b, 100, 5000);
        int ms = job_backoff_next(&b, 100, 5000); /* nominal 200 */
        seen_low |= ms < 150;
        seen_high |= ms >= 150;
    }
    assert_true(seen_low && seen_high);
}

static int dropped;

static void on_drop(job_token *t)
{
    dropped++;
    job_end(t);
}

static void test_count_begin_wait_end(void **state)
{
    (void)state;
    job_count c = {0};
    job_token a = {0}, b = {0}, claim = {0};
    job_begin(&c, &a, on_drop);
    job_begin(&c, &b, on_drop);
    job_begin(&c, &claim, NULL);
    assert_int_equal(job_count_busy(&c), 3);
    job_wait(&a);
    assert_int_equal(job_count_busy(&c), 3);
    assert_int_equal(job_count_active(&c), 2); /* a waiting job holds no claim slot */
    job_wake(&a);
    assert_int_equal(job_count_active(&c), 3);
    job_wait(&b);
    job_end(&b); /* ending while waiting takes it off the waiting list */
    assert_int_equal(c.waiting, 0);
    assert_null(c.wait);
    job_end(&claim);
    assert_int_equal(job_count_check(&c, "test"), -1); /* a is still running */
    job_end(&a);
    assert_int_equal(job_count_busy(&c), 0);
    assert_int_equal(job_count_check(&c, "test"), 0);
}

/* Every job waiting to retry is freed at stop; running ones are not. */
static void test_drop_waiting_frees_every_waiting_job(void **state)
{
    (void)state;
    job_count c = {0};
    job_token t[5] = {{0}};
    for (int i = 0; i < 5; i++)
        job_begin(&c, &t[i], on_drop);
    job_wait(&t[0]);
    job_wait(&t[2]);
    job_wait(&t[4]);
    dropped = 0;
    job_count_drop_waiting(&c);
    assert_int_equal(dropped, 3);
    assert_int_equal(job_count_busy(&c), 2);
    assert_null(t[0].count);
    assert_non_null(t[1].count);
    job_end(&t[1]);
    job_end(&t[3]);
    assert_int_equal(job_count_check(&c, "test"), 0);
}

/* A second end of the same token aborts instead of corrupting the count. */
static void test_double_end_aborts(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(2);
        job_count c = {0};
        job_token t = {0};
        job_begin(&c, &t, NULL);
        job_end(&t);
        job_end(&t);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_with_jitter_under_cap),
        cmocka_unit_test(test_backoff_spreads_jobs),
        cmocka_unit_test(test_count_begin_wait_end),
        cmocka_unit_test(test_drop_waiting_frees_every_waiting_job),
        cmocka_unit_test(test_double_end_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
