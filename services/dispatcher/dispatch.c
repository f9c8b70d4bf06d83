/* dispatch.c - one dispatch job per order waiting for a courier: load the
 * order (state machine op dispatch_load), find the couriers around its
 * pharmacy in the geo index, gather their facts (availability, cold box,
 * capacity, load, position), rank them (common/policy.c) and assign the
 * first. The state machine re-checks the courier atomically, so one that
 * filled up or went away meanwhile ("busy") passes the order to the next
 * choice, and a job that lost the order to another instance ("stale") stops.
 * A job that finds nobody leaves the order queued: its claim lease brings it
 * back in a couple of seconds. Redis errors restart the job from the load
 * after a backoff. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "dispatcher.h"
#include "log.h"
#include "policy.h"

#define DISPATCH_BACKOFF_MIN_MS 100
#define DISPATCH_BACKOFF_MAX_MS 5000
#define DISPATCH_JOBS_MAX 1000
#define DISPATCH_CLAIM_LIMIT "100"

struct dispatch_job {
    dispatcher *d;
    kafka_msg *msg;
    char oid[IDS_MAX + 1];
    policy_order order;
    json_t *tried;          /* couriers that declined or missed the order */
    const char **tried_ids; /* strings inside tried */
    policy_courier *c;      /* candidates around the pharmacy */
    policy_choice *choice;  /* eligible candidates, best first */
    size_t nc, nchoice, next;
    int backoff_ms;
    struct event *retry;
    dispatch_job *next_running;
};

static void dispatch_load(dispatch_job *job);
static void dispatch_assign_next(dispatch_job *job);

static void dispatch_reset(dispatch_job *job)
{
    json_decref(job->tried);
    free(job->tried_ids);
    free(job->c);
    free(job->choice);
    job->tried = NULL;
    job->tried_ids = NULL;
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
    dispatch_load(arg);
}

static const char *dispatch_reply_error(const redisReply *r, const char *err)
{
    if (err)
        return err;
    if (r && r->type == REDIS_REPLY_ERROR)
        return r->str;
    return "unexpected reply";
}

/* Redis failed us: start over from the load after a backoff. While shutting
 * down the job just ends: the order waits in <prefix>dispatch for the next
 * instance, so nothing is lost by not retrying. */
static void dispatch_retry(dispatch_job *job, const char *err)
{
    dispatcher *d = job->d;
    metric_add(d->m_redis_errors, 1);
    if (d->svc->stopping) {
        dispatch_finish(job);
        return;
    }
    job->backoff_ms = job->backoff_ms ? job->backoff_ms * 2 : DISPATCH_BACKOFF_MIN_MS;
    if (job->backoff_ms > DISPATCH_BACKOFF_MAX_MS)
        job->backoff_ms = DISPATCH_BACKOFF_MAX_MS;
    log_event(LOG_WARN, "dispatch_retry", "{s:s, s:s, s:i}", "order_id", job->oid, "error", err,
              "backoff_ms", job->backoff_ms);
    if (!job->retry)
        job->retry = evtimer_new(d->svc->base, dispatch_on_retry, job);
    struct timeval tv = {job->backoff_ms / 1000, (job->backoff_ms % 1000) * 1000};
    evtimer_add(job->retry, &tv);
}

/* ---- assigning ---- */

static void dispatch_on_assign(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    dispatch_job *job = ctx;
    const char *status = orders_status(reply);
    if (!status) {
        dispatch_retry(job, dispatch_reply_error(reply, err));
        return;
    }
    const policy_choice *ch = &job->choice[job->next];
    const char *courier = job->c[ch->courier].id;
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
    char deadline[24], min_ts[24], dist[24];
    snprintf(deadline, sizeof(deadline), "%lld", d->deadline_ms);
    snprintf(min_ts, sizeof(min_ts), "%lld", service_now_ms() - d->stale_ms);
    snprintf(dist, sizeof(dist), "%d", (int)(ch->dist_m + 0.5));
    const char *argv[] = {job->oid, job->c[ch->courier].id, deadline, min_ts, dist};
    orders_call(d->svc->orders, dispatch_on_assign, job, "assign", 5, argv);
}

