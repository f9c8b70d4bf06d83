/* Unit tests of the coordinate systems the APIs accept (common/geo_crs.c)
 * and of the shared position reader that converts them (body.c). The
 * expectations are properties of GCJ-02, not numbers taken from the code:
 * the offset inside China is 100-700 m, the inversion undoes the forward
 * transform to the centimetre, and outside China nothing moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "body.h"
#include "geo.h"
#include "geo_crs.h"

static const struct {
    const char *name;
    double lat, lon;
} china[] = {
    {"Wuhan", 30.5928, 114.3055},         {"Beijing Tiananmen", 39.9087, 116.3975},
    {"Shanghai Bund", 31.2400, 121.4900}, {"Chengdu", 30.6586, 104.0647},
    {"Guangzhou", 23.1291, 113.2644},     {"Urumqi", 43.8256, 87.6168},
    {"Harbin", 45.8038, 126.5350},        {"Lhasa", 29.6525, 91.1721},
};

static const struct {
    const char *name;
    double lat, lon;
} abroad[] = {
    {"London", 51.5074, -0.1278},    {"Tokyo", 35.6762, 139.6503}, {"Sydney", -33.8688, 151.2093},
    {"New York", 40.7128, -74.0060}, {"Berlin", 52.5200, 13.4050}, {"Moscow", 55.7558, 37.6173},
};

static void test_offset_inside_china_is_hundreds_of_metres(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(china) / sizeof(china[0]); i++) {
        double glat, glon;
        geo_crs_wgs84_to_gcj02(china[i].lat, china[i].lon, &glat, &glon);
        double d = geo_distance_m(china[i].lat, china[i].lon, glat, glon);
        if (d < 100.0 || d > 700.0)
            fail_msg("%s: GCJ-02 is %.1f m from WGS-84, expected 100-700 m", china[i].name, d);
    }
}

static void test_outside_china_nothing_moves(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(abroad) / sizeof(abroad[0]); i++) {
        double lat, lon;
        assert_false(geo_crs_in_china(abroad[i].lat, abroad[i].lon));
        geo_crs_wgs84_to_gcj02(abroad[i].lat, abroad[i].lon, &lat, &lon);
        assert_true(lat == abroad[i].lat && lon == abroad[i].lon);
        geo_crs_gcj02_to_wgs84(abroad[i].lat, abroad[i].lon, &lat, &lon);
        assert_true(lat == abroad[i].lat && lon == abroad[i].lon);
        geo_crs_to_wgs84(GEO_CRS_GCJ02, abroad[i].lat, abroad[i].lon, &lat, &lon);
        assert_true(lat == abroad[i].lat && lon == abroad[i].lon);
    }
}

/* gcj -> wgs -> gcj lands within 1 cm, and gcj -> wgs finds the WGS-84
 * point the GCJ-02 one was made from, on a 1-degree grid over China */
static void test_inversion_round_trips_to_the_centimetre(void **state)
{
    (void)state;
    double worst = 0.0;
    for (double lat = 18.0; lat <= 54.0; lat += 1.0)
        for (double lon = 73.0; lon <= 135.0; lon += 1.0) {
            double glat, glon, wlat, wlon, g2lat, g2lon;
            geo_crs_wgs84_to_gcj02(lat, lon, &glat, &glon);
            geo_crs_gcj02_to_wgs84(glat, glon, &wlat, &wlon);
            geo_crs_wgs84_to_gcj02(wlat, wlon, &g2lat, &g2lon);
            double back = geo_distance_m(glat, glon, g2lat, g2lon);
            double found = geo_distance_m(lat, lon, wlat, wlon);
            if (back > 0.01 || found > 0.02)
                fail_msg("(%g, %g): round trip %.4f m, inversion %.4f m off", lat, lon, back,
                         found);
            worst = back > worst ? back : worst;
        }
    assert_true(worst < 0.01);
}

static void test_to_wgs84_is_identity_for_wgs84(void **state)
{
    (void)state;
    double lat, lon;
    geo_crs_to_wgs84(GEO_CRS_WGS84, china[0].lat, china[0].lon, &lat, &lon);
    assert_true(lat == china[0].lat && lon == china[0].lon);
    geo_crs_to_wgs84(GEO_CRS_GCJ02, china[0].lat, china[0].lon, &lat, &lon);
    assert_true(geo_distance_m(lat, lon, china[0].lat, china[0].lon) > 100.0);
}

