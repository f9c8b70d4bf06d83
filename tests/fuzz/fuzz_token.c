/* fuzz_token.c - bearer tokens (SPEC section 6, common/auth.h).
 *
 * 1. auth_token_verify on the input as a token, with the fixed secret and
 *    clock the seed tokens in corpus/fuzz_token were made with.
 * 2. Round trip: the input (or, for inputs of 9+ bytes, the bytes after an
 *    8-byte little-endian exp) as an id; when ids_valid_key accepts it, a token
 *    from auth_token_make must verify to the same role, id and exp, be
 *    refused once expired, under another secret, and when altered.
 * 3. The input as the signed payload ("<role>:<id>:<exp>"), signed here with
 *    the fixed secret, so that the parser behind the MAC check is reached
 *    with arbitrary bytes: what it accepts must be a valid role/id/exp.
 * 4. Key rings (auth.h): every token above is also made under a ring whose
 *    first key is named, and must verify under the ring, under the ring
 *    with another key first (a rotation), never under a ring without its
 *    key ("unknown key id"), and the input itself as a ring setting must
 *    either be refused by auth_keys_check or sign tokens it verifies. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth.h"
#include "fuzz_common.h"
#include "ids.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_reasons[] = {"malformed token", "unknown key id", "bad signature",
                                           "token expired", "token keys misconfigured"};

#define FUZZ_RING "k1:" FUZZ_SECRET ",0:rxd-fuzz-old-secret-0123456789"
#define FUZZ_RING_ROTATED "k2:rxd-fuzz-next-secret-0123456789," FUZZ_RING
#define FUZZ_RING_WITHOUT_K1 "k2:rxd-fuzz-next-secret-0123456789,0:rxd-fuzz-old-secret-0123456789"

static int known_reason(const char *why)
{
    for (size_t i = 0; i < sizeof(fuzz_reasons) / sizeof(fuzz_reasons[0]); i++)
        if (why && strcmp(why, fuzz_reasons[i]) == 0)
            return 1;
    return 0;
}

static void verify_any(const char *secret, const char *tok, size_t len, int64_t now)
{
    auth_claims c;
    const char *why = "unset";
    int rc = auth_token_verify(secret, tok, len, now, &c, &why);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(why == NULL);
        FUZZ_CHECK(c.role < AUTH_ROLES);
        FUZZ_CHECK(ids_valid_key(c.id, strnlen(c.id, sizeof(c.id))));
        FUZZ_CHECK(c.exp_s > now);
    } else {
        FUZZ_CHECK(known_reason(why));
    }
}

/* make -> verify for one role/id/exp. */
static void round_trip(auth_role role, const char *id, int64_t exp)
{
    char tok[512];
    int n = auth_token_make(FUZZ_SECRET, role, id, exp, tok, sizeof(tok));
    if (exp < 0 || exp > AUTH_EXP_MAX) {
        /* outside the range a token can carry: never signed */
        FUZZ_CHECK(n == -1);
        return;
    }
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof(tok) && strlen(tok) == (size_t)n);

    auth_claims c;
    const char *why = "unset";
    int rc = auth_token_verify(FUZZ_SECRET, tok, (size_t)n, FUZZ_NOW_S, &c, &why);
    if (exp > FUZZ_NOW_S) {
        if (rc != 0)
            fprintf(stderr, "token for id '%s' exp %lld refused: %s\n", id, (long long)exp,
                    why ? why : "(null)");
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(c.role == role);
        FUZZ_CHECK(strcmp(c.id, id) == 0);
        FUZZ_CHECK(c.exp_s == exp);
    } else {
        FUZZ_CHECK(rc == -1);
        /* exp >= 0 is a well-formed but expired token. */
        if (exp >= 0)
            FUZZ_CHECK(why && strcmp(why, "token expired") == 0);
    }

    /* Another secret: never accepted. */
    rc = auth_token_verify("another-secret", tok, (size_t)n, FUZZ_NOW_S, &c, &why);
    FUZZ_CHECK(rc == -1);

    /* The same claims under a ring (key k1): valid during a rotation,
     * refused once k1 is gone, never under the plain secret. */
    char ktok[512];
    int kn = auth_token_make(FUZZ_RING, role, id, exp, ktok, sizeof(ktok));
    FUZZ_CHECK(kn > 0 && memcmp(ktok, "rxd2.k1.", 8) == 0);
    rc = auth_token_verify(FUZZ_RING_ROTATED, ktok, (size_t)kn, FUZZ_NOW_S, &c, &why);
    FUZZ_CHECK(exp > FUZZ_NOW_S ? rc == 0 && c.role == role && strcmp(c.id, id) == 0 : rc == -1);
    rc = auth_token_verify(FUZZ_RING_WITHOUT_K1, ktok, (size_t)kn, FUZZ_NOW_S, &c, &why);
    FUZZ_CHECK(rc == -1 && strcmp(why, "unknown key id") == 0);
    rc = auth_token_verify(FUZZ_SECRET, ktok, (size_t)kn, FUZZ_NOW_S, &c, &why);
    FUZZ_CHECK(rc == -1);

    /* Any one character changed, or the token cut short: never accepted. */
    size_t pos = (size_t)(exp & 0x7fffffff) % (size_t)n;
    char saved = tok[pos];
    tok[pos] = saved == 'A' ? 'B' : 'A';
    rc = auth_token_verify(FUZZ_SECRET, tok, (size_t)n, FUZZ_NOW_S, &c, &why);
    FUZZ_CHECK(rc == -1);
    tok[pos] = saved;
    rc = auth_token_verify(FUZZ_SECRET, tok, (size_t)n - 1, FUZZ_NOW_S, &c, &why);
    FUZZ_CHECK(rc == -1);
}

