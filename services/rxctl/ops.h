/* ops.h - rxctl's operator commands (ops.c): orders, exceptions, audit and
 * order-cancel|reassign|reroute|resend-code|unlock. */
#ifndef RXCTL_OPS_H
#define RXCTL_OPS_H

#include <event2/event.h>

#include "config.h"

/* Runs the command named by the first positional argument if it is one of
 * these: returns the process exit code, or -1 when it is not. */
int ops_command(const config *cfg, struct event_base *base);

#endif
