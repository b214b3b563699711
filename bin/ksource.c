/*
 * ksource - read records from Kafka (kcat-like) or from files and stdin
 * (JSON lines, CSV, msgpack, kpipe, raw), and write them to stdout as a
 * kpipe stream (msgpack envelopes), JSON envelopes, bare values or raw
 * bytes.
 *
 * From Kafka it reads chosen partitions from chosen offsets, or joins a
 * consumer group (-G) and commits only the offsets of records it has
 * written out.  With -e it stops at the end of every partition, where
 * "the end" is the high watermark seen at start (kcat #33), and an empty
 * partition is at its end at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include "path.h"
#include "retry.h"
#include "util.h"

#define USAGE \
"usage: ksource [-eqv] [-b brokers] [-d contexts] [-X prop=value] [-F file]\n" \
"               -t topic [-p partition] [-o offset] [-G group] [-c count]\n" \
"               [-I format] [-O format] [-k path] [--time path]\n" \
"               [--time-unit unit] [--time-format fmt] [--dlq topic|file]\n" \
"       ksource [-qv] [-I format] [-O format] [-k path] [--time path]\n" \
"               [--time-unit unit] [--time-format fmt] [-c count]\n" \
"               [-b brokers] [--dlq topic|file] [file ...]\n"

struct conf {
	struct kp_kconf		 kc;
	const char		*topic;
	int32_t			 partition;	/* -1: all */
	const char		*offset;
	const char		*group;
	int			 exit_eof;
	long long		 count;		/* 0: no limit */
	enum kp_format		 in, out;
	struct kp_path		*keys;
	size_t			 nkeys;
	struct kp_time_spec	 time;
	const char		*dlq_path;
	char			**files;
	int			 nfiles;
};

/* state shared by the Kafka loop */
struct run {
	struct conf		*c;
	rd_kafka_t		*rk;
	struct kp_writer	*w;
	struct kp_dlq		*dlq;
	struct kp_json_parser	*jp;
	struct kp_record	 rec;
	long long		 written;
	/* offsets written since the last flush, to store after it */
	rd_kafka_topic_partition_list_t *pending;
	/* -e: per partition, the offset at which it is done (-1: done) */
	rd_kafka_topic_partition_list_t *stop;
	int			 live;		/* partitions not yet at end */
	int			 exit_code;
};

static void
usage(int code)
{
	fputs(USAGE, code ? stderr : stdout);
	exit(code);
}

static int
write_rec(struct run *r, struct kp_record *rec)
{
	if (kp_writer_write(r->w, rec) < 0) {
		if (errno != EPIPE)
			kp_err("cannot write to stdout: %s", strerror(errno));
		r->exit_code = errno == EPIPE ? 0 : EX_IOERR;
		return -1;
	}
	r->written++;
	return 0;
}

/* Route a bad record: to the dead-letter file, or stop with 65. */
static int
bad_record(struct run *r, struct kp_record *rec, const void *raw, size_t n,
    const char *why)
{
	char where[256];

	kp_record_where(rec, where, sizeof(where));
	if (r->dlq) {
		/* to a topic, this returns once the letter is acknowledged:
		 * the record's offset may then be committed */
		if (kp_dlq_write(r->dlq, rec, raw, n, why) < 0) {
			kp_err("%s: %s", where, kp_dlq_strerror(r->dlq));
			r->exit_code = kp_dlq_exit_code(r->dlq);
			return -1;
		}
		kp_info("%s: %s (sent to the dead-letter file)", where, why);
		return 0;
	}
	kp_err("%s: %s", where, why);
	r->exit_code = EX_DATAERR;
	return -1;
}

static int
flush_out(struct run *r)
{
	if (kp_writer_flush(r->w) < 0) {
		if (errno != EPIPE)
			kp_err("cannot write to stdout: %s", strerror(errno));
		r->exit_code = errno == EPIPE ? 0 : EX_IOERR;
		return -1;
	}
	return 0;
}

/* ---- files and stdin ---- */

