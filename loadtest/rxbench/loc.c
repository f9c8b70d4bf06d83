/* loc.c - couriers sending positions at a fixed total rate, spread round
 * robin over every courier, open loop through a pool of --conns keep-alive
 * connections: a request waits in the pool's queue when all connections are
 * busy, and its latency counts from when it was due. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define LOC_TICK_US 1000

typedef struct loc_run {
    bench *b;
    hist *h;
    long issued, total;
} loc_run;

typedef struct loc_req {
    loc_run *run;
    int64_t due_us;
} loc_req;

static void loc_on_reply(int status, json_t *body, void *ctx)
{
    (void)body;
    loc_req *q = ctx;
    hist_add(q->run->h, bench_now_us() - q->due_us);
    if (status == 200)
        q->run->b->loc_ok++;
    else
        q->run->b->loc_bad++;
    free(q);
}

static void loc_send(loc_run *run, int64_t due_us)
{
    bench *b = run->b;
    const bench_site *c = &b->co[run->issued % b->ncour];
    char path[160];
    snprintf(path, sizeof(path), "/v1/couriers/%s/location", c->id);
    loc_req *q = malloc(sizeof(*q));
    if (!q)
        return;
    q->run = run;
    q->due_us = due_us;
    /* strictly newer per courier, so every update is stored, not ignored */
    json_int_t ts = (json_int_t)(b->start_us / 1000 + run->issued / b->ncour + 1);
    json_t *body = json_pack("{s:f, s:f, s:I}", "lat", c->lat + 1e-5, "lon", c->lon, "ts_ms", ts);
    if (api_request(b->co_act, EVHTTP_REQ_PUT, path, c->token, body, loc_on_reply, q) != 0) {
        b->loc_bad++;
        free(q);
    }
}

static void loc_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loc_run *run = arg;
    bench *b = run->b;
    long due = (long)((double)(bench_now_us() - b->start_us) / 1e6 * b->rate) + 1;
    if (due > run->total)
        due = run->total;
    while (run->issued < due) {
        loc_send(run, b->start_us + (int64_t)((double)run->issued * 1e6 / b->rate));
        run->issued++;
    }
    if (run->issued >= run->total)
        event_del(b->tick);
}

int loc_start(bench *b, hist *h)
{
    if (b->ncour < 1)
        return -1;
    loc_run *run = calloc(1, sizeof(*run));
    if (!run)
        return -1;
    run->b = b;
    run->h = h;
    run->total = (long)(b->rate * (double)b->duration_s);
    b->loc = run;
    b->tick = event_new(b->base, -1, EV_PERSIST, loc_on_tick, run);
    b->start_us = bench_now_us();
    struct timeval tv = {0, LOC_TICK_US};
    return event_add(b->tick, &tv);
}
