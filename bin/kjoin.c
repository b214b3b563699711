/*
 * kjoin - join a stream with a table (enrichment: Kafka Streams'
 * KStream-KTable and KStream-GlobalKTable joins) or with another stream
 * within a time window (KStream-KStream joins).
 *
 * The stream comes from standard input (pipe mode) or from a topic read
 * by a consumer group (Kafka mode); the table, or the other stream, from
 * a file (file:PATH) or a topic.  Between the two inputs, the record with
 * the lower timestamp goes first, so that a stream record sees the table
 * as of its own timestamp.  In Kafka mode both topics must have the same
 * partition count (checked at start); partition P of the stream joins
 * partition P of the table, whose state lives in a LevelDB store per
 * partition and whose topic is its own changelog.  Offsets are committed
 * only after the outputs are delivered and the stores committed.  The
 * buffers of a stream-stream join also go to a changelog topic
 * (GROUP-kjoin-changelog, changelog.h), each commit ending with a marker,
 * and a partition's buffers are restored from it on assignment.
 *
 * With --exactly-once (Kafka mode), the outputs, the changelog writes and
 * the input offsets of both topics commit in Kafka transactions (txn.h),
 * and a store commits only after the transaction that holds its input
 * did: a store is never ahead of the group's offsets, and one that is
 * behind (a crash between the two commits) is brought up to them from
 * the table topic or the changelog.  An aborted transaction drops the
 * stores' uncommitted writes and the queued records, and reopens every
 * partition from the committed offsets.  Dead letters go to a file or a
 * topic (dlq.h), in the transaction under --exactly-once.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "changelog.h"
#include "codec.h"
#include "dlq.h"
#include "join.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "path.h"
#include "store.h"
#include "txn.h"
#include "util.h"
#include "window.h"

#define USAGE \
"usage: kjoin --table src [--table-key path] [-k path] [--left] [--prefix str]\n" \
"             [--global] [-eqv] [-b brokers] [-d contexts] [-X prop=value]\n" \
"             [-F file] [--from topic] [-G group] [--to topic]\n" \
"             [--state-dir dir] [--max-idle ms] [--stats seconds]\n" \
"             [--dlq file|topic] [-I format] [-O format]\n" \
"             [--commit-interval ms] [--exactly-once]\n" \
"       kjoin --join src --within duration [--grace duration] [-k path]\n" \
"             [--left | --outer] [--prefix str] [-eqv] [-b brokers]\n" \
"             [-d contexts] [-X prop=value] [-F file] [--from topic]\n" \
"             [-G group] [--to topic] [--state-dir dir] [--max-idle ms]\n" \
"             [--stats seconds] [--dlq file|topic] [-I format] [-O format]\n" \
"             [--commit-interval ms] [--changelog topic] [--exactly-once]\n"

#define COMMIT_MS	1000		/* Kafka mode: commit interval */
#define QUEUE_HIGH	2000		/* pause a partition above this */
#define QUEUE_LOW	500		/* and resume it below this */
#define PIPE_POLL_MS	10		/* pipe mode: follow a topic this often */
#define STORE_FLUSH	(4u << 20)	/* commit a store's batch past this */
#define BATCH		16		/* pipe mode: records read ahead */
#define HINT_RECORDS	4096		/* table records read before sizing */
#define PREFETCH_AHEAD	6		/* ... whose table entry is fetched */

struct conf {
	struct kp_kconf		 kc;
	int			 join;		/* --join: stream-stream */
	const char		*src;		/* --table or --join, as given */
	const char		*src_file;	/* file:PATH */
	const char		*src_topic;
	struct kp_path		*keys;		/* -k */
	size_t			 nkeys;
	struct kp_path		*tkeys;		/* --table-key */
	size_t			 ntkeys;
	const char		*keys_text, *tkeys_text;
	int			 left, outer, global;
	const char		*prefix;
	int64_t			 within, grace;
	int			 has_within;
	long long		 max_idle;
	const char		*from, *to, *group, *state_dir, *dlq_path;
	const char		*changelog;	/* --changelog */
	int			 exit_eof;
	long long		 stats_sec;
	enum kp_format		 in, out;
	int			 eos;		/* --exactly-once */
	int64_t			 commit_ms;	/* --commit-interval; 0: default */
};

struct stats {
	unsigned long	stream, table, joined, unmatched, no_match;
	unsigned long	stream_null_key, table_null_key, null_values;
	unsigned long	tombstones, late, bad, restored;
};

/* one run: the output, the dead letters and the counters */
struct job {
	struct conf		*c;
	struct kp_writer	*w;		/* stdout, or NULL with --to */
	rd_kafka_t		*prod;		/* --to */
	enum kp_value_format	 vf;
	rd_kafka_resp_err_t	 dr_err;	/* first failed delivery */
	struct kp_dlq		*dlq;
	struct stats		 s;
	struct kp_buf		 kb, mb;
	struct kp_record	 orec;
	int			 exit_code;
	int			 stopped;	/* EPIPE or a fatal error */
	int64_t			 next_stats;
	struct kp_txn		*txn;		/* --exactly-once */
	char			*abort_why;	/* the transaction must abort */
	/* --join in Kafka mode: per partition, the changelog offset of the
	 * last marker delivered (-1: none since the last commit) */
	int64_t			*marker_off;
	int			 nmarker;
};

/* the opaque of changelog markers in delivery reports */
static char marker_tag;

static void
usage(int code)
{
	fputs(USAGE, code ? stderr : stdout);
	exit(code);
}

/* ---- output, dead letters, statistics ---- */

static int
fail(struct job *j, int code)
{
	if (!j->exit_code)
		j->exit_code = code;
	j->stopped = 1;
	return -1;
}

static int
emit(struct job *j, struct kp_record *r)
{
	rd_kafka_resp_err_t err;

	if (j->c->to) {
		err = kp_record_produce(j->prod, j->c->to, RD_KAFKA_PARTITION_UA,
		    r, j->vf, NULL);
		if (err && j->txn && !kp_stop) {
			/* the transaction cannot commit: abort it and read
			 * its records again */
			if (j->abort_why == NULL) {
				struct kp_buf b = {0};

				kp_buf_printf(&b, "cannot produce to '%s': %s",
				    j->c->to, rd_kafka_err2str(err));
				j->abort_why = b.data;
			}
			return 0;
		}
		if (j->txn && !err)
			kp_txn_produced(j->txn, 1);
		if (err) {
			if (kp_stop)
				return fail(j, 0);
			kp_err("cannot produce to '%s': %s", j->c->to,
			    rd_kafka_err2str(err));
			return fail(j, kp_kafka_exit_code(err));
		}
		return 0;
	}
	if (kp_writer_write(j->w, r) < 0) {
		if (errno != EPIPE)
			kp_err("cannot write to stdout: %s", strerror(errno));
		return fail(j, errno == EPIPE ? 0 : EX_IOERR);
	}
	return 0;
}

/* Deliver everything written so far: flush stdout, or wait for the
 * producer's delivery reports.  Returns 0, or -1 when something was not
 * delivered (the run stops; offsets must not be committed). */
static int
flush_out(struct job *j)
{
	if (j->stopped)
		return -1;
	if (j->txn)
		return 0;	/* commit_transaction() delivers */
	if (j->prod) {
		while (rd_kafka_outq_len(j->prod) > 0 && !j->dr_err)
			rd_kafka_flush(j->prod, 1000);
		if (j->dr_err) {
			kp_err("cannot deliver to '%s': %s", j->c->to ? j->c->to :
			    "the changelog", rd_kafka_err2str(j->dr_err));
			return fail(j, kp_kafka_exit_code(j->dr_err));
		}
	}
	if (j->w && kp_writer_flush(j->w) < 0) {
		if (errno != EPIPE)
			kp_err("cannot write to stdout: %s", strerror(errno));
		return fail(j, errno == EPIPE ? 0 : EX_IOERR);
	}
	return 0;
}

/* A record that cannot be processed: to the dead-letter file, or stop
 * with 65. */
static int
bad_record(struct job *j, const struct kp_record *r, const void *raw, size_t n,
    const char *why)
{
	char where[256];

	j->s.bad++;
	kp_record_where(r, where, sizeof(where));
	if (j->dlq) {
		if (kp_dlq_write(j->dlq, r, raw, n, why) < 0) {
			kp_err("cannot write dead letter: %s",
			    kp_dlq_strerror(j->dlq));
			return fail(j, kp_dlq_exit_code(j->dlq));
		}
		kp_info("%s: %s (sent to the dead letters)", where, why);
		return 0;
	}
	kp_err("%s: %s", where, why);
	return fail(j, EX_DATAERR);
}

/* a bad record already decoded: its value is the raw bytes to keep */
static int
bad_value(struct job *j, struct kp_record *r, const char *why)
{
	struct kp_buf raw = {0};
	int rc;

	if (r->vtype == KP_VALUE_MSGPACK)
		kp_value_json(&raw, r);
	else if (r->vtype == KP_VALUE_BYTES)
		kp_buf_add(&raw, r->value.data, r->value.len);
	rc = bad_record(j, r, raw.data ? raw.data : "", raw.len, why);
	kp_buf_free(&raw);
	return rc;
}

static void
print_stats(struct job *j)
{
	const struct stats *s = &j->s;

	fprintf(stderr, "{\"program\":\"kjoin\",\"stream\":%lu,\"%s\":%lu,"
	    "\"joined\":%lu,\"unmatched\":%lu,\"no_match\":%lu,"
	    "\"stream_null_key\":%lu,\"%s_null_key\":%lu,"
	    "\"null_values\":%lu,\"tombstones\":%lu,\"late\":%lu,"
	    "\"bad\":%lu,\"restored\":%lu",
	    s->stream, j->c->join ? "other" : "table", s->table, s->joined,
	    s->unmatched, s->no_match, s->stream_null_key,
	    j->c->join ? "other" : "table", s->table_null_key, s->null_values,
	    s->tombstones, s->late, s->bad, s->restored);
	if (j->txn) {
		struct kp_txn_stats ts;

		kp_txn_get_stats(j->txn, &ts);
		fprintf(stderr, ",\"transactions\":%lu,\"aborts\":%lu,"
		    "\"records_committed\":%lu,\"records_aborted\":%lu",
		    ts.commits, ts.aborts, ts.in_committed, ts.in_aborted);
	}
	fputs("}\n", stderr);
}

static void
maybe_stats(struct job *j)
{
	int64_t now;

	if (j->c->stats_sec <= 0)
		return;
	now = kp_mono_ms();
	if (j->next_stats == 0)
		j->next_stats = now + j->c->stats_sec * 1000;
	if (now >= j->next_stats) {
		print_stats(j);
		j->next_stats = now + j->c->stats_sec * 1000;
	}
}

static void
final_report(struct job *j)
{
	if (j->s.table_null_key)
		kp_info("skipped %lu %s records with a null key",
		    j->s.table_null_key, j->c->join ? "other-side" : "table");
	if (j->s.stream_null_key)
		kp_info("%lu stream records had a null key", j->s.stream_null_key);
	if (j->s.late)
		kp_info("dropped %lu late records", j->s.late);
	if (kp_log_level >= KP_LOG_INFO || j->c->stats_sec > 0)
		print_stats(j);
}

/* ---- the joins, shared by every mode ---- */

static const struct kp_path *
table_paths(const struct conf *c, size_t *n)
{
	if (c->ntkeys) {
		*n = c->ntkeys;
		return c->tkeys;
	}
	*n = c->nkeys;
	return c->keys;
}

/* Apply one table record: the latest value per key, a tombstone
 * deletes, a null key is skipped and counted. */
