/* dispatcher.h - the dispatcher's context, shared by its intake (Kafka),
 * its dispatch jobs (one order, greedy), its batch rounds (many orders, the
 * batch policy) and its assignment-deadline jobs; and the Redis steps the
 * jobs and the rounds share. */
#ifndef RXD_DISPATCHER_H
#define RXD_DISPATCHER_H

#include <jansson.h>

#include "batch.h"
#include "kafka.h"
#include "policy.h"
#include "rerr.h"
#include "service.h"

typedef struct dispatch_job dispatch_job;
typedef struct dispatch_round dispatch_round;

typedef struct dispatcher {
    service *svc;
    kafka_consumer *consumer;
    struct event *dispatch_timer; /* claims orders waiting for a courier */
    struct event *round_soon;     /* batch: a round shortly after an order became ready */
    struct event *cdue_timer;     /* claims lapsed assignment deadlines */
    int jobs;                     /* dispatch jobs, deadline jobs and claims in flight */
    int backing_off;              /* of jobs, those waiting to retry: they hold no claim slot */
    dispatch_job *running;        /* dispatch jobs in flight, one per order at most */
    dispatch_round *round;        /* the batch round in flight, if any */
    int round_again;              /* batch: a round was asked for while one ran */
    policy_kind policy;           /* RXD_DISPATCH_POLICY: batch (default) or greedy */
    long long window_ms;          /* batch: the longest an order waits for a round */
    long long gather_ms;          /* batch: a round this long after a ready event */
    double speed_m_per_min;       /* batch: courier speed for the predictions */
    long long max_bundle;         /* batch: orders of one pharmacy per courier and round */
    double radius_m;              /* courier search radius around the pharmacy */
    long long deadline_ms;        /* how long a courier has to accept */
    long long stale_ms;           /* positions older than this are not used */
    long long max_misses;         /* lapsed offers in a row that make a courier unavailable */
    long long lease_ms;           /* how long a claimed order is ours before a retry */
    long long cdue_lease_ms;      /* the same for a claimed deadline */
    long long candidates_max;     /* GEOSEARCH COUNT */
    metric *m_consumed, *m_assigned, *m_busy, *m_no_courier, *m_expired, *m_unavailable;
    metric *m_redis_errors, *m_rounds, *m_round_orders, *m_bundled;
    metric *m_failed, *m_parked, *m_deferred;
} dispatcher;

/* Claims stop while this many jobs (not counting those backing off) run. */
#define DISPATCHER_JOBS_MAX 1000

/* What dispatch_load says about one order. */
typedef struct dispatch_loaded {
    policy_order order;
    char pharmacy[IDS_MAX + 1]; /* order.pharmacy points here */
    json_t *tried;              /* couriers that declined or missed the order */
    const char **tried_ids;     /* strings inside tried */
} dispatch_loaded;

#define DISPATCH_SEARCH_ARGC 12
/* A GEOSEARCH of couriers around a pickup point, nearest first. */
typedef struct dispatch_search_args {
    char key[ORDERS_KEY_MAX], lat[32], lon[32], r[32], count[24];
    const char *argv[DISPATCH_SEARCH_ARGC];
} dispatch_search_args;

/* intake.c: order.events messages; READY orders to deliver start a job. */
void intake_on_message(kafka_msg *msg, void *ctx);

/* dispatch.c: find a courier for order oid. msg, when not NULL, is finished
 * once the job ends (the order waits durably in <prefix>dispatch anyway). */
void dispatch_start(dispatcher *d, const char *oid, kafka_msg *msg);
/* An order needs a courier: greedy starts its job now; batch leaves it to
 * the next round (it waits in <prefix>dispatch) and finishes msg. */
void dispatch_wanted(dispatcher *d, const char *oid, kafka_msg *msg);
/* Whether a dispatch job for oid runs in this process. */
int dispatch_running(const dispatcher *d, const char *oid);
/* The periodic claim of orders waiting for a courier (<prefix>dispatch). */
void dispatch_on_timer(evutil_socket_t fd, short what, void *arg);

/* The steps shared with the batch rounds. NULL from dispatch_loaded_parse
 * on a Redis error, else "ok" or "skip" (the order waits no more). */
const char *dispatch_loaded_parse(const redisReply *reply, const char *oid, dispatch_loaded *l);
void dispatch_loaded_clear(dispatch_loaded *l);
void dispatch_search_prepare(const dispatcher *d, const policy_order *o, dispatch_search_args *a);
/* The courier id of GEOSEARCH reply element i, NULL when malformed. */
const char *dispatch_search_id(const redisReply *reply, size_t i);
/* Queues the HMGET and SCARD that fill in courier c's facts. */
void dispatch_gather_cmds(dispatcher *d, batch *b, policy_courier *c);
void dispatch_fact_hash(const redisReply *r, void *item, void *ctx);
void dispatch_fact_load(const redisReply *r, void *item, void *ctx);
/* The state machine's atomic assign op for oid and courier. */
void dispatch_assign_call(dispatcher *d, const char *oid, const char *courier, double dist_m,
                          store_reply_cb *cb, void *ctx);
const char *dispatch_reply_error(const redisReply *r, const char *err);
/* The class of a failed call (rerr.h): RERR_RETRY or RERR_FATAL. */
rerr_kind dispatch_error_kind(const redisReply *r, const char *err);
/* A Redis error no retry fixes, about order oid: takes it off queue
 * ("dispatch" or "cdue") with the reason in <prefix>parked, logs it and
 * counts it, so it stops coming back every lease. The order's state is not
 * touched. Fire and forget. */
void dispatch_park(dispatcher *d, const char *queue, const char *oid, const char *why);

/* round.c: the batch round (RXD_DISPATCH_POLICY=batch), every window_ms
 * and gather_ms after a ready event (round_request). */
void round_on_timer(evutil_socket_t fd, short what, void *arg);
void round_request(dispatcher *d);

/* expiry.c: the periodic claim of lapsed assignment deadlines (<prefix>cdue). */
void expiry_on_timer(evutil_socket_t fd, short what, void *arg);

#endif