static void round_trips(const char *id, size_t len, int64_t exp)
{
    char idbuf[AUTH_ID_MAX + 1];
    int valid = ids_valid_key(id, len);
    char tok[512];
    if (len > AUTH_ID_MAX) {
        FUZZ_CHECK(!valid);
        return;
    }
    memcpy(idbuf, id, len);
    idbuf[len] = '\0';
    if (!valid) {
        /* make refuses what ids_valid_key refuses (as far as a C string shows it). */
        if (!ids_valid_key(idbuf, strlen(idbuf)))
            FUZZ_CHECK(auth_token_make(FUZZ_SECRET, AUTH_COURIER, idbuf, exp, tok, sizeof(tok)) ==
                       -1);
        return;
    }
    for (int r = AUTH_OPERATOR; r < AUTH_ROLES; r++)
        round_trip((auth_role)r, idbuf, exp);
    /* Not a role. */
    FUZZ_CHECK(auth_token_make(FUZZ_SECRET, (auth_role)AUTH_ROLES, idbuf, exp, tok, sizeof(tok)) ==
               -1);
    /* Too small an output buffer is refused, not overrun. */
    char small[16];
    FUZZ_CHECK(auth_token_make(FUZZ_SECRET, AUTH_COURIER, idbuf, exp, small, sizeof(small)) == -1);
}

static size_t b64url(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = tab[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = tab[v & 63];
    }
    return o;
}

static void signed_payload(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 128)
        return;
    unsigned char mac[32];
    unsigned int maclen = sizeof(mac);
    FUZZ_CHECK(HMAC(EVP_sha256(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET), data, size, mac,
                    &maclen) != NULL);
    char tok[512];
    size_t o = 5;
    memcpy(tok, "rxd1.", 5);
    o += b64url(data, size, tok + o);
    tok[o++] = '.';
    o += b64url(mac, sizeof(mac), tok + o);
    verify_any(FUZZ_SECRET, tok, o, FUZZ_NOW_S);

    auth_claims c;
    const char *why;
    if (auth_token_verify(FUZZ_SECRET, tok, o, 0, &c, &why) == 0) {
        /* What was accepted is what make would sign for the same claims. */
        char again[512];
        int n = auth_token_make(FUZZ_SECRET, c.role, c.id, c.exp_s, again, sizeof(again));
        FUZZ_CHECK(n > 0);
        auth_claims c2;
        FUZZ_CHECK(auth_token_verify(FUZZ_SECRET, again, (size_t)n, 0, &c2, &why) == 0);
        FUZZ_CHECK(c2.role == c.role && strcmp(c2.id, c.id) == 0 && c2.exp_s == c.exp_s);
    }
}

/* The input as a secrets setting: refused, or a working key ring. */
static void as_setting(const uint8_t *data, size_t size)
{
    char setting[300], err[160], tok[512];
    if (size >= sizeof(setting))
        return;
    memcpy(setting, data, size);
    setting[size] = '\0';
    int n = auth_keys_check(setting, err, sizeof(err));
    FUZZ_CHECK(n == -1 || (n >= 1 && n <= AUTH_KEYS_MAX));
    int made = auth_token_make(setting, AUTH_COURIER, "c-1", FUZZ_NOW_S + 60, tok, sizeof(tok));
    FUZZ_CHECK(n == -1 ? made == -1 : made > 0);
    if (made > 0)
        verify_any(setting, tok, (size_t)made, FUZZ_NOW_S);
    if (made > 0) {
        auth_claims c;
        const char *why;
        FUZZ_CHECK(auth_token_verify(setting, tok, (size_t)made, FUZZ_NOW_S, &c, &why) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;

    verify_any(FUZZ_SECRET, s, size, FUZZ_NOW_S);
    verify_any(FUZZ_RING_ROTATED, s, size, FUZZ_NOW_S);
    as_setting(data, size);
    verify_any("", s, size, 0);
    signed_payload(data, size);

    /* The whole input as an id, with a fixed future and a past expiry. */
    round_trips(s, size, FUZZ_NOW_S + 3600);
    round_trips(s, size, FUZZ_NOW_S - 1);

    /* An expiry from the input: the first 8 bytes, little-endian. */
    if (size >= 9) {
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--)
            u = (u << 8) | data[i];
        int64_t exp;
        memcpy(&exp, &u, sizeof(exp));
        round_trips(s + 8, size - 8, exp);
    }
    return 0;
}
