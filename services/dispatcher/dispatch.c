/* dispatch.c - one dispatch job per order waiting for a courier: load the
 * order (state machine op dispatch_load), find the couriers around its
 * pharmacy in the geo index, gather their facts (availability, cold box,
 * capacity, load, position), rank them (common/policy.c) and assign the
 * first. The state machine re-checks the courier atomically, so one that
 * filled up or went away meanwhile ("busy") passes the order to the next
 * choice, and a job that lost the order to another instance ("stale") stops.
 * A job that finds nobody leaves the order queued: its claim lease brings it
 * back in a couple of seconds.
 *
 * Redis failures (rerr.h): one that may pass restarts the job from the load
 * after a backoff, a few times, without holding a claim slot while it
 * waits; then the job ends and the claim lease brings the order back. One
 * that no retry fixes parks the order (dispatch_park) when it is about the
 * order, skips the courier when it is about the courier, and drops the job
 * when it is about the shared courier index. */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "log.h"
#include "policy.h"
#include "steps.h"
#include "mem.h"

#define DISPATCH_BACKOFF_MIN_MS 100
#define DISPATCH_BACKOFF_MAX_MS 5000
#define DISPATCH_RETRIES_MAX 3       /* in-job retries (0.1+0.2+0.4 s), below the 2 s lease */
#define DISPATCH_BACKING_OFF_MAX 500 /* jobs waiting to retry; beyond, a failing job ends */
#define DISPATCH_CLAIM_LIMIT 100

struct dispatch_job {
    dispatcher *d;
    kafka_msg *msg;
    char oid[IDS_MAX + 1];
    dispatch_loaded loaded; /* the order, its pharmacy, the couriers tried */
    policy_courier *c;      /* candidates around the pharmacy */
    policy_choice *choice;  /* eligible candidates, best first */
    size_t nc, nchoice, next;
    job_token token; /* in d->jobs; waiting while the retry timer is armed */
    job_backoff backoff;
    int retries;
    struct event *retry;
    dispatch_job *next_running;
};

static void dispatch_load(dispatch_job *job);
static void dispatch_assign_next(dispatch_job *job);

static void dispatch_reset(dispatch_job *job)
{
    dispatch_loaded_clear(&job->loaded);
    free(job->c);
    free(job->choice);
    job->c = NULL;
    job->choice = NULL;
    job->nc = job->nchoice = job->next = 0;
}

static void dispatch_unlink(dispatch_job *job)
{
    for (dispatch_job **p = &job->d->running; *p; p = &(*p)->next_running) {
        if (*p == job) {
            *p = job->next_running;
            return;
        }
    }
}

static void dispatch_finish(dispatch_job *job)
{
    dispatcher *d = job->d;
    if (job->msg)
        service_msg_done(d->svc, d->consumer, job->msg);
    job_end(&job->token);
    dispatch_unlink(job);
    dispatch_reset(job);
    if (job->retry)
        event_free(job->retry);
    free(job);
}

/* At stop, a job waiting to retry: its order waits in <prefix>dispatch. */
static void dispatch_on_drop(job_token *t)
{
    dispatch_finish((dispatch_job *)((char *)t - offsetof(dispatch_job, token)));
}

static void dispatch_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dispatch_job *job = arg;
    job_wake(&job->token);
    dispatch_load(job);
}

/* Redis failed us about this order. A failure no retry fixes parks it. One
 * that may pass starts over from the load after a backoff, a few times;
 * then (or while shutting down, or when too many jobs wait already) the job
 * just ends: the order waits in <prefix>dispatch and its lease brings it
 * back, so nothing is lost by not retrying. */
static void dispatch_retry(dispatch_job *job, const redisReply *reply, const char *err)
{
    dispatcher *d = job->d;
    const char *why = worker_reply_error(reply, err);
    metric_add(d->m_redis_errors, 1);
    if (worker_reply_kind(reply, err) == RERR_FATAL) {
        dispatch_park(d, "dispatch", job->oid, why);
        dispatch_finish(job);
        return;
    }
    if (d->svc->stopping || job->retries >= DISPATCH_RETRIES_MAX ||
        d->jobs.waiting >= DISPATCH_BACKING_OFF_MAX) {
        metric_add(d->m_deferred, 1);
        log_event(LOG_WARN, "dispatch_deferred", "{s:s, s:s, s:i}", "order_id", job->oid, "error",
                  why, "retries", job->retries);
        dispatch_finish(job);
        return;
    }
    job->retries++;
    int backoff_ms =
        job_backoff_next(&job->backoff, DISPATCH_BACKOFF_MIN_MS, DISPATCH_BACKOFF_MAX_MS);
    log_event(LOG_WARN, "dispatch_retry", "{s:s, s:s, s:i}", "order_id", job->oid, "error", why,
              "backoff_ms", backoff_ms);
    if (!job->retry)
        job->retry = evtimer_new(d->svc->base, dispatch_on_retry, job);
    struct timeval tv = {backoff_ms / 1000, (backoff_ms % 1000) * 1000};
    job_wait(&job->token);
    evtimer_add(job->retry, &tv);
}

