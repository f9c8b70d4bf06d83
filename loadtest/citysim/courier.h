/* courier.h - the simulated couriers: each long-polls its assignments,
 * accepts most (declines a few), rides in a straight line at 30 km/h (times
 * --speedup) to the pharmacy, picks up, rides to the drop-off and hands over
 * with the code the patient got; sends its position every few seconds. */
#ifndef CITYSIM_COURIER_H
#define CITYSIM_COURIER_H

#include "sim.h"

typedef struct courier_set courier_set;

typedef struct courier_stats {
    long assignments, accepted, declined, picked_up, delivered, failed, returned;
    long locations;
    long conflicts; /* 409/404/403: the order moved on first */
    long errors;
} courier_stats;

courier_set *courier_set_new(sim *s);
void courier_set_free(courier_set *cs);
/* Starts every courier's long-poll and the movement clock. */
int courier_set_start(courier_set *cs);
/* Sets every courier unavailable (so later runs do not wait on them). */
void courier_set_close(courier_set *cs);
const courier_stats *courier_set_stats(const courier_set *cs);

#endif
