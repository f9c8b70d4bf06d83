/* Unit tests of the region map (common/region.c): parsing the region -> Redis
 * map and the boxes, a point's home region, and which regions a radius
 * search must read near an edge or a corner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "region.h"

/* Four quadrants around 52.5 N 13.0 E (Berlin-sized), plus the metres of
 * one degree of latitude, to place points at known distances from an edge. */
#define EDGE_LAT 52.5
#define EDGE_LON 13.0
#define M_PER_DEG_LAT 111226.0
static const char *const ENDPOINTS = "nw=redis://10.0.0.1:6379,ne=redis://10.0.0.2:6379,"
                                     "sw=redis://10.0.0.3,se=redis://10.0.0.4:6380/1";
static const char *const BOXES = "nw=52.5:12.0:53.5:13.0,ne=52.5:13.0:53.5:14.0,"
                                 "sw=51.5:12.0:52.5:13.0,se=51.5:13.0:52.5:14.0";

static region_map *quadrants(void)
{
    char err[256] = "";
    region_map *m = region_map_new(ENDPOINTS, BOXES, err, sizeof(err));
    if (!m)
        fail_msg("%s", err);
    return m;
}

static void test_parse_keeps_order_and_urls(void **state)
{
    (void)state;
    region_map *m = quadrants();
    assert_int_equal(region_map_count(m), 4);
    assert_string_equal(region_map_at(m, 0)->name, "nw");
    assert_string_equal(region_map_at(m, 3)->redis_url, "redis://10.0.0.4:6380/1");
    assert_null(region_map_at(m, 4));
    const region *ne = region_map_find(m, "ne");
    assert_non_null(ne);
    assert_string_equal(ne->redis_url, "redis://10.0.0.2:6379");
    assert_true(ne->min_lat == 52.5 && ne->max_lon == 14.0);
    assert_null(region_map_find(m, "north"));
    region_map_free(m);
}

