/* round.h - the batch round (RXD_DISPATCH_POLICY=batch), every window_ms
 * and gather_ms after an order became ready (round.c). */
#ifndef RXD_ROUND_H
#define RXD_ROUND_H

#include "dispatcher.h"

void round_on_timer(evutil_socket_t fd, short what, void *arg);
/* The batch policy's wanted: msg is finished, the order waits in
 * <prefix>dispatch for a round shortly. */
void round_wanted(dispatcher *d, const char *oid, kafka_msg *msg);

#endif
