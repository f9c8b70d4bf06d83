/* rng.c - splitmix64: tiny, fast, good enough for a simulation. */
#include "rng.h"

void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    r->s = seed * 0x9E3779B97F4A7C15ULL ^ (stream + 1) * 0xBF58476D1CE4E5B9ULL;
    rng_next(r); /* mixes the seed so nearby seeds give unrelated streams */
}

uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) / 9007199254740992.0; /* 2^53 */
}

int rng_range(rng *r, int lo, int hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

int rng_chance(rng *r, double p)
{
    return rng_unit(r) < p;
}
