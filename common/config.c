/* config.c - settings from flags and RXD_* environment variables (see
 * config.h). Flags are parsed once into name/value pairs; every lookup
 * marks the flag as read so a misspelt flag can be reported. */
#include "config.h"
#include "mem.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

typedef struct config_flag {
    char *name; /* upper case, '_' separated: the RXD_ suffix */
    char *value;
    int read;
} config_flag;

struct config {
    config_flag *flags;
    int nflags;
    char **args;
    int nargs;
};

/* "--offer-deadline-s" -> "OFFER_DEADLINE_S" */
static char *config_flag_to_name(const char *flag, size_t len)
{
    char *name = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        name[i] = flag[i] == '-' ? '_' : (char)toupper((unsigned char)flag[i]);
    name[len] = '\0';
    return name;
}

static void config_add_flag(config *cfg, char *name, const char *value)
{
    cfg->flags = xrealloc(cfg->flags, sizeof(*cfg->flags) * (size_t)(cfg->nflags + 1));
    cfg->flags[cfg->nflags++] = (config_flag){name, xstrdup(value), 0};
}

config *config_new(int argc, char **argv, char *err, size_t errlen)
{
    config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->args = xcalloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            cfg->args[cfg->nargs++] = argv[i];
            continue;
        }
        const char *eq = strchr(a + 2, '=');
        if (eq) {
            config_add_flag(cfg, config_flag_to_name(a + 2, (size_t)(eq - a - 2)), eq + 1);
        } else if (i + 1 < argc) {
            config_add_flag(cfg, config_flag_to_name(a + 2, strlen(a + 2)), argv[++i]);
        } else {
            snprintf(err, errlen, "flag %s needs a value (--name=value or --name value)", a);
            config_free(cfg);
            return NULL;
        }
    }
    return cfg;
}

void config_free(config *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < cfg->nflags; i++) {
        free(cfg->flags[i].name);
        free(cfg->flags[i].value);
    }
    free(cfg->flags);
    free(cfg->args);
    free(cfg);
}

const char *config_str(const config *cfg, const char *name, const char *def)
{
    config *c = (config *)cfg; /* marking a flag read is bookkeeping, not state */
    for (int i = c->nflags - 1; i >= 0; i--) {
        if (strcmp(c->flags[i].name, name) == 0) {
            c->flags[i].read = 1;
            return c->flags[i].value;
        }
    }
    char env[128];
    snprintf(env, sizeof(env), "RXD_%s", name);
    const char *v = getenv(env);
    return v && *v ? v : def;
}

int config_int(const config *cfg, const char *name, long long def, long long *out, char *err,
               size_t errlen)
{
    const char *v = config_str(cfg, name, NULL);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        snprintf(err, errlen, "RXD_%s (--%s) must be an integer, got '%s'", name, name, v);
        return -1;
    }
    *out = x;
    return 0;
}

int config_double(const config *cfg, const char *name, double def, double *out, char *err,
                  size_t errlen)
{
    const char *v = config_str(cfg, name, NULL);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) {
        snprintf(err, errlen, "RXD_%s must be a number, got '%s'", name, v);
        return -1;
    }
    *out = x;
    return 0;
}

int config_argc(const config *cfg)
{
    return cfg->nargs;
}

const char *config_arg(const config *cfg, int i)
{
    return i >= 0 && i < cfg->nargs ? cfg->args[i] : NULL;
}

/* "SECURITY_PROTOCOL" -> "security.protocol" */
static void config_kafka_prop(const char *suffix, char *out, size_t len)
{
    size_t i = 0;
    for (; suffix[i] && i + 1 < len; i++)
        out[i] = suffix[i] == '_' ? '.' : (char)tolower((unsigned char)suffix[i]);
    out[i] = '\0';
}

int config_each_kafka(const config *cfg, config_kafka_fn *fn, void *ctx)
{
    char prop[128];
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "RXD_KAFKA_", 10) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char suffix[128];
        snprintf(suffix, sizeof(suffix), "%.*s", (int)(eq - *e - 10), *e + 10);
        if (strcmp(suffix, "BROKERS") == 0)
            continue;
        config_kafka_prop(suffix, prop, sizeof(prop));
        int rc = fn(prop, eq + 1, ctx);
        if (rc)
            return rc;
    }
    for (int i = 0; i < cfg->nflags; i++) {
        config_flag *f = &cfg->flags[i];
        if (strncmp(f->name, "KAFKA_", 6) != 0 || strcmp(f->name, "KAFKA_BROKERS") == 0)
            continue;
        f->read = 1;
        config_kafka_prop(f->name + 6, prop, sizeof(prop));
        int rc = fn(prop, f->value, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

const char *config_unread_flag(const config *cfg)
{
    for (int i = 0; i < cfg->nflags; i++)
        if (!cfg->flags[i].read)
            return cfg->flags[i].name;
    return NULL;
}