static int
table_apply(struct job *j, struct kp_jtable *t, struct kp_record *r)
{
	const struct kp_path *kp;
	size_t nk;
	int null = kp_join_value_is_null(r);

	kp = table_paths(j->c, &nk);
	j->s.table++;
	if (kp_join_key(r, kp, nk, &j->kb) < 0) {
		/* a tombstone has no fields: it names its key by the
		 * record key */
		if (!null || nk == 0 || kp_join_key(r, NULL, 0, &j->kb) < 0) {
			j->s.table_null_key++;
			return 0;
		}
	}
	if (null) {
		j->s.tombstones++;
		kp_jtable_delete(t, j->kb.data, j->kb.len);
		return 0;
	}
	if (r->vtype != KP_VALUE_MSGPACK ||
	    !kp_join_is_map(r->value.data, r->value.len))
		return bad_value(j, r, "table value is not an object");
	kp_jtable_put(t, j->kb.data, j->kb.len, r->value.data, r->value.len);
	return 0;
}

/* Join one stream record with the table and emit the result; key is its
 * join key when the caller has it (NULL: worked out here). */
static int
stream_table(struct job *j, struct kp_jtable *t, struct kp_record *r,
    const struct kp_buf *key)
{
	const void *v;
	size_t vn;
	char err[512];
	int rc;

	j->s.stream++;
	if (kp_join_value_is_null(r)) {
		j->s.null_values++;
		return 0;
	}
	if (r->vtype != KP_VALUE_MSGPACK ||
	    !kp_join_is_map(r->value.data, r->value.len))
		return bad_value(j, r, "stream value is not an object");
	if (key == NULL && kp_join_key(r, j->c->keys, j->c->nkeys,
	    &j->kb) < 0) {
		j->s.stream_null_key++;
		rc = 0;
	} else if ((rc = kp_jtable_get(t, key ? key->data : j->kb.data,
	    key ? key->len : j->kb.len, &v, &vn, err, sizeof(err))) < 0) {
		kp_err("%s", err);
		return fail(j, EX_IOERR);
	}
	if (rc == 0) {
		if (!j->c->left) {
			j->s.no_match++;
			return 0;
		}
		j->s.unmatched++;
		return emit(j, r);
	}
	kp_buf_reset(&j->mb);
	kp_join_merge(&j->mb, r->value.data, r->value.len, v, vn, j->c->prefix);
	kp_record_set_value(r, KP_VALUE_MSGPACK, j->mb.data, j->mb.len);
	j->s.joined++;
	return emit(j, r);
}

/* stream-stream: the window's outputs */
static int
win_emit(void *ctx, struct kp_record *l, struct kp_record *r)
{
	struct job *j = ctx;
	struct kp_record *o = &j->orec;

	kp_buf_reset(&j->mb);
	if (l && r) {
		kp_record_copy(o, l);
		kp_join_merge(&j->mb, l->value.data, l->value.len, r->value.data,
		    r->value.len, j->c->prefix);
		if (r->timestamp > o->timestamp)
			o->timestamp = r->timestamp;
		j->s.joined++;
	} else if (l) {
		j->s.unmatched++;
		return emit(j, l) < 0 ? -1 : 0;
	} else {
		kp_record_copy(o, r);
		kp_join_prefix(&j->mb, r->value.data, r->value.len,
		    j->c->prefix);
		j->s.unmatched++;
	}
	kp_record_set_value(o, KP_VALUE_MSGPACK, j->mb.data, j->mb.len);
	return emit(j, o) < 0 ? -1 : 0;
}

/* Check a stream-stream record at intake.  Returns 1 to go on, 0 to
 * skip it (counted or sent to the dead letters), -1 to stop. */
static int
join_check(struct job *j, struct kp_record *r)
{
	if (kp_join_value_is_null(r)) {
		j->s.null_values++;
		return 0;
	}
	if (r->vtype != KP_VALUE_MSGPACK ||
	    !kp_join_is_map(r->value.data, r->value.len))
		return bad_value(j, r, "value is not an object") < 0 ? -1 : 0;
	if (r->timestamp == KP_TS_NONE)
		return bad_value(j, r, "record has no timestamp (a windowed "
		    "join needs one)") < 0 ? -1 : 0;
	return 1;
}

/* One record of side 0 (the stream) or 1 (the other stream). */
static int
stream_join(struct job *j, struct kp_jwin *w, int side, struct kp_record *r)
{
	int rc;

	if (side == 0)
		j->s.stream++;
	else
		j->s.table++;
	if ((rc = join_check(j, r)) <= 0)
		return rc;
	if (kp_join_key(r, j->c->keys, j->c->nkeys, &j->kb) < 0) {
		if (side == 0)
			j->s.stream_null_key++;
		else
			j->s.table_null_key++;
		/* never joins: out at once when unmatched ones go out */
		if (side == 0 && (j->c->left || j->c->outer))
			return win_emit(j, r, NULL);
		if (side == 1 && j->c->outer)
			return win_emit(j, NULL, r);
		return 0;
	}
	rc = kp_jwin_add(w, side, j->kb.data, j->kb.len, r);
	if (rc == 1) {
		j->s.late++;
		kp_debug("late: %s record at %lld (topic '%.*s' partition %d "
		    "offset %lld), stream time %lld", side ? "other" : "stream",
		    (long long)r->timestamp, (int)r->topic.len, r->topic.data,
		    (int)r->partition, (long long)r->offset,
		    (long long)kp_jwin_stream_time(w));
		return 0;
	}
	return rc == 0 ? 0 : -1;
}

/* ---- pipe mode: the stream on stdin ---- */

/* A record of the other input waiting for its turn: a kpipe envelope,
 * ordered by timestamp, then by arrival. */
struct pent {
	int64_t		ts;
	uint64_t	seq;
	size_t		n;
	char		env[];
};

struct pside {
	struct pent	**a;		/* min-heap by (ts, seq) */
	size_t		  n, cap;
	uint64_t	  seq;
	struct kp_buf	  tmp;
	int		  done;		/* no more records will come */
	/* a topic */
	rd_kafka_t	 *rk;
	int		  nparts;
	char		 *caught;	/* per partition: at the end */
	int		  ncaught;
	int64_t		  idle_start, last_poll;
};

static int
pent_less(const struct pent *a, const struct pent *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void
pside_push(struct pside *ps, const struct kp_record *r)
{
	struct pent *e;
	size_t i;

	kp_buf_reset(&ps->tmp);
	kp_envelope_pack(&ps->tmp, r);
	e = kp_xmalloc(sizeof(*e) + ps->tmp.len);
	e->ts = r->timestamp;
	e->seq = ps->seq++;
	e->n = ps->tmp.len;
	memcpy(e->env, ps->tmp.data, e->n);
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 1024;
		ps->a = kp_xrealloc(ps->a, ps->cap * sizeof(*ps->a));
	}
	for (i = ps->n++; i > 0 && pent_less(e, ps->a[(i - 1) / 2]);
	    i = (i - 1) / 2)
		ps->a[i] = ps->a[(i - 1) / 2];
	ps->a[i] = e;
	ps->idle_start = 0;
}

static struct pent *
pside_pop(struct pside *ps)
{
	struct pent *top = ps->a[0], *last = ps->a[--ps->n];
	size_t i = 0, c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= ps->n)
			break;
		if (c + 1 < ps->n && pent_less(ps->a[c + 1], ps->a[c]))
			c++;
		if (!pent_less(ps->a[c], last))
			break;
		ps->a[i] = ps->a[c];
		i = c;
	}
	if (ps->n > 0)
		ps->a[i] = last;
	return top;
}

struct pipe {
	struct job		*j;
	struct conf		*c;
	struct pside		 ps;
	struct kp_jtable	*tab;
	struct kp_store		*store;
	struct kp_jwin		*win;
	struct kp_json_parser	*jp;
	struct kp_record	 rec;		/* the stream's */
	struct kp_record	 trec, orec;	/* the other input's */
	int			 nosync;	/* --global: apply at once */
};

/* Process one record of the other input now. */
static int
other_now(struct pipe *p, struct kp_record *r)
{
	char err[512];
	int rc;

	if (p->win)
		return stream_join(p->j, p->win, 1, r);
	rc = table_apply(p->j, p->tab, r);
	if (rc == 0 && p->store && kp_store_pending(p->store) > STORE_FLUSH &&
	    kp_store_commit(p->store, 0, err, sizeof(err)) < 0) {
		kp_err("%s", err);
		return fail(p->j, EX_IOERR);
	}
	return rc;
}

/* Take in one record of the other input: at once when it has no
 * timestamp (it loads first) or with --global, else into the heap.
 * Records that could never be processed go to the dead letters now,
 * while their origin is known. */
static int
other_intake(struct pipe *p, struct kp_record *r)
{
	if (p->win) {
		int rc = join_check(p->j, r);

		if (rc <= 0) {
			p->j->s.table++;
			return rc;
		}
	} else if (!kp_join_value_is_null(r) && (r->vtype != KP_VALUE_MSGPACK ||
	    !kp_join_is_map(r->value.data, r->value.len))) {
		p->j->s.table++;
		return bad_value(p->j, r, "table value is not an object");
	}
	if (p->nosync || (r->timestamp == KP_TS_NONE && !p->win))
		return other_now(p, r);
	pside_push(&p->ps, r);
	return 0;
}

static int
other_pop(struct pipe *p)
{
	struct pent *e = pside_pop(&p->ps);
	char err[256];
	int rc;

	kp_record_clear(&p->orec);
	if (kp_envelope_unpack(e->env, e->n, &p->orec, err, sizeof(err)) <= 0) {
		free(e);
		kp_err("internal error: %s", err);
		return fail(p->j, EX_SOFTWARE);
	}
	free(e);
	rc = other_now(p, &p->orec);
	return rc;
}

/* Size the memory table for a table file of `size` bytes, of which the
 * first n records have been read: as many keys as the file holds records
 * at their size so far (an estimate: the hash table still grows if it is
 * short, and a file of updates to fewer keys only costs some empty slots).
 * The bytes read are the file offset less what the reader holds. */
static void
size_hint(struct kp_jtable *t, struct kp_reader *rd, int fd, off_t size,
    size_t n)
{
	off_t pos = lseek(fd, 0, SEEK_CUR);

	if (pos <= 0 || (size_t)pos <= kp_reader_buffered(rd))
		return;
	pos -= (off_t)kp_reader_buffered(rd);
	kp_jtable_reserve(t, (size_t)((double)size / (double)pos * (double)n));
}

/* Read a whole file:PATH into the other side. */
static int
load_file(struct pipe *p)
{
	struct conf *c = p->c;
	struct kp_reader_opts ro = { .fmt = c->in };
	struct kp_reader *rd;
	struct kp_record r;
	struct stat sb;
	off_t size = 0;
	size_t nrec = 0;
	char err[512];
	int fd, rc, ret = 0;

	if ((fd = open(c->src_file, O_RDONLY)) < 0) {
		kp_err("cannot open '%s': %s", c->src_file, strerror(errno));
		return fail(p->j, EX_NOINPUT);
	}
	rd = kp_reader_new(fd, c->src_file, &ro);
	kp_record_init(&r);
	if (p->tab && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
		size = sb.st_size;
	while (!kp_stop && !p->j->stopped) {
		rc = kp_reader_next(rd, &r, err, sizeof(err));
		if (rc == 0)
			break;
		if (++nrec == HINT_RECORDS && size > 0)
			size_hint(p->tab, rd, fd, size, nrec);
		if (rc == 1) {
			if (other_intake(p, &r) < 0)
				ret = -1;
			continue;
		}
		if (rc == -2) {
			kp_err("'%s': %s", c->src_file, err);
			ret = fail(p->j, EX_DATAERR);
			break;
		}
		{
			const void *raw;
			size_t n;

			kp_reader_raw(rd, &raw, &n);
			if (bad_record(p->j, &r, raw, n, err) < 0)
				ret = -1;
		}
	}
	kp_reader_free(rd);
	kp_record_free(&r);
	close(fd);
	p->ps.done = 1;
	return p->j->stopped ? -1 : ret;
}

static rd_kafka_t *
new_consumer(struct conf *c, const char *group, char *err, size_t en)
{
	static const char *const defaults[] = {
		"enable.partition.eof", "true",
		"enable.auto.offset.store", "false",
		"enable.auto.commit", "false",
		"auto.offset.reset", "earliest",
		NULL
	};
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;

	if ((conf = kp_kconf_build(&c->kc, defaults, err, en)) == NULL)
		return NULL;
	/* librdkafka's consumer wants a group.id even to assign() */
	if (rd_kafka_conf_set(conf, "group.id", group, err, en) !=
	    RD_KAFKA_CONF_OK || (c->eos && kp_txn_consumer_conf(conf, err,
	    en) < 0)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, en)) == NULL) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/* Assign every partition of topic to rk from offsets[p] (NULL: from the
 * beginning).  Returns the partition count, or -1 (logged). */
