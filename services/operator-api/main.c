/* operator-api: the operator's HTTP API (docs/operator-api.md): list and
 * search orders, exceptions, the audit trail, the console map's live feed
 * and fleet snapshot, the last hour's figures, the actions that repair an
 * order (cancel, reassign, reroute, resend code, unlock, retry a held one)
 * and those on the fleet (bench a courier, open or close a pharmacy, pause
 * or resume intake in a zone). Who may do
 * what is auth_may's table (operator, desk, auditor); every action goes
 * through the state machine with the token's "<role>:<id>" as the actor and
 * a required reason, and is logged ("operator_action"). Nothing is kept in
 * this process. */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "gateway.h"
#include "ids.h"
#include "log.h"
#include "rx.h"

#define OPAPI_LIST_DEFAULT 50
#define OPAPI_OLDER_MAX_S (366L * 86400)
#define OPAPI_PARAM_MAX 128

typedef struct opapi {
    long long offer_deadline_ms; /* a named pharmacy's time to answer, as the router's offers */
} opapi;

/* ---- actions ---- */

/* One action: reads its own fields of the body (why: BODY_WHY_MAX bytes,
 * for a 400) and calls its typed operation. a->oid is the path's id. */
typedef int opapi_call_fn(const opapi *api, orders *o, const orders_op_action *a,
                          const json_t *body, char *why, orders_cb *cb, void *ctx);

typedef struct opapi_action {
    const char *collection; /* the path's first segment after v1 */
    const char *name;       /* its last segment */
    auth_perm perm;
    opapi_call_fn *call;
    const char *id_field;    /* the reply's name for the path's id */
    const char *count_field; /* the reply's name for res->count; NULL: none */
} opapi_action;

/* An optional id field of the body: "" when absent. */
static int opapi_body_id(const json_t *body, const char *name, const char **out, char *why)
{
    const json_t *v = json_object_get(body, name);
    *out = "";
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (!s || !ids_valid_key(s, strlen(s))) {
        snprintf(why, BODY_WHY_MAX, "'%s' must be %s", name, IDS_KEY_RULE);
        return -1;
    }
    *out = s;
    return 0;
}

static int opapi_cancel(const opapi *api, orders *o, const orders_op_action *a, const json_t *body,
                        char *why, orders_cb *cb, void *ctx)
{
    (void)api, (void)body, (void)why;
    return orders_op_cancel(o, a, cb, ctx);
}

static int opapi_reassign(const opapi *api, orders *o, const orders_op_action *a,
                          const json_t *body, char *why, orders_cb *cb, void *ctx)
{
    (void)api;
    const char *courier;
    if (opapi_body_id(body, "courier_id", &courier, why))
        return 1;
    return orders_op_reassign(o, a, courier, cb, ctx);
}

static int opapi_reroute(const opapi *api, orders *o, const orders_op_action *a, const json_t *body,
                         char *why, orders_cb *cb, void *ctx)
{
    const char *pharmacy;
    if (opapi_body_id(body, "pharmacy_id", &pharmacy, why))
        return 1;
    return orders_op_reroute(o, a, api->offer_deadline_ms, pharmacy, cb, ctx);
}

static int opapi_resend_code(const opapi *api, orders *o, const orders_op_action *a,
                             const json_t *body, char *why, orders_cb *cb, void *ctx)
{
    (void)api, (void)body, (void)why;
    return orders_op_resend_code(o, a, cb, ctx);
}

static int opapi_unlock(const opapi *api, orders *o, const orders_op_action *a, const json_t *body,
                        char *why, orders_cb *cb, void *ctx)
{
    (void)api;
    if (!json_is_true(json_object_get(body, "identity_checked"))) {
        snprintf(why, BODY_WHY_MAX,
                 "'identity_checked' must be true: check the patient's identity at the door first");
        return 1;
    }
    return orders_op_unlock(o, a, 1, cb, ctx);
}

