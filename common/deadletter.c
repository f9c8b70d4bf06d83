/* deadletter.c - dead letters in a form that fits (see deadletter.h): the
 * headers of the format, the forms tried in turn when one is refused, and
 * the log line when none is taken. */
#include "deadletter.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

#define DEADLETTER_HEADERS_MAX 8
/* librdkafka's worst case per header: two varint lengths */
#define DEADLETTER_HEADER_OVERHEAD 10

/* Answers that mean "never in this form": a smaller form may pass. */
static const rd_kafka_resp_err_t deadletter_refusals[] = {
    RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
    RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
    RD_KAFKA_RESP_ERR_INVALID_RECORD,
    RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE,
};

/* The forms, fullest first: how much of the value each keeps. */
typedef struct deadletter_form {
    const char *name;
    int fit;     /* what the producer's message.max.bytes leaves room for */
    size_t keep; /* otherwise at most this many bytes */
} deadletter_form;

static const deadletter_form deadletter_forms[] = {
    {"intact", 0, SIZE_MAX},
    {"truncated to the producer's limit", 1, 0},
    {"truncated to 64 KiB", 0, DEADLETTER_SMALL},
    {"headers only", 0, 0},
};

#define DEADLETTER_NFORMS (sizeof(deadletter_forms) / sizeof(deadletter_forms[0]))

struct deadletter {
    const kafka_msg *msg;
    char reason[256];
    char partition[16], offset[24], size[24], sha256[2 * SHA256_DIGEST_LENGTH + 1];
    char because[160]; /* the refusal that made it truncated */
    size_t form;       /* index into deadletter_forms */
    size_t kept;       /* bytes of the value in the form last sent */
    char error[200];
    kafka_producer *kp; /* of the last send */
    deadletter_cb *cb;
    void *ctx;
};

static int deadletter_refused(rd_kafka_resp_err_t err)
{
    for (size_t i = 0; i < sizeof(deadletter_refusals) / sizeof(deadletter_refusals[0]); i++)
        if (err == deadletter_refusals[i])
            return 1;
    return 0;
}

deadletter *deadletter_new(const kafka_msg *msg, const char *reason)
{
    deadletter *dl = xcalloc(1, sizeof(*dl));
    unsigned char digest[SHA256_DIGEST_LENGTH];

    dl->msg = msg;
    snprintf(dl->reason, sizeof(dl->reason), "%s", reason);
    snprintf(dl->partition, sizeof(dl->partition), "%" PRId32, msg->partition);
    snprintf(dl->offset, sizeof(dl->offset), "%" PRId64, msg->offset);
    snprintf(dl->size, sizeof(dl->size), "%zu", msg->value_len);
    SHA256(msg->value ? msg->value : (const void *)"", msg->value_len, digest);
    for (size_t i = 0; i < sizeof(digest); i++)
        snprintf(dl->sha256 + 2 * i, 3, "%02x", digest[i]);
    return dl;
}

void deadletter_free(deadletter *dl)
{
    free(dl);
}

const char *deadletter_error(const deadletter *dl)
{
    return dl->error;
}

static size_t deadletter_headers(const deadletter *dl, int truncated, kafka_header *h)
{
    const kafka_msg *m = dl->msg;
    size_t n = 0;
    h[n++] = (kafka_header){"error", dl->reason, strlen(dl->reason)};
    h[n++] = (kafka_header){"source-topic", m->topic, strlen(m->topic)};
    h[n++] = (kafka_header){"source-partition", dl->partition, strlen(dl->partition)};
    h[n++] = (kafka_header){"source-offset", dl->offset, strlen(dl->offset)};
    h[n++] = (kafka_header){"original-size", dl->size, strlen(dl->size)};
    h[n++] = (kafka_header){"original-sha256", dl->sha256, strlen(dl->sha256)};
    h[n++] = (kafka_header){"truncated", truncated ? "1" : "0", 1};
    if (truncated)
        h[n++] = (kafka_header){"truncated-because", dl->because, strlen(dl->because)};
    return n;
}

/* Bytes of the value the form keeps; the fitted form leaves room for the
 * record overhead, the key, the headers of a truncated letter and slack. */
