/* geo_crs.h - the coordinate systems the APIs accept, converted to the one
 * the system keeps. Everything inside rxdispatch (the Redis geo indexes,
 * routing, dispatch, Kafka) is WGS-84, what a phone's GPS reports; mainland
 * Chinese map SDKs give GCJ-02, the published "China offset" of WGS-84 (100-
 * 700 m). The APIs take a "crs" name and convert here, at the boundary. Pure:
 * no I/O, no clock. BD-09 (Baidu) is not accepted: see docs/architecture.md. */
#ifndef RXD_GEO_CRS_H
#define RXD_GEO_CRS_H

typedef enum geo_crs {
    GEO_CRS_WGS84 = 0, /* the default and the datum kept inside */
    GEO_CRS_GCJ02,
} geo_crs;

/* The accepted names, for messages: "\"wgs84\" or \"gcj02\"". */
#define GEO_CRS_NAMES "\"wgs84\" or \"gcj02\""

/* 0 and *out set for a known name (case-insensitive), -1 otherwise. */
int geo_crs_parse(const char *name, geo_crs *out);
/* The canonical lower-case name. */
const char *geo_crs_name(geo_crs crs);
/* 1 inside the rough bounding box of China where GCJ-02 differs from
 * WGS-84; outside it the two are the same. */
int geo_crs_in_china(double lat, double lon);
/* WGS-84 to GCJ-02, the forward formula (exact by definition). */
void geo_crs_wgs84_to_gcj02(double lat, double lon, double *out_lat, double *out_lon);
/* GCJ-02 to WGS-84: the forward formula inverted by fixed-point iteration,
 * to within GEO_CRS_EPS_DEG (about 1 mm) in a bounded number of steps. */
void geo_crs_gcj02_to_wgs84(double lat, double lon, double *out_lat, double *out_lon);
/* A position given in crs as WGS-84. */
void geo_crs_to_wgs84(geo_crs crs, double lat, double lon, double *out_lat, double *out_lon);

#define GEO_CRS_EPS_DEG 1e-8

#endif
