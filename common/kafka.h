/* kafka.h - librdkafka consumer and producer driven by a libevent loop.
 *
 * Owns the rd_kafka_t handles of one service. The consumer is a consumer-group
 * member (cooperative-sticky) whose queue wakes the loop through an IO-event
 * pipe; offsets are stored by the caller, only after a message's effects are
 * durable (enable.auto.offset.store=false), and committed by librdkafka's
 * auto-commit. The producer is idempotent; delivery reports are served by a
 * timer on the loop and handed to the per-message callback. */
#ifndef RXD_KAFKA_H
#define RXD_KAFKA_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include <librdkafka/rdkafka.h>

#include "config.h"
#include "metrics.h"

typedef struct kafka_consumer kafka_consumer;
typedef struct kafka_producer kafka_producer;

/* A consumed message as handed to the service. Valid until
 * kafka_consumer_done() is called for it; the service must call that exactly
 * once per message (after its effects are durable, or after dead-lettering). */
typedef struct kafka_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    rd_kafka_message_t *rkm; /* owned by the consumer; do not free; NULL once released */
} kafka_msg;

typedef void kafka_msg_cb(kafka_msg *msg, void *ctx);

/* Builds a consumer in group `group` subscribed to `topics` (NULL-terminated).
 * Kafka settings come from cfg: RXD_KAFKA_BROKERS and every RXD_KAFKA_<prop>
 * (e.g. RXD_KAFKA_SECURITY_PROTOCOL -> security.protocol). Returns NULL and
 * fills err (errlen bytes) on failure. */
kafka_consumer *kafka_consumer_new(struct event_base *base, const config *cfg, const char *group,
                                   const char *const *topics, kafka_msg_cb *on_msg, void *ctx,
                                   char *err, size_t errlen);
/* Marks msg as processed: stores offset+1 for commit and releases the message.
 * Messages of one partition may be finished out of order; the stored offset
 * only advances over a contiguous prefix of finished messages. After
 * kafka_consumer_close it only frees the message's bookkeeping. */
void kafka_consumer_done(kafka_consumer *kc, kafka_msg *msg);
/* kafka_consumer_done through the consumer that handed msg out. */
void kafka_msg_done(kafka_msg *msg);
/* Gives msg up unfinished (shutdown): its offset, and every later one of its
 * partition, is never stored by this consumer, so it is consumed again
 * after a restart. */
void kafka_consumer_drop(kafka_consumer *kc, kafka_msg *msg);
/* Stops fetching (used at shutdown before draining in-flight work). */
void kafka_consumer_pause(kafka_consumer *kc);
/* Number of messages handed out and not yet done. */
int kafka_consumer_inflight(const kafka_consumer *kc);
/* 1 once the group has assigned partitions or the broker answered metadata. */
int kafka_consumer_ready(const kafka_consumer *kc);
/* 1 while the consumer is in the group's join (it has a member id) and has
 * not yet had its first assignment. */
int kafka_consumer_joining(const kafka_consumer *kc);
/* How long kafka_consumer_close lets a joining consumer finish its join
 * first (kafka.c, kafka_consumer_finish_join): the other members rejoin
 * within their heartbeat interval (3 s), which a loaded machine stretches
 * past 5 s (seen: 5.03 s, two component tests side by side); the session
 * timeout (10 s) bounds it, as a member silent that long is evicted. */
#define KAFKA_JOIN_TIMEOUT_MS 10000
/* How long kafka_consumer_close waits for the group to let go (the final
 * revoke, the commit of the stored offsets, LeaveGroup) before it destroys
 * the handle without them. */
#define KAFKA_CLOSE_TIMEOUT_MS 1500
/* Ends consumption within KAFKA_CLOSE_TIMEOUT_MS (plus KAFKA_JOIN_TIMEOUT_MS
 * for a consumer still joining) plus the handle's
 * destruction, whatever the service still holds: messages not yet done are
 * released (their value and key become NULL, topic ""; the service may
 * still call kafka_consumer_done or _drop for them, which then store
 * nothing), the stored offsets are committed if the group answers in time,
 * and the handle is destroyed. Offsets of unfinished messages are never
 * stored, so they are consumed again after a restart. Idempotent. */
void kafka_consumer_close(kafka_consumer *kc);
/* Closes (if not yet closed) and frees the consumer with the bookkeeping of
 * messages never done: none of its messages may be touched afterwards. */
void kafka_consumer_free(kafka_consumer *kc);

/* Result of one produce: err is RD_KAFKA_RESP_ERR_NO_ERROR on success (the
 * broker gave the message an offset), KAFKA_ERR_UNCONFIRMED when librdkafka
 * counted it delivered without the broker saying so (an implicit ack, which
 * may hide a lost message: send it again), else librdkafka's error. */
