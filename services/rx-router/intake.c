/* intake.c - rx-router's Kafka intake: validates each rx.approved message,
 * creates its order (once per prescription_id) and hands it to routing;
 * applies rx.cancelled; sends what cannot be decoded or breaks a rule to the
 * dead-letter topic. A message is finished (its offset stored) only after
 * its effects are in Redis and their events acknowledged by Kafka, or after
 * its dead letter is acknowledged; Redis errors are retried with backoff, so
 * a message is never skipped. A dead letter that is refused as it is goes
 * out truncated (common/deadletter.h), so no message holds its partition.
 * After the loop has ended (shutdown), a job is dropped at its next step:
 * its message is not finished and is consumed again after the restart. */
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadletter.h"
#include "log.h"
#include "rerr.h"
#include "router.h"
#include "mem.h"

#define INTAKE_BACKOFF_MIN_MS 100
#define INTAKE_BACKOFF_MAX_MS 5000

typedef enum { INTAKE_APPROVED, INTAKE_CANCELLED } intake_kind;

typedef struct intake_job {
    router *rt;
    struct intake_job *prev, *next; /* rt->intake: every job, for intake_close */
    kafka_msg *msg;
    intake_kind kind;
    rx_approved *rx;
    rx_cancelled *rc;
    char why[256]; /* dead-letter reason, when set */
    deadletter *dl;
    job_token token; /* in rt->jobs */
    job_backoff backoff;
    struct event *retry;
} intake_job;

static void intake_step(intake_job *job);

static void intake_job_free(intake_job *job)
{
    router *rt = job->rt;
    if (job->prev)
        job->prev->next = job->next;
    else
        rt->intake = job->next;
    if (job->next)
        job->next->prev = job->prev;
    deadletter_free(job->dl);
    rx_approved_free(job->rx);
    rx_cancelled_free(job->rc);
    if (job->retry)
        event_free(job->retry);
    job_end(&job->token);
    free(job);
}

static void intake_job_finish(intake_job *job)
{
    router *rt = job->rt;
    if (job->msg && job->why[0])
        service_msg_finish(rt->svc, rt->consumer, job->msg); /* its dead letter is acknowledged */
    else if (job->msg)
        service_msg_done(rt->svc, rt->consumer, job->msg);
    intake_job_free(job);
}

/* Shutdown: the message stays unfinished, to be consumed again. */
static void intake_job_drop(intake_job *job)
{
    if (job->msg)
        kafka_consumer_drop(job->rt->consumer, job->msg);
    intake_job_free(job);
}

void intake_close(void *ctx)
{
    router *rt = ctx;
    intake_job *job = rt->intake, *next;
    /* jobs in a Redis call or a produce are dropped by its callback, which
     * the store's and the producer's teardown still call */
    for (; job; job = next) {
        next = job->next;
        if (job->retry && evtimer_pending(job->retry, NULL))
            intake_job_drop(job);
    }
}

static void intake_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    intake_step(arg);
}

/* Redis or Kafka said no for now: the same step runs again later. */
static void intake_job_retry(intake_job *job, const char *err)
{
    if (job->rt->svc->closed) {
        intake_job_drop(job);
        return;
    }
    metric_add(job->rt->m_redis_errors, 1);
    int backoff_ms = job_backoff_next(&job->backoff, INTAKE_BACKOFF_MIN_MS, INTAKE_BACKOFF_MAX_MS);
    log_event(LOG_WARN, "intake_retry", "{s:s, s:I, s:s, s:i}", "topic", job->msg->topic, "offset",
              (json_int_t)job->msg->offset, "error", err, "backoff_ms", backoff_ms);
    if (!job->retry)
        job->retry = evtimer_new(job->rt->svc->base, intake_on_retry, job);
    struct timeval tv = {backoff_ms / 1000, (backoff_ms % 1000) * 1000};
    evtimer_add(job->retry, &tv);
}

static void intake_send_deadletter(intake_job *job);

