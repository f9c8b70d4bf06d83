/* outbox.c - the outbox relay (see outbox.h).
 *
 * Order: entries of one topic are produced in stream order, and an entry is
 * deleted only once Kafka acknowledged it and no earlier entry of its topic
 * failed in the same pass. A failure (to enqueue, or in the delivery report)
 * holds the topic back: later entries of that topic are skipped, and once the
 * topic's backoff is over and nothing is in flight the relay reads the stream
 * again from its first entry (the first unacknowledged one), so nothing is
 * skipped for good and an order's events never overtake each other by a
 * re-send. Other topics go on meanwhile.
 *
 * Fencing: taking the lease increments <prefix>outbox:epoch in the same
 * script; the relay reads (and so produces) only through a script that
 * checks the epoch is still its own, and deletes only through one too. A
 * relay that lost the lease, however late it learns it, cannot delete an
 * entry or produce a new read; reports of what it had in flight are dropped. */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "log.h"
#include "outbox_acks.h"
#include "produce_health.h"
#include "rxdispatch.pb-c.h"
#include "stages.h"
#include "store.h"
#include "mem.h"

#define OUTBOX_BATCH 256
#define OUTBOX_INFLIGHT_MAX 20000
#define OUTBOX_LEASE_MS 6000
#define OUTBOX_BLOCK_MS 1000
#define OUTBOX_BLOCK_HELD_MS 100 /* while a held topic waits for its retry */

enum { OUTBOX_EV = 0, OUTBOX_PN = 1, OUTBOX_CL = 2, OUTBOX_NTOPICS = 3 };

/* Taking the lease and the next fencing token are one step. */
static const char outbox_acquire_lua[] =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then "
    "  return redis.call('INCR', KEYS[2]) end "
    "return 0";
static const char outbox_renew_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[3] then "
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
    "return 0";
