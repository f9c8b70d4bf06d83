/* policy_batch.c - one batch round: bundles, min-cost assignment, late
 * commitment (see policy.h).
 *
 * 1. Every waiting order starts as a bundle of its own; every courier is a
 *    candidate, busy ones from when and where they will be free.
 * 2. Couriers are matched to bundles at least total predicted click-to-door
 *    (lsap.h), each bundle keeping its cheapest `candidates` couriers, with
 *    a dummy way out per bundle so that a shortage leaves orders waiting.
 * 3. An order is attached to another bundle of its pharmacy (best drop-off
 *    slot, on that bundle's courier) when that costs less in total than its
 *    own match, and nobody in the bundle ends up beyond the click-to-door
 *    target unless they were beyond it already. The freed couriers go back
 *    into a second matching.
 * 4. Commit late: only matches whose courier is free now and has to leave
 *    within commit_ms (0: now) to make its predicted pickup are returned;
 *    the others wait for a later round, in which better couriers or
 *    bundles may have appeared. */
#include "policy_batch.h"

#include <stdlib.h>
#include <string.h>

#include "lsap.h"
#include "policy_route.h"
#include "mem.h"

#define BATCH_CANDIDATES_DEFAULT 30
#define BATCH_CANDIDATES_MAX 64
/* A bundle left without a courier costs this per order: far more than any
 * route, so the matching serves as many orders as it can... */
#define BATCH_UNSERVED_COST 1e6
/* ...plus this per minute the order has waited since the click. Above 1 (a
 * served order's cost grows 1 per minute of age too), so that in a
 * shortage the oldest orders are served first instead of starving. */
#define BATCH_UNSERVED_AGE_WEIGHT 1.5
/* The price of a courier minute (in click-to-door minutes) in a round where
 * the first matching left orders without a courier: shorter trips and
 * shared trips then free couriers for them. 0 otherwise. */
#define BATCH_SHORTAGE_PRICE 3.0
/* Per minute until a busy courier is free: between equal predictions, a
 * courier free now is the safer bet (measured: 32.22 vs 32.28 min mean). */
#define BATCH_BUSY_WEIGHT 0.1

typedef struct batch_bundle {
    size_t seq[POLICY_BUNDLE_MAX]; /* orders, in drop-off order */
    int n;
    int alive;
    long courier; /* matched courier, -1: none */
    policy_route route;
} batch_bundle;

typedef struct batch_candidate {
    size_t courier;
    double cost;
} batch_candidate;

typedef struct batch_round {
    const policy_params *p;
    const policy_order *o;
    const policy_courier *c;
    size_t no, nc;
    int kmax;              /* candidates kept per bundle */
    double lambda;         /* price of a courier minute: 0 unless orders go unserved */
    unsigned char *ok;     /* no x nc: the order may go to the courier at all */
    batch_bundle *b;       /* no entries: bundle i starts as order i */
    batch_candidate *cand; /* no x kmax */
    int *ncand;
    long *col;          /* courier -> assignment column, -1: none */
    size_t *row_bundle; /* assignment row -> bundle */
    size_t *col_courier;
    double *cost;
    size_t *match;
} batch_round;

static void batch_round_free(batch_round *r)
{
    free(r->ok);
    free(r->b);
    free(r->cand);
    free(r->ncand);
    free(r->col);
    free(r->row_bundle);
    free(r->col_courier);
    free(r->cost);
    free(r->match);
}

static int batch_round_init(batch_round *r)
{
    size_t no = r->no ? r->no : 1, nc = r->nc ? r->nc : 1;
    r->kmax = r->p->candidates > 0 ? r->p->candidates : BATCH_CANDIDATES_DEFAULT;
    if (r->kmax > BATCH_CANDIDATES_MAX)
        r->kmax = BATCH_CANDIDATES_MAX;
    r->ok = xmalloc(no * nc);
    r->b = xcalloc(no, sizeof(*r->b));
    r->cand = xmalloc(no * (size_t)r->kmax * sizeof(*r->cand));
    r->ncand = xcalloc(no, sizeof(*r->ncand));
    r->col = xmalloc(nc * sizeof(*r->col));
    r->row_bundle = xmalloc(no * sizeof(*r->row_bundle));
    r->col_courier = xmalloc(nc * sizeof(*r->col_courier));
    r->match = xmalloc(no * sizeof(*r->match));
    for (size_t i = 0; i < r->no; i++) {
        for (size_t k = 0; k < r->nc; k++)
            r->ok[i * r->nc + k] = !policy_check_static(r->p, &r->o[i], &r->c[k]);
        r->b[i] = (batch_bundle){.seq = {i}, .n = 1, .alive = 1, .courier = -1};
    }
    return 0;
}

