/* kafka.c - librdkafka consumer and producer driven by a libevent loop.
 *
 * Owns the rd_kafka_t handles, the IO-event pipe that wakes the loop when the
 * consumer queue becomes non-empty, the storing of offsets as handed-out
 * messages finish (offsets.c says which: only a contiguous finished prefix),
 * and the producer's delivery-report timer.
 *
 * Threading: every librdkafka callback we register (rebalance, error, stats,
 * log, delivery report) is served by rd_kafka_consumer_poll()/rd_kafka_poll()
 * on the loop thread, so no locking is needed here.
 *
 * Readiness: a handle is ready while it believes a broker is reachable. That
 * belief is set by anything that proves the broker answered (an assignment, a
 * consumed message, a successful delivery, or a statistics report listing a
 * broker in state UP) and cleared by the _ALL_BROKERS_DOWN error or a
 * statistics report with no broker UP. Statistics are emitted every
 * statistics.interval.ms (default here 3000), so an idle handle also notices
 * recovery without any blocking metadata request on the loop. */
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "offsets.h"
#include "mem.h"

#define KAFKA_BATCH_MAX 500        /* messages handed out per wakeup */
#define KAFKA_SAFETY_POLL_MS 200   /* consumer poll even without a wakeup */
#define KAFKA_DR_POLL_MS 50        /* producer delivery-report poll */
#define KAFKA_QUEUE_FULL_RETRIES 3 /* polls before kafka_produce gives up */
#define KAFKA_QUEUE_FULL_WAIT_MS 10

/* ---- shared helpers ---------------------------------------------------- */

/* A client's fatal error: the handle cannot produce (or consume) any more,
 * so the process must restart. Part of each client's struct (the opaque of
 * its callbacks); set once, read on the loop. */
typedef struct kafka_fatal_state {
    int seen;
    kafka_fatal_fn *fn;
    void *ctx;
} kafka_fatal_state;

static void kafka_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                          size_t errlen)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        kafka_errf(err, errlen, "kafka: cannot set %s=%s: %s", name, value, errstr);
        return -1;
    }
    return 0;
}

typedef struct kafka_apply_ctx {
    rd_kafka_conf_t *conf;
    char *err;
    size_t errlen;
} kafka_apply_ctx;

static int kafka_apply_one(const char *prop, const char *value, void *ctx)
{
    kafka_apply_ctx *ac = ctx;
    char errstr[512];
    if (rd_kafka_conf_set(ac->conf, prop, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        kafka_errf(ac->err, ac->errlen,
                   "kafka: pass-through property %s is rejected by librdkafka (%s); fix or "
                   "unset the RXD_KAFKA_/--kafka- setting that carries it",
                   prop, errstr);
        return -1;
    }
    return 0;
}

int kafka_conf_apply(rd_kafka_conf_t *conf, const config *cfg, char *err, size_t errlen)
{
    const char *brokers = config_str(cfg, "KAFKA_BROKERS", "127.0.0.1:9092");
    kafka_apply_ctx ac = {conf, err, errlen};

    if (!brokers || !*brokers) {
        kafka_errf(err, errlen, "kafka: RXD_KAFKA_BROKERS is empty; set it to host:port[,...]");
        return -1;
    }
    if (kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) != 0)
        return -1;
    return config_each_kafka(cfg, kafka_apply_one, &ac) != 0 ? -1 : 0;
}

/* Maps a syslog level from librdkafka to ours. */
static enum log_level kafka_log_level(int level)
{
    if (level <= 3)
        return LOG_ERROR;
    if (level == 4)
        return LOG_WARN;
    if (level <= 6)
        return LOG_INFO;
    return LOG_DEBUG;
}

static void kafka_on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_event(kafka_log_level(level), "kafka_log", "{s:s, s:s, s:s}", "client", rd_kafka_name(rk),
              "facility", fac, "message", buf);
}

/* Returns 1 if the statistics JSON lists at least one broker in state UP,
 * 0 if none, -1 if it cannot be read. */
static int kafka_stats_broker_up(const json_t *root)
{
    json_t *brokers, *b;
    const char *name;
    int up = 0;

    brokers = json_object_get(root, "brokers");
    if (!json_is_object(brokers))
        return -1;
    json_object_foreach(brokers, name, b)
    {
        const char *state = json_string_value(json_object_get(b, "state"));
        if (state && strcmp(state, "UP") == 0)
            up = 1;
    }
    return up;
}

/* ---- consumer lag from the statistics ---- */

/* One gauge per partition this consumer has reported, so that a partition
 * it no longer fetches drops to 0 here (its new owner reports it). */
typedef struct kafka_lag {
    metrics *m;
    char group[96];
    metric **gauges;
    int *seen;
    int n;
} kafka_lag;

static metric *kafka_lag_gauge(kafka_lag *l, const char *topic, const char *partition)
{
    char labels[384];
    snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\",partition=\"%s\"", l->group, topic,
             partition);
    metric *g = metrics_gauge(l->m, "kafka_consumer_lag", labels,
                              "messages behind the partition's end, per consumed partition "
                              "(librdkafka statistics)");
    for (int i = 0; i < l->n; i++)
        if (l->gauges[i] == g) {
            l->seen[i] = 1;
            return g;
        }
    l->gauges = xrealloc(l->gauges, sizeof(*l->gauges) * (size_t)(l->n + 1));
    l->seen = xrealloc(l->seen, sizeof(*l->seen) * (size_t)(l->n + 1));
    l->gauges[l->n] = g;
    l->seen[l->n++] = 1;
    return g;
}

