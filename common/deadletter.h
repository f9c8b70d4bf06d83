/* deadletter.h - the dead-letter topic's format (docs/kafka.md, "Dead
 * letters"), and sending a consumed message there in a form the producer
 * and the broker accept, so a message that cannot be handled never holds
 * its partition.
 *
 * Every letter carries the received key and the headers error (why it was
 * refused), source-topic, source-partition, source-offset, original-size
 * (bytes), original-sha256 (hex) and truncated ("0" or "1"). Its value is
 * the received bytes, intact; when the letter is refused as too large or
 * invalid (locally MSG_SIZE_TOO_LARGE, by the broker MSG_SIZE_TOO_LARGE,
 * RECORD_LIST_TOO_LARGE, INVALID_RECORD, INVALID_MSG_SIZE), it is sent again
 * with the value cut to a prefix that fits (the producer's
 * message.max.bytes less the key, the headers and some slack), then 64 KiB,
 * then nothing, with truncated "1" and truncated-because (the refusal). */
#ifndef RXD_DEADLETTER_H
#define RXD_DEADLETTER_H

#include "kafka.h"

/* Room left under message.max.bytes besides the record overhead, key and
 * headers, so the truncated form is not refused for a few bytes. */
#define DEADLETTER_SLACK 1024
/* The second truncated form: what a broker whose limit is below the
 * producer's still takes. */
#define DEADLETTER_SMALL 65536

typedef struct deadletter deadletter;

typedef enum {
    DEADLETTER_QUEUED,   /* deadletter_send only: the callback follows */
    DEADLETTER_SENT,     /* acknowledged by Kafka: finish the message */
    DEADLETTER_RETRY,    /* not sent this time: call deadletter_send again later */
    DEADLETTER_GIVEN_UP, /* refused in every form (logged with where the
                          * message lies): finish it, its partition moves on */
} deadletter_result;

typedef void deadletter_cb(deadletter_result r, void *ctx);

/* A letter for msg (which must stay valid while the letter is sent) with
 * reason as its error header. */
deadletter *deadletter_new(const kafka_msg *msg, const char *reason);
void deadletter_free(deadletter *dl);
/* Produces the letter to topic in the fullest form not yet refused.
 * Returns DEADLETTER_QUEUED (cb is then called once from the loop), or
 * DEADLETTER_RETRY / DEADLETTER_GIVEN_UP without calling cb. */
deadletter_result deadletter_send(deadletter *dl, kafka_producer *kp, const char *topic,
                                  deadletter_cb *cb, void *ctx);
/* Why the last send did not succeed, for logs ("" if it did). */
const char *deadletter_error(const deadletter *dl);

#endif
