/* db.h - a table sink: records upserted into an SQLite or PostgreSQL
 * table, in batched transactions.
 *
 * Each record becomes one row.  Columns are named paths (NAME=PATH, or a
 * bare NAME meaning .NAME); without them, the top-level fields of the
 * first record's value, plus "key" (@key) when no upsert key is named.
 * The upsert key is a list of column names; rows with the same key are
 * replaced (INSERT ... ON CONFLICT (...) DO UPDATE, which both SQLite
 * 3.24+ and PostgreSQL 9.5+ implement), so a replay is idempotent.  The
 * table is created when missing, with the upsert key as its primary key
 * and column types taken from the first record: integers BIGINT, floats
 * DOUBLE PRECISION, everything else TEXT (objects and arrays as JSON).
 *
 * Writes are buffered: kp_db_add() keeps a copy of the row; kp_db_flush()
 * writes every buffered row in one transaction.  When the transaction
 * fails (database down, locked, connection lost), the buffer is kept and
 * kp_db_flush() returns -2: the caller retries (a blocking error, never a
 * skipped row).  A row that cannot be bound (a missing key column) is a
 * data error for that row alone: kp_db_add() returns -1.
 */
#ifndef KP_DB_H
#define KP_DB_H

#include <stddef.h>

#include "path.h"
#include "record.h"

enum kp_db_kind { KP_DB_SQLITE, KP_DB_POSTGRES };

struct kp_db_column {
	char		*name;
	struct kp_path	 path;
};

struct kp_db;

/* Parse "NAME=PATH,NAME,..." into columns (*out is a new array of *n;
 * free with kp_db_columns_free).  Returns 0, or -1 with errstr. */
int	kp_db_columns_parse(const char *s, struct kp_db_column **out, size_t *n,
	    char *errstr, size_t errstr_size);
void	kp_db_columns_free(struct kp_db_column *c, size_t n);

/* Open a sink on target (an SQLite file name, or a libpq conninfo
 * string) writing table.  columns (may be NULL: derive from the first
 * record) are copied; upsert_key is "NAME,NAME" or NULL.  Connecting is
 * deferred to the first flush, so a database that is down is a retryable
 * error there.  Returns the sink or NULL with errstr (bad names). */
struct kp_db *kp_db_open(enum kp_db_kind kind, const char *target,
	    const char *table, const struct kp_db_column *columns,
	    size_t ncolumns, const char *upsert_key, char *errstr,
	    size_t errstr_size);
/* Buffer one row.  Returns 0; -1 with errstr for a row that cannot be
 * written (its key column is missing or null); -3 with errstr for a
 * configuration error (no columns, an upsert key that names no column). */
int	kp_db_add(struct kp_db *db, struct kp_record *r, char *errstr,
	    size_t errstr_size);
/* Rows buffered and not yet written. */
size_t	kp_db_pending(const struct kp_db *db);
/* Write buffered rows in one transaction.  Returns 0; -2 with errstr for
 * a failure worth retrying (the rows stay buffered, the connection is
 * dropped and made again on the next call); -3 with errstr for a
 * configuration error (the table exists with other columns). */
int	kp_db_flush(struct kp_db *db, char *errstr, size_t errstr_size);
/* Close (without flushing). */
void	kp_db_close(struct kp_db *db);

#endif
