/* rxctl - the operator's command line: tokens, submitting prescriptions,
 * reading orders and the event topics. Talks to the same Kafka and Redis as
 * the services (RXD_KAFKA_BROKERS, RXD_REDIS_URL with RXD_REDIS_PASSWORD_FILE,
 * RXD_TOKEN_SECRET; flags override), through the same common code. */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "auth.h"
#include "config.h"
#include "ids.h"
#include "kafka.h"
#include "log.h"
#include "ops.h"
#include "orders_facts.h"
#include "rx.h"
#include "rxjson.h"
#include "store.h"
#include "mem.h"

static const char rxctl_usage[] =
    "usage:\n"
    "  rxctl token --role operator|desk|auditor|pharmacy|courier --id ID [--ttl SECONDS]\n"
    "  rxctl login-link --role R --id ID [--ttl SECONDS] [--token-ttl SECONDS] [--base URL]\n"
    "                                  a one-time link to the web pages that logs R/ID in\n"
    "                                  (the code lives --ttl s, default 600; docs/web.md)\n"
    "  rxctl submit FILE.json          produce a prescription (JSON) to rx.approved\n"
    "  rxctl cancel PRESCRIPTION_ID [--reason TEXT]\n"
    "  rxctl produce TOPIC KEY FILE    produce FILE's bytes unchanged (tests)\n"
    "  rxctl order ORDER_ID            an order's state and timeline\n"
    "  rxctl lookup PRESCRIPTION_ID    the order id of a prescription\n"
    "  rxctl events [--topic T] [--idle-ms MS] [--order ID]\n"
    "                                  print a topic from the start as JSON lines\n"
    "  rxctl replay-dlq [--match TEXT] [--dry-run 1] [--idle-ms MS]\n"
    "                                  produce dead letters again, unchanged, to their\n"
    "                                  source topic (rx.approved / rx.cancelled); only\n"
    "                                  letters older than the command are replayed\n"
    "  rxctl topics create [--partitions N] [--replication-factor R] [--min-insync-replicas M] "
    "TOPIC...\n"
    "                                  create topics (an existing one is left as it is)\n"
    "  rxctl metadata [--topic T --partition P --leader 1 | --group G --coordinator 1]\n"
    "                                  the cluster as JSON, a partition's leader, a group's "
    "coordinator\n"
    "  rxctl offsets rewind --group G --to-ms UNIX_MS TOPIC...\n"
    "                                  set a stopped group's offsets to the first message\n"
    "                                  at or after the time (after a Redis restore)\n"
    "  rxctl orders [--state S] [--older-than SECONDS] [--pharmacy P] [--courier C]\n"
    "               [--hospital H] [--prescription RX] [--limit N] [--cursor K]\n"
    "                                  list and search live orders (a page; next_cursor)\n"
    "  rxctl exceptions [--offset N] [--count N]   orders past a deadline, newest first\n"
    "  rxctl audit [--count N] [--before ID]       the operator actions, newest first\n"
    "  rxctl order-cancel|order-resend-code ORDER_ID --reason TEXT\n"
    "  rxctl order-reassign ORDER_ID --reason TEXT [--courier C]\n"
    "  rxctl order-reroute ORDER_ID --reason TEXT [--pharmacy P]\n"
    "  rxctl order-unlock ORDER_ID --reason TEXT --identity-checked 1\n"
    "  rxctl order-retry ORDER_ID --reason TEXT      a held or parked order, now\n"
    "                                  the operator's order actions (actor rxctl:$USER)\n"
    "  rxctl courier-bench|courier-unbench COURIER_ID --reason TEXT\n"
    "  rxctl pharmacy-open|pharmacy-close PHARMACY_ID --reason TEXT\n"
    "  rxctl zone-pause ZONE_ID --reason TEXT --kind circle --lat L --lon L --radius-m M\n"
    "  rxctl zone-pause ZONE_ID --reason TEXT --kind box --min-lat --min-lon --max-lat --max-lon\n"
    "  rxctl zone-resume ZONE_ID --reason TEXT\n"
    "  rxctl zones                     the paused zones and the orders each holds\n"
    "settings: RXD_KAFKA_BROKERS, RXD_REDIS_URL, RXD_REDIS_PASSWORD_FILE, RXD_TOKEN_SECRET,\n"
    "          RXD_WEB_URL (the web service's base URL, for login-link)\n"
    "          (or --kafka-brokers ...; the redis password only from the environment)\n";

