/* Unit tests of JSON request-body validation (common/body.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "body.h"

static json_t *parse(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_pharmacy(void **state)
{
    (void)state;
    char why[BODY_WHY_MAX];
    body_pharmacy p;
    json_t *j = parse("{\"name\":\"A\",\"lat\":52.5,\"lon\":13.4,\"capacity\":5,"
                      "\"cold_chain\":true}");
    assert_int_equal(body_parse_pharmacy(j, &p, why), 0);
    assert_string_equal(p.name, "A");
    assert_int_equal(p.capacity, 5);
    assert_true(p.open);
    assert_true(p.cold_chain);
    assert_false(p.insurance_designated);
    json_decref(j);
    const char *bad[] = {
        "{\"lat\":52.5,\"lon\":13.4,\"capacity\":5}",
        "{\"name\":\"A\",\"lat\":91,\"lon\":13.4,\"capacity\":5}",
        "{\"name\":\"A\",\"lat\":\"52\",\"lon\":13.4,\"capacity\":5}",
        "{\"name\":\"A\",\"lat\":52,\"lon\":13.4,\"capacity\":-1}",
        "{\"name\":\"A\",\"lat\":52,\"lon\":13.4,\"capacity\":5,\"open\":\"yes\"}",
        "{\"name\":\"A\\u0001\",\"lat\":52,\"lon\":13.4,\"capacity\":5}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = parse(bad[i]);
        assert_int_equal(body_parse_pharmacy(j, &p, why), -1);
        json_decref(j);
    }
}

static void test_stock(void **state)
{
    (void)state;
    char why[BODY_WHY_MAX];
    body_stock s;
    json_t *j = parse("{\"items\":{\"PZN-1\":5,\"PZN-2\":0}}");
    assert_int_equal(body_parse_stock(j, &s, why), 0);
    assert_int_equal(s.n, 2);
    body_stock_free(&s);
    json_decref(j);
    const char *bad[] = {"{\"items\":[1,2]}", "{\"items\":{\"PZN 1\":5}}",
                         "{\"items\":{\"PZN-1\":-5}}", "{\"items\":{\"PZN-1\":1.5}}", "{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = parse(bad[i]);
        assert_int_equal(body_parse_stock(j, &s, why), -1);
        assert_null(s.items);
        json_decref(j);
    }
}

static void test_points(void **state)
{
    (void)state;
    char why[BODY_WHY_MAX];
    body_point p;
    body_points ps;
    json_t *j = parse("{\"lat\":52.5,\"lon\":13.4,\"ts_ms\":1700000000000}");
    assert_int_equal(body_parse_point(j, &p, why), 0);
    json_decref(j);
    j = parse("{\"lat\":91,\"lon\":13.4,\"ts_ms\":1}");
    assert_int_equal(body_parse_point(j, &p, why), -1);
    assert_non_null(strstr(why, "lat"));
    json_decref(j);
    j = parse(
        "{\"points\":[{\"lat\":1,\"lon\":2,\"ts_ms\":3},{\"lat\":1,\"lon\":200,\"ts_ms\":4}]}");
    assert_int_equal(body_parse_points(j, &ps, why), -1);
    assert_non_null(strstr(why, "points[1]"));
    json_decref(j);
    j = parse("{\"points\":[]}");
    assert_int_equal(body_parse_points(j, &ps, why), -1);
    json_decref(j);
}

static void test_small_bodies(void **state)
{
    (void)state;
    char why[BODY_WHY_MAX], reason[BODY_REASON_MAX + 1], code[16];
    int open;
    body_availability a;
    json_t *j = parse("{\"open\":false}");
    assert_int_equal(body_parse_status(j, &open, why), 0);
    assert_false(open);
    json_decref(j);
    j = parse("{}");
    assert_int_equal(body_parse_status(j, &open, why), -1);
    assert_int_equal(body_parse_reason(j, 0, reason, why), 0);
    assert_int_equal(body_parse_reason(j, 1, reason, why), -1);
    assert_int_equal(body_parse_handover(j, code, why), -1);
    json_decref(j);
    j = parse("{\"handover_code\":\"12a4\"}");
    assert_int_equal(body_parse_handover(j, code, why), -1);
    json_decref(j);
    j = parse("{\"handover_code\":\"123456\"}");
    assert_int_equal(body_parse_handover(j, code, why), 0);
    assert_string_equal(code, "123456");
    json_decref(j);
    j = parse("{\"available\":true,\"cold_chain\":true,\"capacity\":3}");
    assert_int_equal(body_parse_availability(j, &a, why), 0);
    assert_int_equal(a.capacity, 3);
    json_decref(j);
    j = parse("{\"available\":true,\"capacity\":0}");
    assert_int_equal(body_parse_availability(j, &a, why), -1);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pharmacy),
        cmocka_unit_test(test_stock),
        cmocka_unit_test(test_points),
        cmocka_unit_test(test_small_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