#define KAFKA_ERR_UNCONFIRMED RD_KAFKA_RESP_ERR__INCONSISTENT
typedef void kafka_delivery_cb(rd_kafka_resp_err_t err, void *ctx);

typedef struct kafka_header {
    const char *name;
    const void *value;
    size_t len;
} kafka_header;

kafka_producer *kafka_producer_new(struct event_base *base, const config *cfg, char *err,
                                   size_t errlen);
/* Queues one message. cb (may be NULL) is called from the loop with the final
 * delivery result. Returns 0, or -1 if the message could not be queued (then cb
 * is not called). headers may be NULL with nheaders 0. */
int kafka_produce(kafka_producer *kp, const char *topic, const void *key, size_t key_len,
                  const void *value, size_t value_len, const kafka_header *headers, size_t nheaders,
                  kafka_delivery_cb *cb, void *ctx);
/* Why the last kafka_produce that returned -1 failed (e.g. _QUEUE_FULL,
 * MSG_SIZE_TOO_LARGE, _UNKNOWN_TOPIC). */
rd_kafka_resp_err_t kafka_producer_last_error(const kafka_producer *kp);
/* Messages queued and not yet reported. */
int kafka_producer_outstanding(const kafka_producer *kp);
/* 1 when the producer has seen broker metadata recently. */
int kafka_producer_ready(const kafka_producer *kp);
/* The largest message the producer accepts (its message.max.bytes): key,
 * value and headers plus librdkafka's per-record overhead (KAFKA_RECORD_OVERHEAD). */
size_t kafka_producer_max_message(const kafka_producer *kp);
/* librdkafka's worst-case record overhead besides key, value and headers
 * (length, attributes, timestamp and offset deltas, key, value and header
 * counts as varints): a message is refused locally with MSG_SIZE_TOO_LARGE
 * when key + value + headers + this exceed message.max.bytes. */
#define KAFKA_RECORD_OVERHEAD 36
/* Flushes up to timeout_ms, then purges what is left (its delivery
 * callbacks report _PURGE_QUEUE/_PURGE_INFLIGHT, served for at most
 * KAFKA_PURGE_SERVE_MS) and destroys. */
#define KAFKA_PURGE_SERVE_MS 1000
void kafka_producer_free(kafka_producer *kp, int timeout_ms);

/* Fatal errors (rd_kafka_fatal_error: e.g. the idempotent producer lost
 * its sequence): the handle is unusable and the process must restart. fn is
 * called once per client, on the loop thread (error callbacks are served by
 * our poll calls), with the client name, the underlying error name and the
 * reason; without a handler the error is only logged. From a consumer's
 * first fatal error on, kafka_consumer_done stores no offsets (the work in
 * flight is unfinished). The state is the client's own: a consumer stores
 * offsets only for messages whose effects Kafka acknowledged, which a
 * producer's fatal error does not make untrue. */
typedef void kafka_fatal_fn(const char *client, const char *error, const char *reason, void *ctx);
void kafka_producer_set_fatal_handler(kafka_producer *kp, kafka_fatal_fn *fn, void *ctx);
void kafka_consumer_set_fatal_handler(kafka_consumer *kc, kafka_fatal_fn *fn, void *ctx);
int kafka_producer_fatal_seen(const kafka_producer *kp);

/* Asks the cluster (one metadata request for all topics, which never
 * creates a topic, bounded by timeout_ms) whether every topic of `topics`
 * (NULL-terminated) exists. Returns 0 when all exist, 1 when one is missing
 * (its name in missing), 2 when one is listed with an error ("name: error"
 * in missing, e.g. not authorised), -1 when the cluster did not answer (why
 * in missing).
 * Blocking: call it from a thread of its own, not from the loop. */
int kafka_producer_topics_missing(kafka_producer *kp, const char *const *topics, char *missing,
                                  size_t len, int timeout_ms);

/* Consumer lag per partition (kafka_consumer_lag{group,topic,partition})
 * from librdkafka's statistics (every statistics.interval.ms), into m. */
void kafka_consumer_set_metrics(kafka_consumer *kc, metrics *m);
/* The producer's queue depth (kafka_producer_queue_depth), into m. */
void kafka_producer_set_metrics(kafka_producer *kp, metrics *m);

/* Applies RXD_KAFKA_BROKERS and RXD_KAFKA_<prop> pass-through settings to conf. */
int kafka_conf_apply(rd_kafka_conf_t *conf, const config *cfg, char *err, size_t errlen);

#endif
