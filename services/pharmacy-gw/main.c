/* pharmacy-gw: the pharmacy API of SPEC section 6 (registration, stock,
 * status, the offers long-poll, accept / reject / ready / collected /
 * returned), the operator's order endpoints (GET, cancel) and
 * deregistration (DELETE, refused while the pharmacy holds orders). Every change
 * goes through the state machine; nothing is kept in this process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "gateway.h"
#include "log.h"

#define PHGW_WAIT_MAX_S 30

static const char *phgw_id(const gw_req *r)
{
    return r->path.seg[2];
}

static void phgw_reply_400(gw_req *r, const char *why)
{
    gw_req_reply_error(r, 400, "bad_request", "%s", why);
}

static void phgw_on_registered(gw_req *r, const orders_result *res)
{
    (void)res;
    gw_req_reply_json(r, 200, json_pack("{s:s, s:b}", "pharmacy_id", phgw_id(r), "ok", 1));
}

/* PUT /v1/pharmacies/{id} (operator) */
static void phgw_put_pharmacy(gw_req *r)
{
    body_pharmacy b;
    char why[BODY_WHY_MAX];
    if (gw_req_authorize(r, AUTH_OPERATOR, NULL))
        return;
    if (body_parse_pharmacy(r->body, &b, why)) {
        phgw_reply_400(r, why);
        return;
    }
    orders_pharmacy_reg reg = {.id = phgw_id(r),
                               .name = b.name,
                               .lat = b.lat,
                               .lon = b.lon,
                               .open = b.open,
                               .capacity = b.capacity,
                               .cold = b.cold_chain,
                               .insurance = b.insurance_designated};
    gw_req_call(r, phgw_on_registered, orders_pharmacy_put, &reg);
}

/* The validated stock as the state machine's pharmacy_stock_all takes it:
 * one JSON argument, so that a catalogue of BODY_STOCK_MAX items is written
 * in one atomic call (an argument per item would pass the call's limit). */
static char *phgw_stock_json(const body_stock *b)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < b->n; i++)
        if (json_object_set_new(o, b->items[i].code, json_integer(b->items[i].qty))) {
            json_decref(o);
            return NULL;
        }
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* PUT /v1/pharmacies/{id}/stock (that pharmacy) */
static void phgw_put_stock(gw_req *r)
{
    body_stock b;
    char why[BODY_WHY_MAX];
    if (gw_req_authorize(r, AUTH_PHARMACY, phgw_id(r)))
        return;
    if (body_parse_stock(r->body, &b, why)) {
        phgw_reply_400(r, why);
        return;
    }
    char *items = phgw_stock_json(&b);
    body_stock_free(&b);
    if (!items) {
        gw_req_reply_error(r, 503, "unavailable", "out of memory; retry");
        return;
    }
    gw_req_call(r, phgw_on_registered, orders_pharmacy_stock_all, phgw_id(r), items);
    free(items); /* the command was formatted by the call */
}

/* PUT /v1/pharmacies/{id}/status (that pharmacy) */
static void phgw_put_status(gw_req *r)
{
    int open;
    char why[BODY_WHY_MAX];
    if (gw_req_authorize(r, AUTH_PHARMACY, phgw_id(r)))
        return;
    if (body_parse_status(r->body, &open, why)) {
        phgw_reply_400(r, why);
        return;
    }
    gw_req_call(r, phgw_on_registered, orders_pharmacy_status, phgw_id(r), open);
}

/* GET /v1/pharmacies/{id}/orders?wait=S (that pharmacy) */
static void phgw_get_orders(gw_req *r)
{
    long wait;
    if (gw_req_authorize(r, AUTH_PHARMACY, phgw_id(r)))
        return;
    if (http_query_int(r->req, "wait", 0, 0, PHGW_WAIT_MAX_S, &wait)) {
        gw_req_reply_error(r, 400, "bad_request", "wait must be an integer in [0, %d]",
                           PHGW_WAIT_MAX_S);
        return;
    }
    gw_req_longpoll(r, orders_offers, phgw_id(r), "orders", (int)wait);
}

