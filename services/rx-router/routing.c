/* routing.c - one routing job per order that needs a pharmacy: load the
 * order, gather the candidates of each radius step from the geo index and
 * their facts (open, capacity, load, stock, cold chain, insurance), rank them
 * (common/route.c) and offer to the first; the state machine re-checks
 * everything atomically, so a candidate that filled up meanwhile is skipped
 * and a job that lost a race to another instance stops.
 *
 * Redis failures (rerr.h): one that may pass restarts the job from the load
 * after a backoff, a few times, without holding a claim slot while it waits;
 * then the job ends and the order's claim lease brings it back. One that no
 * retry fixes ends the order's routing: UNROUTABLE with reason store_error,
 * or, when that cannot be written, the order is parked (taken off the queue,
 * with the reason in <prefix>parked). A candidate whose facts cannot be read
 * is skipped, and a broken shared index drops the job, so neither ends
 * orders that have nothing wrong with them. */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orders_facts.h"
#include "geo.h"
#include "log.h"
#include "rerr.h"
#include "route.h"
#include "router.h"
#include "worker.h"
#include "mem.h"

#define ROUTING_BACKOFF_MIN_MS 100
#define ROUTING_BACKOFF_MAX_MS 5000
#define ROUTING_ITEMS_MAX 100
#define ROUTING_CLAIM_LIMIT 200
#define ROUTING_WINDOW_MIN 8 /* candidates whose facts are read at once */
/* In-job retries (0.1 + 0.2 + 0.4 + 0.8 s) before the claim lease takes over. */
#define ROUTING_RETRIES_MAX 4
/* Jobs waiting to retry at once; beyond, a failing job ends at once. */
#define ROUTING_BACKING_OFF_MAX 500
#define ROUTING_STORE_ERROR "store_error"

typedef struct route_job route_job;

struct route_job {
    router *rt;
    kafka_msg *msg;
    char oid[IDS_MAX + 1];
    char attempt[16];
    double lat, lon;
    int has_point;
    size_t nitems;
    char *codes[ROUTING_ITEMS_MAX];
    uint32_t qty[ROUTING_ITEMS_MAX];
    char nominated[IDS_MAX + 1];
    route_request rq;
    json_t *tried;
    orders_stock_need need; /* codes and qty, for the facts being read */
    int radius;             /* -1: the nominated pharmacy alone */
    route_pharmacy *c;      /* this radius step's candidates, nearest first */
    int nc, next, eligible;
    int win_from, win_end; /* the window of c being weighed (route_window_end) */
    job_token token;       /* in rt->jobs; waiting while the retry timer is armed */
    job_backoff backoff;
    int retries;
    int offered;   /* loaded in OFFERED: an UNROUTABLE cannot be written */
    int giving_up; /* a failure no retry fixes: ending the order's routing */
    struct event *retry;
};

static void routing_load(route_job *job);
static void routing_search(route_job *job);
static void routing_offer_next(route_job *job);
static void routing_gather(route_job *job);

/* The attempt as the state machine takes it: -1 for "*" (whatever it is). */
static long long routing_attempt(const route_job *job)
{
    return strcmp(job->attempt, "*") == 0 ? -1 : atoll(job->attempt);
}

static void routing_reset_candidates(route_job *job)
{
    free(job->c);
    job->c = NULL;
    job->nc = job->next = job->eligible = 0;
    job->win_from = job->win_end = 0;
}

static void routing_reset_order(route_job *job)
{
    for (size_t i = 0; i < job->nitems; i++)
        free(job->codes[i]);
    job->nitems = 0;
    json_decref(job->tried);
    job->tried = NULL;
    routing_reset_candidates(job);
}

static void routing_finish(route_job *job)
{
    router *rt = job->rt;
    if (job->msg)
        service_msg_done(rt->svc, rt->consumer, job->msg);
    job_end(&job->token);
    routing_reset_order(job);
    if (job->retry)
        event_free(job->retry);
    free(job);
}

/* At stop, a job waiting to retry: its order's lease brings it back. */
static void routing_on_drop(job_token *t)
{
    routing_finish((route_job *)((char *)t - offsetof(route_job, token)));
}

static void routing_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    route_job *job = arg;
    job_wake(&job->token);
    routing_load(job);
}

