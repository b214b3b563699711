/*
 * kmap - stateless transforms with jq expressions: filter, map, flat-map,
 * select a key, and branch records to outputs (Kafka Streams' filter,
 * map, mapValues, flatMap, selectKey and branch).
 *
 * Each record's value is jq's `.`; every result of EXPR is one output
 * record with the input's key, timestamp and headers (--key EXPR sets a
 * new key from each result).  The record's metadata is in $key,
 * $timestamp, $topic, $partition, $offset and $headers.  --branch
 * NAME=EXPR sends a result to NAME's output when EXPR's first result is
 * true (in jq's sense); the first such branch wins, and a result that no
 * branch takes goes to the --default branch, or to the main output.
 *
 * A jq error on a record fails that record alone: it goes to --dlq with
 * jq's message, or kmap stops with 65 naming it.  A record's outputs are
 * all or nothing: results computed before the error are dropped.
 *
 * Input is files or stdin (any kpipe format) or a topic read in a
 * consumer group (--from, -G); outputs are stdout, files and topics
 * (idempotent producer).  From Kafka, an input offset is stored for
 * commit only when every output of the record at it, and of every record
 * before it on its partition, has been delivered (delivery reports) or
 * flushed to its file.
 *
 * With --exactly-once (--from, and topic outputs only), kmap runs a
 * consume-transform-produce loop in Kafka transactions (txn.h): every
 * output of a record, on every branch, and its dead letter go into the
 * open transaction with the record's offset, and commit together every
 * --commit-interval.  kmap holds no state: on an abort the consumer is
 * rewound (txn.c) and the records are transformed again.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <msgpack.h>

#include "codec.h"
#include "dlq.h"
#include "jqx.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "mp.h"
#include "path.h"
#include "txn.h"
#include "util.h"
#include "window.h"

#define USAGE \
"usage: kmap [-qv] [-I format] [-O format] [--key expr]\n" \
"            [--branch name=expr ...] [--default name] [--to dest ...]\n" \
"            [--dlq file] expr [file ...]\n" \
"       kmap [-eqv] [-b brokers] [-d contexts] [-F file] [-X prop=value]\n" \
"            --from topic -G group [-I format] [-O format] [--key expr]\n" \
"            [--branch name=expr ...] [--default name] [--to dest ...]\n" \
"            [--commit-interval ms] [--exactly-once] [--dlq topic|file] expr\n"

#define STORE_EVERY_MS	1000

/* An output: stdout, a file or a topic.  Files (and stdout) share one
 * writer per path. */
struct dest {
	const char		*name;		/* branch, or NULL: main output */
	const char		*spec;		/* as given to --to, or NULL */
	int			 topic;		/* 1: spec is a topic */
	const char		*target;	/* topic or path ("-": stdout) */
	struct kp_writer	*w;
	int			 fd;
	unsigned long long	 count;
};

struct branch {
	char			*name;
	const char		*expr;
	struct kp_jqx		*q;
	struct dest		*d;
};

struct conf {
	struct kp_kconf		 kc;
	const char		*expr;
	const char		*key_expr;
	struct branch		*branches;
	size_t			 nbranches;
	const char		*default_branch;
	const char		**to;
	size_t			 nto;
	const char		*topic;		/* --from */
	const char		*group;
	int			 exit_eof;
	enum kp_format		 in, out;
	int			 out_set;
	const char		*dlq_path;
	char			**files;
	int			 nfiles;
	int			 eos;		/* --exactly-once */
	int64_t			 commit_ms;	/* --commit-interval; 0: default */
};

/* A consumed record whose outputs are not all delivered yet. */
struct inflight {
	struct track		*tr;
	int64_t			 next;		/* offset to store after it */
	int			 pending;	/* outputs not yet delivered */
	struct inflight		*link;
};

/* An input partition: records in flight in the order read, and the
 * offset that is safe to commit. */
struct track {
	char			*topic;
	int32_t			 partition;
	struct inflight		*head, *tail;
	int64_t			 done;		/* safe to store, or -1 */
	int64_t			 stored;
	int			 assigned;
	struct track		*link;
};

/* One result of the current record, on its way out. */
struct out {
	size_t			 off, len;	/* in run.res */
	int			 key_null;
	size_t			 koff, klen;	/* in run.keys */
	struct dest		*d;
};

struct run {
	struct conf		*c;
	struct kp_jqx		*q, *kq;
	struct dest		*dests;		/* [0]: the main output */
	size_t			 ndests;
	struct dest		*dflt;		/* unmatched results */
	rd_kafka_t		*rk;		/* consumer (--from) */
	rd_kafka_t		*pk;		/* producer (topic outputs) */
	enum kp_value_format	 vf;
	struct kp_dlq		*dlq;
	struct kp_json_parser	*jp;
	struct kp_record	 rec;
	struct kp_buf		 val, res, kres, keys, raw;
	msgpack_zone		 zone;
	struct out		*outs;
	size_t			 nouts, outcap;
	/* --from */
	struct track		*tracks;
	struct track		*last;		/* the last one looked up */
	struct track		*cur;		/* the current record's */
	int64_t			 cur_next;
	rd_kafka_topic_partition_list_t *stop;	/* -e */
	int			 live;
	int64_t			 last_store;
	/* --exactly-once */
	struct kp_txn		*txn;
	/* counts and state */
	unsigned long long	 nin, ndead, nfailed;
	int			 done;		/* stop reading */
	int			 exit_code;
};

static void	eos_redo(struct run *, const char *);

static void
usage(int code)
{
	fputs(USAGE, code ? stderr : stdout);
	exit(code);
}

static int
buf_write(void *data, const char *p, size_t n)
{
	kp_buf_add(data, p, n);
	return 0;
}

static void
fail(struct run *r, int code)
{
	if (!r->exit_code)
		r->exit_code = code;
	r->done = 1;
}

/* ---- outputs ---- */

