/* router.h - rx-router's context, shared by its intake (Kafka) and its
 * routing jobs. */
#ifndef RXD_ROUTER_H
#define RXD_ROUTER_H

#include "kafka.h"
#include "rx.h"
#include "service.h"
#include "worker.h"

#define ROUTER_RADII_MAX 8

struct intake_job;

typedef struct router {
    service *svc;
    struct intake_job *intake; /* intake jobs in flight (intake.c) */
    kafka_consumer *consumer;
    struct event *due_timer, *hold_timer;
    job_token hold_token;   /* the hold tick's call in flight (routing.c) */
    long long hold_max_ms;  /* RXD_HOLD_MAX_S: the hold of a prescription without expiry */
    job_count jobs;         /* routing jobs, intake work and claims in flight */
    worker_claim due_claim; /* the due work items (routing.c) */
    double radii_m[ROUTER_RADII_MAX];
    int nradii;
    long long offer_deadline_ms;
    long long max_attempts;
    long long lease_ms;       /* how long a claimed work item is ours */
    long long candidates_max; /* GEOSEARCH COUNT per radius step */
    metric *m_consumed, *m_deadletter, *m_offered, *m_unroutable, *m_cancelled;
    metric *m_redis_errors, *m_failed, *m_parked, *m_deferred, *m_held;
} router;

/* Claims stop while this many jobs (not counting those backing off) run. */
#define ROUTER_JOBS_MAX 1000

/* intake.c: rx.approved and rx.cancelled messages. */
void intake_on_message(kafka_msg *msg, void *ctx);
/* After the loop has ended: drops the jobs waiting to retry (their
 * messages are consumed again after the restart). ctx: the router. */
void intake_close(void *ctx);

/* routing.c: route order oid (a new one, a rejected one, or one whose offer
 * lapsed). msg, when not NULL, is finished once the order has left ROUTING. */
void routing_start(router *rt, const char *oid, kafka_msg *msg);
/* The same for an order just created from rx (no load from Redis first). */
void routing_start_new(router *rt, const char *oid, kafka_msg *msg, const rx_approved *rx);
/* The periodic claim of due work items (<prefix>due). */
void routing_init(router *rt);
void routing_on_due_timer(evutil_socket_t fd, short what, void *arg);
/* The hold's tick: held orders past their hold end UNROUTABLE expired. */
void routing_on_hold_timer(evutil_socket_t fd, short what, void *arg);

#endif
