/* steps.h - the dispatcher's Redis steps that its greedy jobs (dispatch.c)
 * and its batch rounds (round.c) share, so that neither includes the other
 * for them. A failed call is read with worker_reply_error/_kind. */
#ifndef RXD_DISPATCH_STEPS_H
#define RXD_DISPATCH_STEPS_H

#include <jansson.h>

#include "orders_facts.h"
#include "dispatcher.h"

/* What dispatch_load says about one order. */
typedef struct dispatch_loaded {
    policy_order order;
    char pharmacy[IDS_MAX + 1]; /* order.pharmacy points here */
    json_t *tried;              /* couriers that declined or missed the order */
    const char **tried_ids;     /* strings inside tried */
} dispatch_loaded;

/* NULL from dispatch_loaded_parse
 * on a Redis error, else "ok" or "skip" (the order waits no more). */
const char *dispatch_loaded_parse(const orders_result *res, const char *oid, dispatch_loaded *l);
void dispatch_loaded_clear(dispatch_loaded *l);
/* The GEOSEARCH of couriers around the order's pickup point, nearest first. */
void dispatch_search_prepare(const dispatcher *d, const policy_order *o, orders_near_cmd *c);
/* The courier id of GEOSEARCH reply entry i, NULL when malformed. */
const char *dispatch_search_id(const redisReply *reply, size_t i);
/* The state machine's atomic assign op for oid and courier; -1 when it
 * cannot be queued (cb is not called). */
int dispatch_assign_call(dispatcher *d, const char *oid, const char *courier, double dist_m,
                         orders_cb *cb, void *ctx);
/* A Redis error no retry fixes, about order oid: takes it off queue
 * ("dispatch" or "cdue") with the reason in <prefix>parked, logs it and
 * counts it, so it stops coming back every lease. The order's state is not
 * touched. Fire and forget. */
void dispatch_park(dispatcher *d, const char *queue, const char *oid, const char *why);

#endif
