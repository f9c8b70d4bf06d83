/* rxbench - the load driver behind loadtest/bench. It draws a city the same
 * way from the same seed in every mode (so tokens and ids agree between
 * invocations) and acts only through the public interfaces:
 *
 *   rxbench seed      registers the pharmacies and couriers
 *   rxbench route     prescriptions at --rate for --duration (open loop);
 *                     with --poll 1 every pharmacy long-polls and accepts,
 *                     and the latency produce -> offer visible is reported
 *   rxbench dispatch  the same, pharmacies also mark orders ready, couriers
 *                     long-poll: latency ready -> assignment visible
 *   rxbench locations courier position updates at --rate (open loop)
 *
 * Latency is measured from the time a request was due, not sent, so a
 * stalled system cannot hide its queue (no coordinated omission). The result
 * is one JSON object (--out, else stdout). */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bench.h"

#define BENCH_REG_CONNS 64
#define BENCH_ACT_CONNS 128
#define BENCH_POLL_TIMEOUT_S 40

static int bench_opt_int(bench *b, const char *name, long long def, long long *out, char *err,
                         size_t errlen)
{
    return config_int(b->cfg, name, def, out, err, errlen);
}

static int bench_opts(bench *b, char *err, size_t errlen)
{
    const config *c = b->cfg;
    if (bench_opt_int(b, "PHARMACIES", 5000, &b->npharm, err, errlen) ||
        bench_opt_int(b, "COURIERS", 2000, &b->ncour, err, errlen) ||
        bench_opt_int(b, "SEED", 1, &b->seed, err, errlen) ||
        bench_opt_int(b, "DURATION", 10, &b->duration_s, err, errlen) ||
        bench_opt_int(b, "GRACE", 20, &b->grace_s, err, errlen) ||
        bench_opt_int(b, "CONNS", 64, &b->conns, err, errlen) ||
        bench_opt_int(b, "POLL", 1, &b->poll, err, errlen) ||
        config_double(c, "RATE", 100, &b->rate, err, errlen) ||
        config_double(c, "BOX_KM", 33, &b->box_km, err, errlen) ||
        config_double(c, "CENTRE_LAT", 31.23, &b->lat0, err, errlen) ||
        config_double(c, "CENTRE_LON", 121.47, &b->lon0, err, errlen))
        return -1;
    b->run_id = config_str(c, "RUN_ID", "bench");
    b->out = config_str(c, "OUT", NULL);
    b->pharmacy_api = config_str(c, "PHARMACY_API", NULL);
    b->courier_api = config_str(c, "COURIER_API", NULL);
    b->secret = config_str(c, "TOKEN_SECRET", NULL);
    b->topic = config_str(c, "TOPIC_APPROVED", "rx.approved");
    b->redis_url = config_str(c, "REDIS_URL", "redis://127.0.0.1:6379");
    b->region = config_str(c, "REGION", "default");
    config_str(c, "TOKENS_OUT", NULL); /* read by seed */
    if (b->npharm < 1 || b->ncour < 0 || b->rate <= 0 || b->duration_s < 1 || b->conns < 1 ||
        b->box_km <= 0) {
        snprintf(err, errlen,
                 "--pharmacies >= 1, --couriers >= 0, --rate > 0, --duration >= 1, "
                 "--conns >= 1 and --box-km > 0 please");
        return -1;
    }
    if (!b->pharmacy_api || !b->courier_api || !b->secret) {
        snprintf(err, errlen,
                 "set RXD_PHARMACY_API, RXD_COURIER_API and RXD_TOKEN_SECRET "
                 "(scripts/stack writes them to run/env)");
        return -1;
    }
    return 0;
}

static void bench_draw_site(bench *b, bench_site *s, rng *r, const char *kind, long i,
                            auth_role role, int64_t exp_s)
{
    double m_per_deg = 111320.0;
    s->b = b;
    snprintf(s->id, sizeof(s->id), "%s-%s-%05ld", b->run_id, kind, i);
    s->lat = b->lat0 + (rng_unit(r) - 0.5) * b->box_km * 1000.0 / m_per_deg;
    s->lon = b->lon0 +
             (rng_unit(r) - 0.5) * b->box_km * 1000.0 / (m_per_deg * cos(b->lat0 * M_PI / 180));
    auth_token_make(b->secret, role, s->id, exp_s, s->token, sizeof(s->token));
}

