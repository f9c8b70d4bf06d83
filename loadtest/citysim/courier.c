/* courier.c - courier actors. One shared 1 s clock moves every courier
 * toward its current target and spreads the position reports over the
 * clock's ticks. A courier serves its jobs in the order it accepted them,
 * picking up every job waiting at the same pharmacy in one stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "city.h"
#include "place.h"
#include "courier.h"
#include "dict.h"
#include "log.h"
#include "patient.h"
#include "pharm.h"
#include "rng.h"

#define COURIER_POLL_WAIT_S 20
#define COURIER_PAUSE_S 2.0 /* real seconds between polls that brought nothing new */
#define COURIER_RETRY_S 2.0 /* after a failed poll */
#define COURIER_TICK_S 1.0  /* real seconds per movement step */
#define COURIER_LOC_EVERY 3 /* ticks between position reports */
#define COURIER_SPEED_MPS (30.0 / 3.6)
#define COURIER_ARRIVED_M 25.0
#define COURIER_DOOR_WAIT_MS 10000 /* real ms to wait for a code before giving up */

typedef struct courier courier;

typedef enum { CJ_OFFERED, CJ_TO_PHARMACY, CJ_CARRYING, CJ_RETURNING } courier_phase;

typedef struct courier_job {
    courier *co;
    struct courier_job *next; /* in the order the courier took them */
    char order_id[72];
    char pharmacy_id[72];
    double ph_lat, ph_lon, drop_lat, drop_lon;
    courier_phase phase;
    int busy;    /* a request about this job is in flight */
    int present; /* listed by the latest poll */
    int not_at;  /* the last pickup was refused: no position at the pharmacy yet */
    int64_t at_door_ms;
    struct event *timer; /* the accept decision */
} courier_job;

struct courier {
    courier_set *set;
    const city_courier *c;
    int index;
    rng r;
    double lat, lon;
    courier_job *jobs;
    dict *seen; /* order ids ever assigned here: each is handled once */
    struct event *repoll;
};

struct courier_set {
    sim *s;
    courier *all;
    int n;
    struct event *tick;
    long ticks;
    courier_stats st;
};

static void courier_poll(courier *co);

/* ---- jobs ---- */

static void courier_job_free(courier_job *j)
{
    courier *co = j->co;
    courier_job **pp = &co->jobs;
    while (*pp && *pp != j)
        pp = &(*pp)->next;
    if (*pp)
        *pp = j->next;
    event_free(j->timer);
    free(j);
}

static courier_job *courier_job_find(courier *co, const char *oid)
{
    for (courier_job *j = co->jobs; j; j = j->next)
        if (strcmp(j->order_id, oid) == 0)
            return j;
    return NULL;
}

typedef void courier_reply_fn(courier_job *j, int status);

typedef struct courier_call {
    courier_job *j;
    courier_reply_fn *fn;
} courier_call;

static void courier_on_reply(int status, json_t *body, void *ctx)
{
    courier_call *call = ctx;
    courier_job *j = call->j;
    courier_reply_fn *fn = call->fn;
    free(call);
    j->busy = 0;
    /* a pickup before the position from the pharmacy reached the API: not a
     * conflict, the courier asks again on the next tick */
    const char *code = json_string_value(json_object_get(json_object_get(body, "error"), "code"));
    j->not_at = status == 409 && code && strcmp(code, "not_at_pharmacy") == 0;
    if (j->not_at) {
        fn(j, status);
        return;
    }
    log_event(LOG_DEBUG, "courier_reply", "{s:s, s:s, s:i, s:i}", "courier", j->co->c->id,
              "order_id", j->order_id, "phase", (int)j->phase, "status", status);
    if (status == 409 || status == 404 || status == 403)
        j->co->set->st.conflicts++;
    else if (status != 200)
        j->co->set->st.errors++;
    fn(j, status);
}

/* POST /v1/orders/{id}/courier/{action}; fn(j, status) gets the answer. */
static void courier_act(courier_job *j, const char *action, json_t *body, courier_reply_fn *fn)
{
    sim *s = j->co->set->s;
    char path[192];
    courier_call *call = malloc(sizeof(*call));
    if (!call || s->stopping) {
        free(call);
        json_decref(body);
        return;
    }
    *call = (courier_call){j, fn};
    snprintf(path, sizeof(path), "/v1/orders/%s/courier/%s", j->order_id, action);
    j->busy = 1;
    if (api_request(s->co_act, EVHTTP_REQ_POST, path, j->co->c->token, body, courier_on_reply,
                    call) != 0) {
        j->busy = 0;
        free(call);
    }
}

