/* city.c - drawing the city and registering it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "city.h"
#include "place.h"

/* A Chinese city's catalogue: codes shaped like NMPA approval numbers
 * (guoyao zhunzi), names as a pharmacist there reads them. The names stay
 * inside this process and in the message's item names (UTF-8 end to end);
 * the pharmacy API sees drug codes only. */
static const city_drug city_drugs[] = {
    {"GYZZ-H10900089", "布洛芬缓释胶囊 0.3g", 0, 0}, {"GYZZ-H44021351", "阿莫西林胶囊 0.25g", 0, 0},
    {"GYZZ-H20023370", "盐酸二甲双胍片 0.5g", 0, 0}, {"GYZZ-H20000294", "雷米普利片 5mg", 0, 0},
    {"GYZZ-H20055859", "泮托拉唑肠溶片 40mg", 0, 0}, {"GYZZ-H20013102", "辛伐他汀片 20mg", 0, 0},
    {"GYZZ-H20010522", "左甲状腺素钠片 50μg", 0, 0}, {"GYZZ-H20043710", "硫酸沙丁胺醇气雾剂", 0, 0},
    {"GYZZ-J20140052", "甘精胰岛素注射液", 1, 0},    {"GYZZ-S20180041", "阿达木单抗注射液", 1, 0},
    {"GYZZ-H20050437", "盐酸哌甲酯缓释片", 0, 1},    {"GYZZ-H20130125", "盐酸羟考酮缓释片", 0, 1},
};

#define CITY_NDRUGS (sizeof(city_drugs) / sizeof(city_drugs[0]))

const city_drug *city_catalogue(size_t *n)
{
    *n = CITY_NDRUGS;
    return city_drugs;
}

void city_point(const sim_opts *o, rng *r, double *lat, double *lon)
{
    place_disc_point(r, o->centre_lat, o->centre_lon, o->radius_m, lat, lon);
}

int city_driven_pharmacies(const city *c)
{
    return c->npharmacies - c->people;
}

int city_driven_couriers(const city *c)
{
    return c->ncouriers - c->people;
}

static void city_draw_stock(city_pharmacy *p, rng *r)
{
    for (size_t d = 0; d < CITY_NDRUGS; d++) {
        const city_drug *drug = &city_drugs[d];
        int stocked = !drug->special && (!drug->cold_chain || p->cold_chain) && rng_chance(r, 0.85);
        p->stock[d] = stocked ? rng_range(r, 5, 60) : 0;
    }
}

static int city_draw_pharmacy(city_pharmacy *p, const sim_opts *o, const char *run_id, int i,
                              rng *r, const char *secret, int64_t exp_s)
{
    snprintf(p->id, sizeof(p->id), "%s-ph-%04d", run_id, i);
    if (o->wuhan) {
        /* the pilots' link: every pharmacy in one hospital's 3 km circle,
         * the hospitals taking turns so each has its share */
        wuhan_place pl;
        wuhan_draw_place(r, (size_t)i, WUHAN_LINK_M, &pl);
        wuhan_pharmacy_name(r, &pl, p->name, sizeof(p->name));
        snprintf(p->address, sizeof(p->address), "%s", pl.address);
        p->hospital_id = pl.hospital->id;
        p->lat = pl.lat;
        p->lon = pl.lon;
    } else {
        snprintf(p->name, sizeof(p->name), "模拟大药房 %d 号店", i);
        city_point(o, r, &p->lat, &p->lon);
    }
    p->capacity = rng_range(r, 4, 12);
    p->cold_chain = rng_chance(r, 0.4);
    p->insurance = rng_chance(r, 0.7);
    p->stock = calloc(CITY_NDRUGS, sizeof(int));
    if (!p->stock)
        return -1;
    city_draw_stock(p, r);
    return auth_token_make(secret, AUTH_PHARMACY, p->id, exp_s, p->token, sizeof(p->token)) < 0 ? -1
                                                                                                : 0;
}

static int city_draw_courier(city_courier *c, const sim_opts *o, const char *run_id, int i, rng *r,
                             const char *secret, int64_t exp_s)
{
    snprintf(c->id, sizeof(c->id), "%s-co-%04d", run_id, i);
    if (o->wuhan) { /* couriers wait near a hospital, where the orders start */
        size_t nh;
        wuhan_place pl;
        wuhan_hospitals(&nh);
        wuhan_draw_place(r, (size_t)rng_range(r, 0, (int)nh - 1), WUHAN_LINK_M, &pl);
        c->lat = pl.lat;
        c->lon = pl.lon;
    } else {
        city_point(o, r, &c->lat, &c->lon);
    }
    c->cold_box = rng_chance(r, 0.5);
    c->capacity = rng_range(r, 1, 2);
    return auth_token_make(secret, AUTH_COURIER, c->id, exp_s, c->token, sizeof(c->token)) < 0 ? -1
                                                                                               : 0;
}

