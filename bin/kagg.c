/*
 * kagg - group records by key, window them by event time (tumbling,
 * hopping, session, or none) and aggregate them: count, sum, min, max,
 * avg, first, last, count_distinct and percentiles, with a grace period
 * for late records and results emitted once per window when it closes
 * (--emit final) or on every change through a bounded cache (--emit
 * changes).
 *
 * On a pipe it keeps its state in memory and closes every window at the
 * end of input.  With a store (from Kafka, or --state-dir on a pipe) at
 * most --cache-bytes of window state stays in memory: the table drops
 * windows the store holds and reads them back when needed, and asks for
 * an early commit when memory is full of changes (relieve()).  From Kafka (--from TOPIC -G GROUP) it keeps one LevelDB
 * store per input partition, writes every store change to the changelog
 * topic GROUP-kagg-changelog, and commits in the order output and
 * changelog delivered, then store and checkpoint, then input offsets; on
 * assignment it rebuilds a partition's state from the changelog.  Each
 * changelog flush ends with the partition's 'm' entry (stream time and
 * next input offset): a restore applies whole flushes only, and rewrites
 * the keys of a flush cut short by a crash.  With --exactly-once
 * (txn.h) the results, late records, dead letters and changelog writes
 * go in a Kafka transaction with the input offsets, the stores commit
 * after it, and an aborted transaction rolls every partition back to its
 * store (eos_commit()).  The rules are in kagg(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "agg.h"
#include "changelog.h"
#include "codec.h"
#include "dlq.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "path.h"
#include "store.h"
#include "txn.h"
#include "util.h"
#include "window.h"

#define USAGE \
"usage: kagg [-eqv] -w window -a name=func(path) [-a ...] [-k path[,path...]]\n" \
"            [--time path] [--time-unit unit] [--time-format fmt]\n" \
"            [--grace duration] [--emit changes|final] [--cache-bytes n]\n" \
"            [--late file|topic] [--dlq file|topic] [-I format] [-O format]\n" \
"            [--from topic -G group] [-b brokers] [-d contexts]\n" \
"            [-X prop=value] [-F file] [--to topic] [--state-dir dir]\n" \
"            [--commit-interval duration] [--exactly-once]\n" \
"            [--stats seconds] [file ...]\n"

#define META_KEY	"m"
#define RESTORE_BATCH	(4u << 20)	/* commit a restore every 4 MiB */
#define MIN_RESIDENT	(256u << 10)	/* the least window state held */

struct conf {
	struct kp_kconf		 kc;
	const char		*from, *to, *group, *state_dir;
	const char		*late, *dlq_path;
	int			 exit_eof;
	enum kp_format		 in, out;
	struct kp_path		*keys;
	size_t			 nkeys;
	char			**key_names;
	struct kp_window_spec	 win;
	int			 win_set;
	int64_t			 grace;
	int			 emit_changes;
	long long		 cache_bytes;
	int64_t			 commit_ms;	/* -1 (unset): 100 ms under
						 * exactly once, else 1 s */
	int			 eos;		/* --exactly-once */
	long long		 stats_sec;	/* --stats */
	struct kp_agg_def	 def;
	struct kp_time_spec	 time;
	char			**files;
	int			 nfiles;
};

/* one input partition: its table, and in Kafka mode its store */
struct part {
	int32_t			 id;
	struct kp_aggtab	*tab;
	struct kp_store		*store;
	char			*dir;
	int64_t			 next;		/* next input offset, -1: none */
	int			 changed;	/* records or repairs since commit */
	int			 marker;	/* a marker is in flight */
	int			 live;		/* -e: not yet at end */
	struct run		*r;
};

struct run {
	struct conf		*c;
	struct kp_writer	*w;		/* stdout, unless --to */
	struct kp_writer	*late_w;	/* --late FILE */
	int			 late_fd;
	struct kp_dlq		*dlq;
	rd_kafka_t		*cons, *prod, *restore;
	char			*changelog;
	int			 late_topic;
	int			 lazy;		/* rec holds a raw JSON line */
	enum kp_value_format	 vf;
	struct kp_json_parser	*jp;
	struct kp_record	 rec, out;
	/* every path evaluated per record, in one pass: the aggregates'
	 * paths, the group keys, then the time field */
	const struct kp_path	**paths;
	size_t			 npaths;
	struct kp_aggval	*vals, *gvals, *tval;
	struct kp_buf		*scratch;
	struct kp_buf		 key, fields;
	struct kp_buf		 karr;		/* a multi-field key, packed */
	struct kp_buf		 raw;		/* input bytes kept for --dlq */
	struct kp_buf		 lazyv;		/* a late JSON line, parsed */
	struct part		**parts;	/* by partition id */
	int			 nparts;
	int64_t			*marker_off;	/* by partition id */
	int			 assigned;	/* -e: had an assignment */
	int			 live;		/* -e: partitions not at end */
	unsigned long long	 nin, nlate, nout, ndlq;
	unsigned long		 dr_errors;
	int			 commits;
	int			 exit_code;
	struct kp_txn		*txn;		/* --exactly-once */
	int			 abort;		/* the open transaction must abort */
	unsigned long long	 nrestored;	/* changelog records restored */
	int64_t			 restore_ms;	/* time spent restoring, ms */
	int64_t			 next_stats;	/* --stats: when, mono ms */
};

static void
usage(int code)
{
	fputs(USAGE, code ? stderr : stdout);
	exit(code);
}

static void
fail(struct run *r, int code)
{
	if (!r->exit_code)
		r->exit_code = code;
	kp_stop = 1;
}

/* ---- output ---- */

/* A record could not be produced to topic: under a transaction, the
 * transaction aborts at its commit and its records are read again;
 * otherwise the run stops. */
static void
produce_failed(struct run *r, const char *topic, rd_kafka_resp_err_t err)
{
	if (r->txn && !kp_stop) {
		if (!r->abort)
			kp_warn("cannot produce to '%s': %s (the transaction "
			    "will abort)", topic, rd_kafka_err2str(err));
		r->abort = 1;
		return;
	}
	kp_err("cannot produce to '%s': %s", topic, rd_kafka_err2str(err));
	fail(r, kp_kafka_exit_code(err));
}

static int
flush_writer(struct run *r, struct kp_writer *w, const char *what)
{
	if (w == NULL || kp_writer_flush(w) == 0)
		return 0;
	if (errno == EPIPE && w == r->w) {
		kp_stop = 1;	/* the reader went away: a quiet end */
		return -1;
	}
	kp_err("cannot write to %s: %s", what, strerror(errno));
	fail(r, EX_IOERR);
	return -1;
}

static void
on_emit(void *arg, const void *key, size_t kn, const void *v, size_t vn,
    int64_t ts)
{
	struct run *r = arg;
	rd_kafka_resp_err_t err;

	kp_record_clear(&r->out);
	kp_record_set_key(&r->out, key ? key : "", kn);
	kp_record_set_value(&r->out, KP_VALUE_MSGPACK, v, vn);
	r->out.timestamp = ts;
	r->nout++;
	if (r->c->to) {
		err = kp_record_produce(r->prod, r->c->to, RD_KAFKA_PARTITION_UA,
		    &r->out, r->vf, NULL);
		if (err)
			produce_failed(r, r->c->to, err);
		else if (r->txn)
			kp_txn_produced(r->txn, 1);
		return;
	}
	if (r->exit_code || kp_writer_write(r->w, &r->out) == 0)
		return;
	if (errno == EPIPE) {
		kp_stop = 1;
		return;
	}
	kp_err("cannot write to stdout: %s", strerror(errno));
	fail(r, EX_IOERR);
}

/* Route a bad record to the dead-letter target (a file, or a topic:
 * acknowledged before this returns, or in the open transaction under
 * --exactly-once), or stop with 65. */
