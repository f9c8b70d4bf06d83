/* stages.c - stage and end-to-end duration histograms (see stages.h). */
#include "stages.h"

#include <stdio.h>
#include <stdlib.h>

#include "mem.h"
#include "rxdispatch.pb-c.h"

/* 1 s to a day: offers take seconds, packing minutes, pickup-in-store days. */
static const double stages_bounds[] = {1,    5,    15,   30,   60,    120,   300,  600,
                                       1200, 1800, 3600, 7200, 14400, 43200, 86400};
#define STAGES_NBOUNDS ((int)(sizeof(stages_bounds) / sizeof(stages_bounds[0])))

struct stages {
    metrics *m;
    /* made on first use: most pairs of states never follow each other */
    metric *stage[STAGES_NSTATES][STAGES_NSTATES];
    metric *end[STAGES_NSTATES];
};

stages *stages_new(metrics *m)
{
    stages *s = xcalloc(1, sizeof(*s));
    s->m = m;
    return s;
}

void stages_free(stages *s)
{
    free(s);
}

static const char *stages_name(int state)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&rxdispatch__v1__order_state__descriptor, state);
    return v ? v->name : NULL;
}

static metric *stages_stage(stages *s, int from, int to)
{
    if (!s->stage[from][to]) {
        char labels[96];
        snprintf(labels, sizeof(labels), "from=\"%s\",to=\"%s\"", stages_name(from),
                 stages_name(to));
        s->stage[from][to] =
            metrics_histogram(s->m, "order_stage_seconds", labels,
                              "time from entering one order state to entering the next (seconds)",
                              stages_bounds, STAGES_NBOUNDS);
    }
    return s->stage[from][to];
}

static metric *stages_end(stages *s, int state)
{
    if (!s->end[state]) {
        char labels[64];
        snprintf(labels, sizeof(labels), "state=\"%s\"", stages_name(state));
        s->end[state] = metrics_histogram(
            s->m, "order_end_to_end_seconds", labels,
            "time from the prescription's approval to the order's final state (seconds)",
            stages_bounds, STAGES_NBOUNDS);
    }
    return s->end[state];
}

static int stages_final(int state)
{
    switch (state) {
    case RXDISPATCH__V1__ORDER_STATE__DELIVERED:
    case RXDISPATCH__V1__ORDER_STATE__COLLECTED:
    case RXDISPATCH__V1__ORDER_STATE__RETURNED:
    case RXDISPATCH__V1__ORDER_STATE__CANCELLED:
    case RXDISPATCH__V1__ORDER_STATE__UNROUTABLE:
        return 1;
    default:
        return 0;
    }
}

void stages_observe(stages *s, int from, int to, long long from_at_ms, long long at_ms,
                    long long approved_ms)
{
    if (from <= 0 || to <= 0 || from >= STAGES_NSTATES || to >= STAGES_NSTATES || from == to ||
        !stages_name(from) || !stages_name(to))
        return;
    if (from_at_ms > 0 && at_ms >= from_at_ms)
        metric_observe(stages_stage(s, from, to), (double)(at_ms - from_at_ms) / 1000.0);
    if (stages_final(to) && approved_ms > 0 && at_ms >= approved_ms)
        metric_observe(stages_end(s, to), (double)(at_ms - approved_ms) / 1000.0);
}