static int opapi_retry(const opapi *api, orders *o, const orders_op_action *a, const json_t *body,
                       char *why, orders_cb *cb, void *ctx)
{
    (void)api, (void)body, (void)why;
    return orders_retry(o, a->oid, a->actor, a->reason, cb, ctx);
}

/* ---- fleet actions: a->oid is the courier's, pharmacy's or zone's id ---- */

static int opapi_bench(const opapi *api, orders *o, const orders_op_action *a, const json_t *body,
                       char *why, orders_cb *cb, void *ctx)
{
    (void)api, (void)body, (void)why;
    return orders_courier_bench(o, a->oid, a->actor, a->reason, 1, cb, ctx);
}

static int opapi_unbench(const opapi *api, orders *o, const orders_op_action *a, const json_t *body,
                         char *why, orders_cb *cb, void *ctx)
{
    (void)api, (void)body, (void)why;
    return orders_courier_bench(o, a->oid, a->actor, a->reason, 0, cb, ctx);
}

static int opapi_open(const opapi *api, orders *o, const orders_op_action *a, const json_t *body,
                      char *why, orders_cb *cb, void *ctx)
{
    (void)api, (void)body, (void)why;
    return orders_pharmacy_open(o, a->oid, a->actor, a->reason, 1, cb, ctx);
}

static int opapi_close(const opapi *api, orders *o, const orders_op_action *a, const json_t *body,
                       char *why, orders_cb *cb, void *ctx)
{
    (void)api, (void)body, (void)why;
    return orders_pharmacy_open(o, a->oid, a->actor, a->reason, 0, cb, ctx);
}

