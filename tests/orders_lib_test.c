/* orders_lib_test.c - the rxd_orders function library against a live
 * redis-server: the version check a service runs on connect (none loaded,
 * the same, an older or a newer minor, another major), the arity and type
 * errors of its functions, a call after FUNCTION FLUSH, the version on
 * outbox entries, order ids that never repeat (within a millisecond, after
 * the id state went back as a restore does, with a clock that went back).
 *
 * Needs RXD_REDIS_URL (redis://host:port) of a server of its own: it issues
 * FUNCTION FLUSH and FLUSHALL. Exits 0 when every check passes, 1 otherwise. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "check.h"
#include "ids.h"
#include "orders.h"
#include "scripts.h"
#include "store.h"

#define PREFIX "rxd:{default}:"

typedef struct test {
    struct event_base *base;
    struct event *watchdog;
    int timed_out;
    const char *url;
    redisContext *rc; /* synchronous: sets up and inspects the server */
    int major, minor; /* of this build's library */
} test;

typedef struct conn {
    int ups;
} conn;

typedef struct result {
    int calls;
    int type;
    char str[256];   /* error text, or element 0 of an array */
    char field[256]; /* element 1 of an array */
    char err[160];
} result;

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

static void on_state(store *st, int connected, void *ctx)
{
    conn *c = ctx;
    (void)st;
    if (connected)
        c->ups++;
}

static void on_result(store *st, redisReply *r, const char *err, void *ctx)
{
    result *res = ctx;
    (void)st;
    res->calls++;
    res->type = r ? r->type : -1;
    snprintf(res->err, sizeof(res->err), "%s", err ? err : "");
    if (r && r->type == REDIS_REPLY_ERROR)
        snprintf(res->str, sizeof(res->str), "%s", r->str);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        snprintf(res->str, sizeof(res->str), "%s", orders_field(r, 0));
        snprintf(res->field, sizeof(res->field), "%s", orders_field(r, 1));
    }
}

/* ---- the server, seen synchronously ---- */

static redisReply *sync_cmd(test *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(t->rc, fmt, ap);
    va_end(ap);
    CHECK(r, "redis: %s", t->rc->errstr);
    return r;
}

