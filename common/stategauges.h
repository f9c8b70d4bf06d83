/* stategauges.h - gauges of the orders in Redis: per live state how many
 * and how long the one waiting longest has waited, per work queue (due,
 * dispatch, cdue) its length and how late its most overdue item is, and
 * the open exceptions. Read every few seconds through the state machine
 * (rxd_state_counts, rxd_queue_counts) by every relaying instance, like the
 * outbox gauges: alerts and dashboards take the max over instances. */
#ifndef RXD_STATEGAUGES_H
#define RXD_STATEGAUGES_H

#include <event2/event.h>

#include "metrics.h"
#include "orders.h"

typedef struct stategauges stategauges;

/* every_ms: how often to read (a read costs Redis a few microseconds). */
stategauges *stategauges_new(struct event_base *base, orders *o, metrics *m, int every_ms);
/* Stops the timer; a read in flight is answered into nothing. */
void stategauges_free(stategauges *g);

#endif