typedef struct rxctl {
    config *cfg;
    struct event_base *base;
    int rc;
    int done;
    long long idle_ms;
    long long last_ms;
    const char *order_filter;
    const char *topic;
    kafka_consumer *kc;
    int ready;
} rxctl;

static long long rxctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rxctl_fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "rxctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 2;
}

int rxctl_token_mint(const config *cfg, const char *ttl_flag, long long ttl_default, char *tok,
                     size_t toklen)
{
    const char *secret = config_str(cfg, "TOKEN_SECRET", NULL);
    const char *role = config_str(cfg, "ROLE", NULL);
    const char *id = config_str(cfg, "ID", NULL);
    char err[256];
    long long ttl;
    auth_role r;
    if (!secret)
        return rxctl_fail("%sRXD_TOKEN_SECRET (or --token-secret) is not set", "");
    /* a ring signs with its first key: the current one during a rotation */
    if (auth_keys_check(secret, err, sizeof(err)) < 1)
        return rxctl_fail("RXD_TOKEN_SECRET: %s (docs/configuration.md)", err);
    if (!role || auth_role_parse(role, &r))
        return rxctl_fail("--role must be operator, desk, auditor, pharmacy or courier (got '%s')",
                          role ? role : "");
    if (config_int(cfg, ttl_flag, ttl_default, &ttl, err, sizeof(err)) || ttl <= 0 ||
        ttl > 10LL * 366 * 86400)
        return rxctl_fail("the token's ttl must be 1 second to 10 years, in seconds%s", "");
    if (!id || auth_token_make(secret, r, id, (long long)time(NULL) + ttl, tok, toklen) < 0)
        return rxctl_fail("--id must be " IDS_KEY_RULE
                          " (no ':', it separates key names; got '%s')",
                          id ? id : "");
    return 0;
}

static int rxctl_token(rxctl *c)
{
    char tok[512];
    int rc = rxctl_token_mint(c->cfg, "TTL", 3600, tok, sizeof(tok));
    if (rc == 0)
        printf("%s\n", tok);
    return rc;
}

/* ---- producing ---- */

static void rxctl_on_delivery(rd_kafka_resp_err_t err, void *ctx)
{
    rxctl *c = ctx;
    if (err) {
        fprintf(stderr, "rxctl: produce failed: %s\n", rd_kafka_err2str(err));
        c->rc = 1;
    } else {
        c->rc = 0;
    }
    event_base_loopexit(c->base, NULL);
}

static int rxctl_produce_bytes(rxctl *c, const char *topic, const char *key, const void *val,
                               size_t len)
{
    char err[512];
    kafka_producer *kp = kafka_producer_new(c->base, c->cfg, err, sizeof(err));
    if (!kp)
        return rxctl_fail("%s", err);
    if (kafka_produce(kp, topic, key, strlen(key), val, len, NULL, 0, rxctl_on_delivery, c)) {
        kafka_producer_free(kp, 0);
        return rxctl_fail("cannot queue the message for %s", topic);
    }
    struct timeval limit = {30, 0};
    event_base_loopexit(c->base, &limit);
    c->rc = -1;
    event_base_dispatch(c->base);
    kafka_producer_free(kp, 5000);
    if (c->rc < 0)
        return rxctl_fail("no delivery report from Kafka within 30 s (brokers: %s)",
                          config_str(c->cfg, "KAFKA_BROKERS", "127.0.0.1:9092"));
    return c->rc;
}

static char *rxctl_read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

