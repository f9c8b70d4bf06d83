/* citysim - a simulated city driving the real rxdispatch stack through its
 * public interfaces only: prescriptions to rx.approved, pharmacies and
 * couriers over the HTTP APIs, patients reading patient.notify, and the
 * outcome read back from order.events. Prints progress on stderr, a summary
 * on stdout (and as JSON with --summary-json), and exits 0 only when every
 * order of the run reached a final state within the drain period. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "city.h"
#include "courier.h"
#include "kafka.h"
#include "log.h"
#include "patient.h"
#include "pharm.h"
#include "report.h"
#include "rxgen.h"
#include "track.h"

#define CITYSIM_CHECK_S 0.5      /* drain check period */
#define CITYSIM_PROGRESS_EVERY 4 /* checks per progress line (2 s) */
#define CITYSIM_ACT_CONNS 32
#define CITYSIM_POLL_TIMEOUT_S 40 /* a 20 s long-poll plus margin */
#define CITYSIM_ACT_TIMEOUT_S 15
#define CITYSIM_CLOSE_WAIT_MS 5000

enum { CS_SETUP, CS_RUN, CS_DRAIN, CS_CLOSING };

typedef struct citysim {
    sim s;
    sim_opts opt;
    config *cfg;
    kafka_producer *kp;
    track *trk;
    rxgen *gen;
    courier_set *couriers;
    struct event *check, *on_int, *on_term;
    int64_t start_ms, drain_end_ms, close_end_ms;
    long checks;
    int phase;
    int rc;
} citysim;

static const char *const citysim_states[] = {
    "ROUTING",   "OFFERED",   "ACCEPTED", "READY",     "COURIER_ASSIGNED", "PICKED_UP",
    "DELIVERED", "RETURNING", "RETURNED", "CANCELLED", "UNROUTABLE",       "COLLECTED"};
#define CITYSIM_NSTATES (sizeof(citysim_states) / sizeof(citysim_states[0]))

static int citysim_fail(const char *what, const char *why)
{
    fprintf(stderr, "citysim: %s: %s\n", what, why);
    return 2;
}

static int citysim_pharmacy_only(const citysim *cs)
{
    return cs->s.co_act == NULL;
}

/* ---- progress and the end of the run ---- */

static void citysim_count_state(const track_order *o, void *ctx)
{
    long *counts = ctx;
    const char *st = track_order_state(o);
    for (size_t i = 0; i < CITYSIM_NSTATES; i++)
        if (strcmp(st, citysim_states[i]) == 0)
            counts[i]++;
}

static void citysim_progress(citysim *cs)
{
    long counts[CITYSIM_NSTATES] = {0};
    char line[512];
    int n = snprintf(line, sizeof(line), "[%4llds] sent %ld orders %ld",
                     (long long)((sim_now_ms() - cs->start_ms) / 1000), rxgen_sent(cs->gen),
                     track_order_count(cs->trk));
    track_each_order(cs->trk, citysim_count_state, counts);
    for (size_t i = 0; i < CITYSIM_NSTATES && n < (int)sizeof(line); i++)
        if (counts[i])
            n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%ld", citysim_states[i],
                          counts[i]);
    fprintf(stderr, "%s%s\n", line, cs->phase == CS_DRAIN ? " (draining)" : "");
}

static void citysim_finish(citysim *cs, int rc)
{
    if (cs->phase == CS_CLOSING)
        return;
    cs->phase = CS_CLOSING;
    cs->rc = rc;
    cs->s.stopping = 1;
    cs->close_end_ms = sim_now_ms() + CITYSIM_CLOSE_WAIT_MS;
    /* leave the shared stack as we found it: nobody answers for these any more */
    if (cs->s.pharms)
        pharm_set_close(cs->s.pharms);
    if (cs->couriers)
        courier_set_close(cs->couriers);
}

static void citysim_check_drain(citysim *cs)
{
    int64_t now = sim_now_ms();
    if (cs->phase == CS_RUN && rxgen_finished(cs->gen) &&
        now - cs->start_ms >= (int64_t)cs->opt.duration_s * 1000) {
        cs->phase = CS_DRAIN;
        cs->drain_end_ms = now + (int64_t)cs->opt.drain_s * 1000;
    }
    if (cs->phase != CS_DRAIN)
        return;
    if (track_unsettled(cs->trk, citysim_pharmacy_only(cs), NULL, NULL) == 0)
        citysim_finish(cs, 0);
    else if (now >= cs->drain_end_ms)
        citysim_finish(cs, 1);
}

