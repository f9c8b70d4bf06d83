/* gateway.c - the shared HTTP front (see gateway.h). */
#include "gateway.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "body.h"
#include "cors.h"
#include "framing.h"
#include "ids.h"
#include "log.h"
#include "mem.h"

typedef struct gw_waiter gw_waiter;

/* Parked long-polls are kept by holder in hash buckets: a notification
 * looks at the waiters of one bucket, not at all of them (a pharmacy-gw
 * holds one long-poll per pharmacy: thousands). */
#define GW_BUCKETS 4096
/* Retry-After of a long-poll refused for the parked caps */
#define GW_PARKED_RETRY_S 2
/* how often holders that went quiet are forgotten */
#define GW_SWEEP_S 60

struct gateway {
    service *svc;
    struct evhttp *http;
    store *sub;
    const gw_route *routes;
    void *ctx;
    char secret[256];
    size_t body_limit;
    size_t header_limit;
    framing *framing;
    char channel_prefix[ORDERS_KEY_MAX];
    int inflight;
    int stopping;
    gw_waiter *bucket[GW_BUCKETS];
    fairuse *fair;
    struct event *sweep;
    metric *m_errors, *m_wakeups, *m_limited;
    /* per route (the table's index; the last: no route matched) */
    int nroutes;
    metric *(*m_requests)[5]; /* [route][status class] */
    metric **m_duration;      /* [route] */
    char reqid_prefix[16];
    unsigned long long reqid_seq;
    cors cors; /* RXD_CORS_ORIGINS: empty, no CORS headers at all */
};

/* A waiting long-poll. */
struct gw_waiter {
    gw_req *r;
    orders_view_fn *op;
    char holder[IDS_MAX + 1];
    char who[FAIRUSE_HOLDER_MAX + 1]; /* the token holder it is parked for */
    char field[24];
    struct event *timer;
    struct event *again; /* every_ms > 0: the next query of a view without notices */
    int every_ms;
    struct event *watch;      /* the client's socket, to see it hang up */
    int querying;             /* a query is in flight */
    int dirty;                /* woken while querying: query again */
    int expired;              /* the wait is over: answer whatever comes */
    int failed;               /* a query could not be queued: answer 503 */
    int gone;                 /* the client hung up while a query was in flight */
    gw_waiter *next, **pprev; /* in its bucket */
};

static gw_waiter **gw_bucket(gateway *gw, const char *holder)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)holder; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &gw->bucket[h % GW_BUCKETS];
}

static void gw_waiter_link(gateway *gw, gw_waiter *w)
{
    gw_waiter **head = gw_bucket(gw, w->holder);
    w->next = *head;
    if (w->next)
        w->next->pprev = &w->next;
    *head = w;
    w->pprev = head;
}

service *gateway_service(const gateway *gw)
{
    return gw->svc;
}

/* ---- access log and per-route metrics ---- */

static long long gw_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *gw_method_name(enum evhttp_cmd_type m)
{
    static const struct {
        enum evhttp_cmd_type m;
        const char *name;
    } names[] = {{EVHTTP_REQ_GET, "GET"},    {EVHTTP_REQ_POST, "POST"},
                 {EVHTTP_REQ_PUT, "PUT"},    {EVHTTP_REQ_DELETE, "DELETE"},
                 {EVHTTP_REQ_HEAD, "HEAD"},  {EVHTTP_REQ_OPTIONS, "OPTIONS"},
                 {EVHTTP_REQ_PATCH, "PATCH"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].m == m)
            return names[i].name;
    return "OTHER";
}

/* 1 while the client of req still waits: a reply to a request whose client
 * left frees it inside the send, so it cannot be read afterwards. */
static int gw_client_waits(struct evhttp_request *req)
{
    return req && evhttp_request_get_connection(req) != NULL;
}

/* Accounts for an answered request: its route's counter by status class and
 * duration, and the access log line. sent: the request after its reply
 * (status and length read from it), or NULL when the client had left
 * (logged as 499, as nginx does). */
