/* dispatcher.h - the dispatcher's context, shared by its intake (Kafka),
 * its dispatch jobs (dispatch.h: one order, greedy), its batch rounds
 * (round.h: many orders, the batch policy), its assignment-deadline jobs
 * (expiry.c) and the other states' deadlines (deadlines.c); and the policy, picked once at start.
 * The Redis steps the jobs and the rounds share are in steps.h. */
#ifndef RXD_DISPATCHER_H
#define RXD_DISPATCHER_H

#include <jansson.h>

#include "batch.h"
#include "kafka.h"
#include "policy.h"
#include "rerr.h"
#include "service.h"
#include "worker.h"

typedef struct dispatch_job dispatch_job;
typedef struct dispatch_round dispatch_round;
typedef struct dispatcher dispatcher;

/* One kind of deadline (deadlines.c): how long an order may stay, and
 * whether its overdue query is in flight. */
#define DEADLINES_MAX 6
typedef struct deadline_watch {
    const char *kind; /* the state machine's word: pack, pack_remind, ... */
    long long after_ms;
    int querying;
    metric *m_steps; /* dispatcher_deadlines_total{kind} */
} deadline_watch;

/* What RXD_DISPATCH_POLICY picks, once at start. */
typedef struct dispatch_policy {
    const char *name;
    policy_kind kind;
    /* The claim timer's callback (arg: the dispatcher). */
    void (*on_timer)(evutil_socket_t fd, short what, void *arg);
    /* An order needs a courier; msg, when not NULL, is finished by it. */
    void (*wanted)(dispatcher *d, const char *oid, kafka_msg *msg);
} dispatch_policy;

struct dispatcher {
    service *svc;
    kafka_consumer *consumer;
    struct event *dispatch_timer; /* claims orders waiting for a courier */
    struct event *round_soon;     /* batch: a round shortly after an order became ready */
    struct event *cdue_timer;     /* claims lapsed assignment deadlines */
    struct event *deadline_timer; /* the deadlines of the other states */
    deadline_watch deadlines[DEADLINES_MAX];
    job_count jobs;                /* dispatch jobs, rounds, deadline jobs and claims in flight */
    worker_claim dispatch_claim;   /* greedy: orders waiting for a courier */
    worker_claim cdue_claim;       /* lapsed assignment deadlines */
    dispatch_job *running;         /* dispatch jobs in flight, one per order at most */
    dispatch_round *round;         /* the batch round in flight, if any */
    int round_again;               /* batch: a round was asked for while one ran */
    const dispatch_policy *policy; /* RXD_DISPATCH_POLICY: batch (default) or greedy */
    long long window_ms;           /* batch: the longest an order waits for a round */
    long long gather_ms;           /* batch: a round this long after a ready event */
    double speed_m_per_min;        /* batch: courier speed for the predictions */
    long long max_bundle;          /* batch: orders of one pharmacy per courier and round */
    double radius_m;               /* courier search radius around the pharmacy */
    long long deadline_ms;         /* how long a courier has to accept */
    long long stale_ms;            /* positions older than this are not used */
    long long max_misses;          /* lapsed offers in a row that make a courier unavailable */
    long long lease_ms;            /* how long a claimed order is ours before a retry */
    long long cdue_lease_ms;       /* the same for a claimed deadline */
    long long candidates_max;      /* GEOSEARCH COUNT */
    metric *m_consumed, *m_assigned, *m_busy, *m_no_courier, *m_expired, *m_unavailable;
    metric *m_redis_errors, *m_rounds, *m_round_orders, *m_bundled;
    metric *m_failed, *m_parked, *m_deferred;
    long long courier_stale_ms; /* RXD_COURIER_STALE_S: out of the geo index after */
    job_token stale_token;      /* the stale sweep's call in flight (stale.c) */
    metric *m_stale;
};

/* Claims stop while this many jobs (not counting those backing off) run. */
#define DISPATCHER_JOBS_MAX 1000

/* intake.c: order.events messages; READY orders to deliver are wanted. */
void intake_on_message(kafka_msg *msg, void *ctx);

/* expiry.c: the periodic claim of lapsed assignment deadlines (<prefix>cdue). */
void expiry_init(dispatcher *d);
void expiry_on_timer(evutil_socket_t fd, short what, void *arg);

/* deadlines.c: packing, pickup in store, courier pickup, delivery and
 * return deadlines (RXD_DEADLINE_*_S), one tick a second. */
int deadlines_init(dispatcher *d, char *err, size_t errlen);
void deadlines_on_timer(evutil_socket_t fd, short what, void *arg);

/* stale.c: couriers without a position for RXD_COURIER_STALE_S leave the
 * geo index; swept with the deadlines' tick. */
int stale_init(dispatcher *d, char *err, size_t errlen);
void stale_sweep(dispatcher *d);

#endif