static void dispatch_rank_and_assign(dispatch_job *job)
{
    dispatcher *d = job->d;
    policy_params p = {POLICY_GREEDY, service_now_ms(), d->stale_ms, d->radius_m};
    job->choice = calloc(job->nc ? job->nc : 1, sizeof(*job->choice));
    job->nchoice = policy_rank(&p, &job->order, job->c, job->nc, job->choice);
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
static void dispatch_fact_hash(const redisReply *r, void *item, void *ctx)
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

static void dispatch_fact_load(const redisReply *r, void *item, void *ctx)
{
    (void)ctx;
    policy_courier *c = item;
    c->load = r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 0;
}

static void dispatch_on_facts(int failed, void *ctx)
{
    dispatch_job *job = ctx;
    if (failed)
        dispatch_retry(job, "reading courier facts failed");
    else
        dispatch_rank_and_assign(job);
}

/* One pipelined batch: each candidate's hash and its load. */
static void dispatch_gather(dispatch_job *job)
{
    dispatcher *d = job->d;
    batch *b = batch_new(d->svc->store, dispatch_on_facts, job);
    for (size_t i = 0; i < job->nc; i++) {
        char key[ORDERS_KEY_MAX];
        const char *hash[] = {"HMGET",     orders_key(d->svc->orders, key, "co:%s", job->c[i].id),
                              "available", "cold",
                              "capacity",  "ts_ms",
                              "lat",       "lon"};
        batch_cmd(b, dispatch_fact_hash, &job->c[i], 8, hash);
        const char *load[] = {"SCARD",
                              orders_key(d->svc->orders, key, "co:%s:orders", job->c[i].id)};
        batch_cmd(b, dispatch_fact_load, &job->c[i], 2, load);
    }
    batch_end(b);
}

/* ---- candidates around the pharmacy ---- */

static void dispatch_on_search(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    dispatch_job *job = ctx;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        dispatch_retry(job, dispatch_reply_error(reply, err));
        return;
    }
    job->c = calloc(reply->elements ? reply->elements : 1, sizeof(*job->c));
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        snprintf(job->c[job->nc++].id, IDS_MAX + 1, "%s", e->element[0]->str);
    }
    dispatch_gather(job);
}

static void dispatch_search(dispatch_job *job)
{
    dispatcher *d = job->d;
    char key[ORDERS_KEY_MAX], lat[32], lon[32], r[32], count[16];
    snprintf(lat, sizeof(lat), "%.7f", job->order.lat);
    snprintf(lon, sizeof(lon), "%.7f", job->order.lon);
    snprintf(r, sizeof(r), "%.0f", d->radius_m);
    snprintf(count, sizeof(count), "%lld", d->candidates_max);
    const char *argv[] = {"GEOSEARCH",
                          orders_key(d->svc->orders, key, "co:geo"),
                          "FROMLONLAT",
                          lon,
                          lat,
                          "BYRADIUS",
                          r,
                          "m",
                          "ASC",
                          "COUNT",
                          count,
                          "WITHDIST"};
    store_cmd_argv(d->svc->store, dispatch_on_search, job, 12, argv, NULL);
}

/* ---- loading the order ---- */

/* The tried list is kept as JSON; the policy gets pointers into it. Lua's
 * cjson encodes an empty list as {}, hence the object check. */
static void dispatch_parse_tried(dispatch_job *job, const char *json)
{
    job->tried = json_loads(json, 0, NULL);
    if (!json_is_array(job->tried)) {
        json_decref(job->tried);
        job->tried = json_array();
    }
    size_t n = json_array_size(job->tried), i;
    json_t *v;
    job->tried_ids = calloc(n ? n : 1, sizeof(char *));
    json_array_foreach(job->tried, i, v)
    {
        job->tried_ids[i] = json_string_value(v);
    }
    job->order.tried = job->tried_ids;
    job->order.ntried = n;
}

/* dispatch_load reply: ok pharmacy plat plon cold priority ready_ms tried_json,
 * or skip state (nothing to do: the order no longer waits for a courier) */
static void dispatch_on_loaded(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    dispatch_job *job = ctx;
    const char *status = orders_status(reply);
    if (!status) {
        dispatch_retry(job, dispatch_reply_error(reply, err));
        return;
    }
    if (strcmp(status, "ok") != 0 || !*orders_field(reply, 2)) {
        dispatch_finish(job);
        return;
    }
    dispatch_reset(job);
    policy_order *o = &job->order;
    snprintf(o->id, sizeof(o->id), "%s", job->oid);
    o->lat = atof(orders_field(reply, 2));
    o->lon = atof(orders_field(reply, 3));
    o->cold_chain = strcmp(orders_field(reply, 4), "1") == 0;
    o->urgent = strcmp(orders_field(reply, 5), "1") == 0;
    o->ready_ms = atoll(orders_field(reply, 6));
    dispatch_parse_tried(job, orders_field(reply, 7));
    dispatch_search(job);
}

static void dispatch_load(dispatch_job *job)
{
    const char *argv[] = {job->oid};
    orders_call(job->d->svc->orders, dispatch_on_loaded, job, "dispatch_load", 1, argv);
}

static int dispatch_running(const dispatcher *d, const char *oid)
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
    if (d->jobs > DISPATCH_JOBS_MAX || d->svc->stopping)
        return; /* busy: the orders stay queued */
    char lease[24];
    snprintf(lease, sizeof(lease), "%lld", d->lease_ms);
    const char *argv[] = {"dispatch", DISPATCH_CLAIM_LIMIT, lease};
    d->jobs++;
    orders_call(d->svc->orders, dispatch_on_claimed, d, "claim", 3, argv);
}
