/* Unit tests of the Redis failure classes (common/rerr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rerr.h"

static void test_classes(void **state)
{
    (void)state;
    static const struct {
        const char *transport, *reply;
        rerr_kind want;
    } cases[] = {
        {"redis connection lost", NULL, RERR_RETRY},
        {"redis request timed out after 2000 ms", NULL, RERR_RETRY},
        {NULL, "OOM command not allowed when used memory > 'maxmemory'. script: x", RERR_RETRY},
        {NULL, "LOADING Redis is loading the dataset in memory", RERR_RETRY},
        {NULL, "BUSY Redis is busy running a script", RERR_RETRY},
        {NULL, "NOSCRIPT No matching script", RERR_RETRY},
        {NULL, "TRYAGAIN Multiple keys request during rehashing of slot", RERR_RETRY},
        {NULL, "WRONGTYPE Operation against a key holding the wrong kind of value", RERR_FATAL},
        {NULL, "ERR user_script:1: Script attempted to access nonexistent global", RERR_FATAL},
        {NULL, "ERR unknown orders operation x", RERR_FATAL},
        {NULL, "OOMPH not a known prefix", RERR_FATAL},
        {NULL, NULL, RERR_FATAL}, /* a reply of an unexpected shape */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(rerr_classify(cases[i].transport, cases[i].reply), cases[i].want);
    assert_string_equal(rerr_kind_name(RERR_RETRY), "retry");
    assert_string_equal(rerr_kind_name(RERR_FATAL), "fatal");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_classes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