static int
bad_record(struct run *r, struct kp_record *rec, const void *raw, size_t n,
    const char *why)
{
	char where[256];

	kp_record_where(rec, where, sizeof(where));
	if (r->dlq) {
		if (kp_dlq_write(r->dlq, rec, raw, n, why) < 0) {
			if (r->txn && !kp_stop && kp_dlq_is_topic(r->dlq)) {
				produce_failed(r, r->c->dlq_path,
				    RD_KAFKA_RESP_ERR__FAIL);
				return 0;
			}
			kp_err("%s: %s", where, kp_dlq_strerror(r->dlq));
			fail(r, kp_dlq_exit_code(r->dlq));
			return -1;
		}
		r->ndlq++;
		if (r->txn)
			kp_txn_produced(r->txn, 1);
		kp_info("%s: %s (sent to the dead-letter %s '%s')", where, why,
		    kp_dlq_is_topic(r->dlq) ? "topic" : "file", r->c->dlq_path);
		return 0;
	}
	kp_err("%s: %s", where, why);
	fail(r, EX_DATAERR);
	return -1;
}

static int
late_record(struct run *r, struct kp_record *rec)
{
	rd_kafka_resp_err_t err;

	r->nlate++;
	if (r->lazy && rec->vtype == KP_VALUE_BYTES) {
		char why[256];

		/* a JSON line read by the fast path: give it its value */
		kp_buf_reset(&r->lazyv);
		if (kp_json_parse(r->jp, rec->value.data, rec->value.len,
		    &r->lazyv, why, sizeof(why)) == 0)
			kp_record_set_value(rec, KP_VALUE_MSGPACK, r->lazyv.data,
			    r->lazyv.len);
	}
	if (r->late_topic) {
		err = kp_record_produce(r->prod, r->c->late, RD_KAFKA_PARTITION_UA,
		    rec, KP_VF_JSON, NULL);
		if (err) {
			produce_failed(r, r->c->late, err);
			return r->exit_code ? -1 : 0;
		}
		if (r->txn)
			kp_txn_produced(r->txn, 1);
	} else if (r->late_w && kp_writer_write(r->late_w, rec) < 0) {
		kp_err("cannot write to '%s': %s", r->c->late, strerror(errno));
		fail(r, EX_IOERR);
		return -1;
	}
	return 0;
}

/* ---- one record ---- */

/* Place a record whose fields are in r->vals: group key, event time,
 * checks, then the table.  Returns -1 when the run must stop. */
static int
place(struct run *r, struct part *p, struct kp_record *rec,
    const void *raw, size_t rawlen)
{
	struct conf *c = r->c;
	const struct kp_agg_def *d = &c->def;
	char err[512];
	int64_t ts = KP_TS_NONE;
	size_t i;
	int rc;

	r->nin++;
	kp_buf_reset(&r->key);
	kp_buf_reset(&r->fields);
	for (i = 0; i < c->nkeys; i++) {
		struct kp_aggval *g = &r->gvals[i];

		if (g->t == KP_AV_MISSING || (c->nkeys == 1 &&
		    g->t == KP_AV_NULL)) {
			snprintf(err, sizeof(err), "'%s': group key is %s",
			    c->keys[i].text, kp_aggval_type_name(g));
			return bad_record(r, rec, raw, rawlen, err);
		}
		kp_buf_add(&r->fields, g->mp, g->mplen);
	}
	if (c->nkeys == 1) {
		kp_aggval_key_bytes(&r->gvals[0], &r->key);
	} else {
		/* a compact JSON array, as kp_record_apply_key() */
		uint8_t hdr[5];
		size_t hn;

		kp_buf_reset(&r->karr);
		if (c->nkeys < 16) {
			hdr[0] = (uint8_t)(0x90 | c->nkeys);
			hn = 1;
		} else {
			hdr[0] = 0xdc;
			hdr[1] = (uint8_t)(c->nkeys >> 8);
			hdr[2] = (uint8_t)c->nkeys;
			hn = 3;
		}
		kp_buf_add(&r->karr, hdr, hn);
		kp_buf_add(&r->karr, r->fields.data, r->fields.len);
		kp_json_write(&r->key, r->karr.data, r->karr.len);
	}
	if (c->time.has_path) {
		if (kp_aggval_time(&c->time, r->tval, &ts, err,
		    sizeof(err)) < 0)
			return bad_record(r, rec, raw, rawlen, err);
	} else {
		ts = rec->timestamp;
		if (ts == KP_TS_NONE && c->win.type != KP_WIN_NONE)
			return bad_record(r, rec, raw, rawlen, "record has no "
			    "timestamp (name a field with --time)");
	}
	if (kp_agg_check(d, r->vals, err, sizeof(err)) < 0)
		return bad_record(r, rec, raw, rawlen, err);
	rc = kp_aggtab_add(p->tab, r->key.data, r->key.len, r->fields.data,
	    r->fields.len, ts, r->vals);
	p->changed = 1;
	if (rc != 0) {
		if (rc == 2)
			kp_warn("record at %lld: its windows lie outside the "
			    "time range; counted as late", (long long)ts);
		return late_record(r, rec);
	}
	return r->exit_code ? -1 : 0;
}

static int
process(struct run *r, struct part *p, struct kp_record *rec,
    const void *raw, size_t rawlen)
{
	kp_aggval_eval_many(r->paths, r->npaths, rec, r->vals, r->scratch);
	return place(r, p, rec, raw, rawlen);
}

/* ---- tables and stores ---- */

static struct kp_aggtab *
tab_new(struct run *r, int store)
{
	struct conf *c = r->c;
	struct kp_aggtab_conf tc = {
		.def = &c->def,
		.win = c->win,
		.grace = c->grace,
		.emit_changes = c->emit_changes,
		.cache_bytes = (size_t)c->cache_bytes,
		.store = store,
		.unit = c->time.has_path ? c->time.unit : KP_UNIT_MS,
		.group_names = (const char *const *)c->key_names,
		.ngroup = c->nkeys,
		.emit = on_emit,
		.arg = r,
	};

	return kp_aggtab_new(&tc);
}

static void
meta_encode(struct part *p, uint8_t v[16])
{
	int64_t st = kp_aggtab_stream_time(p->tab);
	int i;

	for (i = 0; i < 8; i++) {
		v[i] = (uint8_t)((uint64_t)st >> (8 * i));
		v[8 + i] = (uint8_t)((uint64_t)p->next >> (8 * i));
	}
}

static int
meta_decode(const void *vp, size_t n, int64_t *st, int64_t *next)
{
	const uint8_t *v = vp;
	uint64_t a = 0, b = 0;
	int i;

	if (n != 16)
		return -1;
	for (i = 7; i >= 0; i--) {
		a = (a << 8) | v[i];
		b = (b << 8) | v[8 + i];
	}
	*st = (int64_t)a;
	*next = (int64_t)b;
	return 0;
}

/* Load one store entry into the partition; -1 with errstr when it does
 * not decode. */
static int
load_entry(struct part *p, const void *k, size_t kn, const void *v,
    size_t vn, char *err, size_t errlen)
{
	int64_t st, next;

	if (kn == 1 && *(const char *)k == 'm') {
		if (meta_decode(v, vn, &st, &next) < 0) {
			snprintf(err, errlen, "bad meta entry");
			return -1;
		}
		kp_aggtab_set_stream_time(p->tab, st);
		p->next = next;
		return 0;
	}
	return kp_aggtab_store_load(p->tab, k, kn, v, vn, err, errlen);
}

static void put_cb(void *arg, const void *k, size_t kn, const void *v,
    size_t vn);

/* Bind the partition's table to its store: at most budget bytes of
 * window state stay in memory, the rest is read back when needed. */
static void
bind_store(struct part *p, long long budget)
{
	size_t b = budget > (long long)MIN_RESIDENT ? (size_t)budget :
	    MIN_RESIDENT;

	kp_aggtab_bind_store(p->tab, p->store, put_cb, p, b);
}

/* Load a store into the partition's (bound) table: its 'm' entry; the
 * windows stay in the store until a record or the stream time needs
 * them. */
static int
load_store(struct part *p)
{
	static const char prefixes[] = "m";
	struct kp_store_iter *it;
	const void *k, *v;
	size_t kn, vn;
	char err[256];
	int rc = 0, i;

	for (i = 0; i < 1 && rc == 0; i++) {
		it = kp_store_iter_new(p->store, &prefixes[i], 1);
		while (rc == 0 && kp_store_iter_next(it, &k, &kn, &v, &vn))
			rc = load_entry(p, k, kn, v, vn, err, sizeof(err));
		kp_store_iter_free(it);
	}
	if (rc < 0)
		kp_err("cannot load state store '%s': %s", p->dir, err);
	return rc;
}

