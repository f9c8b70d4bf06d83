/* store_test.c - common/store.c against a live redis-server.
 *
 * Needs RXD_REDIS_URL (redis://host:port). Issues SCRIPT FLUSH and CLIENT
 * KILL TYPE normal|pubsub, so the server must not be shared with tests that
 * run at the same time. Exits 0 when every check passes, 1 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/sha.h>

#include "check.h"
#include "store.h"

typedef struct test {
    struct event_base *base;
    struct event *watchdog;
    int timed_out;
    const char *url;
} test;

/* Outcome of one request. */
typedef struct result {
    int calls;
    int type; /* REDIS_REPLY_*, or -1 when reply was NULL */
    long long integer;
    char str[256];
    size_t len;
    size_t elements;
    long long first_int; /* element[0] of an array of integers */
    char err[160];
    store *free_me; /* store_free this from inside the callback */
    store *resend;  /* issue one more command on this store from the callback */
    struct result *resend_res;
} result;

/* Connection state seen through store_on_state. */
typedef struct conn {
    int ups;
    int downs;
} conn;

typedef struct inbox {
    int count;
    char channel[128];
    char payload[128];
    size_t len;
} inbox;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    test *t = arg;
    (void)fd;
    (void)what;
    t->timed_out = 1;
}

/* Runs the loop until *v >= want or ms pass; returns 1 if reached. */
static int wait_for(test *t, const int *v, int want, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    t->timed_out = 0;
    evtimer_add(t->watchdog, &tv);
    while (*v < want && !t->timed_out)
        event_base_loop(t->base, EVLOOP_ONCE);
    evtimer_del(t->watchdog);
    return *v >= want;
}

static void run_for(test *t, int ms)
{
    static const int never = 0;
    wait_for(t, &never, 1, ms);
}

static void on_result(store *st, redisReply *r, const char *err, void *ctx)
{
    result *res = ctx;
    res->calls++;
    res->type = r ? r->type : -1;
    res->err[0] = '\0';
    res->str[0] = '\0';
    res->len = 0;
    if (err)
        snprintf(res->err, sizeof(res->err), "%s", err);
    if (r) {
        res->integer = r->integer;
        res->elements = r->elements;
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
            r->element[0]->type == REDIS_REPLY_INTEGER)
            res->first_int = r->element[0]->integer;
        if (r->str) {
            res->len = r->len < sizeof(res->str) - 1 ? r->len : sizeof(res->str) - 1;
            memcpy(res->str, r->str, res->len);
            res->str[res->len] = '\0';
        }
    }
    if (res->resend)
        store_cmd(res->resend, on_result, res->resend_res, "PING");
    if (res->free_me)
        store_free(res->free_me);
    (void)st;
}

static void on_state(store *st, int connected, void *ctx)
{
    conn *c = ctx;
    (void)st;
    if (connected)
        c->ups++;
    else
        c->downs++;
}

static void on_message(const char *channel, const char *payload, size_t len, void *ctx)
{
    inbox *in = ctx;
    in->count++;
    snprintf(in->channel, sizeof(in->channel), "%s", channel);
    in->len = len < sizeof(in->payload) ? len : sizeof(in->payload);
    memcpy(in->payload, payload, in->len);
}

static store *open_store(test *t, const char *url, int timeout_ms, conn *c)
{
    char err[256];
    store *st = store_new(t->base, url, timeout_ms, err, sizeof(err));
    CHECK(st, "store_new(%s): %s", url, err);
    store_on_state(st, on_state, c);
    CHECK(wait_for(t, &c->ups, c->ups + 1, 5000), "no connection to %s within 5 s", url);
    CHECK(store_connected(st), "store_connected is 0 after the state callback");
    return st;
}

/* Sends a printf-style command and waits for its one callback. */
static void run_cmd(test *t, store *st, result *res, const char *what, const char *fmt,
                    const char *arg)
{
    memset(res, 0, sizeof(*res));
    CHECK(store_cmd(st, on_result, res, fmt, arg) == 0, "%s: store_cmd failed", what);
    CHECK(res->calls == 0, "%s: callback ran inside store_cmd", what);
    CHECK(wait_for(t, &res->calls, 1, 3000), "%s: no reply within 3 s", what);
}

