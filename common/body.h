/* body.h - parsing and validating the JSON request bodies of the pharmacy
 * and courier APIs (SPEC section 6). Pure: a parsed JSON object in, a filled
 * struct or a message for a 400 out; no I/O, so tests and fuzzers reach every
 * branch. */
#ifndef RXD_BODY_H
#define RXD_BODY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "geo_crs.h"
#include "ids.h"

#define BODY_WHY_MAX 256
#define BODY_NAME_MAX 128
#define BODY_REASON_MAX 256
#define BODY_STOCK_MAX 2000
#define BODY_POINTS_MAX 500
#define BODY_CAPACITY_MAX 1000
#define BODY_QTY_MAX 1000000

typedef struct body_pharmacy {
    char name[BODY_NAME_MAX + 1];
    double lat, lon;
    int open;
    long capacity;
    int cold_chain;
    int insurance_designated;
} body_pharmacy;

typedef struct body_stock_item {
    char code[IDS_MAX + 1];
    long long qty;
} body_stock_item;

typedef struct body_stock {
    size_t n;
    body_stock_item *items; /* malloc'd; body_stock_free */
} body_stock;

typedef struct body_point {
    double lat, lon;
    int64_t ts_ms;
} body_point;

typedef struct body_points {
    size_t n;
    body_point pts[BODY_POINTS_MAX];
} body_points;

typedef struct body_availability {
    int available;
    int cold_chain;
    long capacity;
} body_availability;

/* Each returns 0, or -1 with a message in why (BODY_WHY_MAX bytes). */
int body_parse_pharmacy(const json_t *j, body_pharmacy *out, char *why);
int body_parse_stock(const json_t *j, body_stock *out, char *why);
void body_stock_free(body_stock *s);
int body_parse_status(const json_t *j, int *open, char *why);
/* {"reason": "..."}; required selects whether it may be missing. */
int body_parse_reason(const json_t *j, int required, char *reason, char *why);
/* The optional "crs" of a body: absent is dflt. */
int body_parse_crs(const json_t *j, geo_crs dflt, geo_crs *out, char *why);
/* "lat", "lon" and the optional "crs" (absent: dflt) of a position, checked
 * and returned as WGS-84: the one place every API's positions enter. */
int body_parse_position(const json_t *j, geo_crs dflt, double *lat, double *lon, char *why);
/* A point's "crs" defaults to wgs84; a batch's top-level "crs" is its
 * points' default. */
int body_parse_point(const json_t *j, body_point *out, char *why);
int body_parse_points(const json_t *j, body_points *out, char *why);
int body_parse_availability(const json_t *j, body_availability *out, char *why);
/* {"handover_code": "123456"} */
int body_parse_handover(const json_t *j, char code[16], char *why);

#endif
