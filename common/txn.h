/* txn.h - exactly once: a consume-transform-produce loop in Kafka
 * transactions.
 *
 * A program that reads topics in a consumer group and writes topics runs
 * its work in transactions (KIP-98): everything it produces between two
 * commits, and the input offsets that work came from, become visible
 * together or not at all.  The offsets travel in the transaction through
 * rd_kafka_send_offsets_to_transaction() with the consumer's group
 * metadata (KIP-447), so the group coordinator refuses them from a member
 * that has lost its partitions.  Readers downstream use
 * isolation.level=read_committed and never see aborted or open work.
 *
 * The loop, as Kafka Streams runs it under exactly_once_v2:
 *
 *	kp_txn_new()                  transactional.id, instance slot
 *	kp_txn_producer_conf()        on the producer's conf
 *	kp_txn_consumer_conf()        on the consumer's conf
 *	rd_kafka_new() twice
 *	kp_txn_start()                init_transactions, begin
 *	loop:
 *	    consume a message, produce its outputs
 *	    kp_txn_processed()        its offset is done
 *	    kp_txn_produced()         (for the counters)
 *	    if (kp_txn_due()) kp_txn_commit()
 *	        KP_TXN_OK       committed; a new transaction is open
 *	        KP_TXN_ABORTED  aborted, the consumer rewound: drop every
 *	                        uncommitted effect (state, buffers) and go on
 *	        KP_TXN_FATAL    stop; exit with kp_txn_exit_code() (75)
 *	on revocation: kp_txn_commit() (kp_txn_abort() when the assignment
 *	    was lost), then kp_txn_forget() the partitions
 *	at the end: kp_txn_commit(), consumer close, kp_txn_free()
 *
 * Why one producer per instance (GROUP-PROGRAM-HOST-SLOT).  Kafka
 * Streams' first exactly-once mode (KIP-129) had one transactional
 * producer per input partition, transactional.id APP-TOPIC-PARTITION:
 * the id followed the partition, so the new owner of a partition fenced
 * the old one through the producer epoch, at the cost of a producer (and
 * its connections, buffers and commits) per partition.  KIP-447 moved
 * fencing into the consumer group: TxnOffsetCommit carries the member's
 * generation, and offsets from a member that was rebalanced away are
 * refused, so the old owner's transaction can only abort.  With that,
 * exactly_once_v2 uses one producer per instance, and so does kpipe.  The
 * id must then be (1) unique among the instances alive at one time, since
 * two live producers with one id fence each other for ever, and (2) the
 * same when a killed instance is restarted, since init_transactions()
 * with the id aborts the dead one's open transaction at once; under a new
 * id that transaction would stay open until transaction.timeout.ms, and
 * every read_committed reader downstream would stall behind it.  Streams
 * keeps a process id in its state directory for this; kpipe takes the
 * first free slot N of a lock file per group and program on this host
 * (flock(2), released by the kernel when the process dies, however it
 * dies), so the id is GROUP-PROGRAM-HOST-N: a restarted instance gets its
 * slot back, and a second instance on the same host gets another.  An id
 * given with -X transactional.id=ID wins (one per instance, please).
 *
 * The commit interval is 100 ms by default, Kafka Streams' default
 * commit.interval.ms under exactly once: the latency a read_committed
 * reader sees is about one interval per stage.
 *
 * On an aborted transaction the consumer is rewound to where the
 * transaction began for each partition it processed records of: the
 * offsets this instance last committed for it, or the first offset it
 * processed since it was assigned (its starting point then was the
 * group's committed offset or auto.offset.reset); those records are read,
 * and processed, again.  A program that buffers consumed records before
 * processing them (kjoin) rewinds its partitions itself.
 *
 * Sources: KIP-98 (transactions, the producer epoch, read_committed),
 * KIP-129 (Streams exactly once, one producer per task), KIP-447
 * (producer scalability: group metadata in TxnOffsetCommit), KIP-732
 * (exactly_once_v2), librdkafka's rdkafka.h "Transactional producer API"
 * (retriable, abortable and fatal errors).
 *
 * Nothing here exits, and nothing prints but kp_txn_commit_logged() and
 * kp_txn_abort_logged(), the programs' shared way of reporting an
 * outcome; errors come back in errstr, and kp_txn_exit_code() says which
 * sysexits code the program should end with.
 */
#ifndef KP_TXN_H
#define KP_TXN_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#define KP_TXN_INTERVAL_MS	100	/* default --commit-interval */
#define KP_TXN_MAX_ABORTS	10	/* default consecutive aborts */

struct kp_txn;

