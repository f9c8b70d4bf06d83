/* rxgen.c - prescriptions built with the protobuf-c structs and produced
 * keyed by prescription_id. A 100 ms timer sends whatever the clock says is
 * due, so the rate holds even when the loop is briefly busy; with --day the
 * rate follows a province's day (dayshape.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "city.h"
#include "place.h"
#include "dayshape.h"
#include "rng.h"
#include "rxdispatch.pb-c.h"
#include "rxgen.h"

#define RXGEN_TICK_US 100000
#define RXGEN_ITEMS_MAX 3
#define RXGEN_NOMINATE_M 2000.0

struct rxgen {
    sim *s;
    kafka_producer *kp;
    track *trk;
    rng r;
    struct event *tick;
    int64_t start_ms;
    long total; /* rate x duration */
    long sent;
    long failed;
};

/* One prescription being built: the buffers its protobuf struct points to. */
typedef struct rxgen_rx {
    Rxdispatch__V1__PrescriptionApproved msg;
    Rxdispatch__V1__GeoPoint point;
    Rxdispatch__V1__Item items[RXGEN_ITEMS_MAX];
    Rxdispatch__V1__Item *item_ptrs[RXGEN_ITEMS_MAX];
    char pid[96], patient[96], address[WUHAN_ADDRESS_MAX], hospital[32], nominated[CITY_ID_MAX + 1];
    char codes[RXGEN_ITEMS_MAX][32], names[RXGEN_ITEMS_MAX][48];
    track_rx note;
} rxgen_rx;

static void rxgen_on_tick(evutil_socket_t fd, short what, void *arg);

rxgen *rxgen_new(sim *s, kafka_producer *kp, track *trk)
{
    rxgen *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->s = s;
    g->kp = kp;
    g->trk = trk;
    rng_seed(&g->r, s->opt->seed, 2);
    g->total = (long)(s->opt->rate * s->opt->duration_s + 0.5);
    g->tick = event_new(s->base, -1, EV_PERSIST, rxgen_on_tick, g);
    if (!g->tick) {
        free(g);
        return NULL;
    }
    return g;
}

void rxgen_free(rxgen *g)
{
    if (!g)
        return;
    event_free(g->tick);
    free(g);
}

/* Picks a drug that is neither special nor cold unless asked for. */
static size_t rxgen_pick_drug(rxgen *g, int cold, int special)
{
    size_t n;
    const city_drug *cat = city_catalogue(&n);
    for (;;) {
        size_t d = (size_t)rng_range(&g->r, 0, (int)n - 1);
        if (cat[d].cold_chain == cold && cat[d].special == special)
            return d;
    }
}

static void rxgen_add_item(rxgen_rx *x, size_t d, rng *r)
{
    size_t n;
    const city_drug *cat = city_catalogue(&n);
    size_t i = x->msg.n_items++;
    Rxdispatch__V1__Item init = RXDISPATCH__V1__ITEM__INIT;
    x->items[i] = init;
    snprintf(x->codes[i], sizeof(x->codes[i]), "%s", cat[d].code);
    snprintf(x->names[i], sizeof(x->names[i]), "%s", cat[d].name);
    x->items[i].drug_code = x->codes[i];
    x->items[i].name = x->names[i];
    x->items[i].quantity = (uint32_t)rng_range(r, 1, 3);
    x->items[i].cold_chain = cat[d].cold_chain;
    x->items[i].special_management = cat[d].special;
    x->item_ptrs[i] = &x->items[i];
}

static void rxgen_draw_items(rxgen *g, rxgen_rx *x)
{
    int n = rng_range(&g->r, 1, RXGEN_ITEMS_MAX);
    x->note.special = rng_chance(&g->r, 0.03);
    int cold = rng_chance(&g->r, 0.10);
    size_t used[RXGEN_ITEMS_MAX];
    x->msg.items = x->item_ptrs;
    for (int i = 0; i < n; i++) {
        /* the first items carry the special / cold drug when there is one */
        int want_special = i == 0 && x->note.special;
        int want_cold = !want_special && i == (x->note.special ? 1 : 0) && cold;
        size_t d = rxgen_pick_drug(g, want_cold, want_special);
        int dup = 0;
        for (size_t k = 0; k < x->msg.n_items; k++)
            dup |= used[k] == d;
        if (dup)
            continue; /* a repeated drug would just be a bigger quantity */
        used[x->msg.n_items] = d;
        rxgen_add_item(x, d, &g->r);
    }
}

/* Patients nominate a pharmacy near home: a random one within
 * RXGEN_NOMINATE_M of the delivery point, else the nearest. */
static const city_pharmacy *rxgen_nominee(rxgen *g, double lat, double lon)
{
    const city *c = g->s->city;
    const city_pharmacy *nearest = NULL;
    double best = 0;
    int near = 0;
    int n = city_driven_pharmacies(c); /* people may not be there to hand it over */
    for (int i = 0; i < n; i++) {
        double d = place_distance_m(lat, lon, c->pharmacies[i].lat, c->pharmacies[i].lon);
        near += d <= RXGEN_NOMINATE_M;
        if (!nearest || d < best) {
            nearest = &c->pharmacies[i];
            best = d;
        }
    }
    if (near == 0)
        return nearest;
    int pick = rng_range(&g->r, 1, near);
    for (int i = 0; i < n; i++) {
        const city_pharmacy *p = &c->pharmacies[i];
        if (place_distance_m(lat, lon, p->lat, p->lon) <= RXGEN_NOMINATE_M && --pick == 0)
            return p;
    }
    return nearest;
}