static void routing_give_up(route_job *job, const char *why);

/* A failure that may pass: back off and start again from the load, a few
 * times; then (or when too many jobs already wait, or while stopping) the
 * job ends and the claim lease of the order brings it back later. */
static void routing_retry_later(route_job *job, const char *why)
{
    router *rt = job->rt;
    if (rt->svc->stopping || job->retries >= ROUTING_RETRIES_MAX ||
        rt->jobs.waiting >= ROUTING_BACKING_OFF_MAX) {
        metric_add(rt->m_deferred, 1);
        log_event(LOG_WARN, "routing_deferred", "{s:s, s:s, s:i, s:s}", "order_id", job->oid,
                  "error", why, "retries", job->retries, "action",
                  "none: the order's claim lease brings it back; check redis if this repeats");
        routing_finish(job);
        return;
    }
    job->retries++;
    int backoff_ms =
        job_backoff_next(&job->backoff, ROUTING_BACKOFF_MIN_MS, ROUTING_BACKOFF_MAX_MS);
    log_event(LOG_WARN, "routing_retry", "{s:s, s:s, s:i}", "order_id", job->oid, "error", why,
              "backoff_ms", backoff_ms);
    if (!job->retry)
        job->retry = evtimer_new(rt->svc->base, routing_on_retry, job);
    struct timeval tv = {backoff_ms / 1000, (backoff_ms % 1000) * 1000};
    job_wait(&job->token);
    evtimer_add(job->retry, &tv);
}

/* A Redis call about this order failed. */
static void routing_retry(route_job *job, const redisReply *reply, const char *err)
{
    metric_add(job->rt->m_redis_errors, 1);
    const char *why = worker_reply_error(reply, err);
    if (worker_reply_kind(reply, err) == RERR_FATAL && !job->giving_up)
        routing_give_up(job, why);
    else
        routing_retry_later(job, why);
}

/* A call every order shares (the geo index) failed: nothing is wrong with
 * this order, so a failure no retry fixes drops the job, not the order. */
static void routing_shared_failed(route_job *job, const redisReply *reply, const char *err)
{
    if (worker_reply_kind(reply, err) == RERR_RETRY) {
        routing_retry(job, reply, err);
        return;
    }
    metric_add(job->rt->m_redis_errors, 1);
    metric_add(job->rt->m_failed, 1);
    log_event(LOG_ERROR, "routing_index_broken", "{s:s, s:s, s:s}", "order_id", job->oid, "error",
              worker_reply_error(reply, err), "action",
              "the pharmacy geo index (<prefix>idx:ph:geo) is not a geo set: fix or rebuild it "
              "(re-register the pharmacies); orders wait meanwhile");
    routing_finish(job);
}

static void routing_on_parked(void *ctx, const orders_result *res)
{
    route_job *job = ctx;
    if (res->status == ORDERS_FAILED)
        log_event(LOG_ERROR, "routing_park_failed", "{s:s, s:s, s:s}", "order_id", job->oid,
                  "error", worker_reply_error(res->reply, res->err), "action",
                  "the order comes back once per lease; remove it from <prefix>due by hand");
    else
        metric_add(job->rt->m_parked, 1);
    routing_finish(job);
}

static void routing_park(route_job *job, const char *why)
{
    char reason[256];
    snprintf(reason, sizeof(reason), "%s: %s", ROUTING_STORE_ERROR, why);
    if (orders_park(job->rt->svc->orders, "due", job->oid, reason, routing_on_parked, job) != 0)
        routing_finish(job); /* out of memory: the lease brings it back */
}

static void routing_unroutable(route_job *job, const char *reason);

/* No retry fixes what happened: end the order's routing with a reason, as
 * UNROUTABLE when its state allows, else parked. */
static void routing_give_up(route_job *job, const char *why)
{
    metric_add(job->rt->m_failed, 1);
    job->giving_up = 1;
    log_event(LOG_ERROR, "routing_failed", "{s:s, s:s, s:s}", "order_id", job->oid, "error", why,
              "action",
              "the order ends UNROUTABLE (store_error) or is parked (<prefix>parked); look at its "
              "keys with `rxctl order` and redis-cli, and resubmit the prescription if needed");
    if (job->offered) {
        routing_park(job, why);
        return;
    }
    if (!job->attempt[0]) /* the load failed: whatever attempt it is at */
        snprintf(job->attempt, sizeof(job->attempt), "*");
    routing_unroutable(job, ROUTING_STORE_ERROR);
}

