/* metrics.h - counters, gauges and histograms rendered in Prometheus text
 * format.
 *
 * A labelled family is one metric per label set: ask for it once (the same
 * name and labels return the same metric) and keep the pointer, so the hot
 * path only adds to a double. Updates never allocate. */
#ifndef RXD_METRICS_H
#define RXD_METRICS_H

#include <stddef.h>
#include <event2/buffer.h>

typedef struct metrics metrics;
typedef struct metric metric;

/* Upper bounds (seconds) for request and call latencies: 0.5 ms to 10 s. */
#define METRICS_LATENCY_NBOUNDS 14
extern const double metrics_latency_bounds[METRICS_LATENCY_NBOUNDS];
#define METRICS_BOUNDS_MAX 32

metrics *metrics_new(const char *prefix);
void metrics_free(metrics *m);
/* name without prefix, e.g. "orders_routed_total"; labels may be NULL
 * ("reason=\"expired\""). Same name+labels returns the same metric. */
metric *metrics_counter(metrics *m, const char *name, const char *labels, const char *help);
metric *metrics_gauge(metrics *m, const char *name, const char *labels, const char *help);
/* bounds: ascending bucket upper bounds (at most METRICS_BOUNDS_MAX; +Inf
 * is implied). Rendered as name_bucket{le=...}, name_sum and name_count. */
metric *metrics_histogram(metrics *m, const char *name, const char *labels, const char *help,
                          const double *bounds, int nbounds);
void metric_add(metric *mt, double v);
void metric_set(metric *mt, double v);
/* Counts v into its bucket of a histogram. */
void metric_observe(metric *mt, double v);
/* A counter's or gauge's value; a histogram's count. */
double metric_value(const metric *mt);
/* A histogram's sum of observations. */
double metric_sum(const metric *mt);
/* Every family grouped together, as the text format requires. */
void metrics_render(const metrics *m, struct evbuffer *out);

#endif
