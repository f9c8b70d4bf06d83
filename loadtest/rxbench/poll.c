/* poll.c - the simulated pharmacies and couriers of a bench run. Each has
 * its own long-poll connection (a shared pool would queue polls and add
 * its own delay to what is measured). A pharmacy accepts every new offer
 * (and in dispatch mode marks it ready at once) and polls again when its
 * actions are answered; a courier holds one order: it accepts its first
 * assignment and polls no more. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define POLL_WAIT_S 30

typedef struct poll_action {
    bench *b;
    bench_site *site;
    char oid[BENCH_ID_MAX + 1];
} poll_action;

static void poll_pharmacy(bench *b, bench_site *p);
static void poll_courier(bench *b, bench_site *c);

static long poll_count(const bench *b, int assigned)
{
    long n = 0;
    size_t i = 0;
    const char *k;
    void *v;
    while (dict_next(b->orders, &i, &k, &v)) {
        const bench_order *o = v;
        n += assigned ? o->assigned_us != 0 : o->offered_us != 0;
    }
    return n;
}

long poll_offered(const bench *b)
{
    return poll_count(b, 0);
}

long poll_assigned(const bench *b)
{
    return poll_count(b, 1);
}

static bench_order *poll_order(bench *b, const char *oid)
{
    bench_order *o = dict_get(b->orders, oid);
    if (!o) {
        o = calloc(1, sizeof(*o));
        if (!o || dict_set(b->orders, oid, o) != 0) {
            free(o);
            return NULL;
        }
    }
    return o;
}

static poll_action *poll_action_new(bench *b, bench_site *site, const char *oid)
{
    poll_action *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->b = b;
    a->site = site;
    snprintf(a->oid, sizeof(a->oid), "%s", oid);
    site->pending++;
    return a;
}

/* The last answer to a pharmacy's actions sends it back to its poll. */
static void poll_action_done(poll_action *a, int status)
{
    bench *b = a->b;
    if (status != 200)
        b->http_errors++;
    if (--a->site->pending == 0 && !b->stopping)
        poll_pharmacy(b, a->site);
    free(a);
}

static void poll_on_ready(int status, json_t *body, void *ctx)
{
    (void)body;
    poll_action_done(ctx, status);
}

static void poll_on_accepted(int status, json_t *body, void *ctx)
{
    (void)body;
    poll_action *a = ctx;
    bench *b = a->b;
    if (status == 200 && strcmp(b->mode, "dispatch") == 0) {
        char path[160];
        snprintf(path, sizeof(path), "/v1/orders/%s/ready", a->oid);
        bench_order *o = dict_get(b->orders, a->oid);
        if (o)
            o->ready_us = bench_now_us();
        if (api_request(b->ph_act, EVHTTP_REQ_POST, path, a->site->token, NULL, poll_on_ready, a) ==
            0)
            return;
    }
    poll_action_done(a, status);
}

static void poll_accept(bench *b, bench_site *p, const char *oid)
{
    char path[160];
    poll_action *a = poll_action_new(b, p, oid);
    if (!a)
        return;
    snprintf(path, sizeof(path), "/v1/orders/%s/accept", oid);
    if (api_request(b->ph_act, EVHTTP_REQ_POST, path, p->token, NULL, poll_on_accepted, a) != 0) {
        p->pending--;
        free(a);
    }
}

typedef void poll_act_fn(bench *b, bench_site *s, const char *oid);

/* A long-poll answered with {field: [{"order_id": ...}, ...]}: stamps each
 * order not seen before (the stamp chosen by which) and acts on it. */
static void poll_take(bench_site *s, int status, json_t *body, const char *field, int assigned,
                      poll_act_fn *act)
{
    bench *b = s->b;
    int64_t now = bench_now_us();
    if (status != 200)
        b->http_errors++;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(body, field), i, it)
    {
        const char *oid = json_string_value(json_object_get(it, "order_id"));
        bench_order *o = oid ? poll_order(b, oid) : NULL;
        int64_t *stamp = o ? (assigned ? &o->assigned_us : &o->offered_us) : NULL;
        if (!stamp || *stamp)
            continue;
        *stamp = now;
        act(b, s, oid);
    }
}

/* A pharmacy's poll answered: note and accept the offers it had not seen. */
static void poll_on_offers(int status, json_t *body, void *ctx)
{
    bench_site *p = ctx;
    bench *b = p->b;
    poll_take(p, status, body, "orders", 0, poll_accept);
    if (p->pending == 0 && !b->stopping)
        poll_pharmacy(b, p);
}

static void poll_pharmacy(bench *b, bench_site *p)
{
    char path[160];
    snprintf(path, sizeof(path), "/v1/pharmacies/%s/orders?wait=%d", p->id, POLL_WAIT_S);
    api_request(b->ph_poll, EVHTTP_REQ_GET, path, p->token, NULL, poll_on_offers, p);
}

void poll_start_pharmacies(bench *b)
{
    for (long i = 0; i < b->npharm; i++)
        poll_pharmacy(b, &b->ph[i]);
}

static void poll_on_courier_accepted(int status, json_t *body, void *ctx)
{
    (void)body;
    bench_site *c = ctx;
    if (status != 200)
        c->b->http_errors++;
}

static void poll_courier_accept(bench *b, bench_site *c, const char *oid)
{
    char path[160];
    c->done = 1;
    snprintf(path, sizeof(path), "/v1/orders/%s/courier/accept", oid);
    api_request(b->co_act, EVHTTP_REQ_POST, path, c->token, NULL, poll_on_courier_accepted, c);
}

/* A courier's poll answered: its first new assignment is its one order. */
static void poll_on_assignments(int status, json_t *body, void *ctx)
{
    bench_site *c = ctx;
    bench *b = c->b;
    poll_take(c, status, body, "assignments", 1, poll_courier_accept);
    if (!c->done && !b->stopping)
        poll_courier(b, c);
}

static void poll_courier(bench *b, bench_site *c)
{
    char path[160];
    snprintf(path, sizeof(path), "/v1/couriers/%s/assignments?wait=%d", c->id, POLL_WAIT_S);
    api_request(b->co_poll, EVHTTP_REQ_GET, path, c->token, NULL, poll_on_assignments, c);
}

void poll_start_couriers(bench *b)
{
    for (long i = 0; i < b->ncour; i++)
        poll_courier(b, &b->co[i]);
}
