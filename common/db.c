/* db.c - upserting records into SQLite or PostgreSQL tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "db.h"
#include "json.h"

enum cell_type { C_NULL, C_INT, C_REAL, C_TEXT };

struct cell {
	enum cell_type	 t;
	long long	 i;
	double		 d;
	char		*s;	/* C_TEXT, owned */
	size_t		 n;
};

struct kp_db {
	enum kp_db_kind		 kind;
	char			*target, *table;
	struct kp_db_column	*cols;
	size_t			 ncols;
	char			*upsert_key;
	int			*is_key;	/* per column */
	enum cell_type		*types;		/* from the first row */
	struct cell		*rows;		/* nrows * ncols */
	size_t			 nrows, caprows;
	int			 ready;		/* table checked */
	sqlite3			*lite;
	sqlite3_stmt		*ins;
	PGconn			*pg;
};

static void
quote_ident(struct kp_buf *b, const char *s)
{
	kp_buf_addc(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			kp_buf_addc(b, '"');
		kp_buf_addc(b, *s);
	}
	kp_buf_addc(b, '"');
}

int
kp_db_columns_parse(const char *s, struct kp_db_column **out, size_t *n,
    char *errstr, size_t en)
{
	char *copy = kp_xstrdup(s), *tok, *save = NULL;
	struct kp_db_column *c = NULL;
	size_t cnt = 0;

	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		struct kp_buf path = {0};
		int rc;

		c = kp_xrealloc(c, (cnt + 1) * sizeof(*c));
		if (eq) {
			*eq = '\0';
			kp_buf_adds(&path, eq + 1);
		} else {
			kp_buf_printf(&path, ".\"%s\"", tok);
		}
		rc = kp_path_parse(path.data, &c[cnt].path, errstr, en);
		kp_buf_free(&path);
		if (rc < 0 || *tok == '\0') {
			if (rc == 0) {
				snprintf(errstr, en, "empty column name");
				kp_path_free(&c[cnt].path);
			}
			kp_db_columns_free(c, cnt);
			free(copy);
			return -1;
		}
		c[cnt++].name = kp_xstrdup(tok);
	}
	free(copy);
	*out = c;
	*n = cnt;
	return 0;
}

void
kp_db_columns_free(struct kp_db_column *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c[i].name);
		kp_path_free(&c[i].path);
	}
	free(c);
}

struct kp_db *
kp_db_open(enum kp_db_kind kind, const char *target, const char *table,
    const struct kp_db_column *columns, size_t ncolumns,
    const char *upsert_key, char *errstr, size_t en)
{
	struct kp_db *db;
	size_t i;

	if (*table == '\0') {
		snprintf(errstr, en, "empty table name");
		return NULL;
	}
	db = kp_xcalloc(1, sizeof(*db));
	db->kind = kind;
	db->target = kp_xstrdup(target);
	db->table = kp_xstrdup(table);
	db->upsert_key = upsert_key ? kp_xstrdup(upsert_key) : NULL;
	if (ncolumns) {
		db->cols = kp_xcalloc(ncolumns, sizeof(*db->cols));
		for (i = 0; i < ncolumns; i++) {
			db->cols[i].name = kp_xstrdup(columns[i].name);
			kp_path_parse(columns[i].path.text, &db->cols[i].path,
			    errstr, en);
		}
		db->ncols = ncolumns;
	}
	return db;
}

