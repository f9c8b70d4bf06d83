/* dispatch.c - one dispatch job per order waiting for a courier: load the
 * order (state machine op dispatch_load), find the couriers around its
 * pharmacy in the geo index, gather their facts (availability, cold box,
 * capacity, load, position), rank them (common/policy.c) and assign the
 * first. The state machine re-checks the courier atomically, so one that
 * filled up or went away meanwhile ("busy") passes the order to the next
 * choice, and a job that lost the order to another instance ("stale") stops.
 * A job that finds nobody leaves the order queued: its claim lease brings it
 * back in a couple of seconds.
 *
 * Redis failures (rerr.h): one that may pass restarts the job from the load
 * after a backoff, a few times, without holding a claim slot while it
 * waits; then the job ends and the claim lease brings the order back. One
 * that no retry fixes parks the order (dispatch_park) when it is about the
 * order, skips the courier when it is about the courier, and drops the job
 * when it is about the shared courier index. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "dispatcher.h"
#include "log.h"
#include "rerr.h"
#include "policy.h"

#define DISPATCH_BACKOFF_MIN_MS 100
#define DISPATCH_BACKOFF_MAX_MS 5000
#define DISPATCH_RETRIES_MAX 3       /* in-job retries (0.1+0.2+0.4 s), below the 2 s lease */
#define DISPATCH_BACKING_OFF_MAX 500 /* jobs waiting to retry; beyond, a failing job ends */
#define DISPATCH_CLAIM_LIMIT "100"

struct dispatch_job {
    dispatcher *d;
    kafka_msg *msg;
    char oid[IDS_MAX + 1];
    dispatch_loaded loaded; /* the order, its pharmacy, the couriers tried */
    policy_courier *c;      /* candidates around the pharmacy */
    policy_choice *choice;  /* eligible candidates, best first */
    size_t nc, nchoice, next;
    int backoff_ms;
    int retries;
    int waiting; /* the retry timer is armed (counted in d->backing_off) */
    struct event *retry;
    dispatch_job *next_running;
};

static void dispatch_load(dispatch_job *job);
static void dispatch_assign_next(dispatch_job *job);

static void dispatch_reset(dispatch_job *job)
{
    dispatch_loaded_clear(&job->loaded);
    free(job->c);
    free(job->choice);
    job->c = NULL;
    job->choice = NULL;
    job->nc = job->nchoice = job->next = 0;
}

static void dispatch_unlink(dispatch_job *job)
{
    for (dispatch_job **p = &job->d->running; *p; p = &(*p)->next_running) {
        if (*p == job) {
            *p = job->next_running;
            return;
        }
    }
}

static void dispatch_finish(dispatch_job *job)
{
    dispatcher *d = job->d;
    if (job->msg)
        service_msg_done(d->svc, d->consumer, job->msg);
    if (job->waiting)
        d->backing_off--;
    dispatch_unlink(job);
    dispatch_reset(job);
    if (job->retry)
        event_free(job->retry);
    free(job);
    d->jobs--;
}

static void dispatch_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dispatch_job *job = arg;
    job->waiting = 0;
    job->d->backing_off--;
    dispatch_load(job);
}

const char *dispatch_reply_error(const redisReply *r, const char *err)
{
    if (err)
        return err;
    if (r && r->type == REDIS_REPLY_ERROR)
        return r->str;
    return "unexpected reply";
}

rerr_kind dispatch_error_kind(const redisReply *r, const char *err)
{
    return rerr_classify(err ? err
                         : r ? NULL
                             : "no reply",
                         r && r->type == REDIS_REPLY_ERROR ? r->str : NULL);
}

typedef struct dispatch_park_ctx {
    dispatcher *d;
    char oid[IDS_MAX + 1];
} dispatch_park_ctx;

static void dispatch_on_parked(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    dispatch_park_ctx *p = ctx;
    if (!orders_status(reply))
        log_event(LOG_ERROR, "dispatch_park_failed", "{s:s, s:s, s:s}", "order_id", p->oid, "error",
                  dispatch_reply_error(reply, err), "action",
                  "the order comes back once per lease; remove it from the queue by hand");
    else
        metric_add(p->d->m_parked, 1);
    free(p);
}