static void test_bad_urls(test *t)
{
    static const char *const bad[] = {"http://127.0.0.1:6379",
                                      "redis://",
                                      "redis://:6379",
                                      "redis://h:0",
                                      "redis://h:70000",
                                      "redis://h:12x",
                                      "redis://h:-5",
                                      "redis://h/abc",
                                      "redis://u:pw@h:99999",
                                      "redis://h:6379/1/2",
                                      "redis://[::1",
                                      "redis://u:pw%zz@h",
                                      NULL};
    char err[256];
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        store *st = store_new(t->base, bad[i], 100, err, sizeof(err));
        CHECK(!st, "store_new accepted bad url %s", bad[i]);
        CHECK(strstr(err, "host[:port][/db]") || strstr(err, "%-escape"),
              "unhelpful error for %s: %s", bad[i], err);
        CHECK(!strstr(err, "pw"), "error leaks the password: %s", err);
    }
    CHECK(!store_new(t->base, "redis://h", 0, err, sizeof(err)), "timeout 0 accepted");
    CHECK(!store_new(t->base, "redis://someone@h", 100, err, sizeof(err)) &&
              strstr(err, "RXD_REDIS_PASSWORD_FILE"),
          "a user without a password accepted or unexplained: %s", err);
    char shown[128];
    store_url_redact("redis://rxd:s3cret@10.0.0.1:6380/2", shown, sizeof(shown));
    CHECK(strcmp(shown, "redis://rxd:***@10.0.0.1:6380/2") == 0, "redacted as %s", shown);
    store_url_redact("redis://rxd@h:1", shown, sizeof(shown));
    CHECK(strcmp(shown, "redis://rxd@h:1") == 0, "redacted as %s", shown);
}

/* An ACL user on the live server: the right password connects (AUTH is the
 * first command of every connection, again after a kill), a wrong one leaves
 * the store not connected with the server's reason, and a password file is
 * re-read on every connect, so fixing it connects without a new store. */
static void test_credentials(test *t, store *admin)
{
    result r;
    conn c = {0}, c2 = {0};
    char url[256], err[256];
    const char *hp = strrchr(t->url, '/') + 1; /* host:port of redis://host:port */
    run_cmd(t, admin, &r, "ACL SETUSER", "ACL SETUSER %s reset on >right-pw ~* &* +@all",
            "store-test");
    CHECK(r.type == REDIS_REPLY_STATUS, "ACL SETUSER: %s %s", r.str, r.err);

    snprintf(url, sizeof(url), "redis://store-test:right-pw@%s", hp);
    store *st = open_store(t, url, 1000, &c);
    run_cmd(t, st, &r, "ACL WHOAMI", "ACL %s", "WHOAMI");
    CHECK(strcmp(r.str, "store-test") == 0, "connected as %s, not store-test", r.str);
    run_cmd(t, admin, &r, "CLIENT KILL", "CLIENT KILL USER %s", "store-test");
    CHECK(wait_for(t, &c.ups, 2, 5000), "no re-authenticated reconnect after a kill");
    run_cmd(t, st, &r, "ACL WHOAMI", "ACL %s", "WHOAMI");
    CHECK(strcmp(r.str, "store-test") == 0, "reconnected as %s, not store-test", r.str);
    store_free(st);

    char path[] = "/tmp/store-test-pw-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "wrong-pw\n", 9) == 9, "cannot write %s", path);
    close(fd);
    snprintf(url, sizeof(url), "redis://store-test@%s", hp);
    setenv("RXD_REDIS_PASSWORD_FILE", path, 1);
    st = store_new(t->base, url, 1000, err, sizeof(err));
    CHECK(st, "store_new(%s): %s", url, err);
    store_on_state(st, on_state, &c2);
    run_for(t, 500);
    CHECK(!store_connected(st) && c2.ups == 0, "connected with a wrong password");
    CHECK(strstr(store_why(st), "authentication failed") && strstr(store_why(st), "WRONGPASS") &&
              !strstr(store_why(st), "wrong-pw"),
          "not ready for an unclear reason: %s", store_why(st));
    FILE *f = fopen(path, "w");
    CHECK(f && fputs("right-pw\n", f) >= 0 && fclose(f) == 0, "cannot rewrite %s", path);
    CHECK(wait_for(t, &c2.ups, 1, 8000), "the fixed password file was not picked up");
    CHECK(store_why(st) == NULL, "connected but why is %s", store_why(st));
    store_free(st);
    unsetenv("RXD_REDIS_PASSWORD_FILE");
    unlink(path);
    run_cmd(t, admin, &r, "ACL DELUSER", "ACL DELUSER %s", "store-test");
}

