/* stategauges.c - the state and queue gauges (see stategauges.h). */
#include "stategauges.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "mem.h"

#define STATEGAUGES_MAX ORDERS_COUNTS_MAX

/* One gauge pair per name, made when the name is first answered. */
typedef struct stategauges_line {
    char name[32];
    metric *count, *age;
} stategauges_line;

/* A read outlives the gauges when they are freed first: it then only
 * frees itself. */
typedef struct stategauges_read {
    stategauges *g;
    int queues;
} stategauges_read;

struct stategauges {
    orders *o;
    metrics *m;
    struct event *timer;
    stategauges_read *inflight[2]; /* [0] states, [1] queues */
    stategauges_line states[STATEGAUGES_MAX], queues[STATEGAUGES_MAX];
    size_t nstates, nqueues;
};

static long long stategauges_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static stategauges_line *stategauges_line_for(stategauges *g, int queues, const char *name)
{
    stategauges_line *lines = queues ? g->queues : g->states;
    size_t *n = queues ? &g->nqueues : &g->nstates;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(lines[i].name, name) == 0)
            return &lines[i];
    if (*n == STATEGAUGES_MAX || strlen(name) >= sizeof(lines[0].name))
        return NULL;
    stategauges_line *l = &lines[(*n)++];
    char labels[64];
    snprintf(l->name, sizeof(l->name), "%s", name);
    if (queues) {
        snprintf(labels, sizeof(labels), "queue=\"%s\"", name);
        l->count = metrics_gauge(g->m, "queue_depth", labels,
                                 "items in a work queue (due, dispatch, cdue), open exceptions, or "
                                 "held orders (hold)");
        l->age = metrics_gauge(g->m, "queue_overdue_seconds", labels,
                               "how long the most overdue item of a work queue has been due (0 "
                               "when none is due); for exceptions the age of the oldest; 0 for "
                               "the hold, whose scores are when each gives up");
    } else {
        snprintf(labels, sizeof(labels), "state=\"%s\"", name);
        l->count = metrics_gauge(g->m, "orders", labels, "orders in each live state");
        l->age = metrics_gauge(g->m, "orders_oldest_age_seconds", labels,
                               "how long the order waiting longest in a state has been in it");
    }
    return l;
}

static void stategauges_on_counts(void *ctx, const orders_result *res)
{
    stategauges_read *rd = ctx;
    stategauges *g = rd->g;
    int queues = rd->queues;
    free(rd);
    if (!g)
        return; /* freed meanwhile */
    g->inflight[queues] = NULL;
    if (res->status != ORDERS_OK)
        return; /* Redis away: the gauges keep their last values, readiness says why */
    long long now = stategauges_now_ms();
    for (size_t i = 0; i < res->n_counts; i++) {
        const orders_count *c = &res->counts[i];
        stategauges_line *l = stategauges_line_for(g, queues, c->name);
        if (!l)
            continue;
        metric_set(l->count, (double)c->count);
        /* a due time in the future is not late; an empty set has ms 0 */
        long long age = c->count > 0 && c->ms > 0 && c->ms < now ? now - c->ms : 0;
        metric_set(l->age, (double)age / 1000.0);
    }
}

static void stategauges_read_one(stategauges *g, int queues)
{
    if (g->inflight[queues])
        return; /* the last read is still out: Redis is slow, do not pile up */
    stategauges_read *rd = xmalloc(sizeof(*rd));
    *rd = (stategauges_read){g, queues};
    int rc = queues ? orders_queue_counts(g->o, stategauges_on_counts, rd)
                    : orders_state_counts(g->o, stategauges_on_counts, rd);
    if (rc != 0)
        free(rd);
    else
        g->inflight[queues] = rd;
}

static void stategauges_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stategauges *g = arg;
    stategauges_read_one(g, 0);
    stategauges_read_one(g, 1);
}

stategauges *stategauges_new(struct event_base *base, orders *o, metrics *m, int every_ms)
{
    stategauges *g = xcalloc(1, sizeof(*g));
    g->o = o;
    g->m = m;
    g->timer = event_new(base, -1, EV_PERSIST, stategauges_on_tick, g);
    struct timeval every = {every_ms / 1000, (every_ms % 1000) * 1000};
    if (!g->timer || event_add(g->timer, &every) != 0) {
        stategauges_free(g);
        return NULL;
    }
    return g;
}

void stategauges_free(stategauges *g)
{
    if (!g)
        return;
    for (int i = 0; i < 2; i++)
        if (g->inflight[i])
            g->inflight[i]->g = NULL;
    if (g->timer)
        event_free(g->timer);
    free(g);
}