/* Sets the lag gauges from a statistics JSON: topics.<t>.partitions.<p>.
 * consumer_lag (-1, or partition -1, when librdkafka does not know it). */
static void kafka_lag_update(kafka_lag *l, const json_t *root)
{
    const char *tname, *pname;
    json_t *t, *p;
    if (!l->m)
        return;
    for (int i = 0; i < l->n; i++)
        l->seen[i] = 0;
    json_object_foreach(json_object_get(root, "topics"), tname, t)
    {
        json_object_foreach(json_object_get(t, "partitions"), pname, p)
        {
            json_int_t lag = json_integer_value(json_object_get(p, "consumer_lag"));
            if (strcmp(pname, "-1") == 0 || lag < 0 ||
                !json_is_integer(json_object_get(p, "consumer_lag")))
                continue;
            metric_set(kafka_lag_gauge(l, tname, pname), (double)lag);
        }
    }
    for (int i = 0; i < l->n; i++)
        if (!l->seen[i])
            metric_set(l->gauges[i], 0);
}

static void kafka_lag_free(kafka_lag *l)
{
    free(l->gauges);
    free(l->seen);
}

typedef const char *const kafka_kv[2];

/* Sets defaults an operator may override, the operator's settings, then the
 * settings this file relies on (fixed). */
static rd_kafka_conf_t *kafka_conf_build(const config *cfg, void *opaque, kafka_kv *defaults,
                                         size_t ndefaults, kafka_kv *fixed, size_t nfixed,
                                         char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    size_t i;

    if (kafka_conf_set(conf, "statistics.interval.ms", "3000", err, errlen) != 0)
        goto fail;
    for (i = 0; i < ndefaults; i++)
        if (kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, errlen) != 0)
            goto fail;
    if (kafka_conf_apply(conf, cfg, err, errlen) != 0)
        goto fail;
    /* Logs are served by our poll calls, on the loop thread. */
    if (kafka_conf_set(conf, "log.queue", "true", err, errlen) != 0)
        goto fail;
    for (i = 0; i < nfixed; i++)
        if (kafka_conf_set(conf, fixed[i][0], fixed[i][1], err, errlen) != 0)
            goto fail;
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_conf_set_log_cb(conf, kafka_on_log);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- consumer ---------------------------------------------------------- */

/* One handed-out offset of a partition, kept sorted by offset. */
/* What the service holds: kafka_msg first, so the pointer converts back.
 * Linked into its consumer's list so a close can release every message. */
typedef struct kafka_held {
    kafka_msg msg;
    uint64_t gen;
    kafka_consumer *kc;
    struct kafka_held *prev, *next;
} kafka_held;

struct kafka_consumer {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    struct event *wake_ev;   /* readable pipe: the consumer queue got work */
    struct event *safety_ev; /* periodic poll: the IO event is edge-like */
    int pipe_rd, pipe_wr;
    kafka_msg_cb *on_msg;
    void *ctx;
    offsets *parts; /* in-flight offsets per assigned partition */
    int inflight;
    int max_inflight; /* no more messages handed out while this many are unfinished */
    int held;         /* drain stopped at max_inflight; the next done resumes it */
    int paused;
    int broker_up;
    int assigned;    /* the group has answered with an assignment at least once */
    int closed;      /* kafka_consumer_close ran: rk is gone */
    kafka_held *out; /* messages handed out and not yet done */
    kafka_fatal_state fatal;
    kafka_lag lag;
};

