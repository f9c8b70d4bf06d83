/* rxprod.c - the upstream platform of a bench run: approved prescriptions
 * on rx.approved at a fixed rate, open loop (each one has a due time; a
 * 1 ms tick produces whatever is due, so a slow broker shows up as latency,
 * not as a lower rate). Every prescription is a home delivery of one common
 * drug to a random point in the box, so every pharmacy may take it. */
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "rxdispatch.pb-c.h"

#define RXPROD_TICK_US 1000

static void rxprod_on_delivery(rd_kafka_resp_err_t err, void *ctx)
{
    bench *b = ctx;
    if (err) {
        b->failed++;
        fprintf(stderr, "rxbench: producing a prescription failed: %s\n", rd_kafka_err2str(err));
    }
}

static void rxprod_on_warm_delivery(rd_kafka_resp_err_t err, void *ctx)
{
    bench *b = ctx;
    b->warm_acked = err ? -1 : 1;
}

/* n < 0: the warm-up prescription, which has no place in the run's results. */
static int rxprod_send(bench *b, rng *r, long n)
{
    char pid[96], patient[96];
    if (n < 0)
        snprintf(pid, sizeof(pid), "%s-warmup-%lld", b->run_id, (long long)(bench_now_us() / 1000));
    else
        snprintf(pid, sizeof(pid), "%s-%lld-rx-%ld", b->run_id, (long long)(b->start_us / 1000), n);
    snprintf(patient, sizeof(patient), "%s-pt-%ld", b->run_id, n);
    Rxdispatch__V1__PrescriptionApproved m = RXDISPATCH__V1__PRESCRIPTION_APPROVED__INIT;
    Rxdispatch__V1__GeoPoint pt = RXDISPATCH__V1__GEO_POINT__INIT;
    Rxdispatch__V1__Item item = RXDISPATCH__V1__ITEM__INIT;
    Rxdispatch__V1__Item *items[] = {&item};
    double m_per_deg = 111320.0;
    pt.lat = b->lat0 + (rng_unit(r) - 0.5) * b->box_km * 1000.0 / m_per_deg;
    pt.lon = b->lon0 +
             (rng_unit(r) - 0.5) * b->box_km * 1000.0 / (m_per_deg * cos(b->lat0 * M_PI / 180));
    item.drug_code = "PZN-04114918";
    item.name = "Amoxicillin 500 mg";
    item.quantity = 1;
    int64_t now_ms = bench_now_us() / 1000;
    m.prescription_id = pid;
    m.patient_ref = patient;
    m.delivery = &pt;
    m.delivery_address = "Benchmark Road 1";
    m.hospital_id = "hosp-1";
    m.items = items;
    m.n_items = 1;
    m.fulfilment = RXDISPATCH__V1__FULFILMENT__HOME_DELIVERY;
    m.priority = RXDISPATCH__V1__PRIORITY__NORMAL;
    m.approved_at_ms = now_ms;
    m.expires_at_ms = now_ms + 7 * 86400 * 1000LL;
    uint8_t buf[1024];
    size_t len = rxdispatch__v1__prescription_approved__get_packed_size(&m);
    if (len > sizeof(buf))
        return -1;
    rxdispatch__v1__prescription_approved__pack(&m, buf);
    return kafka_produce(b->kp, b->topic, pid, strlen(pid), buf, len, NULL, 0,
                         n < 0 ? rxprod_on_warm_delivery : rxprod_on_delivery, b);
}

static void rxprod_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bench *b = arg;
    long total = (long)(b->rate * (double)b->duration_s);
    int64_t now = bench_now_us();
    long due = (long)((double)(now - b->start_us) / 1e6 * b->rate) + 1;
    if (due > total)
        due = total;
    while (b->sent < due && !b->stopping) {
        b->intended_us[b->sent] = b->start_us + (int64_t)((double)b->sent * 1e6 / b->rate);
        if (rxprod_send(b, &b->rxr, b->sent) != 0)
            break; /* queue full: the backlog shows as latency */
        b->sent++;
    }
    if (b->sent >= total)
        event_del(b->tick);
}

int rxprod_init(bench *b, char *err, size_t errlen)
{
    long total = (long)(b->rate * (double)b->duration_s);
    b->intended_us = calloc((size_t)(total ? total : 1), sizeof(int64_t));
    b->kp = kafka_producer_new(b->base, b->cfg, err, errlen);
    if (!b->intended_us || !b->kp)
        return -1;
    rng_seed(&b->rxr, (uint64_t)b->seed, 7);
    /* one prescription through the whole path first: the first produce of
     * a new producer, and the first fetch after an idle spell, take their
     * time (about a second on the embedded broker) */
    return rxprod_send(b, &b->rxr, -1);
}

int rxprod_start(bench *b)
{
    b->tick = event_new(b->base, -1, EV_PERSIST, rxprod_on_tick, b);
    struct timeval tv = {0, RXPROD_TICK_US};
    b->start_us = bench_now_us();
    return event_add(b->tick, &tv);
}

/* ---- matching offers to their prescriptions ---- */

static redisContext *rxprod_redis(const bench *b, char *err, size_t errlen)
{
    char host[128] = "127.0.0.1";
    int port = 6379;
    if (sscanf(b->redis_url, "redis://%127[^:]:%d", host, &port) < 1) {
        snprintf(err, errlen, "RXD_REDIS_URL must look like redis://host:port");
        return NULL;
    }
    redisContext *c = redisConnect(host, port);
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect to redis at %s: %s", b->redis_url,
                 c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    return c;
}

/* The n of "<run>-<start_ms>-rx-<n>" of this run, or -1 (an order of an
 * earlier run still being offered). */
static long rxprod_index(const bench *b, const redisReply *r)
{
    char tag[96];
    snprintf(tag, sizeof(tag), "%s-%lld-rx-", b->run_id, (long long)(b->start_us / 1000));
    if (!r || r->type != REDIS_REPLY_STRING || strncmp(r->str, tag, strlen(tag)) != 0)
        return -1;
    const char *dash = strrchr(r->str, '-');
    long n = dash ? atol(dash + 1) : -1;
    return n >= 0 && n < b->sent ? n : -1;
}

long rxprod_offer_latency(bench *b, hist *h, char *err, size_t errlen)
{
    redisContext *c = rxprod_redis(b, err, errlen);
    if (!c)
        return -1;
    size_t i = 0, asked = 0;
    const char *oid;
    void *v;
    while (dict_next(b->orders, &i, &oid, &v)) {
        redisAppendCommand(c, "HGET rxd:{%s}:ord:%s rx", b->region, oid);
        asked++;
    }
    long matched = 0;
    i = 0;
    while (asked-- && dict_next(b->orders, &i, &oid, &v)) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            snprintf(err, errlen, "redis: %s", c->errstr);
            redisFree(c);
            return -1;
        }
        const bench_order *o = v;
        long n = rxprod_index(b, r);
        if (n >= 0 && o->offered_us) {
            hist_add(h, o->offered_us - b->intended_us[n]);
            matched++;
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return matched;
}
