/* bench.h - what rxbench's parts share: the settings, the loop, the drawn
 * city (pharmacies and couriers with their tokens), the HTTP pools and the
 * per-order records of a run. Owned by rxbench.c. */
#ifndef RXBENCH_BENCH_H
#define RXBENCH_BENCH_H

#include <event2/event.h>
#include <stdint.h>
#include <time.h>

#include "api.h"
#include "config.h"
#include "dict.h"
#include "hist.h"
#include "kafka.h"
#include "rng.h"

#define BENCH_ID_MAX 64
#define BENCH_TOKEN_MAX 256

typedef struct bench bench;

typedef struct bench_site {
    bench *b;
    char id[BENCH_ID_MAX + 1];
    double lat, lon;
    char token[BENCH_TOKEN_MAX];
    int pending; /* actions in flight before the next poll */
    int done;    /* a courier holding its one order polls no more */
} bench_site;

/* One order seen by the simulated actors (times in unix microseconds). */
typedef struct bench_order {
    int64_t offered_us;  /* its offer appeared in the pharmacy's long-poll */
    int64_t ready_us;    /* the pharmacy sent "ready" */
    int64_t assigned_us; /* the assignment appeared in the courier's long-poll */
} bench_order;

struct bench {
    const config *cfg;
    struct event_base *base;
    const char *mode, *run_id, *out;
    long long npharm, ncour, seed, duration_s, grace_s, conns, poll;
    double rate, box_km, lat0, lon0;
    const char *pharmacy_api, *courier_api, *secret, *topic, *redis_url, *region;
    bench_site *ph, *co;
    char op_token[BENCH_TOKEN_MAX];
    api *ph_poll, *ph_act, *co_poll, *co_act;
    kafka_producer *kp;
    dict *orders;         /* order id -> bench_order */
    int64_t *intended_us; /* when prescription n was due to be produced */
    long sent, failed, http_errors, want;
    long loc_ok, loc_bad; /* location updates answered */
    void *loc;            /* loc.c's run state */
    rng rxr;              /* draws the prescriptions */
    int64_t start_us;
    struct event *tick, *watch, *warmup;
    long warm_seen;  /* offers seen at the last warm-up check */
    int warm_acked;  /* the warm-up prescription: 1 acknowledged, -1 failed */
    int64_t warm_us; /* when that count last changed */
    int stopping;
};

static inline int64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* poll.c: pharmacies long-poll their offers (route: accept; dispatch: accept
 * then ready) and couriers long-poll their assignments. */
void poll_start_pharmacies(bench *b);
void poll_start_couriers(bench *b);
long poll_offered(const bench *b);
long poll_assigned(const bench *b);

/* rxprod.c: prescriptions on rx.approved at b->rate, open loop. init
 * creates the producer; start begins the schedule (once the producer is
 * ready, so that its start-up is not measured). */
int rxprod_init(bench *b, char *err, size_t errlen);
int rxprod_start(bench *b);
/* Fills h with offered_us - intended time for every offered order, reading
 * each order's prescription id from Redis. Returns how many were matched. */
long rxprod_offer_latency(bench *b, hist *h, char *err, size_t errlen);

/* loc.c: courier position updates at b->rate, open loop. */
int loc_start(bench *b, hist *h);

#endif
