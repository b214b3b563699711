/*
 * kdlq - validate records and route them: good ones go on, in order; bad
 * ones (bytes that do not decode as JSON or msgpack, invalid UTF-8, a
 * record that breaks the schema or lacks a required field) go to a
 * dead-letter topic or file with the reason and their original bytes.
 * Blocking errors (an output topic or broker that is unavailable, a
 * delivery that fails) are retried with exponential backoff and jitter;
 * kdlq never moves past a record it could not deliver, and a consumer
 * offset is stored only once its record, and every record before it, is
 * delivered or dead-lettered.
 *
 * With --exactly-once, the good records, the dead letters and the input
 * offsets are committed together in Kafka transactions (txn.h); a failed
 * delivery aborts the transaction and the records are read again.
 *
 * "kdlq replay" sends dead letters back as the original records, without
 * their kpipe.error.* headers; "kdlq stats" counts them by reason, stage
 * and source topic.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "codec.h"
#include "dlq.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "mp.h"
#include "path.h"
#include "retry.h"
#include "schema.h"
#include "txn.h"
#include "util.h"
#include "window.h"

#define USAGE \
"usage: kdlq [-eqv] [-b brokers] [-X prop=value] [-F file] [-G group]\n" \
"            [--from topic] [--to topic] [--schema file] [--require path,...]\n" \
"            [-I format] [-O format] [--retry-max n] [--retry-backoff ms]\n" \
"            [--retry-backoff-max ms] [--stats seconds]\n" \
"            [--commit-interval ms] [--exactly-once] --dlq topic|file\n" \
"       kdlq replay [-qv] [-b brokers] [-X prop=value] [-F file]\n" \
"            [-O format] [--reason regex] [--to topic|-] [--retry-max n]\n" \
"            [--retry-backoff ms] [--retry-backoff-max ms] --from topic|file\n" \
"       kdlq stats [-qv] [-b brokers] [-X prop=value] [-F file]\n" \
"            --from topic|file\n"

#define STAGE		"kdlq"
#define TAG_OUT		1L
#define COMMIT_MS	500

enum mode { MODE_ROUTE, MODE_REPLAY, MODE_STATS };

struct conf {
	enum mode		 mode;
	struct kp_kconf		 kc;
	const char		*from, *to, *group, *dlq;
	const char		*schema_path;
	struct kp_schema	*schema;
	struct kp_path		*req;
	size_t			 nreq;
	int			 exit_eof;
	enum kp_format		 in, out;
	long long		 retry_max, backoff, backoff_max;
	long long		 stats_s;
	const char		*reason;
	regex_t			 reason_re;
	int			 reason_ok;	/* reason_re compiled */
	int			 eos;		/* --exactly-once */
	int64_t			 commit_ms;	/* --commit-interval; 0: default */
};

/* state of a routing run */
struct run {
	struct conf		*c;
	rd_kafka_t		*cons, *prod;
	struct kp_rq		*q;
	struct kp_dlq		*dlq;
	struct kp_writer	*w;
	struct kp_json_parser	*jp;
	struct kp_record	 rec;
	/* the value's bytes as read: borrowed (op, on), or copied into
	 * obuf, or, when orig_json, the JSON text of the value */
	const char		*op;
	size_t			 on;
	int			 onull, orig_json;
	struct kp_buf		 obuf;
	int			 utf8_ok;	/* the value came from JSON text */
	struct kp_buf		 val;		/* decoded value */
	/* offsets of finished records, stored after stdout is flushed */
	rd_kafka_topic_partition_list_t *pending;
	/* assigned partitions; offset 1 when at its end (-e) */
	rd_kafka_topic_partition_list_t *eof;
	int			 paused;
	struct kp_txn		*txn;		/* --exactly-once */
	unsigned long		 in, good, dead;
	int64_t			 next_stats, next_commit;
	int			 exit_code;
};

static void
usage(int code)
{
	fputs(USAGE, code ? stderr : stdout);
	exit(code);
}

/* ---- checking one record ---- */

/* Decode a bytes value: JSON text when its first byte is below 0x80,
 * msgpack otherwise.  Returns 0 with the value now structured, or -1. */
static int
decode(struct run *r, struct kp_record *rec, char *why, size_t n)
{
	const unsigned char *p = (const unsigned char *)rec->value.data;
	size_t len = rec->value.len;
	long long sz;
	int rc;

	kp_buf_reset(&r->val);
	if (len == 0) {
		snprintf(why, n, "invalid JSON: empty value");
		return -1;
	}
	if (p[0] < 0x80) {
		rc = kp_json_parse(r->jp, (const char *)p, len, &r->val, why, n);
		if (rc == -2)
			snprintf(why, n, "invalid JSON: empty value");
		if (rc != 0)
			return -1;
		r->utf8_ok = 1;
	} else {
		sz = kp_mp_skip(p, len);
		if (sz == 0) {
			snprintf(why, n, "invalid msgpack: truncated");
			return -1;
		}
		if (sz < 0) {
			snprintf(why, n, "invalid msgpack");
			return -1;
		}
		if ((size_t)sz < len) {
			snprintf(why, n, "invalid msgpack: trailing bytes "
			    "after the value");
			return -1;
		}
		kp_buf_add(&r->val, p, len);
	}
	kp_record_set_value(rec, KP_VALUE_MSGPACK, r->val.data, r->val.len);
	return 0;
}

/* Decode and validate rec.  Returns 0 for a good record (its value now
 * structured, or null: a tombstone is not validated), or -1 with why. */
static int
check(struct run *r, struct kp_record *rec, char *why, size_t n)
{
	const struct conf *c = r->c;
	const msgpack_object *o;
	struct kp_val v;
	size_t i;

	if (rec->vtype == KP_VALUE_NULL)
		return 0;
	if (rec->vtype == KP_VALUE_BYTES && decode(r, rec, why, n) < 0)
		return -1;
	if (r->utf8_ok && !c->schema && !c->nreq)
		return 0;	/* nothing more to look at */
	if ((o = kp_record_value_obj(rec)) == NULL) {
		snprintf(why, n, "invalid msgpack");
		return -1;
	}
	if (!r->utf8_ok && kp_schema_check_utf8(o, why, n) < 0)
		return -1;
	for (i = 0; i < c->nreq; i++) {
		kp_path_eval(&c->req[i], rec, &v);
		if (v.t == KP_V_MISSING) {
			snprintf(why, n, "%s: required field missing",
			    c->req[i].text);
			return -1;
		}
		if (v.t == KP_V_NULL ||
		    (v.t == KP_V_OBJ && v.o->type == MSGPACK_OBJECT_NIL)) {
			snprintf(why, n, "%s: required field is null",
			    c->req[i].text);
			return -1;
		}
	}
	if (c->schema && kp_schema_validate(c->schema,
	    kp_record_value_obj(rec), why, n) < 0)
		return -1;
	return 0;
}

