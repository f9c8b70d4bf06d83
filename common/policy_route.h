/* policy_route.h - the travel-time model shared by the policies (private to
 * policy*.c): distances, travel times, the timing and cost of one courier
 * carrying a bundle, and the eligibility checks that do not depend on a
 * round. Same rules as the delivery benchmark (docs/dispatch.md): pickup at
 * max(ready, arrival + half the counter time), drop-offs in sequence. */
#ifndef RXD_POLICY_ROUTE_H
#define RXD_POLICY_ROUTE_H

#include "policy.h"

/* The timing of a courier carrying one bundle, and what it costs. */
typedef struct policy_route {
    int ok;            /* 0: it cannot pick up before its shift ends */
    int64_t depart_ms; /* latest departure that still makes pickup_ms */
    int64_t pickup_ms;
    int64_t drop_ms[POLICY_BUNDLE_MAX];
    int64_t start_ms, end_ms; /* the courier is taken from start to end */
    double cost;              /* predicted click-to-door minutes of the bundle, plus overage */
} policy_route;

double policy_metres(const policy_params *p, double lat1, double lon1, double lat2, double lon2);
/* Courier to the order's pickup point. */
double policy_pickup_metres(const policy_params *p, const policy_order *o, const policy_courier *c);
int64_t policy_travel_ms(const policy_params *p, double metres);
int64_t policy_target_ms(const policy_params *p);
int policy_max_bundle(const policy_params *p);

/* Courier c carries orders seq[0..n) of o (one pickup point, the drop-offs
 * in that order), starting when it is free but not before now. */
void policy_route_eval(const policy_params *p, const policy_order *o, const size_t *seq, int n,
                       const policy_courier *c, policy_route *r);
/* The route cost of order o alone if a courier were waiting at the counter:
 * what no assignment can beat. */
double policy_route_floor(const policy_params *p, const policy_order *o);

/* Everything in policy_ineligible that holds for the whole round: not the
 * load, not the timing (free_ms, off_ms). */
const char *policy_check_static(const policy_params *p, const policy_order *o,
                                const policy_courier *c);

#endif
