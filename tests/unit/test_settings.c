/* test_settings.c - the known RXD_* names: typos refused with a suggestion,
 * families accepted, and docs/configuration.md in step with the list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "settings.h"

static void known_names_and_families_pass(void **state)
{
    (void)state;
    char err[256];
    char *env[] = {"PATH=/bin",
                   "RXD_REDIS_URL=redis://127.0.0.1:6379",
                   "RXD_KAFKA_SECURITY_PROTOCOL=ssl",
                   "RXD_ADMIN_RX_ROUTER_2=http://127.0.0.1:1",
                   "RXD_PHARMACY_API=http://127.0.0.1:2",
                   "RXD_STACK_KAFKA=kafka",
                   "RXD_OFFER_DEADLINE_MS=",
                   NULL};
    assert_int_equal(settings_check_env(env, err, sizeof(err)), 0);
}

static void a_typo_is_refused_with_the_name_meant(void **state)
{
    (void)state;
    char err[256] = "";
    char *env[] = {"RXD_REDIS_URL=x", "RXD_REDIS_ULR=redis://10.0.0.1:6379", NULL};
    assert_int_equal(settings_check_env(env, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "RXD_REDIS_ULR is not a setting"));
    assert_non_null(strstr(err, "did you mean RXD_REDIS_URL?"));
}

static void a_name_far_from_all_gets_no_guess(void **state)
{
    (void)state;
    char err[256] = "";
    char *env[] = {"RXD_SOMETHING_ELSE_ENTIRELY=1", NULL};
    assert_int_equal(settings_check_env(env, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "RXD_SOMETHING_ELSE_ENTIRELY"));
    assert_null(strstr(err, "did you mean"));
}

static void other_variables_are_not_ours(void **state)
{
    (void)state;
    char err[256];
    char *env[] = {"RXDX_FOO=1", "XRXD_FOO=1", "rxd_redis_ulr=1", NULL};
    assert_int_equal(settings_check_env(env, err, sizeof(err)), 0);
}

static char *read_doc(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", RXD_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Every exact name is documented, and every `RXD_...` the page names in
 * backticks is one the services accept. */
static void the_configuration_page_and_the_list_agree(void **state)
{
    (void)state;
    char *doc = read_doc("docs/configuration.md");
    char quoted[96];
    for (const char *const *n = settings_names; *n; n++) {
        snprintf(quoted, sizeof(quoted), "`%s`", *n);
        if (!strstr(doc, quoted))
            fail_msg("%s is accepted but not documented in docs/configuration.md", *n);
    }
    for (const char *p = doc; (p = strstr(p, "`RXD_")) != NULL; p++) {
        char name[96];
        size_t len = strspn(p + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (len >= sizeof(name) || p[1 + len] != '`')
            continue; /* RXD_KAFKA_<PROP>, RXD_STACK_* and the like */
        snprintf(name, sizeof(name), "%.*s", (int)len, p + 1);
        if (!settings_known(name))
            fail_msg("docs/configuration.md documents %s, which services refuse", name);
    }
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_names_and_families_pass),
        cmocka_unit_test(a_typo_is_refused_with_the_name_meant),
        cmocka_unit_test(a_name_far_from_all_gets_no_guess),
        cmocka_unit_test(other_variables_are_not_ours),
        cmocka_unit_test(the_configuration_page_and_the_list_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
