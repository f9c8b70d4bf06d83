/* kafka_roundtrip_test - kafka.c against a running broker (devbroker).
 *
 * Reads the broker from RXD_KAFKA_BROKERS. Produces 100 keyed messages of a
 * unique run to order.events, consumes them in a fresh group finishing them
 * out of order, and checks every one arrived once with its value. Then it
 * closes the consumer (which commits), joins the same group again and
 * produces a sentinel: reading the sentinel without any of the 100 again
 * proves the stored offsets covered everything that was finished. Last, a
 * second member joins the group and is closed in the middle of its join:
 * the close must finish cleanly (librdkafka 2.0.2 aborts when such a
 * member is destroyed before its first assignment; kafka.c works around). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "kafka.h"
#include "log.h"

#define RT_COUNT 100
#define RT_HOLD 7 /* messages held back, then finished in reverse order */
#define RT_TOPIC "order.events"
#define RT_DEADLINE_S 60
#define RT_JOIN_WAIT_MS 20000

typedef struct rt {
    struct event_base *base;
    config *cfg;
    kafka_producer *kp;
    kafka_consumer *kc;
    struct event *tick_ev, *deadline_ev;
    char run[64];
    char group[96];
    int phase; /* 1: consume the 100, 2: read back to the sentinel, 3: a member joins */
    kafka_consumer *joiner;
    int joiner_closed;
    int delivered_ok, delivered_failed;
    int seen[RT_COUNT];
    int received, duplicates, bad_values, redelivered;
    int sentinel_seen;
    int consumer_was_ready, producer_was_ready;
    kafka_msg *held[RT_HOLD];
    int nheld;
    int failed;
    char why[256];
} rt;

static void rt_fail(rt *t, const char *why)
{
    if (!t->failed)
        snprintf(t->why, sizeof(t->why), "%s", why);
    t->failed = 1;
    event_base_loopbreak(t->base);
}

static void rt_on_delivery(rd_kafka_resp_err_t err, void *ctx)
{
    rt *t = ctx;
    if (err) {
        t->delivered_failed++;
        fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(err));
    } else {
        t->delivered_ok++;
    }
}

static void rt_release_held(rt *t)
{
    /* Newest first: the stored offset must wait for the oldest. */
    while (t->nheld > 0)
        kafka_consumer_done(t->kc, t->held[--t->nheld]);
}

/* Returns the index of one of this run's messages, or -1. */
static int rt_index(const rt *t, const kafka_msg *m, const char *prefix)
{
    char key[128];
    size_t plen = strlen(prefix);
    char *end;
    long i;

    if (m->key_len >= sizeof(key))
        return -1;
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    if (strncmp(key, t->run, strlen(t->run)) != 0 || strncmp(key + strlen(t->run), prefix, plen))
        return -1;
    i = strtol(key + strlen(t->run) + plen, &end, 10);
    if (*end || i < 0 || i >= RT_COUNT)
        return -1;
    return (int)i;
}

static void rt_on_msg(kafka_msg *m, void *ctx)
{
    rt *t = ctx;
    int i = rt_index(t, m, "-k-");
    char want[128];

    if (kafka_consumer_ready(t->kc))
        t->consumer_was_ready = 1;
    if (t->phase == 2) {
        if (i >= 0)
            t->redelivered++;
        if (rt_index(t, m, "-sentinel-") == 0)
            t->sentinel_seen = 1;
        kafka_consumer_done(t->kc, m);
        return;
    }
    if (i >= 0) {
        snprintf(want, sizeof(want), "value-%d", i);
        if (m->value_len != strlen(want) || memcmp(m->value, want, m->value_len) != 0)
            t->bad_values++;
        if (t->seen[i]++)
            t->duplicates++;
        else
            t->received++;
    }
    t->held[t->nheld++] = m;
    if (t->nheld == RT_HOLD)
        rt_release_held(t);
}

static int rt_produce(rt *t, const char *what, int i)
{
    char key[128], value[64];
    kafka_header h[2] = {{"source-topic", "test", 4}, {"error", "none", 4}};

    snprintf(key, sizeof(key), "%s-%s-%d", t->run, what, i);
    snprintf(value, sizeof(value), "value-%d", i);
    return kafka_produce(t->kp, RT_TOPIC, key, strlen(key), value, strlen(value), h, 2,
                         rt_on_delivery, t);
}

static int rt_start_consumer(rt *t)
{
    static const char *const topics[] = {RT_TOPIC, NULL};
    char err[512];

    t->kc = kafka_consumer_new(t->base, t->cfg, t->group, topics, rt_on_msg, t, err, sizeof(err));
    if (!t->kc) {
        fprintf(stderr, "kafka_consumer_new: %s\n", err);
        return -1;
    }
    return 0;
}

static void rt_on_joiner_msg(kafka_msg *m, void *ctx)
{
    rt *t = ctx;
    kafka_consumer_done(t->joiner, m);
}

/* A second member joins the group and is closed as soon as it has a member
 * id: the loop is not run meanwhile, so its first assignment, even if the
 * group has made it, is not yet served and the close finds it joining. */
