/* orders_facts.c - the direct reads around the state machine (see
 * orders_facts.h): the key names and field lists of the hashes the Lua
 * library writes (lib_head.lua's okey, phkey, cokey), read by name here
 * and nowhere else. */
#include "orders_facts.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- single lookups ---- */

typedef enum orders_lookup_kind {
    ORDERS_L_POINT,  /* HMGET <ph> lat lon */
    ORDERS_L_STRING, /* HGET or GET: a string or nil */
} orders_lookup_kind;

typedef struct orders_lookup {
    orders_lookup_kind kind;
    orders_read_cb *cb;
    void *ctx;
} orders_lookup;

static void orders_on_lookup(store *st, redisReply *r, const char *err, void *arg)
{
    (void)st;
    orders_lookup l = *(orders_lookup *)arg;
    free(arg);
    orders_read res = {.reply = r, .err = err, .value = ""};
    if (err || !r || r->type == REDIS_REPLY_ERROR) {
        res.failed = 1;
    } else if (l.kind == ORDERS_L_POINT) {
        /* [lat, lon], nil each when the pharmacy is not registered */
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            res.failed = 1;
        else if (r->element[0]->type == REDIS_REPLY_STRING &&
                 r->element[1]->type == REDIS_REPLY_STRING) {
            res.found = 1;
            res.lat = atof(r->element[0]->str);
            res.lon = atof(r->element[1]->str);
        }
    } else if (r->type == REDIS_REPLY_STRING) {
        res.found = 1;
        res.value = r->str;
    }
    l.cb(l.ctx, &res);
}

static int orders_lookup_send(orders *o, orders_lookup_kind kind, int argc, const char **argv,
                              orders_read_cb *cb, void *ctx)
{
    orders_lookup *l = xmalloc(sizeof(*l));
    *l = (orders_lookup){kind, cb, ctx};
    if (store_cmd_argv(orders_store(o), orders_on_lookup, l, argc, argv, NULL) != 0) {
        free(l);
        return -1;
    }
    return 0;
}

int orders_pharmacy_point(orders *o, const char *id, orders_read_cb *cb, void *ctx)
{
    char key[ORDERS_KEY_MAX];
    const char *argv[] = {"HMGET", orders_key(o, key, "ph:%s", id), "lat", "lon"};
    return orders_lookup_send(o, ORDERS_L_POINT, 4, argv, cb, ctx);
}

int orders_order_courier(orders *o, const char *oid, orders_read_cb *cb, void *ctx)
{
    char key[ORDERS_KEY_MAX];
    const char *argv[] = {"HGET", orders_key(o, key, "ord:%s", oid), "courier"};
    return orders_lookup_send(o, ORDERS_L_STRING, 3, argv, cb, ctx);
}

int orders_prescription_order(orders *o, const char *prescription_id, orders_read_cb *cb, void *ctx)
{
    char key[ORDERS_KEY_MAX];
    const char *argv[] = {"GET", orders_key(o, key, "rx:%s", prescription_id)};
    return orders_lookup_send(o, ORDERS_L_STRING, 2, argv, cb, ctx);
}

/* ---- candidates near a point ---- */

void orders_near_prepare(const orders *o, orders_geo which, double lat, double lon, double radius_m,
                         long long count, orders_near_cmd *c)
{
    if (which == ORDERS_GEO_PHARMACIES)
        orders_key_pharmacy_geo(o, c->key);
    else
        orders_key_courier_geo(o, c->key);
    snprintf(c->lat, sizeof(c->lat), "%.7f", lat);
    snprintf(c->lon, sizeof(c->lon), "%.7f", lon);
    snprintf(c->r, sizeof(c->r), "%.0f", radius_m);
    snprintf(c->count, sizeof(c->count), "%lld", count);
    const char *argv[ORDERS_NEAR_ARGC] = {"GEOSEARCH", c->key,     "FROMLONLAT", c->lon,
                                          c->lat,      "BYRADIUS", c->r,         "m",
                                          "ASC",       "COUNT",    c->count,     "WITHDIST"};
    memcpy(c->argv, argv, sizeof(argv));
}

size_t orders_near_count(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

/* An entry is [member, distance]. */
int orders_near_entry(const redisReply *r, size_t i, const char **id, double *dist_m)
{
    if (i >= orders_near_count(r))
        return 0;
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_STRING)
        return 0;
    *id = e->element[0]->str;
    *dist_m = atof(e->element[1]->str);
    return 1;
}

/* ---- facts ---- */

/* A gather in flight: the caller's done and what the stock replies are
 * checked against. */
typedef struct orders_gather {
    const orders_stock_need *need;
    batch_done_fn *done;
    void *ctx;
} orders_gather;

static void orders_on_gathered(int failed, void *arg)
{
    orders_gather g = *(orders_gather *)arg;
    free(arg);
    g.done(failed, g.ctx);
}

/* A batch of facts reads whose end calls done(failed, ctx). */
static batch *orders_gather_begin(orders *o, const orders_stock_need *need, batch_done_fn *done,
                                  void *ctx)
{
    orders_gather *g = xmalloc(sizeof(*g));
    *g = (orders_gather){need, done, ctx};
    return batch_new(orders_store(o), orders_on_gathered, g);
}

#define ORDERS_HOLDER_FIELDS_MAX 8

/* A holder's hash fields (HMGET <kind>:<id>) and how many orders it holds
 * (SCARD <kind>:<id>:<set>): the two reads of a pharmacy or a courier. */