static void gw_access(gateway *gw, const gw_req *r, struct evhttp_request *sent)
{
    int code = sent ? evhttp_request_get_response_code(sent) : 499;
    long long bytes = sent ? http_reply_bytes(sent) : 0;
    double secs = (double)(gw_now_us() - r->start_us) / 1e6;
    int ix = r->route_ix;
    metric_add(gw->m_requests[ix][http_status_class(code)], 1);
    metric_observe(gw->m_duration[ix], secs);
    /* one line per request at the location route's rate: no jansson here */
    const log_field f[] = {
        {"method", ix < gw->nroutes ? gw_method_name(gw->routes[ix].method) : "-", 0},
        {"route", ix < gw->nroutes ? gw->routes[ix].pattern : "unmatched", 0},
        {"status", NULL, code},
        {"duration_ms", NULL, (double)(long long)(secs * 1e6) / 1000.0},
        {"request_id", r->request_id, 0},
        {"holder", r->holder, 0},
        {"bytes", NULL, (double)bytes},
    };
    log_fields(LOG_INFO, "http_access", f, (int)(sizeof(f) / sizeof(f[0])));
}

/* Accounts for a reply just sent by one of the http_* helpers (which answer
 * themselves when they refuse); waited: gw_client_waits before sending. */
static void gw_access_sent(gateway *gw, const gw_req *r, int waited)
{
    gw_access(gw, r, waited ? r->req : NULL);
}

static void gw_req_free(gw_req *r)
{
    r->gw->inflight--;
    json_decref(r->body);
    free(r);
}

void gw_req_reply_json(gw_req *r, int code, json_t *body)
{
    int waited = gw_client_waits(r->req);
    http_reply_json(r->req, code, body);
    gw_access_sent(r->gw, r, waited);
    gw_req_free(r);
}

void gw_req_reply_bytes(gw_req *r, int code, const char *reason, const void *data, size_t len)
{
    int waited = gw_client_waits(r->req);
    struct evbuffer *buf = evbuffer_new();
    if (buf && evhttp_request_get_command(r->req) == EVHTTP_REQ_HEAD) {
        /* evhttp 2.1 would send a HEAD reply's body without its length */
        char n[24];
        snprintf(n, sizeof(n), "%zu", len);
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Length", n);
    } else if (buf && len > 0) {
        evbuffer_add_reference(buf, data, len, NULL, NULL);
    }
    evhttp_send_reply(r->req, code, reason, buf);
    if (buf)
        evbuffer_free(buf);
    gw_access_sent(r->gw, r, waited);
    gw_req_free(r);
}

void gw_req_reply_error(gw_req *r, int code, const char *ecode, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    metric_add(r->gw->m_errors, 1);
    int waited = gw_client_waits(r->req);
    http_reply_error(r->req, code, ecode, "%s", msg);
    gw_access_sent(r->gw, r, waited);
    gw_req_free(r);
}

int gw_req_authorize(gw_req *r, auth_role role, const char *id)
{
    int waited = gw_client_waits(r->req);
    if (http_authorize(r->req, &r->who, role, id) == 0)
        return 0;
    metric_add(r->gw->m_errors, 1);
    gw_access_sent(r->gw, r, waited);
    gw_req_free(r);
    return -1;
}

int gw_req_permit(gw_req *r, auth_perm perm)
{
    if (auth_may(r->who.role, perm))
        return 0;
    gw_req_reply_error(r, 403, "forbidden", "%s tokens may not use %s on this API",
                       auth_role_name(r->who.role), auth_perm_name(perm));
    return -1;
}

/* 429 with Retry-After (whole seconds, at least 1) and the JSON error. */
static void gw_reply_busy(gateway *gw, const gw_req *r, int64_t retry_ms, const char *ecode,
                          const char *msg)
{
    struct evhttp_request *req = r->req;
    int waited = gw_client_waits(req);
    char after[24];
    snprintf(after, sizeof(after), "%lld", (long long)(retry_ms + 999) / 1000);
    if (retry_ms < 1000)
        snprintf(after, sizeof(after), "1");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", after);
    metric_add(gw->m_limited, 1);
    metric_add(gw->m_errors, 1);
    http_reply_error(req, 429, ecode, "%s; retry after %s s", msg, after);
    gw_access_sent(gw, r, waited);
}

int gw_req_take(gw_req *r, fairuse_kind kind, double n)
{
    int64_t retry_ms;
    if (fairuse_take(r->gw->fair, kind, r->holder, n, service_now_ms(), &retry_ms) == 0)
        return 0;
    if (retry_ms < 0) {
        gw_req_reply_error(r, 413, "too_many_items",
                           "%.0f items at once is over this holder's burst; send fewer", n);
        return -1;
    }
    gw_reply_busy(r->gw, r, retry_ms, "rate_limited",
                  kind == FAIRUSE_POSITIONS ? "too many positions from this token"
                                            : "too many requests from this token");
    gw_req_free(r);
    return -1;
}

/* ---- state machine calls ---- */

