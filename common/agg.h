/* agg.h - kagg's aggregate functions, their state and its serialisation,
 * and the windowed group state of one input partition.
 *
 * Three layers:
 *
 *  - Values (struct kp_aggval): a field path evaluated straight on a
 *    record's packed msgpack value, without decoding it into a
 *    msgpack_object tree, so that the hot loop allocates nothing.  The
 *    rules are those of path.h (kp_path_eval, kp_val_key_bytes,
 *    kp_time_extract): a numeric string is not a number; a key made of a
 *    value is the bytes a Java or kcat producer would send.
 *
 *  - Aggregates (struct kp_agg_def): "NAME=FUNC(PATH)" specs parsed once;
 *    each distinct path is evaluated once per record and each distinct
 *    (function, path) pair keeps one state "slot" (p50(.x) and p99(.x)
 *    share one sketch).  The state of one window is a flat block of
 *    def->state_size bytes plus, for count_distinct and quantiles, one
 *    heap object per slot.  Functions:
 *      count()            records; count(PATH): records where PATH is present
 *                         and not null (SQL's COUNT(col))
 *      sum min max avg    numbers; sum stays an integer while every input is
 *                         one and it fits int64; min and max keep the type of
 *                         the value they found; avg is a float
 *      first last         the value with the smallest / largest event time
 *                         (ties: the earliest / latest to arrive); any type
 *      count_distinct     distinct values, exactly: every distinct value is
 *                         stored (about 30 bytes plus its size); 1 and 1.0
 *                         are the same value
 *      p50 p90 p95 p99    the nearest-rank percentile (the ceil(P/100 * n)-th
 *                         smallest of n values) estimated by DDSketch with 1%
 *                         relative error (sketch.h: Masson, Rim, Lee,
 *                         PVLDB 12(12), 2019, arXiv:1908.10693)
 *    Sessions merge states (kp_agg_state_merge), never recompute them.
 *
 *  - The table (struct kp_aggtab): groups (by key bytes) and their windows
 *    in memory, the window rules of window.h (epoch-aligned half-open time
 *    windows, close at stream_time >= end + grace, sessions with the
 *    acceptance rules (a) and (b) of window.h), emission of final results
 *    in close order or of changes through a bounded cache, and the
 *    bookkeeping that mirrors the state into a key-value store (store.h)
 *    and its changelog.  All times in the table are milliseconds.
 *
 * Store layout (kp_aggtab_store_flush / kp_aggtab_store_load):
 *   'w' u32be(keylen) key i64be'(start)  -> window: u8 version (1),
 *        i64 start, i64 end, u32 fieldslen, fields, aggregate state
 *   'h' key                              -> i64 first, i64 last: the
 *        latest closed session of the key (rule (b) of window.h)
 *   'e' i64be'(end) key                  -> i64 start: bounded tables
 *        only (kp_aggtab_bind_store), an index of the 'w' entries by
 *        window end (INT64_MAX for window none), written and deleted
 *        with them, so that windows no longer in memory close on time
 * where i64be' is big-endian with the sign bit flipped (so keys sort by
 * time) and other integers are little-endian.  Keys starting with 'm' are
 * left to the caller (kagg keeps its stream time and input offset there).
 *
 * Nothing here prints or exits; errors come back as -1 with a reason in
 * errstr.  Out-of-memory aborts (kp_xmalloc).
 */
#ifndef KP_AGG_H
#define KP_AGG_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "path.h"
#include "record.h"
#include "util.h"
#include "window.h"

/* ---- values ---- */

enum kp_av_type {
	KP_AV_MISSING, KP_AV_NULL, KP_AV_BOOL, KP_AV_INT, KP_AV_FLOAT,
	KP_AV_STR, KP_AV_BIN, KP_AV_ARRAY, KP_AV_MAP, KP_AV_EXT
};

/*
 * A field's value, borrowed from the record (or from the scratch buffer
 * given to kp_aggval_eval) until either changes.  INT: i, and f = (double)i;
 * an unsigned integer above INT64_MAX is a FLOAT.  FLOAT: f.  BOOL: i.
 * STR and BIN: data/len, the payload (record metadata such as @key is
 * BIN).  Every type but MISSING: mp/mplen, the value as one packed msgpack
 * object (BIN metadata packs as a str when it is valid UTF-8).
 */
struct kp_aggval {
	enum kp_av_type	 t;
	int64_t		 i;
	double		 f;
	const uint8_t	*data;
	size_t		 len;
	const uint8_t	*mp;
	size_t		 mplen;
};

/* Evaluate p on r into v.  scratch (caller-owned, reused) holds packed
 * copies of record metadata; v may point into it until its next use. */
void	kp_aggval_eval(const struct kp_path *p, struct kp_record *r,
	    struct kp_aggval *v, struct kp_buf *scratch);
/* Evaluate np paths (at most KP_AGGVAL_MANY share one pass over the
 * value; more are evaluated one by one) into vals[0..np), with
 * scratch[0..np) as for kp_aggval_eval. */
#define KP_AGGVAL_MANY	64
void	kp_aggval_eval_many(const struct kp_path *const *paths, size_t np,
	    struct kp_record *r, struct kp_aggval *vals, struct kp_buf *scratch);