/* POST /v1/orders/{id}/{accept|reject|ready|collected|returned} (the
 * offered pharmacy): the action is the last path segment. */
static void phgw_order_action(gw_req *r)
{
    char reason[BODY_REASON_MAX + 1] = "";
    char why[BODY_WHY_MAX];
    const char *action = r->path.seg[3];
    if (gw_req_authorize(r, AUTH_PHARMACY, NULL))
        return;
    if (strcmp(action, "reject") == 0 && body_parse_reason(r->body, 0, reason, why)) {
        phgw_reply_400(r, why);
        return;
    }
    gw_req_call(r, NULL, orders_pharmacy_act, phgw_id(r), r->who.id, action,
                *reason ? reason : "rejected");
}

static void phgw_on_order(gw_req *r, const orders_result *res)
{
    json_t *view = json_loads(res->json, 0, NULL);
    gw_req_reply_json(r, 200, view ? view : json_object());
}

/* GET /v1/orders/{id} (operator) */
static void phgw_get_order(gw_req *r)
{
    if (gw_req_authorize(r, AUTH_OPERATOR, NULL))
        return;
    gw_req_call(r, phgw_on_order, orders_get, phgw_id(r));
}

/* POST /v1/orders/{id}/cancel (operator) */
static void phgw_cancel_order(gw_req *r)
{
    char reason[BODY_REASON_MAX + 1] = "";
    char why[BODY_WHY_MAX];
    if (gw_req_authorize(r, AUTH_OPERATOR, NULL))
        return;
    if (body_parse_reason(r->body, 0, reason, why)) {
        phgw_reply_400(r, why);
        return;
    }
    gw_req_call(r, NULL, orders_cancel, "order", phgw_id(r),
                *reason ? reason : "cancelled by operator");
}

static void phgw_on_removed(gw_req *r, const orders_result *res)
{
    if (res->status == ORDERS_BUSY) {
        gw_req_reply_error(r, 409, "holds_orders",
                           "pharmacy %s holds %lld orders; close it (status open=false) and "
                           "deregister once they are collected, cancelled or handed over",
                           phgw_id(r), res->count);
        return;
    }
    gw_req_reply_json(r, 200,
                      json_pack("{s:s, s:b}", "pharmacy_id", phgw_id(r), "removed",
                                strcmp(res->detail, "removed") == 0));
}

/* DELETE /v1/pharmacies/{id} (operator) */
static void phgw_delete_pharmacy(gw_req *r)
{
    if (gw_req_authorize(r, AUTH_OPERATOR, NULL))
        return;
    gw_req_call(r, phgw_on_removed, orders_pharmacy_remove, phgw_id(r));
}

static const gw_route phgw_routes[] = {
    {EVHTTP_REQ_DELETE, "v1/pharmacies/*", phgw_delete_pharmacy, GW_NO_BODY},
    {EVHTTP_REQ_PUT, "v1/pharmacies/*", phgw_put_pharmacy, GW_BODY},
    {EVHTTP_REQ_PUT, "v1/pharmacies/*/stock", phgw_put_stock, GW_BODY},
    {EVHTTP_REQ_PUT, "v1/pharmacies/*/status", phgw_put_status, GW_BODY},
    {EVHTTP_REQ_GET, "v1/pharmacies/*/orders", phgw_get_orders, GW_NO_BODY},
    {EVHTTP_REQ_GET, "v1/orders/*", phgw_get_order, GW_NO_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/cancel", phgw_cancel_order, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/accept", phgw_order_action, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/reject", phgw_order_action, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/ready", phgw_order_action, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/collected", phgw_order_action, GW_OPTIONAL_BODY},
    {EVHTTP_REQ_POST, "v1/orders/*/returned", phgw_order_action, GW_OPTIONAL_BODY},
    {0, NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return gateway_main("pharmacy-gw", argc, argv, "ph", phgw_routes, NULL, NULL);
}
