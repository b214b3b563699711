/* join.h - the parts of kjoin that do not talk to Kafka: join keys,
 * merging a stream value with a table value, the KTable (latest value per
 * key, in memory or in a LevelDB store), the time-ordered chooser between
 * two inputs, and the windowed buffers of a stream-stream join.
 *
 * Values are packed msgpack objects, as struct kp_record holds them.
 * Times are in ms, the unit of record timestamps.  Nothing here prints or
 * exits; errors come back as -1 with a reason in errstr where one applies.
 */
#ifndef KP_JOIN_H
#define KP_JOIN_H

#include <stddef.h>
#include <stdint.h>

#include "path.h"
#include "record.h"
#include "store.h"
#include "util.h"

/* ---- join keys ---- */

/* Reset out and write r's join key into it: r's key bytes when n is 0;
 * otherwise the bytes kp_record_apply_key() would make from paths (one
 * path: kp_val_key_bytes(), so the JSON number 1, the string "1" and the
 * key bytes "1" are the same key; several: a compact JSON array).
 * Returns 0, or -1 when the key is null (a null record key, or a missing
 * or null field). */
int	kp_join_key(struct kp_record *r, const struct kp_path *paths, size_t n,
	    struct kp_buf *out);

/* ---- values ---- */

/* Returns 1 when p[0..n) is one packed msgpack map, else 0. */
int	kp_join_is_map(const void *p, size_t n);
/* Returns 1 when r's value is null: a Kafka null (tombstone) or a
 * structured value that is nil (JSON null). */
int	kp_join_value_is_null(const struct kp_record *r);

/* Append to out one packed map: every entry of the map l, then the
 * entries of the map r whose name is not in l (on a clash, l's entry
 * wins).  With prefix (not NULL), r's string names become prefix + name
 * before the clash check.  Returns 0; -1 when l is not a map, -2 when r
 * is not a map (out is then unchanged). */
int	kp_join_merge(struct kp_buf *out, const void *l, size_t ln,
	    const void *r, size_t rn, const char *prefix);

/* Append to out the map r with its string names prefixed (a copy when
 * prefix is NULL).  Returns 0, or -2 when r is not a map. */
int	kp_join_prefix(struct kp_buf *out, const void *r, size_t rn,
	    const char *prefix);

/* ---- the table ---- */

/* A KTable: the latest value for each key.  In memory (a hash table), or
 * in a LevelDB store, where table entries are stored under 'k' + key so
 * that the caller can keep its own meta keys (any key not starting with
 * 'k') in the same store and commit them in the same batch. */
struct kp_jtable;

/* A table in memory (store NULL) or in store (borrowed: the caller
 * opens, commits and closes it).  Never NULL. */
struct kp_jtable *kp_jtable_new(struct kp_store *store);
void	kp_jtable_free(struct kp_jtable *t);
/* A hint that the table will hold about n keys: size a memory table's
 * hash table for them now, rather than doubling it while it fills.  No
 * effect on a store-backed table, or when n is not above the keys held. */
void	kp_jtable_reserve(struct kp_jtable *t, size_t n);
/* Look up key k[0..kn): returns 1 and sets *v and *vn (borrowed: valid until
 * the next call on t), 0 when absent, -1 on a store error (errstr). */
int	kp_jtable_get(struct kp_jtable *t, const void *k, size_t kn,
	    const void **v, size_t *vn, char *errstr, size_t errstr_size);
/* Set, or delete (a tombstone), the value of a key. */
void	kp_jtable_put(struct kp_jtable *t, const void *k, size_t kn,
	    const void *v, size_t vn);
void	kp_jtable_delete(struct kp_jtable *t, const void *k, size_t kn);
/* A hint that key k[0..kn) will be looked up soon: start loading the
 * memory the look-up reads (a large table's look-up is mostly cache
 * misses).  Stage 0 fetches the key's first hash slot; stage 1, called
 * later (a few records on), reads that slot and fetches the entry it
 * names.  Changes nothing; a no-op for a store-backed table. */
void	kp_jtable_prefetch(const struct kp_jtable *t, const void *k, size_t kn,
	    int stage);
/* Keys held (memory tables; a store-backed table returns 0). */
size_t	kp_jtable_count(struct kp_jtable *t);

