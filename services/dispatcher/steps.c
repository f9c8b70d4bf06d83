/* steps.c - the dispatcher's Redis steps that its greedy jobs (dispatch.c)
 * and its batch rounds (round.c) share: reading a loaded order, the courier
 * search around its pharmacy, the couriers' facts, the atomic assignment,
 * and parking an order that no retry helps (steps.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "steps.h"
#include "worker.h"
#include "mem.h"

typedef struct dispatch_park_ctx {
    dispatcher *d;
    char oid[IDS_MAX + 1];
} dispatch_park_ctx;

static void dispatch_on_parked(void *ctx, const orders_result *res)
{
    dispatch_park_ctx *p = ctx;
    if (res->status == ORDERS_FAILED)
        log_event(LOG_ERROR, "dispatch_park_failed", "{s:s, s:s, s:s}", "order_id", p->oid, "error",
                  worker_reply_error(res->reply, res->err), "action",
                  "the order comes back once per lease; remove it from the queue by hand");
    else
        metric_add(p->d->m_parked, 1);
    free(p);
}

void dispatch_park(dispatcher *d, const char *queue, const char *oid, const char *why)
{
    metric_add(d->m_failed, 1);
    log_event(LOG_ERROR, "dispatch_failed", "{s:s, s:s, s:s, s:s}", "order_id", oid, "queue", queue,
              "error", why, "action",
              "the order is parked (<prefix>parked) and waits for an operator: look at its keys "
              "with `rxctl order` and redis-cli, fix them, and put it back with ZADD");
    dispatch_park_ctx *p = xcalloc(1, sizeof(*p));
    p->d = d;
    snprintf(p->oid, sizeof(p->oid), "%s", oid);
    char reason[256];
    snprintf(reason, sizeof(reason), "store_error: %s", why);
    if (orders_park(d->svc->orders, queue, oid, reason, dispatch_on_parked, p) != 0)
        free(p);
}

void dispatch_search_prepare(const dispatcher *d, const policy_order *o, orders_near_cmd *c)
{
    orders_near_prepare(d->svc->orders, ORDERS_GEO_COURIERS, o->lat, o->lon, d->radius_m,
                        d->candidates_max, c);
}

const char *dispatch_search_id(const redisReply *reply, size_t i)
{
    const char *id;
    double dist;
    return orders_near_entry(reply, i, &id, &dist) ? id : NULL;
}

/* The tried list is kept as JSON; the policy gets pointers into it. Lua's
 * cjson encodes an empty list as {}, hence the object check. */
static void dispatch_parse_tried(dispatch_loaded *l, const char *json)
{
    l->tried = json_loads(json, 0, NULL);
    if (!json_is_array(l->tried)) {
        json_decref(l->tried);
        l->tried = json_array();
    }
    size_t n = json_array_size(l->tried), i;
    json_t *v;
    l->tried_ids = xcalloc(n ? n : 1, sizeof(char *));
    json_array_foreach(l->tried, i, v)
    {
        l->tried_ids[i] = json_string_value(v);
    }
    l->order.tried = l->tried_ids;
    l->order.ntried = n;
}

/* skip (nothing to do: the order no longer waits for a courier), or ok
 * without its pharmacy's position */
const char *dispatch_loaded_parse(const orders_result *res, const char *oid, dispatch_loaded *l)
{
    if (res->status == ORDERS_FAILED)
        return NULL;
    if (res->status != ORDERS_OK || !res->has_point)
        return "skip";
    policy_order *o = &l->order;
    *o = (policy_order){.cold_chain = res->cold,
                        .urgent = res->urgent,
                        .lat = res->lat,
                        .lon = res->lon,
                        .ready_ms = res->ready_ms,
                        .pharmacy = l->pharmacy};
    snprintf(o->id, sizeof(o->id), "%s", oid);
    snprintf(l->pharmacy, sizeof(l->pharmacy), "%s", res->pharmacy);
    dispatch_parse_tried(l, res->tried_json);
    return "ok";
}

void dispatch_loaded_clear(dispatch_loaded *l)
{
    json_decref(l->tried);
    free(l->tried_ids);
    l->tried = NULL;
    l->tried_ids = NULL;
}

int dispatch_assign_call(dispatcher *d, const char *oid, const char *courier, double dist_m,
                         orders_cb *cb, void *ctx)
{
    return orders_assign(d->svc->orders, oid, courier, d->deadline_ms,
                         service_now_ms() - d->stale_ms, (int)(dist_m + 0.5), cb, ctx);
}
