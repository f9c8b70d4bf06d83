/* solution.c - writing a run's solution files (see solution.h). */
#include "solution.h"

#include <stdio.h>

typedef void (*mdrp_writer_fn)(const mdrp_record *rec, FILE *f);

static void mdrp_write_assignments(const mdrp_record *rec, FILE *f)
{
    fprintf(f, "assignment_time pickup_time courier order\n");
    for (size_t i = 0; i < rec->ntrips; i++) {
        const mdrp_trip *t = &rec->trips[i];
        fprintf(f, "%ld %ld %s", t->assigned, t->pickup, rec->in->c[t->courier].id);
        for (int j = 0; j < t->n; j++)
            fprintf(f, " %s", rec->in->o[t->orders[j]].id);
        fputc('\n', f);
    }
}

static void mdrp_write_orders(const mdrp_record *rec, FILE *f)
{
    const mdrp_instance *in = rec->in;
    fprintf(f, "order placement_time ready_time pickup_time dropoff_time courier\n");
    for (size_t i = 0; i < in->no; i++) {
        const mdrp_served *sv = &rec->served[i];
        if (sv->done)
            fprintf(f, "%s %ld %ld %ld %ld %s\n", in->o[i].id, in->o[i].placed, in->o[i].ready,
                    sv->pickup, sv->dropoff, in->c[sv->courier].id);
    }
}

static const char *mdrp_place_id(const mdrp_instance *in, mdrp_place p)
{
    switch (p.kind) {
    case MDRP_AT_RESTAURANT:
        return in->r[p.index].id;
    case MDRP_AT_ORDER:
        return in->o[p.index].id;
    case MDRP_AT_HOME:
        break;
    }
    return "0";
}

static void mdrp_write_couriers(const mdrp_record *rec, FILE *f)
{
    fprintf(f, "courier departure_time origin destination\n");
    for (size_t i = 0; i < rec->nlegs; i++) {
        const mdrp_leg *l = &rec->legs[i];
        fprintf(f, "%s %ld %s %s\n", rec->in->c[l->courier].id, l->depart,
                mdrp_place_id(rec->in, l->from), mdrp_place_id(rec->in, l->to));
    }
}

static int mdrp_write_file(const mdrp_record *rec, const char *dir, const char *name,
                           mdrp_writer_fn fn, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    fn(rec, f);
    if (fclose(f)) {
        snprintf(err, errlen, "writing %s failed", path);
        return -1;
    }
    return 0;
}

int mdrp_solution_write(const mdrp_record *rec, const char *dir, char *err, size_t errlen)
{
    if (mdrp_write_file(rec, dir, "solution_info_assignments.txt", mdrp_write_assignments, err,
                        errlen) ||
        mdrp_write_file(rec, dir, "solution_info_orders.txt", mdrp_write_orders, err, errlen) ||
        mdrp_write_file(rec, dir, "solution_info_couriers.txt", mdrp_write_couriers, err, errlen))
        return -1;
    return 0;
}