static void routing_on_unroutable(void *ctx, const orders_result *res)
{
    route_job *job = ctx;
    if (res->status == ORDERS_FAILED) {
        if (job->giving_up) /* not even that can be written */
            routing_park(job, worker_reply_error(res->reply, res->err));
        else
            routing_retry(job, res->reply, res->err);
        return;
    }
    if (res->status == ORDERS_OK)
        metric_add(strcmp(res->detail, "held") == 0 ? job->rt->m_held : job->rt->m_unroutable, 1);
    else if (job->giving_up) { /* not in ROUTING: it would come back every lease */
        routing_park(job, "the order left ROUTING while its keys failed");
        return;
    }
    routing_finish(job);
}

/* How each give-up ends the order: a reason that may pass holds it
 * (docs/architecture.md, "The hold"); the others are final. Attempts
 * exhausted is final: every pharmacy asked said no or let the offer lapse,
 * and the ones that did stay tried, so waiting would not change the answer. */
static const struct {
    const char *reason;
    int hold;
} routing_give_up_classes[] = {
    {"no_eligible_pharmacy", 1}, {"attempts_exhausted", 0}, {"expired", 0}, {"store_error", 0}};

static int routing_reason_holds(const char *reason)
{
    for (size_t i = 0; i < sizeof(routing_give_up_classes) / sizeof(routing_give_up_classes[0]);
         i++)
        if (strcmp(routing_give_up_classes[i].reason, reason) == 0)
            return routing_give_up_classes[i].hold;
    return 0;
}

static void routing_unroutable(route_job *job, const char *reason)
{
    int hold = routing_reason_holds(reason);
    log_event(LOG_INFO, hold ? "order_held" : "order_unroutable", "{s:s, s:s, s:s}", "order_id",
              job->oid, "reason", reason, "attempt", job->attempt);
    orders *o = job->rt->svc->orders;
    long long attempt = routing_attempt(job);
    if ((hold ? orders_hold(o, job->oid, attempt, reason, routing_on_unroutable, job)
              : orders_unroutable(o, job->oid, attempt, reason, routing_on_unroutable, job)) != 0)
        routing_retry_later(job, "out of memory");
}

/* ---- offering ---- */

static void routing_on_offer(void *ctx, const orders_result *res)
{
    route_job *job = ctx;
    const redisReply *reply = res->reply;
    const char *err = res->err;
    const route_pharmacy *ph = &job->c[job->win_from + job->next];
    if (res->status == ORDERS_FAILED && worker_reply_kind(reply, err) == RERR_FATAL) {
        /* this pharmacy's keys, most likely: on to the next candidate */
        metric_add(job->rt->m_redis_errors, 1);
        log_event(LOG_ERROR, "offer_failed", "{s:s, s:s, s:s, s:s}", "order_id", job->oid,
                  "pharmacy_id", ph->id, "error", worker_reply_error(reply, err), "action",
                  "look at the pharmacy's keys (<prefix>ph:<id>, ...:active, ...:offers)");
        job->next++;
        routing_offer_next(job);
        return;
    }
    if (res->status == ORDERS_FAILED) {
        routing_retry(job, reply, err);
        return;
    }
    if (res->status == ORDERS_OFFERED) {
        char attempt[24];
        snprintf(attempt, sizeof(attempt), "%lld", res->attempt);
        metric_add(job->rt->m_offered, 1);
        log_event(LOG_INFO, "order_offered", "{s:s, s:s, s:i, s:s}", "order_id", job->oid,
                  "pharmacy_id", ph->id, "distance_m", (int)ph->dist_m, "attempt", attempt);
        routing_finish(job);
    } else if (res->status == ORDERS_STALE) {
        routing_finish(job); /* another instance moved the order on */
    } else {
        job->next++; /* it filled up or closed since the facts were read */
        routing_offer_next(job);
    }
}

/* The next window of this radius step, else the next radius step. */
static void routing_next_window(route_job *job)
{
    if (job->win_end >= job->nc) {
        job->radius++;
        routing_search(job);
        return;
    }
    job->win_from = job->win_end;
    job->win_end = route_window_end(job->c, job->win_from, job->nc, ROUTING_WINDOW_MIN);
    routing_gather(job);
}

