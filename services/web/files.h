/* files.h - the web service's file set: every file under the web root read
 * into memory once at start, looked up by URL path, with its content type,
 * caching and ETag. Only what was loaded can ever be served, so no request
 * path reaches the file system (no traversal to guard against). */
#ifndef RXD_WEB_FILES_H
#define RXD_WEB_FILES_H

#include <stddef.h>

#define WEB_FILES_MAX 512
#define WEB_FILE_BYTES_MAX (8 * 1024 * 1024)
#define WEB_PATH_MAX 256
/* what a page, a script or a sound may stay in a browser's cache without
 * asking: short, so a new release shows within minutes without hashed names */
#define WEB_MAX_AGE "public, max-age=300"

typedef struct web_file {
    char path[WEB_PATH_MAX]; /* the URL path: "/console/index.html" */
    const char *type;        /* Content-Type */
    const char *cache;       /* Cache-Control */
    int html;
    char etag[24]; /* "\"<16 hex>\"" */
    unsigned char *data;
    size_t len;
} web_file;

typedef struct web_files {
    size_t n;
    size_t bytes;
    web_file *file; /* sorted by path */
} web_files;

/* The Content-Type for a file name by its extension; NULL for one the
 * service does not serve (such a file is skipped at load). */
const char *web_content_type(const char *name);

/* Reads every regular file under root (recursively; dot files skipped).
 * NULL with what to fix in err: root missing or unreadable, too many or too
 * large files, or one of the required pages (NULL-terminated list of URL
 * paths) missing. */
web_files *web_files_load(const char *root, const char *const *required, char *err, size_t errlen);
/* Adds (or replaces) a file made at start (config.json); data is copied. */
void web_files_put(web_files *fs, const char *path, const char *type, const void *data, size_t len);
void web_files_free(web_files *fs);

/* The file a request path names: the file itself, or "<dir>/index.html" for
 * a path ending in "/". NULL: none. */
const web_file *web_files_find(const web_files *fs, const char *path);

#endif
