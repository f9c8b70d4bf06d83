/* region.h - regional sharding of Redis: which Redis holds which region, and
 * which regions a radius search around a point must read.
 *
 * Debian's hiredis has no cluster client, so a country-scale deployment runs
 * one Redis (with its replica and Sentinel) per region and keys every record
 * by region (rxd:{region}:..., RXD_REGION). This module is the pure part of
 * that: it parses the map of regions to Redis endpoints and each region's
 * bounding box, finds a point's home region, and lists every region whose box
 * a circle touches, so a search near a region edge reads both sides
 * (docs/scaling.md). No I/O: the caller connects to the endpoints.
 *
 *   RXD_REDIS_REGIONS="north=redis://10.0.1.5:6379,south=redis://10.0.2.5:6379"
 *   RXD_REGION_BOXES="north=52.5:12.0:55.0:15.0,south=47.0:12.0:52.5:15.0"
 *
 * A box is min_lat:min_lon:max_lat:max_lon in degrees. Boxes may share an
 * edge but not overlap (a point has one home region), must not cross the
 * antimeridian, and every region needs one. */
#ifndef RXD_REGION_H
#define RXD_REGION_H

#include <stddef.h>

#define REGION_MAX 64      /* regions in one map */
#define REGION_NAME_MAX 32 /* as RXD_REGION: 1-32 chars of [a-z0-9-] */
#define REGION_URL_MAX 256

typedef struct region {
    char name[REGION_NAME_MAX + 1];
    char redis_url[REGION_URL_MAX];
    double min_lat, min_lon, max_lat, max_lon;
} region;

typedef struct region_map region_map;

/* Parses the two settings; NULL with a message naming the bad entry. */
region_map *region_map_new(const char *endpoints, const char *boxes, char *err, size_t errlen);
void region_map_free(region_map *m);

size_t region_map_count(const region_map *m);
/* The i-th region in the order given, NULL past the end. */
const region *region_map_at(const region_map *m, size_t i);
const region *region_map_find(const region_map *m, const char *name);
/* The region whose box holds the point (on a shared edge: the one named
 * first), NULL outside every box or for an invalid point. Where an order is
 * stored: its delivery point's region. */
const region *region_map_locate(const region_map *m, double lat, double lon);
/* Every region whose box comes within radius_m of the point, in map order,
 * up to max of them into out; returns how many touch (may exceed max), or -1
 * for an invalid point or radius. The distance to a box is measured to its
 * nearest point on the sphere (Redis' earth radius), as GEOSEARCH measures. */
int region_map_touching(const region_map *m, double lat, double lon, double radius_m,
                        const region **out, size_t max);

#endif
