/* ops.c - rxctl's operator commands (docs/operator-api.md): list and search
 * orders, the exceptions, the audit trail, the paused zones, and the
 * actions on orders, couriers, pharmacies and zones. They call
 * the same typed state-machine functions as operator-api, straight on
 * Redis, with the actor "rxctl:<$USER>", so the audit entries and the
 * events are the same as the API's. */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "login_code.h"
#include "ops.h"
#include "orders.h"
#include "store.h"

typedef struct ops_run ops_run;

/* Sends the command's call: 0, -1 (cannot queue), or 2 after printing
 * what is wrong with the command line. */
typedef int ops_start_fn(ops_run *run);

typedef struct ops_cmd {
    const char *name;
    const char
        *target; /* an action: what its ID names ("order_id", "courier_id"...); NULL: a read */
    ops_start_fn *start;
} ops_cmd;

struct ops_run {
    const config *cfg;
    struct event_base *base;
    const ops_cmd *cmd;
    orders *o;
    orders_op_action act;
    char actor[80];
    struct {
        char token[512];
        char code[LOGIN_CODE_LEN + 1];
        char link[640]; /* printed once the code is stored */
        long long ttl_s;
    } login;
    int sent, answered, rc;
};

static int ops_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "rxctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 2;
}

int ops_report(const orders_result *res, const char *oid)
{
    return ops_report_as(res, "order_id", oid);
}

