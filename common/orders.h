/* orders.h - the typed C face of the order state machine (the rxd_orders
 * Redis Functions library built from common/lua/): one C function per
 * operation with typed arguments and a parsed reply (orders_ops.c), the
 * direct reads around it (orders_facts.c), and the one place that knows the
 * Redis key names.
 *
 * Keys of a region share the hash tag {region}: "rxd:{region}:ord:<id>" etc.,
 * so that a Redis Cluster keeps a region on one slot and the state machine's
 * scripts stay atomic there. */
#ifndef RXD_ORDERS_H
#define RXD_ORDERS_H

#include <stddef.h>

#include "store.h"

#define ORDERS_PREFIX_MAX 96
#define ORDERS_KEY_MAX 256

typedef struct orders orders;

#define ORDERS_LIBRARY "rxd_orders"

/* The library version this build carries ("major.minor"). */
const char *orders_version(void);

/* region: 1-32 chars of [a-z0-9-]; NULL gives "default". Registers the
 * library on st: st reports connected only once a compatible version is
 * loaded (see store_lib_add). */
orders *orders_new(store *st, const char *region, char *err, size_t errlen);
void orders_free(orders *o);
store *orders_store(const orders *o);

/* ---- key names (buf: ORDERS_KEY_MAX bytes; each returns buf) ---- */

const char *orders_key_pharmacy_geo(const orders *o, char *buf);
const char *orders_key_courier_geo(const orders *o, char *buf);
/* "<prefix>notify:<kind>:", kind "ph" or "co": the channels the state
 * machine publishes on when a holder has news */
const char *orders_key_notify(const orders *o, char *buf, const char *kind);

/* ---- replies ---- */

/* The status word a reply starts with. */
typedef enum orders_status {
    ORDERS_FAILED = 0, /* no state-machine reply: res->reply and res->err say why */
    ORDERS_OK,
    ORDERS_ERR, /* res->error says which */
    ORDERS_STALE,
    ORDERS_REFUSED,
    ORDERS_EXISTS,
    ORDERS_CREATED,
    ORDERS_OFFERED,
    ORDERS_TRIED,
    ORDERS_BUSY,
    ORDERS_ASSIGNED,
    ORDERS_SKIP,
    ORDERS_NOT_FOUND,
    ORDERS_UNKNOWN, /* a word this build does not know */
} orders_status;

/* The error word of an ORDERS_ERR reply. */
typedef enum orders_error {
    ORDERS_E_NONE = 0,
    ORDERS_E_NOT_FOUND,
    ORDERS_E_FORBIDDEN,
    ORDERS_E_CONFLICT,
    ORDERS_E_LOCKED,
    ORDERS_E_WRONG_CODE,
    ORDERS_E_UNKNOWN,
} orders_error;

#define ORDERS_CLAIM_MAX 256
#define ORDERS_POINTS_MAX 128
#define ORDERS_COUNTS_MAX 16

/* One line of state_counts or queue_counts. */
typedef struct orders_count {
    const char *name;
    long long count;
    long long ms; /* the oldest entry's or lowest due time, 0 when none */
} orders_count;

/* A parsed reply. Strings point into the reply: valid during the callback
 * only. Which fields an operation fills is said at its function; the others
 * are zero or "". */
typedef struct orders_result {
    orders_status status;
    const char *word; /* the status word as answered ("" when failed) */
    /* ORDERS_FAILED: for worker_reply_error/worker_reply_kind */
    const redisReply *reply;
    const char *err;
    /* ORDERS_ERR */
    orders_error error;
    const char *error_word;
    long long tries_left; /* ORDERS_E_WRONG_CODE */
    /* transitions */
    const char *state;    /* the state the order was left in or found in */
    const char *order_id; /* create, cancel */
    const char *detail;   /* "replay"; why busy or refused; available|unavailable */
    long long attempt;
    long long deadline_ms; /* offered: accept_by; assigned: the courier's deadline */
    long long misses;      /* courier_expire */
    long long count;       /* pharmacy_stock_all, courier_locs: how many stored */
    double dist_m, age_ms; /* refused pickup */
    const char *json;      /* the views: get, offers, assignments */
    /* load and dispatch_load */
    double lat, lon;
    int has_point, fulfilment, insurance, cold, urgent;
    const char *items_json, *nominated, *pharmacy, *tried_json;
    long long expires_ms, accept_by, ready_ms;
    /* claim */
    size_t n_ids;
    const char *ids[ORDERS_CLAIM_MAX];
    /* courier_loc_many: one flag per point, in order */
    size_t n_points;
    unsigned char stored[ORDERS_POINTS_MAX];
    /* state_counts, queue_counts */
    size_t n_counts;
    orders_count counts[ORDERS_COUNTS_MAX];
} orders_result;