static const char outbox_release_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";
static const char outbox_read_lua[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('FENCED stale epoch') "
    "end "
    "return redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', ARGV[3])";
static const char outbox_xdel_lua[] = "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end "
                                      "return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))";

/* The depth and the oldest entry's id in one step. */
static const char outbox_depth_lua[] =
    "local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1] "
    "return {redis.call('XLEN', KEYS[1]), first and first[1] or false}";

struct outbox_relay {
    struct event_base *base;
    store *cmd;  /* lease and fenced XDEL */
    store *tail; /* fenced reads and the blocking wait for new entries */
    kafka_producer *kp;
    char stream[128];
    char lease[128];
    char epoch_key[128];
    char region[40]; /* the region of the stream, from the prefix, for OrderEvent.region */
    char topics[OUTBOX_NTOPICS][128];
    char instance[128];
    int acquire_script, renew_script, release_script, xdel_script, read_script, depth_script;
    int leader;
    char epoch[24]; /* our fencing token while leader */
    unsigned term;  /* tags entries: reports of an older leadership are dropped */
    int stopping;
    int reading;
    int inflight;
    int xdels;                   /* XDELs sent and not answered */
    int releasing;               /* the lease's release sent and not answered */
    int rewind;                  /* entries were skipped: read again from the first */
    int held[OUTBOX_NTOPICS];    /* skip this topic until the rewind */
    int failed[OUTBOX_NTOPICS];  /* a delivery failed this pass: ack nothing later */
    int probing[OUTBOX_NTOPICS]; /* one entry of a failing topic in flight as a probe */
    produce_health health[OUTBOX_NTOPICS];
    char last_id[64];
    char **acked; /* ids delivered, waiting for XDEL */
    int nacked;
    struct event *lease_timer;
    struct event *flush_timer;
    struct event *retry_timer;
    metric *m_published, *m_failed, *m_unknown;
    stages *stages;
    metric *m_errors[OUTBOX_NTOPICS][2]; /* [topic][permanent] */
    metric *m_blocked[OUTBOX_NTOPICS];
    metric *m_depth, *m_oldest_age, *m_leader;
    int gauging; /* the depth query is in flight */
};

typedef struct outbox_entry {
    outbox_relay *r;
    char id[48];
    int topic;
    unsigned term;
    char *key;
    void *value;
    size_t len;
    /* an event's stage, observed once Kafka has it (stages.h) */
    int from, to;
    long long from_at_ms, at_ms, approved_ms;
} outbox_entry;

static void outbox_read_next(outbox_relay *r);

static long long outbox_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

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

/* The region is the hash tag of "rxd:{region}:": one stream per region, so
 * the stream a relay reads says which region its events come from, entries
 * written by older library versions included. */
static void outbox_region_from_prefix(const char *prefix, char *buf, size_t len)
{
    const char *a = strchr(prefix, '{'), *b = a ? strchr(a, '}') : NULL;
    if (!b)
        snprintf(buf, len, "default");
    else
        snprintf(buf, len, "%.*s", (int)(b - a - 1), a + 1);
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
    ev.region = e->r->region;
    ev.actor = (char *)outbox_field(f, "actor");
    if (*outbox_field(f, "plat")) {
        loc.lat = strtod(outbox_field(f, "plat"), NULL);
        loc.lon = strtod(outbox_field(f, "plon"), NULL);
        ev.pharmacy_location = &loc;
    }
    e->len = rxdispatch__v1__order_event__get_packed_size(&ev);
    e->value = xmalloc(e->len ? e->len : 1);
    rxdispatch__v1__order_event__pack(&ev, e->value);
    e->topic = OUTBOX_EV;
    e->key = xstrdup(ev.order_id);
    if (*outbox_field(f, "from")) {
        e->from = (int)outbox_state(outbox_field(f, "from"));
        e->to = (int)ev.state;
        e->from_at_ms = strtoll(outbox_field(f, "from_at"), NULL, 10);
        e->at_ms = ev.at_ms;
        e->approved_ms = strtoll(outbox_field(f, "approved"), NULL, 10);
    }
}

/* An operator action on a courier, a pharmacy or a zone (library 2.3,
 * emit_subject): an OrderEvent with no order, keyed "<subject>:<id>" so
 * that one subject's events stay in order on one partition. */
static void outbox_encode_subject(const redisReply *f, outbox_entry *e)
{
    Rxdispatch__V1__OrderEvent ev = RXDISPATCH__V1__ORDER_EVENT__INIT;
    const char *subject = outbox_field(f, "subject"), *id = outbox_field(f, "id");
    ev.order_id = "";
    ev.at_ms = strtoll(outbox_field(f, "at"), NULL, 10);
    ev.kind = (char *)outbox_field(f, "kind");
    ev.reason = (char *)outbox_field(f, "reason");
    ev.actor = (char *)outbox_field(f, "actor");
    ev.region = e->r->region;
    ev.subject_kind = (char *)subject;
    ev.subject_id = (char *)id;
    if (strcmp(subject, "courier") == 0)
        ev.courier_id = (char *)id;
    else if (strcmp(subject, "pharmacy") == 0)
        ev.pharmacy_id = (char *)id;
    e->len = rxdispatch__v1__order_event__get_packed_size(&ev);
    e->value = xmalloc(e->len ? e->len : 1);
    rxdispatch__v1__order_event__pack(&ev, e->value);
    e->topic = OUTBOX_EV;
    size_t klen = strlen(subject) + strlen(id) + 2;
    e->key = xmalloc(klen);
    snprintf(e->key, klen, "%s:%s", subject, id);
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
    e->value = xmalloc(e->len ? e->len : 1);
    rxdispatch__v1__patient_notice__pack(&pn, e->value);
    e->topic = OUTBOX_PN;
    e->key = xstrdup(*pn.patient_ref ? pn.patient_ref : pn.order_id);
}

/* ---- the closed record (order.closed) ---- */

static uint32_t outbox_u32(const char *s)
{
    return (uint32_t)strtoul(s, NULL, 10);
}

/* The parts of a closed record that the library writes as JSON, parsed
 * once; the message points into them until it is packed. */
typedef struct outbox_closed_parts {
    json_t *items, *times, *timeline, *tried;
} outbox_closed_parts;

/* A string member of a JSON object, "" when absent (protobuf-c packs no NULL). */
static char *outbox_json_str(const json_t *obj, const char *name)
{
    const char *v = json_string_value(json_object_get(obj, name));
    return (char *)(v ? v : "");
}

static json_t *outbox_json_field(const redisReply *f, const char *name, json_t *dflt)
{
    json_t *j = json_loads(outbox_field(f, name), JSON_DECODE_ANY, NULL);
    if (j)
        return j;
    return dflt;
}

static void outbox_closed_items(Rxdispatch__V1__OrderClosed *c, json_t *items)
{
    size_t n = json_is_array(items) ? json_array_size(items) : 0;
    c->items = xcalloc(n ? n : 1, sizeof(*c->items));
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        Rxdispatch__V1__Item *m = xcalloc(1, sizeof(*m));
        rxdispatch__v1__item__init(m);
        m->drug_code = outbox_json_str(it, "drug_code");
        m->name = outbox_json_str(it, "name");
        m->quantity = (uint32_t)json_integer_value(json_object_get(it, "quantity"));
        m->cold_chain = json_is_true(json_object_get(it, "cold_chain"));
        c->items[c->n_items++] = m;
    }
}

static void outbox_closed_times(Rxdispatch__V1__OrderClosed *c, json_t *times)
{
    size_t n = json_is_object(times) ? json_object_size(times) : 0;
    const char *state;
    json_t *at;
    c->state_times = xcalloc(n ? n : 1, sizeof(*c->state_times));
    json_object_foreach(times, state, at)
    {
        Rxdispatch__V1__StateTime *m = xcalloc(1, sizeof(*m));
        rxdispatch__v1__state_time__init(m);
        m->state = outbox_state(state);
        m->at_ms = (int64_t)json_number_value(at);
        c->state_times[c->n_state_times++] = m;
    }
}