static void orders_holder_reads(batch *b, orders *o, const char *kind, const char *set,
                                const char *id, const char *const *fields, int nfields,
                                batch_reply_fn *on_hash, batch_reply_fn *on_load, void *item)
{
    mem_assert(nfields <= ORDERS_HOLDER_FIELDS_MAX);
    char key[ORDERS_KEY_MAX];
    const char *hash[2 + ORDERS_HOLDER_FIELDS_MAX] = {"HMGET",
                                                      orders_key(o, key, "%s:%s", kind, id)};
    memcpy(hash + 2, fields, sizeof(*fields) * (size_t)nfields);
    batch_cmd(b, on_hash, item, 2 + nfields, hash);
    const char *load[] = {"SCARD", orders_key(o, key, "%s:%s:%s", kind, id, set)};
    batch_cmd(b, on_load, item, 2, load);
}

static int orders_flag(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING && strcmp(e->str, "1") == 0;
}

static const char *orders_str(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING ? e->str : "";
}

static long orders_scard(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 0;
}

/* The pharmacy hash fields read, in this order. */
enum { PH_OPEN, PH_CAPACITY, PH_COLD, PH_INSURANCE, PH_STOCK_KNOWN, PH_NFIELDS };
static const char *const orders_ph_fields[PH_NFIELDS] = {"open", "capacity", "cold", "insurance",
                                                         "stock_known"};

static void orders_on_ph_hash(const redisReply *r, void *item, void *ctx)
{
    (void)ctx;
    route_pharmacy *ph = item;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != PH_NFIELDS ||
        r->element[PH_CAPACITY]->type != REDIS_REPLY_STRING)
        return; /* not registered: stays unknown, so ineligible */
    ph->known = 1;
    ph->open = orders_flag(r->element[PH_OPEN]);
    ph->capacity = atol(r->element[PH_CAPACITY]->str);
    ph->cold_chain = orders_flag(r->element[PH_COLD]);
    ph->insurance = orders_flag(r->element[PH_INSURANCE]);
    ph->stock_known = orders_flag(r->element[PH_STOCK_KNOWN]);
}

static void orders_on_ph_load(const redisReply *r, void *item, void *ctx)
{
    (void)ctx;
    ((route_pharmacy *)item)->load = orders_scard(r);
}

#define ORDERS_STOCK_MAX 128

static void orders_on_ph_stock(const redisReply *r, void *item, void *ctx)
{
    const orders_gather *g = ctx;
    route_pharmacy *ph = item;
    long long have[ORDERS_STOCK_MAX];
    size_t n = g->need->n;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
        return;
    for (size_t i = 0; i < n; i++)
        have[i] = r->element[i]->type == REDIS_REPLY_STRING ? atoll(r->element[i]->str) : -1;
    ph->stock_ok = route_stock_covers(n, g->need->qty, have);
}

int orders_pharmacy_facts(orders *o, route_pharmacy *ph, size_t n, const orders_stock_need *need,
                          batch_done_fn *done, void *ctx)
{
    if (need->n > ORDERS_STOCK_MAX)
        return -1;
    batch *b = orders_gather_begin(o, need, done, ctx);
    for (size_t i = 0; i < n; i++) {
        orders_holder_reads(b, o, "ph", "active", ph[i].id, orders_ph_fields, PH_NFIELDS,
                            orders_on_ph_hash, orders_on_ph_load, &ph[i]);
        if (!need->n)
            continue;
        char key[ORDERS_KEY_MAX];
        const char *stock[ORDERS_STOCK_MAX + 2] = {"HMGET",
                                                   orders_key(o, key, "ph:%s:stock", ph[i].id)};
        for (size_t k = 0; k < need->n; k++)
            stock[2 + k] = need->codes[k];
        batch_cmd(b, orders_on_ph_stock, &ph[i], (int)need->n + 2, stock);
    }
    batch_end(b);
    return 0;
}

/* The courier hash fields read, in this order. */
enum { CO_AVAILABLE, CO_COLD, CO_CAPACITY, CO_TS, CO_LAT, CO_LON, CO_BENCHED, CO_NFIELDS };
static const char *const orders_co_fields[CO_NFIELDS] = {"available", "cold", "capacity", "ts_ms",
                                                         "lat",       "lon",  "benched"};

static void orders_on_co_hash(const redisReply *r, void *item, void *ctx)
{
    (void)ctx;
    policy_courier *c = item;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != CO_NFIELDS ||
        r->element[CO_TS]->type != REDIS_REPLY_STRING ||
        r->element[CO_LAT]->type != REDIS_REPLY_STRING)
        return; /* no hash or no position: stays unavailable */
    /* benched by an operator (rxd_courier_bench): no new assignments */
    c->available = orders_flag(r->element[CO_AVAILABLE]) && !orders_flag(r->element[CO_BENCHED]);
    c->cold_chain = orders_flag(r->element[CO_COLD]);
    c->capacity = atol(orders_str(r->element[CO_CAPACITY]));
    c->ts_ms = atoll(r->element[CO_TS]->str);
    c->lat = atof(r->element[CO_LAT]->str);
    c->lon = atof(orders_str(r->element[CO_LON]));
}

static void orders_on_co_load(const redisReply *r, void *item, void *ctx)
{
    (void)ctx;
    ((policy_courier *)item)->load = orders_scard(r);
}

int orders_courier_facts(orders *o, policy_courier *c, size_t n, batch_done_fn *done, void *ctx)
{
    static const orders_stock_need none = {0, NULL, NULL};
    batch *b = orders_gather_begin(o, &none, done, ctx);
    for (size_t i = 0; i < n; i++)
        orders_holder_reads(b, o, "co", "orders", c[i].id, orders_co_fields, CO_NFIELDS,
                            orders_on_co_hash, orders_on_co_load, &c[i]);
    batch_end(b);
    return 0;
}