struct gw_call {
    gw_req *r;
    gw_done_fn *done;
};

static const char *gw_order_id(const gw_req *r)
{
    return r->path.n >= 3 ? r->path.seg[2] : "";
}

/* An "err" reply: its mapped status, with a message that says what to do. */
static void gw_reply_refusal(gw_req *r, const orders_result *res)
{
    switch (res->error) {
    case ORDERS_E_NOT_FOUND:
        gw_req_reply_error(r, 404, "not_found", "no such order or resource");
        break;
    case ORDERS_E_FORBIDDEN:
        gw_req_reply_error(r, 403, "forbidden", "this order is not yours");
        break;
    case ORDERS_E_WRONG_CODE:
        gw_req_reply_error(r, 409, "wrong_handover_code",
                           "the handover code is wrong; %lld tries left", res->tries_left);
        break;
    case ORDERS_E_LOCKED:
        gw_req_reply_error(r, 429, "too_many_wrong_codes",
                           "too many wrong handover codes; report the delivery as failed");
        break;
    default:
        gw_req_reply_error(r, 409, "state_conflict", "not allowed while the order is %s",
                           *res->state ? res->state : "in its current state");
    }
}

void gw_call_on_result(void *ctx, const orders_result *res)
{
    gw_call *c = ctx;
    gw_req *r = c->r;
    gw_done_fn *done = c->done;
    free(c);
    if (res->status == ORDERS_FAILED) {
        log_event(LOG_WARN, "state_machine_call_failed", "{s:s}", "error",
                  res->err                        ? res->err
                  : res->reply && res->reply->str ? res->reply->str
                                                  : "bad reply");
        gw_req_reply_error(r, 503, "unavailable", "the order store is not reachable; retry");
        return;
    }
    if (res->status == ORDERS_ERR) {
        gw_reply_refusal(r, res);
        return;
    }
    if (done) {
        done(r, res);
        return;
    }
    gw_req_reply_json(r, 200,
                      json_pack("{s:s, s:s}", "order_id", gw_order_id(r), "state", res->state));
}

gw_call *gw_call_new(gw_req *r, gw_done_fn *done)
{
    gw_call *c = xmalloc(sizeof(*c));
    *c = (gw_call){r, done};
    return c;
}

void gw_call_sent(gw_call *c, const char *op, int rc)
{
    if (rc == 0)
        return;
    /* a call that cannot be queued never reaches gw_call_on_result: answer
     * here, or the request would hold its socket for ever */
    gw_req *r = c->r;
    free(c);
    log_event(LOG_WARN, "state_machine_call_refused", "{s:s}", "op", op);
    gw_req_reply_error(r, 503, "unavailable", "out of memory; retry");
}

orders *gw_req_orders(const gw_req *r)
{
    return r->gw->svc->orders;
}

/* ---- long-poll ---- */

static void gw_on_waiter_gone(struct evhttp_connection *conn, void *arg);

/* Takes w out of its bucket, the parked count and its connection's close
 * notice, and frees it (not its request). */
static void gw_waiter_unlink(gateway *gw, gw_waiter *w)
{
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    fairuse_unpark(gw->fair, w->who);
    event_free(w->timer);
    if (w->again)
        event_free(w->again);
    if (w->watch)
        event_free(w->watch);
    free(w);
}

/* The close notice must not outlive the waiter: the connection may carry
 * more requests after this one. */
static void gw_waiter_forget_conn(gw_waiter *w)
{
    if (!w->r->req)
        return;
    struct evhttp_connection *conn = evhttp_request_get_connection(w->r->req);
    if (conn)
        evhttp_connection_set_closecb(conn, NULL, NULL);
}

static void gw_waiter_answer(gw_waiter *w, int code, json_t *body)
{
    gateway *gw = w->r->gw;
    gw_waiter_forget_conn(w);
    if (code == 200)
        gw_req_reply_json(w->r, 200, body);
    else
        gw_req_reply_error(w->r, code, "unavailable", "the order store is not reachable; retry");
    gw_waiter_unlink(gw, w);
}

/* The client left: free what the long-poll holds (its request, when
 * gw_on_waiter_gone found it ours). */
static void gw_waiter_drop(gw_waiter *w)
{
    gateway *gw = w->r->gw;
    if (w->r->req)
        evhttp_request_free(w->r->req);
    gw_access(gw, w->r, NULL);
    gw_req_free(w->r);
    gw_waiter_unlink(gw, w);
}

static void gw_waiter_query(gw_waiter *w);