/* The timeline, and from it how the pickup was proven. */
static void outbox_closed_timeline(Rxdispatch__V1__OrderClosed *c, json_t *tl)
{
    size_t n = json_is_array(tl) ? json_array_size(tl) : 0;
    c->timeline = xcalloc(n ? n : 1, sizeof(*c->timeline));
    c->pickup_proof = "";
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(tl, i);
        Rxdispatch__V1__TimelineEntry *m = xcalloc(1, sizeof(*m));
        rxdispatch__v1__timeline_entry__init(m);
        m->seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
        m->at_ms = (int64_t)json_number_value(json_object_get(e, "at_ms"));
        m->state = outbox_state(outbox_json_str(e, "state"));
        m->kind = outbox_json_str(e, "kind");
        m->pharmacy_id = outbox_json_str(e, "pharmacy");
        m->courier_id = outbox_json_str(e, "courier");
        m->reason = outbox_json_str(e, "reason");
        if (strcmp(m->kind, "picked_up") == 0)
            c->pickup_proof = *m->reason ? m->reason : "position";
        c->timeline[c->n_timeline++] = m;
    }
}

static void outbox_closed_tried(Rxdispatch__V1__OrderClosed *c, json_t *tried)
{
    size_t n = json_is_array(tried) ? json_array_size(tried) : 0;
    c->pharmacies_tried = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *ph = json_string_value(json_array_get(tried, i));
        if (ph)
            c->pharmacies_tried[c->n_pharmacies_tried++] = (char *)ph;
    }
}

static void outbox_closed_free(Rxdispatch__V1__OrderClosed *c, outbox_closed_parts *parts)
{
    for (size_t i = 0; i < c->n_items; i++)
        free(c->items[i]);
    for (size_t i = 0; i < c->n_state_times; i++)
        free(c->state_times[i]);
    for (size_t i = 0; i < c->n_timeline; i++)
        free(c->timeline[i]);
    free(c->items);
    free(c->state_times);
    free(c->timeline);
    free(c->pharmacies_tried);
    json_decref(parts->items);
    json_decref(parts->times);
    json_decref(parts->timeline);
    json_decref(parts->tried);
}

static void outbox_encode_closed(const redisReply *f, outbox_entry *e)
{
    Rxdispatch__V1__OrderClosed c = RXDISPATCH__V1__ORDER_CLOSED__INIT;
    Rxdispatch__V1__GeoPoint loc = RXDISPATCH__V1__GEO_POINT__INIT;
    outbox_closed_parts parts = {
        .items = outbox_json_field(f, "items", json_array()),
        .times = outbox_json_field(f, "times", json_object()),
        .timeline = outbox_json_field(f, "timeline", json_array()),
        .tried = outbox_json_field(f, "tried", json_array()),
    };
    c.order_id = (char *)outbox_field(f, "order_id");
    c.region = e->r->region;
    c.prescription_id = (char *)outbox_field(f, "rx");
    c.state = outbox_state(outbox_field(f, "state"));
    c.reason = (char *)outbox_field(f, "reason");
    c.closed_at_ms = strtoll(outbox_field(f, "at"), NULL, 10);
    c.patient_ref = (char *)outbox_field(f, "patient");
    c.delivery_address = (char *)outbox_field(f, "address");
    if (strcmp(outbox_field(f, "has_point"), "1") == 0) {
        loc.lat = strtod(outbox_field(f, "lat"), NULL);
        loc.lon = strtod(outbox_field(f, "lon"), NULL);
        c.delivery = &loc;
    }
    c.hospital_id = (char *)outbox_field(f, "hospital");
    c.nominated_pharmacy_id = (char *)outbox_field(f, "nominated");
    c.pharmacy_id = (char *)outbox_field(f, "pharmacy");
    c.courier_id = (char *)outbox_field(f, "courier");
    c.fulfilment = (Rxdispatch__V1__Fulfilment)atoi(outbox_field(f, "fulfilment"));
    c.priority = (Rxdispatch__V1__Priority)atoi(outbox_field(f, "priority"));
    c.cold_chain = atoi(outbox_field(f, "cold")) != 0;
    c.insurance_covered = atoi(outbox_field(f, "insurance")) != 0;
    c.approved_at_ms = strtoll(outbox_field(f, "approved_ms"), NULL, 10);
    c.expires_at_ms = strtoll(outbox_field(f, "expires_ms"), NULL, 10);
    c.created_at_ms = strtoll(outbox_field(f, "created_ms"), NULL, 10);
    c.attempts = outbox_u32(outbox_field(f, "attempt"));
    c.distance_m = outbox_u32(outbox_field(f, "dist_m"));
    c.courier_distance_m = outbox_u32(outbox_field(f, "c_dist_m"));
    c.last_seq = strtoull(outbox_field(f, "seq"), NULL, 10);
    c.wrong_codes = outbox_u32(outbox_field(f, "wrong_codes"));
    c.handover_code_verified = c.state == RXDISPATCH__V1__ORDER_STATE__DELIVERED;
    outbox_closed_items(&c, parts.items);
    outbox_closed_times(&c, parts.times);
    outbox_closed_timeline(&c, parts.timeline);
    outbox_closed_tried(&c, parts.tried);
    e->len = rxdispatch__v1__order_closed__get_packed_size(&c);
    e->value = xmalloc(e->len ? e->len : 1);
    rxdispatch__v1__order_closed__pack(&c, e->value);
    outbox_closed_free(&c, &parts);
    e->topic = OUTBOX_CL;
    e->key = xstrdup(outbox_field(f, "order_id"));
}