/* ---- routing ---- */

static int
write_failed(struct run *r)
{
	if (errno != EPIPE)
		kp_err("cannot write to stdout: %s", strerror(errno));
	r->exit_code = errno == EPIPE ? 0 : EX_IOERR;
	if (errno == EPIPE)
		kp_stop = 1;
	return -1;
}

static int
flush_out(struct run *r)
{
	if (r->w && kp_writer_pending(r->w) && kp_writer_flush(r->w) < 0)
		return write_failed(r);
	return 0;
}

/* One control character in a reason would break a header or a table. */
static void
clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/* The original value bytes of rec (NULL for a null value). */
static const char *
orig(struct run *r, const struct kp_record *rec, size_t *n)
{
	if (r->orig_json) {
		kp_buf_reset(&r->obuf);
		kp_value_json(&r->obuf, rec);
		r->op = r->obuf.data;
		r->on = r->obuf.len;
		r->orig_json = 0;
	}
	*n = r->on;
	return r->onull ? NULL : r->op ? r->op : "";
}

static int
dead(struct run *r, struct kp_record *rec, char *why)
{
	char where[300];
	const char *p;
	size_t n;

	clean(why);
	kp_record_where(rec, where, sizeof(where));
	kp_info("%s: %s", where, why);
	p = orig(r, rec, &n);
	if (kp_dlq_write(r->dlq, rec, p, n, why) < 0) {
		kp_err("cannot write dead letter: %s", strerror(errno));
		r->exit_code = EX_IOERR;
		return -1;
	}
	if (r->cons && !kp_dlq_is_topic(r->dlq))
		kp_rq_note(r->q, rec, KP_DLQ_TAG);
	r->dead++;
	return 0;
}

/* Route rec, whose original value bytes orig() gives. */
static int
route(struct run *r, struct kp_record *rec)
{
	char why[1024];
	const char *p;
	size_t n;

	r->in++;
	if (check(r, rec, why, sizeof(why)) < 0)
		return dead(r, rec, why);
	r->good++;
	if (r->c->to) {
		/* byte for byte: the value as it came in */
		if ((p = orig(r, rec, &n)) == NULL)
			kp_record_set_value(rec, KP_VALUE_NULL, NULL, 0);
		else
			kp_record_set_value(rec, KP_VALUE_BYTES, p, n);
		kp_rq_produce(r->q, r->c->to, rec, KP_VF_RAW, TAG_OUT);
		return 0;
	}
	if (kp_writer_write(r->w, rec) < 0)
		return write_failed(r);
	if (r->cons)
		kp_rq_note(r->q, rec, TAG_OUT);
	return 0;
}

/* The original bytes are p[0..n) (NULL: a null value), borrowed until
 * the record is routed; copy says to copy them first. */
static void
set_orig(struct run *r, const void *p, size_t n, int copy)
{
	r->onull = p == NULL;
	r->orig_json = 0;
	r->utf8_ok = 0;
	r->op = p;
	r->on = n;
	if (p && copy) {
		kp_buf_reset(&r->obuf);
		kp_buf_add(&r->obuf, p, n);
		r->op = r->obuf.data;
	}
}

/* ---- queue callbacks, statistics ---- */

static void
on_done(void *opaque, const struct kp_record *rec, long tag)
{
	struct run *r = opaque;
	rd_kafka_topic_partition_t *tp;

	(void)tag;
	if (r->cons == NULL || r->txn || rec->topic.len == 0 || rec->offset < 0)
		return;
	tp = rd_kafka_topic_partition_list_find(r->pending, rec->topic.data,
	    rec->partition);
	if (tp == NULL)
		tp = rd_kafka_topic_partition_list_add(r->pending,
		    rec->topic.data, rec->partition);
	tp->offset = rec->offset + 1;
}

static void
on_retry(void *opaque, const char *topic, rd_kafka_resp_err_t err,
    long attempt, int64_t delay)
{
	(void)opaque;
	kp_warn("cannot deliver to topic '%s': %s; retry %ld in %lld ms", topic,
	    rd_kafka_err2str(err), attempt, (long long)delay);
}

static void
print_stats(struct run *r)
{
	struct kp_rq_stats st;

	kp_rq_get_stats(r->q, &st);
	fprintf(stderr, "{\"stage\":\"%s\",\"in\":%lu,\"good\":%lu,"
	    "\"dead\":%lu,\"delivered\":%lu,\"failed_deliveries\":%lu,"
	    "\"retries\":%lu,\"queued\":%zu", STAGE, r->in, r->good, r->dead,
	    st.delivered, st.failed, st.retries, kp_rq_len(r->q));
	if (r->txn) {
		struct kp_txn_stats ts;

		kp_txn_get_stats(r->txn, &ts);
		fprintf(stderr, ",\"transactions\":%lu,\"aborts\":%lu,"
		    "\"records_committed\":%lu,\"records_aborted\":%lu",
		    ts.commits, ts.aborts, ts.in_committed, ts.in_aborted);
	}
	fputs("}\n", stderr);
}

static void
tick(struct run *r)
{
	int64_t now;

	if (r->c->stats_s == 0)
		return;
	now = kp_mono_ms();
	if (now >= r->next_stats) {
		print_stats(r);
		r->next_stats = now + r->c->stats_s * 1000;
	}
}

static int
exhausted(struct run *r)
{
	const char *topic;
	rd_kafka_resp_err_t err = kp_rq_error(r->q, &topic);

	kp_err("cannot deliver to topic '%s': %s; giving up after %lld "
	    "retries", topic ? topic : "?", rd_kafka_err2str(err),
	    r->c->retry_max);
	r->exit_code = EX_TEMPFAIL;
	return -1;
}

/* Wait while the queue is too full or backing off (stdin input). */
static int
drain_some(struct run *r)
{
	if (kp_rq_poll(r->q, 0) < 0)
		return exhausted(r);
	while (kp_rq_busy(r->q) && !kp_stop) {
		if (kp_rq_poll(r->q, 100) < 0)
			return exhausted(r);
		tick(r);
	}
	return 0;
}

/* ---- --exactly-once ---- */

/* What a commit or an abort came to: after an abort, the queue's
 * records (aborted with their transaction) are dropped; a fatal error
 * ends the run.  Returns st. */