static int bench_draw_city(bench *b, char *err, size_t errlen)
{
    int64_t exp_s = bench_now_us() / 1000000 + 86400;
    rng r;
    rng_seed(&r, (uint64_t)b->seed, 1);
    b->ph = calloc((size_t)b->npharm, sizeof(bench_site));
    b->co = calloc((size_t)(b->ncour ? b->ncour : 1), sizeof(bench_site));
    if (!b->ph || !b->co) {
        snprintf(err, errlen, "out of memory drawing the city");
        return -1;
    }
    for (long i = 0; i < b->npharm; i++)
        bench_draw_site(b, &b->ph[i], &r, "ph", i, AUTH_PHARMACY, exp_s);
    for (long i = 0; i < b->ncour; i++)
        bench_draw_site(b, &b->co[i], &r, "co", i, AUTH_COURIER, exp_s);
    if (auth_token_make(b->secret, AUTH_OPERATOR, "rxbench", exp_s, b->op_token,
                        sizeof(b->op_token)) < 0) {
        snprintf(err, errlen, "--run-id must be short and of [A-Za-z0-9._-]");
        return -1;
    }
    return 0;
}

/* ---- seed ---- */

static void bench_on_registered(int status, json_t *body, void *ctx)
{
    (void)body;
    bench *b = ctx;
    if (status != 200)
        b->http_errors++;
    if (--b->want == 0)
        event_base_loopbreak(b->base);
}

static void bench_register(bench *b, api *a, const char *path, const char *token, json_t *body)
{
    b->want++;
    if (api_request(a, EVHTTP_REQ_PUT, path, token, body, bench_on_registered, b) != 0) {
        b->want--;
        b->http_errors++;
    }
}

/* For wrk's Lua script: "id token lat lon" per courier (--tokens-out). */
static int bench_write_couriers(const bench *b)
{
    const char *path = config_str(b->cfg, "TOKENS_OUT", NULL);
    if (!path)
        return 0;
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    for (long i = 0; i < b->ncour; i++)
        fprintf(f, "%s %s %.7f %.7f\n", b->co[i].id, b->co[i].token, b->co[i].lat, b->co[i].lon);
    return fclose(f);
}

static int bench_seed(bench *b)
{
    char path[160];
    int64_t now_ms = bench_now_us() / 1000;
    for (long i = 0; i < b->npharm; i++) {
        const bench_site *p = &b->ph[i];
        snprintf(path, sizeof(path), "/v1/pharmacies/%s", p->id);
        bench_register(b, b->ph_act, path, b->op_token,
                       json_pack("{s:s, s:f, s:f, s:b, s:i, s:b, s:b}", "name", p->id, "lat",
                                 p->lat, "lon", p->lon, "open", 1, "capacity", 1000, "cold_chain",
                                 1, "insurance_designated", 1));
    }
    for (long i = 0; i < b->ncour; i++) {
        const bench_site *c = &b->co[i];
        snprintf(path, sizeof(path), "/v1/couriers/%s/availability", c->id);
        bench_register(
            b, b->co_act, path, c->token,
            json_pack("{s:b, s:b, s:i}", "available", 1, "cold_chain", 1, "capacity", 1));
        snprintf(path, sizeof(path), "/v1/couriers/%s/location", c->id);
        bench_register(b, b->co_act, path, c->token,
                       json_pack("{s:f, s:f, s:I}", "lat", c->lat, "lon", c->lon, "ts_ms",
                                 (json_int_t)now_ms));
    }
    if (b->want)
        event_base_dispatch(b->base);
    return b->http_errors ? -1 : bench_write_couriers(b);
}

/* ---- runs ---- */

static void bench_json_latency(json_t *o, const char *prefix, const hist *h)
{
    static const struct {
        const char *name;
        double p;
    } pct[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}};
    char key[64];
    for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++) {
        snprintf(key, sizeof(key), "%s_%s_ms", prefix, pct[i].name);
        json_object_set_new(o, key, json_real((double)hist_percentile(h, pct[i].p) / 1000.0));
    }
    snprintf(key, sizeof(key), "%s_max_ms", prefix);
    json_object_set_new(o, key, json_real((double)hist_max(h) / 1000.0));
    snprintf(key, sizeof(key), "%s_n", prefix);
    json_object_set_new(o, key, json_integer((json_int_t)hist_count(h)));
}

