/* rx.c - prescription decode and validation (see rx.h). */
#include "rx.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "geo.h"
#include "ids.h"

#define RX_TEXT_MAX 512

int rx_text_valid(const char *s, size_t len)
{
    static const unsigned min_cp[] = {0, 0x80, 0x800, 0x10000};
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        int n = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 0;
        if (n == 0 || i + (size_t)n > len - 1)
            return 0;
        unsigned cp = c & (0x3fu >> n);
        for (int k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += (size_t)n + 1;
    }
    return 1;
}

static int rx_fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rx_fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

static int rx_check_text(const char *field, const char *s, size_t max, char *why, size_t whylen)
{
    size_t n = strlen(s);
    if (n > max)
        return rx_fail(why, whylen, "%s is longer than %zu bytes", field, max);
    if (!rx_text_valid(s, n))
        return rx_fail(why, whylen, "%s is not valid UTF-8 text", field);
    return 0;
}

static int rx_check_item(const Rxdispatch__V1__Item *it, size_t idx, char *why, size_t whylen)
{
    char field[48];
    if (!ids_valid(it->drug_code, strlen(it->drug_code)))
        return rx_fail(why, whylen, "items[%zu].drug_code must be " IDS_REF_RULE, idx);
    if (it->quantity < 1 || it->quantity > RX_QUANTITY_MAX)
        return rx_fail(why, whylen, "items[%zu].quantity must be 1-%d, got %u", idx,
                       RX_QUANTITY_MAX, it->quantity);
    snprintf(field, sizeof(field), "items[%zu].name", idx);
    return rx_check_text(field, it->name, 256, why, whylen);
}

/* The ids a prescription carries, and the rule each must meet (ids.h): key
 * ids may end up in a Redis key or channel of our own (a nominated pharmacy
 * is looked up as "ph:<id>"), so they never hold ':'. patient_ref is not an
 * id of ours: it is checked as text (rx_check_text) because it only ever is
 * a hash value and a Kafka key, never part of a key name. */
typedef struct rx_id_field {
    const char *name;
    size_t offset; /* of the char * in rx_approved */
    int key;       /* the key rule (no ':'), else the reference rule */
    int required;
} rx_id_field;

static const rx_id_field rx_id_fields[] = {
    {"prescription_id", offsetof(rx_approved, prescription_id), 0, 1},
    {"nominated_pharmacy_id", offsetof(rx_approved, nominated_pharmacy_id), 1, 0},
    {"hospital_id", offsetof(rx_approved, hospital_id), 1, 0},
};

static int rx_check_ids(const rx_approved *rx, char *why, size_t whylen)
{
    for (size_t i = 0; i < sizeof(rx_id_fields) / sizeof(rx_id_fields[0]); i++) {
        const rx_id_field *f = &rx_id_fields[i];
        const char *v = *(char *const *)((const char *)rx + f->offset);
        size_t n = strlen(v);
        if (n == 0 && !f->required)
            continue;
        if (!(f->key ? ids_valid_key(v, n) : ids_valid(v, n)))
            return rx_fail(why, whylen, "%s must be %s%s", f->name,
                           f->key ? IDS_KEY_RULE : IDS_REF_RULE,
                           f->required ? "" : " when given (or empty)");
    }
    return 0;
}

static int rx_validate(const rx_approved *rx, char *why, size_t whylen)
{
    if (rx_check_ids(rx, why, whylen))
        return -1;
    if (rx->fulfilment != RXDISPATCH__V1__FULFILMENT__HOME_DELIVERY &&
        rx->fulfilment != RXDISPATCH__V1__FULFILMENT__PICKUP_IN_STORE)
        return rx_fail(why, whylen, "fulfilment %d is not a known value", (int)rx->fulfilment);
    if (rx->priority != RXDISPATCH__V1__PRIORITY__NORMAL &&
        rx->priority != RXDISPATCH__V1__PRIORITY__URGENT)
        return rx_fail(why, whylen, "priority %d is not a known value", (int)rx->priority);
    if (rx->delivery && !geo_valid(rx->delivery->lat, rx->delivery->lon))
        return rx_fail(why, whylen, "delivery point is out of range (lat -85..85, lon -180..180)");
    if (!rx->delivery && rx->fulfilment == RXDISPATCH__V1__FULFILMENT__HOME_DELIVERY)
        return rx_fail(why, whylen, "delivery point is required for HOME_DELIVERY");
    if (!rx->delivery && !*rx->nominated_pharmacy_id)
        return rx_fail(why, whylen,
                       "PICKUP_IN_STORE needs a delivery point or a nominated pharmacy");
    if (rx->n_items < 1 || rx->n_items > RX_ITEMS_MAX)
        return rx_fail(why, whylen, "items must hold 1-%d entries, got %zu", RX_ITEMS_MAX,
                       rx->n_items);
    for (size_t i = 0; i < rx->n_items; i++)
        if (rx_check_item(rx->items[i], i, why, whylen))
            return -1;
    if (rx_check_text("patient_ref", rx->patient_ref, 128, why, whylen) ||
        rx_check_text("delivery_address", rx->delivery_address, RX_TEXT_MAX, why, whylen))
        return -1;
    if (rx->approved_at_ms < 0 || rx->expires_at_ms < 0)
        return rx_fail(why, whylen, "approved_at_ms and expires_at_ms must not be negative");
    return 0;
}

