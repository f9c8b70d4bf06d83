/* store.c - asynchronous Redis access for one event loop (see store.h).
 *
 * Every request is a store_req handed to hiredis as privdata; hiredis calls
 * store_on_reply exactly once for it (with a reply, or NULL when the context
 * goes away), and that is the only place a request is freed. A request that is
 * finished early (timeout, store_free) is marked done and unlinked; its late
 * hiredis callback then only frees it. Requests that never reach hiredis (not
 * connected, rejected) sit on a failure queue drained by a zero timer, so
 * callbacks never run from inside store_cmd*. User callbacks may call
 * store_free: code that touches the store after calling out checks a guard. */
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "log.h"
#include "mem.h"

#define STORE_TICK_MS 50
#define STORE_BACKOFF_MIN_MS 100
#define STORE_BACKOFF_MAX_MS 5000
#define STORE_CONNECT_TIMEOUT_MIN_MS 1000
#define STORE_SECRET_MAX 512 /* a password, as read from its file */

/* Failure kinds counted in redis_errors_total{kind=...}. */
enum { STORE_ERR_TIMEOUT, STORE_ERR_DISCONNECT, STORE_ERR_REPLY, STORE_ERR_KINDS };
static const char *const store_err_kind_names[STORE_ERR_KINDS] = {"timeout", "disconnect",
                                                                  "error_reply"};

typedef struct store_req store_req;
struct store_req {
    store *st;
    store_reply_cb *cb;
    void *ctx;
    int timeout_ms;        /* <= 0: no deadline */
    long long deadline_ms; /* monotonic; 0: none */
    long long sent_us;     /* monotonic, for the latency histogram */
    int done;              /* callback already called: drop the late reply */
    const char *fail;      /* reason, while on the failure queue */
    int script;            /* script handle for EVALSHA requests, else -1 */
    int lib;               /* library handle for FCALL requests, else -1 */
    int fallback;          /* already resent (EVAL, or FCALL after a load) */
    int argc;              /* EVALSHA/FCALL argv kept for the resend; */
    const char **argv;     /* argv[0..owned-1] static, the rest owned */
    int owned;
    size_t *argvlen;
    store_req *prev, *next;
};

typedef struct store_list {
    store_req *head, *tail;
} store_list;

typedef struct store_script {
    char *name;
    char *source;
    char sha[41];
} store_script;

/* A Redis Functions library: loaded, replaced or refused on every connect
 * (store_lib_check), reloaded when a call finds its function gone. */
typedef struct store_lib {
    char *name;
    char *source;
    char *version;    /* "major.minor", as declared by the source */
    char *version_fn; /* the library's function that returns its version */
    int major, minor;
} store_lib;

typedef struct store_sub {
    char *pattern;
    store_message_cb *cb;
    void *ctx;
} store_sub;

/* Set on the stack around calls into user code; store_free marks it. */
typedef struct store_guard {
    int freed;
    struct store_guard *prev;
} store_guard;

struct store {
    struct event_base *base;
    char *host;
    int port;
    int db;
    char *addr; /* host:port, for logs */
    int timeout_ms;
    char *user;                    /* ACL user for AUTH, NULL: the default user */
    char *password;                /* from the url or RXD_REDIS_PASSWORD, else NULL */
    char *password_file;           /* RXD_REDIS_PASSWORD_FILE: read on every connect */
    char why[256];                 /* why the store is not ready (store_why) */
    char secret[STORE_SECRET_MAX]; /* the file's password, from connect to AUTH */

    redisAsyncContext *ac; /* NULL between connections */
    int tcp_up;            /* connect callback succeeded on ac */
    int ready;             /* SELECT done: commands may be sent */
    int announced;         /* last state given to state_cb */
    int closing;
    int backoff_ms;

    struct event *ev_reconnect;
    struct event *ev_connect_timeout;
    struct event *ev_tick;
    struct event *ev_fail;

    store_list pending; /* in hiredis, callback not yet called */
    store_list failing; /* to fail on the next loop turn */

    store_state_cb *state_cb;
    void *state_ctx;

    store_script *scripts;
    int nscripts;
    store_lib *libs;
    int nlibs;
    int lib_tries; /* library checks of this connection (load races) */
    store_sub **subs;
    int nsubs;

    store_guard *guard;

    /* optional (store_set_metrics): call latency, errors by kind */
    metric *m_latency;
    metric *m_errors[STORE_ERR_KINDS];
};

static const struct timeval store_zero_tv = {0, 0};

void store_set_metrics(store *st, metrics *m, const char *name)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "store=\"%s\"", name);
    st->m_latency = metrics_histogram(m, "redis_call_duration_seconds", labels,
                                      "Redis call latency (seconds; blocking reads excluded)",
                                      metrics_latency_bounds, METRICS_LATENCY_NBOUNDS);
    for (int k = 0; k < STORE_ERR_KINDS; k++) {
        snprintf(labels, sizeof(labels), "store=\"%s\",kind=\"%s\"", name, store_err_kind_names[k]);
        st->m_errors[k] = metrics_counter(m, "redis_errors_total", labels,
                                          "failed Redis calls by kind (timeout, disconnect, "
                                          "error reply)");
    }
}

static void store_count_error(store *st, int kind)
{
    if (st->m_errors[kind])
        metric_add(st->m_errors[kind], 1);
}

static long long store_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void store_connect(store *st);
static int store_drop(store *st, const char *why);
static void store_on_pmessage(redisAsyncContext *ac, void *r, void *privdata);

/* ---- small helpers ---- */