static void test_not_connected(test *t)
{
    char err[256];
    result r1 = {0}, r2 = {0};
    /* port 1: connection refused, store keeps retrying */
    store *st = store_new(t->base, "redis://127.0.0.1:1", 200, err, sizeof(err));
    CHECK(st, "store_new: %s", err);
    CHECK(!store_connected(st), "connected to port 1?");
    store_cmd(st, on_result, &r1, "PING");
    CHECK(r1.calls == 0, "not-connected callback ran synchronously");
    CHECK(wait_for(t, &r1.calls, 1, 1000), "no not-connected callback");
    CHECK(r1.type == -1 && strcmp(r1.err, "redis not connected") == 0, "got err '%s'", r1.err);

    /* queued failure answered by store_free, and only once */
    store_cmd(st, on_result, &r2, "PING");
    store_free(st);
    CHECK(r2.calls == 1 && strcmp(r2.err, "store closed") == 0, "free: calls %d err '%s'", r2.calls,
          r2.err);
    run_for(t, 100);
    CHECK(r1.calls == 1 && r2.calls == 1, "callback ran twice");
}

static void test_roundtrip(test *t, store *st)
{
    result res;
    const char *argv[] = {"SET", "rxdtest:bin", "a\0b"};
    const size_t len[] = {3, 11, 3};

    memset(&res, 0, sizeof(res));
    CHECK(store_cmd_argv(st, on_result, &res, 3, argv, len) == 0, "store_cmd_argv");
    CHECK(res.calls == 0, "callback ran inside store_cmd_argv");
    CHECK(wait_for(t, &res.calls, 1, 3000), "SET: no reply");
    CHECK(res.type == REDIS_REPLY_STATUS && strcmp(res.str, "OK") == 0, "SET: '%s' err '%s'",
          res.str, res.err);

    run_cmd(t, st, &res, "GET", "GET %s", "rxdtest:bin");
    CHECK(res.type == REDIS_REPLY_STRING && res.len == 3 && memcmp(res.str, "a\0b", 3) == 0,
          "GET: type %d len %zu err '%s'", res.type, res.len, res.err);

    /* a Redis error is a reply, not an err */
    run_cmd(t, st, &res, "INCR", "INCR %s", "rxdtest:bin");
    CHECK(res.type == REDIS_REPLY_ERROR && res.err[0] == '\0', "INCR: type %d err '%s'", res.type,
          res.err);

    run_cmd(t, st, &res, "SUBSCRIBE", "SUBSCRIBE %s", "rxdtest.x");
    CHECK(res.type == -1 && strstr(res.err, "store_psubscribe"), "SUBSCRIBE passed: '%s'", res.err);
}

/* /db in the url: a key set through db 3 is not visible in the default db. */
static void test_select(test *t, store *st)
{
    char url[256];
    conn c = {0};
    result res;
    if (strchr(t->url + strlen("redis://"), '/')) {
        printf("store_test: url has a /db already, skipping the SELECT check\n");
        return;
    }
    snprintf(url, sizeof(url), "%s/3", t->url);
    run_cmd(t, st, &res, "DEL db0", "DEL %s", "rxdtest:db3");
    store *db3 = open_store(t, url, 1000, &c);
    run_cmd(t, db3, &res, "SET db3", "SET %s yes", "rxdtest:db3");
    CHECK(res.type == REDIS_REPLY_STATUS, "SET in db 3: %s", res.err);
    run_cmd(t, st, &res, "GET db0", "GET %s", "rxdtest:db3");
    CHECK(res.type == REDIS_REPLY_NIL, "SELECT not applied: key visible in db 0");
    run_cmd(t, db3, &res, "GET db3", "GET %s", "rxdtest:db3");
    CHECK(res.type == REDIS_REPLY_STRING && strcmp(res.str, "yes") == 0, "GET in db 3");
    run_cmd(t, db3, &res, "DEL db3", "DEL %s", "rxdtest:db3");
    store_free(db3);
}