/* Ends the run once everything expected was seen, or after the grace. */
static void bench_on_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bench *b = arg;
    int64_t end = b->start_us + (b->duration_s + b->grace_s) * 1000000;
    long total = (long)(b->rate * (double)b->duration_s);
    int finished;
    if (strcmp(b->mode, "locations") == 0)
        finished = b->loc_ok + b->loc_bad >= total;
    else if (strcmp(b->mode, "dispatch") == 0)
        finished = b->sent >= total && poll_assigned(b) >= b->sent;
    else
        finished = b->sent >= total && (!b->ph_poll || poll_offered(b) >= b->sent);
    if (bench_now_us() > end || finished) {
        b->stopping = 1;
        event_base_loopbreak(b->base);
    }
}

static void bench_watch(bench *b)
{
    struct timeval tv = {0, 100000};
    b->watch = event_new(b->base, -1, EV_PERSIST, bench_on_watch, b);
    event_add(b->watch, &tv);
}

/* The producer knows the broker, and (when polling) offers left over from
 * an earlier run are accepted: only then is the first prescription due. */
static void bench_on_warmup(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bench *b = arg;
    long seen = poll_offered(b);
    int64_t now = bench_now_us();
    if (seen != b->warm_seen) {
        b->warm_seen = seen;
        b->warm_us = now;
        return;
    }
    int settling = b->ph_poll && (now - b->warm_us < 1000000 || api_pending(b->ph_act) > 0);
    if (settling || b->warm_acked == 0)
        return;
    event_del(b->warmup);
    if (rxprod_start(b) != 0) {
        fprintf(stderr, "rxbench: cannot start the producer's timer\n");
        event_base_loopbreak(b->base);
        return;
    }
    bench_watch(b);
}

static int bench_run_orders(bench *b, json_t *res, char *err, size_t errlen)
{
    int dispatch = strcmp(b->mode, "dispatch") == 0;
    if (b->poll || dispatch) {
        b->ph_poll =
            api_new(b->base, b->pharmacy_api, (int)b->npharm, BENCH_POLL_TIMEOUT_S, err, errlen);
        if (!b->ph_poll)
            return -1;
        poll_start_pharmacies(b);
    }
    if (dispatch) {
        b->co_poll = api_new(b->base, b->courier_api, (int)(b->ncour ? b->ncour : 1),
                             BENCH_POLL_TIMEOUT_S, err, errlen);
        if (!b->co_poll)
            return -1;
        poll_start_couriers(b);
    }
    if (rxprod_init(b, err, errlen))
        return -1;
    struct timeval tv = {0, 100000};
    b->warm_us = bench_now_us();
    b->warmup = event_new(b->base, -1, EV_PERSIST, bench_on_warmup, b);
    event_add(b->warmup, &tv);
    event_base_dispatch(b->base);
    if (!b->tick) {
        snprintf(err, errlen, "the producer never became ready");
        return -1;
    }
    int64_t span_us = bench_now_us() - b->start_us;
    json_object_set_new(res, "sent", json_integer(b->sent));
    json_object_set_new(res, "produce_failed", json_integer(b->failed));
    json_object_set_new(res, "http_errors", json_integer(b->http_errors));
    json_object_set_new(res, "span_s", json_real((double)span_us / 1e6));
    if (b->ph_poll) {
        hist *h = hist_new();
        long n = rxprod_offer_latency(b, h, err, errlen);
        if (n < 0) {
            hist_free(h);
            return -1;
        }
        json_object_set_new(res, "offered", json_integer(n));
        json_object_set_new(res, "offers_seen", json_integer(poll_offered(b)));
        bench_json_latency(res, "offer", h);
        hist_free(h);
    }
    if (dispatch) {
        hist *h = hist_new();
        size_t i = 0;
        const char *k;
        void *v;
        while (dict_next(b->orders, &i, &k, &v)) {
            const bench_order *o = v;
            if (o->ready_us && o->assigned_us)
                hist_add(h, o->assigned_us - o->ready_us);
        }
        json_object_set_new(res, "assigned", json_integer(poll_assigned(b)));
        bench_json_latency(res, "assign", h);
        hist_free(h);
    }
    return 0;
}