static void citysim_on_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    citysim *cs = arg;
    if (cs->phase == CS_CLOSING) {
        int pending = api_pending(cs->s.ph_act) + (cs->s.co_act ? api_pending(cs->s.co_act) : 0);
        if (pending == 0 || sim_now_ms() >= cs->close_end_ms)
            event_base_loopexit(cs->s.base, NULL);
        return;
    }
    if (cs->phase == CS_SETUP)
        return;
    if (++cs->checks % CITYSIM_PROGRESS_EVERY == 0)
        citysim_progress(cs);
    citysim_check_drain(cs);
}

static void citysim_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    citysim *cs = arg;
    fprintf(stderr, "citysim: signal %d: stopping, summary follows\n", (int)sig);
    if (cs->phase == CS_SETUP)
        event_base_loopexit(cs->s.base, NULL);
    citysim_finish(cs, 1);
}

/* ---- start-up ---- */

static void citysim_on_registered(int failures, const char *first_error, void *ctx)
{
    citysim *cs = ctx;
    if (failures) {
        fprintf(stderr,
                "citysim: registering the city failed %d time(s); first: %s\n"
                "citysim: is the stack up and RXD_TOKEN_SECRET the stack's secret?\n",
                failures, first_error);
        cs->rc = 2;
        event_base_loopexit(cs->s.base, NULL);
        return;
    }
    char err[512];
    if (cs->opt.ids_json && city_write_ids(cs->s.city, !citysim_pharmacy_only(cs), cs->opt.ids_json,
                                           err, sizeof(err)) != 0)
        fprintf(stderr, "citysim: %s\n", err);
    fprintf(stderr,
            "citysim: run %s%s: %d pharmacies, %d couriers (%s mode); sending %.4g/s for %d s\n",
            cs->s.run_id, cs->opt.wuhan ? " (Wuhan)" : "", city_driven_pharmacies(cs->s.city),
            citysim_pharmacy_only(cs) ? 0 : city_driven_couriers(cs->s.city),
            citysim_pharmacy_only(cs) ? "pharmacy-only" : "full", cs->opt.rate, cs->opt.duration_s);
    if (cs->s.city->people)
        fprintf(stderr, "citysim: %d pharmacies and %d couriers more are left to people\n",
                cs->s.city->people, citysim_pharmacy_only(cs) ? 0 : cs->s.city->people);
    cs->start_ms = sim_now_ms();
    cs->phase = CS_RUN;
    pharm_set_start(cs->s.pharms);
    if (cs->couriers && courier_set_start(cs->couriers) != 0)
        fprintf(stderr, "citysim: cannot start the courier clock; couriers will not move\n");
    if (rxgen_start(cs->gen) != 0) {
        fprintf(stderr, "citysim: cannot start the prescription clock\n");
        citysim_finish(cs, 2);
    }
}

static int citysim_register(citysim *cs)
{
    if (!cs->s.co_act && cs->opt.couriers > 0)
        fprintf(stderr, "citysim: no courier API: pharmacy-only mode (home deliveries stop at "
                        "READY, pickups end COLLECTED)\n");
    cs->s.pharms = pharm_set_new(&cs->s);
    cs->couriers = cs->s.co_act ? courier_set_new(&cs->s) : NULL;
    if (!cs->s.pharms || (cs->s.co_act && !cs->couriers))
        return citysim_fail("start-up", "out of memory for the actors");
    if (city_register(cs->s.city, &cs->s, citysim_on_registered, cs) != 0)
        return citysim_fail("start-up", "out of memory registering the city");
    return 0;
}

static void citysim_drop_courier_api(citysim *cs)
{
    api_free(cs->s.co_poll);
    api_free(cs->s.co_act);
    cs->s.co_poll = cs->s.co_act = NULL;
}

/* The courier API may be configured but not (yet) running: any HTTP answer
 * means it is there. */