city *city_new(const sim_opts *o, const char *run_id, int64_t exp_s, char *err, size_t errlen)
{
    city *c = calloc(1, sizeof(*c));
    rng r;
    if (!c)
        goto oom;
    c->people = o->leave_to_people;
    c->npharmacies = o->pharmacies + c->people;
    c->ncouriers = o->couriers + c->people;
    c->pharmacies = calloc((size_t)c->npharmacies, sizeof(*c->pharmacies));
    c->couriers = calloc((size_t)(c->ncouriers ? c->ncouriers : 1), sizeof(*c->couriers));
    if (!c->pharmacies || !c->couriers)
        goto oom;
    rng_seed(&r, o->seed, 1);
    /* the people's come last, so that leaving some to people does not
     * change the rest of the city */
    for (int i = 0; i < o->pharmacies; i++)
        if (city_draw_pharmacy(&c->pharmacies[i], o, run_id, i, &r, o->token_secret, exp_s))
            goto bad_id;
    for (int i = 0; i < o->couriers; i++)
        if (city_draw_courier(&c->couriers[i], o, run_id, i, &r, o->token_secret, exp_s))
            goto bad_id;
    for (int i = o->pharmacies; i < c->npharmacies; i++)
        if (city_draw_pharmacy(&c->pharmacies[i], o, run_id, i, &r, o->token_secret, exp_s))
            goto bad_id;
    for (int i = o->couriers; i < c->ncouriers; i++)
        if (city_draw_courier(&c->couriers[i], o, run_id, i, &r, o->token_secret, exp_s))
            goto bad_id;
    if (auth_token_make(o->token_secret, AUTH_OPERATOR, "citysim", exp_s, c->op_token,
                        sizeof(c->op_token)) < 0)
        goto bad_id;
    return c;
bad_id:
    snprintf(err, errlen,
             "cannot make tokens for run '%s': --run-id must be short and of [A-Za-z0-9._:-]",
             run_id);
    city_free(c);
    return NULL;
oom:
    snprintf(err, errlen, "out of memory drawing the city: lower --pharmacies/--couriers");
    city_free(c);
    return NULL;
}

void city_free(city *c)
{
    if (!c)
        return;
    for (int i = 0; c->pharmacies && i < c->npharmacies; i++)
        free(c->pharmacies[i].stock);
    free(c->pharmacies);
    free(c->couriers);
    free(c);
}

/* ---- the ids, for the demo's links ---- */

static json_t *city_pharmacy_json(const city_pharmacy *p)
{
    json_t *j = json_pack("{s:s, s:s, s:f, s:f}", "id", p->id, "name", p->name, "lat", p->lat,
                          "lon", p->lon);
    if (p->hospital_id) {
        json_object_set_new(j, "address", json_string(p->address));
        json_object_set_new(j, "hospital_id", json_string(p->hospital_id));
    }
    return j;
}

static json_t *city_ids_json(const city *c, int from_ph, int to_ph, int from_co, int to_co)
{
    json_t *ph = json_array(), *co = json_array();
    for (int i = from_ph; i < to_ph; i++)
        json_array_append_new(ph, city_pharmacy_json(&c->pharmacies[i]));
    for (int i = from_co; i < to_co; i++)
        json_array_append_new(co, json_pack("{s:s, s:f, s:f}", "id", c->couriers[i].id, "lat",
                                            c->couriers[i].lat, "lon", c->couriers[i].lon));
    return json_pack("{s:o, s:o}", "pharmacies", ph, "couriers", co);
}

int city_write_ids(const city *c, int with_couriers, const char *path, char *err, size_t errlen)
{
    int np = city_driven_pharmacies(c), nc = with_couriers ? city_driven_couriers(c) : 0;
    json_t *j = city_ids_json(c, 0, np, 0, nc);
    json_object_set_new(j, "left_to_people",
                        city_ids_json(c, np, c->npharmacies, nc, with_couriers ? c->ncouriers : 0));
    /* written whole then renamed: a reader polling for the file never sees half */
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int rc = json_dump_file(j, tmp, JSON_INDENT(1)) == 0 && rename(tmp, path) == 0 ? 0 : -1;
    json_decref(j);
    if (rc != 0)
        snprintf(err, errlen, "cannot write --ids-json %s: check the directory exists", path);
    return rc;
}

/* ---- registration ---- */

typedef struct city_reg {
    city_done_cb *done;
    void *ctx;
    int outstanding;
    int failures;
    int issued_all;
    char first_error[256];
} city_reg;

typedef struct city_reg_call {
    city_reg *reg;
    char what[160];
} city_reg_call;

static void city_reg_finish_if_done(city_reg *reg)
{
    if (!reg->issued_all || reg->outstanding > 0)
        return;
    reg->done(reg->failures, reg->failures ? reg->first_error : NULL, reg->ctx);
    free(reg);
}