static long long store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval store_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static char *store_strdup(const char *s, size_t len)
{
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static void store_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void store_guard_push(store *st, store_guard *g)
{
    g->freed = 0;
    g->prev = st->guard;
    st->guard = g;
}

static void store_guard_pop(store *st, store_guard *g)
{
    st->guard = g->prev;
}

/* ---- request lists ---- */

static void store_list_push(store_list *l, store_req *req)
{
    req->next = NULL;
    req->prev = l->tail;
    if (l->tail)
        l->tail->next = req;
    else
        l->head = req;
    l->tail = req;
}

static void store_list_unlink(store_list *l, store_req *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        l->head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        l->tail = req->prev;
    req->prev = req->next = NULL;
}

static store_req *store_req_new(store *st, int timeout_ms, store_reply_cb *cb, void *ctx)
{
    store_req *req = xcalloc(1, sizeof(*req));
    req->st = st;
    req->cb = cb;
    req->ctx = ctx;
    req->timeout_ms = timeout_ms;
    req->script = -1;
    req->lib = -1;
    return req;
}

static void store_req_free(store_req *req)
{
    if (req->argv) {
        for (int i = req->owned; i < req->argc; i++)
            free((char *)req->argv[i]);
        free(req->argv);
        free(req->argvlen);
    }
    free(req);
}

/* ---- failure queue: callbacks on the next loop turn ---- */

static void store_fail_later(store *st, store_req *req, const char *why)
{
    req->fail = why;
    store_list_push(&st->failing, req);
    if (!evtimer_pending(st->ev_fail, NULL))
        evtimer_add(st->ev_fail, &store_zero_tv);
}

static void store_on_fail_timer(evutil_socket_t fd, short what, void *arg)
{
    store *st = arg;
    store_req *last = st->failing.tail;
    store_guard g;
    (void)fd;
    (void)what;

    /* Requests queued by these callbacks wait for the next turn. */
    store_guard_push(st, &g);
    while (last && st->failing.head) {
        store_req *req = st->failing.head;
        store_list_unlink(&st->failing, req);
        if (!st->closing)
            store_count_error(st, STORE_ERR_DISCONNECT);
        req->cb(st, NULL, req->fail, req->ctx);
        store_req_free(req);
        if (g.freed)
            return;
        if (req == last)
            break;
    }
    store_guard_pop(st, &g);
}

/* ---- state ---- */

/* Tells state_cb about a change; returns 1 if the store was freed by it. */
static int store_announce(store *st, int up)
{
    store_guard g;
    if (st->announced == up || st->closing)
        return 0;
    st->announced = up;
    if (!st->state_cb)
        return 0;
    store_guard_push(st, &g);
    st->state_cb(st, up, st->state_ctx);
    if (g.freed)
        return 1;
    store_guard_pop(st, &g);
    return 0;
}

/* Arms the reconnect timer; returns the delay used. */
static int store_schedule_reconnect(store *st)
{
    int delay = st->backoff_ms;
    struct timeval tv = store_tv(delay);
    if (st->closing)
        return 0;
    evtimer_add(st->ev_reconnect, &tv);
    st->backoff_ms = delay * 2 > STORE_BACKOFF_MAX_MS ? STORE_BACKOFF_MAX_MS : delay * 2;
    return delay;
}

/* ---- sending ---- */

static void store_on_reply(redisAsyncContext *ac, void *r, void *privdata);

static void store_tick_arm(store *st)
{
    struct timeval tv = store_tv(STORE_TICK_MS);
    if (st->pending.head && !evtimer_pending(st->ev_tick, NULL))
        evtimer_add(st->ev_tick, &tv);
}

/* Hands req to hiredis on the current connection. */
static void store_send(store *st, store_req *req, const char *cmd, size_t len)
{
    if (!st->ac || redisAsyncFormattedCommand(st->ac, store_on_reply, req, cmd, len) != REDIS_OK) {
        store_fail_later(st, req, "redis connection lost");
        return;
    }
    req->deadline_ms = req->timeout_ms > 0 ? store_now_ms() + req->timeout_ms : 0;
    if (st->m_latency)
        req->sent_us = store_now_us();
    store_list_push(&st->pending, req);
    store_tick_arm(st);
}

/* 1 if the formatted command is one that changes how replies flow (hiredis
 * would call its callback more than once, or the stream would desync). */
static int store_cmd_is_pubsub(const char *cmd)
{
    static const char *const names[] = {"subscribe",    "psubscribe",   "ssubscribe", "unsubscribe",
                                        "punsubscribe", "sunsubscribe", "monitor"};
    const char *p = strchr(cmd, '$');
    char *end;
    long n;
    if (!p)
        return 0;
    n = strtol(p + 1, &end, 10);
    if (end[0] != '\r' || end[1] != '\n')
        return 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((long)strlen(names[i]) == n && strncasecmp(end + 2, names[i], (size_t)n) == 0)
            return 1;
    return 0;
}

/* Sends a user request or queues its failure. Takes ownership of req. */
static void store_submit(store *st, store_req *req, const char *cmd, size_t len)
{
    if (st->closing)
        store_fail_later(st, req, "store closed");
    else if (st->nsubs > 0)
        store_fail_later(st, req, "store is in subscribe mode: use a second store for commands");
    else if (store_cmd_is_pubsub(cmd))
        store_fail_later(st, req,
                         "subscribe/monitor commands are not allowed here: use "
                         "store_psubscribe on a store of its own");
    else if (!st->ready)
        store_fail_later(st, req, "redis not connected");
    else
        store_send(st, req, cmd, len);
}

/* Resends a NOSCRIPT-failed EVALSHA as EVAL; 0 when sent. */
static int store_resend_eval(store *st, redisAsyncContext *ac, store_req *req)
{
    store_script *sc = &st->scripts[req->script];
    req->fallback = 1;
    req->argv[0] = "EVAL";
    req->argvlen[0] = 4;
    req->argv[1] = sc->source;
    req->argvlen[1] = strlen(sc->source);
    if (ac != st->ac)
        return -1;
    log_event(LOG_INFO, "redis_script_load", "{s:s, s:s}", "script", sc->name, "sha", sc->sha);
    return redisAsyncCommandArgv(ac, store_on_reply, req, req->argc, req->argv, req->argvlen) ==
                   REDIS_OK
               ? 0
               : -1;
}

static int store_lib_load(store *st, int lib, int replace, store_reply_cb *cb, void *ctx);
static void store_on_lib_reloaded(store *st, redisReply *reply, const char *err, void *ctx);

/* 1 when an FCALL failed because its library is gone (FUNCTION FLUSH, or a
 * restart from a snapshot without it). */
static int store_function_missing(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR && strstr(reply->str, "Function not found") != NULL;
}

/* Loads the library of a failed FCALL and resends the call behind it on the
 * same connection (so Redis runs the load first); 0 when both were sent. */
static int store_resend_fcall(store *st, redisAsyncContext *ac, store_req *req)
{
    req->fallback = 1;
    if (ac != st->ac || store_lib_load(st, req->lib, 0, store_on_lib_reloaded, NULL) != 0)
        return -1;
    return redisAsyncCommandArgv(ac, store_on_reply, req, req->argc, req->argv, req->argvlen) ==
                   REDIS_OK
               ? 0
               : -1;
}

static void store_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    store_req *req = privdata;
    redisReply *reply = r;
    store *st;
    const char *err = NULL;

    if (req->done) { /* timed out or store closed: late reply */
        store_req_free(req);
        return;
    }
    st = req->st;
    if (reply && req->script >= 0 && !req->fallback && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        if (store_resend_eval(st, ac, req) == 0)
            return; /* still pending, same deadline */
        reply = NULL;
    }
    if (reply && req->lib >= 0 && !req->fallback && store_function_missing(reply)) {
        if (store_resend_fcall(st, ac, req) == 0)
            return; /* still pending, same deadline */
        reply = NULL;
    }
    store_list_unlink(&st->pending, req);
    req->done = 1;
    if (!reply) {
        err = st->closing ? "store closed" : "redis connection lost";
        st->ready = 0; /* the context is going away */
        if (!st->closing)
            store_count_error(st, STORE_ERR_DISCONNECT);
    } else {
        if (reply->type == REDIS_REPLY_ERROR)
            store_count_error(st, STORE_ERR_REPLY);
        /* a deadline of its own marks a blocking read, whose wait is not latency */
        if (st->m_latency && req->timeout_ms == st->timeout_ms)
            metric_observe(st->m_latency, (double)(store_now_us() - req->sent_us) / 1e6);
    }
    req->cb(st, reply, err, req->ctx); /* may free st */
    store_req_free(req);
}

