/* rxjson.c - JSON <-> protobuf for the wire messages (see rxjson.h). */
#include "rxjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rxdispatch.pb-c.h"
#include "mem.h"

static int rxjson_fail(char *why, size_t whylen, const char *field, const char *what)
{
    snprintf(why, whylen, "%s: %s", field, what);
    return -1;
}

static int rxjson_string(const json_t *j, const char *name, char **out, char *why, size_t wl)
{
    const json_t *v = json_object_get(j, name);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return rxjson_fail(why, wl, name, "must be a string");
    *out = (char *)json_string_value(v);
    return 0;
}

static int rxjson_int(const json_t *j, const char *name, int64_t *out, char *why, size_t wl)
{
    const json_t *v = json_object_get(j, name);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return rxjson_fail(why, wl, name, "must be an integer");
    *out = json_integer_value(v);
    return 0;
}

static int rxjson_bool(const json_t *j, const char *name, protobuf_c_boolean *out, char *why,
                       size_t wl)
{
    const json_t *v = json_object_get(j, name);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return rxjson_fail(why, wl, name, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

/* An enum given by name ("PICKUP_IN_STORE") or number. */
static int rxjson_enum(const json_t *j, const char *name, const ProtobufCEnumDescriptor *d,
                       int *out, char *why, size_t wl)
{
    const json_t *v = json_object_get(j, name);
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    const ProtobufCEnumValue *ev =
        json_is_string(v) ? protobuf_c_enum_descriptor_get_value_by_name(d, json_string_value(v))
                          : NULL;
    if (!ev)
        return rxjson_fail(why, wl, name, "is not a known value");
    *out = ev->value;
    return 0;
}

static int rxjson_known_fields(const json_t *j, const char *const *names, char *why, size_t wl)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        int known = 0;
        for (const char *const *n = names; *n; n++)
            known |= strcmp(*n, key) == 0;
        if (!known)
            return rxjson_fail(why, wl, key, "unknown field");
    }
    return 0;
}

static const char *const rxjson_item_fields[] = {
    "drug_code", "name", "quantity", "cold_chain", "special_management", NULL};
static const char *const rxjson_rx_fields[] = {
    "prescription_id",       "patient_ref",   "delivery", "delivery_address", "items",
    "nominated_pharmacy_id", "fulfilment",    "priority", "approved_at_ms",   "hospital_id",
    "insurance_covered",     "expires_at_ms", NULL};

static int rxjson_item(const json_t *j, Rxdispatch__V1__Item *it, char *why, size_t wl)
{
    int64_t q = 0;
    if (!json_is_object(j))
        return rxjson_fail(why, wl, "items", "each item must be an object");
    if (rxjson_known_fields(j, rxjson_item_fields, why, wl) ||
        rxjson_string(j, "drug_code", &it->drug_code, why, wl) ||
        rxjson_string(j, "name", &it->name, why, wl) || rxjson_int(j, "quantity", &q, why, wl) ||
        rxjson_bool(j, "cold_chain", &it->cold_chain, why, wl) ||
        rxjson_bool(j, "special_management", &it->special_management, why, wl))
        return -1;
    if (q < 0 || q > UINT32_MAX)
        return rxjson_fail(why, wl, "quantity", "out of range");
    it->quantity = (uint32_t)q;
    return 0;
}

static int rxjson_delivery(const json_t *j, Rxdispatch__V1__GeoPoint *pt, char *why, size_t wl)
{
    const json_t *lat = json_object_get(j, "lat"), *lon = json_object_get(j, "lon");
    if (!json_is_object(j) || !json_is_number(lat) || !json_is_number(lon))
        return rxjson_fail(why, wl, "delivery", "must be {\"lat\": number, \"lon\": number}");
    pt->lat = json_number_value(lat);
    pt->lon = json_number_value(lon);
    return 0;
}