/* ---- assigning ---- */

static void dispatch_on_assign(void *ctx, const orders_result *res)
{
    dispatch_job *job = ctx;
    const redisReply *reply = res->reply;
    const char *err = res->err;
    const policy_choice *ch = &job->choice[job->next];
    const char *courier = job->c[ch->courier].id;
    if (res->status == ORDERS_FAILED && worker_reply_kind(reply, err) == RERR_FATAL) {
        /* this courier's keys, most likely: on to the next choice */
        metric_add(job->d->m_redis_errors, 1);
        log_event(LOG_ERROR, "assign_failed", "{s:s, s:s, s:s, s:s}", "order_id", job->oid,
                  "courier_id", courier, "error", worker_reply_error(reply, err), "action",
                  "look at the courier's keys (<prefix>co:<id>, ...:orders)");
        job->next++;
        dispatch_assign_next(job);
        return;
    }
    if (res->status == ORDERS_FAILED) {
        dispatch_retry(job, reply, err);
        return;
    }
    if (res->status == ORDERS_ASSIGNED) {
        char accept_by[24];
        snprintf(accept_by, sizeof(accept_by), "%lld", res->deadline_ms);
        metric_add(job->d->m_assigned, 1);
        log_event(LOG_INFO, "courier_assigned", "{s:s, s:s, s:i, s:s}", "order_id", job->oid,
                  "courier_id", courier, "pickup_distance_m", (int)ch->dist_m, "accept_by",
                  accept_by);
        dispatch_finish(job);
    } else if (res->status == ORDERS_BUSY) {
        /* the courier changed since its facts were read: the next choice */
        metric_add(job->d->m_busy, 1);
        log_event(LOG_DEBUG, "courier_refused", "{s:s, s:s, s:s}", "order_id", job->oid,
                  "courier_id", courier, "why", res->detail);
        job->next++;
        dispatch_assign_next(job);
    } else {
        dispatch_finish(job); /* another instance moved the order on */
    }
}

static void dispatch_assign_next(dispatch_job *job)
{
    dispatcher *d = job->d;
    if (job->next >= job->nchoice) {
        metric_add(d->m_no_courier, 1);
        log_event(LOG_DEBUG, "no_courier", "{s:s, s:i, s:i}", "order_id", job->oid, "candidates",
                  (int)job->nc, "eligible", (int)job->nchoice);
        dispatch_finish(job); /* it stays queued; the claim lease brings it back */
        return;
    }
    const policy_choice *ch = &job->choice[job->next];
    if (dispatch_assign_call(d, job->oid, job->c[ch->courier].id, ch->dist_m, dispatch_on_assign,
                             job) != 0)
        dispatch_retry(job, NULL, "out of memory");
}

static void dispatch_rank_and_assign(dispatch_job *job)
{
    dispatcher *d = job->d;
    policy_params p = {.kind = POLICY_GREEDY,
                       .now_ms = service_now_ms(),
                       .stale_ms = d->stale_ms,
                       .radius_m = d->radius_m};
    job->choice = xcalloc(job->nc ? job->nc : 1, sizeof(*job->choice));
    job->nchoice = policy_rank(&p, &job->loaded.order, job->c, job->nc, job->choice);
    job->next = 0;
    dispatch_assign_next(job);
}

/* ---- gathering the candidates' facts ---- */

static void dispatch_on_facts(int failed, void *ctx)
{
    dispatch_job *job = ctx;
    if (failed == RERR_RETRY) {
        dispatch_retry(job, NULL, "reading courier facts failed");
        return;
    }
    if (failed) /* those couriers' facts stay unread, so they are ineligible */
        log_event(LOG_ERROR, "courier_facts_unreadable", "{s:s, s:s}", "order_id", job->oid,
                  "action", "some courier's keys hold the wrong type; they are skipped: fix them");
    dispatch_rank_and_assign(job);
}