static void kafka_consumer_store(kafka_consumer *kc, const char *topic, int32_t partition,
                                 int64_t next)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t err;

    if (kc->fatal.seen) {
        rd_kafka_topic_partition_list_destroy(l);
        return;
    }
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next;
    err = rd_kafka_offsets_store(kc->rk, l);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        err = l->elems[0].err;
    if (err)
        log_event(LOG_WARN, "kafka_offset_store_failed", "{s:s, s:i, s:I, s:s}", "topic", topic,
                  "partition", (int)partition, "offset", (json_int_t)next, "error",
                  rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* Gives back what the message holds in librdkafka; a held message keeps
 * references that make rd_kafka_destroy wait for ever. */
static void kafka_held_release(kafka_held *h)
{
    if (h->msg.rkm)
        rd_kafka_message_destroy(h->msg.rkm);
    h->msg.rkm = NULL;
    h->msg.topic = "";
    h->msg.key = h->msg.value = NULL;
    h->msg.key_len = h->msg.value_len = 0;
}

static void kafka_held_forget(kafka_consumer *kc, kafka_held *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        kc->out = h->next;
    if (h->next)
        h->next->prev = h->prev;
    kafka_held_release(h);
    free(h);
    kc->inflight--;
}

void kafka_consumer_done(kafka_consumer *kc, kafka_msg *msg)
{
    kafka_held *h = (kafka_held *)msg;
    offsets_part *p;
    int64_t next;

    if (!msg)
        return;
    p = kc->closed ? NULL : offsets_find(kc->parts, msg->topic, msg->partition);
    /* A partition revoked (or revoked and re-assigned) since the hand-out is
     * no longer ours to commit: its new owner will process it again. */
    if (p && p->gen == h->gen) {
        next = offsets_finish(p, msg->offset);
        if (next >= 0)
            kafka_consumer_store(kc, msg->topic, msg->partition, next);
    }
    kafka_held_forget(kc, h);
    if (kc->held && !kc->closed && kc->inflight < kc->max_inflight) {
        kc->held = 0;
        event_active(kc->wake_ev, EV_READ, 0);
    }
}

void kafka_msg_done(kafka_msg *msg)
{
    if (msg)
        kafka_consumer_done(((kafka_held *)msg)->kc, msg);
}

void kafka_consumer_drop(kafka_consumer *kc, kafka_msg *msg)
{
    /* its slot stays unfinished, so no offset of its partition passes it */
    if (msg)
        kafka_held_forget(kc, (kafka_held *)msg);
}

static void kafka_consumer_log_parts(const char *event, const char *protocol,
                                     const rd_kafka_topic_partition_list_t *parts)
{
    json_t *arr = json_array();
    for (int i = 0; i < parts->cnt; i++)
        json_array_append_new(arr, json_pack("{s:s, s:i}", "topic", parts->elems[i].topic,
                                             "partition", (int)parts->elems[i].partition));
    log_event(LOG_INFO, event, "{s:s, s:o}", "protocol", protocol, "partitions", arr);
}

static void kafka_consumer_assign(kafka_consumer *kc, rd_kafka_topic_partition_list_t *parts,
                                  int cooperative)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (!cooperative)
        offsets_untrack_all(kc->parts);
    for (int i = 0; i < parts->cnt; i++) {
        /* A fresh generation: messages handed out before are not counted. */
        offsets_untrack(kc->parts, parts->elems[i].topic, parts->elems[i].partition);
        if (!offsets_track(kc->parts, parts->elems[i].topic, parts->elems[i].partition))
            log_event(LOG_ERROR, "kafka_out_of_memory", NULL);
    }
    if (cooperative)
        error = rd_kafka_incremental_assign(kc->rk, parts);
    else
        err = rd_kafka_assign(kc->rk, parts);
    if (error) {
        log_event(LOG_ERROR, "kafka_assign_failed", "{s:s}", "error", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        log_event(LOG_ERROR, "kafka_assign_failed", "{s:s}", "error", rd_kafka_err2str(err));
    }
    if (kc->paused && parts->cnt > 0)
        rd_kafka_pause_partitions(kc->rk, parts);
    kc->broker_up = 1;
}

static void kafka_consumer_revoke(kafka_consumer *kc, rd_kafka_topic_partition_list_t *parts,
                                  int cooperative)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (rd_kafka_assignment_lost(kc->rk))
        log_event(LOG_WARN, "kafka_assignment_lost", "{s:s}", "hint",
                  "the group dropped this member (session timeout or poll interval exceeded); "
                  "in-flight messages will be redelivered to the new owner");
    for (int i = 0; i < parts->cnt; i++)
        offsets_untrack(kc->parts, parts->elems[i].topic, parts->elems[i].partition);
    if (cooperative) {
        error = rd_kafka_incremental_unassign(kc->rk, parts);
    } else {
        offsets_untrack_all(kc->parts);
        err = rd_kafka_assign(kc->rk, NULL);
    }
    if (error) {
        log_event(LOG_ERROR, "kafka_unassign_failed", "{s:s}", "error",
                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        log_event(LOG_ERROR, "kafka_unassign_failed", "{s:s}", "error", rd_kafka_err2str(err));
    }
}

static void kafka_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kafka_consumer *kc = opaque;
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    int cooperative = protocol && strcmp(protocol, "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        kafka_consumer_log_parts("kafka_partitions_assigned", protocol ? protocol : "NONE", parts);
        kafka_consumer_assign(kc, parts, cooperative);
        kc->assigned = 1;
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        kafka_consumer_log_parts("kafka_partitions_revoked", protocol ? protocol : "NONE", parts);
        kafka_consumer_revoke(kc, parts, cooperative);
    } else {
        log_event(LOG_ERROR, "kafka_rebalance_failed", "{s:s}", "error", rd_kafka_err2str(err));
        kafka_consumer_revoke(kc, parts, cooperative);
    }
}

static void kafka_on_fatal(rd_kafka_t *rk, kafka_fatal_state *fs)
{
    char buf[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
    int first = !fs->seen;

    /* From here on no offset is stored: work in flight is unfinished and
     * must be consumed again after the restart. */
    fs->seen = 1;
    if (!first)
        return;
    if (fs->fn) {
        fs->fn(rd_kafka_name(rk), rd_kafka_err2name(orig), buf, fs->ctx);
        return;
    }
    log_event(LOG_ERROR, "kafka_fatal_error", "{s:s, s:s, s:s, s:s}", "client", rd_kafka_name(rk),
              "error", rd_kafka_err2name(orig), "reason", buf, "hint",
              "the client cannot continue; restart the process");
}

static void kafka_on_error(rd_kafka_t *rk, int err, const char *reason, kafka_fatal_state *fs,
                           int *broker_up)
{
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        *broker_up = 0;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        kafka_on_fatal(rk, fs);
        return;
    }
    log_event(LOG_WARN, "kafka_error", "{s:s, s:s, s:s}", "client", rd_kafka_name(rk), "error",
              rd_kafka_err2name((rd_kafka_resp_err_t)err), "reason", reason);
}

