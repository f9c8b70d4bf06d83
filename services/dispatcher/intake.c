/* intake.c - the dispatcher's Kafka intake: order.events. An event saying
 * that a home-delivery order is READY and needs a courier (it became ready,
 * or its courier declined or let the deadline lapse) starts a dispatch job;
 * every other message is finished at once. The events are only a fast
 * path: the state machine queues each such order in <prefix>dispatch in the
 * same step, and the claim timer finds it there whatever happens to Kafka. */
#include <string.h>

#include "dispatcher.h"
#include "log.h"
#include "rxdispatch.pb-c.h"

static int intake_needs_courier(const Rxdispatch__V1__OrderEvent *ev)
{
    if (ev->state != RXDISPATCH__V1__ORDER_STATE__READY ||
        ev->fulfilment != RXDISPATCH__V1__FULFILMENT__HOME_DELIVERY)
        return 0;
    return strcmp(ev->kind, "ready") == 0 || strcmp(ev->kind, "courier_declined") == 0 ||
           strcmp(ev->kind, "courier_timeout") == 0;
}

void intake_on_message(kafka_msg *msg, void *ctx)
{
    dispatcher *d = ctx;
    metric_add(d->m_consumed, 1);
    Rxdispatch__V1__OrderEvent *ev =
        rxdispatch__v1__order_event__unpack(NULL, msg->value_len, msg->value);
    if (!ev) {
        /* rxdispatch writes this topic itself: a message it cannot read is a
         * bug elsewhere, not work for the dispatcher */
        log_event(LOG_WARN, "event_undecodable", "{s:i, s:I}", "partition", (int)msg->partition,
                  "offset", (json_int_t)msg->offset);
        kafka_consumer_done(d->consumer, msg);
        return;
    }
    if (intake_needs_courier(ev) && !d->svc->stopping)
        d->policy->wanted(d, ev->order_id, msg);
    else
        kafka_consumer_done(d->consumer, msg);
    rxdispatch__v1__order_event__free_unpacked(ev, NULL);
}
