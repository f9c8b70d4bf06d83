/* orders.c - the C side of the order state machine (see orders.h): the
 * rxd_orders function library registered on the store, and calls into it. */
#include "orders.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scripts.h"

struct orders {
    store *st;
    int lib;
    char prefix[ORDERS_PREFIX_MAX];
    char anchor[ORDERS_PREFIX_MAX + 8];
};

static int orders_region_valid(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return 0;
    return 1;
}

orders *orders_new(store *st, const char *region, char *err, size_t errlen)
{
    if (!region)
        region = "default";
    if (!orders_region_valid(region)) {
        snprintf(err, errlen, "RXD_REGION must be 1-32 chars of [a-z0-9-], got '%s'", region);
        return NULL;
    }
    orders *o = calloc(1, sizeof(*o));
    o->st = st;
    snprintf(o->prefix, sizeof(o->prefix), "rxd:{%s}:", region);
    snprintf(o->anchor, sizeof(o->anchor), "%sanchor", o->prefix);
    o->lib = store_lib_add(st, ORDERS_LIBRARY, scripts_orders_lib, scripts_orders_version,
                           "rxd_version");
    if (o->lib < 0) {
        snprintf(err, errlen, "cannot register the %s function library", ORDERS_LIBRARY);
        free(o);
        return NULL;
    }
    return o;
}

void orders_free(orders *o)
{
    free(o);
}

const char *orders_version(void)
{
    return scripts_orders_version;
}

const char *orders_prefix(const orders *o)
{
    return o->prefix;
}

const char *orders_key(const orders *o, char *buf, const char *suffix_fmt, ...)
{
    int n = snprintf(buf, ORDERS_KEY_MAX, "%s", o->prefix);
    va_list ap;
    va_start(ap, suffix_fmt);
    vsnprintf(buf + n, ORDERS_KEY_MAX - (size_t)n, suffix_fmt, ap);
    va_end(ap);
    return buf;
}

int orders_call(orders *o, store_reply_cb *cb, void *ctx, const char *op, int argc,
                const char *const *argv)
{
    char fn[64];
    if (argc + 3 > ORDERS_ARGS_MAX || snprintf(fn, sizeof(fn), "rxd_%s", op) >= (int)sizeof(fn))
        return -1;
    const char *a[ORDERS_ARGS_MAX];
    size_t al[ORDERS_ARGS_MAX];
    a[0] = o->anchor;
    a[1] = o->prefix;
    for (int i = 0; i < argc; i++)
        a[2 + i] = argv[i];
    for (int i = 0; i < argc + 2; i++)
        al[i] = strlen(a[i]);
    return store_fcall(o->st, o->lib, fn, cb, ctx, 1, argc + 2, a, al);
}

const char *orders_status(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return NULL;
    return r->element[0]->str;
}

const char *orders_field(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return "";
    const redisReply *e = r->element[i];
    return (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) ? e->str : "";
}

int orders_http_status(const char *w)
{
    if (!w)
        return 500;
    if (strcmp(w, "not_found") == 0)
        return 404;
    if (strcmp(w, "forbidden") == 0)
        return 403;
    if (strcmp(w, "locked") == 0)
        return 429;
    if (strcmp(w, "conflict") == 0 || strcmp(w, "wrong_code") == 0)
        return 409;
    return 500;
}