static void courier_on_decided(courier_job *j, int status)
{
    if (status == 200 && j->phase == CJ_TO_PHARMACY) {
        j->co->set->st.accepted++;
        return;
    }
    if (status == 0 || status >= 500) { /* try again on the next decision */
        struct timeval tv = sim_real(1.0);
        evtimer_add(j->timer, &tv);
        return;
    }
    courier_job_free(j); /* declined, or the assignment moved on */
}

static void courier_on_decide(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    courier_job *j = arg;
    if (rng_chance(&j->co->r, 0.03)) {
        j->co->set->st.declined++;
        courier_act(j, "decline", json_pack("{s:s}", "reason", "too far"), courier_on_decided);
        return;
    }
    /* the phase moves first so that a poll answered meanwhile keeps the job */
    j->phase = CJ_TO_PHARMACY;
    courier_act(j, "accept", NULL, courier_on_decided);
}

static void courier_job_read(courier_job *j, const json_t *a)
{
    const json_t *ph = json_object_get(a, "pharmacy");
    const json_t *drop = json_object_get(a, "dropoff");
    snprintf(j->pharmacy_id, sizeof(j->pharmacy_id), "%s",
             json_string_value(json_object_get(a, "pharmacy_id")));
    j->ph_lat = json_number_value(json_object_get(ph, "lat"));
    j->ph_lon = json_number_value(json_object_get(ph, "lon"));
    j->drop_lat = json_number_value(json_object_get(drop, "lat"));
    j->drop_lon = json_number_value(json_object_get(drop, "lon"));
}

/* A new assignment: decide on an offer after a moment, or resume one this
 * courier already holds (a restarted simulator). */
static void courier_job_add(courier *co, const json_t *a, const char *oid)
{
    courier_job *j = calloc(1, sizeof(*j));
    const char *state = json_string_value(json_object_get(a, "state"));
    if (!j || !(j->timer = evtimer_new(co->set->s->base, courier_on_decide, j))) {
        free(j);
        return;
    }
    j->co = co;
    j->present = 1;
    snprintf(j->order_id, sizeof(j->order_id), "%s", oid);
    courier_job_read(j, a);
    courier_job **pp = &co->jobs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = j;
    co->set->st.assignments++;
    log_event(LOG_DEBUG, "courier_job_new", "{s:s, s:s, s:s}", "courier", co->c->id, "order_id",
              oid, "state", state ? state : "");
    if (state && strcmp(state, "PICKED_UP") == 0)
        j->phase = CJ_CARRYING;
    else if (state && strcmp(state, "RETURNING") == 0)
        j->phase = CJ_RETURNING;
    else if (json_is_true(json_object_get(a, "accepted")))
        j->phase = CJ_TO_PHARMACY;
    else {
        struct timeval tv = sim_scaled(co->set->s, 3 + rng_unit(&co->r) * 12);
        j->phase = CJ_OFFERED;
        evtimer_add(j->timer, &tv);
    }
}

/* ---- polling ---- */

/* Drops jobs the latest poll no longer lists: reassigned after a missed
 * deadline, or cancelled. Carried orders stay until delivered or failed. */
static void courier_drop_vanished(courier *co)
{
    courier_job *j = co->jobs;
    while (j) {
        courier_job *next = j->next;
        if (!j->present && !j->busy && (j->phase == CJ_OFFERED || j->phase == CJ_TO_PHARMACY)) {
            log_event(LOG_DEBUG, "courier_job_vanished", "{s:s, s:s, s:i}", "courier", co->c->id,
                      "order_id", j->order_id, "phase", (int)j->phase);
            courier_job_free(j);
        }
        j = next;
    }
}

/* Catches up with what the API says when a reply went missing (a pickup
 * that happened although its answer was lost); never moves a job back, as
 * the listing may predate this courier's latest action. */
static void courier_job_sync(courier_job *j, const json_t *a)
{
    const char *state = json_string_value(json_object_get(a, "state"));
    j->present = 1;
    if (!j->busy && j->phase == CJ_TO_PHARMACY && state && strcmp(state, "PICKED_UP") == 0)
        j->phase = CJ_CARRYING;
}

static int courier_take_assignments(courier *co, const json_t *list)
{
    size_t i;
    const json_t *a;
    int fresh = 0;
    for (courier_job *j = co->jobs; j; j = j->next)
        j->present = 0;
    json_array_foreach(list, i, a)
    {
        const char *oid = json_string_value(json_object_get(a, "order_id"));
        courier_job *j = oid ? courier_job_find(co, oid) : NULL;
        if (j) {
            courier_job_sync(j, a);
        } else if (oid) {
            /* listed but no job: new, or a job this simulator dropped after
             * an answer it could not use (the order is still ours: resume) */
            if (!dict_get(co->seen, oid)) {
                dict_set(co->seen, oid, (void *)1);
                fresh++;
            }
            courier_job_add(co, a, oid);
        }
    }
    courier_drop_vanished(co);
    return fresh;
}

