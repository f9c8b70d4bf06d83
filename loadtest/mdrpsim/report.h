/* report.h - the measures of one run (the list): orders delivered,
 * click-to-door mean / median / 90th percentile and overage beyond the
 * target, ready-to-pickup mean and 90th percentile, courier utilisation,
 * orders per bundle, and the policy's compute time per round. */
#ifndef MDRP_REPORT_H
#define MDRP_REPORT_H

#include <stdio.h>

#include "sim.h"

typedef struct mdrp_metrics {
    size_t orders, delivered;
    double c2d_mean, c2d_median, c2d_p90, overage_mean;
    double r2p_mean, r2p_p90;
    double within_target; /* share of delivered within the target */
    double utilisation;   /* trip time over shift time */
    double per_bundle;    /* orders per trip */
    double round_ms_mean, round_ms_max;
    long mispredicted;
} mdrp_metrics;

/* -1 when out of memory. */
int mdrp_metrics_compute(const mdrp_record *rec, mdrp_metrics *m);
void mdrp_metrics_print(const mdrp_metrics *m, FILE *f);
/* Header line and value line, tab separated (read by loadtest/mdrp-all). */
void mdrp_metrics_tsv(const mdrp_metrics *m, FILE *f);

#endif
