/* round.c - the batch round (RXD_DISPATCH_POLICY=batch, the default): every
 * RXD_DISPATCH_WINDOW_MS the dispatcher claims the orders waiting for a
 * courier (up to 100, with the claim lease), loads them, finds the couriers
 * around each pharmacy (the union of the GEOSEARCHes), reads the couriers'
 * facts once, and asks the batch policy (common/policy.h) for one matching
 * of the whole round: couriers to bundles of orders of one pharmacy at least
 * total predicted pickup time. Each assignment then goes through the state
 * machine's atomic `assign` op, one after the other, exactly as a greedy job
 * would: the capacity, cold chain, freshness and tried checks hold whatever
 * the policy said. An order whose courier changed meanwhile ("busy") gets a
 * per-order job right after the round (the next courier by distance); an
 * order left without a courier stays queued and its lease brings it back to
 * a later round. A Redis error that may pass ends the round: every claimed
 * order is still in the queue. One that no retry fixes never ends every
 * round to come: an order whose load fails so is parked (dispatch_park), a
 * courier whose facts or assignment fail so is skipped. One round at a time per process; across
 * processes the claim lease and the atomic assign keep them apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "log.h"
#include "round.h"
#include "steps.h"
#include "mem.h"

#define ROUND_CLAIM_LIMIT 100

/* One claimed order; ctx of its dispatch_load reply. */
typedef struct round_slot {
    dispatch_round *r;
    char oid[IDS_MAX + 1];
    dispatch_loaded loaded;
    int ok; /* loaded and still waiting for a courier */
} round_slot;

struct dispatch_round {
    dispatcher *d;
    job_token token; /* in d->jobs */
    round_slot *slot;
    size_t nslot;
    int pending; /* dispatch_load replies still to come */
    int failed;  /* a Redis call failed: the round ends */
    policy_courier *c;
    size_t nc, cap_c;
    json_t *seen; /* courier id -> index in c */
    policy_order *po;
    size_t *po_slot; /* policy order -> slot */
    policy_assignment *a;
    int na, next;
    char (*busy)[IDS_MAX + 1]; /* orders to hand to a per-order job */
    size_t nbusy;
};

static void round_request(dispatcher *d);

static void round_free(dispatch_round *r)
{
    for (size_t i = 0; i < r->nslot; i++)
        dispatch_loaded_clear(&r->slot[i].loaded);
    free(r->slot);
    free(r->c);
    json_decref(r->seen);
    free(r->po);
    free(r->po_slot);
    free(r->a);
    free(r->busy);
    free(r);
}

static void round_end(dispatch_round *r)
{
    dispatcher *d = r->d;
    if (r->failed)
        metric_add(d->m_redis_errors, 1);
    for (size_t i = 0; i < r->nbusy && !d->svc->stopping; i++)
        dispatch_start(d, r->busy[i], NULL);
    d->round = NULL;
    job_end(&r->token);
    round_free(r);
    if (d->round_again && !d->svc->stopping) {
        d->round_again = 0;
        round_request(d);
    }
}

/* ---- assigning, one after the other ---- */

static void round_assign_next(dispatch_round *r);

static void round_on_assign(void *ctx, const orders_result *res)
{
    dispatch_round *r = ctx;
    const policy_assignment *a = &r->a[r->next];
    const char *oid = r->slot[r->po_slot[a->order]].oid, *courier = r->c[a->courier].id;
    const redisReply *reply = res->reply;
    const char *err = res->err;
    if (res->status == ORDERS_FAILED && worker_reply_kind(reply, err) == RERR_FATAL) {
        metric_add(r->d->m_redis_errors, 1);
        log_event(LOG_ERROR, "assign_failed", "{s:s, s:s, s:s, s:s}", "order_id", oid, "courier_id",
                  courier, "error", worker_reply_error(reply, err), "action",
                  "look at the courier's and the order's keys; the order stays queued");
    } else if (res->status == ORDERS_FAILED) {
        r->failed = 1;
        round_end(r);
        return;
    } else if (res->status == ORDERS_ASSIGNED) {
        char accept_by[24];
        snprintf(accept_by, sizeof(accept_by), "%lld", res->deadline_ms);
        metric_add(r->d->m_assigned, 1);
        log_event(LOG_INFO, "courier_assigned", "{s:s, s:s, s:i, s:i, s:s, s:s}", "order_id", oid,
                  "courier_id", courier, "pickup_distance_m", (int)a->dist_m, "bundle", a->bundle,
                  "accept_by", accept_by, "policy", "batch");
    } else if (res->status == ORDERS_BUSY) {
        metric_add(r->d->m_busy, 1);
        snprintf(r->busy[r->nbusy++], IDS_MAX + 1, "%s", oid);
    }
    r->next++;
    round_assign_next(r);
}

