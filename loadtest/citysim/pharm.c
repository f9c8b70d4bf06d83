/* pharm.c - pharmacy actors. A long-poll answers at once while an offer is
 * pending, so a poll that brings nothing new is followed by a short pause
 * instead of an immediate re-poll (no busy loop on a lapsing offer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "city.h"
#include "dict.h"
#include "pharm.h"
#include "rng.h"

#define PHARM_POLL_WAIT_S 20
#define PHARM_PAUSE_S 1.0 /* real seconds between polls that brought nothing new */
#define PHARM_RETRY_S 2.0 /* real seconds after a failed poll */

typedef struct pharm pharm;

typedef enum { PJ_ACCEPT, PJ_REJECT, PJ_READY, PJ_COLLECTED, PJ_RETURNED } pharm_step;

/* One order's next step at this pharmacy, waiting on its timer or reply. */
typedef struct pharm_job {
    pharm *ph;
    struct pharm_job *prev, *next;
    char order_id[72];
    int pickup;
    pharm_step step;
    struct event *timer;
} pharm_job;

struct pharm {
    pharm_set *set;
    const city_pharmacy *p;
    rng r;
    dict *seen; /* order ids already offered here: handled once */
    struct event *repoll;
    pharm_job *jobs;
};

struct pharm_set {
    sim *s;
    pharm *all;
    int n;
    dict *by_id; /* pharmacy id -> pharm (borrowed) */
    pharm_stats st;
};

static const char *const pharm_step_path[] = {"accept", "reject", "ready", "collected", "returned"};

static void pharm_poll(pharm *ph);
static void pharm_job_run(pharm_job *j);

/* ---- jobs ---- */

static void pharm_job_free(pharm_job *j)
{
    pharm *ph = j->ph;
    if (j->prev)
        j->prev->next = j->next;
    else
        ph->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    event_free(j->timer);
    free(j);
}

static void pharm_on_job_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pharm_job_run(arg);
}

/* Schedules j's step after sim_seconds of simulated time. */
static void pharm_job_after(pharm_job *j, pharm_step step, double sim_seconds)
{
    struct timeval tv = sim_scaled(j->ph->set->s, sim_seconds);
    j->step = step;
    evtimer_add(j->timer, &tv);
}

static pharm_job *pharm_job_new(pharm *ph, const char *order_id, int pickup)
{
    pharm_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->ph = ph;
    snprintf(j->order_id, sizeof(j->order_id), "%s", order_id);
    j->pickup = pickup;
    j->timer = evtimer_new(ph->set->s->base, pharm_on_job_timer, j);
    if (!j->timer) {
        free(j);
        return NULL;
    }
    j->next = ph->jobs;
    if (ph->jobs)
        ph->jobs->prev = j;
    ph->jobs = j;
    return j;
}

/* What follows a step the API confirmed. */
static void pharm_job_advance(pharm_job *j)
{
    pharm_stats *st = &j->ph->set->st;
    switch (j->step) {
    case PJ_ACCEPT:
        st->accepted++;
        pharm_job_after(j, PJ_READY, 20 + rng_unit(&j->ph->r) * 40); /* packing */
        return;
    case PJ_READY:
        st->ready++;
        if (j->pickup) { /* the patient walks in a while later */
            pharm_job_after(j, PJ_COLLECTED, 30 + rng_unit(&j->ph->r) * 90);
            return;
        }
        break; /* a courier takes it from here */
    case PJ_REJECT:
        st->rejected++;
        break;
    case PJ_COLLECTED:
        st->collected++;
        break;
    case PJ_RETURNED:
        st->returned++;
        break;
    }
    pharm_job_free(j);
}

static void pharm_on_job_reply(int status, json_t *body, void *ctx)
{
    (void)body;
    pharm_job *j = ctx;
    if (status == 200) {
        pharm_job_advance(j);
        return;
    }
    if (status == 0 || status >= 500) {
        /* the gateway or its store is down for now: the same step again (a
         * replayed action is answered 200 by the state machine) */
        j->ph->set->st.errors++;
        struct timeval tv = sim_real(1.0);
        evtimer_add(j->timer, &tv);
        return;
    }
    if (status == 409 || status == 404)
        j->ph->set->st.conflicts++; /* deadline passed or cancelled: nothing to do */
    else
        j->ph->set->st.errors++;
    pharm_job_free(j);
}

static void pharm_job_run(pharm_job *j)
{
    sim *s = j->ph->set->s;
    char path[160];
    json_t *body = NULL;
    if (s->stopping) {
        pharm_job_free(j);
        return;
    }
    snprintf(path, sizeof(path), "/v1/orders/%s/%s", j->order_id, pharm_step_path[j->step]);
    if (j->step == PJ_REJECT)
        body = json_pack("{s:s}", "reason", "out of stock after all");
    if (api_request(s->ph_act, EVHTTP_REQ_POST, path, j->ph->p->token, body, pharm_on_job_reply,
                    j) != 0) {
        j->ph->set->st.errors++;
        struct timeval tv = sim_real(1.0);
        evtimer_add(j->timer, &tv);
    }
}

/* ---- offers ---- */

/* Decides what to do with a new offer: mostly accept, some reject, a few
 * left to lapse (the router's accept deadline re-routes them). */
static void pharm_take_offer(pharm *ph, const json_t *offer)
{
    const char *oid = json_string_value(json_object_get(offer, "order_id"));
    const char *ful = json_string_value(json_object_get(offer, "fulfilment"));
    ph->set->st.offers++;
    double u = rng_unit(&ph->r);
    if (u < 0.02) {
        ph->set->st.lapsed++;
        return;
    }
    pharm_job *j = pharm_job_new(ph, oid, ful && strcmp(ful, "PICKUP_IN_STORE") == 0);
    if (!j)
        return;
    pharm_job_after(j, u < 0.07 ? PJ_REJECT : PJ_ACCEPT, 5 + rng_unit(&ph->r) * 15);
}

