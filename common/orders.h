/* orders.h - calls into the order state machine (the rxd_orders Redis
 * Functions library built from common/lua/) and the names of the Redis keys
 * around it.
 *
 * Keys of a region share the hash tag {region}: "rxd:{region}:ord:<id>" etc.,
 * so that a Redis Cluster keeps a region on one slot and the state machine's
 * scripts stay atomic there. */
#ifndef RXD_ORDERS_H
#define RXD_ORDERS_H

#include <stddef.h>

#include "store.h"

#define ORDERS_PREFIX_MAX 96
#define ORDERS_KEY_MAX 256

typedef struct orders orders;

#define ORDERS_LIBRARY "rxd_orders"

/* The library version this build carries ("major.minor"). */
const char *orders_version(void);

/* region: 1-32 chars of [a-z0-9-]; NULL gives "default". Registers the
 * library on st: st reports connected only once a compatible version is
 * loaded (see store_lib_add). */
orders *orders_new(store *st, const char *region, char *err, size_t errlen);
void orders_free(orders *o);

/* "rxd:{region}:" */
const char *orders_prefix(const orders *o);
/* Writes prefix + suffix into buf (ORDERS_KEY_MAX bytes). */
const char *orders_key(const orders *o, char *buf, const char *suffix_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Arguments one call takes, the anchor key, prefix and op included
 * (courier_loc_many: 4 per point, 128 points). */
#define ORDERS_ARGS_MAX 520

/* Runs operation op (FCALL rxd_<op> with the anchor key and the prefix
 * before argv) with NUL-terminated string arguments. -1 (and cb is never
 * called) when argc + 3 > ORDERS_ARGS_MAX, op is too long or out of memory;
 * the caller answers for the call. */
int orders_call(orders *o, store_reply_cb *cb, void *ctx, const char *op, int argc,
                const char *const *argv);

/* The status word of a state-machine reply ("ok", "err", "stale", ...), or
 * NULL when the reply is not one. */
const char *orders_status(const redisReply *r);
/* Element i of the reply as a string, or "" when missing. */
const char *orders_field(const redisReply *r, size_t i);

/* Maps a state-machine error word to an HTTP status: not_found 404,
 * forbidden 403, conflict 409, locked 429, wrong_code 409. */
int orders_http_status(const char *err_word);

#endif