static void outbox_entry_free(outbox_entry *e)
{
    free(e->key);
    free(e->value);
    free(e);
}

/* ---- per-topic health ---- */

static void outbox_arm_retry(outbox_relay *r)
{
    long long now = outbox_now_ms(), wait = -1;
    for (int t = 0; t < OUTBOX_NTOPICS; t++)
        if (r->health[t].failing && (wait < 0 || r->health[t].retry_at_ms - now < wait))
            wait = r->health[t].retry_at_ms - now;
    if (wait < 0)
        return;
    if (wait < 1)
        wait = 1;
    struct timeval tv = {wait / 1000, (wait % 1000) * 1000};
    evtimer_add(r->retry_timer, &tv);
}

/* One line per topic when it starts failing; the rest is counted. */
static void outbox_topic_failed(outbox_relay *r, int t, rd_kafka_resp_err_t err, const char *stage)
{
    produce_health *h = &r->health[t];
    int permanent = produce_err_permanent(err);
    metric_add(r->m_failed, 1);
    metric_add(r->m_errors[t][permanent], 1);
    if (produce_health_fail(h, err, rd_kafka_err2str(err), outbox_now_ms())) {
        metric_set(r->m_blocked[t], 1);
        log_event(LOG_ERROR, "outbox_topic_failing", "{s:s, s:s, s:s, s:s, s:s}", "topic", h->topic,
                  "error", h->error, "class", permanent ? "permanent" : "retriable", "stage", stage,
                  "hint",
                  permanent ? "fix the topic (exists? ACL for this client? message size?); the "
                              "relay retries with backoff and sends every entry once it works"
                            : "the relay retries with backoff; entries wait in the outbox");
    }
    outbox_arm_retry(r);
}

static void outbox_topic_delivered(outbox_relay *r, int t)
{
    produce_health *h = &r->health[t];
    long long failures = h->since_summary;
    if (produce_health_ok(h)) {
        metric_set(r->m_blocked[t], 0);
        log_event(LOG_INFO, "outbox_topic_recovered", "{s:s, s:I}", "topic", h->topic,
                  "failures_since_last_line", (json_int_t)failures);
    }
}

static void outbox_log_summaries(outbox_relay *r)
{
    long long now = outbox_now_ms();
    for (int t = 0; t < OUTBOX_NTOPICS; t++) {
        produce_health *h = &r->health[t];
        long long n = h->since_summary;
        if (!produce_health_summary_due(h, now))
            continue;
        h->since_summary = 0;
        log_event(LOG_WARN, "outbox_topic_still_failing", "{s:s, s:s, s:I, s:I}", "topic", h->topic,
                  "error", h->error, "failures", (json_int_t)n, "backoff_ms",
                  (json_int_t)h->backoff_ms);
    }
}

static void outbox_health_reset(outbox_relay *r)
{
    for (int t = 0; t < OUTBOX_NTOPICS; t++) {
        produce_health_ok(&r->health[t]);
        metric_set(r->m_blocked[t], 0);
    }
}

/* ---- leadership ---- */

static void outbox_pass_reset(outbox_relay *r)
{
    r->rewind = 0;
    memset(r->held, 0, sizeof(r->held));
    memset(r->failed, 0, sizeof(r->failed));
    memset(r->probing, 0, sizeof(r->probing));
    snprintf(r->last_id, sizeof(r->last_id), "0-0");
}

static void outbox_drop_acked(outbox_relay *r)
{
    for (int i = 0; i < r->nacked; i++)
        free(r->acked[i]);
    r->nacked = 0;
}

/* The lease is gone (lost, expired or taken over): produce nothing more and
 * delete nothing; what is in flight is dropped when its report comes. */
static void outbox_fenced(outbox_relay *r, const char *why)
{
    if (!r->leader)
        return;
    r->leader = 0;
    r->term++;
    outbox_drop_acked(r);
    outbox_health_reset(r);
    log_event(LOG_WARN, "outbox_lease_lost", "{s:s, s:s, s:s, s:i, s:s}", "instance", r->instance,
              "epoch", r->epoch, "why", why, "in_flight", r->inflight, "hint",
              "entries not yet deleted are sent again by the next holder");
}

static void outbox_lead(outbox_relay *r, long long epoch)
{
    r->leader = 1;
    r->term++;
    snprintf(r->epoch, sizeof(r->epoch), "%lld", epoch);
    outbox_pass_reset(r);
    log_event(LOG_INFO, "outbox_lease_taken", "{s:s, s:I}", "instance", r->instance, "epoch",
              (json_int_t)epoch);
}

