/* patient.h - the simulated patients: they read patient.notify (as the
 * patient-notification system would hand it to them) and remember the
 * handover code of each order, which the courier asks for at the door. */
#ifndef CITYSIM_PATIENT_H
#define CITYSIM_PATIENT_H

#include <event2/event.h>

#include "config.h"

typedef struct patient patient;

/* Joins a fresh consumer group on topic (from the start of the topic). */
patient *patient_new(struct event_base *base, const config *cfg, const char *run_id,
                     const char *topic, char *err, size_t errlen);
void patient_free(patient *p);

/* The code the patient of order_id was given, or NULL if not (yet) known. */
const char *patient_code(const patient *p, const char *order_id);
/* Notices read so far. */
long patient_notices(const patient *p);

#endif