static void sha1_hex(const char *s, char out[41])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s, strlen(s), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static void run_eval(test *t, store *st, int script, result *res, const char *key, const char *arg)
{
    const char *argv[] = {key, arg};
    memset(res, 0, sizeof(*res));
    CHECK(store_eval(st, script, on_result, res, 1, 2, argv, NULL) == 0, "store_eval");
    CHECK(res->calls == 0, "callback ran inside store_eval");
    CHECK(wait_for(t, &res->calls, 1, 3000), "eval: no reply");
}

static void test_script(test *t, store *st)
{
    static const char *src = "return KEYS[1] .. ':' .. ARGV[1]";
    char sha[41];
    result res;
    int h = store_script_add(st, "concat", src);
    int bad = store_script_add(st, "boom", "return redis.error_reply('boom')");
    CHECK(h >= 0 && bad > h, "store_script_add: %d %d", h, bad);
    sha1_hex(src, sha);

    run_eval(t, st, h, &res, "k1", "v1");
    CHECK(res.type == REDIS_REPLY_STRING && strcmp(res.str, "k1:v1") == 0, "eval 1: '%s' '%s'",
          res.str, res.err);

    run_cmd(t, st, &res, "SCRIPT FLUSH", "SCRIPT FLUSH", NULL);
    CHECK(res.type == REDIS_REPLY_STATUS, "SCRIPT FLUSH: %s", res.err);
    run_cmd(t, st, &res, "SCRIPT EXISTS", "SCRIPT EXISTS %s", sha);
    CHECK(res.type == REDIS_REPLY_ARRAY && res.elements == 1 && res.first_int == 0,
          "script still cached after SCRIPT FLUSH");

    /* EVALSHA now fails with NOSCRIPT; the store resends it as EVAL */
    run_eval(t, st, h, &res, "k1", "v2");
    CHECK(res.type == REDIS_REPLY_STRING && strcmp(res.str, "k1:v2") == 0,
          "eval after flush: type %d '%s' '%s'", res.type, res.str, res.err);
    /* the fallback EVAL has put the script back into the cache */
    run_cmd(t, st, &res, "SCRIPT EXISTS", "SCRIPT EXISTS %s", sha);
    CHECK(res.type == REDIS_REPLY_ARRAY && res.first_int == 1, "no EVAL fallback happened");

    run_eval(t, st, bad, &res, "k", "v");
    CHECK(res.type == REDIS_REPLY_ERROR && strstr(res.str, "boom") && res.err[0] == '\0',
          "script error: type %d '%s' '%s'", res.type, res.str, res.err);

    run_eval(t, st, 99, &res, "k", "v");
    CHECK(res.type == -1 && strstr(res.err, "unknown script"), "bad handle: '%s'", res.err);
}

/* PUBLISH until one subscriber got it (the PSUBSCRIBE may be in flight). */
static void publish_until_heard(test *t, store *pub, inbox *in, const char *channel)
{
    const char *argv[] = {"PUBLISH", channel, "hi\0there"};
    const size_t len[] = {7, strlen(channel), 8};
    int before = in->count;
    for (int i = 0; i < 100 && in->count == before; i++) {
        result res = {0};
        store_cmd_argv(pub, on_result, &res, 3, argv, len);
        CHECK(wait_for(t, &res.calls, 1, 3000), "PUBLISH: no reply");
        CHECK(res.type == REDIS_REPLY_INTEGER, "PUBLISH: %s", res.err);
        if (res.integer >= 1)
            wait_for(t, &in->count, before + 1, 2000);
        else
            run_for(t, 20);
    }
    CHECK(in->count > before, "no pmessage on %s", channel);
    CHECK(strcmp(in->channel, channel) == 0, "channel '%s'", in->channel);
    CHECK(in->len == 8 && memcmp(in->payload, "hi\0there", 8) == 0, "payload len %zu", in->len);
}