static void kafka_consumer_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_consumer *kc = opaque;
    kafka_on_error(rk, err, reason, &kc->fatal, &kc->broker_up);
}

static int kafka_consumer_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    kafka_consumer *kc = opaque;
    json_t *root = json_loadb(json, len, 0, NULL);
    int up = root ? kafka_stats_broker_up(root) : -1;
    (void)rk;
    if (up >= 0)
        kc->broker_up = up;
    if (root)
        kafka_lag_update(&kc->lag, root);
    json_decref(root);
    return 0; /* librdkafka frees json */
}

/* Hands one fetched message to the service, or logs it if it is an error. */
static void kafka_consumer_dispatch(kafka_consumer *kc, rd_kafka_message_t *rkm)
{
    kafka_held *h;
    offsets_part *p;
    const char *topic = rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "";

    if (rkm->err) {
        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_event(LOG_WARN, "kafka_consume_error", "{s:s, s:i, s:s}", "topic", topic,
                      "partition", (int)rkm->partition, "error", rd_kafka_message_errstr(rkm));
        rd_kafka_message_destroy(rkm);
        return;
    }
    kc->broker_up = 1;
    if (kc->paused) {
        /* Not handed out, not stored: it is fetched again after a restart. */
        rd_kafka_message_destroy(rkm);
        return;
    }
    p = offsets_track(kc->parts, topic, rkm->partition);
    h = calloc(1, sizeof(*h)); /* may fail: the deliberate drop below (mem.h) */
    if (!p || !h || offsets_add(p, rkm->offset) != 0) {
        /* Without bookkeeping the offset could be stored past this message;
         * drop it uncommitted instead and let a rebalance or restart retry. */
        log_event(LOG_ERROR, "kafka_out_of_memory", "{s:s, s:i, s:I}", "topic", topic, "partition",
                  (int)rkm->partition, "offset", (json_int_t)rkm->offset);
        free(h);
        rd_kafka_message_destroy(rkm);
        return;
    }
    h->gen = p->gen;
    h->kc = kc;
    h->next = kc->out;
    if (kc->out)
        kc->out->prev = h;
    kc->out = h;
    h->msg.topic = topic;
    h->msg.partition = rkm->partition;
    h->msg.offset = rkm->offset;
    h->msg.key = rkm->key;
    h->msg.key_len = rkm->key_len;
    h->msg.value = rkm->payload;
    h->msg.value_len = rkm->len;
    h->msg.rkm = rkm;
    kc->inflight++;
    kc->on_msg(&h->msg, kc->ctx);
}

/* Serves the consumer queue: callbacks and up to one batch of messages. */
static void kafka_consumer_drain(kafka_consumer *kc)
{
    int n;
    for (n = 0; n < KAFKA_BATCH_MAX; n++) {
        if (kc->inflight >= kc->max_inflight) {
            /* Flow control: the rest waits in librdkafka's bounded queue
             * rather than as jobs in our memory. */
            kc->held = 1;
            return;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(kc->rk, 0);
        if (!rkm)
            return;
        kafka_consumer_dispatch(kc, rkm);
    }
    /* The batch is full, so more may be queued: come back after other
     * events had their turn. */
    event_active(kc->wake_ev, EV_READ, 0);
}

static void kafka_consumer_on_wake(evutil_socket_t fd, short what, void *arg)
{
    char buf[256];
    (void)what;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    kafka_consumer_drain(arg);
}

static void kafka_consumer_on_safety_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kafka_consumer_drain(arg);
}

static int kafka_pipe_open(int fds[2], char *err, size_t errlen)
{
    if (pipe(fds) != 0) {
        kafka_errf(err, errlen, "kafka: cannot create the wake-up pipe: %s (raise the fd limit?)",
                   strerror(errno));
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (evutil_make_socket_nonblocking(fds[i]) != 0 ||
            evutil_make_socket_closeonexec(fds[i]) != 0) {
            kafka_errf(err, errlen, "kafka: cannot configure the wake-up pipe");
            close(fds[0]);
            close(fds[1]);
            return -1;
        }
    }
    return 0;
}

static kafka_kv kafka_consumer_defaults[] = {
    {"auto.commit.interval.ms", "1000"},
    {"partition.assignment.strategy", "cooperative-sticky"},
    {"auto.offset.reset", "earliest"},
    /* librdkafka prefetches up to 64 MB per consumer by default; a service
     * works through a backlog a batch at a time (see max_inflight), so a
     * small prefetch keeps the memory of a service with a backlog small */
    {"queued.max.messages.kbytes", "2048"},
    {"queued.min.messages", "1000"},
    /* a subscribed topic created after the start is joined within this
     * (librdkafka's default is 5 minutes) */
    {"topic.metadata.refresh.interval.ms", "10000"},
    /* a crashed member's partitions wait this long for a new owner: 45 s
     * (librdkafka's default) stalled prescriptions 44.5 s on a real cluster
     * after one SIGKILL, 10 s stalled them 9.5 s (docs/kafka.md). The
     * heartbeats come from librdkafka's own thread, and a C service has no
     * collector pauses, so 10 s does not evict a live member */
    {"session.timeout.ms", "10000"},
};

