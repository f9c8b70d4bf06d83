/* login_code.h - one-time login codes: `rxctl login-link` keeps a freshly
 * minted token in Redis under a random code for a few minutes, and the web
 * service's POST /v1/login takes it once (docs/web.md). The code travels in
 * a link's fragment, so no server log ever sees it, and the token never
 * travels in a URL at all. The key name lives here only. */
#ifndef RXD_LOGIN_CODE_H
#define RXD_LOGIN_CODE_H

#include <stddef.h>

#include "orders.h"
#include "store.h"

/* 32 random bytes (256 bits) in base64url without padding */
#define LOGIN_CODE_BYTES 32
#define LOGIN_CODE_LEN 43
#define LOGIN_CODE_TTL_DEFAULT_S 600
#define LOGIN_CODE_TTL_MAX_S 86400

/* A fresh code into out (LOGIN_CODE_LEN + 1 bytes). 0, or -1 when the
 * system has no entropy to give. */
int login_code_make(char *out);
/* 1 when s has the shape of a code (checked before any Redis call). */
int login_code_valid(const char *s);

/* Keeps {"token","role","id"} under code for ttl_s seconds (SET NX EX):
 * the reply is the status "OK", or nil when the code already exists. */
int login_code_put(orders *o, const char *code, const char *token, const char *role, const char *id,
                   long long ttl_s, store_reply_cb *cb, void *ctx);
/* Takes what code holds and deletes it in one command (GETDEL): the reply
 * is the JSON text, or nil for an unknown, used or expired code. */
int login_code_take(orders *o, const char *code, store_reply_cb *cb, void *ctx);

#endif