typedef void orders_cb(void *ctx, const orders_result *res);

/* The HTTP status an error maps to (404, 403, 409, 429; 500 unknown). */
int orders_error_http(orders_error e);

/* ---- operations (orders_ops.c) ----
 * Each returns 0, or -1 when the call cannot be queued (out of memory); cb
 * is then never called and the caller answers for the call. */

/* What an order is created from. */
typedef struct orders_new_order {
    const char *prescription_id, *patient_ref, *address, *items_json, *nominated, *hospital;
    double lat, lon;
    int has_point, fulfilment, priority, insurance, cold;
    long long approved_ms, expires_ms, lease_ms;
    const char *code;              /* the handover code */
    const char *unroutable_reason; /* "" or why it ends UNROUTABLE at once */
} orders_new_order;

/* created|exists: order_id, state, attempt */
int orders_create(orders *o, const orders_new_order *n, orders_cb *cb, void *ctx);
/* offered: attempt, deadline_ms; stale: state; tried; busy */
int orders_offer(orders *o, const char *oid, long long attempt, const char *pharmacy_id,
                 long long dist_m, long long deadline_ms, orders_cb *cb, void *ctx);
/* attempt < 0: whatever attempt it is at. ok|stale: state */
int orders_unroutable(orders *o, const char *oid, long long attempt, const char *reason,
                      orders_cb *cb, void *ctx);
/* The router's give-up for a reason that may pass (no open or stocked
 * pharmacy in range): the order stays in ROUTING, held until a pharmacy
 * near it opens or restocks, an operator retries it, or its hold runs out
 * (docs/architecture.md, "The hold"). ok: state "ROUTING", detail "held";
 * stale: state. */
int orders_hold(orders *o, const char *oid, long long attempt, const char *reason, orders_cb *cb,
                void *ctx);
/* ok|stale: state */
int orders_expire(orders *o, const char *oid, long long attempt, orders_cb *cb, void *ctx);
/* action: accept|reject|ready|collected|returned. ok: state, detail
 * ("replay"); err */
int orders_pharmacy_act(orders *o, const char *oid, const char *pharmacy_id, const char *action,
                        const char *reason, orders_cb *cb, void *ctx);
/* by: "rx" (id is a prescription id) or "order". ok: state, order_id; err */
int orders_cancel(orders *o, const char *by, const char *id, const char *reason, orders_cb *cb,
                  void *ctx);
/* assigned: deadline_ms; stale: state; busy: detail (why) */
int orders_assign(orders *o, const char *oid, const char *courier_id, long long deadline_ms,
                  long long min_ts_ms, long long dist_m, orders_cb *cb, void *ctx);

/* What a courier does with an order. */
typedef struct orders_courier_action {
    const char *oid, *courier_id;
    const char *action; /* accept|decline|pickup|deliver|fail */
    const char *arg;    /* the handover code, the reason, or "" */
    long long max_wrong_codes;
    /* the pickup rule: proof "position" or "handover" */
    long long radius_m, max_age_ms;
    const char *proof;
} orders_courier_action;
/* ok: state, detail ("replay"); refused: detail (why), dist_m, age_ms; err */
int orders_courier_act(orders *o, const orders_courier_action *a, orders_cb *cb, void *ctx);
/* ok: detail (available|unavailable), misses; stale: state */
int orders_courier_expire(orders *o, const char *oid, const char *courier_id, long long max_misses,
                          orders_cb *cb, void *ctx);

