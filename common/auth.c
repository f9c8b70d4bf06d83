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
#define AUTH_PREFIX_KID "rxd2."
#define AUTH_PAYLOAD_MAX 128
#define AUTH_LEGACY_KID "0" /* the plain secret's key: tokens in the rxd1 form */

typedef struct auth_key {
    char kid[AUTH_KID_MAX + 1];
    const char *secret; /* points into the setting, not NUL-terminated */
    size_t len;
} auth_key;

static const char *auth_role_names[AUTH_ROLES] = {"operator", "pharmacy", "courier", "desk",
                                                  "auditor"};

int auth_role_parse(const char *s, auth_role *out)
{
    for (int i = 0; i < AUTH_ROLES; i++) {
        if (s && strcmp(s, auth_role_names[i]) == 0) {
            *out = (auth_role)i;
            return 0;
        }
    }
    return -1;
}

const char *auth_role_name(auth_role role)
{
    return (unsigned)role < AUTH_ROLES ? auth_role_names[role] : "unknown";
}

/* Per role, the permissions it holds (bit per auth_perm). */
#define AUTH_BIT(p) (1u << (p))
static const unsigned auth_role_perms[AUTH_ROLES] = {
    [AUTH_OPERATOR] = AUTH_BIT(AUTH_PERM_READ) | AUTH_BIT(AUTH_PERM_ORDER_ACT) |
                      AUTH_BIT(AUTH_PERM_COURIER_ACT) | AUTH_BIT(AUTH_PERM_CONFIG),
    [AUTH_DESK] =
        AUTH_BIT(AUTH_PERM_READ) | AUTH_BIT(AUTH_PERM_ORDER_ACT) | AUTH_BIT(AUTH_PERM_COURIER_ACT),
    [AUTH_AUDITOR] = AUTH_BIT(AUTH_PERM_READ),
    [AUTH_PHARMACY] = 0,
    [AUTH_COURIER] = 0,
};

static const char *auth_perm_names[] = {"read", "order actions", "courier actions",
                                        "configuration"};

int auth_may(auth_role role, auth_perm perm)
{
    if ((unsigned)role >= AUTH_ROLES || (unsigned)perm > AUTH_PERM_CONFIG)
        return 0;
    return (auth_role_perms[role] & AUTH_BIT(perm)) != 0;
}