/* Columns from the first record: its top-level fields, and "key". */
static int
derive_columns(struct kp_db *db, struct kp_record *r, char *errstr, size_t en)
{
	const msgpack_object *o = kp_record_value_obj(r);
	struct kp_buf p = {0};
	uint32_t i;

	if (o == NULL || o->type != MSGPACK_OBJECT_MAP) {
		snprintf(errstr, en, "cannot derive table columns: the value is "
		    "not an object (give --columns)");
		return -3;
	}
	db->cols = kp_xcalloc(o->via.map.size + 1, sizeof(*db->cols));
	if (db->upsert_key == NULL) {
		db->cols[0].name = kp_xstrdup("key");
		kp_path_parse("@key", &db->cols[0].path, errstr, en);
		db->ncols = 1;
		db->upsert_key = kp_xstrdup("key");
	}
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		char *name;

		if (k->type != MSGPACK_OBJECT_STR)
			continue;
		name = kp_xmemdup(k->via.str.ptr, k->via.str.size + 1);
		name[k->via.str.size] = '\0';
		kp_buf_reset(&p);
		kp_buf_adds(&p, ".");
		kp_json_write_string(&p, name, strlen(name));
		if (kp_path_parse(p.data, &db->cols[db->ncols].path, errstr,
		    en) < 0) {
			free(name);
			continue;
		}
		db->cols[db->ncols++].name = name;
	}
	kp_buf_free(&p);
	return 0;
}

static int
resolve_key(struct kp_db *db, char *errstr, size_t en)
{
	char *copy, *tok, *save = NULL;
	size_t i;
	int found;

	db->is_key = kp_xcalloc(db->ncols, sizeof(int));
	if (db->upsert_key == NULL) {
		snprintf(errstr, en, "no upsert key: give --upsert-key");
		return -3;
	}
	copy = kp_xstrdup(db->upsert_key);
	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		for (found = 0, i = 0; i < db->ncols; i++)
			if (!strcmp(db->cols[i].name, tok))
				db->is_key[i] = found = 1;
		if (!found) {
			snprintf(errstr, en, "upsert key column '%s' is not "
			    "among the columns", tok);
			free(copy);
			return -3;
		}
	}
	free(copy);
	return 0;
}

static void
cell_from(struct cell *c, struct kp_val *v)
{
	struct kp_buf b = {0};
	int64_t i;
	double d;

	memset(c, 0, sizeof(*c));
	if (v->t == KP_V_MISSING || v->t == KP_V_NULL ||
	    (v->t == KP_V_OBJ && v->o->type == MSGPACK_OBJECT_NIL))
		return;
	if (v->t == KP_V_OBJ && v->o->type == MSGPACK_OBJECT_BOOLEAN) {
		c->t = C_INT;
		c->i = v->o->via.boolean;
		return;
	}
	if (v->t == KP_V_INT || (v->t == KP_V_OBJ &&
	    (v->o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    v->o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER))) {
		if (kp_val_int(v, &i) == 0) {
			c->t = C_INT;
			c->i = i;
			return;
		}
	}
	if (v->t == KP_V_OBJ && (v->o->type == MSGPACK_OBJECT_FLOAT64 ||
	    v->o->type == MSGPACK_OBJECT_FLOAT32) && kp_val_number(v, &d) == 0) {
		c->t = C_REAL;
		c->d = d;
		return;
	}
	kp_val_key_bytes(v, &b);
	c->t = C_TEXT;
	c->s = b.data ? b.data : kp_xstrdup("");
	c->n = b.len;
}

int
kp_db_add(struct kp_db *db, struct kp_record *r, char *errstr, size_t en)
{
	struct cell *row;
	struct kp_val v;
	size_t i;
	int rc;

	if (db->cols == NULL && (rc = derive_columns(db, r, errstr, en)) < 0)
		return rc;
	if (db->is_key == NULL && (rc = resolve_key(db, errstr, en)) < 0)
		return rc;
	if (db->nrows == db->caprows) {
		db->caprows = db->caprows ? db->caprows * 2 : 64;
		db->rows = kp_xrealloc(db->rows,
		    db->caprows * db->ncols * sizeof(*db->rows));
	}
	row = db->rows + db->nrows * db->ncols;
	for (i = 0; i < db->ncols; i++) {
		kp_path_eval(&db->cols[i].path, r, &v);
		cell_from(&row[i], &v);
		if (db->is_key[i] && row[i].t == C_NULL) {
			snprintf(errstr, en, "upsert key column '%s' ('%s') is "
			    "missing or null", db->cols[i].name,
			    db->cols[i].path.text);
			while (i-- > 0)
				free(row[i].s);
			return -1;
		}
	}
	if (db->types == NULL) {
		db->types = kp_xcalloc(db->ncols, sizeof(*db->types));
		for (i = 0; i < db->ncols; i++)
			db->types[i] = row[i].t == C_NULL ? C_TEXT : row[i].t;
	}
	db->nrows++;
	return 0;
}