/* The service's guarantees depend on these: an operator cannot override them. */
static kafka_kv kafka_consumer_fixed[] = {
    {"enable.auto.offset.store", "false"},
    {"enable.auto.commit", "true"},
    {"enable.partition.eof", "false"},
};

#define KAFKA_NELEM(a) (sizeof(a) / sizeof((a)[0]))

static rd_kafka_conf_t *kafka_consumer_conf(kafka_consumer *kc, const config *cfg,
                                            const char *group, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf =
        kafka_conf_build(cfg, kc, kafka_consumer_defaults, KAFKA_NELEM(kafka_consumer_defaults),
                         kafka_consumer_fixed, KAFKA_NELEM(kafka_consumer_fixed), err, errlen);

    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "group.id", group, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, kafka_on_rebalance);
    rd_kafka_conf_set_error_cb(conf, kafka_consumer_on_error);
    rd_kafka_conf_set_stats_cb(conf, kafka_consumer_on_stats);
    return conf;
}

kafka_consumer *kafka_consumer_new(struct event_base *base, const config *cfg, const char *group,
                                   const char *const *topics, kafka_msg_cb *on_msg, void *ctx,
                                   char *err, size_t errlen)
{
    kafka_consumer *kc = xcalloc(1, sizeof(*kc));
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *subs;
    rd_kafka_resp_err_t rerr;
    char errstr[512];
    struct timeval safety = {0, KAFKA_SAFETY_POLL_MS * 1000};
    int fds[2];

    if (!kc) {
        kafka_errf(err, errlen, "kafka: out of memory creating the consumer");
        return NULL;
    }
    kc->pipe_rd = kc->pipe_wr = -1;
    kc->parts = offsets_new();
    if (!kc->parts) {
        free(kc);
        kafka_errf(err, errlen, "kafka: out of memory creating the consumer");
        return NULL;
    }
    kc->on_msg = on_msg;
    long long max_inflight;
    if (config_int(cfg, "CONSUMER_MAX_INFLIGHT", 1000, &max_inflight, err, errlen) != 0 ||
        max_inflight < 1 || max_inflight > 1000000) {
        kafka_errf(err, errlen,
                   "RXD_CONSUMER_MAX_INFLIGHT must be 1-1000000 (messages a "
                   "service works on at once)");
        offsets_free(kc->parts);
        free(kc);
        return NULL;
    }
    kc->max_inflight = (int)max_inflight;
    kc->ctx = ctx;
    if (!topics || !topics[0]) {
        kafka_errf(err, errlen, "kafka: consumer for group %s has no topics to subscribe to",
                   group);
        goto fail;
    }
    if (kafka_pipe_open(fds, err, errlen) != 0)
        goto fail;
    kc->pipe_rd = fds[0];
    kc->pipe_wr = fds[1];
    conf = kafka_consumer_conf(kc, cfg, group, err, errlen);
    if (!conf)
        goto fail;
    kc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!kc->rk) {
        rd_kafka_conf_destroy(conf);
        kafka_errf(err, errlen, "kafka: cannot create the consumer: %s", errstr);
        goto fail;
    }
    /* Logs to the main queue, the main queue to the consumer queue, and the
     * consumer queue wakes the loop through the pipe. */
    rd_kafka_set_log_queue(kc->rk, NULL);
    rd_kafka_poll_set_consumer(kc->rk);
    kc->queue = rd_kafka_queue_get_consumer(kc->rk);
    rd_kafka_queue_io_event_enable(kc->queue, kc->pipe_wr, "1", 1);

    kc->wake_ev = event_new(base, kc->pipe_rd, EV_READ | EV_PERSIST, kafka_consumer_on_wake, kc);
    kc->safety_ev = event_new(base, -1, EV_PERSIST, kafka_consumer_on_safety_timer, kc);
    if (!kc->wake_ev || !kc->safety_ev || event_add(kc->wake_ev, NULL) != 0 ||
        event_add(kc->safety_ev, &safety) != 0) {
        kafka_errf(err, errlen, "kafka: cannot register the consumer with the event loop");
        goto fail;
    }

    subs = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; topics[i]; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rerr = rd_kafka_subscribe(kc->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (rerr) {
        kafka_errf(err, errlen, "kafka: cannot subscribe group %s: %s", group,
                   rd_kafka_err2str(rerr));
        goto fail;
    }
    return kc;
fail:
    kafka_consumer_free(kc);
    return NULL;
}