const char *auth_perm_name(auth_perm perm)
{
    return (unsigned)perm <= AUTH_PERM_CONFIG ? auth_perm_names[perm] : "unknown";
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

static int auth_kid_valid(const char *s, size_t len)
{
    if (len == 0 || len > AUTH_KID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

/* 1 when the setting is a key ring: a kid, then ':'. */
static int auth_is_ring(const char *secrets)
{
    const char *colon = strchr(secrets, ':');
    return colon && auth_kid_valid(secrets, (size_t)(colon - secrets));
}

/* Splits the setting into keys (no copies: they point into it). Returns
 * the count, or -1 with err naming the bad entry. */
static int auth_keys_parse(const char *secrets, auth_key *keys, char *err, size_t errlen)
{
    if (!secrets || !*secrets) {
        snprintf(err, errlen, "the token secret is empty");
        return -1;
    }
    if (!auth_is_ring(secrets)) {
        snprintf(keys[0].kid, sizeof(keys[0].kid), "%s", AUTH_LEGACY_KID);
        keys[0].secret = secrets;
        keys[0].len = strlen(secrets);
        return 1;
    }
    int n = 0;
    for (const char *p = secrets;; n++) {
        const char *end = p + strcspn(p, ",");
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (n == AUTH_KEYS_MAX) {
            snprintf(err, errlen, "the token key ring holds more than %d keys", AUTH_KEYS_MAX);
            return -1;
        }
        if (!colon || !auth_kid_valid(p, (size_t)(colon - p))) {
            snprintf(err, errlen,
                     "token key %d: expected kid:secret with a kid of 1-%d chars of "
                     "[A-Za-z0-9_-]",
                     n + 1, AUTH_KID_MAX);
            return -1;
        }
        memcpy(keys[n].kid, p, (size_t)(colon - p));
        keys[n].kid[colon - p] = '\0';
        keys[n].secret = colon + 1;
        keys[n].len = (size_t)(end - colon - 1);
        if (keys[n].len < AUTH_SECRET_MIN) {
            snprintf(err, errlen, "token key %s: the secret needs %d or more characters",
                     keys[n].kid, AUTH_SECRET_MIN);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            if (strcmp(keys[i].kid, keys[n].kid) == 0) {
                snprintf(err, errlen, "token key id %s is given twice", keys[n].kid);
                return -1;
            }
        }
        if (!*end)
            return n + 1;
        p = end + 1;
    }
}

int auth_keys_check(const char *secrets, char *err, size_t errlen)
{
    auth_key keys[AUTH_KEYS_MAX];
    return auth_keys_parse(secrets, keys, err, errlen);
}

/* HMAC-SHA256 over [kid "."] payload: the kid is signed with the payload,
 * so a token cannot be moved to another key's name. 0, or -1 on failure. */
static int auth_mac(const auth_key *key, const unsigned char *payload, size_t len,
                    unsigned char *mac)
{
    unsigned char msg[AUTH_KID_MAX + 1 + AUTH_PAYLOAD_MAX];
    unsigned int maclen = 32;
    size_t n = 0;
    if (strcmp(key->kid, AUTH_LEGACY_KID) != 0) {
        n = strlen(key->kid);
        memcpy(msg, key->kid, n);
        msg[n++] = '.';
    }
    if (len > AUTH_PAYLOAD_MAX)
        return -1;
    memcpy(msg + n, payload, len);
    return HMAC(EVP_sha256(), key->secret, (int)key->len, msg, n + len, mac, &maclen) ? 0 : -1;
}

int auth_token_make(const char *secret, auth_role role, const char *id, int64_t exp_s, char *out,
                    size_t outlen)
{
    auth_key keys[AUTH_KEYS_MAX];
    char err[128];
    /* the holder's id names its keys ("co:<id>"): the key rule, so a token
     * can never be made for an id that reaches another key */
    if (!ids_valid_key(id, strlen(id)) || (unsigned)role >= AUTH_ROLES || exp_s < 0 ||
        exp_s > AUTH_EXP_MAX || auth_keys_parse(secret, keys, err, sizeof(err)) < 1)
        return -1;
    const auth_key *key = &keys[0]; /* the first key signs */
    int legacy = strcmp(key->kid, AUTH_LEGACY_KID) == 0;
    char payload[AUTH_PAYLOAD_MAX];
    int plen = snprintf(payload, sizeof(payload), "%s:%s:%lld", auth_role_name(role), id,
                        (long long)exp_s);
    unsigned char mac[32];
    if (auth_mac(key, (unsigned char *)payload, (size_t)plen, mac))
        return -1;
    size_t kidlen = legacy ? 0 : strlen(key->kid) + 1;
    size_t need = strlen(AUTH_PREFIX) + kidlen + ((size_t)plen * 4 + 2) / 3 + 1 + 43 + 1;
    if (outlen < need)
        return -1;
    size_t o = strlen(AUTH_PREFIX);
    memcpy(out, legacy ? AUTH_PREFIX : AUTH_PREFIX_KID, o);
    if (!legacy) {
        memcpy(out + o, key->kid, kidlen - 1);
        o += kidlen - 1;
        out[o++] = '.';
    }
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

/* The key a token names: "rxd1." is key 0, "rxd2.<kid>." any other.
 * Returns the rest of the token (payload "." mac) or NULL. */
static const char *auth_token_key(const char *token, size_t len, char *kid, size_t *rest)
{
    size_t plen = strlen(AUTH_PREFIX);
    if (!token || len <= plen || len > 512)
        return NULL;
    if (memcmp(token, AUTH_PREFIX, plen) == 0) {
        snprintf(kid, AUTH_KID_MAX + 1, "%s", AUTH_LEGACY_KID);
        *rest = len - plen;
        return token + plen;
    }
    if (memcmp(token, AUTH_PREFIX_KID, plen) != 0)
        return NULL;
    const char *k = token + plen, *dot = memchr(k, '.', len - plen);
    size_t klen = dot ? (size_t)(dot - k) : 0;
    /* key 0 has one form only (rxd1) */
    if (!auth_kid_valid(k, klen) || (klen == 1 && k[0] == AUTH_LEGACY_KID[0]))
        return NULL;
    memcpy(kid, k, klen);
    kid[klen] = '\0';
    *rest = len - (size_t)(dot + 1 - token);
    return dot + 1;
}

int auth_token_verify(const char *secret, const char *token, size_t len, int64_t now_s,
                      auth_claims *claims, const char **why)
{
    auth_key keys[AUTH_KEYS_MAX];
    char kid[AUTH_KID_MAX + 1], err[128];
    size_t blen;
    *why = "malformed token";
    const char *body = auth_token_key(token, len, kid, &blen);
    if (!body)
        return -1;
    const char *dot = memchr(body, '.', blen);
    if (!dot)
        return -1;
    unsigned char payload[AUTH_PAYLOAD_MAX], mac[40], want[32];
    int pn = auth_b64url_decode(body, (size_t)(dot - body), payload, sizeof(payload));
    int mn = auth_b64url_decode(dot + 1, blen - (size_t)(dot + 1 - body), mac, sizeof(mac));
    if (pn <= 0 || mn != 32)
        return -1;
    int n = auth_keys_parse(secret, keys, err, sizeof(err)), k = 0;
    if (n < 1) {
        *why = "token keys misconfigured";
        return -1;
    }
    while (k < n && strcmp(keys[k].kid, kid) != 0)
        k++;
    if (k == n) { /* the kid is public: looking it up leaks nothing */
        *why = "unknown key id";
        return -1;
    }
    if (auth_mac(&keys[k], payload, (size_t)pn, want) || CRYPTO_memcmp(mac, want, 32) != 0) {
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
