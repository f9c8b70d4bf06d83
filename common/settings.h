/* settings.h - the one list of RXD_* environment variables rxdispatch
 * knows, so a service stops at start-up on a name nobody reads (a typo such
 * as RXD_REDIS_ULR would otherwise leave the default silently in force).
 *
 * The list is shared by every service because one environment (a compose
 * file, a Kubernetes ConfigMap) usually feeds them all: a name that another
 * service reads is known. Families are prefixes: RXD_KAFKA_<PROP> (passed to
 * librdkafka, which validates it) and the development tools' own namespaces.
 * docs/configuration.md documents every name; test_settings checks both
 * agree. Pure: the environment is an argument. */
#ifndef RXD_SETTINGS_H
#define RXD_SETTINGS_H

#include <stddef.h>

/* 1 if NAME (the whole variable name, e.g. "RXD_REDIS_URL") is known. */
int settings_known(const char *name);

/* Checks every RXD_* entry of env (NAME=VALUE strings, NULL-terminated).
 * Returns 0 if all are known; else -1 with a message in err naming the
 * first unknown one and, when one is close, the name it was probably meant
 * to be. */
int settings_check_env(char *const *env, char *err, size_t errlen);

/* The exact names and the family prefixes, NULL-terminated (for tests and
 * documentation checks). */
extern const char *const settings_names[];
extern const char *const settings_families[];

#endif