static void routing_offer_next(route_job *job)
{
    if (job->next >= job->eligible) {
        routing_next_window(job);
        return;
    }
    const route_pharmacy *ph = &job->c[job->win_from + job->next];
    if (orders_offer(job->rt->svc->orders, job->oid, routing_attempt(job), ph->id,
                     (int)(ph->dist_m + 0.5), job->rt->offer_deadline_ms, routing_on_offer,
                     job) != 0)
        routing_retry_later(job, "out of memory");
}

/* ---- gathering the candidates' facts ---- */

static void routing_on_facts(int failed, void *ctx)
{
    route_job *job = ctx;
    if (failed == RERR_RETRY) {
        metric_add(job->rt->m_redis_errors, 1);
        routing_retry_later(job, "reading pharmacy facts failed");
        return;
    }
    if (failed) /* the candidates whose facts failed stay unknown, so ineligible */
        log_event(LOG_ERROR, "pharmacy_facts_unreadable", "{s:s, s:s}", "order_id", job->oid,
                  "action",
                  "some candidate's keys hold the wrong type; they are skipped: fix them "
                  "(redis-cli TYPE <prefix>ph:<id> ...)");
    job->eligible = route_rank(&job->rq, job->c + job->win_from, job->win_end - job->win_from);
    job->next = 0;
    routing_offer_next(job);
}

static int routing_was_tried(const route_job *job, const char *id)
{
    size_t t;
    json_t *tid;
    json_array_foreach(job->tried, t, tid)
    {
        if (json_is_string(tid) && strcmp(json_string_value(tid), id) == 0)
            return 1;
    }
    return 0;
}

/* One pipelined batch for the window: each candidate's hash, its load and
 * its stock of the order's items. */
static void routing_gather(route_job *job)
{
    for (int i = job->win_from; i < job->win_end; i++)
        job->c[i].tried = routing_was_tried(job, job->c[i].id);
    job->need = (orders_stock_need){job->nitems, (const char *const *)job->codes, job->qty};
    if (orders_pharmacy_facts(job->rt->svc->orders, job->c + job->win_from,
                              (size_t)(job->win_end - job->win_from), &job->need, routing_on_facts,
                              job) != 0)
        routing_retry_later(job, "out of memory");
}

/* ---- candidates of one radius step ---- */

static void routing_on_search(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    route_job *job = ctx;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        routing_shared_failed(job, reply, err);
        return;
    }
    double inner = job->radius > 0 ? job->rt->radii_m[job->radius - 1] : -1.0;
    size_t n = orders_near_count(reply);
    job->c = xcalloc(n ? n : 1, sizeof(route_pharmacy));
    for (size_t i = 0; i < n; i++) {
        const char *id;
        double d;
        /* the previous step already weighed everything within its radius */
        if (!orders_near_entry(reply, i, &id, &d) || d <= inner || strcmp(id, job->nominated) == 0)
            continue;
        route_pharmacy *ph = &job->c[job->nc++];
        snprintf(ph->id, sizeof(ph->id), "%s", id);
        ph->dist_m = d;
    }
    routing_next_window(job);
}

static void routing_search(route_job *job)
{
    routing_reset_candidates(job);
    if (job->radius >= job->rt->nradii || !job->has_point) {
        routing_unroutable(job, "no_eligible_pharmacy");
        return;
    }
    orders_near_cmd c;
    orders_near_prepare(job->rt->svc->orders, ORDERS_GEO_PHARMACIES, job->lat, job->lon,
                        job->rt->radii_m[job->radius], job->rt->candidates_max, &c);
    if (store_cmd_argv(job->rt->svc->store, routing_on_search, job, ORDERS_NEAR_ARGC, c.argv,
                       NULL) != 0)
        routing_retry_later(job, "out of memory");
}

/* The nominated pharmacy is weighed alone first (radius step -1); its
 * distance comes from its registered position. */