/* Courier k may carry bundle b: every order allowed, room enough. */
static int batch_fits(const batch_round *r, const batch_bundle *b, size_t k)
{
    if (r->c[k].capacity - r->c[k].load < b->n)
        return 0;
    for (int i = 0; i < b->n; i++)
        if (!r->ok[b->seq[i] * r->nc + k])
            return 0;
    return 1;
}

/* Keep the kmax cheapest couriers of a row, cheapest first (ties: lower
 * index, as the couriers are scanned in order). */
static void batch_keep(batch_candidate *list, int *n, int kmax, batch_candidate cand)
{
    int j = *n < kmax ? (*n)++ : kmax;
    if (j == kmax && cand.cost >= list[kmax - 1].cost)
        return;
    if (j == kmax)
        j = kmax - 1;
    while (j > 0 && list[j - 1].cost > cand.cost) {
        list[j] = list[j - 1];
        j--;
    }
    list[j] = cand;
}

/* The matching cost of a route: predicted click-to-door; plus the courier
 * time it takes, priced when couriers are short; plus a little for waiting
 * on a busy courier rather than taking one free now. */
static double batch_cost(const batch_round *r, const policy_route *route)
{
    return route->cost + r->lambda * (route->end_ms - route->start_ms) / 60000.0 +
           BATCH_BUSY_WEIGHT * (route->start_ms - r->p->now_ms) / 60000.0;
}

static void batch_candidates(batch_round *r, size_t row, const batch_bundle *b)
{
    batch_candidate *list = r->cand + row * (size_t)r->kmax;
    r->ncand[row] = 0;
    for (size_t k = 0; k < r->nc; k++) {
        if (!batch_fits(r, b, k))
            continue;
        policy_route route;
        policy_route_eval(r->p, r->o, b->seq, b->n, &r->c[k], &route);
        if (route.ok)
            batch_keep(list, &r->ncand[row], r->kmax, (batch_candidate){k, batch_cost(r, &route)});
    }
}

/* The columns: every courier that is somebody's candidate, in index order
 * (so equal inputs give equal matrices), then one dummy per row. */
static size_t batch_columns(batch_round *r, size_t rows)
{
    for (size_t k = 0; k < r->nc; k++)
        r->col[k] = -1;
    for (size_t i = 0; i < rows; i++)
        for (int j = 0; j < r->ncand[i]; j++)
            r->col[r->cand[i * (size_t)r->kmax + j].courier] = 0;
    size_t m = 0;
    for (size_t k = 0; k < r->nc; k++)
        if (r->col[k] == 0) {
            r->col[k] = (long)m;
            r->col_courier[m++] = k;
        }
    return m;
}

static double batch_unserved(const batch_round *r, const batch_bundle *b)
{
    double cost = 0;
    for (int i = 0; i < b->n; i++) {
        const policy_order *o = &r->o[b->seq[i]];
        int64_t clicked = o->placed_ms ? o->placed_ms : o->ready_ms;
        /* urgent orders are served before any other when couriers are short */
        cost += BATCH_UNSERVED_COST * (o->urgent ? 2 : 1) +
                BATCH_UNSERVED_AGE_WEIGHT * (r->p->now_ms - clicked) / 60000.0;
    }
    return cost;
}

static int batch_fill(batch_round *r, size_t rows, size_t couriers)
{
    size_t m = couriers + rows;
    free(r->cost);
    r->cost = xmalloc((rows ? rows * m : 1) * sizeof(double));
    for (size_t i = 0; i < rows; i++) {
        double *row = r->cost + i * m;
        for (size_t j = 0; j < couriers; j++)
            row[j] = LSAP_FORBIDDEN;
        double unserved = batch_unserved(r, &r->b[r->row_bundle[i]]);
        for (size_t j = couriers; j < m; j++)
            row[j] = unserved;
        for (int j = 0; j < r->ncand[i]; j++) {
            const batch_candidate *cd = &r->cand[i * (size_t)r->kmax + j];
            row[r->col[cd->courier]] = cd->cost;
        }
    }
    return 0;
}

