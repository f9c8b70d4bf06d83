/* rx-router: consumes approved and cancelled prescriptions, creates one order
 * per prescription, routes it to a pharmacy and re-routes it on reject or a
 * lapsed offer. Publishes the outbox to Kafka when it holds the lease. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "router.h"

/* "3000,5000,8000" (metres) */
static int router_parse_radii(router *rt, const char *s)
{
    rt->nradii = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *end;
        double r = strtod(tok, &end);
        if (end == tok || *end || r <= 0 || r > 100000 || rt->nradii == ROUTER_RADII_MAX)
            return -1;
        if (rt->nradii && r <= rt->radii_m[rt->nradii - 1])
            return -1;
        rt->radii_m[rt->nradii++] = r;
    }
    return rt->nradii ? 0 : -1;
}

static void router_metrics(router *rt)
{
    metrics *m = rt->svc->metrics;
    rt->m_consumed = metrics_counter(m, "router_messages_total", NULL, "messages consumed");
    rt->m_deadletter =
        metrics_counter(m, "router_deadletter_total", NULL, "messages sent to the dead letter");
    rt->m_offered = metrics_counter(m, "router_offers_total", NULL, "pharmacy offers made");
    rt->m_unroutable =
        metrics_counter(m, "router_unroutable_total", NULL, "orders ended UNROUTABLE");
    rt->m_held =
        metrics_counter(m, "router_held_total", NULL,
                        "orders put on hold (nothing open or in stock in range, zone paused)");
    rt->m_cancelled = metrics_counter(m, "router_cancels_total", NULL, "cancellations applied");
    rt->m_redis_errors =
        metrics_counter(m, "router_redis_errors_total", NULL, "redis calls that failed");
    rt->m_failed = metrics_counter(m, "router_jobs_failed_total", NULL,
                                   "routing jobs that met a redis error no retry fixes");
    rt->m_parked = metrics_counter(m, "router_orders_parked_total", NULL,
                                   "orders taken off the routing queue after such an error");
    rt->m_deferred =
        metrics_counter(m, "router_jobs_deferred_total", NULL,
                        "routing jobs ended after retries; the lease brings them back");
}

static int router_configure(router *rt, char *err, size_t errlen)
{
    service *svc = rt->svc;
    if (router_parse_radii(rt, config_str(svc->cfg, "RADII_M", "3000,5000,8000"))) {
        snprintf(err, errlen, "RXD_RADII_M must be increasing metres, e.g. 3000,5000,8000");
        return -1;
    }
    rt->offer_deadline_ms = service_int(svc, "OFFER_DEADLINE_MS", 90000);
    rt->max_attempts = service_int(svc, "MAX_ATTEMPTS", 5);
    rt->lease_ms = service_int(svc, "ROUTE_LEASE_MS", 10000);
    rt->candidates_max = service_int(svc, "CANDIDATES_MAX", 50);
    rt->hold_max_ms = service_int(svc, "HOLD_MAX_S", 86400) * 1000;
    if (rt->offer_deadline_ms < 100 || rt->max_attempts < 1 || rt->candidates_max < 1 ||
        rt->hold_max_ms < 1000) {
        snprintf(err, errlen,
                 "offer deadline >= 100 ms, attempts >= 1, candidates >= 1, hold >= 1 s");
        return -1;
    }
    return 0;
}

static int router_init(worker *w, service *svc, char *err, size_t errlen)
{
    router *rt = w->ctx;
    rt->svc = svc;
    router_metrics(rt);
    if (router_configure(rt, err, errlen))
        return -1;
    routing_init(rt);
    return 0;
}

static const worker router_worker = {
    .name = "rx-router",
    .group_setting = "ROUTER_GROUP",
    .group_default = "rx-router",
    .consumes = {"APPROVED", "CANCELLED"},
    .produces = {"DEADLETTER"},
    .on_message = intake_on_message,
    .init = router_init,
    .close = intake_close,
    .timers = {{routing_on_due_timer, 200, NULL}, {routing_on_hold_timer, 1000, NULL}},
};

int main(int argc, char **argv)
{
    router rt = {0};
    worker w = router_worker;
    w.ctx = &rt;
    w.consumer = &rt.consumer;
    w.jobs = &rt.jobs;
    w.timers[0].ev = &rt.due_timer;
    w.timers[1].ev = &rt.hold_timer;
    return worker_main(&w, argc, argv);
}