static enum kp_txn_status
eos_status(struct run *r, enum kp_txn_status st)
{
	if (st == KP_TXN_ABORTED)
		kp_rq_discard(r->q);
	return st;
}

static enum kp_txn_status
eos_commit(struct run *r)
{
	return eos_status(r, kp_txn_commit_logged(r->txn, &r->exit_code));
}

static enum kp_txn_status
eos_abort(struct run *r, const char *why)
{
	return eos_status(r, kp_txn_abort_logged(r->txn, why, &r->exit_code));
}

/* A delivery failed (the queue does not retry under transactions): the
 * transaction cannot commit, abort it now. */
static enum kp_txn_status
eos_failed(struct run *r)
{
	const char *topic;
	rd_kafka_resp_err_t err = kp_rq_error(r->q, &topic);
	char why[512];

	snprintf(why, sizeof(why), "cannot deliver to topic '%s': %s",
	    topic ? topic : "?", rd_kafka_err2str(err));
	return eos_abort(r, why);
}

static void eof_mark(struct run *, const char *, int32_t, int);

static void
eos_rewound(void *opaque, const char *topic, int32_t partition, int64_t offset)
{
	struct run *r = opaque;

	kp_info("topic '%s' partition %d: reading again from offset %lld",
	    topic, (int)partition, (long long)offset);
	eof_mark(r, topic, partition, 0);
}

/* ---- Kafka consumer ---- */

static void
commit_pass(struct run *r)
{
	rd_kafka_resp_err_t err;

	if (r->cons == NULL || r->pending->cnt == 0)
		return;
	if (flush_out(r) < 0)
		return;
	err = rd_kafka_offsets_store(r->cons, r->pending);
	if (err && err != RD_KAFKA_RESP_ERR__STATE)
		kp_warn("cannot store offsets: %s", rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(r->pending);
	r->pending = rd_kafka_topic_partition_list_new(16);
}

/* The interval at which offsets are stored (at least once). */
static int64_t
commit_ms(const struct conf *c)
{
	return c->commit_ms ? c->commit_ms : COMMIT_MS;
}

static void
set_paused(struct run *r, int pause)
{
	rd_kafka_topic_partition_list_t *a = NULL;

	if (pause == r->paused)
		return;
	if (rd_kafka_assignment(r->cons, &a) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (pause)
			rd_kafka_pause_partitions(r->cons, a);
		else
			rd_kafka_resume_partitions(r->cons, a);
		rd_kafka_topic_partition_list_destroy(a);
	}
	r->paused = pause;
	kp_debug("%s intake", pause ? "paused" : "resumed");
}

static void
eof_mark(struct run *r, const char *topic, int32_t p, int at_end)
{
	rd_kafka_topic_partition_t *tp;

	tp = rd_kafka_topic_partition_list_find(r->eof, topic, p);
	if (tp)
		tp->offset = at_end;
}

static int
all_eof(const struct run *r)
{
	int i;

	if (r->eof->cnt == 0)
		return 0;
	for (i = 0; i < r->eof->cnt; i++)
		if (r->eof->elems[i].offset != 1)
			return 0;
	return 1;
}

static void
rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct run *r = opaque;
	int i;

	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		for (i = 0; i < parts->cnt; i++)
			if (!rd_kafka_topic_partition_list_find(r->eof,
			    parts->elems[i].topic, parts->elems[i].partition))
				rd_kafka_topic_partition_list_add(r->eof,
				    parts->elems[i].topic,
				    parts->elems[i].partition)->offset = 0;
		rd_kafka_assign(rk, parts);
		if (r->paused)
			rd_kafka_pause_partitions(rk, parts);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		/* commit what is done; what is not will be read again by
		 * whoever gets the partitions */
		kp_rq_settle(r->q);
		if (r->txn) {
			if (rd_kafka_assignment_lost(rk))
				eos_abort(r, "the assignment was lost");
			else
				eos_commit(r);
			kp_txn_forget(r->txn, parts);
		} else {
			commit_pass(r);
			rd_kafka_commit(rk, NULL, 0);
		}
		if (kp_rq_len(r->q))
			kp_info("rebalance: %zu records not yet delivered will "
			    "be read again", kp_rq_len(r->q));
		kp_rq_discard(r->q);
		for (i = 0; i < parts->cnt; i++)
			rd_kafka_topic_partition_list_del(r->eof,
			    parts->elems[i].topic, parts->elems[i].partition);
		rd_kafka_assign(rk, NULL);
		r->paused = 0;
		break;
	default:
		kp_err("rebalance error: %s", rd_kafka_err2str(err));
		rd_kafka_assign(rk, NULL);
		break;
	}
}

static void
message(struct run *r, rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	char err[512];

	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		eof_mark(r, topic, m->partition, 1);
		return;
	}
	if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
	    m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
	    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
		kp_err("%s", rd_kafka_message_errstr(m));
		r->exit_code = EX_CONFIG;
		return;
	}
	if (m->err) {
		kp_warn("%s", rd_kafka_message_errstr(m));
		return;
	}
	eof_mark(r, topic, m->partition, 0);
	kp_record_from_message(&r->rec, m, KP_FMT_RAW, r->jp, err, sizeof(err));
	set_orig(r, m->payload, m->len, 0);
	if (route(r, &r->rec) == 0 && r->txn) {
		kp_txn_processed(r->txn, topic, m->partition, m->offset);
		kp_txn_produced(r->txn, 1);
	}
}

