/* route.c - pharmacy eligibility and ranking (see route.h). */
#include "route.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *route_ineligible(const route_request *rq, const route_pharmacy *ph)
{
    if (!ph->known)
        return "unknown";
    if (ph->tried)
        return "tried";
    if (!ph->open)
        return "closed";
    if (ph->load >= ph->capacity)
        return "at_capacity";
    if (ph->stock_known && !ph->stock_ok)
        return "out_of_stock";
    if (rq->needs_cold_chain && !ph->cold_chain)
        return "no_cold_chain";
    if (rq->insurance_covered && !ph->insurance)
        return "not_insurance_designated";
    return NULL;
}

static int route_is_nominated(const route_request *rq, const route_pharmacy *ph)
{
    return rq->nominated && *rq->nominated && strcmp(rq->nominated, ph->id) == 0;
}

static double route_load_ratio(const route_pharmacy *ph)
{
    return ph->capacity > 0 ? (double)ph->load / (double)ph->capacity : 1.0;
}

/* qsort has no context argument in C11, so the nominated flag is stored in
 * the candidates before sorting. */
static int route_compare(const void *a, const void *b)
{
    const route_pharmacy *x = a, *y = b;
    if (x->nominated != y->nominated)
        return y->nominated - x->nominated;
    double bx = floor(x->dist_m / ROUTE_DISTANCE_BAND_M);
    double by = floor(y->dist_m / ROUTE_DISTANCE_BAND_M);
    if (bx != by)
        return bx < by ? -1 : 1;
    double lx = route_load_ratio(x), ly = route_load_ratio(y);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    if (x->dist_m != y->dist_m)
        return x->dist_m < y->dist_m ? -1 : 1;
    return strcmp(x->id, y->id);
}

int route_rank(const route_request *rq, route_pharmacy *c, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (route_ineligible(rq, &c[i]))
            continue;
        route_pharmacy t = c[k];
        c[k] = c[i];
        c[i] = t;
        k++;
    }
    for (int i = 0; i < k; i++)
        c[i].nominated = route_is_nominated(rq, &c[i]);
    qsort(c, (size_t)k, sizeof(*c), route_compare);
    return k;
}

int route_stock_covers(size_t nitems, const uint32_t *need, const long long *have)
{
    for (size_t i = 0; i < nitems; i++)
        if (have[i] < (long long)need[i])
            return 0;
    return 1;
}

int route_window_end(const route_pharmacy *c, int from, int n, int min)
{
    int end = from + (min > 0 ? min : 1);
    if (end >= n)
        return n;
    double band = floor(c[end - 1].dist_m / ROUTE_DISTANCE_BAND_M);
    while (end < n && floor(c[end].dist_m / ROUTE_DISTANCE_BAND_M) == band)
        end++;
    return end;
}
