/* sim.c - decision rounds and trip execution (see sim.h). The simulator
 * keeps its own courier state (position, when free, last place) and works
 * out every trip's times from the instance's rules; the policy's
 * predictions are only compared, never trusted. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MDRP_MS_PER_MIN 60000LL

typedef struct mdrp_cstate {
    double x, y;
    long free; /* minute it is free at x, y */
    mdrp_place at;
} mdrp_cstate;

struct mdrp_sim {
    const mdrp_instance *in;
    mdrp_options opt;
    mdrp_served *served;
    mdrp_cstate *cs;
    mdrp_trip *trips;
    mdrp_leg *legs;
    size_t ntrips, nlegs, cap_trips, cap_legs;
    size_t nserved;
    long rounds, mispredicted;
    double round_ms_sum, round_ms_max;
    /* one round's policy input and output */
    policy_order *po;
    policy_courier *pc;
    policy_assignment *pa;
    size_t *po_order, *pc_courier; /* policy index -> instance index */
};

mdrp_sim *mdrp_sim_new(const mdrp_instance *in, const mdrp_options *opt)
{
    mdrp_sim *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    size_t no = in->no ? in->no : 1, nc = in->nc ? in->nc : 1;
    s->in = in;
    s->opt = *opt;
    s->served = calloc(no, sizeof(*s->served));
    s->cs = calloc(nc, sizeof(*s->cs));
    s->po = calloc(no, sizeof(*s->po));
    s->pc = calloc(nc, sizeof(*s->pc));
    s->pa = calloc(no, sizeof(*s->pa));
    s->po_order = calloc(no, sizeof(size_t));
    s->pc_courier = calloc(nc, sizeof(size_t));
    if (!s->served || !s->cs || !s->po || !s->pc || !s->pa || !s->po_order || !s->pc_courier) {
        mdrp_sim_free(s);
        return NULL;
    }
    for (size_t k = 0; k < in->nc; k++)
        s->cs[k] = (mdrp_cstate){in->c[k].x, in->c[k].y, in->c[k].on, {MDRP_AT_HOME, 0}};
    return s;
}

void mdrp_sim_free(mdrp_sim *s)
{
    if (!s)
        return;
    free(s->served);
    free(s->cs);
    free(s->trips);
    free(s->legs);
    free(s->po);
    free(s->pc);
    free(s->pa);
    free(s->po_order);
    free(s->pc_courier);
    free(s);
}

mdrp_record mdrp_sim_record(const mdrp_sim *s)
{
    return (mdrp_record){s->in,    s->served, s->trips,        s->legs,         s->ntrips,
                         s->nlegs, s->rounds, s->round_ms_sum, s->round_ms_max, s->mispredicted};
}

static int mdrp_push(void **arr, size_t *n, size_t *cap, size_t size, const void *item)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        void *p = realloc(*arr, ncap * size);
        if (!p)
            return -1;
        *arr = p;
        *cap = ncap;
    }
    memcpy((char *)*arr + *n * size, item, size);
    (*n)++;
    return 0;
}

static int mdrp_leg_add(mdrp_sim *s, size_t k, long depart, mdrp_place from, mdrp_place to)
{
    mdrp_leg leg = {k, depart, from, to};
    return mdrp_push((void **)&s->legs, &s->nlegs, &s->cap_legs, sizeof(leg), &leg);
}

/* ---- executing one committed trip ---- */

/* The rules an assignment must meet before the courier sets off. */
static const char *mdrp_trip_refused(const mdrp_sim *s, long now, size_t k, const size_t *ord,
                                     int n)
{
    const mdrp_instance *in = s->in;
    if (n < 1 || n > s->opt.max_bundle)
        return "bundle size";
    if (s->cs[k].free > now || in->c[k].on > now)
        return "courier not free or not on shift";
    for (int i = 0; i < n; i++) {
        if (s->served[ord[i]].done)
            return "order already assigned";
        if (in->o[ord[i]].placed > now)
            return "assigned before placement";
        if (in->o[ord[i]].restaurant != in->o[ord[0]].restaurant)
            return "bundle spans restaurants";
    }
    return NULL;
}

