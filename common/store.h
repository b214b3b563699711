/* store.h - a key-value state store on LevelDB, one per input partition.
 *
 * Writes go into a LevelDB write batch and an in-memory overlay, so reads
 * see them at once, and reach disk in one atomic batch at
 * kp_store_commit() (DESIGN.md: "writes batched").  Each store lives in
 * its own directory, STATE_DIR/GROUP/STORE/PARTITION by convention, with
 * a CHECKPOINT file beside the LevelDB files that records the changelog
 * offset the committed data reflects (Kafka Streams' .checkpoint).
 *
 * Errors come back as -1 with LevelDB's own message in errstr.
 */
#ifndef KP_STORE_H
#define KP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct kp_store;
struct kp_store_iter;

/* Open (creating it and its parent directories) the store in dir, with a
 * block cache of cache_bytes (0: LevelDB's default 8 MiB).  Returns the
 * store, or NULL with errstr set. */
struct kp_store *kp_store_open(const char *dir, size_t cache_bytes,
	    char *errstr, size_t errstr_size);
/* Close; uncommitted writes are dropped (commit first). */
void	kp_store_close(struct kp_store *s);

/* Look up key k[0..kn).  Returns 1 and sets *v and *vn to the value
 * (borrowed: valid until the next call on s), 0 when absent, -1 on error
 * with errstr set.  Sees uncommitted writes. */
int	kp_store_get(struct kp_store *s, const void *k, size_t kn,
	    const void **v, size_t *vn, char *errstr, size_t errstr_size);
/* Put or delete; both are buffered until kp_store_commit(). */
void	kp_store_put(struct kp_store *s, const void *k, size_t kn,
	    const void *v, size_t vn);
void	kp_store_delete(struct kp_store *s, const void *k, size_t kn);
/* Bytes of uncommitted writes (keys and values). */
size_t	kp_store_pending(const struct kp_store *s);
/* Write the pending batch atomically (fsync when sync is set).  Returns 0
 * or -1 with errstr. */
int	kp_store_commit(struct kp_store *s, int sync, char *errstr,
	    size_t errstr_size);

/* Iterate over committed entries whose key starts with prefix (plen 0:
 * all), in key order.  Commit first to see recent writes.  next returns 1
 * with borrowed k/v (valid until the next call), 0 at the end. */
struct kp_store_iter *kp_store_iter_new(struct kp_store *s, const void *prefix,
	    size_t plen);
int	kp_store_iter_next(struct kp_store_iter *it, const void **k, size_t *kn,
	    const void **v, size_t *vn);
void	kp_store_iter_free(struct kp_store_iter *it);

/* The changelog offset recorded in dir/CHECKPOINT: returns 1 and sets
 * *offset, 0 when there is no checkpoint, -1 when it is unreadable. */
int	kp_store_checkpoint_read(const char *dir, int64_t *offset);
/* Record offset in dir/CHECKPOINT atomically (write, fsync, rename).
 * Returns 0 or -1 with errstr. */
int	kp_store_checkpoint_write(const char *dir, int64_t offset,
	    char *errstr, size_t errstr_size);
/* Remove the store in dir and its checkpoint (to restore from scratch).
 * Returns 0 or -1 with errstr. */
int	kp_store_destroy(const char *dir, char *errstr, size_t errstr_size);

/* The pending (uncommitted) write of key k, if any: returns 1 and sets
 * *v and *vn (borrowed until the next write or commit) for a put, 0 for a
 * delete, -1 when k has no pending write.  Lets a caller that iterates
 * committed entries skip those deleted since. */
int	kp_store_pending_get(struct kp_store *s, const void *k, size_t kn,
	    const void **v, size_t *vn);
/* As kp_store_iter_new(), but start at the first key >= from[0..fn)
 * (which should start with prefix); fn 0: at the prefix. */
struct kp_store_iter *kp_store_iter_from(struct kp_store *s,
	    const void *prefix, size_t plen, const void *from, size_t fn);

/* A write hook: fn(arg, k, kn, v, vn) is called for every later
 * kp_store_put() (v the value) and kp_store_delete() (v NULL, vn 0) on
 * s, after the write is buffered; k and v are borrowed for the call.
 * For a changelog (changelog.h): each write also goes to its topic.  fn
 * NULL: no more calls. */
typedef void (*kp_store_write_fn)(void *arg, const void *k, size_t kn,
	    const void *v, size_t vn);
void	kp_store_on_write(struct kp_store *s, kp_store_write_fn fn, void *arg);

/* mkdir -p.  Returns 0 or -1 with errno set. */
int	kp_mkdirs(const char *path, int mode);

#endif
