/* ops.h - rxctl's operator commands (ops.c): orders, exceptions, audit and
 * order-cancel|reassign|reroute|resend-code|unlock|retry, courier-bench|unbench,
 * pharmacy-open|close, zones, zone-pause|resume, login-link. */
#ifndef RXCTL_OPS_H
#define RXCTL_OPS_H

#include <event2/event.h>

#include "config.h"
#include "orders.h"

/* Runs the command named by the first positional argument if it is one of
 * these: returns the process exit code, or -1 when it is not. */
int ops_command(const config *cfg, struct event_base *base);
/* Prints a state-machine reply: its JSON (indented) or {order_id, state}
 * on stdout, else why it failed on stderr. Returns the exit code (0, 1). */
int ops_report(const orders_result *res, const char *oid);
/* The same, for an action on anything: {field: id, state, detail}. */
int ops_report_as(const orders_result *res, const char *field, const char *id);

/* Mints a token for --role and --id as `rxctl token` does, valid for the
 * setting ttl_flag's seconds (default ttl_default), into tok. 0, or 2 after
 * printing what is wrong (main.c). */
int rxctl_token_mint(const config *cfg, const char *ttl_flag, long long ttl_default, char *tok,
                     size_t toklen);

#endif