/* ---- deadlines ---- */

static void store_on_tick(evutil_socket_t fd, short what, void *arg)
{
    store *st = arg;
    long long now = store_now_ms();
    store_req *req, *next;
    store_guard g;
    int expired = 0;
    (void)fd;
    (void)what;

    for (req = st->pending.head; req; req = req->next)
        if (req->deadline_ms && req->deadline_ms <= now)
            expired++;
    if (!expired) {
        store_tick_arm(st);
        return;
    }
    /* Callbacks below must not queue onto the doomed connection. */
    st->ready = 0;
    log_event(LOG_WARN, "redis_timeout", "{s:s, s:i, s:s}", "addr", st->addr, "requests", expired,
              "action",
              "dropping the connection and reconnecting; check redis latency "
              "(SLOWLOG, blocking commands) or raise the timeout");
    store_guard_push(st, &g);
    for (req = st->pending.head; req; req = next) {
        char err[64];
        next = req->next;
        if (!req->deadline_ms || req->deadline_ms > now)
            continue;
        store_list_unlink(&st->pending, req);
        req->done = 1;
        store_count_error(st, STORE_ERR_TIMEOUT);
        snprintf(err, sizeof(err), "redis request timed out after %d ms", req->timeout_ms);
        req->cb(st, NULL, err, req->ctx);
        if (g.freed)
            return;
    }
    store_guard_pop(st, &g);
    if (store_drop(st, "request timeout"))
        return;
    store_tick_arm(st);
}

/* ---- connection ---- */

/* Drops the current connection now and schedules a reconnect. Pending
 * requests get "redis connection lost". Returns 1 if st was freed meanwhile. */
static int store_drop(store *st, const char *why)
{
    redisAsyncContext *ac = st->ac;
    store_guard g;
    int delay;
    if (!ac)
        return 0;
    st->ac = NULL; /* store_on_disconnect ignores it from now on */
    st->ready = 0;
    st->tcp_up = 0;
    evtimer_del(st->ev_connect_timeout);
    delay = store_schedule_reconnect(st);
    if (!st->why[0])
        snprintf(st->why, sizeof(st->why), "redis connection to %s dropped: %s", st->addr, why);
    log_event(LOG_WARN, "redis_dropped", "{s:s, s:s, s:i}", "addr", st->addr, "reason", why,
              "retry_ms", delay);
    store_guard_push(st, &g);
    redisAsyncFree(ac); /* deferred by hiredis when inside one of its callbacks */
    if (g.freed)
        return 1;
    store_guard_pop(st, &g);
    return store_announce(st, 0);
}

/* The connection carries commands from now on: tell the user. */
static void store_on_usable(store *st)
{
    st->ready = 1;
    st->why[0] = '\0';
    st->backoff_ms = STORE_BACKOFF_MIN_MS;
    log_event(LOG_INFO, "redis_connected", "{s:s, s:s, s:i, s:i}", "addr", st->addr, "user",
              st->user ? st->user : "default", "db", st->db, "subscriptions", st->nsubs);
    for (int i = 0; i < st->nsubs; i++) {
        store_sub *sub = st->subs[i];
        if (redisAsyncCommand(st->ac, store_on_pmessage, sub, "PSUBSCRIBE %s", sub->pattern) !=
            REDIS_OK)
            log_event(LOG_ERROR, "redis_psubscribe_failed", "{s:s, s:s}", "addr", st->addr,
                      "pattern", sub->pattern);
    }
    store_announce(st, 1);
}

/* ---- function libraries: checked on every connect ----
 *
 * FCALL <version_fn> 0 answers the loaded version "major.minor". None
 * loaded: FUNCTION LOAD. Same: nothing. An older minor of our major:
 * FUNCTION LOAD REPLACE. A newer minor: kept (a newer release loaded it
 * during a rolling upgrade; within a major functions only grow). Another
 * major: refused, the store stays not connected and checks again on the
 * next reconnect (docs/operations.md, "Upgrading the state machine
 * library"). */

#define STORE_LIB_TRIES 4 /* checks per connection: loads racing other services */

static void store_lib_check(store *st, int lib);

/* Sends FUNCTION LOAD [REPLACE] of library lib; 0 when sent. */
static int store_lib_load(store *st, int lib, int replace, store_reply_cb *cb, void *ctx)
{
    const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", st->libs[lib].source};
    size_t argvlen[4] = {8, 4, 7, strlen(st->libs[lib].source)};
    char *cmd;
    int len;
    store_req *req = store_req_new(st, st->timeout_ms, cb, ctx);
    if (!req)
        return -1;
    if (!replace) {
        argv[2] = argv[3];
        argvlen[2] = argvlen[3];
    }
    len = redisFormatCommandArgv(&cmd, replace ? 4 : 3, argv, argvlen);
    if (len < 0) {
        free(req);
        return -1;
    }
    store_send(st, req, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return 0;
}

static void store_on_lib_reloaded(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)err;
    (void)ctx;
    /* "already exists": another service loaded it first, as good */
    if (reply)
        log_event(reply->type == REDIS_REPLY_ERROR ? LOG_WARN : LOG_INFO, "redis_library_reload",
                  "{s:s, s:s, s:s}", "addr", st->addr, "reason", "function not found", "result",
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "loaded");
}

