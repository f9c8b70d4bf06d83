/* orders_face_test.c - the state machine's typed C face (orders.h,
 * orders_facts.h) against a live redis-server: each family of operations
 * through its typed function, with the parsed reply checked field by field
 * (create twice is a duplicate; offer, accept, ready, assign, pickup,
 * deliver; errors mapped to their enum and HTTP status; the views; the work
 * queue; the positions batch), and the direct reads (a pharmacy's and a
 * courier's facts, the candidates near a point, the lookups).
 *
 * Needs RXD_REDIS_URL (redis://host:port) of a server of its own: it issues
 * FLUSHALL. Exits 0 when every check passes, 1 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "check.h"
#include "orders_facts.h"
#include "store.h"

typedef struct test {
    struct event_base *base;
    struct event *watchdog;
    int timed_out;
    store *st;
    orders *o;
    int ups;
} test;

/* A reply kept past its callback: the numbers as parsed, the strings
 * copied (the result's own pointers die with the reply). */
typedef struct snap {
    int calls;
    orders_result r;
    char word[32], error_word[32], state[32], order_id[64], detail[64], pharmacy[64];
    char nominated[64], items[256], tried[256], json[4096];
    char ids[8][64];
    char reply_error[256]; /* a failed call's error reply */
} snap;

typedef struct read_snap {
    int calls;
    orders_read r;
    char value[64];
} read_snap;

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ((test *)arg)->timed_out = 1;
}

static void wait_for(test *t, const int *v, const char *what)
{
    struct timeval tv = {3, 0};
    t->timed_out = 0;
    evtimer_add(t->watchdog, &tv);
    while (*v < 1 && !t->timed_out)
        event_base_loop(t->base, EVLOOP_ONCE);
    evtimer_del(t->watchdog);
    CHECK(*v >= 1, "%s: no answer within 3 s", what);
}

static void on_state(store *st, int connected, void *ctx)
{
    (void)st;
    if (connected)
        ((test *)ctx)->ups++;
}

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src) ? (src) : "")

static void on_result(void *ctx, const orders_result *res)
{
    snap *s = ctx;
    s->calls++;
    s->r = *res;
    COPY(s->word, res->word);
    COPY(s->error_word, res->error_word);
    COPY(s->state, res->state);
    COPY(s->order_id, res->order_id);
    COPY(s->detail, res->detail);
    COPY(s->pharmacy, res->pharmacy);
    COPY(s->nominated, res->nominated);
    COPY(s->items, res->items_json);
    COPY(s->tried, res->tried_json);
    COPY(s->json, res->json);
    if (res->reply && res->reply->type == REDIS_REPLY_ERROR)
        COPY(s->reply_error, res->reply->str);
    for (size_t i = 0; i < res->n_ids && i < 8; i++)
        COPY(s->ids[i], res->ids[i]);
}

static void on_read(void *ctx, const orders_read *res)
{
    read_snap *s = ctx;
    s->calls++;
    s->r = *res;
    COPY(s->value, res->value);
}

/* Runs the op call (already sent with on_result and s) to its answer. */
static void answered(test *t, snap *s, int rc, const char *what)
{
    CHECK(rc == 0, "%s: not sent", what);
    wait_for(t, &s->calls, what);
    CHECK(s->r.status != ORDERS_FAILED, "%s: failed: %s", what,
          s->r.err ? s->r.err : "a reply that is no state-machine reply");
}

#define OP(t, s, what, call)                                                                       \
    do {                                                                                           \
        memset((s), 0, sizeof(*(s)));                                                              \
        answered((t), (s), (call), (what));                                                        \
    } while (0)

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void expect_error(const snap *s, orders_error e, int http, const char *what)
{
    CHECK(s->r.status == ORDERS_ERR, "%s: status %s, want err", what, s->word);
    CHECK(s->r.error == e, "%s: error %s (%d)", what, s->error_word, (int)s->r.error);
    CHECK(orders_error_http(s->r.error) == http, "%s: http %d, want %d", what,
          orders_error_http(s->r.error), http);
}

/* ---- registries ---- */