static int
consume(struct run *r)
{
	struct conf *c = r->c;
	rd_kafka_topic_partition_list_t *t;
	rd_kafka_message_t *m;
	char *topics = kp_xstrdup(c->from), *tok, *save = NULL;
	rd_kafka_resp_err_t err;
	int64_t now;

	t = rd_kafka_topic_partition_list_new(1);
	for (tok = strtok_r(topics, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save))
		rd_kafka_topic_partition_list_add(t, tok, RD_KAFKA_PARTITION_UA);
	free(topics);
	err = rd_kafka_subscribe(r->cons, t);
	rd_kafka_topic_partition_list_destroy(t);
	if (err) {
		kp_err("cannot subscribe to '%s': %s", c->from,
		    rd_kafka_err2str(err));
		return r->exit_code = EX_CONFIG;
	}
	while (!kp_stop && !r->exit_code) {
		if (kp_rq_poll(r->q, 0) < 0) {
			if (r->txn == NULL)
				return exhausted(r);
			eos_failed(r);
			continue;
		}
		set_paused(r, kp_rq_busy(r->q));
		if (c->exit_eof && all_eof(r) && kp_rq_len(r->q) == 0) {
			/* the last transaction must commit; an abort reads
			 * its records again */
			if (r->txn == NULL || eos_commit(r) != KP_TXN_ABORTED)
				break;
			continue;
		}
		if (r->txn) {
			if (kp_txn_due(r->txn))
				eos_commit(r);
			m = rd_kafka_consumer_poll(r->cons, 10);
			if (m != NULL) {
				message(r, m);
				rd_kafka_message_destroy(m);
			}
			tick(r);
			continue;
		}
		m = rd_kafka_consumer_poll(r->cons, r->paused ||
		    kp_rq_inflight(r->q) ? 10 : 100);
		now = kp_mono_ms();
		if (m == NULL) {
			commit_pass(r);
			if (flush_out(r) < 0)
				break;
			r->next_commit = now + commit_ms(c);
		} else {
			message(r, m);
			rd_kafka_message_destroy(m);
		}
		if (now >= r->next_commit) {
			commit_pass(r);
			r->next_commit = now + commit_ms(c);
		}
		tick(r);
	}
	return 0;
}

