/* instance.c - reading an MDRP instance directory (see instance.h). Each
 * file is tab separated with a header line, read line by line. */
#include "instance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The instance being read and the room of its arrays. */
typedef struct mdrp_loader {
    mdrp_instance *in;
    size_t cap_r, cap_o, cap_c;
} mdrp_loader;

typedef int (*mdrp_row_fn)(mdrp_loader *ld, const char *line);

static int mdrp_grow(void **arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int mdrp_find_restaurant(const mdrp_instance *in, const char *id, size_t *at)
{
    for (size_t i = 0; i < in->nr; i++)
        if (strcmp(in->r[i].id, id) == 0) {
            *at = i;
            return 0;
        }
    return -1;
}

static int mdrp_row_restaurant(mdrp_loader *ld, const char *line)
{
    mdrp_instance *in = ld->in;
    if (mdrp_grow((void **)&in->r, in->nr, &ld->cap_r, sizeof(*in->r)))
        return -1;
    mdrp_restaurant *r = &in->r[in->nr];
    if (sscanf(line, "%31s %lf %lf", r->id, &r->x, &r->y) != 3)
        return -1;
    in->nr++;
    return 0;
}

static int mdrp_row_order(mdrp_loader *ld, const char *line)
{
    mdrp_instance *in = ld->in;
    if (mdrp_grow((void **)&in->o, in->no, &ld->cap_o, sizeof(*in->o)))
        return -1;
    mdrp_order *o = &in->o[in->no];
    char rid[MDRP_ID_MAX + 1];
    if (sscanf(line, "%31s %lf %lf %ld %31s %ld", o->id, &o->x, &o->y, &o->placed, rid,
               &o->ready) != 6 ||
        mdrp_find_restaurant(in, rid, &o->restaurant))
        return -1;
    in->no++;
    return 0;
}

static int mdrp_row_courier(mdrp_loader *ld, const char *line)
{
    mdrp_instance *in = ld->in;
    if (mdrp_grow((void **)&in->c, in->nc, &ld->cap_c, sizeof(*in->c)))
        return -1;
    mdrp_courier *c = &in->c[in->nc];
    if (sscanf(line, "%31s %lf %lf %ld %ld", c->id, &c->x, &c->y, &c->on, &c->off) != 5)
        return -1;
    in->nc++;
    return 0;
}

static int mdrp_row_params(mdrp_loader *ld, const char *line)
{
    mdrp_instance *in = ld->in;
    return sscanf(line, "%lf %ld %ld %ld %ld", &in->meters_per_minute, &in->pickup_service,
                  &in->dropoff_service, &in->target, &in->max_c2d) == 5 &&
                   in->meters_per_minute > 0
               ? 0
               : -1;
}

/* Reads every data line of dir/name, calling row for each. */
static int mdrp_read(const char *dir, const char *name, mdrp_loader *ld, mdrp_row_fn row, char *err,
                     size_t errlen)
{
    char path[4096], line[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return -1;
    }
    int rc = 0;
    long lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        if (lineno++ == 0 || line[0] == '\n' || line[0] == '\r')
            continue;
        if (row(ld, line)) {
            snprintf(err, errlen, "%s line %ld: malformed", path, lineno);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

mdrp_instance *mdrp_instance_new(const char *dir, char *err, size_t errlen)
{
    mdrp_loader ld = {.in = calloc(1, sizeof(mdrp_instance))};
    if (!ld.in) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (mdrp_read(dir, "instance_parameters.txt", &ld, mdrp_row_params, err, errlen) ||
        mdrp_read(dir, "restaurants.txt", &ld, mdrp_row_restaurant, err, errlen) ||
        mdrp_read(dir, "orders.txt", &ld, mdrp_row_order, err, errlen) ||
        mdrp_read(dir, "couriers.txt", &ld, mdrp_row_courier, err, errlen)) {
        mdrp_instance_free(ld.in);
        return NULL;
    }
    if (ld.in->meters_per_minute <= 0) {
        snprintf(err, errlen, "%s/instance_parameters.txt: no parameters", dir);
        mdrp_instance_free(ld.in);
        return NULL;
    }
    return ld.in;
}

void mdrp_instance_free(mdrp_instance *in)
{
    if (!in)
        return;
    free(in->r);
    free(in->o);
    free(in->c);
    free(in);
}

long mdrp_travel(const mdrp_instance *in, double x1, double y1, double x2, double y2)
{
    double dx = x1 - x2, dy = y1 - y2;
    return (long)ceil(sqrt(dx * dx + dy * dy) / in->meters_per_minute);
}