static void test_parse_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int rc;
        geo_crs crs;
    } cases[] = {
        {"wgs84", 0, GEO_CRS_WGS84},
        {"WGS84", 0, GEO_CRS_WGS84},
        {"gcj02", 0, GEO_CRS_GCJ02},
        {"GcJ02", 0, GEO_CRS_GCJ02},
        {"bd09", -1, 0},
        {"wgs-84", -1, 0},
        {"gcj", -1, 0},
        {"", -1, 0},
        {"gcj02 ", -1, 0},
        {NULL, -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        geo_crs crs = (geo_crs)99;
        assert_int_equal(geo_crs_parse(cases[i].name, &crs), cases[i].rc);
        if (cases[i].rc == 0) {
            assert_int_equal(crs, cases[i].crs);
            assert_string_equal(geo_crs_name(crs),
                                cases[i].name[0] == 'w' || cases[i].name[0] == 'W' ? "wgs84"
                                                                                   : "gcj02");
        }
    }
}

/* ---- the shared position reader (body.c) ---- */

static json_t *parse(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_body_point_converts_gcj02(void **state)
{
    (void)state;
    char why[BODY_WHY_MAX], text[256];
    double glat, glon;
    geo_crs_wgs84_to_gcj02(china[0].lat, china[0].lon, &glat, &glon);
    snprintf(text, sizeof(text), "{\"lat\":%.9f,\"lon\":%.9f,\"ts_ms\":1,\"crs\":\"GCJ02\"}", glat,
             glon);
    json_t *j = parse(text);
    body_point p;
    assert_int_equal(body_parse_point(j, &p, why), 0);
    assert_true(geo_distance_m(p.lat, p.lon, china[0].lat, china[0].lon) < 0.05);
    json_decref(j);
    /* without crs the same numbers are taken as WGS-84: hundreds of metres off */
    snprintf(text, sizeof(text), "{\"lat\":%.9f,\"lon\":%.9f,\"ts_ms\":1}", glat, glon);
    j = parse(text);
    assert_int_equal(body_parse_point(j, &p, why), 0);
    assert_true(geo_distance_m(p.lat, p.lon, glat, glon) < 0.001);
    json_decref(j);
}

static void test_body_batch_crs_is_the_points_default(void **state)
{
    (void)state;
    char why[BODY_WHY_MAX], text[512];
    double glat, glon;
    geo_crs_wgs84_to_gcj02(china[1].lat, china[1].lon, &glat, &glon);
    snprintf(text, sizeof(text),
             "{\"crs\":\"gcj02\",\"points\":[{\"lat\":%.9f,\"lon\":%.9f,\"ts_ms\":1},"
             "{\"lat\":%.9f,\"lon\":%.9f,\"ts_ms\":2,\"crs\":\"wgs84\"}]}",
             glat, glon, china[1].lat, china[1].lon);
    json_t *j = parse(text);
    body_points *b = malloc(sizeof(*b));
    assert_int_equal(body_parse_points(j, b, why), 0);
    assert_int_equal(b->n, 2);
    for (size_t i = 0; i < 2; i++)
        assert_true(geo_distance_m(b->pts[i].lat, b->pts[i].lon, china[1].lat, china[1].lon) <
                    0.05);
    free(b);
    json_decref(j);
}

static void test_body_bad_crs_is_refused_with_the_names(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"name\":\"A\",\"lat\":30.5,\"lon\":114.3,\"capacity\":5,\"crs\":\"bd09\"}",
        "{\"name\":\"A\",\"lat\":30.5,\"lon\":114.3,\"capacity\":5,\"crs\":2}",
        "{\"name\":\"A\",\"lat\":30.5,\"lon\":114.3,\"capacity\":5,\"crs\":null}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char why[BODY_WHY_MAX] = "";
        body_pharmacy p;
        json_t *j = parse(bad[i]);
        assert_int_equal(body_parse_pharmacy(j, &p, why), -1);
        assert_non_null(strstr(why, "\"wgs84\" or \"gcj02\""));
        json_decref(j);
    }
    char why[BODY_WHY_MAX] = "";
    body_points *b = malloc(sizeof(*b));
    json_t *j = parse("{\"crs\":\"bd09\",\"points\":[{\"lat\":30.5,\"lon\":114.3,\"ts_ms\":1}]}");
    assert_int_equal(body_parse_points(j, b, why), -1);
    assert_non_null(strstr(why, "'crs'"));
    json_decref(j);
    j = parse("{\"points\":[{\"lat\":30.5,\"lon\":114.3,\"ts_ms\":1,\"crs\":\"bd09\"}]}");
    assert_int_equal(body_parse_points(j, b, why), -1);
    assert_non_null(strstr(why, "points[0]: 'crs'"));
    json_decref(j);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offset_inside_china_is_hundreds_of_metres),
        cmocka_unit_test(test_outside_china_nothing_moves),
        cmocka_unit_test(test_inversion_round_trips_to_the_centimetre),
        cmocka_unit_test(test_to_wgs84_is_identity_for_wgs84),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_body_point_converts_gcj02),
        cmocka_unit_test(test_body_batch_crs_is_the_points_default),
        cmocka_unit_test(test_body_bad_crs_is_refused_with_the_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
