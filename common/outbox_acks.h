/* outbox_acks.h - the pure part of outbox_acks (outbox.h): which waiters may
 * go, given what the outbox stream still holds.
 *
 * A waiter stands for finished work whose outbox entries were written before
 * it joined. The first report of the stream seen after it joined gives it a
 * target, the stream's last id then: every entry it waits for lies at or
 * before that id. It is released once the oldest entry still in the stream
 * lies after its target (or the stream is empty), i.e. once the relay has had
 * all of them acknowledged by Kafka and deleted. An entry the relay could not
 * produce stays in the stream and so holds back every waiter behind it.
 * Waiters are released in the order they joined.
 *
 * Pure: no Redis and no event loop, so it is unit-tested alone. */
#ifndef RXD_OUTBOX_ACKS_H
#define RXD_OUTBOX_ACKS_H

/* A stream entry id, "<ms>-<seq>". */
typedef struct outbox_stream_id {
    unsigned long long ms, seq;
} outbox_stream_id;

outbox_stream_id outbox_stream_id_parse(const char *s);
int outbox_stream_id_less(outbox_stream_id a, outbox_stream_id b);

typedef void outbox_ackq_fn(void *ctx);
typedef struct outbox_ackq outbox_ackq;

outbox_ackq *outbox_ackq_new(void);
/* Waiters still queued are dropped without a call. */
void outbox_ackq_free(outbox_ackq *q);
/* Queues fn(ctx); returns 0. */
int outbox_ackq_push(outbox_ackq *q, outbox_ackq_fn *fn, void *ctx);
/* Applies one report of the stream (empty, or holding first..last): targets
 * the waiters that had none, then calls, in order, those that may go.
 * Returns how many were released. A waiter queued by one of those calls
 * waits for the next report: this one may predate its writes. */
int outbox_ackq_release(outbox_ackq *q, int empty, outbox_stream_id first, outbox_stream_id last);
int outbox_ackq_pending(const outbox_ackq *q);

#endif