/* One pipelined batch: each candidate's hash and its load. */
static void dispatch_gather(dispatch_job *job)
{
    if (orders_courier_facts(job->d->svc->orders, job->c, job->nc, dispatch_on_facts, job) != 0)
        dispatch_retry(job, NULL, "out of memory");
}

/* ---- candidates around the pharmacy ---- */

static void dispatch_on_search(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    dispatch_job *job = ctx;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        if (worker_reply_kind(reply, err) == RERR_RETRY) {
            dispatch_retry(job, reply, err);
            return;
        }
        /* the shared index, not this order: drop the job, keep the order */
        metric_add(job->d->m_redis_errors, 1);
        metric_add(job->d->m_failed, 1);
        log_event(LOG_ERROR, "dispatch_index_broken", "{s:s, s:s, s:s}", "order_id", job->oid,
                  "error", worker_reply_error(reply, err), "action",
                  "the courier geo index (<prefix>idx:co:geo) is not a geo set: delete it (the "
                  "couriers' next positions rebuild it)");
        dispatch_finish(job);
        return;
    }
    size_t n = orders_near_count(reply);
    job->c = xcalloc(n ? n : 1, sizeof(*job->c));
    for (size_t i = 0; i < n; i++) {
        const char *id = dispatch_search_id(reply, i);
        if (id)
            snprintf(job->c[job->nc++].id, IDS_MAX + 1, "%s", id);
    }
    dispatch_gather(job);
}

static void dispatch_search(dispatch_job *job)
{
    orders_near_cmd c;
    dispatch_search_prepare(job->d, &job->loaded.order, &c);
    if (store_cmd_argv(job->d->svc->store, dispatch_on_search, job, ORDERS_NEAR_ARGC, c.argv,
                       NULL) != 0)
        dispatch_retry(job, NULL, "out of memory");
}

/* ---- loading the order ---- */

static void dispatch_on_loaded(void *ctx, const orders_result *res)
{
    dispatch_job *job = ctx;
    dispatch_reset(job);
    const char *status = dispatch_loaded_parse(res, job->oid, &job->loaded);
    if (!status)
        dispatch_retry(job, res->reply, res->err);
    else if (strcmp(status, "ok") != 0)
        dispatch_finish(job);
    else
        dispatch_search(job);
}

static void dispatch_load(dispatch_job *job)
{
    if (orders_dispatch_load(job->d->svc->orders, job->oid, dispatch_on_loaded, job) != 0)
        dispatch_retry(job, NULL, "out of memory");
}

int dispatch_running(const dispatcher *d, const char *oid)
{
    for (const dispatch_job *j = d->running; j; j = j->next_running)
        if (strcmp(j->oid, oid) == 0)
            return 1;
    return 0;
}

void dispatch_start(dispatcher *d, const char *oid, kafka_msg *msg)
{
    /* the event, the claim timer and a lapsed deadline may all ask for the
     * same order at once: one job per order in this process is enough */
    if (dispatch_running(d, oid)) {
        if (msg)
            kafka_consumer_done(d->consumer, msg);
        return;
    }
    dispatch_job *job = xcalloc(1, sizeof(*job));
    job->d = d;
    job->msg = msg;
    snprintf(job->oid, sizeof(job->oid), "%s", oid);
    job->next_running = d->running;
    d->running = job;
    job_begin(&d->jobs, &job->token, dispatch_on_drop);
    dispatch_load(job);
}

/* ---- orders waiting for a courier ---- */

static void dispatch_on_claimed(void *ctx, const char *oid)
{
    dispatch_start(ctx, oid, NULL);
}

static void dispatch_on_claim_failed(void *ctx, const redisReply *reply, const char *err)
{
    (void)reply;
    (void)err;
    dispatcher *d = ctx;
    metric_add(d->m_redis_errors, 1); /* the orders stay queued; the next tick claims them */
}

void dispatch_init(dispatcher *d)
{
    d->dispatch_claim = (worker_claim){.svc = d->svc,
                                       .count = &d->jobs,
                                       .queue = "dispatch",
                                       .limit = DISPATCH_CLAIM_LIMIT,
                                       .lease_ms = d->lease_ms,
                                       .active_max = DISPATCHER_JOBS_MAX,
                                       .claimed = dispatch_on_claimed,
                                       .failed = dispatch_on_claim_failed,
                                       .ctx = d};
}

void dispatch_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dispatcher *d = arg;
    worker_claim_tick(&d->dispatch_claim);
}
