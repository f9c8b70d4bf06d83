/* city.h - the simulated city's fixed parts: a small drug catalogue, the
 * pharmacies (place, capabilities, stock) and the couriers (start point,
 * cold box, capacity), all drawn from the seed; and their registration
 * through the public APIs. */
#ifndef CITYSIM_CITY_H
#define CITYSIM_CITY_H

#include <stddef.h>

#include "rng.h"
#include "sim.h"
#include "wuhan.h"

#define CITY_ID_MAX 64
#define CITY_TOKEN_MAX 256

typedef struct city_drug {
    const char *code;
    const char *name;
    int cold_chain;
    int special; /* special management: never sold online, never stocked */
} city_drug;

typedef struct city_pharmacy {
    char id[CITY_ID_MAX + 1];
    char name[WUHAN_NAME_MAX];
    char address[WUHAN_ADDRESS_MAX]; /* "" in the Chengdu disc */
    const char *hospital_id;         /* the hospital it is linked to; NULL in the disc */
    double lat, lon;
    int capacity;
    int cold_chain;
    int insurance;
    int *stock; /* quantity per catalogue entry */
    char token[CITY_TOKEN_MAX];
} city_pharmacy;

typedef struct city_courier {
    char id[CITY_ID_MAX + 1];
    double lat, lon; /* start point */
    int cold_box;
    int capacity;
    char token[CITY_TOKEN_MAX];
} city_courier;

/* The last `people` pharmacies and couriers are left to people (the demo's
 * pages): registered like the others, never driven by citysim. */
struct city {
    city_pharmacy *pharmacies;
    int npharmacies; /* all registered, people's included */
    city_courier *couriers;
    int ncouriers;
    int people;
    char op_token[CITY_TOKEN_MAX];
};

/* Draws the city. exp_s is when the actors' tokens expire. */
city *city_new(const sim_opts *o, const char *run_id, int64_t exp_s, char *err, size_t errlen);
void city_free(city *c);

const city_drug *city_catalogue(size_t *n);
/* A uniformly random point within the Chengdu disc (--centre, --radius-m). */
void city_point(const sim_opts *o, rng *r, double *lat, double *lon);
/* How many pharmacies / couriers citysim drives (the first ones). */
int city_driven_pharmacies(const city *c);
int city_driven_couriers(const city *c);
/* Writes the registered ids (--ids-json), the couriers only when they were
 * registered (not in pharmacy-only mode); -1 with a message in err. */
int city_write_ids(const city *c, int with_couriers, const char *path, char *err, size_t errlen);

/* Registers every pharmacy (operator), its stock (the pharmacy) and, when
 * s->co_act is set, every courier's availability and first position. done
 * is called once all replies are in, with the number of failures and the
 * first failure's description. */
typedef void city_done_cb(int failures, const char *first_error, void *ctx);
int city_register(city *c, sim *s, city_done_cb *done, void *ctx);

#endif