size_t
kp_db_pending(const struct kp_db *db)
{
	return db->nrows;
}

static const char *
sqltype(const struct kp_db *db, enum cell_type t)
{
	switch (t) {
	case C_INT: return "BIGINT";
	case C_REAL: return "DOUBLE PRECISION";
	default: return db->kind == KP_DB_SQLITE ? "TEXT" : "TEXT";
	}
}

static void
create_sql(const struct kp_db *db, struct kp_buf *b)
{
	size_t i;
	int first = 1;

	kp_buf_adds(b, "CREATE TABLE IF NOT EXISTS ");
	quote_ident(b, db->table);
	kp_buf_adds(b, " (");
	for (i = 0; i < db->ncols; i++) {
		if (i)
			kp_buf_adds(b, ", ");
		quote_ident(b, db->cols[i].name);
		kp_buf_printf(b, " %s%s", sqltype(db, db->types[i]),
		    db->is_key[i] ? " NOT NULL" : "");
	}
	kp_buf_adds(b, ", PRIMARY KEY (");
	for (i = 0; i < db->ncols; i++)
		if (db->is_key[i]) {
			if (!first)
				kp_buf_adds(b, ", ");
			quote_ident(b, db->cols[i].name);
			first = 0;
		}
	kp_buf_adds(b, "))");
}

static void
upsert_sql(const struct kp_db *db, struct kp_buf *b)
{
	size_t i;
	int first = 1, any = 0;

	kp_buf_adds(b, "INSERT INTO ");
	quote_ident(b, db->table);
	kp_buf_adds(b, " (");
	for (i = 0; i < db->ncols; i++) {
		if (i)
			kp_buf_adds(b, ", ");
		quote_ident(b, db->cols[i].name);
	}
	kp_buf_adds(b, ") VALUES (");
	for (i = 0; i < db->ncols; i++) {
		if (db->kind == KP_DB_SQLITE)
			kp_buf_adds(b, i ? ", ?" : "?");
		else
			kp_buf_printf(b, "%s$%zu", i ? ", " : "", i + 1);
	}
	kp_buf_adds(b, ") ON CONFLICT (");
	for (i = 0; i < db->ncols; i++)
		if (db->is_key[i]) {
			if (!first)
				kp_buf_adds(b, ", ");
			quote_ident(b, db->cols[i].name);
			first = 0;
		}
	kp_buf_adds(b, ") DO ");
	for (i = 0; i < db->ncols; i++)
		if (!db->is_key[i])
			any = 1;
	if (!any) {
		kp_buf_adds(b, "NOTHING");
		return;
	}
	kp_buf_adds(b, "UPDATE SET ");
	for (first = 1, i = 0; i < db->ncols; i++) {
		if (db->is_key[i])
			continue;
		if (!first)
			kp_buf_adds(b, ", ");
		quote_ident(b, db->cols[i].name);
		kp_buf_adds(b, " = excluded.");
		quote_ident(b, db->cols[i].name);
		first = 0;
	}
}

static void
drop_rows(struct kp_db *db)
{
	size_t i;

	for (i = 0; i < db->nrows * db->ncols; i++)
		free(db->rows[i].s);
	db->nrows = 0;
}

static void
disconnect(struct kp_db *db)
{
	if (db->ins)
		sqlite3_finalize(db->ins);
	db->ins = NULL;
	if (db->lite)
		sqlite3_close(db->lite);
	db->lite = NULL;
	if (db->pg)
		PQfinish(db->pg);
	db->pg = NULL;
}

/* ---- SQLite ---- */

static int
lite_exec(struct kp_db *db, const char *sql, char *errstr, size_t en)
{
	char *e = NULL;

	if (sqlite3_exec(db->lite, sql, NULL, NULL, &e) != SQLITE_OK) {
		snprintf(errstr, en, "sqlite '%s': %s", db->target,
		    e ? e : sqlite3_errmsg(db->lite));
		sqlite3_free(e);
		return -1;
	}
	return 0;
}

