/* sim.h - what the parts of the simulated city share: the settings, the
 * loop, the HTTP pools and the tables the actors consult. Owned by main.c;
 * each actor module keeps a borrowed pointer. */
#ifndef CITYSIM_SIM_H
#define CITYSIM_SIM_H

#include <event2/event.h>
#include <stdint.h>
#include <time.h>

#include "api.h"
#include "opts.h"

typedef struct city city;
typedef struct patient patient;
typedef struct pharm_set pharm_set;

typedef struct sim {
    const sim_opts *opt;
    struct event_base *base;
    char run_id[48];
    api *ph_poll, *ph_act; /* pharmacy API: long-polls, everything else */
    api *co_poll, *co_act; /* courier API; NULL in pharmacy-only mode */
    city *city;
    patient *pat;
    pharm_set *pharms;
    int stopping; /* set at the end: actors start no new requests */
} sim;

static inline int64_t sim_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A simulated duration in real time: simulated seconds / speedup. */
static inline struct timeval sim_scaled(const sim *s, double sim_seconds)
{
    double real = sim_seconds / s->opt->speedup;
    struct timeval tv = {(time_t)real, (suseconds_t)((real - (double)(time_t)real) * 1e6)};
    return tv;
}

static inline struct timeval sim_real(double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    return tv;
}

#endif
