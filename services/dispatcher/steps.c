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

typedef struct dispatch_park_ctx {
    dispatcher *d;
    char oid[IDS_MAX + 1];
} dispatch_park_ctx;

static void dispatch_on_parked(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    dispatch_park_ctx *p = ctx;
    if (!orders_status(reply))
        log_event(LOG_ERROR, "dispatch_park_failed", "{s:s, s:s, s:s}", "order_id", p->oid, "error",
                  worker_reply_error(reply, err), "action",
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
    dispatch_park_ctx *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->d = d;
    snprintf(p->oid, sizeof(p->oid), "%s", oid);
    char reason[256];
    snprintf(reason, sizeof(reason), "store_error: %s", why);
    const char *argv[] = {queue, oid, reason};
    orders_call(d->svc->orders, dispatch_on_parked, p, "park", 3, argv);
}

static int dispatch_flag(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING && strcmp(e->str, "1") == 0;
}

static const char *dispatch_str(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING ? e->str : "";
}

/* HMGET available cold capacity ts_ms lat lon. A courier without a hash
 * (or without a position) stays unavailable, so ineligible. */
void dispatch_fact_hash(const redisReply *r, void *item, void *ctx)
{
    (void)ctx;
    policy_courier *c = item;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6 ||
        r->element[3]->type != REDIS_REPLY_STRING || r->element[4]->type != REDIS_REPLY_STRING)
        return;
    c->available = dispatch_flag(r->element[0]);
    c->cold_chain = dispatch_flag(r->element[1]);
    c->capacity = atol(dispatch_str(r->element[2]));
    c->ts_ms = atoll(r->element[3]->str);
    c->lat = atof(r->element[4]->str);
    c->lon = atof(dispatch_str(r->element[5]));
}

void dispatch_fact_load(const redisReply *r, void *item, void *ctx)
{
    (void)ctx;
    policy_courier *c = item;
    c->load = r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 0;
}

void dispatch_gather_cmds(dispatcher *d, batch *b, policy_courier *c)
{
    char key[ORDERS_KEY_MAX];
    const char *hash[] = {"HMGET",     orders_key(d->svc->orders, key, "co:%s", c->id),
                          "available", "cold",
                          "capacity",  "ts_ms",
                          "lat",       "lon"};
    batch_cmd(b, dispatch_fact_hash, c, 8, hash);
    const char *load[] = {"SCARD", orders_key(d->svc->orders, key, "co:%s:orders", c->id)};
    batch_cmd(b, dispatch_fact_load, c, 2, load);
}

void dispatch_search_prepare(const dispatcher *d, const policy_order *o, dispatch_search_args *a)
{
    snprintf(a->lat, sizeof(a->lat), "%.7f", o->lat);
    snprintf(a->lon, sizeof(a->lon), "%.7f", o->lon);
    snprintf(a->r, sizeof(a->r), "%.0f", d->radius_m);
    snprintf(a->count, sizeof(a->count), "%lld", d->candidates_max);
    const char *argv[DISPATCH_SEARCH_ARGC] = {
        "GEOSEARCH",  orders_key(d->svc->orders, a->key, "idx:co:geo"),
        "FROMLONLAT", a->lon,
        a->lat,       "BYRADIUS",
        a->r,         "m",
        "ASC",        "COUNT",
        a->count,     "WITHDIST"};
    memcpy(a->argv, argv, sizeof(argv));
}

const char *dispatch_search_id(const redisReply *reply, size_t i)
{
    const redisReply *e = reply->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return NULL;
    return e->element[0]->str;
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
    l->tried_ids = calloc(n ? n : 1, sizeof(char *));
    json_array_foreach(l->tried, i, v)
    {
        l->tried_ids[i] = json_string_value(v);
    }
    l->order.tried = l->tried_ids;
    l->order.ntried = n;
}

/* dispatch_load reply: ok pharmacy plat plon cold priority ready_ms tried_json,
 * or skip state (nothing to do: the order no longer waits for a courier) */
const char *dispatch_loaded_parse(const redisReply *reply, const char *oid, dispatch_loaded *l)
{
    const char *status = orders_status(reply);
    if (!status)
        return NULL;
    if (strcmp(status, "ok") != 0 || !*orders_field(reply, 2))
        return "skip";
    policy_order *o = &l->order;
    *o = (policy_order){.cold_chain = strcmp(orders_field(reply, 4), "1") == 0,
                        .urgent = strcmp(orders_field(reply, 5), "1") == 0,
                        .lat = atof(orders_field(reply, 2)),
                        .lon = atof(orders_field(reply, 3)),
                        .ready_ms = atoll(orders_field(reply, 6)),
                        .pharmacy = l->pharmacy};
    snprintf(o->id, sizeof(o->id), "%s", oid);
    snprintf(l->pharmacy, sizeof(l->pharmacy), "%s", orders_field(reply, 1));
    dispatch_parse_tried(l, orders_field(reply, 7));
    return "ok";
}

void dispatch_loaded_clear(dispatch_loaded *l)
{
    json_decref(l->tried);
    free(l->tried_ids);
    l->tried = NULL;
    l->tried_ids = NULL;
}

void dispatch_assign_call(dispatcher *d, const char *oid, const char *courier, double dist_m,
                          store_reply_cb *cb, void *ctx)
{
    char deadline[24], min_ts[24], dist[24];
    snprintf(deadline, sizeof(deadline), "%lld", d->deadline_ms);
    snprintf(min_ts, sizeof(min_ts), "%lld", service_now_ms() - d->stale_ms);
    snprintf(dist, sizeof(dist), "%d", (int)(dist_m + 0.5));
    const char *argv[] = {oid, courier, deadline, min_ts, dist};
    orders_call(d->svc->orders, cb, ctx, "assign", 5, argv);
}