void kafka_consumer_pause(kafka_consumer *kc)
{
    rd_kafka_topic_partition_list_t *parts = NULL;

    kc->paused = 1;
    if (kc->closed)
        return;
    if (rd_kafka_assignment(kc->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        if (parts->cnt > 0)
            rd_kafka_pause_partitions(kc->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
    }
}

int kafka_consumer_inflight(const kafka_consumer *kc)
{
    return kc->inflight;
}

int kafka_consumer_ready(const kafka_consumer *kc)
{
    return kc->broker_up;
}

int kafka_consumer_joining(const kafka_consumer *kc)
{
    char *member;
    int joining;

    if (kc->assigned || !kc->rk) /* no handle once closed */
        return 0;
    member = rd_kafka_memberid(kc->rk);
    joining = member && member[0] != '\0';
    rd_kafka_mem_free(kc->rk, member);
    return joining;
}

void kafka_consumer_set_fatal_handler(kafka_consumer *kc, kafka_fatal_fn *fn, void *ctx)
{
    kc->fatal.fn = fn;
    kc->fatal.ctx = ctx;
}

/* librdkafka 2.0.2 aborts in rd_kafka_destroy when a cooperative-sticky
 * member is destroyed after the group answered its JoinGroup and before its
 * first SyncGroup (rd_kafka_sticky_assignor_state_destroy: Assertion
 * `assignor_state' failed; librdkafka issue 4312, fixed in 2.3.0). A member
 * that is joining therefore completes the join before it leaves: the
 * rebalance is served (the partitions stay paused, messages fetched are
 * dropped and never stored) until the first assignment or timeout_ms. */
static void kafka_consumer_finish_join(kafka_consumer *kc, int timeout_ms)
{
    int waited = 0;
    struct timeval start, now;

    if (!kafka_consumer_joining(kc))
        return;
    evutil_gettimeofday(&start, NULL);
    while (!kc->assigned && waited < timeout_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kc->rk, 50);
        if (m)
            rd_kafka_message_destroy(m);
        evutil_gettimeofday(&now, NULL);
        waited = (int)((now.tv_sec - start.tv_sec) * 1000 + (now.tv_usec - start.tv_usec) / 1000);
    }
    log_event(kc->assigned ? LOG_INFO : LOG_WARN, "kafka_close_finished_join", "{s:b, s:i}",
              "assigned", kc->assigned, "waited_ms", waited);
}

/* Leaves the group through a queue of our own, serving the final revoke
 * (kafka_on_rebalance) and the commit of the stored offsets, until done or
 * until timeout_ms; returns 1 if the close completed. rd_kafka_consumer_close
 * blocks without a bound while the coordinator does not answer. */
static int kafka_consumer_leave(kafka_consumer *kc, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(kc->rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(kc->rk, q);
    struct timeval start, now;
    int waited = 0, closed;

    if (error) {
        log_event(LOG_WARN, "kafka_consumer_close_failed", "{s:s}", "error",
                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    evutil_gettimeofday(&start, NULL);
    while (!(closed = rd_kafka_consumer_closed(kc->rk)) && waited < timeout_ms) {
        /* The close forwards the consumer's queue here, with messages
         * fetched ahead: served as callbacks they would abort librdkafka
         * (rd_kafka_q_serve: res != RD_KAFKA_OP_RES_PASS), so they are taken
         * and dropped (never processed, no offset stored: the group hands
         * them out again); the revoke and the commit run as callbacks. */
        rd_kafka_message_t *m = rd_kafka_consume_queue(q, 50);
        if (m)
            rd_kafka_message_destroy(m);
        evutil_gettimeofday(&now, NULL);
        waited = (int)((now.tv_sec - start.tv_sec) * 1000 + (now.tv_usec - start.tv_usec) / 1000);
    }
    rd_kafka_queue_destroy(q);
    return closed;
}

void kafka_consumer_close(kafka_consumer *kc)
{
    int released = 0, left;

    if (!kc || kc->closed)
        return;
    kc->closed = 1;
    kc->paused = 1;
    for (kafka_held *h = kc->out; h; h = h->next, released++)
        kafka_held_release(h);
    if (released > 0)
        log_event(LOG_WARN, "kafka_consumer_close_inflight", "{s:i, s:s}", "inflight", released,
                  "hint",
                  "messages not finished before shutdown are processed again after restart; "
                  "their offsets are not committed");
    if (kc->wake_ev)
        event_free(kc->wake_ev);
    if (kc->safety_ev)
        event_free(kc->safety_ev);
    kc->wake_ev = kc->safety_ev = NULL;
    if (kc->queue) {
        rd_kafka_queue_io_event_enable(kc->queue, -1, NULL, 0);
        rd_kafka_queue_destroy(kc->queue);
        kc->queue = NULL;
    }
    if (!kc->rk)
        return;
    kafka_consumer_finish_join(kc, KAFKA_JOIN_TIMEOUT_MS);
    left = kafka_consumer_leave(kc, KAFKA_CLOSE_TIMEOUT_MS);
    if (!left)
        log_event(LOG_WARN, "kafka_consumer_close_timeout", "{s:i, s:s}", "timeout_ms",
                  KAFKA_CLOSE_TIMEOUT_MS, "hint",
                  "the group did not answer in time: offsets stored since the last auto-commit "
                  "are not committed, so those messages are processed again after restart");
    /* Without the flag a consumer that did not close would try again here,
     * without a bound. */
    rd_kafka_destroy_flags(kc->rk, left ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    kc->rk = NULL;
}

void kafka_consumer_free(kafka_consumer *kc)
{
    if (!kc)
        return;
    kafka_consumer_close(kc);
    while (kc->out)
        kafka_held_forget(kc, kc->out);
    offsets_free(kc->parts);
    if (kc->pipe_rd >= 0)
        close(kc->pipe_rd);
    if (kc->pipe_wr >= 0)
        close(kc->pipe_wr);
    kafka_lag_free(&kc->lag);
    free(kc);
}

/* ---- producer ---------------------------------------------------------- */

struct kafka_producer {
    rd_kafka_t *rk;
    struct event *poll_ev; /* serves delivery reports */
    int outstanding;
    int broker_up;
    rd_kafka_resp_err_t last_error; /* of the last kafka_produce that returned -1 */
    kafka_fatal_state fatal;
    metric *m_queue; /* optional: messages in librdkafka's queues */
};

/* Per-message opaque: whom to tell about the delivery. */
typedef struct kafka_delivery {
    kafka_delivery_cb *cb;
    void *ctx;
} kafka_delivery;

static kafka_kv kafka_producer_defaults[] = {
    {"linger.ms", "5"},
};

static kafka_kv kafka_producer_fixed[] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    /* One request in flight per broker: a later batch can then never be
     * acknowledged ahead of an earlier one that failed, the case in which
     * librdkafka acks the earlier one implicitly and a leader change may have
     * lost it (kafka_delivery_confirmed below; docs/kafka.md). */
    {"max.in.flight.requests.per.connection", "1"},
};

/* A success without an offset is librdkafka's implicit ack: a later batch of
 * the partition was acknowledged, so the earlier one is taken as written.
 * But a partition leader that holds no state for a producer accepts that
 * producer's first batch whatever its sequence, so after a leader change
 * (a zombie leader, a new relay's first batches) the earlier batch can be in
 * no log at all: chaos_small_kafka lost events this way
 * (docs/kafka.md, "Implicit acks"). Reported to the caller as not confirmed,
 * so that it sends the message again: at worst a duplicate, which every
 * consumer drops by (order_id, seq). */
static rd_kafka_resp_err_t kafka_delivery_confirmed(const rd_kafka_message_t *rkm)
{
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR || rkm->offset >= 0)
        return rkm->err;
    log_event(LOG_WARN, "kafka_delivery_unconfirmed", "{s:s, s:i, s:s}", "topic",
              rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "", "partition", (int)rkm->partition,
              "action", "acknowledged without an offset (implicit ack): sent again");
    return KAFKA_ERR_UNCONFIRMED;
}

static void kafka_producer_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    kafka_producer *kp = opaque;
    kafka_delivery *d = rkm->_private;
    rd_kafka_resp_err_t err = kafka_delivery_confirmed(rkm);
    (void)rk;

    kp->outstanding--;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        kp->broker_up = 1;
    else /* the caller reports it, rate-limited (one line per message flooded logs) */
        log_event(LOG_DEBUG, "kafka_delivery_failed", "{s:s, s:s}", "topic",
                  rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "", "error", rd_kafka_err2str(err));
    if (d) {
        d->cb(err, d->ctx);
        free(d);
    }
}

static void kafka_producer_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_producer *kp = opaque;
    kafka_on_error(rk, err, reason, &kp->fatal, &kp->broker_up);
}

static int kafka_producer_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    kafka_producer *kp = opaque;
    json_t *root = json_loadb(json, len, 0, NULL);
    int up = root ? kafka_stats_broker_up(root) : -1;
    (void)rk;
    if (up >= 0)
        kp->broker_up = up;
    json_decref(root);
    return 0;
}