static void courier_on_repoll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    courier_poll(arg);
}

static void courier_poll_later(courier *co, double real_s)
{
    struct timeval tv = sim_real(real_s);
    evtimer_add(co->repoll, &tv);
}

static void courier_on_assignments(int status, json_t *body, void *ctx)
{
    courier *co = ctx;
    const json_t *list = json_object_get(body, "assignments");
    if (co->set->s->stopping)
        return;
    if (status != 200 || !json_is_array(list)) {
        co->set->st.errors++;
        courier_poll_later(co, COURIER_RETRY_S);
        return;
    }
    int fresh = courier_take_assignments(co, list);
    if (fresh || json_array_size(list) == 0)
        courier_poll(co);
    else
        courier_poll_later(co, COURIER_PAUSE_S);
}

static void courier_poll(courier *co)
{
    char path[160];
    sim *s = co->set->s;
    if (s->stopping)
        return;
    snprintf(path, sizeof(path), "/v1/couriers/%s/assignments?wait=%d", co->c->id,
             COURIER_POLL_WAIT_S);
    if (api_request(s->co_poll, EVHTTP_REQ_GET, path, co->c->token, NULL, courier_on_assignments,
                    co))
        courier_poll_later(co, COURIER_RETRY_S);
}

/* ---- at the pharmacy and at the door ---- */

static void courier_on_picked_up(courier_job *j, int status)
{
    if (status == 200) {
        j->phase = CJ_CARRYING;
        j->co->set->st.picked_up++;
    } else if (j->not_at) {
        return; /* still at the pharmacy: tried again on the next tick */
    } else if (status && status < 500) {
        courier_job_free(j); /* cancelled or reassigned before pickup */
    }                        /* else: still here, tried again on the next tick */
}

static void courier_on_failed(courier_job *j, int status)
{
    if (status == 200) {
        j->phase = CJ_RETURNING; /* ride back to the pharmacy */
        j->co->set->st.failed++;
    } else if (status && status < 500) {
        courier_job_free(j);
    }
}

static void courier_fail(courier_job *j, const char *why)
{
    courier_act(j, "fail", json_pack("{s:s}", "reason", why), courier_on_failed);
}

static void courier_on_delivered(courier_job *j, int status)
{
    if (status == 200) {
        j->co->set->st.delivered++;
        courier_job_free(j);
    } else if (status == 409) {
        courier_fail(j, "handover code refused"); /* never unattended: take it back */
    } else if (status && status < 500) {
        courier_job_free(j);
    }
}

/* At the door: the patient tells the code; no code, no handover. */
static void courier_at_door(courier_job *j)
{
    const char *code = patient_code(j->co->set->s->pat, j->order_id);
    int64_t now = sim_now_ms();
    if (code) {
        courier_act(j, "deliver", json_pack("{s:s}", "handover_code", code), courier_on_delivered);
        return;
    }
    if (!j->at_door_ms)
        j->at_door_ms = now;
    if (now - j->at_door_ms > COURIER_DOOR_WAIT_MS)
        courier_fail(j, "patient not reachable");
}

static void courier_report_location(courier *co);

/* Pickup needs proof of presence (a fresh position near the pharmacy): the
 * position goes first, and a pickup that overtakes it is refused with
 * not_at_pharmacy and asked again on the next tick. */
static void courier_at_pharmacy(courier *co, const char *pharmacy_id)
{
    courier_report_location(co);
    for (courier_job *j = co->jobs; j; j = j->next) {
        if (j->busy || strcmp(j->pharmacy_id, pharmacy_id) != 0)
            continue;
        if (j->phase == CJ_TO_PHARMACY)
            courier_act(j, "pickup", NULL, courier_on_picked_up);
    }
}

static void courier_returned(courier_job *j)
{
    j->co->set->st.returned++;
    pharm_set_returned(j->co->set->s->pharms, j->pharmacy_id, j->order_id);
    courier_job_free(j);
}

/* ---- movement ---- */

static void courier_job_stop(const courier_job *j, double *lat, double *lon)
{
    *lat = j->phase == CJ_CARRYING ? j->drop_lat : j->ph_lat;
    *lon = j->phase == CJ_CARRYING ? j->drop_lon : j->ph_lon;
}

/* The job to work on: of those not waiting for a decision, the one with the
 * nearest next stop (so two orders of one pharmacy are picked up together
 * and a short drop-off is not kept waiting behind a long one). NULL while
 * any request is in flight (the courier waits for the answer). */
