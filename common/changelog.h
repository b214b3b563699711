/* changelog.h - a state store's changelog topic, as Kafka Streams keeps
 * one: every store write is also produced to a compacted topic with the
 * input's partition count (partition P of the topic for the store of
 * input partition P), under the store key, a delete as a null value.
 * Each commit's writes end with a marker entry (a key the program
 * chooses, kagg and kjoin use "m": the next input offsets); a restore
 * applies whole commits only, those that end with a marker, and hands
 * back the writes of a commit that a crash cut short (the tail), so that
 * the program can write their keys' current values again.
 *
 * The topic is named GROUP-STORE-changelog (Kafka Streams'
 * APPLICATION_ID-STORE-changelog; kpipe's STORE is the program name).
 * The store's CHECKPOINT (store.h) is the changelog offset after the last
 * marker the committed store reflects.
 *
 * Nothing here prints; errors come back with errstr.
 */
#ifndef KP_CHANGELOG_H
#define KP_CHANGELOG_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "store.h"
#include "util.h"

/* Check that the changelog topic exists with nparts partitions, creating
 * it (cleanup.policy=compact) through rk's admin API when it is missing;
 * input names the input topic in messages.  The existence check lists
 * every topic, so that it never makes a broker auto-create the topic
 * with its default partition count.  Returns 0; or with errstr 69
 * (EX_UNAVAILABLE: no metadata) or 78 (EX_CONFIG: missing and cannot be
 * created, or a different partition count).  *created is set to 1 when
 * the topic was created (created may be NULL). */
int	kp_changelog_check(rd_kafka_t *rk, const char *topic, int nparts,
	    const char *input, int *created, char *errstr, size_t errstr_size);

/* Progress of a restore, for the caller's log: records applied so far
 * and the seconds since it started; called about every 5 s (the
 * struct's `offset` tells how far it got). */
typedef void (*kp_changelog_progress_fn)(void *arg, int32_t partition,
	    unsigned long records, double seconds);

/* A consumer error other than the partition's end while restoring
 * (librdkafka's message error string, borrowed for the call); the
 * restore goes on. */
typedef void (*kp_changelog_warn_fn)(void *arg, const char *msg);

struct kp_changelog_restore {
	rd_kafka_t	*rk;		/* a consumer (assign() is used) */
	const char	*topic;
	int32_t		 partition;
	int64_t		 from, hi;	/* offsets: [from, hi) */
	const char	*marker;	/* the marker key */
	size_t		 marker_len;
	struct kp_store	*store;		/* borrowed */
	const char	*dir;		/* the store's directory (checkpoint) */
	size_t		 batch_bytes;	/* commit the store past this */
	kp_changelog_progress_fn progress;	/* may be NULL */
	kp_changelog_warn_fn warn;	/* may be NULL: errors are skipped */
	void		*arg;		/* for progress and warn */
	/* out */
	unsigned long	 records;	/* changelog records read */
	int64_t		 offset;	/* of the last record read, or -1 */
	int64_t		 checkpoint;	/* offset after the last marker */
	int64_t		 ms;		/* how long it took */
	/* the writes after the last marker, in order, each as u8 delete
	 * flag, u32 key length, key, u32 value length, value (lengths in
	 * host order); the caller frees it with kp_buf_free() */
	struct kp_buf	 tail;
};

/* Restore: apply the changelog partition from `from` to hi, whole
 * commits only, committing the store and writing its checkpoint every
 * batch_bytes and at the end.  Stops early at the partition's end (a
 * transaction marker may be the last offset) and when kp_stop is set
 * (then returns -1).  Returns 0, or -1 with errstr (no data for 30 s,
 * a store error). */
int	kp_changelog_restore(struct kp_changelog_restore *r, char *errstr,
	    size_t errstr_size);

#endif