/* The string a function of the loaded library answers, or "" on an error. */
static void sync_fcall(test *t, const char *fn, char *out, size_t outlen)
{
    redisReply *r = sync_cmd(t, "FCALL %s 0", fn);
    snprintf(out, outlen, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* This build's library text with another version and maybe one more
 * function (a marker that shows whether the store replaced the library). */
static char *lib_text(test *t, int major, int minor, int marker)
{
    char from[64], to[64];
    snprintf(from, sizeof(from), "\nlocal VERSION = '%d.%d'", t->major, t->minor);
    snprintf(to, sizeof(to), "\nlocal VERSION = '%d.%d'", major, minor);
    const char *at = strstr(scripts_orders_lib, from);
    CHECK(at, "the library does not declare its version as %s", from + 1);
    size_t n = strlen(scripts_orders_lib) + 256;
    char *s = malloc(n);
    CHECK(s, "out of memory");
    snprintf(s, n, "%.*s%s%s%s", (int)(at - scripts_orders_lib), scripts_orders_lib, to,
             at + strlen(from),
             marker ? "\nredis.register_function('rxd_test_marker', function() return 'here' "
                      "end)\n"
                    : "");
    return s;
}

/* Leaves exactly this library version loaded (with the marker function). */
static void preload(test *t, int major, int minor)
{
    char *text = lib_text(t, major, minor, 1);
    freeReplyObject(sync_cmd(t, "FUNCTION FLUSH"));
    redisReply *r = sync_cmd(t, "FUNCTION LOAD %s", text);
    CHECK(r->type == REDIS_REPLY_STRING, "FUNCTION LOAD: %s", r->str);
    freeReplyObject(r);
    free(text);
}

static void expect_loaded(test *t, int major, int minor, int marker, const char *what)
{
    char v[32], want[32], m[32];
    snprintf(want, sizeof(want), "%d.%d", major, minor);
    sync_fcall(t, "rxd_version", v, sizeof(v));
    CHECK(strcmp(v, want) == 0, "%s: version %s loaded, want %s", what, v, want);
    sync_fcall(t, "rxd_test_marker", m, sizeof(m));
    CHECK(marker == (strcmp(m, "here") == 0), "%s: the library was %s", what,
          marker ? "replaced" : "kept");
}

/* ---- stores as services open them ---- */

typedef struct svc {
    store *st;
    orders *o;
    conn c;
} svc;

/* A store with this build's library (orders_new), or with `text` declaring
 * version major.minor registered directly; waits up to ms to connect. */
static int svc_open(test *t, svc *s, const char *text, int major, int minor, int ms)
{
    char err[256], v[32];
    memset(s, 0, sizeof(*s));
    s->st = store_new(t->base, t->url, 1000, err, sizeof(err));
    CHECK(s->st, "store_new: %s", err);
    store_on_state(s->st, on_state, &s->c);
    if (!text) {
        s->o = orders_new(s->st, NULL, err, sizeof(err));
        CHECK(s->o, "orders_new: %s", err);
    } else {
        snprintf(v, sizeof(v), "%d.%d", major, minor);
        CHECK(store_lib_add(s->st, ORDERS_LIBRARY, text, v, "rxd_version") >= 0, "store_lib_add");
    }
    return wait_for(t, &s->c.ups, 1, ms);
}

static void svc_close(svc *s)
{
    orders_free(s->o);
    store_free(s->st);
}

static void call(test *t, svc *s, result *res, const char *op, int argc, const char *const *argv)
{
    memset(res, 0, sizeof(*res));
    CHECK(orders_call(s->o, on_result, res, op, argc, argv) == 0, "orders_call %s", op);
    CHECK(wait_for(t, &res->calls, 1, 3000), "%s: no reply within 3 s", op);
    CHECK(!res->err[0], "%s: %s", op, res->err);
}

/* ---- the version check ---- */

static void test_none_loaded(test *t)
{
    svc s;
    freeReplyObject(sync_cmd(t, "FUNCTION FLUSH"));
    CHECK(svc_open(t, &s, NULL, 0, 0, 3000), "none loaded: the store did not connect");
    expect_loaded(t, t->major, t->minor, 0, "none loaded");
    svc_close(&s);
}

static void test_same(test *t)
{
    svc s;
    preload(t, t->major, t->minor);
    CHECK(svc_open(t, &s, NULL, 0, 0, 3000), "same version: the store did not connect");
    expect_loaded(t, t->major, t->minor, 1, "same version");
    svc_close(&s);
}

static void test_older_minor_replaced(test *t)
{
    svc s;
    char *text = lib_text(t, t->major, t->minor + 1, 0);
    preload(t, t->major, t->minor);
    CHECK(svc_open(t, &s, text, t->major, t->minor + 1, 3000),
          "older minor loaded: the store did not connect");
    expect_loaded(t, t->major, t->minor + 1, 0, "older minor loaded");
    svc_close(&s);
    free(text);
}

static void test_newer_minor_kept(test *t)
{
    svc s;
    result res;
    const char *put[] = {"ph-1", "One", "30.6", "104.0", "1", "3", "0", "1"};
    preload(t, t->major, t->minor + 1);
    CHECK(svc_open(t, &s, NULL, 0, 0, 3000), "newer minor loaded: the store did not connect");
    expect_loaded(t, t->major, t->minor + 1, 1, "newer minor loaded");
    call(t, &s, &res, "pharmacy_put", 8, put);
    CHECK(res.type == REDIS_REPLY_ARRAY && strcmp(res.str, "ok") == 0,
          "pharmacy_put on a newer minor: %s", res.str);
    svc_close(&s);
}

static void test_other_major_refused(test *t)
{
    svc s;
    preload(t, t->major + 1, 0);
    CHECK(!svc_open(t, &s, NULL, 0, 0, 1500), "another major loaded: the store connected");
    CHECK(!store_connected(s.st), "another major loaded: store_connected");
    const char *why = store_problem(s.st);
    CHECK(why && strstr(why, "major"), "store_problem: %s", why ? why : "(null)");
    expect_loaded(t, t->major + 1, 0, 1, "another major loaded");
    if (t->major > 1) {
        svc older;
        preload(t, t->major - 1, 9);
        CHECK(!svc_open(t, &older, NULL, 0, 0, 1500), "an older major loaded: the store connected");
        expect_loaded(t, t->major - 1, 9, 1, "an older major loaded");
        svc_close(&older);
    }
    /* the operator removes the old library: the store loads its own */
    freeReplyObject(sync_cmd(t, "FUNCTION FLUSH"));
    CHECK(wait_for(t, &s.c.ups, 1, 8000), "after FUNCTION FLUSH: the store did not connect");
    CHECK(store_problem(s.st) == NULL, "store_problem after recovery: %s", store_problem(s.st));
    expect_loaded(t, t->major, t->minor, 0, "after recovery");
    svc_close(&s);
}

/* ---- calls ---- */

static void test_calls(test *t)
{
    svc s;
    result res;
    freeReplyObject(sync_cmd(t, "FLUSHALL"));
    freeReplyObject(sync_cmd(t, "FUNCTION FLUSH"));
    CHECK(svc_open(t, &s, NULL, 0, 0, 3000), "calls: the store did not connect");

    const char *offer4[] = {"ord-1", "0", "ph-1", "120"};
    call(t, &s, &res, "offer", 4, offer4);
    CHECK(res.type == REDIS_REPLY_ERROR &&
              strcmp(res.str, "ERR rxd_offer: expects 5 arguments (oid, attempt, pharmacy, "
                              "dist_m, deadline_ms), got 4") == 0,
          "offer with 4 arguments: %s", res.str);
    const char *offer_nan[] = {"ord-1", "0", "ph-1", "far", "30000"};
    call(t, &s, &res, "offer", 5, offer_nan);
    CHECK(res.type == REDIS_REPLY_ERROR && strstr(res.str, "argument 4 (dist_m) must be a number"),
          "offer with dist_m 'far': %s", res.str);
    const char *put_bad[] = {"ph:1", "One", "30.6", "104.0", "1", "3", "0", "1"};
    call(t, &s, &res, "pharmacy_put", 8, put_bad);
    CHECK(res.type == REDIS_REPLY_ERROR && strstr(res.str, "argument 1 (id) must be an id"),
          "pharmacy_put of id 'ph:1': %s", res.str);
    const char *locs7[] = {"c1", "30.6", "104.0", "1", "c2", "30.6", "104.0"};
    call(t, &s, &res, "courier_loc_many", 7, locs7);
    CHECK(res.type == REDIS_REPLY_ERROR && strstr(res.str, "groups of 4 arguments"),
          "courier_loc_many with 7 arguments: %s", res.str);
    call(t, &s, &res, "no_such_op", 0, NULL);
    CHECK(res.type == REDIS_REPLY_ERROR, "an unknown operation answered %d", res.type);

    /* the library is gone under a connected store: the call loads it */
    freeReplyObject(sync_cmd(t, "FUNCTION FLUSH"));
    const char *put[] = {"ph-1", "One", "30.6", "104.0", "1", "3", "0", "1"};
    call(t, &s, &res, "pharmacy_put", 8, put);
    CHECK(res.type == REDIS_REPLY_ARRAY && strcmp(res.str, "ok") == 0,
          "pharmacy_put after FUNCTION FLUSH: type %d %s", res.type, res.str);
    expect_loaded(t, t->major, t->minor, 0, "after FUNCTION FLUSH");

    /* replies keep their positions; outbox entries name the version */
    const char *create[] = {"rx-1", "pat-1", "30.6", "104.0", "1", "addr", "[]",     "", "0",
                            "0",    "1",     "h-1",  "1",     "0", "0",    "123456", "", "60000"};
    call(t, &s, &res, "create", 18, create);
    CHECK(res.type == REDIS_REPLY_ARRAY && strcmp(res.str, "created") == 0 &&
              strncmp(res.field, "default-", 8) == 0,
          "create: %s %s", res.str, res.field);
    redisReply *r = sync_cmd(t, "XRANGE %soutbox - +", PREFIX);
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements >= 2, "outbox: %zu entries", r->elements);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *f = r->element[i]->element[1];
        const char *v = NULL;
        for (size_t j = 0; j + 1 < f->elements; j += 2)
            if (strcmp(f->element[j]->str, "v") == 0)
                v = f->element[j + 1]->str;
        CHECK(v && strcmp(v, orders_version()) == 0, "outbox entry %zu: v %s", i, v ? v : "none");
    }
    freeReplyObject(r);
    svc_close(&s);
}