static int
lite_check_columns(struct kp_db *db, char *errstr, size_t en)
{
	struct kp_buf q = {0};
	sqlite3_stmt *st;
	size_t i;
	int rc = 0;

	for (i = 0; i < db->ncols && rc == 0; i++) {
		kp_buf_reset(&q);
		kp_buf_adds(&q, "SELECT count(*) FROM pragma_table_info(?) "
		    "WHERE name = ?");
		if (sqlite3_prepare_v2(db->lite, q.data, -1, &st, NULL) !=
		    SQLITE_OK) {
			rc = -2;
			break;
		}
		sqlite3_bind_text(st, 1, db->table, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, db->cols[i].name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_int(st, 0) == 0) {
			snprintf(errstr, en, "table '%s' exists without a "
			    "column '%s'", db->table, db->cols[i].name);
			rc = -3;
		}
		sqlite3_finalize(st);
	}
	kp_buf_free(&q);
	return rc;
}

static int
lite_flush(struct kp_db *db, char *errstr, size_t en)
{
	struct kp_buf sql = {0};
	size_t r, i;
	int rc;

	if (db->lite == NULL) {
		if (sqlite3_open_v2(db->target, &db->lite, SQLITE_OPEN_READWRITE |
		    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
			snprintf(errstr, en, "cannot open sqlite '%s': %s",
			    db->target, sqlite3_errmsg(db->lite));
			disconnect(db);
			return -2;
		}
		sqlite3_busy_timeout(db->lite, 5000);
		create_sql(db, &sql);
		if (lite_exec(db, sql.data, errstr, en) < 0) {
			kp_buf_free(&sql);
			disconnect(db);
			return -2;
		}
		if ((rc = lite_check_columns(db, errstr, en)) < 0) {
			kp_buf_free(&sql);
			disconnect(db);
			return rc;
		}
		kp_buf_reset(&sql);
		upsert_sql(db, &sql);
		if (sqlite3_prepare_v2(db->lite, sql.data, -1, &db->ins,
		    NULL) != SQLITE_OK) {
			snprintf(errstr, en, "sqlite '%s': %s", db->target,
			    sqlite3_errmsg(db->lite));
			kp_buf_free(&sql);
			disconnect(db);
			return -3;
		}
		kp_buf_free(&sql);
	}
	if (lite_exec(db, "BEGIN", errstr, en) < 0)
		goto retry;
	for (r = 0; r < db->nrows; r++) {
		struct cell *row = db->rows + r * db->ncols;

		sqlite3_reset(db->ins);
		for (i = 0; i < db->ncols; i++) {
			int k = (int)i + 1;

			switch (row[i].t) {
			case C_NULL: sqlite3_bind_null(db->ins, k); break;
			case C_INT: sqlite3_bind_int64(db->ins, k, row[i].i); break;
			case C_REAL: sqlite3_bind_double(db->ins, k, row[i].d); break;
			case C_TEXT:
				sqlite3_bind_text(db->ins, k, row[i].s,
				    (int)row[i].n, SQLITE_STATIC);
				break;
			}
		}
		if (sqlite3_step(db->ins) != SQLITE_DONE) {
			snprintf(errstr, en, "sqlite '%s': %s", db->target,
			    sqlite3_errmsg(db->lite));
			sqlite3_exec(db->lite, "ROLLBACK", NULL, NULL, NULL);
			goto retry;
		}
	}
	sqlite3_reset(db->ins);
	if (lite_exec(db, "COMMIT", errstr, en) < 0) {
		sqlite3_exec(db->lite, "ROLLBACK", NULL, NULL, NULL);
		goto retry;
	}
	drop_rows(db);
	return 0;
retry:
	disconnect(db);
	return -2;
}

/* ---- PostgreSQL ---- */

static int
pg_ok(struct kp_db *db, PGresult *res, char *errstr, size_t en)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(res);
		return 0;
	}
	snprintf(errstr, en, "postgres: %s", PQerrorMessage(db->pg));
	errstr[strcspn(errstr, "\n")] = '\0';
	PQclear(res);
	return -1;
}