static void city_on_registered(int status, json_t *body, void *ctx)
{
    city_reg_call *call = ctx;
    city_reg *reg = call->reg;
    if (status != 200) {
        if (reg->failures++ == 0) {
            const char *msg =
                json_string_value(json_object_get(json_object_get(body, "error"), "message"));
            snprintf(reg->first_error, sizeof(reg->first_error), "%s: HTTP %d %s", call->what,
                     status, status ? (msg ? msg : "") : "(no answer)");
        }
    }
    reg->outstanding--;
    free(call);
    city_reg_finish_if_done(reg);
}

static void city_reg_send(city_reg *reg, api *a, enum evhttp_cmd_type m, const char *path,
                          const char *token, json_t *body)
{
    city_reg_call *call = calloc(1, sizeof(*call));
    if (!call) {
        json_decref(body);
        reg->failures++;
        return;
    }
    call->reg = reg;
    snprintf(call->what, sizeof(call->what), "PUT %s", path);
    reg->outstanding++;
    if (api_request(a, m, path, token, body, city_on_registered, call) != 0) {
        reg->outstanding--;
        reg->failures++;
        free(call);
    }
}

static json_t *city_stock_json(const city_pharmacy *p)
{
    json_t *items = json_object();
    for (size_t d = 0; d < CITY_NDRUGS; d++)
        json_object_set_new(items, city_drugs[d].code, json_integer(p->stock[d]));
    return json_pack("{s:o}", "items", items);
}

static void city_register_pharmacy(city *c, city_reg *reg, api *a, const city_pharmacy *p)
{
    char path[160];
    snprintf(path, sizeof(path), "/v1/pharmacies/%s", p->id);
    city_reg_send(reg, a, EVHTTP_REQ_PUT, path, c->op_token,
                  json_pack("{s:s, s:f, s:f, s:b, s:i, s:b, s:b}", "name", p->name, "lat", p->lat,
                            "lon", p->lon, "open", 1, "capacity", p->capacity, "cold_chain",
                            p->cold_chain, "insurance_designated", p->insurance));
    /* the same pool keeps per-connection order only, so stock may overtake
     * the registration: the caller registers stock in a second round */
}

static void city_register_courier(city_reg *reg, api *a, const city_courier *co)
{
    char path[160];
    snprintf(path, sizeof(path), "/v1/couriers/%s/availability", co->id);
    city_reg_send(reg, a, EVHTTP_REQ_PUT, path, co->token,
                  json_pack("{s:b, s:b, s:i}", "available", 1, "cold_chain", co->cold_box,
                            "capacity", co->capacity));
    snprintf(path, sizeof(path), "/v1/couriers/%s/location", co->id);
    city_reg_send(reg, a, EVHTTP_REQ_PUT, path, co->token,
                  json_pack("{s:f, s:f, s:I}", "lat", co->lat, "lon", co->lon, "ts_ms",
                            (json_int_t)sim_now_ms()));
}

typedef struct city_round {
    city *c;
    sim *s;
    city_done_cb *done;
    void *ctx;
} city_round;

/* Second round, once every pharmacy exists: stock and couriers. */
static void city_on_pharmacies_registered(int failures, const char *first_error, void *ctx)
{
    city_round *rd = ctx;
    if (failures) {
        rd->done(failures, first_error, rd->ctx);
        free(rd);
        return;
    }
    city_reg *reg = calloc(1, sizeof(*reg));
    if (!reg) {
        rd->done(1, "out of memory", rd->ctx);
        free(rd);
        return;
    }
    reg->done = rd->done;
    reg->ctx = rd->ctx;
    for (int i = 0; i < rd->c->npharmacies; i++) {
        const city_pharmacy *p = &rd->c->pharmacies[i];
        char path[160];
        snprintf(path, sizeof(path), "/v1/pharmacies/%s/stock", p->id);
        city_reg_send(reg, rd->s->ph_act, EVHTTP_REQ_PUT, path, p->token, city_stock_json(p));
    }
    for (int i = 0; rd->s->co_act && i < rd->c->ncouriers; i++)
        city_register_courier(reg, rd->s->co_act, &rd->c->couriers[i]);
    reg->issued_all = 1;
    free(rd);
    city_reg_finish_if_done(reg);
}

int city_register(city *c, sim *s, city_done_cb *done, void *ctx)
{
    city_reg *reg = calloc(1, sizeof(*reg));
    city_round *rd = calloc(1, sizeof(*rd));
    if (!reg || !rd) {
        free(reg);
        free(rd);
        return -1;
    }
    *rd = (city_round){c, s, done, ctx};
    reg->done = city_on_pharmacies_registered;
    reg->ctx = rd;
    for (int i = 0; i < c->npharmacies; i++)
        city_register_pharmacy(c, reg, s->ph_act, &c->pharmacies[i]);
    reg->issued_all = 1;
    city_reg_finish_if_done(reg);
    return 0;
}