/*
 * kp_aggval_scan_json - the same as kp_aggval_eval_many() on the value
 * that kp_json_parse() would make of the JSON text s[0..n), for paths
 * that are all one field name (.a, ."max.cpu"), without packing the whole
 * value.  It validates the whole text (RFC 8259, UTF-8) and converts the
 * fields it needs as json.h does.  Returns 1 when vals are filled; 0 when
 * the caller must parse the text with kp_json_parse() and evaluate the
 * result instead: invalid JSON, a text that is not an object, escapes in
 * keys or in a needed string, a needed array or object, an integer of 19
 * digits or more, nesting deeper than 64, or other paths.
 */
int	kp_aggval_scan_json(const struct kp_path *const *paths, size_t np,
	    const char *s, size_t n, struct kp_aggval *vals,
	    struct kp_buf *scratch);
/* "missing", "null", "boolean", "integer", "number", "string", "bytes",
 * "array", "object": the names of kp_val_type_name(). */
const char *kp_aggval_type_name(const struct kp_aggval *v);
/* Append the key bytes of v to out, as kp_val_key_bytes() does.  Returns
 * 0, or -1 for a missing or null value (a null key). */
int	kp_aggval_key_bytes(const struct kp_aggval *v, struct kp_buf *out);
/* Event time in ms from an evaluated time field, with the rules of
 * kp_time_extract() (t->has_path must be set).  Returns 0, or -1 with
 * errstr ("'.timestamp': expected number, got string"). */
int	kp_aggval_time(const struct kp_time_spec *t, const struct kp_aggval *v,
	    int64_t *ms, char *errstr, size_t errstr_size);

/* ---- aggregate definitions ---- */

enum kp_agg_func {
	KP_AGG_COUNT, KP_AGG_SUM, KP_AGG_MIN, KP_AGG_MAX, KP_AGG_AVG,
	KP_AGG_FIRST, KP_AGG_LAST, KP_AGG_COUNT_DISTINCT, KP_AGG_QUANTILE
};

struct kp_agg {
	char			*name;	/* output field (owned) */
	enum kp_agg_func	 func;
	int			 pct;	/* QUANTILE: 50, 90, 95 or 99 */
	int			 path;	/* index in def->paths, -1: none */
	int			 slot;	/* index in def->slots */
};

struct kp_agg_slot {
	int	kind;		/* internal */
	int	path;		/* index in def->paths, -1: none */
	size_t	off;		/* offset in the state block */
};

struct kp_agg_def {
	struct kp_agg		*aggs;
	size_t			 naggs;
	struct kp_path		*paths;	/* distinct paths, parsed once */
	size_t			 npaths;
	struct kp_agg_slot	*slots;
	size_t			 nslots;
	size_t			 state_size;	/* bytes, a multiple of 8 */
};

/* Parse one "NAME=FUNC(PATH)" (count() takes no path, or one) and add it.
 * Returns 0, or -1 with errstr: unknown function, missing path, bad path,
 * duplicate name.  Zero-initialise d before the first call. */
int	kp_agg_def_add(struct kp_agg_def *d, const char *spec, char *errstr,
	    size_t errstr_size);
void	kp_agg_def_free(struct kp_agg_def *d);

/* Check the values (vals[i] for d->paths[i]) before any update: numbers
 * for sum min max avg and percentiles, present for first, last and
 * count_distinct.  Returns 0, or -1 with errstr, e.g.
 * "'.max.cpu': expected number, got string". */
int	kp_agg_check(const struct kp_agg_def *d, const struct kp_aggval *vals,
	    char *errstr, size_t errstr_size);

/* State blocks: st points to d->state_size bytes, 8-aligned. */
void	kp_agg_state_init(const struct kp_agg_def *d, void *st);
/* Add one record (checked by kp_agg_check) at event time ts (ms, or
 * KP_TS_NONE). */
void	kp_agg_state_update(const struct kp_agg_def *d, void *st,
	    const struct kp_aggval *vals, int64_t ts);
/* Merge src into dst; src is freed (and must be initialised again before
 * any other use). */
void	kp_agg_state_merge(const struct kp_agg_def *d, void *dst, void *src);
void	kp_agg_state_free(const struct kp_agg_def *d, void *st);
/* Append a self-contained encoding of st to out. */
void	kp_agg_state_encode(const struct kp_agg_def *d, const void *st,
	    struct kp_buf *out);
/* Decode p[0..n) into st (not initialised); returns bytes used, or -1 (st
 * then empty and freed). */
long	kp_agg_state_decode(const struct kp_agg_def *d, void *st,
	    const void *p, size_t n);
/* Pack the results, naggs (name, value) pairs of a msgpack map. */
void	kp_agg_state_pack(const struct kp_agg_def *d, const void *st,
	    msgpack_packer *pk);

/* ---- the windowed group table of one partition ---- */

/* One output record: key (the group key bytes), a packed msgpack map,
 * and the timestamp in ms (window end; for sessions the last event). */
typedef void (*kp_aggtab_emit_fn)(void *arg, const void *key, size_t keylen,
	    const void *value, size_t vlen, int64_t ts);
