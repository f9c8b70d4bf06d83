/* orders_sm_test.c - the order state machine of the rxd_orders library,
 * driven at its own boundary: every order operation applied to an order in
 * every state of the lifecycle (SPEC section 3, docs/lifecycle.md), one
 * table row each, checking the reply's status word, the order's state
 * afterwards, what the order holds (the pharmacy's active and offer sets,
 * the couriers' order sets, the work queues) and the outbox entries the
 * call appended (one OrderEvent per event, one PatientNotice per change of
 * state, none on a refusal or a replay).
 *
 * Each row starts from an empty server: fixtures (pharmacies, couriers),
 * then the order is brought into the row's starting phase through the
 * library's own operations, then the row's operation runs once.
 *
 * Needs RXD_REDIS_URL (redis://host:port) of a server of its own: it issues
 * FLUSHALL and loads the library. Exits 0 when every row passes, 1 at the
 * first failure (with the row). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "check.h"
#include "ids.h"
#include "orders.h"
#include "scripts.h"

#define PREFIX "rxd:{default}:"
#define ANCHOR PREFIX "anchor"
/* The one order of a row: the id its create answered (ids are made from
 * Redis' clock, so a row cannot know it in advance). */
static char sm_oid[IDS_MAX + 1];
#define OID sm_oid
#define CODE "424242"
#define MAX_ARGS 20

/* One call of an operation; "$oid" and "$att" (the order's current attempt)
 * in args are filled in when it runs. */
typedef struct step {
    const char *op;
    const char *args[MAX_ARGS];
} step;

/* What an order holds, checked after every build and every row. */
enum {
    H_PH = 1,    /* in ph:ph-a:active (the pharmacy's capacity) */
    H_OFF = 2,   /* in ph:ph-a:offers */
    H_COA = 4,   /* in co:co-a:orders (the courier's capacity) */
    H_COB = 8,   /* in co:co-b:orders */
    H_DUE = 16,  /* in the due queue (routing, offer deadline) */
    H_DISP = 32, /* in the dispatch queue */
    H_CDUE = 64, /* in the cdue queue (courier answer deadline) */
};

/* A starting point: the order after parent's steps and then these. */
typedef struct phase {
    const char *name;
    const char *parent;
    step steps[3];
    const char *state; /* the order hash's state field ("" when none) */
    int holds;
} phase;

/* ---- operations as the table spells them ---- */

#define CREATE_ARGS(ful, unroutable)                                                               \
    {                                                                                              \
        "rx-1", "pat-1", "52.51", "13.40", "1", "addr", "[]", "", ful, "0", "1", "h-1", "1", "0",  \
            "0", CODE, unroutable, "60000"                                                         \
    }
#define S_CREATE                                                                                   \
    {                                                                                              \
        "create", CREATE_ARGS("0", "")                                                             \
    }
#define S_CREATE_C                                                                                 \
    {                                                                                              \
        "create", CREATE_ARGS("1", "")                                                             \
    }
#define S_CREATE_UNR                                                                               \
    {                                                                                              \
        "create", CREATE_ARGS("0", "no_pharmacy_in_range")                                         \
    }
#define S_OFFER_TO(ph, dl)                                                                         \
    {                                                                                              \
        "offer",                                                                                   \
        {                                                                                          \
            "$oid", "$att", ph, "900", dl                                                          \
        }                                                                                          \
    }
#define S_OFFER S_OFFER_TO("ph-a", "600000")
#define S_UNROUTE                                                                                  \
    {                                                                                              \
        "unroutable",                                                                              \
        {                                                                                          \
            "$oid", "*", "no_pharmacy"                                                             \
        }                                                                                          \
    }
#define S_EXPIRE                                                                                   \
    {                                                                                              \
        "expire",                                                                                  \
        {                                                                                          \
            "$oid", "$att"                                                                         \
        }                                                                                          \
    }
#define S_PH_BY(ph, act)                                                                           \
    {                                                                                              \
        "pharmacy",                                                                                \
        {                                                                                          \
            "$oid", ph, act, "why"                                                                 \
        }                                                                                          \
    }
#define S_PH(act) S_PH_BY("ph-a", act)
#define S_CANCEL                                                                                   \
    {                                                                                              \
        "cancel",                                                                                  \
        {                                                                                          \
            "order", "$oid", "patient_request"                                                     \
        }                                                                                          \
    }
#define S_CANCEL_RX                                                                                \
    {                                                                                              \
        "cancel",                                                                                  \
        {                                                                                          \
            "rx", "rx-1", "prescriber_withdrew"                                                    \
        }                                                                                          \
    }
#define S_ASSIGN_TO(c, dl, min_ts)                                                                 \
    {                                                                                              \
        "assign",                                                                                  \
        {                                                                                          \
            "$oid", c, dl, min_ts, "700"                                                           \
        }                                                                                          \
    }
#define S_ASSIGN S_ASSIGN_TO("co-a", "600000", "0")
#define S_CO_BY(c, act, arg)                                                                       \
    {                                                                                              \
        "courier",                                                                                 \
        {                                                                                          \
            "$oid", c, act, arg, "3"                                                               \
        }                                                                                          \
    }
#define S_CO(act) S_CO_BY("co-a", act, "")
#define S_DELIVER(code) S_CO_BY("co-a", "deliver", code)
#define S_CEXPIRE(max)                                                                             \
    {                                                                                              \
        "courier_expire",                                                                          \
        {                                                                                          \
            "$oid", "co-a", max                                                                    \
        }                                                                                          \
    }

/* a deadline of kind due after `after` ms in the state ("0": passed) */
#define S_DL_MISS(kind, after, max)                                                                \
    {                                                                                              \
        "deadline",                                                                                \
        {                                                                                          \
            "$oid", kind, after, max                                                               \
        }                                                                                          \
    }
#define S_DL(kind) S_DL_MISS(kind, "0", "3")
#define S_DL_AHEAD(kind) S_DL_MISS(kind, "600000000", "3")

/* ---- the phases ---- */

static const phase phases[] = {
    {"NONE", NULL, {{0}}, "", 0},
    {"TOMBSTONED", "NONE", {S_CANCEL_RX}, "", 0},
    {"ROUTING", "NONE", {S_CREATE}, "ROUTING", H_DUE},
    {"ROUTING_C", "NONE", {S_CREATE_C}, "ROUTING", H_DUE},
    {"OFFERED", "ROUTING", {S_OFFER}, "OFFERED", H_PH | H_OFF | H_DUE},
    {"OFFER_LAPSED", "ROUTING", {S_OFFER_TO("ph-a", "0")}, "OFFERED", H_PH | H_OFF | H_DUE},
    /* ph-a rejected: routing again, ph-a among the tried */
    {"REROUTING", "OFFERED", {S_PH("reject")}, "ROUTING", H_DUE},
    /* then offered to ph-b: ph-a holds nothing of it */
    {"OFFERED_B", "REROUTING", {S_OFFER_TO("ph-b", "600000")}, "OFFERED", H_DUE},
    {"ACCEPTED", "OFFERED", {S_PH("accept")}, "ACCEPTED", H_PH},
    {"READY", "ACCEPTED", {S_PH("ready")}, "READY", H_PH | H_DISP},
    {"OFFERED_C", "ROUTING_C", {S_OFFER}, "OFFERED", H_PH | H_OFF | H_DUE},
    {"ACCEPTED_C", "OFFERED_C", {S_PH("accept")}, "ACCEPTED", H_PH},
    /* a collection order waits for its patient, not for a courier */
    {"READY_C", "ACCEPTED_C", {S_PH("ready")}, "READY", H_PH},
    {"COLLECTED", "READY_C", {S_PH("collected")}, "COLLECTED", 0},
    {"ASSIGNED", "READY", {S_ASSIGN}, "COURIER_ASSIGNED", H_PH | H_COA | H_CDUE},
    {"ASSIGN_LAPSED",
     "READY",
     {S_ASSIGN_TO("co-a", "0", "0")},
     "COURIER_ASSIGNED",
     H_PH | H_COA | H_CDUE},
    {"ASSIGNED_FAR",
     "READY",
     {S_ASSIGN_TO("co-b", "600000", "0")},
     "COURIER_ASSIGNED",
     H_PH | H_COB | H_CDUE},
    /* co-a let its assignment lapse: ready again, co-a among the tried */
    {"READY_TRIED", "ASSIGN_LAPSED", {S_CEXPIRE("3")}, "READY", H_PH | H_DISP},
    {"C_ACCEPTED", "ASSIGNED", {S_CO("accept")}, "COURIER_ASSIGNED", H_PH | H_COA},
    {"PICKED_UP", "C_ACCEPTED", {S_CO("pickup")}, "PICKED_UP", H_COA},
    {"LOCKED", "PICKED_UP", {S_DELIVER("1"), S_DELIVER("2"), S_DELIVER("3")}, "PICKED_UP", H_COA},
    {"DELIVERED", "PICKED_UP", {S_DELIVER(CODE)}, "DELIVERED", 0},
    {"RETURNING", "PICKED_UP", {S_CO_BY("co-a", "fail", "not_home")}, "RETURNING", H_COA},
    {"RETURNED", "RETURNING", {S_PH("returned")}, "RETURNED", 0},
    {"CANCELLED", "ROUTING", {S_CANCEL}, "CANCELLED", 0},
    {"CANCELLED_O", "OFFERED", {S_CANCEL}, "CANCELLED", 0},
    {"CANCELLED_A", "ASSIGNED", {S_CANCEL}, "CANCELLED", 0},
    {"UNROUTABLE", "ROUTING", {S_UNROUTE}, "UNROUTABLE", 0},
    /* closed after ph-a rejected it: ph-a is still among the tried */
    {"CANCELLED_B", "OFFERED_B", {S_CANCEL}, "CANCELLED", 0},
    /* deadlines: each step taken once */
    {"REMINDED", "ACCEPTED", {S_DL("pack_remind")}, "ACCEPTED", H_PH},
    {"PACK_LAPSED", "ACCEPTED", {S_DL("pack")}, "ROUTING", H_DUE},
    {"PICKUP_LAPSED", "C_ACCEPTED", {S_DL("pickup")}, "READY", H_PH | H_DISP},
    {"PU_EXCEPTION", "PICKED_UP", {S_DL("deliver")}, "PICKED_UP", H_COA},
    {"RET_EXCEPTION", "RETURNING", {S_DL("return")}, "RETURNING", H_COA},
};

