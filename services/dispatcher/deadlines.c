/* deadlines.c - the deadlines of the states without a queue of their own
 * (docs/architecture.md, "Deadlines"): packing (a reminder at half, then
 * the order re-routes), pickup in store (returned to stock), a courier's
 * pickup after its accept (the courier loses the order), delivery and
 * return (an exception for the desk). Once a second, per kind, asks the
 * state machine for the overdue orders (the live-state indexes) and takes
 * each one's step; the step re-checks state and time atomically, so
 * dispatchers racing take it once, and a failed call needs no retry: the
 * order is still overdue at the next tick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatcher.h"
#include "ids.h"
#include "log.h"
#include "mem.h"

#define DEADLINE_QUERY_LIMIT 100

/* Per kind: its setting and default in seconds (city pharmacy network;
 * -1: half of the packing time). pack precedes pack_remind. */
static const struct {
    const char *kind, *setting;
    long long default_s;
} deadline_table[DEADLINES_MAX] = {
    {"pack", "DEADLINE_PACK_S", 20 * 60},         {"pack_remind", "DEADLINE_PACK_REMIND_S", -1},
    {"collect", "DEADLINE_COLLECT_S", 48 * 3600}, {"pickup", "DEADLINE_PICKUP_S", 30 * 60},
    {"deliver", "DEADLINE_DELIVER_S", 2 * 3600},  {"return", "DEADLINE_RETURN_S", 2 * 3600},
};

/* One call in flight: a kind's overdue query (oid "") or one order's step. */
typedef struct deadline_job {
    dispatcher *d;
    deadline_watch *w;
    job_token token; /* in d->jobs */
    char oid[IDS_MAX + 1];
} deadline_job;

static void deadline_finish(deadline_job *job)
{
    if (!job->oid[0])
        job->w->querying = 0;
    job_end(&job->token);
    free(job);
}

static deadline_job *deadline_job_new(dispatcher *d, deadline_watch *w, const char *oid)
{
    deadline_job *job = xcalloc(1, sizeof(*job));
    job->d = d;
    job->w = w;
    snprintf(job->oid, sizeof(job->oid), "%s", oid);
    job_begin(&d->jobs, &job->token, NULL);
    return job;
}

static void deadline_on_step(void *ctx, const orders_result *res)
{
    deadline_job *job = ctx;
    dispatcher *d = job->d;
    if (res->status == ORDERS_FAILED) {
        metric_add(d->m_redis_errors, 1);
        log_event(LOG_WARN, "deadline_failed", "{s:s, s:s, s:s}", "order_id", job->oid, "kind",
                  job->w->kind, "error", worker_reply_error(res->reply, res->err));
    } else if (res->status == ORDERS_OK) {
        metric_add(job->w->m_steps, 1);
        log_event(LOG_INFO, "deadline_passed", "{s:s, s:s, s:s, s:s}", "order_id", job->oid, "kind",
                  job->w->kind, "state", res->state, "step", res->detail);
        /* the order waits for another courier: dispatch it now */
        if (strcmp(res->state, "READY") == 0 && !d->svc->stopping)
            d->policy->wanted(d, job->oid, NULL);
    }
    deadline_finish(job);
}

static void deadline_on_overdue(void *ctx, const orders_result *res)
{
    deadline_job *query = ctx;
    dispatcher *d = query->d;
    deadline_watch *w = query->w;
    if (res->status == ORDERS_FAILED)
        metric_add(d->m_redis_errors, 1);
    for (size_t i = 0; i < res->n_ids && !d->svc->stopping; i++) {
        deadline_job *job = deadline_job_new(d, w, res->ids[i]);
        if (orders_deadline(d->svc->orders, job->oid, w->kind, w->after_ms, d->max_misses,
                            deadline_on_step, job) != 0)
            deadline_finish(job); /* still overdue at the next tick */
    }
    deadline_finish(query);
}

int deadlines_init(dispatcher *d, char *err, size_t errlen)
{
    metrics *m = d->svc->metrics;
    for (size_t i = 0; i < DEADLINES_MAX; i++) {
        deadline_watch *w = &d->deadlines[i];
        long long def = deadline_table[i].default_s;
        w->kind = deadline_table[i].kind;
        w->after_ms = 1000 * service_int(d->svc, deadline_table[i].setting, def);
        if (def < 0 && w->after_ms < 0)
            w->after_ms = d->deadlines[0].after_ms / 2;
        if (w->after_ms < 1000 || (def < 0 && w->after_ms >= d->deadlines[0].after_ms)) {
            snprintf(err, errlen,
                     "check RXD_%s: seconds, >= 1 (the packing reminder: below "
                     "RXD_DEADLINE_PACK_S)",
                     deadline_table[i].setting);
            return -1;
        }
        char labels[64];
        snprintf(labels, sizeof(labels), "kind=\"%s\"", w->kind);
        w->m_steps = metrics_counter(m, "dispatcher_deadlines_total", labels,
                                     "deadline steps taken, by kind");
        w->querying = 0;
    }
    return 0;
}

void deadlines_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dispatcher *d = arg;
    stale_sweep(d);
    for (size_t i = 0; i < DEADLINES_MAX; i++) {
        deadline_watch *w = &d->deadlines[i];
        if (d->svc->stopping || w->querying || job_count_active(&d->jobs) >= DISPATCHER_JOBS_MAX)
            continue;
        deadline_job *query = deadline_job_new(d, w, "");
        w->querying = 1;
        if (orders_overdue(d->svc->orders, w->kind, w->after_ms, DEADLINE_QUERY_LIMIT,
                           deadline_on_overdue, query) != 0)
            deadline_finish(query);
    }
}
