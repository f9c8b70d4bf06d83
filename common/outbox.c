/* outbox.c - the outbox relay (see outbox.h). */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rxdispatch.pb-c.h"
#include "store.h"

#define OUTBOX_BATCH 256
#define OUTBOX_INFLIGHT_MAX 20000
#define OUTBOX_LEASE_MS 6000
#define OUTBOX_BLOCK_MS 1000

static const char outbox_renew_lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                       "  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
                                       "return 0";
static const char outbox_release_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

struct outbox_relay {
    struct event_base *base;
    store *cmd;  /* lease and XDEL */
    store *tail; /* the blocking XREAD */
    kafka_producer *kp;
    char stream[128];
    char lease[128];
    char events_topic[128];
    char notify_topic[128];
    char instance[128];
    int renew_script, release_script;
    int leader;
    int stopping;
    int reading;
    int inflight;
    char last_id[64];
    char **acked; /* ids delivered, waiting for XDEL */
    int nacked;
    struct event *lease_timer;
    struct event *flush_timer;
    metric *m_published, *m_failed;
};

typedef struct outbox_entry {
    outbox_relay *r;
    char id[48];
    char *topic;
    char *key;
    void *value;
    size_t len;
} outbox_entry;

static void outbox_read_next(outbox_relay *r);

static const char *outbox_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    return "";
}

static Rxdispatch__V1__OrderState outbox_state(const char *s)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value_by_name(&rxdispatch__v1__order_state__descriptor, s);
    return v ? (Rxdispatch__V1__OrderState)v->value
             : RXDISPATCH__V1__ORDER_STATE__STATE_UNSPECIFIED;
}

static void outbox_encode_event(const redisReply *f, outbox_entry *e)
{
    Rxdispatch__V1__OrderEvent ev = RXDISPATCH__V1__ORDER_EVENT__INIT;
    Rxdispatch__V1__GeoPoint loc = RXDISPATCH__V1__GEO_POINT__INIT;
    ev.order_id = (char *)outbox_field(f, "order_id");
    ev.prescription_id = (char *)outbox_field(f, "rx");
    ev.seq = strtoull(outbox_field(f, "seq"), NULL, 10);
    ev.at_ms = strtoll(outbox_field(f, "at"), NULL, 10);
    ev.state = outbox_state(outbox_field(f, "state"));
    ev.kind = (char *)outbox_field(f, "kind");
    ev.pharmacy_id = (char *)outbox_field(f, "pharmacy");
    ev.courier_id = (char *)outbox_field(f, "courier");
    ev.reason = (char *)outbox_field(f, "reason");
    ev.distance_m = (uint32_t)strtoul(outbox_field(f, "dist_m"), NULL, 10);
    ev.fulfilment = (Rxdispatch__V1__Fulfilment)atoi(outbox_field(f, "fulfilment"));
    ev.cold_chain = atoi(outbox_field(f, "cold")) != 0;
    ev.attempt = (uint32_t)atoi(outbox_field(f, "attempt"));
    ev.deadline_ms = strtoll(outbox_field(f, "deadline"), NULL, 10);
    ev.priority = (Rxdispatch__V1__Priority)atoi(outbox_field(f, "priority"));
    if (*outbox_field(f, "plat")) {
        loc.lat = strtod(outbox_field(f, "plat"), NULL);
        loc.lon = strtod(outbox_field(f, "plon"), NULL);
        ev.pharmacy_location = &loc;
    }
    e->len = rxdispatch__v1__order_event__get_packed_size(&ev);
    e->value = malloc(e->len ? e->len : 1);
    rxdispatch__v1__order_event__pack(&ev, e->value);
    e->topic = strdup(e->r->events_topic);
    e->key = strdup(ev.order_id);
}

static void outbox_encode_notice(const redisReply *f, outbox_entry *e)
{
    Rxdispatch__V1__PatientNotice pn = RXDISPATCH__V1__PATIENT_NOTICE__INIT;
    pn.order_id = (char *)outbox_field(f, "order_id");
    pn.prescription_id = (char *)outbox_field(f, "rx");
    pn.state = outbox_state(outbox_field(f, "state"));
    pn.patient_ref = (char *)outbox_field(f, "patient");
    pn.handover_code = (char *)outbox_field(f, "code");
    pn.at_ms = strtoll(outbox_field(f, "at"), NULL, 10);
    pn.reason = (char *)outbox_field(f, "reason");
    e->len = rxdispatch__v1__patient_notice__get_packed_size(&pn);
    e->value = malloc(e->len ? e->len : 1);
    rxdispatch__v1__patient_notice__pack(&pn, e->value);
    e->topic = strdup(e->r->notify_topic);
    e->key = strdup(*pn.patient_ref ? pn.patient_ref : pn.order_id);
}