static int
assign_all(rd_kafka_t *rk, const char *topic, const int64_t *offsets)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t e;
	char err[512];
	int n, i;

	if ((n = kp_kafka_partition_count(rk, topic, 10000, err,
	    sizeof(err))) < 0) {
		kp_err("%s", err);
		return -1;
	}
	l = rd_kafka_topic_partition_list_new(n);
	for (i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, topic, i)->offset =
		    offsets && offsets[i] >= 0 ? offsets[i] :
		    RD_KAFKA_OFFSET_BEGINNING;
	e = rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		kp_err("cannot assign '%s': %s", topic, rd_kafka_err2str(e));
		return -1;
	}
	return n;
}

/* Take what the topic consumer has (waiting up to timeout_ms for the
 * first message).  Returns 0, or -1 to stop. */
static int
pside_poll(struct pipe *p, int timeout_ms)
{
	struct pside *ps = &p->ps;
	rd_kafka_message_t *m;
	char err[512];
	int n = 0;

	ps->last_poll = kp_mono_ms();
	while (n++ < 10000 && (m = rd_kafka_consumer_poll(ps->rk,
	    n == 1 ? timeout_ms : 0)) != NULL) {
		int rc = 0;

		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (m->partition >= 0 && m->partition < ps->nparts &&
			    !ps->caught[m->partition]) {
				ps->caught[m->partition] = 1;
				ps->ncaught++;
			}
		} else if (m->err) {
			kp_warn("%s", rd_kafka_message_errstr(m));
			if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
			    m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
				rc = fail(p->j, EX_CONFIG);
		} else {
			if (m->partition >= 0 && m->partition < ps->nparts &&
			    ps->caught[m->partition]) {
				ps->caught[m->partition] = 0;
				ps->ncaught--;
			}
			if (kp_record_from_message(&p->trec, m, p->c->in, p->jp,
			    err, sizeof(err)) < 0)
				rc = bad_record(p->j, &p->trec, m->payload, m->len,
				    err);
			else
				rc = other_intake(p, &p->trec);
		}
		rd_kafka_message_destroy(m);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Bring the other input up to stream timestamp ts: process its records
 * with a timestamp <= ts (a stream record without one sees everything),
 * waiting for a topic that lags, and up to --max-idle for one that is
 * caught up.  Returns 0, or -1 to stop. */
static int
pside_until(struct pipe *p, int64_t ts)
{
	struct pside *ps = &p->ps;

	if (ts == KP_TS_NONE)
		ts = INT64_MAX;
	for (;;) {
		int64_t now;

		if (kp_stop || p->j->stopped)
			return -1;
		if (ps->rk && (now = kp_mono_ms()) - ps->last_poll >= PIPE_POLL_MS &&
		    pside_poll(p, 0) < 0)
			return -1;
		if (ps->n > 0 && ps->a[0]->ts <= ts) {
			if (other_pop(p) < 0)
				return -1;
			continue;
		}
		if (ps->done || p->nosync)
			return 0;
		if (ps->ncaught < ps->nparts) {	/* lagging: wait for it */
			if (pside_poll(p, 100) < 0)
				return -1;
			continue;
		}
		if (ps->n > 0)		/* the topic is ahead of the stream */
			return 0;
		now = kp_mono_ms();
		if (ps->idle_start == 0)
			ps->idle_start = now;
		if (now - ps->idle_start >= p->c->max_idle)
			return 0;
		if (pside_poll(p, (int)(p->c->max_idle - (now - ps->idle_start)))
		    < 0)
			return -1;
	}
}

static int
open_pipe_store(struct pipe *p)
{
	char dir[4096], err[512];

	snprintf(dir, sizeof(dir), "%s/%s/kjoin/pipe", p->c->state_dir,
	    p->c->group ? p->c->group : "kjoin");
	/* the source is read whole every run: start empty */
	if (kp_store_destroy(dir, err, sizeof(err)) < 0)
		kp_debug("%s", err);
	if ((p->store = kp_store_open(dir, 0, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		return fail(p->j, EX_CANTCREAT);
	}
	return 0;
}

static int
pipe_source(struct pipe *p)
{
	struct conf *c = p->c;
	char err[512];

	if (c->src_file)
		return load_file(p);
	if ((p->ps.rk = new_consumer(c, "kpipe-kjoin-pipe", err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create consumer: %s", err);
		return fail(p->j, EX_CONFIG);
	}
	if ((p->ps.nparts = assign_all(p->ps.rk, c->src_topic, NULL)) < 0)
		return fail(p->j, EX_UNAVAILABLE);
	p->ps.caught = kp_xcalloc((size_t)p->ps.nparts, 1);
	/* --global: the whole topic first, then updates as they come */
	while (p->nosync && p->ps.ncaught < p->ps.nparts)
		if (kp_stop || pside_poll(p, 100) < 0)
			return -1;
	return 0;
}

static int
run_pipe(struct job *j)
{
	struct conf *c = j->c;
	struct kp_reader_opts ro = { .fmt = c->in };
	struct kp_jwin_opts wo = { .within = c->within, .grace = c->grace,
	    .left_unmatched = c->left || c->outer, .right_unmatched = c->outer };
	struct pipe p = { .j = j, .c = c, .nosync = c->global };
	struct kp_reader *rd = NULL;
	struct {
		struct kp_record	r;
		struct kp_buf		k;	/* its join key */
		int			key;	/* k is set */
	} b[BATCH] = {0};
	char err[512];
	int rc, i, n, prefetch;

	kp_record_init(&p.rec);
	kp_record_init(&p.trec);
	kp_record_init(&p.orec);
	for (i = 0; i < BATCH; i++)
		kp_record_init(&b[i].r);
	p.jp = kp_json_parser_new();
	if (c->join) {
		p.win = kp_jwin_new(&wo, win_emit, j);
	} else {
		if (c->state_dir && open_pipe_store(&p) < 0)
			goto out;
		p.tab = kp_jtable_new(p.store);
	}
	if (c->src_file && c->global)
		p.nosync = 1;
	prefetch = p.tab != NULL && p.store == NULL;
	if (pipe_source(&p) < 0)
		goto out;
	rd = kp_reader_new(0, "-", &ro);
	rc = 1;
	while (rc != 0 && !kp_stop && !j->stopped) {
		/* read ahead what is buffered (never waiting with records in
		 * hand), so that the table's memory can be fetched for them
		 * before their turn: a look-up in a large table is mostly
		 * cache misses */
		for (n = 0; n < BATCH; n++) {
			if (n > 0 && kp_reader_buffered(rd) == 0)
				break;
			if ((rc = kp_reader_next(rd, &b[n].r, err,
			    sizeof(err))) != 1)
				break;
			b[n].key = prefetch && kp_join_key(&b[n].r, c->keys,
			    c->nkeys, &b[n].k) == 0;
			if (b[n].key)
				kp_jtable_prefetch(p.tab, b[n].k.data, b[n].k.len, 0);
		}
		for (i = 0; i < n && !kp_stop && !j->stopped; i++) {
			if (i + PREFETCH_AHEAD < n && b[i + PREFETCH_AHEAD].key)
				kp_jtable_prefetch(p.tab, b[i + PREFETCH_AHEAD].k.data,
				    b[i + PREFETCH_AHEAD].k.len, 1);
			if (pside_until(&p, b[i].r.timestamp) < 0)
				break;
			if (c->join)
				stream_join(j, p.win, 0, &b[i].r);
			else
				stream_table(j, p.tab, &b[i].r,
				    b[i].key ? &b[i].k : NULL);
			maybe_stats(j);
		}
		if (i < n || kp_stop || j->stopped)
			break;
		if (n < BATCH && rc == -2) {
			if (!kp_stop) {
				kp_err("stdin: %s", err);
				fail(j, EX_DATAERR);
			}
			break;
		}
		if (n < BATCH && rc == -1) {
			const void *raw;
			size_t rn;

			kp_reader_raw(rd, &raw, &rn);
			bad_record(j, &b[n].r, raw, rn, err);
		}
		if (n < BATCH && rc == 1)
			continue;	/* nothing more buffered */
	}
	/* end of the stream: the other stream's records still join with
	 * what is buffered, then every window closes */
	if (c->join && !kp_stop && !j->stopped) {
		if (pside_until(&p, INT64_MAX) == 0 && !j->stopped)
			kp_jwin_close_all(p.win);
	}
out:
	if (!j->stopped || j->exit_code == 0)
		flush_out(j);
	kp_reader_free(rd);
	kp_jwin_free(p.win);
	kp_jtable_free(p.tab);
	kp_store_close(p.store);
	while (p.ps.n > 0)
		free(pside_pop(&p.ps));
	free(p.ps.a);
	kp_buf_free(&p.ps.tmp);
	free(p.ps.caught);
	if (p.ps.rk) {
		rd_kafka_consumer_close(p.ps.rk);
		rd_kafka_destroy(p.ps.rk);
	}
	kp_json_parser_free(p.jp);
	for (i = 0; i < BATCH; i++) {
		kp_record_free(&b[i].r);
		kp_buf_free(&b[i].k);
	}
	kp_record_free(&p.rec);
	kp_record_free(&p.trec);
	kp_record_free(&p.orec);
	return j->exit_code;
}

/* ---- Kafka mode: the stream from a topic, with a consumer group ---- */

/* a queued record of one input partition */
struct qrec {
	struct kp_record	 r;
	int			 bad;
	char			 why[256];
};

struct rq {
	struct qrec	**a;
	size_t		  head, n, cap;
};

struct task {
	struct kafka		*k;
	int32_t			 p;
	int			 active;
	int			 has[2];	/* partition assigned, per side */
	char			 dir[4096];
	struct kp_store		*st;
	struct kp_jtable	*tab;
	struct kp_jwin		*win;
	struct rq		 q[2];
	int			 caught[2];	/* at the end, for now */
	int			 done[2];	/* -e: past the end */
	int64_t			 stop[2];	/* -e: the end */
	int64_t			 next[2];	/* next offset to process */
	int			 paused[2];
	int64_t			 idle_start;
	int			 dirty;
};

struct kafka {
	struct job		*j;
	struct conf		*c;
	rd_kafka_t		*rk;		/* the group consumer */
	rd_kafka_t		*restore;	/* restore consumer, made on need */
	struct kp_json_parser	*jp;
	struct task		*tasks;
	int			 ntasks;	/* partitions of the stream */
	const char		*other;		/* co-partitioned topic, or NULL */
	char			*changelog;	/* --join: the buffers' changelog */
	int			 reopening;	/* reopen_tasks() after an abort */
	int			 commits;	/* that wrote: for crash_point() */
	int			 assigned;	/* partitions held */
	struct qrec		**pool;		/* free queue records */
	size_t			 npool, cappool;
	/* a global table: a file, or every partition of a topic */
	struct kp_jtable	*gtab;
	struct kp_store		*gstore;
	rd_kafka_t		*grk;
	int			 gparts;
	int64_t			*gnext;
	char			 gdir[4096];
	int			 gdirty;
	int64_t			 last_commit;
};

static struct qrec *
qrec_get(struct kafka *k)
{
	struct qrec *q;

	if (k->npool > 0)
		return k->pool[--k->npool];
	q = kp_xcalloc(1, sizeof(*q));
	kp_record_init(&q->r);
	return q;
}

static void
qrec_put(struct kafka *k, struct qrec *q)
{
	if (k->npool == k->cappool) {
		k->cappool = k->cappool ? k->cappool * 2 : 256;
		k->pool = kp_xrealloc(k->pool, k->cappool * sizeof(*k->pool));
	}
	q->bad = 0;
	k->pool[k->npool++] = q;
}

static void
rq_push(struct rq *q, struct qrec *r)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64, i;
		struct qrec **a = kp_xmalloc(cap * sizeof(*a));

		for (i = 0; i < q->n; i++)
			a[i] = q->a[(q->head + i) % q->cap];
		free(q->a);
		q->a = a;
		q->cap = cap;
		q->head = 0;
	}
	q->a[(q->head + q->n++) % q->cap] = r;
}

static struct qrec *
rq_head(const struct rq *q)
{
	return q->n ? q->a[q->head] : NULL;
}

static struct qrec *
rq_pop(struct rq *q)
{
	struct qrec *r = q->a[q->head];

	q->head = (q->head + 1) % q->cap;
	q->n--;
	return r;
}

static void
put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* The store's meta key "m": the next offsets of the stream and of the
 * other input that the committed store reflects.  Returns 1, 0 when
 * absent, -1 on error. */
static int
meta_read(struct kp_store *st, int64_t next[2])
{
	const void *v;
	size_t vn;
	char err[256];
	int rc = kp_store_get(st, "m", 1, &v, &vn, err, sizeof(err));

	if (rc < 0) {
		kp_err("%s", err);
		return -1;
	}
	if (rc == 0 || vn != 16)
		return 0;
	next[0] = (int64_t)get_be64(v);
	next[1] = (int64_t)get_be64((const unsigned char *)v + 8);
	return 1;
}

static void
meta_write(struct kp_store *st, const int64_t next[2])
{
	unsigned char v[16];

	put_be64(v, (uint64_t)next[0]);
	put_be64(v + 8, (uint64_t)next[1]);
	kp_store_put(st, "m", 1, v, sizeof(v));
}

static int
side_of(struct kafka *k, const char *topic)
{
	return strcmp(topic, k->c->from) ? 1 : 0;
}

/* Restore partition t->p of the table from offset `from` up to `to`
 * (exclusive): the table topic is its own changelog.  Returns 0 or -1. */
static int
restore_table(struct kafka *k, struct task *t, int64_t from, int64_t to)
{
	rd_kafka_topic_partition_list_t *l;
	struct kp_record r;
	char err[512];
	int64_t lo, hi, pos = -1, t0;
	unsigned long n0;
	rd_kafka_resp_err_t e;
	int rc = 0;

	if (k->restore == NULL && (k->restore = new_consumer(k->c,
	    "kpipe-kjoin-restore", err, sizeof(err))) == NULL) {
		kp_err("cannot create restore consumer: %s", err);
		return -1;
	}
	if ((e = rd_kafka_query_watermark_offsets(k->restore, k->other, t->p,
	    &lo, &hi, 10000))) {
		kp_err("cannot get offsets of '%s' partition %d: %s", k->other,
		    (int)t->p, rd_kafka_err2str(e));
		return -1;
	}
	if (to > hi)
		to = hi;
	if (from < lo)
		from = lo;
	kp_info("restoring table partition %d from offset %lld to %lld",
	    (int)t->p, (long long)from, (long long)to);
	if (from >= to)
		return 0;
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, k->other, t->p)->offset = from;
	rd_kafka_assign(k->restore, l);
	rd_kafka_topic_partition_list_destroy(l);
	kp_record_init(&r);
	t0 = kp_mono_ms();
	n0 = k->j->s.restored;
	while (pos < to - 1 && !kp_stop && rc == 0) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(k->restore, 100);

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			pos = to;
		} else if (m->err) {
			kp_warn("restore: %s", rd_kafka_message_errstr(m));
		} else if (m->offset < to) {
			pos = m->offset;
			if (kp_record_from_message(&r, m, k->c->in, k->jp, err,
			    sizeof(err)) == 0 && table_apply(k->j, t->tab, &r) < 0)
				rc = -1;
			k->j->s.restored++;
			k->j->s.table--;
			/* bound the write batch; replaying a partial restore
			 * from its start again converges to the same table */
			if (kp_store_pending(t->st) > STORE_FLUSH &&
			    kp_store_commit(t->st, 0, err, sizeof(err)) < 0) {
				kp_err("%s", err);
				rc = -1;
			}
		} else {
			pos = to;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_assign(k->restore, NULL);
	kp_record_free(&r);
	t0 = kp_mono_ms() - t0;
	kp_info("restored %lu records of table partition %d in %.3f s (%.0f "
	    "records/s)", k->j->s.restored - n0, (int)t->p, t0 / 1000.0,
	    t0 > 0 ? (k->j->s.restored - n0) * 1000.0 / t0 : 0.0);
	return kp_stop ? -1 : rc;
}

/* --join: every write to a partition's store also goes to its partition
 * of the changelog; the meta key "m" (written at each commit) is the
 * marker that ends a commit there. */
static void
changelog_write(void *arg, const void *key, size_t kn, const void *v,
    size_t vn)
{
	struct task *t = arg;
	struct kafka *k = t->k;
	struct job *j = k->j;
	rd_kafka_resp_err_t err;
	int marker = kn == 1 && *(const char *)key == 'm';

	if (j->stopped)
		return;
	for (;;) {
		err = rd_kafka_producev(j->prod,
		    RD_KAFKA_V_TOPIC(k->changelog),
		    RD_KAFKA_V_PARTITION(t->p),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_KEY((void *)key, kn),
		    RD_KAFKA_V_VALUE((void *)v, v ? vn : 0),
		    RD_KAFKA_V_OPAQUE(marker ? (void *)&marker_tag : NULL),
		    RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || kp_stop)
			break;
		rd_kafka_poll(j->prod, 100);
	}
	if (err == 0) {
		/* a commit of repairs alone must commit too */
		if (marker && j->txn && !kp_txn_pending(j->txn))
			kp_txn_produced(j->txn, 1);
		return;
	}
	if (j->txn && !kp_stop) {
		if (j->abort_why == NULL) {
			struct kp_buf b = {0};

			kp_buf_printf(&b, "cannot produce to changelog '%s': %s",
			    k->changelog, rd_kafka_err2str(err));
			j->abort_why = b.data;
		}
		return;
	}
	if (kp_stop) {
		fail(j, 0);
		return;
	}
	kp_err("cannot produce to changelog '%s': %s", k->changelog,
	    rd_kafka_err2str(err));
	fail(j, kp_kafka_exit_code(err));
}

static void
restore_progress(void *arg, int32_t p, unsigned long n, double sec)
{
	(void)arg;
	kp_info("partition %d: restoring, %lu changelog records in %.1f s "
	    "(%.0f records/s)", (int)p, n, sec, sec > 0 ? n / sec : 0.0);
}

/* --join: bring partition t->p's store up to its changelog, from the
 * store's checkpoint to the end of the changelog, or from the start of
 * the changelog when there is no usable local store (rm -rf of the state
 * directory loses nothing).  Then every later store write goes to the
 * changelog too, starting with the current values of the keys a commit
 * cut short by a crash left there.  Returns 0 or -1 (logged). */
static int
changelog_restore(struct kafka *k, struct task *t)
{
	struct kp_changelog_restore r = {
		.topic = k->changelog, .partition = t->p, .marker = "m",
		.marker_len = 1, .dir = t->dir, .batch_bytes = STORE_FLUSH,
		.progress = restore_progress,
	};
	rd_kafka_resp_err_t e;
	int64_t lo, hi, ck = -1;
	char err[512];
	size_t off, nk = 0;
	int have;

	if (k->restore == NULL && (k->restore = new_consumer(k->c,
	    "kpipe-kjoin-restore", err, sizeof(err))) == NULL) {
		kp_err("cannot create restore consumer: %s", err);
		return -1;
	}
	if ((e = rd_kafka_query_watermark_offsets(k->restore, k->changelog,
	    t->p, &lo, &hi, 10000))) {
		kp_err("cannot get offsets of changelog '%s' partition %d: %s",
		    k->changelog, (int)t->p, rd_kafka_err2str(e));
		return -1;
	}
	have = kp_store_checkpoint_read(t->dir, &ck);
	if (have != 1 || ck < lo || ck > hi) {
		if (have == 1)
			kp_info("partition %d: checkpoint %lld outside the "
			    "changelog (%lld..%lld): rebuilding", (int)t->p,
			    (long long)ck, (long long)lo, (long long)hi);
		else if (lo < hi)
			kp_info("partition %d: no checkpoint in '%s': "
			    "rebuilding the join buffers from the changelog",
			    (int)t->p, t->dir);
		kp_store_close(t->st);
		if (kp_store_destroy(t->dir, err, sizeof(err)) < 0 ||
		    (t->st = kp_store_open(t->dir, 0, err,
		    sizeof(err))) == NULL) {
			t->st = NULL;
			kp_err("%s", err);
			return -1;
		}
		r.from = lo;
	} else {
		r.from = ck;
	}
	r.rk = k->restore;
	/* after an abort in this process the store is at its last commit,
	 * and the changelog after its checkpoint holds only aborted writes
	 * (a cluster without read_committed, such as kmock, would show
	 * them) */
	r.hi = k->reopening && have == 1 && r.from == ck ? ck : hi;
	r.store = t->st;
	if (r.from < hi)
		kp_info("partition %d: restoring the join buffers from changelog "
		    "'%s', offsets %lld to %lld", (int)t->p, k->changelog,
		    (long long)r.from, (long long)hi);
	if (kp_changelog_restore(&r, err, sizeof(err)) < 0) {
		kp_err("partition %d: %s", (int)t->p, err);
		kp_buf_free(&r.tail);
		return -1;
	}
	k->j->s.restored += r.records;
	if (r.records)
		kp_info("partition %d: restored %lu changelog records in %.3f s "
		    "(%.0f records/s)", (int)t->p, r.records, r.ms / 1000.0,
		    r.ms > 0 ? r.records * 1000.0 / r.ms : 0.0);
	t->k = k;
	kp_store_on_write(t->st, changelog_write, t);
	/* a commit cut short: write its keys' current values again, so the
	 * latest entry of each key in the changelog is the store's */
	for (off = 0; off < r.tail.len; nk++) {
		uint32_t kn, vn;
		const char *key = r.tail.data + off + 5;
		const void *v;
		size_t vl;

		memcpy(&kn, r.tail.data + off + 1, 4);
		memcpy(&vn, r.tail.data + off + 5 + kn, 4);
		off += 9 + kn + vn;
		if (kn == 1 && *key == 'm')
			continue;
		switch (kp_store_get(t->st, key, kn, &v, &vl, err,
		    sizeof(err))) {
		case 1:
			kp_buf_reset(&k->j->mb);
			kp_buf_add(&k->j->mb, v, vl);
			kp_store_put(t->st, key, kn, k->j->mb.data, vl);
			break;
		case 0:
			kp_store_delete(t->st, key, kn);
			break;
		default:
			kp_err("%s", err);
			kp_buf_free(&r.tail);
			return -1;
		}
	}
	kp_buf_free(&r.tail);
	if (nk) {
		kp_info("partition %d: repairing %zu changelog records of an "
		    "unfinished commit", (int)t->p, nk);
		t->dirty = 1;
	}
	return 0;
}

/* Open partition t->p's store and decide where both inputs start.
 * committed[] are the group's offsets (< 0: none); start[] get the
 * offsets to assign (RD_KAFKA_OFFSET_INVALID: the group's, or
 * auto.offset.reset).  Returns 0 or -1. */
static int
task_open(struct kafka *k, struct task *t, const int64_t committed[2],
    int64_t start[2])
{
	struct conf *c = k->c;
	char err[512];
	int64_t m[2] = { -1, -1 };
	int hm, i;

	start[0] = start[1] = RD_KAFKA_OFFSET_INVALID;
	t->next[0] = t->next[1] = -1;
	if (k->other == NULL)		/* a global table: no state here */
		return 0;
	snprintf(t->dir, sizeof(t->dir), "%s/%s/kjoin/%d", c->state_dir,
	    c->group, (int)t->p);
	if ((t->st = kp_store_open(t->dir, 0, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		return -1;
	}
	if (c->join && changelog_restore(k, t) < 0)
		return -1;
	if ((hm = meta_read(t->st, m)) < 0)
		return -1;
	if (c->join) {
		/* the store holds every commit of the changelog, whose last
		 * marker is at or ahead of the group's offsets: it is
		 * produced before they are committed (at least once), or in
		 * the same transaction (exactly once) */
		for (i = 0; i < 2; i++) {
			if (hm && m[i] >= 0 && m[i] >= committed[i])
				start[i] = t->next[i] = m[i];
			else if (committed[i] >= 0)
				start[i] = t->next[i] = committed[i];
		}
		if (hm && ((m[0] < committed[0]) || m[1] < committed[1]))
			kp_warn("partition %d: the join buffers of changelog "
			    "'%s' are behind the group's offsets (was the "
			    "changelog replaced?): joins with records before "
			    "offset %lld are lost", (int)t->p, k->changelog,
			    (long long)committed[0]);
		else if (!hm && committed[0] >= 0)
			kp_warn("partition %d: changelog '%s' holds no join "
			    "buffers: joins with records before offset %lld are "
			    "lost", (int)t->p, k->changelog,
			    (long long)committed[0]);
		if (start[1] == RD_KAFKA_OFFSET_INVALID)
			start[1] = RD_KAFKA_OFFSET_BEGINNING;
	} else if (k->j->txn) {
		/* exactly once: the store commits after the transaction
		 * holding its input, so it may be behind the group's
		 * offsets, never ahead; a store that is ahead (made without
		 * --exactly-once), or that has no committed offset to be
		 * at, is dropped and restored from the table topic */
		if ((hm && m[1] > committed[1]) || committed[1] < 0) {
			if (hm && committed[1] >= 0)
				kp_info("partition %d: the table in '%s' is "
				    "ahead of the group's offsets: restoring "
				    "it", (int)t->p, t->dir);
			kp_store_close(t->st);
			if (kp_store_destroy(t->dir, err, sizeof(err)) < 0 ||
			    (t->st = kp_store_open(t->dir, 0, err,
			    sizeof(err))) == NULL) {
				t->st = NULL;
				kp_err("%s", err);
				return -1;
			}
			hm = 0;
		}
		for (i = 0; i < 2; i++)
			if (committed[i] >= 0)
				start[i] = t->next[i] = committed[i];
		if (start[1] == RD_KAFKA_OFFSET_INVALID)
			start[1] = RD_KAFKA_OFFSET_BEGINNING;
	} else if (hm && (committed[0] < 0 || m[0] >= committed[0]) &&
	    (committed[1] < 0 || m[1] >= committed[1])) {
		/* the store is at (or, after a crash between the store
		 * commit and the offset commit, ahead of) the group's
		 * offsets: its outputs were delivered, go on from there.
		 * An input that gave nothing yet (-1) starts as new. */
		for (i = 0; i < 2; i++)
			start[i] = t->next[i] = m[i];
		if (m[0] < 0)
			start[0] = RD_KAFKA_OFFSET_INVALID;
		if (m[1] < 0)
			start[1] = RD_KAFKA_OFFSET_BEGINNING;
	} else {
		/* the group went further without this store (another
		 * member had the partition), or the store is gone */
		if (hm && m[1] > committed[1]) {
			kp_store_close(t->st);
			if (kp_store_destroy(t->dir, err, sizeof(err)) < 0 ||
			    (t->st = kp_store_open(t->dir, 0, err,
			    sizeof(err))) == NULL) {
				t->st = NULL;
				kp_err("%s", err);
				return -1;
			}
			hm = 0;
		}
		for (i = 0; i < 2; i++)
			if (committed[i] >= 0)
				start[i] = t->next[i] = committed[i];
		if (start[1] == RD_KAFKA_OFFSET_INVALID)
			start[1] = RD_KAFKA_OFFSET_BEGINNING;
	}
	if (c->join) {
		struct kp_jwin_opts wo = { .within = c->within,
		    .grace = c->grace, .left_unmatched = c->left || c->outer,
		    .right_unmatched = c->outer };

		t->win = kp_jwin_new(&wo, win_emit, k->j);
		if (kp_jwin_load(t->win, t->st, err, sizeof(err)) < 0) {
			kp_err("'%s': %s", t->dir, err);
			return -1;
		}
		kp_jwin_attach_store(t->win, t->st);
	} else {
		t->tab = kp_jtable_new(t->st);
		if (committed[1] >= 0 && (!hm || m[1] < committed[1])) {
			if (restore_table(k, t, hm && m[1] > 0 ? m[1] : 0,
			    committed[1]) < 0)
				return -1;
			if (committed[0] >= 0 && committed[1] >= 0) {
				int64_t at[2] = { committed[0], committed[1] };

				meta_write(t->st, at);
			}
			if (kp_store_commit(t->st, 1, err, sizeof(err)) < 0) {
				kp_err("%s", err);
				return -1;
			}
		}
	}
	return 0;
}

static void
task_close(struct kafka *k, struct task *t)
{
	int i;

	for (i = 0; i < 2; i++) {
		while (t->q[i].n > 0)
			qrec_put(k, rq_pop(&t->q[i]));
		free(t->q[i].a);
	}
	kp_jwin_free(t->win);
	kp_jtable_free(t->tab);
	kp_store_close(t->st);
	memset(t, 0, sizeof(*t));
}

static int eos_commit(struct kafka *, int, int);

/* --join: end each changed partition's writes in the changelog with its
 * marker, the meta key (the next input offsets) */
static void
write_markers(struct kafka *k)
{
	int i;

	for (i = 0; i < k->ntasks; i++) {
		struct task *t = &k->tasks[i];

		if (t->active && t->dirty && t->win && t->st)
			meta_write(t->st, t->next);
	}
}

/* Commit task t's store (after its outputs were delivered or its
 * transaction committed) and write its checkpoint: the table topic's
 * next offset for a table, the offset after the changelog marker for
 * join buffers.  Returns 0 or -1 (logged). */
static int
store_commit(struct kafka *k, struct task *t, int sync)
{
	char err[512];
	int64_t ck = -1;

	if (!t->win)
		meta_write(t->st, t->next);
	if (kp_store_commit(t->st, sync, err, sizeof(err)) < 0) {
		kp_err("%s", err);
		return -1;
	}
	if (!t->win)
		ck = t->next[1];
	else if (k->j->marker_off && k->j->marker_off[t->p] >= 0)
		ck = k->j->marker_off[t->p] + 1;
	if (t->win && k->j->marker_off)
		k->j->marker_off[t->p] = -1;
	if (ck >= 0 && kp_store_checkpoint_write(t->dir, ck, err,
	    sizeof(err)) < 0)
		kp_warn("%s", err);
	return 0;
}

/* Test hook, as kagg's: KPIPE_TEST_CRASH=partial:N dies by SIGKILL at
 * the Nth commit that writes something, once the changelog writes of the
 * join buffers are delivered and before their markers are (a restore
 * then finds a commit cut short). */
static void
crash_point(struct kafka *k, const char *point)
{
	const char *s = getenv("KPIPE_TEST_CRASH");
	size_t n = strlen(point);

	if (s && !strncmp(s, point, n) && s[n] == ':' &&
	    atoi(s + n + 1) == k->commits) {
		if (k->j->prod)
			rd_kafka_flush(k->j->prod, 10000);
		kp_warn("test crash at '%s' of commit %d", point, k->commits);
		raise(SIGKILL);
	}
}

/* Deliver outputs, commit the stores, then the group's offsets.  Returns
 * 0, -1 when the run must stop without committing, or (with
 * --exactly-once) 1 when the transaction aborted and every partition was
 * reopened from the committed offsets. */
static int
commit_all(struct kafka *k, int sync)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t e;
	char err[512];
	int i, s;

	k->last_commit = kp_mono_ms();
	if (k->j->txn)
		return eos_commit(k, sync, 1);
	for (i = 0; i < k->ntasks; i++)
		if (k->tasks[i].active && k->tasks[i].dirty) {
			k->commits++;
			crash_point(k, "partial");
			break;
		}
	write_markers(k);
	if (flush_out(k->j) < 0)
		return -1;
	if (k->gstore && k->gdirty) {
		for (i = 0; i < k->gparts; i++) {
			unsigned char key[5] = { 'g', (unsigned char)(i >> 24),
			    (unsigned char)(i >> 16), (unsigned char)(i >> 8),
			    (unsigned char)i }, v[8];

			put_be64(v, (uint64_t)k->gnext[i]);
			kp_store_put(k->gstore, key, sizeof(key), v, sizeof(v));
		}
		if (kp_store_commit(k->gstore, sync, err, sizeof(err)) < 0) {
			kp_err("%s", err);
			return fail(k->j, EX_IOERR);
		}
		k->gdirty = 0;
	}
	l = rd_kafka_topic_partition_list_new(2 * k->ntasks + 1);
	for (i = 0; i < k->ntasks; i++) {
		struct task *t = &k->tasks[i];

		if (!t->active || !t->dirty)
			continue;
		if (t->st && store_commit(k, t, sync) < 0) {
			rd_kafka_topic_partition_list_destroy(l);
			return fail(k->j, EX_IOERR);
		}
		for (s = 0; s < 2; s++)
			if (t->next[s] >= 0 && (s == 0 || k->other))
				rd_kafka_topic_partition_list_add(l,
				    s ? k->other : k->c->from, t->p)->offset =
				    t->next[s];
		t->dirty = 0;
	}
	if (l->cnt > 0 && (e = rd_kafka_commit(k->rk, l, 0)) != 0)
		kp_warn("cannot commit offsets: %s", rd_kafka_err2str(e));
	rd_kafka_topic_partition_list_destroy(l);
	return 0;
}

/* Open the tasks of parts (an assignment) from the committed offsets and
 * the stores, and assign parts to rk from where each input starts. */
static void
open_tasks(struct kafka *k, rd_kafka_t *rk,
    rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_topic_partition_list_t *cl;
	rd_kafka_resp_err_t err;
	int i, s;

	cl = rd_kafka_topic_partition_list_copy(parts);
	if ((err = rd_kafka_committed(rk, cl, 10000)))
		kp_warn("cannot get committed offsets: %s", rd_kafka_err2str(err));
	for (i = 0; k->j->txn && i < cl->cnt; i++) {
		/* what this instance committed since it got the partition
		 * is known here, even before the group coordinator says */
		int64_t o = kp_txn_committed(k->j->txn, cl->elems[i].topic,
		    cl->elems[i].partition);

		if (o >= 0) {
			cl->elems[i].offset = o;
			cl->elems[i].err = 0;
		}
	}
	for (i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[i];

		s = side_of(k, tp->topic);
		if (tp->partition >= k->ntasks) {
			kp_err("partition %d of '%s' is beyond the %d the "
			    "stream had at start", (int)tp->partition,
			    tp->topic, k->ntasks);
			fail(k->j, EX_CONFIG);
			continue;
		}
		k->tasks[tp->partition].has[s] = 1;
	}
	for (i = 0; i < k->ntasks && !k->j->stopped; i++) {
		struct task *t = &k->tasks[i];
		int64_t committed[2] = { -1, -1 }, start[2];

		if (t->active || !t->has[0])
			continue;
		if (k->other && !t->has[1])
			kp_warn("partition %d of '%s' came without partition %d "
			    "of '%s': it joins nothing (is the group's "
			    "partition.assignment.strategy range?)", i,
			    k->c->from, i, k->other);
		for (s = 0; s < 2; s++) {
			rd_kafka_topic_partition_t *tp =
			    rd_kafka_topic_partition_list_find(cl,
			    s ? (k->other ? k->other : "") : k->c->from, i);

			if (tp && tp->err == 0 && tp->offset >= 0)
				committed[s] = tp->offset;
		}
		t->p = i;
		t->active = 1;
		t->idle_start = 0;
		if (task_open(k, t, committed, start) < 0) {
			fail(k->j, EX_IOERR);
			break;
		}
		for (s = 0; s < 2; s++) {
			rd_kafka_topic_partition_t *tp;
			int64_t lo, hi, from;

			if (!t->has[s] || (tp = rd_kafka_topic_partition_list_find(
			    parts, s ? k->other : k->c->from, i)) == NULL) {
				t->done[s] = 1;
				continue;
			}
			tp->offset = start[s];
			if (!k->c->exit_eof)
				continue;
			if ((err = rd_kafka_query_watermark_offsets(rk, tp->topic,
			    i, &lo, &hi, 10000))) {
				kp_err("cannot get end offsets of '%s' partition "
				    "%d: %s", tp->topic, i, rd_kafka_err2str(err));
				fail(k->j, kp_kafka_exit_code(err));
				break;
			}
			t->stop[s] = hi;
			/* where it starts: an offset, the group's, or (with
			 * neither) the beginning, auto.offset.reset=earliest */
			from = start[s] >= 0 ? start[s] : committed[s] >= 0 &&
			    start[s] == RD_KAFKA_OFFSET_INVALID ? committed[s] : lo;
			if (from >= hi)
				t->done[s] = 1;
		}
		kp_debug("partition %d: stream from %lld (end %lld%s), %s from "
		    "%lld (end %lld%s)", i, (long long)start[0],
		    (long long)t->stop[0], t->done[0] ? ", done" : "",
		    k->c->join ? "other" : "table", (long long)start[1],
		    (long long)t->stop[1], t->done[1] ? ", done" : "");
		k->assigned++;
	}
	if (k->reopening) {
		/* the partitions stay assigned: move them back (an assign()
		 * of partitions being fetched may go on from where they
		 * were) */
		rd_kafka_error_t *e;

		for (i = 0; i < parts->cnt; i++) {
			rd_kafka_topic_partition_t *tp = &parts->elems[i],
			    *c = rd_kafka_topic_partition_list_find(cl,
			    tp->topic, tp->partition);

			if (tp->offset < 0)
				tp->offset = c && c->err == 0 && c->offset >= 0 ?
				    c->offset : RD_KAFKA_OFFSET_BEGINNING;
		}
		if ((e = rd_kafka_seek_partitions(rk, parts, 10000)) != NULL) {
			kp_err("cannot rewind: %s", rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
			fail(k->j, EX_TEMPFAIL);
		}
	} else {
		rd_kafka_assign(rk, parts);
	}
	rd_kafka_topic_partition_list_destroy(cl);
}

static void
close_tasks(struct kafka *k)
{
	int i;

	for (i = 0; i < k->ntasks; i++)
		if (k->tasks[i].active)
			task_close(k, &k->tasks[i]);
	k->assigned = 0;
}

static void
rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct kafka *k = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		open_tasks(k, rk, parts);
		return;
	}
	if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
		kp_err("rebalance error: %s", rd_kafka_err2str(err));
	/* commit what was delivered before giving partitions away */
	if (k->j->txn && !k->j->stopped) {
		if (rd_kafka_assignment_lost(rk) && k->j->abort_why == NULL)
			k->j->abort_why = kp_xstrdup("the assignment was lost");
		eos_commit(k, 1, 0);
		kp_txn_forget(k->j->txn, parts);
	} else if (!k->j->stopped) {
		commit_all(k, 1);
	}
	close_tasks(k);
	rd_kafka_assign(rk, NULL);
}

/* After an aborted transaction: drop the stores' uncommitted writes and
 * the queued records, and open every assigned partition again from the
 * committed offsets (the assignment is made anew from there). */
static void
reopen_tasks(struct kafka *k)
{
	rd_kafka_topic_partition_list_t *a = NULL;
	rd_kafka_resp_err_t err;
	int i;

	if ((err = rd_kafka_assignment(k->rk, &a)) != 0) {
		kp_err("cannot get the assignment: %s", rd_kafka_err2str(err));
		fail(k->j, EX_SOFTWARE);
		return;
	}
	close_tasks(k);
	for (i = 0; i < a->cnt; i++)
		a->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
	if (a->cnt > 0) {
		k->reopening = 1;
		open_tasks(k, k->rk, a);
		k->reopening = 0;
		rd_kafka_resume_partitions(k->rk, a);
	}
	rd_kafka_topic_partition_list_destroy(a);
}

/* --exactly-once: commit the transaction (or abort it when a produce
 * failed), then the stores of what it held.  On an abort, reopen the
 * partitions when reopen is set.  Returns 0, 1 after an abort, or -1 when
 * the run must stop. */
static int
eos_commit(struct kafka *k, int sync, int reopen)
{
	struct job *j = k->j;
	enum kp_txn_status st;
	char err[512];
	int i;

	k->last_commit = kp_mono_ms();
	if (j->stopped)
		return -1;
	if (k->gstore && k->gdirty) {
		/* a global table is not part of the transaction (as Kafka
		 * Streams' global stores): it is restored from its topic */
		for (i = 0; i < k->gparts; i++) {
			unsigned char key[5] = { 'g', (unsigned char)(i >> 24),
			    (unsigned char)(i >> 16), (unsigned char)(i >> 8),
			    (unsigned char)i }, v[8];

			put_be64(v, (uint64_t)k->gnext[i]);
			kp_store_put(k->gstore, key, sizeof(key), v, sizeof(v));
		}
		if (kp_store_commit(k->gstore, sync, err, sizeof(err)) < 0) {
			kp_err("%s", err);
			return fail(j, EX_IOERR);
		}
		k->gdirty = 0;
	}
	if (j->abort_why == NULL)
		write_markers(k);
	if (j->abort_why) {
		st = kp_txn_abort(j->txn, err, sizeof(err));
		if (st == KP_TXN_ABORTED)
			snprintf(err, sizeof(err), "%s", j->abort_why);
		free(j->abort_why);
		j->abort_why = NULL;
	} else {
		st = kp_txn_commit(j->txn, err, sizeof(err));
	}
	if (st == KP_TXN_FATAL) {
		kp_err("%s", err);
		return fail(j, kp_txn_exit_code(j->txn));
	}
	if (st == KP_TXN_ABORTED) {
		kp_warn("transaction aborted: %s", err);
		if (reopen)
			reopen_tasks(k);
		return 1;
	}
	/* committed: now the stores may hold what it did */
	for (i = 0; i < k->ntasks; i++) {
		struct task *t = &k->tasks[i];

		if (!t->active || !t->dirty)
			continue;
		if (t->st && store_commit(k, t, sync) < 0)
			return fail(j, EX_IOERR);
		t->dirty = 0;
	}
	return 0;
}

/* Run task t as far as the chooser allows. */
static int
task_run(struct kafka *k, struct task *t)
{
	struct job *j = k->j;
	struct kp_join_head h[2];
	int s, ch;

	while (!j->stopped && !kp_stop && j->abort_why == NULL) {
		struct qrec *q;

		for (s = 0; s < 2; s++) {
			q = rq_head(&t->q[s]);
			h[s].has = q != NULL;
			h[s].ts = q ? (q->bad ? KP_TS_NONE : q->r.timestamp) : 0;
			h[s].state = t->done[s] ? KP_JOIN_DONE : t->caught[s] ?
			    KP_JOIN_CAUGHT_UP : KP_JOIN_LAGGING;
		}
		if (k->other == NULL)
			h[1].state = KP_JOIN_DONE;
		ch = kp_join_choose(h, 1, t->idle_start ? kp_mono_ms() -
		    t->idle_start : 0, k->c->max_idle);
		if (ch == KP_JOIN_WAIT) {
			if (t->idle_start == 0)
				t->idle_start = kp_mono_ms();
			return 0;
		}
		if (ch == KP_JOIN_EMPTY)
			return 0;
		q = rq_pop(&t->q[ch]);
		if (q->bad && ch == 0)
			j->s.stream++;
		else if (q->bad)
			j->s.table++;
		if (q->bad)
			bad_record(j, &q->r, q->r.value.data ? q->r.value.data :
			    "", q->r.value.len, q->why);
		else if (k->c->join)
			stream_join(j, t->win, ch, &q->r);
		else if (ch == 1)
			table_apply(j, t->tab, &q->r);
		else
			stream_table(j, t->tab ? t->tab : k->gtab, &q->r, NULL);
		t->next[ch] = q->r.offset + 1;
		t->dirty = 1;
		if (j->txn)
			kp_txn_processed(j->txn, ch ? k->other : k->c->from, t->p,
			    q->r.offset);
		qrec_put(k, q);
		if (t->paused[ch] && t->q[ch].n < QUEUE_LOW) {
			rd_kafka_topic_partition_list_t *l =
			    rd_kafka_topic_partition_list_new(1);

			rd_kafka_topic_partition_list_add(l,
			    ch ? k->other : k->c->from, t->p);
			rd_kafka_resume_partitions(k->rk, l);
			rd_kafka_topic_partition_list_destroy(l);
			t->paused[ch] = 0;
		}
	}
	return 0;
}

/* Queue one consumed message for its task. */
static void
take_message(struct kafka *k, rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	int s = side_of(k, topic);
	struct task *t;
	struct qrec *q;

	if (m->partition < 0 || m->partition >= k->ntasks ||
	    !(t = &k->tasks[m->partition])->active)
		return;
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		t->caught[s] = 1;
		/* the end may be a transaction marker, past the last record */
		if (k->c->exit_eof && m->offset >= t->stop[s])
			t->done[s] = 1;
		return;
	}
	if (m->err) {
		kp_warn("%s", rd_kafka_message_errstr(m));
		if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
		    m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
		    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
			fail(k->j, EX_CONFIG);
		return;
	}
	if (t->done[s] && k->c->exit_eof && m->offset >= t->stop[s])
		return;		/* past the end pinned at start */
	t->caught[s] = 0;
	if (t->idle_start && t->q[s].n == 0)
		t->idle_start = 0;
	q = qrec_get(k);
	if (kp_record_from_message(&q->r, m, k->c->in, k->jp, q->why,
	    sizeof(q->why)) < 0) {
		q->bad = 1;
	} else if (!kp_join_value_is_null(&q->r) &&
	    (q->r.vtype != KP_VALUE_MSGPACK ||
	    !kp_join_is_map(q->r.value.data, q->r.value.len))) {
		/* refused now, while the original bytes are at hand for the
		 * dead letter */
		snprintf(q->why, sizeof(q->why), "%svalue is not an object",
		    k->c->join ? "" : s ? "table " : "stream ");
		kp_record_set_value(&q->r, KP_VALUE_BYTES, m->payload, m->len);
		q->bad = 1;
	}
	rq_push(&t->q[s], q);
	if (k->c->exit_eof && m->offset + 1 >= t->stop[s])
		t->done[s] = 1;
}

/*
 * Pause the sides of task t whose queue is still over QUEUE_HIGH after
 * task_run: they wait for the other side, and their fetching stops until
 * task_run has taken them below QUEUE_LOW.  Called after task_run, not
 * as records are queued: a side that one poll's batch fills past the
 * mark but that task_run then drains is not paused, since librdkafka
 * 2.0.2 drops a paused partition's prefetched messages and fetches them
 * again on resume (row 4c of scripts/bench, 200000 records a side on
 * kmock: pausing while queueing 21 s, here about 6 s).  A queue so grows
 * past QUEUE_HIGH by at most one poll's batch.
 */
static void
task_pause(struct kafka *k, struct task *t)
{
	int s;

	for (s = 0; s < 2; s++) {
		rd_kafka_topic_partition_list_t *l;

		if (t->paused[s] || t->q[s].n < QUEUE_HIGH)
			continue;
		l = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(l,
		    s ? k->other : k->c->from, t->p);
		rd_kafka_pause_partitions(k->rk, l);
		rd_kafka_topic_partition_list_destroy(l);
		t->paused[s] = 1;
	}
}

/* Global table from a topic: poll its consumer and apply what came. */
static int
global_poll(struct kafka *k, int timeout_ms, int *caught)
{
	rd_kafka_message_t *m;
	struct kp_record r;
	char err[512];
	int n = 0;

	kp_record_init(&r);
	while (n++ < 10000 && (m = rd_kafka_consumer_poll(k->grk,
	    n == 1 ? timeout_ms : 0)) != NULL) {
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (caught && m->partition < k->gparts)
				caught[m->partition] = 1;
		} else if (m->err) {
			kp_warn("%s", rd_kafka_message_errstr(m));
		} else {
			if (kp_record_from_message(&r, m, k->c->in, k->jp, err,
			    sizeof(err)) < 0)
				bad_record(k->j, &r, m->payload, m->len, err);
			else
				table_apply(k->j, k->gtab, &r);
			if (m->partition < k->gparts)
				k->gnext[m->partition] = m->offset + 1;
			k->gdirty = 1;
		}
		rd_kafka_message_destroy(m);
		if (k->gstore && kp_store_pending(k->gstore) > STORE_FLUSH)
			commit_all(k, 0);
	}
	kp_record_free(&r);
	return k->j->stopped ? -1 : 0;
}