static void test_psubscribe(test *t, store *pub)
{
    conn c = {0};
    inbox in = {0};
    result res;
    char err[256];
    store *sub = store_new(t->base, t->url, 1000, err, sizeof(err));
    CHECK(sub, "store_new: %s", err);
    store_on_state(sub, on_state, &c);
    CHECK(store_psubscribe(sub, "rxdtest.*", on_message, &in) == 0, "store_psubscribe");
    CHECK(wait_for(t, &c.ups, 1, 5000), "subscriber did not connect");
    publish_until_heard(t, pub, &in, "rxdtest.one");

    run_cmd(t, sub, &res, "cmd on subscriber", "GET %s", "x");
    CHECK(res.type == -1 && strstr(res.err, "subscribe mode"), "subscriber ran GET: '%s'", res.err);

    /* kill the subscription connection: it must come back subscribed */
    run_cmd(t, pub, &res, "CLIENT KILL", "CLIENT KILL TYPE %s", "pubsub");
    CHECK(res.type == REDIS_REPLY_INTEGER && res.integer >= 1, "CLIENT KILL pubsub: %lld %s",
          res.integer, res.err);
    CHECK(wait_for(t, &c.downs, 1, 3000), "subscriber did not notice the kill");
    CHECK(wait_for(t, &c.ups, 2, 5000), "subscriber did not reconnect");
    publish_until_heard(t, pub, &in, "rxdtest.two");
    store_free(sub);
}

static void test_timeout(test *t)
{
    conn c = {0};
    result r1 = {0}, r2 = {0}, res;
    store *st = open_store(t, t->url, 200, &c);
    long long t0 = now_ms();
    int debug = 1;

    store_cmd(st, on_result, &r1, "DEBUG SLEEP %s", "1");
    store_cmd(st, on_result, &r2, "PING");
    CHECK(wait_for(t, &r1.calls, 1, 3000), "DEBUG SLEEP: no callback");
    if (r1.type == REDIS_REPLY_ERROR) {
        /* redis 7 refuses DEBUG unless enable-debug-command is set */
        printf("store_test: DEBUG refused (%s); using BLPOP 1 instead\n", r1.str);
        debug = 0;
        CHECK(wait_for(t, &r2.calls, 1, 3000), "PING after DEBUG");
        memset(&r1, 0, sizeof(r1));
        memset(&r2, 0, sizeof(r2));
        t0 = now_ms();
        store_cmd(st, on_result, &r1, "BLPOP %s 1", "rxdtest:never");
        store_cmd(st, on_result, &r2, "PING");
        CHECK(wait_for(t, &r1.calls, 1, 3000), "BLPOP: no callback");
    }
    long long took = now_ms() - t0;
    CHECK(r1.type == -1 && strcmp(r1.err, "redis request timed out after 200 ms") == 0,
          "expected a timeout, got type %d err '%s' str '%s'", r1.type, r1.err, r1.str);
    CHECK(took >= 190 && took < 700, "timeout after %lld ms, want ~200-250", took);
    CHECK(wait_for(t, &r2.calls, 1, 1000), "request behind the timed-out one not answered");
    CHECK(r2.type == -1 && r2.err[0], "PING on the dropped connection: type %d", r2.type);
    CHECK(wait_for(t, &c.downs, 1, 1000), "no disconnect after the timeout");
    CHECK(wait_for(t, &c.ups, 2, 5000), "no reconnect after the timeout");
    /* let the server wake up, then the store must work again */
    run_for(t, (int)(t0 + 1300 - now_ms()) > 0 ? (int)(t0 + 1300 - now_ms()) : 1);
    run_cmd(t, st, &res, "PING after timeout", "PING", NULL);
    CHECK(res.type == REDIS_REPLY_STATUS && strcmp(res.str, "PONG") == 0,
          "PING after reconnect: type %d err '%s'", res.type, res.err);
    CHECK(r1.calls == 1 && r2.calls == 1, "late reply delivered: %d %d", r1.calls, r2.calls);

    /* a blocking command with its own longer deadline does not time out */
    {
        const char *argv[] = {"BLPOP", "rxdtest:never", "1"};
        memset(&res, 0, sizeof(res));
        store_cmd_argv_timeout(st, 3000, on_result, &res, 3, argv, NULL);
        CHECK(wait_for(t, &res.calls, 1, 4000), "BLPOP with 3 s deadline: no reply");
        CHECK(res.type == REDIS_REPLY_NIL && res.err[0] == '\0', "BLPOP 1: type %d err '%s'",
              res.type, res.err);
    }
    printf("store_test: timeout ok (%s, %lld ms)\n", debug ? "DEBUG SLEEP" : "BLPOP", took);
    store_free(st);
}

