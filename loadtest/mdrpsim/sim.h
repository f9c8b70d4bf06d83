/* sim.h - the discrete-event replay of one MDRP instance: decision rounds
 * every `round` simulated minutes call the dispatcher's policy
 * (common/policy.h); between rounds couriers follow their committed trips,
 * whose timing the simulator works out itself from the benchmark's rules
 * and refuses when a rule would be broken. The record (trips, legs, per
 * order times) is what solution.c writes and report.c measures. */
#ifndef MDRP_SIM_H
#define MDRP_SIM_H

#include "instance.h"
#include "policy.h"

typedef struct mdrp_options {
    policy_kind kind;
    long round;     /* minutes between decision rounds */
    long commit;    /* batch: commit when the courier must leave within this (minutes) */
    int max_bundle; /* orders per trip at most */
    int candidates; /* batch: couriers per bundle in the assignment */
} mdrp_options;

/* Where a leg starts or ends: 0 = the courier's on-location. */
typedef enum { MDRP_AT_HOME = 0, MDRP_AT_RESTAURANT, MDRP_AT_ORDER } mdrp_place_kind;

typedef struct mdrp_place {
    mdrp_place_kind kind;
    size_t index;
} mdrp_place;

typedef struct mdrp_leg {
    size_t courier;
    long depart;
    mdrp_place from, to;
} mdrp_leg;

typedef struct mdrp_trip {
    size_t courier;
    long assigned, depart, pickup, end; /* end: leaves the last drop-off */
    size_t orders[POLICY_BUNDLE_MAX];   /* drop-off sequence */
    int n;
} mdrp_trip;

typedef struct mdrp_served {
    int done;
    size_t courier;
    long pickup, dropoff;
} mdrp_served;

typedef struct mdrp_sim mdrp_sim;

typedef struct mdrp_record {
    const mdrp_instance *in;
    const mdrp_served *served; /* per order */
    const mdrp_trip *trips;
    const mdrp_leg *legs;
    size_t ntrips, nlegs;
    long rounds;         /* rounds in which the policy was asked */
    double round_ms_sum; /* wall-clock compute time of the policy */
    double round_ms_max;
    long mispredicted; /* trips whose predicted pickup the simulator did not confirm */
} mdrp_record;

mdrp_sim *mdrp_sim_new(const mdrp_instance *in, const mdrp_options *opt);
void mdrp_sim_free(mdrp_sim *s);
/* Runs to the end; 0, or -1 with a message in err when the policy failed or
 * proposed something the rules forbid (a bug: the run is not valid). */
int mdrp_sim_run(mdrp_sim *s, char *err, size_t errlen);
mdrp_record mdrp_sim_record(const mdrp_sim *s);

#endif
