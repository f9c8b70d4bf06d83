/* region.c - the region map: parsing, a point's home region, the regions a
 * radius search touches (see region.h). */
#include "region.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "mem.h"

#define REGION_EARTH_RADIUS_M 6372797.560856 /* as geo.c and Redis */

struct region_map {
    size_t n;
    region r[REGION_MAX];
};

static int region_name_valid(const char *s, size_t len)
{
    if (len < 1 || len > REGION_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

/* Splits "name=value" at its first '='; the name is checked here since
 * both settings share the form. */
static int region_split_entry(const char *entry, size_t len, const char *what, char *name,
                              const char **value, size_t *vlen, char *err, size_t errlen)
{
    const char *eq = memchr(entry, '=', len);
    if (!eq) {
        snprintf(err, errlen, "%s: entry '%.*s' is not name=value", what, (int)len, entry);
        return -1;
    }
    size_t nlen = (size_t)(eq - entry);
    if (!region_name_valid(entry, nlen)) {
        snprintf(err, errlen, "%s: region name '%.*s' must be 1-32 chars of [a-z0-9-]", what,
                 (int)nlen, entry);
        return -1;
    }
    memcpy(name, entry, nlen);
    name[nlen] = '\0';
    *value = eq + 1;
    *vlen = len - nlen - 1;
    return 0;
}

static int region_add_endpoint(region_map *m, const char *entry, size_t len, char *err,
                               size_t errlen)
{
    const char *what = "RXD_REDIS_REGIONS";
    char name[REGION_NAME_MAX + 1];
    const char *url;
    size_t ulen;
    if (region_split_entry(entry, len, what, name, &url, &ulen, err, errlen))
        return -1;
    if (region_map_find(m, name)) {
        snprintf(err, errlen, "%s: region '%s' named twice", what, name);
        return -1;
    }
    /* the host is what store.c needs at least; it parses the rest */
    if (ulen <= 8 || ulen >= REGION_URL_MAX || strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "%s: region '%s' needs a redis://host[:port] URL", what, name);
        return -1;
    }
    if (m->n == REGION_MAX) {
        snprintf(err, errlen, "%s: more than %d regions", what, REGION_MAX);
        return -1;
    }
    region *r = &m->r[m->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    memcpy(r->redis_url, url, ulen);
    r->redis_url[ulen] = '\0';
    r->min_lat = NAN; /* no box yet */
    return 0;
}

static int region_add_box(region_map *m, const char *entry, size_t len, char *err, size_t errlen)
{
    const char *what = "RXD_REGION_BOXES";
    char name[REGION_NAME_MAX + 1], text[128];
    const char *val;
    size_t vlen;
    if (region_split_entry(entry, len, what, name, &val, &vlen, err, errlen))
        return -1;
    region *r = (region *)region_map_find(m, name);
    if (!r) {
        snprintf(err, errlen, "%s: region '%s' has no Redis in RXD_REDIS_REGIONS", what, name);
        return -1;
    }
    if (!isnan(r->min_lat)) {
        snprintf(err, errlen, "%s: region '%s' has two boxes", what, name);
        return -1;
    }
    double v[4];
    int used = -1;
    snprintf(text, sizeof(text), "%.*s", (int)vlen, val);
    if (vlen >= sizeof(text) ||
        sscanf(text, "%lf:%lf:%lf:%lf%n", &v[0], &v[1], &v[2], &v[3], &used) != 4 ||
        (size_t)used != vlen || !geo_valid(v[0], v[1]) || !geo_valid(v[2], v[3]) || v[0] >= v[2] ||
        v[1] >= v[3] || v[3] - v[1] >= 180.0) {
        snprintf(err, errlen,
                 "%s: region '%s' needs min_lat:min_lon:max_lat:max_lon with min < max, "
                 "valid coordinates and under 180 degrees of longitude",
                 what, name);
        return -1;
    }
    r->min_lat = v[0];
    r->min_lon = v[1];
    r->max_lat = v[2];
    r->max_lon = v[3];
    return 0;
}

typedef int region_entry_fn(region_map *m, const char *entry, size_t len, char *err, size_t errlen);

static int region_each_entry(region_map *m, const char *list, region_entry_fn *fn, char *err,
                             size_t errlen)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (fn(m, p, len, err, errlen))
            return -1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* Boxes that share only an edge are fine; any overlap of area would give a
 * point two home regions. */
static int region_check_boxes(const region_map *m, char *err, size_t errlen)
{
    for (size_t i = 0; i < m->n; i++) {
        const region *a = &m->r[i];
        if (isnan(a->min_lat)) {
            snprintf(err, errlen, "RXD_REGION_BOXES: region '%s' has no box", a->name);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            const region *b = &m->r[j];
            if (a->min_lat < b->max_lat && b->min_lat < a->max_lat && a->min_lon < b->max_lon &&
                b->min_lon < a->max_lon) {
                snprintf(err, errlen, "RXD_REGION_BOXES: boxes of '%s' and '%s' overlap", b->name,
                         a->name);
                return -1;
            }
        }
    }
    return 0;
}

region_map *region_map_new(const char *endpoints, const char *boxes, char *err, size_t errlen)
{
    if (!endpoints || !*endpoints || !boxes || !*boxes) {
        snprintf(err, errlen, "RXD_REDIS_REGIONS and RXD_REGION_BOXES must both be set");
        return NULL;
    }
    region_map *m = xcalloc(1, sizeof(*m));
    if (region_each_entry(m, endpoints, region_add_endpoint, err, errlen) ||
        region_each_entry(m, boxes, region_add_box, err, errlen) ||
        region_check_boxes(m, err, errlen)) {
        free(m);
        return NULL;
    }
    return m;
}

void region_map_free(region_map *m)
{
    free(m);
}

size_t region_map_count(const region_map *m)
{
    return m->n;
}

const region *region_map_at(const region_map *m, size_t i)
{
    return i < m->n ? &m->r[i] : NULL;
}

const region *region_map_find(const region_map *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->r[i].name, name) == 0)
            return &m->r[i];
    return NULL;
}

