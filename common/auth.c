/* auth.c - HMAC-SHA256 bearer tokens (see auth.h). */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"

#define AUTH_PREFIX "rxd1."
#define AUTH_PAYLOAD_MAX 128

static const char *auth_role_names[] = {"operator", "pharmacy", "courier"};

int auth_role_parse(const char *s, auth_role *out)
{
    for (int i = 0; i < 3; i++) {
        if (s && strcmp(s, auth_role_names[i]) == 0) {
            *out = (auth_role)i;
            return 0;
        }
    }
    return -1;
}

const char *auth_role_name(auth_role role)
{
    return role <= AUTH_COURIER ? auth_role_names[role] : "unknown";
}

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t auth_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64url_chars[(v >> 18) & 63];
        out[o++] = b64url_chars[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64url_chars[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64url_chars[v & 63];
    }
    return o;
}

static int auth_b64url_value(char c)
{
    const char *p = c ? strchr(b64url_chars, c) : NULL;
    return p ? (int)(p - b64url_chars) : -1;
}

/* Returns decoded length or -1; rejects non-canonical trailing bits. */
static int auth_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outmax)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = auth_b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outmax)
                return -1;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    if (bits && (acc & ((1u << bits) - 1)))
        return -1;
    return (int)o;
}

static void auth_mac(const char *secret, const unsigned char *msg, size_t len, unsigned char *mac)
{
    unsigned int maclen = 32;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, len, mac, &maclen);
}

int auth_token_make(const char *secret, auth_role role, const char *id, int64_t exp_s, char *out,
                    size_t outlen)
{
    /* the holder's id names its keys ("co:<id>"): the key rule, so a token
     * can never be made for an id that reaches another key */
    if (!ids_valid_key(id, strlen(id)) || role > AUTH_COURIER || exp_s < 0 || exp_s > AUTH_EXP_MAX)
        return -1;
    char payload[AUTH_PAYLOAD_MAX];
    int plen = snprintf(payload, sizeof(payload), "%s:%s:%lld", auth_role_name(role), id,
                        (long long)exp_s);
    unsigned char mac[32];
    auth_mac(secret, (unsigned char *)payload, (size_t)plen, mac);
    size_t need = strlen(AUTH_PREFIX) + ((size_t)plen * 4 + 2) / 3 + 1 + 43 + 1;
    if (outlen < need)
        return -1;
    size_t o = strlen(AUTH_PREFIX);
    memcpy(out, AUTH_PREFIX, o);
    o += auth_b64url_encode((unsigned char *)payload, (size_t)plen, out + o);
    out[o++] = '.';
    o += auth_b64url_encode(mac, 32, out + o);
    out[o] = '\0';
    return (int)o;
}

/* "<role>:<id>:<exp>": role has no ':', exp is digits, so split at the first
 * and the last ':'. A ':' in between (tokens made before ids lost ':') fails
 * the key rule: such a token is refused, never mapped onto another key. */
static int auth_parse_payload(const char *p, size_t n, auth_claims *claims)
{
    const char *first = memchr(p, ':', n);
    const char *last = p + n;
    while (last > p && last[-1] != ':')
        last--;
    if (!first || last - 1 <= first)
        return -1;
    char role[16];
    size_t rlen = (size_t)(first - p);
    if (rlen >= sizeof(role))
        return -1;
    memcpy(role, p, rlen);
    role[rlen] = '\0';
    if (auth_role_parse(role, &claims->role))
        return -1;
    size_t idlen = (size_t)(last - 1 - first - 1);
    if (!ids_valid_key(first + 1, idlen))
        return -1;
    memcpy(claims->id, first + 1, idlen);
    claims->id[idlen] = '\0';
    size_t elen = (size_t)(p + n - last);
    if (elen == 0 || elen > AUTH_EXP_DIGITS)
        return -1;
    int64_t exp = 0;
    for (size_t i = 0; i < elen; i++) {
        if (last[i] < '0' || last[i] > '9')
            return -1;
        exp = exp * 10 + (last[i] - '0');
    }
    claims->exp_s = exp;
    return 0;
}

int auth_token_verify(const char *secret, const char *token, size_t len, int64_t now_s,
                      auth_claims *claims, const char **why)
{
    *why = "malformed token";
    size_t plen = strlen(AUTH_PREFIX);
    if (!token || len <= plen || len > 512 || memcmp(token, AUTH_PREFIX, plen) != 0)
        return -1;
    const char *body = token + plen;
    size_t blen = len - plen;
    const char *dot = memchr(body, '.', blen);
    if (!dot)
        return -1;
    unsigned char payload[AUTH_PAYLOAD_MAX], mac[40], want[32];
    int pn = auth_b64url_decode(body, (size_t)(dot - body), payload, sizeof(payload));
    int mn = auth_b64url_decode(dot + 1, blen - (size_t)(dot + 1 - body), mac, sizeof(mac));
    if (pn <= 0 || mn != 32)
        return -1;
    auth_mac(secret, payload, (size_t)pn, want);
    if (CRYPTO_memcmp(mac, want, 32) != 0) {
        *why = "bad signature";
        return -1;
    }
    if (auth_parse_payload((const char *)payload, (size_t)pn, claims))
        return -1;
    if (claims->exp_s <= now_s) {
        *why = "token expired";
        return -1;
    }
    *why = NULL;
    return 0;
}
