/* store.h - asynchronous Redis access for one event loop (hiredis 0.14 +
 * libevent adapter).
 *
 * Owns one connection, rebuilt with exponential backoff when it drops. hiredis
 * has no command timeouts, so every request carries its own deadline: a
 * request not answered in time gets its callback with a timeout error, and the
 * connection is dropped and rebuilt (its late reply is discarded). Lua scripts
 * are registered once and run with EVALSHA, falling back to EVAL on NOSCRIPT.
 * Redis Functions libraries are registered with their version, checked on
 * every connect (the store reports connected only when a compatible version
 * is loaded) and run with FCALL, reloaded when a call finds them gone. */
#ifndef RXD_STORE_H
#define RXD_STORE_H

#include <stddef.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "metrics.h"

typedef struct store store;

/* reply is NULL when the request failed (disconnect, timeout, not connected);
 * err then says why. A Redis error reply is passed as reply with
 * type REDIS_REPLY_ERROR (err NULL). The reply is freed after the callback. */
typedef void store_reply_cb(store *st, redisReply *reply, const char *err, void *ctx);
typedef void store_state_cb(store *st, int connected, void *ctx);

/* url: redis://[user[:password]@]host[:port][/db] (port 6379, db 0 by
 * default; user and password %-encoded; no user: the default user). When the
 * url has no password it comes from the environment: RXD_REDIS_PASSWORD, or
 * the file named by RXD_REDIS_PASSWORD_FILE (re-read on every connect). Every
 * connection starts with AUTH [user] password when credentials are set, else
 * with PING, so a refused login shows as "not connected" (store_why) and is
 * retried with backoff, never as failing requests. timeout_ms applies to each
 * request. NULL only for a bad url, credentials or arguments (err says why,
 * never with the password). */
store *store_new(struct event_base *base, const char *url, int timeout_ms, char *err,
                 size_t errlen);
/* Called on every connect and disconnect (optional). */
void store_on_state(store *st, store_state_cb *cb, void *ctx);
/* Answers every outstanding request (err "store closed") before returning;
 * may be called from inside any store callback. */
void store_free(store *st);

/* Reports the latency of every call (redis_call_duration_seconds) and
 * failures by kind (redis_errors_total: timeout, disconnect, error_reply)
 * under the label store="<name>" into m (optional; updates never allocate). */
void store_set_metrics(store *st, metrics *m, const char *name);

/* 1 while connected. */
int store_connected(const store *st);
/* NULL while connected, else why not, for readiness and operators
 * ("redis authentication failed as user rxd at ...: WRONGPASS ..."). */
const char *store_why(const store *st);
/* The url with its password as "***", for logs and messages. */
void store_url_redact(const char *url, char *out, size_t outlen);

/* Sends a command given as argv (binary safe). Returns 0; when not
 * connected the callback runs on the next loop turn with an error. The
 * callback is never called from inside store_cmd* itself, and runs exactly
 * once per request (at the latest from store_free, with err "store closed").
 * Returns -1 only when out of memory (no callback then). */
int store_cmd_argv(store *st, store_reply_cb *cb, void *ctx, int argc, const char **argv,
                   const size_t *argvlen);
/* As store_cmd_argv with its own deadline instead of the store's timeout
 * (for blocking commands such as XREAD BLOCK); timeout_ms <= 0: no deadline. */
int store_cmd_argv_timeout(store *st, int timeout_ms, store_reply_cb *cb, void *ctx, int argc,
                           const char **argv, const size_t *argvlen);
/* printf-style command as redisAsyncCommand. */
int store_cmd(store *st, store_reply_cb *cb, void *ctx, const char *fmt, ...);

/* Registers a Lua script, returns its handle (>= 0) for store_eval. */
int store_script_add(store *st, const char *name, const char *source);
/* Runs script `script` with numkeys keys followed by args (all in argv). */
int store_eval(store *st, int script, store_reply_cb *cb, void *ctx, int numkeys, int argc,
               const char **argv, const size_t *argvlen);

/* Registers a Redis Functions library (source begins "#!lua name=<name>")
 * of version "major.minor", whose function version_fn answers the version
 * loaded. On every connect, before the store reports connected: none loaded
 * is loaded; an older minor of the same major is replaced; the same or a
 * newer minor is used as it is; another major is refused: the store stays
 * not connected (store_problem says why, the log says what to do) and
 * checks again on each reconnect. Returns a handle (>= 0) for store_fcall,
 * -1 for a bad version or out of memory. */
int store_lib_add(store *st, const char *name, const char *source, const char *version,
                  const char *version_fn);
/* FCALL fn numkeys args... of library lib (keys first in argv). A call that
 * finds its function gone (FUNCTION FLUSH, a restart from an old snapshot)
 * loads the library and is sent once more. */
int store_fcall(store *st, int lib, const char *fn, store_reply_cb *cb, void *ctx, int numkeys,
                int argc, const char **argv, const size_t *argvlen);
/* Why the store refuses to report connected although Redis answers (an
 * incompatible function library), or NULL. */
const char *store_problem(const store *st);

/* Turns st into a subscription connection (it then carries no other
 * commands: use a second store for those). Pattern messages are handed to cb
 * with the channel and payload. Re-subscribes after every reconnect. */
typedef void store_message_cb(const char *channel, const char *payload, size_t len, void *ctx);
int store_psubscribe(store *st, const char *pattern, store_message_cb *cb, void *ctx);

#endif