/* Parses "major.minor"; 0 when it is one. */
static int store_lib_version(const char *s, int *major, int *minor)
{
    char end;
    return s && sscanf(s, "%d.%d%c", major, minor, &end) == 2 ? 0 : -1;
}

/* Leaves the connection unused for now: the next connect checks again. */
static void store_lib_refuse(store *st, int lib, const char *why)
{
    snprintf(st->why, sizeof(st->why), "redis function library %s: %s", st->libs[lib].name, why);
    store_drop(st, "function library refused");
}

static void store_on_lib_loaded(store *st, redisReply *reply, const char *err, void *ctx)
{
    int lib = (int)(intptr_t)ctx;
    (void)err;
    if (st->closing || !reply)
        return; /* timeout or disconnect: already handled */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (strstr(reply->str, "already exists") && ++st->lib_tries < STORE_LIB_TRIES) {
            store_lib_check(st, lib); /* another service loaded it meanwhile */
            return;
        }
        log_event(LOG_ERROR, "redis_library_load_failed", "{s:s, s:s, s:s, s:s}", "addr", st->addr,
                  "library", st->libs[lib].name, "error", reply->str, "action",
                  "this build's library does not load into this redis: it needs Redis 7 or "
                  "newer with Lua functions enabled; see docs/operations.md");
        store_lib_refuse(st, lib, "does not load (see the log)");
        return;
    }
    log_event(LOG_INFO, "redis_library_loaded", "{s:s, s:s, s:s}", "addr", st->addr, "library",
              st->libs[lib].name, "version", st->libs[lib].version);
    if (lib + 1 < st->nlibs)
        store_lib_check(st, lib + 1);
    else
        store_on_usable(st);
}

static void store_on_lib_version(store *st, redisReply *reply, const char *err, void *ctx)
{
    int lib = (int)(intptr_t)ctx;
    store_lib *l = &st->libs[lib];
    int major, minor;
    char why[200];
    (void)err;
    if (st->closing || !reply)
        return;
    if (reply->type == REDIS_REPLY_ERROR && strstr(reply->str, "Function not found")) {
        if (store_lib_load(st, lib, 0, store_on_lib_loaded, ctx) != 0)
            store_drop(st, "out of memory");
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || store_lib_version(reply->str, &major, &minor) != 0) {
        snprintf(why, sizeof(why), "%s answers %s, not a version", l->version_fn,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "something else");
    } else if (major == l->major && minor < l->minor) {
        log_event(LOG_INFO, "redis_library_upgrade", "{s:s, s:s, s:s, s:s}", "addr", st->addr,
                  "library", l->name, "loaded", reply->str, "ours", l->version);
        if (store_lib_load(st, lib, 1, store_on_lib_loaded, ctx) != 0)
            store_drop(st, "out of memory");
        return;
    } else if (major == l->major) {
        if (minor > l->minor)
            log_event(LOG_INFO, "redis_library_newer", "{s:s, s:s, s:s, s:s, s:s}", "addr",
                      st->addr, "library", l->name, "loaded", reply->str, "ours", l->version,
                      "action", "none: a newer minor of the same major serves every call of ours");
        if (lib + 1 < st->nlibs)
            store_lib_check(st, lib + 1);
        else
            store_on_usable(st);
        return;
    } else {
        snprintf(why, sizeof(why), "version %s is loaded, this build needs major %d (%s)",
                 reply->str, l->major, l->version);
    }
    log_event(LOG_ERROR, "redis_library_incompatible", "{s:s, s:s, s:s, s:s}", "addr", st->addr,
              "library", l->name, "error", why, "action",
              "not ready until the versions agree: finish or roll back the upgrade so that "
              "every service runs one major, then FUNCTION DELETE the old library once none "
              "of its services runs (docs/operations.md, Upgrading the state machine library)");
    store_lib_refuse(st, lib, why);
}

static void store_lib_check(store *st, int lib)
{
    const char *argv[3] = {"FCALL", st->libs[lib].version_fn, "0"};
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, 3, argv, NULL);
    store_req *req = store_req_new(st, st->timeout_ms, store_on_lib_version, (void *)(intptr_t)lib);
    if (len < 0 || !req) {
        free(req);
        if (len >= 0)
            redisFreeCommand(cmd);
        store_drop(st, "out of memory");
        return;
    }
    store_send(st, req, cmd, (size_t)len);
    redisFreeCommand(cmd);
}

/* SELECT done (or not needed): check the libraries, then announce. */
static void store_on_ready(store *st)
{
    st->lib_tries = 0;
    if (st->nlibs > 0)
        store_lib_check(st, 0);
    else
        store_on_usable(st);
}

/* ---- handshake: what a new connection runs before it carries requests ---- */

/* Sends one handshake command ahead of every request; the formatted command
 * may hold the password, so it is wiped before it is freed. 0, or -1 when
 * the connection was dropped. */
static int store_handshake_send(store *st, store_reply_cb *cb, int argc, const char **argv,
                                const size_t *argvlen)
{
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    store_req *req = store_req_new(st, st->timeout_ms, cb, NULL);
    if (len < 0 || !req) {
        free(req);
        if (len >= 0)
            redisFreeCommand(cmd);
        store_drop(st, "out of memory");
        return -1;
    }
    store_send(st, req, cmd, (size_t)len);
    OPENSSL_cleanse(cmd, (size_t)len);
    redisFreeCommand(cmd);
    return 0;
}

static void store_on_select(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)err;
    (void)ctx;
    if (st->closing || !reply)
        return; /* timeout or disconnect: already handled */
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(st->why, sizeof(st->why), "redis SELECT %d failed: %s", st->db, reply->str);
        log_event(LOG_ERROR, "redis_select_failed", "{s:s, s:i, s:s, s:s}", "addr", st->addr, "db",
                  st->db, "error", reply->str, "action",
                  "check the /db number in the redis url (see `CONFIG GET databases`)");
        store_drop(st, "SELECT failed");
        return;
    }
    store_on_ready(st);
}

/* The answer to AUTH (credentials configured) or PING (none: a server that
 * wants a password says NOAUTH here, not on the first real request). */