/* A store write: v == NULL is a delete. */
typedef void (*kp_aggtab_put_fn)(void *arg, const void *k, size_t kn,
	    const void *v, size_t vn);

struct kp_aggtab_conf {
	const struct kp_agg_def	*def;
	struct kp_window_spec	 win;		/* in ms */
	int64_t			 grace;		/* ms, >= 0 */
	int			 emit_changes;	/* else final */
	size_t			 cache_bytes;	/* emit changes: flush above */
	int			 store;		/* track writes for a store */
	enum kp_time_unit	 unit;		/* window_start/_end output */
	const char *const	*group_names;	/* output names of the fields */
	size_t			 ngroup;
	kp_aggtab_emit_fn	 emit;
	void			*arg;
};

struct kp_aggtab;
struct kp_store;

/* A new, empty table (conf is copied; def and group_names are borrowed
 * for its life). */
struct kp_aggtab *kp_aggtab_new(const struct kp_aggtab_conf *c);
void	kp_aggtab_free(struct kp_aggtab *t);

/*
 * Add one checked record: group key bytes, the group's field values
 * (packed msgpack objects, one per group name, concatenated: used when the
 * group is new), event time ts in ms (KP_TS_NONE only for window none) and
 * the values of d->paths.  Stream time becomes max(stream time, ts) first,
 * and every window that this closes is emitted (emit final) before the
 * record is placed.  Returns 0 when the record counted in all of its
 * windows, 1 when it was late for at least one of them (hopping: it may
 * still count in newer ones), 2 when its windows lie outside int64.
 */
int	kp_aggtab_add(struct kp_aggtab *t, const void *key, size_t keylen,
	    const void *fields, size_t flen, int64_t ts,
	    const struct kp_aggval *vals);

/* Emit changes: emit every window updated since the last flush, once. */
void	kp_aggtab_flush_cache(struct kp_aggtab *t);
/* End of input: move the stream time on to the close time of the last
 * open window, then close every window, in close order, and emit it (emit
 * final; with emit changes, those with unflushed updates).  Returns 0;
 * a bounded table returns 1 when the caller must flush and commit the
 * store (and call kp_aggtab_committed()) and then call it again. */
int	kp_aggtab_close_all(struct kp_aggtab *t);

int64_t	kp_aggtab_stream_time(const struct kp_aggtab *t);	/* INT64_MIN: none */
void	kp_aggtab_set_stream_time(struct kp_aggtab *t, int64_t st);
size_t	kp_aggtab_open_windows(const struct kp_aggtab *t);
size_t	kp_aggtab_groups(const struct kp_aggtab *t);

/* Write every change since the last flush through put(): deletes first,
 * then puts.  Only with conf.store. */
void	kp_aggtab_store_flush(struct kp_aggtab *t, kp_aggtab_put_fn put,
	    void *arg);
/* Load one 'w' or 'h' entry of a store.  Returns 0, or -1 with errstr
 * for an entry that does not decode. */
int	kp_aggtab_store_load(struct kp_aggtab *t, const void *k, size_t kn,
	    const void *v, size_t vn, char *errstr, size_t errstr_size);
/* Make the next store flush rewrite key k: its current value, or a
 * delete when the table holds nothing under it. */
void	kp_aggtab_store_touch(struct kp_aggtab *t, const void *k, size_t kn);

/*
 * Bounded memory.  kp_aggtab_bind_store() makes a table (conf.store set)
 * hold at most about mem_bytes of groups and windows: db is its store
 * (read directly), and put (with arg) writes to it, as it does for
 * kp_aggtab_store_flush(), which the caller must pass the same put.  Then:
 *  - deletes go through put at once, not with the next flush;
 *  - groups whose windows the store holds as they are ("clean": flushed
 *    and committed, no change pending for emit changes) are dropped from
 *    memory, least recently used first, when the table is over budget;
 *  - a group not in memory is read back from the store when a record
 *    needs it, and the windows of groups not in memory close on time
 *    through the 'e' index, in end order;
 *  - when the budget is full of state the store lacks, the table asks
 *    for a commit: kp_aggtab_want_commit() turns true; the caller then
 *    flushes (kp_aggtab_store_flush), commits the store, calls
 *    kp_aggtab_committed() (which evicts down to half the budget) and
 *    kp_aggtab_advance() (which goes on closing due windows), until
 *    kp_aggtab_want_commit() is false.
 * The store must hold only what this table wrote (and 'm' entries): the
 * caller loads nothing into a bound table but its stream time.
 */
void	kp_aggtab_bind_store(struct kp_aggtab *t, struct kp_store *db,
	    kp_aggtab_put_fn put, void *arg, size_t mem_bytes);
int	kp_aggtab_want_commit(const struct kp_aggtab *t);
void	kp_aggtab_committed(struct kp_aggtab *t);
void	kp_aggtab_advance(struct kp_aggtab *t);
/* Estimated bytes of groups and windows in memory (aggregate objects of
 * count_distinct and quantiles not counted). */
size_t	kp_aggtab_resident(const struct kp_aggtab *t);

#endif
