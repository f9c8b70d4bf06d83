/* ids.h - the identifier rule shared by prescriptions, pharmacies, couriers
 * and orders: 1-64 characters of [A-Za-z0-9._:-]. */
#ifndef RXD_IDS_H
#define RXD_IDS_H

#include <stddef.h>

#define IDS_MAX 64

/* 1 when s[0..len) is a valid id. */
int ids_valid(const char *s, size_t len);

#endif
