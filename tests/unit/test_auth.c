/* Unit tests of bearer tokens (common/auth.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"

#define SECRET "0123456789abcdef-test-secret"

static void test_roundtrip(void **state)
{
    (void)state;
    char tok[512];
    assert_true(auth_token_make(SECRET, AUTH_PHARMACY, "ph-berlin-1", 2000, tok, sizeof(tok)) > 0);
    auth_claims c;
    const char *why;
    assert_int_equal(auth_token_verify(SECRET, tok, strlen(tok), 1000, &c, &why), 0);
    assert_int_equal(c.role, AUTH_PHARMACY);
    assert_string_equal(c.id, "ph-berlin-1");
    assert_int_equal(c.exp_s, 2000);
}

static void test_expired(void **state)
{
    (void)state;
    char tok[512];
    auth_token_make(SECRET, AUTH_COURIER, "c1", 2000, tok, sizeof(tok));
    auth_claims c;
    const char *why;
    assert_int_equal(auth_token_verify(SECRET, tok, strlen(tok), 2000, &c, &why), -1);
    assert_string_equal(why, "token expired");
}

static void test_tampered(void **state)
{
    (void)state;
    char tok[512], other[512];
    auth_claims c;
    const char *why;
    auth_token_make(SECRET, AUTH_COURIER, "c1", 2000, tok, sizeof(tok));
    assert_int_equal(auth_token_verify("another-secret-123456", tok, strlen(tok), 1, &c, &why), -1);
    assert_string_equal(why, "bad signature");
    /* swap in the payload of an operator token, keep the courier signature */
    auth_token_make(SECRET, AUTH_OPERATOR, "c1", 2000, other, sizeof(other));
    char *dot_tok = strrchr(tok, '.'), *dot_other = strrchr(other, '.');
    char forged[1024];
    snprintf(forged, sizeof(forged), "%.*s%s", (int)(dot_other - other), other, dot_tok);
    assert_int_equal(auth_token_verify(SECRET, forged, strlen(forged), 1, &c, &why), -1);
    assert_string_equal(why, "bad signature");
    tok[10] ^= 1;
    assert_int_equal(auth_token_verify(SECRET, tok, strlen(tok), 1, &c, &why), -1);
}

static void test_malformed(void **state)
{
    (void)state;
    auth_claims c;
    const char *why;
    const char *bad[] = {"", "rxd1.", "rxd1..", "Bearer x", "rxd1.!!!.???", "rxd2.abc.def"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(auth_token_verify(SECRET, bad[i], strlen(bad[i]), 1, &c, &why), -1);
        assert_string_equal(why, "malformed token");
    }
}

static void test_bad_ids_refused(void **state)
{
    (void)state;
    char tok[512];
    assert_int_equal(auth_token_make(SECRET, AUTH_COURIER, "has space", 2000, tok, sizeof(tok)),
                     -1);
    assert_int_equal(auth_token_make(SECRET, AUTH_COURIER, "", 2000, tok, sizeof(tok)), -1);
    assert_int_equal(auth_token_make(SECRET, AUTH_COURIER, "c1", 2000, tok, 10), -1);
    /* ':' separates key names: "P:stock" would name pharmacy P's stock */
    assert_int_equal(auth_token_make(SECRET, AUTH_PHARMACY, "P:stock", 2000, tok, sizeof(tok)), -1);
}

static size_t b64url(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = t[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = t[v & 63];
    }
    out[o] = '\0';
    return o;
}

/* A token correctly signed for an id with ':' (made before ids lost ':')
 * is refused when presented, so it cannot act on "ph:P:stock". */
static void test_colon_id_token_refused(void **state)
{
    (void)state;
    const char *payload = "pharmacy:P:stock:2000";
    unsigned char mac[32];
    unsigned int maclen = 32;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)payload, strlen(payload),
         mac, &maclen);
    char tok[512] = "rxd1.";
    size_t o = 5 + b64url((const unsigned char *)payload, strlen(payload), tok + 5);
    tok[o++] = '.';
    b64url(mac, 32, tok + o);
    auth_claims c;
    const char *why;
    assert_int_equal(auth_token_verify(SECRET, tok, strlen(tok), 1, &c, &why), -1);
    /* the same construction with a good id is accepted: the test builds real tokens */
    payload = "pharmacy:P-stock:2000";
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)payload, strlen(payload),
         mac, &maclen);
    o = 5 + b64url((const unsigned char *)payload, strlen(payload), tok + 5);
    tok[o++] = '.';
    b64url(mac, 32, tok + o);
    assert_int_equal(auth_token_verify(SECRET, tok, strlen(tok), 1, &c, &why), 0);
    assert_string_equal(c.id, "P-stock");
}

static void test_roles(void **state)
{
    (void)state;
    auth_role r;
    assert_int_equal(auth_role_parse("courier", &r), 0);
    assert_int_equal(r, AUTH_COURIER);
    assert_int_equal(auth_role_parse("admin", &r), -1);
    assert_string_equal(auth_role_name(AUTH_OPERATOR), "operator");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_ids_refused),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_colon_id_token_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
