/* route.h - which pharmacies may take an order, and in what order they are
 * asked (SPEC section 4). Pure: the router gathers the facts from Redis and
 * asks here; tests feed hand-made candidates.
 *
 * Scoring: the nominated pharmacy first when eligible; then by distance,
 * where distances in the same ROUTE_DISTANCE_BAND_M band count as equal and
 * the lower load ratio (load / capacity) breaks the tie; then the pharmacy
 * id, so that the order is total and every instance ranks alike. */
#ifndef RXD_ROUTE_H
#define RXD_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"

#define ROUTE_DISTANCE_BAND_M 250.0

typedef struct route_pharmacy {
    char id[IDS_MAX + 1];
    double dist_m;
    int known; /* registered (its hash exists) */
    int open;
    long capacity; /* open orders it can hold */
    long load;     /* open orders it holds now */
    int cold_chain;
    int insurance;
    int stock_known; /* publishes stock */
    int stock_ok;    /* holds every item in the needed quantity (if stock_known) */
    int tried;       /* already offered this order */
    int nominated;   /* set by route_rank */
} route_pharmacy;

typedef struct route_request {
    const char *nominated; /* may be NULL or "" */
    int needs_cold_chain;
    int insurance_covered;
} route_request;

/* NULL when eligible, else a short reason ("closed", "at_capacity",
 * "out_of_stock", "no_cold_chain", "not_insurance_designated", "tried",
 * "unknown"). */
const char *route_ineligible(const route_request *rq, const route_pharmacy *ph);
/* Moves the eligible candidates to the front of c in asking order and
 * returns how many there are. */
int route_rank(const route_request *rq, route_pharmacy *c, int n);
/* Candidates sorted by distance are weighed a window at a time, so an
 * order reads the facts of a few pharmacies rather than of every one in
 * the radius: the window from c[from] holds at least min candidates (fewer
 * at the end) and always ends at a band edge, so that every candidate
 * outside it ranks after every eligible one inside. Returns the window's
 * end index. */
int route_window_end(const route_pharmacy *c, int from, int n, int min);
/* 1 if every needed quantity is in stock. have[i] < 0 means not listed. */
int route_stock_covers(size_t nitems, const uint32_t *need, const long long *have);

#endif