static void outbox_entry_free(outbox_entry *e)
{
    free(e->topic);
    free(e->key);
    free(e->value);
    free(e);
}

static void outbox_on_xdel(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    (void)reply;
    (void)ctx;
    if (err) /* the entries are sent again by a later relay: harmless */
        log_event(LOG_WARN, "outbox_xdel_failed", "{s:s}", "error", err);
}

static void outbox_flush_acked(outbox_relay *r)
{
    if (r->nacked == 0)
        return;
    const char **argv = malloc(sizeof(char *) * (size_t)(r->nacked + 2));
    argv[0] = "XDEL";
    argv[1] = r->stream;
    for (int i = 0; i < r->nacked; i++)
        argv[2 + i] = r->acked[i];
    store_cmd_argv(r->cmd, outbox_on_xdel, r, r->nacked + 2, argv, NULL);
    free(argv);
    for (int i = 0; i < r->nacked; i++)
        free(r->acked[i]);
    r->nacked = 0;
}

static void outbox_on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    outbox_flush_acked(arg);
}

static int outbox_send(outbox_entry *e);

static void outbox_on_delivery(rd_kafka_resp_err_t err, void *ctx)
{
    outbox_entry *e = ctx;
    outbox_relay *r = e->r;
    if (err) {
        /* The idempotent producer already retried for message.timeout.ms:
         * try again rather than drop the event. */
        metric_add(r->m_failed, 1);
        log_event(LOG_WARN, "outbox_produce_failed", "{s:s, s:s}", "id", e->id, "error",
                  rd_kafka_err2str(err));
        if (outbox_send(e) == 0)
            return;
    } else {
        metric_add(r->m_published, 1);
        r->acked = realloc(r->acked, sizeof(char *) * (size_t)(r->nacked + 1));
        r->acked[r->nacked++] = strdup(e->id);
        if (r->nacked >= OUTBOX_BATCH || r->stopping)
            outbox_flush_acked(r);
    }
    r->inflight--;
    outbox_entry_free(e);
    if (!r->reading && r->leader)
        outbox_read_next(r);
}

static int outbox_send(outbox_entry *e)
{
    return kafka_produce(e->r->kp, e->topic, e->key, strlen(e->key), e->value, e->len, NULL, 0,
                         outbox_on_delivery, e);
}

static void outbox_handle_entry(outbox_relay *r, const redisReply *ent)
{
    if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2)
        return;
    const redisReply *fields = ent->element[1];
    outbox_entry *e = calloc(1, sizeof(*e));
    e->r = r;
    snprintf(e->id, sizeof(e->id), "%s", ent->element[0]->str);
    snprintf(r->last_id, sizeof(r->last_id), "%s", e->id);
    if (strcmp(outbox_field(fields, "t"), "pn") == 0)
        outbox_encode_notice(fields, e);
    else
        outbox_encode_event(fields, e);
    if (outbox_send(e) != 0) {
        /* The local queue is full: leave the entry for the next pass. */
        log_event(LOG_WARN, "outbox_queue_full", "{s:s}", "id", e->id);
        outbox_entry_free(e);
        snprintf(r->last_id, sizeof(r->last_id), "0");
        return;
    }
    r->inflight++;
}

static void outbox_on_xread(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    outbox_relay *r = ctx;
    r->reading = 0;
    if (err || !reply || reply->type == REDIS_REPLY_ERROR) {
        log_event(LOG_WARN, "outbox_read_failed", "{s:s}", "error",
                  err     ? err
                  : reply ? reply->str
                          : "?");
        return; /* the lease timer starts reading again */
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1) {
        const redisReply *entries = reply->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++)
            outbox_handle_entry(r, entries->element[i]);
    }
    if (r->leader)
        outbox_read_next(r);
}

static void outbox_read_next(outbox_relay *r)
{
    if (r->reading || !r->leader || r->inflight >= OUTBOX_INFLIGHT_MAX)
        return;
    char count[16], block[16];
    snprintf(count, sizeof(count), "%d", OUTBOX_BATCH);
    snprintf(block, sizeof(block), "%d", OUTBOX_BLOCK_MS);
    const char *argv[] = {"XREAD", "COUNT",   count,     "BLOCK",
                          block,   "STREAMS", r->stream, r->last_id};
    r->reading = 1;
    store_cmd_argv_timeout(r->tail, OUTBOX_BLOCK_MS + 4000, outbox_on_xread, r, 8, argv, NULL);
}