/* Counter, then drop-offs in sequence; records legs and order times. */
static int mdrp_trip_drops(mdrp_sim *s, mdrp_trip *t, const mdrp_restaurant *r)
{
    const mdrp_instance *in = s->in;
    long clock = t->pickup + in->pickup_service / 2;
    double x = r->x, y = r->y;
    mdrp_place from = {MDRP_AT_RESTAURANT, in->o[t->orders[0]].restaurant};
    for (int i = 0; i < t->n; i++) {
        const mdrp_order *o = &in->o[t->orders[i]];
        mdrp_place to = {MDRP_AT_ORDER, t->orders[i]};
        if (mdrp_leg_add(s, t->courier, clock, from, to))
            return -1;
        clock += mdrp_travel(in, x, y, o->x, o->y);
        long drop = clock + in->dropoff_service / 2;
        s->served[t->orders[i]] = (mdrp_served){1, t->courier, t->pickup, drop};
        s->nserved++;
        clock = drop + in->dropoff_service / 2;
        x = o->x;
        y = o->y;
        from = to;
    }
    t->end = clock;
    s->cs[t->courier] = (mdrp_cstate){x, y, clock, from};
    return 0;
}

static int mdrp_trip_run(mdrp_sim *s, long now, size_t k, const size_t *ord, int n,
                         long depart_hint, long predicted_pickup, char *err, size_t errlen)
{
    const mdrp_instance *in = s->in;
    const char *why = mdrp_trip_refused(s, now, k, ord, n);
    if (why) {
        snprintf(err, errlen, "minute %ld courier %s: %s", now, in->c[k].id, why);
        return -1;
    }
    mdrp_trip t = {.courier = k, .assigned = now, .n = n};
    memcpy(t.orders, ord, (size_t)n * sizeof(*ord));
    const mdrp_restaurant *r = &in->r[in->o[ord[0]].restaurant];
    long ready = 0;
    for (int i = 0; i < n; i++)
        if (in->o[ord[i]].ready > ready)
            ready = in->o[ord[i]].ready;
    t.depart = depart_hint > now ? depart_hint : now; /* arrive when ready, not earlier */
    long arrive = t.depart + mdrp_travel(in, s->cs[k].x, s->cs[k].y, r->x, r->y);
    t.pickup = arrive + in->pickup_service / 2 > ready ? arrive + in->pickup_service / 2 : ready;
    if (t.pickup > in->c[k].off) {
        snprintf(err, errlen, "minute %ld courier %s: pickup at %ld after its off time %ld", now,
                 in->c[k].id, t.pickup, in->c[k].off);
        return -1;
    }
    if (t.pickup != predicted_pickup)
        s->mispredicted++;
    mdrp_place rest = {MDRP_AT_RESTAURANT, in->o[ord[0]].restaurant};
    if (mdrp_leg_add(s, k, t.depart, s->cs[k].at, rest) || mdrp_trip_drops(s, &t, r) ||
        mdrp_push((void **)&s->trips, &s->ntrips, &s->cap_trips, sizeof(t), &t)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- one decision round ---- */

static size_t mdrp_round_orders(mdrp_sim *s, long now)
{
    const mdrp_instance *in = s->in;
    size_t n = 0;
    for (size_t i = 0; i < in->no; i++) {
        const mdrp_order *o = &in->o[i];
        if (s->served[i].done || o->placed > now)
            continue;
        /* greedy: an order is dispatched when it is ready (today's rule) */
        if (s->opt.kind == POLICY_GREEDY && o->ready > now)
            continue;
        policy_order *po = &s->po[n];
        *po = (policy_order){.lat = in->r[o->restaurant].y,
                             .lon = in->r[o->restaurant].x,
                             .ready_ms = o->ready * MDRP_MS_PER_MIN,
                             .placed_ms = o->placed * MDRP_MS_PER_MIN,
                             .pharmacy = in->r[o->restaurant].id,
                             .has_dropoff = 1,
                             .drop_lat = o->y,
                             .drop_lon = o->x};
        snprintf(po->id, sizeof(po->id), "%s", o->id);
        s->po_order[n++] = i;
    }
    return n;
}

static size_t mdrp_round_couriers(mdrp_sim *s, long now)
{
    const mdrp_instance *in = s->in;
    size_t n = 0;
    for (size_t k = 0; k < in->nc; k++) {
        if (in->c[k].off <= now)
            continue; /* it can pick nothing up any more */
        long free = s->cs[k].free > in->c[k].on ? s->cs[k].free : in->c[k].on;
        policy_courier *pc = &s->pc[n];
        *pc = (policy_courier){.lat = s->cs[k].y,
                               .lon = s->cs[k].x,
                               .ts_ms = now * MDRP_MS_PER_MIN,
                               .available = 1,
                               /* greedy sends one order per trip */
                               .capacity = s->opt.kind == POLICY_GREEDY ? 1 : s->opt.max_bundle,
                               .free_ms = free * MDRP_MS_PER_MIN,
                               .off_ms = in->c[k].off * MDRP_MS_PER_MIN};
        snprintf(pc->id, sizeof(pc->id), "%s", in->c[k].id);
        s->pc_courier[n++] = k;
    }
    return n;
}

static double mdrp_elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1e3 + (b->tv_nsec - a->tv_nsec) / 1e6;
}

static int mdrp_round_policy(mdrp_sim *s, long now, size_t no, size_t nc)
{
    const mdrp_instance *in = s->in;
    policy_params p = {.kind = s->opt.kind,
                       .now_ms = now * MDRP_MS_PER_MIN,
                       .stale_ms = MDRP_MS_PER_MIN,
                       .planar = 1,
                       .speed_m_per_min = in->meters_per_minute,
                       .travel_quantum_ms = MDRP_MS_PER_MIN,
                       .pickup_service_ms = in->pickup_service * MDRP_MS_PER_MIN,
                       .dropoff_service_ms = in->dropoff_service * MDRP_MS_PER_MIN,
                       .target_ms = in->target * MDRP_MS_PER_MIN,
                       .commit_ms = s->opt.commit * MDRP_MS_PER_MIN,
                       .max_bundle = s->opt.max_bundle,
                       .candidates = s->opt.candidates};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int n = policy_match(&p, s->po, no, s->pc, nc, s->pa);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = mdrp_elapsed_ms(&t0, &t1);
    s->rounds++;
    s->round_ms_sum += ms;
    if (ms > s->round_ms_max)
        s->round_ms_max = ms;
    return n;
}

/* The policy's assignments, one trip per bundle (consecutive entries). */
static int mdrp_round_apply(mdrp_sim *s, long now, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n;) {
        const policy_assignment *a = &s->pa[i];
        size_t ord[POLICY_BUNDLE_MAX];
        int m = 0;
        for (; i < n && s->pa[i].bundle == a->bundle; i++) {
            if (m == POLICY_BUNDLE_MAX || s->pa[i].courier != a->courier) {
                snprintf(err, errlen, "minute %ld: malformed bundle from the policy", now);
                return -1;
            }
            ord[m++] = s->po_order[s->pa[i].order];
        }
        if (mdrp_trip_run(s, now, s->pc_courier[a->courier], ord, m,
                          (long)(a->depart_ms / MDRP_MS_PER_MIN),
                          (long)(a->pickup_ms / MDRP_MS_PER_MIN), err, errlen))
            return -1;
    }
    return 0;
}

static int mdrp_round(mdrp_sim *s, long now, char *err, size_t errlen)
{
    size_t no = mdrp_round_orders(s, now);
    if (!no)
        return 0;
    size_t nc = mdrp_round_couriers(s, now);
    int n = mdrp_round_policy(s, now, no, nc);
    if (n < 0) {
        snprintf(err, errlen, "minute %ld: the policy failed", now);
        return -1;
    }
    return mdrp_round_apply(s, now, n, err, errlen);
}

int mdrp_sim_run(mdrp_sim *s, char *err, size_t errlen)
{
    const mdrp_instance *in = s->in;
    long first = 0, last_off = 0;
    for (size_t i = 0; i < in->no; i++)
        if (i == 0 || in->o[i].placed < first)
            first = in->o[i].placed;
    for (size_t k = 0; k < in->nc; k++)
        if (in->c[k].off > last_off)
            last_off = in->c[k].off;
    for (long now = first; now <= last_off && s->nserved < in->no; now += s->opt.round)
        if (mdrp_round(s, now, err, errlen))
            return -1;
    return 0;
}
