/* rxgen.h - the upstream e-prescription platform: approved prescriptions
 * produced to rx.approved at a steady rate for the run's duration, drawn
 * from the seed (delivery point, items, fulfilment, nomination, insurance,
 * expiry). */
#ifndef CITYSIM_RXGEN_H
#define CITYSIM_RXGEN_H

#include "kafka.h"
#include "sim.h"
#include "track.h"

typedef struct rxgen rxgen;

rxgen *rxgen_new(sim *s, kafka_producer *kp, track *trk);
void rxgen_free(rxgen *g);

/* Starts sending now: rate per second until duration seconds have passed. */
int rxgen_start(rxgen *g);
long rxgen_sent(const rxgen *g);
/* Produces that the broker did not acknowledge. */
long rxgen_failed(const rxgen *g);
/* 1 once every prescription of the run has been queued. */
int rxgen_finished(const rxgen *g);

#endif