int rxjson_encode_approved(const json_t *j, uint8_t **buf, size_t *len, char *why, size_t wl)
{
    Rxdispatch__V1__PrescriptionApproved rx = RXDISPATCH__V1__PRESCRIPTION_APPROVED__INIT;
    Rxdispatch__V1__GeoPoint pt = RXDISPATCH__V1__GEO_POINT__INIT;
    int fulfil = 0, prio = 0, rc = -1;
    if (!json_is_object(j))
        return rxjson_fail(why, wl, "prescription", "must be a JSON object");
    const json_t *items = json_object_get(j, "items");
    size_t n = json_is_array(items) ? json_array_size(items) : 0;
    Rxdispatch__V1__Item *its = xcalloc(n ? n : 1, sizeof(*its));
    Rxdispatch__V1__Item **ptrs = xcalloc(n ? n : 1, sizeof(*ptrs));
    if (rxjson_known_fields(j, rxjson_rx_fields, why, wl) ||
        rxjson_string(j, "prescription_id", &rx.prescription_id, why, wl) ||
        rxjson_string(j, "patient_ref", &rx.patient_ref, why, wl) ||
        rxjson_string(j, "delivery_address", &rx.delivery_address, why, wl) ||
        rxjson_string(j, "nominated_pharmacy_id", &rx.nominated_pharmacy_id, why, wl) ||
        rxjson_string(j, "hospital_id", &rx.hospital_id, why, wl) ||
        rxjson_int(j, "approved_at_ms", &rx.approved_at_ms, why, wl) ||
        rxjson_int(j, "expires_at_ms", &rx.expires_at_ms, why, wl) ||
        rxjson_bool(j, "insurance_covered", &rx.insurance_covered, why, wl) ||
        rxjson_enum(j, "fulfilment", &rxdispatch__v1__fulfilment__descriptor, &fulfil, why, wl) ||
        rxjson_enum(j, "priority", &rxdispatch__v1__priority__descriptor, &prio, why, wl))
        goto out;
    if (items && !json_is_array(items)) {
        rxjson_fail(why, wl, "items", "must be an array");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rxdispatch__v1__item__init(&its[i]);
        ptrs[i] = &its[i];
        if (rxjson_item(json_array_get(items, i), &its[i], why, wl))
            goto out;
    }
    if (json_object_get(j, "delivery")) {
        if (rxjson_delivery(json_object_get(j, "delivery"), &pt, why, wl))
            goto out;
        rx.delivery = &pt;
    }
    rx.n_items = n;
    rx.items = ptrs;
    rx.fulfilment = (Rxdispatch__V1__Fulfilment)fulfil;
    rx.priority = (Rxdispatch__V1__Priority)prio;
    *len = rxdispatch__v1__prescription_approved__get_packed_size(&rx);
    *buf = xmalloc(*len ? *len : 1);
    rxdispatch__v1__prescription_approved__pack(&rx, *buf);
    rc = 0;
out:
    free(its);
    free(ptrs);
    return rc;
}

int rxjson_encode_cancelled(const json_t *j, uint8_t **buf, size_t *len, char *why, size_t wl)
{
    Rxdispatch__V1__PrescriptionCancelled c = RXDISPATCH__V1__PRESCRIPTION_CANCELLED__INIT;
    static const char *const fields[] = {"prescription_id", "reason", "at_ms", NULL};
    if (!json_is_object(j) || rxjson_known_fields(j, fields, why, wl) ||
        rxjson_string(j, "prescription_id", &c.prescription_id, why, wl) ||
        rxjson_string(j, "reason", &c.reason, why, wl) || rxjson_int(j, "at_ms", &c.at_ms, why, wl))
        return -1;
    *len = rxdispatch__v1__prescription_cancelled__get_packed_size(&c);
    *buf = xmalloc(*len ? *len : 1);
    rxdispatch__v1__prescription_cancelled__pack(&c, *buf);
    return 0;
}

static const char *rxjson_state_name(int state)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&rxdispatch__v1__order_state__descriptor, state);
    return v ? v->name : "UNKNOWN";
}

json_t *rxjson_decode_event(const void *buf, size_t len)
{
    Rxdispatch__V1__OrderEvent *e = rxdispatch__v1__order_event__unpack(NULL, len, buf);
    if (!e)
        return NULL;
    json_t *j = json_pack(
        "{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:i, s:I, s:s}", "order_id",
        e->order_id, "prescription_id", e->prescription_id, "seq", (json_int_t)e->seq, "at_ms",
        (json_int_t)e->at_ms, "state", rxjson_state_name(e->state), "kind", e->kind, "pharmacy_id",
        e->pharmacy_id, "courier_id", e->courier_id, "reason", e->reason, "distance_m",
        (int)e->distance_m, "fulfilment",
        e->fulfilment == RXDISPATCH__V1__FULFILMENT__PICKUP_IN_STORE ? "PICKUP_IN_STORE"
                                                                     : "HOME_DELIVERY",
        "cold_chain", e->cold_chain, "attempt", (int)e->attempt, "deadline_ms",
        (json_int_t)e->deadline_ms, "priority",
        e->priority == RXDISPATCH__V1__PRIORITY__URGENT ? "URGENT" : "NORMAL");
    if (j) {
        json_object_set_new(j, "region", json_string(e->region));
        json_object_set_new(j, "actor", json_string(e->actor));
    }
    if (j && *e->subject_kind) {
        json_object_set_new(j, "subject_kind", json_string(e->subject_kind));
        json_object_set_new(j, "subject_id", json_string(e->subject_id));
    }
    if (j && e->pharmacy_location)
        json_object_set_new(j, "pharmacy_location",
                            json_pack("{s:f, s:f}", "lat", e->pharmacy_location->lat, "lon",
                                      e->pharmacy_location->lon));
    rxdispatch__v1__order_event__free_unpacked(e, NULL);
    return j;
}

json_t *rxjson_decode_notice(const void *buf, size_t len)
{
    Rxdispatch__V1__PatientNotice *n = rxdispatch__v1__patient_notice__unpack(NULL, len, buf);
    if (!n)
        return NULL;
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "order_id", n->order_id,
                  "prescription_id", n->prescription_id, "state", rxjson_state_name(n->state),
                  "patient_ref", n->patient_ref, "handover_code", n->handover_code, "eta_ms",
                  (json_int_t)n->eta_ms, "at_ms", (json_int_t)n->at_ms, "reason", n->reason);
    rxdispatch__v1__patient_notice__free_unpacked(n, NULL);
    return j;
}
