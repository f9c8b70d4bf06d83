/* dispatcher.h - the dispatcher's context, shared by its intake (Kafka),
 * its dispatch jobs and its assignment-deadline jobs. */
#ifndef RXD_DISPATCHER_H
#define RXD_DISPATCHER_H

#include "kafka.h"
#include "service.h"

typedef struct dispatch_job dispatch_job;

typedef struct dispatcher {
    service *svc;
    kafka_consumer *consumer;
    struct event *dispatch_timer; /* claims orders waiting for a courier */
    struct event *cdue_timer;     /* claims lapsed assignment deadlines */
    int jobs;                     /* dispatch jobs, deadline jobs and claims in flight */
    dispatch_job *running;        /* dispatch jobs in flight, one per order at most */
    double radius_m;              /* courier search radius around the pharmacy */
    long long deadline_ms;        /* how long a courier has to accept */
    long long stale_ms;           /* positions older than this are not used */
    long long max_misses;         /* lapsed offers in a row that make a courier unavailable */
    long long lease_ms;           /* how long a claimed order is ours before a retry */
    long long cdue_lease_ms;      /* the same for a claimed deadline */
    long long candidates_max;     /* GEOSEARCH COUNT */
    metric *m_consumed, *m_assigned, *m_busy, *m_no_courier, *m_expired, *m_unavailable;
    metric *m_redis_errors;
} dispatcher;

/* intake.c: order.events messages; READY orders to deliver start a job. */
void intake_on_message(kafka_msg *msg, void *ctx);

/* dispatch.c: find a courier for order oid. msg, when not NULL, is finished
 * once the job ends (the order waits durably in <prefix>dispatch anyway). */
void dispatch_start(dispatcher *d, const char *oid, kafka_msg *msg);
/* The periodic claim of orders waiting for a courier (<prefix>dispatch). */
void dispatch_on_timer(evutil_socket_t fd, short what, void *arg);

/* expiry.c: the periodic claim of lapsed assignment deadlines (<prefix>cdue). */
void expiry_on_timer(evutil_socket_t fd, short what, void *arg);

#endif
