/* retry.h - blocking errors: exponential backoff with jitter, and an
 * ordered produce queue that retries failed deliveries.
 *
 * A blocking error (a broker or topic that is unavailable, a delivery that
 * fails) must never turn into a skipped record: the program waits and
 * tries again.  struct kp_retry is the policy: retry number k (1-based)
 * waits d/2 + u*d/2 ms, where d = min(cap, base * 2^(k-1)) and u is uniform
 * in [0, 1) ("equal jitter": never less than half the nominal delay, so
 * the backoff keeps growing, and spread so that many clients do not retry
 * in step); after `max` retries of the same operation it gives up (-1:
 * never).
 *
 * struct kp_rq is an ordered produce queue on a librdkafka producer.  Each
 * record put in it is copied and kept until its delivery report says it is
 * written; records that need no delivery (written to stdout, to a file)
 * can be put in it too, so that one queue says, in input order, which
 * records are done.  When a delivery fails, the queue stops sending, waits
 * for every report in flight, backs off, and then sends again, in order,
 * every record from the first failed one on that was not delivered, and
 * those delivered after it to a topic where a delivery failed (so such a
 * record is written twice: at least once, never reordered within a topic,
 * never skipped).  The done callback sees records leave the queue in the
 * order they entered it, each once, only after it and everything before
 * it was delivered: the place to store consumer offsets.
 */
#ifndef KP_RETRY_H
#define KP_RETRY_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"
#include "record.h"

struct kp_retry {
	long		 max;		/* retries per operation; -1: forever */
	int64_t		 base_ms;	/* nominal first delay, ms (>= 0) */
	int64_t		 cap_ms;	/* largest nominal delay, ms */
	long		 attempt;	/* retries of the current operation */
	unsigned long	 total;		/* retries over the whole run */
	uint64_t	 rng;		/* xorshift64 state (never 0) */
};

/* Set the policy; the jitter is seeded from the clock and the pid. */
void	kp_retry_init(struct kp_retry *r, long max, int64_t base_ms,
	    int64_t cap_ms);
/* The delay in ms before retry number `attempt` (1-based) for u in
 * [0, 1): d/2 + u*d/2 with d = min(cap_ms, base_ms * 2^(attempt-1)).
 * Pure, for tests. */
int64_t	kp_retry_backoff(int64_t base_ms, int64_t cap_ms, long attempt,
	    double u);
/* Account for one more retry of the current operation.  Returns 0 and
 * sets *delay_ms, or -1 when `max` retries were already made. */
int	kp_retry_next(struct kp_retry *r, int64_t *delay_ms);
/* The current operation succeeded: the next failure starts at retry 1. */
void	kp_retry_reset(struct kp_retry *r);
/* Sleep ms, in slices of at most 100 ms.  Returns 0, or -1 as soon as
 * kp_stop is set. */
int	kp_retry_sleep(int64_t ms);

/* ---- the ordered produce queue ---- */

struct kp_rq;

struct kp_rq_opts {
	size_t		 high;		/* kp_rq_busy() beyond this many */
	long		 retry_max;	/* kp_retry policy */
	int64_t		 backoff_ms, backoff_max_ms;
	/* called for each record leaving the queue, in order; r is borrowed
	 * for the call (a kp_rq_note() record holds only its origin:
	 * topic, partition, offset, src, line) */
	void		(*done)(void *opaque, const struct kp_record *r,
			    long tag);
	/* called when a failed delivery is about to be retried after
	 * delay_ms (retry number attempt of that record), for logging */
	void		(*on_retry)(void *opaque, const char *topic,
			    rd_kafka_resp_err_t err, long attempt,
			    int64_t delay_ms);
	void		*opaque;
};

struct kp_rq_stats {
	unsigned long	 delivered;	/* delivery reports without error */
	unsigned long	 failed;	/* delivery reports with an error */
	unsigned long	 retries;	/* times the queue sent again */
};

/* Install the queue's delivery report callback on a producer conf (before
 * rd_kafka_new()).  The queue uses each message's opaque: do not pass
 * one of your own to that producer. */
void	kp_rq_conf(rd_kafka_conf_t *conf);
/* A new queue over producer rk (borrowed; NULL for a queue of
 * kp_rq_note() records only).  Never NULL. */
struct kp_rq *kp_rq_new(rd_kafka_t *rk, const struct kp_rq_opts *o);
/* Free the queue and every record left in it (after kp_rq_flush() or
 * kp_rq_settle()). */
void	kp_rq_free(struct kp_rq *q);

/* Queue r (copied) for topic, the value written as vf, with the
 * producer's partitioner choosing the partition; `tag` comes back in the
 * done callback.  It is sent at once unless a failure is being retried
 * (then it waits its turn).  Never blocks; returns 0. */
int	kp_rq_produce(struct kp_rq *q, const char *topic,
	    const struct kp_record *r, enum kp_value_format vf, long tag);
/* Queue a record that needs no delivery (its origin is copied), so that
 * it leaves the queue in order with the others. */
void	kp_rq_note(struct kp_rq *q, const struct kp_record *r, long tag);

/* Serve delivery reports for up to timeout_ms, send again after a failure
 * once its backoff has passed, and call done for the records that are
 * finished.  Returns 0, or -1 when a record failed and its retries are
 * exhausted (kp_rq_error() says why; the record stays in the queue). */
int	kp_rq_poll(struct kp_rq *q, int timeout_ms);
/* Poll until the queue is empty.  Returns 0, or -1 when retries are
 * exhausted, or when a failure needs a retry after kp_stop was set (an
 * orderly stop does not wait out an outage). */
int	kp_rq_flush(struct kp_rq *q);
/* Wait for every report in flight (no retry is started) and call done
 * for the finished records at the head.  For a consumer that is losing
 * its partitions: commit, then kp_rq_discard(). */
void	kp_rq_settle(struct kp_rq *q);
/* Drop every record left (they were not done), and reset the retry
 * state. */
void	kp_rq_discard(struct kp_rq *q);

/* 1 when the queue holds `high` records or more, or a failure is waiting
 * to be retried: a consumer should pause its intake. */
int	kp_rq_busy(const struct kp_rq *q);
/* Records in the queue; records sent and not yet reported. */
size_t	kp_rq_len(const struct kp_rq *q);
size_t	kp_rq_inflight(const struct kp_rq *q);
/* The error of the last failed delivery (RD_KAFKA_RESP_ERR_NO_ERROR when
 * none), and the topic it was for (or NULL). */
rd_kafka_resp_err_t kp_rq_error(const struct kp_rq *q, const char **topic);
void	kp_rq_get_stats(const struct kp_rq *q, struct kp_rq_stats *st);

#endif