void dispatch_park(dispatcher *d, const char *queue, const char *oid, const char *why)
{
    metric_add(d->m_failed, 1);
    log_event(LOG_ERROR, "dispatch_failed", "{s:s, s:s, s:s, s:s}", "order_id", oid, "queue", queue,
              "error", why, "action",
              "the order is parked (<prefix>parked) and waits for an operator: look at its keys "
              "with `rxctl order` and redis-cli, fix them, and put it back with ZADD");
    dispatch_park_ctx *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->d = d;
    snprintf(p->oid, sizeof(p->oid), "%s", oid);
    char reason[256];
    snprintf(reason, sizeof(reason), "store_error: %s", why);
    const char *argv[] = {queue, oid, reason};
    orders_call(d->svc->orders, dispatch_on_parked, p, "park", 3, argv);
}

/* Redis failed us about this order. A failure no retry fixes parks it. One
 * that may pass starts over from the load after a backoff, a few times;
 * then (or while shutting down, or when too many jobs wait already) the job
 * just ends: the order waits in <prefix>dispatch and its lease brings it
 * back, so nothing is lost by not retrying. */
static void dispatch_retry(dispatch_job *job, const redisReply *reply, const char *err)
{
    dispatcher *d = job->d;
    const char *why = dispatch_reply_error(reply, err);
    metric_add(d->m_redis_errors, 1);
    if (dispatch_error_kind(reply, err) == RERR_FATAL) {
        dispatch_park(d, "dispatch", job->oid, why);
        dispatch_finish(job);
        return;
    }
    if (d->svc->stopping || job->retries >= DISPATCH_RETRIES_MAX ||
        d->backing_off >= DISPATCH_BACKING_OFF_MAX) {
        metric_add(d->m_deferred, 1);
        log_event(LOG_WARN, "dispatch_deferred", "{s:s, s:s, s:i}", "order_id", job->oid, "error",
                  why, "retries", job->retries);
        dispatch_finish(job);
        return;
    }
    job->retries++;
    job->backoff_ms = job->backoff_ms ? job->backoff_ms * 2 : DISPATCH_BACKOFF_MIN_MS;
    if (job->backoff_ms > DISPATCH_BACKOFF_MAX_MS)
        job->backoff_ms = DISPATCH_BACKOFF_MAX_MS;
    log_event(LOG_WARN, "dispatch_retry", "{s:s, s:s, s:i}", "order_id", job->oid, "error", why,
              "backoff_ms", job->backoff_ms);
    if (!job->retry)
        job->retry = evtimer_new(d->svc->base, dispatch_on_retry, job);
    struct timeval tv = {job->backoff_ms / 1000, (job->backoff_ms % 1000) * 1000};
    job->waiting = 1;
    d->backing_off++;
    evtimer_add(job->retry, &tv);
}

/* ---- assigning ---- */

static void dispatch_on_assign(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    dispatch_job *job = ctx;
    const char *status = orders_status(reply);
    const policy_choice *ch = &job->choice[job->next];
    const char *courier = job->c[ch->courier].id;
    if (!status && dispatch_error_kind(reply, err) == RERR_FATAL) {
        /* this courier's keys, most likely: on to the next choice */
        metric_add(job->d->m_redis_errors, 1);
        log_event(LOG_ERROR, "assign_failed", "{s:s, s:s, s:s, s:s}", "order_id", job->oid,
                  "courier_id", courier, "error", dispatch_reply_error(reply, err), "action",
                  "look at the courier's keys (<prefix>co:<id>, ...:orders)");
        job->next++;
        dispatch_assign_next(job);
        return;
    }
    if (!status) {
        dispatch_retry(job, reply, err);
        return;
    }
    if (strcmp(status, "assigned") == 0) {
        metric_add(job->d->m_assigned, 1);
        log_event(LOG_INFO, "courier_assigned", "{s:s, s:s, s:i, s:s}", "order_id", job->oid,
                  "courier_id", courier, "pickup_distance_m", (int)ch->dist_m, "accept_by",
                  orders_field(reply, 1));
        dispatch_finish(job);
    } else if (strcmp(status, "busy") == 0) {
        /* the courier changed since its facts were read: the next choice */
        metric_add(job->d->m_busy, 1);
        log_event(LOG_DEBUG, "courier_refused", "{s:s, s:s, s:s}", "order_id", job->oid,
                  "courier_id", courier, "why", orders_field(reply, 1));
        job->next++;
        dispatch_assign_next(job);
    } else {
        dispatch_finish(job); /* another instance moved the order on */
    }
}