/* The state machine failed on this message. A failure that may pass is
 * retried; one that no retry fixes (a script error, a key of the wrong
 * type) would fail the same way for ever and hold the partition, so the
 * message goes to the dead letter with the error as its reason. */
static void intake_store_failed(intake_job *job, const redisReply *reply, const char *err)
{
    const char *rerr = reply && reply->type == REDIS_REPLY_ERROR ? reply->str : NULL;
    if (rerr_classify(err ? err : reply ? NULL : "no reply", rerr) == RERR_RETRY) {
        intake_job_retry(job, err ? err : rerr ? rerr : "bad reply");
        return;
    }
    metric_add(job->rt->m_redis_errors, 1);
    snprintf(job->why, sizeof(job->why), "the order store refused it: %.200s",
             rerr ? rerr : "unexpected reply");
    log_event(LOG_ERROR, "message_refused_by_store", "{s:s, s:I, s:s, s:s}", "topic",
              job->msg->topic, "offset", (json_int_t)job->msg->offset, "error", job->why, "action",
              "dead-lettered; look at the order store's keys for this prescription id");
    intake_send_deadletter(job);
}

/* Sent or given up (no form of the letter is taken, which is logged):
 * either way the message is finished and its partition moves on. */
static void intake_on_deadletter(deadletter_result r, void *ctx)
{
    intake_job *job = ctx;
    if (r == DEADLETTER_RETRY) {
        intake_job_retry(job, deadletter_error(job->dl));
        return;
    }
    if (r == DEADLETTER_SENT)
        metric_add(job->rt->m_deadletter, 1);
    intake_job_finish(job);
}

static void intake_send_deadletter(intake_job *job)
{
    if (job->rt->svc->closed) { /* the producer may be gone already */
        intake_job_drop(job);
        return;
    }
    if (!job->dl)
        job->dl = deadletter_new(job->msg, job->why);
    if (!job->dl) {
        intake_job_retry(job, "out of memory for the dead letter");
        return;
    }
    deadletter_result r =
        deadletter_send(job->dl, job->rt->svc->producer, service_topic(job->rt->svc, "DEADLETTER"),
                        intake_on_deadletter, job);
    if (r != DEADLETTER_QUEUED)
        intake_on_deadletter(r, job);
}

static void intake_handover_code(char out[7])
{
    unsigned char b[4];
    if (RAND_bytes(b, sizeof(b)) != 1)
        abort(); /* no entropy: a guessable code must never be issued */
    unsigned v = ((unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3]);
    snprintf(out, 7, "%06u", v % 1000000u);
}

/* The pharmacy's view of the items: codes, names, quantities, cold chain. */
static char *intake_items_json(const rx_approved *rx)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rx->n_items; i++) {
        const Rxdispatch__V1__Item *it = rx->items[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:b}", "drug_code", it->drug_code,
                                           "name", it->name, "quantity", (int)it->quantity,
                                           "cold_chain", it->cold_chain));
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static void intake_on_created(void *ctx, const orders_result *res)
{
    intake_job *job = ctx;
    if (res->status == ORDERS_FAILED) {
        intake_store_failed(job, res->reply, res->err);
        return;
    }
    int created = res->status == ORDERS_CREATED;
    const char *oid = res->order_id, *state = res->state;
    log_event(created ? LOG_DEBUG : LOG_INFO, created ? "order_created" : "order_exists",
              "{s:s, s:s, s:s}", "order_id", oid, "prescription_id", job->rx->prescription_id,
              "state", state);
    if (strcmp(state, "UNROUTABLE") == 0 && created)
        metric_add(job->rt->m_unroutable, 1);
    if (created && strcmp(res->detail, "held") == 0)
        metric_add(job->rt->m_held, 1); /* its zone is paused: no routing now */
    else if (strcmp(state, "ROUTING") == 0) {
        /* routing finishes the message once the order has left ROUTING */
        if (created)
            routing_start_new(job->rt, oid, job->msg, job->rx);
        else
            routing_start(job->rt, oid, job->msg);
        job->msg = NULL;
    }
    intake_job_finish(job);
}