/* ---- order ids ---- */

#define IDS_BATCH 5

/* Creates prescription pid with FCALL and copies the new order's id. */
static void sync_create(test *t, const char *pid, char *oid, size_t len)
{
    redisReply *r = sync_cmd(t,
                             "FCALL rxd_create 1 %sanchor %s %s pat-1 30.6 104.0 1 addr [] \"\" 0 "
                             "0 1 h-1 1 0 0 123456 \"\" 60000",
                             PREFIX, PREFIX, pid);
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
              strcmp(r->element[0]->str, "created") == 0,
          "create %s: %s", pid, r->type == REDIS_REPLY_ERROR ? r->str : "not created");
    snprintf(oid, len, "%s", r->element[1]->str);
    freeReplyObject(r);
    CHECK(strncmp(oid, "default-", 8) == 0 && strlen(oid) <= IDS_MAX, "id %s: region, length", oid);
}

/* IDS_BATCH creates back to back (often within one millisecond):
 * each id new, valid, and later than the one before (and than after). */
static void create_batch(test *t, const char *tag, char ids[][IDS_MAX + 1], const char *after)
{
    for (int i = 0; i < IDS_BATCH; i++) {
        char pid[32];
        snprintf(pid, sizeof(pid), "rx-%s-%d", tag, i);
        sync_create(t, pid, ids[i], IDS_MAX + 1);
        const char *prev = i ? ids[i - 1] : after;
        CHECK(ids_valid_key(ids[i], strlen(ids[i])), "id %s is not a valid key id", ids[i]);
        CHECK(!prev || strcmp(ids[i], prev) > 0, "batch %s: id %s does not sort after %s", tag,
              ids[i], prev);
    }
}

