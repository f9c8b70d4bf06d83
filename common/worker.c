/* worker.c - the worker kit's I/O part (worker.h): worker_main, the
 * periodic claim with lease, and the reading of a failed store call. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>

#include "orders.h"
#include "mem.h"

/* One claim call in flight. */
typedef struct worker_claim_call {
    worker_claim *wc;
    job_token token;
} worker_claim_call;

static void worker_on_claimed(void *ctx, const orders_result *res)
{
    worker_claim_call *call = ctx;
    worker_claim *wc = call->wc;
    job_end(&call->token);
    free(call);
    if (res->status == ORDERS_FAILED) {
        wc->failed(wc->ctx, res->reply, res->err);
        return;
    }
    for (size_t i = 0; i < res->n_ids && !wc->svc->stopping; i++)
        wc->claimed(wc->ctx, res->ids[i]);
}

void worker_claim_tick(worker_claim *wc)
{
    /* jobs backing off hold no slot: failing jobs cannot stop the claims */
    if (job_count_active(wc->count) > wc->active_max || wc->svc->stopping)
        return; /* busy: the ids stay due */
    worker_claim_call *call = xcalloc(1, sizeof(*call));
    call->wc = wc;
    job_begin(wc->count, &call->token, NULL);
    if (orders_claim(wc->svc->orders, wc->queue, wc->limit, wc->lease_ms, worker_on_claimed,
                     call) != 0) {
        job_end(&call->token);
        free(call);
    }
}

const char *worker_reply_error(const redisReply *r, const char *err)
{
    if (err)
        return err;
    if (r && r->type == REDIS_REPLY_ERROR)
        return r->str;
    return "unexpected reply";
}

rerr_kind worker_reply_kind(const redisReply *r, const char *err)
{
    return rerr_classify(err ? err
                         : r ? NULL
                             : "no reply",
                         r && r->type == REDIS_REPLY_ERROR ? r->str : NULL);
}

/* ---- the life of a worker process ---- */

static void worker_on_stop(service *svc, void *ctx)
{
    (void)svc;
    worker *w = ctx;
    kafka_consumer_pause(*w->consumer);
    for (int i = 0; i < WORKER_TIMERS_MAX && w->timers[i].on_timer; i++)
        if (w->timers[i].ev)
            event_del(*w->timers[i].ev);
}

static int worker_busy(service *svc, void *ctx)
{
    (void)svc;
    worker *w = ctx;
    return job_count_busy(w->jobs);
}

static int worker_ready(service *svc, void *ctx, const char **why)
{
    (void)svc;
    worker *w = ctx;
    if (!kafka_consumer_ready(*w->consumer)) {
        *why = "kafka consumer has no assignment yet";
        return 0;
    }
    return 1;
}

static int worker_open_consumer(worker *w, service *svc, char *err, size_t errlen)
{
    const char *consumes[WORKER_TOPICS_MAX + 1] = {0}, *produces[WORKER_TOPICS_MAX + 1] = {0};
    for (int i = 0; i < WORKER_TOPICS_MAX && w->consumes[i]; i++)
        consumes[i] = service_topic(svc, w->consumes[i]);
    for (int i = 0; i < WORKER_TOPICS_MAX && w->produces[i]; i++)
        produces[i] = service_topic(svc, w->produces[i]);
    service_require_topics(svc, consumes);
    if (produces[0])
        service_require_topics(svc, produces);
    *w->consumer = kafka_consumer_new(svc->base, svc->cfg,
                                      config_str(svc->cfg, w->group_setting, w->group_default),
                                      consumes, w->on_message, w->ctx, err, errlen);
    if (!*w->consumer)
        return -1;
    service_watch_consumer(svc, *w->consumer);
    return 0;
}

static void worker_start_timers(worker *w, service *svc)
{
    for (int i = 0; i < WORKER_TIMERS_MAX && w->timers[i].on_timer; i++) {
        worker_timer *t = &w->timers[i];
        struct event *ev =
            event_new(svc->base, -1, t->every_ms ? EV_PERSIST : 0, t->on_timer, w->ctx);
        if (t->every_ms) {
            struct timeval tv = {t->every_ms / 1000, (t->every_ms % 1000) * 1000};
            event_add(ev, &tv);
        }
        *t->ev = ev;
    }
}

int worker_main(worker *w, int argc, char **argv)
{
    char err[512];
    service *svc = service_new(w->name, argc, argv, SERVICE_RELAY, err, sizeof(err));
    if (!svc) {
        fprintf(stderr, "%s: %s\n", w->name, err);
        return 2;
    }
    if (w->init(w, svc, err, sizeof(err)) || worker_open_consumer(w, svc, err, sizeof(err))) {
        fprintf(stderr, "%s: %s\n", w->name, err);
        service_free(svc);
        return 2;
    }
    service_set_hooks(svc, worker_on_stop, worker_busy, worker_ready, w);
    worker_start_timers(w, svc);
    int rc = service_run(svc);
    /* jobs ending from here on drop their messages */
    if (w->close)
        w->close(w->ctx);
    job_count_drop_waiting(w->jobs);
    kafka_consumer_close(*w->consumer);
    for (int i = 0; i < WORKER_TIMERS_MAX && w->timers[i].on_timer; i++)
        event_free(*w->timers[i].ev);
    service_free(svc);
    job_count_check(w->jobs, w->name);
    kafka_consumer_free(*w->consumer);
    return rc;
}