/* ---- deleting what Kafka acknowledged ---- */

static void outbox_on_xdel(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    outbox_relay *r = ctx;
    r->xdels--;
    if (err) /* the entries are sent again by a later relay: harmless */
        log_event(LOG_WARN, "outbox_xdel_failed", "{s:s}", "error", err);
    else if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer < 0)
        outbox_fenced(r, "delete refused: a newer relay holds the lease");
    outbox_read_next(r);
}

static void outbox_flush_acked(outbox_relay *r)
{
    if (r->nacked == 0 || !r->epoch[0])
        return;
    const char **argv = xmalloc(sizeof(char *) * (size_t)(r->nacked + 3));
    argv[0] = r->stream;
    argv[1] = r->epoch_key;
    argv[2] = r->epoch;
    for (int i = 0; i < r->nacked; i++)
        argv[3 + i] = r->acked[i];
    if (store_eval(r->cmd, r->xdel_script, outbox_on_xdel, r, 2, r->nacked + 3, argv, NULL) == 0)
        r->xdels++;
    free(argv);
    outbox_drop_acked(r);
}

static void outbox_on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    outbox_flush_acked(arg);
}

/* ---- producing ---- */

static void outbox_ack(outbox_relay *r, const char *id)
{
    r->acked = xrealloc(r->acked, sizeof(char *) * (size_t)(r->nacked + 1));
    r->acked[r->nacked++] = xstrdup(id);
    if (r->nacked >= OUTBOX_BATCH || r->stopping)
        outbox_flush_acked(r);
}

static void outbox_on_delivery(rd_kafka_resp_err_t err, void *ctx)
{
    outbox_entry *e = ctx;
    outbox_relay *r = e->r;
    int t = e->topic;
    r->inflight--;
    if (e->term != r->term) {
        /* sent under a lease we no longer hold: the new holder sends it */
    } else if (err) {
        r->failed[t] = r->held[t] = 1;
        r->probing[t] = 0;
        r->rewind = 1;
        outbox_topic_failed(r, t, err, "delivery");
    } else {
        metric_add(r->m_published, 1);
        if (e->from)
            stages_observe(r->stages, e->from, e->to, e->from_at_ms, e->at_ms, e->approved_ms);
        outbox_topic_delivered(r, t);
        r->probing[t] = 0;
        /* after a failure of its topic in this pass it is sent again with
         * the failed one, so the order of an order's events holds */
        if (!r->failed[t])
            outbox_ack(r, e->id);
    }
    outbox_entry_free(e);
    outbox_read_next(r);
}

/* Whether entry of topic t may be produced now; a topic that failed or
 * waits out its backoff is held, and the pass must be read again. */
static int outbox_may_send(outbox_relay *r, int t, long long now)
{
    produce_health *h = &r->health[t];
    if (r->held[t] || (h->failing && (produce_health_blocked(h, now) || r->probing[t]))) {
        r->held[t] = 1;
        r->rewind = 1;
        return 0;
    }
    r->probing[t] = h->failing; /* one try first, the rest once it went through */
    return 1;
}

/* Per outbox type ('t'), its topic and how its entry is encoded. */
typedef void outbox_encode_fn(const redisReply *f, outbox_entry *e);
static const struct {
    const char *type;
    int topic;
    outbox_encode_fn *encode;
} outbox_kinds[] = {
    {"ev", OUTBOX_EV, outbox_encode_event},
    {"pn", OUTBOX_PN, outbox_encode_notice},
    {"cl", OUTBOX_CL, outbox_encode_closed},
    {"op", OUTBOX_EV, outbox_encode_subject},
};

/* The kind of an entry's type: entries older than 't' were events; -1 for
 * a type a newer library writes and this build does not know. */
static int outbox_kind_of(const char *type)
{
    if (*type == '\0')
        return 0;
    for (int i = 0; i < (int)(sizeof(outbox_kinds) / sizeof(outbox_kinds[0])); i++)
        if (strcmp(type, outbox_kinds[i].type) == 0)
            return i;
    return -1;
}

/* During a rolling upgrade an older relay may hold the lease while a newer
 * library writes a new type: sending it to some other topic would publish
 * it where it does not belong, deleting it would lose it. It stays in the
 * stream (the outbox age alert shows it) until a newer relay takes over. */
static void outbox_skip_unknown(outbox_relay *r, const char *id, const char *type)
{
    if (metric_value(r->m_unknown) == 0)
        log_event(LOG_WARN, "outbox_unknown_type", "{s:s, s:s, s:s}", "entry", id, "type", type,
                  "action",
                  "left in the outbox for a relay that knows it: finish the rolling upgrade of "
                  "rx-router and dispatcher");
    metric_add(r->m_unknown, 1);
}

/* 0 when the entry was produced or skipped, -1 when it could not be queued:
 * the read stops there and the next one starts again at this entry. */