static void gw_on_poll_reply(void *ctx, const orders_result *res)
{
    gw_waiter *w = ctx;
    gateway *gw = w->r->gw;
    w->querying = 0;
    if (w->gone) {
        gw_waiter_drop(w);
        return;
    }
    if (res->status != ORDERS_OK) {
        gw_waiter_answer(w, 503, NULL);
        return;
    }
    const char *list = res->json;
    int empty = strcmp(list, "[]") == 0;
    if (!empty || w->expired || gw->stopping) {
        json_t *arr = json_loads(list, 0, NULL);
        if (!json_is_array(arr)) {
            json_decref(arr);
            arr = json_array();
        }
        gw_waiter_answer(w, 200, json_pack("{s:o}", w->field, arr));
        return;
    }
    if (w->dirty) {
        gw_waiter_query(w);
    } else if (w->again) {
        struct timeval tv = {w->every_ms / 1000, (w->every_ms % 1000) * 1000};
        evtimer_add(w->again, &tv);
    }
}

static void gw_on_waiter_again(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_waiter_query(arg);
}

static void gw_waiter_query(gw_waiter *w)
{
    if (w->querying) {
        w->dirty = 1;
        return;
    }
    w->querying = 1;
    w->dirty = 0;
    if (w->op(w->r->gw->svc->orders, w->holder, gw_on_poll_reply, w) != 0) {
        /* answered from the timer: the caller may be walking the bucket */
        w->querying = 0;
        w->failed = 1;
        event_active(w->timer, EV_TIMEOUT, 1);
    }
}

static void gw_on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_waiter *w = arg;
    w->expired = 1;
    if (w->failed) {
        gw_waiter_answer(w, 503, NULL);
        return;
    }
    gw_waiter_query(w);
}

static void gw_on_waiter_gone(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    gw_waiter *w = arg;
    /* a request evhttp already detached from the connection is ours to
     * free; one still attached goes with the connection, right after this */
    if (evhttp_request_get_connection(w->r->req))
        w->r->req = NULL;
    if (w->watch) { /* its descriptor is about to be closed */
        event_free(w->watch);
        w->watch = NULL;
    }
    if (w->querying) {
        w->gone = 1; /* freed when its reply comes */
        return;
    }
    gw_waiter_drop(w);
}

/* evhttp 2.1 stops reading a connection while its request is answered, so
 * it never sees a parked client hang up: the socket is watched here. EOF or
 * an error closes the connection (its close notice drops the waiter);
 * bytes of a next, pipelined request end the watch without a read. */
static void gw_on_waiter_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    gw_waiter *w = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
        return;
    struct evhttp_connection *conn = w->r->req ? evhttp_request_get_connection(w->r->req) : NULL;
    if (conn)
        evhttp_connection_free(conn); /* runs gw_on_waiter_gone */
}

static void gw_waiter_watch(gw_waiter *w, struct evhttp_connection *conn)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    if (bev && bufferevent_get_underlying(bev)) /* the framing filter's socket */
        bev = bufferevent_get_underlying(bev);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0)
        return;
    w->watch = event_new(w->r->gw->svc->base, fd, EV_READ, gw_on_waiter_readable, w);
    if (w->watch)
        event_add(w->watch, NULL);
}

void gw_req_longpoll(gw_req *r, orders_view_fn *op, const char *holder, const char *field,
                     int wait_s)
{
    gw_req_longpoll_every(r, op, holder, field, wait_s, 0);
}

void gw_req_longpoll_every(gw_req *r, orders_view_fn *op, const char *holder, const char *field,
                           int wait_s, int every_ms)
{
    gateway *gw = r->gw;
    int parked = fairuse_park(gw->fair, r->holder);
    if (parked != FAIRUSE_PARKED) {
        gw_reply_busy(gw, r, GW_PARKED_RETRY_S * 1000, "too_many_waits",
                      parked == FAIRUSE_HOLDER_FULL
                          ? "this token has as many long-polls waiting as it may"
                          : "this gateway has as many long-polls waiting as it may");
        gw_req_free(r);
        return;
    }
    gw_waiter *w = xcalloc(1, sizeof(*w));
    w->timer = evtimer_new(gw->svc->base, gw_on_waiter_timeout, w);
    w->every_ms = every_ms;
    if (every_ms > 0)
        w->again = evtimer_new(gw->svc->base, gw_on_waiter_again, w);
    if (!w->timer || (every_ms > 0 && !w->again)) {
        if (w->timer)
            event_free(w->timer);
        fairuse_unpark(gw->fair, r->holder);
        free(w);
        gw_req_reply_error(r, 503, "unavailable", "out of memory; retry");
        return;
    }
    w->r = r;
    w->op = op;
    snprintf(w->holder, sizeof(w->holder), "%s", holder);
    snprintf(w->who, sizeof(w->who), "%s", r->holder);
    snprintf(w->field, sizeof(w->field), "%s", field);
    w->expired = wait_s <= 0 || gw->stopping;
    struct timeval tv = {wait_s, 0};
    evtimer_add(w->timer, &tv);
    struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
    if (conn) {
        evhttp_connection_set_closecb(conn, gw_on_waiter_gone, w);
        gw_waiter_watch(w, conn);
    }
    /* registered before the first query, so a notice that lands while the
     * query is in flight triggers another one instead of being missed */
    gw_waiter_link(gw, w);
    gw_waiter_query(w);
}