static void kafka_producer_on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
    kafka_producer *kp = arg;
    (void)fd;
    (void)what;
    rd_kafka_poll(kp->rk, 0);
    if (kp->m_queue)
        metric_set(kp->m_queue, rd_kafka_outq_len(kp->rk));
}

kafka_producer *kafka_producer_new(struct event_base *base, const config *cfg, char *err,
                                   size_t errlen)
{
    kafka_producer *kp = xcalloc(1, sizeof(*kp));
    rd_kafka_conf_t *conf;
    char errstr[512];
    struct timeval every = {0, KAFKA_DR_POLL_MS * 1000};

    if (!kp) {
        kafka_errf(err, errlen, "kafka: out of memory creating the producer");
        return NULL;
    }
    conf = kafka_conf_build(cfg, kp, kafka_producer_defaults, KAFKA_NELEM(kafka_producer_defaults),
                            kafka_producer_fixed, KAFKA_NELEM(kafka_producer_fixed), err, errlen);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_producer_on_delivery);
    rd_kafka_conf_set_error_cb(conf, kafka_producer_on_error);
    rd_kafka_conf_set_stats_cb(conf, kafka_producer_on_stats);
    kp->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!kp->rk) {
        rd_kafka_conf_destroy(conf);
        kafka_errf(err, errlen, "kafka: cannot create the producer: %s", errstr);
        goto fail;
    }
    rd_kafka_set_log_queue(kp->rk, NULL);
    kp->poll_ev = event_new(base, -1, EV_PERSIST, kafka_producer_on_poll_timer, kp);
    if (!kp->poll_ev || event_add(kp->poll_ev, &every) != 0) {
        kafka_errf(err, errlen, "kafka: cannot register the producer with the event loop");
        goto fail;
    }
    return kp;
fail:
    kafka_producer_free(kp, 0);
    return NULL;
}

