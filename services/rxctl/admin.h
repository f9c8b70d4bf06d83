/* admin.h - rxctl's Kafka cluster commands (topics, metadata, offsets). */
#ifndef RXCTL_ADMIN_H
#define RXCTL_ADMIN_H

#include "config.h"

/* rxctl topics create ... TOPIC...: topic names from positional argument
 * first_topic_arg on. Returns the process exit code. */
int admin_topics_create(const config *cfg, int first_topic_arg);
/* rxctl metadata [...]: returns the process exit code. */
int admin_metadata(const config *cfg);
/* rxctl offsets rewind --group G --to-ms T TOPIC...: topics from positional
 * argument first_topic_arg on. Returns the process exit code. */
int admin_offsets_rewind(const config *cfg, int first_topic_arg);

#endif
