/* Unit tests of prescription decoding and validation (common/rx.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rx.h"

typedef struct fixture {
    Rxdispatch__V1__PrescriptionApproved rx;
    Rxdispatch__V1__GeoPoint pt;
    Rxdispatch__V1__Item item;
    Rxdispatch__V1__Item *items[1];
} fixture;

static void fixture_init(fixture *f)
{
    rxdispatch__v1__prescription_approved__init(&f->rx);
    rxdispatch__v1__geo_point__init(&f->pt);
    rxdispatch__v1__item__init(&f->item);
    f->pt.lat = 52.52;
    f->pt.lon = 13.405;
    f->item.drug_code = "PZN-1";
    f->item.name = "Amoxicillin";
    f->item.quantity = 2;
    f->items[0] = &f->item;
    f->rx.prescription_id = "rx-1";
    f->rx.delivery = &f->pt;
    f->rx.n_items = 1;
    f->rx.items = f->items;
}

/* Encodes f and decodes it again; returns the decoded message or NULL. */
static rx_approved *roundtrip(fixture *f, char *why)
{
    size_t len = rxdispatch__v1__prescription_approved__get_packed_size(&f->rx);
    uint8_t *buf = malloc(len + 1);
    rxdispatch__v1__prescription_approved__pack(&f->rx, buf);
    rx_approved *rx = rx_approved_decode(buf, len, why, 256);
    free(buf);
    return rx;
}

static void expect_rejected(fixture *f, const char *fragment)
{
    char why[256] = "";
    rx_approved *rx = roundtrip(f, why);
    assert_null(rx);
    assert_non_null(strstr(why, fragment));
}

static void test_valid_prescription_decodes(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    char why[256] = "";
    rx_approved *rx = roundtrip(&f, why);
    assert_non_null(rx);
    assert_string_equal(rx->prescription_id, "rx-1");
    assert_null(rx_unroutable_reason(rx, 0));
    rx_approved_free(rx);
}

static void test_garbage_is_rejected(void **state)
{
    (void)state;
    char why[256] = "";
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    assert_null(rx_approved_decode(junk, sizeof(junk), why, sizeof(why)));
    assert_non_null(strstr(why, "not a decodable"));
}

static void test_missing_fields_are_rejected(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.rx.prescription_id = "";
    expect_rejected(&f, "prescription_id");
    fixture_init(&f);
    f.rx.delivery = NULL;
    expect_rejected(&f, "delivery point is required");
    fixture_init(&f);
    f.rx.n_items = 0;
    expect_rejected(&f, "items must hold");
    fixture_init(&f);
    f.item.drug_code = "";
    expect_rejected(&f, "drug_code");
}

static void test_bad_values_are_rejected(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.rx.prescription_id = "rx 1\n";
    expect_rejected(&f, "prescription_id");
    fixture_init(&f);
    f.item.quantity = 0;
    expect_rejected(&f, "quantity");
    fixture_init(&f);
    f.item.quantity = 5000;
    expect_rejected(&f, "quantity");
    fixture_init(&f);
    f.pt.lat = 91;
    expect_rejected(&f, "out of range");
    fixture_init(&f);
    f.pt.lon = 0.0 / 0.0;
    expect_rejected(&f, "out of range");
    fixture_init(&f);
    f.rx.delivery_address = "bad \xff\xfe utf8";
    expect_rejected(&f, "delivery_address");
    fixture_init(&f);
    f.rx.fulfilment = 7;
    expect_rejected(&f, "fulfilment");
}

/* Ids that name keys of ours never hold ':' (no id can name another key);
 * the prescription id keeps SPEC section 2's charset. One row per case. */
static void test_id_rule_per_field(void **state)
{
    (void)state;
    static const struct {
        const char *nominated, *hospital, *pid;
        int ok;
        const char *why;
    } cases[] = {
        {"ph-1", "hosp-1", "rx-1", 1, NULL},
        {"", "", "rx:with:colons", 1, NULL},
        {"geo", "", "rx-2", 1, NULL}, /* a plain id: indexes live under idx: */
        {"P:stock", "", "rx-3", 0, "nominated_pharmacy_id must be 1-64 chars of [A-Za-z0-9._-]"},
        {"ph 1", "", "rx-4", 0, "nominated_pharmacy_id"},
        {"ph-1", "h:1", "rx-5", 0, "hospital_id must be 1-64 chars of [A-Za-z0-9._-]"},
        {"ph-1",
         "Klinik S\xc3\xbc"
         "d",
         "rx-6", 0, "hospital_id"},
        {"", "", "rx/7", 0, "prescription_id must be 1-64 chars of [A-Za-z0-9._:-]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fixture f;
        fixture_init(&f);
        f.rx.nominated_pharmacy_id = (char *)cases[i].nominated;
        f.rx.hospital_id = (char *)cases[i].hospital;
        f.rx.prescription_id = (char *)cases[i].pid;
        if (cases[i].ok) {
            char why[256] = "";
            rx_approved *rx = roundtrip(&f, why);
            assert_non_null(rx);
            rx_approved_free(rx);
        } else {
            expect_rejected(&f, cases[i].why);
        }
    }
}

static void test_too_many_items_rejected(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    Rxdispatch__V1__Item **many = calloc(101, sizeof(*many));
    for (int i = 0; i < 101; i++)
        many[i] = &f.item;
    f.rx.items = many;
    f.rx.n_items = 101;
    expect_rejected(&f, "items must hold");
    free(many);
}

static void test_pickup_needs_point_or_nominated(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.rx.fulfilment = RXDISPATCH__V1__FULFILMENT__PICKUP_IN_STORE;
    f.rx.delivery = NULL;
    expect_rejected(&f, "PICKUP_IN_STORE");
    f.rx.nominated_pharmacy_id = "ph-1";
    char why[256];
    rx_approved *rx = roundtrip(&f, why);
    assert_non_null(rx);
    rx_approved_free(rx);
}

static void test_unroutable_reasons(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.item.special_management = 1;
    char why[256];
    rx_approved *rx = roundtrip(&f, why);
    assert_non_null(rx);
    assert_string_equal(rx_unroutable_reason(rx, 0), "special_management_item");
    rx_approved_free(rx);
    fixture_init(&f);
    f.rx.expires_at_ms = 1000;
    rx = roundtrip(&f, why);
    assert_string_equal(rx_unroutable_reason(rx, 2000), "expired");
    assert_null(rx_unroutable_reason(rx, 500));
    rx_approved_free(rx);
}

static void test_utf8_rules(void **state)
{
    (void)state;
    assert_true(rx_text_valid("Straße 1", strlen("Straße 1")));
    assert_true(rx_text_valid("", 0));
    assert_false(rx_text_valid("\xc0\xaf", 2));     /* overlong */
    assert_false(rx_text_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(rx_text_valid("\xe2\x82", 2));     /* truncated */
    assert_false(rx_text_valid("a\x01"
                               "b",
                               3));                    /* control */
    assert_true(rx_text_valid("\xf0\x9f\x92\x8a", 4)); /* pill emoji */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_prescription_decodes),
        cmocka_unit_test(test_garbage_is_rejected),
        cmocka_unit_test(test_missing_fields_are_rejected),
        cmocka_unit_test(test_bad_values_are_rejected),
        cmocka_unit_test(test_too_many_items_rejected),
        cmocka_unit_test(test_pickup_needs_point_or_nominated),
        cmocka_unit_test(test_unroutable_reasons),
        cmocka_unit_test(test_utf8_rules),
        cmocka_unit_test(test_id_rule_per_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