/* --global, or a file: load the whole table before the stream starts. */
static int
global_load(struct kafka *k)
{
	struct conf *c = k->c;
	char err[512];
	int *caught, i, n;

	if (c->src_file) {
		struct pipe p = { .j = k->j, .c = c, .nosync = 1 };

		k->gtab = kp_jtable_new(NULL);
		p.tab = k->gtab;
		kp_record_init(&p.rec);
		kp_record_init(&p.orec);
		i = load_file(&p);
		kp_record_free(&p.rec);
		kp_record_free(&p.orec);
		return i;
	}
	snprintf(k->gdir, sizeof(k->gdir), "%s/%s/kjoin/global", c->state_dir,
	    c->group);
	if ((k->gstore = kp_store_open(k->gdir, 0, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		return fail(k->j, EX_CANTCREAT);
	}
	k->gtab = kp_jtable_new(k->gstore);
	if ((k->grk = new_consumer(c, "kpipe-kjoin-global", err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create consumer: %s", err);
		return fail(k->j, EX_CONFIG);
	}
	if ((n = kp_kafka_partition_count(k->grk, c->src_topic, 10000, err,
	    sizeof(err))) < 0) {
		kp_err("%s", err);
		return fail(k->j, EX_UNAVAILABLE);
	}
	k->gparts = n;
	k->gnext = kp_xcalloc((size_t)n, sizeof(*k->gnext));
	for (i = 0; i < n; i++) {
		unsigned char key[5] = { 'g', (unsigned char)(i >> 24),
		    (unsigned char)(i >> 16), (unsigned char)(i >> 8),
		    (unsigned char)i };
		const void *v;
		size_t vn;

		k->gnext[i] = -1;
		if (kp_store_get(k->gstore, key, sizeof(key), &v, &vn, err,
		    sizeof(err)) == 1 && vn == 8)
			k->gnext[i] = (int64_t)get_be64(v);
	}
	if (assign_all(k->grk, c->src_topic, k->gnext) < 0)
		return fail(k->j, EX_UNAVAILABLE);
	caught = kp_xcalloc((size_t)n, sizeof(*caught));
	kp_info("loading the global table from '%s'", c->src_topic);
	for (;;) {
		for (i = 0; i < n && caught[i]; i++)
			;
		if (i == n || kp_stop || global_poll(k, 100, caught) < 0)
			break;
	}
	free(caught);
	return kp_stop || k->j->stopped ? -1 : commit_all(k, 1);
}

/* The co-partitioning check: same partition count for both topics. */
static int
check_copartitioned(struct kafka *k)
{
	struct conf *c = k->c;
	char err[512];
	int ns, nt;

	if ((ns = kp_kafka_partition_count(k->rk, c->from, 10000, err,
	    sizeof(err))) < 0) {
		kp_err("%s", err);
		return fail(k->j, EX_UNAVAILABLE);
	}
	k->ntasks = ns;
	if (k->other == NULL)
		return 0;
	if ((nt = kp_kafka_partition_count(k->rk, k->other, 10000, err,
	    sizeof(err))) < 0) {
		kp_err("%s", err);
		return fail(k->j, EX_UNAVAILABLE);
	}
	if (ns != nt) {
		const char *kt = c->tkeys_text ? c->tkeys_text : c->keys_text;

		kp_err("topics '%s' (%d partitions) and '%s' (%d partitions) "
		    "are not co-partitioned", c->from, ns, k->other, nt);
		kp_err("repartition the %s to %d partitions by its join key, "
		    "then join with '%s-%d':", c->join ? "other stream" : "table",
		    ns, k->other, ns);
		kp_err("  krepart --from %s -G %s-repartition --to %s-%d "
		    "--partitions %d%s%s", k->other, k->other, k->other, ns, ns,
		    kt ? " -k " : "", kt ? kt : "");
		if (!c->join)
			kp_err("or read every partition of the table with "
			    "--global");
		return fail(k->j, EX_CONFIG);
	}
	return 0;
}

static void
dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct job *j = opaque;

	(void)rk;
	if (m->_private == &marker_tag && !m->err && j->marker_off &&
	    m->partition >= 0 && m->partition < j->nmarker)
		j->marker_off[m->partition] = m->offset;
	/* under a transaction, a failed delivery makes the commit fail
	 * and the transaction abort: the records are read again */
	if (m->err && !j->dr_err && !j->txn)
		j->dr_err = m->err;
}

static int
kafka_setup(struct kafka *k)
{
	static const char *const defaults[] = {
		"enable.partition.eof", "true",
		"enable.auto.offset.store", "false",
		"enable.auto.commit", "false",
		"auto.offset.reset", "earliest",
		/* range gives partition P of both topics to one member */
		"partition.assignment.strategy", "range",
		NULL
	};
	struct conf *c = k->c;
	rd_kafka_topic_partition_list_t *t;
	rd_kafka_conf_t *conf;
	char err[512];
	int i;

	if ((conf = kp_kconf_build(&c->kc, defaults, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		return fail(k->j, EX_CONFIG);
	}
	if (rd_kafka_conf_set(conf, "group.id", c->group, err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK || (k->j->txn && kp_txn_consumer_conf(conf, err,
	    sizeof(err)) < 0)) {
		kp_err("%s", err);
		rd_kafka_conf_destroy(conf);
		return fail(k->j, EX_CONFIG);
	}
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_opaque(conf, k);
	if ((k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create consumer: %s", err);
		rd_kafka_conf_destroy(conf);
		return fail(k->j, EX_CONFIG);
	}
	rd_kafka_poll_set_consumer(k->rk);
	if (check_copartitioned(k) < 0) {
		k->ntasks = 0;
		return -1;
	}
	k->tasks = kp_xcalloc((size_t)k->ntasks, sizeof(*k->tasks));
	if (c->join) {
		int rc, created;

		if (c->changelog) {
			k->changelog = kp_xstrdup(c->changelog);
		} else {
			struct kp_buf b = {0};

			kp_buf_printf(&b, "%s-kjoin-changelog", c->group);
			k->changelog = b.data;
		}
		if ((rc = kp_changelog_check(k->j->prod, k->changelog,
		    k->ntasks, c->from, &created, err, sizeof(err))) != 0) {
			kp_err("%s", err);
			return fail(k->j, rc);
		}
		if (created)
			kp_info("created changelog topic '%s' with %d partitions",
			    k->changelog, k->ntasks);
		k->j->nmarker = k->ntasks;
		k->j->marker_off = kp_xmalloc((size_t)k->ntasks *
		    sizeof(*k->j->marker_off));
		for (i = 0; i < k->ntasks; i++)
			k->j->marker_off[i] = -1;
	}
	if (k->other == NULL && global_load(k) < 0)
		return -1;
	t = rd_kafka_topic_partition_list_new(2);
	rd_kafka_topic_partition_list_add(t, c->from, RD_KAFKA_PARTITION_UA);
	if (k->other)
		rd_kafka_topic_partition_list_add(t, k->other,
		    RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(k->rk, t)) {
		kp_err("cannot subscribe to '%s'", c->from);
		rd_kafka_topic_partition_list_destroy(t);
		return fail(k->j, EX_CONFIG);
	}
	rd_kafka_topic_partition_list_destroy(t);
	if (k->j->txn) {
		if (kp_txn_start(k->j->txn, k->j->prod, k->rk, err,
		    sizeof(err)) < 0) {
			kp_err("%s", err);
			return fail(k->j, kp_txn_exit_code(k->j->txn));
		}
		kp_info("transactional id '%s'", kp_txn_id(k->j->txn));
	}
	return 0;
}

static int
new_producer(struct job *j)
{
	static const char *const defaults[] = {
		/* Java's (and Kafka Streams') partitioner */
		"partitioner", "murmur2_random",
		NULL
	}, *const join_defaults[] = {
		"partitioner", "murmur2_random",
		/* a changelog's writes must stay in order through retries */
		"enable.idempotence", "true",
		NULL
	};
	rd_kafka_conf_t *conf;
	char err[512];

	if ((conf = kp_kconf_build(&j->c->kc, j->c->join && j->c->from ?
	    join_defaults : defaults, err,
	    sizeof(err))) == NULL) {
		kp_err("%s", err);
		return fail(j, EX_CONFIG);
	}
	if (j->txn && kp_txn_producer_conf(j->txn, conf, err,
	    sizeof(err)) < 0) {
		kp_err("%s", err);
		rd_kafka_conf_destroy(conf);
		return fail(j, EX_CONFIG);
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_opaque(conf, j);
	if ((j->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create producer: %s", err);
		rd_kafka_conf_destroy(conf);
		return fail(j, EX_CONFIG);
	}
	return 0;
}

/* How often to commit: --commit-interval, or 100 ms under exactly once
 * (Kafka Streams' default there), 1 s otherwise. */
static int64_t
commit_ms(const struct conf *c)
{
	if (c->commit_ms)
		return c->commit_ms;
	return c->eos ? KP_TXN_INTERVAL_MS : COMMIT_MS;
}

static int
all_done(struct kafka *k)
{
	int i;

	if (k->assigned == 0)
		return 0;
	for (i = 0; i < k->ntasks; i++) {
		struct task *t = &k->tasks[i];

		if (t->active && (!t->done[0] || !t->done[1] || t->q[0].n ||
		    t->q[1].n))
			return 0;
	}
	return 1;
}

static int
run_kafka(struct job *j)
{
	struct conf *c = j->c;
	struct kafka k = { .j = j, .c = c };
	int i;

	if (c->src_topic && !c->global)
		k.other = c->src_topic;
	k.jp = kp_json_parser_new();
	if (kafka_setup(&k) == 0) {
		k.last_commit = kp_mono_ms();
		while (!kp_stop && !j->stopped) {
			rd_kafka_message_t *m;
			int n = 0, waiting = 0;

			if (c->exit_eof && all_done(&k)) {
				/* the last transaction must commit; an abort
				 * reads its records again */
				if (!j->txn || commit_all(&k, 1) != 1)
					break;
				continue;
			}
			if (k.grk && global_poll(&k, 0, NULL) < 0)
				break;
			for (i = 0; i < k.ntasks; i++)
				if (k.tasks[i].active && k.tasks[i].idle_start)
					waiting = 1;
			while (n++ < 10000 && (m = rd_kafka_consumer_poll(k.rk,
			    n > 1 ? 0 : waiting && c->max_idle > 0 ? 10 : 100))) {
				take_message(&k, m);
				rd_kafka_message_destroy(m);
			}
			for (i = 0; i < k.ntasks; i++)
				if (k.tasks[i].active) {
					task_run(&k, &k.tasks[i]);
					task_pause(&k, &k.tasks[i]);
				}
			/* idle: what was written goes out now, not at the
			 * next commit */
			if (n == 1 && j->w && kp_writer_pending(j->w) &&
			    flush_out(j) < 0)
				break;
			if (j->abort_why || kp_mono_ms() - k.last_commit >=
			    commit_ms(c))
				commit_all(&k, 0);
			maybe_stats(j);
		}
		/* orderly stop: outputs, stores, offsets, then the group */
		if (!j->stopped)
			commit_all(&k, 1);
	}
	if (k.rk) {
		rd_kafka_consumer_close(k.rk);
		rd_kafka_destroy(k.rk);
	}
	for (i = 0; i < k.ntasks; i++)
		if (k.tasks[i].active)
			task_close(&k, &k.tasks[i]);
	free(k.tasks);
	if (k.restore) {
		rd_kafka_consumer_close(k.restore);
		rd_kafka_destroy(k.restore);
	}
	if (k.grk) {
		rd_kafka_consumer_close(k.grk);
		rd_kafka_destroy(k.grk);
	}
	kp_jtable_free(k.gtab);
	kp_store_close(k.gstore);
	free(k.gnext);
	while (k.npool > 0) {
		struct qrec *q = k.pool[--k.npool];

		kp_record_free(&q->r);
		free(q);
	}
	free(k.pool);
	free(k.changelog);
	kp_json_parser_free(k.jp);
	return j->exit_code;
}

/* ---- main ---- */

static int
run(struct conf *c)
{
	struct kp_writer_opts wo = { .fmt = c->out };
	struct job j = { .c = c };
	struct kp_txn_opts to = {
		.group = c->group, .program = "kjoin", .interval_ms = c->commit_ms,
		.max_aborts = KP_TXN_MAX_ABORTS,
	};
	char err[512];
	int rc, wedged;

	kp_record_init(&j.orec);
	if (c->eos && (j.txn = kp_txn_new(&to, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		return EX_CONFIG;
	}
	j.vf = c->out == KP_FMT_MSGPACK ? KP_VF_MSGPACK : KP_VF_JSON;
	/* the producer of --to, and of the changelog of --join */
	if ((c->to || (c->from && c->join)) && new_producer(&j) < 0) {
		kp_txn_free(j.txn);
		return j.exit_code;
	}
	if (!c->to)
		j.w = kp_writer_new(1, &wo);
	/* dead letters: a file, or a topic (in the transaction under
	 * --exactly-once) */
	rc = 0;
	if (c->dlq_path && (j.dlq = kp_dlq_open(c->dlq_path, &c->kc,
	    j.txn ? j.prod : NULL, "kjoin", err, sizeof(err), &rc)) == NULL) {
		kp_err("%s", err);
		j.exit_code = rc;
	} else {
		rc = c->from ? run_kafka(&j) : run_pipe(&j);
	}
	final_report(&j);
	free(j.abort_why);
	if (kp_dlq_close(j.dlq) < 0 && !rc)
		rc = EX_IOERR;
	/* a producer whose call never came back is left to the exit */
	wedged = kp_txn_wedged(j.txn);
	kp_txn_free(j.txn);
	if (j.prod && !wedged) {
		rd_kafka_flush(j.prod, 10000);
		rd_kafka_destroy(j.prod);
	}
	kp_writer_free(j.w);
	kp_record_free(&j.orec);
	free(j.marker_off);
	kp_buf_free(&j.kb);
	kp_buf_free(&j.mb);
	return rc;
}

static int
parse_duration(const char *what, const char *s, int64_t *out)
{
	char err[256];

	if (kp_duration_parse(s, out, err, sizeof(err)) < 0) {
		kp_err("%s: %s", what, err);
		return -1;
	}
	return 0;
}

/* Cross-option rules.  Returns 0 or EX_USAGE. */
static int
check_args(struct conf *c)
{
	if (!c->src) {
		kp_err("give --table SRC or --join SRC");
		return EX_USAGE;
	}
	if (!strncmp(c->src, "file:", 5)) {
		c->src_file = c->src + 5;
		if (!*c->src_file) {
			kp_err("'file:' needs a path");
			return EX_USAGE;
		}
	} else {
		c->src_topic = c->src;
	}
	if (c->join && !c->has_within) {
		kp_err("--join needs --within DURATION");
		return EX_USAGE;
	}
	if (!c->join && (c->has_within || c->grace)) {
		kp_err("--within and --grace go with --join");
		return EX_USAGE;
	}
	if (c->outer && !c->join) {
		kp_err("--outer goes with --join (a table join is --left at "
		    "most)");
		return EX_USAGE;
	}
	if (c->outer && c->left) {
		kp_err("give --left or --outer, not both");
		return EX_USAGE;
	}
	if (c->join && (c->global || c->ntkeys)) {
		kp_err("--global and --table-key go with --table");
		return EX_USAGE;
	}
	if ((c->src_topic || c->from || c->to) && !kp_kconf_has_brokers(&c->kc)) {
		kp_err("no brokers: give -b, or set KPIPE_BROKERS");
		return EX_USAGE;
	}
	if (c->from && !c->group) {
		kp_err("--from needs a consumer group (-G)");
		return EX_USAGE;
	}
	if (!c->from && c->exit_eof) {
		kp_err("-e needs --from");
		return EX_USAGE;
	}
	if (c->from && c->src_topic && !strcmp(c->from, c->src_topic)) {
		kp_err("the stream and the %s are the same topic '%s'",
		    c->join ? "other stream" : "table", c->from);
		return EX_USAGE;
	}
	if (c->from && c->join && c->src_file) {
		kp_err("--join file:PATH needs the stream on standard input");
		return EX_USAGE;
	}
	if (!c->from && (c->eos || c->commit_ms)) {
		kp_err("--exactly-once and --commit-interval need --from (the "
		    "stream from a topic, in a consumer group)");
		return EX_USAGE;
	}
	if (c->eos && !c->to) {
		kp_err("--exactly-once needs --to: standard output is not part "
		    "of a transaction");
		return EX_USAGE;
	}
	if (c->changelog && (!c->join || !c->from)) {
		kp_err("--changelog goes with --join and --from (the join "
		    "buffers of Kafka mode)");
		return EX_USAGE;
	}
	if (c->from && !c->state_dir)
		c->state_dir = "kpipe-state";
	return 0;
}

static int
parse_args(int argc, char **argv, struct conf *c)
{
	enum { OPT_TABLE = 256, OPT_TABLE_KEY, OPT_JOIN, OPT_WITHIN, OPT_GRACE,
	    OPT_LEFT, OPT_OUTER, OPT_PREFIX, OPT_GLOBAL, OPT_FROM, OPT_TO,
	    OPT_STATE_DIR, OPT_MAX_IDLE, OPT_DLQ, OPT_STATS,
	    OPT_COMMIT_INTERVAL, OPT_EXACTLY_ONCE, OPT_CHANGELOG };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "debug", required_argument, NULL, 'd' },
		{ "exit-at-end", no_argument, NULL, 'e' },
		{ "config-file", required_argument, NULL, 'F' },
		{ "group", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ "input", required_argument, NULL, 'I' },
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "changelog", required_argument, NULL, OPT_CHANGELOG },
		{ "commit-interval", required_argument, NULL,
		    OPT_COMMIT_INTERVAL },
		{ "dlq", required_argument, NULL, OPT_DLQ },
		{ "exactly-once", no_argument, NULL, OPT_EXACTLY_ONCE },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "global", no_argument, NULL, OPT_GLOBAL },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "join", required_argument, NULL, OPT_JOIN },
		{ "left", no_argument, NULL, OPT_LEFT },
		{ "max-idle", required_argument, NULL, OPT_MAX_IDLE },
		{ "outer", no_argument, NULL, OPT_OUTER },
		{ "prefix", required_argument, NULL, OPT_PREFIX },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "table", required_argument, NULL, OPT_TABLE },
		{ "table-key", required_argument, NULL, OPT_TABLE_KEY },
		{ "to", required_argument, NULL, OPT_TO },
		{ "within", required_argument, NULL, OPT_WITHIN },
		{ NULL, 0, NULL, 0 }
	};
	char err[512];
	const char *e;
	int ch, out_set = 0;

	while ((ch = getopt_long(argc, argv, "b:d:eF:G:hI:k:O:qVvX:", longopts,
	    NULL)) != -1) {
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
		case 'k':
			if (kp_path_parse_list(optarg, &c->keys, &c->nkeys, err,
			    sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			c->keys_text = optarg;
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
		case 'V':
			printf("kjoin (kpipe) %s, librdkafka %s\n", KP_VERSION,
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
		case OPT_CHANGELOG:
			c->changelog = optarg;
			break;
		case OPT_COMMIT_INTERVAL:
			if (parse_duration("--commit-interval", optarg,
			    &c->commit_ms) < 0)
				return EX_USAGE;
			if (c->commit_ms <= 0 || c->commit_ms > INT32_MAX) {
				kp_err("--commit-interval '%s' is %s", optarg,
				    c->commit_ms <= 0 ? "not positive" :
				    "too large");
				return EX_USAGE;
			}
			break;
		case OPT_DLQ:
			c->dlq_path = optarg;
			break;
		case OPT_EXACTLY_ONCE:
			c->eos = 1;
			break;
		case OPT_FROM:
			c->from = optarg;
			break;
		case OPT_GLOBAL:
			c->global = 1;
			break;
		case OPT_GRACE:
			if (parse_duration("--grace", optarg, &c->grace) < 0)
				return EX_USAGE;
			break;
		case OPT_JOIN:
		case OPT_TABLE:
			if (c->src) {
				kp_err("give one --table or --join");
				return EX_USAGE;
			}
			c->src = optarg;
			c->join = ch == OPT_JOIN;
			break;
		case OPT_LEFT:
			c->left = 1;
			break;
		case OPT_MAX_IDLE:
			if (kp_strtonum(optarg, 0, INT32_MAX, &c->max_idle,
			    &e) < 0) {
				kp_err("--max-idle '%s' is %s", optarg, e);
				return EX_USAGE;
			}
			break;
		case OPT_OUTER:
			c->outer = 1;
			break;
		case OPT_PREFIX:
			c->prefix = optarg;
			break;
		case OPT_STATE_DIR:
			c->state_dir = optarg;
			break;
		case OPT_STATS:
			if (kp_strtonum(optarg, 1, 86400, &c->stats_sec, &e) < 0) {
				kp_err("--stats '%s' is %s", optarg, e);
				return EX_USAGE;
			}
			break;
		case OPT_TABLE_KEY:
			if (kp_path_parse_list(optarg, &c->tkeys, &c->ntkeys, err,
			    sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			c->tkeys_text = optarg;
			break;
		case OPT_TO:
			c->to = optarg;
			break;
		case OPT_WITHIN:
			if (parse_duration("--within", optarg, &c->within) < 0)
				return EX_USAGE;
			c->has_within = 1;
			break;
		default:
			usage(EX_USAGE);
		}
	}
	if (optind < argc) {
		kp_err("unexpected argument '%s' (the stream is read from "
		    "standard input or --from)", argv[optind]);
		return EX_USAGE;
	}
	if (!out_set)
		c->out = isatty(1) ? KP_FMT_JSON : KP_FMT_KPIPE;
	return check_args(c);
}

static void
free_paths(struct kp_path *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		kp_path_free(&p[i]);
	free(p);
}

int
main(int argc, char **argv)
{
	struct conf c = {
		.in = KP_FMT_AUTO,
		.out = KP_FMT_KPIPE,
	};
	int rc;

	kp_log_init("kjoin");
	if ((rc = parse_args(argc, argv, &c)) == 0) {
		kp_signals_install();
		rc = run(&c);
	}
	kp_kconf_free(&c.kc);
	free_paths(c.keys, c.nkeys);
	free_paths(c.tkeys, c.ntkeys);
	return rc;
}
