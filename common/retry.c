/* retry.c - backoff with jitter, and the ordered produce queue. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "retry.h"
#include "util.h"

void
kp_retry_init(struct kp_retry *r, long max, int64_t base_ms, int64_t cap_ms)
{
	struct timespec ts;

	memset(r, 0, sizeof(*r));
	r->max = max;
	r->base_ms = base_ms < 0 ? 0 : base_ms;
	r->cap_ms = cap_ms < r->base_ms ? r->base_ms : cap_ms;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
	    ((uint64_t)getpid() << 40) ^ 0x9e3779b97f4a7c15ULL;
	if (r->rng == 0)
		r->rng = 1;
}

int64_t
kp_retry_backoff(int64_t base_ms, int64_t cap_ms, long attempt, double u)
{
	int64_t d = base_ms;
	long i;

	if (attempt < 1)
		attempt = 1;
	for (i = 1; i < attempt && d < cap_ms; i++)
		d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
	if (d > cap_ms)
		d = cap_ms;
	if (u < 0)
		u = 0;
	if (u >= 1)
		u = 0.999999;
	return d / 2 + (int64_t)(u * (double)(d - d / 2));
}

static double
uniform(struct kp_retry *r)
{
	uint64_t x = r->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->rng = x;
	return (double)(x >> 11) / 9007199254740992.0;	/* 2^53 */
}

int
kp_retry_next(struct kp_retry *r, int64_t *delay_ms)
{
	if (r->max >= 0 && r->attempt >= r->max)
		return -1;
	r->attempt++;
	r->total++;
	*delay_ms = kp_retry_backoff(r->base_ms, r->cap_ms, r->attempt,
	    uniform(r));
	return 0;
}

void
kp_retry_reset(struct kp_retry *r)
{
	r->attempt = 0;
}

int
kp_retry_sleep(int64_t ms)
{
	struct timespec ts;
	int64_t end = kp_mono_ms() + ms, left;

	while (!kp_stop && (left = end - kp_mono_ms()) > 0) {
		if (left > 100)
			left = 100;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
	return kp_stop ? -1 : 0;
}

/* ---- the ordered produce queue ---- */

enum entry_state {
	E_NOTE,		/* needs no delivery: done */
	E_UNSENT,	/* waits behind a failure */
	E_PENDING,	/* sent, no report yet */
	E_DONE,		/* delivered */
	E_FAILED	/* report with an error */
};

struct entry {
	struct kp_rq		*q;
	enum entry_state	 state;
	struct kp_record	 rec;
	char			*topic;		/* destination (owned) */
	enum kp_value_format	 vf;
	long			 tag;
	rd_kafka_resp_err_t	 err;
};

struct kp_rq {
	rd_kafka_t		*rk;
	struct kp_rq_opts	 o;
	struct entry		**ring;
	size_t			 cap, head, len;
	struct entry		**free;		/* recycled entries */
	size_t			 nfree, free_cap;
	size_t			 inflight;
	size_t			 nfailed;	/* entries in E_FAILED */
	struct kp_retry		 retry;
	int			 waiting;	/* backing off before a retry */
	int64_t			 retry_at;	/* kp_mono_ms() */
	rd_kafka_resp_err_t	 last_err;
	char			*last_topic;
	struct kp_rq_stats	 st;
};

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct entry *e = m->_private;
	struct kp_rq *q;

	(void)rk;
	(void)opaque;
	if (e == NULL || e->state != E_PENDING)
		return;
	q = e->q;
	q->inflight--;
	if (m->err) {
		e->state = E_FAILED;
		e->err = m->err;
		q->nfailed++;
		q->st.failed++;
		q->last_err = m->err;
		free(q->last_topic);
		q->last_topic = kp_xstrdup(e->topic);
	} else {
		e->state = E_DONE;
		q->st.delivered++;
	}
}

void
kp_rq_conf(rd_kafka_conf_t *conf)
{
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
}