static void round_assign_next(dispatch_round *r)
{
    if (r->next >= r->na || r->d->svc->stopping) {
        round_end(r);
        return;
    }
    const policy_assignment *a = &r->a[r->next];
    if (dispatch_assign_call(r->d, r->slot[r->po_slot[a->order]].oid, r->c[a->courier].id,
                             a->dist_m, round_on_assign, r) != 0) {
        r->failed = 1;
        round_end(r);
    }
}

/* ---- the matching ---- */

static void round_count_bundled(dispatch_round *r)
{
    for (int i = 0; i < r->na; i++) {
        int shared = (i > 0 && r->a[i - 1].bundle == r->a[i].bundle) ||
                     (i + 1 < r->na && r->a[i + 1].bundle == r->a[i].bundle);
        if (shared)
            metric_add(r->d->m_bundled, 1);
    }
}

static void round_match(dispatch_round *r)
{
    dispatcher *d = r->d;
    size_t no = 0;
    r->po = xcalloc(r->nslot, sizeof(*r->po));
    r->po_slot = xcalloc(r->nslot, sizeof(*r->po_slot));
    r->a = xcalloc(r->nslot, sizeof(*r->a));
    r->busy = xcalloc(r->nslot, sizeof(*r->busy));
    for (size_t i = 0; i < r->nslot; i++)
        if (r->slot[i].ok) {
            r->po[no] = r->slot[i].loaded.order;
            r->po_slot[no++] = i;
        }
    policy_params p = {.kind = POLICY_BATCH,
                       .now_ms = service_now_ms(),
                       .stale_ms = d->stale_ms,
                       .radius_m = d->radius_m,
                       .speed_m_per_min = d->speed_m_per_min,
                       .commit_ms = d->window_ms, /* must leave before the next round */
                       .max_bundle = (int)d->max_bundle};
    r->na = policy_match(&p, r->po, no, r->c, r->nc, r->a);
    if (r->na < 0)
        r->na = 0;
    metric_add(d->m_rounds, 1);
    metric_add(d->m_round_orders, (long long)no);
    metric_add(d->m_no_courier, (long long)(no - (size_t)r->na));
    round_count_bundled(r);
    log_event(LOG_DEBUG, "dispatch_round", "{s:i, s:i, s:i}", "orders", (int)no, "couriers",
              (int)r->nc, "assignments", r->na);
    round_assign_next(r);
}

/* ---- the couriers around every pharmacy, and their facts ---- */

static void round_on_facts(int failed, void *ctx)
{
    dispatch_round *r = ctx;
    if (failed == RERR_RETRY) {
        r->failed = 1;
        round_end(r);
        return;
    }
    if (failed) /* those couriers' facts stay unread, so they are ineligible */
        log_event(LOG_ERROR, "courier_facts_unreadable", "{s:s}", "action",
                  "some courier's keys hold the wrong type; they are skipped: fix them");
    round_match(r);
}

static void round_add_courier(dispatch_round *r, const char *id)
{
    if (json_object_get(r->seen, id))
        return;
    if (r->nc == r->cap_c) {
        size_t cap = r->cap_c ? r->cap_c * 2 : 64;
        r->c = xrealloc(r->c, cap * sizeof(*r->c));
        r->cap_c = cap;
    }
    r->c[r->nc] = (policy_courier){0};
    snprintf(r->c[r->nc].id, IDS_MAX + 1, "%s", id);
    json_object_set_new(r->seen, id, json_integer((json_int_t)r->nc));
    r->nc++;
}

static void round_on_search(const redisReply *reply, void *item, void *ctx)
{
    (void)item;
    dispatch_round *r = ctx;
    for (size_t i = 0; i < orders_near_count(reply); i++) {
        const char *id = dispatch_search_id(reply, i);
        if (id)
            round_add_courier(r, id);
    }
}

static size_t round_waiting(const dispatch_round *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nslot; i++)
        n += r->slot[i].ok != 0;
    return n;
}

