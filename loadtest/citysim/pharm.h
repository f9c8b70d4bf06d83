/* pharm.h - the simulated pharmacies: each long-polls its offers, accepts
 * most after a short delay (rejects some, lets a few lapse), packs and
 * marks the order ready, hands pickup orders over (collected) and confirms
 * failed deliveries that came back (returned). Times are simulated seconds
 * divided by --speedup. */
#ifndef CITYSIM_PHARM_H
#define CITYSIM_PHARM_H

#include "sim.h"

typedef struct pharm_stats {
    long offers, accepted, rejected, lapsed, ready, collected, returned;
    long conflicts; /* 409: the order moved on (deadline, cancel) first */
    long errors;    /* no answer or an unexpected status */
} pharm_stats;

/* One actor per pharmacy of s->city. */
pharm_set *pharm_set_new(sim *s);
void pharm_set_free(pharm_set *ps);
/* Starts every pharmacy's long-poll. */
void pharm_set_start(pharm_set *ps);
/* Closes every pharmacy (status open=false) so later runs sharing the stack
 * are not routed to pharmacies nobody answers for. */
void pharm_set_close(pharm_set *ps);
/* The courier brought a failed delivery back to pharmacy_id. */
void pharm_set_returned(pharm_set *ps, const char *pharmacy_id, const char *order_id);
const pharm_stats *pharm_set_stats(const pharm_set *ps);

#endif