static void outbox_on_lease(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    outbox_relay *r = ctx;
    int held = !err && reply &&
               ((reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0) ||
                (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1));
    if (r->stopping)
        return;
    if (held && !r->leader) {
        r->leader = 1;
        snprintf(r->last_id, sizeof(r->last_id), "0");
        log_event(LOG_INFO, "outbox_lease_taken", "{s:s}", "instance", r->instance);
    } else if (!held && r->leader) {
        r->leader = 0;
        log_event(LOG_WARN, "outbox_lease_lost", "{s:s}", "instance", r->instance);
    }
    if (r->leader)
        outbox_read_next(r);
}

static void outbox_on_lease_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    outbox_relay *r = arg;
    if (r->stopping)
        return;
    char ms[16];
    snprintf(ms, sizeof(ms), "%d", OUTBOX_LEASE_MS);
    if (r->leader) {
        const char *argv[] = {r->lease, r->instance, ms};
        store_eval(r->cmd, r->renew_script, outbox_on_lease, r, 1, 3, argv, NULL);
    } else {
        const char *argv[] = {"SET", r->lease, r->instance, "NX", "PX", ms};
        store_cmd_argv(r->cmd, outbox_on_lease, r, 6, argv, NULL);
    }
}

outbox_relay *outbox_relay_new(struct event_base *base, const outbox_config *cfg,
                               kafka_producer *kp, metrics *m, char *err, size_t errlen)
{
    outbox_relay *r = calloc(1, sizeof(*r));
    r->base = base;
    r->kp = kp;
    r->cmd = store_new(base, cfg->redis_url, cfg->redis_timeout_ms, err, errlen);
    r->tail = r->cmd ? store_new(base, cfg->redis_url, cfg->redis_timeout_ms, err, errlen) : NULL;
    if (!r->tail) {
        outbox_relay_free(r);
        return NULL;
    }
    snprintf(r->stream, sizeof(r->stream), "%soutbox", cfg->prefix);
    snprintf(r->lease, sizeof(r->lease), "%soutbox:lease", cfg->prefix);
    snprintf(r->events_topic, sizeof(r->events_topic), "%s", cfg->events_topic);
    snprintf(r->notify_topic, sizeof(r->notify_topic), "%s", cfg->notify_topic);
    snprintf(r->instance, sizeof(r->instance), "%s", cfg->instance);
    snprintf(r->last_id, sizeof(r->last_id), "0");
    r->renew_script = store_script_add(r->cmd, "outbox_renew", outbox_renew_lua);
    r->release_script = store_script_add(r->cmd, "outbox_release", outbox_release_lua);
    r->m_published =
        metrics_counter(m, "outbox_published_total", NULL, "outbox entries acknowledged by Kafka");
    r->m_failed = metrics_counter(m, "outbox_produce_failures_total", NULL,
                                  "outbox entries whose produce failed and was retried");
    struct timeval lease_tv = {1, 0}, flush_tv = {0, 20000};
    r->lease_timer = event_new(base, -1, EV_PERSIST, outbox_on_lease_timer, r);
    r->flush_timer = event_new(base, -1, EV_PERSIST, outbox_on_flush_timer, r);
    event_add(r->lease_timer, &lease_tv);
    event_add(r->flush_timer, &flush_tv);
    event_active(r->lease_timer, EV_TIMEOUT, 0);
    return r;
}

void outbox_relay_stop(outbox_relay *r)
{
    if (r->stopping)
        return;
    r->stopping = 1;
    outbox_flush_acked(r);
    if (r->leader) {
        const char *argv[] = {r->lease, r->instance};
        store_eval(r->cmd, r->release_script, outbox_on_xdel, r, 1, 2, argv, NULL);
    }
    r->leader = 0;
}

void outbox_relay_free(outbox_relay *r)
{
    if (!r)
        return;
    if (r->lease_timer)
        event_free(r->lease_timer);
    if (r->flush_timer)
        event_free(r->flush_timer);
    store_free(r->tail);
    store_free(r->cmd);
    for (int i = 0; i < r->nacked; i++)
        free(r->acked[i]);
    free(r->acked);
    free(r);
}

int outbox_relay_leader(const outbox_relay *r)
{
    return r->leader;
}