/* Returns how many offers were new. */
static int pharm_take_offers(pharm *ph, const json_t *orders)
{
    size_t i;
    const json_t *o;
    int fresh = 0;
    json_array_foreach(orders, i, o)
    {
        const char *oid = json_string_value(json_object_get(o, "order_id"));
        if (!oid || dict_get(ph->seen, oid))
            continue;
        dict_set(ph->seen, oid, (void *)1);
        pharm_take_offer(ph, o);
        fresh++;
    }
    return fresh;
}

static void pharm_on_repoll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pharm_poll(arg);
}

static void pharm_poll_later(pharm *ph, double real_s)
{
    struct timeval tv = sim_real(real_s);
    evtimer_add(ph->repoll, &tv);
}

static void pharm_on_offers(int status, json_t *body, void *ctx)
{
    pharm *ph = ctx;
    const json_t *orders = json_object_get(body, "orders");
    if (ph->set->s->stopping)
        return;
    if (status != 200 || !json_is_array(orders)) {
        ph->set->st.errors++;
        pharm_poll_later(ph, PHARM_RETRY_S);
        return;
    }
    int fresh = pharm_take_offers(ph, orders);
    if (fresh || json_array_size(orders) == 0)
        pharm_poll(ph);
    else
        pharm_poll_later(ph, PHARM_PAUSE_S);
}

static void pharm_poll(pharm *ph)
{
    char path[160];
    sim *s = ph->set->s;
    if (s->stopping)
        return;
    snprintf(path, sizeof(path), "/v1/pharmacies/%s/orders?wait=%d", ph->p->id, PHARM_POLL_WAIT_S);
    if (api_request(s->ph_poll, EVHTTP_REQ_GET, path, ph->p->token, NULL, pharm_on_offers, ph))
        pharm_poll_later(ph, PHARM_RETRY_S);
}

/* ---- the set ---- */

pharm_set *pharm_set_new(sim *s)
{
    pharm_set *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return NULL;
    ps->s = s;
    ps->n = city_driven_pharmacies(s->city);
    ps->all = calloc((size_t)ps->n, sizeof(*ps->all));
    ps->by_id = dict_new(NULL);
    if (!ps->all || !ps->by_id)
        goto fail;
    for (int i = 0; i < ps->n; i++) {
        pharm *ph = &ps->all[i];
        ph->set = ps;
        ph->p = &s->city->pharmacies[i];
        rng_seed(&ph->r, s->opt->seed, 1000 + (uint64_t)i);
        ph->seen = dict_new(NULL);
        ph->repoll = evtimer_new(s->base, pharm_on_repoll, ph);
        if (!ph->seen || !ph->repoll || dict_set(ps->by_id, ph->p->id, ph) != 0)
            goto fail;
    }
    return ps;
fail:
    pharm_set_free(ps);
    return NULL;
}

void pharm_set_free(pharm_set *ps)
{
    if (!ps)
        return;
    for (int i = 0; ps->all && i < ps->n; i++) {
        pharm *ph = &ps->all[i];
        while (ph->jobs)
            pharm_job_free(ph->jobs);
        if (ph->repoll)
            event_free(ph->repoll);
        dict_free(ph->seen);
    }
    free(ps->all);
    dict_free(ps->by_id);
    free(ps);
}

void pharm_set_start(pharm_set *ps)
{
    for (int i = 0; i < ps->n; i++)
        pharm_poll(&ps->all[i]);
}

void pharm_set_close(pharm_set *ps)
{
    for (int i = 0; i < ps->n; i++) {
        char path[160];
        const city_pharmacy *p = ps->all[i].p;
        snprintf(path, sizeof(path), "/v1/pharmacies/%s/status", p->id);
        api_request(ps->s->ph_act, EVHTTP_REQ_PUT, path, p->token, json_pack("{s:b}", "open", 0),
                    NULL, NULL);
    }
}

static void pharm_on_foreign_returned(int status, json_t *body, void *ctx)
{
    (void)body;
    pharm_set *ps = ctx;
    if (status == 200)
        ps->st.returned++;
    else
        ps->st.errors++;
}

/* A pharmacy of another run (or of no simulator at all) cannot confirm the
 * return, so this run does it with a token of its own for that pharmacy:
 * otherwise the order would sit in RETURNING for ever. */
static void pharm_return_foreign(pharm_set *ps, const char *pharmacy_id, const char *order_id)
{
    char token[CITY_TOKEN_MAX], path[192];
    int64_t exp_s = sim_now_ms() / 1000 + 600;
    if (auth_token_make(ps->s->opt->token_secret, AUTH_PHARMACY, pharmacy_id, exp_s, token,
                        sizeof(token)) < 0)
        return;
    snprintf(path, sizeof(path), "/v1/orders/%s/returned", order_id);
    api_request(ps->s->ph_act, EVHTTP_REQ_POST, path, token, NULL, pharm_on_foreign_returned, ps);
}

void pharm_set_returned(pharm_set *ps, const char *pharmacy_id, const char *order_id)
{
    pharm *ph = dict_get(ps->by_id, pharmacy_id);
    if (!ph) {
        pharm_return_foreign(ps, pharmacy_id, order_id);
        return;
    }
    pharm_job *j = pharm_job_new(ph, order_id, 0);
    if (j)
        pharm_job_after(j, PJ_RETURNED, 10 + rng_unit(&ph->r) * 20);
}

const pharm_stats *pharm_set_stats(const pharm_set *ps)
{
    return &ps->st;
}