/* ok: state attempt lat lon has_point items_json nominated fulfilment
 * insurance cold expires_ms accept_by pharmacy tried_json; not_found */
int orders_load(orders *o, const char *oid, orders_cb *cb, void *ctx);
/* ok: pharmacy lat lon (has_point: the pharmacy's position is known) cold
 * urgent ready_ms tried_json; skip: state */
int orders_dispatch_load(orders *o, const char *oid, orders_cb *cb, void *ctx);
/* The JSON views (ok: json; get also err). */
typedef int orders_view_fn(orders *o, const char *id, orders_cb *cb, void *ctx);
orders_view_fn orders_get, orders_offers, orders_assignments;

/* Work queues: "due", "dispatch", "cdue". claim: ids, n_ids; park: ok */
int orders_claim(orders *o, const char *queue, int limit, long long lease_ms, orders_cb *cb,
                 void *ctx);
int orders_park(orders *o, const char *queue, const char *oid, const char *reason, orders_cb *cb,
                void *ctx);

/* Registries. pharmacy_put, pharmacy_status, courier_avail: ok (err
 * not_found for a status of an unknown pharmacy); pharmacy_stock_all,
 * courier_locs: ok, count. */
typedef struct orders_pharmacy_reg {
    const char *id, *name;
    double lat, lon;
    int open, cold, insurance;
    long long capacity;
} orders_pharmacy_reg;
int orders_pharmacy_put(orders *o, const orders_pharmacy_reg *p, orders_cb *cb, void *ctx);
int orders_pharmacy_status(orders *o, const char *id, int open, orders_cb *cb, void *ctx);
int orders_pharmacy_stock_all(orders *o, const char *id, const char *items_json, orders_cb *cb,
                              void *ctx);
int orders_courier_locs(orders *o, const char *id, const char *points_json, orders_cb *cb,
                        void *ctx);
int orders_courier_avail(orders *o, const char *id, int available, int cold, long long capacity,
                         orders_cb *cb, void *ctx);

/* For the gauges: per live state its count and when the order waiting
 * longest entered it; per work queue (due, dispatch, cdue) and the
 * exceptions their length and lowest score. ok, counts. */
int orders_state_counts(orders *o, orders_cb *cb, void *ctx);
int orders_queue_counts(orders *o, orders_cb *cb, void *ctx);

/* The region's expiry of closed records and of prescription dedupe keys,
 * read by the steps that end an order: ok (a Redis error when
 * 0 < retention_ms < rx_dedupe_ttl_ms does not hold). */
int orders_lifecycle_set(orders *o, long long retention_ms, long long rx_dedupe_ttl_ms,
                         orders_cb *cb, void *ctx);
/* One courier position (text as received: the library checks it). */
typedef struct orders_point {
    const char *id, *lat, *lon, *ts_ms;
} orders_point;
/* n <= ORDERS_POINTS_MAX. ok: n_points, stored[] */
int orders_courier_loc_many(orders *o, size_t n, const orders_point *p, orders_cb *cb, void *ctx);

/* ---- raw access: for the outbox's key prefix and the library's own
 * tests (tests/orders_lib_test.c), which drive it op by op. Services use
 * the typed operations above. ---- */

/* "rxd:{region}:" */
const char *orders_prefix(const orders *o);
/* Arguments one raw call takes, the anchor key, prefix and op included. */
#define ORDERS_ARGS_MAX 520
/* FCALL rxd_<op> with string arguments; -1 (cb never called) when argc + 3
 * > ORDERS_ARGS_MAX, op is too long or out of memory. */
int orders_call(orders *o, store_reply_cb *cb, void *ctx, const char *op, int argc,
                const char *const *argv);
/* Element i of a raw reply as a string, or "" when missing. */
const char *orders_field(const redisReply *r, size_t i);

/* ---- plumbing (orders.c), for orders_ops.c and orders_facts.c ---- */

typedef struct orders_op orders_op;
/* Runs op (FCALL rxd_<name> with the anchor key and the prefix before
 * argv) and hands cb the parsed reply. */