static void test_kill(test *t, store *st, conn *c)
{
    conn kc = {0};
    result blocked = {0}, res;
    const char *argv[] = {"BLPOP", "rxdtest:never", "5"};
    int ups = c->ups, downs = c->downs;
    store *killer = open_store(t, t->url, 1000, &kc);

    store_cmd_argv_timeout(st, 10000, on_result, &blocked, 3, argv, NULL);
    run_for(t, 50);
    run_cmd(t, killer, &res, "CLIENT KILL", "CLIENT KILL TYPE %s", "normal");
    CHECK(res.type == REDIS_REPLY_INTEGER && res.integer >= 1, "CLIENT KILL: %lld %s", res.integer,
          res.err);
    CHECK(wait_for(t, &blocked.calls, 1, 2000), "pending request not failed by the kill");
    CHECK(blocked.type == -1 && strcmp(blocked.err, "redis connection lost") == 0,
          "pending request: '%s'", blocked.err);
    CHECK(wait_for(t, &c->downs, downs + 1, 2000), "no disconnect state callback");
    CHECK(wait_for(t, &c->ups, ups + 1, 5000), "no reconnect after CLIENT KILL");
    run_cmd(t, st, &res, "SET after kill", "SET rxdtest:k %s", "again");
    CHECK(res.type == REDIS_REPLY_STATUS, "SET after reconnect: %s", res.err);
    run_cmd(t, st, &res, "GET after kill", "GET %s", "rxdtest:k");
    CHECK(res.type == REDIS_REPLY_STRING && strcmp(res.str, "again") == 0, "GET after reconnect");
    CHECK(blocked.calls == 1, "callback ran %d times", blocked.calls);
    store_free(killer);
}

/* Every request is answered exactly once by store_free, also when store_free
 * runs inside a callback of the same store. */
static void test_free(test *t)
{
    conn c1 = {0}, c2 = {0};
    result blocked = {0}, again = {0}, first = {0}, second = {0};
    const char *argv[] = {"BLPOP", "rxdtest:never", "3"};
    store *st = open_store(t, t->url, 1000, &c1);

    store_cmd_argv_timeout(st, 0, on_result, &blocked, 3, argv, NULL);
    blocked.resend = st; /* a command issued while closing fails too */
    blocked.resend_res = &again;
    run_for(t, 50);
    store_free(st);
    CHECK(blocked.calls == 1 && strcmp(blocked.err, "store closed") == 0, "free: %d '%s'",
          blocked.calls, blocked.err);
    CHECK(again.calls == 1 && strcmp(again.err, "store closed") == 0,
          "command from closing callback: %d '%s'", again.calls, again.err);

    st = open_store(t, t->url, 1000, &c2);
    first.free_me = st;
    store_cmd(st, on_result, &first, "PING");
    store_cmd_argv_timeout(st, 0, on_result, &second, 3, argv, NULL);
    CHECK(wait_for(t, &first.calls, 1, 3000), "PING: no reply");
    CHECK(second.calls == 1 && strcmp(second.err, "store closed") == 0,
          "free inside callback: %d '%s'", second.calls, second.err);
    run_for(t, 300);
    CHECK(first.calls == 1 && second.calls == 1 && again.calls == 1 && blocked.calls == 1,
          "callbacks ran more than once");
}

int main(void)
{
    test t = {0};
    conn c = {0};
    t.url = getenv("RXD_REDIS_URL");
    CHECK(t.url && *t.url, "RXD_REDIS_URL is not set: start redis-server (with "
                           "--enable-debug-command local) and export RXD_REDIS_URL=redis://"
                           "127.0.0.1:PORT");
    t.base = event_base_new();
    t.watchdog = evtimer_new(t.base, on_watchdog, &t);
    CHECK(t.base && t.watchdog, "libevent setup failed");

    test_bad_urls(&t);
    test_not_connected(&t);
    store *st = open_store(&t, t.url, 1000, &c);
    test_roundtrip(&t, st);
    test_select(&t, st);
    test_credentials(&t, st);
    test_script(&t, st);
    test_psubscribe(&t, st);
    test_timeout(&t);
    test_kill(&t, st, &c);
    test_free(&t);
    store_free(st);

    event_free(t.watchdog);
    event_base_free(t.base);
    printf("store_test: ok\n");
    return 0;
}