static int rxctl_submit(rxctl *c, const char *path)
{
    json_error_t jerr;
    json_t *j =
        strcmp(path, "-") == 0 ? json_loadf(stdin, 0, &jerr) : json_load_file(path, 0, &jerr);
    if (!j) {
        fprintf(stderr, "rxctl: %s: invalid JSON at line %d: %s\n", path, jerr.line, jerr.text);
        return 2;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[256];
    if (rxjson_encode_approved(j, &buf, &len, why, sizeof(why))) {
        json_decref(j);
        return rxctl_fail("%s", why);
    }
    rx_approved *rx = rx_approved_decode(buf, len, why, sizeof(why));
    if (!rx && !config_str(c->cfg, "NO_VALIDATE", NULL)) {
        free(buf);
        json_decref(j);
        fprintf(stderr,
                "rxctl: the prescription breaks a rule: %s (--no-validate 1 sends it "
                "anyway, to the dead-letter topic)\n",
                why);
        return 2;
    }
    const char *key = json_string_value(json_object_get(j, "prescription_id"));
    int rc = rxctl_produce_bytes(c, config_str(c->cfg, "TOPIC_APPROVED", "rx.approved"),
                                 key ? key : "", buf, len);
    if (rc == 0)
        printf("submitted %s\n", key ? key : "");
    rx_approved_free(rx);
    free(buf);
    json_decref(j);
    return rc;
}

static int rxctl_cancel(rxctl *c, const char *pid)
{
    json_t *j = json_pack("{s:s, s:s, s:I}", "prescription_id", pid, "reason",
                          config_str(c->cfg, "REASON", "cancelled by operator"), "at_ms",
                          (json_int_t)rxctl_now_ms());
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[256];
    int rc = rxjson_encode_cancelled(j, &buf, &len, why, sizeof(why))
                 ? rxctl_fail("%s", why)
                 : rxctl_produce_bytes(c, config_str(c->cfg, "TOPIC_CANCELLED", "rx.cancelled"),
                                       pid, buf, len);
    free(buf);
    json_decref(j);
    return rc;
}

static int rxctl_produce_file(rxctl *c, const char *topic, const char *key, const char *path)
{
    size_t len;
    char *buf = rxctl_read_file(path, &len);
    if (!buf)
        return rxctl_fail("cannot read %s", path);
    int rc = rxctl_produce_bytes(c, topic, key, buf, len);
    free(buf);
    return rc;
}

/* ---- reading orders ---- */

static void rxctl_on_reply(void *ctx, const orders_result *res)
{
    rxctl *c = ctx;
    c->rc = ops_report(res, "");
    c->done = 1;
    event_base_loopexit(c->base, NULL);
}

static void rxctl_on_lookup(void *ctx, const orders_read *res)
{
    rxctl *c = ctx;
    if (res->failed || !res->found) {
        fprintf(stderr, "rxctl: %s\n",
                res->err ? res->err : "no order for that prescription (yet)");
        c->rc = 1;
    } else {
        printf("%s\n", res->value);
        c->rc = 0;
    }
    event_base_loopexit(c->base, NULL);
}

typedef struct rxctl_query {
    rxctl *c;
    store *st;
    orders *o;
    const char *what;
    const char *id;
} rxctl_query;

static void rxctl_on_connected(store *st, int connected, void *ctx)
{
    (void)st;
    rxctl_query *q = ctx;
    if (!connected || q->c->done)
        return;
    q->c->done = 1;
    int rc;
    if (strcmp(q->what, "order") == 0) {
        q->c->done = 0;
        rc = orders_get(q->o, q->id, rxctl_on_reply, q->c);
    } else {
        rc = orders_prescription_order(q->o, q->id, rxctl_on_lookup, q->c);
    }
    if (rc != 0) {
        fprintf(stderr, "rxctl: out of memory\n");
        q->c->rc = 1;
        event_base_loopexit(q->c->base, NULL);
    }
}

static int rxctl_query_run(rxctl *c, const char *what, const char *id)
{
    char err[256];
    /* an id is never a way into another key ("ord-1:tl") */
    if (strcmp(what, "order") == 0 && !ids_valid_key(id, strlen(id)))
        return rxctl_fail("order ids are " IDS_KEY_RULE " (got '%s')", id);
    if (strcmp(what, "order") != 0 && !ids_valid(id, strlen(id)))
        return rxctl_fail("prescription ids are " IDS_REF_RULE " (got '%s')", id);
    store *st = store_new(c->base, config_str(c->cfg, "REDIS_URL", "redis://127.0.0.1:6379"), 3000,
                          err, sizeof(err));
    if (!st)
        return rxctl_fail("%s", err);
    orders *o = orders_new(st, config_str(c->cfg, "REGION", "default"), err, sizeof(err));
    if (!o) {
        store_free(st);
        return rxctl_fail("%s", err);
    }
    rxctl_query q = {c, st, o, what, id};
    store_on_state(st, rxctl_on_connected, &q);
    c->rc = 1;
    struct timeval limit = {10, 0};
    event_base_loopexit(c->base, &limit);
    event_base_dispatch(c->base);
    if (c->rc && !c->done) {
        char shown[512];
        store_url_redact(config_str(c->cfg, "REDIS_URL", "redis://127.0.0.1:6379"), shown,
                         sizeof(shown));
        fprintf(stderr, "rxctl: redis at %s did not answer: %s\n", shown,
                store_why(st) ? store_why(st) : "no reply in 10 s");
    }
    orders_free(o);
    store_free(st);
    return c->rc;
}

/* ---- reading a topic ---- */

static json_t *rxctl_raw_json(kafka_msg *m)
{
    json_t *j = json_pack("{s:s%, s:i}", "key", m->key ? (const char *)m->key : "",
                          m->key ? m->key_len : 0, "value_bytes", (int)m->value_len);
    if (!j)
        j = json_pack("{s:i}", "value_bytes", (int)m->value_len);
    /* the bytes themselves, for a message type rxctl does not decode
     * (order.closed is read by the archive, not by rxctl) */
    char *hex = xmalloc(m->value_len * 2 + 1);
    if (hex) {
        for (size_t i = 0; i < m->value_len; i++)
            snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)m->value)[i]);
        hex[m->value_len * 2] = '\0';
        json_object_set_new(j, "value_hex", json_string(hex));
        free(hex);
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m->rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t vlen;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &vlen) == 0; i++)
            json_object_set_new(j, name, json_stringn(val ? val : "", val ? vlen : 0));
    }
    return j;
}

