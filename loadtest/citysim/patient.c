/* patient.c - handover codes learnt from patient.notify. Codes of every run
 * sharing the stack are kept: a courier of this run may carry an order of
 * another run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "kafka.h"
#include "patient.h"
#include "rxjson.h"

struct patient {
    kafka_consumer *kc;
    dict *codes; /* order_id -> malloc'd code */
    long notices;
};

static void patient_on_notice(kafka_msg *m, void *ctx)
{
    patient *p = ctx;
    json_t *j = rxjson_decode_notice(m->value, m->value_len);
    const char *oid = json_string_value(json_object_get(j, "order_id"));
    const char *code = json_string_value(json_object_get(j, "handover_code"));
    p->notices++;
    if (oid && code && *code) {
        char *copy = strdup(code);
        if (copy)
            dict_set(p->codes, oid, copy);
    }
    json_decref(j);
    kafka_consumer_done(p->kc, m);
}

patient *patient_new(struct event_base *base, const config *cfg, const char *run_id,
                     const char *topic, char *err, size_t errlen)
{
    patient *p = calloc(1, sizeof(*p));
    char group[128];
    const char *topics[] = {topic, NULL};
    if (!p || !(p->codes = dict_new(free))) {
        snprintf(err, errlen, "out of memory for the patients' code table");
        free(p);
        return NULL;
    }
    snprintf(group, sizeof(group), "citysim-%s-patients", run_id);
    p->kc = kafka_consumer_new(base, cfg, group, topics, patient_on_notice, p, err, errlen);
    if (!p->kc) {
        patient_free(p);
        return NULL;
    }
    return p;
}

void patient_free(patient *p)
{
    if (!p)
        return;
    kafka_consumer_free(p->kc);
    dict_free(p->codes);
    free(p);
}

const char *patient_code(const patient *p, const char *order_id)
{
    return dict_get(p->codes, order_id);
}

long patient_notices(const patient *p)
{
    return p->notices;
}