static int outbox_handle_entry(outbox_relay *r, const redisReply *ent, long long now)
{
    if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2)
        return 0;
    const char *id = ent->element[0]->str;
    const redisReply *fields = ent->element[1];
    const char *type = outbox_field(fields, "t");
    int k = outbox_kind_of(type);
    if (k < 0) {
        outbox_skip_unknown(r, id, type);
        snprintf(r->last_id, sizeof(r->last_id), "%s", id);
        return 0;
    }
    int t = outbox_kinds[k].topic;
    if (!outbox_may_send(r, t, now)) {
        snprintf(r->last_id, sizeof(r->last_id), "%s", id);
        return 0;
    }
    outbox_entry *e = xcalloc(1, sizeof(*e));
    e->r = r;
    e->term = r->term;
    snprintf(e->id, sizeof(e->id), "%s", id);
    outbox_kinds[k].encode(fields, e);
    if (kafka_produce(r->kp, r->topics[t], e->key, strlen(e->key), e->value, e->len, NULL, 0,
                      outbox_on_delivery, e) != 0) {
        r->probing[t] = 0;
        outbox_topic_failed(r, t, kafka_producer_last_error(r->kp), "enqueue");
        outbox_entry_free(e);
        return -1;
    }
    snprintf(r->last_id, sizeof(r->last_id), "%s", id);
    r->inflight++;
    return 0;
}

/* ---- reading ---- */

/* A rewind waits until every held topic may be tried again ... */
static int outbox_rewind_due(const outbox_relay *r, long long now)
{
    for (int t = 0; t < OUTBOX_NTOPICS; t++)
        if (r->held[t] && produce_health_blocked(&r->health[t], now))
            return 0;
    return 1;
}

/* ... and until nothing is in flight or waiting for its XDEL, so that the
 * read from the start sees exactly the entries not yet acknowledged. */
static int outbox_quiet(outbox_relay *r)
{
    outbox_flush_acked(r);
    return r->inflight == 0 && r->xdels == 0;
}

static void outbox_on_wait(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    (void)reply;
    outbox_relay *r = ctx;
    r->reading = 0;
    if (err) {
        if (!r->stopping)
            log_event(LOG_WARN, "outbox_read_failed", "{s:s}", "error", err);
        return; /* the lease timer starts reading again */
    }
    outbox_read_next(r);
}

/* Nothing after the cursor: block until the stream grows. */
static void outbox_wait(outbox_relay *r)
{
    int ms = r->rewind ? OUTBOX_BLOCK_HELD_MS : OUTBOX_BLOCK_MS;
    char block[16];
    snprintf(block, sizeof(block), "%d", ms);
    const char *argv[] = {"XREAD", "COUNT", "1", "BLOCK", block, "STREAMS", r->stream, r->last_id};
    r->reading = 1;
    store_cmd_argv_timeout(r->tail, ms + 4000, outbox_on_wait, r, 8, argv, NULL);
}

static void outbox_on_read(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    outbox_relay *r = ctx;
    r->reading = 0;
    if (err || !reply) {
        if (!r->stopping)
            log_event(LOG_WARN, "outbox_read_failed", "{s:s}", "error", err ? err : "?");
        return; /* the lease timer starts reading again */
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "FENCED", 6) == 0)
            outbox_fenced(r, "read refused: a newer relay holds the lease");
        else
            log_event(LOG_WARN, "outbox_read_failed", "{s:s}", "error", reply->str);
        return;
    }
    if (!r->leader || r->stopping || reply->type != REDIS_REPLY_ARRAY)
        return;
    if (reply->elements == 0) {
        outbox_wait(r);
        return;
    }
    long long now = outbox_now_ms();
    for (size_t i = 0; i < reply->elements; i++)
        if (outbox_handle_entry(r, reply->element[i], now) != 0)
            break;
    outbox_read_next(r);
}

static void outbox_read_next(outbox_relay *r)
{
    if (r->reading || !r->leader || r->stopping || r->inflight >= OUTBOX_INFLIGHT_MAX)
        return;
    if (r->rewind && outbox_rewind_due(r, outbox_now_ms())) {
        if (!outbox_quiet(r))
            return; /* the last report or XDEL reply calls again */
        outbox_pass_reset(r);
    }
    char count[16];
    snprintf(count, sizeof(count), "%d", OUTBOX_BATCH);
    const char *argv[] = {r->stream, r->epoch_key, r->epoch, r->last_id, count};
    r->reading = 1;
    store_eval(r->tail, r->read_script, outbox_on_read, r, 2, 5, argv, NULL);
}

static void outbox_on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    outbox_read_next(arg);
}

/* ---- the lease ---- */

static void outbox_on_lease(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    outbox_relay *r = ctx;
    int ok = !err && reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0;
    if (r->stopping)
        return;
    if (r->leader && !ok)
        outbox_fenced(r, err ? err : "lease renewal refused");
    else if (!r->leader && ok)
        outbox_lead(r, reply->integer);
    outbox_read_next(r);
}

/* ---- depth gauges: every instance reports them, leader or not, so the
 * backlog shows even while no relay holds the lease ---- */