static void citysim_on_probe(int status, json_t *body, void *ctx)
{
    (void)body;
    citysim *cs = ctx;
    if (status == 0) {
        fprintf(stderr, "citysim: the courier API at %s does not answer\n", cs->opt.courier_api);
        citysim_drop_courier_api(cs);
    }
    if (citysim_register(cs) != 0) {
        cs->rc = 2;
        event_base_loopexit(cs->s.base, NULL);
    }
}

static int citysim_open_apis(citysim *cs, char *err, size_t errlen)
{
    sim *s = &cs->s;
    int ph_polls = cs->opt.pharmacies < cs->opt.max_conns ? cs->opt.pharmacies : cs->opt.max_conns;
    int co_polls = cs->opt.couriers < cs->opt.max_conns ? cs->opt.couriers : cs->opt.max_conns;
    s->ph_poll =
        api_new(s->base, cs->opt.pharmacy_api, ph_polls, CITYSIM_POLL_TIMEOUT_S, err, errlen);
    s->ph_act = api_new(s->base, cs->opt.pharmacy_api, CITYSIM_ACT_CONNS, CITYSIM_ACT_TIMEOUT_S,
                        err, errlen);
    if (!s->ph_poll || !s->ph_act)
        return -1;
    if (!cs->opt.courier_api || !*cs->opt.courier_api || cs->opt.couriers == 0)
        return 0;
    s->co_poll =
        api_new(s->base, cs->opt.courier_api, co_polls, CITYSIM_POLL_TIMEOUT_S, err, errlen);
    s->co_act = api_new(s->base, cs->opt.courier_api, CITYSIM_ACT_CONNS, CITYSIM_ACT_TIMEOUT_S, err,
                        errlen);
    return s->co_poll && s->co_act ? 0 : -1;
}

static void citysim_make_run_id(citysim *cs)
{
    if (cs->opt.run_id)
        snprintf(cs->s.run_id, sizeof(cs->s.run_id), "%s", cs->opt.run_id);
    else /* the time keeps runs sharing a stack apart; the seed keeps them readable */
        snprintf(cs->s.run_id, sizeof(cs->s.run_id), "cs%llu-%llx",
                 (unsigned long long)cs->opt.seed, (unsigned long long)(sim_now_ms() / 1000));
}

static int citysim_open_kafka(citysim *cs, char *err, size_t errlen)
{
    cs->kp = kafka_producer_new(cs->s.base, cs->cfg, err, errlen);
    if (!cs->kp)
        return -1;
    cs->trk = track_new(cs->s.base, cs->cfg, cs->s.run_id, cs->opt.topic_events, err, errlen);
    if (!cs->trk)
        return -1;
    cs->s.pat = patient_new(cs->s.base, cs->cfg, cs->s.run_id, cs->opt.topic_notify, err, errlen);
    if (!cs->s.pat)
        return -1;
    cs->gen = rxgen_new(&cs->s, cs->kp, cs->trk);
    if (!cs->gen) {
        snprintf(err, errlen, "out of memory for the prescription generator");
        return -1;
    }
    return 0;
}

static int citysim_open(citysim *cs)
{
    char err[512];
    int64_t exp_s = sim_now_ms() / 1000 + cs->opt.duration_s + cs->opt.drain_s + 3600;
    citysim_make_run_id(cs);
    cs->s.opt = &cs->opt;
    cs->s.base = event_base_new();
    if (!cs->s.base)
        return citysim_fail("start-up", "cannot create the event loop");
    cs->s.city = city_new(&cs->opt, cs->s.run_id, exp_s, err, sizeof(err));
    if (!cs->s.city)
        return citysim_fail("city", err);
    if (citysim_open_apis(cs, err, sizeof(err)) != 0)
        return citysim_fail("HTTP", err);
    if (citysim_open_kafka(cs, err, sizeof(err)) != 0)
        return citysim_fail("kafka", err);
    return 0;
}

