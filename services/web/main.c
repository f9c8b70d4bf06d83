/* web: the pages for people (docs/web.md) - the operator's console, the
 * pharmacy's and the courier's pages - served by rxdispatch itself, on
 * gateway_main like the API gateways (admin port, JSON logs, settings,
 * SIGTERM drain). It serves the files under RXD_WEB_ROOT, loaded into
 * memory at start, with a strict Content-Security-Policy; /config.json
 * tells the pages where the APIs are; POST /v1/login trades a one-time code
 * of `rxctl login-link` for its token. Nothing is kept in this process. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cors.h"
#include "files.h"
#include "gateway.h"
#include "log.h"
#include "login_code.h"
#include "mem.h"

#ifndef RXD_WEB_ROOT_DEFAULT
#define RXD_WEB_ROOT_DEFAULT "web/dist"
#endif
#define WEB_CSP_MAX 1024

typedef struct web {
    web_files *files;
    char csp[WEB_CSP_MAX];
} web;

/* The pages the service refuses to start without. */
static const char *const web_required[] = {"/console/index.html", "/pharmacy/index.html",
                                           "/courier/index.html", NULL};

/* Which page a token's role opens. */
static const struct {
    const char *role;
    const char *page;
} web_pages[] = {
    {"operator", "/console/"},  {"desk", "/console/"},    {"auditor", "/console/"},
    {"pharmacy", "/pharmacy/"}, {"courier", "/courier/"},
};

/* ---- headers ---- */

/* What every response carries; a page also says it may ask for the
 * position (the courier's page shares it). */
static void web_secure(gw_req *r, int html)
{
    const web *w = r->ctx;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Security-Policy", w->csp);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    if (html)
        evhttp_add_header(h, "Permissions-Policy", "geolocation=(self)");
}

/* ---- files ---- */

static void web_on_file(gw_req *r)
{
    const web *w = r->ctx;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    if (!path || !*path || strcmp(path, "/") == 0) {
        web_secure(r, 0);
        evhttp_add_header(h, "Location", "/console/");
        gw_req_reply_bytes(r, 302, "Found", NULL, 0);
        return;
    }
    /* the raw path, never decoded: only a loaded file's exact name matches */
    const web_file *f = web_files_find(w->files, path);
    if (!f && path[strlen(path) - 1] != '/') {
        char dir[WEB_PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/", path);
        if (web_files_find(w->files, dir)) { /* "/console" -> "/console/" */
            web_secure(r, 0);
            evhttp_add_header(h, "Location", dir);
            gw_req_reply_bytes(r, 301, "Moved Permanently", NULL, 0);
            return;
        }
    }
    if (!f) {
        web_secure(r, 0);
        gw_req_reply_error(r, 404, "not_found", "no such page or file");
        return;
    }
    web_secure(r, f->html);
    evhttp_add_header(h, "ETag", f->etag);
    evhttp_add_header(h, "Cache-Control", f->cache);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-None-Match");
    if (inm && strcmp(inm, f->etag) == 0) {
        gw_req_reply_bytes(r, 304, "Not Modified", NULL, 0);
        return;
    }
    evhttp_add_header(h, "Content-Type", f->type);
    gw_req_reply_bytes(r, 200, "OK", f->data, f->len);
}

static void web_on_other_method(gw_req *r)
{
    web_secure(r, 0);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "GET, HEAD");
    gw_req_reply_error(r, 405, "method_not_allowed", "the pages are read with GET or HEAD");
}

/* ---- login ---- */

static void web_on_code_taken(store *st, redisReply *reply, const char *err, void *ctx)
{
    (void)st;
    gw_req *r = ctx;
    if (err || !reply || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        log_event(LOG_WARN, "login_store_failed", "{s:s}", "error",
                  err                                         ? err
                  : reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                                                              : "bad reply");
        gw_req_reply_error(r, 503, "unavailable", "the login store is not reachable; retry");
        return;
    }
    json_t *v =
        reply->type == REDIS_REPLY_STRING ? json_loadb(reply->str, reply->len, 0, NULL) : NULL;
    const char *token = json_string_value(json_object_get(v, "token"));
    const char *role = json_string_value(json_object_get(v, "role"));
    const char *id = json_string_value(json_object_get(v, "id"));
    const char *page = NULL;
    for (size_t i = 0; role && i < sizeof(web_pages) / sizeof(web_pages[0]); i++)
        if (strcmp(role, web_pages[i].role) == 0)
            page = web_pages[i].page;
    if (!token || !id || !page) {
        json_decref(v);
        log_event(LOG_INFO, "login_refused", "{s:s}", "reason", "unknown, used or expired code");
        gw_req_reply_error(r, 401, "bad_login_code",
                           "this login link is unknown, used or expired; ask for a new one");
        return;
    }
    log_event(LOG_INFO, "login", "{s:s, s:s}", "role", role, "id", id);
    gw_req_reply_json(
        r, 200,
        json_pack("{s:s, s:s, s:s, s:s}", "token", token, "role", role, "id", id, "page", page));
    json_decref(v);
}

/* POST /v1/login {"code": "..."}: the body is read here, not by the
 * gateway, so its refusals carry the page headers too. */
static void web_on_login(gw_req *r)
{
    web_secure(r, 0);
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t n = evbuffer_get_length(in);
    json_t *body = n ? json_loadb((const char *)evbuffer_pullup(in, -1), n, 0, NULL) : NULL;
    json_t *jc = json_object_get(body, "code");
    const char *code = json_string_value(jc);
    if (!json_is_object(body) || !code) {
        json_decref(body);
        gw_req_reply_error(r, 400, "bad_body", "send {\"code\": \"<the code of the login link>\"}");
        return;
    }
    if (!login_code_valid(code)) {
        json_decref(body);
        gw_req_reply_error(r, 401, "bad_login_code",
                           "this login link is unknown, used or expired; ask for a new one");
        return;
    }
    int rc = login_code_take(gw_req_orders(r), code, web_on_code_taken, r);
    json_decref(body);
    if (rc != 0)
        gw_req_reply_error(r, 503, "unavailable", "out of memory; retry");
}

