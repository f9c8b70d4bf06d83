/* metrics.c - a small registry of counters, gauges and histograms (see
 * metrics.h). The registry is owned by the service context; metrics live
 * until it is freed. */
#include "metrics.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

const double metrics_latency_bounds[METRICS_LATENCY_NBOUNDS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

static const char *const metric_kind_names[] = {"counter", "gauge", "histogram"};

struct metric {
    char *name;
    char *labels;
    char *help;
    enum metric_kind kind;
    double value; /* a histogram's count */
    double sum;
    int nbounds;
    double bounds[METRICS_BOUNDS_MAX];
    double counts[METRICS_BOUNDS_MAX + 1]; /* per bucket, not cumulative; last: +Inf */
};

struct metrics {
    char *prefix;
    metric **items;
    int n;
};

metrics *metrics_new(const char *prefix)
{
    metrics *m = xcalloc(1, sizeof(*m));
    m->prefix = xstrdup(prefix);
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++) {
        free(m->items[i]->name);
        free(m->items[i]->labels);
        free(m->items[i]->help);
        free(m->items[i]);
    }
    free(m->items);
    free(m->prefix);
    free(m);
}

static metric *metrics_get(metrics *m, const char *name, const char *labels, const char *help,
                           enum metric_kind kind)
{
    const char *l = labels ? labels : "";
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->items[i]->name, name) == 0 && strcmp(m->items[i]->labels, l) == 0)
            return m->items[i];
    metric *mt = xcalloc(1, sizeof(*mt));
    mt->name = xstrdup(name);
    mt->labels = xstrdup(l);
    mt->help = xstrdup(help ? help : name);
    mt->kind = kind;
    m->items = xrealloc(m->items, sizeof(*m->items) * (size_t)(m->n + 1));
    m->items[m->n++] = mt;
    return mt;
}

metric *metrics_counter(metrics *m, const char *name, const char *labels, const char *help)
{
    return metrics_get(m, name, labels, help, METRIC_COUNTER);
}

metric *metrics_gauge(metrics *m, const char *name, const char *labels, const char *help)
{
    return metrics_get(m, name, labels, help, METRIC_GAUGE);
}

metric *metrics_histogram(metrics *m, const char *name, const char *labels, const char *help,
                          const double *bounds, int nbounds)
{
    metric *mt = metrics_get(m, name, labels, help, METRIC_HISTOGRAM);
    if (mt->nbounds == 0 && nbounds > 0) {
        mt->nbounds = nbounds < METRICS_BOUNDS_MAX ? nbounds : METRICS_BOUNDS_MAX;
        memcpy(mt->bounds, bounds, sizeof(double) * (size_t)mt->nbounds);
    }
    return mt;
}

void metric_add(metric *mt, double v)
{
    mt->value += v;
}

void metric_set(metric *mt, double v)
{
    mt->value = v;
}

void metric_observe(metric *mt, double v)
{
    int b = 0;
    while (b < mt->nbounds && v > mt->bounds[b])
        b++;
    mt->counts[b] += 1;
    mt->sum += v;
    mt->value += 1;
}

double metric_value(const metric *mt)
{
    return mt->value;
}

double metric_sum(const metric *mt)
{
    return mt->sum;
}

static void metrics_render_histogram(const char *prefix, const metric *mt, struct evbuffer *out)
{
    const char *sep = *mt->labels ? "," : "";
    double cum = 0;
    for (int b = 0; b <= mt->nbounds; b++) {
        cum += mt->counts[b];
        if (b < mt->nbounds)
            evbuffer_add_printf(out, "%s_%s_bucket{%s%sle=\"%.15g\"} %.17g\n", prefix, mt->name,
                                mt->labels, sep, mt->bounds[b], cum);
        else
            evbuffer_add_printf(out, "%s_%s_bucket{%s%sle=\"+Inf\"} %.17g\n", prefix, mt->name,
                                mt->labels, sep, cum);
    }
    if (*mt->labels) {
        evbuffer_add_printf(out, "%s_%s_sum{%s} %.17g\n", prefix, mt->name, mt->labels, mt->sum);
        evbuffer_add_printf(out, "%s_%s_count{%s} %.17g\n", prefix, mt->name, mt->labels,
                            mt->value);
    } else {
        evbuffer_add_printf(out, "%s_%s_sum %.17g\n", prefix, mt->name, mt->sum);
        evbuffer_add_printf(out, "%s_%s_count %.17g\n", prefix, mt->name, mt->value);
    }
}

static void metrics_render_one(const char *prefix, const metric *mt, struct evbuffer *out)
{
    if (mt->kind == METRIC_HISTOGRAM)
        metrics_render_histogram(prefix, mt, out);
    else if (*mt->labels)
        evbuffer_add_printf(out, "%s_%s{%s} %.17g\n", prefix, mt->name, mt->labels, mt->value);
    else
        evbuffer_add_printf(out, "%s_%s %.17g\n", prefix, mt->name, mt->value);
}

void metrics_render(const metrics *m, struct evbuffer *out)
{
    for (int i = 0; i < m->n; i++) {
        const metric *mt = m->items[i];
        int first = 1;
        for (int j = 0; j < i && first; j++)
            if (strcmp(m->items[j]->name, mt->name) == 0)
                first = 0;
        if (!first)
            continue; /* rendered with the first of its family */
        evbuffer_add_printf(out, "# HELP %s_%s %s\n# TYPE %s_%s %s\n", m->prefix, mt->name,
                            mt->help, m->prefix, mt->name, metric_kind_names[mt->kind]);
        for (int j = i; j < m->n; j++)
            if (strcmp(m->items[j]->name, mt->name) == 0)
                metrics_render_one(m->prefix, m->items[j], out);
    }
}
