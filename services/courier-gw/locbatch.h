/* locbatch.h - courier positions coalesced into one state-machine call.
 * Position updates are most of courier-gw's traffic and each is tiny; the
 * fixed cost of a script call in Redis is several times the work of
 * storing a point, so the updates that arrive in one pass of the event loop
 * go to Redis together (op courier_loc_many) and each request is answered
 * from its own slot of the reply. Ordering per courier is kept: a batch is
 * applied in arrival order, and the state machine ignores older points. */
#ifndef COURIER_GW_LOCBATCH_H
#define COURIER_GW_LOCBATCH_H

#include "gateway.h"
#include "ids.h"
#include "orders.h"

#define LOCBATCH_MAX 128 /* points per call */

typedef struct locbatch_slot {
    gw_req *r;
    char id[IDS_MAX + 1];
    char lat[32], lon[32], ts[24];
} locbatch_slot;

typedef struct locbatch {
    struct event_base *base;
    orders *o;
    int n;
    int scheduled; /* a flush is due at the next pass of the loop */
    locbatch_slot slot[LOCBATCH_MAX];
} locbatch;

void locbatch_init(locbatch *b, struct event_base *base, orders *o);
/* Queues r's point; r is answered when its batch's call returns. */
void locbatch_add(locbatch *b, gw_req *r, const char *id, double lat, double lon, long long ts_ms);

#endif
