/* courier-gw: the courier API of SPEC section 6 (positions, availability,
 * the assignments long-poll, accept / decline / pickup / deliver / fail)
 * and deregistration (DELETE, refused while the courier holds orders).
 * Every change goes through the state machine, which also checks that the
 * courier acting on an order is the one assigned to it; nothing is kept in
 * this process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "gateway.h"
#include "locbatch.h"
#include "log.h"
#include "mem.h"

#define COGW_WAIT_MAX_S 30

typedef struct cogw {
    long long max_wrong_codes; /* wrong handover codes before deliver locks */
    long long pickup_radius_m; /* a pickup needs the courier this near the pharmacy */
    long long pickup_age_s;    /* ... by a position at most this old */
    const char *pickup_proof;  /* "position" (or the pharmacy's handover) or "handover" only */
    long long future_ms;       /* how far ahead of our clock a position may be dated */
    locbatch positions;        /* position updates on their way to Redis */
} cogw;

/* The courier of /v1/couriers/{id}/..., the order of /v1/orders/{id}/... */
static const char *cogw_id(const gw_req *r)
{
    return r->path.seg[2];
}

static void cogw_reply_400(gw_req *r, const char *why)
{
    gw_req_reply_error(r, 400, "bad_request", "%s", why);
}

/* A position dated ahead of our clock by more than the allowed skew would
 * keep its courier looking fresh until that date: 400. (Old positions are
 * stored but cannot look fresh: freshness is judged from ts_ms.) */
static int cogw_check_time(gw_req *r, const cogw *cg, int64_t ts_ms, size_t i, size_t n)
{
    long long ahead = (long long)ts_ms - service_now_ms();
    if (ahead <= cg->future_ms)
        return 0;
    if (n > 1)
        gw_req_reply_error(r, 400, "bad_request",
                           "point %zu: ts_ms is %lld ms in the future; at most %lld ms allowed", i,
                           ahead, cg->future_ms);
    else
        gw_req_reply_error(r, 400, "bad_request",
                           "ts_ms is %lld ms in the future; at most %lld ms allowed", ahead,
                           cg->future_ms);
    return -1;
}

static void cogw_coord(char out[32], double v)
{
    snprintf(out, 32, "%.7f", v);
}

/* PUT /v1/couriers/{id}/location (that courier) */
static void cogw_put_location(gw_req *r)
{
    cogw *cg = r->ctx;
    body_point p;
    char why[BODY_WHY_MAX];
    if (gw_req_authorize(r, AUTH_COURIER, cogw_id(r)))
        return;
    if (body_parse_point(r->body, &p, why)) {
        cogw_reply_400(r, why);
        return;
    }
    if (cogw_check_time(r, cg, p.ts_ms, 0, 1) || gw_req_take(r, FAIRUSE_POSITIONS, 1))
        return;
    locbatch_add(&cg->positions, r, cogw_id(r), p.lat, p.lon, (long long)p.ts_ms);
}

static void cogw_on_locations(gw_req *r, const orders_result *res)
{
    gw_req_reply_json(
        r, 200,
        json_pack("{s:s, s:I}", "courier_id", cogw_id(r), "stored", (json_int_t)res->count));
}

/* The batch as the state machine takes it: [["lat","lon","ts_ms"], ...],
 * strings so that Lua stores exactly what a single point would store. */
