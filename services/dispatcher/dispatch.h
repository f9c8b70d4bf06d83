/* dispatch.h - the greedy dispatch job: one order, the nearest eligible
 * courier first (dispatch.c). The greedy policy runs one per ready order;
 * the batch rounds run one for an order whose courier changed meanwhile. */
#ifndef RXD_DISPATCH_H
#define RXD_DISPATCH_H

#include "dispatcher.h"

/* Find a courier for order oid. msg, when not NULL, is finished once the
 * job ends (the order waits durably in <prefix>dispatch anyway). */
void dispatch_start(dispatcher *d, const char *oid, kafka_msg *msg);
/* Whether a dispatch job for oid runs in this process. */
int dispatch_running(const dispatcher *d, const char *oid);
/* The greedy policy's claim of orders waiting for a courier
 * (<prefix>dispatch), every tick. */
void dispatch_init(dispatcher *d);
void dispatch_on_timer(evutil_socket_t fd, short what, void *arg);

#endif