struct kp_txn_opts {
	const char	*group;		/* -G: the application id (required) */
	const char	*program;	/* "krepart": part of the id (required) */
	int64_t		 interval_ms;	/* commit interval, ms; 0: 100 */
	/* how many aborted transactions in a row (no commit between) are
	 * retried: the next one makes kp_txn_commit() give up with
	 * KP_TXN_FATAL and exit code 75.  The program's retry budget, such
	 * as KP_TXN_MAX_ABORTS; 0 gives up at the first abort, -1 never.
	 * From the second abort in a row on, it backs off first: 100 ms
	 * doubling up to 5 s, with jitter (retry.h). */
	long		 max_aborts;
	/* called for each partition the consumer was rewound on an abort,
	 * with the offset it will read from next (may be NULL) */
	void		(*rewound)(void *opaque, const char *topic,
			    int32_t partition, int64_t offset);
	void		*opaque;
};

enum kp_txn_status {
	KP_TXN_FATAL = -1,	/* cannot go on: see kp_txn_exit_code() */
	KP_TXN_OK = 0,		/* committed (or nothing to commit) */
	KP_TXN_ABORTED = 1	/* aborted and rewound: redo */
};

struct kp_txn_stats {
	unsigned long	commits;	/* transactions committed */
	unsigned long	aborts;		/* transactions aborted */
	unsigned long	retries;	/* retriable errors retried */
	unsigned long	in_committed;	/* input records in committed ones */
	unsigned long	in_aborted;	/* ... and in aborted ones */
	unsigned long	out_committed;	/* kp_txn_produced() records */
	unsigned long	out_aborted;
	int64_t		commit_ms_max;	/* slowest commit, ms */
};

/* A new helper for opts (copied; the strings are borrowed and must
 * outlive it).  Works out the transactional.id GROUP-PROGRAM-HOST-N:
 * HOST is gethostname(2) with characters outside [A-Za-z0-9._-] made
 * '_', and N the first slot 0..999 whose lock file
 * ${TMPDIR:-/tmp}/kpipe-txn-UID/GROUP-PROGRAM-N.lock no other live process
 * holds; the lock is held until kp_txn_free().  Returns the helper, or
 * NULL with errstr (no free slot, lock directory unusable). */
struct kp_txn *kp_txn_new(const struct kp_txn_opts *o, char *errstr,
	    size_t errstr_size);

/* Set transactional.id on a producer conf, unless the user's -X/-F
 * already set one (kept, and then kp_txn_id() returns it).  Returns 0, or
 * -1 with librdkafka's message in errstr. */
int	kp_txn_producer_conf(struct kp_txn *t, rd_kafka_conf_t *conf,
	    char *errstr, size_t errstr_size);

/* Set what exactly once needs on a consumer conf, overriding -X:
 * isolation.level=read_committed, enable.auto.commit=false and
 * enable.auto.offset.store=false.  Returns 0, or -1 with errstr. */
int	kp_txn_consumer_conf(rd_kafka_conf_t *conf, char *errstr,
	    size_t errstr_size);

/* The transactional.id in use (borrowed, valid until kp_txn_free()). */
const char *kp_txn_id(const struct kp_txn *t);

/* Initialise transactions on producer (which must have been made from a
 * conf that kp_txn_producer_conf() saw) and begin the first one;
 * consumer (may be NULL: then there are no offsets to commit or rewind)
 * is the group member whose offsets go into each transaction.  Both are
 * borrowed until kp_txn_free().  init_transactions() fences earlier
 * producers with the same id and aborts their open transaction; it is
 * retried while its errors are retriable, for up to 60 s.  Returns 0, or
 * -1 with errstr and kp_txn_exit_code() set (69 when no coordinator
 * answered, 75 on a fatal error, 78 for configuration). */
int	kp_txn_start(struct kp_txn *t, rd_kafka_t *producer,
	    rd_kafka_t *consumer, char *errstr, size_t errstr_size);

/* The record at offset of topic/partition is processed: its outputs are
 * produced in the open transaction.  Its offset + 1 goes to the
 * consumer group when the transaction commits. */
void	kp_txn_processed(struct kp_txn *t, const char *topic,
	    int32_t partition, int64_t offset);
/* Count n records produced in the open transaction (statistics only). */
void	kp_txn_produced(struct kp_txn *t, unsigned long n);

/* 1 when the open transaction holds work and its first work is the
 * commit interval old or older, else 0. */
int	kp_txn_due(const struct kp_txn *t);
/* 1 when the open transaction holds work (processed or produced). */
int	kp_txn_pending(const struct kp_txn *t);