/* Step 2: match every live bundle to a courier or to nobody. */
static int batch_assign(batch_round *r)
{
    size_t rows = 0;
    for (size_t i = 0; i < r->no; i++)
        if (r->b[i].alive)
            r->row_bundle[rows++] = i;
    for (size_t i = 0; i < rows; i++)
        batch_candidates(r, i, &r->b[r->row_bundle[i]]);
    size_t couriers = batch_columns(r, rows);
    if (batch_fill(r, rows, couriers) || lsap_solve(rows, couriers + rows, r->cost, r->match))
        return -1;
    for (size_t i = 0; i < rows; i++) {
        batch_bundle *b = &r->b[r->row_bundle[i]];
        b->courier = r->match[i] < couriers ? (long)r->col_courier[r->match[i]] : -1;
        if (b->courier >= 0)
            policy_route_eval(r->p, r->o, b->seq, b->n, &r->c[b->courier], &b->route);
        else
            r->lambda = BATCH_SHORTAGE_PRICE;
    }
    return 0;
}

static int batch_same_pharmacy(const policy_order *a, const policy_order *b)
{
    if (a->pharmacy && b->pharmacy)
        return strcmp(a->pharmacy, b->pharmacy) == 0;
    return a->lat == b->lat && a->lon == b->lon;
}

/* Nobody in the new route is beyond the target unless already predicted
 * beyond it (own_drop: what order x alone was predicted; INT64_MAX when it
 * has no courier: waiting is later than anything). */
static int batch_nobody_late(const batch_round *r, const batch_bundle *host, const policy_route *nr,
                             const size_t *seq, int n, size_t x, int64_t own_drop)
{
    int64_t target = policy_target_ms(r->p);
    for (int i = 0; i < n; i++) {
        const policy_order *o = &r->o[seq[i]];
        int64_t limit = (o->placed_ms ? o->placed_ms : o->ready_ms) + target, before = own_drop;
        if (seq[i] != x)
            for (int j = 0; j < host->n; j++)
                if (host->seq[j] == seq[i])
                    before = host->route.drop_ms[j];
        if (nr->drop_ms[i] > limit && nr->drop_ms[i] > before)
            return 0;
    }
    return 1;
}

typedef struct batch_insertion {
    double delta; /* added cost */
    size_t seq[POLICY_BUNDLE_MAX];
    policy_route route;
} batch_insertion;

/* The cheapest slot for order x in host's route on host's courier. */
static int batch_insert(const batch_round *r, const batch_bundle *host, size_t x, int64_t own_drop,
                        batch_insertion *best)
{
    size_t k = (size_t)host->courier;
    if (r->c[k].capacity - r->c[k].load < host->n + 1 || !r->ok[x * r->nc + k])
        return 0;
    int found = 0;
    for (int pos = 0; pos <= host->n; pos++) {
        batch_insertion t;
        for (int i = 0, j = 0; i <= host->n; i++)
            t.seq[i] = i == pos ? x : host->seq[j++];
        policy_route_eval(r->p, r->o, t.seq, host->n + 1, &r->c[k], &t.route);
        if (!t.route.ok || !batch_nobody_late(r, host, &t.route, t.seq, host->n + 1, x, own_drop))
            continue;
        t.delta = batch_cost(r, &t.route) - batch_cost(r, &host->route);
        if (!found || t.delta < best->delta) {
            *best = t;
            found = 1;
        }
    }
    return found;
}

/* The cheapest courier for a bundle that the matching left without one
 * (when two unserved orders may share one, the second matching decides
 * whether any courier takes them). 0 when none can. */
static int batch_tentative(const batch_round *r, batch_bundle *b)
{
    policy_route route;
    double best = 0;
    b->courier = -1;
    for (size_t k = 0; k < r->nc; k++) {
        if (!batch_fits(r, b, k))
            continue;
        policy_route_eval(r->p, r->o, b->seq, b->n, &r->c[k], &route);
        if (route.ok && (b->courier < 0 || batch_cost(r, &route) < best)) {
            best = batch_cost(r, &route);
            b->courier = (long)k;
            b->route = route;
        }
    }
    return b->courier >= 0;
}

/* A host for order x (of bundle bi, own cost `own`): same pharmacy, room
 * left, and a courier (its match; an unserved x may also join an unserved
 * host on that host's cheapest courier). */