struct kp_rq *
kp_rq_new(rd_kafka_t *rk, const struct kp_rq_opts *o)
{
	struct kp_rq *q = kp_xcalloc(1, sizeof(*q));

	q->rk = rk;
	q->o = *o;
	if (q->o.high == 0)
		q->o.high = 10000;
	q->cap = 1024;
	q->ring = kp_xcalloc(q->cap, sizeof(*q->ring));
	kp_retry_init(&q->retry, o->retry_max, o->backoff_ms, o->backoff_max_ms);
	return q;
}

static struct entry *
at(const struct kp_rq *q, size_t i)
{
	return q->ring[(q->head + i) % q->cap];
}

static void
recycle(struct kp_rq *q, struct entry *e)
{
	free(e->topic);
	e->topic = NULL;
	kp_record_clear(&e->rec);
	if (q->nfree == q->free_cap) {
		q->free_cap = q->free_cap ? q->free_cap * 2 : 64;
		q->free = kp_xrealloc(q->free, q->free_cap * sizeof(*q->free));
	}
	q->free[q->nfree++] = e;
}

void
kp_rq_free(struct kp_rq *q)
{
	size_t i;

	if (q == NULL)
		return;
	kp_rq_discard(q);
	for (i = 0; i < q->nfree; i++) {
		kp_record_free(&q->free[i]->rec);
		free(q->free[i]);
	}
	free(q->free);
	free(q->ring);
	free(q->last_topic);
	free(q);
}

static struct entry *
push(struct kp_rq *q)
{
	struct entry *e;

	if (q->len == q->cap) {
		struct entry **n = kp_xcalloc(q->cap * 2, sizeof(*n));
		size_t i;

		for (i = 0; i < q->len; i++)
			n[i] = at(q, i);
		free(q->ring);
		q->ring = n;
		q->head = 0;
		q->cap *= 2;
	}
	if (q->nfree) {
		e = q->free[--q->nfree];
	} else {
		e = kp_xcalloc(1, sizeof(*e));
		kp_record_init(&e->rec);
	}
	e->q = q;
	e->err = RD_KAFKA_RESP_ERR_NO_ERROR;
	q->ring[(q->head + q->len) % q->cap] = e;
	q->len++;
	return e;
}

/* Send e; on an immediate error it is failed at once. */
static void
send_entry(struct kp_rq *q, struct entry *e)
{
	rd_kafka_resp_err_t err;

	e->state = E_PENDING;
	q->inflight++;
	err = kp_record_produce(q->rk, e->topic, RD_KAFKA_PARTITION_UA,
	    &e->rec, e->vf, e);
	if (err && e->state == E_PENDING) {
		q->inflight--;
		e->state = E_FAILED;
		e->err = err;
		q->nfailed++;
		q->st.failed++;
		q->last_err = err;
		free(q->last_topic);
		q->last_topic = kp_xstrdup(e->topic);
	}
}

int
kp_rq_produce(struct kp_rq *q, const char *topic, const struct kp_record *r,
    enum kp_value_format vf, long tag)
{
	struct entry *e = push(q);

	kp_record_copy(&e->rec, r);
	e->topic = kp_xstrdup(topic);
	e->vf = vf;
	e->tag = tag;
	if (q->nfailed || q->waiting || q->rk == NULL)
		e->state = E_UNSENT;
	else
		send_entry(q, e);
	return 0;
}

void
kp_rq_note(struct kp_rq *q, const struct kp_record *r, long tag)
{
	struct entry *e = push(q);

	kp_record_clear(&e->rec);
	kp_buf_add(&e->rec.topic, r->topic.data, r->topic.len);
	e->rec.partition = r->partition;
	e->rec.offset = r->offset;
	e->rec.src = r->src;
	e->rec.line = r->line;
	e->state = E_NOTE;
	e->tag = tag;
}

/* Call done for the finished records at the head. */
static void
pop_done(struct kp_rq *q)
{
	while (q->len) {
		struct entry *e = at(q, 0);

		if (e->state != E_DONE && e->state != E_NOTE)
			break;
		if (e->state == E_DONE)
			kp_retry_reset(&q->retry);
		q->head = (q->head + 1) % q->cap;
		q->len--;
		if (q->o.done)
			q->o.done(q->o.opaque, &e->rec, e->tag);
		recycle(q, e);
	}
}