static char *cogw_points_json(const body_points *b)
{
    json_t *a = json_array();
    for (size_t i = 0; i < b->n; i++) {
        char lat[32], lon[32], ts[24];
        cogw_coord(lat, b->pts[i].lat);
        cogw_coord(lon, b->pts[i].lon);
        snprintf(ts, sizeof(ts), "%lld", (long long)b->pts[i].ts_ms);
        json_array_append_new(a, json_pack("[s, s, s]", lat, lon, ts));
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* POST /v1/couriers/{id}/locations (that courier): a buffered batch, stored
 * in one atomic call, in the order sent */
static void cogw_post_locations(gw_req *r)
{
    const cogw *cg = r->ctx;
    char why[BODY_WHY_MAX];
    if (gw_req_authorize(r, AUTH_COURIER, cogw_id(r)))
        return;
    body_points *b = xmalloc(sizeof(*b)); /* 500 points: too big for the stack */
    if (body_parse_points(r->body, b, why)) {
        free(b);
        cogw_reply_400(r, why);
        return;
    }
    for (size_t i = 0; i < b->n; i++)
        if (cogw_check_time(r, cg, b->pts[i].ts_ms, i, b->n)) {
            free(b);
            return;
        }
    /* a batch spends one position per point: batches are not a way round
     * the position rate */
    if (gw_req_take(r, FAIRUSE_POSITIONS, (double)b->n)) {
        free(b);
        return;
    }
    char *pts = cogw_points_json(b);
    free(b);
    if (!pts) {
        gw_req_reply_error(r, 503, "unavailable", "out of memory; retry");
        return;
    }
    gw_req_call(r, cogw_on_locations, orders_courier_locs, cogw_id(r), pts);
    free(pts); /* the command was formatted by the call */
}

static void cogw_on_availability(gw_req *r, const orders_result *res)
{
    (void)res;
    gw_req_reply_json(r, 200, json_pack("{s:s, s:b}", "courier_id", cogw_id(r), "ok", 1));
}

/* PUT /v1/couriers/{id}/availability (that courier) */
static void cogw_put_availability(gw_req *r)
{
    body_availability b;
    char why[BODY_WHY_MAX];
    if (gw_req_authorize(r, AUTH_COURIER, cogw_id(r)))
        return;
    if (body_parse_availability(r->body, &b, why)) {
        cogw_reply_400(r, why);
        return;
    }
    gw_req_call(r, cogw_on_availability, orders_courier_avail, cogw_id(r), b.available,
                b.cold_chain, b.capacity);
}

/* GET /v1/couriers/{id}/assignments?wait=S (that courier) */
static void cogw_get_assignments(gw_req *r)
{
    long wait;
    if (gw_req_authorize(r, AUTH_COURIER, cogw_id(r)))
        return;
    if (http_query_int(r->req, "wait", 0, 0, COGW_WAIT_MAX_S, &wait)) {
        gw_req_reply_error(r, 400, "bad_request", "wait must be an integer in [0, %d]",
                           COGW_WAIT_MAX_S);
        return;
    }
    gw_req_longpoll(r, orders_assignments, cogw_id(r), "assignments", (int)wait);
}

/* The argument an action carries: the handover code for deliver, the
 * reason for decline (optional) and fail (required). -1 after a 400. */
static int cogw_action_arg(gw_req *r, const char *action, char *arg)
{
    char why[BODY_WHY_MAX];
    int rc = 0;
    if (strcmp(action, "deliver") == 0)
        rc = body_parse_handover(r->body, arg, why);
    else if (strcmp(action, "decline") == 0 || strcmp(action, "fail") == 0)
        rc = body_parse_reason(r->body, strcmp(action, "fail") == 0, arg, why);
    if (rc)
        cogw_reply_400(r, why);
    return rc;
}

/* A pickup the state machine refused: the courier is not shown to be at the
 * pharmacy. Anything else is the usual {"order_id", "state"}. */
static void cogw_on_action(gw_req *r, const orders_result *res)
{
    const cogw *cg = r->ctx;
    if (res->status != ORDERS_REFUSED) {
        gw_req_reply_json(r, 200,
                          json_pack("{s:s, s:s}", "order_id", cogw_id(r), "state", res->state));
        return;
    }
    const char *why = res->detail;
    if (strcmp(why, "handover_required") == 0) {
        gw_req_reply_error(r, 409, "handover_required",
                           "the pharmacy confirms this pickup (POST /v1/orders/%s/collected on "
                           "the pharmacy API); the order is yours once it has",
                           cogw_id(r));
        return;
    }
    long long dist = (long long)res->dist_m, age_ms = (long long)res->age_ms;
    if (dist < 0)
        gw_req_reply_error(r, 409, "not_at_pharmacy",
                           "no position of yours is known: send one from the pharmacy "
                           "(PUT /v1/couriers/{id}/location) and pick up again");
    else if (age_ms < 0)
        gw_req_reply_error(r, 409, "not_at_pharmacy",
                           "pickup needs a position from the last %lld s within %lld m of the "
                           "pharmacy; yours is dated %lld s ahead (check the app's clock): send "
                           "a position from the pharmacy and pick up again",
                           cg->pickup_age_s, cg->pickup_radius_m, -age_ms / 1000);
    else
        gw_req_reply_error(r, 409, "not_at_pharmacy",
                           "pickup needs a position from the last %lld s within %lld m of the "
                           "pharmacy; yours is %lld m away and %lld s old: send a position from "
                           "the pharmacy and pick up again, or ask the pharmacy to confirm the "
                           "handover",
                           cg->pickup_age_s, cg->pickup_radius_m, dist, age_ms / 1000);
}

/* POST /v1/orders/{id}/courier/{accept|decline|pickup|deliver|fail} (the
 * assigned courier: the state machine answers 403 to anyone else; a pickup
 * also needs proof of presence, see docs/courier-api.md) */
static void cogw_order_action(gw_req *r)
{
    const cogw *cg = r->ctx;
    const char *action = r->path.seg[4];
    char arg[BODY_REASON_MAX + 1] = "";
    if (gw_req_authorize(r, AUTH_COURIER, NULL))
        return;
    if (cogw_action_arg(r, action, arg))
        return;
    if (strcmp(action, "decline") == 0 && !*arg)
        snprintf(arg, sizeof(arg), "declined");
    orders_courier_action a = {.oid = cogw_id(r),
                               .courier_id = r->who.id,
                               .action = action,
                               .arg = arg,
                               .max_wrong_codes = cg->max_wrong_codes,
                               .radius_m = cg->pickup_radius_m,
                               .max_age_ms = cg->pickup_age_s * 1000,
                               .proof = cg->pickup_proof};
    gw_req_call(r, cogw_on_action, orders_courier_act, &a);
}

static void cogw_on_removed(gw_req *r, const orders_result *res)
{
    if (res->status == ORDERS_BUSY) {
        gw_req_reply_error(r, 409, "holds_orders",
                           "courier %s holds %lld orders; deliver, fail or decline them (or ask "
                           "the desk to reassign them) before deregistering",
                           cogw_id(r), res->count);
        return;
    }
    gw_req_reply_json(r, 200,
                      json_pack("{s:s, s:b}", "courier_id", cogw_id(r), "removed",
                                strcmp(res->detail, "removed") == 0));
}

/* DELETE /v1/couriers/{id} (that courier, or an operator) */
static void cogw_delete_courier(gw_req *r)
{
    int op = r->who.role == AUTH_OPERATOR;
    if (gw_req_authorize(r, op ? AUTH_OPERATOR : AUTH_COURIER, op ? NULL : cogw_id(r)))
        return;
    gw_req_call(r, cogw_on_removed, orders_courier_remove, cogw_id(r));
}

static const gw_route cogw_routes[] = {
    {EVHTTP_REQ_DELETE, "v1/couriers/*", cogw_delete_courier, GW_NO_BODY},
    {EVHTTP_REQ_PUT, "v1/couriers/*/location", cogw_put_location, GW_BODY},
    {EVHTTP_REQ_POST, "v1/couriers/*/locations", cogw_post_locations, GW_BODY},
    {EVHTTP_REQ_PUT, "v1/couriers/*/availability", cogw_put_availability, GW_BODY},
    {EVHTTP_REQ_GET, "v1/couriers/*/assignments", cogw_get_assignments, GW_NO_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/courier/accept", cogw_order_action, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/courier/decline", cogw_order_action, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/courier/pickup", cogw_order_action, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/courier/deliver", cogw_order_action, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/courier/fail", cogw_order_action, GW_OPTIONAL_BODY},
    {0, NULL, NULL, 0},
};

static int cogw_init(service *svc, void *ctx, char *err, size_t errlen)
{
    cogw *cg = ctx;
    cg->max_wrong_codes = service_int(svc, "HANDOVER_MAX_WRONG", 5);
    cg->pickup_radius_m = service_int(svc, "PICKUP_RADIUS_M", 300);
    cg->pickup_age_s = service_int(svc, "PICKUP_POSITION_MAX_AGE_S", 120);
    cg->pickup_proof = config_str(svc->cfg, "PICKUP_PROOF", "position");
    cg->future_ms = service_int(svc, "POSITION_FUTURE_MS", 60000);
    locbatch_init(&cg->positions, svc->base, svc->orders);
    if (cg->max_wrong_codes < 1) {
        snprintf(err, errlen, "RXD_HANDOVER_MAX_WRONG must be at least 1");
        return -1;
    }
    if (cg->pickup_radius_m < 10 || cg->pickup_radius_m > 5000) {
        snprintf(err, errlen, "RXD_PICKUP_RADIUS_M must be 10-5000 (metres)");
        return -1;
    }
    if (cg->pickup_age_s < 5 || cg->pickup_age_s > 3600) {
        snprintf(err, errlen, "RXD_PICKUP_POSITION_MAX_AGE_S must be 5-3600 (seconds)");
        return -1;
    }
    if (strcmp(cg->pickup_proof, "position") != 0 && strcmp(cg->pickup_proof, "handover") != 0) {
        snprintf(err, errlen,
                 "RXD_PICKUP_PROOF must be position (a fresh position near the pharmacy, or "
                 "the pharmacy's confirmation) or handover (the pharmacy's confirmation only)");
        return -1;
    }
    if (cg->future_ms < 0) {
        snprintf(err, errlen, "RXD_POSITION_FUTURE_MS must be 0 or more");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    cogw cg = {0};
    return gateway_main("courier-gw", argc, argv, "co", cogw_routes, cogw_init, &cg);
}