static void outbox_on_depth(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    (void)err;
    outbox_relay *r = ctx;
    r->gauging = 0;
    /* {XLEN, first id or nil} from one script call: one round trip */
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER)
        return;
    metric_set(r->m_depth, (double)reply->element[0]->integer);
    const redisReply *first = reply->element[1];
    long long id_ms = first->type == REDIS_REPLY_STRING ? atoll(first->str) : 0;
    long long age = id_ms > 0 ? outbox_now_ms() - id_ms : 0;
    metric_set(r->m_oldest_age, age > 0 ? (double)age / 1000.0 : 0);
}

static void outbox_gauge(outbox_relay *r)
{
    metric_set(r->m_leader, r->leader);
    if (r->gauging)
        return;
    const char *argv[] = {r->stream};
    if (store_eval(r->cmd, r->depth_script, outbox_on_depth, r, 1, 1, argv, NULL) == 0)
        r->gauging = 1;
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
    outbox_log_summaries(r);
    outbox_gauge(r);
    if (r->leader) {
        const char *argv[] = {r->lease, r->epoch_key, r->instance, ms, r->epoch};
        store_eval(r->cmd, r->renew_script, outbox_on_lease, r, 2, 5, argv, NULL);
    } else {
        const char *argv[] = {r->lease, r->epoch_key, r->instance, ms};
        store_eval(r->cmd, r->acquire_script, outbox_on_lease, r, 2, 4, argv, NULL);
    }
}

static void outbox_metrics(outbox_relay *r, metrics *m)
{
    static const char *const cls[2] = {"retriable", "permanent"};
    char labels[256];
    r->m_published =
        metrics_counter(m, "outbox_published_total", NULL, "outbox entries acknowledged by Kafka");
    r->m_failed = metrics_counter(m, "outbox_produce_failures_total", NULL,
                                  "outbox entries whose produce failed and was retried");
    r->m_unknown = metrics_counter(m, "outbox_unknown_type_total", NULL,
                                   "outbox entries of a type this build does not relay (left in "
                                   "the stream for a newer relay)");
    for (int t = 0; t < OUTBOX_NTOPICS; t++) {
        for (int p = 0; p < 2; p++) {
            snprintf(labels, sizeof(labels), "topic=\"%s\",class=\"%s\"", r->topics[t], cls[p]);
            r->m_errors[t][p] = metrics_counter(m, "produce_errors_total", labels,
                                                "failed produces by topic and error class");
        }
        snprintf(labels, sizeof(labels), "topic=\"%s\"", r->topics[t]);
        r->m_blocked[t] = metrics_gauge(m, "produce_topic_blocked", labels,
                                        "1 while producing to the topic fails (held back)");
    }
    r->m_depth = metrics_gauge(m, "outbox_depth", NULL, "entries in the outbox stream (XLEN)");
    r->m_oldest_age = metrics_gauge(m, "outbox_oldest_age_seconds", NULL,
                                    "age of the outbox's oldest entry (from its stream id)");
    r->m_leader =
        metrics_gauge(m, "outbox_relay_leader", NULL, "1 while this process holds the relay lease");
    store_set_metrics(r->cmd, m, "outbox");
    store_set_metrics(r->tail, m, "outbox");
}

outbox_relay *outbox_relay_new(struct event_base *base, const outbox_config *cfg,
                               kafka_producer *kp, metrics *m, char *err, size_t errlen)
{
    outbox_relay *r = xcalloc(1, sizeof(*r));
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
    snprintf(r->epoch_key, sizeof(r->epoch_key), "%soutbox:epoch", cfg->prefix);
    outbox_region_from_prefix(cfg->prefix, r->region, sizeof(r->region));
    snprintf(r->topics[OUTBOX_EV], sizeof(r->topics[0]), "%s", cfg->events_topic);
    snprintf(r->topics[OUTBOX_PN], sizeof(r->topics[0]), "%s", cfg->notify_topic);
    snprintf(r->topics[OUTBOX_CL], sizeof(r->topics[0]), "%s", cfg->closed_topic);
    snprintf(r->instance, sizeof(r->instance), "%s", cfg->instance);
    for (int t = 0; t < OUTBOX_NTOPICS; t++)
        produce_health_init(&r->health[t], r->topics[t]);
    outbox_pass_reset(r);
    r->acquire_script = store_script_add(r->cmd, "outbox_acquire", outbox_acquire_lua);
    r->renew_script = store_script_add(r->cmd, "outbox_renew", outbox_renew_lua);
    r->release_script = store_script_add(r->cmd, "outbox_release", outbox_release_lua);
    r->xdel_script = store_script_add(r->cmd, "outbox_xdel", outbox_xdel_lua);
    r->read_script = store_script_add(r->tail, "outbox_read", outbox_read_lua);
    r->depth_script = store_script_add(r->cmd, "outbox_depth", outbox_depth_lua);
    outbox_metrics(r, m);
    r->stages = stages_new(m);
    struct timeval lease_tv = {1, 0}, flush_tv = {0, 20000};
    r->lease_timer = event_new(base, -1, EV_PERSIST, outbox_on_lease_timer, r);
    r->flush_timer = event_new(base, -1, EV_PERSIST, outbox_on_flush_timer, r);
    r->retry_timer = evtimer_new(base, outbox_on_retry_timer, r);
    event_add(r->lease_timer, &lease_tv);
    event_add(r->flush_timer, &flush_tv);
    event_active(r->lease_timer, EV_TIMEOUT, 0);
    return r;
}