static void rxctl_on_message(kafka_msg *m, void *ctx)
{
    rxctl *c = ctx;
    c->last_ms = rxctl_now_ms();
    json_t *j = NULL;
    if (strcmp(c->topic, config_str(c->cfg, "TOPIC_EVENTS", "order.events")) == 0)
        j = rxjson_decode_event(m->value, m->value_len);
    else if (strcmp(c->topic, config_str(c->cfg, "TOPIC_NOTIFY", "patient.notify")) == 0)
        j = rxjson_decode_notice(m->value, m->value_len);
    if (!j)
        j = rxctl_raw_json(m);
    const char *oid = json_string_value(json_object_get(j, "order_id"));
    if (!c->order_filter || (oid && strcmp(oid, c->order_filter) == 0)) {
        json_object_set_new(j, "_partition", json_integer(m->partition));
        json_object_set_new(j, "_offset", json_integer(m->offset));
        /* when the message entered Kafka (producer time): the chaos run
         * measures how long an event waited in the outbox from it */
        json_object_set_new(j, "_timestamp_ms",
                            json_integer(rd_kafka_message_timestamp(m->rkm, NULL)));
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
    }
    json_decref(j);
    kafka_consumer_done(c->kc, m);
}

static void rxctl_on_idle_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rxctl *c = arg;
    if (!kafka_consumer_ready(c->kc) && rxctl_now_ms() - c->last_ms < 30000)
        return; /* the idle clock starts once the group has assigned partitions */
    if (!c->ready) {
        c->ready = 1;
        c->last_ms = rxctl_now_ms();
    }
    if (rxctl_now_ms() - c->last_ms > c->idle_ms)
        event_base_loopexit(c->base, NULL);
}

/* Runs the loop until the topic has been idle for c->idle_ms after the
 * group's assignment, then closes the consumer. */
static void rxctl_read_until_idle(rxctl *c)
{
    c->last_ms = rxctl_now_ms();
    struct event *idle = event_new(c->base, -1, EV_PERSIST, rxctl_on_idle_check, c);
    struct timeval tv = {0, 100000};
    event_add(idle, &tv);
    event_base_dispatch(c->base);
    event_free(idle);
    kafka_consumer_free(c->kc);
    c->kc = NULL;
}

static int rxctl_events(rxctl *c)
{
    char err[512], group[96];
    c->topic = config_str(c->cfg, "TOPIC", "order.events");
    c->order_filter = config_str(c->cfg, "ORDER", NULL);
    if (config_int(c->cfg, "IDLE_MS", 3000, &c->idle_ms, err, sizeof(err)))
        return rxctl_fail("%s", err);
    snprintf(group, sizeof(group), "rxctl-%d-%lld", (int)getpid(), rxctl_now_ms());
    const char *topics[] = {c->topic, NULL};
    kafka_consumer *kc =
        kafka_consumer_new(c->base, c->cfg, group, topics, rxctl_on_message, c, err, sizeof(err));
    c->kc = kc;
    if (!kc)
        return rxctl_fail("%s", err);
    rxctl_read_until_idle(c);
    fflush(stdout);
    return 0;
}

