/* Unit tests of the JSON line logger (common/log.c): log_fields writes the
 * line log_event would, escaped, with the region and version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

/* The lines written to stderr by fn, parsed. */
static json_t *capture(void (*fn)(void))
{
    char path[] = "/tmp/rxd-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    char buf[4096] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    assert_int_equal(buf[n - 1], '\n');
    json_error_t err;
    json_t *line = json_loadb(buf, (size_t)n, 0, &err);
    assert_non_null(line);
    return line;
}

static void write_access(void)
{
    const log_field f[] = {
        {"route", "v1/orders/*/accept", 0},
        {"holder", "we\"ird\\\n\x01", 0},
        {"status", NULL, 404},
        {"duration_ms", NULL, 1.25},
    };
    log_fields(LOG_INFO, "http_access", f, 4);
}

static void test_fields_line(void **state)
{
    (void)state;
    log_init("courier-gw", "info");
    log_set_region("north");
    json_t *l = capture(write_access);
    assert_string_equal(json_string_value(json_object_get(l, "svc")), "courier-gw");
    assert_string_equal(json_string_value(json_object_get(l, "region")), "north");
    assert_true(strlen(json_string_value(json_object_get(l, "version"))) > 0);
    assert_string_equal(json_string_value(json_object_get(l, "event")), "http_access");
    assert_string_equal(json_string_value(json_object_get(l, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(l, "route")), "v1/orders/*/accept");
    assert_string_equal(json_string_value(json_object_get(l, "holder")), "we\"ird\\\n\x01");
    assert_int_equal(json_integer_value(json_object_get(l, "status")), 404);
    assert_true(json_real_value(json_object_get(l, "duration_ms")) == 1.25);
    json_decref(l);
}

static void write_event(void)
{
    log_event(LOG_WARN, "redis_timeout", "{s:i}", "requests", 3);
}

static void test_event_has_region_and_version(void **state)
{
    (void)state;
    log_init("rx-router", "info");
    log_set_region("south");
    json_t *l = capture(write_event);
    assert_string_equal(json_string_value(json_object_get(l, "region")), "south");
    assert_non_null(json_string_value(json_object_get(l, "version")));
    assert_int_equal(json_integer_value(json_object_get(l, "requests")), 3);
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_line),
        cmocka_unit_test(test_event_has_region_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