int outbox_relay_inflight(const outbox_relay *r)
{
    return r->inflight;
}

/* ---- waiting for acknowledgement ---- */

#define OUTBOX_ACKS_TICK_US 20000

typedef struct outbox_stream_id {
    unsigned long long ms, seq;
} outbox_stream_id;

typedef struct outbox_waiter {
    outbox_acked_fn *fn;
    void *ctx;
    int has_target;
    outbox_stream_id target; /* the stream's last id when the work was done */
    struct outbox_waiter *next;
} outbox_waiter;

struct outbox_acks {
    store *st;
    char stream[128];
    struct event *tick;
    int querying;
    int pending;
    outbox_waiter *head, **tail;
};

static outbox_stream_id outbox_id_parse(const char *s)
{
    outbox_stream_id id = {0, 0};
    char *end;
    id.ms = strtoull(s, &end, 10);
    if (*end == '-')
        id.seq = strtoull(end + 1, NULL, 10);
    return id;
}

static int outbox_id_less(outbox_stream_id a, outbox_stream_id b)
{
    return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq);
}

/* XINFO STREAM is a flat list of name/value pairs. */
static const redisReply *outbox_info_field(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1];
    return NULL;
}

/* Releases, in order, the waiters whose target lies before the oldest entry
 * still in the stream (all of them when the stream is empty). */
static void outbox_acks_release(outbox_acks *a, int empty, outbox_stream_id first,
                                outbox_stream_id last)
{
    for (outbox_waiter *w = a->head; w; w = w->next)
        if (!w->has_target) {
            w->target = last;
            w->has_target = 1;
        }
    while (a->head && (empty || outbox_id_less(a->head->target, first))) {
        outbox_waiter *w = a->head;
        a->head = w->next;
        if (!a->head)
            a->tail = &a->head;
        a->pending--;
        w->fn(w->ctx);
        free(w);
    }
}

static void outbox_on_info(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    outbox_acks *a = ctx;
    a->querying = 0;
    if (err || !reply)
        return; /* next tick asks again */
    if (reply->type == REDIS_REPLY_ERROR) {
        /* no stream yet: nothing was ever written, nothing to wait for */
        if (strstr(reply->str, "no such key"))
            outbox_acks_release(a, 1, (outbox_stream_id){0, 0}, (outbox_stream_id){0, 0});
        return;
    }
    const redisReply *last = outbox_info_field(reply, "last-generated-id");
    const redisReply *first = outbox_info_field(reply, "first-entry");
    const redisReply *len = outbox_info_field(reply, "length");
    if (!last || last->type != REDIS_REPLY_STRING)
        return;
    int empty = (len && len->type == REDIS_REPLY_INTEGER && len->integer == 0) || !first ||
                first->type != REDIS_REPLY_ARRAY || first->elements < 1;
    outbox_stream_id first_id =
        empty ? (outbox_stream_id){0, 0} : outbox_id_parse(first->element[0]->str);
    outbox_acks_release(a, empty, first_id, outbox_id_parse(last->str));
}

static void outbox_on_acks_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    outbox_acks *a = arg;
    if (a->querying || !a->head)
        return;
    a->querying = 1;
    const char *argv[] = {"XINFO", "STREAM", a->stream};
    store_cmd_argv(a->st, outbox_on_info, a, 3, argv, NULL);
}

outbox_acks *outbox_acks_new(struct event_base *base, store *st, const char *prefix)
{
    outbox_acks *a = calloc(1, sizeof(*a));
    a->st = st;
    a->tail = &a->head;
    snprintf(a->stream, sizeof(a->stream), "%soutbox", prefix);
    a->tick = event_new(base, -1, EV_PERSIST, outbox_on_acks_tick, a);
    struct timeval tv = {0, OUTBOX_ACKS_TICK_US};
    event_add(a->tick, &tv);
    return a;
}

void outbox_acks_wait(outbox_acks *a, outbox_acked_fn *fn, void *ctx)
{
    outbox_waiter *w = calloc(1, sizeof(*w));
    w->fn = fn;
    w->ctx = ctx;
    *a->tail = w;
    a->tail = &w->next;
    a->pending++;
}

int outbox_acks_pending(const outbox_acks *a)
{
    return a ? a->pending : 0;
}

void outbox_acks_free(outbox_acks *a)
{
    if (!a)
        return;
    event_free(a->tick);
    while (a->head) {
        outbox_waiter *w = a->head;
        a->head = w->next;
        free(w);
    }
    free(a);
}
