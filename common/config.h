/* config.h - service configuration from environment variables and flags.
 *
 * A setting NAME is read from the flag --name (lower case, '_' as '-'), given
 * as --name=value or --name value, else from the environment variable
 * RXD_NAME, else the default. Flags win over the environment. */
#ifndef RXD_CONFIG_H
#define RXD_CONFIG_H

#include <stddef.h>

typedef struct config config;

/* Parses argv (flags only; positional arguments are kept for the caller).
 * Returns NULL with a message in err on a malformed flag. */
config *config_new(int argc, char **argv, char *err, size_t errlen);
void config_free(config *cfg);

/* NAME is the suffix after RXD_, e.g. "REDIS_URL". The returned string lives
 * as long as cfg. */
const char *config_str(const config *cfg, const char *name, const char *def);
/* Integer setting; a value that is not an integer is reported in err and
 * yields -1 return, else 0 with *out set. */
int config_int(const config *cfg, const char *name, long long def, long long *out, char *err,
               size_t errlen);
int config_double(const config *cfg, const char *name, double def, double *out, char *err,
                  size_t errlen);

/* Positional (non-flag) arguments. */
int config_argc(const config *cfg);
const char *config_arg(const config *cfg, int i);

/* Calls fn for every RXD_KAFKA_<PROP> environment variable and every
 * --kafka-<prop> flag except BROKERS, with the librdkafka property name
 * (lower case, '_' as '.'). Stops and returns fn's non-zero result. */
typedef int config_kafka_fn(const char *prop, const char *value, void *ctx);
int config_each_kafka(const config *cfg, config_kafka_fn *fn, void *ctx);

/* Flags that no config_* call has read: a typo the operator should hear
 * about. Returns the first one, or NULL. */
const char *config_unread_flag(const config *cfg);

#endif
