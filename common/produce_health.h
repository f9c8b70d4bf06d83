/* produce_health.h - how producing to one topic is going: delivery errors
 * classified (permanent or retriable), a capped exponential backoff before
 * the next try, and the rate limit of the log lines about it.
 *
 * Pure (no I/O, no clock of its own): the outbox relay owns one per topic and
 * passes the time in. A permanent error (authorisation, unknown topic,
 * message too large...) does not go away by itself, a retriable one may; both
 * hold the topic back for the backoff, so a broken topic costs one try per
 * backoff instead of a tight loop of produce, fail, produce. */
#ifndef RXD_PRODUCE_HEALTH_H
#define RXD_PRODUCE_HEALTH_H

#define PRODUCE_BACKOFF_MIN_MS 100
#define PRODUCE_BACKOFF_MAX_MS 10000
#define PRODUCE_SUMMARY_MS 30000

typedef struct produce_health {
    char topic[128];
    int failing;             /* from the first failure to the next success */
    int permanent;           /* the last error is permanent */
    int err;                 /* the last error (rd_kafka_resp_err_t) */
    char error[160];         /* its text */
    long long backoff_ms;    /* the current wait, 0 while ok */
    long long retry_at_ms;   /* nothing is produced to the topic before this */
    long long since_summary; /* failures since the last log line */
    long long summary_at_ms; /* when the next summary line is due */
} produce_health;

/* 1 for errors a retry cannot fix until an operator acts. */
int produce_err_permanent(int err);

void produce_health_init(produce_health *h, const char *topic);
/* Records a failed produce (enqueue or delivery) at now_ms. Failures of
 * messages sent before the current backoff began do not lengthen it: only a
 * failure of a new try doubles the wait. Returns 1 when the topic just went
 * from ok to failing (log it), else 0. */
int produce_health_fail(produce_health *h, int err, const char *text, long long now_ms);
/* Records an acknowledged produce. Returns 1 when the topic just recovered. */
int produce_health_ok(produce_health *h);
/* 1 while the topic waits out its backoff. */
int produce_health_blocked(const produce_health *h, long long now_ms);
/* 1 when a summary line of a failing topic is due (every
 * PRODUCE_SUMMARY_MS); starts the next window. */
int produce_health_summary_due(produce_health *h, long long now_ms);

#endif
