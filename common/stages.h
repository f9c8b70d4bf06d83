/* stages.h - how long orders spend in each stage of their life, as
 * Prometheus histograms: the time from entering one state to entering the
 * next (rxd_order_stage_seconds{from,to}) and from approval to the end
 * (rxd_order_end_to_end_seconds{state}).
 *
 * Observed by the outbox relay once per state change, when Kafka has
 * acknowledged the event (so only the relay leader observes, and a re-sent
 * entry is counted again only in the rare case that its acknowledgement
 * came but its deletion did not). The times come from the event itself
 * (the library writes when the previous state was entered), so they are
 * Redis's clock, not the relay's. */
#ifndef RXD_STAGES_H
#define RXD_STAGES_H

#include "metrics.h"

typedef struct stages stages;

/* The order states, as numbered in OrderState (proto/rxdispatch.proto). */
#define STAGES_NSTATES 13

stages *stages_new(metrics *m);
void stages_free(stages *s);
/* One state change from state `from` entered at from_at_ms to `to` at
 * at_ms (states by their OrderState number); approved_ms: the
 * prescription's approval, 0 when unknown. Ignores what it cannot place
 * (an unknown state, a time that runs backwards). */
void stages_observe(stages *s, int from, int to, long long from_at_ms, long long at_ms,
                    long long approved_ms);

#endif
