/* wuhan.h - the Wuhan city: major hospitals of the city's six central
 * districts (and Jinyintan), and places drawn around them the way Hubei's
 * e-prescription pilots link a hospital to the pharmacies within 3 km:
 * every pharmacy, drop-off point and courier start lies in one hospital's
 * circle and carries a Wuhan street address. Pure: a table and drawing
 * from the caller's PRNG stream. */
#ifndef CITYSIM_WUHAN_H
#define CITYSIM_WUHAN_H

#include <stddef.h>

#include "rng.h"

/* the pilots' hospital-pharmacy link radius */
#define WUHAN_LINK_M 3000.0
#define WUHAN_NAME_MAX 128
#define WUHAN_ADDRESS_MAX 128

typedef struct wuhan_hospital {
    const char *id; /* the hospital_id prescriptions carry, "hb-wh-..." */
    const char *name;
    int district; /* index into the district table */
    double lat, lon;
} wuhan_hospital;

typedef struct wuhan_place {
    const wuhan_hospital *hospital;
    double lat, lon;
    const char *road;
    char address[WUHAN_ADDRESS_MAX]; /* 武汉市<区><路><号>号 */
} wuhan_place;

const wuhan_hospital *wuhan_hospitals(size_t *n);
/* The district's name, e.g. "江岸区". */
const char *wuhan_district(int district);
/* A place within radius_m of hospital h (an index of the table), its
 * address on a road of the hospital's district. */
void wuhan_draw_place(rng *r, size_t h, double radius_m, wuhan_place *out);
/* A generic (not a real brand) pharmacy name: a stem and the road of its
 * branch, "江城大药房（中山大道店）". */
void wuhan_pharmacy_name(rng *r, const wuhan_place *pl, char *buf, size_t len);

#endif