static int
run_files(struct conf *c)
{
	struct kp_reader_opts ro = {
		.fmt = c->in, .key_paths = c->keys, .nkey_paths = c->nkeys,
		.time = c->time.has_path || c->time.format ? &c->time : NULL,
	};
	struct kp_writer_opts wo = { .fmt = c->out };
	struct run r = { .c = c };
	char err[512];
	int i, nf = c->nfiles ? c->nfiles : 1;

	kp_record_init(&r.rec);
	r.w = kp_writer_new(1, &wo);
	if (c->dlq_path && (r.dlq = kp_dlq_open(c->dlq_path, &c->kc, NULL,
	    "ksource", err, sizeof(err), &i)) == NULL) {
		kp_err("%s", err);
		return i;
	}
	for (i = 0; i < nf && !r.exit_code && !kp_stop; i++) {
		const char *name = c->nfiles ? c->files[i] : "-";
		int fd = strcmp(name, "-") ? open(name, O_RDONLY) : 0;
		struct kp_reader *rd;
		int rc;

		if (fd < 0) {
			kp_err("cannot open '%s': %s", name, strerror(errno));
			r.exit_code = EX_NOINPUT;
			break;
		}
		rd = kp_reader_new(fd, name, &ro);
		while (!kp_stop && (c->count == 0 || r.written < c->count)) {
			rc = kp_reader_next(rd, &r.rec, err, sizeof(err));
			if (rc == 0)
				break;
			if (rc == 1) {
				if (write_rec(&r, &r.rec) < 0)
					break;
				continue;
			}
			if (rc == -2) {
				kp_err("'%s': %s", strcmp(name, "-") ? name :
				    "stdin", err);
				r.exit_code = EX_DATAERR;
				break;
			}
			{
				const void *raw;
				size_t n;

				kp_reader_raw(rd, &raw, &n);
				if (bad_record(&r, &r.rec, raw, n, err) < 0)
					break;
			}
		}
		kp_reader_free(rd);
		if (fd > 0)
			close(fd);
	}
	/* what was read before a bad record is written out all the same;
	 * flush_out() sets the status itself (0 for a reader that went away:
	 * EPIPE is a quiet end), and an earlier status stands */
	{
		int prev = r.exit_code;

		if (flush_out(&r) < 0 && prev)
			r.exit_code = prev;
	}
	if (kp_dlq_close(r.dlq) < 0 && !r.exit_code)
		r.exit_code = EX_IOERR;
	kp_writer_free(r.w);
	kp_record_free(&r.rec);
	return r.exit_code;
}

/* ---- Kafka ---- */