const region *region_map_locate(const region_map *m, double lat, double lon)
{
    if (!geo_valid(lat, lon))
        return NULL;
    for (size_t i = 0; i < m->n; i++) {
        const region *r = &m->r[i];
        if (lat >= r->min_lat && lat <= r->max_lat && lon >= r->min_lon && lon <= r->max_lon)
            return r;
    }
    return NULL;
}

static double region_clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The distance from the point to the nearest point of the box. North or
 * south of the box the clamped point is the nearest (the shortest way to a
 * parallel runs along a meridian). East or west of it the nearest point of
 * the meridian edge lies a little poleward of the clamped one: where the
 * foot of the perpendicular (tan(lat_f) = tan(lat) / cos(dlon)) falls within
 * the edge, the cross-track distance to that meridian is the answer, and it
 * is never more than the clamped point's distance. */
static double region_box_distance_m(const region *r, double lat, double lon)
{
    double clat = region_clamp(lat, r->min_lat, r->max_lat);
    double clon = region_clamp(lon, r->min_lon, r->max_lon);
    double d = geo_distance_m(lat, lon, clat, clon);
    double dlon = fabs(lon - clon);
    if (dlon > 0.0 && dlon < 90.0) {
        double rad = M_PI / 180.0;
        double foot = atan(tan(lat * rad) / cos(dlon * rad)) / rad;
        if (foot >= r->min_lat && foot <= r->max_lat) {
            double s = cos(lat * rad) * sin(dlon * rad);
            double xt = REGION_EARTH_RADIUS_M * asin(s < 1.0 ? s : 1.0);
            if (xt < d)
                d = xt;
        }
    }
    return d;
}

int region_map_touching(const region_map *m, double lat, double lon, double radius_m,
                        const region **out, size_t max)
{
    if (!geo_valid(lat, lon) || !isfinite(radius_m) || radius_m < 0.0)
        return -1;
    int n = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (region_box_distance_m(&m->r[i], lat, lon) <= radius_m) {
            if ((size_t)n < max)
                out[n] = &m->r[i];
            n++;
        }
    }
    return n;
}