void dispatch_assign_call(dispatcher *d, const char *oid, const char *courier, double dist_m,
                          store_reply_cb *cb, void *ctx)
{
    char deadline[24], min_ts[24], dist[24];
    snprintf(deadline, sizeof(deadline), "%lld", d->deadline_ms);
    snprintf(min_ts, sizeof(min_ts), "%lld", service_now_ms() - d->stale_ms);
    snprintf(dist, sizeof(dist), "%d", (int)(dist_m + 0.5));
    const char *argv[] = {oid, courier, deadline, min_ts, dist};
    orders_call(d->svc->orders, cb, ctx, "assign", 5, argv);
}

static void dispatch_assign_next(dispatch_job *job)
{
    dispatcher *d = job->d;
    if (job->next >= job->nchoice) {
        metric_add(d->m_no_courier, 1);
        log_event(LOG_DEBUG, "no_courier", "{s:s, s:i, s:i}", "order_id", job->oid, "candidates",
                  (int)job->nc, "eligible", (int)job->nchoice);
        dispatch_finish(job); /* it stays queued; the claim lease brings it back */
        return;
    }
    const policy_choice *ch = &job->choice[job->next];
    dispatch_assign_call(d, job->oid, job->c[ch->courier].id, ch->dist_m, dispatch_on_assign, job);
}

static void dispatch_rank_and_assign(dispatch_job *job)
{
    dispatcher *d = job->d;
    policy_params p = {.kind = POLICY_GREEDY,
                       .now_ms = service_now_ms(),
                       .stale_ms = d->stale_ms,
                       .radius_m = d->radius_m};
    job->choice = calloc(job->nc ? job->nc : 1, sizeof(*job->choice));
    job->nchoice = policy_rank(&p, &job->loaded.order, job->c, job->nc, job->choice);
    job->next = 0;
    dispatch_assign_next(job);
}

/* ---- gathering the candidates' facts ---- */

static int dispatch_flag(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING && strcmp(e->str, "1") == 0;
}

static const char *dispatch_str(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING ? e->str : "";
}

/* HMGET available cold capacity ts_ms lat lon. A courier without a hash
 * (or without a position) stays unavailable, so ineligible. */
void dispatch_fact_hash(const redisReply *r, void *item, void *ctx)
{
    (void)ctx;
    policy_courier *c = item;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6 ||
        r->element[3]->type != REDIS_REPLY_STRING || r->element[4]->type != REDIS_REPLY_STRING)
        return;
    c->available = dispatch_flag(r->element[0]);
    c->cold_chain = dispatch_flag(r->element[1]);
    c->capacity = atol(dispatch_str(r->element[2]));
    c->ts_ms = atoll(r->element[3]->str);
    c->lat = atof(r->element[4]->str);
    c->lon = atof(dispatch_str(r->element[5]));
}

void dispatch_fact_load(const redisReply *r, void *item, void *ctx)
{
    (void)ctx;
    policy_courier *c = item;
    c->load = r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 0;
}

static void dispatch_on_facts(int failed, void *ctx)
{
    dispatch_job *job = ctx;
    if (failed == RERR_RETRY) {
        dispatch_retry(job, NULL, "reading courier facts failed");
        return;
    }
    if (failed) /* those couriers' facts stay unread, so they are ineligible */
        log_event(LOG_ERROR, "courier_facts_unreadable", "{s:s, s:s}", "order_id", job->oid,
                  "action", "some courier's keys hold the wrong type; they are skipped: fix them");
    dispatch_rank_and_assign(job);
}