static void intake_create_order(intake_job *job)
{
    const rx_approved *rx = job->rx;
    char code[7];
    intake_handover_code(code);
    char *items = intake_items_json(rx);
    orders_new_order n = {.prescription_id = rx->prescription_id,
                          .patient_ref = rx->patient_ref,
                          .has_point = rx->delivery != NULL,
                          .lat = rx->delivery ? rx->delivery->lat : 0,
                          .lon = rx->delivery ? rx->delivery->lon : 0,
                          .address = rx->delivery_address,
                          .items_json = items,
                          .nominated = rx->nominated_pharmacy_id,
                          .fulfilment = (int)rx->fulfilment,
                          .priority = (int)rx->priority,
                          .approved_ms = (long long)rx->approved_at_ms,
                          .hospital = rx->hospital_id,
                          .insurance = rx->insurance_covered,
                          .expires_ms = (long long)rx->expires_at_ms,
                          .cold = rx_needs_cold_chain(rx),
                          .code = code,
                          .unroutable_reason = rx_unroutable_reason(rx, service_now_ms()),
                          .lease_ms = job->rt->lease_ms};
    if (!items || orders_create(job->rt->svc->orders, &n, intake_on_created, job) != 0)
        intake_store_failed(job, NULL, "cannot queue the call (out of memory)");
    free(items);
}

static void intake_on_cancelled(void *ctx, const orders_result *res)
{
    intake_job *job = ctx;
    if (res->status == ORDERS_FAILED) {
        intake_store_failed(job, res->reply, res->err);
        return;
    }
    if (res->status == ORDERS_OK) {
        metric_add(job->rt->m_cancelled, 1);
        log_event(LOG_INFO, "order_cancelled", "{s:s, s:s}", "prescription_id",
                  job->rc->prescription_id, "result", res->state);
    } else {
        log_event(LOG_WARN, "cancel_refused", "{s:s, s:s, s:s}", "prescription_id",
                  job->rc->prescription_id, "error", res->error_word, "state", res->state);
    }
    intake_job_finish(job);
}

static void intake_cancel_order(intake_job *job)
{
    const char *reason = *job->rc->reason ? job->rc->reason : "cancelled upstream";
    if (orders_cancel(job->rt->svc->orders, "rx", job->rc->prescription_id, reason,
                      intake_on_cancelled, job) != 0)
        intake_store_failed(job, NULL, "cannot queue the call (out of memory)");
}

static void intake_step(intake_job *job)
{
    if (job->why[0])
        intake_send_deadletter(job);
    else if (job->kind == INTAKE_APPROVED)
        intake_create_order(job);
    else
        intake_cancel_order(job);
}

void intake_on_message(kafka_msg *msg, void *ctx)
{
    router *rt = ctx;
    metric_add(rt->m_consumed, 1);
    intake_job *job = xcalloc(1, sizeof(*job));
    job->rt = rt;
    job->msg = msg;
    job->next = rt->intake;
    if (rt->intake)
        rt->intake->prev = job;
    rt->intake = job;
    job_begin(&rt->jobs, &job->token, NULL);
    int cancelled = strcmp(msg->topic, service_topic(rt->svc, "CANCELLED")) == 0;
    job->kind = cancelled ? INTAKE_CANCELLED : INTAKE_APPROVED;
    if (cancelled)
        job->rc = rx_cancelled_decode(msg->value, msg->value_len, job->why, sizeof(job->why));
    else
        job->rx = rx_approved_decode(msg->value, msg->value_len, job->why, sizeof(job->why));
    if (job->why[0])
        log_event(LOG_WARN, "message_rejected", "{s:s, s:i, s:I, s:s}", "topic", msg->topic,
                  "partition", (int)msg->partition, "offset", (json_int_t)msg->offset, "error",
                  job->why);
    intake_step(job);
}