static void expect_error(const char *endpoints, const char *boxes, const char *needle)
{
    char err[256] = "";
    region_map *m = region_map_new(endpoints, boxes, err, sizeof(err));
    if (m) {
        region_map_free(m);
        fail_msg("accepted %s / %s", endpoints ? endpoints : "(null)", boxes ? boxes : "(null)");
    }
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_parse_rejects_bad_maps(void **state)
{
    (void)state;
    const char *box = "a=50:10:51:11";
    expect_error(NULL, box, "must both be set");
    expect_error("a=redis://h:1", "", "must both be set");
    expect_error("a", box, "not name=value");
    expect_error("A=redis://h:1", "A=50:10:51:11", "[a-z0-9-]");
    expect_error("=redis://h:1", box, "[a-z0-9-]");
    expect_error("a=http://h:1", box, "redis://host");
    expect_error("a=redis://", box, "redis://host");
    expect_error("a=redis://h:1,a=redis://g:1", box, "named twice");
    expect_error("a=redis://h:1,", box, "not name=value");
    expect_error("a=redis://h:1", "b=50:10:51:11", "no Redis");
    expect_error("a=redis://h:1,b=redis://g:1", box, "'b' has no box");
    expect_error("a=redis://h:1", "a=50:10:51:11,a=52:10:53:11", "two boxes");
    expect_error("a=redis://h:1", "a=51:10:50:11", "min < max");
    expect_error("a=redis://h:1", "a=50:10:51", "min_lat:min_lon");
    expect_error("a=redis://h:1", "a=50:10:51:11x", "min_lat:min_lon");
    expect_error("a=redis://h:1", "a=50:-100:51:100", "180 degrees");
    expect_error("a=redis://h:1", "a=50:10:89:11", "valid coordinates");
    expect_error("a=redis://h:1,b=redis://g:1", "a=50:10:51:11,b=50.5:10.5:52:12", "overlap");
}

static void test_shared_edges_are_not_overlaps(void **state)
{
    (void)state;
    char err[256];
    region_map *m = region_map_new("a=redis://h:1,b=redis://g:1", "a=50:10:51:11,b=51:10:52:11",
                                   err, sizeof(err));
    assert_non_null(m);
    /* on the shared edge the region named first is home */
    assert_string_equal(region_map_locate(m, 51.0, 10.5)->name, "a");
    region_map_free(m);
}

static void test_locate_home_region(void **state)
{
    (void)state;
    region_map *m = quadrants();
    assert_string_equal(region_map_locate(m, 53.0, 12.5)->name, "nw");
    assert_string_equal(region_map_locate(m, 53.0, 13.5)->name, "ne");
    assert_string_equal(region_map_locate(m, 52.0, 12.5)->name, "sw");
    assert_string_equal(region_map_locate(m, 52.0, 13.5)->name, "se");
    assert_null(region_map_locate(m, 48.0, 13.0)); /* outside every box */
    assert_null(region_map_locate(m, 95.0, 13.0)); /* not a point */
    region_map_free(m);
}

static void test_search_inside_one_region_reads_one(void **state)
{
    (void)state;
    region_map *m = quadrants();
    const region *hit[4];
    /* 20 km north of the east-west edge and far from the meridian */
    double lat = EDGE_LAT + 20000.0 / M_PER_DEG_LAT;
    assert_int_equal(region_map_touching(m, lat, 12.5, 8000.0, hit, 4), 1);
    assert_string_equal(hit[0]->name, "nw");
    region_map_free(m);
}

static void test_search_across_an_edge_reads_both(void **state)
{
    (void)state;
    region_map *m = quadrants();
    const region *hit[4];
    /* 2 km north of the nw/sw edge: a 3 km search reaches into sw, a 1.5 km
     * one does not */
    double lat = EDGE_LAT + 2000.0 / M_PER_DEG_LAT;
    assert_int_equal(region_map_touching(m, lat, 12.5, 3000.0, hit, 4), 2);
    assert_string_equal(hit[0]->name, "nw");
    assert_string_equal(hit[1]->name, "sw");
    assert_int_equal(region_map_touching(m, lat, 12.5, 1500.0, hit, 4), 1);
    /* the east-west direction: 0.02 degrees of longitude at 52.2 N is about
     * 1.37 km, so 2 km crosses into se and 1 km does not */
    assert_int_equal(region_map_touching(m, 52.2, EDGE_LON - 0.02, 2000.0, hit, 4), 2);
    assert_string_equal(hit[0]->name, "sw");
    assert_string_equal(hit[1]->name, "se");
    assert_int_equal(region_map_touching(m, 52.2, EDGE_LON - 0.02, 1000.0, hit, 4), 1);
    region_map_free(m);
}

static void test_search_at_a_corner_reads_four(void **state)
{
    (void)state;
    region_map *m = quadrants();
    const region *hit[4];
    assert_int_equal(region_map_touching(m, EDGE_LAT + 0.001, EDGE_LON + 0.001, 3000.0, hit, 4), 4);
    /* more touching regions than room: the count says so */
    assert_int_equal(region_map_touching(m, EDGE_LAT, EDGE_LON, 3000.0, hit, 2), 4);
    assert_string_equal(hit[0]->name, "nw");
    assert_string_equal(hit[1]->name, "ne");
    region_map_free(m);
}

static void test_search_from_outside_reaches_the_nearest_box(void **state)
{
    (void)state;
    region_map *m = quadrants();
    const region *hit[4];
    /* 5 km south of the map: a delivery just beyond the served area */
    double lat = 51.5 - 5000.0 / M_PER_DEG_LAT;
    assert_int_equal(region_map_touching(m, lat, 12.5, 8000.0, hit, 4), 1);
    assert_string_equal(hit[0]->name, "sw");
    assert_int_equal(region_map_touching(m, lat, 12.5, 3000.0, hit, 4), 0);
    region_map_free(m);
}

static void test_search_rejects_bad_input(void **state)
{
    (void)state;
    region_map *m = quadrants();
    const region *hit[4];
    assert_int_equal(region_map_touching(m, 91.0, 12.5, 3000.0, hit, 4), -1);
    assert_int_equal(region_map_touching(m, 52.0, 12.5, -1.0, hit, 4), -1);
    region_map_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_keeps_order_and_urls),
        cmocka_unit_test(test_parse_rejects_bad_maps),
        cmocka_unit_test(test_shared_edges_are_not_overlaps),
        cmocka_unit_test(test_locate_home_region),
        cmocka_unit_test(test_search_inside_one_region_reads_one),
        cmocka_unit_test(test_search_across_an_edge_reads_both),
        cmocka_unit_test(test_search_at_a_corner_reads_four),
        cmocka_unit_test(test_search_from_outside_reaches_the_nearest_box),
        cmocka_unit_test(test_search_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
