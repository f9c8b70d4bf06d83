/* Unit tests of the web service's pure parts: the allowed-origins list of
 * CORS (common/cors.c) and the file set (services/web/files.c): content
 * types by extension, loading a root, the required pages, and that a path
 * finds only what was loaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cors.h"
#include "files.h"

static void test_cors_empty_list_allows_nothing(void **state)
{
    (void)state;
    cors c;
    char err[256] = "";
    assert_int_equal(cors_parse(&c, NULL, err, sizeof(err)), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(cors_parse(&c, " , ", err, sizeof(err)), 0);
    assert_int_equal(c.n, 0);
    assert_false(cors_allows(&c, "http://127.0.0.1:8080"));
    assert_false(cors_allows(&c, NULL));
}

static void test_cors_exact_match_only(void **state)
{
    (void)state;
    cors c;
    char err[256] = "";
    assert_int_equal(
        cors_parse(&c, "https://rx.example.cn, http://127.0.0.1:8080", err, sizeof(err)), 0);
    assert_int_equal(c.n, 2);
    assert_true(cors_allows(&c, "https://rx.example.cn"));
    assert_true(cors_allows(&c, "http://127.0.0.1:8080"));
    static const char *const not_allowed[] = {
        "http://rx.example.cn",
        "https://rx.example.cn:443",
        "https://rx.example.cn.evil",
        "https://evil.rx.example.cn",
        "http://127.0.0.1:8081",
        "http://127.0.0.1",
        "null",
        "",
        "HTTPS://RX.EXAMPLE.CN",
    };
    for (size_t i = 0; i < sizeof(not_allowed) / sizeof(not_allowed[0]); i++)
        assert_false(cors_allows(&c, not_allowed[i]));
}

static void test_cors_refuses_what_is_not_an_origin(void **state)
{
    (void)state;
    cors c;
    static const char *const bad[] = {
        "*",       "rx.example.cn", "https://rx.example.cn/", "https://rx.example.cn/app",
        "ftp://x", "http://a b",    "http://ok.example, *"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        assert_int_equal(cors_parse(&c, bad[i], err, sizeof(err)), -1);
        assert_non_null(strstr(err, "RXD_CORS_ORIGINS"));
    }
}

static void test_content_types(void **state)
{
    (void)state;
    static const char *const want[][2] = {
        {"index.html", "text/html; charset=utf-8"},
        {"a/app.js", "text/javascript; charset=utf-8"},
        {"m.mjs", "text/javascript; charset=utf-8"},
        {"s.css", "text/css; charset=utf-8"},
        {"c.json", "application/json"},
        {"x.svg", "image/svg+xml"},
        {"x.png", "image/png"},
        {"f.woff2", "font/woff2"},
        {"ding.mp3", "audio/mpeg"},
        {"ding.ogg", "audio/ogg"},
        {"ding.wav", "audio/wav"},
        {"favicon.ico", "image/x-icon"},
        {"app.js.map", "application/json"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_string_equal(web_content_type(want[i][0]), want[i][1]);
    assert_null(web_content_type("run.sh"));
    assert_null(web_content_type("Makefile"));
    assert_null(web_content_type("dir.js/README"));
    assert_null(web_content_type("x.HTML.bak"));
}

static void put(const char *root, const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    mkdir(p, 0700);
    *slash = '/';
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *const required[] = {"/console/index.html", "/courier/index.html", NULL};

static void test_files_load_find_and_require(void **state)
{
    (void)state;
    char root[] = "/tmp/rxd-web-unit-XXXXXX";
    assert_non_null(mkdtemp(root));
    char err[512] = "";
    put(root, "console/index.html", "<p>console</p>");
    assert_null(web_files_load(root, required, err, sizeof(err)));
    assert_non_null(strstr(err, "/courier/index.html is missing"));
    put(root, "courier/index.html", "<p>courier</p>");
    put(root, "app.js", "1;");
    put(root, "secret.env", "TOKEN=x");
    put(root, ".hidden.js", "2;");
    web_files *fs = web_files_load(root, required, err, sizeof(err));
    assert_non_null(fs);
    assert_int_equal(fs->n, 3); /* not the .env, not the dot file */
    const web_file *f = web_files_find(fs, "/console/");
    assert_non_null(f);
    assert_string_equal(f->path, "/console/index.html");
    assert_true(f->html);
    assert_string_equal(f->cache, "no-cache");
    f = web_files_find(fs, "/app.js");
    assert_non_null(f);
    assert_memory_equal(f->data, "1;", 2);
    assert_false(f->html);
    assert_string_equal(f->cache, WEB_MAX_AGE);
    assert_int_equal(strlen(f->etag), 18);
    static const char *const none[] = {"/secret.env",        "/.hidden.js",    "app.js", "/console",
                                       "/console/../app.js", "/%2e%2e/app.js", "",       "/x/"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        assert_null(web_files_find(fs, none[i]));
    char old[24];
    web_files_put(fs, "/config.json", "application/json", "{}", 2);
    f = web_files_find(fs, "/config.json");
    assert_non_null(f);
    assert_string_equal(f->cache, "no-cache");
    snprintf(old, sizeof(old), "%s", f->etag);
    web_files_put(fs, "/config.json", "application/json", "{\"a\":1}", 7);
    assert_int_equal(fs->n, 4);
    assert_string_not_equal(web_files_find(fs, "/config.json")->etag, old);
    web_files_free(fs);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -r '%s'", root);
    assert_int_equal(system(cmd), 0);
    assert_null(web_files_load(root, required, err, sizeof(err)));
    assert_non_null(strstr(err, "RXD_WEB_ROOT"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cors_empty_list_allows_nothing),
        cmocka_unit_test(test_cors_exact_match_only),
        cmocka_unit_test(test_cors_refuses_what_is_not_an_origin),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_files_load_find_and_require),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
