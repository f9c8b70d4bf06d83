/* files.c - the web service's file set (see files.h). */
#include "files.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mem.h"

/* What the pages are made of; anything else under the root is not served. */
static const struct {
    const char *ext;
    const char *type;
} web_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".mp3", "audio/mpeg"},
    {".ogg", "audio/ogg"},
    {".wav", "audio/wav"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *web_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (!dot || (slash && dot < slash))
        return NULL;
    for (size_t i = 0; i < sizeof(web_types) / sizeof(web_types[0]); i++)
        if (strcmp(dot, web_types[i].ext) == 0)
            return web_types[i].type;
    return NULL;
}

static void web_file_fill(web_file *f, const char *path, const char *type)
{
    snprintf(f->path, sizeof(f->path), "%s", path);
    f->type = type;
    f->html = strncmp(type, "text/html", 9) == 0;
    /* a page and the config name the other files: always asked again */
    f->cache = f->html || strcmp(path, "/config.json") == 0 ? "no-cache" : WEB_MAX_AGE;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64: a validator, not a secret */
    for (size_t i = 0; i < f->len; i++)
        h = (h ^ f->data[i]) * 1099511628211ULL;
    snprintf(f->etag, sizeof(f->etag), "\"%016llx\"", (unsigned long long)h);
}

static int web_file_cmp(const void *a, const void *b)
{
    return strcmp(((const web_file *)a)->path, ((const web_file *)b)->path);
}

static int web_read(const char *fs_path, web_file *f, char *err, size_t errlen)
{
    FILE *fp = fopen(fs_path, "rb");
    struct stat st;
    if (!fp || fstat(fileno(fp), &st) != 0 || st.st_size > WEB_FILE_BYTES_MAX) {
        snprintf(err, errlen, "%s: %s", fs_path,
                 fp ? "over 8 MiB: the pages must stay small" : "cannot be read");
        if (fp)
            fclose(fp);
        return -1;
    }
    f->len = (size_t)st.st_size;
    f->data = xmalloc(f->len + 1);
    size_t got = fread(f->data, 1, f->len, fp);
    fclose(fp);
    if (got != f->len) {
        snprintf(err, errlen, "%s: short read", fs_path);
        return -1;
    }
    return 0;
}

/* Walks dir (fs path) whose files have URL paths under url. */
static int web_walk(web_files *fs, const char *dir, const char *url, int depth, char *err,
                    size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen,
                 "%s cannot be opened: set RXD_WEB_ROOT to the built pages "
                 "(scripts/web-build writes web/dist)",
                 dir);
        return -1;
    }
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char fsp[1024], up[WEB_PATH_MAX];
        struct stat st;
        snprintf(fsp, sizeof(fsp), "%s/%s", dir, e->d_name);
        if ((size_t)snprintf(up, sizeof(up), "%s/%s", url, e->d_name) >= sizeof(up) ||
            stat(fsp, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 6)
                rc = web_walk(fs, fsp, up, depth + 1, err, errlen);
            continue;
        }
        const char *type = web_content_type(e->d_name);
        if (!S_ISREG(st.st_mode) || !type)
            continue;
        if (fs->n == WEB_FILES_MAX) {
            snprintf(err, errlen, "over %d files under the web root", WEB_FILES_MAX);
            rc = -1;
            break;
        }
        web_file *f = &fs->file[fs->n];
        memset(f, 0, sizeof(*f));
        if ((rc = web_read(fsp, f, err, errlen)) != 0) {
            free(f->data);
            break;
        }
        web_file_fill(f, up, type);
        fs->bytes += f->len;
        fs->n++;
    }
    closedir(d);
    return rc;
}

web_files *web_files_load(const char *root, const char *const *required, char *err, size_t errlen)
{
    web_files *fs = xcalloc(1, sizeof(*fs));
    fs->file = xcalloc(WEB_FILES_MAX + 1, sizeof(*fs->file)); /* +1: config.json */
    if (web_walk(fs, root, "", 0, err, errlen) != 0) {
        web_files_free(fs);
        return NULL;
    }
    qsort(fs->file, fs->n, sizeof(*fs->file), web_file_cmp);
    for (const char *const *p = required; p && *p; p++)
        if (!web_files_find(fs, *p)) {
            snprintf(err, errlen,
                     "%s%s is missing: RXD_WEB_ROOT must hold the built pages (scripts/web-build)",
                     root, *p);
            web_files_free(fs);
            return NULL;
        }
    return fs;
}

void web_files_put(web_files *fs, const char *path, const char *type, const void *data, size_t len)
{
    web_file key;
    snprintf(key.path, sizeof(key.path), "%s", path);
    web_file *f = bsearch(&key, fs->file, fs->n, sizeof(*fs->file), web_file_cmp);
    if (f) {
        free(f->data);
    } else {
        mem_assert(fs->n <= WEB_FILES_MAX);
        f = &fs->file[fs->n++];
    }
    memset(f, 0, sizeof(*f));
    f->data = xmalloc(len + 1);
    memcpy(f->data, data, len);
    f->len = len;
    web_file_fill(f, path, type);
    qsort(fs->file, fs->n, sizeof(*fs->file), web_file_cmp);
}

void web_files_free(web_files *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n; i++)
        free(fs->file[i].data);
    free(fs->file);
    free(fs);
}

const web_file *web_files_find(const web_files *fs, const char *path)
{
    web_file key;
    size_t n = strlen(path);
    if (n == 0 || path[0] != '/' ||
        (size_t)snprintf(key.path, sizeof(key.path), "%s%s", path,
                         path[n - 1] == '/' ? "index.html" : "") >= sizeof(key.path))
        return NULL;
    return bsearch(&key, fs->file, fs->n, sizeof(*fs->file), web_file_cmp);
}
