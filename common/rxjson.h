/* rxjson.h - the wire messages written as JSON, for people and test tools:
 * a prescription in JSON (field names as in proto/rxdispatch.proto) encoded
 * to its protobuf bytes, and events decoded back to JSON. */
#ifndef RXD_RXJSON_H
#define RXD_RXJSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Encodes a PrescriptionApproved given as JSON. Unknown fields and wrong
 * types are errors (so a typo never silently drops a field). Returns 0 with
 * *buf malloc'd, or -1 with why. Does not apply the routing rules: use
 * rx_approved_decode on the result for that. */
int rxjson_encode_approved(const json_t *j, uint8_t **buf, size_t *len, char *why, size_t whylen);
int rxjson_encode_cancelled(const json_t *j, uint8_t **buf, size_t *len, char *why, size_t whylen);
/* Decodes an OrderEvent / PatientNotice to JSON, or NULL. */
json_t *rxjson_decode_event(const void *buf, size_t len);
json_t *rxjson_decode_notice(const void *buf, size_t len);

#endif