void dispatch_gather_cmds(dispatcher *d, batch *b, policy_courier *c)
{
    char key[ORDERS_KEY_MAX];
    const char *hash[] = {"HMGET",     orders_key(d->svc->orders, key, "co:%s", c->id),
                          "available", "cold",
                          "capacity",  "ts_ms",
                          "lat",       "lon"};
    batch_cmd(b, dispatch_fact_hash, c, 8, hash);
    const char *load[] = {"SCARD", orders_key(d->svc->orders, key, "co:%s:orders", c->id)};
    batch_cmd(b, dispatch_fact_load, c, 2, load);
}

/* One pipelined batch: each candidate's hash and its load. */
static void dispatch_gather(dispatch_job *job)
{
    batch *b = batch_new(job->d->svc->store, dispatch_on_facts, job);
    for (size_t i = 0; i < job->nc; i++)
        dispatch_gather_cmds(job->d, b, &job->c[i]);
    batch_end(b);
}

/* ---- candidates around the pharmacy ---- */

static void dispatch_on_search(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    dispatch_job *job = ctx;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        if (dispatch_error_kind(reply, err) == RERR_RETRY) {
            dispatch_retry(job, reply, err);
            return;
        }
        /* the shared index, not this order: drop the job, keep the order */
        metric_add(job->d->m_redis_errors, 1);
        metric_add(job->d->m_failed, 1);
        log_event(LOG_ERROR, "dispatch_index_broken", "{s:s, s:s, s:s}", "order_id", job->oid,
                  "error", dispatch_reply_error(reply, err), "action",
                  "the courier geo index (<prefix>idx:co:geo) is not a geo set: delete it (the "
                  "couriers' next positions rebuild it)");
        dispatch_finish(job);
        return;
    }
    job->c = calloc(reply->elements ? reply->elements : 1, sizeof(*job->c));
    for (size_t i = 0; i < reply->elements; i++) {
        const char *id = dispatch_search_id(reply, i);
        if (id)
            snprintf(job->c[job->nc++].id, IDS_MAX + 1, "%s", id);
    }
    dispatch_gather(job);
}

void dispatch_search_prepare(const dispatcher *d, const policy_order *o, dispatch_search_args *a)
{
    snprintf(a->lat, sizeof(a->lat), "%.7f", o->lat);
    snprintf(a->lon, sizeof(a->lon), "%.7f", o->lon);
    snprintf(a->r, sizeof(a->r), "%.0f", d->radius_m);
    snprintf(a->count, sizeof(a->count), "%lld", d->candidates_max);
    const char *argv[DISPATCH_SEARCH_ARGC] = {
        "GEOSEARCH",  orders_key(d->svc->orders, a->key, "idx:co:geo"),
        "FROMLONLAT", a->lon,
        a->lat,       "BYRADIUS",
        a->r,         "m",
        "ASC",        "COUNT",
        a->count,     "WITHDIST"};
    memcpy(a->argv, argv, sizeof(argv));
}

const char *dispatch_search_id(const redisReply *reply, size_t i)
{
    const redisReply *e = reply->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return NULL;
    return e->element[0]->str;
}

static void dispatch_search(dispatch_job *job)
{
    dispatch_search_args a;
    dispatch_search_prepare(job->d, &job->loaded.order, &a);
    store_cmd_argv(job->d->svc->store, dispatch_on_search, job, DISPATCH_SEARCH_ARGC, a.argv, NULL);
}

/* ---- loading the order ---- */

/* The tried list is kept as JSON; the policy gets pointers into it. Lua's
 * cjson encodes an empty list as {}, hence the object check. */
static void dispatch_parse_tried(dispatch_loaded *l, const char *json)
{
    l->tried = json_loads(json, 0, NULL);
    if (!json_is_array(l->tried)) {
        json_decref(l->tried);
        l->tried = json_array();
    }
    size_t n = json_array_size(l->tried), i;
    json_t *v;
    l->tried_ids = calloc(n ? n : 1, sizeof(char *));
    json_array_foreach(l->tried, i, v)
    {
        l->tried_ids[i] = json_string_value(v);
    }
    l->order.tried = l->tried_ids;
    l->order.ntried = n;
}

