/* auth.h - bearer tokens: who holds them and until when, signed with
 * HMAC-SHA256 under secrets the services share, each named by a key id
 * (kid) so that two secrets can be valid while one replaces the other.
 *
 * The secrets setting (RXD_TOKEN_SECRET) is either
 *   - one secret, as before: it is key "0", or
 *   - a key ring "kid:secret[,kid:secret...]" (kid: 1-16 chars of
 *     [A-Za-z0-9_-]; secret: 16+ chars, no ','): the first key signs, every
 *     key verifies. A value is a ring when it starts with a kid and ':';
 *     plain secrets never do when they are hex (openssl rand -hex 32).
 *
 * Formats: key "0" (the plain secret, as ever):
 *   "rxd1." base64url(payload) "." base64url(HMAC(secret, payload))
 * any other key:
 *   "rxd2." kid "." base64url(payload) "." base64url(HMAC(secret, kid "." payload))
 * where payload = "<role>:<id>:<exp_unix_s>". Pure functions: no I/O, no
 * clock (the caller passes now). */
#ifndef RXD_AUTH_H
#define RXD_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* Appended only: a role is its name in the payload, the number is ours. */
typedef enum {
    AUTH_OPERATOR = 0,
    AUTH_PHARMACY = 1,
    AUTH_COURIER = 2,
    AUTH_DESK = 3,    /* the service desk: reads, order and courier actions */
    AUTH_AUDITOR = 4, /* reads only */
} auth_role;
#define AUTH_ROLES 5

/* What a staff token may do on the operator API (docs/operator-api.md):
 * operator everything; desk reads, order actions and courier actions but
 * no configuration; auditor reads. Pharmacy and courier tokens: nothing. */
typedef enum {
    AUTH_PERM_READ = 0,
    AUTH_PERM_ORDER_ACT,   /* cancel, reassign, reroute, resend code, unlock */
    AUTH_PERM_COURIER_ACT, /* bench, unbench */
    AUTH_PERM_CONFIG,      /* pharmacies open/close/registration, zones */
} auth_perm;

/* 1 when role holds perm. */
int auth_may(auth_role role, auth_perm perm);
const char *auth_perm_name(auth_perm perm);

#define AUTH_ID_MAX 64
/* Expiry in unix seconds: 0 .. 10^18-1 (at most 18 digits in the payload). */
#define AUTH_EXP_MAX 999999999999999999LL
#define AUTH_EXP_DIGITS 18
#define AUTH_KID_MAX 16
#define AUTH_KEYS_MAX 8    /* keys in a ring */
#define AUTH_SECRET_MIN 16 /* bytes of a ring's secret */

typedef struct auth_claims {
    auth_role role;
    char id[AUTH_ID_MAX + 1];
    int64_t exp_s;
} auth_claims;

int auth_role_parse(const char *s, auth_role *out);
const char *auth_role_name(auth_role role);

/* Checks a secrets setting: returns how many keys it holds (1 for a plain
 * secret), or -1 with err naming the bad entry (never a secret). */
int auth_keys_check(const char *secrets, char *err, size_t errlen);

/* Writes a NUL-terminated token signed with the first key to out. Returns
 * its length or -1 (bad id, exp_s outside 0..AUTH_EXP_MAX, a malformed key
 * ring, or out too small). */
int auth_token_make(const char *secret, auth_role role, const char *id, int64_t exp_s, char *out,
                    size_t outlen);
/* Returns 0 and fills claims, or -1 with *why set to a static reason
 * ("malformed token", "unknown key id", "bad signature", "token expired").
 * The MAC is compared in constant time; the kid is public. */
int auth_token_verify(const char *secret, const char *token, size_t len, int64_t now_s,
                      auth_claims *claims, const char **why);

#endif