/* ---- the table ---- */

/* from: the starting phase; want: the status word (element 0, or the
 * reason of an 'err' reply, or 'replay' for an 'ok .. replay');
 * detail: the next element when not NULL; after: the phase the order is
 * in afterwards (its state and holdings); events: the kind:STATE of each
 * OrderEvent appended, in order; key/field/value: one more stored value
 * to check (field NULL: a string key), "$oid" allowed in key. */
typedef struct row {
    const char *from;
    step call;
    const char *want;
    const char *detail;
    const char *after;
    const char *events;
    const char *key, *field, *value;
} row;

#define NOEV ""
#define NOCHK NULL, NULL, NULL

static const row rows[] = {
    /* no order */
    {"NONE", S_OFFER, "stale", "", "NONE", NOEV, NOCHK},
    {"NONE", S_UNROUTE, "stale", "", "NONE", NOEV, NOCHK},
    {"NONE", S_EXPIRE, "stale", "", "NONE", NOEV, NOCHK},
    {"NONE", S_PH("accept"), "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_PH("reject"), "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_PH("ready"), "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_PH("collected"), "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_PH("returned"), "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_CANCEL, "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_ASSIGN, "stale", "", "NONE", NOEV, NOCHK},
    {"NONE", S_CO("accept"), "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_CO("deliver"), "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_CO("decline"), "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_CO("pickup"), "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_CO("fail"), "not_found", NULL, "NONE", NOEV, NOCHK},
    {"NONE", S_CEXPIRE("3"), "stale", "", "NONE", NOEV, NOCHK},
    {"NONE", S_CANCEL_RX, "ok", "tombstone", "NONE", NOEV, PREFIX "rxcancel:rx-1", NULL,
     "prescriber_withdrew"},
    {"NONE", S_CREATE, "created", OID, "ROUTING", "created:ROUTING", PREFIX "rx:rx-1", NULL, OID},
    {"NONE", S_CREATE_UNR, "created", OID, "UNROUTABLE", "created:ROUTING,unroutable:UNROUTABLE",
     NOCHK},
    /* a cancel that came before its order */
    {"TOMBSTONED", S_CREATE, "created", OID, "CANCELLED", "created:ROUTING,cancelled:CANCELLED",
     NOCHK},

    /* ROUTING */
    {"ROUTING", S_CREATE, "exists", OID, "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_OFFER, "offered", "1", "OFFERED", "offered:OFFERED", PREFIX "ord:$oid",
     "pharmacy", "ph-a"},
    {"ROUTING",
     {"offer", {"$oid", "5", "ph-a", "900", "600000"}},
     "stale",
     "ROUTING",
     "ROUTING",
     NOEV,
     NOCHK},
    {"ROUTING", S_OFFER_TO("ph-shut", "600000"), "busy", NULL, "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_OFFER_TO("ph-full", "600000"), "busy", NULL, "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_UNROUTE, "ok", "UNROUTABLE", "UNROUTABLE", "unroutable:UNROUTABLE", NOCHK},
    {"ROUTING", {"unroutable", {"$oid", "3", "x"}}, "stale", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_EXPIRE, "stale", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_PH("accept"), "forbidden", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_PH("reject"), "forbidden", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_PH("ready"), "forbidden", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_PH("collected"), "forbidden", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_PH("returned"), "forbidden", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_CANCEL, "ok", "CANCELLED", "CANCELLED", "cancelled:CANCELLED", NOCHK},
    {"ROUTING", S_CANCEL_RX, "ok", "CANCELLED", "CANCELLED", "cancelled:CANCELLED", NOCHK},
    {"ROUTING", S_ASSIGN, "stale", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_CO("accept"), "forbidden", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_CO("decline"), "forbidden", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_CO("pickup"), "forbidden", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_DELIVER(CODE), "forbidden", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_CO("fail"), "forbidden", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_CEXPIRE("3"), "stale", "ROUTING", "ROUTING", NOEV, NOCHK},

    /* OFFERED to ph-a, deadline ahead */
    {"OFFERED", S_CREATE, "exists", OID, "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_OFFER, "stale", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_UNROUTE, "stale", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_EXPIRE, "stale", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_PH("accept"), "ok", "ACCEPTED", "ACCEPTED", "accepted:ACCEPTED", NOCHK},
    {"OFFERED", S_PH_BY("ph-b", "accept"), "forbidden", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_PH("reject"), "ok", "ROUTING", "REROUTING", "rejected:ROUTING", PREFIX "ord:$oid",
     "pharmacy", ""},
    {"OFFERED", S_PH("ready"), "conflict", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_PH("collected"), "conflict", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_PH("returned"), "conflict", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_CANCEL, "ok", "CANCELLED", "CANCELLED", "cancelled:CANCELLED", NOCHK},
    {"OFFERED", S_ASSIGN, "stale", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_CO("accept"), "forbidden", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_CO("decline"), "forbidden", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_CO("pickup"), "forbidden", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_CO("fail"), "forbidden", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_DELIVER(CODE), "forbidden", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_CEXPIRE("3"), "stale", "OFFERED", "OFFERED", NOEV, NOCHK},
    /* the accept deadline passed */
    {"OFFER_LAPSED", S_EXPIRE, "ok", "ROUTING", "REROUTING", "offer_expired:ROUTING",
     PREFIX "ord:$oid", "pharmacy", ""},
    {"OFFER_LAPSED", {"expire", {"$oid", "7"}}, "stale", "OFFERED", "OFFER_LAPSED", NOEV, NOCHK},
    {"OFFER_LAPSED", S_PH("accept"), "ok", "ACCEPTED", "ACCEPTED", "accepted:ACCEPTED", NOCHK},
    /* routing again after ph-a said no */
    {"REROUTING", S_PH("accept"), "conflict", "ROUTING", "REROUTING", NOEV, NOCHK},
    {"REROUTING", S_PH_BY("ph-b", "accept"), "forbidden", "ROUTING", "REROUTING", NOEV, NOCHK},
    {"REROUTING", S_OFFER, "tried", NULL, "REROUTING", NOEV, NOCHK},
    {"OFFERED_B", S_PH("accept"), "conflict", "OFFERED", "OFFERED_B", NOEV, NOCHK},
    {"REROUTING", S_OFFER_TO("ph-b", "600000"), "offered", "2", "OFFERED_B", "offered:OFFERED",
     PREFIX "ord:$oid", "pharmacy", "ph-b"},

    /* ACCEPTED */
    {"ACCEPTED", S_OFFER, "stale", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_UNROUTE, "stale", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_EXPIRE, "stale", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_PH("accept"), "replay", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_PH_BY("ph-b", "accept"), "forbidden", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_PH("reject"), "conflict", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_PH("ready"), "ok", "READY", "READY", "ready:READY", NOCHK},
    {"ACCEPTED", S_PH("collected"), "conflict", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_PH("returned"), "conflict", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_CANCEL, "ok", "CANCELLED", "CANCELLED", "cancelled:CANCELLED", NOCHK},
    {"ACCEPTED", S_ASSIGN, "stale", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_CO("accept"), "forbidden", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_CO("decline"), "forbidden", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_CO("pickup"), "forbidden", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_CO("fail"), "forbidden", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_DELIVER(CODE), "forbidden", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_CREATE, "exists", OID, "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_CEXPIRE("3"), "stale", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},

    /* READY, a delivery order waiting for a courier */
    {"READY", S_OFFER, "stale", "READY", "READY", NOEV, NOCHK},
    {"READY", S_UNROUTE, "stale", "READY", "READY", NOEV, NOCHK},
    {"READY", S_EXPIRE, "stale", "READY", "READY", NOEV, NOCHK},
    {"READY", S_PH("accept"), "conflict", "READY", "READY", NOEV, NOCHK},
    {"READY", S_PH("reject"), "conflict", "READY", "READY", NOEV, NOCHK},
    {"READY", S_PH("ready"), "replay", "READY", "READY", NOEV, NOCHK},
    {"READY", S_PH("collected"), "conflict", "READY", "READY", NOEV, NOCHK},
    {"READY", S_PH("returned"), "conflict", "READY", "READY", NOEV, NOCHK},
    {"READY", S_CANCEL, "ok", "CANCELLED", "CANCELLED", "cancelled:CANCELLED", NOCHK},
    {"READY", S_ASSIGN, "assigned", NULL, "ASSIGNED", "courier_assigned:COURIER_ASSIGNED",
     PREFIX "ord:$oid", "courier", "co-a"},
    {"READY", S_ASSIGN_TO("co-off", "600000", "0"), "busy", "unavailable", "READY", NOEV, NOCHK},
    {"READY", S_ASSIGN_TO("co-full", "600000", "0"), "busy", "at_capacity", "READY", NOEV, NOCHK},
    {"READY", S_ASSIGN_TO("co-a", "600000", "9999999999999"), "busy", "stale_position", "READY",
     NOEV, NOCHK},
    {"READY", S_CO("accept"), "forbidden", "READY", "READY", NOEV, NOCHK},
    {"READY", S_CO("pickup"), "forbidden", "READY", "READY", NOEV, NOCHK},
    {"READY", S_CO("decline"), "forbidden", "READY", "READY", NOEV, NOCHK},
    {"READY", S_CO("fail"), "forbidden", "READY", "READY", NOEV, NOCHK},
    {"READY", S_DELIVER(CODE), "forbidden", "READY", "READY", NOEV, NOCHK},
    {"READY", S_CREATE, "exists", OID, "READY", NOEV, NOCHK},
    {"READY", S_CEXPIRE("3"), "stale", "READY", "READY", NOEV, NOCHK},
    {"READY_TRIED", S_ASSIGN, "busy", "tried", "READY_TRIED", NOEV, NOCHK},
    {"READY_TRIED", S_ASSIGN_TO("co-b", "600000", "0"), "assigned", NULL, "ASSIGNED_FAR",
     "courier_assigned:COURIER_ASSIGNED", NOCHK},

    /* the collection path */
    {"ACCEPTED_C", S_PH("ready"), "ok", "READY", "READY_C", "ready:READY", NOCHK},
    {"READY_C", S_PH("collected"), "ok", "COLLECTED", "COLLECTED", "collected:COLLECTED", NOCHK},
    {"READY_C", S_PH_BY("ph-b", "collected"), "forbidden", "READY", "READY_C", NOEV, NOCHK},
    {"READY_C", S_PH("ready"), "replay", "READY", "READY_C", NOEV, NOCHK},
    {"READY_C", S_ASSIGN, "stale", "READY", "READY_C", NOEV, NOCHK},
    {"READY_C", S_CANCEL, "ok", "CANCELLED", "CANCELLED", "cancelled:CANCELLED", NOCHK},

    /* COURIER_ASSIGNED to co-a, not yet accepted, deadline ahead */
    {"ASSIGNED", S_OFFER, "stale", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"ASSIGNED", S_UNROUTE, "stale", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"ASSIGNED", S_EXPIRE, "stale", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"ASSIGNED", S_PH("accept"), "conflict", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"ASSIGNED", S_PH("reject"), "conflict", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"ASSIGNED", S_PH("ready"), "conflict", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    /* the pharmacy confirms the handover: that is the pickup */
    {"ASSIGNED", S_PH("collected"), "ok", "PICKED_UP", "PICKED_UP", "picked_up:PICKED_UP", NOCHK},
    {"ASSIGNED", S_PH("returned"), "conflict", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"ASSIGNED", S_CANCEL, "ok", "CANCELLED", "CANCELLED", "cancelled:CANCELLED", NOCHK},
    {"ASSIGNED", S_ASSIGN, "stale", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"ASSIGNED", S_CO("accept"), "ok", "COURIER_ASSIGNED", "C_ACCEPTED",
     "courier_accepted:COURIER_ASSIGNED", NOCHK},
    {"ASSIGNED", S_CO_BY("co-b", "accept", ""), "forbidden", "COURIER_ASSIGNED", "ASSIGNED", NOEV,
     NOCHK},
    {"ASSIGNED", S_CO("decline"), "ok", "READY", "READY", "courier_declined:READY",
     PREFIX "ord:$oid", "courier", ""},
    {"ASSIGNED", S_CO("pickup"), "ok", "PICKED_UP", "PICKED_UP", "picked_up:PICKED_UP", NOCHK},
    {"ASSIGNED",
     {"courier", {"$oid", "co-a", "pickup", "", "3", "300", "120000", "handover"}},
     "refused",
     "handover_required",
     "ASSIGNED",
     NOEV,
     NOCHK},
    {"ASSIGNED", S_DELIVER(CODE), "conflict", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"ASSIGNED", S_CO("fail"), "conflict", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"ASSIGNED", S_CEXPIRE("3"), "stale", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"ASSIGNED", S_CREATE, "exists", OID, "ASSIGNED", NOEV, NOCHK},
    /* the courier's answer deadline passed */
    {"ASSIGN_LAPSED", S_CEXPIRE("3"), "ok", "available", "READY", "courier_timeout:READY",
     PREFIX "co:co-a", "misses", "1"},
    {"ASSIGN_LAPSED", S_CEXPIRE("1"), "ok", "unavailable", "READY", "courier_timeout:READY",
     PREFIX "co:co-a", "available", "0"},
    {"ASSIGN_LAPSED",
     {"courier_expire", {"$oid", "co-b", "3"}},
     "stale",
     "COURIER_ASSIGNED",
     "ASSIGN_LAPSED",
     NOEV,
     NOCHK},
    {"ASSIGN_LAPSED", S_CO("accept"), "ok", "COURIER_ASSIGNED", "C_ACCEPTED",
     "courier_accepted:COURIER_ASSIGNED", NOCHK},
    /* co-b is far from the pharmacy */
    {"ASSIGNED_FAR", S_CO_BY("co-b", "pickup", ""), "refused", "not_at_pharmacy", "ASSIGNED_FAR",
     NOEV, NOCHK},
    {"ASSIGNED_FAR", S_CO("pickup"), "forbidden", "COURIER_ASSIGNED", "ASSIGNED_FAR", NOEV, NOCHK},

    /* COURIER_ASSIGNED, accepted by co-a */
    {"C_ACCEPTED", S_CO("accept"), "replay", "COURIER_ASSIGNED", "C_ACCEPTED", NOEV, NOCHK},
    {"C_ACCEPTED", S_CO("decline"), "conflict", "COURIER_ASSIGNED", "C_ACCEPTED", NOEV, NOCHK},
    {"C_ACCEPTED", S_CO("pickup"), "ok", "PICKED_UP", "PICKED_UP", "picked_up:PICKED_UP", NOCHK},
    {"C_ACCEPTED", S_PH("collected"), "ok", "PICKED_UP", "PICKED_UP", "picked_up:PICKED_UP", NOCHK},
    {"C_ACCEPTED", S_DELIVER(CODE), "conflict", "COURIER_ASSIGNED", "C_ACCEPTED", NOEV, NOCHK},
    {"C_ACCEPTED", S_CEXPIRE("3"), "stale", "COURIER_ASSIGNED", "C_ACCEPTED", NOEV, NOCHK},
    {"C_ACCEPTED", S_CANCEL, "ok", "CANCELLED", "CANCELLED", "cancelled:CANCELLED", NOCHK},
    {"C_ACCEPTED", S_ASSIGN, "stale", "COURIER_ASSIGNED", "C_ACCEPTED", NOEV, NOCHK},

    /* PICKED_UP by co-a */
    {"PICKED_UP", S_OFFER, "stale", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_UNROUTE, "stale", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_EXPIRE, "stale", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_PH("accept"), "conflict", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_PH("reject"), "conflict", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_PH("ready"), "conflict", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_PH("collected"), "replay", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_PH("returned"), "conflict", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_CANCEL, "conflict", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_ASSIGN, "stale", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_CO("accept"), "conflict", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_CO("decline"), "conflict", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_CO("pickup"), "replay", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_DELIVER(CODE), "ok", "DELIVERED", "DELIVERED", "delivered:DELIVERED", NOCHK},
    {"PICKED_UP", S_DELIVER("000000"), "wrong_code", "2", "PICKED_UP", NOEV, PREFIX "ord:$oid",
     "wrong_codes", "1"},
    {"PICKED_UP", S_CO_BY("co-b", "deliver", CODE), "forbidden", "PICKED_UP", "PICKED_UP", NOEV,
     NOCHK},
    {"PICKED_UP", S_CO_BY("co-a", "fail", "not_home"), "ok", "RETURNING", "RETURNING",
     "delivery_failed:RETURNING", NOCHK},
    {"PICKED_UP", S_CEXPIRE("3"), "stale", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_CREATE, "exists", OID, "PICKED_UP", NOEV, NOCHK},
    /* three wrong codes of three allowed: locked, even to the right one */
    {"LOCKED", S_DELIVER(CODE), "locked", "PICKED_UP", "LOCKED", NOEV, PREFIX "ord:$oid",
     "wrong_codes", "3"},
    {"LOCKED", S_DELIVER("000000"), "locked", "PICKED_UP", "LOCKED", NOEV, PREFIX "ord:$oid",
     "wrong_codes", "3"},
    {"LOCKED", S_CO_BY("co-a", "fail", "code_locked"), "ok", "RETURNING", "RETURNING",
     "delivery_failed:RETURNING", NOCHK},

    /* DELIVERED */
    {"DELIVERED", S_OFFER, "stale", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_UNROUTE, "stale", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_EXPIRE, "stale", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_PH("accept"), "conflict", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_PH("collected"), "conflict", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_PH("returned"), "conflict", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_CANCEL, "conflict", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_ASSIGN, "stale", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_CO("accept"), "conflict", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_CO("pickup"), "conflict", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_DELIVER(CODE), "replay", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_CO_BY("co-b", "deliver", CODE), "forbidden", "DELIVERED", "DELIVERED", NOEV,
     NOCHK},
    {"DELIVERED", S_CO("fail"), "conflict", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_CEXPIRE("3"), "stale", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_PH("reject"), "conflict", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_PH("ready"), "conflict", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_CO("decline"), "conflict", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"DELIVERED", S_CREATE, "exists", OID, "DELIVERED", NOEV, NOCHK},

    /* RETURNING to ph-a, RETURNED */
    {"RETURNING", S_PH("returned"), "ok", "RETURNED", "RETURNED", "returned:RETURNED", NOCHK},
    {"RETURNING", S_PH_BY("ph-b", "returned"), "forbidden", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_PH("collected"), "conflict", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_CO("fail"), "replay", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_DELIVER(CODE), "conflict", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_CANCEL, "conflict", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_ASSIGN, "stale", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_CEXPIRE("3"), "stale", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_OFFER, "stale", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_UNROUTE, "stale", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_EXPIRE, "stale", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_PH("accept"), "conflict", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_PH("reject"), "conflict", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_PH("ready"), "conflict", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_CO("accept"), "conflict", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_CO("decline"), "conflict", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_CO("pickup"), "conflict", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_CREATE, "exists", OID, "RETURNING", NOEV, NOCHK},
    {"RETURNED", S_PH("returned"), "replay", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_PH("accept"), "conflict", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_CANCEL, "conflict", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_CO("fail"), "conflict", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_DELIVER(CODE), "conflict", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_OFFER, "stale", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_UNROUTE, "stale", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_EXPIRE, "stale", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_ASSIGN, "stale", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_CEXPIRE("3"), "stale", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_PH("reject"), "conflict", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_PH("ready"), "conflict", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_PH("collected"), "conflict", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_CO("accept"), "conflict", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_CO("decline"), "conflict", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_CO("pickup"), "conflict", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"RETURNED", S_CREATE, "exists", OID, "RETURNED", NOEV, NOCHK},

    /* COLLECTED */
    {"COLLECTED", S_PH("collected"), "replay", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_PH("returned"), "conflict", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_CANCEL, "conflict", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_ASSIGN, "stale", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_OFFER, "stale", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_UNROUTE, "stale", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_EXPIRE, "stale", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_CEXPIRE("3"), "stale", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_PH("accept"), "conflict", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_PH("reject"), "conflict", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_PH("ready"), "conflict", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_CO("accept"), "forbidden", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_CO("decline"), "forbidden", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_CO("pickup"), "forbidden", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_CO("fail"), "forbidden", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_DELIVER(CODE), "forbidden", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"COLLECTED", S_CREATE, "exists", OID, "COLLECTED", NOEV, NOCHK},

    /* CANCELLED */
    {"CANCELLED", S_CANCEL, "ok", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_CANCEL_RX, "ok", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_CREATE, "exists", OID, "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_OFFER, "stale", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_UNROUTE, "stale", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_EXPIRE, "stale", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_PH("accept"), "forbidden", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_ASSIGN, "stale", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_CO("accept"), "forbidden", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_CEXPIRE("3"), "stale", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_PH("reject"), "forbidden", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_PH("ready"), "forbidden", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_PH("collected"), "forbidden", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_PH("returned"), "forbidden", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_CO("decline"), "forbidden", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_CO("pickup"), "forbidden", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_CO("fail"), "forbidden", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"CANCELLED", S_DELIVER(CODE), "forbidden", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    /* cancelled after the assignment: still its pharmacy's and courier's, past acting on */
    {"CANCELLED_A", S_PH("collected"), "conflict", "CANCELLED", "CANCELLED_A", NOEV, NOCHK},
    {"CANCELLED_A", S_CO("accept"), "conflict", "CANCELLED", "CANCELLED_A", NOEV, NOCHK},
    {"CANCELLED_A", S_CO("pickup"), "conflict", "CANCELLED", "CANCELLED_A", NOEV, NOCHK},
    {"CANCELLED_A", S_CEXPIRE("3"), "stale", "CANCELLED", "CANCELLED_A", NOEV, NOCHK},
    {"CANCELLED_O", S_PH("accept"), "conflict", "CANCELLED", "CANCELLED_O", NOEV, NOCHK},
    {"CANCELLED_O", S_EXPIRE, "stale", "CANCELLED", "CANCELLED_O", NOEV, NOCHK},

    /* UNROUTABLE */
    {"UNROUTABLE", S_UNROUTE, "stale", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_OFFER, "stale", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_CANCEL, "conflict", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_CREATE, "exists", OID, "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_PH("accept"), "forbidden", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_ASSIGN, "stale", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_CO("accept"), "forbidden", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_EXPIRE, "stale", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_CEXPIRE("3"), "stale", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_PH("reject"), "forbidden", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_PH("ready"), "forbidden", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_PH("collected"), "forbidden", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_PH("returned"), "forbidden", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    /* a closed record still tells a pharmacy it once offered to that it moved on */
    {"CANCELLED_B", S_PH("accept"), "conflict", "CANCELLED", "CANCELLED_B", NOEV, NOCHK},
    {"CANCELLED_B", S_PH_BY("ph-shut", "accept"), "forbidden", "CANCELLED", "CANCELLED_B", NOEV,
     NOCHK},
    {"CANCELLED_B", S_PH_BY("ph-b", "accept"), "conflict", "CANCELLED", "CANCELLED_B", NOEV, NOCHK},
    {"UNROUTABLE", S_CO("decline"), "forbidden", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_CO("pickup"), "forbidden", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_CO("fail"), "forbidden", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
    {"UNROUTABLE", S_DELIVER(CODE), "forbidden", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},

    /* deadlines (deadlines.lua): a step only in its own state, once */
    {"NONE", S_DL("pack"), "stale", "", "NONE", NOEV, NOCHK},
    {"NONE", S_DL("deliver"), "stale", "", "NONE", NOEV, NOCHK},
    {"ROUTING", S_DL("pack"), "stale", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"ROUTING", S_DL("collect"), "stale", "ROUTING", "ROUTING", NOEV, NOCHK},
    {"OFFERED", S_DL("pack_remind"), "stale", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"OFFERED", S_DL("pickup"), "stale", "OFFERED", "OFFERED", NOEV, NOCHK},
    {"ACCEPTED", S_DL_AHEAD("pack_remind"), "stale", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_DL("pack_remind"), "ok", "ACCEPTED", "REMINDED", "reminded:ACCEPTED", NOCHK},
    {"REMINDED", S_DL("pack_remind"), "stale", "ACCEPTED", "REMINDED", NOEV, NOCHK},
    {"REMINDED", S_DL("pack"), "ok", "ROUTING", "PACK_LAPSED", "pack_expired:ROUTING",
     PREFIX "ord:$oid", "pharmacy", ""},
    {"ACCEPTED", S_DL_AHEAD("pack"), "stale", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_DL("pack"), "ok", "ROUTING", "PACK_LAPSED", "pack_expired:ROUTING",
     PREFIX "ord:$oid", "accept_by", "0"},
    {"ACCEPTED", S_DL("collect"), "stale", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"ACCEPTED", S_DL("deliver"), "stale", "ACCEPTED", "ACCEPTED", NOEV, NOCHK},
    {"PACK_LAPSED", S_DL("pack"), "stale", "ROUTING", "PACK_LAPSED", NOEV, NOCHK},
    /* re-routed as after a rejection: ph-a is among the tried */
    {"PACK_LAPSED", S_OFFER, "tried", NULL, "PACK_LAPSED", NOEV, NOCHK},
    {"PACK_LAPSED", S_OFFER_TO("ph-b", "600000"), "offered", "2", "OFFERED_B", "offered:OFFERED",
     NOCHK},
    {"READY", S_DL("collect"), "stale", "READY", "READY", NOEV, NOCHK},
    {"READY", S_DL("pack"), "stale", "READY", "READY", NOEV, NOCHK},
    {"READY_C", S_DL_AHEAD("collect"), "stale", "READY", "READY_C", NOEV, NOCHK},
    {"READY_C", S_DL("collect"), "ok", "RETURNED", "RETURNED", "not_collected:RETURNED",
     PREFIX "ord:$oid", "reason", "not_collected"},
    {"ASSIGNED", S_DL("pickup"), "stale", "COURIER_ASSIGNED", "ASSIGNED", NOEV, NOCHK},
    {"C_ACCEPTED", S_DL_AHEAD("pickup"), "stale", "COURIER_ASSIGNED", "C_ACCEPTED", NOEV, NOCHK},
    {"C_ACCEPTED", S_DL("pickup"), "ok", "READY", "PICKUP_LAPSED", "courier_pickup_timeout:READY",
     PREFIX "co:co-a", "misses", "1"},
    {"C_ACCEPTED", S_DL_MISS("pickup", "0", "1"), "ok", "READY", "PICKUP_LAPSED",
     "courier_pickup_timeout:READY", PREFIX "co:co-a", "available", "0"},
    {"C_ACCEPTED", S_DL("deliver"), "stale", "COURIER_ASSIGNED", "C_ACCEPTED", NOEV, NOCHK},
    {"PICKUP_LAPSED", S_DL("pickup"), "stale", "READY", "PICKUP_LAPSED", NOEV, NOCHK},
    /* another courier may take it, not co-a */
    {"PICKUP_LAPSED", S_ASSIGN, "busy", "tried", "PICKUP_LAPSED", NOEV, NOCHK},
    {"PICKED_UP", S_DL_AHEAD("deliver"), "stale", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PICKED_UP", S_DL("deliver"), "ok", "PICKED_UP", "PU_EXCEPTION", "exception:PICKED_UP", NOCHK},
    {"PICKED_UP", S_DL("return"), "stale", "PICKED_UP", "PICKED_UP", NOEV, NOCHK},
    {"PU_EXCEPTION", S_DL("deliver"), "stale", "PICKED_UP", "PU_EXCEPTION", NOEV, NOCHK},
    {"PU_EXCEPTION", S_DELIVER(CODE), "ok", "DELIVERED", "DELIVERED", "delivered:DELIVERED", NOCHK},
    {"RETURNING", S_DL("deliver"), "stale", "RETURNING", "RETURNING", NOEV, NOCHK},
    {"RETURNING", S_DL("return"), "ok", "RETURNING", "RET_EXCEPTION", "exception:RETURNING", NOCHK},
    {"RET_EXCEPTION", S_DL("return"), "stale", "RETURNING", "RET_EXCEPTION", NOEV, NOCHK},
    {"RET_EXCEPTION", S_PH("returned"), "ok", "RETURNED", "RETURNED", "returned:RETURNED", NOCHK},
    {"DELIVERED", S_DL("deliver"), "stale", "DELIVERED", "DELIVERED", NOEV, NOCHK},
    {"RETURNED", S_DL("return"), "stale", "RETURNED", "RETURNED", NOEV, NOCHK},
    {"COLLECTED", S_DL("collect"), "stale", "COLLECTED", "COLLECTED", NOEV, NOCHK},
    {"CANCELLED", S_DL("pack"), "stale", "CANCELLED", "CANCELLED", NOEV, NOCHK},
    {"UNROUTABLE", S_DL("pack"), "stale", "UNROUTABLE", "UNROUTABLE", NOEV, NOCHK},
};

/* ---- the server ---- */

static redisContext *rc;

/* The final states (lib_head.lua's FINAL_STATES) and the live ones, each
 * with its index idx:st:<STATE>. */
static const char *const final_states[] = {"DELIVERED", "COLLECTED", "RETURNED", "CANCELLED",
                                           "UNROUTABLE"};
static const char *const live_states[] = {"ROUTING",          "OFFERED",   "ACCEPTED", "READY",
                                          "COURIER_ASSIGNED", "PICKED_UP", "RETURNING"};

static int is_final(const char *state)
{
    for (size_t i = 0; i < sizeof(final_states) / sizeof(final_states[0]); i++)
        if (strcmp(state, final_states[i]) == 0)
            return 1;
    return 0;
}

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    CHECK(r, "redis: %s", rc->errstr);
    return r;
}

static const char *elem(const redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    const redisReply *e = r->element[i];
    return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS ? e->str : NULL;
}

/* The string a field (or, field NULL, a string key) holds, "" when none. */
static void stored(const char *key, const char *field, char *out, size_t outlen)
{
    redisReply *r = field ? cmd("HGET %s %s", key, field) : cmd("GET %s", key);
    snprintf(out, outlen, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* PREFIX "ord:" OID part: the order's key, or one of its parts (":tl"). */
static const char *okey(const char *part)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), PREFIX "ord:%s%s", OID, part);
    return buf;
}

/* Runs one step: FCALL rxd_<op> 1 <anchor> <prefix> args, "$oid" and
 * "$att" filled in. */
static redisReply *run_step(const step *s)
{
    const char *argv[MAX_ARGS + 5];
    char att[32];
    int argc = 0;
    char fn[64];
    snprintf(fn, sizeof(fn), "rxd_%s", s->op);
    stored(okey(""), "attempt", att, sizeof(att));
    if (!att[0])
        snprintf(att, sizeof(att), "0");
    argv[argc++] = "FCALL";
    argv[argc++] = fn;
    argv[argc++] = "1";
    argv[argc++] = ANCHOR;
    argv[argc++] = PREFIX;
    for (int i = 0; i < MAX_ARGS && s->args[i]; i++) {
        const char *a = s->args[i];
        argv[argc++] = strcmp(a, "$oid") == 0 ? OID : strcmp(a, "$att") == 0 ? att : a;
    }
    redisReply *r = redisCommandArgv(rc, argc, argv, NULL);
    CHECK(r, "redis: %s", rc->errstr);
    if (strcmp(s->op, "create") == 0 && r->type == REDIS_REPLY_ARRAY && elem(r, 0) &&
        strcmp(elem(r, 0), "created") == 0 && elem(r, 1))
        snprintf(sm_oid, sizeof(sm_oid), "%s", elem(r, 1));
    return r;
}

static void fixture(const char *op, int argc, const char **args)
{
    step s = {op, {0}};
    for (int i = 0; i < argc; i++)
        s.args[i] = args[i];
    redisReply *r = run_step(&s);
    CHECK(r->type == REDIS_REPLY_ARRAY && elem(r, 0) && strcmp(elem(r, 0), "ok") == 0,
          "fixture %s %s: %s", op, args[0], r->type == REDIS_REPLY_ERROR ? r->str : "not ok");
    freeReplyObject(r);
}

/* An empty server with ph-a (open, room), ph-b (another open pharmacy),
 * ph-shut (closed), ph-full (no room); co-a at ph-a, co-b far away, co-off
 * unavailable, co-full with no room. Positions are dated by the server's
 * clock so that they are fresh. */
static void fixtures(void)
{
    freeReplyObject(cmd("FLUSHALL"));
    snprintf(sm_oid, sizeof(sm_oid), "default-none"); /* no order yet: an id nothing names */
    redisReply *t = cmd("TIME");
    CHECK(t->type == REDIS_REPLY_ARRAY && t->elements == 2, "TIME");
    char now[32];
    snprintf(now, sizeof(now), "%lld",
             atoll(t->element[0]->str) * 1000 + atoll(t->element[1]->str) / 1000);
    freeReplyObject(t);
    const char *pa[] = {"ph-a", "A", "52.5200", "13.4050", "1", "5", "0", "1"};
    const char *pb[] = {"ph-b", "B", "52.5300", "13.4100", "1", "5", "0", "1"};
    const char *ps[] = {"ph-shut", "S", "52.5200", "13.4060", "0", "5", "0", "1"};
    const char *pf[] = {"ph-full", "F", "52.5200", "13.4070", "1", "0", "0", "1"};
    fixture("pharmacy_put", 8, pa);
    fixture("pharmacy_put", 8, pb);
    fixture("pharmacy_put", 8, ps);
    fixture("pharmacy_put", 8, pf);
    const struct {
        const char *id, *avail, *cap, *lat, *lon;
    } co[] = {
        {"co-a", "1", "3", "52.5200", "13.4050"},
        {"co-b", "1", "3", "52.6500", "13.6000"},
        {"co-off", "0", "3", "52.5200", "13.4050"},
        {"co-full", "1", "0", "52.5200", "13.4050"},
    };
    for (size_t i = 0; i < sizeof(co) / sizeof(co[0]); i++) {
        const char *av[] = {co[i].id, co[i].avail, "0", co[i].cap};
        const char *loc[] = {co[i].id, co[i].lat, co[i].lon, now};
        fixture("courier_avail", 4, av);
        fixture("courier_loc", 4, loc);
    }
}

static const phase *phase_named(const char *name)
{
    for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
        if (strcmp(phases[i].name, name) == 0)
            return &phases[i];
    check_fail(__FILE__, __LINE__, "no phase %s in the table", name);
    return NULL;
}

/* 1 when the order is in the set (or, zset 1, the sorted set) at key. */
static int holds_order(const char *key, int zset)
{
    redisReply *r = zset ? cmd("ZSCORE %s %s", key, OID) : cmd("SISMEMBER %s %s", key, OID);
    int in =
        zset ? r->type == REDIS_REPLY_STRING : r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return in;
}

static long long pttl(const char *key)
{
    redisReply *r = cmd("PTTL %s", key);
    long long ms = r->type == REDIS_REPLY_INTEGER ? r->integer : -3;
    freeReplyObject(r);
    return ms;
}

static long long key_exists(const char *key)
{
    redisReply *r = cmd("EXISTS %s", key);
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

/* A closed order: a hash without patient data or code, expiring with its
 * timeline (one entry per event); no tried sets; the rx: key expiring
 * later than the record. */
static void expect_closed(const char *what)
{
    static const char *const gone[] = {"patient", "address", "items", "code", "lat", "lon"};
    static const char *const kept[] = {"id", "rx", "state", "created_ms", "closed_ms", "seq"};
    char v[256];
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        stored(okey(""), gone[i], v, sizeof(v));
        CHECK(!v[0], "%s: closed record still holds %s '%s'", what, gone[i], v);
    }
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        stored(okey(""), kept[i], v, sizeof(v));
        CHECK(v[0], "%s: closed record lost %s", what, kept[i]);
    }
    long long rec = pttl(okey("")), rx = pttl(PREFIX "rx:rx-1");
    CHECK(rec > 0 && rec <= 72LL * 3600 * 1000, "%s: closed record's PTTL %lld, want 1..72 h", what,
          rec);
    CHECK(rx > rec, "%s: rx:rx-1 PTTL %lld, want above the record's %lld", what, rx, rec);
    CHECK(pttl(okey(":tl")) > 0, "%s: the timeline does not expire", what);
    char seq[16];
    stored(okey(""), "seq", seq, sizeof(seq));
    redisReply *r = cmd("LLEN %s", okey(":tl"));
    CHECK(r->type == REDIS_REPLY_INTEGER && r->integer == atoll(seq),
          "%s: timeline of %lld entries, want %s", what, r->integer, seq);
    freeReplyObject(r);
    CHECK(key_exists(okey(":tried")) == 0 && key_exists(okey(":ctried")) == 0,
          "%s: tried sets left after the close", what);
}

/* Checks that the order is in phase p: its state and what it holds. */
static void expect_phase(const phase *p, const char *what)
{
    static const struct {
        int bit;
        const char *key;
        int zset;
    } holds[] = {
        {H_PH, PREFIX "ph:ph-a:active", 0},
        {H_OFF, PREFIX "ph:ph-a:offers", 0},
        {H_COA, PREFIX "co:co-a:orders", 0},
        {H_COB, PREFIX "co:co-b:orders", 0},
        {H_DUE, PREFIX "due", 1},
        {H_DISP, PREFIX "dispatch", 1},
        {H_CDUE, PREFIX "cdue", 1},
    };
    char state[64];
    stored(okey(""), "state", state, sizeof(state));
    CHECK(strcmp(state, p->state) == 0, "%s: state '%s', want '%s' (phase %s)", what, state,
          p->state, p->name);
    for (size_t i = 0; i < sizeof(holds) / sizeof(holds[0]); i++) {
        int want = (p->holds & holds[i].bit) != 0;
        CHECK(holds_order(holds[i].key, holds[i].zset) == want,
              "%s: %s %s in %s, want %s (phase %s)", what, OID, want ? "not" : "still",
              holds[i].key, want ? "in" : "out", p->name);
    }
    for (size_t i = 0; i < sizeof(live_states) / sizeof(live_states[0]); i++) {
        char idx[96];
        int want = strcmp(state, live_states[i]) == 0;
        snprintf(idx, sizeof(idx), PREFIX "idx:st:%s", live_states[i]);
        CHECK(holds_order(idx, 1) == want, "%s: %s %s in %s, want %s (phase %s)", what, OID,
              want ? "not" : "still", idx, want ? "in" : "out", p->name);
    }
    if (is_final(state))
        expect_closed(what);
}

static void build(const phase *p)
{
    if (!p->parent) {
        fixtures();
        return;
    }
    build(phase_named(p->parent));
    for (int i = 0; i < 3 && p->steps[i].op; i++) {
        redisReply *r = run_step(&p->steps[i]);
        CHECK(r->type == REDIS_REPLY_ARRAY, "building %s: %s answered %s", p->name, p->steps[i].op,
              r->type == REDIS_REPLY_ERROR ? r->str : "no array");
        freeReplyObject(r);
    }
    char what[96];
    snprintf(what, sizeof(what), "building %s", p->name);
    expect_phase(p, what);
}

static long long outbox_len(void)
{
    redisReply *r = cmd("XLEN %soutbox", PREFIX);
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

static const char *entry_field(const redisReply *entry, const char *name)
{
    const redisReply *f = entry->element[1];
    for (size_t j = 0; j + 1 < f->elements; j += 2)
        if (strcmp(f->element[j]->str, name) == 0)
            return f->element[j + 1]->str;
    return "";
}

/* The outbox entries after the first `from`: "kind:STATE,..." of the
 * OrderEvents; checks each PatientNotice follows a change of state (with
 * the handover code on ACCEPTED only) and every entry's order and version. */
static void appended(long long from, const char *state_before, char *out, size_t outlen,
                     const char *what)
{
    redisReply *r = cmd("XRANGE %soutbox - +", PREFIX);
    CHECK(r->type == REDIS_REPLY_ARRAY, "%s: XRANGE outbox", what);
    char prev[64];
    size_t used = 0;
    int changes = 0, notices = 0, closes = 0, finals = 0;
    snprintf(prev, sizeof(prev), "%s", state_before);
    out[0] = '\0';
    for (size_t i = (size_t)from; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        const char *t = entry_field(e, "t"), *st = entry_field(e, "state");
        CHECK(strcmp(entry_field(e, "order_id"), OID) == 0 &&
                  strcmp(entry_field(e, "v"), orders_version()) == 0,
              "%s: outbox entry %zu of order '%s' version '%s'", what, i,
              entry_field(e, "order_id"), entry_field(e, "v"));
        if (strcmp(t, "ev") == 0) {
            used += (size_t)snprintf(out + used, outlen - used, "%s%s:%s", used ? "," : "",
                                     entry_field(e, "kind"), st);
            CHECK(used < outlen, "%s: too many events", what);
            if (strcmp(st, prev) != 0) {
                changes++;
                finals += is_final(st);
            }
            snprintf(prev, sizeof(prev), "%s", st);
        } else if (strcmp(t, "cl") == 0) {
            closes++;
            CHECK(strcmp(st, prev) == 0 && is_final(st), "%s: a closed record of %s after %s", what,
                  st, prev);
        } else {
            CHECK(strcmp(t, "pn") == 0, "%s: outbox entry of type '%s'", what, t);
            notices++;
            CHECK(strcmp(st, prev) == 0, "%s: a notice of %s after an event of %s", what, st, prev);
            const char *want_code = strcmp(st, "ACCEPTED") == 0 ? CODE : "";
            CHECK(strcmp(entry_field(e, "code"), want_code) == 0,
                  "%s: notice of %s carries code '%s', want '%s'", what, st, entry_field(e, "code"),
                  want_code);
        }
    }
    CHECK(notices == changes, "%s: %d patient notices for %d changes of state", what, notices,
          changes);
    CHECK(closes == finals, "%s: %d closed records for %d final states reached", what, closes,
          finals);
    freeReplyObject(r);
}

/* The status word and the element after it (see row). */
static void status_of(const redisReply *r, const char **word, const char **detail)
{
    const char *e0 = elem(r, 0), *e1 = elem(r, 1), *e2 = elem(r, 2);
    *word = e0 ? e0 : "";
    *detail = e1;
    if (e0 && strcmp(e0, "err") == 0) {
        *word = e1 ? e1 : "";
        *detail = e2;
    } else if (e0 && strcmp(e0, "ok") == 0 && e2 && strcmp(e2, "replay") == 0) {
        *word = "replay";
    }
}

static void run_row(size_t n, const row *w)
{
    const phase *from = phase_named(w->from), *after = phase_named(w->after);
    char what[256];
    size_t len = (size_t)snprintf(what, sizeof(what), "row %zu (%s: %s", n, w->from, w->call.op);
    for (int i = 0; i < MAX_ARGS && w->call.args[i] && len < sizeof(what); i++)
        len += (size_t)snprintf(what + len, sizeof(what) - len, " %s", w->call.args[i]);
    if (len < sizeof(what) - 1)
        snprintf(what + len, sizeof(what) - len, ")");
    build(from);
    long long before = outbox_len();
    redisReply *r = run_step(&w->call);
    CHECK(r->type == REDIS_REPLY_ARRAY, "%s: answered %s", what,
          r->type == REDIS_REPLY_ERROR ? r->str : "no array");
    const char *word, *detail;
    status_of(r, &word, &detail);
    CHECK(strcmp(word, w->want) == 0, "%s: status '%s', want '%s'", what, word, w->want);
    CHECK(!w->detail || (detail && strcmp(detail, w->detail) == 0), "%s: '%s' then '%s', want '%s'",
          what, word, detail ? detail : "(none)", w->detail);
    freeReplyObject(r);

    expect_phase(after, what);
    char events[512];
    appended(before, from->state, events, sizeof(events), what);
    CHECK(strcmp(events, w->events) == 0, "%s: events '%s', want '%s'", what, events, w->events);
    if (w->key) {
        char key[128], got[128];
        const char *at = strstr(w->key, "$oid");
        if (at)
            snprintf(key, sizeof(key), "%.*s%s%s", (int)(at - w->key), w->key, OID, at + 4);
        else
            snprintf(key, sizeof(key), "%s", w->key);
        stored(key, w->field, got, sizeof(got));
        CHECK(strcmp(got, w->value) == 0, "%s: %s %s is '%s', want '%s'", what, key,
              w->field ? w->field : "", got, w->value);
    }
}

/* ---- the closing step, end to end ---- */

/* Runs op with args ("$oid" filled in) and checks its status word. */
static redisReply *call_ok(const char *op, const char *want, const char *const *args)
{
    step st = {op, {0}};
    for (int i = 0; args[i]; i++)
        st.args[i] = args[i];
    redisReply *r = run_step(&st);
    CHECK(r->type == REDIS_REPLY_ARRAY && elem(r, 0) && strcmp(elem(r, 0), want) == 0,
          "%s: answered '%s', want '%s'", op,
          r->type == REDIS_REPLY_ERROR ? r->str
          : elem(r, 0)                 ? elem(r, 0)
                                       : "?",
          want);
    return r;
}

static void call_expect(const char *op, const char *want, const char *const *args)
{
    freeReplyObject(call_ok(op, want, args));
}

/* rxd_state_counts as "STATE=count" for the states with orders, and the
 * oldest entry time of state `of` in *oldest. */
static void state_counts(char *out, size_t outlen, const char *of, long long *oldest)
{
    static const char *const none[] = {NULL};
    redisReply *r = call_ok("state_counts", "ok", none);
    size_t used = 0;
    out[0] = '\0';
    CHECK(r->elements == 1 + 3 * sizeof(live_states) / sizeof(live_states[0]),
          "state_counts: %zu elements", r->elements);
    for (size_t i = 1; i + 2 < r->elements; i += 3) {
        CHECK(strcmp(elem(r, i), live_states[i / 3]) == 0, "state_counts: %s in place of %s",
              elem(r, i), live_states[i / 3]);
        if (strcmp(elem(r, i), of) == 0)
            *oldest = atoll(elem(r, i + 2));
        if (strcmp(elem(r, i + 1), "0") != 0)
            used += (size_t)snprintf(out + used, outlen - used, "%s%s=%s", used ? "," : "",
                                     elem(r, i), elem(r, i + 1));
        else
            CHECK(strcmp(elem(r, i + 2), "0") == 0, "state_counts: empty %s with oldest %s",
                  elem(r, i), elem(r, i + 2));
    }
    freeReplyObject(r);
}

/* The order's live-state index follows it and rxd_state_counts answers it:
 * the count and the time the order entered its state (t_<STATE>). */
static void expect_counts(const char *state, const char *want)
{
    char got[256], t_field[64], entered[32];
    long long oldest = -1;
    state_counts(got, sizeof(got), state, &oldest);
    CHECK(strcmp(got, want) == 0, "state_counts in %s: '%s', want '%s'", state, got, want);
    snprintf(t_field, sizeof(t_field), "t_%s", state);
    stored(okey(""), t_field, entered, sizeof(entered));
    CHECK(!*want || oldest == atoll(entered), "state_counts: oldest %s %lld, want %s", state,
          oldest, entered);
}

#define ITEMS                                                                                      \
    "[{\"drug_code\":\"D-1\",\"name\":\"Insulin glargine\",\"quantity\":2,\"cold_chain\":true}]"

/* A delivery from creation to DELIVERED with stored lifecycle settings: the
 * live-state counts at every step, then the one closed record on the
 * outbox with everything the archive keeps, and the expiries set. */
static void test_closing(void)
{
    fixtures();
    const char *bad[] = {"7200000", "3600000", NULL};
    redisReply *r = run_step(&(step){"lifecycle_set", {bad[0], bad[1]}});
    CHECK(r->type == REDIS_REPLY_ERROR, "lifecycle_set accepted a dedupe TTL below the retention");
    freeReplyObject(r);
    const char *set[] = {"3600000", "7200000", NULL};
    call_expect("lifecycle_set", "ok", set);

    const char *create[] = {"rx-1", "pat-1", "52.51", "13.40", "1",   "Hauptstr. 1", ITEMS,
                            "",     "0",     "0",     "111",   "h-1", "1",           "999",
                            "1",    CODE,    "",      "60000", NULL};
    call_expect("create", "created", create);
    expect_counts("ROUTING", "ROUTING=1");
    const char *offer[] = {"$oid", "0", "ph-a", "900", "600000", NULL};
    call_expect("offer", "offered", offer);
    expect_counts("OFFERED", "OFFERED=1");
    const char *accept[] = {"$oid", "ph-a", "accept", "", NULL};
    const char *ready[] = {"$oid", "ph-a", "ready", "", NULL};
    call_expect("pharmacy", "ok", accept);
    call_expect("pharmacy", "ok", ready);
    expect_counts("READY", "READY=1");
    const char *cold[] = {"co-a", "1", "1", "3", NULL};
    call_expect("courier_avail", "ok", cold);
    const char *assign[] = {"$oid", "co-a", "600000", "0", "700", NULL};
    call_expect("assign", "assigned", assign);
    expect_counts("COURIER_ASSIGNED", "COURIER_ASSIGNED=1");
    const char *pickup[] = {"$oid", "co-a", "pickup", "", "3", NULL};
    const char *wrong[] = {"$oid", "co-a", "deliver", "000000", "3", NULL};
    const char *deliver[] = {"$oid", "co-a", "deliver", CODE, "3", NULL};
    call_expect("courier", "ok", pickup);
    expect_counts("PICKED_UP", "PICKED_UP=1");
    call_expect("courier", "err", wrong);
    long long before = outbox_len();
    call_expect("courier", "ok", deliver);
    expect_counts("DELIVERED", "");

    /* the closing step appended the event, the notice, then the record */
    redisReply *x = cmd("XRANGE %soutbox - +", PREFIX);
    CHECK(x->type == REDIS_REPLY_ARRAY && (long long)x->elements == before + 3,
          "deliver appended %lld entries, want 3", (long long)x->elements - before);
    const redisReply *cl = x->element[x->elements - 1];
    char seq[16];
    stored(okey(""), "seq", seq, sizeof(seq));
    const struct {
        const char *field, *want;
    } full[] = {
        {"t", "cl"},
        {"order_id", OID},
        {"rx", "rx-1"},
        {"state", "DELIVERED"},
        {"patient", "pat-1"},
        {"address", "Hauptstr. 1"},
        {"items", ITEMS},
        {"lat", "52.51"},
        {"lon", "13.40"},
        {"hospital", "h-1"},
        {"pharmacy", "ph-a"},
        {"courier", "co-a"},
        {"approved_ms", "111"},
        {"expires_ms", "999"},
        {"insurance", "1"},
        {"cold", "1"},
        {"attempt", "1"},
        {"dist_m", "900"},
        {"c_dist_m", "700"},
        {"wrong_codes", "1"},
        {"tried", "[\"ph-a\"]"},
        {"seq", seq},
        {"v", orders_version()},
    };
    for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++)
        CHECK(strcmp(entry_field(cl, full[i].field), full[i].want) == 0,
              "closed record: %s is '%s', want '%s'", full[i].field, entry_field(cl, full[i].field),
              full[i].want);
    const char *tl = entry_field(cl, "timeline"), *times = entry_field(cl, "times");
    int events = 0;
    for (const char *p = strstr(tl, "\"seq\""); p; p = strstr(p + 1, "\"seq\""))
        events++;
    CHECK(tl[0] == '[' && events == atoi(seq), "closed record: timeline of %d events, want %s: %s",
          events, seq, tl);
    CHECK(strstr(tl, "\"kind\":\"picked_up\"") && strstr(tl, "\"kind\":\"delivered\""),
          "closed record: timeline %s", tl);
    static const char *const entered[] = {"ROUTING",          "OFFERED",   "ACCEPTED", "READY",
                                          "COURIER_ASSIGNED", "PICKED_UP", "DELIVERED"};
    for (size_t i = 0; i < sizeof(entered) / sizeof(entered[0]); i++) {
        char key[40];
        snprintf(key, sizeof(key), "\"%s\":", entered[i]);
        CHECK(strstr(times, key), "closed record: times %s without %s", times, entered[i]);
    }
    freeReplyObject(x);

    expect_closed("after deliver");
    long long rec = pttl(okey("")), rx = pttl(PREFIX "rx:rx-1");
    CHECK(rec > 3500000 && rec <= 3600000, "closed record PTTL %lld, want the stored 1 h", rec);
    CHECK(rx > 7100000 && rx <= 7200000, "rx: PTTL %lld, want the stored 2 h", rx);
    /* the views still answer from the closed record */
    const char *oid[] = {"$oid", NULL};
    r = call_ok("get", "ok", oid);
    CHECK(strstr(elem(r, 1), "\"state\":\"DELIVERED\"") &&
              strstr(elem(r, 1), "\"kind\":\"delivered\""),
          "get of a closed order: %s", elem(r, 1));
    freeReplyObject(r);
    r = call_ok("load", "ok", oid);
    CHECK(r->elements == 15 && strcmp(elem(r, 1), "DELIVERED") == 0,
          "load of a closed order: %zu elements", r->elements);
    freeReplyObject(r);
    /* the prescription seen again while rx: stands: the same order */
    r = call_ok("create", "exists", create);
    CHECK(strcmp(elem(r, 1), OID) == 0 && strcmp(elem(r, 2), "DELIVERED") == 0,
          "replayed prescription: %s %s", elem(r, 1), elem(r, 2));
    freeReplyObject(r);
}

/* ---- deadlines: the overdue lists and the exceptions ---- */

/* rxd_overdue kind after_ms: "" or the one order's id. */
static void expect_overdue(const char *kind, const char *after, const char *want)
{
    const char *args[] = {kind, after, "10", NULL};
    step st = {"overdue", {args[0], args[1], args[2]}};
    redisReply *r = run_step(&st);
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements <= 1, "overdue %s %s: answered %s", kind,
          after, r->type == REDIS_REPLY_ERROR ? r->str : "not one id or none");
    const char *got = r->elements ? elem(r, 0) : "";
    CHECK(strcmp(got, want) == 0, "overdue %s %s: '%s', want '%s'", kind, after, got, want);
    freeReplyObject(r);
}

/* rxd_exceptions 0 10 holds `has` (and not `hasnt`, when not NULL). */
static void expect_exceptions(const char *has, const char *hasnt)
{
    const char *args[] = {"0", "10", NULL};
    redisReply *r = call_ok("exceptions", "ok", args);
    CHECK(strstr(elem(r, 1), has) && (!hasnt || !strstr(elem(r, 1), hasnt)),
          "exceptions: %s, want %s%s", elem(r, 1), has, hasnt ? " only" : "");
    freeReplyObject(r);
}

static void test_deadlines(void)
{
    build(phase_named("ACCEPTED"));
    expect_overdue("pack", "0", OID);
    expect_overdue("pack", "600000000", "");
    expect_overdue("collect", "0", "");
    expect_overdue("pack_remind", "0", OID);
    const char *remind[] = {"$oid", "pack_remind", "0", "3", NULL};
    call_expect("deadline", "ok", remind);
    expect_overdue("pack_remind", "0", "");
    expect_overdue("pack", "0", OID);

    build(phase_named("ASSIGNED"));
    expect_overdue("pickup", "0", "");
    build(phase_named("C_ACCEPTED"));
    expect_overdue("pickup", "0", OID);
    expect_overdue("pickup", "600000000", "");

    build(phase_named("PICKED_UP"));
    expect_exceptions("\"total\":0", NULL);
    expect_exceptions("\"exceptions\":[]", NULL);
    expect_overdue("deliver", "0", OID);
    const char *late[] = {"$oid", "deliver", "0", "3", NULL};
    call_expect("deadline", "ok", late);
    expect_overdue("deliver", "0", "");
    char has_oid[IDS_MAX + 32];
    snprintf(has_oid, sizeof(has_oid), "\"order_id\":\"%s\"", OID);
    expect_exceptions(has_oid, NULL);
    expect_exceptions("\"kind\":\"deliver\"", NULL);
    expect_exceptions("\"state\":\"PICKED_UP\"", NULL);
    expect_exceptions("\"total\":1", NULL);
    /* the order moves on: its exception is cleared, the next one raised */
    const char *fail[] = {"$oid", "co-a", "fail", "not_home", "3", NULL};
    call_expect("courier", "ok", fail);
    expect_exceptions("\"total\":0", OID);
    expect_overdue("return", "0", OID);
    const char *ret[] = {"$oid", "return", "0", "3", NULL};
    call_expect("deadline", "ok", ret);
    expect_exceptions("\"kind\":\"return\"", "\"kind\":\"deliver\"");

    redisReply *r = run_step(&(step){"deadline", {OID, "lunch", "0", "3"}});
    CHECK(r->type == REDIS_REPLY_ERROR && strstr(r->str, "kind must be"),
          "deadline of an unknown kind: %s", r->type == REDIS_REPLY_ERROR ? r->str : "accepted");
    freeReplyObject(r);
}

int main(void)
{
    char host[128];
    int port = 0;
    const char *url = getenv("RXD_REDIS_URL");
    CHECK(url && sscanf(url, "redis://%127[^:]:%d", host, &port) == 2,
          "RXD_REDIS_URL is not set to redis://HOST:PORT: run under tests/with_backends.sh "
          "--redis");
    rc = redisConnect(host, port);
    CHECK(rc && !rc->err, "redisConnect %s: %s", url, rc ? rc->errstr : "oom");
    redisReply *r = cmd("FUNCTION LOAD REPLACE %s", scripts_orders_lib);
    CHECK(r->type == REDIS_REPLY_STRING, "FUNCTION LOAD: %s",
          r->type == REDIS_REPLY_ERROR ? r->str : "no library name");
    freeReplyObject(r);

    size_t n = sizeof(rows) / sizeof(rows[0]);
    for (size_t i = 0; i < n; i++)
        run_row(i, &rows[i]);
    test_closing();
    test_deadlines();
    redisFree(rc);
    printf("orders_sm_test: ok (%zu rows, %zu phases)\n", n, sizeof(phases) / sizeof(phases[0]));
    return 0;
}