/* dispatch_load reply: ok pharmacy plat plon cold priority ready_ms tried_json,
 * or skip state (nothing to do: the order no longer waits for a courier) */
const char *dispatch_loaded_parse(const redisReply *reply, const char *oid, dispatch_loaded *l)
{
    const char *status = orders_status(reply);
    if (!status)
        return NULL;
    if (strcmp(status, "ok") != 0 || !*orders_field(reply, 2))
        return "skip";
    policy_order *o = &l->order;
    *o = (policy_order){.cold_chain = strcmp(orders_field(reply, 4), "1") == 0,
                        .urgent = strcmp(orders_field(reply, 5), "1") == 0,
                        .lat = atof(orders_field(reply, 2)),
                        .lon = atof(orders_field(reply, 3)),
                        .ready_ms = atoll(orders_field(reply, 6)),
                        .pharmacy = l->pharmacy};
    snprintf(o->id, sizeof(o->id), "%s", oid);
    snprintf(l->pharmacy, sizeof(l->pharmacy), "%s", orders_field(reply, 1));
    dispatch_parse_tried(l, orders_field(reply, 7));
    return "ok";
}

void dispatch_loaded_clear(dispatch_loaded *l)
{
    json_decref(l->tried);
    free(l->tried_ids);
    l->tried = NULL;
    l->tried_ids = NULL;
}

static void dispatch_on_loaded(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    dispatch_job *job = ctx;
    dispatch_reset(job);
    const char *status = dispatch_loaded_parse(reply, job->oid, &job->loaded);
    if (!status)
        dispatch_retry(job, reply, err);
    else if (strcmp(status, "ok") != 0)
        dispatch_finish(job);
    else
        dispatch_search(job);
}

static void dispatch_load(dispatch_job *job)
{
    const char *argv[] = {job->oid};
    orders_call(job->d->svc->orders, dispatch_on_loaded, job, "dispatch_load", 1, argv);
}

int dispatch_running(const dispatcher *d, const char *oid)
{
    for (const dispatch_job *j = d->running; j; j = j->next_running)
        if (strcmp(j->oid, oid) == 0)
            return 1;
    return 0;
}

void dispatch_start(dispatcher *d, const char *oid, kafka_msg *msg)
{
    /* the event, the claim timer and a lapsed deadline may all ask for the
     * same order at once: one job per order in this process is enough */
    if (dispatch_running(d, oid)) {
        if (msg)
            kafka_consumer_done(d->consumer, msg);
        return;
    }
    dispatch_job *job = calloc(1, sizeof(*job));
    job->d = d;
    job->msg = msg;
    snprintf(job->oid, sizeof(job->oid), "%s", oid);
    job->next_running = d->running;
    d->running = job;
    d->jobs++;
    dispatch_load(job);
}

void dispatch_wanted(dispatcher *d, const char *oid, kafka_msg *msg)
{
    if (d->policy == POLICY_GREEDY) {
        dispatch_start(d, oid, msg);
        return;
    }
    if (msg)
        kafka_consumer_done(d->consumer, msg);
    round_request(d);
}

/* ---- orders waiting for a courier ---- */

static void dispatch_on_claimed(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    (void)err;
    dispatcher *d = ctx;
    d->jobs--;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        metric_add(d->m_redis_errors, 1);
        return; /* the orders stay queued; the next tick claims them */
    }
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING && !d->svc->stopping)
            dispatch_start(d, reply->element[i]->str, NULL);
}

void dispatch_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dispatcher *d = arg;
    /* jobs backing off hold no slot: failing jobs cannot stop the claims */
    if (d->jobs - d->backing_off > DISPATCHER_JOBS_MAX || d->svc->stopping)
        return; /* busy: the orders stay queued */
    char lease[24];
    snprintf(lease, sizeof(lease), "%lld", d->lease_ms);
    const char *argv[] = {"dispatch", DISPATCH_CLAIM_LIMIT, lease};
    d->jobs++;
    orders_call(d->svc->orders, dispatch_on_claimed, d, "claim", 3, argv);
}
