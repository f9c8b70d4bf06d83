/* report.c - measuring a run (see report.h). Percentiles are nearest-rank. */
#include "report.h"

#include <math.h>
#include <stdlib.h>

static int mdrp_cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Nearest rank of a sorted array of n > 0. */
static double mdrp_rank(const long *v, size_t n, double q)
{
    size_t r = (size_t)ceil(q * (double)n);
    return (double)v[r > 0 ? r - 1 : 0];
}

static double mdrp_mean(const long *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i];
    return n ? s / (double)n : 0;
}

static void mdrp_metrics_trips(const mdrp_record *rec, mdrp_metrics *m)
{
    double busy = 0, shift = 0;
    for (size_t i = 0; i < rec->ntrips; i++)
        busy += (double)(rec->trips[i].end - rec->trips[i].depart);
    for (size_t k = 0; k < rec->in->nc; k++)
        shift += (double)(rec->in->c[k].off - rec->in->c[k].on);
    m->utilisation = shift > 0 ? busy / shift : 0;
    m->per_bundle = rec->ntrips ? (double)m->delivered / (double)rec->ntrips : 0;
    m->round_ms_mean = rec->rounds ? rec->round_ms_sum / (double)rec->rounds : 0;
    m->round_ms_max = rec->round_ms_max;
    m->mispredicted = rec->mispredicted;
}

int mdrp_metrics_compute(const mdrp_record *rec, mdrp_metrics *m)
{
    const mdrp_instance *in = rec->in;
    *m = (mdrp_metrics){.orders = in->no};
    long *c2d = malloc((in->no ? in->no : 1) * sizeof(long));
    long *r2p = malloc((in->no ? in->no : 1) * sizeof(long));
    if (!c2d || !r2p) {
        free(c2d);
        free(r2p);
        return -1;
    }
    size_t n = 0, within = 0;
    double over = 0;
    for (size_t i = 0; i < in->no; i++) {
        if (!rec->served[i].done)
            continue;
        c2d[n] = rec->served[i].dropoff - in->o[i].placed;
        r2p[n] = rec->served[i].pickup - in->o[i].ready;
        if (c2d[n] > in->target)
            over += (double)(c2d[n] - in->target);
        else
            within++;
        n++;
    }
    m->delivered = n;
    if (n) {
        m->c2d_mean = mdrp_mean(c2d, n);
        m->r2p_mean = mdrp_mean(r2p, n);
        m->overage_mean = over / (double)n;
        m->within_target = (double)within / (double)n;
        qsort(c2d, n, sizeof(long), mdrp_cmp_long);
        qsort(r2p, n, sizeof(long), mdrp_cmp_long);
        m->c2d_median = mdrp_rank(c2d, n, 0.5);
        m->c2d_p90 = mdrp_rank(c2d, n, 0.9);
        m->r2p_p90 = mdrp_rank(r2p, n, 0.9);
    }
    mdrp_metrics_trips(rec, m);
    free(c2d);
    free(r2p);
    return 0;
}

void mdrp_metrics_print(const mdrp_metrics *m, FILE *f)
{
    fprintf(f, "orders delivered:          %zu of %zu (%.2f %% undelivered)\n", m->delivered,
            m->orders, m->orders ? 100.0 * (double)(m->orders - m->delivered) / m->orders : 0);
    fprintf(f, "click-to-door (min):       mean %.2f  median %.0f  p90 %.0f\n", m->c2d_mean,
            m->c2d_median, m->c2d_p90);
    fprintf(f, "overage beyond target:     mean %.2f min  (%.1f %% within target)\n",
            m->overage_mean, 100.0 * m->within_target);
    fprintf(f, "ready-to-pickup (min):     mean %.2f  p90 %.0f\n", m->r2p_mean, m->r2p_p90);
    fprintf(f, "courier utilisation:       %.1f %%\n", 100.0 * m->utilisation);
    fprintf(f, "orders per bundle:         %.3f\n", m->per_bundle);
    fprintf(f, "policy time per round:     mean %.3f ms  max %.3f ms\n", m->round_ms_mean,
            m->round_ms_max);
    if (m->mispredicted)
        fprintf(f, "pickups mispredicted:      %ld\n", m->mispredicted);
}

void mdrp_metrics_tsv(const mdrp_metrics *m, FILE *f)
{
    fprintf(f, "orders\tdelivered\tc2d_mean\tc2d_median\tc2d_p90\toverage_mean\tr2p_mean\t"
               "r2p_p90\twithin_target\tutilisation\tper_bundle\tround_ms_mean\tround_ms_max\n");
    fprintf(f, "%zu\t%zu\t%.4f\t%.1f\t%.1f\t%.4f\t%.4f\t%.1f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\n",
            m->orders, m->delivered, m->c2d_mean, m->c2d_median, m->c2d_p90, m->overage_mean,
            m->r2p_mean, m->r2p_p90, m->within_target, m->utilisation, m->per_bundle,
            m->round_ms_mean, m->round_ms_max);
}