int ops_report_as(const orders_result *res, const char *field, const char *id)
{
    if (res->status == ORDERS_FAILED) {
        fprintf(stderr, "rxctl: redis: %s\n",
                res->err                        ? res->err
                : res->reply && res->reply->str ? res->reply->str
                                                : "?");
    } else if (res->status == ORDERS_ERR) {
        fprintf(stderr, "rxctl: %s\n", res->error_word);
    } else if (res->status == ORDERS_REFUSED) {
        fprintf(stderr, "rxctl: refused: %s%s%s\n", res->detail, *res->state ? " while " : "",
                res->state);
    } else if (res->status == ORDERS_OK && *res->json) {
        json_t *j = json_loads(res->json, 0, NULL);
        char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        printf("%s\n", s ? s : res->json);
        free(s);
        json_decref(j);
        return 0;
    } else if (res->status == ORDERS_OK) {
        json_t *j = json_pack("{s:s}", field, id);
        if (res->state && *res->state)
            json_object_set_new(j, "state", json_string(res->state));
        if (res->detail && *res->detail)
            json_object_set_new(j, "detail", json_string(res->detail));
        char *s = json_dumps(j, JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(j);
        return 0;
    } else {
        fprintf(stderr, "rxctl: unexpected reply '%s'\n", res->word);
    }
    return 1;
}

static void ops_on_result(void *ctx, const orders_result *res)
{
    ops_run *run = ctx;
    run->answered = 1;
    run->rc = ops_report_as(res, run->cmd->target ? run->cmd->target : "order_id",
                            run->act.oid ? run->act.oid : "");
    event_base_loopexit(run->base, NULL);
}

/* An integer flag within [min, max]; -1 after printing why. */
static int ops_int(ops_run *run, const char *name, const char *flag, long long def, long long min,
                   long long max, long long *out)
{
    char err[256];
    if (config_int(run->cfg, name, def, out, err, sizeof(err)) || *out < min || *out > max) {
        fprintf(stderr, "rxctl: --%s must be an integer in [%lld, %lld]\n", flag, min, max);
        return -1;
    }
    return 0;
}

/* An optional id flag: "" when absent; NULL after printing why. */
static const char *ops_id(ops_run *run, const char *name, const char *flag,
                          int (*valid)(const char *, size_t))
{
    const char *v = config_str(run->cfg, name, "");
    if (*v && !valid(v, strlen(v))) {
        fprintf(stderr, "rxctl: --%s must be an id (got '%s')\n", flag, v);
        return NULL;
    }
    return v;
}

static int ops_orders(ops_run *run)
{
    long long older, limit;
    orders_op_query q = {.state = config_str(run->cfg, "STATE", ""),
                         .hospital = config_str(run->cfg, "HOSPITAL", ""),
                         .cursor = config_str(run->cfg, "CURSOR", "")};
    if (*q.state && !orders_state_is_live(q.state))
        return ops_usage("--state must be one of ROUTING, OFFERED, ACCEPTED, READY, "
                         "COURIER_ASSIGNED, PICKED_UP, RETURNING (got '%s')",
                         q.state);
    if (!(q.pharmacy_id = ops_id(run, "PHARMACY", "pharmacy", ids_valid_key)) ||
        !(q.courier_id = ops_id(run, "COURIER", "courier", ids_valid_key)) ||
        !(q.prescription_id = ops_id(run, "PRESCRIPTION", "prescription", ids_valid)) ||
        ops_int(run, "OLDER_THAN", "older-than", 0, 0, 366LL * 86400, &older) ||
        ops_int(run, "LIMIT", "limit", 50, 1, ORDERS_OP_LIST_MAX, &limit))
        return 2;
    q.older_than_ms = older * 1000;
    q.limit = (int)limit;
    return orders_op_list(run->o, &q, ops_on_result, run);
}

static int ops_exceptions(ops_run *run)
{
    long long offset, count;
    if (ops_int(run, "OFFSET", "offset", 0, 0, 1000000, &offset) ||
        ops_int(run, "COUNT", "count", 50, 1, 500, &count))
        return 2;
    return orders_exceptions(run->o, offset, count, ops_on_result, run);
}

static int ops_audit(ops_run *run)
{
    long long count;
    if (ops_int(run, "COUNT", "count", 50, 1, 500, &count))
        return 2;
    return orders_op_audit(run->o, count, config_str(run->cfg, "BEFORE", ""), ops_on_result, run);
}

static int ops_cancel(ops_run *run)
{
    return orders_op_cancel(run->o, &run->act, ops_on_result, run);
}

static int ops_reassign(ops_run *run)
{
    const char *courier = ops_id(run, "COURIER", "courier", ids_valid_key);
    return courier ? orders_op_reassign(run->o, &run->act, courier, ops_on_result, run) : 2;
}

static int ops_reroute(ops_run *run)
{
    long long accept_ms;
    const char *pharmacy = ops_id(run, "PHARMACY", "pharmacy", ids_valid_key);
    /* a named pharmacy gets the router's time to answer */
    if (!pharmacy ||
        ops_int(run, "OFFER_DEADLINE_MS", "offer-deadline-ms", 90000, 1000, 86400000, &accept_ms))
        return 2;
    return orders_op_reroute(run->o, &run->act, accept_ms, pharmacy, ops_on_result, run);
}

static int ops_resend_code(ops_run *run)
{
    return orders_op_resend_code(run->o, &run->act, ops_on_result, run);
}

static int ops_unlock(ops_run *run)
{
    if (strcmp(config_str(run->cfg, "IDENTITY_CHECKED", "0"), "1") != 0)
        return ops_usage("%s--identity-checked 1 is required: check the patient's identity at "
                         "the door first",
                         "");
    return orders_op_unlock(run->o, &run->act, 1, ops_on_result, run);
}

static int ops_retry(ops_run *run)
{
    const orders_op_action *a = &run->act;
    return orders_retry(run->o, a->oid, a->actor, a->reason, ops_on_result, run);
}

static int ops_bench(ops_run *run)
{
    const orders_op_action *a = &run->act;
    int bench = strcmp(run->cmd->name, "courier-bench") == 0;
    return orders_courier_bench(run->o, a->oid, a->actor, a->reason, bench, ops_on_result, run);
}

static int ops_pharmacy_open(ops_run *run)
{
    const orders_op_action *a = &run->act;
    int open = strcmp(run->cmd->name, "pharmacy-open") == 0;
    return orders_pharmacy_open(run->o, a->oid, a->actor, a->reason, open, ops_on_result, run);
}

/* A number flag within [lo, hi]; -1 after printing why. */
static int ops_num(ops_run *run, const char *name, const char *flag, double lo, double hi,
                   double *out)
{
    const char *v = config_str(run->cfg, name, NULL);
    char *end;
    *out = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || *out < lo || *out > hi) {
        fprintf(stderr, "rxctl: --%s must be a number in [%g, %g]\n", flag, lo, hi);
        return -1;
    }
    return 0;
}

