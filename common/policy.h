/* policy.h - which courier takes which order (SPEC section 5). Pure: the
 * dispatcher gathers orders and couriers from Redis and asks here; the state
 * machine then re-checks each assignment atomically. No I/O and no clock (the
 * caller passes now_ms), so a simulator in simulated time (loadtest/mdrpsim)
 * and the unit tests drive the very code that runs in production.
 *
 * Eligible: available; position fresher than stale_ms; a cold box when the
 * order needs the cold chain; load below capacity; within radius_m of the
 * pickup point; not in the order's tried list (it declined or let the offer
 * lapse); free now (free_ms <= now_ms); able to pick up before its shift ends
 * (off_ms) when that is known.
 *
 * POLICY_GREEDY (the baseline): orders are served urgent first, then oldest
 * ready, then by id; each takes the nearest eligible courier (equal distances:
 * the lower id), and an assignment uses up one unit of that courier's capacity
 * for the rest of the round.
 *
 * POLICY_BATCH (policy_batch.c): one round over every waiting order and every
 * courier, including couriers that become free later. Orders of one pharmacy
 * are bundled when a dedicated courier would serve one of them worse than
 * sharing and nobody in the bundle becomes late; couriers are matched to
 * bundles by a min-cost assignment (lsap.h) on predicted click-to-door; a
 * courier is sent to arrive when the bundle is ready; assignments whose
 * courier is still busy or need not leave yet are held back (committed late,
 * in a later round). See docs/dispatch.md.
 *
 * The fields after the first ones of each struct were added for batching and
 * travel-time predictions; zero means unknown and keeps the old behaviour. */
#ifndef RXD_POLICY_H
#define RXD_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"

typedef enum { POLICY_GREEDY = 0, POLICY_BATCH = 1 } policy_kind;

#define POLICY_BUNDLE_MAX 4 /* orders one bundle may hold at most */

typedef struct policy_params {
    policy_kind kind;
    int64_t now_ms;
    int64_t stale_ms; /* a position older than now_ms - stale_ms is not used */
    double radius_m;  /* farthest pickup distance; <= 0: unbounded */
    /* travel-time model (0 = defaults: great-circle, 250 m/min, no rounding) */
    int planar;                /* lat, lon are y, x in metres on a plane */
    double speed_m_per_min;    /* courier speed */
    int64_t travel_quantum_ms; /* travel times round up to a multiple of this */
    int64_t pickup_service_ms; /* time at the counter, half before pickup */
    int64_t dropoff_service_ms;
    /* batching (0 = defaults) */
    int64_t target_ms; /* click-to-door target: 40 min */
    int64_t commit_ms; /* commit a match when its courier must leave within
                          this (0: must leave now; later ones are held) */
    int max_bundle;    /* orders per bundle, 1..POLICY_BUNDLE_MAX: 3 */
    int candidates;    /* couriers kept per bundle in the assignment: 30 */
} policy_params;

typedef struct policy_order {
    char id[IDS_MAX + 1];
    double lat, lon; /* the pickup point: the order's pharmacy */
    int cold_chain;
    int urgent;
    int64_t ready_ms;
    const char *const *tried; /* courier ids that declined or missed it (caller owns) */
    size_t ntried;
    int64_t placed_ms;    /* click time; 0: unknown (ready_ms stands in) */
    const char *pharmacy; /* bundling key (caller owns); NULL: same pickup point */
    int has_dropoff;      /* drop_lat, drop_lon known (else drop-off is not costed) */
    double drop_lat, drop_lon;
} policy_order;

typedef struct policy_courier {
    char id[IDS_MAX + 1];
    double lat, lon; /* where it is, or where it will be free at free_ms */
    int64_t ts_ms;   /* time of the position */
    int available;
    int cold_chain;
    long capacity;   /* orders it may hold */
    long load;       /* orders it holds now */
    int64_t free_ms; /* when it finishes what it carries (or starts its shift); 0: now */
    int64_t off_ms;  /* end of shift: picks nothing up after it; 0: no end */
} policy_courier;

/* One eligible courier for one order. */
typedef struct policy_choice {
    size_t courier; /* index into the couriers passed */
    double dist_m;  /* courier to pickup point */
} policy_choice;

/* Assignments of one bundle share `bundle` and come one after the other in
 * drop-off order. The times are predictions of the travel-time model. */
typedef struct policy_assignment {
    size_t order;   /* index into the orders passed */
    size_t courier; /* index into the couriers passed */
    double dist_m;
    int bundle;        /* number of the bundle within this round's output */
    int64_t depart_ms; /* when the courier should leave to arrive when ready */
    int64_t pickup_ms;
    int64_t dropoff_ms; /* 0 when the drop-off point is unknown */
} policy_assignment;

/* NULL when c may take o, else a short reason ("unavailable",
 * "stale_position", "no_cold_box", "at_capacity", "out_of_range", "tried",
 * "busy", "shift_ends"). */
const char *policy_ineligible(const policy_params *p, const policy_order *o,
                              const policy_courier *c);

/* The eligible couriers for one order, best first, written to out (room for
 * nc entries). Returns how many. The dispatcher walks this list when the
 * state machine finds the first choice filled up meanwhile. */
size_t policy_rank(const policy_params *p, const policy_order *o, const policy_courier *c,
                   size_t nc, policy_choice *out);

/* One matching round over many orders and couriers: writes at most one
 * assignment per order to out (room for no entries) and returns how many,
 * or -1 for an unknown params->kind. Orders left out
 * found no eligible courier, or (batch) are held back for a later round. */
int policy_match(const policy_params *p, const policy_order *o, size_t no, const policy_courier *c,
                 size_t nc, policy_assignment *out);

#endif
