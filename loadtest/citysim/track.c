/* track.c - the order.events consumer behind progress, summary and drain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "kafka.h"
#include "rxjson.h"
#include "track.h"

struct track {
    kafka_consumer *kc;
    char prefix[64]; /* "<run_id>-rx-": this run's prescription ids */
    dict *orders;    /* order_id -> track_order */
    dict *by_rx;     /* prescription_id -> track_order (borrowed) */
    dict *sent;      /* prescription_id -> track_rx */
    long events, repeats;
};

static void track_order_free(void *v)
{
    track_order *o = v;
    if (o)
        free(o->ev);
    free(o);
}

static track_order *track_order_get(track *t, const char *oid, const char *pid, int pickup)
{
    track_order *o = dict_get(t->orders, oid);
    if (o)
        return o;
    o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    snprintf(o->order_id, sizeof(o->order_id), "%s", oid);
    snprintf(o->prescription_id, sizeof(o->prescription_id), "%s", pid);
    o->pickup = pickup;
    if (dict_set(t->orders, oid, o) != 0 || dict_set(t->by_rx, pid, o) != 0) {
        track_order_free(o);
        return NULL;
    }
    return o;
}

/* Inserts ev at its place by seq; 0 when it was a repeat. */
static int track_order_add(track_order *o, const track_event *ev)
{
    size_t i = o->nev;
    while (i > 0 && o->ev[i - 1].seq > ev->seq)
        i--;
    if (i > 0 && o->ev[i - 1].seq == ev->seq)
        return 0;
    if (o->nev == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        track_event *n = realloc(o->ev, cap * sizeof(*n));
        if (!n)
            return 0;
        o->ev = n;
        o->cap = cap;
    }
    memmove(&o->ev[i + 1], &o->ev[i], (o->nev - i) * sizeof(*o->ev));
    o->ev[i] = *ev;
    o->nev++;
    return 1;
}

static void track_take(track *t, json_t *j)
{
    const char *pid = json_string_value(json_object_get(j, "prescription_id"));
    const char *oid = json_string_value(json_object_get(j, "order_id"));
    if (!pid || !oid || strncmp(pid, t->prefix, strlen(t->prefix)) != 0)
        return; /* another run's order */
    const char *ful = json_string_value(json_object_get(j, "fulfilment"));
    track_order *o = track_order_get(t, oid, pid, ful && strcmp(ful, "PICKUP_IN_STORE") == 0);
    if (!o)
        return;
    track_event ev = {0};
    ev.seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
    ev.at_ms = json_integer_value(json_object_get(j, "at_ms"));
    snprintf(ev.state, sizeof(ev.state), "%s", json_string_value(json_object_get(j, "state")));
    snprintf(ev.kind, sizeof(ev.kind), "%s", json_string_value(json_object_get(j, "kind")));
    snprintf(ev.reason, sizeof(ev.reason), "%s", json_string_value(json_object_get(j, "reason")));
    t->events++;
    if (!track_order_add(o, &ev))
        t->repeats++;
}

static void track_on_event(kafka_msg *m, void *ctx)
{
    track *t = ctx;
    json_t *j = rxjson_decode_event(m->value, m->value_len);
    if (j)
        track_take(t, j);
    json_decref(j);
    kafka_consumer_done(t->kc, m);
}

track *track_new(struct event_base *base, const config *cfg, const char *run_id, const char *topic,
                 char *err, size_t errlen)
{
    track *t = calloc(1, sizeof(*t));
    char group[128];
    const char *topics[] = {topic, NULL};
    if (!t) {
        snprintf(err, errlen, "out of memory for the order tracker");
        return NULL;
    }
    snprintf(t->prefix, sizeof(t->prefix), "%s-rx-", run_id);
    t->orders = dict_new(track_order_free);
    t->by_rx = dict_new(NULL);
    t->sent = dict_new(free);
    if (!t->orders || !t->by_rx || !t->sent) {
        snprintf(err, errlen, "out of memory for the order tracker");
        track_free(t);
        return NULL;
    }
    snprintf(group, sizeof(group), "citysim-%s-events", run_id);
    t->kc = kafka_consumer_new(base, cfg, group, topics, track_on_event, t, err, errlen);
    if (!t->kc) {
        track_free(t);
        return NULL;
    }
    return t;
}

void track_free(track *t)
{
    if (!t)
        return;
    kafka_consumer_free(t->kc);
    dict_free(t->by_rx);
    dict_free(t->orders);
    dict_free(t->sent);
    free(t);
}

int track_note_sent(track *t, const char *prescription_id, const track_rx *rx)
{
    track_rx *copy = malloc(sizeof(*copy));
    if (!copy)
        return -1;
    *copy = *rx;
    return dict_set(t->sent, prescription_id, copy);
}

const track_rx *track_sent(const track *t, const char *prescription_id)
{
    return dict_get(t->sent, prescription_id);
}

long track_sent_count(const track *t)
{
    return (long)dict_size(t->sent);
}

const char *track_order_state(const track_order *o)
{
    return o->nev ? o->ev[o->nev - 1].state : "UNKNOWN";
}

int track_is_final(const track_order *o, int ready_final)
{
    static const char *const finals[] = {"DELIVERED", "COLLECTED", "CANCELLED", "UNROUTABLE",
                                         "RETURNED"};
    const char *s = track_order_state(o);
    for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++)
        if (strcmp(s, finals[i]) == 0)
            return 1;
    return ready_final && !o->pickup && strcmp(s, "READY") == 0;
}

void track_each_order(const track *t, track_order_fn *fn, void *ctx)
{
    size_t i = 0;
    const char *key;
    void *val;
    while (dict_next(t->orders, &i, &key, &val))
        fn(val, ctx);
}

long track_order_count(const track *t)
{
    return (long)dict_size(t->orders);
}

long track_events(const track *t)
{
    return t->events;
}

long track_repeats(const track *t)
{
    return t->repeats;
}

long track_unsettled(const track *t, int ready_final, track_stuck_fn *fn, void *ctx)
{
    size_t i = 0;
    const char *pid;
    void *val;
    long n = 0;
    while (dict_next(t->sent, &i, &pid, &val)) {
        const track_order *o = dict_get(t->by_rx, pid);
        if (o && track_is_final(o, ready_final))
            continue;
        n++;
        if (fn)
            fn(pid, o, ctx);
    }
    return n;
}
