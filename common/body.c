/* body.c - request body validation (see body.h). */
#include "body.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "geo_crs.h"
#include "rx.h"
#include "mem.h"

static int body_fail(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int body_fail(char *why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, BODY_WHY_MAX, fmt, ap);
    va_end(ap);
    return -1;
}

static int body_bool(const json_t *j, const char *name, int required, int def, int *out, char *why)
{
    const json_t *v = json_object_get(j, name);
    if (!v) {
        if (required)
            return body_fail(why, "'%s' (true or false) is required", name);
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return body_fail(why, "'%s' must be true or false", name);
    *out = json_is_true(v);
    return 0;
}

static int body_number(const json_t *j, const char *name, double *out, char *why)
{
    const json_t *v = json_object_get(j, name);
    if (!v || !json_is_number(v))
        return body_fail(why, "'%s' must be a number", name);
    *out = json_number_value(v);
    return 0;
}

static int body_int(const json_t *j, const char *name, long long min, long long max, long long *out,
                    char *why)
{
    const json_t *v = json_object_get(j, name);
    if (!v || !json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return body_fail(why, "'%s' must be an integer in [%lld, %lld]", name, min, max);
    *out = json_integer_value(v);
    return 0;
}

static int body_text(const json_t *j, const char *name, size_t max, int required, char *out,
                     char *why)
{
    const json_t *v = json_object_get(j, name);
    out[0] = '\0';
    if (!v) {
        if (required)
            return body_fail(why, "'%s' (a string) is required", name);
        return 0;
    }
    if (!json_is_string(v))
        return body_fail(why, "'%s' must be a string", name);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n > max)
        return body_fail(why, "'%s' is longer than %zu bytes", name, max);
    if (n == 0 && required)
        return body_fail(why, "'%s' must not be empty", name);
    if (!rx_text_valid(s, n) || memchr(s, '\0', n))
        return body_fail(why, "'%s' has control characters", name);
    memcpy(out, s, n + 1);
    return 0;
}

int body_parse_crs(const json_t *j, geo_crs dflt, geo_crs *out, char *why)
{
    const json_t *v = json_object_get(j, "crs");
    *out = dflt;
    if (!v)
        return 0;
    if (!json_is_string(v) || geo_crs_parse(json_string_value(v), out))
        return body_fail(why,
                         "'crs' must be " GEO_CRS_NAMES " (wgs84, GPS, is the default; gcj02 is "
                         "what mainland Chinese map tiles show; convert BD-09 to gcj02 first)");
    return 0;
}

int body_parse_position(const json_t *j, geo_crs dflt, double *lat, double *lon, char *why)
{
    geo_crs crs;
    if (body_number(j, "lat", lat, why) || body_number(j, "lon", lon, why) ||
        body_parse_crs(j, dflt, &crs, why))
        return -1;
    if (!geo_valid(*lat, *lon))
        return body_fail(why, "lat must be in [-85.05, 85.05] and lon in [-180, 180]");
    geo_crs_to_wgs84(crs, *lat, *lon, lat, lon);
    return 0;
}

int body_parse_pharmacy(const json_t *j, body_pharmacy *out, char *why)
{
    long long cap = 0; /* set whenever body_int succeeds; gcc -O3 cannot see it */
    if (body_text(j, "name", BODY_NAME_MAX, 1, out->name, why) ||
        body_parse_position(j, GEO_CRS_WGS84, &out->lat, &out->lon, why) ||
        body_bool(j, "open", 0, 1, &out->open, why) ||
        body_int(j, "capacity", 0, BODY_CAPACITY_MAX, &cap, why) ||
        body_bool(j, "cold_chain", 0, 0, &out->cold_chain, why) ||
        body_bool(j, "insurance_designated", 0, 0, &out->insurance_designated, why))
        return -1;
    out->capacity = (long)cap;
    return 0;
}

int body_parse_stock(const json_t *j, body_stock *out, char *why)
{
    const json_t *items = json_object_get(j, "items");
    out->n = 0;
    out->items = NULL;
    if (!json_is_object(items))
        return body_fail(why, "'items' must be an object of drug_code: quantity");
    size_t n = json_object_size(items);
    if (n > BODY_STOCK_MAX)
        return body_fail(why, "'items' holds %zu entries; at most %d", n, BODY_STOCK_MAX);
    out->items = xcalloc(n ? n : 1, sizeof(body_stock_item));
    const char *code;
    const json_t *qty;
    json_object_foreach((json_t *)items, code, qty)
    {
        if (!ids_valid(code, strlen(code))) {
            body_stock_free(out);
            return body_fail(why, "drug codes must be 1-64 chars of [A-Za-z0-9._:-]");
        }
        if (!json_is_integer(qty) || json_integer_value(qty) < 0 ||
            json_integer_value(qty) > BODY_QTY_MAX) {
            body_stock_free(out);
            return body_fail(why, "quantity of %s must be an integer in [0, %d]", code,
                             BODY_QTY_MAX);
        }
        snprintf(out->items[out->n].code, sizeof(out->items[out->n].code), "%s", code);
        out->items[out->n].qty = json_integer_value(qty);
        out->n++;
    }
    return 0;
}

void body_stock_free(body_stock *s)
{
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

int body_parse_status(const json_t *j, int *open, char *why)
{
    return body_bool(j, "open", 1, 0, open, why);
}

int body_parse_reason(const json_t *j, int required, char *reason, char *why)
{
    if (!j) {
        reason[0] = '\0';
        return required ? body_fail(why, "'reason' (a string) is required") : 0;
    }
    return body_text(j, "reason", BODY_REASON_MAX, required, reason, why);
}

static int body_point_in(const json_t *j, geo_crs dflt, body_point *out, char *why)
{
    if (!json_is_object(j))
        return body_fail(why, "a point must be an object with lat, lon and ts_ms");
    long long ts = 0;
    if (body_parse_position(j, dflt, &out->lat, &out->lon, why) ||
        body_int(j, "ts_ms", 0, 4102444800000LL, &ts, why))
        return -1;
    out->ts_ms = ts;
    return 0;
}

int body_parse_point(const json_t *j, body_point *out, char *why)
{
    return body_point_in(j, GEO_CRS_WGS84, out, why);
}

int body_parse_points(const json_t *j, body_points *out, char *why)
{
    const json_t *pts = json_object_get(j, "points");
    geo_crs crs;
    out->n = 0;
    if (!json_is_array(pts) || json_array_size(pts) == 0)
        return body_fail(why, "'points' must be a non-empty array");
    if (json_array_size(pts) > BODY_POINTS_MAX)
        return body_fail(why, "'points' holds %zu points; at most %d", json_array_size(pts),
                         BODY_POINTS_MAX);
    /* the batch's "crs" is every point's unless a point names its own */
    if (body_parse_crs(j, GEO_CRS_WGS84, &crs, why))
        return -1;
    size_t i;
    const json_t *p;
    json_array_foreach((json_t *)pts, i, p)
    {
        char inner[BODY_WHY_MAX];
        if (body_point_in(p, crs, &out->pts[out->n], inner))
            return body_fail(why, "points[%zu]: %s", i, inner);
        out->n++;
    }
    return 0;
}

int body_parse_availability(const json_t *j, body_availability *out, char *why)
{
    long long cap = 1;
    if (body_bool(j, "available", 1, 0, &out->available, why) ||
        body_bool(j, "cold_chain", 0, 0, &out->cold_chain, why))
        return -1;
    if (json_object_get(j, "capacity") && body_int(j, "capacity", 1, 20, &cap, why))
        return -1;
    out->capacity = (long)cap;
    return 0;
}

int body_parse_handover(const json_t *j, char code[16], char *why)
{
    const json_t *v = json_object_get(j, "handover_code");
    if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > 15)
        return body_fail(why, "'handover_code' (the code the patient gives) is required");
    const char *s = json_string_value(v);
    for (size_t i = 0; s[i]; i++)
        if (s[i] < '0' || s[i] > '9')
            return body_fail(why, "'handover_code' is digits only");
    snprintf(code, 16, "%s", s);
    return 0;
}
