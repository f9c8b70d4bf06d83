/* dispatcher: assigns couriers to orders that are READY for home delivery
 * (SPEC section 5), re-offers an order when its courier declines or lets the
 * deadline lapse, runs the deadlines of the states after acceptance
 * (deadlines.c), and publishes the outbox to Kafka when it holds the lease.
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

#include "dispatch.h"
#include "dispatcher.h"
#include "log.h"
#include "round.h"

#define DISPATCH_TICK_MS 500
#define CDUE_TICK_MS 250
#define DEADLINE_TICK_MS 1000

static const dispatch_policy dispatcher_policies[] = {
    {"batch", POLICY_BATCH, round_on_timer, round_wanted},
    {"greedy", POLICY_GREEDY, dispatch_on_timer, dispatch_start},
};

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
    d->policy = NULL;
    for (size_t i = 0; i < sizeof(dispatcher_policies) / sizeof(*dispatcher_policies); i++)
        if (strcmp(policy, dispatcher_policies[i].name) == 0)
            d->policy = &dispatcher_policies[i];
    if (!d->policy) {
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
    return dispatcher_configure_policy(d, err, errlen);
}

/* The timers' callbacks and periods depend on the policy. */
static int dispatcher_init(worker *w, service *svc, char *err, size_t errlen)
{
    dispatcher *d = w->ctx;
    d->svc = svc;
    dispatcher_metrics(d);
    if (dispatcher_configure(d, err, errlen) || deadlines_init(d, err, errlen) ||
        stale_init(d, err, errlen))
        return -1;
    long long tick_ms = d->policy->kind == POLICY_BATCH ? d->window_ms : DISPATCH_TICK_MS;
    w->timers[0] = (worker_timer){d->policy->on_timer, tick_ms, &d->dispatch_timer};
    w->timers[1] = (worker_timer){expiry_on_timer, CDUE_TICK_MS, &d->cdue_timer};
    w->timers[2] = (worker_timer){round_on_timer, 0, &d->round_soon};
    w->timers[3] = (worker_timer){deadlines_on_timer, DEADLINE_TICK_MS, &d->deadline_timer};
    dispatch_init(d);
    expiry_init(d);
    log_event(LOG_INFO, "dispatch_policy", "{s:s, s:I}", "policy", d->policy->name, "window_ms",
              (json_int_t)tick_ms);
    return 0;
}

static const worker dispatcher_worker = {
    .name = "dispatcher",
    .group_setting = "DISPATCHER_GROUP",
    .group_default = "dispatcher",
    .consumes = {"EVENTS"},
    .on_message = intake_on_message,
    .init = dispatcher_init,
};

int main(int argc, char **argv)
{
    dispatcher d = {0};
    worker w = dispatcher_worker;
    w.ctx = &d;
    w.consumer = &d.consumer;
    w.jobs = &d.jobs;
    return worker_main(&w, argc, argv);
}
