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

#define OLD_KEY "0123456789abcdef-old-secret"
#define NEW_KEY "fedcba9876543210-new-secret"

static int verify(const char *secrets, const char *tok, const char **why)
{
    auth_claims c;
    return auth_token_verify(secrets, tok, strlen(tok), 1000, &c, why);
}

/* A rotation: tokens of the old key stay valid while both keys are set,
 * new ones are signed with the first key, and the old key's tokens are
 * refused once it is removed. */
static void test_rotation(void **state)
{
    (void)state;
    char old_tok[512], new_tok[512];
    const char *why;
    /* before: the plain secret, as today (key 0, the rxd1 form) */
    assert_true(auth_token_make(OLD_KEY, AUTH_PHARMACY, "ph-1", 2000, old_tok, 512) > 0);
    assert_memory_equal(old_tok, "rxd1.", 5);
    /* during: the new key first, the old one still listed */
    const char *both = "k2:" NEW_KEY ",0:" OLD_KEY;
    assert_int_equal(auth_keys_check(both, NULL, 0), 2);
    assert_int_equal(verify(both, old_tok, &why), 0);
    assert_true(auth_token_make(both, AUTH_PHARMACY, "ph-1", 2000, new_tok, 512) > 0);
    assert_memory_equal(new_tok, "rxd2.k2.", 8);
    assert_int_equal(verify(both, new_tok, &why), 0);
    /* gateways not yet given the new key refuse its tokens by name */
    assert_int_equal(verify(OLD_KEY, new_tok, &why), -1);
    assert_string_equal(why, "unknown key id");
    /* after: the old key removed */
    const char *after = "k2:" NEW_KEY;
    assert_int_equal(verify(after, new_tok, &why), 0);
    assert_int_equal(verify(after, old_tok, &why), -1);
    assert_string_equal(why, "unknown key id");
    /* the next rotation the same way, between two named keys */
    char k3_tok[512];
    assert_true(
        auth_token_make("k3:" OLD_KEY "x,k2:" NEW_KEY, AUTH_COURIER, "c-1", 2000, k3_tok, 512) > 0);
    assert_int_equal(verify("k3:" OLD_KEY "x,k2:" NEW_KEY, new_tok, &why), 0);
    assert_int_equal(verify("k3:" OLD_KEY "x", new_tok, &why), -1);
    assert_int_equal(verify("k3:" OLD_KEY "x", k3_tok, &why), 0);
}

/* Key 0 in a ring signs exactly the tokens the plain secret signs. */
static void test_plain_secret_is_key_0(void **state)
{
    (void)state;
    char a[512], b[512];
    assert_true(auth_token_make(OLD_KEY, AUTH_COURIER, "c1", 2000, a, 512) > 0);
    assert_true(auth_token_make("0:" OLD_KEY ",k2:" NEW_KEY, AUTH_COURIER, "c1", 2000, b, 512) > 0);
    assert_string_equal(a, b);
}

static void test_unknown_and_forged_kid(void **state)
{
    (void)state;
    char tok[512], forged[600];
    const char *why;
    const char *ring = "k1:" OLD_KEY ",k2:" NEW_KEY;
    assert_true(auth_token_make("k9:" NEW_KEY, AUTH_OPERATOR, "op", 2000, tok, 512) > 0);
    assert_int_equal(verify(ring, tok, &why), -1);
    assert_string_equal(why, "unknown key id");
    /* a k2 token relabelled k1 (or the other way) fails: the kid is signed */
    assert_true(auth_token_make("k2:" NEW_KEY, AUTH_OPERATOR, "op", 2000, tok, 512) > 0);
    snprintf(forged, sizeof(forged), "rxd2.k1.%s", tok + 8);
    assert_int_equal(verify(ring, forged, &why), -1);
    assert_string_equal(why, "bad signature");
    /* a token of key k2 re-signed with the right secret but no kid in the
     * MAC (the rxd1 construction) is refused */
    char legacy[512];
    assert_true(auth_token_make(NEW_KEY, AUTH_OPERATOR, "op", 2000, legacy, 512) > 0);
    snprintf(forged, sizeof(forged), "rxd2.k2.%s", legacy + 5);
    assert_int_equal(verify(ring, forged, &why), -1);
    assert_string_equal(why, "bad signature");
    /* key 0 has one form; bad kids are malformed */
    const char *bad[] = {"rxd2.0.abc.def", "rxd2..abc.def", "rxd2.a*b.abc.def",
                         "rxd2.kid-longer-than-16.abc.def"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(verify(ring, bad[i], &why), -1);
        assert_string_equal(why, "malformed token");
    }
}

