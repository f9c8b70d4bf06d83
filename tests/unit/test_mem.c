/* Unit tests of the memory policy (common/mem.c): a failed allocation and a
 * broken invariant each end the process with SIGABRT after one JSON line on
 * stderr that says what happened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "mem.h"

/* Runs fn in a child with stderr captured; returns the child's wait status
 * and its stderr in out. */
static int mem_run_child(void (*fn)(void), char *out, size_t outlen)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < outlen && (r = read(fds[0], out + n, outlen - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void mem_child_broken_invariant(void)
{
    size_t n = 3, i = 4;
    mem_assert(i < n && "index in range");
}

static void mem_child_huge_allocation(void)
{
    volatile size_t huge = SIZE_MAX / 2;
    free(xmalloc(huge));
}

static void mem_child_jansson_allocates(void)
{
    mem_init();
    json_t *j = json_pack("{s:s}", "k", "v");
    json_decref(j);
}

/* The line names the condition (quotes escaped) and the place. */
static void test_assert_aborts_with_a_json_line(void **state)
{
    (void)state;
    char out[1024];
    int st = mem_run_child(mem_child_broken_invariant, out, sizeof(out));
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    json_error_t e;
    json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "event")), "assertion_failed");
    assert_non_null(
        strstr(json_string_value(json_object_get(j, "condition")), "i < n && \"index in range\""));
    assert_non_null(strstr(json_string_value(json_object_get(j, "at")), "test_mem.c:"));
    json_decref(j);
}

static void test_failed_allocation_aborts_with_a_json_line(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* AddressSanitizer reports the size itself before malloc returns */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    skip();
#endif
#endif
    char out[1024];
    int st = mem_run_child(mem_child_huge_allocation, out, sizeof(out));
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "event")), "out_of_memory");
    assert_true(json_integer_value(json_object_get(j, "bytes")) > 0);
    json_decref(j);
}

/* After mem_init jansson allocates through xmalloc and still works. */
static void test_routed_allocators_work(void **state)
{
    (void)state;
    char out[256];
    int st = mem_run_child(mem_child_jansson_allocates, out, sizeof(out));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_string_equal(out, "");
}

static void test_zero_sizes_give_distinct_pointers(void **state)
{
    (void)state;
    void *a = xmalloc(0), *b = xcalloc(0, 8);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    char *s = xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(a);
    free(b);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assert_aborts_with_a_json_line),
        cmocka_unit_test(test_failed_allocation_aborts_with_a_json_line),
        cmocka_unit_test(test_routed_allocators_work),
        cmocka_unit_test(test_zero_sizes_give_distinct_pointers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
