/* policy.c - courier eligibility, ranking and the greedy matching round
 * (see policy.h). */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

#include "geo.h"

static int policy_tried(const policy_order *o, const char *courier)
{
    for (size_t i = 0; i < o->ntried; i++)
        if (o->tried[i] && strcmp(o->tried[i], courier) == 0)
            return 1;
    return 0;
}

static double policy_distance(const policy_order *o, const policy_courier *c)
{
    return geo_distance_m(c->lat, c->lon, o->lat, o->lon);
}

/* As policy_ineligible with the courier's load as counted by the caller
 * (a matching round consumes capacity as it assigns). */
static const char *policy_check(const policy_params *p, const policy_order *o,
                                const policy_courier *c, long load)
{
    if (!c->available)
        return "unavailable";
    if (c->ts_ms < p->now_ms - p->stale_ms)
        return "stale_position";
    if (o->cold_chain && !c->cold_chain)
        return "no_cold_box";
    if (load >= c->capacity)
        return "at_capacity";
    if (p->radius_m > 0 && policy_distance(o, c) > p->radius_m)
        return "out_of_range";
    if (policy_tried(o, c->id))
        return "tried";
    return NULL;
}

const char *policy_ineligible(const policy_params *p, const policy_order *o,
                              const policy_courier *c)
{
    return policy_check(p, o, c, c->load);
}

/* Nearest first; equal distances by id, so that every instance ranks alike. */
static int policy_closer(double da, const char *ia, double db, const char *ib)
{
    if (da != db)
        return da < db;
    return strcmp(ia, ib) < 0;
}

size_t policy_rank(const policy_params *p, const policy_order *o, const policy_courier *c,
                   size_t nc, policy_choice *out)
{
    size_t k = 0;
    for (size_t i = 0; i < nc; i++) {
        if (policy_ineligible(p, o, &c[i]))
            continue;
        policy_choice ch = {i, policy_distance(o, &c[i])};
        /* insertion sort: candidate lists are short (a GEOSEARCH COUNT) */
        size_t j = k++;
        while (j > 0 &&
               policy_closer(ch.dist_m, c[i].id, out[j - 1].dist_m, c[out[j - 1].courier].id)) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = ch;
    }
    return k;
}

/* Urgent first, then the longest waiting, then by id. */
static int policy_before(const policy_order *a, const policy_order *b)
{
    if (a->urgent != b->urgent)
        return a->urgent > b->urgent;
    if (a->ready_ms != b->ready_ms)
        return a->ready_ms < b->ready_ms;
    return strcmp(a->id, b->id) < 0;
}

static void policy_serving_order(const policy_order *o, size_t no, size_t *idx)
{
    for (size_t i = 0; i < no; i++) {
        size_t j = i;
        while (j > 0 && policy_before(&o[i], &o[idx[j - 1]])) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
}

/* The nearest courier still eligible for order o given the round's loads;
 * 0 when there is none. */
static int policy_nearest(const policy_params *p, const policy_order *o, const policy_courier *c,
                          size_t nc, const long *load, policy_choice *best)
{
    int found = 0;
    for (size_t i = 0; i < nc; i++) {
        if (policy_check(p, o, &c[i], load[i]))
            continue;
        double d = policy_distance(o, &c[i]);
        if (!found || policy_closer(d, c[i].id, best->dist_m, c[best->courier].id)) {
            *best = (policy_choice){i, d};
            found = 1;
        }
    }
    return found;
}

static int policy_match_greedy(const policy_params *p, const policy_order *o, size_t no,
                               const policy_courier *c, size_t nc, policy_assignment *out)
{
    size_t *idx = malloc((no ? no : 1) * sizeof(*idx));
    long *load = malloc((nc ? nc : 1) * sizeof(*load));
    if (!idx || !load) {
        free(idx);
        free(load);
        return -1;
    }
    for (size_t i = 0; i < nc; i++)
        load[i] = c[i].load;
    policy_serving_order(o, no, idx);
    int n = 0;
    for (size_t k = 0; k < no; k++) {
        policy_choice best = {0, 0.0};
        if (!policy_nearest(p, &o[idx[k]], c, nc, load, &best))
            continue;
        load[best.courier]++;
        out[n++] = (policy_assignment){idx[k], best.courier, best.dist_m};
    }
    free(idx);
    free(load);
    return n;
}

int policy_match(const policy_params *p, const policy_order *o, size_t no, const policy_courier *c,
                 size_t nc, policy_assignment *out)
{
    switch (p->kind) {
    case POLICY_GREEDY:
        return policy_match_greedy(p, o, no, c, nc, out);
    }
    return -1;
}
