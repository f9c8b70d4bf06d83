/* gateway.h - the HTTP front shared by pharmacy-gw, courier-gw and operator-api: a route
 * table over evhttp, the token check of every request, JSON bodies, calls
 * into the state machine mapped to HTTP statuses, and long-polls woken by
 * Redis pub/sub the moment something arrives for their holder. */
#ifndef RXD_GATEWAY_H
#define RXD_GATEWAY_H

#include <event2/http.h>
#include <jansson.h>

#include "auth.h"
#include "fairuse.h"
#include "http.h"
#include "service.h"

typedef struct gateway gateway;

/* One request in flight. Freed by the gw_req_reply_* call that answers it. */
typedef struct gw_req {
    gateway *gw;
    struct evhttp_request *req;
    auth_claims who;
    char holder[FAIRUSE_HOLDER_MAX + 1]; /* "role:id" of the token, for fair use */
    http_path path;
    json_t *body; /* NULL for a request without a body */
    void *ctx;    /* gateway_new's ctx */
    /* for the access log and the per-route metrics */
    long long start_us; /* monotonic */
    int route_ix;       /* in the route table; the table's length: none matched */
    char request_id[HTTP_REQUEST_ID_MAX + 1];
} gw_req;

typedef void gw_handler(gw_req *r);

/* A route's body flags; | GW_OPEN: the route takes no token (the web
 * service's files and login): no authentication and no per-holder fair use
 * (r->who and r->holder are empty). */
enum { GW_NO_BODY = 0, GW_BODY = 1, GW_OPTIONAL_BODY = 2, GW_OPEN = 4 };

typedef struct gw_route {
    enum evhttp_cmd_type method;
    /* e.g. "v1/orders/<*>/accept": a "*" matches one id segment; a last
     * "**" matches any rest of the path (the handler reads the raw path) */
    const char *pattern;
    gw_handler *fn;
    int body;
} gw_route;

/* Which route of routes serves method on path (pure: no request needed,
 * so the fuzzer drives what the gateway runs). Fills p with the path's
 * decoded segments and *route, and returns 0; or the status to answer:
 * 404 (no such path), 400 (a '*' segment that is not a key id, or a
 * segment too long or with a NUL), 405 (the path exists for another
 * method). A route "**" takes every path of its method, even one that
 * cannot be split. */
int gw_route_find(const gw_route *routes, enum evhttp_cmd_type method, const char *path,
                  http_path *p, const gw_route **route);

/* notify_kind: "ph" or "co" (the state machine's notify:<kind>:<id>
 * channels), or NULL for a gateway without long-polls (no subscription;
 * the Redis ACL allows only those channels). routes ends with an entry
 * whose pattern is NULL. */
gateway *gateway_new(service *svc, const char *notify_kind, const gw_route *routes, void *ctx,
                     char *err, size_t errlen);
void gateway_free(gateway *gw);
/* The whole life of a gateway process: builds the service (with a Kafka
 * producer whose state shows in /metrics and the log, but not in readiness:
 * a gateway needs Redis only), answers CORS (RXD_CORS_ORIGINS: cors.h) before
 * routing, lets init read the gateway's own settings into
 * ctx (init may be NULL; it returns -1 with a message in err to refuse to
 * start), serves until SIGTERM has drained the requests in flight, and
 * returns the exit code. */
typedef int gateway_init_fn(service *svc, void *ctx, char *err, size_t errlen);
int gateway_main(const char *name, int argc, char **argv, const char *notify_kind,
                 const gw_route *routes, gateway_init_fn *init, void *ctx);

/* Requests being answered or long-polls waiting. */
int gateway_inflight(const gateway *gw);
/* Stops accepting: answers waiting long-polls now. */
void gateway_stop(gateway *gw);
int gateway_ready(const gateway *gw);
service *gateway_service(const gateway *gw);

void gw_req_reply_json(gw_req *r, int code, json_t *body);
/* Answers len bytes of data (not copied: they must outlive the reply; the
 * web service's files, loaded once), with the headers the caller set on the
 * request's output headers; a HEAD request gets the length and no body. */
void gw_req_reply_bytes(gw_req *r, int code, const char *reason, const void *data, size_t len);
void gw_req_reply_error(gw_req *r, int code, const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 0 when the token's holder may act for (role, id); else replies 403. */
int gw_req_authorize(gw_req *r, auth_role role, const char *id);
/* 0 when the token's role holds perm (auth_may: the operator API's staff
 * roles); else replies 403. */
int gw_req_permit(gw_req *r, auth_perm perm);

/* 0 when the token's holder may spend n of kind now; else answers 429
 * with Retry-After (413 when n is beyond what the holder may ever spend at
 * once) and returns -1. */
int gw_req_take(gw_req *r, fairuse_kind kind, double n);

/* Runs a state-machine operation for r: gw_req_call(r, done, orders_op,
 * args...) calls orders_op(orders, args..., cb, ctx). A failed call answers
 * 503, an "err" reply answers its mapped status (404/403/409/429);
 * otherwise done(r, res) answers (NULL: {"order_id":..,"state":..} from the
 * path's order id and the reply's state). */
typedef void gw_done_fn(gw_req *r, const orders_result *res);
typedef struct gw_call gw_call;
#define gw_req_call(r, done, op, ...)                                                              \
    do {                                                                                           \
        gw_call *gw_c_ = gw_call_new((r), (done));                                                 \
        gw_call_sent(gw_c_, #op, op(gw_req_orders(r), __VA_ARGS__, gw_call_on_result, gw_c_));     \
    } while (0)
/* The parts of gw_req_call: rc is the op's: not 0 answers 503. */
gw_call *gw_call_new(gw_req *r, gw_done_fn *done);
void gw_call_sent(gw_call *c, const char *op, int rc);
orders_cb gw_call_on_result;
orders *gw_req_orders(const gw_req *r);

/* Long-poll: answers {"<field>": [...]} from the view op(holder) as soon as
 * it is non-empty, or after wait_s seconds with what there is. Over the
 * parked caps (per token holder, in total) it answers 429 at once; a
 * long-poll whose client hangs up is dropped then, not at its deadline. */
void gw_req_longpoll(gw_req *r, orders_view_fn *op, const char *holder, const char *field,
                     int wait_s);
/* The same for a view no notice wakes (the operator console's live feed):
 * asked again every every_ms while it is empty. */
void gw_req_longpoll_every(gw_req *r, orders_view_fn *op, const char *holder, const char *field,
                           int wait_s, int every_ms);

#endif
