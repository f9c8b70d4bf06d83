/* orders_ops.c - one C function per operation of the state machine
 * (orders.h): typed arguments formatted the way the library checks them
 * (lib_head.lua's arg kinds), and per operation the table of the fields its
 * replies carry (orders_op.h), in the order the Lua answers them. */
#include <stdio.h>
#include <string.h>

#include "orders.h"
#include "orders_op.h"

#define F(t, field)                                                                                \
    {                                                                                              \
        ORDERS_F_##t, offsetof(orders_result, field)                                               \
    }
#define END                                                                                        \
    {                                                                                              \
        ORDERS_FAILED,                                                                             \
        {                                                                                          \
            {                                                                                      \
                0                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* ---- reply tables ---- */

static const orders_shape shapes_create[] = {
    {ORDERS_CREATED, {F(STR, order_id), F(STR, state), F(INT, attempt), F(STR, detail)}},
    {ORDERS_EXISTS, {F(STR, order_id), F(STR, state), F(INT, attempt)}},
    END,
};
static const orders_shape shapes_offer[] = {
    {ORDERS_OFFERED, {F(INT, attempt), F(INT, deadline_ms)}},
    END,
};
static const orders_shape shapes_state[] = {
    {ORDERS_OK, {F(STR, state)}},
    END,
};
static const orders_shape shapes_act[] = {
    {ORDERS_OK, {F(STR, state), F(STR, detail)}},
    {ORDERS_REFUSED, {F(STR, detail), F(NUM, dist_m), F(NUM, age_ms)}},
    END,
};
static const orders_shape shapes_cancel[] = {
    {ORDERS_OK, {F(STR, state), F(STR, order_id)}},
    END,
};
static const orders_shape shapes_assign[] = {
    {ORDERS_ASSIGNED, {F(INT, deadline_ms)}},
    {ORDERS_BUSY, {F(STR, detail)}},
    END,
};
static const orders_shape shapes_courier_expire[] = {
    {ORDERS_OK, {F(STR, detail), F(INT, misses)}},
    END,
};
static const orders_shape shapes_load[] = {
    {ORDERS_OK,
     {F(STR, state), F(INT, attempt), F(NUM, lat), F(NUM, lon), F(FLAG, has_point),
      F(STR, items_json), F(STR, nominated), F(FLAG, fulfilment), F(FLAG, insurance), F(FLAG, cold),
      F(INT, expires_ms), F(INT, accept_by), F(STR, pharmacy), F(STR, tried_json)}},
    END,
};
static const orders_shape shapes_dispatch_load[] = {
    {ORDERS_OK,
     {F(STR, pharmacy), F(POINT, lat), F(NUM, lon), F(FLAG, cold), F(FLAG, urgent),
      F(INT, ready_ms), F(STR, tried_json)}},
    END,
};
static const orders_shape shapes_view[] = {
    {ORDERS_OK, {F(STR, json)}},
    END,
};
static const orders_shape shapes_count[] = {
    {ORDERS_OK, {F(INT, count)}},
    END,
};
static const orders_shape shapes_none[] = {END};

/* ---- operations ---- */

#define OP(name, kind, shapes)                                                                     \
    static const orders_op op_##name = {"rxd_" #name, ORDERS_R_##kind, shapes}

OP(create, STATUS, shapes_create);
OP(offer, STATUS, shapes_offer);
OP(unroutable, STATUS, shapes_act);
OP(expire, STATUS, shapes_state);
OP(pharmacy, STATUS, shapes_act);
OP(cancel, STATUS, shapes_cancel);
OP(assign, STATUS, shapes_assign);
OP(courier, STATUS, shapes_act);
OP(courier_expire, STATUS, shapes_courier_expire);
OP(load, STATUS, shapes_load);
OP(dispatch_load, STATUS, shapes_dispatch_load);
OP(get, STATUS, shapes_view);
OP(offers, STATUS, shapes_view);
OP(assignments, STATUS, shapes_view);
OP(claim, IDS, shapes_none);
OP(park, STATUS, shapes_none);
OP(pharmacy_put, STATUS, shapes_none);
OP(pharmacy_status, STATUS, shapes_none);
OP(pharmacy_stock_all, STATUS, shapes_count);
OP(courier_locs, STATUS, shapes_count);
OP(courier_avail, STATUS, shapes_none);
OP(courier_loc_many, POINTS, shapes_none);
OP(lifecycle_set, STATUS, shapes_none);
OP(state_counts, COUNTS, shapes_none);
OP(queue_counts, COUNTS, shapes_none);

/* Number text as the library's int and num kinds take it. */
typedef struct orders_num {
    char s[32];
} orders_num;

static const char *orders_int(orders_num *n, long long v)
{
    snprintf(n->s, sizeof(n->s), "%lld", v);
    return n->s;
}

static const char *orders_coord(orders_num *n, double v)
{
    snprintf(n->s, sizeof(n->s), "%.7f", v);
    return n->s;
}

static const char *orders_bit(int v)
{
    return v ? "1" : "0";
}

#define CALL(o, name, argv, cb, ctx)                                                               \
    orders_call_op((o), &op_##name, (int)(sizeof(argv) / sizeof((argv)[0])), (argv), (cb), (ctx))

int orders_create(orders *o, const orders_new_order *n, orders_cb *cb, void *ctx)
{
    orders_num lat = {"0"}, lon = {"0"}, fulfil, prio, approved, expires, lease;
    if (n->has_point) {
        orders_coord(&lat, n->lat);
        orders_coord(&lon, n->lon);
    }
    const char *argv[] = {n->prescription_id,
                          n->patient_ref,
                          lat.s,
                          lon.s,
                          orders_bit(n->has_point),
                          n->address,
                          n->items_json,
                          n->nominated,
                          orders_int(&fulfil, n->fulfilment),
                          orders_int(&prio, n->priority),
                          orders_int(&approved, n->approved_ms),
                          n->hospital,
                          orders_bit(n->insurance),
                          orders_int(&expires, n->expires_ms),
                          orders_bit(n->cold),
                          n->code,
                          n->unroutable_reason ? n->unroutable_reason : "",
                          orders_int(&lease, n->lease_ms)};
    return CALL(o, create, argv, cb, ctx);
}

int orders_offer(orders *o, const char *oid, long long attempt, const char *pharmacy_id,
                 long long dist_m, long long deadline_ms, orders_cb *cb, void *ctx)
{
    orders_num a, d, dl;
    const char *argv[] = {oid, orders_int(&a, attempt), pharmacy_id, orders_int(&d, dist_m),
                          orders_int(&dl, deadline_ms)};
    return CALL(o, offer, argv, cb, ctx);
}

int orders_unroutable(orders *o, const char *oid, long long attempt, const char *reason,
                      orders_cb *cb, void *ctx)
{
    orders_num a;
    const char *argv[] = {oid, attempt < 0 ? "*" : orders_int(&a, attempt), reason};
    return CALL(o, unroutable, argv, cb, ctx);
}

int orders_hold(orders *o, const char *oid, long long attempt, const char *reason, orders_cb *cb,
                void *ctx)
{
    orders_num a;
    const char *argv[] = {oid, attempt < 0 ? "*" : orders_int(&a, attempt), reason, "hold"};
    return CALL(o, unroutable, argv, cb, ctx);
}

int orders_expire(orders *o, const char *oid, long long attempt, orders_cb *cb, void *ctx)
{
    orders_num a;
    const char *argv[] = {oid, orders_int(&a, attempt)};
    return CALL(o, expire, argv, cb, ctx);
}

int orders_pharmacy_act(orders *o, const char *oid, const char *pharmacy_id, const char *action,
                        const char *reason, orders_cb *cb, void *ctx)
{
    const char *argv[] = {oid, pharmacy_id, action, reason};
    return CALL(o, pharmacy, argv, cb, ctx);
}

int orders_cancel(orders *o, const char *by, const char *id, const char *reason, orders_cb *cb,
                  void *ctx)
{
    const char *argv[] = {by, id, reason};
    return CALL(o, cancel, argv, cb, ctx);
}

int orders_assign(orders *o, const char *oid, const char *courier_id, long long deadline_ms,
                  long long min_ts_ms, long long dist_m, orders_cb *cb, void *ctx)
{
    orders_num dl, ts, d;
    const char *argv[] = {oid, courier_id, orders_int(&dl, deadline_ms), orders_int(&ts, min_ts_ms),
                          orders_int(&d, dist_m)};
    return CALL(o, assign, argv, cb, ctx);
}

int orders_courier_act(orders *o, const orders_courier_action *a, orders_cb *cb, void *ctx)
{
    orders_num mw, r, age;
    const char *argv[] = {a->oid,
                          a->courier_id,
                          a->action,
                          a->arg,
                          orders_int(&mw, a->max_wrong_codes),
                          orders_int(&r, a->radius_m),
                          orders_int(&age, a->max_age_ms),
                          a->proof};
    return CALL(o, courier, argv, cb, ctx);
}

int orders_courier_expire(orders *o, const char *oid, const char *courier_id, long long max_misses,
                          orders_cb *cb, void *ctx)
{
    orders_num m;
    const char *argv[] = {oid, courier_id, orders_int(&m, max_misses)};
    return CALL(o, courier_expire, argv, cb, ctx);
}

int orders_load(orders *o, const char *oid, orders_cb *cb, void *ctx)
{
    const char *argv[] = {oid};
    return CALL(o, load, argv, cb, ctx);
}

int orders_dispatch_load(orders *o, const char *oid, orders_cb *cb, void *ctx)
{
    const char *argv[] = {oid};
    return CALL(o, dispatch_load, argv, cb, ctx);
}

int orders_get(orders *o, const char *id, orders_cb *cb, void *ctx)
{
    const char *argv[] = {id};
    return CALL(o, get, argv, cb, ctx);
}

int orders_offers(orders *o, const char *id, orders_cb *cb, void *ctx)
{
    const char *argv[] = {id};
    return CALL(o, offers, argv, cb, ctx);
}

int orders_assignments(orders *o, const char *id, orders_cb *cb, void *ctx)
{
    const char *argv[] = {id};
    return CALL(o, assignments, argv, cb, ctx);
}

int orders_claim(orders *o, const char *queue, int limit, long long lease_ms, orders_cb *cb,
                 void *ctx)
{
    orders_num l, ls;
    const char *argv[] = {queue, orders_int(&l, limit), orders_int(&ls, lease_ms)};
    return CALL(o, claim, argv, cb, ctx);
}

int orders_park(orders *o, const char *queue, const char *oid, const char *reason, orders_cb *cb,
                void *ctx)
{
    const char *argv[] = {queue, oid, reason};
    return CALL(o, park, argv, cb, ctx);
}

int orders_pharmacy_put(orders *o, const orders_pharmacy_reg *p, orders_cb *cb, void *ctx)
{
    orders_num lat, lon, cap;
    const char *argv[] = {p->id,
                          p->name,
                          orders_coord(&lat, p->lat),
                          orders_coord(&lon, p->lon),
                          orders_bit(p->open),
                          orders_int(&cap, p->capacity),
                          orders_bit(p->cold),
                          orders_bit(p->insurance)};
    return CALL(o, pharmacy_put, argv, cb, ctx);
}

int orders_pharmacy_status(orders *o, const char *id, int open, orders_cb *cb, void *ctx)
{
    const char *argv[] = {id, orders_bit(open)};
    return CALL(o, pharmacy_status, argv, cb, ctx);
}

int orders_pharmacy_stock_all(orders *o, const char *id, const char *items_json, orders_cb *cb,
                              void *ctx)
{
    const char *argv[] = {id, items_json};
    return CALL(o, pharmacy_stock_all, argv, cb, ctx);
}

int orders_courier_locs(orders *o, const char *id, const char *points_json, orders_cb *cb,
                        void *ctx)
{
    const char *argv[] = {id, points_json};
    return CALL(o, courier_locs, argv, cb, ctx);
}

int orders_courier_avail(orders *o, const char *id, int available, int cold, long long capacity,
                         orders_cb *cb, void *ctx)
{
    orders_num cap;
    const char *argv[] = {id, orders_bit(available), orders_bit(cold), orders_int(&cap, capacity)};
    return CALL(o, courier_avail, argv, cb, ctx);
}

int orders_courier_loc_many(orders *o, size_t n, const orders_point *p, orders_cb *cb, void *ctx)
{
    const char *argv[4 * ORDERS_POINTS_MAX];
    if (n == 0 || n > ORDERS_POINTS_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        argv[4 * i] = p[i].id;
        argv[4 * i + 1] = p[i].lat;
        argv[4 * i + 2] = p[i].lon;
        argv[4 * i + 3] = p[i].ts_ms;
    }
    return orders_call_op(o, &op_courier_loc_many, (int)(4 * n), argv, cb, ctx);
}

int orders_state_counts(orders *o, orders_cb *cb, void *ctx)
{
    return orders_call_op(o, &op_state_counts, 0, NULL, cb, ctx);
}

int orders_queue_counts(orders *o, orders_cb *cb, void *ctx)
{
    return orders_call_op(o, &op_queue_counts, 0, NULL, cb, ctx);
}

int orders_lifecycle_set(orders *o, long long retention_ms, long long rx_dedupe_ttl_ms,
                         orders_cb *cb, void *ctx)
{
    orders_num ret, ttl;
    const char *argv[] = {orders_int(&ret, retention_ms), orders_int(&ttl, rx_dedupe_ttl_ms)};
    return CALL(o, lifecycle_set, argv, cb, ctx);
}

/* ---- deadlines (common/lua/deadlines.lua) ---- */

static const orders_shape shapes_deadline[] = {
    {ORDERS_OK, {F(STR, state), F(STR, detail)}},
    {ORDERS_STALE, {F(STR, state), F(STR, detail)}},
    END,
};

OP(overdue, IDS, shapes_none);
OP(deadline, STATUS, shapes_deadline);
OP(exceptions, STATUS, shapes_view);

int orders_overdue(orders *o, const char *kind, long long after_ms, int limit, orders_cb *cb,
                   void *ctx)
{
    orders_num a, l;
    const char *argv[] = {kind, orders_int(&a, after_ms), orders_int(&l, limit)};
    return CALL(o, overdue, argv, cb, ctx);
}

int orders_deadline(orders *o, const char *oid, const char *kind, long long after_ms,
                    long long max_misses, orders_cb *cb, void *ctx)
{
    orders_num a, m;
    const char *argv[] = {oid, kind, orders_int(&a, after_ms), orders_int(&m, max_misses)};
    return CALL(o, deadline, argv, cb, ctx);
}

int orders_exceptions(orders *o, long long offset, long long count, orders_cb *cb, void *ctx)
{
    orders_num off, n;
    const char *argv[] = {orders_int(&off, offset), orders_int(&n, count)};
    return CALL(o, exceptions, argv, cb, ctx);
}

/* ---- operator: orders ---- */

static const orders_shape shapes_op_action[] = {
    {ORDERS_OK, {F(STR, state)}},
    {ORDERS_REFUSED, {F(STR, detail), F(STR, state)}},
    END,
};
static const orders_shape shapes_op_view[] = {
    {ORDERS_OK, {F(STR, json)}},
    {ORDERS_REFUSED, {F(STR, detail)}},
    END,
};

OP(op_cancel, STATUS, shapes_op_action);
OP(op_reassign, STATUS, shapes_op_action);
OP(op_reroute, STATUS, shapes_op_action);
OP(op_resend_code, STATUS, shapes_op_action);
OP(op_unlock, STATUS, shapes_op_action);
OP(op_list, STATUS, shapes_op_view);
OP(op_audit, STATUS, shapes_op_view);
OP(live_read, STATUS, shapes_op_view);
OP(fleet, STATUS, shapes_op_view);
OP(figures, STATUS, shapes_op_view);

int orders_op_cancel(orders *o, const orders_op_action *a, orders_cb *cb, void *ctx)
{
    const char *argv[] = {a->oid, a->actor, a->reason};
    return CALL(o, op_cancel, argv, cb, ctx);
}

int orders_op_reassign(orders *o, const orders_op_action *a, const char *courier_id, orders_cb *cb,
                       void *ctx)
{
    const char *argv[] = {a->oid, a->actor, a->reason, courier_id ? courier_id : ""};
    return CALL(o, op_reassign, argv, cb, ctx);
}

int orders_op_reroute(orders *o, const orders_op_action *a, long long accept_ms,
                      const char *pharmacy_id, orders_cb *cb, void *ctx)
{
    orders_num ms;
    const char *argv[] = {a->oid, a->actor, a->reason, orders_int(&ms, accept_ms),
                          pharmacy_id ? pharmacy_id : ""};
    return CALL(o, op_reroute, argv, cb, ctx);
}

int orders_op_resend_code(orders *o, const orders_op_action *a, orders_cb *cb, void *ctx)
{
    const char *argv[] = {a->oid, a->actor, a->reason};
    return CALL(o, op_resend_code, argv, cb, ctx);
}

int orders_op_unlock(orders *o, const orders_op_action *a, int identity_checked, orders_cb *cb,
                     void *ctx)
{
    const char *argv[] = {a->oid, a->actor, a->reason, orders_bit(identity_checked)};
    return CALL(o, op_unlock, argv, cb, ctx);
}

int orders_op_list(orders *o, const orders_op_query *q, orders_cb *cb, void *ctx)
{
    orders_num age, lim;
    const char *argv[] = {q->state ? q->state : "",
                          orders_int(&age, q->older_than_ms),
                          q->pharmacy_id ? q->pharmacy_id : "",
                          q->courier_id ? q->courier_id : "",
                          q->hospital ? q->hospital : "",
                          q->prescription_id ? q->prescription_id : "",
                          orders_int(&lim, q->limit),
                          q->cursor ? q->cursor : ""};
    return CALL(o, op_list, argv, cb, ctx);
}

int orders_op_audit(orders *o, long long count, const char *before, orders_cb *cb, void *ctx)
{
    orders_num n;
    const char *argv[] = {orders_int(&n, count), before ? before : ""};
    return CALL(o, op_audit, argv, cb, ctx);
}

int orders_live(orders *o, const char *after, orders_cb *cb, void *ctx)
{
    orders_num n;
    const char *argv[] = {after ? after : "", orders_int(&n, ORDERS_LIVE_MAX)};
    return CALL(o, live_read, argv, cb, ctx);
}

int orders_fleet(orders *o, const char *kind, long long limit, orders_cb *cb, void *ctx)
{
    orders_num n;
    const char *argv[] = {kind, orders_int(&n, limit)};
    return CALL(o, fleet, argv, cb, ctx);
}

int orders_figures(orders *o, long long window_s, orders_cb *cb, void *ctx)
{
    orders_num n;
    const char *argv[] = {orders_int(&n, window_s)};
    return CALL(o, figures, argv, cb, ctx);
}

/* As LIVE_STATES of lib_head.lua. */
static const char *const orders_live_states[] = {
    "ROUTING", "OFFERED", "ACCEPTED", "READY", "COURIER_ASSIGNED", "PICKED_UP", "RETURNING"};

int orders_state_is_live(const char *s)
{
    for (size_t i = 0; i < sizeof(orders_live_states) / sizeof(orders_live_states[0]); i++)
        if (strcmp(s, orders_live_states[i]) == 0)
            return 1;
    return 0;
}

/* ---- operator: fleet ---- */

static const orders_shape shapes_ok_detail[] = {
    {ORDERS_OK, {F(STR, detail)}},
    END,
};
static const orders_shape shapes_retry[] = {
    {ORDERS_OK, {F(STR, state), F(STR, detail)}},
    END,
};
static const orders_shape shapes_remove[] = {
    {ORDERS_OK, {F(STR, detail)}},
    {ORDERS_BUSY, {F(INT, count)}},
    END,
};
static const orders_shape shapes_hold_tick[] = {
    {ORDERS_OK, {F(INT, count), F(INT, misses)}},
    END,
};

OP(retry, STATUS, shapes_retry);
OP(courier_bench, STATUS, shapes_ok_detail);
OP(courier_unbench, STATUS, shapes_ok_detail);
OP(pharmacy_open, STATUS, shapes_count);
OP(zone_pause, STATUS, shapes_ok_detail);
OP(zone_resume, STATUS, shapes_count);
OP(zones, STATUS, shapes_view);
OP(hold_tick, STATUS, shapes_hold_tick);
OP(courier_stale, STATUS, shapes_count);
OP(courier_remove, STATUS, shapes_remove);
OP(pharmacy_remove, STATUS, shapes_remove);

int orders_retry(orders *o, const char *oid, const char *actor, const char *reason, orders_cb *cb,
                 void *ctx)
{
    const char *argv[] = {oid, actor, reason};
    return CALL(o, retry, argv, cb, ctx);
}

int orders_courier_bench(orders *o, const char *courier, const char *actor, const char *reason,
                         int bench, orders_cb *cb, void *ctx)
{
    const char *argv[] = {courier, actor, reason};
    if (bench)
        return CALL(o, courier_bench, argv, cb, ctx);
    return CALL(o, courier_unbench, argv, cb, ctx);
}

int orders_pharmacy_open(orders *o, const char *pharmacy_id, const char *actor, const char *reason,
                         int open, orders_cb *cb, void *ctx)
{
    const char *argv[] = {pharmacy_id, actor, reason, orders_bit(open)};
    return CALL(o, pharmacy_open, argv, cb, ctx);
}

int orders_zone_pause(orders *o, const orders_zone *z, const char *actor, const char *reason,
                      orders_cb *cb, void *ctx)
{
    orders_num n[4];
    int box = z->kind == ORDERS_ZONE_BOX;
    const char *argv[] = {z->id,
                          box ? "box" : "circle",
                          actor,
                          reason,
                          orders_coord(&n[0], box ? z->min_lat : z->lat),
                          orders_coord(&n[1], box ? z->min_lon : z->lon),
                          box ? orders_coord(&n[2], z->max_lat) : orders_coord(&n[2], z->radius_m),
                          orders_coord(&n[3], z->max_lon)};
    return orders_call_op(o, &op_zone_pause, box ? 8 : 7, argv, cb, ctx);
}

int orders_zone_resume(orders *o, const char *zone_id, const char *actor, const char *reason,
                       orders_cb *cb, void *ctx)
{
    const char *argv[] = {zone_id, actor, reason};
    return CALL(o, zone_resume, argv, cb, ctx);
}

int orders_zones(orders *o, orders_cb *cb, void *ctx)
{
    return orders_call_op(o, &op_zones, 0, NULL, cb, ctx);
}

int orders_hold_tick(orders *o, long long max_hold_ms, double radius_m, int limit, orders_cb *cb,
                     void *ctx)
{
    orders_num m, r, l;
    const char *argv[] = {orders_int(&m, max_hold_ms), orders_coord(&r, radius_m),
                          orders_int(&l, limit)};
    return CALL(o, hold_tick, argv, cb, ctx);
}

int orders_courier_stale(orders *o, long long before_ms, int limit, orders_cb *cb, void *ctx)
{
    orders_num b, l;
    const char *argv[] = {orders_int(&b, before_ms), orders_int(&l, limit)};
    return CALL(o, courier_stale, argv, cb, ctx);
}

static int orders_remove(orders *o, const orders_op *op, const char *id, orders_cb *cb, void *ctx)
{
    const char *argv[] = {id};
    return orders_call_op(o, op, 1, argv, cb, ctx);
}

int orders_courier_remove(orders *o, const char *courier, orders_cb *cb, void *ctx)
{
    return orders_remove(o, &op_courier_remove, courier, cb, ctx);
}

int orders_pharmacy_remove(orders *o, const char *pharmacy_id, orders_cb *cb, void *ctx)
{
    return orders_remove(o, &op_pharmacy_remove, pharmacy_id, cb, ctx);
}
