/* dispatcher: assigns couriers to orders that are READY for home delivery
 * (SPEC section 5), re-offers an order when its courier declines or lets the
 * deadline lapse, and publishes the outbox to Kafka when it holds the lease.
 *
 * Dispatchable = READY, not ACCEPTED: the pharmacy knows when an order is
 * packed, and a courier sent at ACCEPTED would wait at the counter for an
 * unknown time, unable to carry anything else.
 *
 * RXD_DISPATCH_POLICY=batch (default): a round over all waiting orders every
 * RXD_DISPATCH_WINDOW_MS (round.c); greedy: one job per order as soon as it
 * is ready (dispatch.c), claimed every 500 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatcher.h"
#include "log.h"

#define DISPATCH_TICK_US 500000
#define CDUE_TICK_US 250000

static void dispatcher_on_stop(service *svc, void *ctx)
{
    (void)svc;
    dispatcher *d = ctx;
    kafka_consumer_pause(d->consumer);
    event_del(d->dispatch_timer);
    event_del(d->round_soon);
    event_del(d->cdue_timer);
}

static int dispatcher_busy(service *svc, void *ctx)
{
    (void)svc;
    dispatcher *d = ctx;
    return d->jobs;
}

static int dispatcher_ready(service *svc, void *ctx, const char **why)
{
    (void)svc;
    dispatcher *d = ctx;
    if (!kafka_consumer_ready(d->consumer)) {
        *why = "kafka consumer has no assignment yet";
        return 0;
    }
    return 1;
}

static void dispatcher_metrics(dispatcher *d)
{
    metrics *m = d->svc->metrics;
    d->m_consumed = metrics_counter(m, "dispatcher_messages_total", NULL, "order events consumed");
    d->m_assigned = metrics_counter(m, "dispatcher_assignments_total", NULL, "couriers assigned");
    d->m_busy = metrics_counter(m, "dispatcher_assign_refused_total", NULL,
                                "assignments the state machine refused (courier changed)");
    d->m_no_courier = metrics_counter(m, "dispatcher_no_courier_total", NULL,
                                      "dispatch attempts that found no eligible courier");
    d->m_expired = metrics_counter(m, "dispatcher_deadlines_missed_total", NULL,
                                   "assignments whose courier let the deadline lapse");
    d->m_unavailable = metrics_counter(m, "dispatcher_couriers_benched_total", NULL,
                                       "couriers set unavailable after misses in a row");
    d->m_redis_errors =
        metrics_counter(m, "dispatcher_redis_errors_total", NULL, "redis calls that failed");
    d->m_failed = metrics_counter(m, "dispatcher_jobs_failed_total", NULL,
                                  "dispatch work that met a redis error no retry fixes");
    d->m_parked = metrics_counter(m, "dispatcher_orders_parked_total", NULL,
                                  "orders taken off a dispatch queue after such an error");
    d->m_deferred =
        metrics_counter(m, "dispatcher_jobs_deferred_total", NULL,
                        "dispatch jobs ended after retries; the lease brings them back");
    d->m_rounds = metrics_counter(m, "dispatcher_rounds_total", NULL, "batch rounds matched");
    d->m_round_orders = metrics_counter(m, "dispatcher_round_orders_total", NULL,
                                        "orders considered by batch rounds");
    d->m_bundled = metrics_counter(m, "dispatcher_bundled_total", NULL,
                                   "assignments sharing a courier with another of the round");
}

/* RXD_DISPATCH_POLICY and the batch round's settings. */
static int dispatcher_configure_policy(dispatcher *d, char *err, size_t errlen)
{
    service *svc = d->svc;
    const char *policy = config_str(svc->cfg, "DISPATCH_POLICY", "batch");
    d->window_ms = service_int(svc, "DISPATCH_WINDOW_MS", 2000);
    d->gather_ms = service_int(svc, "DISPATCH_GATHER_MS", 200);
    d->speed_m_per_min = (double)service_int(svc, "COURIER_SPEED_M_PER_MIN", 250);
    d->max_bundle = service_int(svc, "DISPATCH_MAX_BUNDLE", 3);
    if (strcmp(policy, "batch") == 0) {
        d->policy = POLICY_BATCH;
    } else if (strcmp(policy, "greedy") == 0) {
        d->policy = POLICY_GREEDY;
    } else {
        snprintf(err, errlen, "RXD_DISPATCH_POLICY must be batch or greedy, not %s", policy);
        return -1;
    }
    if (d->window_ms < 100 || d->window_ms > 60000 || d->gather_ms < 0 ||
        d->gather_ms > d->window_ms || d->speed_m_per_min < 1 || d->max_bundle < 1 ||
        d->max_bundle > POLICY_BUNDLE_MAX) {
        snprintf(err, errlen,
                 "check RXD_DISPATCH_WINDOW_MS (100-60000), RXD_DISPATCH_GATHER_MS (0 to the "
                 "window), RXD_COURIER_SPEED_M_PER_MIN (>= 1), "
                 "RXD_DISPATCH_MAX_BUNDLE (1-%d)",
                 POLICY_BUNDLE_MAX);
        return -1;
    }
    return 0;
}

