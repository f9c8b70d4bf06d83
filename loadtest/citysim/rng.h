/* rng.h - a small deterministic PRNG (splitmix64) owned by whoever draws
 * from it, so a run is reproducible from its seed and independent streams
 * (city, prescriptions, each pharmacy, each courier) do not disturb each
 * other when network timing changes the order of draws. */
#ifndef CITYSIM_RNG_H
#define CITYSIM_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s;
} rng;

/* Seeds a stream from the run seed and a stream number. */
void rng_seed(rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1). */
double rng_unit(rng *r);
/* Uniform integer in [lo, hi]. */
int rng_range(rng *r, int lo, int hi);
/* 1 with probability p. */
int rng_chance(rng *r, double p);

#endif
