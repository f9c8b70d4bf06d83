/* policy_route.c - distances, travel times and route timing for the
 * policies (see policy_route.h). */
#include "policy_route.h"

#include <math.h>
#include <string.h>

#include "geo.h"

#define POLICY_SPEED_DEFAULT 250.0 /* m/min, 15 km/h: a city courier */
#define POLICY_TARGET_DEFAULT_MS (40 * 60000LL)
#define POLICY_BUNDLE_DEFAULT 3
/* Minutes beyond the target count this much more: a very late order is
 * worse than two slightly late ones (the benchmark's overage measure). */
#define POLICY_OVERAGE_WEIGHT 1.0

double policy_metres(const policy_params *p, double lat1, double lon1, double lat2, double lon2)
{
    if (p->planar) {
        /* the benchmark's rule: euclidean in the plane (lat = y, lon = x) */
        double dy = lat1 - lat2, dx = lon1 - lon2;
        return sqrt(dx * dx + dy * dy);
    }
    return geo_distance_m(lat1, lon1, lat2, lon2);
}

double policy_pickup_metres(const policy_params *p, const policy_order *o, const policy_courier *c)
{
    return policy_metres(p, c->lat, c->lon, o->lat, o->lon);
}

int64_t policy_travel_ms(const policy_params *p, double metres)
{
    double speed = p->speed_m_per_min > 0 ? p->speed_m_per_min : POLICY_SPEED_DEFAULT;
    double minutes = metres / speed;
    if (p->travel_quantum_ms <= 0)
        return (int64_t)ceil(minutes * 60000.0);
    double quanta = p->travel_quantum_ms / 60000.0;
    return (int64_t)ceil(minutes / quanta) * p->travel_quantum_ms;
}

int64_t policy_target_ms(const policy_params *p)
{
    return p->target_ms > 0 ? p->target_ms : POLICY_TARGET_DEFAULT_MS;
}

int policy_max_bundle(const policy_params *p)
{
    if (p->max_bundle <= 0)
        return POLICY_BUNDLE_DEFAULT;
    return p->max_bundle < POLICY_BUNDLE_MAX ? p->max_bundle : POLICY_BUNDLE_MAX;
}

/* Click time, or the ready time when the caller does not know it. */
static int64_t policy_clicked_ms(const policy_order *o)
{
    return o->placed_ms ? o->placed_ms : o->ready_ms;
}

static double policy_order_cost(const policy_params *p, const policy_order *o, int64_t drop_ms)
{
    int64_t c2d = drop_ms - policy_clicked_ms(o), over = c2d - policy_target_ms(p);
    double cost = c2d / 60000.0;
    if (over > 0)
        cost += POLICY_OVERAGE_WEIGHT * over / 60000.0;
    return o->urgent ? 2 * cost : cost; /* urgent orders get the better couriers */
}

/* From the counter on: drop-offs in sequence, each costed. */
static void policy_route_drops(const policy_params *p, const policy_order *o, const size_t *seq,
                               int n, policy_route *r)
{
    int64_t t = r->pickup_ms + p->pickup_service_ms / 2;
    double lat = o[seq[0]].lat, lon = o[seq[0]].lon;
    r->cost = 0;
    for (int i = 0; i < n; i++) {
        const policy_order *d = &o[seq[i]];
        if (d->has_dropoff) {
            t += policy_travel_ms(p, policy_metres(p, lat, lon, d->drop_lat, d->drop_lon));
            lat = d->drop_lat;
            lon = d->drop_lon;
            r->drop_ms[i] = t + p->dropoff_service_ms / 2;
            t += p->dropoff_service_ms;
        } else {
            r->drop_ms[i] = t; /* unknown: cost the pickup only */
        }
        r->cost += policy_order_cost(p, d, r->drop_ms[i]);
    }
    r->end_ms = t;
}

void policy_route_eval(const policy_params *p, const policy_order *o, const size_t *seq, int n,
                       const policy_courier *c, policy_route *r)
{
    int64_t ready = 0;
    for (int i = 0; i < n; i++)
        if (o[seq[i]].ready_ms > ready)
            ready = o[seq[i]].ready_ms; /* a bundle is ready when its last order is */
    int64_t start = c->free_ms > p->now_ms ? c->free_ms : p->now_ms;
    r->start_ms = start;
    int64_t travel = policy_travel_ms(p, policy_pickup_metres(p, &o[seq[0]], c));
    int64_t arrive = start + travel + p->pickup_service_ms / 2;
    r->pickup_ms = arrive > ready ? arrive : ready;
    r->depart_ms = r->pickup_ms - p->pickup_service_ms / 2 - travel;
    r->ok = !c->off_ms || r->pickup_ms <= c->off_ms;
    policy_route_drops(p, o, seq, n, r);
}

double policy_route_floor(const policy_params *p, const policy_order *o)
{
    policy_route r;
    size_t seq[1] = {0};
    r.pickup_ms = o->ready_ms > p->now_ms ? o->ready_ms : p->now_ms;
    policy_route_drops(p, o, seq, 1, &r);
    return r.cost;
}

static int policy_tried(const policy_order *o, const char *courier)
{
    for (size_t i = 0; i < o->ntried; i++)
        if (o->tried[i] && strcmp(o->tried[i], courier) == 0)
            return 1;
    return 0;
}

const char *policy_check_static(const policy_params *p, const policy_order *o,
                                const policy_courier *c)
{
    if (!c->available)
        return "unavailable";
    if (c->ts_ms < p->now_ms - p->stale_ms)
        return "stale_position";
    if (o->cold_chain && !c->cold_chain)
        return "no_cold_box";
    if (p->radius_m > 0 && policy_pickup_metres(p, o, c) > p->radius_m)
        return "out_of_range";
    if (policy_tried(o, c->id))
        return "tried";
    return NULL;
}