static void store_on_hello(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)err;
    (void)ctx;
    if (st->closing || !reply)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        int auth =
            st->user || st->password || st->password_file || strncmp(reply->str, "NOAUTH", 6) == 0;
        const char *action =
            !auth ? "redis is not serving yet; retrying"
            : st->user || st->password || st->password_file
                ? "check the user in RXD_REDIS_URL and the password (url, RXD_REDIS_PASSWORD or "
                  "RXD_REDIS_PASSWORD_FILE) against the server's ACL (`ACL LIST`; "
                  "docs/operations.md, Credentials); retrying"
                : "redis wants a password: give the ACL user in RXD_REDIS_URL "
                  "(redis://user@host:port) and its password in RXD_REDIS_PASSWORD_FILE "
                  "(docs/operations.md, Credentials); retrying";
        snprintf(st->why, sizeof(st->why), "redis %s as user %s at %s: %s",
                 auth ? "authentication failed" : "handshake failed",
                 st->user ? st->user : "default", st->addr, reply->str);
        log_event(LOG_ERROR, auth ? "redis_auth_failed" : "redis_handshake_failed",
                  "{s:s, s:s, s:s, s:s}", "addr", st->addr, "user", st->user ? st->user : "default",
                  "error", reply->str, "action", action);
        store_drop(st, auth ? "authentication failed" : "handshake failed");
        return;
    }
    if (st->db > 0) {
        char db[16];
        const char *argv[] = {"SELECT", db};
        size_t argvlen[] = {6, (size_t)snprintf(db, sizeof(db), "%d", st->db)};
        store_handshake_send(st, store_on_select, 2, argv, argvlen);
        return;
    }
    store_on_ready(st);
}

/* Reads a password file (a Kubernetes secret: trailing newlines are not
 * part of it) into buf. 0, or -1 with err saying what to do. */
static int store_read_secret(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        store_seterr(err, errlen, "cannot read RXD_REDIS_PASSWORD_FILE %s: %s", path,
                     strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, len, f);
    fclose(f);
    if (n == len) {
        OPENSSL_cleanse(buf, len);
        store_seterr(err, errlen, "RXD_REDIS_PASSWORD_FILE %s is longer than %zu bytes", path,
                     len - 1);
        return -1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    if (n == 0) {
        store_seterr(err, errlen, "RXD_REDIS_PASSWORD_FILE %s is empty", path);
        return -1;
    }
    return 0;
}

/* AUTH [user] password as the first command when credentials are set
 * (hiredis 0.14 has no AUTH of its own, and none for ACL users), else PING.
 * A password file was read by store_connect into st->secret. */
static void store_hello(store *st)
{
    const char *argv[3];
    size_t argvlen[3];
    int argc = 0;
    if (!st->user && !st->password && !st->password_file) {
        argv[0] = "PING";
        argvlen[0] = 4;
        store_handshake_send(st, store_on_hello, 1, argv, argvlen);
        return;
    }
    const char *pw = st->password_file ? st->secret : st->password;
    argv[argc] = "AUTH";
    argvlen[argc++] = 4;
    if (st->user) {
        argv[argc] = st->user;
        argvlen[argc++] = strlen(st->user);
    }
    argv[argc] = pw;
    argvlen[argc++] = strlen(pw);
    store_handshake_send(st, store_on_hello, argc, argv, argvlen);
    OPENSSL_cleanse(st->secret, sizeof(st->secret));
}

static void store_on_connect(const redisAsyncContext *cac, int status)
{
    store *st = cac->data;
    if (!st || st->ac != cac)
        return;
    evtimer_del(st->ev_connect_timeout);
    if (status != REDIS_OK) {
        st->ac = NULL; /* hiredis frees it when we return */
        OPENSSL_cleanse(st->secret, sizeof(st->secret));
        int delay = store_schedule_reconnect(st);
        snprintf(st->why, sizeof(st->why), "redis not reachable at %s: %s", st->addr, cac->errstr);
        log_event(LOG_WARN, "redis_connect_failed", "{s:s, s:s, s:i, s:s}", "addr", st->addr,
                  "error", cac->errstr, "retry_ms", delay, "action",
                  "check that redis is running and reachable at the configured url");
        return;
    }
    st->tcp_up = 1;
    redisEnableKeepAlive(&st->ac->c);
    store_hello(st);
}

static void store_on_disconnect(const redisAsyncContext *ac, int status)
{
    store *st = ac->data;
    int delay;
    (void)status;
    if (!st || st->ac != ac)
        return;
    st->ac = NULL; /* hiredis frees it when we return */
    st->ready = 0;
    st->tcp_up = 0;
    delay = store_schedule_reconnect(st);
    if (!st->why[0])
        snprintf(st->why, sizeof(st->why), "redis connection to %s lost: %s", st->addr,
                 ac->err ? ac->errstr : "closed");
    log_event(LOG_WARN, "redis_disconnected", "{s:s, s:s, s:i}", "addr", st->addr, "error",
              ac->err ? ac->errstr : "closed", "retry_ms", delay);
    store_announce(st, 0);
}

static void store_on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    store *st = arg;
    redisAsyncContext *ac = st->ac;
    int delay;
    (void)fd;
    (void)what;
    if (!ac || st->tcp_up)
        return;
    st->ac = NULL;
    redisAsyncFree(ac); /* no callbacks: nothing sent, never connected */
    OPENSSL_cleanse(st->secret, sizeof(st->secret));
    snprintf(st->why, sizeof(st->why), "redis not reachable at %s: connect timed out", st->addr);
    delay = store_schedule_reconnect(st);
    log_event(LOG_WARN, "redis_connect_failed", "{s:s, s:s, s:i, s:s}", "addr", st->addr, "error",
              "connect timed out", "retry_ms", delay, "action",
              "check that redis is reachable at the configured url (firewall, address)");
}

/* Reads the password file ahead of a connection: a missing secret is
 * reported and retried without connecting (and is picked up once mounted or
 * rotated, without a restart). */
static int store_load_secret(store *st)
{
    char err[256];
    if (!st->password_file ||
        store_read_secret(st->password_file, st->secret, sizeof(st->secret), err, sizeof(err)) == 0)
        return 0;
    int delay = store_schedule_reconnect(st);
    snprintf(st->why, sizeof(st->why), "%s", err);
    log_event(LOG_ERROR, "redis_auth_failed", "{s:s, s:s, s:i, s:s}", "addr", st->addr, "error",
              err, "retry_ms", delay, "action",
              "mount the redis user's password file or fix RXD_REDIS_PASSWORD_FILE; retrying");
    return -1;
}

