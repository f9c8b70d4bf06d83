/* hist.h - a latency histogram with bounded relative error (HdrHistogram's
 * idea in a few lines): values in microseconds, buckets of 1/64 of each
 * power of two, so any percentile is exact to within 1.6 %. Fixed size, no
 * allocation after hist_new. */
#ifndef RXBENCH_HIST_H
#define RXBENCH_HIST_H

#include <stdint.h>

typedef struct hist hist;

hist *hist_new(void);
void hist_free(hist *h);
/* Records one value in microseconds (negative values count as 0). */
void hist_add(hist *h, int64_t us);
uint64_t hist_count(const hist *h);
int64_t hist_max(const hist *h);
/* The value at percentile p (0-100], in microseconds; 0 when empty. */
int64_t hist_percentile(const hist *h, double p);

#endif
