/* outbox.h - publishes the state machine's outbox to Kafka.
 *
 * Every transition appends its events to the Redis stream <prefix>outbox in
 * the same atomic step as the state change. One relay at a time (a lease in
 * Redis picks it among all running instances) reads the stream in order,
 * produces each entry (order.events keyed by order_id, patient.notify keyed
 * by patient_ref, order.closed keyed by order_id) with the idempotent producer, and deletes an
 * entry only once Kafka acknowledged it. A relay that dies leaves its entries in the stream; the
 * next leaseholder sends them again, so consumers see at-least-once delivery and drop repeats by
 * (order_id, seq).
 *
 * Each acquisition of the lease gets a fencing token (the epoch, incremented
 * atomically with the acquisition); reads that feed the producer and deletes
 * check it, so a relay that lost the lease stops. A topic that fails to take
 * entries is held back with a capped exponential backoff and retried from its
 * first unacknowledged entry; see outbox.c and docs/architecture.md. */
#ifndef RXD_OUTBOX_H
#define RXD_OUTBOX_H

#include <stddef.h>
#include <event2/event.h>

#include "kafka.h"
#include "metrics.h"
#include "store.h"

typedef struct outbox_relay outbox_relay;

typedef struct outbox_config {
    const char *redis_url;
    int redis_timeout_ms;
    const char *prefix;       /* orders_prefix() */
    const char *events_topic; /* order.events */
    const char *notify_topic; /* patient.notify */
    const char *closed_topic; /* order.closed: restricted, the archive's */
    const char *instance;     /* unique per process, names the lease holder */
} outbox_config;

outbox_relay *outbox_relay_new(struct event_base *base, const outbox_config *cfg,
                               kafka_producer *kp, metrics *m, char *err, size_t errlen);
/* Graceful stop: reads no more, gives the lease back; entries in flight
 * still complete (poll outbox_relay_inflight until 0). */
void outbox_relay_stop(outbox_relay *r);
/* Free after kafka_producer_free (its flush may still report deliveries
 * to the relay). Entries not yet deleted are sent again by the next relay. */
void outbox_relay_free(outbox_relay *r);
int outbox_relay_leader(const outbox_relay *r);
/* Entries produced and not yet acknowledged, deletions and the lease's
 * release not yet answered by Redis. */
int outbox_relay_inflight(const outbox_relay *r);
/* NULL while producing goes well; else the reason readiness reports, e.g.
 * "produce to patient.notify failing: Broker: Topic authorization failed",
 * written to buf. Only the lease holder produces, so only it can fail. */
const char *outbox_relay_failing(const outbox_relay *r, char *buf, size_t len);

/* Offsets after acknowledgement: holds a piece of finished work until every
 * outbox entry written before it (its own events among them) has been
 * acknowledged by Kafka and deleted from the stream, then calls fn. Uses the
 * same Redis connection as the work's writes, so "written before" is exact.
 * One XINFO STREAM per tick serves all waiters. */
typedef struct outbox_acks outbox_acks;
typedef void outbox_acked_fn(void *ctx);

outbox_acks *outbox_acks_new(struct event_base *base, store *st, const char *prefix);
void outbox_acks_wait(outbox_acks *a, outbox_acked_fn *fn, void *ctx);
int outbox_acks_pending(const outbox_acks *a);
/* Waiters still pending are dropped without a call (their messages are not
 * marked done, so Kafka delivers them again after a restart). */
void outbox_acks_free(outbox_acks *a);

#endif
