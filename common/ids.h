/* ids.h - the identifier rule shared by prescriptions, pharmacies, couriers
 * and orders: 1-64 characters of [A-Za-z0-9._:-]. */
#ifndef RXD_IDS_H
#define RXD_IDS_H

#include <stddef.h>

#define IDS_MAX 64

/* 1 when s[0..len) is a valid id. */
int ids_valid(const char *s, size_t len);
/* A valid id without ':', the separator of Redis key names: what a path
 * segment naming a pharmacy, a courier or an order must be, so that no id can
 * reach another's keys ("c1:orders" would name courier c1's order set). */
int ids_valid_key(const char *s, size_t len);

#endif