#define MAX_FAILED_TOPICS 16

/* Send again every record from the first failed one on: those not
 * delivered, and, to keep each topic in order, the delivered ones to a
 * topic where a delivery failed. */
static void
resend(struct kp_rq *q)
{
	const char *failed[MAX_FAILED_TOPICS];
	size_t i, nf = 0, k;
	int all = 0;

	for (i = 0; i < q->len; i++) {
		struct entry *e = at(q, i);

		if (e->state != E_FAILED)
			continue;
		for (k = 0; k < nf; k++)
			if (!strcmp(failed[k], e->topic))
				break;
		if (k < nf)
			continue;
		if (nf == MAX_FAILED_TOPICS)
			all = 1;
		else
			failed[nf++] = e->topic;
	}
	q->nfailed = 0;
	q->st.retries++;
	for (i = 0; i < q->len; i++) {
		struct entry *e = at(q, i);

		if (e->state == E_NOTE || e->state == E_PENDING)
			continue;
		if (e->state == E_DONE && !all) {
			for (k = 0; k < nf; k++)
				if (!strcmp(failed[k], e->topic))
					break;
			if (k == nf)
				continue;	/* its topic had no failure */
		}
		if (q->nfailed) {
			e->state = E_UNSENT;	/* behind a new failure */
			continue;
		}
		send_entry(q, e);
	}
}

int
kp_rq_poll(struct kp_rq *q, int timeout_ms)
{
	int64_t delay;

	if (q->rk) {
		if (q->waiting) {
			int64_t left = q->retry_at - kp_mono_ms();

			if (left < timeout_ms)
				timeout_ms = left < 0 ? 0 : (int)left;
		}
		rd_kafka_poll(q->rk, timeout_ms);
	}
	pop_done(q);
	if (q->nfailed && q->inflight == 0 && !q->waiting) {
		struct entry *e = at(q, 0);

		if (kp_retry_next(&q->retry, &delay) < 0)
			return -1;
		q->waiting = 1;
		q->retry_at = kp_mono_ms() + delay;
		if (q->o.on_retry)
			q->o.on_retry(q->o.opaque, e->topic, e->err,
			    q->retry.attempt, delay);
	}
	if (q->waiting && kp_mono_ms() >= q->retry_at) {
		q->waiting = 0;
		resend(q);
	}
	return 0;
}

int
kp_rq_flush(struct kp_rq *q)
{
	while (q->len) {
		if (kp_stop && (q->nfailed || q->waiting) && q->inflight == 0)
			return -1;
		if (kp_rq_poll(q, 100) < 0)
			return -1;
	}
	return 0;
}

void
kp_rq_settle(struct kp_rq *q)
{
	while (q->rk && q->inflight)
		rd_kafka_poll(q->rk, 100);
	pop_done(q);
}

void
kp_rq_discard(struct kp_rq *q)
{
	/* records in flight keep a pointer to their entry: wait them out */
	while (q->rk && q->inflight)
		rd_kafka_poll(q->rk, 100);
	while (q->len) {
		struct entry *e = at(q, 0);

		q->head = (q->head + 1) % q->cap;
		q->len--;
		recycle(q, e);
	}
	q->head = 0;
	q->nfailed = 0;
	q->waiting = 0;
	kp_retry_reset(&q->retry);
}

int
kp_rq_busy(const struct kp_rq *q)
{
	return q->len >= q->o.high || q->nfailed || q->waiting;
}

size_t
kp_rq_len(const struct kp_rq *q)
{
	return q->len;
}

size_t
kp_rq_inflight(const struct kp_rq *q)
{
	return q->inflight;
}

rd_kafka_resp_err_t
kp_rq_error(const struct kp_rq *q, const char **topic)
{
	if (topic)
		*topic = q->last_topic;
	return q->last_err;
}

void
kp_rq_get_stats(const struct kp_rq *q, struct kp_rq_stats *st)
{
	*st = q->st;
}