/* ---- time-ordered processing ---- */

/* The state of one input: LAGGING when more records are known to exist
 * (fetched or on the broker) but are not buffered yet; CAUGHT_UP when it is
 * at its end for now but may grow (a live topic); DONE when it will never
 * give another record (a file at its end, or -e past the end). */
enum kp_join_state { KP_JOIN_LAGGING, KP_JOIN_CAUGHT_UP, KP_JOIN_DONE };

/* The head of one input: whether a record is buffered, and its timestamp
 * (KP_TS_NONE sorts first). */
struct kp_join_head {
	int			has;
	int64_t			ts;
	enum kp_join_state	state;
};

#define KP_JOIN_WAIT	(-1)	/* wait for the other input */
#define KP_JOIN_EMPTY	(-2)	/* nothing buffered */

/* Choose which of two inputs goes next (Kafka Streams' stream-time
 * synchronisation): with both heads buffered, the lower timestamp, and
 * side `tie` on equal timestamps.  With one buffered and the other empty:
 * go when the other is DONE; when it is CAUGHT_UP, go once the caller has
 * waited idle_ms >= max_idle_ms for it; when it is LAGGING, wait.
 * Returns 0 or 1, KP_JOIN_WAIT or KP_JOIN_EMPTY. */
int	kp_join_choose(const struct kp_join_head h[2], int tie, int64_t idle_ms,
	    int64_t max_idle_ms);

/* ---- stream-stream join windows ---- */

/* Records of both sides are buffered per key.  A record at ts joins the
 * other side's records of the same key at t with |ts - t| <= within
 * (bounds inclusive, as Kafka's JoinWindows).  Stream time is the largest
 * timestamp seen on either side.  A record's window closes when stream
 * time > ts + within + grace: it then leaves the buffer and, when it never
 * joined, is emitted alone if its side's *_unmatched option is set
 * (--left: left; --outer: both).  A record is late, and dropped, when
 * ts + grace < stream time: any partner it could have had has already
 * closed. */
struct kp_jwin_opts {
	int64_t	within, grace;
	int	left_unmatched, right_unmatched;
};

/* Called for each output: both records for a join (left, right), or one
 * and NULL for an unmatched record.  The records are borrowed for the
 * call.  A non-zero return stops processing and is passed back. */
typedef int (*kp_jwin_emit_fn)(void *ctx, struct kp_record *left,
	    struct kp_record *right);

struct kp_jwin;

/* Never NULL. */
struct kp_jwin *kp_jwin_new(const struct kp_jwin_opts *o, kp_jwin_emit_fn emit,
	    void *ctx);
void	kp_jwin_free(struct kp_jwin *w);

/* Process rec (copied when buffered) of side 0 (left) or 1 (right) with
 * join key k[0..kn); rec->timestamp must be set.  Emits joins with the
 * buffered records of the other side in their arrival order, then
 * unmatched records whose windows the new stream time closes (in
 * timestamp order).  Returns 0, 1 when rec was late (dropped), or the
 * emit function's non-zero return. */
int	kp_jwin_add(struct kp_jwin *w, int side, const void *k, size_t kn,
	    struct kp_record *rec);
/* Close every window (the end of the input): emit the unmatched records
 * the options ask for, in timestamp order, and empty the buffer.  Returns
 * 0 or the emit function's non-zero return. */
int	kp_jwin_close_all(struct kp_jwin *w);
/* Stream time (KP_TS_NONE before the first record) and records held. */
int64_t	kp_jwin_stream_time(const struct kp_jwin *w);
size_t	kp_jwin_buffered(const struct kp_jwin *w);

/* Mirror the buffer into store (borrowed), under keys starting with 'w'
 * and the meta key "s" (stream time): every insert, change and removal
 * is also a store write, for the caller to commit with its own meta
 * keys.  Then kp_jwin_load() rebuilds the buffer from a committed store
 * (after a restart).  Returns 0, or -1 with errstr when an entry does not
 * decode. */
void	kp_jwin_attach_store(struct kp_jwin *w, struct kp_store *store);
int	kp_jwin_load(struct kp_jwin *w, struct kp_store *store, char *errstr,
	    size_t errstr_size);

#endif