static void gw_on_notify(const char *channel, const char *payload, size_t len, void *ctx)
{
    (void)payload;
    (void)len;
    gateway *gw = ctx;
    size_t plen = strlen(gw->channel_prefix);
    if (strncmp(channel, gw->channel_prefix, plen) != 0)
        return;
    const char *holder = channel + plen;
    metric_add(gw->m_wakeups, 1);
    for (gw_waiter *w = *gw_bucket(gw, holder); w; w = w->next)
        if (strcmp(w->holder, holder) == 0)
            gw_waiter_query(w);
}

/* ---- dispatch ---- */

static int gw_match(const char *pattern, const http_path *p)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", pattern);
    int i = 0;
    for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok;
         tok = strtok_r(NULL, "/", &save), i++) {
        if (strcmp(tok, "**") == 0)
            return 1;
        if (i >= p->n)
            return 0;
        if (strcmp(tok, "*") != 0 && strcmp(tok, p->seg[i]) != 0)
            return 0;
        if (strcmp(tok, "*") == 0 && !ids_valid_key(p->seg[i], strlen(p->seg[i])))
            return -1;
    }
    return i == p->n ? 1 : 0;
}

int gw_route_find(const gw_route *routes, enum evhttp_cmd_type method, const char *path,
                  http_path *p, const gw_route **route)
{
    *route = NULL;
    int split = http_path_split(path, p);
    if (split) {
        /* a whole-path catch-all (the web service's files) answers even a
         * path with no segments to split, so its headers are on the 404 */
        for (const gw_route *rt = routes; path && rt->pattern; rt++)
            if (rt->method == method && strcmp(rt->pattern, "**") == 0) {
                p->n = 0;
                *route = rt;
                return 0;
            }
        return split == -2 ? 400 : 404;
    }
    int path_known = 0, bad_id = 0;
    for (const gw_route *rt = routes; rt->pattern; rt++) {
        int m = gw_match(rt->pattern, p);
        bad_id |= m < 0;
        if (m > 0) {
            path_known = 1;
            if (rt->method == method) {
                *route = rt;
                return 0;
            }
        }
    }
    return path_known ? 405 : bad_id ? 400 : 404;
}

/* CORS for a listed Origin: the allow headers on whatever the request gets,
 * and a preflight (OPTIONS with Access-Control-Request-Method) answered
 * here, before routing and authentication: it carries no token. A preflight
 * from an origin not listed is refused 403 without CORS headers. Returns 1
 * when it answered. */