/* A producer; transactional when txn is not NULL. */
static rd_kafka_t *
new_producer(struct conf *c, struct kp_txn *txn)
{
	static const char *const defaults[] = {
		"message.timeout.ms", "30000",
		"enable.idempotence", "true",
		/* Java's partitioner, as every kpipe producer: a key keeps
		 * its partition number from input to output */
		"partitioner", "murmur2_random",
		NULL
	};
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512];

	if ((conf = kp_kconf_build(&c->kc, defaults, err, sizeof(err))) ==
	    NULL) {
		kp_err("%s", err);
		return NULL;
	}
	if (txn && kp_txn_producer_conf(txn, conf, err, sizeof(err)) < 0) {
		kp_err("%s", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	kp_rq_conf(conf);
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) ==
	    NULL) {
		kp_err("cannot create producer: %s", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

static rd_kafka_t *
new_consumer(struct conf *c, void *opaque)
{
	static const char *const defaults[] = {
		"enable.partition.eof", "true",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		NULL
	};
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512], ms[32];

	if ((conf = kp_kconf_build(&c->kc, defaults, err, sizeof(err))) ==
	    NULL) {
		kp_err("%s", err);
		return NULL;
	}
	snprintf(ms, sizeof(ms), "%lld", (long long)c->commit_ms);
	if (rd_kafka_conf_set(conf, "group.id", c->group, err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK || (c->eos && kp_txn_consumer_conf(conf, err,
	    sizeof(err)) < 0) || (!c->eos && c->commit_ms &&
	    rd_kafka_conf_set(conf, "auto.commit.interval.ms", ms, err,
	    sizeof(err)) != RD_KAFKA_CONF_OK)) {
		kp_err("%s", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_opaque(conf, opaque);
	if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))) ==
	    NULL) {
		kp_err("cannot create consumer: %s", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/* ---- stdin ---- */

static void
orig_from_reader(struct run *r, struct kp_reader *rd, struct kp_record *rec)
{
	const void *p;
	size_t n;

	switch (kp_reader_format(rd)) {
	case KP_FMT_JSON:
		kp_reader_raw(rd, &p, &n);
		if (n && ((const char *)p)[n - 1] == '\r')
			n--;
		set_orig(r, p, n, 0);
		r->utf8_ok = 1;
		return;
	case KP_FMT_MSGPACK:
		kp_reader_raw(rd, &p, &n);
		set_orig(r, p, n, 0);
		return;
	default:
		break;
	}
	if (rec->vtype == KP_VALUE_NULL) {
		set_orig(r, NULL, 0, 0);
	} else if (rec->vtype == KP_VALUE_BYTES) {
		/* copied: decoding replaces the value */
		set_orig(r, rec->value.data ? rec->value.data : "",
		    rec->value.len, 1);
	} else {
		set_orig(r, "", 0, 0);
		r->orig_json = 1;
	}
}

/* While records wait for delivery and the reader has nothing buffered,
 * wait for input in slices of 100 ms and serve the queue meanwhile, so
 * that deliveries and retries go on while standard input is idle. */
static int
wait_input(struct run *r, struct kp_reader *rd)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };

	while (!kp_stop && kp_rq_len(r->q) && kp_reader_buffered(rd) == 0 &&
	    poll(&pfd, 1, 100) == 0) {
		if (kp_rq_poll(r->q, 0) < 0)
			return exhausted(r);
		tick(r);
	}
	return 0;
}

static int
read_stdin(struct run *r)
{
	struct kp_reader_opts ro = { .fmt = r->c->in };
	struct kp_reader *rd = kp_reader_new(0, "-", &ro);
	char err[512];
	int rc;

	while (!kp_stop && !r->exit_code) {
		if (wait_input(r, rd) < 0 || kp_stop)
			break;
		rc = kp_reader_next(rd, &r->rec, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc == -2 && kp_stop)
			break;		/* a signal interrupted read(2) */
		if (rc == -2) {
			kp_err("stdin: %s", err);
			r->exit_code = EX_DATAERR;
			break;
		}
		if (rc == -1) {
			const void *p;
			size_t n;

			kp_reader_raw(rd, &p, &n);
			set_orig(r, p ? p : "", n, 0);
			r->in++;
			dead(r, &r->rec, err);
		} else {
			orig_from_reader(r, rd, &r->rec);
			route(r, &r->rec);
		}
		if (drain_some(r) < 0)
			break;
		tick(r);
	}
	kp_reader_free(rd);
	return 0;
}

/* ---- a routing run ---- */

static int
open_dlq(struct run *r)
{
	struct conf *c = r->c;
	const char *name;
	char err[512];

	if (kp_dlq_target(c->dlq, kp_kconf_has_brokers(&c->kc), &name) ==
	    KP_DLQ_TOPIC) {
		r->dlq = kp_dlq_open_topic(r->q, name, STAGE);
		return 0;
	}
	if ((r->dlq = kp_dlq_open_file(name, STAGE, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		return r->exit_code = EX_CANTCREAT;
	}
	return 0;
}

/* The orderly stop of --exactly-once: deliver what is queued and commit
 * the last transaction (what does not commit is read again next time),
 * then leave the group. */
static void
eos_shutdown(struct run *r)
{
	if (!r->exit_code) {
		if (kp_rq_flush(r->q) < 0 && !kp_stop)
			eos_failed(r);
		else
			eos_commit(r);
	}
	if (r->c->stats_s)
		print_stats(r);
	rd_kafka_consumer_close(r->cons);
	kp_rq_discard(r->q);
}

static void
shutdown_run(struct run *r)
{
	size_t left;

	if (r->txn) {
		eos_shutdown(r);
		return;
	}
	/* deliver what is queued (after any error but exhausted retries);
	 * an orderly stop does not wait out an outage, and what is left is
	 * not committed */
	if (r->exit_code != EX_TEMPFAIL && kp_rq_flush(r->q) < 0) {
		int first = r->exit_code;

		if (kp_stop)
			r->exit_code = EX_TEMPFAIL;
		else
			exhausted(r);
		if (first)
			r->exit_code = first;
	}
	if ((left = kp_rq_len(r->q)) > 0) {
		kp_rq_settle(r->q);
		left = kp_rq_len(r->q);
		if (left)
			kp_err("%zu records left undone, from the first one "
			    "not delivered on%s", left, r->cons ?
			    "; their offsets are not committed" : "");
		if (!r->exit_code)
			r->exit_code = EX_TEMPFAIL;
	}
	/* flush_out() sets the status itself (0 when the reader went away:
	 * EPIPE is a quiet end, as it was when first met); an earlier
	 * status stands */
	{
		int prev = r->exit_code;

		if (flush_out(r) < 0 && prev)
			r->exit_code = prev;
	}
	if (r->c->stats_s)
		print_stats(r);
	if (r->cons) {
		commit_pass(r);
		rd_kafka_commit(r->cons, NULL, 0);
		rd_kafka_consumer_close(r->cons);
	}
	if (r->prod) {
		rd_kafka_purge(r->prod, RD_KAFKA_PURGE_F_QUEUE |
		    RD_KAFKA_PURGE_F_INFLIGHT);
		kp_rq_discard(r->q);
	}
}

static int
run_route(struct conf *c)
{
	struct kp_writer_opts wo = { .fmt = c->out };
	struct kp_rq_opts qo = {
		.retry_max = c->retry_max,
		.backoff_ms = c->backoff,
		.backoff_max_ms = c->backoff_max,
		.done = on_done,
		.on_retry = on_retry,
	};
	struct run r = { .c = c };
	struct kp_txn_opts to = {
		.group = c->group, .program = STAGE, .interval_ms = c->commit_ms,
		.max_aborts = c->retry_max, .rewound = eos_rewound, .opaque = &r,
	};
	const char *name;
	char err[512];
	int wedged;

	qo.opaque = &r;
	kp_record_init(&r.rec);
	r.jp = kp_json_parser_new();
	r.pending = rd_kafka_topic_partition_list_new(16);
	r.eof = rd_kafka_topic_partition_list_new(16);
	if (!c->to)
		r.w = kp_writer_new(1, &wo);
	if (c->eos) {
		/* a failed delivery aborts the transaction: no resending in
		 * it (--retry-max counts aborted transactions instead) */
		qo.retry_max = 0;
		if ((r.txn = kp_txn_new(&to, err, sizeof(err))) == NULL) {
			kp_err("%s", err);
			r.exit_code = EX_CONFIG;
		}
	}
	if (!r.exit_code && (c->to || kp_dlq_target(c->dlq,
	    kp_kconf_has_brokers(&c->kc), &name) == KP_DLQ_TOPIC) &&
	    (r.prod = new_producer(c, r.txn)) == NULL)
		r.exit_code = EX_CONFIG;
	r.q = kp_rq_new(r.prod, &qo);
	if (!r.exit_code && c->from && (r.cons = new_consumer(c, &r)) == NULL)
		r.exit_code = EX_CONFIG;
	if (!r.exit_code)
		open_dlq(&r);
	if (!r.exit_code && r.txn) {
		if (kp_txn_start(r.txn, r.prod, r.cons, err, sizeof(err)) < 0) {
			kp_err("%s", err);
			r.exit_code = kp_txn_exit_code(r.txn);
		} else {
			kp_info("transactional id '%s'", kp_txn_id(r.txn));
		}
	}
	r.next_stats = kp_mono_ms() + c->stats_s * 1000;
	if (!r.exit_code) {
		if (r.cons)
			consume(&r);
		else
			read_stdin(&r);
	}
	if (!r.txn || r.cons)
		shutdown_run(&r);
	kp_info("%lu records: %lu good, %lu dead letters", r.in, r.good, r.dead);
	if (r.txn) {
		struct kp_txn_stats st;

		kp_txn_get_stats(r.txn, &st);
		kp_info("transactions: %lu committed (%lu records), %lu aborted "
		    "(%lu records, read again)", st.commits, st.in_committed,
		    st.aborts, st.in_aborted);
	}
	if (kp_dlq_close(r.dlq) < 0 && !r.exit_code)
		r.exit_code = EX_IOERR;
	kp_rq_free(r.q);
	if (r.cons)
		rd_kafka_destroy(r.cons);
	/* a producer whose call never came back is left to the exit */
	wedged = kp_txn_wedged(r.txn);
	kp_txn_free(r.txn);
	if (r.prod && !wedged)
		rd_kafka_destroy(r.prod);
	rd_kafka_topic_partition_list_destroy(r.pending);
	rd_kafka_topic_partition_list_destroy(r.eof);
	kp_writer_free(r.w);
	kp_json_parser_free(r.jp);
	kp_record_free(&r.rec);
	kp_buf_free(&r.obuf);
	kp_buf_free(&r.val);
	return r.exit_code;
}

/* ---- reading dead letters (replay, stats) ---- */

struct letters {
	FILE			*f;
	const char		*name;
	long			 line;
	char			*buf;
	size_t			 cap;
	struct kp_json_parser	*jp;
	rd_kafka_t		*rk;
	rd_kafka_topic_partition_list_t *stop;	/* offset -1: done */
	int			 live;
	struct kp_record	 rec;
	unsigned long		 bad;
};

/* Open the dead letters of --from: a file ("-": stdin) or a topic read
 * from its beginning to the end it has now.  Returns 0 or an exit code. */
static int
letters_open(struct letters *L, struct conf *c)
{
	static const char *const defaults[] = {
		"enable.partition.eof", "true",
		"enable.auto.commit", "false",
		"group.id", "kpipe-kdlq-replay",
		NULL
	};
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_conf_t *conf;
	char err[512];
	int cnt, i;

	memset(L, 0, sizeof(*L));
	kp_record_init(&L->rec);
	L->jp = kp_json_parser_new();
	if (kp_dlq_target(c->from, kp_kconf_has_brokers(&c->kc), &L->name) ==
	    KP_DLQ_FILE) {
		L->f = strcmp(L->name, "-") ? fopen(L->name, "r") : stdin;
		if (L->f == NULL) {
			kp_err("cannot open '%s': %s", L->name, strerror(errno));
			return EX_NOINPUT;
		}
		return 0;
	}
	if (!kp_kconf_has_brokers(&c->kc)) {
		kp_err("no brokers: give -b, or set KPIPE_BROKERS");
		return EX_USAGE;
	}
	if ((conf = kp_kconf_build(&c->kc, defaults, err, sizeof(err))) ==
	    NULL) {
		kp_err("%s", err);
		return EX_CONFIG;
	}
	if ((L->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create consumer: %s", err);
		rd_kafka_conf_destroy(conf);
		return EX_CONFIG;
	}
	rd_kafka_poll_set_consumer(L->rk);
	if ((cnt = kp_kafka_partition_count(L->rk, L->name, 10000, err,
	    sizeof(err))) < 0) {
		kp_err("%s", err);
		return EX_UNAVAILABLE;
	}
	parts = rd_kafka_topic_partition_list_new(cnt);
	L->stop = rd_kafka_topic_partition_list_new(cnt);
	for (i = 0; i < cnt; i++) {
		rd_kafka_resp_err_t e;
		int64_t lo, hi;

		if ((e = rd_kafka_query_watermark_offsets(L->rk, L->name, i, &lo,
		    &hi, 10000))) {
			kp_err("cannot get offsets of topic '%s' partition %d: "
			    "%s", L->name, i, rd_kafka_err2str(e));
			rd_kafka_topic_partition_list_destroy(parts);
			return EX_UNAVAILABLE;
		}
		rd_kafka_topic_partition_list_add(L->stop, L->name, i)->offset =
		    lo < hi ? hi : -1;
		if (lo < hi) {
			rd_kafka_topic_partition_list_add(parts, L->name,
			    i)->offset = lo;
			L->live++;
		}
	}
	if (parts->cnt)
		rd_kafka_assign(L->rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	return 0;
}

static void
letters_done(struct letters *L, int32_t p)
{
	rd_kafka_topic_partition_t *tp;

	tp = rd_kafka_topic_partition_list_find(L->stop, L->name, p);
	if (tp && tp->offset != -1) {
		tp->offset = -1;
		L->live--;
	}
}

/* The next dead letter: 1, 0 at the end, -1 on an error (reported). */
static int
letters_next(struct letters *L, struct kp_dlq_letter *l)
{
	char err[512];
	ssize_t n;

	while (L->f) {
		if ((n = getline(&L->buf, &L->cap, L->f)) < 0) {
			if (ferror(L->f)) {
				kp_err("cannot read '%s': %s", L->name,
				    strerror(errno));
				return -1;
			}
			return 0;
		}
		L->line++;
		while (n > 0 && (L->buf[n - 1] == '\n' || L->buf[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		if (kp_dlq_parse_json(l, L->jp, L->buf, (size_t)n, err,
		    sizeof(err)) == 0)
			return 1;
		kp_warn("'%s' line %ld: %s (skipped)", L->name, L->line, err);
		L->bad++;
	}
	while (L->live > 0 && !kp_stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(L->rk, 100);
		rd_kafka_topic_partition_t *tp;
		int rc = 0;

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			letters_done(L, m->partition);
		} else if (m->err) {
			kp_err("%s", rd_kafka_message_errstr(m));
			rc = -1;
		} else {
			tp = rd_kafka_topic_partition_list_find(L->stop, L->name,
			    m->partition);
			if (tp && tp->offset != -1) {
				kp_record_from_message(&L->rec, m, KP_FMT_RAW,
				    L->jp, err, sizeof(err));
				if (kp_dlq_parse_record(l, &L->rec, err,
				    sizeof(err)) == 0) {
					rc = 1;
				} else {
					kp_warn("topic '%s' partition %d offset "
					    "%lld: %s (skipped)", L->name,
					    (int)m->partition,
					    (long long)m->offset, err);
					L->bad++;
				}
				if (m->offset + 1 >= tp->offset)
					letters_done(L, m->partition);
			}
		}
		rd_kafka_message_destroy(m);
		if (rc)
			return rc;
	}
	return 0;
}

static void
letters_close(struct letters *L)
{
	if (L->f && L->f != stdin)
		fclose(L->f);
	free(L->buf);
	if (L->rk) {
		rd_kafka_consumer_close(L->rk);
		rd_kafka_destroy(L->rk);
	}
	if (L->stop)
		rd_kafka_topic_partition_list_destroy(L->stop);
	kp_json_parser_free(L->jp);
	kp_record_free(&L->rec);
}

/* ---- replay ---- */

static int
run_replay(struct conf *c)
{
	struct kp_writer_opts wo = { .fmt = c->out };
	struct kp_rq_opts qo = {
		.retry_max = c->retry_max,
		.backoff_ms = c->backoff,
		.backoff_max_ms = c->backoff_max,
		.on_retry = on_retry,
	};
	struct run r = { .c = c };
	struct letters L;
	struct kp_dlq_letter l;
	unsigned long sent = 0, skipped = 0;
	int rc, to_stdout = c->to && !strcmp(c->to, "-");

	kp_dlq_letter_init(&l);
	if ((r.exit_code = letters_open(&L, c)) != 0)
		goto out;
	if (to_stdout)
		r.w = kp_writer_new(1, &wo);
	else if (!kp_kconf_has_brokers(&c->kc)) {
		kp_err("no brokers to replay to: give -b, or --to -");
		r.exit_code = EX_USAGE;
		goto out;
	} else if ((r.prod = new_producer(c, NULL)) == NULL) {
		r.exit_code = EX_CONFIG;
		goto out;
	}
	r.q = kp_rq_new(r.prod, &qo);
	while (!kp_stop && !r.exit_code && (rc = letters_next(&L, &l)) != 0) {
		const char *to = c->to;

		if (rc < 0) {
			r.exit_code = EX_IOERR;
			break;
		}
		if (c->reason && regexec(&c->reason_re, l.reason.data ?
		    l.reason.data : "", 0, NULL, 0) != 0) {
			skipped++;
			continue;
		}
		if (to_stdout) {
			if (kp_writer_write(r.w, &l.rec) < 0) {
				write_failed(&r);
				break;
			}
			sent++;
			continue;
		}
		if (to == NULL) {
			if (l.rec.topic.len == 0) {
				kp_err("a dead letter from '%s' line %ld has no "
				    "source topic: give --to", l.file.data ?
				    l.file.data : "-", l.line);
				r.exit_code = EX_DATAERR;
				break;
			}
			to = l.rec.topic.data;
		}
		kp_rq_produce(r.q, to, &l.rec, KP_VF_RAW, 0);
		sent++;
		if (drain_some(&r) < 0)
			break;
	}
	shutdown_run(&r);
	if (!r.exit_code && L.bad)
		r.exit_code = EX_DATAERR;
	kp_info("%lu dead letters replayed, %lu left out by --reason", sent,
	    skipped);
out:
	letters_close(&L);
	kp_dlq_letter_free(&l);
	kp_rq_free(r.q);
	if (r.prod)
		rd_kafka_destroy(r.prod);
	kp_writer_free(r.w);
	return r.exit_code;
}

/* ---- stats ---- */

struct tally {
	char		*name;
	unsigned long	 n;
};

struct table {
	struct tally	*t;
	size_t		 n, cap;
};

static void
count(struct table *tb, const char *name)
{
	size_t i;

	for (i = 0; i < tb->n; i++)
		if (!strcmp(tb->t[i].name, name)) {
			tb->t[i].n++;
			return;
		}
	if (tb->n == tb->cap) {
		tb->cap = tb->cap ? tb->cap * 2 : 16;
		tb->t = kp_xrealloc(tb->t, tb->cap * sizeof(*tb->t));
	}
	tb->t[tb->n].name = kp_xstrdup(name);
	clean(tb->t[tb->n].name);
	tb->t[tb->n++].n = 1;
}

static int
by_count(const void *a, const void *b)
{
	const struct tally *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void
print_table(const char *what, struct table *tb)
{
	size_t i;

	qsort(tb->t, tb->n, sizeof(*tb->t), by_count);
	for (i = 0; i < tb->n; i++) {
		printf("%s\t%lu\t%s\n", what, tb->t[i].n, tb->t[i].name);
		free(tb->t[i].name);
	}
	free(tb->t);
}

static int
run_stats(struct conf *c)
{
	struct table reasons = {0}, stages = {0}, topics = {0};
	struct kp_dlq_letter l;
	struct letters L;
	unsigned long total = 0;
	int rc, code;

	kp_dlq_letter_init(&l);
	if ((code = letters_open(&L, c)) == 0) {
		while (!kp_stop && (rc = letters_next(&L, &l)) != 0) {
			if (rc < 0) {
				code = EX_IOERR;
				break;
			}
			total++;
			count(&reasons, l.reason.data ? l.reason.data : "");
			count(&stages, l.stage.data ? l.stage.data : "-");
			count(&topics, l.rec.topic.len ? l.rec.topic.data : "-");
		}
		if (!code && L.bad)
			code = EX_DATAERR;
	}
	printf("total\t%lu\n", total);
	print_table("reason", &reasons);
	print_table("stage", &stages);
	print_table("topic", &topics);
	if (fflush(stdout) != 0 && errno != EPIPE && !code)
		code = EX_IOERR;
	letters_close(&L);
	kp_dlq_letter_free(&l);
	return code;
}

/* ---- options ---- */

enum {
	OPT_COMMIT_INTERVAL = 256, OPT_DLQ, OPT_EXACTLY_ONCE, OPT_FROM,
	OPT_REASON, OPT_REQUIRE, OPT_RETRY_BACKOFF, OPT_RETRY_BACKOFF_MAX,
	OPT_RETRY_MAX, OPT_SCHEMA, OPT_STATS, OPT_TO
};

/* Options that only the routing mode takes. */
static int
route_only(int ch)
{
	switch (ch) {
	case 'e': case 'G': case 'I': case OPT_COMMIT_INTERVAL: case OPT_DLQ:
	case OPT_EXACTLY_ONCE: case OPT_REQUIRE: case OPT_SCHEMA:
	case OPT_STATS:
		return 1;
	}
	return 0;
}

static int
num(const char *what, const char *s, long long min, long long max,
    long long *out)
{
	const char *e;

	if (kp_strtonum(s, min, max, out, &e) < 0) {
		kp_err("%s '%s' is %s", what, s, e);
		return -1;
	}
	return 0;
}

static int
parse_args(int argc, char **argv, struct conf *c)
{
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "commit-interval", required_argument, NULL,
		    OPT_COMMIT_INTERVAL },
		{ "config-file", required_argument, NULL, 'F' },
		{ "dlq", required_argument, NULL, OPT_DLQ },
		{ "exactly-once", no_argument, NULL, OPT_EXACTLY_ONCE },
		{ "exit-at-end", no_argument, NULL, 'e' },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "group", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ "input", required_argument, NULL, 'I' },
		{ "output", required_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "require", required_argument, NULL, OPT_REQUIRE },
		{ "retry-backoff", required_argument, NULL, OPT_RETRY_BACKOFF },
		{ "retry-backoff-max", required_argument, NULL,
		    OPT_RETRY_BACKOFF_MAX },
		{ "retry-max", required_argument, NULL, OPT_RETRY_MAX },
		{ "schema", required_argument, NULL, OPT_SCHEMA },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "to", required_argument, NULL, OPT_TO },
		{ "topic", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const modes[] = { "kdlq", "kdlq replay",
	    "kdlq stats" };
	const char *dname;
	char err[512];
	int ch, out_set = 0, rc;

	while ((ch = getopt_long(argc, argv, "b:eF:G:hI:O:qt:VvX:", longopts,
	    NULL)) != -1) {
		if (c->mode != MODE_ROUTE && route_only(ch)) {
			kp_err("'%s' does not take that option", modes[c->mode]);
			usage(EX_USAGE);
		}
		if (c->mode == MODE_STATS && (ch == 'O' || ch == OPT_TO ||
		    ch == OPT_REASON || ch == OPT_RETRY_MAX ||
		    ch == OPT_RETRY_BACKOFF || ch == OPT_RETRY_BACKOFF_MAX)) {
			kp_err("'kdlq stats' does not take that option");
			usage(EX_USAGE);
		}
		if (c->mode == MODE_ROUTE && ch == OPT_REASON) {
			kp_err("--reason is an option of 'kdlq replay'");
			usage(EX_USAGE);
		}
		switch (ch) {
		case 'b':
			kp_kconf_brokers(&c->kc, optarg);
			break;
		case 'e':
			c->exit_eof = 1;
			break;
		case 'F':
			if (kp_kconf_file(&c->kc, optarg, err, sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_CONFIG;
			}
			break;
		case 'G':
			c->group = optarg;
			break;
		case 'h':
			usage(0);
			break;
		case 'I':
			if (kp_format_parse_in(optarg, &c->in) < 0) {
				kp_err("unknown input format '%s' (auto, json, "
				    "csv, msgpack, kpipe, raw)", optarg);
				return EX_USAGE;
			}
			break;
		case 'O':
			if (kp_format_parse_out(optarg, &c->out) < 0 ||
			    c->out == KP_FMT_CSV) {
				kp_err("unknown output format '%s' (kpipe, json, "
				    "value, raw, msgpack)", optarg);
				return EX_USAGE;
			}
			out_set = 1;
			break;
		case 'q':
			kp_log_level = KP_LOG_ERR;
			break;
		case 't':
		case OPT_FROM:
			c->from = optarg;
			break;
		case 'V':
			printf("kdlq (kpipe) %s, librdkafka %s\n", KP_VERSION,
			    rd_kafka_version_str());
			exit(0);
		case 'v':
			kp_log_level++;
			break;
		case 'X':
			if (kp_kconf_add(&c->kc, optarg, err, sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			break;
		case OPT_COMMIT_INTERVAL:
			if (kp_duration_parse(optarg, &c->commit_ms, err,
			    sizeof(err)) < 0) {
				kp_err("--commit-interval: %s", err);
				return EX_USAGE;
			}
			if (c->commit_ms <= 0 || c->commit_ms > INT32_MAX) {
				kp_err("--commit-interval '%s' is %s", optarg,
				    c->commit_ms <= 0 ? "not positive" :
				    "too large");
				return EX_USAGE;
			}
			break;
		case OPT_DLQ:
			c->dlq = optarg;
			break;
		case OPT_EXACTLY_ONCE:
			c->eos = 1;
			break;
		case OPT_REASON:
			c->reason = optarg;
			break;
		case OPT_REQUIRE:
			if (kp_path_parse_list(optarg, &c->req, &c->nreq, err,
			    sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			break;
		case OPT_RETRY_BACKOFF:
			if (num("retry backoff", optarg, 0, 3600000, &c->backoff))
				return EX_USAGE;
			break;
		case OPT_RETRY_BACKOFF_MAX:
			if (num("retry backoff maximum", optarg, 0, 86400000,
			    &c->backoff_max))
				return EX_USAGE;
			break;
		case OPT_RETRY_MAX:
			if (num("retry count", optarg, 0, INT32_MAX,
			    &c->retry_max))
				return EX_USAGE;
			break;
		case OPT_SCHEMA:
			c->schema_path = optarg;
			break;
		case OPT_STATS:
			if (num("stats interval", optarg, 1, 86400, &c->stats_s))
				return EX_USAGE;
			break;
		case OPT_TO:
			c->to = optarg;
			break;
		default:
			usage(EX_USAGE);
		}
	}
	if (optind < argc) {
		kp_err("unexpected argument '%s'", argv[optind]);
		usage(EX_USAGE);
	}
	if (!out_set)
		c->out = isatty(1) ? KP_FMT_JSON : KP_FMT_KPIPE;
	if (c->backoff_max < c->backoff)
		c->backoff_max = c->backoff;
	if (c->mode != MODE_ROUTE) {
		if (!c->from) {
			kp_err("give the dead letters to read: --from topic|file");
			return EX_USAGE;
		}
		if (c->mode == MODE_REPLAY && c->reason &&
		    (rc = regcomp(&c->reason_re, c->reason, REG_EXTENDED |
		    REG_NOSUB)) != 0) {
			regerror(rc, &c->reason_re, err, sizeof(err));
			kp_err("invalid --reason '%s': %s", c->reason, err);
			return EX_USAGE;
		}
		c->reason_ok = c->mode == MODE_REPLAY && c->reason;
		return 0;
	}
	if (!c->dlq) {
		kp_err("give a dead-letter route: --dlq topic|file");
		return EX_USAGE;
	}
	if ((c->from || c->to) && !kp_kconf_has_brokers(&c->kc)) {
		kp_err("no brokers: give -b, or set KPIPE_BROKERS");
		return EX_USAGE;
	}
	if (c->from && !c->group) {
		kp_err("--from needs a consumer group (-G): kdlq commits what "
		    "it has routed");
		return EX_USAGE;
	}
	if (!c->from && (c->group || c->exit_eof)) {
		kp_err("-G and -e need --from");
		return EX_USAGE;
	}
	if (!c->from && c->commit_ms) {
		kp_err("--commit-interval needs --from");
		return EX_USAGE;
	}
	if (c->eos && (!c->from || !c->to || kp_dlq_target(c->dlq,
	    kp_kconf_has_brokers(&c->kc), &dname) != KP_DLQ_TOPIC)) {
		kp_err("--exactly-once needs --from, --to and a dead-letter "
		    "topic: the good records, the dead letters and the input "
		    "offsets commit in one transaction");
		return EX_USAGE;
	}
	if (!strncmp(c->dlq, "topic:", 6) && !kp_kconf_has_brokers(&c->kc)) {
		kp_err("no brokers for dead-letter topic '%s': give -b",
		    c->dlq + 6);
		return EX_USAGE;
	}
	if (c->schema_path && (c->schema = kp_schema_load(c->schema_path, err,
	    sizeof(err))) == NULL) {
		kp_err("%s", err);
		return EX_CONFIG;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct conf c = {
		.mode = MODE_ROUTE,
		.in = KP_FMT_AUTO,
		.out = KP_FMT_KPIPE,
		.retry_max = -1,
		.backoff = 100,
		.backoff_max = 10000,
	};
	size_t i;
	int rc;

	kp_log_init("kdlq");
	if (argc > 1 && !strcmp(argv[1], "replay"))
		c.mode = MODE_REPLAY;
	else if (argc > 1 && !strcmp(argv[1], "stats"))
		c.mode = MODE_STATS;
	if (c.mode != MODE_ROUTE) {
		argc--;
		argv++;
	}
	if ((rc = parse_args(argc, argv, &c)) == 0) {
		kp_signals_install();
		rc = c.mode == MODE_REPLAY ? run_replay(&c) :
		    c.mode == MODE_STATS ? run_stats(&c) : run_route(&c);
	}
	kp_schema_free(c.schema);
	for (i = 0; i < c.nreq; i++)
		kp_path_free(&c.req[i]);
	free(c.req);
	if (c.reason_ok)
		regfree(&c.reason_re);
	kp_kconf_free(&c.kc);
	return rc;
}