static int dispatcher_configure(dispatcher *d, char *err, size_t errlen)
{
    service *svc = d->svc;
    d->radius_m = (double)service_int(svc, "COURIER_RADIUS_M", 5000);
    d->deadline_ms = service_int(svc, "COURIER_DEADLINE_MS", 30000);
    d->stale_ms = service_int(svc, "POSITION_STALE_MS", 60000);
    d->max_misses = service_int(svc, "COURIER_MAX_MISSES", 3);
    d->lease_ms = service_int(svc, "DISPATCH_LEASE_MS", 2000);
    d->cdue_lease_ms = service_int(svc, "COURIER_DUE_LEASE_MS", 5000);
    d->candidates_max = service_int(svc, "COURIER_CANDIDATES_MAX", 50);
    if (d->radius_m < 1 || d->radius_m > 100000 || d->deadline_ms < 100 || d->stale_ms < 1000 ||
        d->max_misses < 1 || d->lease_ms < 100 || d->cdue_lease_ms < 100 || d->candidates_max < 1) {
        snprintf(err, errlen,
                 "check RXD_COURIER_RADIUS_M (1-100000), RXD_COURIER_DEADLINE_MS (>= 100), "
                 "RXD_POSITION_STALE_MS (>= 1000), RXD_COURIER_MAX_MISSES (>= 1), "
                 "RXD_DISPATCH_LEASE_MS and RXD_COURIER_DUE_LEASE_MS (>= 100), "
                 "RXD_COURIER_CANDIDATES_MAX (>= 1)");
        return -1;
    }
    if (dispatcher_configure_policy(d, err, errlen))
        return -1;
    const char *topics[] = {service_topic(svc, "EVENTS"), NULL};
    service_require_topics(svc, topics);
    d->consumer = kafka_consumer_new(svc->base, svc->cfg,
                                     config_str(svc->cfg, "DISPATCHER_GROUP", "dispatcher"), topics,
                                     intake_on_message, d, err, errlen);
    if (d->consumer)
        service_watch_consumer(svc, d->consumer);
    return d->consumer ? 0 : -1;
}

static void dispatcher_start_timers(dispatcher *d)
{
    struct timeval dispatch_tv = {0, DISPATCH_TICK_US}, cdue_tv = {0, CDUE_TICK_US};
    if (d->policy == POLICY_BATCH) {
        dispatch_tv = (struct timeval){d->window_ms / 1000, (d->window_ms % 1000) * 1000};
        d->dispatch_timer = event_new(d->svc->base, -1, EV_PERSIST, round_on_timer, d);
    } else {
        d->dispatch_timer = event_new(d->svc->base, -1, EV_PERSIST, dispatch_on_timer, d);
    }
    d->cdue_timer = event_new(d->svc->base, -1, EV_PERSIST, expiry_on_timer, d);
    d->round_soon = evtimer_new(d->svc->base, round_on_timer, d);
    event_add(d->dispatch_timer, &dispatch_tv);
    event_add(d->cdue_timer, &cdue_tv);
    log_event(LOG_INFO, "dispatch_policy", "{s:s, s:I}", "policy",
              d->policy == POLICY_BATCH ? "batch" : "greedy", "window_ms",
              (json_int_t)(d->policy == POLICY_BATCH ? d->window_ms : DISPATCH_TICK_US / 1000));
}

int main(int argc, char **argv)
{
    char err[512];
    service *svc = service_new("dispatcher", argc, argv, SERVICE_RELAY, err, sizeof(err));
    if (!svc) {
        fprintf(stderr, "dispatcher: %s\n", err);
        return 2;
    }
    dispatcher d = {.svc = svc};
    dispatcher_metrics(&d);
    if (dispatcher_configure(&d, err, sizeof(err))) {
        fprintf(stderr, "dispatcher: %s\n", err);
        service_free(svc);
        return 2;
    }
    service_set_hooks(svc, dispatcher_on_stop, dispatcher_busy, dispatcher_ready, &d);
    dispatcher_start_timers(&d);
    int rc = service_run(svc);
    /* bounded whatever is in flight (docs/operations.md, "Shutdown") */
    kafka_consumer_close(d.consumer);
    event_free(d.dispatch_timer);
    event_free(d.round_soon);
    event_free(d.cdue_timer);
    service_free(svc);
    kafka_consumer_free(d.consumer);
    return rc;
}