static int rt_close_joiner(rt *t)
{
    static const char *const topics[] = {RT_TOPIC, NULL};
    char err[512];
    int waited_ms = 0;

    t->joiner = kafka_consumer_new(t->base, t->cfg, t->group, topics, rt_on_joiner_msg, t, err,
                                   sizeof(err));
    if (!t->joiner) {
        fprintf(stderr, "kafka_consumer_new (joiner): %s\n", err);
        return -1;
    }
    while (!kafka_consumer_joining(t->joiner) && waited_ms < RT_JOIN_WAIT_MS) {
        usleep(1000);
        waited_ms++;
    }
    if (!kafka_consumer_joining(t->joiner))
        return -1;
    kafka_consumer_free(t->joiner);
    t->joiner = NULL;
    t->joiner_closed = 1;
    return 0;
}

static void rt_on_tick(evutil_socket_t fd, short what, void *arg)
{
    rt *t = arg;
    (void)fd;
    (void)what;

    if (kafka_producer_ready(t->kp))
        t->producer_was_ready = 1;
    if (t->phase == 1) {
        rt_release_held(t);
        if (t->delivered_failed)
            rt_fail(t, "a produce was not delivered");
        else if (t->received == RT_COUNT && t->delivered_ok == RT_COUNT &&
                 kafka_consumer_inflight(t->kc) == 0) {
            /* Phase 2: commit by closing, rejoin, read up to a sentinel. */
            kafka_consumer_free(t->kc);
            t->kc = NULL;
            t->phase = 2;
            if (rt_start_consumer(t) != 0 || rt_produce(t, "sentinel", 0) != 0)
                rt_fail(t, "cannot start phase 2");
        }
    } else if (t->phase == 2 && t->sentinel_seen) {
        t->phase = 3;
        if (rt_close_joiner(t) != 0)
            rt_fail(t, "the second member never joined the group");
        else
            event_base_loopbreak(t->base);
    }
}

static void rt_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    rt *t = arg;
    (void)fd;
    (void)what;
    rt_fail(t, t->phase == 1   ? "timed out waiting for the 100 messages"
               : t->phase == 2 ? "timed out waiting for the sentinel after rejoining"
                               : "timed out waiting for the second member to join");
}

int main(int argc, char **argv)
{
    rt t;
    char err[512];
    struct timeval tick = {0, 50 * 1000}, deadline = {RT_DEADLINE_S, 0};
    int ok;

    memset(&t, 0, sizeof(t));
    if (!getenv("RXD_KAFKA_BROKERS")) {
        fprintf(stderr, "FAIL: RXD_KAFKA_BROKERS is not set; start devbroker and export its "
                        "bootstrap address\n");
        return 1;
    }
    /* The 2.0.2 mock coordinator holds a rejoin until the previous member's
     * session expires (45 s by default) even after it left the group. */
    setenv("RXD_KAFKA_SESSION_TIMEOUT_MS", "6000", 0);
    log_init("kafka-roundtrip-test", "info");
    t.cfg = config_new(argc, argv, err, sizeof(err));
    if (!t.cfg) {
        fprintf(stderr, "FAIL: config: %s\n", err);
        return 1;
    }
    snprintf(t.run, sizeof(t.run), "rt%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(t.group, sizeof(t.group), "kafka-roundtrip-%s", t.run);
    t.base = event_base_new();
    t.phase = 1;
    t.kp = kafka_producer_new(t.base, t.cfg, err, sizeof(err));
    if (!t.kp) {
        fprintf(stderr, "FAIL: kafka_producer_new: %s\n", err);
        return 1;
    }
    if (rt_start_consumer(&t) != 0)
        return 1;
    for (int i = 0; i < RT_COUNT; i++) {
        if (rt_produce(&t, "k", i) != 0) {
            fprintf(stderr, "FAIL: kafka_produce %d returned -1\n", i);
            return 1;
        }
    }
    t.tick_ev = event_new(t.base, -1, EV_PERSIST, rt_on_tick, &t);
    t.deadline_ev = evtimer_new(t.base, rt_on_deadline, &t);
    event_add(t.tick_ev, &tick);
    event_add(t.deadline_ev, &deadline);

    event_base_dispatch(t.base);

    if (t.kc) {
        if (t.phase == 1)
            rt_release_held(&t);
        kafka_consumer_free(t.kc);
    }
    kafka_consumer_free(t.joiner);
    kafka_producer_free(t.kp, 5000);
    event_free(t.tick_ev);
    event_free(t.deadline_ev);
    event_base_free(t.base);
    config_free(t.cfg);

    ok = !t.failed && t.received == RT_COUNT && t.duplicates == 0 && t.bad_values == 0 &&
         t.redelivered == 0 && t.sentinel_seen && t.consumer_was_ready && t.producer_was_ready &&
         t.joiner_closed;
    fprintf(stderr,
            "%s: received %d/%d, duplicates %d, bad values %d, delivered %d (failed %d), "
            "redelivered after rejoin %d, sentinel %s, consumer ready %d, producer ready %d, "
            "member closed while joining %d%s%s\n",
            ok ? "PASS" : "FAIL", t.received, RT_COUNT, t.duplicates, t.bad_values, t.delivered_ok,
            t.delivered_failed, t.redelivered, t.sentinel_seen ? "seen" : "missing",
            t.consumer_was_ready, t.producer_was_ready, t.joiner_closed, t.failed ? ": " : "",
            t.why);
    return ok ? 0 : 1;
}
