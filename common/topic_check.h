/* topic_check.h - whether the topics a service consumes and produces exist.
 *
 * A service started before its topics were created would otherwise consume
 * nothing and fail every produce without saying why. The check asks the
 * cluster (metadata of all topics, bounded wait) from a thread of its own, so
 * the event loop never blocks on it, and asks again every few seconds until
 * every topic exists; then it stops. Readiness reads the result. */
#ifndef RXD_TOPIC_CHECK_H
#define RXD_TOPIC_CHECK_H

#include <stddef.h>

#include "kafka.h"

typedef struct topic_check topic_check;

/* Starts checking topics[0..n-1] (copied). NULL when n is over
 * 16 or the thread cannot start. */
topic_check *topic_check_start(kafka_producer *kp, const char *const *topics, size_t n);
/* 1 once every topic was seen; else 0 and why ("topic rx.approved does not
 * exist: create it" or "topics not checked yet: ..."). */
int topic_check_ok(topic_check *tc, char *why, size_t len);
/* Stops the thread (waits for a metadata request in progress) and frees. */
void topic_check_free(topic_check *tc);

#endif