static courier_job *courier_current(courier *co)
{
    courier_job *cur = NULL;
    double best = 0;
    for (courier_job *j = co->jobs; j; j = j->next) {
        double lat, lon;
        if (j->busy)
            return NULL;
        if (j->phase == CJ_OFFERED)
            continue;
        courier_job_stop(j, &lat, &lon);
        double d = place_distance_m(co->lat, co->lon, lat, lon);
        if (!cur || d < best) {
            cur = j;
            best = d;
        }
    }
    return cur;
}

/* Moves toward (lat, lon) by one tick; 1 when there. */
static int courier_step(courier *co, double lat, double lon)
{
    double d = place_distance_m(co->lat, co->lon, lat, lon);
    double step = COURIER_SPEED_MPS * co->set->s->opt->speedup * COURIER_TICK_S;
    if (d <= step + COURIER_ARRIVED_M) {
        co->lat = lat;
        co->lon = lon;
        return 1;
    }
    co->lat += (lat - co->lat) * step / d;
    co->lon += (lon - co->lon) * step / d;
    return 0;
}

static void courier_move(courier *co)
{
    courier_job *j = courier_current(co);
    double lat, lon;
    if (!j)
        return;
    courier_job_stop(j, &lat, &lon);
    if (!courier_step(co, lat, lon))
        return;
    if (j->phase == CJ_CARRYING)
        courier_at_door(j);
    else if (j->phase == CJ_RETURNING)
        courier_returned(j);
    else
        courier_at_pharmacy(co, j->pharmacy_id);
}

static void courier_report_location(courier *co)
{
    char path[160];
    sim *s = co->set->s;
    snprintf(path, sizeof(path), "/v1/couriers/%s/location", co->c->id);
    co->set->st.locations++;
    api_request(s->co_act, EVHTTP_REQ_PUT, path, co->c->token,
                json_pack("{s:f, s:f, s:I}", "lat", co->lat, "lon", co->lon, "ts_ms",
                          (json_int_t)sim_now_ms()),
                NULL, NULL);
}

static void courier_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    courier_set *cs = arg;
    if (cs->s->stopping)
        return;
    cs->ticks++;
    for (int i = 0; i < cs->n; i++) {
        courier *co = &cs->all[i];
        courier_move(co);
        if ((cs->ticks + i) % COURIER_LOC_EVERY == 0)
            courier_report_location(co);
    }
}

/* ---- the set ---- */

courier_set *courier_set_new(sim *s)
{
    courier_set *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return NULL;
    cs->s = s;
    cs->n = city_driven_couriers(s->city);
    cs->all = calloc((size_t)(cs->n ? cs->n : 1), sizeof(*cs->all));
    cs->tick = event_new(s->base, -1, EV_PERSIST, courier_on_tick, cs);
    if (!cs->all || !cs->tick)
        goto fail;
    for (int i = 0; i < cs->n; i++) {
        courier *co = &cs->all[i];
        co->set = cs;
        co->c = &s->city->couriers[i];
        co->index = i;
        co->lat = co->c->lat;
        co->lon = co->c->lon;
        rng_seed(&co->r, s->opt->seed, 100000 + (uint64_t)i);
        co->seen = dict_new(NULL);
        co->repoll = evtimer_new(s->base, courier_on_repoll, co);
        if (!co->seen || !co->repoll)
            goto fail;
    }
    return cs;
fail:
    courier_set_free(cs);
    return NULL;
}

void courier_set_free(courier_set *cs)
{
    if (!cs)
        return;
    for (int i = 0; cs->all && i < cs->n; i++) {
        courier *co = &cs->all[i];
        while (co->jobs)
            courier_job_free(co->jobs);
        if (co->repoll)
            event_free(co->repoll);
        dict_free(co->seen);
    }
    if (cs->tick)
        event_free(cs->tick);
    free(cs->all);
    free(cs);
}

int courier_set_start(courier_set *cs)
{
    struct timeval tv = sim_real(COURIER_TICK_S);
    for (int i = 0; i < cs->n; i++)
        courier_poll(&cs->all[i]);
    return event_add(cs->tick, &tv);
}

void courier_set_close(courier_set *cs)
{
    for (int i = 0; i < cs->n; i++) {
        char path[160];
        const city_courier *c = cs->all[i].c;
        snprintf(path, sizeof(path), "/v1/couriers/%s/availability", c->id);
        api_request(cs->s->co_act, EVHTTP_REQ_PUT, path, c->token,
                    json_pack("{s:b, s:b, s:i}", "available", 0, "cold_chain", c->cold_box,
                              "capacity", c->capacity),
                    NULL, NULL);
    }
}

const courier_stats *courier_set_stats(const courier_set *cs)
{
    return &cs->st;
}