static void round_on_searched(int failed, void *ctx)
{
    dispatch_round *r = ctx;
    r->failed = failed;
    if (failed == RERR_FATAL)
        log_event(LOG_ERROR, "dispatch_index_broken", "{s:s}", "action",
                  "the courier geo index (<prefix>idx:co:geo) is not a geo set: delete it (the "
                  "couriers' next positions rebuild it)");
    if (failed || r->nc == 0) {
        if (!failed)
            metric_add(r->d->m_no_courier, (long long)round_waiting(r));
        round_end(r); /* nobody around: the orders stay queued */
        return;
    }
    if (orders_courier_facts(r->d->svc->orders, r->c, r->nc, round_on_facts, r) != 0) {
        r->failed = 1;
        round_end(r);
    }
}

static void round_search(dispatch_round *r)
{
    if (r->failed || round_waiting(r) == 0) {
        round_end(r); /* skipped orders left the queue in dispatch_load */
        return;
    }
    batch *b = batch_new(r->d->svc->store, round_on_searched, r);
    for (size_t i = 0; i < r->nslot; i++) {
        if (!r->slot[i].ok)
            continue;
        orders_near_cmd c;
        dispatch_search_prepare(r->d, &r->slot[i].loaded.order, &c);
        batch_cmd(b, round_on_search, &r->slot[i], ORDERS_NEAR_ARGC, c.argv);
    }
    batch_end(b);
}

/* ---- the claimed orders ---- */

static void round_on_loaded(void *ctx, const orders_result *res)
{
    round_slot *s = ctx;
    dispatch_round *r = s->r;
    const redisReply *reply = res->reply;
    const char *err = res->err;
    const char *status = dispatch_loaded_parse(res, s->oid, &s->loaded);
    if (!status && worker_reply_kind(reply, err) == RERR_FATAL)
        dispatch_park(r->d, "dispatch", s->oid, worker_reply_error(reply, err));
    else if (!status)
        r->failed = 1;
    else
        s->ok = strcmp(status, "ok") == 0;
    if (--r->pending == 0)
        round_search(r);
}

static void round_on_claimed(void *ctx, const orders_result *res)
{
    dispatch_round *r = ctx;
    dispatcher *d = r->d;
    if (res->status == ORDERS_FAILED) {
        r->failed = 1;
        round_end(r);
        return;
    }
    r->slot = xcalloc(res->n_ids ? res->n_ids : 1, sizeof(*r->slot));
    for (size_t i = 0; r->slot && i < res->n_ids; i++) {
        /* an order with a per-order job (a busy retry) is that job's */
        if (dispatch_running(d, res->ids[i]))
            continue;
        round_slot *s = &r->slot[r->nslot++];
        s->r = r;
        snprintf(s->oid, sizeof(s->oid), "%s", res->ids[i]);
    }
    if (r->nslot == 0 || d->svc->stopping) {
        round_end(r);
        return;
    }
    r->pending = (int)r->nslot;
    for (size_t i = 0; i < r->nslot; i++)
        if (orders_dispatch_load(d->svc->orders, r->slot[i].oid, round_on_loaded, &r->slot[i]) !=
            0) {
            orders_result failed = {.status = ORDERS_FAILED, .err = "out of memory"};
            round_on_loaded(&r->slot[i], &failed);
        }
}

void round_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dispatcher *d = arg;
    if (d->round) {
        d->round_again = 1; /* right after this one */
        return;
    }
    if (job_count_active(&d->jobs) > DISPATCHER_JOBS_MAX || d->svc->stopping)
        return; /* the orders stay queued for the next window */
    dispatch_round *r = xcalloc(1, sizeof(*r));
    r->d = d;
    r->seen = json_object();
    d->round = r;
    job_begin(&d->jobs, &r->token, NULL);
    if (orders_claim(d->svc->orders, "dispatch", ROUND_CLAIM_LIMIT, d->lease_ms, round_on_claimed,
                     r) != 0) {
        orders_result failed = {.status = ORDERS_FAILED, .err = "out of memory"};
        round_on_claimed(r, &failed);
    }
}

static void round_request(dispatcher *d)
{
    if (d->svc->stopping || evtimer_pending(d->round_soon, NULL))
        return;
    struct timeval tv = {d->gather_ms / 1000, (d->gather_ms % 1000) * 1000};
    evtimer_add(d->round_soon, &tv);
}

void round_wanted(dispatcher *d, const char *oid, kafka_msg *msg)
{
    (void)oid;
    if (msg)
        kafka_consumer_done(d->consumer, msg);
    round_request(d);
}