static int rx_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* protobuf-c ends a string at its first NUL byte, which would hide the rest
 * of the field from every check (and make "a\0junk" the id "a"): so the
 * string fields are looked at in the wire bytes. names[f] names string field
 * f (NULL: not a string); item_field is the field holding Items (0: none).
 * Returns 0, or -1 with the field in why. */
static int rx_check_nul(const uint8_t *p, size_t len, const char *const *names, size_t nnames,
                        unsigned item_field, int item, char *why, size_t whylen)
{
    static const char *const item_names[] = {NULL, "drug_code", "name"};
    if (len == 0)
        return 0;
    const uint8_t *end = p + len;
    int items = 0;
    while (p < end) {
        uint64_t key, n;
        if (rx_varint(&p, end, &key))
            return 0; /* malformed: the decoder has said so already */
        unsigned field = (unsigned)(key >> 3);
        switch (key & 7) {
        case 0:
            if (rx_varint(&p, end, &n))
                return 0;
            break;
        case 1:
        case 5:
            if ((size_t)(end - p) < ((key & 7) == 1 ? 8u : 4u))
                return 0;
            p += (key & 7) == 1 ? 8 : 4;
            break;
        case 2:
            if (rx_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return 0;
            if (item_field && field == item_field) {
                if (rx_check_nul(p, (size_t)n, item_names, 3, 0, items, why, whylen))
                    return -1;
                items++;
            } else if (field < nnames && names[field] && memchr(p, '\0', (size_t)n)) {
                if (item >= 0)
                    return rx_fail(why, whylen, "items[%d].%s has a NUL byte", item, names[field]);
                return rx_fail(why, whylen, "%s has a NUL byte", names[field]);
            }
            p += n;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

static const char *const rx_approved_strings[] = {[1] = "prescription_id",
                                                  [2] = "patient_ref",
                                                  [4] = "delivery_address",
                                                  [6] = "nominated_pharmacy_id",
                                                  [10] = "hospital_id"};

rx_approved *rx_approved_decode(const void *buf, size_t len, char *why, size_t whylen)
{
    rx_approved *rx = rxdispatch__v1__prescription_approved__unpack(NULL, len, buf);
    if (!rx) {
        snprintf(why, whylen, "not a decodable rxdispatch.v1.PrescriptionApproved (%zu bytes)",
                 len);
        return NULL;
    }
    if (rx_check_nul(buf, len, rx_approved_strings, 11, 5, -1, why, whylen) ||
        rx_validate(rx, why, whylen)) {
        rx_approved_free(rx);
        return NULL;
    }
    return rx;
}

void rx_approved_free(rx_approved *rx)
{
    if (rx)
        rxdispatch__v1__prescription_approved__free_unpacked(rx, NULL);
}

rx_cancelled *rx_cancelled_decode(const void *buf, size_t len, char *why, size_t whylen)
{
    rx_cancelled *rc = rxdispatch__v1__prescription_cancelled__unpack(NULL, len, buf);
    if (!rc) {
        snprintf(why, whylen, "not a decodable rxdispatch.v1.PrescriptionCancelled (%zu bytes)",
                 len);
        return NULL;
    }
    static const char *const names[] = {NULL, "prescription_id", "reason"};
    if (rx_check_nul(buf, len, names, 3, 0, -1, why, whylen)) {
        rx_cancelled_free(rc);
        return NULL;
    }
    if (!ids_valid(rc->prescription_id, strlen(rc->prescription_id))) {
        snprintf(why, whylen, "prescription_id must be " IDS_REF_RULE);
        rx_cancelled_free(rc);
        return NULL;
    }
    if (rx_check_text("reason", rc->reason, 256, why, whylen)) {
        rx_cancelled_free(rc);
        return NULL;
    }
    return rc;
}

void rx_cancelled_free(rx_cancelled *rc)
{
    if (rc)
        rxdispatch__v1__prescription_cancelled__free_unpacked(rc, NULL);
}

const char *rx_unroutable_reason(const rx_approved *rx, int64_t now_ms)
{
    for (size_t i = 0; i < rx->n_items; i++)
        if (rx->items[i]->special_management)
            return "special_management_item";
    if (rx->expires_at_ms > 0 && rx->expires_at_ms <= now_ms)
        return "expired";
    return NULL;
}

int rx_needs_cold_chain(const rx_approved *rx)
{
    for (size_t i = 0; i < rx->n_items; i++)
        if (rx->items[i]->cold_chain)
            return 1;
    return 0;
}
