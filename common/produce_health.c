/* produce_health.c - per-topic produce state (see produce_health.h). */
#include "produce_health.h"

#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

int produce_err_permanent(int err)
{
    switch ((rd_kafka_resp_err_t)err) {
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__FATAL:
        return 1;
    default:
        return 0;
    }
}

void produce_health_init(produce_health *h, const char *topic)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->topic, sizeof(h->topic), "%s", topic);
}

int produce_health_fail(produce_health *h, int err, const char *text, long long now_ms)
{
    int changed = !h->failing;
    h->err = err;
    h->permanent = produce_err_permanent(err);
    snprintf(h->error, sizeof(h->error), "%s", text ? text : "");
    h->since_summary++;
    if (changed) {
        h->failing = 1;
        h->backoff_ms = PRODUCE_BACKOFF_MIN_MS;
        h->retry_at_ms = now_ms + h->backoff_ms;
        h->summary_at_ms = now_ms + PRODUCE_SUMMARY_MS;
        h->since_summary = 1;
        return 1;
    }
    /* The messages of one batch fail together: only a try made after the
     * backoff ended (a failure past retry_at) makes the next wait longer. */
    if (now_ms >= h->retry_at_ms) {
        h->backoff_ms *= 2;
        if (h->backoff_ms > PRODUCE_BACKOFF_MAX_MS)
            h->backoff_ms = PRODUCE_BACKOFF_MAX_MS;
        h->retry_at_ms = now_ms + h->backoff_ms;
    }
    return 0;
}

int produce_health_ok(produce_health *h)
{
    int changed = h->failing;
    h->failing = 0;
    h->permanent = 0;
    h->backoff_ms = 0;
    h->retry_at_ms = 0;
    h->since_summary = 0;
    return changed;
}

int produce_health_blocked(const produce_health *h, long long now_ms)
{
    return h->failing && now_ms < h->retry_at_ms;
}

int produce_health_summary_due(produce_health *h, long long now_ms)
{
    if (!h->failing || now_ms < h->summary_at_ms)
        return 0;
    h->summary_at_ms = now_ms + PRODUCE_SUMMARY_MS;
    return 1;
}
