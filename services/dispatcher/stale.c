/* stale.c - the stale-courier sweep: a courier with no position for
 * RXD_COURIER_STALE_S leaves the courier geo index, so that ex-couriers do
 * not pile up there and every search walks past fewer of them. Runs with
 * the deadlines' tick, one bounded call at a time (rxd_courier_stale); the
 * courier's next position puts it back. */
#include <stdio.h>

#include "dispatcher.h"
#include "log.h"

#define STALE_SWEEP_LIMIT 100

static void stale_on_swept(void *ctx, const orders_result *res)
{
    dispatcher *d = ctx;
    job_end(&d->stale_token);
    if (res->status != ORDERS_OK) {
        metric_add(d->m_redis_errors, 1);
        log_event(LOG_WARN, "courier_stale_failed", "{s:s}", "error",
                  worker_reply_error(res->reply, res->err ? res->err : res->word));
        return;
    }
    if (res->count > 0) {
        metric_add(d->m_stale, (double)res->count);
        log_event(LOG_INFO, "couriers_stale", "{s:I}", "removed", (json_int_t)res->count);
    }
}

int stale_init(dispatcher *d, char *err, size_t errlen)
{
    d->courier_stale_ms = 1000 * service_int(d->svc, "COURIER_STALE_S", 900);
    if (d->courier_stale_ms < 1000) {
        snprintf(err, errlen, "RXD_COURIER_STALE_S must be seconds, >= 1");
        return -1;
    }
    d->m_stale = metrics_counter(d->svc->metrics, "dispatcher_couriers_stale_total", NULL,
                                 "couriers taken out of the geo index for lack of positions");
    return 0;
}

void stale_sweep(dispatcher *d)
{
    if (d->svc->stopping || d->stale_token.count) /* the last sweep's call is still out */
        return;
    job_begin(&d->jobs, &d->stale_token, NULL);
    if (orders_courier_stale(d->svc->orders, service_now_ms() - d->courier_stale_ms,
                             STALE_SWEEP_LIMIT, stale_on_swept, d) != 0)
        job_end(&d->stale_token);
}