static int
pg_flush(struct kp_db *db, char *errstr, size_t en)
{
	struct kp_buf sql = {0}, txt = {0};
	const char **vals = NULL;
	size_t r, i;

	if (db->pg == NULL) {
		db->pg = PQconnectdb(db->target);
		if (PQstatus(db->pg) != CONNECTION_OK) {
			snprintf(errstr, en, "cannot connect to postgres: %s",
			    PQerrorMessage(db->pg));
			errstr[strcspn(errstr, "\n")] = '\0';
			disconnect(db);
			return -2;
		}
		PQclear(PQexec(db->pg, "SET client_min_messages = warning"));
		create_sql(db, &sql);
		if (pg_ok(db, PQexec(db->pg, sql.data), errstr, en) < 0)
			goto retry;
		for (i = 0; i < db->ncols; i++) {
			const char *p[2] = { db->table, db->cols[i].name };
			PGresult *res = PQexecParams(db->pg,
			    "SELECT 1 FROM information_schema.columns WHERE "
			    "table_name = $1 AND column_name = $2", 2, NULL, p,
			    NULL, NULL, 0);

			if (PQresultStatus(res) == PGRES_TUPLES_OK &&
			    PQntuples(res) == 0) {
				PQclear(res);
				snprintf(errstr, en, "table '%s' exists without "
				    "a column '%s'", db->table, db->cols[i].name);
				kp_buf_free(&sql);
				disconnect(db);
				return -3;
			}
			PQclear(res);
		}
		kp_buf_reset(&sql);
		upsert_sql(db, &sql);
		if (pg_ok(db, PQprepare(db->pg, "kp_upsert", sql.data,
		    (int)db->ncols, NULL), errstr, en) < 0)
			goto retry;
	}
	if (pg_ok(db, PQexec(db->pg, "BEGIN"), errstr, en) < 0)
		goto retry;
	vals = kp_xcalloc(db->ncols, sizeof(*vals));
	for (r = 0; r < db->nrows; r++) {
		struct cell *row = db->rows + r * db->ncols;
		size_t off[64], nc = db->ncols < 64 ? db->ncols : 64;

		kp_buf_reset(&txt);
		for (i = 0; i < nc; i++) {
			off[i] = txt.len;
			switch (row[i].t) {
			case C_INT: kp_buf_printf(&txt, "%lld", row[i].i); break;
			case C_REAL: kp_buf_printf(&txt, "%.17g", row[i].d); break;
			case C_TEXT: kp_buf_add(&txt, row[i].s, row[i].n); break;
			default: break;
			}
			kp_buf_addc(&txt, '\0');
		}
		for (i = 0; i < nc; i++)
			vals[i] = row[i].t == C_NULL ? NULL : txt.data + off[i];
		if (pg_ok(db, PQexecPrepared(db->pg, "kp_upsert", (int)nc, vals,
		    NULL, NULL, 0), errstr, en) < 0) {
			PQclear(PQexec(db->pg, "ROLLBACK"));
			goto retry;
		}
	}
	if (pg_ok(db, PQexec(db->pg, "COMMIT"), errstr, en) < 0)
		goto retry;
	free(vals);
	kp_buf_free(&sql);
	kp_buf_free(&txt);
	drop_rows(db);
	return 0;
retry:
	free(vals);
	kp_buf_free(&sql);
	kp_buf_free(&txt);
	disconnect(db);
	return -2;
}

int
kp_db_flush(struct kp_db *db, char *errstr, size_t en)
{
	if (db->nrows == 0)
		return 0;
	return db->kind == KP_DB_SQLITE ? lite_flush(db, errstr, en) :
	    pg_flush(db, errstr, en);
}

void
kp_db_close(struct kp_db *db)
{
	if (db == NULL)
		return;
	drop_rows(db);
	disconnect(db);
	free(db->rows);
	free(db->types);
	free(db->is_key);
	kp_db_columns_free(db->cols, db->ncols);
	free(db->upsert_key);
	free(db->target);
	free(db->table);
	free(db);
}