static void test_registries(test *t)
{
    snap s;
    orders_pharmacy_reg ph = {.id = "ph-1",
                              .name = "Main St",
                              .lat = 52.52,
                              .lon = 13.405,
                              .open = 1,
                              .capacity = 5,
                              .cold = 1,
                              .insurance = 1};
    OP(t, &s, "pharmacy_put", orders_pharmacy_put(t->o, &ph, on_result, &s));
    CHECK(s.r.status == ORDERS_OK, "pharmacy_put: %s", s.word);
    ph.id = "ph-2";
    ph.lat = 52.53;
    ph.cold = 0; /* unlike ph-1: a swapped field shows */
    OP(t, &s, "pharmacy_put ph-2", orders_pharmacy_put(t->o, &ph, on_result, &s));

    OP(t, &s, "pharmacy_status unknown", orders_pharmacy_status(t->o, "ph-none", 1, on_result, &s));
    expect_error(&s, ORDERS_E_NOT_FOUND, 404, "pharmacy_status unknown");

    OP(t, &s, "pharmacy_stock_all",
       orders_pharmacy_stock_all(t->o, "ph-1", "{\"D1\":10,\"D2\":1}", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && s.r.count == 2, "stock: %s count %lld", s.word, s.r.count);

    OP(t, &s, "courier_avail", orders_courier_avail(t->o, "co-1", 1, 1, 3, on_result, &s));
    CHECK(s.r.status == ORDERS_OK, "courier_avail: %s", s.word);

    char ts[24];
    snprintf(ts, sizeof(ts), "%lld", now_ms());
    orders_point pts[2] = {{"co-1", "52.5201000", "13.4051000", ts},
                           {"co-1", "52.5201000", "13.4051000", ts}};
    OP(t, &s, "courier_loc_many", orders_courier_loc_many(t->o, 2, pts, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && s.r.n_points == 2, "loc_many: %s, %zu points", s.word,
          s.r.n_points);
    CHECK(s.r.stored[0] == 1 && s.r.stored[1] == 0, "loc_many: stored %d %d (the repeat is stale)",
          s.r.stored[0], s.r.stored[1]);
}

/* ---- the direct reads ---- */

static void on_facts(int failed, void *ctx)
{
    int *done = ctx;
    *done = 1 + failed;
}

static void test_facts(test *t)
{
    read_snap r = {0};
    CHECK(orders_pharmacy_point(t->o, "ph-1", on_read, &r) == 0, "pharmacy_point");
    wait_for(t, &r.calls, "pharmacy_point");
    CHECK(!r.r.failed && r.r.found && r.r.lat > 52.51 && r.r.lat < 52.53 && r.r.lon > 13.40,
          "pharmacy_point ph-1: found %d at %f,%f", r.r.found, r.r.lat, r.r.lon);
    memset(&r, 0, sizeof(r));
    CHECK(orders_pharmacy_point(t->o, "ph-none", on_read, &r) == 0, "pharmacy_point");
    wait_for(t, &r.calls, "pharmacy_point unknown");
    CHECK(!r.r.failed && !r.r.found, "pharmacy_point of an unknown pharmacy: found");

    route_pharmacy ph[3] = {{.id = "ph-1"}, {.id = "ph-2"}, {.id = "ph-none"}};
    const char *codes[] = {"D1", "D2"};
    uint32_t qty[] = {5, 1};
    orders_stock_need need = {2, codes, qty};
    int done = 0;
    CHECK(orders_pharmacy_facts(t->o, ph, 3, &need, on_facts, &done) == 0, "pharmacy_facts");
    wait_for(t, &done, "pharmacy_facts");
    CHECK(done == 1, "pharmacy_facts failed (%d)", done - 1);
    CHECK(ph[0].known && ph[0].open && ph[0].capacity == 5 && ph[0].cold_chain && ph[0].insurance &&
              ph[0].stock_known && ph[0].stock_ok && ph[0].load == 0,
          "ph-1 facts: known %d open %d cap %ld cold %d ins %d stock %d/%d load %ld", ph[0].known,
          ph[0].open, ph[0].capacity, ph[0].cold_chain, ph[0].insurance, ph[0].stock_known,
          ph[0].stock_ok, ph[0].load);
    CHECK(ph[1].known && !ph[1].stock_ok && !ph[1].cold_chain && ph[1].insurance,
          "ph-2: stock_ok %d (it publishes none), cold %d, insurance %d", ph[1].stock_ok,
          ph[1].cold_chain, ph[1].insurance);
    CHECK(!ph[2].known, "an unregistered pharmacy is known");

    policy_courier c[2] = {{.id = "co-1"}, {.id = "co-none"}};
    done = 0;
    CHECK(orders_courier_facts(t->o, c, 2, on_facts, &done) == 0, "courier_facts");
    wait_for(t, &done, "courier_facts");
    CHECK(done == 1, "courier_facts failed (%d)", done - 1);
    CHECK(c[0].available && c[0].cold_chain && c[0].capacity == 3 && c[0].ts_ms > 0 &&
              c[0].lat > 52.5 && c[0].load == 0,
          "co-1 facts: avail %d cold %d cap %ld ts %lld lat %f", c[0].available, c[0].cold_chain,
          c[0].capacity, (long long)c[0].ts_ms, c[0].lat);
    CHECK(!c[1].available, "an unknown courier is available");
}

typedef struct near_snap {
    int calls;
    size_t n;
    char ids[4][64];
    double dist[4];
} near_snap;

static void on_near(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    (void)err;
    near_snap *s = ctx;
    s->calls++;
    for (size_t i = 0; i < orders_near_count(reply) && s->n < 4; i++) {
        const char *id;
        double d;
        if (orders_near_entry(reply, i, &id, &d)) {
            COPY(s->ids[s->n], id);
            s->dist[s->n++] = d;
        }
    }
}

static void test_near(test *t)
{
    orders_near_cmd c;
    near_snap s = {0};
    orders_near_prepare(t->o, ORDERS_GEO_PHARMACIES, 52.52, 13.405, 5000, 10, &c);
    CHECK(store_cmd_argv(t->st, on_near, &s, ORDERS_NEAR_ARGC, c.argv, NULL) == 0, "near");
    wait_for(t, &s.calls, "pharmacies near");
    CHECK(s.n == 2 && strcmp(s.ids[0], "ph-1") == 0 && strcmp(s.ids[1], "ph-2") == 0,
          "pharmacies near: %zu (%s, %s)", s.n, s.ids[0], s.ids[1]);
    CHECK(s.dist[0] < 1 && s.dist[1] > 1000 && s.dist[1] < 1200, "distances %f %f", s.dist[0],
          s.dist[1]);
    memset(&s, 0, sizeof(s));
    orders_near_prepare(t->o, ORDERS_GEO_COURIERS, 52.52, 13.405, 100, 10, &c);
    CHECK(store_cmd_argv(t->st, on_near, &s, ORDERS_NEAR_ARGC, c.argv, NULL) == 0, "near");
    wait_for(t, &s.calls, "couriers near");
    CHECK(s.n == 1 && strcmp(s.ids[0], "co-1") == 0, "couriers near: %zu", s.n);
}

/* ---- an order's life ---- */

static orders_new_order new_order(const char *pid)
{
    return (orders_new_order){.prescription_id = pid,
                              .patient_ref = "pat-1",
                              .address = "1 Main St",
                              .items_json = "[{\"drug_code\":\"D1\",\"quantity\":5}]",
                              .nominated = "ph-1",
                              .hospital = "h-1",
                              .lat = 52.5201,
                              .lon = 13.4051,
                              .has_point = 1,
                              .cold = 1,
                              .insurance = 1,
                              .approved_ms = now_ms(),
                              .expires_ms = now_ms() + 3600000,
                              .lease_ms = 0,
                              .code = "123456",
                              .unroutable_reason = ""};
}

static void test_create_and_route(test *t, char *oid, size_t oidlen)
{
    snap s;
    orders_new_order n = new_order("rx-1");
    OP(t, &s, "create", orders_create(t->o, &n, on_result, &s));
    CHECK(s.r.status == ORDERS_CREATED, "create: %s", s.word);
    CHECK(strncmp(s.order_id, "default-", 8) == 0 && strcmp(s.state, "ROUTING") == 0 &&
              s.r.attempt == 0,
          "create: %s %s %lld", s.order_id, s.state, s.r.attempt);
    snprintf(oid, oidlen, "%s", s.order_id);
    OP(t, &s, "create again", orders_create(t->o, &n, on_result, &s));
    CHECK(s.r.status == ORDERS_EXISTS && strcmp(s.order_id, oid) == 0 &&
              strcmp(s.state, "ROUTING") == 0,
          "create again: %s %s %s", s.word, s.order_id, s.state);

    read_snap r = {0};
    CHECK(orders_prescription_order(t->o, "rx-1", on_read, &r) == 0, "prescription_order");
    wait_for(t, &r.calls, "prescription_order");
    CHECK(r.r.found && strcmp(r.value, oid) == 0, "rx-1 is order %s", r.value);

    snap c;
    OP(t, &c, "claim", orders_claim(t->o, "due", 10, 60000, on_result, &c));
    CHECK(c.r.status == ORDERS_OK && c.r.n_ids == 1 && strcmp(c.ids[0], oid) == 0,
          "claim due: %zu ids (%s)", c.r.n_ids, c.ids[0]);
    OP(t, &c, "claim again", orders_claim(t->o, "due", 10, 60000, on_result, &c));
    CHECK(c.r.n_ids == 0, "a leased id was claimed again");

    OP(t, &s, "load", orders_load(t->o, oid, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.state, "ROUTING") == 0 && s.r.attempt == 0,
          "load: %s %s", s.word, s.state);
    CHECK(s.r.has_point && s.r.lat > 52.52 && s.r.lat < 52.5202 && s.r.cold && s.r.insurance &&
              strcmp(s.nominated, "ph-1") == 0 && strstr(s.items, "D1") &&
              s.r.expires_ms > now_ms(),
          "load fields: point %d lat %f cold %d ins %d nominated %s items %s", s.r.has_point,
          s.r.lat, s.r.cold, s.r.insurance, s.nominated, s.items);
    OP(t, &s, "load unknown", orders_load(t->o, "ord-none", on_result, &s));
    CHECK(s.r.status == ORDERS_NOT_FOUND, "load unknown: %s", s.word);

    long long before = now_ms();
    OP(t, &s, "offer", orders_offer(t->o, oid, 0, "ph-1", 12, 60000, on_result, &s));
    CHECK(s.r.status == ORDERS_OFFERED && s.r.attempt == 1 && s.r.deadline_ms >= before + 60000,
          "offer: %s attempt %lld by %lld", s.word, s.r.attempt, s.r.deadline_ms);
    OP(t, &s, "offer stale", orders_offer(t->o, oid, 0, "ph-1", 12, 60000, on_result, &s));
    CHECK(s.r.status == ORDERS_STALE && strcmp(s.state, "OFFERED") == 0, "offer again: %s %s",
          s.word, s.state);

    OP(t, &s, "offers", orders_offers(t->o, "ph-1", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strstr(s.json, oid), "offers view: %s", s.json);

    OP(t, &s, "accept by another",
       orders_pharmacy_act(t->o, oid, "ph-2", "accept", "", on_result, &s));
    expect_error(&s, ORDERS_E_FORBIDDEN, 403, "accept by another pharmacy");
    CHECK(strcmp(s.state, "OFFERED") == 0, "forbidden: state %s", s.state);
    OP(t, &s, "ready too early",
       orders_pharmacy_act(t->o, oid, "ph-1", "ready", "", on_result, &s));
    expect_error(&s, ORDERS_E_CONFLICT, 409, "ready before accept");
    OP(t, &s, "accept", orders_pharmacy_act(t->o, oid, "ph-1", "accept", "", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.state, "ACCEPTED") == 0 && !s.detail[0],
          "accept: %s %s %s", s.word, s.state, s.detail);
    OP(t, &s, "accept replay", orders_pharmacy_act(t->o, oid, "ph-1", "accept", "", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.detail, "replay") == 0, "accept again: %s %s", s.word,
          s.detail);
    OP(t, &s, "ready", orders_pharmacy_act(t->o, oid, "ph-1", "ready", "", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.state, "READY") == 0, "ready: %s", s.state);
}

static void test_courier(test *t, const char *oid)
{
    snap s;
    OP(t, &s, "dispatch_load", orders_dispatch_load(t->o, oid, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.pharmacy, "ph-1") == 0 && s.r.has_point &&
              s.r.lat > 52.51 && s.r.cold && s.r.ready_ms > 0,
          "dispatch_load: %s ph %s point %d cold %d ready %lld", s.word, s.pharmacy, s.r.has_point,
          s.r.cold, s.r.ready_ms);

    OP(t, &s, "assign stale position",
       orders_assign(t->o, oid, "co-1", 60000, now_ms() + 3600000, 5, on_result, &s));
    CHECK(s.r.status == ORDERS_BUSY && strcmp(s.detail, "stale_position") == 0,
          "assign with an old position: %s %s", s.word, s.detail);
    long long before = now_ms();
    OP(t, &s, "assign", orders_assign(t->o, oid, "co-1", 60000, 0, 5, on_result, &s));
    CHECK(s.r.status == ORDERS_ASSIGNED && s.r.deadline_ms >= before + 60000, "assign: %s by %lld",
          s.word, s.r.deadline_ms);
    OP(t, &s, "dispatch_load assigned", orders_dispatch_load(t->o, oid, on_result, &s));
    CHECK(s.r.status == ORDERS_SKIP && strcmp(s.state, "COURIER_ASSIGNED") == 0,
          "dispatch_load of an assigned order: %s %s", s.word, s.state);

    read_snap r = {0};
    CHECK(orders_order_courier(t->o, oid, on_read, &r) == 0, "order_courier");
    wait_for(t, &r.calls, "order_courier");
    CHECK(strcmp(r.value, "co-1") == 0, "order courier %s", r.value);

    orders_courier_action a = {.oid = oid,
                               .courier_id = "co-2",
                               .action = "accept",
                               .arg = "",
                               .max_wrong_codes = 3,
                               .radius_m = 300,
                               .max_age_ms = 120000,
                               .proof = "handover"};
    OP(t, &s, "courier accept by another", orders_courier_act(t->o, &a, on_result, &s));
    expect_error(&s, ORDERS_E_FORBIDDEN, 403, "another courier");
    a.courier_id = "co-1";
    a.action = "pickup";
    OP(t, &s, "pickup by handover", orders_courier_act(t->o, &a, on_result, &s));
    CHECK(s.r.status == ORDERS_REFUSED && strcmp(s.detail, "handover_required") == 0 &&
              s.r.dist_m < 0,
          "pickup without the pharmacy's word: %s %s %f", s.word, s.detail, s.r.dist_m);
    a.proof = "position";
    a.radius_m = 1;
    OP(t, &s, "pickup too far", orders_courier_act(t->o, &a, on_result, &s));
    CHECK(s.r.status == ORDERS_REFUSED && strcmp(s.detail, "not_at_pharmacy") == 0 &&
              s.r.dist_m >= 1 && s.r.age_ms >= 0,
          "pickup out of range: %s %s %f m %f ms", s.word, s.detail, s.r.dist_m, s.r.age_ms);
    a.radius_m = 300;
    OP(t, &s, "pickup", orders_courier_act(t->o, &a, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.state, "PICKED_UP") == 0, "pickup: %s %s", s.word,
          s.state);

    a.action = "deliver";
    a.arg = "000000";
    OP(t, &s, "deliver wrong code", orders_courier_act(t->o, &a, on_result, &s));
    expect_error(&s, ORDERS_E_WRONG_CODE, 409, "a wrong handover code");
    CHECK(s.r.tries_left == 2 && !s.state[0], "wrong code: %lld tries left", s.r.tries_left);

    OP(t, &s, "cancel after pickup",
       orders_cancel(t->o, "order", oid, "changed mind", on_result, &s));
    expect_error(&s, ORDERS_E_CONFLICT, 409, "a cancel after pickup");
    CHECK(strcmp(s.state, "PICKED_UP") == 0, "cancel conflict: state %s", s.state);

    a.arg = "123456";
    OP(t, &s, "deliver", orders_courier_act(t->o, &a, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.state, "DELIVERED") == 0, "deliver: %s %s", s.word,
          s.state);

    OP(t, &s, "get", orders_get(t->o, oid, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strstr(s.json, "\"DELIVERED\"") && strstr(s.json, oid),
          "get: %s", s.json);
    OP(t, &s, "get unknown", orders_get(t->o, "ord-none", on_result, &s));
    expect_error(&s, ORDERS_E_NOT_FOUND, 404, "get of an unknown order");
    OP(t, &s, "courier_expire", orders_courier_expire(t->o, oid, "co-1", 3, on_result, &s));
    CHECK(s.r.status == ORDERS_STALE && strcmp(s.state, "DELIVERED") == 0,
          "courier_expire of a delivered order: %s %s", s.word, s.state);
}

static void test_unroutable_and_park(test *t)
{
    snap s;
    orders_new_order n = new_order("rx-2");
    OP(t, &s, "create rx-2", orders_create(t->o, &n, on_result, &s));
    char oid[64];
    snprintf(oid, sizeof(oid), "%s", s.order_id);
    OP(t, &s, "expire stale", orders_expire(t->o, oid, 0, on_result, &s));
    CHECK(s.r.status == ORDERS_STALE && strcmp(s.state, "ROUTING") == 0, "expire: %s %s", s.word,
          s.state);
    OP(t, &s, "unroutable any attempt",
       orders_unroutable(t->o, oid, -1, "no_eligible_pharmacy", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.state, "UNROUTABLE") == 0, "unroutable: %s %s",
          s.word, s.state);
    OP(t, &s, "park", orders_park(t->o, "due", oid, "store_error: test", on_result, &s));
    CHECK(s.r.status == ORDERS_OK, "park: %s", s.word);
    OP(t, &s, "cancel tombstone",
       orders_cancel(t->o, "rx", "rx-unknown", "cancelled upstream", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.state, "tombstone") == 0, "cancel ahead: %s %s",
          s.word, s.state);
}

/* The gauges' reads: one line per live state and per queue, by name. */
typedef struct counts_snap {
    int calls;
    orders_status status;
    size_t n;
    char names[ORDERS_COUNTS_MAX][32];
    long long count[ORDERS_COUNTS_MAX], ms[ORDERS_COUNTS_MAX];
} counts_snap;

static void on_counts(void *ctx, const orders_result *res)
{
    counts_snap *s = ctx;
    s->calls++;
    s->status = res->status;
    s->n = res->n_counts;
    for (size_t i = 0; i < res->n_counts; i++) {
        COPY(s->names[i], res->counts[i].name);
        s->count[i] = res->counts[i].count;
        s->ms[i] = res->counts[i].ms;
    }
}

static long long counts_of(const counts_snap *s, const char *name, long long *ms)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) {
            if (ms)
                *ms = s->ms[i];
            return s->count[i];
        }
    return -1;
}

/* After the earlier steps: one order UNROUTABLE (final: in no state), the
 * delivered one gone from every index; the queues answer by name. */
static void test_counts(test *t)
{
    counts_snap s = {0};
    CHECK(orders_state_counts(t->o, on_counts, &s) == 0, "state_counts not sent");
    wait_for(t, &s.calls, "state_counts");
    CHECK(s.status == ORDERS_OK && s.n == 7, "state_counts: status %d, %zu lines", (int)s.status,
          s.n);
    CHECK(counts_of(&s, "ROUTING", NULL) >= 0 && counts_of(&s, "PICKED_UP", NULL) == 0 &&
              counts_of(&s, "DELIVERED", NULL) == -1,
          "state_counts: ROUTING %lld PICKED_UP %lld", counts_of(&s, "ROUTING", NULL),
          counts_of(&s, "PICKED_UP", NULL));
    counts_snap q = {0};
    CHECK(orders_queue_counts(t->o, on_counts, &q) == 0, "queue_counts not sent");
    wait_for(t, &q.calls, "queue_counts");
    long long ms = -1;
    CHECK(q.status == ORDERS_OK && q.n == 5 && counts_of(&q, "due", NULL) >= 0 &&
              counts_of(&q, "dispatch", NULL) >= 0 && counts_of(&q, "cdue", &ms) >= 0 &&
              counts_of(&q, "exceptions", NULL) == 0,
          "queue_counts: status %d, %zu lines", (int)q.status, q.n);
    CHECK(ms >= 0, "queue_counts: cdue lowest %lld", ms);
}

/* A call that fails: a transport-level answer reaches the callback as
 * ORDERS_FAILED with the error, never as a status. */
static void test_failure(test *t)
{
    snap s;
    memset(&s, 0, sizeof(s));
    CHECK(orders_offer(t->o, "ord:bad", 0, "ph-1", 1, 1, on_result, &s) == 0, "offer bad id");
    wait_for(t, &s.calls, "offer with a bad id");
    CHECK(s.r.status == ORDERS_FAILED && strstr(s.reply_error, "(oid)"),
          "a bad argument: status %d, error '%s'", (int)s.r.status, s.reply_error);
}

/* ---- operator: fleet ---- */

#define ACTOR "operator:op-1"

/* A new order from prescription pid, put on hold: its id in oid. */
static void held_order(test *t, const char *pid, char oid[64])
{
    snap s;
    orders_new_order n = new_order(pid);
    OP(t, &s, "create to hold", orders_create(t->o, &n, on_result, &s));
    snprintf(oid, 64, "%s", s.order_id);
    OP(t, &s, "hold", orders_hold(t->o, oid, 0, "no_eligible_pharmacy", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.state, "ROUTING") == 0 &&
              strcmp(s.detail, "held") == 0,
          "hold: %s %s %s", s.word, s.state, s.detail);
}

/* The hold, retry, pharmacy open/close, bench, zones, the stale sweep and
 * deregistration through their typed functions. */
static void test_fleet(test *t)
{
    snap s;
    char oid[64];
    OP(t, &s, "close ph-1", orders_pharmacy_open(t->o, "ph-1", ACTOR, "flood", 0, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && s.r.count == 0, "close: %s %lld", s.word, s.r.count);
    held_order(t, "rx-3", oid);
    OP(t, &s, "open ph-1", orders_pharmacy_open(t->o, "ph-1", ACTOR, "dry", 1, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && s.r.count == 1, "open releases the held order: %s %lld",
          s.word, s.r.count);
    OP(t, &s, "retry not held", orders_retry(t->o, oid, ACTOR, "again", on_result, &s));
    expect_error(&s, ORDERS_E_CONFLICT, 409, "retry of an order neither held nor parked");
    OP(t, &s, "hold again", orders_hold(t->o, oid, 0, "no_eligible_pharmacy", on_result, &s));
    OP(t, &s, "retry held", orders_retry(t->o, oid, ACTOR, "phoned", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.state, "ROUTING") == 0 &&
              strcmp(s.detail, "held") == 0,
          "retry: %s %s %s", s.word, s.state, s.detail);
    OP(t, &s, "retry unknown", orders_retry(t->o, "ord-none", ACTOR, "x", on_result, &s));
    expect_error(&s, ORDERS_E_NOT_FOUND, 404, "retry of an unknown order");

    OP(t, &s, "bench", orders_courier_bench(t->o, "co-1", ACTOR, "late", 1, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.detail, "benched") == 0, "bench: %s %s", s.word,
          s.detail);
    OP(t, &s, "unbench", orders_courier_bench(t->o, "co-1", ACTOR, "ok", 0, on_result, &s));
    CHECK(strcmp(s.detail, "unbenched") == 0, "unbench: %s %s", s.word, s.detail);
    OP(t, &s, "bench unknown", orders_courier_bench(t->o, "co-x", ACTOR, "x", 1, on_result, &s));
    expect_error(&s, ORDERS_E_NOT_FOUND, 404, "bench of an unknown courier");

    orders_zone circle = {
        .id = "z-1", .kind = ORDERS_ZONE_CIRCLE, .lat = 52.52, .lon = 13.405, .radius_m = 500};
    orders_zone box = {.id = "z-2",
                       .kind = ORDERS_ZONE_BOX,
                       .min_lat = 10,
                       .min_lon = 10,
                       .max_lat = 11,
                       .max_lon = 11};
    OP(t, &s, "pause circle", orders_zone_pause(t->o, &circle, ACTOR, "riot", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.detail, "paused") == 0, "pause: %s", s.word);
    OP(t, &s, "pause box", orders_zone_pause(t->o, &box, ACTOR, "fog", on_result, &s));
    orders_new_order n = new_order("rx-4");
    OP(t, &s, "create in a paused zone", orders_create(t->o, &n, on_result, &s));
    CHECK(s.r.status == ORDERS_CREATED && strcmp(s.state, "ROUTING") == 0 &&
              strcmp(s.detail, "held") == 0,
          "create in a paused zone: %s %s '%s'", s.word, s.state, s.detail);
    OP(t, &s, "zones", orders_zones(t->o, on_result, &s));
    CHECK(strstr(s.json, "\"id\":\"z-1\"") && strstr(s.json, "\"max_lat\":11") &&
              strstr(s.json, "\"held\":1"),
          "zones: %s", s.json);
    OP(t, &s, "resume", orders_zone_resume(t->o, "z-1", ACTOR, "calm", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && s.r.count == 1, "resume: %s %lld", s.word, s.r.count);
    OP(t, &s, "resume unknown", orders_zone_resume(t->o, "z-1", ACTOR, "x", on_result, &s));
    expect_error(&s, ORDERS_E_NOT_FOUND, 404, "resume of a zone not paused");

    OP(t, &s, "hold_tick", orders_hold_tick(t->o, 86400000, 8000, 100, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && s.r.count == 0, "hold_tick: %s %lld", s.word, s.r.count);
    OP(t, &s, "courier_stale", orders_courier_stale(t->o, now_ms() + 1000, 100, on_result, &s));
    CHECK(s.r.status == ORDERS_OK && s.r.count == 1, "courier_stale: %s %lld", s.word, s.r.count);

    n = new_order("rx-5");
    n.has_point = 0;
    OP(t, &s, "create rx-5", orders_create(t->o, &n, on_result, &s));
    snprintf(oid, sizeof(oid), "%s", s.order_id);
    OP(t, &s, "offer to ph-2", orders_offer(t->o, oid, 0, "ph-2", 10, 60000, on_result, &s));
    OP(t, &s, "remove ph-2", orders_pharmacy_remove(t->o, "ph-2", on_result, &s));
    CHECK(s.r.status == ORDERS_BUSY && s.r.count == 1, "remove a busy pharmacy: %s %lld", s.word,
          s.r.count);
    OP(t, &s, "remove co-1", orders_courier_remove(t->o, "co-1", on_result, &s));
    CHECK(s.r.status == ORDERS_OK && strcmp(s.detail, "removed") == 0, "remove: %s %s", s.word,
          s.detail);
    OP(t, &s, "remove co-1 again", orders_courier_remove(t->o, "co-1", on_result, &s));
    CHECK(strcmp(s.detail, "unknown") == 0, "remove again: %s %s", s.word, s.detail);
}

int main(void)
{
    test t = {0};
    char err[256];
    const char *url = getenv("RXD_REDIS_URL");
    char host[128];
    int port = 0;
    CHECK(url && sscanf(url, "redis://%127[^:]:%d", &host[0], &port) == 2,
          "RXD_REDIS_URL is not set to redis://HOST:PORT: run under tests/with_backends.sh "
          "--redis");
    redisContext *rc = redisConnect(host, port);
    CHECK(rc && !rc->err, "redisConnect %s: %s", url, rc ? rc->errstr : "oom");
    redisReply *r = redisCommand(rc, "FLUSHALL");
    CHECK(r && r->type == REDIS_REPLY_STATUS, "FLUSHALL failed");
    freeReplyObject(r);
    redisFree(rc);
    t.base = event_base_new();
    t.watchdog = evtimer_new(t.base, on_watchdog, &t);
    CHECK(t.base && t.watchdog, "libevent setup failed");
    t.st = store_new(t.base, url, 2000, err, sizeof(err));
    CHECK(t.st, "store_new: %s", err);
    store_on_state(t.st, on_state, &t);
    t.o = orders_new(t.st, NULL, err, sizeof(err));
    CHECK(t.o, "orders_new: %s", err);
    wait_for(&t, &t.ups, "connect");

    char oid[64];
    test_registries(&t);
    test_facts(&t);
    test_near(&t);
    test_create_and_route(&t, oid, sizeof(oid));
    test_courier(&t, oid);
    test_unroutable_and_park(&t);
    test_counts(&t);
    test_failure(&t);
    test_fleet(&t);

    orders_free(t.o);
    store_free(t.st);
    event_free(t.watchdog);
    event_base_free(t.base);
    printf("orders_face_test: ok\n");
    return 0;
}