static int gw_cors(gateway *gw, gw_req *r)
{
    if (gw->cors.n == 0)
        return 0;
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    const char *origin = evhttp_find_header(in, "Origin");
    int allowed = cors_allows(&gw->cors, origin);
    evhttp_add_header(out, "Vary", "Origin");
    if (allowed) {
        evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
        evhttp_add_header(out, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
    }
    if (evhttp_request_get_command(r->req) != EVHTTP_REQ_OPTIONS ||
        !evhttp_find_header(in, "Access-Control-Request-Method"))
        return 0;
    if (!allowed) {
        metric_add(gw->m_errors, 1);
        http_reply_error(r->req, 403, "origin_not_allowed",
                         "this origin may not call this API; list it in RXD_CORS_ORIGINS");
    } else {
        evhttp_add_header(out, "Access-Control-Allow-Methods", CORS_ALLOW_METHODS);
        evhttp_add_header(out, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
        evhttp_add_header(out, "Access-Control-Max-Age", CORS_MAX_AGE_S);
        evhttp_send_reply(r->req, 204, "No Content", NULL);
    }
    gw_access_sent(gw, r, 1);
    return 1;
}

static void gw_on_request(struct evhttp_request *req, void *arg)
{
    gateway *gw = arg;
    gw_req tmp = {.gw = gw, .req = req, .start_us = gw_now_us(), .route_ix = gw->nroutes};
    http_request_id(req, gw->reqid_prefix, ++gw->reqid_seq, tmp.request_id);
    if (gw_cors(gw, &tmp))
        return;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const gw_route *route = NULL;
    int status = gw_route_find(gw->routes, evhttp_request_get_command(req),
                               uri ? evhttp_uri_get_path(uri) : NULL, &tmp.path, &route);
    if (status) {
        metric_add(gw->m_errors, 1);
        if (status == 405)
            http_reply_error(req, 405, "method_not_allowed", "method not allowed here");
        else if (status == 400)
            http_reply_error(req, 400, "bad_id", "ids in paths are " IDS_KEY_RULE);
        else
            http_reply_error(req, 404, "not_found", "no such endpoint");
        gw_access_sent(gw, &tmp, 1);
        return;
    }
    tmp.route_ix = (int)(route - gw->routes);
    if (gw->stopping) {
        http_reply_error(req, 503, "shutting_down", "this instance is shutting down; retry");
        gw_access_sent(gw, &tmp, 1);
        return;
    }
    int no_token = route->body & GW_OPEN; /* GW_OPEN: no holder either */
    if (!no_token && http_authenticate(req, gw->secret, &tmp.who)) {
        metric_add(gw->m_errors, 1);
        gw_access_sent(gw, &tmp, 1);
        return;
    }
    /* per token holder, not per address: many apps share a carrier's NAT,
     * and one holder's flood must not spend another's budget. Operators
     * are staff tools and bulk jobs: not limited. */
    if (!no_token)
        snprintf(tmp.holder, sizeof(tmp.holder), "%s:%s", auth_role_name(tmp.who.role), tmp.who.id);
    int64_t retry_ms;
    if (!no_token && tmp.who.role != AUTH_OPERATOR &&
        fairuse_take(gw->fair, FAIRUSE_REQUESTS, tmp.holder, 1, service_now_ms(), &retry_ms)) {
        gw_reply_busy(gw, &tmp, retry_ms, "rate_limited", "too many requests from this token");
        return;
    }
    json_t *body = NULL;
    size_t blen = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    int want = route->body & ~GW_OPEN;
    if (want == GW_BODY || (want == GW_OPTIONAL_BODY && blen > 0)) {
        body = http_read_json(req, gw->body_limit);
        if (!body) {
            metric_add(gw->m_errors, 1);
            gw_access_sent(gw, &tmp, 1);
            return;
        }
    }
    gw_req *r = xmalloc(sizeof(*r));
    *r = tmp;
    r->body = body;
    r->ctx = gw->ctx;
    gw->inflight++;
    route->fn(r);
}

/* The open-files limit bounds what may wait: each parked long-poll holds a
 * socket, and the gateway needs some to spare for Redis, Kafka and new
 * requests. */
static long long gw_parked_default(void)
{
    struct rlimit rl;
    long long cap = 8192;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (long long)rl.rlim_cur * 3 / 4 < cap)
        cap = (long long)rl.rlim_cur * 3 / 4;
    return cap;
}

/* The fair-use limits from RXD_* settings (see docs/configuration.md). */
static int gw_fair_new(gateway *gw, char *err, size_t errlen)
{
    service *svc = gw->svc;
    fairuse_limits l = {
        .rate = {[FAIRUSE_REQUESTS] = {(double)service_int(svc, "RATE_REQUESTS_PER_S", 20),
                                       (double)service_int(svc, "RATE_REQUESTS_BURST", 100)},
                 [FAIRUSE_POSITIONS] = {(double)service_int(svc, "RATE_POSITIONS_PER_S", 2),
                                        (double)service_int(svc, "RATE_POSITIONS_BURST", 1000)}},
        .parked_per_holder = (int)service_int(svc, "LONGPOLL_PER_HOLDER", 4),
        .parked_total = (int)service_int(svc, "LONGPOLL_MAX", gw_parked_default()),
    };
    if (l.rate[FAIRUSE_POSITIONS].per_s > 0 && l.rate[FAIRUSE_POSITIONS].burst < BODY_POINTS_MAX) {
        snprintf(err, errlen,
                 "RXD_RATE_POSITIONS_BURST must be at least %d (a full batch of positions)",
                 BODY_POINTS_MAX);
        return -1;
    }
    if (l.parked_per_holder < 1 || l.parked_total < 1) {
        snprintf(err, errlen, "RXD_LONGPOLL_PER_HOLDER and RXD_LONGPOLL_MAX must be at least 1");
        return -1;
    }
    gw->fair = fairuse_new(&l);
    if (!gw->fair) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static void gw_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gateway *gw = arg;
    fairuse_sweep(gw->fair, service_now_ms());
}

/* One counter per route and status class and one duration histogram per
 * route, made once: a request only adds to them. */
static void gw_route_metrics(gateway *gw, service *svc)
{
    while (gw->routes[gw->nroutes].pattern)
        gw->nroutes++;
    gw->m_requests = xcalloc((size_t)gw->nroutes + 1, sizeof(*gw->m_requests));
    gw->m_duration = xcalloc((size_t)gw->nroutes + 1, sizeof(*gw->m_duration));
    for (int i = 0; i <= gw->nroutes; i++) {
        char labels[160];
        if (i < gw->nroutes)
            snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\"",
                     gw_method_name(gw->routes[i].method), gw->routes[i].pattern);
        else
            snprintf(labels, sizeof(labels), "method=\"-\",route=\"unmatched\"");
        gw->m_duration[i] = metrics_histogram(svc->metrics, "http_request_duration_seconds", labels,
                                              "HTTP request duration by route (seconds)",
                                              metrics_latency_bounds, METRICS_LATENCY_NBOUNDS);
        size_t n = strlen(labels);
        for (int c = 0; c < 5; c++) {
            snprintf(labels + n, sizeof(labels) - n, ",status=\"%s\"", http_status_class_names[c]);
            gw->m_requests[i][c] = metrics_counter(svc->metrics, "http_requests_total", labels,
                                                   "HTTP requests by route and status class");
        }
    }
    const char *nonce = strrchr(svc->instance, ':');
    snprintf(gw->reqid_prefix, sizeof(gw->reqid_prefix), "%s", nonce ? nonce + 1 : "rxd");
}

