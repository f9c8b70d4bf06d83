/* auth.h - bearer tokens: who holds them and until when, signed with
 * HMAC-SHA256 under a secret the services share.
 *
 * Format: "rxd1." base64url("<role>:<id>:<exp_unix_s>") "." base64url(mac)
 * where mac = HMAC-SHA256(secret, the decoded payload). Pure functions: no
 * I/O, no clock (the caller passes now). */
#ifndef RXD_AUTH_H
#define RXD_AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef enum { AUTH_OPERATOR = 0, AUTH_PHARMACY = 1, AUTH_COURIER = 2 } auth_role;

#define AUTH_ID_MAX 64
/* Expiry in unix seconds: 0 .. 10^18-1 (at most 18 digits in the payload). */
#define AUTH_EXP_MAX 999999999999999999LL
#define AUTH_EXP_DIGITS 18

typedef struct auth_claims {
    auth_role role;
    char id[AUTH_ID_MAX + 1];
    int64_t exp_s;
} auth_claims;

int auth_role_parse(const char *s, auth_role *out);
const char *auth_role_name(auth_role role);

/* Writes a NUL-terminated token to out. Returns its length or -1 (bad id,
 * exp_s outside 0..AUTH_EXP_MAX, or out too small). */
int auth_token_make(const char *secret, auth_role role, const char *id, int64_t exp_s, char *out,
                    size_t outlen);
/* Returns 0 and fills claims, or -1 with *why set to a static reason
 * ("malformed token", "bad signature", "token expired"). */
int auth_token_verify(const char *secret, const char *token, size_t len, int64_t now_s,
                      auth_claims *claims, const char **why);

#endif