static void store_connect(store *st)
{
    if (store_load_secret(st))
        return;
    redisAsyncContext *ac = redisAsyncConnect(st->host, st->port);
    int ms = st->timeout_ms > STORE_CONNECT_TIMEOUT_MIN_MS ? st->timeout_ms
                                                           : STORE_CONNECT_TIMEOUT_MIN_MS;
    struct timeval tv = store_tv(ms);
    if (!ac || ac->err || redisLibeventAttach(ac, st->base) != REDIS_OK) {
        int delay = store_schedule_reconnect(st);
        OPENSSL_cleanse(st->secret, sizeof(st->secret));
        snprintf(st->why, sizeof(st->why), "redis not reachable at %s: %s", st->addr,
                 ac && ac->err ? ac->errstr : "out of memory");
        log_event(LOG_WARN, "redis_connect_failed", "{s:s, s:s, s:i, s:s}", "addr", st->addr,
                  "error", ac && ac->err ? ac->errstr : "out of memory", "retry_ms", delay,
                  "action", "check that redis is running and reachable at the configured url");
        if (ac)
            redisAsyncFree(ac);
        return;
    }
    ac->data = st;
    redisAsyncSetConnectCallback(ac, store_on_connect);
    redisAsyncSetDisconnectCallback(ac, store_on_disconnect);
    st->ac = ac;
    st->tcp_up = 0;
    st->ready = 0;
    evtimer_add(st->ev_connect_timeout, &tv);
}

static void store_on_reconnect_timer(evutil_socket_t fd, short what, void *arg)
{
    store *st = arg;
    (void)fd;
    (void)what;
    if (!st->ac)
        store_connect(st);
}

/* ---- subscriptions ---- */

/* Called by hiredis for the PSUBSCRIBE confirmation and every pmessage, and
 * with r NULL when the context goes away (privdata may be gone then). */
static void store_on_pmessage(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    store_sub *sub = privdata;
    (void)ac;
    if (!reply)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        log_event(LOG_ERROR, "redis_psubscribe_failed", "{s:s, s:s}", "pattern", sub->pattern,
                  "error", reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "pmessage") != 0 ||
        reply->element[2]->type != REDIS_REPLY_STRING ||
        reply->element[3]->type != REDIS_REPLY_STRING)
        return; /* psubscribe confirmation */
    sub->cb(reply->element[2]->str, reply->element[3]->str, reply->element[3]->len, sub->ctx);
}

int store_psubscribe(store *st, const char *pattern, store_message_cb *cb, void *ctx)
{
    store_sub *sub;
    if (!pattern || !cb || st->closing)
        return -1;
    if (st->pending.head || st->failing.head)
        log_event(LOG_WARN, "redis_psubscribe_mixed", "{s:s}", "action",
                  "subscribing a store that carries commands: use a store of its own");
    st->subs = xrealloc(st->subs, sizeof(*st->subs) * (size_t)(st->nsubs + 1));
    sub = xcalloc(1, sizeof(*sub));
    sub->pattern = store_strdup(pattern, strlen(pattern));
    sub->cb = cb;
    sub->ctx = ctx;
    st->subs[st->nsubs++] = sub;
    if (st->ready &&
        redisAsyncCommand(st->ac, store_on_pmessage, sub, "PSUBSCRIBE %s", pattern) != REDIS_OK)
        log_event(LOG_ERROR, "redis_psubscribe_failed", "{s:s, s:s}", "addr", st->addr, "pattern",
                  pattern);
    return 0;
}

/* ---- url ---- */

