/* locbatch.c - see locbatch.h. A batch is flushed by a one-shot zero
 * timeout (it runs after the requests already read in this pass of the
 * loop) or at once when it is full. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "locbatch.h"
#include "log.h"
#include "mem.h"

/* The requests of one call in flight, answered from its reply. */
typedef struct locbatch_call {
    int n;
    gw_req *r[LOCBATCH_MAX];
} locbatch_call;

static void locbatch_on_reply(void *ctx, const orders_result *res)
{
    locbatch_call *c = ctx;
    int ok = res->status == ORDERS_OK && res->n_points == (size_t)c->n;
    if (!ok)
        log_event(LOG_WARN, "state_machine_call_failed", "{s:s, s:i}", "error",
                  res->err                        ? res->err
                  : res->reply && res->reply->str ? res->reply->str
                                                  : "bad reply",
                  "positions", c->n);
    for (int i = 0; i < c->n; i++) {
        gw_req *r = c->r[i];
        if (!ok) {
            gw_req_reply_error(r, 503, "unavailable", "the order store is not reachable; retry");
            continue;
        }
        gw_req_reply_json(
            r, 200,
            json_pack("{s:s, s:b}", "courier_id", r->path.seg[2], "stored", res->stored[i]));
    }
    free(c);
}

static void locbatch_flush(locbatch *b)
{
    b->scheduled = 0;
    if (b->n == 0)
        return;
    locbatch_call *c = xmalloc(sizeof(*c));
    orders_point pts[LOCBATCH_MAX];
    c->n = b->n;
    for (int i = 0; i < b->n; i++) {
        const locbatch_slot *s = &b->slot[i];
        c->r[i] = s->r;
        pts[i] = (orders_point){s->id, s->lat, s->lon, s->ts};
    }
    /* the call copies the arguments into the command it queues */
    int rc = orders_courier_loc_many(b->o, (size_t)b->n, pts, locbatch_on_reply, c);
    b->n = 0;
    if (rc != 0) {
        orders_result failed = {.status = ORDERS_FAILED,
                                .err = "cannot queue the call (out of memory)"};
        locbatch_on_reply(c, &failed);
    }
}

static void locbatch_on_due(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    locbatch_flush(arg);
}

void locbatch_init(locbatch *b, struct event_base *base, orders *o)
{
    memset(b, 0, sizeof(*b));
    b->base = base;
    b->o = o;
}

void locbatch_add(locbatch *b, gw_req *r, const char *id, double lat, double lon, long long ts_ms)
{
    locbatch_slot *s = &b->slot[b->n++];
    s->r = r;
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->lat, sizeof(s->lat), "%.7f", lat);
    snprintf(s->lon, sizeof(s->lon), "%.7f", lon);
    snprintf(s->ts, sizeof(s->ts), "%lld", ts_ms);
    if (b->n == LOCBATCH_MAX) {
        locbatch_flush(b);
        return;
    }
    if (!b->scheduled) {
        struct timeval now = {0, 0};
        /* a one-shot event: libevent frees it, also if the loop ends first */
        if (event_base_once(b->base, -1, EV_TIMEOUT, locbatch_on_due, b, &now) == 0)
            b->scheduled = 1;
        else
            locbatch_flush(b);
    }
}