static int ops_zone_pause(ops_run *run)
{
    orders_zone z = {.id = run->act.oid};
    const char *kind = config_str(run->cfg, "KIND", "circle");
    if (strcmp(kind, "circle") == 0) {
        z.kind = ORDERS_ZONE_CIRCLE;
        if (ops_num(run, "LAT", "lat", -85, 85, &z.lat) ||
            ops_num(run, "LON", "lon", -180, 180, &z.lon) ||
            ops_num(run, "RADIUS_M", "radius-m", 1, 200000, &z.radius_m))
            return 2;
    } else if (strcmp(kind, "box") == 0) {
        z.kind = ORDERS_ZONE_BOX;
        if (ops_num(run, "MIN_LAT", "min-lat", -85, 85, &z.min_lat) ||
            ops_num(run, "MIN_LON", "min-lon", -180, 180, &z.min_lon) ||
            ops_num(run, "MAX_LAT", "max-lat", -85, 85, &z.max_lat) ||
            ops_num(run, "MAX_LON", "max-lon", -180, 180, &z.max_lon))
            return 2;
        if (z.min_lat >= z.max_lat || z.min_lon >= z.max_lon)
            return ops_usage("%sa box needs --min-lat < --max-lat and --min-lon < --max-lon", "");
    } else {
        return ops_usage("--kind must be circle or box (got '%s')", kind);
    }
    return orders_zone_pause(run->o, &z, run->act.actor, run->act.reason, ops_on_result, run);
}

static int ops_zone_resume(ops_run *run)
{
    const orders_op_action *a = &run->act;
    return orders_zone_resume(run->o, a->oid, a->actor, a->reason, ops_on_result, run);
}

static int ops_zones(ops_run *run)
{
    return orders_zones(run->o, ops_on_result, run);
}

/* ---- login-link: a token kept under a one-time code (login_code.h) ---- */

static void ops_on_code_put(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    ops_run *run = ctx;
    run->answered = 1;
    run->rc = 1;
    if (err || !reply || reply->type != REDIS_REPLY_STATUS)
        fprintf(stderr, "rxctl: redis: %s\n",
                err                                         ? err
                : reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                                                            : "the code exists already; run again");
    else {
        printf("%s\n", run->login.link);
        run->rc = 0;
    }
    event_base_loopexit(run->base, NULL);
}

/* login-link's flags, the token and the code, checked and made before
 * Redis is reached: 0 or 2 after saying what is wrong. */
static int ops_login_prepare(ops_run *run)
{
    char err[256];
    const char *base = config_str(run->cfg, "BASE", config_str(run->cfg, "WEB_URL", NULL));
    if (!base || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0))
        return ops_usage("login-link: --base URL (or RXD_WEB_URL) must be the web service's "
                         "http(s) address%s",
                         "");
    if (config_int(run->cfg, "TTL", LOGIN_CODE_TTL_DEFAULT_S, &run->login.ttl_s, err,
                   sizeof(err)) ||
        run->login.ttl_s < 1 || run->login.ttl_s > LOGIN_CODE_TTL_MAX_S)
        return ops_usage("login-link: --ttl must be 1 to 86400 seconds (the code's life)%s", "");
    int rc =
        rxctl_token_mint(run->cfg, "TOKEN_TTL", 3600, run->login.token, sizeof(run->login.token));
    if (rc)
        return rc;
    if (login_code_make(run->login.code))
        return ops_usage("login-link: no entropy for the code (RAND_bytes failed)%s", "");
    size_t n = strlen(base);
    snprintf(run->login.link, sizeof(run->login.link), "%.*s/login/#code=%s",
             (int)(base[n - 1] == '/' ? n - 1 : n), base, run->login.code);
    return 0;
}

/* Stores the code; the link, <base>/login/#code=<code>, is printed once it
 * is stored. The code is in the fragment, which a browser never sends, so
 * no server log sees it. */
