/* orders_facts.h - the direct reads around the state machine (orders.h):
 * what the router and the dispatcher weigh before they call it (candidates
 * near a point, a pharmacy's or a courier's facts), and the lookups the
 * expiry and rxctl make. The keys they read are named here only. */
#ifndef RXD_ORDERS_FACTS_H
#define RXD_ORDERS_FACTS_H

#include <stdint.h>

#include "batch.h"
#include "orders.h"
#include "policy.h"
#include "route.h"

/* A lookup's answer. Strings point into the reply: valid during the
 * callback only. */
typedef struct orders_read {
    int failed; /* the read failed: reply and err say why (worker_reply_*) */
    const redisReply *reply;
    const char *err;
    int found;         /* the key or the fields exist */
    const char *value; /* orders_order_courier, orders_prescription_order */
    double lat, lon;   /* orders_pharmacy_point */
} orders_read;
typedef void orders_read_cb(void *ctx, const orders_read *r);

/* Where pharmacy id is registered (found, lat, lon). */
int orders_pharmacy_point(orders *o, const char *id, orders_read_cb *cb, void *ctx);
/* The courier an order is assigned to (value; "" when none). */
int orders_order_courier(orders *o, const char *oid, orders_read_cb *cb, void *ctx);
/* The order made from a prescription (found, value). */
int orders_prescription_order(orders *o, const char *prescription_id, orders_read_cb *cb,
                              void *ctx);

/* ---- candidates near a point: GEOSEARCH ... ASC COUNT n WITHDIST ---- */

typedef enum orders_geo { ORDERS_GEO_PHARMACIES, ORDERS_GEO_COURIERS } orders_geo;

#define ORDERS_NEAR_ARGC 12
typedef struct orders_near_cmd {
    char key[ORDERS_KEY_MAX], lat[32], lon[32], r[32], count[24];
    const char *argv[ORDERS_NEAR_ARGC];
} orders_near_cmd;

/* Fills c with the search of index which within radius_m of (lat, lon),
 * nearest first, at most count: send c->argv (ORDERS_NEAR_ARGC) with
 * store_cmd_argv or batch_cmd. */
void orders_near_prepare(const orders *o, orders_geo which, double lat, double lon, double radius_m,
                         long long count, orders_near_cmd *c);
/* The number of entries of its reply (0 when it is not a list). */
size_t orders_near_count(const redisReply *r);
/* Entry i: its id and distance; 0 when the entry is malformed. */
int orders_near_entry(const redisReply *r, size_t i, const char **id, double *dist_m);

/* ---- facts, read in one pipelined batch ---- */

/* What an order needs in stock: n codes and quantities. */
typedef struct orders_stock_need {
    size_t n;
    const char *const *codes;
    const uint32_t *qty;
} orders_stock_need;

/* Fills known, open, capacity, cold_chain, insurance, stock_known, load and
 * (when need->n) stock_ok of ph[0..n); need stays valid until done. A
 * pharmacy whose facts fail stays unknown, so ineligible. done(failed, ctx)
 * as batch_done_fn; -1 when out of memory (done is not called). */
int orders_pharmacy_facts(orders *o, route_pharmacy *ph, size_t n, const orders_stock_need *need,
                          batch_done_fn *done, void *ctx);
/* Fills available, cold_chain, capacity, ts_ms, lat, lon and load of
 * c[0..n); a courier without a hash or a position stays unavailable. */
int orders_courier_facts(orders *o, policy_courier *c, size_t n, batch_done_fn *done, void *ctx);

#endif