static void outbox_on_release(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    (void)reply;
    outbox_relay *r = ctx;
    r->releasing = 0;
    if (err) /* the lease then ends by itself within OUTBOX_LEASE_MS */
        log_event(LOG_INFO, "outbox_release_failed", "{s:s}", "error", err);
}

void outbox_relay_stop(outbox_relay *r)
{
    if (r->stopping)
        return;
    r->stopping = 1;
    outbox_flush_acked(r);
    if (r->leader) {
        const char *argv[] = {r->lease, r->instance};
        if (store_eval(r->cmd, r->release_script, outbox_on_release, r, 1, 2, argv, NULL) == 0)
            r->releasing = 1;
    }
    r->leader = 0;
}

void outbox_relay_free(outbox_relay *r)
{
    if (!r)
        return;
    r->stopping = 1; /* the stores answer what is outstanding: read nothing more */
    if (r->lease_timer)
        event_free(r->lease_timer);
    if (r->flush_timer)
        event_free(r->flush_timer);
    if (r->retry_timer)
        event_free(r->retry_timer);
    store_free(r->tail);
    store_free(r->cmd);
    outbox_drop_acked(r);
    free(r->acked);
    stages_free(r->stages);
    free(r);
}

int outbox_relay_leader(const outbox_relay *r)
{
    return r->leader;
}

int outbox_relay_inflight(const outbox_relay *r)
{
    /* the deletions and the lease's release are sent on the loop: exiting
     * before they are answered would leave them unsent (the next holder
     * would send those entries again and wait out the lease) */
    return r->inflight + r->xdels + r->releasing;
}

const char *outbox_relay_failing(const outbox_relay *r, char *buf, size_t len)
{
    for (int t = 0; t < OUTBOX_NTOPICS; t++)
        if (r->leader && r->health[t].failing) {
            snprintf(buf, len, "produce to %s failing: %s", r->topics[t], r->health[t].error);
            return buf;
        }
    return NULL;
}

/* ---- waiting for acknowledgement ---- */

#define OUTBOX_ACKS_TICK_US 20000

struct outbox_acks {
    store *st;
    char stream[128];
    struct event *tick;
    int querying;
    outbox_ackq *q;
};

/* XINFO STREAM is a flat list of name/value pairs. */
static const redisReply *outbox_info_field(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1];
    return NULL;
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
            outbox_ackq_release(a->q, 1, (outbox_stream_id){0, 0}, (outbox_stream_id){0, 0});
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
        empty ? (outbox_stream_id){0, 0} : outbox_stream_id_parse(first->element[0]->str);
    outbox_ackq_release(a->q, empty, first_id, outbox_stream_id_parse(last->str));
}

static void outbox_on_acks_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    outbox_acks *a = arg;
    if (a->querying || outbox_ackq_pending(a->q) == 0)
        return;
    a->querying = 1;
    const char *argv[] = {"XINFO", "STREAM", a->stream};
    store_cmd_argv(a->st, outbox_on_info, a, 3, argv, NULL);
}

outbox_acks *outbox_acks_new(struct event_base *base, store *st, const char *prefix)
{
    outbox_acks *a = xcalloc(1, sizeof(*a));
    a->st = st;
    a->q = outbox_ackq_new();
    snprintf(a->stream, sizeof(a->stream), "%soutbox", prefix);
    a->tick = a->q ? event_new(base, -1, EV_PERSIST, outbox_on_acks_tick, a) : NULL;
    if (!a->tick) {
        outbox_ackq_free(a->q);
        free(a);
        return NULL;
    }
    struct timeval tv = {0, OUTBOX_ACKS_TICK_US};
    event_add(a->tick, &tv);
    return a;
}

void outbox_acks_wait(outbox_acks *a, outbox_acked_fn *fn, void *ctx)
{
    /* Without a waiter the message is never done: Kafka delivers it again
     * after a restart, as with a waiter dropped by outbox_acks_free. */
    if (outbox_ackq_push(a->q, fn, ctx) != 0)
        log_event(LOG_ERROR, "outbox_acks_out_of_memory", "{s:s}", "hint",
                  "the message is processed again after a restart; give the process more memory");
}

int outbox_acks_pending(const outbox_acks *a)
{
    return a ? outbox_ackq_pending(a->q) : 0;
}

void outbox_acks_free(outbox_acks *a)
{
    if (!a)
        return;
    event_free(a->tick);
    outbox_ackq_free(a->q);
    free(a);
}