/* ---- replaying the dead-letter topic ---- */

/* Dead letters are the received bytes with headers `error` and
 * `source-topic` (docs/kafka.md, "Dead letters"); a letter with header
 * `truncated: 1` holds only a prefix and is never replayed. Replaying sends
 * the bytes unchanged to the source topic,
 * e.g. after a fix to validation; rx-router is idempotent by
 * prescription_id, so a replay twice does no harm, and input that is still
 * invalid comes back to the dead-letter topic. */
typedef struct rxctl_replay {
    rxctl *c;
    kafka_producer *kp;
    const char *match;
    int dry_run;
    int consuming;
    long long started_ms;
    long read, replayed, skipped, failed, pending;
} rxctl_replay;

static const char *rxctl_header(kafka_msg *m, const char *name, char *buf, size_t len)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val;
    size_t vlen;
    if (rd_kafka_message_headers(m->rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, name, &val, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR || !val)
        return NULL;
    snprintf(buf, len, "%.*s", (int)vlen, (const char *)val);
    return buf;
}

static void rxctl_on_replayed(rd_kafka_resp_err_t err, void *ctx)
{
    rxctl_replay *r = ctx;
    r->pending--;
    if (err) {
        fprintf(stderr, "rxctl: replay failed: %s\n", rd_kafka_err2str(err));
        r->failed++;
    } else {
        r->replayed++;
    }
    if (!r->consuming && r->pending == 0)
        event_base_loopexit(r->c->base, NULL);
}

static void rxctl_on_dead_letter(kafka_msg *m, void *ctx)
{
    rxctl_replay *r = ctx;
    rxctl *c = r->c;
    char error[256], source[256], cut[8];
    c->last_ms = rxctl_now_ms();
    r->read++;
    const char *why = rxctl_header(m, "error", error, sizeof(error));
    const char *to = rxctl_header(m, "source-topic", source, sizeof(source));
    const char *truncated = rxctl_header(m, "truncated", cut, sizeof(cut));
    /* only back to the inputs, never to a topic a header happens to name */
    int input = to && (strcmp(to, config_str(c->cfg, "TOPIC_APPROVED", "rx.approved")) == 0 ||
                       strcmp(to, config_str(c->cfg, "TOPIC_CANCELLED", "rx.cancelled")) == 0);
    /* a letter written after the replay started may be one of this replay's
     * own messages rejected again: replaying it would loop forever */
    const char *action = "replayed";
    int64_t at_ms = rd_kafka_message_timestamp(m->rkm, NULL);
    if (at_ms >= r->started_ms) {
        action = "skipped: newer than this replay";
        r->skipped++;
    } else if (truncated && strcmp(truncated, "1") == 0) {
        action = "skipped: truncated, the original is not in the letter";
        r->skipped++;
    } else if (!input) {
        action = "skipped: source-topic is not an input topic";
        r->skipped++;
    } else if (r->match && (!why || !strstr(why, r->match))) {
        action = "skipped: error does not match";
        r->skipped++;
    } else if (r->dry_run) {
        action = "would replay";
    } else if (kafka_produce(r->kp, to, m->key, m->key_len, m->value, m->value_len, NULL, 0,
                             rxctl_on_replayed, r)) {
        action = "failed: cannot queue";
        r->failed++;
    } else {
        r->pending++;
    }
    json_t *j =
        json_pack("{s:s%, s:s, s:s, s:i, s:I, s:s, s:I}", "key", m->key ? (const char *)m->key : "",
                  m->key ? m->key_len : 0, "error", why ? why : "", "source_topic", to ? to : "",
                  "_partition", (int)m->partition, "_offset", (json_int_t)m->offset, "action",
                  action, "_timestamp_ms", (json_int_t)at_ms);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(j);
    kafka_consumer_done(c->kc, m);
}

