/* orders.c - the handle of the order state machine's C face (orders.h):
 * the rxd_orders function library registered on the store, the key names,
 * and the call plumbing that turns a reply into an orders_result by the
 * operation's table (orders_op.h). */
#include "orders.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orders_op.h"
#include "scripts.h"
#include "mem.h"

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
    orders *o = xcalloc(1, sizeof(*o));
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

store *orders_store(const orders *o)
{
    return o->st;
}

const char *orders_version(void)
{
    return scripts_orders_version;
}

/* ---- key names: the layout lib_head.lua's okey/phkey/cokey use ---- */

const char *orders_key(const orders *o, char *buf, const char *suffix_fmt, ...)
{
    int n = snprintf(buf, ORDERS_KEY_MAX, "%s", o->prefix);
    va_list ap;
    va_start(ap, suffix_fmt);
    vsnprintf(buf + n, ORDERS_KEY_MAX - (size_t)n, suffix_fmt, ap);
    va_end(ap);
    return buf;
}

const char *orders_key_pharmacy_geo(const orders *o, char *buf)
{
    return orders_key(o, buf, "idx:ph:geo");
}

const char *orders_key_courier_geo(const orders *o, char *buf)
{
    return orders_key(o, buf, "idx:co:geo");
}

const char *orders_key_notify(const orders *o, char *buf, const char *kind)
{
    return orders_key(o, buf, "notify:%s:", kind);
}

/* ---- words ---- */

static const struct {
    const char *word;
    orders_status status;
} orders_status_words[] = {
    {"ok", ORDERS_OK},           {"err", ORDERS_ERR},
    {"stale", ORDERS_STALE},     {"refused", ORDERS_REFUSED},
    {"exists", ORDERS_EXISTS},   {"created", ORDERS_CREATED},
    {"offered", ORDERS_OFFERED}, {"tried", ORDERS_TRIED},
    {"busy", ORDERS_BUSY},       {"assigned", ORDERS_ASSIGNED},
    {"skip", ORDERS_SKIP},       {"not_found", ORDERS_NOT_FOUND},
};

static const struct {
    const char *word;
    orders_error error;
    int http;
} orders_error_words[] = {
    {"not_found", ORDERS_E_NOT_FOUND, 404},   {"forbidden", ORDERS_E_FORBIDDEN, 403},
    {"conflict", ORDERS_E_CONFLICT, 409},     {"locked", ORDERS_E_LOCKED, 429},
    {"wrong_code", ORDERS_E_WRONG_CODE, 409},
};

#define ORDERS_NELEM(a) (sizeof(a) / sizeof((a)[0]))

static orders_status orders_status_of(const char *w)
{
    for (size_t i = 0; i < ORDERS_NELEM(orders_status_words); i++)
        if (strcmp(w, orders_status_words[i].word) == 0)
            return orders_status_words[i].status;
    return ORDERS_UNKNOWN;
}

static orders_error orders_error_of(const char *w)
{
    for (size_t i = 0; i < ORDERS_NELEM(orders_error_words); i++)
        if (strcmp(w, orders_error_words[i].word) == 0)
            return orders_error_words[i].error;
    return ORDERS_E_UNKNOWN;
}

int orders_error_http(orders_error e)
{
    for (size_t i = 0; i < ORDERS_NELEM(orders_error_words); i++)
        if (orders_error_words[i].error == e)
            return orders_error_words[i].http;
    return 500;
}

/* ---- replies ---- */

/* What every operation may answer besides its own shapes. */
static const orders_shape orders_common_shapes[] = {
    {ORDERS_ERR, {{ORDERS_F_ERROR, 0}, {ORDERS_F_STR, offsetof(orders_result, state)}}},
    {ORDERS_STALE, {{ORDERS_F_STR, offsetof(orders_result, state)}}},
    {ORDERS_SKIP, {{ORDERS_F_STR, offsetof(orders_result, state)}}},
    {ORDERS_FAILED, {{0}}},
};

static const char *orders_elem_str(const redisReply *e)
{
    return (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) ? e->str : "";
}

static const orders_shape *orders_shape_find(const orders_shape *s, orders_status st)
{
    for (; s && s->status != ORDERS_FAILED; s++)
        if (s->status == st)
            return s;
    return NULL;
}

static void orders_field_set(orders_result *res, const orders_fspec *f, const char *v)
{
    char *p = (char *)res + f->off;
    switch (f->type) {
    case ORDERS_F_STR:
        *(const char **)p = v;
        break;
    case ORDERS_F_INT:
        *(long long *)p = atoll(v);
        break;
    case ORDERS_F_NUM:
        *(double *)p = atof(v);
        break;
    case ORDERS_F_FLAG:
        *(int *)p = strcmp(v, "1") == 0;
        break;
    case ORDERS_F_POINT:
        *(double *)p = atof(v);
        res->has_point = *v != '\0';
        break;
    case ORDERS_F_ERROR:
        res->error_word = v;
        res->error = orders_error_of(v);
        break;
    case ORDERS_F_END:
        break;
    }
}

