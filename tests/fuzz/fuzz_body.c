/* fuzz_body.c - the JSON request bodies of the pharmacy and courier APIs
 * (SPEC section 6): the bytes are parsed as http_read_json does (jansson,
 * JSON_REJECT_DUPLICATES) and every object is run through every
 * body_parse_* function.
 *
 * When common/http.h declares http_json_depth_ok (the pre-parse nesting
 * check), CMake defines RXD_FUZZ_HTTP_DEPTH, links rxd_common and the check
 * is fuzzed too, with the property that whatever it lets through parses to
 * at most its depth limit. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "body.h"
#include "fuzz_common.h"
#include "geo.h"
#include "ids.h"
#include "rx.h"
#ifdef RXD_FUZZ_HTTP_DEPTH
#include "http.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* http.c: HTTP_JSON_DEPTH_MAX; keep in step if it changes. */
#define FUZZ_JSON_DEPTH_MAX 16

static char why[BODY_WHY_MAX];

static void why_reset(void)
{
    memset(why, 'X', sizeof(why));
}

/* After a failure the message is a non-empty string within BODY_WHY_MAX. */
static void why_check(int rc)
{
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc)
        FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL && why[0] != '\0' && why[0] != 'X');
}

static int is_bool(int v)
{
    return v == 0 || v == 1;
}

static int text_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    return n <= max && rx_text_valid(s, n);
}

#ifdef RXD_FUZZ_HTTP_DEPTH
static int json_depth(const json_t *j)
{
    int d = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            int c = json_depth(v);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            int c = json_depth(v);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    return 0;
}
#endif

static void fuzz_point(const json_t *v)
{
    body_point pt;
    why_reset();
    int rc = body_parse_point(v, &pt, why);
    why_check(rc);
    if (rc == 0) {
        FUZZ_CHECK(geo_valid(pt.lat, pt.lon));
        FUZZ_CHECK(pt.ts_ms >= 0 && pt.ts_ms <= 4102444800000LL);
    }
}

static void fuzz_object(const json_t *j)
{
    int rc;

    body_pharmacy ph;
    why_reset();
    rc = body_parse_pharmacy(j, &ph, why);
    why_check(rc);
    if (rc == 0) {
        FUZZ_CHECK(text_ok(ph.name, BODY_NAME_MAX));
        FUZZ_CHECK(geo_valid(ph.lat, ph.lon));
        FUZZ_CHECK(ph.capacity >= 0 && ph.capacity <= BODY_CAPACITY_MAX);
        FUZZ_CHECK(is_bool(ph.open) && is_bool(ph.cold_chain) && is_bool(ph.insurance_designated));
    }

    body_stock st;
    why_reset();
    rc = body_parse_stock(j, &st, why);
    why_check(rc);
    if (rc == 0) {
        FUZZ_CHECK(st.n <= BODY_STOCK_MAX);
        FUZZ_CHECK(st.n == json_object_size(json_object_get(j, "items")));
        for (size_t i = 0; i < st.n; i++) {
            FUZZ_CHECK(ids_valid(st.items[i].code, strlen(st.items[i].code)));
            FUZZ_CHECK(st.items[i].qty >= 0 && st.items[i].qty <= BODY_QTY_MAX);
        }
    }
    body_stock_free(&st);
    FUZZ_CHECK(st.items == NULL && st.n == 0);

    int open = -1;
    why_reset();
    rc = body_parse_status(j, &open, why);
    why_check(rc);
    if (rc == 0)
        FUZZ_CHECK(is_bool(open));

    for (int required = 0; required <= 1; required++) {
        char reason[BODY_REASON_MAX + 1];
        why_reset();
        rc = body_parse_reason(j, required, reason, why);
        why_check(rc);
        if (rc == 0) {
            FUZZ_CHECK(text_ok(reason, BODY_REASON_MAX));
            if (required)
                FUZZ_CHECK(json_is_string(json_object_get(j, "reason")));
        }
    }

    fuzz_point(j);

    body_points *pts = malloc(sizeof(*pts));
    FUZZ_CHECK(pts != NULL);
    why_reset();
    rc = body_parse_points(j, pts, why);
    why_check(rc);
    if (rc == 0) {
        FUZZ_CHECK(pts->n >= 1 && pts->n <= BODY_POINTS_MAX);
        for (size_t i = 0; i < pts->n; i++) {
            FUZZ_CHECK(geo_valid(pts->pts[i].lat, pts->pts[i].lon));
            FUZZ_CHECK(pts->pts[i].ts_ms >= 0);
        }
    }
    free(pts);

    body_availability av;
    why_reset();
    rc = body_parse_availability(j, &av, why);
    why_check(rc);
    if (rc == 0) {
        FUZZ_CHECK(is_bool(av.available) && is_bool(av.cold_chain));
        FUZZ_CHECK(av.capacity >= 1 && av.capacity <= 20);
    }

    char code[16];
    why_reset();
    rc = body_parse_handover(j, code, why);
    why_check(rc);
    if (rc == 0) {
        size_t n = strnlen(code, sizeof(code));
        FUZZ_CHECK(n >= 1 && n <= 15);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(code[i] >= '0' && code[i] <= '9');
    }

    /* Points are also reached one level down (each element of "points"). */
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) fuzz_point(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    if (size == 0)
        return 0; /* http_read_json answers 400 before parsing */
#ifdef RXD_FUZZ_HTTP_DEPTH
    int depth_ok = http_json_depth_ok(s, size);
    FUZZ_CHECK(depth_ok == 0 || depth_ok == 1);
    if (!depth_ok)
        return 0;
#endif
    json_error_t jerr;
    json_t *j = json_loadb(s, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return 0;
#ifdef RXD_FUZZ_HTTP_DEPTH
    FUZZ_CHECK(json_depth(j) <= FUZZ_JSON_DEPTH_MAX);
#endif
    if (json_is_object(j))
        fuzz_object(j);
    json_decref(j);

    /* The handlers call body_parse_reason with NULL when there is no body. */
    char reason[BODY_REASON_MAX + 1];
    why_reset();
    FUZZ_CHECK(body_parse_reason(NULL, 0, reason, why) == 0 && reason[0] == '\0');
    why_reset();
    why_check(body_parse_reason(NULL, 1, reason, why));
    return 0;
}
