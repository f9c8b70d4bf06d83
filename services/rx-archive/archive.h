/* archive.h - rx-archive's PostgreSQL side: the connection (RXD_ARCHIVE_PG,
 * password from RXD_ARCHIVE_PG_PASSWORD_FILE or libpq's PGPASSFILE) and
 * the write of one OrderClosed as one row of orders_closed
 * (deploy/postgres/archive.sql), idempotent by order_id.
 *
 * Calls are blocking on the loop thread, each bounded by
 * ARCHIVE_PG_TIMEOUT_S (connect_timeout, tcp_user_timeout, and the
 * session's statement_timeout): see docs/operations.md, "The archive". */
#ifndef RXD_ARCHIVE_H
#define RXD_ARCHIVE_H

#include <stddef.h>

#include "rxdispatch.pb-c.h"

#define ARCHIVE_PG_TIMEOUT_S 5

typedef struct archive_db archive_db;

typedef enum {
    ARCHIVE_WRITTEN,   /* a new row, committed */
    ARCHIVE_DUPLICATE, /* the row was there already (a redelivery) */
    ARCHIVE_RETRY,     /* PostgreSQL unreachable or busy: try again later */
    ARCHIVE_REFUSED,   /* the record itself is refused (a data error): dead-letter it */
} archive_result;

/* Reads the password file if named; does not connect yet. NULL with a
 * message in err when the file cannot be read. */
archive_db *archive_db_new(const char *conninfo, const char *password_file, char *err,
                           size_t errlen);
void archive_db_free(archive_db *db);
/* Connects if not connected and checks that orders_closed exists; 0 when
 * ready, -1 with the reason in archive_db_why. */
int archive_db_connect(archive_db *db);
int archive_db_connected(const archive_db *db);
const char *archive_db_why(const archive_db *db);
/* Writes rec; the reason of RETRY or REFUSED in archive_db_why. */
archive_result archive_db_write(archive_db *db, const Rxdispatch__V1__OrderClosed *rec);

#endif
