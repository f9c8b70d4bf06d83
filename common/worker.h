/* worker.h - the worker kit, I/O part: what the Kafka workers (rx-router,
 * dispatcher) share around their jobs (job.h). worker_main, the whole life
 * of a worker process as gateway_main is a gateway's; the periodic claim of
 * due work with a lease (the state machine's `claim` op) that starts one
 * job per claimed id; and the text and class of a failed store call. */
#ifndef RXD_WORKER_H
#define RXD_WORKER_H

#include "job.h"
#include "kafka.h"
#include "rerr.h"
#include "service.h"

#define WORKER_TIMERS_MAX 4
#define WORKER_TOPICS_MAX 4

/* A timer of the worker; arg of on_timer is the worker's ctx. */
typedef struct worker_timer {
    event_callback_fn on_timer;
    long long every_ms; /* persistent, armed at start; 0: one-shot the worker arms */
    struct event **ev;  /* where the worker keeps it (for its own event_add) */
} worker_timer;

typedef struct worker worker;
/* Reads the worker's settings into w->ctx and makes its metrics, may fill
 * in w->timers; -1 with a message in err refuses to start. */
typedef int worker_init_fn(worker *w, service *svc, char *err, size_t errlen);

/* A Kafka worker, described by its main.c. */
struct worker {
    const char *name;
    const char *group_setting, *group_default; /* e.g. "ROUTER_GROUP", "rx-router" */
    const char *consumes[WORKER_TOPICS_MAX];   /* service_topic names, NULL-ended */
    const char *produces[WORKER_TOPICS_MAX];   /* the same, checked at start */
    kafka_msg_cb *on_message;                  /* ctx: ctx */
    worker_init_fn *init;
    /* After the loop, before the consumer closes: what waits to retry is
     * dropped (may be NULL: job_count_drop_waiting runs anyway). */
    void (*close)(void *ctx);
    worker_timer timers[WORKER_TIMERS_MAX];
    void *ctx;
    kafka_consumer **consumer; /* where ctx keeps the consumer */
    job_count *jobs;           /* ctx's jobs: the busy hook, the drain, the last check */
};

/* The whole life of a worker process: builds the service (relaying the
 * outbox when it holds the lease), init, the consumer of its topics
 * (watched by the service), the hooks (stop: pause the consumer and the
 * timers; busy: jobs in flight; ready: the consumer has an assignment), the
 * timers; runs until SIGTERM has drained the jobs; then, bounded whatever
 * is still in flight (docs/operations.md, "Shutdown"): drops the jobs
 * waiting to retry, closes the consumer, frees the service (whose teardown
 * ends the jobs still in a call), checks that every job ended, frees the
 * consumer. Returns the exit code. */
int worker_main(worker *w, int argc, char **argv);

typedef void worker_claimed_fn(void *ctx, const char *id);
typedef void worker_claim_failed_fn(void *ctx, const redisReply *reply, const char *err);

/* One claim loop: every tick claims up to limit ids of queue (<prefix><queue>)
 * for lease_ms, unless the service stops or more than active_max jobs of
 * count hold a claim slot; the claim call itself counts as a job. */
typedef struct worker_claim {
    service *svc;
    job_count *count;
    const char *queue;
    int limit; /* at most ORDERS_CLAIM_MAX */
    long long lease_ms;
    int active_max;
    worker_claimed_fn *claimed;     /* per claimed id, while not stopping */
    worker_claim_failed_fn *failed; /* the claim call failed; the ids stay due */
    void *ctx;
} worker_claim;

void worker_claim_tick(worker_claim *wc);

/* The text of a failed store call: the transport error, the error reply,
 * or "unexpected reply". */
const char *worker_reply_error(const redisReply *r, const char *err);
/* Its class (rerr.h): RERR_RETRY or RERR_FATAL. */
rerr_kind worker_reply_kind(const redisReply *r, const char *err);

#endif
