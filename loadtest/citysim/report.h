/* report.h - the run's summary, computed only from the order.events log
 * (through track) and the prescriptions the run sent: outcomes, unroutable
 * reasons and stage latencies, as a table for people and as JSON for tests.
 *
 * Stages (seconds, per order, from its events in seq order):
 *   approved_to_offered   first OFFERED at_ms - the prescription's approved_at_ms
 *   offered_to_accepted   first ACCEPTED - the OFFERED event right before it
 *   ready_to_assigned     first COURIER_ASSIGNED - first READY
 *   assigned_to_picked_up PICKED_UP - start of the last run of COURIER_ASSIGNED
 *                         events before it (the assignment that was carried out)
 *   picked_up_to_delivered DELIVERED - PICKED_UP
 *   ready_to_picked_up    PICKED_UP - first READY (the dispatch policy's share)
 *   approved_to_delivered DELIVERED - approved_at_ms (click-to-door)
 * median and p95 are nearest-rank: the value at rank ceil(q * n). */
#ifndef CITYSIM_REPORT_H
#define CITYSIM_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "courier.h"
#include "pharm.h"
#include "track.h"

typedef struct report_input {
    const char *run_id;
    unsigned long long seed;
    const char *mode;            /* "full" or "pharmacy-only" */
    const char *dispatch_policy; /* the stack's RXD_DISPATCH_POLICY, as the dispatcher reads it */
    double elapsed_s;
    long sent;
    long produce_failures;
    int ready_final; /* pharmacy-only: READY home deliveries count as settled */
    const pharm_stats *pharmacies;
    const courier_stats *couriers; /* NULL in pharmacy-only mode */
} report_input;

/* Builds the summary (caller decrefs). */
json_t *report_build(const track *t, const report_input *in);
void report_print(FILE *out, const json_t *summary);
/* -1 with a message when the file cannot be written. */
int report_write_json(const char *path, const json_t *summary, char *err, size_t errlen);

#endif
