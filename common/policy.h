/* policy.h - which courier takes which order (SPEC section 5). Pure: the
 * dispatcher gathers orders and couriers from Redis and asks here; the state
 * machine then re-checks each assignment atomically. No I/O and no clock (the
 * caller passes now_ms), so a simulator in simulated time and the unit tests
 * drive the very code that runs in production.
 *
 * Eligible: available; position fresher than stale_ms; a cold box when the
 * order needs the cold chain; load below capacity; within radius_m of the
 * pickup point; not in the order's tried list (it declined or let the offer
 * lapse).
 *
 * POLICY_GREEDY (the baseline): orders are served urgent first, then oldest
 * ready, then by id; each takes the nearest eligible courier (equal distances:
 * the lower id), and an assignment uses up one unit of that courier's capacity
 * for the rest of the round.
 *
 * The seam for batched matching (SPEC section 5's goal: minimise total pickup
 * time over a short window, bundling orders of one pharmacy): policy_match is
 * the single entry point of a matching round. A batch policy is another
 * policy_kind behind the same inputs and outputs; the dispatcher (or a
 * simulator) only changes what it passes in params.kind and how long it lets
 * orders gather before calling. */
#ifndef RXD_POLICY_H
#define RXD_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"

typedef enum { POLICY_GREEDY = 0 } policy_kind;

typedef struct policy_params {
    policy_kind kind;
    int64_t now_ms;
    int64_t stale_ms; /* a position older than now_ms - stale_ms is not used */
    double radius_m;  /* farthest pickup distance; <= 0: unbounded */
} policy_params;

typedef struct policy_order {
    char id[IDS_MAX + 1];
    double lat, lon; /* the pickup point: the order's pharmacy */
    int cold_chain;
    int urgent;
    int64_t ready_ms;
    const char *const *tried; /* courier ids that declined or missed it (caller owns) */
    size_t ntried;
} policy_order;

typedef struct policy_courier {
    char id[IDS_MAX + 1];
    double lat, lon;
    int64_t ts_ms; /* time of the position */
    int available;
    int cold_chain;
    long capacity; /* orders it may hold */
    long load;     /* orders it holds now */
} policy_courier;

/* One eligible courier for one order. */
typedef struct policy_choice {
    size_t courier; /* index into the couriers passed */
    double dist_m;  /* courier to pickup point */
} policy_choice;

typedef struct policy_assignment {
    size_t order;   /* index into the orders passed */
    size_t courier; /* index into the couriers passed */
    double dist_m;
} policy_assignment;

/* NULL when c may take o, else a short reason ("unavailable",
 * "stale_position", "no_cold_box", "at_capacity", "out_of_range", "tried"). */
const char *policy_ineligible(const policy_params *p, const policy_order *o,
                              const policy_courier *c);

/* The eligible couriers for one order, best first, written to out (room for
 * nc entries). Returns how many. The dispatcher walks this list when the
 * state machine finds the first choice filled up meanwhile. */
size_t policy_rank(const policy_params *p, const policy_order *o, const policy_courier *c,
                   size_t nc, policy_choice *out);

/* One matching round over many orders and couriers: writes at most one
 * assignment per order to out (room for no entries) and returns how many,
 * or -1 when out of memory or for an unknown params->kind. Orders left out
 * found no eligible courier. */
int policy_match(const policy_params *p, const policy_order *o, size_t no, const policy_courier *c,
                 size_t nc, policy_assignment *out);

#endif