static int
store_pending(struct run *r)
{
	rd_kafka_resp_err_t err;

	if (!r->c->group || r->pending->cnt == 0)
		return 0;
	err = rd_kafka_offsets_store(r->rk, r->pending);
	if (err)
		kp_warn("cannot store offsets: %s", rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(r->pending);
	r->pending = rd_kafka_topic_partition_list_new(16);
	return 0;
}

static void
note_pending(struct run *r, const char *topic, int32_t p, int64_t next)
{
	rd_kafka_topic_partition_t *tp;

	tp = rd_kafka_topic_partition_list_find(r->pending, topic, p);
	if (tp == NULL)
		tp = rd_kafka_topic_partition_list_add(r->pending, topic, p);
	tp->offset = next;
}

/* -e bookkeeping: mark a partition done once `next` reaches its stop */
static void
eof_check(struct run *r, const char *topic, int32_t p, int64_t next)
{
	rd_kafka_topic_partition_t *tp;

	if (r->stop == NULL)
		return;
	tp = rd_kafka_topic_partition_list_find(r->stop, topic, p);
	if (tp && tp->offset >= 0 && next >= tp->offset) {
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
	int i;

	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		kp_info("group '%s': assigned %d partition(s)", r->c->group,
		    parts->cnt);
		if (r->c->exit_eof) {
			for (i = 0; i < parts->cnt; i++) {
				rd_kafka_topic_partition_t *tp;

				tp = rd_kafka_topic_partition_list_find(r->stop,
				    parts->elems[i].topic, parts->elems[i].partition);
				if (tp == NULL) {
					tp = rd_kafka_topic_partition_list_add(r->stop,
					    parts->elems[i].topic,
					    parts->elems[i].partition);
					tp->offset = INT64_MAX;	/* until EOF */
					r->live++;
				}
			}
		}
		rd_kafka_assign(rk, parts);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		kp_info("group '%s': revoked %d partition(s)", r->c->group,
		    parts->cnt);
		/* commit what was written before giving partitions away */
		if (flush_out(r) == 0) {
			store_pending(r);
			rd_kafka_commit(rk, NULL, 0);
		}
		if (r->c->exit_eof) {
			for (i = 0; i < parts->cnt; i++) {
				rd_kafka_topic_partition_t *tp;

				tp = rd_kafka_topic_partition_list_find(r->stop,
				    parts->elems[i].topic, parts->elems[i].partition);
				if (tp) {
					if (tp->offset != -1)
						r->live--;
					rd_kafka_topic_partition_list_del(r->stop,
					    tp->topic, tp->partition);
				}
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

/* Parse -o into a librdkafka logical or absolute offset; for s@TS set *ts.
 * Returns 0 or -1. */
static int
parse_offset(const char *s, int64_t *off, int64_t *ts)
{
	long long v;
	const char *e;

	*ts = -1;
	if (!strcmp(s, "beginning"))
		*off = RD_KAFKA_OFFSET_BEGINNING;
	else if (!strcmp(s, "end"))
		*off = RD_KAFKA_OFFSET_END;
	else if (!strcmp(s, "stored"))
		*off = RD_KAFKA_OFFSET_STORED;
	else if (!strncmp(s, "s@", 2)) {
		if (kp_strtonum(s + 2, 0, INT64_MAX, &v, &e) < 0)
			return -1;
		*ts = v;
		*off = RD_KAFKA_OFFSET_END;
	} else if (s[0] == '-') {
		if (kp_strtonum(s + 1, 1, INT64_MAX / 2, &v, &e) < 0)
			return -1;
		*off = RD_KAFKA_OFFSET_TAIL(v);
	} else {
		if (kp_strtonum(s, 0, INT64_MAX, &v, &e) < 0)
			return -1;
		*off = v;
	}
	return 0;
}

/* Assign mode: choose partitions and start offsets, pin -e end points. */
static int
assign_partitions(struct run *r)
{
	struct conf *c = r->c;
	rd_kafka_topic_partition_list_t *parts;
	char err[512];
	int64_t off, ts;
	int cnt, i;
	rd_kafka_resp_err_t e;

	if (parse_offset(c->offset ? c->offset : "beginning", &off, &ts) < 0) {
		kp_err("invalid offset '%s' (beginning, end, stored, N, -N, "
		    "s@TIMESTAMP_MS)", c->offset);
		return EX_USAGE;
	}
	if (off == RD_KAFKA_OFFSET_STORED && !c->group) {
		kp_err("offset 'stored' needs a consumer group (-G)");
		return EX_USAGE;
	}
	if ((cnt = kp_kafka_partition_count(r->rk, c->topic, 10000, err,
	    sizeof(err))) < 0) {
		kp_err("%s", err);
		return EX_UNAVAILABLE;
	}
	if (c->partition >= cnt) {
		kp_err("topic '%s' has %d partitions: no partition %d",
		    c->topic, cnt, (int)c->partition);
		return EX_USAGE;
	}
	parts = rd_kafka_topic_partition_list_new(cnt);
	for (i = 0; i < cnt; i++)
		if (c->partition < 0 || c->partition == i)
			rd_kafka_topic_partition_list_add(parts, c->topic, i)->offset =
			    ts >= 0 ? ts : off;
	if (ts >= 0) {
		/* results are matched by partition id, never by index (kcat #399) */
		if ((e = rd_kafka_offsets_for_times(r->rk, parts, 10000))) {
			kp_err("cannot look up offsets for time %lld: %s",
			    (long long)ts, rd_kafka_err2str(e));
			rd_kafka_topic_partition_list_destroy(parts);
			return EX_UNAVAILABLE;
		}
		for (i = 0; i < parts->cnt; i++)
			if (parts->elems[i].offset < 0)
				parts->elems[i].offset = RD_KAFKA_OFFSET_END;
	}
	if (c->exit_eof) {
		r->stop = rd_kafka_topic_partition_list_new(parts->cnt);
		for (i = 0; i < parts->cnt; i++) {
			rd_kafka_topic_partition_t *p = &parts->elems[i];
			int64_t lo, hi, start = p->offset;

			if ((e = rd_kafka_query_watermark_offsets(r->rk, c->topic,
			    p->partition, &lo, &hi, 10000))) {
				kp_err("cannot get end offsets of topic '%s' "
				    "partition %d: %s", c->topic, (int)p->partition,
				    rd_kafka_err2str(e));
				rd_kafka_topic_partition_list_destroy(parts);
				return EX_UNAVAILABLE;
			}
			if (start == RD_KAFKA_OFFSET_BEGINNING)
				start = lo;
			else if (start == RD_KAFKA_OFFSET_END)
				start = hi;
			else if (start <= RD_KAFKA_OFFSET_TAIL_BASE)
				start = hi - (RD_KAFKA_OFFSET_TAIL_BASE - start);
			if (start < lo)
				start = lo;
			rd_kafka_topic_partition_list_add(r->stop, c->topic,
			    p->partition)->offset = start >= hi ? -1 : hi;
			if (start < hi)
				r->live++;
		}
	}
	e = rd_kafka_assign(r->rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (e) {
		kp_err("cannot assign partitions: %s", rd_kafka_err2str(e));
		return EX_SOFTWARE;
	}
	return 0;
}

/* -k and --time on a record read from Kafka */
static int
apply_fields(struct conf *c, struct kp_record *rec, char *err, size_t n)
{
	if (c->nkeys)
		kp_record_apply_key(rec, c->keys, c->nkeys);
	if ((c->time.has_path || c->time.format) &&
	    kp_record_apply_time(rec, &c->time, err, n) < 0)
		return -1;
	return 0;
}

static int
consume(struct run *r)
{
	struct conf *c = r->c;
	char err[512];

	while (!kp_stop && !r->exit_code) {
		rd_kafka_message_t *m;

		if (c->exit_eof && r->stop && r->live == 0 &&
		    (!c->group || r->stop->cnt > 0))
			break;
		if (c->count && r->written >= c->count)
			break;
		m = rd_kafka_consumer_poll(r->rk, 100);
		if (m == NULL) {
			/* idle: everything written so far goes out */
			if (kp_writer_pending(r->w) && flush_out(r) < 0)
				break;
			store_pending(r);
			continue;
		}
		if (m->err) {
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				if (c->group)
					eof_check(r, rd_kafka_topic_name(m->rkt),
					    m->partition, INT64_MAX);
			} else if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
			    m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
				kp_err("%s", rd_kafka_message_errstr(m));
				r->exit_code = EX_CONFIG;
			} else {
				kp_warn("%s", rd_kafka_message_errstr(m));
			}
			rd_kafka_message_destroy(m);
			continue;
		}
		if (r->stop && !c->group) {
			rd_kafka_topic_partition_t *tp;

			tp = rd_kafka_topic_partition_list_find(r->stop,
			    rd_kafka_topic_name(m->rkt), m->partition);
			if (tp && tp->offset == -1) {
				/* past the pinned end: not ours to read */
				rd_kafka_message_destroy(m);
				continue;
			}
		}
		if (kp_record_from_message(&r->rec, m, c->in, r->jp, err,
		    sizeof(err)) < 0 || apply_fields(c, &r->rec, err,
		    sizeof(err)) < 0) {
			if (bad_record(r, &r->rec, m->payload, m->len, err) < 0) {
				rd_kafka_message_destroy(m);
				break;
			}
		} else if (write_rec(r, &r->rec) < 0) {
			rd_kafka_message_destroy(m);
			break;
		}
		note_pending(r, rd_kafka_topic_name(m->rkt), m->partition,
		    m->offset + 1);
		if (kp_writer_pending(r->w) == 0)
			store_pending(r);
		eof_check(r, rd_kafka_topic_name(m->rkt), m->partition,
		    m->offset + 1);
		rd_kafka_message_destroy(m);
	}
	return 0;
}

static int
run_kafka(struct conf *c)
{
	static const char *const defaults[] = {
		"enable.partition.eof", "true",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		"auto.commit.interval.ms", "1000",
		/* librdkafka 2.0's consumer stops fetching for a second once
		 * its one queue holds queued.min.messages (100000): measured
		 * on 1M records over 32 partitions, 3.1 s with the defaults,
		 * 0.8 s with these (kcat: 1.6 s) */
		"queued.min.messages", "1000000",
		"fetch.max.bytes", "8388608",
		NULL
	};
	struct kp_writer_opts wo = { .fmt = c->out };
	struct run r = { .c = c };
	rd_kafka_conf_t *conf;
	char err[512];
	int rc;

	if ((conf = kp_kconf_build(&c->kc, defaults, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		return EX_CONFIG;
	}
	if (c->group) {
		if (rd_kafka_conf_set(conf, "group.id", c->group, err,
		    sizeof(err)) != RD_KAFKA_CONF_OK) {
			kp_err("%s", err);
			rd_kafka_conf_destroy(conf);
			return EX_CONFIG;
		}
		if (c->offset && (!strcmp(c->offset, "end") ||
		    !strcmp(c->offset, "beginning")))
			rd_kafka_conf_set(conf, "auto.offset.reset",
			    !strcmp(c->offset, "end") ? "latest" : "earliest",
			    err, sizeof(err));
		rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	} else {
		/* librdkafka's consumer wants a group.id even to assign();
		 * it never joins the group or commits to it */
		rd_kafka_conf_set(conf, "group.id", "kpipe-ksource-assign", err,
		    sizeof(err));
		rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
		    sizeof(err));
	}
	rd_kafka_conf_set_opaque(conf, &r);
	if ((r.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create consumer: %s", err);
		return EX_CONFIG;
	}
	rd_kafka_poll_set_consumer(r.rk);
	kp_record_init(&r.rec);
	r.jp = kp_json_parser_new();
	r.w = kp_writer_new(1, &wo);
	r.pending = rd_kafka_topic_partition_list_new(16);
	rc = 0;
	if (c->dlq_path && (r.dlq = kp_dlq_open(c->dlq_path, &c->kc, NULL,
	    "ksource", err, sizeof(err), &rc)) == NULL) {
		kp_err("%s", err);
	} else if (c->group) {
		rd_kafka_topic_partition_list_t *t;
		char *topics = kp_xstrdup(c->topic), *tok, *save = NULL;

		if (c->exit_eof)
			r.stop = rd_kafka_topic_partition_list_new(16);
		t = rd_kafka_topic_partition_list_new(1);
		for (tok = strtok_r(topics, ",", &save); tok;
		    tok = strtok_r(NULL, ",", &save))
			rd_kafka_topic_partition_list_add(t, tok,
			    RD_KAFKA_PARTITION_UA);
		free(topics);
		if (rd_kafka_subscribe(r.rk, t)) {
			kp_err("cannot subscribe to '%s'", c->topic);
			rc = EX_CONFIG;
		}
		rd_kafka_topic_partition_list_destroy(t);
	} else {
		rc = assign_partitions(&r);
	}
	if (rc == 0)
		consume(&r);
	/* orderly stop: out, then offsets, then leave the group */
	if (flush_out(&r) == 0)
		store_pending(&r);
	if (c->group) {
		rd_kafka_commit(r.rk, NULL, 0);
		rd_kafka_consumer_close(r.rk);
	}
	if (kp_dlq_close(r.dlq) < 0 && !r.exit_code)
		r.exit_code = EX_IOERR;
	rd_kafka_destroy(r.rk);
	rd_kafka_topic_partition_list_destroy(r.pending);
	if (r.stop)
		rd_kafka_topic_partition_list_destroy(r.stop);
	kp_writer_free(r.w);
	kp_json_parser_free(r.jp);
	kp_record_free(&r.rec);
	return rc ? rc : r.exit_code;
}

static int
parse_args(int argc, char **argv, struct conf *c)
{
	enum { OPT_TIME = 256, OPT_TIME_UNIT, OPT_TIME_FORMAT, OPT_DLQ };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'c' },
		{ "debug", required_argument, NULL, 'd' },
		{ "exit-at-end", no_argument, NULL, 'e' },
		{ "config-file", required_argument, NULL, 'F' },
		{ "from", required_argument, NULL, 't' },
		{ "group", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ "input", required_argument, NULL, 'I' },
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'O' },
		{ "offset", required_argument, NULL, 'o' },
		{ "partition", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "topic", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "dlq", required_argument, NULL, OPT_DLQ },
		{ "time", required_argument, NULL, OPT_TIME },
		{ "time-format", required_argument, NULL, OPT_TIME_FORMAT },
		{ "time-unit", required_argument, NULL, OPT_TIME_UNIT },
		{ NULL, 0, NULL, 0 }
	};
	char err[512];
	const char *e;
	long long v;
	int ch, out_set = 0;

	while ((ch = getopt_long(argc, argv, "b:c:d:eF:G:hI:k:O:o:p:qt:VvX:",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			kp_kconf_brokers(&c->kc, optarg);
			break;
		case 'c':
			if (kp_strtonum(optarg, 1, INT64_MAX, &c->count, &e) < 0) {
				kp_err("count '%s' is %s", optarg, e);
				return EX_USAGE;
			}
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
		case 'o':
			c->offset = optarg;
			break;
		case 'p':
			if (kp_strtonum(optarg, 0, INT32_MAX, &v, &e) < 0) {
				kp_err("partition '%s' is %s", optarg, e);
				return EX_USAGE;
			}
			c->partition = (int32_t)v;
			break;
		case 'q':
			kp_log_level = KP_LOG_ERR;
			break;
		case 't':
			c->topic = optarg;
			break;
		case 'V':
			printf("ksource (kpipe) %s, librdkafka %s\n", KP_VERSION,
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
		case OPT_DLQ:
			c->dlq_path = optarg;
			break;
		case OPT_TIME:
			if (kp_path_parse(optarg, &c->time.path, err,
			    sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			c->time.has_path = 1;
			break;
		case OPT_TIME_FORMAT:
			c->time.format = kp_xstrdup(optarg);
			break;
		case OPT_TIME_UNIT:
			if (kp_time_unit_parse(optarg, &c->time.unit) < 0) {
				kp_err("unknown time unit '%s' (s, ms, us)", optarg);
				return EX_USAGE;
			}
			break;
		default:
			usage(EX_USAGE);
		}
	}
	c->files = argv + optind;
	c->nfiles = argc - optind;
	if (!out_set)
		c->out = isatty(1) ? KP_FMT_JSON : KP_FMT_KPIPE;
	if (c->topic && c->nfiles) {
		kp_err("give a topic (-t) or files, not both");
		return EX_USAGE;
	}
	if (c->topic && !kp_kconf_has_brokers(&c->kc)) {
		kp_err("no brokers: give -b, or set KPIPE_BROKERS");
		return EX_USAGE;
	}
	if (!c->topic && (c->group || c->partition >= 0 || c->offset ||
	    c->exit_eof)) {
		kp_err("-G, -p, -o and -e need a topic (-t)");
		return EX_USAGE;
	}
	if (c->time.format && !c->time.has_path) {
		kp_err("--time-format needs --time PATH");
		return EX_USAGE;
	}
	if (c->group && c->offset && strcmp(c->offset, "beginning") &&
	    strcmp(c->offset, "end") && strcmp(c->offset, "stored")) {
		kp_err("with -G, -o takes beginning, end or stored (where a "
		    "group without committed offsets starts)");
		return EX_USAGE;
	}
	if (c->group && c->partition >= 0) {
		kp_err("-p and -G do not go together: the group assigns "
		    "partitions");
		return EX_USAGE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct conf c = {
		.partition = -1,
		.in = KP_FMT_AUTO,
		.out = KP_FMT_KPIPE,
	};
	int rc;

	kp_log_init("ksource");
	if ((rc = parse_args(argc, argv, &c)) != 0)
		return rc;
	kp_signals_install();
	rc = c.topic ? run_kafka(&c) : run_files(&c);
	kp_kconf_free(&c.kc);
	kp_time_spec_free(&c.time);
	while (c.nkeys > 0)
		kp_path_free(&c.keys[--c.nkeys]);
	free(c.keys);
	return rc;
}