static int store_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A percent-encoded part of the url's userinfo; NULL when malformed. */
static char *store_url_decode(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 2 < len ? store_hex(s[i + 1]) : -1, lo = hi >= 0 ? store_hex(s[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

void store_url_redact(const char *url, char *out, size_t outlen)
{
    const char *at = url ? strrchr(url, '@') : NULL;
    const char *auth = url && strncmp(url, "redis://", 8) == 0 ? url + 8 : NULL;
    if (!url) {
        snprintf(out, outlen, "(null)");
        return;
    }
    if (!at || !auth) {
        snprintf(out, outlen, "%s", url);
        return;
    }
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (!colon) /* a user without a password: nothing secret */
        snprintf(out, outlen, "%s", url);
    else
        snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
}

/* The userinfo of redis://[user[:password]@]host...: an empty user is the
 * default user (redis://:password@host). Returns the rest of the url. */
static const char *store_url_userinfo(store *st, const char *url, const char *shown, char *err,
                                      size_t errlen)
{
    const char *p = url + 8, *at = strrchr(p, '@');
    if (!at)
        return p;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
    if (ulen > 0 && !(st->user = store_url_decode(p, ulen))) {
        store_seterr(err, errlen, "bad redis url \"%s\": bad %%-escape in the user", shown);
        return NULL;
    }
    if (colon && !(st->password = store_url_decode(colon + 1, (size_t)(at - colon - 1)))) {
        store_seterr(err, errlen, "bad redis url \"%s\": bad %%-escape in the password", shown);
        return NULL;
    }
    if (st->password && !st->password[0]) {
        free(st->password);
        st->password = NULL;
    }
    if (st->user && strpbrk(st->user, " \t\r\n")) {
        store_seterr(err, errlen, "bad redis url \"%s\": the user has white space", shown);
        return NULL;
    }
    return at + 1;
}

/* Parses redis://[user[:password]@]host[:port][/db] (host may be [ipv6]);
 * error messages show the url with its password replaced. */
static int store_url_parse(store *st, const char *raw, char *err, size_t errlen)
{
    static const char *expect = "expected redis://[user[:password]@]host[:port][/db]";
    const char *p, *hs, *he;
    long v;
    char *end, url[512];

    store_url_redact(raw, url, sizeof(url));
    if (!raw || strncmp(raw, "redis://", 8) != 0) {
        store_seterr(err, errlen, "bad redis url \"%s\": %s", url, expect);
        return -1;
    }
    if (!(p = store_url_userinfo(st, raw, url, err, errlen)))
        return -1;
    if (*p == '[') {
        hs = p + 1;
        he = strchr(hs, ']');
        if (!he) {
            store_seterr(err, errlen, "bad redis url \"%s\": missing ']'; %s", url, expect);
            return -1;
        }
        p = he + 1;
    } else {
        hs = p;
        he = p + strcspn(p, ":/");
        p = he;
    }
    if (he == hs) {
        store_seterr(err, errlen, "bad redis url \"%s\": empty host; %s", url, expect);
        return -1;
    }
    st->port = 6379;
    st->db = 0;
    if (*p == ':') {
        v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *(p + 1) == '-' || *(p + 1) == '+' || v < 1 || v > 65535 ||
            (*end && *end != '/')) {
            store_seterr(err, errlen, "bad redis url \"%s\": port must be 1-65535; %s", url,
                         expect);
            return -1;
        }
        st->port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *(p + 1) == '-' || *(p + 1) == '+' || v < 0 || v > 1000000 || *end) {
            store_seterr(err, errlen, "bad redis url \"%s\": db must be a number; %s", url, expect);
            return -1;
        }
        st->db = (int)v;
        p = end;
    } else if (*p == '/') {
        p++;
    }
    if (*p) {
        store_seterr(err, errlen, "bad redis url \"%s\": unexpected \"%s\"; %s", url, p, expect);
        return -1;
    }
    st->host = store_strdup(hs, (size_t)(he - hs));
    st->addr = xmalloc((size_t)(he - hs) + 8);
    if (!st->host || !st->addr) {
        store_seterr(err, errlen, "out of memory");
        return -1;
    }
    snprintf(st->addr, (size_t)(he - hs) + 8, "%s:%d", st->host, st->port);
    return 0;
}

/* The password when the url has none: RXD_REDIS_PASSWORD or a file named
 * by RXD_REDIS_PASSWORD_FILE (read from the environment here, not through
 * config: a flag would put the secret on a command line). One source only. */
static int store_credentials(store *st, const char *shown, char *err, size_t errlen)
{
    const char *env = getenv("RXD_REDIS_PASSWORD"), *file = getenv("RXD_REDIS_PASSWORD_FILE");
    int sources = (st->password != NULL) + (env && *env) + (file && *file);
    if (sources > 1) {
        store_seterr(err, errlen,
                     "the redis password is given more than once (url, RXD_REDIS_PASSWORD, "
                     "RXD_REDIS_PASSWORD_FILE): keep one");
        return -1;
    }
    if (env && *env && !(st->password = store_strdup(env, strlen(env)))) {
        store_seterr(err, errlen, "out of memory");
        return -1;
    }
    if (file && *file) {
        if (!(st->password_file = store_strdup(file, strlen(file)))) {
            store_seterr(err, errlen, "out of memory");
            return -1;
        }
        /* unreadable now: say so at start, not only in the retry log */
        int rc = store_read_secret(file, st->secret, sizeof(st->secret), err, errlen);
        OPENSSL_cleanse(st->secret, sizeof(st->secret));
        return rc;
    }
    if (st->user && !st->password) {
        store_seterr(err, errlen,
                     "redis url \"%s\" names user %s without a password: set "
                     "RXD_REDIS_PASSWORD_FILE (or RXD_REDIS_PASSWORD)",
                     shown, st->user);
        return -1;
    }
    return 0;
}

/* ---- public ---- */

store *store_new(struct event_base *base, const char *url, int timeout_ms, char *err, size_t errlen)
{
    store *st;
    if (!base || timeout_ms <= 0) {
        store_seterr(err, errlen, "store_new: need an event base and a timeout > 0 ms");
        return NULL;
    }
    st = xcalloc(1, sizeof(*st));
    st->base = base;
    st->timeout_ms = timeout_ms;
    st->backoff_ms = STORE_BACKOFF_MIN_MS;
    char shown[512];
    store_url_redact(url, shown, sizeof(shown));
    if (store_url_parse(st, url, err, errlen) != 0 ||
        store_credentials(st, shown, err, errlen) != 0) {
        store_free(st);
        return NULL;
    }
    st->ev_reconnect = evtimer_new(base, store_on_reconnect_timer, st);
    st->ev_connect_timeout = evtimer_new(base, store_on_connect_timeout, st);
    st->ev_tick = evtimer_new(base, store_on_tick, st);
    st->ev_fail = evtimer_new(base, store_on_fail_timer, st);
    if (!st->ev_reconnect || !st->ev_connect_timeout || !st->ev_tick || !st->ev_fail) {
        store_seterr(err, errlen, "out of memory");
        store_free(st);
        return NULL;
    }
    store_connect(st); /* failures are retried in the background */
    return st;
}

void store_on_state(store *st, store_state_cb *cb, void *ctx)
{
    st->state_cb = cb;
    st->state_ctx = ctx;
}

int store_connected(const store *st)
{
    return st->ready;
}

const char *store_why(const store *st)
{
    if (st->ready)
        return NULL;
    return st->why[0] ? st->why : "redis not connected yet";
}

void store_free(store *st)
{
    store_req *req;
    if (!st || st->closing)
        return;
    st->closing = 1;
    st->ready = 0;
    for (store_guard *g = st->guard; g; g = g->prev)
        g->freed = 1;
    /* Requests still in hiredis: answer now, hiredis frees them later. */
    while ((req = st->pending.head)) {
        store_list_unlink(&st->pending, req);
        req->done = 1;
        req->cb(st, NULL, "store closed", req->ctx);
    }
    while ((req = st->failing.head)) {
        store_list_unlink(&st->failing, req);
        req->cb(st, NULL, "store closed", req->ctx);
        store_req_free(req);
    }
    if (st->ac) {
        redisAsyncContext *ac = st->ac;
        st->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* deferred by hiredis when inside one of its callbacks */
    }
    if (st->ev_reconnect)
        event_free(st->ev_reconnect);
    if (st->ev_connect_timeout)
        event_free(st->ev_connect_timeout);
    if (st->ev_tick)
        event_free(st->ev_tick);
    if (st->ev_fail)
        event_free(st->ev_fail);
    for (int i = 0; i < st->nsubs; i++) {
        free(st->subs[i]->pattern);
        free(st->subs[i]);
    }
    free(st->subs);
    for (int i = 0; i < st->nscripts; i++) {
        free(st->scripts[i].name);
        free(st->scripts[i].source);
    }
    free(st->scripts);
    if (st->password)
        OPENSSL_cleanse(st->password, strlen(st->password));
    OPENSSL_cleanse(st->secret, sizeof(st->secret));
    free(st->password);
    free(st->password_file);
    free(st->user);
    for (int i = 0; i < st->nlibs; i++) {
        free(st->libs[i].name);
        free(st->libs[i].source);
        free(st->libs[i].version);
        free(st->libs[i].version_fn);
    }
    free(st->libs);
    free(st->host);
    free(st->addr);
    free(st);
}

int store_cmd_argv_timeout(store *st, int timeout_ms, store_reply_cb *cb, void *ctx, int argc,
                           const char **argv, const size_t *argvlen)
{
    store_req *req = store_req_new(st, timeout_ms, cb, ctx);
    char *cmd;
    int len;
    if (!req)
        return -1;
    if (argc <= 0 || !argv) {
        store_fail_later(st, req, "empty redis command");
        return 0;
    }
    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0) {
        free(req);
        return -1;
    }
    store_submit(st, req, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return 0;
}

int store_cmd_argv(store *st, store_reply_cb *cb, void *ctx, int argc, const char **argv,
                   const size_t *argvlen)
{
    return store_cmd_argv_timeout(st, st->timeout_ms, cb, ctx, argc, argv, argvlen);
}

int store_cmd(store *st, store_reply_cb *cb, void *ctx, const char *fmt, ...)
{
    store_req *req = store_req_new(st, st->timeout_ms, cb, ctx);
    char *cmd;
    int len;
    va_list ap;
    if (!req)
        return -1;
    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len == -1) {
        store_fail_later(st, req, "bad redis command format string");
        return 0;
    }
    if (len < 0) {
        free(req);
        return -1;
    }
    store_submit(st, req, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return 0;
}

int store_script_add(store *st, const char *name, const char *source)
{
    store_script *sc;
    unsigned char md[SHA_DIGEST_LENGTH];
    if (!name || !source)
        return -1;
    st->scripts = xrealloc(st->scripts, sizeof(*st->scripts) * (size_t)(st->nscripts + 1));
    sc = &st->scripts[st->nscripts];
    sc->name = store_strdup(name, strlen(name));
    sc->source = store_strdup(source, strlen(source));
    if (!sc->name || !sc->source) {
        free(sc->name);
        free(sc->source);
        return -1;
    }
    SHA1((const unsigned char *)source, strlen(source), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        sprintf(sc->sha + 2 * i, "%02x", md[i]);
    return st->nscripts++;
}

/* Builds and sends "<verb> <name> <numkeys> argv...", the request kept so
 * that a NOSCRIPT or "Function not found" can send it again. The first
 * `owned` arguments are the caller's (verb, and name when it outlives the
 * request); the rest are copied. -1 when out of memory (req freed). */
static int store_send_call(store *st, store_req *req, const char *verb, const char *name, int owned,
                           int numkeys, int argc, const char **argv, const size_t *argvlen)
{
    char nk[16], *cmd;
    int n = argc + 3, len;
    req->owned = owned;
    req->argc = n;
    req->argv = xcalloc((size_t)n, sizeof(*req->argv));
    req->argvlen = xcalloc((size_t)n, sizeof(*req->argvlen));
    if (!req->argv || !req->argvlen)
        goto oom;
    req->argv[0] = verb;
    req->argvlen[0] = strlen(verb);
    req->argvlen[1] = strlen(name);
    req->argv[1] = owned >= 2 ? name : store_strdup(name, req->argvlen[1]);
    req->argvlen[2] = (size_t)snprintf(nk, sizeof(nk), "%d", numkeys);
    if (!req->argv[1] || !(req->argv[2] = store_strdup(nk, req->argvlen[2])))
        goto oom;
    for (int i = 0; i < argc; i++) {
        req->argvlen[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
        if (!(req->argv[i + 3] = store_strdup(argv[i], req->argvlen[i + 3])))
            goto oom;
    }
    len = redisFormatCommandArgv(&cmd, n, req->argv, req->argvlen);
    if (len < 0)
        goto oom;
    store_submit(st, req, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return 0;
oom:
    store_req_free(req);
    return -1;
}

/* A call's arguments as the caller gave them: 0 when usable, else the
 * request is failed on the next loop turn with the reason. */
static int store_check_call(store *st, store_req *req, int numkeys, int argc, const char **argv,
                            const char *what)
{
    if (argc < 0 || numkeys < 0 || numkeys > argc || (argc > 0 && !argv)) {
        store_fail_later(st, req, what);
        return -1;
    }
    return 0;
}

int store_eval(store *st, int script, store_reply_cb *cb, void *ctx, int numkeys, int argc,
               const char **argv, const size_t *argvlen)
{
    store_req *req = store_req_new(st, st->timeout_ms, cb, ctx);
    if (!req)
        return -1;
    if (script < 0 || script >= st->nscripts) {
        store_fail_later(st, req, "unknown script handle: register it with store_script_add");
        return 0;
    }
    if (store_check_call(st, req, numkeys, argc, argv,
                         "store_eval: numkeys must be between 0 and argc") != 0)
        return 0;
    req->script = script;
    return store_send_call(st, req, "EVALSHA", st->scripts[script].sha, 2, numkeys, argc, argv,
                           argvlen);
}

int store_lib_add(store *st, const char *name, const char *source, const char *version,
                  const char *version_fn)
{
    store_lib *l;
    int major, minor;
    if (!name || !source || !version_fn || store_lib_version(version, &major, &minor) != 0)
        return -1;
    st->libs = xrealloc(st->libs, sizeof(*st->libs) * (size_t)(st->nlibs + 1));
    l = &st->libs[st->nlibs];
    l->name = store_strdup(name, strlen(name));
    l->source = store_strdup(source, strlen(source));
    l->version = store_strdup(version, strlen(version));
    l->version_fn = store_strdup(version_fn, strlen(version_fn));
    l->major = major;
    l->minor = minor;
    if (!l->name || !l->source || !l->version || !l->version_fn) {
        free(l->name);
        free(l->source);
        free(l->version);
        free(l->version_fn);
        return -1;
    }
    return st->nlibs++;
}

int store_fcall(store *st, int lib, const char *fn, store_reply_cb *cb, void *ctx, int numkeys,
                int argc, const char **argv, const size_t *argvlen)
{
    store_req *req = store_req_new(st, st->timeout_ms, cb, ctx);
    if (!req)
        return -1;
    if (lib < 0 || lib >= st->nlibs || !fn) {
        store_fail_later(st, req, "unknown library handle: register it with store_lib_add");
        return 0;
    }
    if (store_check_call(st, req, numkeys, argc, argv,
                         "store_fcall: numkeys must be between 0 and argc") != 0)
        return 0;
    req->lib = lib;
    return store_send_call(st, req, "FCALL", fn, 1, numkeys, argc, argv, argvlen);
}

const char *store_problem(const store *st)
{
    return st->why[0] ? st->why : NULL;
}
