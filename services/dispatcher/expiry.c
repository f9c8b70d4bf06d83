/* expiry.c - assignment deadlines (<prefix>cdue, kept in Redis so that they
 * survive restarts). Every tick claims the lapsed ones; for each, reads the
 * order's courier and lets the state machine give the order back to the
 * queue (courier_expire re-checks that the offer really lapsed unanswered,
 * counts the courier's miss and benches it after too many in a row). The
 * order is then dispatched again at once. A failed call needs no retry of
 * its own: the claim lease brings the deadline back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatcher.h"
#include "ids.h"
#include "log.h"
#include "steps.h"
#include "mem.h"

#define EXPIRY_JOBS_MAX 1000
#define EXPIRY_CLAIM_LIMIT 100

typedef struct expiry_job {
    dispatcher *d;
    job_token token; /* in d->jobs */
    char oid[IDS_MAX + 1];
    char courier[IDS_MAX + 1];
} expiry_job;

static void expiry_finish(expiry_job *job)
{
    job_end(&job->token);
    free(job);
}

static void expiry_on_expired(void *ctx, const orders_result *res)
{
    expiry_job *job = ctx;
    dispatcher *d = job->d;
    if (res->status == ORDERS_FAILED) {
        metric_add(d->m_redis_errors, 1);
        /* one that may pass: the lease brings the deadline back */
        if (worker_reply_kind(res->reply, res->err) == RERR_FATAL)
            dispatch_park(d, "cdue", job->oid, worker_reply_error(res->reply, res->err));
    } else if (res->status == ORDERS_OK) {
        int benched = strcmp(res->detail, "unavailable") == 0;
        char misses[24];
        snprintf(misses, sizeof(misses), "%lld", res->misses);
        metric_add(d->m_expired, 1);
        if (benched)
            metric_add(d->m_unavailable, 1);
        log_event(LOG_INFO, "courier_deadline_missed", "{s:s, s:s, s:s, s:b}", "order_id", job->oid,
                  "courier_id", job->courier, "misses", misses, "benched", benched);
        if (!d->svc->stopping)
            d->policy->wanted(d, job->oid, NULL);
    }
    expiry_finish(job);
}

static void expiry_on_courier(void *ctx, const orders_read *res)
{
    expiry_job *job = ctx;
    dispatcher *d = job->d;
    if (res->failed) {
        metric_add(d->m_redis_errors, 1);
        if (worker_reply_kind(res->reply, res->err) == RERR_FATAL)
            dispatch_park(d, "cdue", job->oid, worker_reply_error(res->reply, res->err));
        expiry_finish(job);
        return;
    }
    /* no courier (the order moved on): courier_expire still runs, to drop
     * the stray deadline */
    snprintf(job->courier, sizeof(job->courier), "%s", res->value);
    if (orders_courier_expire(d->svc->orders, job->oid, job->courier, d->max_misses,
                              expiry_on_expired, job) != 0)
        expiry_finish(job); /* out of memory: the lease brings it back */
}

static void expiry_start(dispatcher *d, const char *oid)
{
    expiry_job *job = xcalloc(1, sizeof(*job));
    job->d = d;
    snprintf(job->oid, sizeof(job->oid), "%s", oid);
    job_begin(&d->jobs, &job->token, NULL);
    if (orders_order_courier(d->svc->orders, oid, expiry_on_courier, job) != 0)
        expiry_finish(job); /* out of memory: the lease brings it back */
}

static void expiry_on_claimed(void *ctx, const char *oid)
{
    expiry_start(ctx, oid);
}

static void expiry_on_claim_failed(void *ctx, const redisReply *reply, const char *err)
{
    (void)reply;
    (void)err;
    dispatcher *d = ctx;
    metric_add(d->m_redis_errors, 1); /* the deadlines stay due */
}

void expiry_init(dispatcher *d)
{
    d->cdue_claim = (worker_claim){.svc = d->svc,
                                   .count = &d->jobs,
                                   .queue = "cdue",
                                   .limit = EXPIRY_CLAIM_LIMIT,
                                   .lease_ms = d->cdue_lease_ms,
                                   .active_max = EXPIRY_JOBS_MAX,
                                   .claimed = expiry_on_claimed,
                                   .failed = expiry_on_claim_failed,
                                   .ctx = d};
}

void expiry_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dispatcher *d = arg;
    worker_claim_tick(&d->cdue_claim);
}
