/* track.h - what happened to this run's orders, learnt only from
 * order.events: every event of every order whose prescription_id carries
 * the run's prefix, kept in sequence order with repeats of (order_id, seq)
 * dropped (delivery is at-least-once), next to the prescriptions this run
 * sent. */
#ifndef CITYSIM_TRACK_H
#define CITYSIM_TRACK_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct track track;

typedef struct track_event {
    uint64_t seq;
    int64_t at_ms;
    char state[24];
    char kind[32];
    char reason[64];
} track_event;

typedef struct track_order {
    char order_id[72];
    char prescription_id[72];
    int pickup;      /* PICKUP_IN_STORE */
    track_event *ev; /* sorted by seq, no repeats */
    size_t nev, cap;
} track_order;

/* Per prescription sent by this run. */
typedef struct track_rx {
    int64_t approved_ms;
    int pickup;
    int special;
    int expired;
} track_rx;

track *track_new(struct event_base *base, const config *cfg, const char *run_id, const char *topic,
                 char *err, size_t errlen);
void track_free(track *t);

/* Records a prescription this run produced. -1 when out of memory. */
int track_note_sent(track *t, const char *prescription_id, const track_rx *rx);
const track_rx *track_sent(const track *t, const char *prescription_id);
long track_sent_count(const track *t);

/* The order's current state: the state of its highest seq. */
const char *track_order_state(const track_order *o);
/* 1 for DELIVERED, COLLECTED, CANCELLED, UNROUTABLE, RETURNED; with
 * ready_final also READY of a home delivery (pharmacy-only mode, where no
 * courier will ever come). */
int track_is_final(const track_order *o, int ready_final);

typedef void track_order_fn(const track_order *o, void *ctx);
void track_each_order(const track *t, track_order_fn *fn, void *ctx);
long track_order_count(const track *t);
/* Events taken and repeats dropped. */
long track_events(const track *t);
long track_repeats(const track *t);

/* Calls fn for every sent prescription that has no order yet (o NULL) or
 * whose order is not final; returns how many. fn may be NULL. */
typedef void track_stuck_fn(const char *prescription_id, const track_order *o, void *ctx);
long track_unsettled(const track *t, int ready_final, track_stuck_fn *fn, void *ctx);

#endif