static void check_unique(char a[][IDS_MAX + 1], char b[][IDS_MAX + 1], const char *what)
{
    for (int i = 0; i < IDS_BATCH; i++)
        for (int j = 0; j < IDS_BATCH; j++)
            CHECK(strcmp(a[i], b[j]) != 0, "%s: id %s made twice", what, a[i]);
}

static void test_ids(test *t)
{
    char a[IDS_BATCH][IDS_MAX + 1], b[IDS_BATCH][IDS_MAX + 1], c[IDS_BATCH][IDS_MAX + 1],
        d[IDS_BATCH][IDS_MAX + 1];
    freeReplyObject(sync_cmd(t, "FLUSHALL"));

    /* the same millisecond, for certain: the id state says the last id was
     * made an hour ahead of Redis' clock, so every id of the batch shares
     * that millisecond and only the counter tells them apart */
    redisReply *now = sync_cmd(t, "TIME");
    long long ahead = atoll(now->element[0]->str) * 1000 + 3600 * 1000;
    freeReplyObject(now);
    freeReplyObject(sync_cmd(t, "HSET %sids ms %lld n 0", PREFIX, ahead));
    create_batch(t, "a", a, NULL);
    for (int i = 1; i < IDS_BATCH; i++)
        CHECK(strncmp(a[i], a[0], strlen(a[0]) - 3) == 0, "ids %s and %s: not the same millisecond",
              a[0], a[i]);

    /* a restore: the id state goes back to a snapshot taken before batch b,
     * and batch b's orders are gone with it; the clock did not go back */
    freeReplyObject(sync_cmd(t, "DEL %sids", PREFIX));
    create_batch(t, "b", b, NULL);
    freeReplyObject(sync_cmd(t, "DEL %sids", PREFIX));
    for (int i = 0; i < IDS_BATCH; i++)
        freeReplyObject(sync_cmd(t, "DEL %sord:%s %srx:rx-b-%d", PREFIX, b[i], PREFIX, i));
    struct timespec pause = {0, 3 * 1000 * 1000}; /* a restore takes longer than 1 ms */
    nanosleep(&pause, NULL);
    create_batch(t, "c", c, b[IDS_BATCH - 1]);
    check_unique(b, c, "after the id state went back");

    /* a restore with a clock that went back (batch a was made an hour
     * ahead): the bumped epoch keeps new ids apart, and later */
    freeReplyObject(sync_cmd(t, "DEL %sids", PREFIX));
    freeReplyObject(sync_cmd(t, "HINCRBY %sids epoch 1", PREFIX));
    create_batch(t, "d", d, a[IDS_BATCH - 1]);
    check_unique(a, d, "after the epoch bump");
}

int main(void)
{
    test t = {0};
    char host[128];
    int port = 0;
    t.url = getenv("RXD_REDIS_URL");
    CHECK(t.url && sscanf(t.url, "redis://%127[^:]:%d", host, &port) == 2,
          "RXD_REDIS_URL is not set to redis://HOST:PORT: run under tests/with_backends.sh "
          "--redis");
    CHECK(sscanf(orders_version(), "%d.%d", &t.major, &t.minor) == 2, "orders_version %s",
          orders_version());
    t.rc = redisConnect(host, port);
    CHECK(t.rc && !t.rc->err, "redisConnect %s: %s", t.url, t.rc ? t.rc->errstr : "oom");
    t.base = event_base_new();
    t.watchdog = evtimer_new(t.base, on_watchdog, &t);
    CHECK(t.base && t.watchdog, "libevent setup failed");

    test_none_loaded(&t);
    test_same(&t);
    test_older_minor_replaced(&t);
    test_newer_minor_kept(&t);
    test_other_major_refused(&t);
    test_calls(&t);
    test_ids(&t);

    event_free(t.watchdog);
    event_base_free(t.base);
    redisFree(t.rc);
    printf("orders_lib_test: ok\n");
    return 0;
}