static void routing_on_nominated(void *ctx, const orders_read *res)
{
    route_job *job = ctx;
    const redisReply *reply = res->reply;
    const char *err = res->err;
    if (res->failed) {
        if (worker_reply_kind(reply, err) == RERR_RETRY) {
            routing_retry(job, reply, err);
            return;
        }
        /* the nomination cannot be read: it is skipped, not the order */
        log_event(LOG_ERROR, "nominated_unreadable", "{s:s, s:s, s:s}", "order_id", job->oid,
                  "pharmacy_id", job->nominated, "error", worker_reply_error(reply, err));
        routing_offer_next(job);
        return;
    }
    if (!res->found) {
        routing_offer_next(job); /* not registered: on to the radius steps */
        return;
    }
    double d = job->has_point ? geo_distance_m(job->lat, job->lon, res->lat, res->lon) : 0.0;
    if (d > job->rt->radii_m[job->rt->nradii - 1]) {
        routing_offer_next(job);
        return;
    }
    job->c = xcalloc(1, sizeof(route_pharmacy));
    job->nc = 1;
    snprintf(job->c[0].id, sizeof(job->c[0].id), "%s", job->nominated);
    job->c[0].dist_m = d;
    job->win_end = 1;
    routing_gather(job);
}

static void routing_check_nominated(route_job *job)
{
    if (orders_pharmacy_point(job->rt->svc->orders, job->nominated, routing_on_nominated, job) != 0)
        routing_retry_later(job, "out of memory");
}

/* ---- loading the order ---- */

static int routing_parse_items(route_job *job, const char *items_json)
{
    json_t *items = json_loads(items_json, 0, NULL);
    if (!json_is_array(items)) {
        json_decref(items);
        return -1;
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (job->nitems == ROUTING_ITEMS_MAX)
            break;
        const char *code = json_string_value(json_object_get(it, "drug_code"));
        if (!code)
            continue;
        job->codes[job->nitems] = xstrdup(code);
        job->qty[job->nitems] = (uint32_t)json_integer_value(json_object_get(it, "quantity"));
        job->nitems++;
    }
    json_decref(items);
    return 0;
}

static void routing_on_expired(void *ctx, const orders_result *res)
{
    route_job *job = ctx;
    if (res->status == ORDERS_FAILED) {
        routing_retry(job, res->reply, res->err);
        return;
    }
    if (res->status == ORDERS_OK)
        log_event(LOG_INFO, "offer_expired", "{s:s, s:s}", "order_id", job->oid, "attempt",
                  job->attempt);
    routing_load(job); /* ROUTING now, or someone else moved it: look again */
}

/* The first radius step: the nominated pharmacy alone when there is one. */
static void routing_begin(route_job *job)
{
    job->rq.nominated = job->nominated;
    if (job->nominated[0]) {
        job->radius = -1;
        routing_check_nominated(job);
    } else {
        job->radius = 0;
        routing_search(job);
    }
}

static void routing_on_loaded(void *ctx, const orders_result *res)
{
    route_job *job = ctx;
    if (res->status == ORDERS_FAILED) {
        routing_retry(job, res->reply, res->err);
        return;
    }
    if (res->status != ORDERS_OK) {
        routing_finish(job);
        return;
    }
    snprintf(job->attempt, sizeof(job->attempt), "%lld", res->attempt);
    job->offered = strcmp(res->state, "OFFERED") == 0;
    if (job->offered) {
        if (res->accept_by > service_now_ms()) {
            routing_finish(job);
            return;
        }
        if (orders_expire(job->rt->svc->orders, job->oid, res->attempt, routing_on_expired, job) !=
            0)
            routing_retry_later(job, "out of memory");
        return;
    }
    if (strcmp(res->state, "ROUTING") != 0) {
        routing_finish(job);
        return;
    }
    routing_reset_order(job);
    job->lat = res->lat;
    job->lon = res->lon;
    job->has_point = res->has_point;
    routing_parse_items(job, res->items_json);
    snprintf(job->nominated, sizeof(job->nominated), "%s", res->nominated);
    job->rq.insurance_covered = res->insurance;
    job->rq.needs_cold_chain = res->cold;
    job->tried = json_loads(res->tried_json, 0, NULL);
    if (!json_is_array(job->tried)) {
        json_decref(job->tried);
        job->tried = json_array();
    }
    if (res->attempt >= job->rt->max_attempts)
        routing_unroutable(job, "attempts_exhausted");
    else if (res->expires_ms > 0 && res->expires_ms <= service_now_ms())
        routing_unroutable(job, "expired");
    else
        routing_begin(job);
}

