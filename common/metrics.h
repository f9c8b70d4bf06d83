/* metrics.h - counters and gauges rendered in Prometheus text format. */
#ifndef RXD_METRICS_H
#define RXD_METRICS_H

#include <stddef.h>
#include <event2/buffer.h>

typedef struct metrics metrics;
typedef struct metric metric;

metrics *metrics_new(const char *prefix);
void metrics_free(metrics *m);
/* name without prefix, e.g. "orders_routed_total"; labels may be NULL
 * ("reason=\"expired\""). Same name+labels returns the same metric. */
metric *metrics_counter(metrics *m, const char *name, const char *labels, const char *help);
metric *metrics_gauge(metrics *m, const char *name, const char *labels, const char *help);
void metric_add(metric *mt, double v);
void metric_set(metric *mt, double v);
double metric_value(const metric *mt);
void metrics_render(const metrics *m, struct evbuffer *out);

#endif
