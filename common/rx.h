/* rx.h - decoding and validating an rx.approved message (SPEC section 2).
 *
 * Pure: bytes in, a decoded prescription or a reason out. A message that
 * fails here goes to the dead-letter topic; a valid one that cannot be served
 * (special-management item, expired) is reported by rx_unroutable_reason. */
#ifndef RXD_RX_H
#define RXD_RX_H

#include <stddef.h>
#include <stdint.h>

#include "rxdispatch.pb-c.h"

typedef Rxdispatch__V1__PrescriptionApproved rx_approved;
typedef Rxdispatch__V1__PrescriptionCancelled rx_cancelled;

#define RX_ITEMS_MAX 100
#define RX_QUANTITY_MAX 1000

/* Returns the decoded message (free with rx_approved_free) or NULL with a
 * reason in why. */
rx_approved *rx_approved_decode(const void *buf, size_t len, char *why, size_t whylen);
void rx_approved_free(rx_approved *rx);

rx_cancelled *rx_cancelled_decode(const void *buf, size_t len, char *why, size_t whylen);
void rx_cancelled_free(rx_cancelled *rc);

/* "special_management_item", "expired", or NULL when it may be routed. */
const char *rx_unroutable_reason(const rx_approved *rx, int64_t now_ms);
/* 1 if any item needs the cold chain. */
int rx_needs_cold_chain(const rx_approved *rx);
/* 1 when s[0..len) is well-formed UTF-8 without control characters other
 * than tab and newline. */
int rx_text_valid(const char *s, size_t len);

#endif