static int batch_host(const batch_round *r, size_t bi, size_t h, batch_bundle *host)
{
    const batch_bundle *hb = &r->b[h];
    size_t x = r->b[bi].seq[0];
    if (h == bi || !hb->alive || hb->n >= policy_max_bundle(r->p) ||
        !batch_same_pharmacy(&r->o[x], &r->o[hb->seq[0]]))
        return 0;
    *host = *hb;
    if (host->courier >= 0)
        return 1;
    return r->b[bi].courier < 0 && batch_tentative(r, host);
}

/* Step 3 for one single-order bundle: the best host of its pharmacy, if
 * sharing beats its own match. */
static void batch_attach_one(batch_round *r, size_t bi)
{
    batch_bundle *b = &r->b[bi], host;
    size_t x = b->seq[0];
    double own = b->courier >= 0 ? batch_cost(r, &b->route) : batch_unserved(r, b);
    int64_t own_drop = b->courier >= 0 ? b->route.drop_ms[0] : INT64_MAX;
    long best_host = -1;
    long best_courier = -1;
    batch_insertion best = {0}, t;
    for (size_t h = 0; h < r->no; h++) {
        if (!batch_host(r, bi, h, &host))
            continue;
        if (batch_insert(r, &host, x, own_drop, &t) && t.delta < own &&
            (best_host < 0 || t.delta < best.delta)) {
            best = t;
            best_host = (long)h;
            best_courier = host.courier;
        }
    }
    if (best_host < 0)
        return;
    batch_bundle *hb = &r->b[best_host];
    memcpy(hb->seq, best.seq, sizeof(best.seq));
    hb->n++;
    hb->courier = best_courier;
    hb->route = best.route;
    b->alive = 0;
}

/* Worst served first: what its own match costs beyond the floor. */
static double batch_excess(const batch_round *r, const batch_bundle *b)
{
    double own = b->courier >= 0 ? b->route.cost : batch_unserved(r, b);
    return own - policy_route_floor(r->p, &r->o[b->seq[0]]);
}

static int batch_attach(batch_round *r)
{
    size_t *idx = xmalloc((r->no ? r->no : 1) * sizeof(*idx));
    double *ex = xmalloc((r->no ? r->no : 1) * sizeof(*ex));
    size_t n = 0;
    for (size_t i = 0; i < r->no; i++) {
        if (!r->b[i].alive || r->b[i].n != 1)
            continue;
        ex[i] = batch_excess(r, &r->b[i]);
        size_t j = n++; /* insertion sort, stable: ties keep index order */
        while (j > 0 && ex[idx[j - 1]] < ex[i]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    for (size_t k = 0; k < n; k++) /* a bundle that became a host stays */
        if (r->b[idx[k]].alive && r->b[idx[k]].n == 1 && ex[idx[k]] > 0)
            batch_attach_one(r, idx[k]);
    free(idx);
    free(ex);
    return 0;
}

/* Step 4: what to commit now. */
static int batch_commit_now(const batch_round *r, const batch_bundle *b)
{
    if (!b->alive || b->courier < 0 || r->c[b->courier].free_ms > r->p->now_ms)
        return 0;
    return b->route.depart_ms <= r->p->now_ms + r->p->commit_ms;
}

static int batch_emit(const batch_round *r, policy_assignment *out)
{
    int n = 0, bundles = 0;
    for (size_t i = 0; i < r->no; i++) {
        const batch_bundle *b = &r->b[i];
        if (!batch_commit_now(r, b))
            continue;
        const policy_courier *c = &r->c[b->courier];
        for (int j = 0; j < b->n; j++) {
            const policy_order *o = &r->o[b->seq[j]];
            out[n++] = (policy_assignment){b->seq[j],
                                           (size_t)b->courier,
                                           policy_pickup_metres(r->p, o, c),
                                           bundles,
                                           b->route.depart_ms,
                                           b->route.pickup_ms,
                                           o->has_dropoff ? b->route.drop_ms[j] : 0};
        }
        bundles++;
    }
    return n;
}

int policy_batch_match(const policy_params *p, const policy_order *o, size_t no,
                       const policy_courier *c, size_t nc, policy_assignment *out)
{
    batch_round r = {.p = p, .o = o, .c = c, .no = no, .nc = nc};
    int n = -1;
    if (batch_round_init(&r) == 0 && batch_assign(&r) == 0 && batch_attach(&r) == 0 &&
        batch_assign(&r) == 0)
        n = batch_emit(&r, out);
    batch_round_free(&r);
    return n;
}