/* The subscription that wakes long-polls: its own connection (a
 * subscribed connection takes no other commands). */
static int gw_subscribe(gateway *gw, service *svc, const char *notify_kind, char *err,
                        size_t errlen)
{
    gw->sub = store_new(svc->base, config_str(svc->cfg, "REDIS_URL", "redis://127.0.0.1:6379"),
                        (int)svc->redis_timeout_ms, err, errlen);
    if (!gw->sub)
        return -1;
    store_set_metrics(gw->sub, svc->metrics, "pubsub");
    orders_key_notify(svc->orders, gw->channel_prefix, notify_kind);
    char pattern[sizeof(gw->channel_prefix) + 2];
    snprintf(pattern, sizeof(pattern), "%s*", gw->channel_prefix);
    store_psubscribe(gw->sub, pattern, gw_on_notify, gw);
    return 0;
}

gateway *gateway_new(service *svc, const char *notify_kind, const gw_route *routes, void *ctx,
                     char *err, size_t errlen)
{
    gateway *gw = xcalloc(1, sizeof(*gw));
    gw->svc = svc;
    gw->routes = routes;
    gw->ctx = ctx;
    const char *secret = config_str(svc->cfg, "TOKEN_SECRET", NULL);
    if (!secret || strlen(secret) < 16 || strlen(secret) >= sizeof(gw->secret)) {
        snprintf(err, errlen,
                 "RXD_TOKEN_SECRET must be set to 16-255 characters shared by "
                 "every service");
        free(gw);
        return NULL;
    }
    snprintf(gw->secret, sizeof(gw->secret), "%s", secret);
    if (cors_parse(&gw->cors, config_str(svc->cfg, "CORS_ORIGINS", ""), err, errlen)) {
        free(gw);
        return NULL;
    }
    gw->body_limit = (size_t)service_int(svc, "BODY_LIMIT", 64 * 1024);
    if (gw_fair_new(gw, err, errlen)) {
        free(gw);
        return NULL;
    }
    int port = (int)service_int(svc, "HTTP_PORT", 8080);
    int timeout = (int)service_int(svc, "HTTP_TIMEOUT_S", 45);
    gw->http = http_listen(svc->base, config_str(svc->cfg, "HTTP_ADDR", "127.0.0.1"), port,
                           gw->body_limit, timeout, NULL, err, errlen);
    if (!gw->http) {
        fairuse_free(gw->fair);
        free(gw);
        return NULL;
    }
    evhttp_set_gencb(gw->http, gw_on_request, gw);
    gw->header_limit = (size_t)service_int(svc, "HEADER_LIMIT", 16 * 1024);
    gw->framing =
        framing_new(svc->base, gw->header_limit, gw->body_limit * 4, gw->body_limit, timeout);
    if (!gw->framing || gw->header_limit < 1024) {
        snprintf(err, errlen,
                 gw->framing ? "RXD_HEADER_LIMIT must be at least 1024" : "out of memory");
        framing_free(gw->framing);
        evhttp_free(gw->http);
        fairuse_free(gw->fair);
        free(gw);
        return NULL;
    }
    framing_install(gw->framing, gw->http);
    /* the framing watch refuses first; evhttp's own limit is a backstop */
    evhttp_set_max_headers_size(gw->http, (ev_ssize_t)gw->header_limit + 1024);
    if (notify_kind && gw_subscribe(gw, svc, notify_kind, err, errlen)) {
        evhttp_free(gw->http);
        framing_free(gw->framing);
        fairuse_free(gw->fair);
        free(gw);
        return NULL;
    }
    gw_route_metrics(gw, svc);
    gw->m_errors = metrics_counter(svc->metrics, "http_errors_total", NULL,
                                   "HTTP requests answered with an error");
    gw->m_wakeups = metrics_counter(svc->metrics, "longpoll_wakeups_total", NULL,
                                    "notifications that woke long-polls");
    gw->m_limited = metrics_counter(svc->metrics, "http_limited_total", NULL,
                                    "requests refused 429 by a per-holder limit");
    struct timeval every = {GW_SWEEP_S, 0};
    gw->sweep = event_new(svc->base, -1, EV_PERSIST, gw_on_sweep, gw);
    if (gw->sweep)
        event_add(gw->sweep, &every);
    return gw;
}

