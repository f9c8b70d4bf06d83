/* ids.h - the identifier rules, in one table (ids.c): which characters and
 * lengths an id of each kind may have.
 *
 * Key ids name Redis keys and channels of their own ("ph:<id>", "co:<id>",
 * "ord:<id>", "notify:ph:<id>"): pharmacies, couriers, orders, token holders,
 * nominated pharmacies, hospitals. They are 1-64 chars of [A-Za-z0-9._-]:
 * no ':', the separator of key names, so no id can reach into another kind
 * of key ("c1:orders" would name courier c1's order set, "geo" cannot name
 * an index since indexes live under "idx:"). See docs/security.md.
 *
 * Reference ids are the upstream's own: prescription ids (SPEC section 2
 * fixes their charset, ':' included) and drug codes. They only ever end a
 * key under a type segment no other key starts with ("rx:<pid>") or are a
 * hash field, so a ':' in them cannot name another key. */
#ifndef RXD_IDS_H
#define RXD_IDS_H

#include <stddef.h>

#define IDS_MAX 64

/* The message that says what a key id must be (for replies and logs). */
#define IDS_KEY_RULE "1-64 chars of [A-Za-z0-9._-]"
#define IDS_REF_RULE "1-64 chars of [A-Za-z0-9._:-]"

/* 1 when s[0..len) is a valid reference id (SPEC's prescription_id rule). */
int ids_valid(const char *s, size_t len);
/* 1 when s[0..len) is a valid key id (the reference rule without ':'). */
int ids_valid_key(const char *s, size_t len);

#endif
