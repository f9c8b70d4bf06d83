/* policy.c - courier eligibility, ranking, the greedy matching round and
 * the choice of policy for a round (see policy.h). */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

#include "policy_batch.h"
#include "policy_route.h"
#include "mem.h"

static double policy_distance(const policy_params *p, const policy_order *o,
                              const policy_courier *c)
{
    return policy_pickup_metres(p, o, c);
}

/* As policy_ineligible with the courier's load as counted by the caller
 * (a matching round consumes capacity as it assigns). */
static const char *policy_check(const policy_params *p, const policy_order *o,
                                const policy_courier *c, long load)
{
    const char *why = policy_check_static(p, o, c);
    if (why)
        return why;
    if (load >= c->capacity)
        return "at_capacity";
    if (c->free_ms > p->now_ms)
        return "busy";
    if (c->off_ms) {
        size_t self = 0;
        policy_route r;
        policy_route_eval(p, o, &self, 1, c, &r);
        if (!r.ok)
            return "shift_ends";
    }
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
        policy_choice ch = {i, policy_distance(p, o, &c[i])};
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
        double d = policy_distance(p, o, &c[i]);
        if (!found || policy_closer(d, c[i].id, best->dist_m, c[best->courier].id)) {
            *best = (policy_choice){i, d};
            found = 1;
        }
    }
    return found;
}

/* The predicted times of a greedy assignment: the courier leaves now. */
static void policy_greedy_times(const policy_params *p, const policy_order *o,
                                const policy_courier *c, policy_assignment *a)
{
    size_t self = 0;
    policy_route r;
    policy_route_eval(p, o, &self, 1, c, &r);
    a->depart_ms = p->now_ms;
    a->pickup_ms = r.pickup_ms;
    a->dropoff_ms = o->has_dropoff ? r.drop_ms[0] : 0;
}

static int policy_match_greedy(const policy_params *p, const policy_order *o, size_t no,
                               const policy_courier *c, size_t nc, policy_assignment *out)
{
    size_t *idx = xmalloc((no ? no : 1) * sizeof(*idx));
    long *load = xmalloc((nc ? nc : 1) * sizeof(*load));
    for (size_t i = 0; i < nc; i++)
        load[i] = c[i].load;
    policy_serving_order(o, no, idx);
    int n = 0;
    for (size_t k = 0; k < no; k++) {
        policy_choice best = {0, 0.0};
        if (!policy_nearest(p, &o[idx[k]], c, nc, load, &best))
            continue;
        load[best.courier]++;
        out[n] = (policy_assignment){idx[k], best.courier, best.dist_m, n, 0, 0, 0};
        policy_greedy_times(p, &o[idx[k]], &c[best.courier], &out[n]);
        n++;
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
    case POLICY_BATCH:
        return policy_batch_match(p, o, no, c, nc, out);
    }
    return -1;
}