int orders_call_op(orders *o, const orders_op *op, int argc, const char *const *argv, orders_cb *cb,
                   void *ctx);
/* Writes prefix + suffix into buf (ORDERS_KEY_MAX bytes). */
const char *orders_key(const orders *o, char *buf, const char *suffix_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- deadlines (common/lua/deadlines.lua) ----
 * kind: pack_remind, pack (ACCEPTED), collect (READY, pickup in store),
 * pickup (COURIER_ASSIGNED after the courier's accept), deliver (PICKED_UP),
 * return (RETURNING); after_ms: how long the order may stay. */

/* ids, n_ids (at most limit): orders whose deadline of kind has passed and
 * whose step is still to take, longest waiting first */
int orders_overdue(orders *o, const char *kind, long long after_ms, int limit, orders_cb *cb,
                   void *ctx);
/* Takes the step if it is due (re-checked atomically). ok: state (after),
 * detail (reminded|rerouted|not_collected|courier_lost|courier_benched|
 * deliver|return); stale: state, detail (moved_on|not_applicable|not_due|
 * done). max_misses: pickup's bench rule, as courier_expire. */
int orders_deadline(orders *o, const char *oid, const char *kind, long long after_ms,
                    long long max_misses, orders_cb *cb, void *ctx);
/* ok: json {"total":n,"exceptions":[{order_id,at_ms,kind,reason,state}]},
 * newest first, count <= 500 */
int orders_exceptions(orders *o, long long offset, long long count, orders_cb *cb, void *ctx);

/* ---- operator: orders (common/lua/operator.lua) ----
 * The operator's reads and repairs (docs/operator-api.md). Every action
 * takes who acts (actor: "<role>:<id>" of the token, or "rxctl:<user>") and
 * why; its events on order.events carry the actor and it writes one audit
 * entry, atomically. An action answers ok: state (after); refused: detail
 * (why it does not apply: final_state, not_before_pickup, no_live_code,
 * courier_unavailable, ...), state; err not_found. */

typedef struct orders_op_action {
    const char *oid, *actor, *reason;
} orders_op_action;

/* Before pickup: CANCELLED; picked up: RETURNING. */
int orders_op_cancel(orders *o, const orders_op_action *a, orders_cb *cb, void *ctx);
/* courier_id "" : back to the dispatch queue; else to that courier, taken
 * as accepted. */
int orders_op_reassign(orders *o, const orders_op_action *a, const char *courier_id, orders_cb *cb,
                       void *ctx);
/* pharmacy_id "": routes again to the next pharmacy; else offered to that
 * one with accept_ms to answer. */
int orders_op_reroute(orders *o, const orders_op_action *a, long long accept_ms,
                      const char *pharmacy_id, orders_cb *cb, void *ctx);
/* The handover code to the patient again (patient.notify only). */
int orders_op_resend_code(orders *o, const orders_op_action *a, orders_cb *cb, void *ctx);
/* Resets the wrong-code count of a picked-up order; identity_checked must
 * be 1. */
int orders_op_unlock(orders *o, const orders_op_action *a, int identity_checked, orders_cb *cb,
                     void *ctx);

/* A search of the live orders ("" or 0: no filter). */
typedef struct orders_op_query {
    const char *state; /* a live state (orders_state_is_live) or "" */
    long long older_than_ms;
    const char *pharmacy_id, *courier_id, *hospital, *prescription_id;
    int limit;          /* 1..ORDERS_OP_LIST_MAX */
    const char *cursor; /* next_cursor of the page before, or "" */
} orders_op_query;
#define ORDERS_OP_LIST_MAX 200
/* ok: json {"orders":[...],"next_cursor":""}; refused: detail (bad_cursor) */
int orders_op_list(orders *o, const orders_op_query *q, orders_cb *cb, void *ctx);
/* ok: json {"entries":[...],"next_before":""}, newest first, entries before
 * the stream id before ("" from the newest); refused: detail (bad_before) */
int orders_op_audit(orders *o, long long count, const char *before, orders_cb *cb, void *ctx);
/* 1 when s names a state that has a live index (ROUTING .. RETURNING). */
int orders_state_is_live(const char *s);

/* ---- operator: the console's map (common/lua/console.lua) ---- */
/* ok: json [{id, at_ms, subject, sid, kind, ...}], the live feed's events
 * after the stream id after, oldest first, at most ORDERS_LIVE_MAX, or one
 * mark {id, kind "start"|"reset"} (console.lua); "[]": nothing new.
 * refused: detail (bad_after). An orders_view_fn, for the gateway's
 * long-poll. */
#define ORDERS_LIVE_MAX 500
int orders_live(orders *o, const char *after, orders_cb *cb, void *ctx);
/* ok: json {"<kind>":[...],"truncated":false}; kind "pharmacies" or
 * "couriers" (those with a recent position, newest first), at most limit;
 * refused: detail (bad_kind). */
int orders_fleet(orders *o, const char *kind, long long limit, orders_cb *cb, void *ctx);
/* ok: json {window_s, now_ms, entered, stages, click_to_door, unroutable,
 * acceptance, live}: the figures of the last window_s (60-7200) seconds,
 * in five-minute buckets (console.lua). */
int orders_figures(orders *o, long long window_s, orders_cb *cb, void *ctx);

/* ---- operator: fleet ----
 * common/lua/fleet.lua. actor: "<role>:<id>" of the token, carried by the
 * events and the audit entry each action writes; reason: free text. */

/* A held or parked order back to its work queue now. ok: state, detail
 * "held"|"parked"; err not_found, conflict (neither held nor parked). */
int orders_retry(orders *o, const char *oid, const char *actor, const char *reason, orders_cb *cb,
                 void *ctx);
/* bench 1: no new assignments for the courier (its orders stay); 0: back.
 * ok: detail "benched"|"unbenched"; err not_found. */
int orders_courier_bench(orders *o, const char *courier, const char *actor, const char *reason,
                         int bench, orders_cb *cb, void *ctx);
/* Opens (1) or closes (0) a pharmacy. ok: count (held orders released by
 * the opening); err not_found. */
int orders_pharmacy_open(orders *o, const char *pharmacy_id, const char *actor, const char *reason,
                         int open, orders_cb *cb, void *ctx);

typedef enum orders_zone_kind { ORDERS_ZONE_CIRCLE = 0, ORDERS_ZONE_BOX } orders_zone_kind;
/* A zone: a circle (lat, lon, radius_m) or a box (min/max lat and lon). */
typedef struct orders_zone {
    const char *id;
    orders_zone_kind kind;
    double lat, lon, radius_m;
    double min_lat, min_lon, max_lat, max_lon;
} orders_zone;
/* Intake in the zone is held (reason zone_paused) until it resumes. ok:
 * detail "paused"; a Redis error (FAILED) for a wrong shape. */
int orders_zone_pause(orders *o, const orders_zone *z, const char *actor, const char *reason,
                      orders_cb *cb, void *ctx);
/* ok: count (held orders released now; the rest by hold_tick); err
 * not_found. */
int orders_zone_resume(orders *o, const char *zone_id, const char *actor, const char *reason,
                       orders_cb *cb, void *ctx);
/* ok: json [{id, kind, shape fields, reason, actor, at_ms, held}] */
int orders_zones(orders *o, orders_cb *cb, void *ctx);

/* The router's tick: stores the hold's settings, ends the held orders past
 * their hold (UNROUTABLE expired), drains resumed zones. ok: count (ended),
 * misses (released). */
int orders_hold_tick(orders *o, long long max_hold_ms, double radius_m, int limit, orders_cb *cb,
                     void *ctx);
/* Couriers whose last position is older than before_ms leave the geo
 * index (at most limit). ok: count. */
int orders_courier_stale(orders *o, long long before_ms, int limit, orders_cb *cb, void *ctx);
/* Deregistration. ok: detail "removed"|"unknown"; busy while it holds
 * orders (count: how many). */
int orders_courier_remove(orders *o, const char *courier, orders_cb *cb, void *ctx);
int orders_pharmacy_remove(orders *o, const char *pharmacy_id, orders_cb *cb, void *ctx);

#endif