static int
writer_flush(struct run *r, struct dest *d)
{
	if (d->w == NULL || kp_writer_flush(d->w) == 0)
		return 0;
	if (errno == EPIPE && !strcmp(d->target, "-")) {
		r->done = 1;		/* the reader went away: a quiet end */
		return -1;
	}
	kp_err("cannot write to '%s': %s", strcmp(d->target, "-") ?
	    d->target : "stdout", strerror(errno));
	fail(r, EX_IOERR);
	return -1;
}

static int
flush_files(struct run *r)
{
	size_t i;

	for (i = 0; i < r->ndests; i++)
		if (writer_flush(r, &r->dests[i]) < 0)
			return -1;
	return 0;
}

static int
emit(struct run *r, struct dest *d, struct kp_record *rec, struct inflight *f)
{
	rd_kafka_resp_err_t err;

	d->count++;
	if (!d->topic) {
		if (kp_writer_write(d->w, rec) == 0)
			return 0;
		if (errno == EPIPE && !strcmp(d->target, "-")) {
			r->done = 1;
			return -1;
		}
		kp_err("cannot write to '%s': %s", strcmp(d->target, "-") ?
		    d->target : "stdout", strerror(errno));
		fail(r, EX_IOERR);
		return -1;
	}
	if (r->txn) {
		char why[512];

		err = kp_record_produce(r->pk, d->target, RD_KAFKA_PARTITION_UA,
		    rec, r->vf, NULL);
		if (err) {
			snprintf(why, sizeof(why), "cannot produce to topic "
			    "'%s': %s", d->target, rd_kafka_err2str(err));
			eos_redo(r, why);
			return -1;
		}
		kp_txn_produced(r->txn, 1);
		return 0;
	}
	if (f)
		f->pending++;
	err = kp_record_produce(r->pk, d->target, RD_KAFKA_PARTITION_UA, rec,
	    r->vf, f);
	if (err) {
		if (f)
			f->pending--;
		if (!kp_stop)
			kp_err("cannot produce to topic '%s': %s", d->target,
			    rd_kafka_err2str(err));
		fail(r, kp_stop ? 0 : kp_kafka_exit_code(err));
		return -1;
	}
	return 0;
}

/* ---- delivery tracking (--from) ---- */

static struct track *
track_get(struct run *r, const char *topic, int32_t partition)
{
	struct track *t = r->last;

	if (t && t->partition == partition && !strcmp(t->topic, topic))
		return t;
	for (t = r->tracks; t; t = t->link)
		if (t->partition == partition && !strcmp(t->topic, topic))
			return r->last = t;
	t = kp_xcalloc(1, sizeof(*t));
	t->topic = kp_xstrdup(topic);
	t->partition = partition;
	t->done = t->stored = -1;
	t->link = r->tracks;
	r->tracks = t;
	return r->last = t;
}

/* Pop the delivered records off the front: their offsets may commit. */
static void
track_advance(struct track *t)
{
	struct inflight *f;

	while ((f = t->head) != NULL && f->pending == 0) {
		t->done = f->next;
		if ((t->head = f->link) == NULL)
			t->tail = NULL;
		free(f);
	}
}

static struct inflight *
inflight_add(struct track *t, int64_t next)
{
	struct inflight *f = kp_xcalloc(1, sizeof(*f));

	f->tr = t;
	f->next = next;
	if (t->tail)
		t->tail->link = f;
	else
		t->head = f;
	t->tail = f;
	return f;
}

/* The current record (--from) has nothing in flight: its offset may
 * commit once the records before it on its partition are delivered. */
static void
track_done(struct run *r)
{
	if (r->cur == NULL)
		return;
	if (r->cur->head)
		inflight_add(r->cur, r->cur_next);
	else
		r->cur->done = r->cur_next;
}

/* The current record is dealt with: its outputs or its dead letter are
 * written, in flight, or (--exactly-once) in the open transaction. */
static void
record_done(struct run *r)
{
	if (r->txn == NULL)
		track_done(r);
	else if (r->cur)
		kp_txn_processed(r->txn, r->cur->topic, r->cur->partition,
		    r->cur_next - 1);
}

/* ---- --exactly-once ---- */

