/* hist.c - log-linear buckets: index = 64 * (power of two) + the next six
 * bits below the leading one. */
#include <stdlib.h>

#include "hist.h"

#define HIST_SUB 64
#define HIST_POWERS 40 /* up to 2^40 us: 12 days */

struct hist {
    uint64_t n[HIST_POWERS * HIST_SUB];
    uint64_t count;
    int64_t max;
};

hist *hist_new(void)
{
    return calloc(1, sizeof(hist));
}

void hist_free(hist *h)
{
    free(h);
}

static int hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (int)v;
    int top = 63 - __builtin_clzll(v); /* >= 6 */
    int shift = top - 6;
    int idx = (shift + 1) * HIST_SUB + (int)((v >> shift) - HIST_SUB);
    return idx < HIST_POWERS * HIST_SUB ? idx : HIST_POWERS * HIST_SUB - 1;
}

/* The upper edge of a bucket: what a percentile in it reports. */
static int64_t hist_value(int idx)
{
    if (idx < HIST_SUB)
        return idx;
    int shift = idx / HIST_SUB - 1;
    uint64_t base = (uint64_t)(HIST_SUB + idx % HIST_SUB) << shift;
    return (int64_t)(base + ((1ULL << shift) - 1));
}

void hist_add(hist *h, int64_t us)
{
    uint64_t v = us > 0 ? (uint64_t)us : 0;
    h->n[hist_index(v)]++;
    h->count++;
    if ((int64_t)v > h->max)
        h->max = (int64_t)v;
}

uint64_t hist_count(const hist *h)
{
    return h->count;
}

int64_t hist_max(const hist *h)
{
    return h->max;
}

int64_t hist_percentile(const hist *h, double p)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)((double)h->count * p / 100.0 + 0.999999);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_POWERS * HIST_SUB; i++) {
        seen += h->n[i];
        if (seen >= want) {
            int64_t v = hist_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