static void orders_parse_status(const orders_op *op, const redisReply *r, orders_result *res)
{
    if (r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    res->word = r->element[0]->str;
    res->status = orders_status_of(res->word);
    const orders_shape *s = orders_shape_find(op->shapes, res->status);
    if (!s)
        s = orders_shape_find(orders_common_shapes, res->status);
    for (size_t i = 0; s && i < ORDERS_FIELDS_MAX && s->f[i].type != ORDERS_F_END; i++)
        orders_field_set(res, &s->f[i],
                         i + 1 < r->elements ? orders_elem_str(r->element[i + 1]) : "");
    /* a wrong code answers the tries left where the others answer the state */
    if (res->error == ORDERS_E_WRONG_CODE) {
        res->tries_left = atoll(res->state);
        res->state = "";
    }
}

static void orders_parse_ids(const redisReply *r, orders_result *res)
{
    res->status = ORDERS_OK;
    res->word = "ok";
    for (size_t i = 0; i < r->elements && res->n_ids < ORDERS_CLAIM_MAX; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            res->ids[res->n_ids++] = r->element[i]->str;
}

static void orders_parse_points(const redisReply *r, orders_result *res)
{
    if (r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    res->word = r->element[0]->str;
    res->status = orders_status_of(res->word);
    for (size_t i = 1; i < r->elements && res->n_points < ORDERS_POINTS_MAX; i++)
        res->stored[res->n_points++] = strcmp(orders_elem_str(r->element[i]), "stored") == 0;
}

static void orders_parse_counts(const redisReply *r, orders_result *res)
{
    if (r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    res->word = r->element[0]->str;
    res->status = orders_status_of(res->word);
    for (size_t i = 1; i + 2 < r->elements && res->n_counts < ORDERS_COUNTS_MAX; i += 3)
        res->counts[res->n_counts++] = (orders_count){orders_elem_str(r->element[i]),
                                                      atoll(orders_elem_str(r->element[i + 1])),
                                                      atoll(orders_elem_str(r->element[i + 2]))};
}

/* Fills res from the reply by op's table; status ORDERS_FAILED when it is
 * no state-machine reply. */
static void orders_parse(const orders_op *op, const redisReply *r, const char *err,
                         orders_result *res)
{
    memset(res, 0, sizeof(*res));
    res->word = res->state = res->order_id = res->detail = res->json = res->error_word = "";
    res->items_json = res->nominated = res->pharmacy = res->tried_json = "";
    res->reply = r;
    res->err = err;
    if (err || !r || r->type != REDIS_REPLY_ARRAY)
        return;
    if (op->kind == ORDERS_R_IDS)
        orders_parse_ids(r, res);
    else if (op->kind == ORDERS_R_POINTS)
        orders_parse_points(r, res);
    else if (op->kind == ORDERS_R_COUNTS)
        orders_parse_counts(r, res);
    else
        orders_parse_status(op, r, res);
}

/* ---- calls ---- */

typedef struct orders_pending {
    const orders_op *op;
    orders_cb *cb;
    void *ctx;
} orders_pending;

static void orders_on_reply(store *st, redisReply *reply, const char *err, void *arg)
{
    (void)st;
    orders_pending c = *(orders_pending *)arg;
    free(arg);
    orders_result res;
    orders_parse(c.op, reply, err, &res);
    c.cb(c.ctx, &res);
}

/* Sends FCALL fn with the anchor key and the prefix before argv. */
static int orders_send(orders *o, const char *fn, store_reply_cb *cb, void *ctx, int argc,
                       const char *const *argv)
{
    if (argc + 3 > ORDERS_ARGS_MAX)
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

int orders_call_op(orders *o, const orders_op *op, int argc, const char *const *argv, orders_cb *cb,
                   void *ctx)
{
    orders_pending *c = xmalloc(sizeof(*c));
    *c = (orders_pending){op, cb, ctx};
    if (orders_send(o, op->fn, orders_on_reply, c, argc, argv) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- raw access ---- */

const char *orders_prefix(const orders *o)
{
    return o->prefix;
}

int orders_call(orders *o, store_reply_cb *cb, void *ctx, const char *op, int argc,
                const char *const *argv)
{
    char fn[64];
    if (snprintf(fn, sizeof(fn), "rxd_%s", op) >= (int)sizeof(fn))
        return -1;
    return orders_send(o, fn, cb, ctx, argc, argv);
}

const char *orders_field(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return "";
    return orders_elem_str(r->element[i]);
}