void gateway_stop(gateway *gw)
{
    gw->stopping = 1;
    for (size_t b = 0; b < GW_BUCKETS; b++)
        for (gw_waiter *w = gw->bucket[b]; w; w = w->next) {
            w->expired = 1;
            gw_waiter_query(w);
        }
}

int gateway_inflight(const gateway *gw)
{
    return gw->inflight;
}

int gateway_ready(const gateway *gw)
{
    return !gw->sub || store_connected(gw->sub);
}

void gateway_free(gateway *gw)
{
    if (!gw)
        return;
    for (size_t b = 0; b < GW_BUCKETS; b++)
        while (gw->bucket[b]) {
            gw_waiter *w = gw->bucket[b];
            gw->bucket[b] = w->next;
            gw_waiter_forget_conn(w); /* evhttp_free below closes it */
            event_free(w->timer);
            json_decref(w->r->body);
            free(w->r);
            free(w);
        }
    evhttp_free(gw->http);
    framing_free(gw->framing); /* after the connections that use it */
    store_free(gw->sub);
    if (gw->sweep)
        event_free(gw->sweep);
    fairuse_free(gw->fair);
    free(gw->m_requests);
    free(gw->m_duration);
    free(gw);
}

/* ---- the process ---- */

static void gateway_on_stop(service *svc, void *ctx)
{
    (void)svc;
    gateway_stop(ctx);
}

static int gateway_busy(service *svc, void *ctx)
{
    (void)svc;
    return gateway_inflight(ctx);
}

static int gateway_on_ready(service *svc, void *ctx, const char **why)
{
    (void)svc;
    if (!gateway_ready(ctx)) {
        *why = "redis subscription not connected";
        return 0;
    }
    return 1;
}

int gateway_main(const char *name, int argc, char **argv, const char *notify_kind,
                 const gw_route *routes, gateway_init_fn *init, void *ctx)
{
    char err[512];
    service *svc = service_new(name, argc, argv, SERVICE_PRODUCER, err, sizeof(err));
    if (!svc) {
        fprintf(stderr, "%s: %s\n", name, err);
        return 2;
    }
    gateway *gw = NULL;
    if ((init && init(svc, ctx, err, sizeof(err))) ||
        !(gw = gateway_new(svc, notify_kind, routes, ctx, err, sizeof(err)))) {
        fprintf(stderr, "%s: %s\n", name, err);
        service_free(svc);
        return 2;
    }
    service_set_hooks(svc, gateway_on_stop, gateway_busy, gateway_on_ready, gw);
    int rc = service_run(svc);
    gateway_free(gw);
    service_free(svc);
    return rc;
}