static void test_ring_setting_checked(void **state)
{
    (void)state;
    char err[160], tok[512];
    const char *why;
    assert_int_equal(auth_keys_check(OLD_KEY, err, sizeof(err)), 1);
    const char *bad[] = {"k1:short", "k1:" OLD_KEY ",k1:" NEW_KEY, "k1:" OLD_KEY ",",
                         "k1:" OLD_KEY ",bad kid:" NEW_KEY, ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(auth_keys_check(bad[i], err, sizeof(err)), -1);
        assert_true(err[0]);
        assert_null(strstr(err, OLD_KEY)); /* never echoes a secret */
        assert_null(strstr(err, NEW_KEY));
        assert_int_equal(auth_token_make(bad[i], AUTH_COURIER, "c1", 2000, tok, 512), -1);
    }
    assert_true(auth_token_make(OLD_KEY, AUTH_COURIER, "c1", 2000, tok, 512) > 0);
    assert_int_equal(verify("k1:short", tok, &why), -1);
    assert_string_equal(why, "token keys misconfigured");
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

/* The staff roles travel in tokens by name, like the others. */
static void test_staff_roles_roundtrip(void **state)
{
    (void)state;
    const struct {
        auth_role role;
        const char *name;
    } roles[] = {{AUTH_DESK, "desk"}, {AUTH_AUDITOR, "auditor"}};
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        char tok[512];
        auth_claims c;
        const char *why;
        auth_role parsed;
        assert_true(auth_token_make(SECRET, roles[i].role, "ann", 2000, tok, sizeof(tok)) > 0);
        assert_int_equal(auth_token_verify(SECRET, tok, strlen(tok), 1000, &c, &why), 0);
        assert_int_equal(c.role, roles[i].role);
        assert_string_equal(c.id, "ann");
        assert_string_equal(auth_role_name(roles[i].role), roles[i].name);
        assert_int_equal(auth_role_parse(roles[i].name, &parsed), 0);
        assert_int_equal(parsed, roles[i].role);
    }
    auth_role parsed;
    assert_int_equal(auth_role_parse("admin", &parsed), -1);
    char tok[512];
    assert_int_equal(auth_token_make(SECRET, (auth_role)AUTH_ROLES, "x", 2000, tok, sizeof(tok)),
                     -1);
    assert_string_equal(auth_role_name((auth_role)AUTH_ROLES), "unknown");
}

/* The permission table of docs/operator-api.md, case by case. */
static void test_permissions(void **state)
{
    (void)state;
    const struct {
        auth_role role;
        int read, order_act, courier_act, config;
    } want[] = {
        {AUTH_OPERATOR, 1, 1, 1, 1}, {AUTH_DESK, 1, 1, 1, 0},    {AUTH_AUDITOR, 1, 0, 0, 0},
        {AUTH_PHARMACY, 0, 0, 0, 0}, {AUTH_COURIER, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(auth_may(want[i].role, AUTH_PERM_READ), want[i].read);
        assert_int_equal(auth_may(want[i].role, AUTH_PERM_ORDER_ACT), want[i].order_act);
        assert_int_equal(auth_may(want[i].role, AUTH_PERM_COURIER_ACT), want[i].courier_act);
        assert_int_equal(auth_may(want[i].role, AUTH_PERM_CONFIG), want[i].config);
    }
    assert_int_equal(auth_may((auth_role)AUTH_ROLES, AUTH_PERM_READ), 0);
    assert_int_equal(auth_may(AUTH_OPERATOR, (auth_perm)(AUTH_PERM_CONFIG + 1)), 0);
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
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_plain_secret_is_key_0),
        cmocka_unit_test(test_unknown_and_forged_kid),
        cmocka_unit_test(test_ring_setting_checked),
        cmocka_unit_test(test_staff_roles_roundtrip),
        cmocka_unit_test(test_permissions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