static char *
store_dir(const struct conf *c, int32_t id)
{
	struct kp_buf b = {0};

	kp_buf_printf(&b, "%s/%s/kagg/%d", c->state_dir ? c->state_dir :
	    "./kpipe-state", c->group ? c->group : "pipe", (int)id);
	return b.data;
}

static void
part_free(struct part *p)
{
	if (p == NULL)
		return;
	kp_aggtab_free(p->tab);
	kp_store_close(p->store);
	free(p->dir);
	free(p);
}

/* store writes (and, in Kafka mode, the changelog) */
static void
put_cb(void *arg, const void *k, size_t kn, const void *v, size_t vn)
{
	struct part *p = arg;
	struct run *r = p->r;
	rd_kafka_resp_err_t err;
	int marker = kn == 1 && *(const char *)k == 'm';

	if (v)
		kp_store_put(p->store, k, kn, v, vn);
	else
		kp_store_delete(p->store, k, kn);
	if (r->prod == NULL)
		return;
	for (;;) {
		err = rd_kafka_producev(r->prod,
		    RD_KAFKA_V_TOPIC(r->changelog),
		    RD_KAFKA_V_PARTITION(p->id),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_KEY((void *)k, kn),
		    RD_KAFKA_V_VALUE((void *)v, v ? vn : 0),
		    RD_KAFKA_V_OPAQUE(marker ? (void *)p : NULL),
		    RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(r->prod, 100);
	}
	if (err)
		produce_failed(r, r->changelog, err);
	if (marker)
		p->marker = 1;
}

/* test hook: KPIPE_TEST_CRASH=POINT:N dies by SIGKILL at POINT of the
 * Nth commit that writes something (partial: changelog sent without its marker; store: before
 * the store commit; offsets: before the input offsets commit) */
static void
crash_point(struct run *r, const char *point)
{
	const char *s = getenv("KPIPE_TEST_CRASH");
	size_t n = strlen(point);

	if (s && !strncmp(s, point, n) && s[n] == ':' &&
	    atoi(s + n + 1) == r->commits) {
		if (r->prod)
			rd_kafka_flush(r->prod, 10000);
		kp_warn("test crash at '%s' of commit %d", point, r->commits);
		raise(SIGKILL);
	}
}

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct run *r = opaque;

	(void)rk;
	if (kp_dlq_is_letter(r->dlq, m->_private))
		return;		/* a dead letter's, in the transaction */
	if (m->err) {
		/* under a transaction, a failed delivery makes its commit
		 * fail and the transaction abort */
		if (r->txn)
			return;
		if (r->dr_errors++ < 5)
			kp_err("cannot deliver to '%s': %s",
			    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
		return;
	}
	if (m->_private && m->partition >= 0 && m->partition < r->nparts)
		r->marker_off[m->partition] = m->offset;
}

static int eos_commit(struct run *r, int lost);

/*
 * Commit the partitions in `which` (NULL: all): emit pending changes,
 * write store changes and the marker (store batch and changelog), flush
 * every output until delivered, commit the stores and their checkpoints,
 * then the input offsets.  Returns 0, or -1 (and the run fails) when a
 * step fails; later steps are then skipped, so that a restart redoes the
 * work (at least once).  Under --exactly-once it commits the transaction
 * (eos_commit(): every partition), and returns 1 when that aborted: the
 * partitions were rolled back, and struct part pointers held are stale.
 */
static int
commit_parts(struct run *r, const rd_kafka_topic_partition_list_t *which)
{
	rd_kafka_topic_partition_list_t *offs;
	rd_kafka_resp_err_t e;
	char err[512];
	int i, j;

	if (r->txn)
		return eos_commit(r, 0);
	for (i = 0; i < r->nparts; i++)
		if (r->parts[i] && r->parts[i]->changed) {
			r->commits++;	/* commits that write, for crash_point */
			break;
		}
	for (i = 0; i < r->nparts; i++) {
		struct part *p = r->parts[i];

		if (p == NULL)
			continue;
		if (which) {
			for (j = 0; j < which->cnt; j++)
				if (which->elems[j].partition == i)
					break;
			if (j == which->cnt)
				continue;
		}
		kp_aggtab_flush_cache(p->tab);
		if (p->store && p->changed) {
			uint8_t v[16];

			kp_aggtab_store_flush(p->tab, put_cb, p);
			crash_point(r, "partial");
			meta_encode(p, v);
			put_cb(p, META_KEY, 1, v, 16);
		}
	}
	if (flush_writer(r, r->w, "stdout") < 0 ||
	    flush_writer(r, r->late_w, r->c->late) < 0)
		return -1;
	if (r->prod) {
		while (rd_kafka_outq_len(r->prod) > 0 && !r->dr_errors) {
			e = rd_kafka_flush(r->prod, 1000);
			if (e && e != RD_KAFKA_RESP_ERR__TIMED_OUT)
				break;
		}
		if (r->dr_errors) {
			kp_err("%lu records were not delivered: not committing",
			    r->dr_errors);
			fail(r, EX_TEMPFAIL);
			return -1;
		}
	}
	if (r->exit_code)
		return -1;
	crash_point(r, "store");
	offs = rd_kafka_topic_partition_list_new(r->nparts ? r->nparts : 1);
	for (i = 0; i < r->nparts; i++) {
		struct part *p = r->parts[i];

		if (p == NULL || (which && !rd_kafka_topic_partition_list_find(
		    (rd_kafka_topic_partition_list_t *)which, r->c->from, i)))
			continue;
		if (p->store && p->changed) {
			if (kp_store_commit(p->store, 0, err, sizeof(err)) < 0) {
				kp_err("%s", err);
				fail(r, EX_IOERR);
				rd_kafka_topic_partition_list_destroy(offs);
				return -1;
			}
			if (p->marker && r->prod && kp_store_checkpoint_write(
			    p->dir, r->marker_off[i] + 1, err, sizeof(err)) < 0) {
				kp_err("%s", err);
				fail(r, EX_IOERR);
				rd_kafka_topic_partition_list_destroy(offs);
				return -1;
			}
			p->marker = 0;
		}
		if (r->cons && p->next >= 0 && p->changed)
			rd_kafka_topic_partition_list_add(offs, r->c->from,
			    i)->offset = p->next;
		p->changed = 0;
	}
	crash_point(r, "offsets");
	if (r->cons && offs->cnt > 0 &&
	    (e = rd_kafka_commit(r->cons, offs, 0)) != 0 &&
	    e != RD_KAFKA_RESP_ERR__NO_OFFSET)
		kp_warn("cannot commit offsets: %s", rd_kafka_err2str(e));
	rd_kafka_topic_partition_list_destroy(offs);
	for (i = 0; i < r->nparts && which == NULL; i++)
		if (r->parts[i] && r->parts[i]->store)
			kp_aggtab_committed(r->parts[i]->tab);
	return 0;
}

/* After a record: when the table of p is full of state its store lacks,
 * commit (which lets it drop clean windows) and let it go on closing
 * due windows, until it is within its budget.  Returns -1 when the run
 * must stop. */
static int
relieve(struct run *r, struct part *p)
{
	int rc;

	if (!kp_aggtab_want_commit(p->tab))
		return 0;
	while (!r->exit_code && kp_aggtab_want_commit(p->tab)) {
		p->changed = 1;
		if ((rc = commit_parts(r, NULL)) < 0)
			return -1;
		if (rc == 1)
			return 0;	/* rolled back: p is gone */
		kp_aggtab_advance(p->tab);
	}
	p->changed = 1;
	return r->exit_code ? -1 : 0;
}

/* End of input: close every window of p (a bound table commits on the
 * way, as often as its budget needs).  Returns 0, -1 when the run must
 * stop, or 1 when a transaction aborted (p is gone: read again). */
static int
close_part(struct run *r, struct part *p)
{
	int rc;

	while (kp_aggtab_close_all(p->tab) > 0) {
		p->changed = 1;
		if ((rc = commit_parts(r, NULL)) != 0)
			return rc;
	}
	p->changed = 1;
	return 0;
}

/* ---- pipe mode ---- */

/* Is the input JSON lines whose fields the scanner can take?  With -I
 * auto, a regular file is sniffed as the reader would (first non-blank
 * byte); a pipe goes to the reader. */
static int
json_lines(struct run *r, int fd, const char *name)
{
	const struct conf *c = r->c;
	char buf[512];
	ssize_t n, i;
	size_t k, l;

	for (k = 0; k < r->npaths; k++)
		if (r->paths[k]->root != KP_ROOT_VALUE ||
		    r->paths[k]->nsteps != 1 || !r->paths[k]->steps[0].name)
			return 0;
	if (r->npaths == 0 || r->npaths > KP_AGGVAL_MANY)
		return 0;
	if (c->in == KP_FMT_JSON)
		return 1;
	if (c->in != KP_FMT_AUTO)
		return 0;
	l = strlen(name);
	if (l > 4 && !strcmp(name + l - 4, ".csv"))
		return 0;
	if ((n = pread(fd, buf, sizeof(buf), 0)) <= 0)
		return 0;
	for (i = 0; i < n; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' &&
		    buf[i] != '\n')
			return buf[i] == '{';
	return 0;
}

/* JSON lines: scan each line for the fields; parse it fully only when
 * the scanner cannot vouch for it (see kp_aggval_scan_json). */
static int
run_json_lines(struct run *r, struct part *p, int fd, const char *name)
{
	struct kp_reader_opts ro = { .fmt = KP_FMT_RAW };
	struct kp_reader *rd = kp_reader_new(fd, name, &ro);
	struct kp_buf v = {0};
	char err[512];
	int rc = 0;

	while (!kp_stop && !r->exit_code) {
		const char *l;
		size_t n;

		rc = kp_reader_next(rd, &r->rec, err, sizeof(err));
		if (rc <= 0) {
			if (rc < 0) {
				kp_err("'%s': %s", strcmp(name, "-") ? name :
				    "stdin", err);
				fail(r, EX_DATAERR);
			}
			break;
		}
		l = r->rec.value.data ? r->rec.value.data : "";
		n = r->rec.value.len;
		if (kp_aggval_scan_json(r->paths, r->npaths, l, n, r->vals,
		    r->scratch) == 1) {
			r->lazy = 1;
			rc = place(r, p, &r->rec, l, n);
			r->lazy = 0;
			if (rc < 0 || relieve(r, p) < 0)
				break;
			continue;
		}
		kp_buf_reset(&v);
		rc = kp_json_parse(r->jp, l, n, &v, err, sizeof(err));
		if (rc == -2)
			continue;	/* a blank line */
		if (rc < 0) {
			r->nin++;
			if (bad_record(r, &r->rec, l, n, err) < 0)
				break;
			continue;
		}
		/* keep the line for dead letters: the value replaces it */
		kp_buf_reset(&r->raw);
		kp_buf_add(&r->raw, l, n);
		kp_record_set_value(&r->rec, KP_VALUE_MSGPACK, v.data, v.len);
		if (process(r, p, &r->rec, r->raw.data, r->raw.len) < 0 ||
		    relieve(r, p) < 0)
			break;
	}
	kp_buf_free(&v);
	kp_reader_free(rd);
	return r->exit_code ? -1 : 0;
}

static int
run_files(struct run *r)
{
	struct conf *c = r->c;
	struct kp_reader_opts ro = { .fmt = c->in };
	struct part *p = kp_xcalloc(1, sizeof(*p));
	char err[512];
	int i, nf = c->nfiles ? c->nfiles : 1;

	p->r = r;
	p->next = -1;
	p->tab = tab_new(r, c->state_dir != NULL);
	r->parts = &p;
	r->nparts = 1;
	if (c->state_dir) {
		p->dir = store_dir(c, 0);
		if ((p->store = kp_store_open(p->dir, 0, err,
		    sizeof(err))) == NULL) {
			kp_err("%s", err);
			part_free(p);
			return EX_CANTCREAT;
		}
		bind_store(p, c->cache_bytes);
		if (load_store(p) < 0) {
			part_free(p);
			return EX_DATAERR;
		}
	}
	for (i = 0; i < nf && !kp_stop; i++) {
		const char *name = c->nfiles ? c->files[i] : "-";
		int fd = strcmp(name, "-") ? open(name, O_RDONLY) : 0;
		struct kp_reader *rd;
		int rc;

		if (fd < 0) {
			kp_err("cannot open '%s': %s", name, strerror(errno));
			fail(r, EX_NOINPUT);
			break;
		}
		if (json_lines(r, fd, name)) {
			rc = run_json_lines(r, p, fd, name);
			if (fd > 0)
				close(fd);
			if (rc < 0)
				break;
			continue;
		}
		rd = kp_reader_new(fd, name, &ro);
		while (!kp_stop) {
			const void *raw;
			size_t n;

			rc = kp_reader_next(rd, &r->rec, err, sizeof(err));
			if (rc == 0)
				break;
			kp_reader_raw(rd, &raw, &n);
			if (rc == 1) {
				enum kp_format f = kp_reader_format(rd);

				if (f == KP_FMT_KPIPE || f == KP_FMT_MSGPACK) {
					/* dead letters show the value as JSON */
					if (r->dlq) {
						kp_buf_reset(&r->raw);
						kp_value_json(&r->raw, &r->rec);
						raw = r->raw.data;
						n = r->raw.len;
					}
				}
				if (process(r, p, &r->rec, raw, n) < 0 ||
				    relieve(r, p) < 0)
					break;
				continue;
			}
			if (rc == -2) {
				kp_err("'%s': %s", strcmp(name, "-") ? name :
				    "stdin", err);
				fail(r, EX_DATAERR);
				break;
			}
			r->nin++;
			if (bad_record(r, &r->rec, raw, n, err) < 0)
				break;
		}
		kp_reader_free(rd);
		if (fd > 0)
			close(fd);
	}
	/* end of input (or a stop): every window closes */
	if (!r->exit_code && close_part(r, p) == 0)
		commit_parts(r, NULL);
	part_free(p);
	r->parts = NULL;
	r->nparts = 0;
	return r->exit_code;
}

/* ---- Kafka mode ---- */

/* Check or create the changelog topic (changelog.h); 0 or an exit
 * code (logged). */
static int
changelog_check(struct run *r, int nparts)
{
	char err[1024];
	int rc, created;

	rc = kp_changelog_check(r->prod, r->changelog, nparts, r->c->from,
	    &created, err, sizeof(err));
	if (created)
		kp_info("created changelog topic '%s' with %d partitions",
		    r->changelog, nparts);
	if (rc)
		kp_err("%s", err);
	return rc;
}

static rd_kafka_t *
restore_consumer(struct run *r)
{
	static const char *const defaults[] = {
		"enable.partition.eof", "true",
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		NULL
	};
	rd_kafka_conf_t *conf;
	char err[512];

	if (r->restore)
		return r->restore;
	if ((conf = kp_kconf_build(&r->c->kc, defaults, err,
	    sizeof(err))) == NULL) {
		kp_err("%s", err);
		return NULL;
	}
	rd_kafka_conf_set(conf, "group.id", "kpipe-kagg-restore", err,
	    sizeof(err));
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
	    sizeof(err));
	/* under exactly once, never what an aborted transaction wrote */
	if (r->txn && kp_txn_consumer_conf(conf, err, sizeof(err)) < 0) {
		kp_err("%s", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	if ((r->restore = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err,
	    sizeof(err))) == NULL)
		kp_err("cannot create restore consumer: %s", err);
	return r->restore;
}

static void
restore_progress(void *arg, int32_t id, unsigned long n, double sec)
{
	const struct kp_changelog_restore *cr = arg;

	kp_info("partition %d: restoring, %lu changelog records so far "
	    "(%.0f records/s), offset %lld of %lld", (int)id, n,
	    sec > 0 ? n / sec : 0.0, (long long)cr->offset,
	    (long long)cr->hi);
}

static void
restore_warn(void *arg, const char *msg)
{
	(void)arg;
	kp_warn("changelog: %s", msg);
}

/*
 * Apply the changelog of p from `from` up to hi (changelog.h): whole
 * flushes, those that end with a marker, and nothing after the last
 * marker (a flush a crash cut short).  The writes of that tail go to
 * `tail` (the caller frees it), for repair.
 */
static int
restore_part(struct run *r, struct part *p, int64_t from, int64_t hi,
    struct kp_buf *tail)
{
	struct kp_changelog_restore cr = {
		.rk = restore_consumer(r), .topic = r->changelog,
		.partition = p->id, .from = from, .hi = hi, .marker = "m",
		.marker_len = 1, .store = p->store, .dir = p->dir,
		.batch_bytes = RESTORE_BATCH, .progress = restore_progress,
		.warn = restore_warn,
	};
	char err[512];
	int rc;

	if (cr.rk == NULL)
		return -1;
	cr.arg = &cr;
	/* a stop is not an error to report */
	if ((rc = kp_changelog_restore(&cr, err, sizeof(err))) < 0 && !kp_stop)
		kp_err("%s", err);
	r->nrestored += cr.records;
	r->restore_ms += cr.ms;
	kp_info("partition %d: restored %lu changelog records (offsets "
	    "%lld..%lld) in %lld ms, %.0f records/s", (int)p->id, cr.records,
	    (long long)from, (long long)hi, (long long)cr.ms,
	    cr.records * 1000.0 / (double)(cr.ms > 0 ? cr.ms : 1));
	*tail = cr.tail;
	return rc;
}

/* Open, restore and load the state of partition id.  With rollback
 * (after an aborted transaction, --exactly-once), the store as committed
 * is the state of the last committed transaction, and the changelog
 * after its checkpoint holds only what the aborted ones wrote: it is
 * not read, and the checkpoint moves past it. */
static struct part *
part_open(struct run *r, int32_t id, int rollback)
{
	struct part *p = kp_xcalloc(1, sizeof(*p));
	struct kp_buf tail = {0};
	rd_kafka_resp_err_t e;
	int64_t ck = 0, lo, hi, from;
	char err[512];
	int have;

	p->r = r;
	p->id = id;
	p->next = -1;
	p->live = 1;
	p->dir = store_dir(r->c, id);
	p->tab = tab_new(r, 1);
	if ((e = rd_kafka_query_watermark_offsets(r->cons, r->changelog, id,
	    &lo, &hi, 10000))) {
		kp_err("cannot get offsets of changelog '%s' partition %d: %s",
		    r->changelog, (int)id, rd_kafka_err2str(e));
		fail(r, kp_kafka_exit_code(e));
		goto bad;
	}
	have = kp_store_checkpoint_read(p->dir, &ck);
	if (rollback && have == 1 && ck >= lo && ck <= hi) {
		from = hi;
	} else if (have != 1 || ck < lo || ck > hi) {
		if (have == 1)
			kp_info("partition %d: checkpoint %lld outside the "
			    "changelog (%lld..%lld): rebuilding", (int)id,
			    (long long)ck, (long long)lo, (long long)hi);
		if (kp_store_destroy(p->dir, err, sizeof(err)) < 0 &&
		    access(p->dir, F_OK) == 0) {
			kp_err("%s", err);
			fail(r, EX_IOERR);
			goto bad;
		}
		from = lo;
	} else {
		from = ck;
	}
	if ((p->store = kp_store_open(p->dir, 0, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		fail(r, EX_CANTCREAT);
		goto bad;
	}
	/* the budget is shared by the input's partitions */
	bind_store(p, r->c->cache_bytes / (r->nparts > 0 ? r->nparts : 1));
	if (from < hi) {
		if (restore_part(r, p, from, hi, &tail) < 0) {
			kp_buf_free(&tail);
			fail(r, EX_TEMPFAIL);
			goto bad;
		}
	} else if (kp_store_checkpoint_write(p->dir, from, err,
	    sizeof(err)) < 0) {
		kp_err("%s", err);
		fail(r, EX_IOERR);
		goto bad;
	}
	if (load_store(p) < 0) {
		kp_buf_free(&tail);
		fail(r, EX_DATAERR);
		goto bad;
	}
	if (tail.len) {
		size_t off = 0, nk = 0;

		/* rewrite what an unfinished flush left in the changelog */
		while (off < tail.len) {
			uint32_t kn, vn;

			memcpy(&kn, tail.data + off + 1, 4);
			memcpy(&vn, tail.data + off + 5 + kn, 4);
			if (!(kn == 1 && tail.data[off + 5] == 'm'))
				kp_aggtab_store_touch(p->tab, tail.data + off + 5,
				    kn);
			off += 9 + kn + vn;
			nk++;
		}
		p->changed = 1;
		kp_info("partition %d: repairing %zu changelog records of an "
		    "unfinished commit", (int)id, nk);
	}
	kp_buf_free(&tail);
	kp_info("partition %d: %zu open windows, stream time %lld, resuming at "
	    "offset %lld%s", (int)id, kp_aggtab_open_windows(p->tab),
	    (long long)kp_aggtab_stream_time(p->tab), (long long)p->next,
	    rollback ? " (rolled back)" : "");
	return p;
bad:
	part_free(p);
	return NULL;
}

/* After an aborted transaction: drop every partition's uncommitted state
 * (the table, the store's pending writes) and load it again as the last
 * committed transaction left it; the consumer was rewound to where that
 * transaction ended (txn.h). */
static void
rollback(struct run *r)
{
	int i, live;

	for (i = 0; i < r->nparts && !r->exit_code; i++) {
		struct part *p = r->parts[i];

		if (p == NULL)
			continue;
		live = p->live;
		part_free(p);
		r->marker_off[i] = -1;
		if ((r->parts[i] = part_open(r, i, 1)) == NULL) {
			if (live)
				r->live--;
			break;
		}
		r->parts[i]->live = live;
	}
}

/* txn.h's rewound callback: the consumer reads partition again from
 * offset; at its end again, for -e */
static void
on_rewound(void *opaque, const char *topic, int32_t partition,
    int64_t offset)
{
	struct run *r = opaque;
	struct part *p;

	(void)topic;
	kp_debug("partition %d: reading again from offset %lld",
	    (int)partition, (long long)offset);
	if (partition >= 0 && partition < r->nparts &&
	    (p = r->parts[partition]) && !p->live) {
		p->live = 1;
		r->live++;
	}
}

/*
 * --exactly-once: write the changed partitions' store changes and their
 * markers to the changelog, in the open transaction with the results,
 * late records and dead letters of their records; commit it with the
 * input offsets (kp_txn_processed()); only then commit the stores and
 * their checkpoints.  A crash between the two leaves a store behind its
 * changelog, which the next part_open() restores from.  With lost (the
 * assignment was lost), or when a record could not be produced, the
 * transaction aborts.  Returns 0, 1 after an abort (every partition
 * rolled back, the consumer rewound), or -1 when the run must stop.
 */
static int
eos_commit(struct run *r, int lost)
{
	enum kp_txn_status st;
	char err[512];
	int i;

	if (r->exit_code)
		return -1;
	for (i = 0; i < r->nparts; i++) {
		struct part *p = r->parts[i];
		uint8_t v[16];

		if (p == NULL)
			continue;
		kp_aggtab_flush_cache(p->tab);
		if (p->changed) {
			kp_aggtab_store_flush(p->tab, put_cb, p);
			meta_encode(p, v);
			put_cb(p, META_KEY, 1, v, 16);
		}
	}
	if (r->exit_code)
		return -1;
	if (r->abort || lost) {
		st = kp_txn_abort(r->txn, err, sizeof(err));
		if (st == KP_TXN_ABORTED)
			snprintf(err, sizeof(err), "%s", lost ? "the assignment "
			    "was lost" : "a record could not be produced");
	} else {
		/* the delivery reports give the markers' offsets */
		rd_kafka_flush(r->prod, 30000);
		st = kp_txn_commit(r->txn, err, sizeof(err));
	}
	r->abort = 0;
	if (st == KP_TXN_FATAL) {
		kp_err("%s", err);
		fail(r, kp_txn_exit_code(r->txn));
		return -1;
	}
	if (st == KP_TXN_ABORTED) {
		kp_warn("transaction aborted: %s", err);
		rollback(r);
		return r->exit_code ? -1 : 1;
	}
	for (i = 0; i < r->nparts; i++) {
		struct part *p = r->parts[i];

		if (p == NULL || !p->changed)
			continue;
		if (kp_store_commit(p->store, 0, err, sizeof(err)) < 0 ||
		    (p->marker && r->marker_off[i] >= 0 &&
		    kp_store_checkpoint_write(p->dir, r->marker_off[i] + 1, err,
		    sizeof(err)) < 0)) {
			kp_err("%s", err);
			fail(r, EX_IOERR);
			return -1;
		}
		p->marker = 0;
		p->changed = 0;
		kp_aggtab_committed(p->tab);
	}
	return 0;
}

static void
rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct run *r = opaque;
	int i;

	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		for (i = 0; i < parts->cnt && !r->exit_code; i++) {
			rd_kafka_topic_partition_t *tp = &parts->elems[i];
			struct part *p;

			if (tp->partition < 0 || tp->partition >= r->nparts) {
				kp_err("assigned partition %d of '%s', which has "
				    "%d", (int)tp->partition, tp->topic, r->nparts);
				fail(r, EX_SOFTWARE);
				break;
			}
			if ((p = r->parts[tp->partition]) == NULL &&
			    (p = part_open(r, tp->partition, 0)) == NULL)
				break;
			r->parts[tp->partition] = p;
			tp->offset = p->next >= 0 ? p->next :
			    RD_KAFKA_OFFSET_INVALID;
			p->live = 1;
			r->live++;
		}
		r->assigned = 1;
		if (r->exit_code)
			rd_kafka_assign(rk, NULL);
		else
			rd_kafka_assign(rk, parts);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		if (r->txn && !r->exit_code) {
			/* an abort reopens every partition; those revoked
			 * are closed below */
			eos_commit(r, rd_kafka_assignment_lost(rk));
			kp_txn_forget(r->txn, parts);
		} else if (!r->exit_code) {
			commit_parts(r, parts);
		}
		for (i = 0; i < parts->cnt; i++) {
			int32_t id = parts->elems[i].partition;

			if (id < 0 || id >= r->nparts || r->parts[id] == NULL)
				continue;
			if (r->parts[id]->live)
				r->live--;
			part_free(r->parts[id]);
			r->parts[id] = NULL;
		}
		rd_kafka_assign(rk, NULL);
		break;
	default:
		kp_err("rebalance error: %s", rd_kafka_err2str(err));
		rd_kafka_assign(rk, NULL);
		break;
	}
}

/* The statistics as one JSON object (--stats, and the last log line). */
static void
stats_json(struct run *r, struct kp_buf *b)
{
	kp_buf_printf(b, "{\"program\":\"kagg\",\"records\":%llu,\"late\":%llu,"
	    "\"dead_letters\":%llu,\"results\":%llu,\"restored\":%llu,"
	    "\"restore_ms\":%lld", r->nin, r->nlate, r->ndlq, r->nout,
	    r->nrestored, (long long)r->restore_ms);
	if (r->txn) {
		struct kp_txn_stats ts;

		kp_txn_get_stats(r->txn, &ts);
		kp_buf_printf(b, ",\"transactions\":%lu,\"aborts\":%lu,"
		    "\"records_committed\":%lu,\"records_aborted\":%lu,"
		    "\"outputs_committed\":%lu,\"outputs_aborted\":%lu",
		    ts.commits, ts.aborts, ts.in_committed, ts.in_aborted,
		    ts.out_committed, ts.out_aborted);
	}
	kp_buf_printf(b, "}");
}

static void
print_stats(struct run *r)
{
	struct kp_buf b = {0};

	stats_json(r, &b);
	fprintf(stderr, "%s\n", b.data);
	kp_buf_free(&b);
}

static void
maybe_stats(struct run *r)
{
	int64_t now = kp_mono_ms();

	if (r->c->stats_sec <= 0)
		return;
	if (r->next_stats == 0)
		r->next_stats = now + r->c->stats_sec * 1000;
	if (now >= r->next_stats) {
		print_stats(r);
		r->next_stats = now + r->c->stats_sec * 1000;
	}
}

/* -e, every partition at its end: close every window and commit.
 * Returns 0, -1 when the run must stop, or 1 when the transaction
 * aborted (its records are read again). */
static int
finish(struct run *r)
{
	int i, rc;

	for (i = 0; i < r->nparts; i++)
		if (r->parts[i] && (rc = close_part(r, r->parts[i])) != 0)
			return rc;
	return commit_parts(r, NULL);
}

static void
consume(struct run *r)
{
	struct conf *c = r->c;
	int64_t last = kp_mono_ms();
	char err[512];

	while (!kp_stop && !r->exit_code) {
		rd_kafka_message_t *m;
		struct part *p;

		if (c->exit_eof && r->assigned && r->live == 0) {
			/* under a transaction, the last one must commit;
			 * an abort reads its records again */
			if (r->txn && finish(r) == 1)
				continue;
			break;
		}
		maybe_stats(r);
		if (r->abort || kp_mono_ms() - last >= c->commit_ms) {
			if (commit_parts(r, NULL) < 0)
				break;
			last = kp_mono_ms();
		}
		m = rd_kafka_consumer_poll(r->cons, 100);
		if (r->prod)
			rd_kafka_poll(r->prod, 0);
		if (m == NULL)
			continue;
		if (m->err) {
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				if (m->partition >= 0 && m->partition < r->nparts &&
				    (p = r->parts[m->partition]) && p->live) {
					p->live = 0;
					r->live--;
					kp_info("reached end of '%s' partition %d",
					    c->from, (int)m->partition);
				}
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
		if (m->partition < 0 || m->partition >= r->nparts ||
		    (p = r->parts[m->partition]) == NULL ||
		    (p->next >= 0 && m->offset < p->next)) {
			rd_kafka_message_destroy(m);
			continue;
		}
		if (!p->live) {
			p->live = 1;	/* more data after an EOF */
			r->live++;
		}
		if (kp_record_from_message(&r->rec, m, c->in, r->jp, err,
		    sizeof(err)) < 0) {
			r->nin++;
			bad_record(r, &r->rec, m->payload, m->len, err);
		} else {
			process(r, p, &r->rec, m->payload, m->len);
		}
		p->next = m->offset + 1;
		p->changed = 1;
		if (r->txn)
			kp_txn_processed(r->txn, c->from, m->partition, m->offset);
		rd_kafka_message_destroy(m);
		if (relieve(r, p) < 0)
			break;
	}
}

static int
run_kafka(struct run *r)
{
	static const char *const cdefaults[] = {
		"enable.partition.eof", "true",
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		NULL
	};
	static const char *const pdefaults[] = {
		"enable.idempotence", "true",
		/* Java's partitioner, as every kpipe producer: keys land
		 * where a Kafka Streams app would put them */
		"partitioner", "murmur2_random",
		"linger.ms", "5",
		NULL
	};
	struct conf *c = r->c;
	struct kp_txn_opts to = {
		.group = c->group, .program = "kagg", .interval_ms = c->commit_ms,
		.max_aborts = KP_TXN_MAX_ABORTS, .rewound = on_rewound,
		.opaque = r,
	};
	rd_kafka_conf_t *conf;
	rd_kafka_topic_partition_list_t *t;
	char err[512];
	int rc, i;

	if (c->eos && (r->txn = kp_txn_new(&to, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		return EX_CONFIG;
	}
	if ((conf = kp_kconf_build(&c->kc, pdefaults, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		return EX_CONFIG;
	}
	if (r->txn && kp_txn_producer_conf(r->txn, conf, err, sizeof(err)) < 0) {
		kp_err("%s", err);
		rd_kafka_conf_destroy(conf);
		return EX_CONFIG;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, r);
	if ((r->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create producer: %s", err);
		return EX_CONFIG;
	}
	if ((conf = kp_kconf_build(&c->kc, cdefaults, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		return EX_CONFIG;
	}
	if (rd_kafka_conf_set(conf, "group.id", c->group, err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK || (r->txn && kp_txn_consumer_conf(conf, err,
	    sizeof(err)) < 0)) {
		kp_err("%s", err);
		rd_kafka_conf_destroy(conf);
		return EX_CONFIG;
	}
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_opaque(conf, r);
	if ((r->cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create consumer: %s", err);
		return EX_CONFIG;
	}
	rd_kafka_poll_set_consumer(r->cons);
	if ((r->nparts = kp_kafka_partition_count(r->cons, c->from, 10000, err,
	    sizeof(err))) < 0) {
		kp_err("%s", err);
		r->nparts = 0;
		return EX_UNAVAILABLE;
	}
	r->parts = kp_xcalloc((size_t)r->nparts, sizeof(*r->parts));
	r->marker_off = kp_xcalloc((size_t)r->nparts, sizeof(*r->marker_off));
	for (i = 0; i < r->nparts; i++)
		r->marker_off[i] = -1;
	{
		struct kp_buf b = {0};

		kp_buf_printf(&b, "%s-kagg-changelog", c->group);
		r->changelog = b.data;
	}
	if ((rc = changelog_check(r, r->nparts)) != 0)
		return rc;
	/* dead letters: in the transaction, or acknowledged one by one */
	if (c->dlq_path && (r->dlq = kp_dlq_open(c->dlq_path, &c->kc,
	    r->txn ? r->prod : NULL, "kagg", err, sizeof(err), &rc)) == NULL) {
		kp_err("%s", err);
		return rc;
	}
	t = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(t, c->from, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(r->cons, t)) {
		kp_err("cannot subscribe to '%s'", c->from);
		rd_kafka_topic_partition_list_destroy(t);
		return EX_CONFIG;
	}
	rd_kafka_topic_partition_list_destroy(t);
	if (r->txn) {
		if (kp_txn_start(r->txn, r->prod, r->cons, err,
		    sizeof(err)) < 0) {
			kp_err("%s", err);
			fail(r, kp_txn_exit_code(r->txn));
			rd_kafka_consumer_close(r->cons);
			return r->exit_code;
		}
		kp_info("transactional id '%s'", kp_txn_id(r->txn));
	}
	consume(r);
	if (!r->exit_code && !r->txn && c->exit_eof && r->assigned &&
	    r->live == 0) {
		/* end of the topic: every window closes */
		for (i = 0; i < r->nparts && !r->exit_code; i++)
			if (r->parts[i] && close_part(r, r->parts[i]) < 0)
				break;
	}
	if (!r->exit_code)
		commit_parts(r, NULL);
	if (r->exit_code) {
		/* leave the group without committing anything more */
		for (i = 0; i < r->nparts; i++) {
			part_free(r->parts[i]);
			r->parts[i] = NULL;
		}
	}
	rd_kafka_consumer_close(r->cons);
	return r->exit_code;
}

/* ---- options ---- */

/* the output name of a group field: .id -> id, ."max.cpu" -> max.cpu */
static char *
field_name(const struct kp_path *p)
{
	if (p->root == KP_ROOT_VALUE && p->nsteps == 1 && p->steps[0].name)
		return kp_xstrdup(p->steps[0].name);
	if (p->root == KP_ROOT_VALUE && p->nsteps == 0)
		return kp_xstrdup("value");
	return kp_xstrdup(p->text + 1);
}

static int
parse_args(int argc, char **argv, struct conf *c)
{
	enum {
		OPT_CACHE = 256, OPT_COMMIT, OPT_DLQ, OPT_EMIT, OPT_EOS,
		OPT_GRACE, OPT_LATE, OPT_STATE, OPT_STATS, OPT_TIME,
		OPT_TIME_FORMAT, OPT_TIME_UNIT, OPT_TO
	};
	static const struct option longopts[] = {
		{ "aggregate", required_argument, NULL, 'a' },
		{ "brokers", required_argument, NULL, 'b' },
		{ "debug", required_argument, NULL, 'd' },
		{ "exit-at-end", no_argument, NULL, 'e' },
		{ "config-file", required_argument, NULL, 'F' },
		{ "from", required_argument, NULL, 't' },
		{ "group", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ "input", required_argument, NULL, 'I' },
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "topic", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "window", required_argument, NULL, 'w' },
		{ "cache-bytes", required_argument, NULL, OPT_CACHE },
		{ "commit-interval", required_argument, NULL, OPT_COMMIT },
		{ "dlq", required_argument, NULL, OPT_DLQ },
		{ "emit", required_argument, NULL, OPT_EMIT },
		{ "exactly-once", no_argument, NULL, OPT_EOS },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "late", required_argument, NULL, OPT_LATE },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "time", required_argument, NULL, OPT_TIME },
		{ "time-format", required_argument, NULL, OPT_TIME_FORMAT },
		{ "time-unit", required_argument, NULL, OPT_TIME_UNIT },
		{ "to", required_argument, NULL, OPT_TO },
		{ NULL, 0, NULL, 0 }
	};
	char err[512];
	const char *e;
	int ch, out_set = 0;
	size_t i;

	while ((ch = getopt_long(argc, argv, "a:b:d:eF:G:hI:k:O:qt:Vvw:X:",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			if (kp_agg_def_add(&c->def, optarg, err, sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			break;
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
		case 'k':
			if (kp_path_parse_list(optarg, &c->keys, &c->nkeys, err,
			    sizeof(err)) < 0) {
				kp_err("%s", err);
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
			c->from = optarg;
			break;
		case 'V':
			printf("kagg (kpipe) %s, librdkafka %s\n", KP_VERSION,
			    rd_kafka_version_str());
			exit(0);
		case 'v':
			kp_log_level++;
			break;
		case 'w':
			if (kp_window_spec_parse(optarg, &c->win, err,
			    sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			c->win_set = 1;
			break;
		case 'X':
			if (kp_kconf_add(&c->kc, optarg, err, sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			break;
		case OPT_CACHE:
			if (kp_strtonum(optarg, 0, (long long)1 << 40,
			    &c->cache_bytes, &e) < 0) {
				kp_err("cache size '%s' is %s", optarg, e);
				return EX_USAGE;
			}
			break;
		case OPT_COMMIT:
			if (kp_duration_parse(optarg, &c->commit_ms, err,
			    sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			break;
		case OPT_DLQ:
			c->dlq_path = optarg;
			break;
		case OPT_EMIT:
			if (!strcmp(optarg, "changes"))
				c->emit_changes = 1;
			else if (!strcmp(optarg, "final"))
				c->emit_changes = 0;
			else {
				kp_err("unknown emit mode '%s' (changes, final)",
				    optarg);
				return EX_USAGE;
			}
			break;
		case OPT_EOS:
			c->eos = 1;
			break;
		case OPT_GRACE:
			if (kp_duration_parse(optarg, &c->grace, err,
			    sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			break;
		case OPT_LATE:
			c->late = optarg;
			break;
		case OPT_STATE:
			c->state_dir = optarg;
			break;
		case OPT_STATS:
			if (kp_strtonum(optarg, 1, 86400, &c->stats_sec, &e) < 0) {
				kp_err("--stats '%s' is %s", optarg, e);
				return EX_USAGE;
			}
			break;
		case OPT_TIME:
			if (c->time.has_path)
				kp_path_free(&c->time.path);
			if (kp_path_parse(optarg, &c->time.path, err,
			    sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			c->time.has_path = 1;
			break;
		case OPT_TIME_FORMAT:
			free(c->time.format);
			c->time.format = kp_xstrdup(optarg);
			break;
		case OPT_TIME_UNIT:
			if (kp_time_unit_parse(optarg, &c->time.unit) < 0) {
				kp_err("unknown time unit '%s' (s, ms, us)", optarg);
				return EX_USAGE;
			}
			break;
		case OPT_TO:
			c->to = optarg;
			break;
		default:
			usage(EX_USAGE);
		}
	}
	c->files = argv + optind;
	c->nfiles = argc - optind;
	if (!out_set)
		c->out = isatty(1) ? KP_FMT_JSON : KP_FMT_KPIPE;
	if (!c->win_set) {
		kp_err("no window: give -w tumbling:SIZE, hopping:SIZE:ADVANCE, "
		    "session:GAP or none");
		return EX_USAGE;
	}
	if (c->def.naggs == 0) {
		kp_err("no aggregate: give -a NAME=FUNC(PATH), e.g. -a "
		    "'n=count()'");
		return EX_USAGE;
	}
	if (c->nkeys == 0) {
		c->keys = kp_xcalloc(1, sizeof(*c->keys));
		kp_path_parse("@key", &c->keys[0], err, sizeof(err));
		c->nkeys = 1;
	}
	c->key_names = kp_xcalloc(c->nkeys, sizeof(*c->key_names));
	for (i = 0; i < c->nkeys; i++)
		c->key_names[i] = field_name(&c->keys[i]);
	if (c->time.format && !c->time.has_path) {
		kp_err("--time-format needs --time PATH");
		return EX_USAGE;
	}
	if (c->from && c->nfiles) {
		kp_err("give a topic (--from) or files, not both");
		return EX_USAGE;
	}
	if (c->from && strchr(c->from, ',')) {
		kp_err("--from takes one topic: its partitions name the state "
		    "stores");
		return EX_USAGE;
	}
	if (c->from && !c->group) {
		kp_err("--from needs a consumer group (-G): it names the state "
		    "and the changelog topic");
		return EX_USAGE;
	}
	if (c->from && !kp_kconf_has_brokers(&c->kc)) {
		kp_err("no brokers: give -b, or set KPIPE_BROKERS");
		return EX_USAGE;
	}
	if (!c->from && (c->to || c->exit_eof)) {
		kp_err("--to and -e need a topic (--from)");
		return EX_USAGE;
	}
	if (c->commit_ms == 0) {
		kp_err("the commit interval must be positive");
		return EX_USAGE;
	}
	if (c->commit_ms < 0)
		c->commit_ms = c->eos ? KP_TXN_INTERVAL_MS : 1000;
	if (c->eos && !c->from) {
		kp_err("--exactly-once needs --from (a topic, in a consumer "
		    "group)");
		return EX_USAGE;
	}
	if (c->eos && !c->to) {
		kp_err("--exactly-once needs --to: standard output is not part "
		    "of a transaction");
		return EX_USAGE;
	}
	if (c->eos && c->late && strchr(c->late, '/')) {
		kp_err("--exactly-once needs --late to be a topic: a file is "
		    "not part of a transaction");
		return EX_USAGE;
	}
	if (c->eos && c->dlq_path && kp_dlq_target(c->dlq_path, 1, &e) ==
	    KP_DLQ_FILE) {
		kp_err("--exactly-once needs --dlq to be a topic: a file is not "
		    "part of a transaction");
		return EX_USAGE;
	}
	if (c->win.type == KP_WIN_NONE && c->grace) {
		kp_err("--grace needs a window");
		return EX_USAGE;
	}
	return 0;
}

static int
run(struct conf *c)
{
	struct kp_writer_opts wo = { .fmt = c->out };
	struct run r = { .c = c, .late_fd = -1, .vf = KP_VF_JSON };
	size_t i, nscratch = c->def.npaths + c->nkeys + 1;
	char err[512];
	int rc = 0, wedged;

	kp_record_init(&r.rec);
	kp_record_init(&r.out);
	r.jp = kp_json_parser_new();
	r.paths = kp_xcalloc(nscratch, sizeof(*r.paths));
	for (i = 0; i < c->def.npaths; i++)
		r.paths[r.npaths++] = &c->def.paths[i];
	for (i = 0; i < c->nkeys; i++)
		r.paths[r.npaths++] = &c->keys[i];
	if (c->time.has_path)
		r.paths[r.npaths++] = &c->time.path;
	r.vals = kp_xcalloc(nscratch, sizeof(*r.vals));
	r.gvals = r.vals + c->def.npaths;
	r.tval = r.gvals + c->nkeys;
	r.scratch = kp_xcalloc(nscratch, sizeof(*r.scratch));
	if (c->out == KP_FMT_MSGPACK || c->out == KP_FMT_KPIPE)
		r.vf = KP_VF_MSGPACK;
	if (c->to && c->out == KP_FMT_KPIPE)
		r.vf = KP_VF_JSON;	/* the default: JSON values in Kafka */
	if (!c->to)
		r.w = kp_writer_new(1, &wo);
	/* from Kafka, run_kafka() opens it on its producer */
	if (c->dlq_path && !c->from && (r.dlq = kp_dlq_open(c->dlq_path,
	    &c->kc, NULL, "kagg", err, sizeof(err), &rc)) == NULL)
		kp_err("%s", err);
	if (rc == 0 && c->late) {
		if (c->from && !strchr(c->late, '/')) {
			r.late_topic = 1;
		} else if ((r.late_fd = open(c->late, O_WRONLY | O_CREAT |
		    O_APPEND, 0644)) < 0) {
			kp_err("cannot open '%s': %s", c->late, strerror(errno));
			rc = EX_CANTCREAT;
		} else {
			struct kp_writer_opts lo = { .fmt = KP_FMT_JSON };

			r.late_w = kp_writer_new(r.late_fd, &lo);
		}
	}
	if (rc == 0)
		rc = c->from ? run_kafka(&r) : run_files(&r);
	if (rc == 0)
		rc = r.exit_code;
	/* dropped late records are lost input: say so unless -q (Kafka
	 * Streams counts them in dropped-records metrics and logs them) */
	if (r.nlate && c->late)
		kp_info("%llu late record%s (written to '%s')", r.nlate,
		    r.nlate == 1 ? "" : "s", c->late);
	else if (r.nlate)
		kp_warn("%llu late record%s dropped: older than their window's "
		    "end plus the grace period (keep them with --late, allow "
		    "more disorder with --grace)", r.nlate,
		    r.nlate == 1 ? "" : "s");
	if (c->stats_sec > 0) {
		print_stats(&r);
	} else if (kp_log_level >= KP_LOG_INFO) {
		struct kp_buf b = {0};

		stats_json(&r, &b);
		kp_info("stats %s", b.data);
		kp_buf_free(&b);
	}
	if (kp_dlq_close(r.dlq) < 0 && rc == 0)
		rc = EX_IOERR;
	if (r.late_w)
		kp_writer_free(r.late_w);
	if (r.late_fd >= 0 && close(r.late_fd) < 0 && rc == 0)
		rc = EX_IOERR;
	/* a producer whose call never came back is left to the exit */
	wedged = kp_txn_wedged(r.txn);
	kp_txn_free(r.txn);
	if (r.prod && !wedged) {
		rd_kafka_flush(r.prod, 10000);
		rd_kafka_destroy(r.prod);
	}
	if (r.cons)
		rd_kafka_destroy(r.cons);
	if (r.restore) {
		rd_kafka_consumer_close(r.restore);
		rd_kafka_destroy(r.restore);
	}
	if (r.parts && c->from) {
		int j;

		for (j = 0; j < r.nparts; j++)
			part_free(r.parts[j]);
		free(r.parts);
	}
	free(r.marker_off);
	free(r.changelog);
	kp_writer_free(r.w);
	for (i = 0; i < nscratch; i++)
		kp_buf_free(&r.scratch[i]);
	free(r.scratch);
	free(r.vals);
	free(r.paths);
	kp_buf_free(&r.key);
	kp_buf_free(&r.fields);
	kp_buf_free(&r.karr);
	kp_buf_free(&r.raw);
	kp_buf_free(&r.lazyv);
	kp_json_parser_free(r.jp);
	kp_record_free(&r.rec);
	kp_record_free(&r.out);
	return rc;
}

int
main(int argc, char **argv)
{
	struct conf c = {
		.in = KP_FMT_AUTO,
		.out = KP_FMT_KPIPE,
		.cache_bytes = 10 << 20,
		.commit_ms = -1,
	};
	size_t i;
	int rc;

	kp_log_init("kagg");
	if ((rc = parse_args(argc, argv, &c)) == 0) {
		kp_signals_install();
		rc = run(&c);
	}
	kp_kconf_free(&c.kc);
	kp_time_spec_free(&c.time);
	kp_agg_def_free(&c.def);
	for (i = 0; i < c.nkeys; i++) {
		kp_path_free(&c.keys[i]);
		if (c.key_names)	/* NULL after an early usage error */
			free(c.key_names[i]);
	}
	free(c.keys);
	free(c.key_names);
	return rc;
}