static void rxgen_draw_fulfilment(rxgen *g, rxgen_rx *x)
{
    x->note.pickup = rng_chance(&g->r, 0.10);
    int nominate = x->note.pickup || rng_chance(&g->r, 0.15);
    if (nominate) {
        const city_pharmacy *p = rxgen_nominee(g, x->point.lat, x->point.lon);
        snprintf(x->nominated, sizeof(x->nominated), "%s", p->id);
        x->msg.nominated_pharmacy_id = x->nominated;
    }
    x->msg.fulfilment = x->note.pickup ? RXDISPATCH__V1__FULFILMENT__PICKUP_IN_STORE
                                       : RXDISPATCH__V1__FULFILMENT__HOME_DELIVERY;
}

/* Where the prescription comes from and goes to: in Wuhan, one of the
 * hospitals and a drop-off within its 3 km circle (the pilots' link). */
static void rxgen_draw_place(rxgen *g, rxgen_rx *x)
{
    if (g->s->opt->wuhan) {
        size_t nh;
        wuhan_place pl;
        wuhan_hospitals(&nh);
        wuhan_draw_place(&g->r, (size_t)rng_range(&g->r, 0, (int)nh - 1), WUHAN_LINK_M, &pl);
        snprintf(x->address, sizeof(x->address), "%s", pl.address);
        snprintf(x->hospital, sizeof(x->hospital), "%s", pl.hospital->id);
        x->point.lat = pl.lat;
        x->point.lon = pl.lon;
        return;
    }
    snprintf(x->address, sizeof(x->address), "四川省成都市锦江区模拟路 %d 号",
             rng_range(&g->r, 1, 250));
    snprintf(x->hospital, sizeof(x->hospital), "hosp-%d", rng_range(&g->r, 1, 8));
    city_point(g->s->opt, &g->r, &x->point.lat, &x->point.lon);
}

static void rxgen_draw(rxgen *g, rxgen_rx *x, long n, int64_t now)
{
    Rxdispatch__V1__PrescriptionApproved init = RXDISPATCH__V1__PRESCRIPTION_APPROVED__INIT;
    Rxdispatch__V1__GeoPoint pinit = RXDISPATCH__V1__GEO_POINT__INIT;
    x->msg = init;
    x->point = pinit;
    snprintf(x->pid, sizeof(x->pid), "%s-rx-%06ld", g->s->run_id, n);
    snprintf(x->patient, sizeof(x->patient), "%s-pt-%06ld", g->s->run_id, n);
    rxgen_draw_place(g, x);
    x->msg.prescription_id = x->pid;
    x->msg.patient_ref = x->patient;
    x->msg.delivery = &x->point;
    x->msg.delivery_address = x->address;
    x->msg.hospital_id = x->hospital;
    rxgen_draw_items(g, x);
    rxgen_draw_fulfilment(g, x);
    x->msg.priority = rng_chance(&g->r, 0.1) ? RXDISPATCH__V1__PRIORITY__URGENT
                                             : RXDISPATCH__V1__PRIORITY__NORMAL;
    x->msg.insurance_covered = rng_chance(&g->r, 0.30);
    x->note.expired = rng_chance(&g->r, 0.02);
    x->msg.approved_at_ms = now;
    x->msg.expires_at_ms = x->note.expired ? now - 3600 * 1000 : now + 7 * 86400 * 1000LL;
    x->note.approved_ms = now;
}

static void rxgen_on_delivery(rd_kafka_resp_err_t err, void *ctx)
{
    rxgen *g = ctx;
    if (err) {
        g->failed++;
        fprintf(stderr, "citysim: producing a prescription failed: %s\n", rd_kafka_err2str(err));
    }
}

static int rxgen_send_one(rxgen *g, int64_t now)
{
    rxgen_rx x;
    memset(&x, 0, sizeof(x));
    rxgen_draw(g, &x, g->sent + 1, now);
    size_t len = rxdispatch__v1__prescription_approved__get_packed_size(&x.msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -1;
    rxdispatch__v1__prescription_approved__pack(&x.msg, buf);
    int rc = kafka_produce(g->kp, g->s->opt->topic_approved, x.pid, strlen(x.pid), buf, len, NULL,
                           0, rxgen_on_delivery, g);
    free(buf);
    if (rc != 0)
        return -1;
    g->sent++;
    return track_note_sent(g->trk, x.pid, &x.note);
}

static void rxgen_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rxgen *g = arg;
    int64_t now = sim_now_ms();
    long due = (long)dayshape_due(g->s->opt->rate, g->s->opt->day_s,
                                  (double)(now - g->start_ms) / 1000.0) +
               1;
    if (due > g->total)
        due = g->total;
    while (g->sent < due && !g->s->stopping)
        if (rxgen_send_one(g, now) != 0) {
            fprintf(stderr, "citysim: cannot queue a prescription (producer queue full?); "
                            "retrying on the next tick\n");
            break;
        }
    if (g->sent >= g->total || g->s->stopping)
        event_del(g->tick);
}

int rxgen_start(rxgen *g)
{
    struct timeval tv = {0, RXGEN_TICK_US};
    g->start_ms = sim_now_ms();
    return event_add(g->tick, &tv);
}

long rxgen_sent(const rxgen *g)
{
    return g->sent;
}

long rxgen_failed(const rxgen *g)
{
    return g->failed;
}

int rxgen_finished(const rxgen *g)
{
    return g->sent >= g->total;
}