static int ops_login_link(ops_run *run)
{
    return login_code_put(run->o, run->login.code, run->login.token,
                          config_str(run->cfg, "ROLE", ""), config_str(run->cfg, "ID", ""),
                          run->login.ttl_s, ops_on_code_put, run);
}

static const ops_cmd ops_cmds[] = {
    {"orders", NULL, ops_orders},
    {"exceptions", NULL, ops_exceptions},
    {"audit", NULL, ops_audit},
    {"zones", NULL, ops_zones},
    {"order-cancel", "order_id", ops_cancel},
    {"order-reassign", "order_id", ops_reassign},
    {"order-reroute", "order_id", ops_reroute},
    {"order-resend-code", "order_id", ops_resend_code},
    {"order-unlock", "order_id", ops_unlock},
    {"order-retry", "order_id", ops_retry},
    {"courier-bench", "courier_id", ops_bench},
    {"courier-unbench", "courier_id", ops_bench},
    {"pharmacy-open", "pharmacy_id", ops_pharmacy_open},
    {"pharmacy-close", "pharmacy_id", ops_pharmacy_open},
    {"zone-pause", "zone_id", ops_zone_pause},
    {"zone-resume", "zone_id", ops_zone_resume},
    {"login-link", NULL, ops_login_link},
};

static void ops_on_connected(store *st, int connected, void *ctx)
{
    (void)st;
    ops_run *run = ctx;
    if (!connected || run->sent)
        return;
    run->sent = 1;
    int rc = run->cmd->start(run);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "rxctl: out of memory\n");
        run->answered = 1;
        run->rc = rc < 0 ? 1 : rc;
        event_base_loopexit(run->base, NULL);
    }
}

/* The action's ID, --reason and the actor; 0 or 2. */
static int ops_action_args(ops_run *run)
{
    const char *user = getenv("USER");
    run->act.oid = config_arg(run->cfg, 1);
    run->act.reason = config_str(run->cfg, "REASON", "");
    snprintf(run->actor, sizeof(run->actor), "rxctl:%.60s", user && *user ? user : "unknown");
    run->act.actor = run->actor;
    if (!run->act.oid || !ids_valid_key(run->act.oid, strlen(run->act.oid)))
        return ops_usage("%s ID --reason TEXT: ids are " IDS_KEY_RULE, run->cmd->name);
    if (!*run->act.reason)
        return ops_usage("%s: --reason TEXT is required (it goes into the audit)", run->cmd->name);
    return 0;
}

int ops_command(const config *cfg, struct event_base *base)
{
    const char *name = config_arg(cfg, 0);
    ops_run run = {.cfg = cfg, .base = base, .rc = 1};
    for (size_t i = 0; !run.cmd && i < sizeof(ops_cmds) / sizeof(ops_cmds[0]); i++)
        if (strcmp(name, ops_cmds[i].name) == 0)
            run.cmd = &ops_cmds[i];
    if (!run.cmd)
        return -1;
    if (run.cmd->target && ops_action_args(&run))
        return 2;
    int rc = run.cmd->start == ops_login_link ? ops_login_prepare(&run) : 0;
    if (rc)
        return rc;
    char err[256];
    const char *url = config_str(cfg, "REDIS_URL", "redis://127.0.0.1:6379");
    store *st = store_new(base, url, 3000, err, sizeof(err));
    if (!st)
        return ops_usage("%s", err);
    run.o = orders_new(st, config_str(cfg, "REGION", "default"), err, sizeof(err));
    if (!run.o) {
        store_free(st);
        return ops_usage("%s", err);
    }
    store_on_state(st, ops_on_connected, &run);
    struct timeval limit = {10, 0};
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);
    if (!run.answered) {
        char shown[512];
        store_url_redact(url, shown, sizeof(shown));
        fprintf(stderr, "rxctl: redis at %s did not answer: %s\n", shown,
                store_why(st) ? store_why(st) : "no reply in 10 s");
    }
    orders_free(run.o);
    store_free(st);
    return run.rc;
}