static int citysim_start(citysim *cs)
{
    struct timeval tv = sim_real(CITYSIM_CHECK_S);
    cs->check = event_new(cs->s.base, -1, EV_PERSIST, citysim_on_check, cs);
    cs->on_int = evsignal_new(cs->s.base, SIGINT, citysim_on_signal, cs);
    cs->on_term = evsignal_new(cs->s.base, SIGTERM, citysim_on_signal, cs);
    if (!cs->check || !cs->on_int || !cs->on_term || event_add(cs->check, &tv) != 0 ||
        event_add(cs->on_int, NULL) != 0 || event_add(cs->on_term, NULL) != 0)
        return citysim_fail("start-up", "cannot register timers and signals");
    if (cs->s.co_act)
        return api_request(cs->s.co_act, EVHTTP_REQ_GET, "/healthz", cs->s.city->op_token, NULL,
                           citysim_on_probe, cs) == 0
                   ? 0
                   : citysim_fail("start-up", "out of memory");
    return citysim_register(cs);
}

/* ---- the end ---- */

static int citysim_report(citysim *cs)
{
    report_input in = {
        .run_id = cs->s.run_id,
        .seed = (unsigned long long)cs->opt.seed,
        .mode = citysim_pharmacy_only(cs) ? "pharmacy-only" : "full",
        /* the dispatcher's default when the stack was started without it */
        .dispatch_policy = getenv("RXD_DISPATCH_POLICY") ? getenv("RXD_DISPATCH_POLICY") : "batch",
        .elapsed_s = cs->start_ms ? (double)(sim_now_ms() - cs->start_ms) / 1000.0 : 0,
        .sent = rxgen_sent(cs->gen),
        .produce_failures = rxgen_failed(cs->gen),
        .ready_final = citysim_pharmacy_only(cs),
        .pharmacies = pharm_set_stats(cs->s.pharms),
        .couriers = cs->couriers ? courier_set_stats(cs->couriers) : NULL,
    };
    json_t *summary = report_build(cs->trk, &in);
    char err[512];
    int rc = 0;
    report_print(stdout, summary);
    if (cs->opt.summary_json &&
        report_write_json(cs->opt.summary_json, summary, err, sizeof(err)) != 0) {
        fprintf(stderr, "citysim: %s\n", err);
        rc = 2;
    }
    json_decref(summary);
    return rc;
}

static void citysim_close(citysim *cs)
{
    cs->s.stopping = 1;
    api_free(cs->s.ph_poll);
    api_free(cs->s.ph_act);
    citysim_drop_courier_api(cs);
    pharm_set_free(cs->s.pharms);
    courier_set_free(cs->couriers);
    rxgen_free(cs->gen);
    track_free(cs->trk);
    patient_free(cs->s.pat);
    if (cs->kp)
        kafka_producer_free(cs->kp, 5000);
    city_free(cs->s.city);
    if (cs->check)
        event_free(cs->check);
    if (cs->on_int)
        event_free(cs->on_int);
    if (cs->on_term)
        event_free(cs->on_term);
    if (cs->s.base)
        event_base_free(cs->s.base);
    config_free(cs->cfg);
}

int main(int argc, char **argv)
{
    char err[512];
    citysim cs;
    memset(&cs, 0, sizeof(cs));
    log_init("citysim", getenv("RXD_LOG_LEVEL") ? getenv("RXD_LOG_LEVEL") : "warn");
    cs.cfg = config_new(argc, argv, err, sizeof(err));
    if (!cs.cfg || config_argc(cs.cfg) > 0) {
        fprintf(stderr, "citysim: %s\n%s", cs.cfg ? "unexpected argument" : err, opts_usage);
        config_free(cs.cfg);
        return 2;
    }
    if (opts_parse(cs.cfg, &cs.opt, err, sizeof(err)) != 0) {
        fprintf(stderr, "citysim: %s\n%s", err, opts_usage);
        config_free(cs.cfg);
        return 2;
    }
    int rc = citysim_open(&cs);
    const char *unread = config_unread_flag(cs.cfg);
    if (rc == 0 && unread)
        rc = citysim_fail("unknown flag", unread);
    if (rc == 0)
        rc = citysim_start(&cs);
    if (rc == 0) {
        event_base_dispatch(cs.s.base);
        rc = cs.rc;
        if (cs.phase != CS_SETUP && citysim_report(&cs) != 0 && rc == 0)
            rc = 2;
    }
    citysim_close(&cs);
    return rc;
}