/* A fatal outcome also ends the run.  Returns st. */
static enum kp_txn_status
eos_status(struct run *r, enum kp_txn_status st)
{
	if (st == KP_TXN_FATAL)
		fail(r, kp_txn_exit_code(r->txn));
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

/* An output or the dead letter of the current record could not be
 * produced in the open transaction, which may hold some of its other
 * outputs: abort it.  The record is marked processed first, so that the
 * rewind takes its partition back to it (or before) even when it was
 * the partition's first in the transaction; it is then read again. */
static void
eos_redo(struct run *r, const char *why)
{
	record_done(r);
	eos_abort(r, why);
}

/* An abort rewound topic/partition: with -e, it is not at its end any
 * more. */
static void
eos_rewound(void *opaque, const char *topic, int32_t partition,
    int64_t offset)
{
	struct run *r = opaque;
	rd_kafka_topic_partition_t *tp;

	kp_info("topic '%s' partition %d: reading again from offset %lld",
	    topic, (int)partition, (long long)offset);
	if (r->stop && (tp = rd_kafka_topic_partition_list_find(r->stop, topic,
	    partition)) != NULL && tp->offset < 0) {
		tp->offset = 0;
		r->live++;
	}
}

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct run *r = opaque;
	struct inflight *f = m->_private;

	(void)rk;
	if (r->txn) {
		/* a failed delivery, of an output or of a dead letter, fails
		 * the transaction's commit: it aborts, and the records are
		 * read again */
		if (m->err && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
		    m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
			kp_info("cannot deliver %s to topic '%s': %s",
			    kp_dlq_is_letter(r->dlq, m->_private) ?
			    "a dead letter" : "a record",
			    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
		return;
	}
	if (m->err) {
		/* the offset stays uncommitted: a restart reads it again */
		if (r->nfailed++ == 0)
			kp_err("cannot deliver to topic '%s': %s",
			    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
		fail(r, kp_kafka_exit_code(m->err));
		return;
	}
	if (f && --f->pending == 0)
		track_advance(f->tr);
}

/* Store the offsets that are safe (librdkafka commits them): files are
 * flushed first, so what they were given is out. */
static void
store_offsets(struct run *r)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;
	struct track *t;

	r->last_store = kp_mono_ms();
	if (r->rk == NULL || r->txn || r->nfailed || flush_files(r) < 0)
		return;
	l = rd_kafka_topic_partition_list_new(8);
	for (t = r->tracks; t; t = t->link)
		if (t->assigned && t->done > t->stored) {
			rd_kafka_topic_partition_list_add(l, t->topic,
			    t->partition)->offset = t->done;
			t->stored = t->done;
		}
	if (l->cnt && (err = rd_kafka_offsets_store(r->rk, l)))
		kp_warn("cannot store offsets: %s", rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(l);
}

/* Wait for every delivery report.  Retries end by message.timeout.ms, so
 * this ends; a second signal exits at once. */
static void
flush_producer(struct run *r)
{
	if (r->pk == NULL)
		return;
	while (rd_kafka_flush(r->pk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
		kp_info("waiting for %d deliveries", rd_kafka_outq_len(r->pk));
}

/* ---- records ---- */

/* A record that cannot be processed: to the dead letters (--dlq), or
 * stop with 65.  raw/n: the original value bytes.  Returns 0 when the
 * record is dealt with (the caller marks it done), 1 when the
 * transaction aborted (the record is read again), -1 to stop. */
static int
bad_record(struct run *r, const void *raw, size_t n, const char *why)
{
	char where[256];

	kp_record_where(&r->rec, where, sizeof(where));
	if (r->dlq) {
		/* to a topic through a producer of its own, this returns
		 * once the letter is acknowledged; in a transaction, once it
		 * is produced in it */
		if (kp_dlq_write(r->dlq, &r->rec, raw, n, why) < 0) {
			if (r->txn) {
				eos_redo(r, kp_dlq_strerror(r->dlq));
				return r->done ? -1 : 1;
			}
			kp_err("%s: %s", where, kp_dlq_strerror(r->dlq));
			fail(r, kp_dlq_exit_code(r->dlq));
			return -1;
		}
		r->ndead++;
		if (r->txn)
			kp_txn_produced(r->txn, 1);
		kp_info("%s: %s (sent to the dead-letter %s)", where, why,
		    kp_dlq_is_topic(r->dlq) ? "topic" : "file");
		return 0;
	}
	kp_err("%s: %s", where, why);
	fail(r, EX_DATAERR);
	return -1;
}

/* The original value bytes for a dead letter: Kafka's payload when given,
 * else the value as JSON text (bytes as they are). */
static void
raw_value(struct run *r, const void **p, size_t *n)
{
	struct kp_record *rec = &r->rec;

	*p = NULL;
	*n = 0;
	if (rec->vtype == KP_VALUE_BYTES) {
		*p = rec->value.data ? rec->value.data : "";
		*n = rec->value.len;
	} else if (rec->vtype == KP_VALUE_MSGPACK) {
		kp_buf_reset(&r->raw);
		kp_value_json(&r->raw, rec);
		*p = r->raw.data;
		*n = r->raw.len;
	}
}

static struct out *
out_add(struct run *r)
{
	if (r->nouts == r->outcap) {
		r->outcap = r->outcap ? r->outcap * 2 : 16;
		r->outs = kp_xrealloc(r->outs, r->outcap * sizeof(*r->outs));
	}
	memset(&r->outs[r->nouts], 0, sizeof(r->outs[0]));
	return &r->outs[r->nouts++];
}

/* --key on one result: the key bytes go to r->keys (kp_val_key_bytes:
 * a string as it is, other values as compact JSON, null: a null key). */
static int
result_key(struct run *r, struct out *o, const char *p, size_t n,
    char *err, size_t en)
{
	msgpack_object obj;
	struct kp_val v = { .t = KP_V_OBJ, .o = &obj };
	size_t off = 0;
	long cnt;

	kp_buf_reset(&r->kres);
	if ((cnt = kp_jqx_run(r->kq, p, n, 1, &r->kres, err, en)) < 0)
		return -1;
	o->key_null = 1;
	if (cnt == 0)
		return 0;
	msgpack_zone_clear(&r->zone);
	if (msgpack_unpack(r->kres.data, r->kres.len, &off, &r->zone,
	    &obj) != MSGPACK_UNPACK_SUCCESS)
		return 0;
	o->koff = r->keys.len;
	if (kp_val_key_bytes(&v, &r->keys) == 0) {
		o->key_null = 0;
		o->klen = r->keys.len - o->koff;
	}
	return 0;
}

/* Run the program on r->rec, route its results, write them.  raw/rawn
 * are the original value bytes for a dead letter (NULL: derive them).
 * Returns 0 to go on, -1 to stop. */
static int
process(struct run *r, const void *raw, size_t rawn)
{
	struct conf *c = r->c;
	struct kp_record *rec = &r->rec;
	struct inflight *f = NULL;
	const char *v = NULL;
	size_t vn = 0, off, i, b;
	long long len;
	char err[1024], why[1200];
	int truth, any_topic = 0;

	r->nin++;
	switch (rec->vtype) {
	case KP_VALUE_MSGPACK:
		v = rec->value.data;
		vn = rec->value.len;
		break;
	case KP_VALUE_BYTES: {
		msgpack_packer pk;

		/* bytes are a string to jq */
		kp_buf_reset(&r->val);
		msgpack_packer_init(&pk, &r->val, buf_write);
		msgpack_pack_str_with_body(&pk, rec->value.data ?
		    rec->value.data : "", rec->value.len);
		v = r->val.data;
		vn = r->val.len;
		break;
	}
	case KP_VALUE_NULL:
		break;
	}
	kp_jqx_set_record(r->q, rec);
	if (r->kq)
		kp_jqx_set_record(r->kq, rec);
	for (b = 0; b < c->nbranches; b++)
		kp_jqx_set_record(c->branches[b].q, rec);

	kp_buf_reset(&r->res);
	kp_buf_reset(&r->keys);
	r->nouts = 0;
	if (kp_jqx_run(r->q, v, vn, 0, &r->res, err, sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "%s", err);
		goto bad;
	}
	for (off = 0; off < r->res.len; off += (size_t)len) {
		struct out *o = out_add(r);
		const char *p = r->res.data + off;

		len = kp_mp_skip((const uint8_t *)p, r->res.len - off);
		if (len <= 0)
			break;		/* cannot happen: jqx packs whole objects */
		o->off = off;
		o->len = (size_t)len;
		o->d = r->dflt;
		if (r->kq && result_key(r, o, p, (size_t)len, err,
		    sizeof(err)) < 0) {
			snprintf(why, sizeof(why), "--key: %s", err);
			goto bad;
		}
		for (b = 0; b < c->nbranches; b++) {
			if (kp_jqx_test(c->branches[b].q, p, (size_t)len, &truth,
			    err, sizeof(err)) < 0) {
				snprintf(why, sizeof(why), "--branch %s: %s",
				    c->branches[b].name, err);
				goto bad;
			}
			if (truth) {
				o->d = c->branches[b].d;
				break;
			}
		}
		any_topic |= o->d->topic;
	}

	/* every result is good: out they go */
	if (r->cur && any_topic && r->txn == NULL) {
		f = inflight_add(r->cur, r->cur_next);
		f->pending = 1;		/* ours, until all are produced */
	}
	for (i = 0; i < r->nouts && !r->done; i++) {
		struct out *o = &r->outs[i];
		const char *p = r->res.data + o->off;

		if (o->len == 1 && (unsigned char)p[0] == 0xc0) {
			kp_record_set_value(rec, KP_VALUE_NULL, NULL, 0);
		} else if (c->out == KP_FMT_RAW) {
			struct kp_mp_item it;

			/* -O raw: a string result is its bytes, as jq -r */
			if (kp_mp_read((const uint8_t *)p, o->len, &it) == 1 &&
			    it.type == KP_MP_STR)
				kp_record_set_value(rec, KP_VALUE_BYTES, it.data,
				    it.len);
			else
				kp_record_set_value(rec, KP_VALUE_MSGPACK, p,
				    o->len);
		} else {
			kp_record_set_value(rec, KP_VALUE_MSGPACK, p, o->len);
		}
		if (r->kq)
			kp_record_set_key(rec, o->key_null ? NULL :
			    o->klen ? r->keys.data + o->koff : "", o->klen);
		if (emit(r, o->d, rec, f) < 0)
			break;
	}
	if (r->done)
		return -1;	/* f keeps our hold: nothing from here commits */
	if (i < r->nouts)
		return 0;	/* the transaction aborted: read again */
	if (f) {
		if (--f->pending == 0)
			track_advance(r->cur);
	} else {
		record_done(r);
	}
	if (r->pk)
		rd_kafka_poll(r->pk, 0);
	return 0;
bad:
	if (raw == NULL)
		raw_value(r, &raw, &rawn);
	switch (bad_record(r, raw, rawn, why)) {
	case -1:
		return -1;
	case 0:
		record_done(r);
		break;
	}
	return 0;
}

/* ---- files and stdin ---- */

static int
run_files(struct run *r)
{
	struct conf *c = r->c;
	struct kp_reader_opts ro = { .fmt = c->in };
	char err[512];
	int i, nf = c->nfiles ? c->nfiles : 1;

	for (i = 0; i < nf && !r->done && !kp_stop; i++) {
		const char *name = c->nfiles ? c->files[i] : "-";
		int fd = strcmp(name, "-") ? open(name, O_RDONLY) : 0;
		struct kp_reader *rd;
		int rc;

		if (fd < 0) {
			kp_err("cannot open '%s': %s", name, strerror(errno));
			fail(r, EX_NOINPUT);
			break;
		}
		rd = kp_reader_new(fd, name, &ro);
		while (!kp_stop && !r->done) {
			rc = kp_reader_next(rd, &r->rec, err, sizeof(err));
			if (rc == 0)
				break;
			if (rc == 1) {
				if (process(r, NULL, 0) < 0)
					break;
				continue;
			}
			if (rc == -2) {
				kp_err("'%s': %s", strcmp(name, "-") ? name :
				    "stdin", err);
				fail(r, EX_DATAERR);
				break;
			}
			{
				const void *raw;
				size_t n;

				r->nin++;
				kp_reader_raw(rd, &raw, &n);
				if (bad_record(r, raw, n, err) < 0)
					break;
			}
		}
		kp_reader_free(rd);
		if (fd > 0)
			close(fd);
	}
	return 0;
}

/* ---- Kafka input ---- */

static void
eof_check(struct run *r, const char *topic, int32_t p)
{
	rd_kafka_topic_partition_t *tp;

	if (r->stop == NULL)
		return;
	tp = rd_kafka_topic_partition_list_find(r->stop, topic, p);
	if (tp && tp->offset >= 0) {
		tp->offset = -1;
		r->live--;
		kp_info("reached end of topic '%s' partition %d", topic, (int)p);
	}
}

static void
rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct run *r = opaque;
	rd_kafka_topic_partition_t *tp;
	struct track *t;
	int i;

	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		for (i = 0; i < parts->cnt; i++) {
			t = track_get(r, parts->elems[i].topic,
			    parts->elems[i].partition);
			t->assigned = 1;
			t->done = t->stored = -1;
			if (r->stop && rd_kafka_topic_partition_list_find(r->stop,
			    t->topic, t->partition) == NULL) {
				rd_kafka_topic_partition_list_add(r->stop,
				    t->topic, t->partition)->offset = 0;
				r->live++;
			}
		}
		rd_kafka_assign(rk, parts);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		/* everything read goes out, then its offsets commit */
		if (r->txn) {
			if (rd_kafka_assignment_lost(rk))
				eos_abort(r, "the assignment was lost");
			else
				eos_commit(r);
			kp_txn_forget(r->txn, parts);
		} else {
			flush_producer(r);
			store_offsets(r);
			rd_kafka_commit(rk, NULL, 0);
		}
		for (i = 0; i < parts->cnt; i++) {
			t = track_get(r, parts->elems[i].topic,
			    parts->elems[i].partition);
			t->assigned = 0;
			if (r->stop && (tp = rd_kafka_topic_partition_list_find(
			    r->stop, t->topic, t->partition)) != NULL) {
				if (tp->offset >= 0)
					r->live--;
				rd_kafka_topic_partition_list_del(r->stop,
				    t->topic, t->partition);
			}
		}
		rd_kafka_assign(rk, NULL);
		break;
	default:
		kp_err("rebalance error: %s", rd_kafka_err2str(err));
		rd_kafka_assign(rk, NULL);
		break;
	}
}

static int
consume(struct run *r)
{
	struct conf *c = r->c;
	rd_kafka_message_t *m;
	char err[512];

	while (!kp_stop && !r->done) {
		if (r->stop && r->live == 0 && r->stop->cnt > 0) {
			/* in a transaction, the last one must commit (an
			 * abort reads its records again) */
			if (r->txn == NULL || eos_commit(r) != KP_TXN_ABORTED)
				break;
			continue;
		}
		if (r->txn && kp_txn_due(r->txn)) {
			eos_commit(r);
			continue;
		}
		m = rd_kafka_consumer_poll(r->rk, r->txn &&
		    kp_txn_pending(r->txn) ? 10 : 100);
		if (r->pk)
			rd_kafka_poll(r->pk, 0);
		/* stored offsets commit every --commit-interval: store at
		 * least as often */
		if (m == NULL || kp_mono_ms() - r->last_store >= (c->commit_ms &&
		    c->commit_ms < STORE_EVERY_MS ? c->commit_ms :
		    STORE_EVERY_MS))
			store_offsets(r);
		if (m == NULL)
			continue;
		if (m->err) {
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				eof_check(r, rd_kafka_topic_name(m->rkt),
				    m->partition);
			} else if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
			    m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
				kp_err("%s", rd_kafka_message_errstr(m));
				fail(r, EX_CONFIG);
			} else {
				kp_warn("%s", rd_kafka_message_errstr(m));
			}
			rd_kafka_message_destroy(m);
			continue;
		}
		r->cur = track_get(r, rd_kafka_topic_name(m->rkt), m->partition);
		r->cur_next = m->offset + 1;
		if (kp_record_from_message(&r->rec, m, c->in, r->jp, err,
		    sizeof(err)) < 0) {
			r->nin++;
			if (bad_record(r, m->payload, m->len, err) == 0)
				record_done(r);
		} else {
			process(r, m->payload, m->payload ? m->len : 0);
		}
		r->cur = NULL;
		rd_kafka_message_destroy(m);
	}
	return 0;
}

static rd_kafka_t *
new_client(struct run *r, rd_kafka_type_t type)
{
	static const char *const cdefaults[] = {
		"enable.partition.eof", "true",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		NULL
	};
	static const char *const pdefaults[] = {
		"enable.idempotence", "true",
		/* Java's partitioner, as every kpipe producer */
		"partitioner", "murmur2_random",
		NULL
	};
	struct conf *c = r->c;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512], ms[32];

	if ((conf = kp_kconf_build(&c->kc, type == RD_KAFKA_CONSUMER ?
	    cdefaults : pdefaults, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		fail(r, EX_CONFIG);
		return NULL;
	}
	snprintf(ms, sizeof(ms), "%lld", (long long)c->commit_ms);
	if (type == RD_KAFKA_CONSUMER) {
		if (rd_kafka_conf_set(conf, "group.id", c->group, err,
		    sizeof(err)) != RD_KAFKA_CONF_OK ||
		    (r->txn && kp_txn_consumer_conf(conf, err,
		    sizeof(err)) < 0) || (!r->txn && c->commit_ms &&
		    rd_kafka_conf_set(conf, "auto.commit.interval.ms", ms, err,
		    sizeof(err)) != RD_KAFKA_CONF_OK)) {
			kp_err("%s", err);
			rd_kafka_conf_destroy(conf);
			fail(r, EX_CONFIG);
			return NULL;
		}
		rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	} else {
		if (r->txn && kp_txn_producer_conf(r->txn, conf, err,
		    sizeof(err)) < 0) {
			kp_err("%s", err);
			rd_kafka_conf_destroy(conf);
			fail(r, EX_CONFIG);
			return NULL;
		}
		rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	}
	rd_kafka_conf_set_opaque(conf, r);
	if ((rk = rd_kafka_new(type, conf, err, sizeof(err))) == NULL) {
		kp_err("cannot create %s: %s", type == RD_KAFKA_CONSUMER ?
		    "consumer" : "producer", err);
		fail(r, EX_CONFIG);
		return NULL;
	}
	return rk;
}

static int
run_kafka(struct run *r)
{
	struct conf *c = r->c;
	rd_kafka_topic_partition_list_t *t;
	char *topics, *tok, *save = NULL, err[512];

	if ((r->rk = new_client(r, RD_KAFKA_CONSUMER)) == NULL)
		return 0;
	rd_kafka_poll_set_consumer(r->rk);
	if (c->exit_eof)
		r->stop = rd_kafka_topic_partition_list_new(16);
	t = rd_kafka_topic_partition_list_new(1);
	topics = kp_xstrdup(c->topic);
	for (tok = strtok_r(topics, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save))
		rd_kafka_topic_partition_list_add(t, tok, RD_KAFKA_PARTITION_UA);
	free(topics);
	if (rd_kafka_subscribe(r->rk, t)) {
		kp_err("cannot subscribe to '%s'", c->topic);
		fail(r, EX_CONFIG);
	}
	rd_kafka_topic_partition_list_destroy(t);
	if (!r->done && r->txn) {
		if (kp_txn_start(r->txn, r->pk, r->rk, err, sizeof(err)) < 0) {
			kp_err("%s", err);
			fail(r, kp_txn_exit_code(r->txn));
		} else {
			kp_info("transactional id '%s'", kp_txn_id(r->txn));
		}
	}
	if (!r->done)
		consume(r);
	/* orderly stop: outputs, then offsets, then leave the group; in a
	 * transaction, what was processed commits (a fatal error has
	 * closed it, and then nothing does) */
	if (r->txn) {
		eos_commit(r);
	} else {
		flush_producer(r);
		store_offsets(r);
		rd_kafka_commit(r->rk, NULL, 0);
	}
	rd_kafka_consumer_close(r->rk);
	if (r->txn) {
		struct kp_txn_stats st;

		kp_txn_get_stats(r->txn, &st);
		kp_info("transactions: %lu committed (%lu records in, %lu out), "
		    "%lu aborted (%lu records in, %lu out, read again)",
		    st.commits, st.in_committed, st.out_committed, st.aborts,
		    st.in_aborted, st.out_aborted);
	}
	return 0;
}

/* ---- setup ---- */

/* Parse a --to destination "TOPIC" or "file:PATH" into d. */
static void
dest_parse(struct dest *d, const char *spec)
{
	d->spec = spec;
	if (!strncmp(spec, "file:", 5)) {
		d->topic = 0;
		d->target = spec + 5;
	} else {
		d->topic = 1;
		d->target = spec;
	}
}

/* Resolve --to, --branch and --default into r->dests.  Returns 0 or a
 * usage exit code. */
static int
make_dests(struct run *r)
{
	struct conf *c = r->c;
	size_t i, j;

	r->ndests = 1 + c->nbranches;
	r->dests = kp_xcalloc(r->ndests, sizeof(*r->dests));
	r->dests[0].target = "-";
	for (i = 0; i < c->nbranches; i++) {
		r->dests[1 + i].name = c->branches[i].name;
		c->branches[i].d = &r->dests[1 + i];
	}
	for (i = 0; i < c->nto; i++) {
		const char *s = c->to[i], *eq = strchr(s, '=');
		struct dest *d = NULL;

		if (eq == NULL || !strncmp(s, "file:", 5)) {
			if (r->dests[0].spec) {
				kp_err("more than one main output (--to '%s' and "
				    "'%s')", r->dests[0].spec, s);
				return EX_USAGE;
			}
			dest_parse(&r->dests[0], s);
			continue;
		}
		for (j = 0; j < c->nbranches; j++)
			if (strlen(c->branches[j].name) == (size_t)(eq - s) &&
			    !strncmp(c->branches[j].name, s, (size_t)(eq - s)))
				d = c->branches[j].d;
		if (d == NULL) {
			kp_err("--to '%s': no branch '%.*s'", s, (int)(eq - s), s);
			return EX_USAGE;
		}
		if (d->spec) {
			kp_err("branch '%s' has two outputs", d->name);
			return EX_USAGE;
		}
		if (eq[1] == '\0' || !strcmp(eq + 1, "file:")) {
			kp_err("--to '%s': no topic or file", s);
			return EX_USAGE;
		}
		dest_parse(d, eq + 1);
	}
	for (i = 0; i < c->nbranches; i++)
		if (c->branches[i].d->spec == NULL) {
			kp_err("branch '%s' has no output: give --to %s=TOPIC or "
			    "--to %s=file:PATH", c->branches[i].name,
			    c->branches[i].name, c->branches[i].name);
			return EX_USAGE;
		}
	if (r->dests[0].topic && r->dests[0].target[0] == '\0') {
		kp_err("--to: empty topic name");
		return EX_USAGE;
	}
	r->dflt = &r->dests[0];
	if (c->default_branch) {
		for (j = 0; j < c->nbranches; j++)
			if (!strcmp(c->branches[j].name, c->default_branch))
				r->dflt = c->branches[j].d;
		if (r->dflt == &r->dests[0]) {
			kp_err("--default '%s': no such branch", c->default_branch);
			return EX_USAGE;
		}
		if (r->dests[0].spec) {
			kp_err("--to '%s' would get nothing: unmatched records go "
			    "to branch '%s' (--default)", r->dests[0].spec,
			    c->default_branch);
			return EX_USAGE;
		}
	}
	/* a transaction holds topics only: every output must be one */
	for (i = 0; c->eos && i < r->ndests; i++) {
		struct dest *d = &r->dests[i];

		if (d->topic || (d == &r->dests[0] && r->dflt != d))
			continue;
		if (d->spec == NULL)
			kp_err("--exactly-once needs --to TOPIC: standard output "
			    "is outside the transaction");
		else
			kp_err("--exactly-once writes topics only: --to '%s' is "
			    "a file, outside the transaction", d->spec);
		return EX_USAGE;
	}
	return 0;
}

/* Open the files and the producer that the outputs need. */
static int
open_dests(struct run *r)
{
	struct conf *c = r->c;
	struct kp_writer_opts wo = { .fmt = c->out };
	size_t i, j;
	int any_topic = 0;

	for (i = 0; i < r->ndests; i++) {
		struct dest *d = &r->dests[i];

		if (d->topic) {
			any_topic = 1;
			continue;
		}
		for (j = 0; j < i; j++)
			if (!r->dests[j].topic && !strcmp(r->dests[j].target,
			    d->target))
				break;
		if (j < i) {
			d->w = r->dests[j].w;	/* shared, written in order */
			d->fd = -1;
			continue;
		}
		if (!strcmp(d->target, "-")) {
			d->fd = -1;
			d->w = kp_writer_new(1, &wo);
			continue;
		}
		if ((d->fd = open(d->target, O_WRONLY | O_CREAT | O_TRUNC,
		    0666)) < 0) {
			kp_err("cannot open '%s': %s", d->target, strerror(errno));
			return EX_CANTCREAT;
		}
		d->w = kp_writer_new(d->fd, &wo);
	}
	if (any_topic && (r->pk = new_client(r, RD_KAFKA_PRODUCER)) == NULL)
		return r->exit_code;
	return 0;
}

static void
close_dests(struct run *r)
{
	size_t i, j;

	for (i = 0; i < r->ndests; i++) {
		struct dest *d = &r->dests[i];

		for (j = 0; j < i; j++)
			if (r->dests[j].w == d->w)
				break;
		if (d->w && j == i)
			kp_writer_free(d->w);
		if (d->fd > 0 && close(d->fd) < 0) {
			kp_err("cannot close '%s': %s", d->target,
			    strerror(errno));
			fail(r, EX_IOERR);
		}
	}
	free(r->dests);
}

static void
report(struct run *r)
{
	struct kp_buf b = {0};
	size_t i;

	if (kp_log_level < KP_LOG_INFO)
		return;
	kp_buf_printf(&b, "%llu records in; out:", r->nin);
	for (i = 0; i < r->ndests; i++)
		kp_buf_printf(&b, " %s %llu", r->dests[i].name ?
		    r->dests[i].name : "main", r->dests[i].count);
	kp_buf_printf(&b, "; %llu dead letters", r->ndead);
	kp_info("%s", b.data);
	kp_buf_free(&b);
}

/* jq's debug: ["DEBUG:",value] on stderr, as jq prints it */
static void
jq_debug(void *arg, const char *json, size_t n)
{
	(void)arg;
	fprintf(stderr, "[\"DEBUG:\",%.*s]\n", (int)n, json);
}

/* Compile the program, --key and the branches: as one set, so that
 * libjq binds its builtins once (kp_jqx_new_set()). */
static int
compile_all(struct run *r)
{
	struct conf *c = r->c;
	const char **progs;
	struct kp_jqx **qs;
	char err[1024];
	size_t i, n = 0, bad, b0;

	progs = kp_xcalloc(2 + c->nbranches, sizeof(*progs));
	qs = kp_xcalloc(2 + c->nbranches, sizeof(*qs));
	progs[n++] = c->expr;
	if (c->key_expr)
		progs[n++] = c->key_expr;
	b0 = n;
	for (i = 0; i < c->nbranches; i++)
		progs[n++] = c->branches[i].expr;
	if ((bad = kp_jqx_new_set(progs, n, kp_jqx_record_vars, 0, qs, err,
	    sizeof(err))) < n) {
		if (bad == 0)
			kp_err("cannot compile '%s': %s", c->expr, err);
		else if (bad < b0)
			kp_err("cannot compile --key '%s': %s", c->key_expr, err);
		else
			kp_err("cannot compile --branch %s '%s': %s",
			    c->branches[bad - b0].name, progs[bad], err);
		free(progs);
		free(qs);
		return EX_USAGE;
	}
	r->q = qs[0];
	if (c->key_expr)
		r->kq = qs[1];
	for (i = 0; i < c->nbranches; i++)
		c->branches[i].q = qs[b0 + i];
	for (i = 0; i < n; i++)
		kp_jqx_set_debug(qs[i], jq_debug, NULL);
	free(progs);
	free(qs);
	return 0;
}

static int
run(struct conf *c)
{
	struct run r = { .c = c };
	struct kp_txn_opts to = {
		.group = c->group, .program = "kmap",
		.interval_ms = c->commit_ms, .max_aborts = KP_TXN_MAX_ABORTS,
		.rewound = eos_rewound, .opaque = &r,
	};
	struct track *t;
	char err[512];
	size_t i;
	int rc, wedged;

	kp_record_init(&r.rec);
	msgpack_zone_init(&r.zone, 1024);
	r.vf = c->out == KP_FMT_MSGPACK ? KP_VF_MSGPACK : c->out == KP_FMT_RAW ?
	    KP_VF_RAW : KP_VF_JSON;
	r.jp = kp_json_parser_new();
	if ((rc = compile_all(&r)) == 0 && (rc = make_dests(&r)) == 0 &&
	    c->eos && (r.txn = kp_txn_new(&to, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		rc = EX_CONFIG;
	}
	if (rc == 0 && (rc = open_dests(&r)) == 0) {
		/* in a transaction, dead letters go in it too */
		if (c->dlq_path && (r.dlq = kp_dlq_open(c->dlq_path, &c->kc,
		    r.txn ? r.pk : NULL, "kmap", err, sizeof(err),
		    &rc)) == NULL) {
			kp_err("%s", err);
		} else if (c->topic) {
			run_kafka(&r);
		} else {
			run_files(&r);
			flush_producer(&r);
		}
	}
	if (rc == 0) {
		flush_files(&r);
		report(&r);
	}
	if (kp_dlq_close(r.dlq) < 0)
		fail(&r, EX_IOERR);
	if (r.rk)
		rd_kafka_destroy(r.rk);
	/* a producer whose call never came back is left to the exit */
	wedged = kp_txn_wedged(r.txn);
	kp_txn_free(r.txn);
	if (r.pk && !wedged)
		rd_kafka_destroy(r.pk);
	if (r.dests)
		close_dests(&r);
	while ((t = r.tracks) != NULL) {
		struct inflight *f;

		while ((f = t->head) != NULL) {
			t->head = f->link;
			free(f);
		}
		r.tracks = t->link;
		free(t->topic);
		free(t);
	}
	if (r.stop)
		rd_kafka_topic_partition_list_destroy(r.stop);
	kp_jqx_free(r.q);
	kp_jqx_free(r.kq);
	for (i = 0; i < c->nbranches; i++)
		kp_jqx_free(c->branches[i].q);
	kp_json_parser_free(r.jp);
	kp_record_free(&r.rec);
	msgpack_zone_destroy(&r.zone);
	kp_buf_free(&r.val);
	kp_buf_free(&r.res);
	kp_buf_free(&r.kres);
	kp_buf_free(&r.keys);
	kp_buf_free(&r.raw);
	free(r.outs);
	return rc ? rc : r.exit_code;
}

static int
add_branch(struct conf *c, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t i;

	if (eq == NULL || eq == arg || eq[1] == '\0') {
		kp_err("--branch '%s': want NAME=EXPR", arg);
		return EX_USAGE;
	}
	for (i = 0; i < c->nbranches; i++)
		if (strlen(c->branches[i].name) == (size_t)(eq - arg) &&
		    !strncmp(c->branches[i].name, arg, (size_t)(eq - arg))) {
			kp_err("--branch '%.*s' given twice", (int)(eq - arg),
			    arg);
			return EX_USAGE;
		}
	c->branches = kp_xrealloc(c->branches, (c->nbranches + 1) *
	    sizeof(*c->branches));
	memset(&c->branches[c->nbranches], 0, sizeof(c->branches[0]));
	c->branches[c->nbranches].name = kp_xmemdup(arg, (size_t)(eq - arg) + 1);
	c->branches[c->nbranches].name[eq - arg] = '\0';
	c->branches[c->nbranches].expr = eq + 1;
	c->nbranches++;
	return 0;
}

static int
parse_args(int argc, char **argv, struct conf *c)
{
	enum {
		OPT_BRANCH = 256, OPT_COMMIT_INTERVAL, OPT_DEFAULT, OPT_DLQ,
		OPT_EXACTLY_ONCE, OPT_KEY, OPT_TO
	};
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "debug", required_argument, NULL, 'd' },
		{ "exit-at-end", no_argument, NULL, 'e' },
		{ "config-file", required_argument, NULL, 'F' },
		{ "from", required_argument, NULL, 't' },
		{ "group", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ "input", required_argument, NULL, 'I' },
		{ "output", required_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "topic", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "branch", required_argument, NULL, OPT_BRANCH },
		{ "commit-interval", required_argument, NULL,
		    OPT_COMMIT_INTERVAL },
		{ "default", required_argument, NULL, OPT_DEFAULT },
		{ "dlq", required_argument, NULL, OPT_DLQ },
		{ "exactly-once", no_argument, NULL, OPT_EXACTLY_ONCE },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "to", required_argument, NULL, OPT_TO },
		{ NULL, 0, NULL, 0 }
	};
	const char *name;
	char err[512];
	size_t i;
	int ch, rc, kafka_out = 0;

	while ((ch = getopt_long(argc, argv, "b:d:eF:G:hI:O:qt:VvX:",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			kp_kconf_brokers(&c->kc, optarg);
			break;
		case 'd':
			snprintf(err, sizeof(err), "debug=%s", optarg);
			kp_kconf_add(&c->kc, err, err, sizeof(err));
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
			c->out_set = 1;
			break;
		case 'q':
			kp_log_level = KP_LOG_ERR;
			break;
		case 't':
			c->topic = optarg;
			break;
		case 'V':
			printf("kmap (kpipe) %s, librdkafka %s\n", KP_VERSION,
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
		case OPT_BRANCH:
			if ((rc = add_branch(c, optarg)) != 0)
				return rc;
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
		case OPT_DEFAULT:
			c->default_branch = optarg;
			break;
		case OPT_DLQ:
			c->dlq_path = optarg;
			break;
		case OPT_EXACTLY_ONCE:
			c->eos = 1;
			break;
		case OPT_KEY:
			c->key_expr = optarg;
			break;
		case OPT_TO:
			c->to = kp_xrealloc(c->to, (c->nto + 1) * sizeof(*c->to));
			c->to[c->nto++] = optarg;
			break;
		default:
			usage(EX_USAGE);
		}
	}
	if (optind >= argc) {
		kp_err("no jq expression given");
		usage(EX_USAGE);
	}
	c->expr = argv[optind];
	c->files = argv + optind + 1;
	c->nfiles = argc - optind - 1;
	if (!c->out_set)
		c->out = isatty(1) ? KP_FMT_JSON : KP_FMT_KPIPE;
	for (i = 0; i < c->nto; i++) {
		const char *s = strchr(c->to[i], '=');

		s = s && strncmp(c->to[i], "file:", 5) ? s + 1 : c->to[i];
		if (strncmp(s, "file:", 5))
			kafka_out = 1;
	}
	if (c->topic && c->nfiles) {
		kp_err("give a topic (--from) or files, not both");
		return EX_USAGE;
	}
	if (c->topic && !c->group) {
		kp_err("--from needs a consumer group (-G)");
		return EX_USAGE;
	}
	if (!c->topic && (c->group || c->exit_eof)) {
		kp_err("-G and -e need a topic (--from)");
		return EX_USAGE;
	}
	if ((c->topic || kafka_out) && !kp_kconf_has_brokers(&c->kc)) {
		kp_err("no brokers: give -b, or set KPIPE_BROKERS");
		return EX_USAGE;
	}
	if (c->topic && (c->in == KP_FMT_CSV || c->in == KP_FMT_KPIPE)) {
		kp_err("input format '%s' is for files (Kafka payloads: auto, "
		    "json, msgpack, raw)", kp_format_name(c->in));
		return EX_USAGE;
	}
	if (c->default_branch && c->nbranches == 0) {
		kp_err("--default needs --branch");
		return EX_USAGE;
	}
	if ((c->eos || c->commit_ms) && !c->topic) {
		kp_err("--exactly-once and --commit-interval need --from TOPIC: "
		    "a transaction commits the input offsets with the output");
		return EX_USAGE;
	}
	if (c->eos && c->dlq_path && kp_dlq_target(c->dlq_path,
	    kp_kconf_has_brokers(&c->kc), &name) == KP_DLQ_FILE) {
		kp_err("--exactly-once needs a dead-letter topic: '%s' is a "
		    "file, outside the transaction", name);
		return EX_USAGE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct conf c = {
		.in = KP_FMT_AUTO,
		.out = KP_FMT_KPIPE,
	};
	size_t i;
	int rc;

	kp_log_init("kmap");
	if ((rc = parse_args(argc, argv, &c)) == 0) {
		kp_signals_install();
		rc = run(&c);
	}
	kp_kconf_free(&c.kc);
	for (i = 0; i < c.nbranches; i++)
		free(c.branches[i].name);
	free(c.branches);
	free(c.to);
	return rc;
}
