/* Unit tests of citysim's Wuhan city (loadtest/citysim/wuhan.c): drawn
 * with a fixed seed the way city.c and rxgen.c draw it, every pharmacy lies
 * within 3 km of its hospital, every drop-off within 3 km of the hospital
 * that issued the prescription, names and addresses are Chinese UTF-8 in
 * Wuhan, and the same seed draws the same city. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "geo.h"
#include "wuhan.h"

#define T_PHARMACIES 400
#define T_DROPOFFS 2000
/* place.c's flat projection against the haversine distance: well under 1 m at 3 km */
#define T_SLACK_M 1.0

typedef struct t_pharmacy {
    wuhan_place pl;
    char name[WUHAN_NAME_MAX];
} t_pharmacy;

typedef struct t_city {
    t_pharmacy ph[T_PHARMACIES];
    wuhan_place drop[T_DROPOFFS];
} t_city;

static t_city city_a, city_b;

static void t_draw(t_city *c, uint64_t seed)
{
    size_t nh;
    rng r;
    wuhan_hospitals(&nh);
    rng_seed(&r, seed, 1);
    for (int i = 0; i < T_PHARMACIES; i++) {
        wuhan_draw_place(&r, (size_t)i, WUHAN_LINK_M, &c->ph[i].pl);
        wuhan_pharmacy_name(&r, &c->ph[i].pl, c->ph[i].name, sizeof(c->ph[i].name));
    }
    rng_seed(&r, seed, 2);
    for (int i = 0; i < T_DROPOFFS; i++)
        wuhan_draw_place(&r, (size_t)rng_range(&r, 0, (int)nh - 1), WUHAN_LINK_M, &c->drop[i]);
}

/* 1 when s is well-formed UTF-8 with at least one multi-byte character */
static int t_utf8_chinese(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int wide = 0;
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xE0) == 0xC0 ? 1
                : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3
                                      : -1;
        if (n < 0)
            return 0;
        wide |= n >= 2;
        p++;
        for (int k = 0; k < n; k++, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return wide;
}

static void test_hospitals_are_in_wuhan(void **state)
{
    (void)state;
    size_t n;
    const wuhan_hospital *h = wuhan_hospitals(&n);
    assert_true(n >= 12 && n <= 20);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(strncmp(h[i].id, "hb-wh-", 6), 0);
        assert_true(t_utf8_chinese(h[i].name));
        /* Wuhan's central districts lie within about 30 km of the Yellow Crane Tower */
        assert_true(geo_distance_m(h[i].lat, h[i].lon, 30.5447, 114.3025) < 30000);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(h[i].id, h[k].id);
    }
}

static void t_assert_place(const wuhan_place *pl)
{
    const wuhan_hospital *h = pl->hospital;
    assert_non_null(h);
    assert_true(geo_distance_m(pl->lat, pl->lon, h->lat, h->lon) <= WUHAN_LINK_M + T_SLACK_M);
    assert_true(t_utf8_chinese(pl->address));
    assert_int_equal(strncmp(pl->address, "武汉市", strlen("武汉市")), 0);
    assert_non_null(strstr(pl->address, wuhan_district(h->district)));
    assert_non_null(strstr(pl->address, pl->road));
}

static void test_pharmacies_within_their_hospitals_circle(void **state)
{
    (void)state;
    size_t nh;
    const wuhan_hospital *h = wuhan_hospitals(&nh);
    int per_hospital[64] = {0};
    t_draw(&city_a, 11);
    for (int i = 0; i < T_PHARMACIES; i++) {
        const t_pharmacy *p = &city_a.ph[i];
        t_assert_place(&p->pl);
        assert_true(t_utf8_chinese(p->name));
        assert_non_null(strstr(p->name, p->pl.road));
        per_hospital[p->pl.hospital - h]++;
    }
    /* each hospital has its share of the pharmacies */
    for (size_t k = 0; k < nh; k++)
        assert_true(per_hospital[k] >= T_PHARMACIES / (int)nh);
}

static void test_dropoffs_within_the_issuing_hospitals_circle(void **state)
{
    (void)state;
    size_t nh;
    const wuhan_hospital *h = wuhan_hospitals(&nh);
    int per_hospital[64] = {0};
    double farthest = 0;
    t_draw(&city_a, 11);
    for (int i = 0; i < T_DROPOFFS; i++) {
        const wuhan_place *d = &city_a.drop[i];
        t_assert_place(d);
        per_hospital[d->hospital - h]++;
        double m = geo_distance_m(d->lat, d->lon, d->hospital->lat, d->hospital->lon);
        farthest = m > farthest ? m : farthest;
    }
    for (size_t k = 0; k < nh; k++)
        assert_true(per_hospital[k] > 0);
    /* the circle is used, not only its centre */
    assert_true(farthest > 0.9 * WUHAN_LINK_M);
}

static void t_assert_same_place(const wuhan_place *a, const wuhan_place *b)
{
    assert_ptr_equal(a->hospital, b->hospital);
    assert_true(a->lat == b->lat && a->lon == b->lon);
    assert_string_equal(a->address, b->address);
}

static void test_same_seed_same_city(void **state)
{
    (void)state;
    t_draw(&city_a, 42);
    t_draw(&city_b, 42);
    for (int i = 0; i < T_PHARMACIES; i++) {
        t_assert_same_place(&city_a.ph[i].pl, &city_b.ph[i].pl);
        assert_string_equal(city_a.ph[i].name, city_b.ph[i].name);
    }
    for (int i = 0; i < T_DROPOFFS; i++)
        t_assert_same_place(&city_a.drop[i], &city_b.drop[i]);
    t_draw(&city_b, 43);
    assert_true(city_a.ph[0].pl.lat != city_b.ph[0].pl.lat ||
                city_a.ph[0].pl.lon != city_b.ph[0].pl.lon);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hospitals_are_in_wuhan),
        cmocka_unit_test(test_pharmacies_within_their_hospitals_circle),
        cmocka_unit_test(test_dropoffs_within_the_issuing_hospitals_circle),
        cmocka_unit_test(test_same_seed_same_city),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
