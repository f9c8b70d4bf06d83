/* login_code.c - one-time login codes in Redis (see login_code.h). */
#include "login_code.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char login_code_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int login_code_make(char *out)
{
    unsigned char b[LOGIN_CODE_BYTES + 1] = {0}; /* +1: the last group reads a zero */
    if (RAND_bytes(b, LOGIN_CODE_BYTES) != 1)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < LOGIN_CODE_BYTES; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (unsigned)b[i + 1] << 8 |
                     (i + 2 < LOGIN_CODE_BYTES ? b[i + 2] : 0);
        for (int k = 3; k >= 0 && o < LOGIN_CODE_LEN; k--)
            out[o++] = login_code_alphabet[(v >> (6 * k)) & 63];
    }
    out[o] = '\0';
    return 0;
}

int login_code_valid(const char *s)
{
    if (!s || strlen(s) != LOGIN_CODE_LEN)
        return 0;
    return strspn(s, login_code_alphabet) == LOGIN_CODE_LEN;
}

static const char *login_code_key(const orders *o, char *buf, const char *code)
{
    return orders_key(o, buf, "login:%s", code);
}

int login_code_put(orders *o, const char *code, const char *token, const char *role, const char *id,
                   long long ttl_s, store_reply_cb *cb, void *ctx)
{
    char key[ORDERS_KEY_MAX], ttl[24];
    json_t *v = json_pack("{s:s, s:s, s:s}", "token", token, "role", role, "id", id);
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!text)
        return -1;
    snprintf(ttl, sizeof(ttl), "%lld", ttl_s);
    const char *argv[] = {"SET", login_code_key(o, key, code), text, "NX", "EX", ttl};
    int rc = store_cmd_argv(orders_store(o), cb, ctx, 6, argv, NULL);
    free(text);
    return rc;
}

int login_code_take(orders *o, const char *code, store_reply_cb *cb, void *ctx)
{
    char key[ORDERS_KEY_MAX];
    const char *argv[] = {"GETDEL", login_code_key(o, key, code)};
    return store_cmd_argv(orders_store(o), cb, ctx, 2, argv, NULL);
}