static const gw_route web_routes[] = {
    {EVHTTP_REQ_POST, "v1/login", web_on_login, GW_NO_BODY | GW_OPEN},
    {EVHTTP_REQ_GET, "**", web_on_file, GW_NO_BODY | GW_OPEN},
    {EVHTTP_REQ_HEAD, "**", web_on_file, GW_NO_BODY | GW_OPEN},
    {EVHTTP_REQ_POST, "**", web_on_other_method, GW_NO_BODY | GW_OPEN},
    {EVHTTP_REQ_PUT, "**", web_on_other_method, GW_NO_BODY | GW_OPEN},
    {EVHTTP_REQ_DELETE, "**", web_on_other_method, GW_NO_BODY | GW_OPEN},
    {EVHTTP_REQ_PATCH, "**", web_on_other_method, GW_NO_BODY | GW_OPEN},
    {EVHTTP_REQ_OPTIONS, "**", web_on_other_method, GW_NO_BODY | GW_OPEN},
    {0, NULL, NULL, 0},
};

/* ---- settings ---- */

/* value must be "" (same origin) or one origin; 0 or -1 with err. */
static int web_origin_setting(const char *name, const char *value, char *err, size_t errlen)
{
    cors one;
    char why[256];
    if (cors_parse(&one, value, why, sizeof(why)) == 0 && one.n <= 1 && !strchr(value, ','))
        return 0;
    snprintf(err, errlen,
             "RXD_%s must be empty (same origin) or one origin such as "
             "http://127.0.0.1:8081 (got '%.100s')",
             name, value);
    return -1;
}

/* The CSP source of a tile URL template: its origin, a templated leftmost
 * label ("{s}.tile.example") as "*". "" for none. */
static void web_tiles_source(const char *tiles, char *out, size_t outlen)
{
    const char *host = strstr(tiles, "://");
    *out = '\0';
    if (!host)
        return;
    host += 3;
    size_t n = strcspn(host, "/?#");
    const char *dot = memchr(host, '.', n);
    if (memchr(host, '{', n) && dot && !memchr(dot, '{', n - (size_t)(dot - host)))
        snprintf(out, outlen, " %.*s*%.*s", (int)(host - tiles), tiles,
                 (int)(n - (size_t)(dot - host)), dot);
    else if (!memchr(host, '{', n))
        snprintf(out, outlen, " %.*s", (int)(host - tiles + (long)n), tiles);
}

static int web_init(service *svc, void *ctx, char *err, size_t errlen)
{
    web *w = ctx;
    config *cfg = svc->cfg;
    static const char *const apis[][2] = {{"pharmacy", "WEB_PHARMACY_API"},
                                          {"courier", "WEB_COURIER_API"},
                                          {"operator", "WEB_OPERATOR_API"}};
    char connect[3 * (CORS_ORIGIN_LEN + 1) + 8] = "";
    json_t *jap = json_object();
    for (size_t i = 0; i < 3; i++) {
        const char *v = config_str(cfg, apis[i][1], "");
        if (web_origin_setting(apis[i][1], v, err, errlen)) {
            json_decref(jap);
            return -1;
        }
        json_object_set_new(jap, apis[i][0], json_string(v));
        if (*v && !strstr(connect, v))
            snprintf(connect + strlen(connect), sizeof(connect) - strlen(connect), " %s", v);
    }
    const char *tiles = config_str(cfg, "WEB_TILES", "");
    const char *crs = config_str(cfg, "WEB_TILES_CRS", "gcj02");
    char tile_src[300];
    web_tiles_source(tiles, tile_src, sizeof(tile_src));
    if ((*tiles && !*tile_src) || (strcmp(crs, "gcj02") != 0 && strcmp(crs, "wgs84") != 0)) {
        json_decref(jap);
        snprintf(err, errlen,
                 *tiles && !*tile_src ? "RXD_WEB_TILES must be an http(s) URL template"
                                      : "RXD_WEB_TILES_CRS must be gcj02 or wgs84");
        return -1;
    }
    snprintf(w->csp, sizeof(w->csp),
             "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:%s; "
             "connect-src 'self'%s; font-src 'self'; media-src 'self'; manifest-src 'self'; "
             "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
             tile_src, connect);
    const char *root = config_str(cfg, "WEB_ROOT", RXD_WEB_ROOT_DEFAULT);
    w->files = web_files_load(root, web_required, err, errlen);
    if (!w->files) {
        json_decref(jap);
        return -1;
    }
    json_t *conf = json_pack(
        "{s:s, s:s, s:o, s:s, s:s}", "region", config_str(cfg, "REGION", "default"), "tz",
        config_str(cfg, "WEB_TZ", "Asia/Shanghai"), "apis", jap, "tiles", tiles, "tiles_crs", crs);
    char *text = json_dumps(conf, JSON_COMPACT | JSON_SORT_KEYS);
    mem_assert(text != NULL);
    web_files_put(w->files, "/config.json", "application/json", text, strlen(text));
    free(text);
    json_decref(conf);
    log_event(LOG_INFO, "web_files_loaded", "{s:s, s:I, s:I}", "root", root, "files",
              (json_int_t)w->files->n, "bytes", (json_int_t)w->files->bytes);
    return 0;
}

int main(int argc, char **argv)
{
    web w = {0};
    int rc = gateway_main("web", argc, argv, NULL, web_routes, web_init, &w);
    web_files_free(w.files);
    return rc;
}