/* Commit the open transaction: send the processed offsets with the
 * consumer's group metadata, then commit_transaction() (which first
 * waits for every produced record to be delivered), retrying retriable
 * errors; then begin the next transaction.  When the transaction holds
 * no work, nothing is sent and KP_TXN_OK comes back at once.  On an
 * abortable error (a failed delivery, a coordinator that went away, a
 * generation that is no longer current) it aborts, rewinds the consumer
 * (see above), backs off, begins again and returns KP_TXN_ABORTED: the
 * caller must drop every effect of the work since the last commit.
 * Retriable errors are retried for up to 120 s (10 s once kp_stop is
 * set: an orderly stop does not wait out an outage).  Returns
 * KP_TXN_FATAL, with errstr, on a fatal error (fenced: another instance
 * with this transactional.id took over), on an error that is neither
 * retriable nor abortable, on a retriable one that lasts longer than
 * that, or on the abort after max_aborts aborts in a row.
 * May be called from a rebalance callback. */
enum kp_txn_status kp_txn_commit(struct kp_txn *t, char *errstr,
	    size_t errstr_size);
/* Abort the open transaction on the caller's behalf (a processing step
 * failed, or the assignment was lost), rewind as kp_txn_commit() does,
 * and begin the next.  Returns KP_TXN_ABORTED, or KP_TXN_FATAL with
 * errstr. */
enum kp_txn_status kp_txn_abort(struct kp_txn *t, char *errstr,
	    size_t errstr_size);

/* kp_txn_commit(), or kp_txn_abort() for the caller's reason why, with
 * the outcome logged as every program reports it: an abort as a warning
 * ("transaction aborted: REASON"); a fatal error as an error, and
 * kp_txn_exit_code() stored in *exit_code, unless *exit_code is already
 * set (then the first failure stands and is not logged again).  Unlike
 * the rest of this helper, these print (kp_log).  Return the status. */
enum kp_txn_status kp_txn_commit_logged(struct kp_txn *t, int *exit_code);
enum kp_txn_status kp_txn_abort_logged(struct kp_txn *t, const char *why,
	    int *exit_code);

/* The next offset this instance committed for topic/partition in a
 * transaction since the partition was assigned, or -1 when it committed
 * none.  (What a restarted or rebalanced instance reads is the group's
 * committed offset: rd_kafka_committed().) */
int64_t	kp_txn_committed(const struct kp_txn *t, const char *topic,
	    int32_t partition);
/* Forget what is known of partitions that were revoked (commit or abort
 * first: their records in the open transaction would be lost). */
void	kp_txn_forget(struct kp_txn *t,
	    const rd_kafka_topic_partition_list_t *parts);

/* 1 when a call into the producer never came back
 * (rd_kafka_send_offsets_to_transaction() can block for ever when a
 * coordinator goes away mid-call: librdkafka issues 5456 and 5511); the
 * helper then returned KP_TXN_FATAL, and the caller must not use, flush
 * or destroy the producer any more (exit without rd_kafka_destroy()). */
int	kp_txn_wedged(const struct kp_txn *t);

/* The sysexits code for the last failure: 75 (EX_TEMPFAIL) for fatal
 * errors and exhausted aborts, 69 when no coordinator answered, 78 for
 * configuration errors; 0 when nothing failed. */
int	kp_txn_exit_code(const struct kp_txn *t);
void	kp_txn_get_stats(const struct kp_txn *t, struct kp_txn_stats *st);

/* Abort a transaction that is still open (work since the last commit is
 * not kept; commit first), release the instance slot and free.  The
 * producer and consumer are the caller's to destroy, after this. */
void	kp_txn_free(struct kp_txn *t);

/* Test hooks, read from the environment at kp_txn_start():
 * KPIPE_TEST_TXN=abort:N aborts every Nth transaction that holds work
 * instead of committing it, once its records are delivered (as if the
 * commit had failed with an abortable error); KPIPE_TEST_TXN=fatal:N raises a fatal error
 * (rd_kafka_test_fatal_error) before the Nth commit;
 * KPIPE_TEST_TXN=crash:N dies by SIGKILL right after the Nth commit
 * (before the caller can act on it: a state store then lags the
 * transaction).  KPIPE_TEST_TXN_OFFSETS=1 also commits each committed
 * transaction's offsets through the consumer, synchronously, for a
 * cluster that does not keep transactional offsets: librdkafka 2.0.2's
 * mock cluster (kmock) answers TxnOffsetCommit and forgets the offsets,
 * so without this a restarted instance would read from the start.  (It
 * also keeps aborted records visible and has no read_committed: the
 * mock cannot show exactly once; tests/t0800-eos-*.sh say so.) */

#endif
