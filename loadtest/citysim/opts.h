/* opts.h - citysim's settings, read config.h style (--flag, else RXD_FLAG,
 * else the default) and checked once at start-up. */
#ifndef CITYSIM_OPTS_H
#define CITYSIM_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct sim_opts {
    int pharmacies;
    int couriers;
    double rate;    /* prescriptions per second */
    int duration_s; /* how long prescriptions are sent */
    int drain_s;    /* how long to wait afterwards for every order to finish */
    uint64_t seed;
    double speedup; /* simulated seconds per real second for travel and work */
    double day_s;   /* real seconds of one simulated day of demand; 0: flat rate */
    int wuhan;      /* --city wuhan: the table of wuhan.c instead of the disc */
    double centre_lat, centre_lon;
    double radius_m;
    int leave_to_people; /* pharmacies and couriers registered, not driven */
    int max_conns;       /* connections per long-poll pool */
    const char *summary_json;
    const char *ids_json; /* the registered ids, written once registered */
    const char *run_id;   /* NULL: derived from the seed and the start time */
    const char *pharmacy_api;
    const char *courier_api;
    const char *token_secret;
    const char *topic_approved, *topic_events, *topic_notify;
} sim_opts;

/* Fills o from cfg (strings live as long as cfg). -1 with a message in err
 * that names the flag to fix. */
int opts_parse(const config *cfg, sim_opts *o, char *err, size_t errlen);

extern const char opts_usage[];

#endif
