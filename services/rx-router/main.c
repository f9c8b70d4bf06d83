/* rx-router: consumes approved and cancelled prescriptions, creates one order
 * per prescription, routes it to a pharmacy and re-routes it on reject or a
 * lapsed offer. Publishes the outbox to Kafka when it holds the lease. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "router.h"

static void router_on_stop(service *svc, void *ctx)
{
    (void)svc;
    router *rt = ctx;
    kafka_consumer_pause(rt->consumer);
    event_del(rt->due_timer);
}

static int router_busy(service *svc, void *ctx)
{
    (void)svc;
    router *rt = ctx;
    return rt->jobs;
}

static int router_ready(service *svc, void *ctx, const char **why)
{
    (void)svc;
    router *rt = ctx;
    if (!kafka_consumer_ready(rt->consumer)) {
        *why = "kafka consumer has no assignment yet";
        return 0;
    }
    return 1;
}

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
    if (rt->offer_deadline_ms < 100 || rt->max_attempts < 1 || rt->candidates_max < 1) {
        snprintf(err, errlen, "offer deadline >= 100 ms, attempts >= 1, candidates >= 1");
        return -1;
    }
    const char *topics[] = {service_topic(svc, "APPROVED"), service_topic(svc, "CANCELLED"), NULL};
    const char *produced[] = {service_topic(svc, "DEADLETTER"), NULL};
    service_require_topics(svc, topics);
    service_require_topics(svc, produced);
    rt->consumer =
        kafka_consumer_new(svc->base, svc->cfg, config_str(svc->cfg, "ROUTER_GROUP", "rx-router"),
                           topics, intake_on_message, rt, err, errlen);
    if (rt->consumer)
        service_watch_consumer(svc, rt->consumer);
    return rt->consumer ? 0 : -1;
}

int main(int argc, char **argv)
{
    char err[512];
    service *svc = service_new("rx-router", argc, argv, SERVICE_RELAY, err, sizeof(err));
    if (!svc) {
        fprintf(stderr, "rx-router: %s\n", err);
        return 2;
    }
    router rt = {.svc = svc};
    router_metrics(&rt);
    if (router_configure(&rt, err, sizeof(err))) {
        fprintf(stderr, "rx-router: %s\n", err);
        service_free(svc);
        return 2;
    }
    service_set_hooks(svc, router_on_stop, router_busy, router_ready, &rt);
    struct timeval tv = {0, 200000};
    rt.due_timer = event_new(svc->base, -1, EV_PERSIST, routing_on_due_timer, &rt);
    event_add(rt.due_timer, &tv);
    int rc = service_run(svc);
    /* bounded whatever is in flight; jobs ending from here on drop their
     * messages (docs/operations.md, "Shutdown") */
    intake_close(&rt);
    kafka_consumer_close(rt.consumer);
    event_free(rt.due_timer);
    service_free(svc);
    kafka_consumer_free(rt.consumer);
    return rc;
}