static size_t deadletter_keep(const deadletter *dl, const deadletter_form *f)
{
    size_t len = dl->msg->value_len, used, max, room;
    kafka_header h[DEADLETTER_HEADERS_MAX];

    if (!f->fit)
        return f->keep < len ? f->keep : len;
    used = KAFKA_RECORD_OVERHEAD + dl->msg->key_len + DEADLETTER_SLACK;
    for (size_t i = 0, n = deadletter_headers(dl, 1, h); i < n; i++)
        used += strlen(h[i].name) + h[i].len + DEADLETTER_HEADER_OVERHEAD;
    max = kafka_producer_max_message(dl->kp);
    room = max > used ? max - used : 0;
    return room < len ? room : len;
}

/* The letter was refused with err in its current form: moves to the next
 * form that keeps fewer bytes. -1 when there is none (logged). */
static int deadletter_shrink(deadletter *dl, rd_kafka_resp_err_t err)
{
    const kafka_msg *m = dl->msg;
    size_t refused = dl->kept;

    snprintf(dl->because, sizeof(dl->because), "%s: the %zu-byte value was refused (%s form)",
             rd_kafka_err2name(err), refused, deadletter_forms[dl->form].name);
    while (++dl->form < DEADLETTER_NFORMS) {
        dl->kept = deadletter_keep(dl, &deadletter_forms[dl->form]);
        if (dl->kept < refused) {
            log_event(LOG_WARN, "deadletter_truncated", "{s:s, s:i, s:I, s:I, s:I, s:s, s:s}",
                      "topic", m->topic, "partition", (int)m->partition, "offset",
                      (json_int_t)m->offset, "original_size", (json_int_t)m->value_len, "kept",
                      (json_int_t)dl->kept, "form", deadletter_forms[dl->form].name, "because",
                      dl->because);
            return 0;
        }
    }
    log_event(LOG_ERROR, "deadletter_impossible", "{s:s, s:i, s:I, s:I, s:s, s:s, s:s, s:s}",
              "topic", m->topic, "partition", (int)m->partition, "offset", (json_int_t)m->offset,
              "original_size", (json_int_t)m->value_len, "original_sha256", dl->sha256, "error",
              dl->reason, "because", dl->because, "hint",
              "not even the headers-only dead letter was taken: the message stays in its source "
              "topic at this offset until retention, and the partition moves on; check the "
              "dead-letter topic's max.message.bytes");
    dl->form = DEADLETTER_NFORMS - 1;
    return -1;
}

static void deadletter_on_delivery(rd_kafka_resp_err_t err, void *ctx)
{
    deadletter *dl = ctx;
    deadletter_result r = DEADLETTER_SENT;

    dl->error[0] = '\0';
    if (err && deadletter_refused(err)) {
        snprintf(dl->error, sizeof(dl->error), "dead letter refused by the broker (%s)",
                 rd_kafka_err2name(err));
        /* the next deadletter_send uses the smaller form */
        r = deadletter_shrink(dl, err) == 0 ? DEADLETTER_RETRY : DEADLETTER_GIVEN_UP;
    } else if (err) {
        snprintf(dl->error, sizeof(dl->error), "dead letter not delivered: %s",
                 rd_kafka_err2str(err));
        r = DEADLETTER_RETRY;
    }
    dl->cb(r, dl->ctx);
}

deadletter_result deadletter_send(deadletter *dl, kafka_producer *kp, const char *topic,
                                  deadletter_cb *cb, void *ctx)
{
    const kafka_msg *m = dl->msg;
    kafka_header h[DEADLETTER_HEADERS_MAX];

    dl->kp = kp;
    dl->cb = cb;
    dl->ctx = ctx;
    for (;;) {
        dl->kept = deadletter_keep(dl, &deadletter_forms[dl->form]);
        size_t n = deadletter_headers(dl, dl->kept < m->value_len, h);
        if (kafka_produce(kp, topic, m->key, m->key_len, m->value, dl->kept, h, n,
                          deadletter_on_delivery, dl) == 0)
            return DEADLETTER_QUEUED;
        rd_kafka_resp_err_t err = kafka_producer_last_error(kp);
        if (!deadletter_refused(err)) {
            snprintf(dl->error, sizeof(dl->error), "cannot queue the dead letter: %s",
                     rd_kafka_err2str(err));
            return DEADLETTER_RETRY;
        }
        if (deadletter_shrink(dl, err) != 0)
            return DEADLETTER_GIVEN_UP;
    }
}