static int rxctl_replay_dlq(rxctl *c)
{
    char err[512], group[96];
    rxctl_replay r = {.c = c, .consuming = 1, .started_ms = rxctl_now_ms()};
    r.match = config_str(c->cfg, "MATCH", NULL);
    r.dry_run = strcmp(config_str(c->cfg, "DRY_RUN", "0"), "0") != 0;
    if (config_int(c->cfg, "IDLE_MS", 3000, &c->idle_ms, err, sizeof(err)))
        return rxctl_fail("%s", err);
    r.kp = kafka_producer_new(c->base, c->cfg, err, sizeof(err));
    if (!r.kp)
        return rxctl_fail("%s", err);
    snprintf(group, sizeof(group), "rxctl-replay-%d-%lld", (int)getpid(), rxctl_now_ms());
    const char *topics[] = {config_str(c->cfg, "TOPIC_DEADLETTER", "rx.deadletter"), NULL};
    c->kc = kafka_consumer_new(c->base, c->cfg, group, topics, rxctl_on_dead_letter, &r, err,
                               sizeof(err));
    if (!c->kc) {
        kafka_producer_free(r.kp, 0);
        return rxctl_fail("%s", err);
    }
    rxctl_read_until_idle(c);
    /* the topic is read: wait for the last delivery reports */
    r.consuming = 0;
    if (r.pending > 0) {
        struct timeval limit = {30, 0};
        event_base_loopexit(c->base, &limit);
        event_base_dispatch(c->base);
    }
    r.failed += r.pending;
    kafka_producer_free(r.kp, 5000);
    printf("{\"read\":%ld,\"replayed\":%ld,\"skipped\":%ld,\"failed\":%ld,\"dry_run\":%s}\n",
           r.read, r.replayed, r.skipped, r.failed, r.dry_run ? "true" : "false");
    fflush(stdout);
    return r.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    char err[256];
    rxctl c = {0};
    mem_init();
    log_init("rxctl", getenv("RXD_LOG_LEVEL") ? getenv("RXD_LOG_LEVEL") : "warn");
    c.cfg = config_new(argc, argv, err, sizeof(err));
    if (!c.cfg || config_argc(c.cfg) < 1) {
        fprintf(stderr, "%s%s", c.cfg ? "" : err, rxctl_usage);
        config_free(c.cfg);
        return 2;
    }
    c.base = event_base_new();
    const char *cmd = config_arg(c.cfg, 0);
    const char *a1 = config_arg(c.cfg, 1), *a2 = config_arg(c.cfg, 2), *a3 = config_arg(c.cfg, 3);
    int rc;
    if (strcmp(cmd, "token") == 0)
        rc = rxctl_token(&c);
    else if (strcmp(cmd, "submit") == 0 && a1)
        rc = rxctl_submit(&c, a1);
    else if (strcmp(cmd, "cancel") == 0 && a1)
        rc = rxctl_cancel(&c, a1);
    else if (strcmp(cmd, "produce") == 0 && a3)
        rc = rxctl_produce_file(&c, a1, a2, a3);
    else if ((strcmp(cmd, "order") == 0 || strcmp(cmd, "lookup") == 0) && a1)
        rc = rxctl_query_run(&c, cmd, a1);
    else if (strcmp(cmd, "events") == 0)
        rc = rxctl_events(&c);
    else if (strcmp(cmd, "replay-dlq") == 0)
        rc = rxctl_replay_dlq(&c);
    else if (strcmp(cmd, "topics") == 0 && a1 && strcmp(a1, "create") == 0)
        rc = admin_topics_create(c.cfg, 2);
    else if ((rc = ops_command(c.cfg, c.base)) >= 0)
        ;
    else if (strcmp(cmd, "metadata") == 0)
        rc = admin_metadata(c.cfg);
    else if (strcmp(cmd, "offsets") == 0 && a1 && strcmp(a1, "rewind") == 0)
        rc = admin_offsets_rewind(c.cfg, 2);
    else {
        fprintf(stderr, "rxctl: unknown command or missing argument\n%s", rxctl_usage);
        rc = 2;
    }
    const char *unread = config_unread_flag(c.cfg);
    if (unread && rc == 0)
        fprintf(stderr, "rxctl: warning: setting --%s was not used\n", unread);
    event_base_free(c.base);
    config_free(c.cfg);
    return rc;
}