static rd_kafka_resp_err_t kafka_producev(kafka_producer *kp, const char *topic, const void *key,
                                          size_t key_len, const void *value, size_t value_len,
                                          rd_kafka_headers_t *hdrs, kafka_delivery *d)
{
    if (hdrs)
        return rd_kafka_producev(
            kp->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    return rd_kafka_producev(kp->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(d),
                             RD_KAFKA_V_END);
}

int kafka_produce(kafka_producer *kp, const char *topic, const void *key, size_t key_len,
                  const void *value, size_t value_len, const kafka_header *headers, size_t nheaders,
                  kafka_delivery_cb *cb, void *ctx)
{
    rd_kafka_headers_t *hdrs = NULL;
    kafka_delivery *d = NULL;
    rd_kafka_resp_err_t err;
    int attempt = 0;

    if (cb) {
        d = xmalloc(sizeof(*d));
        d->cb = cb;
        d->ctx = ctx;
    }
    if (nheaders > 0) {
        /* Variable count: built as a list (RD_KAFKA_V_HEADERS); producev
         * takes ownership on success. */
        hdrs = rd_kafka_headers_new(nheaders);
        for (size_t i = 0; i < nheaders; i++)
            rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value,
                                (ssize_t)headers[i].len);
    }
    for (;;) {
        err = kafka_producev(kp, topic, key, key_len, value, value_len, hdrs, d);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || attempt++ >= KAFKA_QUEUE_FULL_RETRIES)
            break;
        /* Serving delivery reports frees queue space; note this may run
         * other messages' delivery callbacks from inside this call. */
        rd_kafka_poll(kp->rk, KAFKA_QUEUE_FULL_WAIT_MS);
    }
    if (err) {
        /* debug: the callers report it, rate-limited */
        log_event(LOG_DEBUG, "kafka_produce_failed", "{s:s, s:s, s:s}", "topic", topic, "error",
                  rd_kafka_err2str(err), "hint",
                  err == RD_KAFKA_RESP_ERR__QUEUE_FULL
                      ? "the local queue is full: the broker is slow or down "
                        "(queue.buffering.max.messages)"
                      : "check the topic name and message size");
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        free(d);
        kp->last_error = err;
        return -1;
    }
    kp->outstanding++;
    return 0;
}

int kafka_producer_outstanding(const kafka_producer *kp)
{
    return kp->outstanding;
}

rd_kafka_resp_err_t kafka_producer_last_error(const kafka_producer *kp)
{
    return kp->last_error;
}

int kafka_producer_ready(const kafka_producer *kp)
{
    return kp->broker_up;
}

size_t kafka_producer_max_message(const kafka_producer *kp)
{
    char buf[32];
    size_t len = sizeof(buf);
    /* librdkafka's default, should the lookup ever fail */
    if (rd_kafka_conf_get(rd_kafka_conf(kp->rk), "message.max.bytes", buf, &len) !=
        RD_KAFKA_CONF_OK)
        return 1000000;
    return (size_t)strtoull(buf, NULL, 10);
}

void kafka_producer_set_fatal_handler(kafka_producer *kp, kafka_fatal_fn *fn, void *ctx)
{
    kp->fatal.fn = fn;
    kp->fatal.ctx = ctx;
}

int kafka_producer_fatal_seen(const kafka_producer *kp)
{
    return kp->fatal.seen;
}

void kafka_producer_free(kafka_producer *kp, int timeout_ms)
{
    if (!kp)
        return;
    if (kp->poll_ev)
        event_free(kp->poll_ev);
    if (kp->rk) {
        /* flush serves delivery reports, so callbacks run from here. */
        rd_kafka_flush(kp->rk, timeout_ms);
        if (kp->outstanding > 0) {
            log_event(LOG_WARN, "kafka_producer_unflushed", "{s:i, s:s}", "outstanding",
                      kp->outstanding, "hint",
                      "messages not acknowledged before shutdown are reported as failed");
            rd_kafka_purge(kp->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            for (int i = 0; i < KAFKA_PURGE_SERVE_MS / 50 && kp->outstanding > 0; i++)
                rd_kafka_poll(kp->rk, 50);
        }
        rd_kafka_destroy(kp->rk);
    }
    free(kp);
}

int kafka_producer_topics_missing(kafka_producer *kp, const char *const *topics, char *missing,
                                  size_t len, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    /* all_topics=1: asking for named topics lets a producer auto-create
     * them on brokers that allow it, which would hide the missing topic */
    rd_kafka_resp_err_t err = rd_kafka_metadata(kp->rk, 1, NULL, &md, timeout_ms);
    int rc = 0;

    if (err) {
        kafka_errf(missing, len, "metadata request failed: %s", rd_kafka_err2str(err));
        return -1;
    }
    for (size_t i = 0; topics[i] && rc == 0; i++) {
        const rd_kafka_metadata_topic_t *found = NULL;
        for (int t = 0; t < md->topic_cnt && !found; t++)
            if (strcmp(md->topics[t].topic, topics[i]) == 0)
                found = &md->topics[t];
        if (!found || (!found->err && found->partition_cnt == 0)) {
            kafka_errf(missing, len, "%s", topics[i]);
            rc = 1;
        } else if (found->err) { /* listed, but e.g. not authorised */
            kafka_errf(missing, len, "%s: %s", topics[i], rd_kafka_err2str(found->err));
            rc = 2;
        }
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

void kafka_consumer_set_metrics(kafka_consumer *kc, metrics *m)
{
    size_t len = sizeof(kc->lag.group);
    if (kc->closed || rd_kafka_conf_get(rd_kafka_conf(kc->rk), "group.id", kc->lag.group, &len) !=
                          RD_KAFKA_CONF_OK)
        snprintf(kc->lag.group, sizeof(kc->lag.group), "-");
    kc->lag.m = m;
}

void kafka_producer_set_metrics(kafka_producer *kp, metrics *m)
{
    kp->m_queue = metrics_gauge(m, "kafka_producer_queue_depth", NULL,
                                "messages in the producer's queues (not yet acknowledged)");
}
