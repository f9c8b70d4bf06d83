/* metrics.c - a small registry of counters and gauges (see metrics.h). The
 * registry is owned by the service context; metrics live until it is freed. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

struct metric {
    char *name;
    char *labels;
    char *help;
    int gauge;
    double value;
};

struct metrics {
    char *prefix;
    metric **items;
    int n;
};

metrics *metrics_new(const char *prefix)
{
    metrics *m = calloc(1, sizeof(*m));
    m->prefix = strdup(prefix);
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
                           int gauge)
{
    const char *l = labels ? labels : "";
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->items[i]->name, name) == 0 && strcmp(m->items[i]->labels, l) == 0)
            return m->items[i];
    metric *mt = calloc(1, sizeof(*mt));
    mt->name = strdup(name);
    mt->labels = strdup(l);
    mt->help = strdup(help ? help : name);
    mt->gauge = gauge;
    m->items = realloc(m->items, sizeof(*m->items) * (size_t)(m->n + 1));
    m->items[m->n++] = mt;
    return mt;
}

metric *metrics_counter(metrics *m, const char *name, const char *labels, const char *help)
{
    return metrics_get(m, name, labels, help, 0);
}

metric *metrics_gauge(metrics *m, const char *name, const char *labels, const char *help)
{
    return metrics_get(m, name, labels, help, 1);
}

void metric_add(metric *mt, double v)
{
    mt->value += v;
}

void metric_set(metric *mt, double v)
{
    mt->value = v;
}

double metric_value(const metric *mt)
{
    return mt->value;
}

void metrics_render(const metrics *m, struct evbuffer *out)
{
    for (int i = 0; i < m->n; i++) {
        const metric *mt = m->items[i];
        int first = 1;
        for (int j = 0; j < i; j++)
            if (strcmp(m->items[j]->name, mt->name) == 0)
                first = 0;
        if (first)
            evbuffer_add_printf(out, "# HELP %s_%s %s\n# TYPE %s_%s %s\n", m->prefix, mt->name,
                                mt->help, m->prefix, mt->name, mt->gauge ? "gauge" : "counter");
        if (*mt->labels)
            evbuffer_add_printf(out, "%s_%s{%s} %.17g\n", m->prefix, mt->name, mt->labels,
                                mt->value);
        else
            evbuffer_add_printf(out, "%s_%s %.17g\n", m->prefix, mt->name, mt->value);
    }
}