/* A number field of the body within [lo, hi]; -1 with why otherwise. */
static int opapi_body_num(const json_t *body, const char *name, double lo, double hi, double *out,
                          char *why)
{
    const json_t *v = json_object_get(body, name);
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        snprintf(why, BODY_WHY_MAX, "'%s' must be a number in [%g, %g]", name, lo, hi);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

/* {"kind": "circle", "lat", "lon", "radius_m"} or {"kind": "box",
 * "min_lat", "min_lon", "max_lat", "max_lon"}, each with an optional "crs"
 * (body_parse_crs), kept as WGS-84. */
static int opapi_zone_parse(const json_t *body, orders_zone *z, char *why)
{
    const char *kind = json_string_value(json_object_get(body, "kind"));
    if (kind && strcmp(kind, "circle") == 0) {
        z->kind = ORDERS_ZONE_CIRCLE;
        return body_parse_position(body, GEO_CRS_WGS84, &z->lat, &z->lon, why) ||
                       opapi_body_num(body, "radius_m", 1, 200000, &z->radius_m, why)
                   ? -1
                   : 0;
    }
    if (kind && strcmp(kind, "box") == 0) {
        geo_crs crs;
        z->kind = ORDERS_ZONE_BOX;
        if (opapi_body_num(body, "min_lat", -85, 85, &z->min_lat, why) ||
            opapi_body_num(body, "min_lon", -180, 180, &z->min_lon, why) ||
            opapi_body_num(body, "max_lat", -85, 85, &z->max_lat, why) ||
            opapi_body_num(body, "max_lon", -180, 180, &z->max_lon, why) ||
            body_parse_crs(body, GEO_CRS_WGS84, &crs, why))
            return -1;
        /* the corners, converted: the offset hardly changes across a city,
         * so the box stays a box */
        geo_crs_to_wgs84(crs, z->min_lat, z->min_lon, &z->min_lat, &z->min_lon);
        geo_crs_to_wgs84(crs, z->max_lat, z->max_lon, &z->max_lat, &z->max_lon);
        if (z->min_lat >= z->max_lat || z->min_lon >= z->max_lon) {
            snprintf(why, BODY_WHY_MAX, "a box needs min_lat < max_lat and min_lon < max_lon");
            return -1;
        }
        return 0;
    }
    snprintf(why, BODY_WHY_MAX,
             "'kind' must be \"circle\" (lat, lon, radius_m) or \"box\" "
             "(min_lat, min_lon, max_lat, max_lon)");
    return -1;
}

static int opapi_pause(const opapi *api, orders *o, const orders_op_action *a, const json_t *body,
                       char *why, orders_cb *cb, void *ctx)
{
    (void)api;
    orders_zone z = {.id = a->oid};
    if (opapi_zone_parse(body, &z, why))
        return 1;
    return orders_zone_pause(o, &z, a->actor, a->reason, cb, ctx);
}

static int opapi_resume(const opapi *api, orders *o, const orders_op_action *a, const json_t *body,
                        char *why, orders_cb *cb, void *ctx)
{
    (void)api, (void)body, (void)why;
    return orders_zone_resume(o, a->oid, a->actor, a->reason, cb, ctx);
}

/* Returns 1 (a 400 in why) rather than -1 (cannot queue: 503). */
static const opapi_action opapi_actions[] = {
    {"orders", "cancel", AUTH_PERM_ORDER_ACT, opapi_cancel, "order_id", NULL},
    {"orders", "reassign", AUTH_PERM_ORDER_ACT, opapi_reassign, "order_id", NULL},
    {"orders", "reroute", AUTH_PERM_ORDER_ACT, opapi_reroute, "order_id", NULL},
    {"orders", "resend-code", AUTH_PERM_ORDER_ACT, opapi_resend_code, "order_id", NULL},
    {"orders", "unlock", AUTH_PERM_ORDER_ACT, opapi_unlock, "order_id", NULL},
    {"orders", "retry", AUTH_PERM_ORDER_ACT, opapi_retry, "order_id", NULL},
    {"couriers", "bench", AUTH_PERM_COURIER_ACT, opapi_bench, "courier_id", NULL},
    {"couriers", "unbench", AUTH_PERM_COURIER_ACT, opapi_unbench, "courier_id", NULL},
    {"pharmacies", "open", AUTH_PERM_CONFIG, opapi_open, "pharmacy_id", "released"},
    {"pharmacies", "close", AUTH_PERM_CONFIG, opapi_close, "pharmacy_id", NULL},
    {"zones", "pause", AUTH_PERM_CONFIG, opapi_pause, "zone_id", NULL},
    {"zones", "resume", AUTH_PERM_CONFIG, opapi_resume, "zone_id", "released"},
};

static const opapi_action *opapi_action_find(const gw_req *r)
{
    for (size_t i = 0; i < sizeof(opapi_actions) / sizeof(opapi_actions[0]); i++)
        if (strcmp(r->path.seg[1], opapi_actions[i].collection) == 0 &&
            strcmp(r->path.seg[3], opapi_actions[i].name) == 0)
            return &opapi_actions[i];
    return NULL;
}

static void opapi_log_action(const gw_req *r, const char *outcome)
{
    const char *reason = json_string_value(json_object_get(r->body, "reason"));
    log_event(LOG_INFO, "operator_action", "{s:s, s:s, s:s, s:s, s:s, s:s}", "actor", r->holder,
              "action", r->path.seg[3], "target", r->path.seg[2], "reason", reason ? reason : "",
              "outcome", outcome, "request_id", r->request_id);
}

static void opapi_on_action(gw_req *r, const orders_result *res)
{
    if (res->status == ORDERS_REFUSED) {
        opapi_log_action(r, res->detail);
        gw_req_reply_error(r, 409, res->detail, "cannot %s %s while it is %s: %s", r->path.seg[3],
                           r->path.seg[2], res->state, res->detail);
        return;
    }
    if (res->status != ORDERS_OK) {
        gw_req_reply_error(r, 502, "bad_reply", "the state machine answered '%s'", res->word);
        return;
    }
    opapi_log_action(r, "done");
    const opapi_action *act = opapi_action_find(r);
    json_t *reply = json_pack("{s:s}", act->id_field, r->path.seg[2]);
    if (res->state && *res->state)
        json_object_set_new(reply, "state", json_string(res->state));
    if (res->detail && *res->detail)
        json_object_set_new(reply, "detail", json_string(res->detail));
    if (act->count_field)
        json_object_set_new(reply, act->count_field, json_integer(res->count));
    gw_req_reply_json(r, 200, reply);
}

/* POST /v1/<collection>/{id}/<action> {"reason": ..., ...} */
static void opapi_act(gw_req *r)
{
    const opapi_action *act = opapi_action_find(r);
    char reason[BODY_REASON_MAX + 1], why[BODY_WHY_MAX];
    if (!act) {
        gw_req_reply_error(r, 404, "not_found", "no such action");
        return;
    }
    if (gw_req_permit(r, act->perm))
        return;
    if (body_parse_reason(r->body, 1, reason, why)) {
        gw_req_reply_error(r, 400, "bad_request", "%s: say why, for the audit", why);
        return;
    }
    orders_op_action a = {r->path.seg[2], r->holder, reason};
    gw_call *c = gw_call_new(r, opapi_on_action);
    int rc = act->call(r->ctx, gw_req_orders(r), &a, r->body, why, gw_call_on_result, c);
    if (rc == 1) {
        free(c);
        gw_req_reply_error(r, 400, "bad_request", "%s", why);
        return;
    }
    gw_call_sent(c, act->name, rc);
}

/* ---- reads ---- */

static void opapi_on_json(gw_req *r, const orders_result *res)
{
    if (res->status == ORDERS_REFUSED) {
        gw_req_reply_error(r, 400, "bad_request", "%s: start again without it", res->detail);
        return;
    }
    json_t *view = json_loads(res->json, 0, NULL);
    gw_req_reply_json(r, 200, view ? view : json_object());
}

/* The query string's parameters. */
typedef struct opapi_query {
    struct evkeyvalq kv;
} opapi_query;

static void opapi_query_parse(gw_req *r, opapi_query *q)
{
    const char *s = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    /* it initialises kv first, whatever the text */
    evhttp_parse_query_str(s ? s : "", &q->kv);
}

/* A 400 for a read whose query string did not pass: q is let go. */
static void opapi_reply_bad_query(gw_req *r, opapi_query *q, const char *why)
{
    evhttp_clear_headers(&q->kv);
    gw_req_reply_error(r, 400, "bad_request", "%s", why);
}

/* 0 and *out (NULL when absent) when the parameter is absent or passes
 * valid within OPAPI_PARAM_MAX bytes; else -1 (the caller answers 400). */
static int opapi_param(opapi_query *q, const char *name, int (*valid)(const char *, size_t),
                       const char **out)
{
    *out = evhttp_find_header(&q->kv, name);
    if (*out && !**out)
        *out = NULL; /* "?cursor=" is no cursor */
    return *out && (strlen(*out) > OPAPI_PARAM_MAX || !valid(*out, strlen(*out))) ? -1 : 0;
}

static int opapi_state_valid(const char *s, size_t n)
{
    (void)n;
    return orders_state_is_live(s);
}

/* GET /v1/orders?state=&older_than_s=&pharmacy=&courier=&hospital=
 * &prescription=&limit=&cursor= */
static void opapi_list(gw_req *r)
{
    long older = 0, limit = OPAPI_LIST_DEFAULT;
    opapi_query q;
    orders_op_query oq = {0};
    if (gw_req_permit(r, AUTH_PERM_READ))
        return;
    opapi_query_parse(r, &q);
    const char *bad =
        opapi_param(&q, "state", opapi_state_valid, &oq.state) ? "state must be a live state "
                                                                 "(ROUTING, OFFERED, ACCEPTED, "
                                                                 "READY, COURIER_ASSIGNED, "
                                                                 "PICKED_UP, RETURNING)"
        : opapi_param(&q, "pharmacy", ids_valid_key, &oq.pharmacy_id) ? "pharmacy must be an id"
        : opapi_param(&q, "courier", ids_valid_key, &oq.courier_id)   ? "courier must be an id"
        : opapi_param(&q, "hospital", rx_text_valid, &oq.hospital)    ? "hospital must be text"
        : opapi_param(&q, "prescription", ids_valid, &oq.prescription_id)
            ? "prescription must be a prescription id"
        : opapi_param(&q, "cursor", rx_text_valid, &oq.cursor) ? "cursor must be a next_cursor"
        : http_query_int(r->req, "older_than_s", 0, 0, OPAPI_OLDER_MAX_S, &older)
            ? "older_than_s must be an integer of seconds, at most a year"
        : http_query_int(r->req, "limit", OPAPI_LIST_DEFAULT, 1, ORDERS_OP_LIST_MAX, &limit)
            ? "limit must be an integer in [1, 200]"
            : NULL;
    if (bad) {
        opapi_reply_bad_query(r, &q, bad);
        return;
    }
    oq.older_than_ms = older * 1000LL;
    oq.limit = (int)limit;
    /* the call formats its command at once: q may go after it */
    gw_req_call(r, opapi_on_json, orders_op_list, &oq);
    evhttp_clear_headers(&q.kv);
}

/* GET /v1/orders/{id} */
static void opapi_get(gw_req *r)
{
    if (gw_req_permit(r, AUTH_PERM_READ))
        return;
    gw_req_call(r, opapi_on_json, orders_get, r->path.seg[2]);
}

/* GET /v1/exceptions?offset=&count= */
static void opapi_exceptions(gw_req *r)
{
    long offset, count;
    if (gw_req_permit(r, AUTH_PERM_READ))
        return;
    if (http_query_int(r->req, "offset", 0, 0, 1000000, &offset) ||
        http_query_int(r->req, "count", 50, 1, 500, &count)) {
        gw_req_reply_error(r, 400, "bad_request",
                           "offset must be in [0, 1000000] and count in [1, 500]");
        return;
    }
    gw_req_call(r, opapi_on_json, orders_exceptions, offset, count);
}

static int opapi_stream_id_valid(const char *s, size_t n)
{
    size_t i = 0, dash = 0;
    for (; i < n; i++)
        if (s[i] == '-' && !dash && i > 0)
            dash = i;
        else if (s[i] < '0' || s[i] > '9')
            return 0;
    return dash > 0 && dash + 1 < n;
}

/* GET /v1/audit?count=&before= */
static void opapi_audit(gw_req *r)
{
    long count;
    const char *before;
    opapi_query q;
    if (gw_req_permit(r, AUTH_PERM_READ))
        return;
    opapi_query_parse(r, &q);
    if (http_query_int(r->req, "count", 50, 1, 500, &count) ||
        opapi_param(&q, "before", opapi_stream_id_valid, &before)) {
        opapi_reply_bad_query(r, &q,
                              "count must be in [1, 500] and before a next_before of a page");
        return;
    }
    gw_req_call(r, opapi_on_json, orders_op_audit, count, before ? before : "");
    evhttp_clear_headers(&q.kv);
}

/* GET /v1/zones: the paused zones and the orders each holds */
static void opapi_zones(gw_req *r)
{
    if (gw_req_permit(r, AUTH_PERM_READ))
        return;
    gw_call *c = gw_call_new(r, opapi_on_json);
    gw_call_sent(c, "orders_zones", orders_zones(gw_req_orders(r), gw_call_on_result, c));
}

/* How often a parked GET /v1/live looks for new events: the live stream
 * has no notices (one per event would wake every console for each). */
#define OPAPI_LIVE_EVERY_MS 500
#define OPAPI_LIVE_WAIT_MAX_S 30
#define OPAPI_FLEET_MAX 20000

/* GET /v1/live?after=&wait=: the events after the cursor, waiting up to
 * wait seconds for one (docs/operator-api.md, "Live map") */
static void opapi_live(gw_req *r)
{
    long wait;
    const char *after;
    opapi_query q;
    if (gw_req_permit(r, AUTH_PERM_READ))
        return;
    opapi_query_parse(r, &q);
    if (http_query_int(r->req, "wait", 0, 0, OPAPI_LIVE_WAIT_MAX_S, &wait) ||
        opapi_param(&q, "after", opapi_stream_id_valid, &after)) {
        opapi_reply_bad_query(r, &q,
                              "wait must be in [0, 30] seconds and after the id of an event or a "
                              "mark (absent: start from now)");
        return;
    }
    char cursor[64];
    snprintf(cursor, sizeof(cursor), "%s", after ? after : "");
    evhttp_clear_headers(&q.kv);
    gw_req_longpoll_every(r, orders_live, cursor, "events", (int)wait, OPAPI_LIVE_EVERY_MS);
}

/* GET /v1/fleet?kind=pharmacies|couriers&limit= */
static void opapi_fleet(gw_req *r)
{
    long limit;
    const char *kind;
    opapi_query q;
    if (gw_req_permit(r, AUTH_PERM_READ))
        return;
    opapi_query_parse(r, &q);
    kind = evhttp_find_header(&q.kv, "kind");
    if (!kind || (strcmp(kind, "pharmacies") != 0 && strcmp(kind, "couriers") != 0) ||
        http_query_int(r->req, "limit", 5000, 1, OPAPI_FLEET_MAX, &limit)) {
        opapi_reply_bad_query(r, &q, "kind must be pharmacies or couriers and limit in [1, 20000]");
        return;
    }
    const char *k = strcmp(kind, "pharmacies") == 0 ? "pharmacies" : "couriers";
    evhttp_clear_headers(&q.kv);
    gw_req_call(r, opapi_on_json, orders_fleet, k, limit);
}

/* GET /v1/figures?window_s=: the console's last-hour figures */
static void opapi_figures(gw_req *r)
{
    long window;
    if (gw_req_permit(r, AUTH_PERM_READ))
        return;
    if (http_query_int(r->req, "window_s", 3600, 60, 7200, &window)) {
        gw_req_reply_error(r, 400, "bad_request", "window_s must be in [60, 7200] seconds");
        return;
    }
    gw_req_call(r, opapi_on_json, orders_figures, window);
}

static const gw_route opapi_routes[] = {
    {EVHTTP_REQ_GET, "v1/figures", opapi_figures, GW_NO_BODY},
    {EVHTTP_REQ_GET, "v1/live", opapi_live, GW_NO_BODY},
    {EVHTTP_REQ_GET, "v1/fleet", opapi_fleet, GW_NO_BODY},
    {EVHTTP_REQ_GET, "v1/orders", opapi_list, GW_NO_BODY},
    {EVHTTP_REQ_GET, "v1/orders/*", opapi_get, GW_NO_BODY},
    {EVHTTP_REQ_GET, "v1/exceptions", opapi_exceptions, GW_NO_BODY},
    {EVHTTP_REQ_GET, "v1/audit", opapi_audit, GW_NO_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/cancel", opapi_act, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/reassign", opapi_act, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/reroute", opapi_act, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/resend-code", opapi_act, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/unlock", opapi_act, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/retry", opapi_act, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/couriers/*/bench", opapi_act, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/couriers/*/unbench", opapi_act, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/pharmacies/*/open", opapi_act, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/pharmacies/*/close", opapi_act, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_GET, "v1/zones", opapi_zones, GW_NO_BODY},
    {EVHTTP_REQ_POST, "v1/zones/*/pause", opapi_act, GW_BODY},
    {EVHTTP_REQ_POST, "v1/zones/*/resume", opapi_act, GW_OPTIONAL_BODY},
    {0, NULL, NULL, 0},
};

static int opapi_init(service *svc, void *ctx, char *err, size_t errlen)
{
    opapi *api = ctx;
    (void)err, (void)errlen;
    api->offer_deadline_ms = service_int(svc, "OFFER_DEADLINE_MS", 90000);
    return 0;
}

int main(int argc, char **argv)
{
    opapi api = {0};
    /* no long-polls: no notify subscription */
    return gateway_main("operator-api", argc, argv, NULL, opapi_routes, opapi_init, &api);
}