static void routing_load(route_job *job)
{
    if (orders_load(job->rt->svc->orders, job->oid, routing_on_loaded, job) != 0)
        routing_retry_later(job, "out of memory");
}

void routing_start(router *rt, const char *oid, kafka_msg *msg)
{
    route_job *job = xcalloc(1, sizeof(*job));
    job->rt = rt;
    job->msg = msg;
    snprintf(job->oid, sizeof(job->oid), "%s", oid);
    job_begin(&rt->jobs, &job->token, routing_on_drop);
    routing_load(job);
}

/* An order the intake has just created: everything the load would read is
 * in the prescription (attempt 0, nothing tried yet), so routing starts
 * without that round trip. */
void routing_start_new(router *rt, const char *oid, kafka_msg *msg, const rx_approved *rx)
{
    route_job *job = xcalloc(1, sizeof(*job));
    job->rt = rt;
    job->msg = msg;
    snprintf(job->oid, sizeof(job->oid), "%s", oid);
    snprintf(job->attempt, sizeof(job->attempt), "0");
    job_begin(&rt->jobs, &job->token, routing_on_drop);
    job->has_point = rx->delivery != NULL;
    if (rx->delivery) {
        job->lat = rx->delivery->lat;
        job->lon = rx->delivery->lon;
    }
    for (size_t i = 0; i < rx->n_items && job->nitems < ROUTING_ITEMS_MAX; i++) {
        job->codes[job->nitems] = xstrdup(rx->items[i]->drug_code);
        job->qty[job->nitems] = rx->items[i]->quantity;
        job->nitems++;
    }
    snprintf(job->nominated, sizeof(job->nominated), "%s", rx->nominated_pharmacy_id);
    job->rq.insurance_covered = rx->insurance_covered;
    job->rq.needs_cold_chain = rx_needs_cold_chain(rx);
    job->tried = json_array();
    routing_begin(job);
}

/* ---- the due work items ---- */

static void routing_on_claimed(void *ctx, const char *oid)
{
    routing_start(ctx, oid, NULL);
}

static void routing_on_claim_failed(void *ctx, const redisReply *reply, const char *err)
{
    router *rt = ctx;
    metric_add(rt->m_redis_errors, 1);
    log_event(LOG_WARN, "routing_claim_failed", "{s:s}", "error", worker_reply_error(reply, err));
}

void routing_init(router *rt)
{
    rt->due_claim = (worker_claim){.svc = rt->svc,
                                   .count = &rt->jobs,
                                   .queue = "due",
                                   .limit = ROUTING_CLAIM_LIMIT,
                                   .lease_ms = rt->lease_ms,
                                   .active_max = ROUTER_JOBS_MAX,
                                   .claimed = routing_on_claimed,
                                   .failed = routing_on_claim_failed,
                                   .ctx = rt};
}

void routing_on_due_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    router *rt = arg;
    worker_claim_tick(&rt->due_claim);
}

/* ---- the hold ---- */

static void routing_on_hold_tick(void *ctx, const orders_result *res)
{
    router *rt = ctx;
    job_end(&rt->hold_token);
    if (res->status != ORDERS_OK) {
        metric_add(rt->m_redis_errors, 1);
        log_event(LOG_WARN, "hold_tick_failed", "{s:s}", "error",
                  worker_reply_error(res->reply, res->err ? res->err : res->word));
        return;
    }
    metric_add(rt->m_unroutable, (double)res->count);
    if (res->count || res->misses)
        log_event(LOG_INFO, "hold_tick", "{s:I, s:I}", "expired", (json_int_t)res->count,
                  "released", (json_int_t)res->misses);
}

/* Ends the held orders whose hold ran out and drains resumed zones; one
 * call at a time. */
void routing_on_hold_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    router *rt = arg;
    if (rt->hold_token.count) /* the last tick's call is still out */
        return;
    job_begin(&rt->jobs, &rt->hold_token, NULL);
    if (orders_hold_tick(rt->svc->orders, rt->hold_max_ms, rt->radii_m[rt->nradii - 1],
                         ROUTING_CLAIM_LIMIT, routing_on_hold_tick, rt) != 0)
        job_end(&rt->hold_token);
}