static int bench_run_locations(bench *b, json_t *res)
{
    hist *h = hist_new();
    if (loc_start(b, h)) {
        hist_free(h);
        return -1;
    }
    bench_watch(b);
    event_base_dispatch(b->base);
    double span = (double)(bench_now_us() - b->start_us) / 1e6;
    json_object_set_new(res, "requests_ok", json_integer(b->loc_ok));
    json_object_set_new(res, "requests_failed", json_integer(b->loc_bad));
    json_object_set_new(res, "span_s", json_real(span));
    json_object_set_new(res, "achieved_rps", json_real((double)(b->loc_ok + b->loc_bad) / span));
    bench_json_latency(res, "location", h);
    hist_free(h);
    return 0;
}

static int bench_write(const bench *b, json_t *res)
{
    char *s = json_dumps(res, JSON_INDENT(1) | JSON_SORT_KEYS);
    FILE *f = b->out ? fopen(b->out, "w") : stdout;
    if (!s || !f) {
        fprintf(stderr, "rxbench: cannot write %s\n", b->out ? b->out : "stdout");
        free(s);
        return -1;
    }
    fprintf(f, "%s\n", s);
    free(s);
    return f == stdout ? 0 : fclose(f);
}

static int bench_pools(bench *b, char *err, size_t errlen)
{
    b->ph_act = api_new(b->base, b->pharmacy_api, BENCH_ACT_CONNS, 30, err, errlen);
    if (!b->ph_act)
        return -1;
    int conns = strcmp(b->mode, "locations") == 0 ? (int)b->conns : BENCH_REG_CONNS;
    b->co_act = api_new(b->base, b->courier_api, conns, 30, err, errlen);
    return b->co_act ? 0 : -1;
}

static int bench_main(bench *b, char *err, size_t errlen)
{
    if (bench_opts(b, err, errlen) || bench_draw_city(b, err, errlen) ||
        bench_pools(b, err, errlen))
        return -1;
    const char *unread = config_unread_flag(b->cfg);
    if (unread) {
        snprintf(err, errlen, "unknown flag --%s", unread);
        return -1;
    }
    json_t *res = json_pack("{s:s, s:f, s:I, s:I, s:I}", "mode", b->mode, "rate", b->rate,
                            "duration_s", (json_int_t)b->duration_s, "pharmacies",
                            (json_int_t)b->npharm, "couriers", (json_int_t)b->ncour);
    int rc;
    if (strcmp(b->mode, "seed") == 0) {
        rc = bench_seed(b);
        json_object_set_new(res, "http_errors", json_integer(b->http_errors));
    } else if (strcmp(b->mode, "route") == 0 || strcmp(b->mode, "dispatch") == 0) {
        rc = bench_run_orders(b, res, err, errlen);
    } else if (strcmp(b->mode, "locations") == 0) {
        rc = bench_run_locations(b, res);
    } else {
        snprintf(err, errlen, "mode must be seed, route, dispatch or locations");
        rc = -1;
    }
    if (rc == 0 || b->http_errors)
        rc = bench_write(b, res) || rc;
    json_decref(res);
    if (rc && !err[0])
        snprintf(err, errlen, "%ld HTTP requests failed (is the stack up?)", b->http_errors);
    return rc;
}

static void bench_free(bench *b)
{
    if (b->kp)
        kafka_producer_free(b->kp, 5000);
    api_free(b->ph_poll);
    api_free(b->ph_act);
    api_free(b->co_poll);
    api_free(b->co_act);
    if (b->tick)
        event_free(b->tick);
    if (b->watch)
        event_free(b->watch);
    if (b->warmup)
        event_free(b->warmup);
    dict_free(b->orders);
    free(b->intended_us);
    free(b->loc);
    free(b->ph);
    free(b->co);
    if (b->base)
        event_base_free(b->base);
}

int main(int argc, char **argv)
{
    char err[512] = "";
    signal(SIGPIPE, SIG_IGN);
    bench b = {0};
    config *cfg = config_new(argc, argv, err, sizeof(err));
    if (!cfg || config_argc(cfg) != 1) {
        fprintf(stderr, "usage: rxbench seed|route|dispatch|locations [--flags]\n%s\n", err);
        config_free(cfg);
        return 2;
    }
    b.cfg = cfg;
    b.mode = config_arg(cfg, 0);
    b.base = event_base_new();
    b.orders = dict_new(free);
    int rc = bench_main(&b, err, sizeof(err));
    if (rc)
        fprintf(stderr, "rxbench %s: %s\n", b.mode, err);
    bench_free(&b);
    config_free(cfg);
    return rc ? 1 : 0;
}
