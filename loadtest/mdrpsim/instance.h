/* instance.h - one MDRP benchmark instance read from its directory (the
 * format of /work/shared/mdrp/README.md): restaurants (= pharmacies),
 * orders, courier shifts and the instance parameters. Times in minutes,
 * positions in metres on a plane. */
#ifndef MDRP_INSTANCE_H
#define MDRP_INSTANCE_H

#include <stddef.h>

#define MDRP_ID_MAX 31

typedef struct mdrp_restaurant {
    char id[MDRP_ID_MAX + 1];
    double x, y;
} mdrp_restaurant;

typedef struct mdrp_order {
    char id[MDRP_ID_MAX + 1];
    double x, y; /* drop-off */
    long placed, ready;
    size_t restaurant; /* index */
} mdrp_order;

typedef struct mdrp_courier {
    char id[MDRP_ID_MAX + 1];
    double x, y; /* on-location */
    long on, off;
} mdrp_courier;

typedef struct mdrp_instance {
    mdrp_restaurant *r;
    mdrp_order *o;
    mdrp_courier *c;
    size_t nr, no, nc;
    double meters_per_minute;
    long pickup_service, dropoff_service, target, max_c2d;
} mdrp_instance;

/* NULL with a message in err when a file is missing or malformed. */
mdrp_instance *mdrp_instance_new(const char *dir, char *err, size_t errlen);
void mdrp_instance_free(mdrp_instance *in);

/* The benchmark's travel rule: ceil(euclidean distance / speed) minutes. */
long mdrp_travel(const mdrp_instance *in, double x1, double y1, double x2, double y2);

#endif
