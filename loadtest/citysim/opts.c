/* opts.c - flag parsing and range checks for citysim. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

const char opts_usage[] =
    "usage: citysim [flags]\n"
    "  --pharmacies N      simulated pharmacies (300)\n"
    "  --couriers N        simulated couriers, when the courier API answers (200)\n"
    "  --rate R            prescriptions per second (5)\n"
    "  --duration S        seconds of sending prescriptions (60)\n"
    "  --drain S           seconds to wait for every order to finish (60)\n"
    "  --seed N            PRNG seed: same seed, same city and prescriptions (1)\n"
    "  --speedup X         simulated time runs X times faster (10)\n"
    "  --day S             a province's day of prescriptions in S real seconds:\n"
    "                      --rate is then the mean, quiet at night, peaks at\n"
    "                      10 am and 8 pm (0: a flat rate)\n"
    "  --city NAME         chengdu: a disc of --radius-m around --centre (the\n"
    "                      default); wuhan: around 17 major Wuhan hospitals,\n"
    "                      every pharmacy, drop-off and courier start within\n"
    "                      3 km of one (--centre and --radius-m unused)\n"
    "  --centre LAT,LON    city centre (30.657,104.066: Chengdu)\n"
    "  --radius-m M        city radius in metres (6000)\n"
    "  --leave-to-people N also register N pharmacies and N couriers that\n"
    "                      citysim does not drive, for people to play (0)\n"
    "  --max-conns N       connections per long-poll pool (512)\n"
    "  --run-id ID         prefix of every id of this run (default: derived)\n"
    "  --summary-json PATH also write the summary as JSON\n"
    "  --ids-json PATH     once registered, write the city's ids as JSON:\n"
    "                      {\"pharmacies\": [...], \"couriers\": [...],\n"
    "                       \"left_to_people\": {\"pharmacies\": [...], ...}}\n"
    "settings: RXD_KAFKA_BROKERS, RXD_TOKEN_SECRET, RXD_PHARMACY_API, RXD_COURIER_API\n"
    "(. build/stack.env sets them all)\n";

static int opts_int(const config *cfg, const char *name, long long def, long long lo, long long hi,
                    int *out, char *err, size_t errlen)
{
    long long v;
    if (config_int(cfg, name, def, &v, err, errlen) != 0)
        return -1;
    if (v < lo || v > hi) {
        snprintf(err, errlen, "--%s must be in [%lld, %lld] (got %lld)", name, lo, hi, v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int opts_double(const config *cfg, const char *name, double def, double lo, double hi,
                       double *out, char *err, size_t errlen)
{
    if (config_double(cfg, name, def, out, err, errlen) != 0)
        return -1;
    if (*out < lo || *out > hi) {
        snprintf(err, errlen, "--%s must be in [%g, %g] (got %g)", name, lo, hi, *out);
        return -1;
    }
    return 0;
}

static int opts_centre(const config *cfg, sim_opts *o, char *err, size_t errlen)
{
    const char *s = config_str(cfg, "CENTRE", "30.657,104.066");
    if (sscanf(s, "%lf,%lf", &o->centre_lat, &o->centre_lon) != 2 || o->centre_lat < -80 ||
        o->centre_lat > 80 || o->centre_lon < -180 || o->centre_lon > 180) {
        snprintf(err, errlen, "--centre must be LAT,LON in degrees, e.g. 30.657,104.066 (got '%s')",
                 s);
        return -1;
    }
    return 0;
}

static int opts_numbers(const config *cfg, sim_opts *o, char *err, size_t errlen)
{
    long long seed;
    if (opts_int(cfg, "PHARMACIES", 300, 1, 100000, &o->pharmacies, err, errlen) ||
        opts_int(cfg, "COURIERS", 200, 0, 100000, &o->couriers, err, errlen) ||
        opts_double(cfg, "RATE", 5, 0.01, 10000, &o->rate, err, errlen) ||
        opts_int(cfg, "DURATION", 60, 1, 86400, &o->duration_s, err, errlen) ||
        opts_int(cfg, "DRAIN", 60, 0, 86400, &o->drain_s, err, errlen) ||
        opts_double(cfg, "SPEEDUP", 10, 0.1, 10000, &o->speedup, err, errlen) ||
        opts_double(cfg, "DAY", 0, 0, 864000, &o->day_s, err, errlen) ||
        opts_double(cfg, "RADIUS_M", 6000, 100, 100000, &o->radius_m, err, errlen) ||
        opts_int(cfg, "MAX_CONNS", 512, 1, 10000, &o->max_conns, err, errlen) ||
        opts_int(cfg, "LEAVE_TO_PEOPLE", 0, 0, 100, &o->leave_to_people, err, errlen))
        return -1;
    if (config_int(cfg, "SEED", 1, &seed, err, errlen) != 0)
        return -1;
    o->seed = (uint64_t)seed;
    return 0;
}

static int opts_city(const config *cfg, sim_opts *o, char *err, size_t errlen)
{
    const char *s = config_str(cfg, "CITY", "chengdu");
    if (strcmp(s, "chengdu") != 0 && strcmp(s, "wuhan") != 0) {
        snprintf(err, errlen, "--city must be chengdu or wuhan (got '%s')", s);
        return -1;
    }
    o->wuhan = strcmp(s, "wuhan") == 0;
    return 0;
}

int opts_parse(const config *cfg, sim_opts *o, char *err, size_t errlen)
{
    if (opts_numbers(cfg, o, err, errlen) || opts_centre(cfg, o, err, errlen) ||
        opts_city(cfg, o, err, errlen))
        return -1;
    o->ids_json = config_str(cfg, "IDS_JSON", NULL);
    o->summary_json = config_str(cfg, "SUMMARY_JSON", NULL);
    o->run_id = config_str(cfg, "RUN_ID", NULL);
    o->pharmacy_api = config_str(cfg, "PHARMACY_API", NULL);
    o->courier_api = config_str(cfg, "COURIER_API", NULL);
    o->token_secret = config_str(cfg, "TOKEN_SECRET", NULL);
    o->topic_approved = config_str(cfg, "TOPIC_APPROVED", "rx.approved");
    o->topic_events = config_str(cfg, "TOPIC_EVENTS", "order.events");
    o->topic_notify = config_str(cfg, "TOPIC_NOTIFY", "patient.notify");
    if (!o->pharmacy_api || !o->token_secret) {
        snprintf(err, errlen,
                 "RXD_PHARMACY_API and RXD_TOKEN_SECRET must be set: start the stack "
                 "(scripts/stack up) and source its env file (. build/stack.env)");
        return -1;
    }
    return 0;
}
