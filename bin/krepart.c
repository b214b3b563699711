/*
 * krepart - re-key records and write them to a Kafka topic on the
 * partition that a named partitioner (Java's murmur2 by default) picks for
 * the new key, bit-exact with the client that partitioner names, so the
 * output is co-partitioned with what a Java, librdkafka or Go producer
 * writes.
 *
 * Input is a topic read in a consumer group (--from, -G) or records from
 * files and stdin (any kpipe input format).  -k sets the new key from
 * fields; the value, headers and timestamp pass unchanged (from a topic,
 * the value bytes are copied byte for byte).  krepart computes the
 * partition itself from the key bytes and the output topic's partition
 * count, and produces to that partition with an idempotent producer, so
 * records with the same key leave in the order they came.  An input offset
 * is stored for commit only once the record at it, and every record read
 * before it, has been delivered (tracked per batch of records, below).
 *
 * With --exactly-once (and --from), records are produced in Kafka
 * transactions with the input offsets committed in them (txn.h), every
 * --commit-interval; an aborted transaction rewinds the consumer and the
 * records are read again.
 *
 * --dry-run prints the partition each record's key would get; --check
 * reads a topic and reports the records that are not on the partition the
 * partitioner picks.
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
#include "partition.h"
#include "path.h"
#include "txn.h"
#include "util.h"
#include "window.h"

#define USAGE \
"usage: krepart [-eqv] [-b brokers] [-d contexts] [-F file] [-I format]\n" \
"               [-k path] [-n partitions] [-X prop=value]\n" \
"               [--dlq topic|file] [--partitioner name] [--seed n]\n" \
"               [--from topic -G group]\n" \
"               [--commit-interval ms] [--exactly-once] --to topic [file ...]\n" \
"       krepart --dry-run -n partitions [-qv] [-I format] [-k path]\n" \
"               [--dlq file] [--partitioner name] [file ...]\n" \
"       krepart --check topic [-eqv] [-b brokers] [-d contexts] [-F file]\n" \
"               [-I format] [-k path] [-X prop=value] [--partitioner name]\n"

#define OUTBUF_MAX	(64 * 1024)
#define MD_TIMEOUT_MS	10000

struct conf {
	struct kp_kconf		 kc;
	const char		*from;
	const char		*to;
	const char		*check;
	const char		*group;
	int			 dry_run;
	int			 exit_eof;
	int32_t			 partitions;	/* -n; 0: not given */
	enum kp_partitioner	 part;
	int			 seed_set;
	uint32_t		 seed;
	enum kp_format		 in;
	int			 in_set;
	struct kp_path		*keys;
	size_t			 nkeys;
	const char		*dlq_path;
	char			**files;
	int			 nfiles;
	int			 eos;		/* --exactly-once */
	int64_t			 commit_ms;	/* --commit-interval; 0: default */
};

/* Delivery tracking without a record per record.  The records read in a
 * row, from any input partitions, form a batch; each produced record
 * carries its batch as the delivery report's opaque, and the report
 * counts the batch down.  A batch is closed after BATCH_MAX records or
 * BATCH_MS (or when the input is idle, or before a commit), and then
 * notes, for each input partition, the offset after the last record read
 * (a mark).  Batches complete in the order they were read: once a closed
 * batch and every batch before it have no record left in flight, its
 * marks are safe to commit, since every record before them was delivered
 * (or sent to the dead-letter route, which returns once the letter is
 * acknowledged).  A record that fails marks its batch failed, and nothing
 * from it on is committed.  The cost is one counter per record, and a
 * short list per batch (Flink's checkpoint barriers, in miniature). */
#define BATCH_MAX	20000
#define BATCH_MS	50

struct mark {
	struct inpart		*ip;
	int64_t			 next;	/* offset to store */
};

struct batch {
	unsigned long		 pending;	/* records not yet reported */
	unsigned long		 nrec;		/* records sent in it */
	int			 closed;
	int			 failed;	/* a record was not delivered */
	struct mark		*marks;
	size_t			 nmarks, marks_size;
	struct batch		*next;
};

/* An input partition: where reading and committing are, and its -e
 * state. */
struct inpart {
	char			*topic;
	int32_t			 partition;
	int64_t			 read;		/* offset after the last read */
	int64_t			 marked;	/* read, as last marked */
	int64_t			 store;		/* offset to store, or -1 */
	int			 assigned;
	int			 at_end;
	struct inpart		*link;
};

struct run {
	struct conf		*c;
	/* the fast path for a JSON object keyed by one of its own fields
	 * (-k .id; json.h): the value leaves byte for byte, so it is not
	 * packed into msgpack to be thrown away; what the reader cannot
	 * say is left to the full decoder, so keys and dead-letter
	 * reasons are the same either way.  NULL: no fast path */
	struct kp_json_field	*fast;
	rd_kafka_t		*rk;		/* consumer (--from, --check) */
	rd_kafka_t		*pk;		/* producer (--to) */
	struct kp_dlq		*dlq;
	struct kp_json_parser	*jp;
	struct kp_record	 rec;
	struct kp_buf		 out;		/* stdout, --dry-run and --check */
	int32_t			 cnt;		/* partitions of the output */
	uint32_t		 rand;
	/* --from */
	struct inpart		*parts;
	struct inpart		*last_ip;	/* of the last message read */
	struct batch		*bhead, *btail;	/* in reading order */
	struct batch		*bfree;
	int64_t			 batch_t0;	/* when the open batch began */
	int			 live;		/* -e: assigned, not at end */
	int			 ever_assigned;
	int			 dirty;		/* some inpart has a new store */
	int64_t			 last_store;
	/* --exactly-once */
	struct kp_txn		*txn;
	/* counts */
	unsigned long long	 nread, nsent, ndelivered, nfailed, nnull;
	rd_kafka_resp_err_t	 first_err;
	int			 warned_null;
	int			 closed;	/* stdout went away (EPIPE) */
	int			 exit_code;
};

static void
usage(int code)
{
	fputs(USAGE, code ? stderr : stdout);
	exit(code);
}

/* ---- output to stdout ---- */

/* Write out r->out.  Returns 0, or -1 with exit_code set (0 for EPIPE:
 * the reader went away, a quiet end). */
static int
out_flush(struct run *r)
{
	size_t off = 0;
	ssize_t n;

	while (off < r->out.len) {
		n = write(1, r->out.data + off, r->out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EPIPE)
				kp_err("cannot write to stdout: %s",
				    strerror(errno));
			r->exit_code = errno == EPIPE ? 0 : EX_IOERR;
			r->closed = 1;
			kp_buf_reset(&r->out);
			return -1;
		}
		off += (size_t)n;
	}
	kp_buf_reset(&r->out);
	return 0;
}

/* Append a key as one line-safe text field: valid UTF-8 stays as it is,
 * with backslash, tab, newline and carriage return escaped as \\ \t \n \r
 * and other control bytes as \xHH; a key that is not valid UTF-8 has every
 * byte >= 0x80 written as \xHH as well.  A null key appends nothing. */
static void
key_text(struct kp_buf *b, const struct kp_record *rec)
{
	const unsigned char *p = (const unsigned char *)rec->key.data;
	size_t i, n = rec->key_null ? 0 : rec->key.len;
	int utf8 = kp_utf8_valid(p, n);

	for (i = 0; i < n; i++) {
		switch (p[i]) {
		case '\\':
			kp_buf_adds(b, "\\\\");
			break;
		case '\t':
			kp_buf_adds(b, "\\t");
			break;
		case '\n':
			kp_buf_adds(b, "\\n");
			break;
		case '\r':
			kp_buf_adds(b, "\\r");
			break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f || (!utf8 && p[i] >= 0x80))
				kp_buf_printf(b, "\\x%02x", p[i]);
			else
				kp_buf_addc(b, (char)p[i]);
		}
	}
}

/* ---- partitions ---- */

/* Does p draw a random partition for this key (so that no partition is
 * wrong for it)?  The rules of kp_partition(), from partition.h. */
static int
is_random(enum kp_partitioner p, const struct kp_record *rec)
{
	switch (p) {
	case KP_PART_RANDOM:
		return 1;
	case KP_PART_MURMUR2_RANDOM:
	case KP_PART_FNV1A_RANDOM:
		return rec->key_null;
	case KP_PART_CONSISTENT_RANDOM:
		return rec->key_null || rec->key.len == 0;
	default:
		return 0;
	}
}

static int32_t
partition_of(struct run *r, const struct kp_record *rec)
{
	return kp_partition(r->c->part, rec->key.data, rec->key.len,
	    rec->key_null, r->cnt, &r->rand);
}

/* Count null keys; say once that -k found no key, or that a record read
 * from a file has none (a JSON line has no key of its own). */
static void
note_key(struct run *r, struct kp_record *rec)
{
	char where[256];
	const char *how;

	if (!rec->key_null)
		return;
	r->nnull++;
	if (r->warned_null || (!r->c->nkeys && rec->topic.len))
		return;
	r->warned_null = 1;
	kp_record_where(rec, where, sizeof(where));
	how = is_random(r->c->part, rec) ? "a random partition" :
	    "hashed as the empty key";
	if (r->c->nkeys)
		kp_warn("%s: no key at '%s': the key is null (%s: %s)", where,
		    r->c->keys[0].text, kp_partitioner_name(r->c->part), how);
	else
		kp_warn("%s: the record has no key: give -k PATH to key it by "
		    "a field (%s: %s)", where, kp_partitioner_name(r->c->part),
		    how);
}

/* Route a bad record: to the dead-letter target, or stop with 65.  To a
 * topic of its own producer, kp_dlq_write() returns once the letter is
 * acknowledged, so the record's offset may be committed after it; in a
 * transaction, the letter commits or aborts with it. */
static int
bad_record(struct run *r, struct kp_record *rec, const void *raw, size_t n,
    const char *why)
{
	char where[256];

	kp_record_where(rec, where, sizeof(where));
	if (r->dlq) {
		if (kp_dlq_write(r->dlq, rec, raw, n, why) < 0) {
			kp_err("%s: %s", where, kp_dlq_strerror(r->dlq));
			r->exit_code = kp_dlq_exit_code(r->dlq);
			return -1;
		}
		kp_info("%s: %s (sent to the dead-letter %s)", where, why,
		    kp_dlq_is_topic(r->dlq) ? "topic" : "file");
		return 0;
	}
	kp_err("%s: %s", where, why);
	r->exit_code = EX_DATAERR;
	return -1;
}

/* With --dlq, a record that lacks a -k field (absent, or a step into
 * something that is not an object or array) cannot be keyed as asked: it
 * is a dead letter.  Returns 1 with the reason in why, else 0.  Without
 * --dlq such a record keeps a null key (note_key() says so once). */
static int
key_missing(struct run *r, struct kp_record *rec, char *why, size_t n)
{
	struct kp_val v;
	size_t i;

	if (r->dlq == NULL)
		return 0;
	for (i = 0; i < r->c->nkeys; i++) {
		kp_path_eval(&r->c->keys[i], rec, &v);
		if (v.t == KP_V_MISSING) {
			snprintf(why, n, "no key at '%s'", r->c->keys[i].text);
			return 1;
		}
	}
	return 0;
}

/* Does any -k path read the value (so a topic's value must be decoded)? */
static int
keys_need_value(const struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nkeys; i++)
		if (c->keys[i].root == KP_ROOT_VALUE)
			return 1;
	return 0;
}

/* How to decode a consumed value: as -I says; else only when -k reads it. */
static enum kp_format
topic_format(const struct conf *c)
{
	if (c->in_set)
		return c->in;
	return keys_need_value(c) ? KP_FMT_AUTO : KP_FMT_RAW;
}

/* ---- files and stdin: the reading loop of --dry-run and --to ---- */

typedef int (*emit_fn)(struct run *, struct kp_record *);

static int
read_files(struct run *r, emit_fn emit)
{
	struct conf *c = r->c;
	struct kp_reader_opts ro = {
		.fmt = c->in, .key_paths = c->keys, .nkey_paths = c->nkeys,
	};
	char err[512];
	int i, nf = c->nfiles ? c->nfiles : 1;

	for (i = 0; i < nf && !r->exit_code && !r->closed && !kp_stop; i++) {
		const char *name = c->nfiles ? c->files[i] : "-";
		int fd = strcmp(name, "-") ? open(name, O_RDONLY) : 0;
		struct kp_reader *rd;
		int rc;

		if (fd < 0) {
			kp_err("cannot open '%s': %s", name, strerror(errno));
			r->exit_code = EX_NOINPUT;
			break;
		}
		rd = kp_reader_new(fd, name, &ro);
		while (!kp_stop) {
			rc = kp_reader_next(rd, &r->rec, err, sizeof(err));
			if (rc == 0)
				break;
			if (rc == 1 && key_missing(r, &r->rec, err,
			    sizeof(err))) {
				r->nread++;
				rc = -1;
			}
			if (rc == 1) {
				r->nread++;
				note_key(r, &r->rec);
				if (emit(r, &r->rec) < 0)
					break;
				continue;
			}
			if (rc == -2) {
				kp_err("'%s': %s", strcmp(name, "-") ? name :
				    "stdin", err);
				r->exit_code = EX_DATAERR;
				break;
			}
			{
				const void *raw;
				size_t n;

				kp_reader_raw(rd, &raw, &n);
				if (bad_record(r, &r->rec, raw, n, err) < 0)
					break;
			}
		}
		kp_reader_free(rd);
		if (fd > 0)
			close(fd);
	}
	return r->exit_code;
}

/* ---- --dry-run ---- */

static int
dry_emit(struct run *r, struct kp_record *rec)
{
	if (is_random(r->c->part, rec))
		kp_buf_adds(&r->out, "random");
	else
		kp_buf_printf(&r->out, "%d", (int)partition_of(r, rec));
	kp_buf_addc(&r->out, '\t');
	key_text(&r->out, rec);
	kp_buf_addc(&r->out, '\n');
	if (r->out.len >= OUTBUF_MAX)
		return out_flush(r);
	return 0;
}

static int
run_dry(struct run *r)
{
	r->cnt = r->c->partitions;
	read_files(r, dry_emit);
	if (r->out.len && !r->closed)
		out_flush(r);
	return r->exit_code;
}

/* ---- Kafka helpers ---- */

/* Look topic up in a metadata request for all topics: unlike a request
 * that names it, this never makes a broker (or the mock) auto-create it.
 * Returns 1 and sets *cnt, 0 when there is no such topic, or -1 with
 * errstr. */
static int
topic_lookup(rd_kafka_t *rk, const char *topic, int32_t *cnt, char *errstr,
    size_t n)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	int i, rc = 0;

	if ((err = rd_kafka_metadata(rk, 1, NULL, &md, MD_TIMEOUT_MS))) {
		snprintf(errstr, n, "cannot get metadata: %s",
		    rd_kafka_err2str(err));
		return -1;
	}
	for (i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];

		if (strcmp(t->topic, topic))
			continue;
		if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			break;
		if (t->err) {
			snprintf(errstr, n, "topic '%s': %s", topic,
			    rd_kafka_err2str(t->err));
			rc = -1;
		} else if (t->partition_cnt < 1) {
			snprintf(errstr, n, "topic '%s' has no partitions", topic);
			rc = -1;
		} else {
			*cnt = t->partition_cnt;
			rc = 1;
		}
		break;
	}
	rd_kafka_metadata_destroy(md);
	return rc;
}

/* CreateTopics goes to the controller: check that the cluster names one
 * of its brokers as controller, rather than wait for one that is not
 * there (librdkafka's mock names broker 0, which does not exist).
 * Returns 0, or -1 with errstr. */
static int
controller_check(rd_kafka_t *rk, char *errstr, size_t n)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	int32_t id;
	int i, found = 0;

	if ((err = rd_kafka_metadata(rk, 0, NULL, &md, MD_TIMEOUT_MS))) {
		snprintf(errstr, n, "cannot get metadata: %s",
		    rd_kafka_err2str(err));
		return -1;
	}
	id = rd_kafka_controllerid(rk, MD_TIMEOUT_MS);
	for (i = 0; i < md->broker_cnt; i++)
		if (md->brokers[i].id == id)
			found = 1;
	rd_kafka_metadata_destroy(md);
	if (!found) {
		snprintf(errstr, n, "the cluster names no broker as its "
		    "controller (controller id %d)", (int)id);
		return -1;
	}
	return 0;
}

/* CreateTopics through the Admin API, with the broker's default
 * replication factor.  Returns 0, or -1 with errstr. */
static int
create_topic(rd_kafka_t *rk, const char *topic, int32_t parts, char *errstr,
    size_t n)
{
	rd_kafka_NewTopic_t *nt;
	rd_kafka_AdminOptions_t *o;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **tr;
	size_t tcnt;
	int rc = -1;

	if (controller_check(rk, errstr, n) < 0)
		return -1;
	if ((nt = rd_kafka_NewTopic_new(topic, parts, -1, errstr,
	    n)) == NULL)
		return -1;
	q = rd_kafka_queue_new(rk);
	o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_request_timeout(o, MD_TIMEOUT_MS, NULL, 0);
	rd_kafka_AdminOptions_set_operation_timeout(o, MD_TIMEOUT_MS, NULL, 0);
	rd_kafka_CreateTopics(rk, &nt, 1, o, q);
	ev = rd_kafka_queue_poll(q, 2 * MD_TIMEOUT_MS + 1000);
	if (ev == NULL) {
		snprintf(errstr, n, "no answer to CreateTopics");
	} else if (rd_kafka_event_error(ev)) {
		snprintf(errstr, n, "%s", rd_kafka_event_error_string(ev));
	} else if ((res = rd_kafka_event_CreateTopics_result(ev)) == NULL ||
	    (tr = rd_kafka_CreateTopics_result_topics(res, &tcnt)) == NULL ||
	    tcnt != 1) {
		snprintf(errstr, n, "unexpected CreateTopics result");
	} else if (rd_kafka_topic_result_error(tr[0]) &&
	    rd_kafka_topic_result_error(tr[0]) !=
	    RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
		snprintf(errstr, n, "%s", rd_kafka_topic_result_error_string(tr[0]) ?
		    rd_kafka_topic_result_error_string(tr[0]) :
		    rd_kafka_err2str(rd_kafka_topic_result_error(tr[0])));
	} else {
		rc = 0;
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(o);
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
	return rc;
}

static void
create_hint(const struct conf *c, int32_t parts)
{
	char n[16];

	if (parts > 0)
		snprintf(n, sizeof(n), "%d", (int)parts);
	else
		snprintf(n, sizeof(n), "N");
	kp_err("create it first, for example with 'kafka-topics.sh "
	    "--bootstrap-server BROKER --create --topic %s --partitions %s', "
	    "or on kmock(1) with '--topic %s:%s', then run krepart again",
	    c->to, n, c->to, n);
}

/* Find the output topic's partition count, creating the topic when it is
 * missing and -n says how many partitions it gets.  Returns 0, or an exit
 * code. */
static int
output_topic(struct run *r)
{
	struct conf *c = r->c;
	char err[512];
	int32_t cnt = 0;
	int rc, i;

	if ((rc = topic_lookup(r->pk, c->to, &cnt, err, sizeof(err))) < 0) {
		kp_err("%s", err);
		return EX_UNAVAILABLE;
	}
	if (rc == 0) {
		if (c->partitions == 0) {
			kp_err("topic '%s' does not exist: give -n PARTITIONS "
			    "to create it", c->to);
			create_hint(c, 0);
			return EX_CONFIG;
		}
		if (create_topic(r->pk, c->to, c->partitions, err,
		    sizeof(err)) < 0) {
			kp_err("cannot create topic '%s': %s", c->to, err);
			create_hint(c, c->partitions);
			return EX_CONFIG;
		}
		kp_info("created topic '%s' with %d partitions", c->to,
		    (int)c->partitions);
		/* wait for the new topic to show in metadata */
		for (i = 0; i < 50 && rc == 0; i++) {
			if ((rc = topic_lookup(r->pk, c->to, &cnt, err,
			    sizeof(err))) < 0) {
				kp_err("%s", err);
				return EX_UNAVAILABLE;
			}
			if (rc == 0)
				usleep(100000);
		}
		if (rc == 0) {
			kp_err("topic '%s' was created but is not in metadata",
			    c->to);
			return EX_UNAVAILABLE;
		}
	}
	if (c->partitions > cnt) {
		kp_err("topic '%s' has %d partitions, fewer than -n %d",
		    c->to, (int)cnt, (int)c->partitions);
		return EX_CONFIG;
	}
	if (c->partitions && c->partitions < cnt) {
		kp_warn("topic '%s' has %d partitions: using only the first %d "
		    "(-n)", c->to, (int)cnt, (int)c->partitions);
		cnt = c->partitions;
	}
	r->cnt = cnt;
	kp_info("writing to topic '%s': %d partition%s, partitioner %s",
	    c->to, (int)cnt, cnt == 1 ? "" : "s", kp_partitioner_name(c->part));
	return 0;
}

/* Check that every comma-separated input topic exists (without making
 * the broker auto-create it).  Returns 0 or an exit code. */
static int
input_topics(rd_kafka_t *rk, const char *topics)
{
	char *all = kp_xstrdup(topics), *tok, *save = NULL, err[512];
	int32_t cnt;
	int rc = 0, f;

	for (tok = strtok_r(all, ",", &save); tok && !rc;
	    tok = strtok_r(NULL, ",", &save)) {
		if ((f = topic_lookup(rk, tok, &cnt, err, sizeof(err))) < 0) {
			kp_err("%s", err);
			rc = EX_UNAVAILABLE;
		} else if (f == 0) {
			kp_err("topic '%s' does not exist", tok);
			rc = EX_CONFIG;
		}
	}
	free(all);
	return rc;
}

/* librdkafka's log, as kp_kconf_build() routes it, except that -X
 * properties go to both the producer and the consumer, so that the
 * warning that one of them ignores a property of the other is noise:
 * it becomes a debug message. */
static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	int l = level <= 3 ? KP_LOG_ERR : level <= 4 ? KP_LOG_WARN :
	    level <= 6 ? KP_LOG_INFO : KP_LOG_DEBUG;

	(void)rk;
	if (!strcmp(fac, "CONFWARN") && (strstr(buf, "ignored by this producer") ||
	    strstr(buf, "ignored by this consumer")))
		l = KP_LOG_DEBUG;
	KP_LOG(l, "librdkafka %s: %s", fac, buf);
}

/* ---- in-flight input offsets ---- */

static struct inpart *
inpart_get(struct run *r, const char *topic, int32_t partition)
{
	struct inpart *ip = r->last_ip;

	/* messages come in runs from one partition */
	if (ip && ip->partition == partition && !strcmp(ip->topic, topic))
		return ip;
	for (ip = r->parts; ip; ip = ip->link)
		if (ip->partition == partition && !strcmp(ip->topic, topic))
			return r->last_ip = ip;
	ip = kp_xcalloc(1, sizeof(*ip));
	ip->topic = kp_xstrdup(topic);
	ip->partition = partition;
	ip->read = ip->marked = ip->store = -1;
	ip->link = r->parts;
	r->parts = ip;
	return r->last_ip = ip;
}

/* Store the marks of completed batches, from the oldest on; a failed
 * batch stays at the front for good. */
static void
batch_advance(struct run *r)
{
	struct batch *b;
	size_t i;

	while ((b = r->bhead) != NULL && b->closed && b->pending == 0 &&
	    !b->failed) {
		for (i = 0; i < b->nmarks; i++) {
			b->marks[i].ip->store = b->marks[i].next;
			r->dirty = 1;
		}
		if ((r->bhead = b->next) == NULL)
			r->btail = NULL;
		b->next = r->bfree;
		r->bfree = b;
	}
}

/* The open batch, begun when there is none. */
static struct batch *
batch_open(struct run *r)
{
	struct batch *b = r->btail;

	if (b && !b->closed)
		return b;
	if ((b = r->bfree) != NULL)
		r->bfree = b->next;
	else
		b = kp_xcalloc(1, sizeof(*b));
	b->pending = b->nrec = 0;
	b->closed = b->failed = 0;
	b->nmarks = 0;
	b->next = NULL;
	if (r->btail)
		r->btail->next = b;
	else
		r->bhead = b;
	r->btail = b;
	r->batch_t0 = kp_mono_ms();
	return b;
}

/* Close the open batch (if any: else one that only marks offsets, such
 * as those of dead letters), noting where each input partition was
 * read to. */
static void
batch_close(struct run *r)
{
	struct inpart *ip;
	struct batch *b = NULL;

	for (ip = r->parts; ip; ip = ip->link) {
		if (!ip->assigned || ip->read <= ip->marked)
			continue;
		if (b == NULL)
			b = batch_open(r);
		if (b->nmarks == b->marks_size) {
			b->marks_size = b->marks_size ? 2 * b->marks_size : 8;
			b->marks = kp_xrealloc(b->marks, b->marks_size *
			    sizeof(*b->marks));
		}
		b->marks[b->nmarks].ip = ip;
		b->marks[b->nmarks++].next = ip->read;
		ip->marked = ip->read;
	}
	if (r->btail && !r->btail->closed)
		r->btail->closed = 1;
	batch_advance(r);
}

static void
batches_free(struct run *r)
{
	struct batch *b;
	int i;

	for (i = 0; i < 2; i++) {
		while ((b = i ? r->bfree : r->bhead) != NULL) {
			if (i)
				r->bfree = b->next;
			else
				r->bhead = b->next;
			free(b->marks);
			free(b);
		}
	}
	r->btail = NULL;
}

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct run *r = opaque;
	struct batch *b = m->_private;

	(void)rk;
	if (kp_dlq_is_letter(r->dlq, m->_private)) {
		/* a dead letter in the transaction: one that failed makes
		 * the commit fail, and the transaction aborts */
		if (m->err && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
		    m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
			kp_info("cannot deliver a dead letter to topic '%s': %s",
			    rd_kafka_topic_name(m->rkt),
			    rd_kafka_err2str(m->err));
		return;
	}
	if (m->err && r->txn) {
		/* the transaction cannot commit now: it aborts, and the
		 * records are read and sent again */
		if (m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
		    m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
			kp_info("cannot deliver to topic '%s' partition %d: %s",
			    rd_kafka_topic_name(m->rkt), (int)m->partition,
			    rd_kafka_err2str(m->err));
		return;
	}
	if (m->err) {
		if (r->nfailed++ == 0) {
			r->first_err = m->err;
			kp_err("cannot deliver to topic '%s' partition %d: %s",
			    rd_kafka_topic_name(m->rkt), (int)m->partition,
			    rd_kafka_err2str(m->err));
		}
		if (b) {
			b->failed = 1;
			b->pending--;
		}
		return;
	}
	r->ndelivered++;
	if (b && --b->pending == 0 && b->closed)
		batch_advance(r);
}

/* Store the offsets of delivered records (librdkafka commits them). */
static void
store_delivered(struct run *r)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;
	struct inpart *ip;

	if (!r->dirty || r->rk == NULL)
		return;
	l = rd_kafka_topic_partition_list_new(8);
	for (ip = r->parts; ip; ip = ip->link)
		if (ip->assigned && ip->store >= 0)
			rd_kafka_topic_partition_list_add(l, ip->topic,
			    ip->partition)->offset = ip->store;
	if (l->cnt && (err = rd_kafka_offsets_store(r->rk, l)))
		kp_warn("cannot store offsets: %s", rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(l);
	r->dirty = 0;
	r->last_store = kp_mono_ms();
}

/* Wait for every delivery report.  Retries end by message.timeout.ms,
 * so this ends; a second signal exits at once. */
static void
flush_producer(struct run *r)
{
	while (rd_kafka_flush(r->pk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
		kp_info("waiting for %d deliveries", rd_kafka_outq_len(r->pk));
}

/* Produce rec to the partition the partitioner picks, counted in batch
 * b (or NULL), which comes back in its delivery report.  The producer
 * is polled for delivery reports every 64 records, not for each. */
static int
send_rec(struct run *r, struct kp_record *rec, struct batch *b)
{
	rd_kafka_resp_err_t err;
	int32_t p = partition_of(r, rec);

	if (b) {
		b->pending++;
		b->nrec++;
	}
	err = kp_record_produce(r->pk, r->c->to, p, rec, KP_VF_JSON, b);
	if (err) {
		if (!kp_stop) {
			kp_err("cannot produce to topic '%s' partition %d: %s",
			    r->c->to, (int)p, rd_kafka_err2str(err));
			r->exit_code = kp_kafka_exit_code(err);
		}
		if (b) {
			b->pending--;
			b->failed = 1;
		}
		return -1;
	}
	if ((++r->nsent & 63) == 0)
		rd_kafka_poll(r->pk, 0);
	return 0;
}

static int
file_emit(struct run *r, struct kp_record *rec)
{
	if (r->nfailed)
		return -1;
	return send_rec(r, rec, NULL);
}

/* ---- --exactly-once ---- */

/* An aborted transaction rewound partition/topic: it is not at its end
 * any more. */
static void
eos_rewound(void *opaque, const char *topic, int32_t partition, int64_t offset)
{
	struct run *r = opaque;
	struct inpart *ip = inpart_get(r, topic, partition);

	kp_info("topic '%s' partition %d: reading again from offset %lld",
	    topic, (int)partition, (long long)offset);
	if (ip->assigned && ip->at_end) {
		ip->at_end = 0;
		r->live++;
	}
}

static enum kp_txn_status
eos_commit(struct run *r)
{
	return kp_txn_commit_logged(r->txn, &r->exit_code);
}

static enum kp_txn_status
eos_abort(struct run *r, const char *why)
{
	return kp_txn_abort_logged(r->txn, why, &r->exit_code);
}

/* Produce rec in the open transaction; on an error the transaction
 * aborts (the record is read again). */
static void
eos_send(struct run *r, struct kp_record *rec, rd_kafka_message_t *m)
{
	rd_kafka_resp_err_t err;
	int32_t p = partition_of(r, rec);
	char why[512];

	err = kp_record_produce(r->pk, r->c->to, p, rec, KP_VF_JSON, NULL);
	if (err) {
		if (kp_stop)
			return;
		snprintf(why, sizeof(why), "cannot produce to topic '%s' "
		    "partition %d: %s", r->c->to, (int)p, rd_kafka_err2str(err));
		/* mark it, so that the abort rewinds its partition to it even
		 * when it is the partition's first record in the transaction
		 * (the consumer has already moved past it) */
		kp_txn_processed(r->txn, rd_kafka_topic_name(m->rkt),
		    m->partition, m->offset);
		eos_abort(r, why);
		return;
	}
	r->nsent++;
	kp_txn_produced(r->txn, 1);
	kp_txn_processed(r->txn, rd_kafka_topic_name(m->rkt), m->partition,
	    m->offset);
	rd_kafka_poll(r->pk, 0);
}

/* ---- --from: the consumer group ---- */

static void
rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct run *r = opaque;
	struct inpart *ip;
	int i;

	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		for (i = 0; i < parts->cnt; i++) {
			ip = inpart_get(r, parts->elems[i].topic,
			    parts->elems[i].partition);
			ip->assigned = 1;
			ip->at_end = 0;
			ip->read = ip->marked = ip->store = -1;
			r->live++;
		}
		r->ever_assigned = 1;
		rd_kafka_assign(rk, parts);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		/* deliver and commit what was read before giving it away */
		if (r->txn) {
			if (rd_kafka_assignment_lost(rk))
				eos_abort(r, "the assignment was lost");
			else
				eos_commit(r);
			kp_txn_forget(r->txn, parts);
		} else {
			flush_producer(r);
			batch_close(r);
			store_delivered(r);
			rd_kafka_commit(rk, NULL, 0);
		}
		for (i = 0; i < parts->cnt; i++) {
			ip = inpart_get(r, parts->elems[i].topic,
			    parts->elems[i].partition);
			if (ip->assigned && !ip->at_end)
				r->live--;
			ip->assigned = 0;
		}
		rd_kafka_assign(rk, NULL);
		break;
	default:
		kp_err("rebalance error: %s", rd_kafka_err2str(err));
		rd_kafka_assign(rk, NULL);
		break;
	}
}

/* ---- the fast path (kp_json_field, json.h) ---- */

/* A fast path for the -k paths of c under format fmt, or NULL. */
static struct kp_json_field *
fast_new(const struct conf *c, enum kp_format fmt)
{
	if (c->nkeys != 1 || c->keys[0].root != KP_ROOT_VALUE ||
	    c->keys[0].nsteps != 1 || c->keys[0].steps[0].name == NULL ||
	    (fmt != KP_FMT_AUTO && fmt != KP_FMT_JSON))
		return NULL;
	return kp_json_field_new(c->keys[0].steps[0].name,
	    c->keys[0].steps[0].name_len);
}

static void
consume_one(struct run *r, rd_kafka_message_t *m, enum kp_format fmt)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	struct inpart *ip = inpart_get(r, topic, m->partition);
	char err[512];
	const char *fk;
	size_t fkn;

	r->nread++;
	if (r->fast && m->payload && kp_json_field_get(r->fast, m->payload,
	    m->len, &fk, &fkn)) {
		kp_record_from_message(&r->rec, m, KP_FMT_RAW, r->jp, err,
		    sizeof(err));
		kp_record_set_key(&r->rec, fk, fkn);
		note_key(r, &r->rec);
		goto send;
	}
	if (kp_record_from_message(&r->rec, m, fmt, r->jp, err,
	    sizeof(err)) < 0 || (r->c->nkeys && key_missing(r, &r->rec, err,
	    sizeof(err)))) {
		if (bad_record(r, &r->rec, m->payload, m->len, err) < 0)
			return;
		if (r->txn)
			kp_txn_processed(r->txn, topic, m->partition, m->offset);
		/* dealt with: the next mark may pass it */
		ip->read = m->offset + 1;
		return;
	}
	if (r->c->nkeys)
		kp_record_apply_key(&r->rec, r->c->keys, r->c->nkeys);
	note_key(r, &r->rec);
	/* the value leaves as it came, byte for byte */
	if (r->rec.vtype == KP_VALUE_MSGPACK)
		kp_record_set_value(&r->rec, KP_VALUE_BYTES, m->payload, m->len);
send:
	if (r->txn)
		eos_send(r, &r->rec, m);
	else if (send_rec(r, &r->rec, batch_open(r)) == 0)
		ip->read = m->offset + 1;
}

static int
consume(struct run *r)
{
	struct conf *c = r->c;
	enum kp_format fmt = topic_format(c);
	char *topics = kp_xstrdup(c->from), *tok, *save = NULL;
	rd_kafka_topic_partition_list_t *t;
	rd_kafka_message_t *m;
	rd_kafka_resp_err_t err;
	unsigned tick = 0;

	r->fast = fast_new(c, fmt);
	t = rd_kafka_topic_partition_list_new(1);
	for (tok = strtok_r(topics, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save))
		rd_kafka_topic_partition_list_add(t, tok, RD_KAFKA_PARTITION_UA);
	free(topics);
	err = rd_kafka_subscribe(r->rk, t);
	rd_kafka_topic_partition_list_destroy(t);
	if (err) {
		kp_err("cannot subscribe to '%s': %s", c->from,
		    rd_kafka_err2str(err));
		return EX_CONFIG;
	}
	while (!kp_stop && !r->exit_code && !r->nfailed) {
		if (c->exit_eof && r->ever_assigned && r->live == 0) {
			/* with transactions, the last one must commit (an
			 * abort reads its records again) */
			if (r->txn == NULL || eos_commit(r) != KP_TXN_ABORTED)
				break;
			continue;
		}
		if (r->txn && kp_txn_due(r->txn))
			eos_commit(r);
		m = rd_kafka_consumer_poll(r->rk, r->txn &&
		    kp_txn_pending(r->txn) ? 10 : 100);
		if (m == NULL) {
			/* idle: serve delivery reports, commit what is done */
			rd_kafka_poll(r->pk, 0);
			batch_close(r);
			store_delivered(r);
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			struct inpart *ip = inpart_get(r,
			    rd_kafka_topic_name(m->rkt), m->partition);

			if (ip->assigned && !ip->at_end) {
				ip->at_end = 1;
				r->live--;
				kp_info("reached end of topic '%s' partition %d",
				    ip->topic, (int)ip->partition);
			}
		} else if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
		    m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
		    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
			kp_err("%s", rd_kafka_message_errstr(m));
			r->exit_code = EX_CONFIG;
		} else if (m->err) {
			kp_warn("%s", rd_kafka_message_errstr(m));
		} else {
			consume_one(r, m, fmt);
		}
		rd_kafka_message_destroy(m);
		/* the clock is read every 256 messages, not for each */
		if (r->btail && !r->btail->closed &&
		    r->btail->nrec >= BATCH_MAX)
			batch_close(r);
		if ((++tick & 255) == 0) {
			int64_t now = kp_mono_ms();

			if (r->btail && !r->btail->closed &&
			    now - r->batch_t0 >= BATCH_MS)
				batch_close(r);
			if (r->dirty && now - r->last_store >= 100)
				store_delivered(r);
		}
	}
	return 0;
}

/* ---- --to ---- */

static int
run_to(struct run *r)
{
	static const char *const pdefaults[] = {
		"enable.idempotence", "true",
		NULL
	};
	/* The prefetch queue is what drives krepart's memory.  librdkafka
	 * 2.0.2 stops fetching when it is over queued.min.messages or
	 * queued.max.messages.kbytes, and looks again only up to 1 s later
	 * (fetch.queue.backoff.ms came in 2.1): a small queue stalls.  So
	 * the count limit is lifted (librdkafka's 100000 stalls on kmock:
	 * 1M small records 2.4x slower) and the byte limit does the
	 * bounding.  Repartitioning 1M records of 110 B on kmock (scripts/
	 * bench, row 5; 3 s of it is the group's first join): 64 MB
	 * (librdkafka's) 4.3 s and 305 MB peak RSS, 32 MB 4.7 s and 245 MB,
	 * 16 MB 5.7 s and 130 MB. */
	static const char *const cdefaults[] = {
		"enable.partition.eof", "true",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		"queued.min.messages", "1000000",
		"queued.max.messages.kbytes", "32768",
		NULL
	};
	struct conf *c = r->c;
	struct kp_txn_opts to = {
		.group = c->group, .program = "krepart",
		.interval_ms = c->commit_ms, .max_aborts = KP_TXN_MAX_ABORTS,
		.rewound = eos_rewound, .opaque = r,
	};
	rd_kafka_conf_t *conf;
	char err[512], ms[32];
	int rc = 0, wedged;

	if ((conf = kp_kconf_build(&c->kc, pdefaults, err,
	    sizeof(err))) == NULL) {
		kp_err("%s", err);
		return EX_CONFIG;
	}
	if (c->eos && ((r->txn = kp_txn_new(&to, err, sizeof(err))) == NULL ||
	    kp_txn_producer_conf(r->txn, conf, err, sizeof(err)) < 0)) {
		kp_err("%s", err);
		rd_kafka_conf_destroy(conf);
		return EX_CONFIG;
	}
	rd_kafka_conf_set_opaque(conf, r);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	if ((r->pk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create producer: %s", err);
		return EX_CONFIG;
	}
	if ((rc = output_topic(r)) != 0)
		goto out;
	/* under --exactly-once, a dead-letter topic is written by the
	 * transactional producer, in the transaction */
	if (c->dlq_path && (r->dlq = kp_dlq_open(c->dlq_path, &c->kc,
	    r->txn ? r->pk : NULL, "krepart", err, sizeof(err), &rc)) == NULL) {
		kp_err("%s", err);
		goto out;
	}
	if (c->from) {
		if ((conf = kp_kconf_build(&c->kc, cdefaults, err,
		    sizeof(err))) == NULL) {
			kp_err("%s", err);
			rc = EX_CONFIG;
			goto out;
		}
		snprintf(ms, sizeof(ms), "%lld", (long long)c->commit_ms);
		if (rd_kafka_conf_set(conf, "group.id", c->group, err,
		    sizeof(err)) != RD_KAFKA_CONF_OK ||
		    (r->txn && kp_txn_consumer_conf(conf, err,
		    sizeof(err)) < 0) || (!r->txn && c->commit_ms &&
		    rd_kafka_conf_set(conf, "auto.commit.interval.ms", ms, err,
		    sizeof(err)) != RD_KAFKA_CONF_OK)) {
			kp_err("%s", err);
			rd_kafka_conf_destroy(conf);
			rc = EX_CONFIG;
			goto out;
		}
		rd_kafka_conf_set_opaque(conf, r);
		rd_kafka_conf_set_log_cb(conf, log_cb);
		rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
		if ((r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err,
		    sizeof(err))) == NULL) {
			kp_err("cannot create consumer: %s", err);
			rc = EX_CONFIG;
			goto out;
		}
		rd_kafka_poll_set_consumer(r->rk);
		if ((rc = input_topics(r->rk, c->from)) == 0 && r->txn &&
		    kp_txn_start(r->txn, r->pk, r->rk, err, sizeof(err)) < 0) {
			kp_err("%s", err);
			rc = kp_txn_exit_code(r->txn);
		} else if (rc == 0) {
			if (r->txn)
				kp_info("transactional id '%s'",
				    kp_txn_id(r->txn));
			rc = consume(r);
		}
		/* orderly stop: deliver, store, commit, leave the group */
		if (r->txn) {
			if (!r->exit_code && !rc)
				eos_commit(r);
		} else {
			flush_producer(r);
			batch_close(r);
			store_delivered(r);
			rd_kafka_commit(r->rk, NULL, 0);
		}
		rd_kafka_consumer_close(r->rk);
		rd_kafka_destroy(r->rk);
		r->rk = NULL;
	} else {
		read_files(r, file_emit);
		flush_producer(r);
	}
	if (r->nfailed) {
		kp_err("%llu of %llu records could not be delivered to topic "
		    "'%s' (first error: %s)%s", r->nfailed, r->nsent, c->to,
		    rd_kafka_err2str(r->first_err), c->from ?
		    "; their input offsets were not committed" : "");
		if (!r->exit_code)
			r->exit_code = EX_TEMPFAIL;
	}
	kp_info("read %llu records, wrote %llu to topic '%s' (%d partition%s, "
	    "%s), %llu with a null key, %lu dead letters", r->nread,
	    r->ndelivered, c->to, (int)r->cnt, r->cnt == 1 ? "" : "s",
	    kp_partitioner_name(c->part), r->nnull, kp_dlq_count(r->dlq));
	if (r->txn) {
		struct kp_txn_stats st;

		kp_txn_get_stats(r->txn, &st);
		kp_info("transactions: %lu committed (%lu records in, %lu out), "
		    "%lu aborted (%lu records in, %lu out, read again)",
		    st.commits, st.in_committed, st.out_committed, st.aborts,
		    st.in_aborted, st.out_aborted);
	}
out:
	/* a producer whose call never came back is left to the exit */
	wedged = kp_txn_wedged(r->txn);
	kp_txn_free(r->txn);
	r->txn = NULL;
	if (!wedged)
		rd_kafka_destroy(r->pk);
	return rc ? rc : r->exit_code;
}

/* ---- --check ---- */

struct check_part {
	int32_t	partition;
	int64_t	stop;		/* high watermark at start */
	int	done;
};

static int
check_assign(struct run *r, struct check_part **cpp, int *live)
{
	rd_kafka_topic_partition_list_t *l;
	struct check_part *cp;
	rd_kafka_resp_err_t e;
	int64_t lo, hi;
	int32_t i;

	cp = kp_xcalloc((size_t)r->cnt, sizeof(*cp));
	*cpp = cp;
	l = rd_kafka_topic_partition_list_new(r->cnt);
	for (i = 0; i < r->cnt; i++) {
		if ((e = rd_kafka_query_watermark_offsets(r->rk, r->c->check, i,
		    &lo, &hi, MD_TIMEOUT_MS))) {
			kp_err("cannot get end offsets of topic '%s' partition "
			    "%d: %s", r->c->check, (int)i, rd_kafka_err2str(e));
			rd_kafka_topic_partition_list_destroy(l);
			return EX_UNAVAILABLE;
		}
		cp[i].partition = i;
		cp[i].stop = hi;
		cp[i].done = lo >= hi;
		if (!cp[i].done) {
			rd_kafka_topic_partition_list_add(l, r->c->check,
			    i)->offset = RD_KAFKA_OFFSET_BEGINNING;
			(*live)++;
		}
	}
	e = rd_kafka_assign(r->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		kp_err("cannot assign partitions: %s", rd_kafka_err2str(e));
		return EX_SOFTWARE;
	}
	return 0;
}

static int
run_check(struct run *r)
{
	static const char *const defaults[] = {
		"enable.partition.eof", "false",
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		"group.id", "kpipe-krepart-check",
		NULL
	};
	struct conf *c = r->c;
	enum kp_format fmt = topic_format(c);
	struct check_part *cp = NULL;
	unsigned long long nbad = 0, nrandom = 0, nchecked = 0, nundec = 0;
	rd_kafka_conf_t *conf;
	rd_kafka_message_t *m;
	char err[512], where[256];
	int live = 0, rc, f;

	if ((conf = kp_kconf_build(&c->kc, defaults, err,
	    sizeof(err))) == NULL) {
		kp_err("%s", err);
		return EX_CONFIG;
	}
	rd_kafka_conf_set_opaque(conf, r);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	if ((r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create consumer: %s", err);
		return EX_CONFIG;
	}
	rd_kafka_poll_set_consumer(r->rk);
	if ((f = topic_lookup(r->rk, c->check, &r->cnt, err,
	    sizeof(err))) <= 0) {
		if (f < 0)
			kp_err("%s", err);
		else
			kp_err("topic '%s' does not exist", c->check);
		rc = f < 0 ? EX_UNAVAILABLE : EX_CONFIG;
		goto out;
	}
	if ((rc = check_assign(r, &cp, &live)) != 0)
		goto out;
	while (live > 0 && !kp_stop && !r->exit_code) {
		struct check_part *p;
		int32_t want;

		if ((m = rd_kafka_consumer_poll(r->rk, 100)) == NULL)
			continue;
		if (m->err) {
			kp_warn("%s", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		p = m->partition >= 0 && m->partition < r->cnt ?
		    &cp[m->partition] : NULL;
		if (p == NULL || p->done || m->offset >= p->stop) {
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->offset + 1 >= p->stop) {
			p->done = 1;
			live--;
		}
		r->nread++;
		if (kp_record_from_message(&r->rec, m, fmt, r->jp, err,
		    sizeof(err)) < 0) {
			kp_warn("%s: %s (not checked)", kp_record_where(&r->rec,
			    where, sizeof(where)), err);
			nundec++;
			rd_kafka_message_destroy(m);
			continue;
		}
		if (c->nkeys)
			kp_record_apply_key(&r->rec, c->keys, c->nkeys);
		note_key(r, &r->rec);
		if (is_random(c->part, &r->rec)) {
			nrandom++;
		} else {
			nchecked++;
			if ((want = partition_of(r, &r->rec)) != m->partition) {
				nbad++;
				kp_buf_printf(&r->out, "%s/%d/%lld ", c->check,
				    (int)m->partition, (long long)m->offset);
				key_text(&r->out, &r->rec);
				kp_buf_printf(&r->out, " expected=%d\n",
				    (int)want);
				if (r->out.len >= OUTBUF_MAX && out_flush(r) < 0)
					live = 0;
			}
		}
		rd_kafka_message_destroy(m);
	}
	if (r->out.len)
		out_flush(r);
	if (!kp_stop && !r->exit_code) {
		fprintf(stderr, "krepart: topic '%s' (%d partition%s), "
		    "partitioner %s: %llu records, %llu checked, %llu on the "
		    "wrong partition", c->check, (int)r->cnt,
		    r->cnt == 1 ? "" : "s", kp_partitioner_name(c->part),
		    r->nread, nchecked, nbad);
		if (nrandom)
			fprintf(stderr, ", %llu with a random partition "
			    "(not checked)", nrandom);
		if (nundec)
			fprintf(stderr, ", %llu undecodable (not checked)",
			    nundec);
		fputc('\n', stderr);
	}
	if (!r->exit_code && !kp_stop)
		r->exit_code = nbad ? 1 : nundec ? EX_DATAERR : 0;
out:
	free(cp);
	rd_kafka_consumer_close(r->rk);
	rd_kafka_destroy(r->rk);
	r->rk = NULL;
	return rc ? rc : r->exit_code;
}

static void
free_parts(struct run *r)
{
	struct inpart *ip;

	while ((ip = r->parts) != NULL) {
		r->parts = ip->link;
		free(ip->topic);
		free(ip);
	}
	batches_free(r);
	kp_json_field_free(r->fast);
	r->fast = NULL;
}

/* ---- options ---- */

/* Is topic one of the comma-separated names in list? */
static int
names_topic(const char *list, const char *topic)
{
	size_t n = strlen(topic);
	const char *p = list, *e;

	for (;;) {
		e = strchr(p, ',');
		if ((e ? (size_t)(e - p) : strlen(p)) == n && !strncmp(p, topic, n))
			return 1;
		if (e == NULL)
			return 0;
		p = e + 1;
	}
}

static int
parse_args(int argc, char **argv, struct conf *c)
{
	enum {
		OPT_CHECK = 256, OPT_COMMIT_INTERVAL, OPT_DLQ, OPT_DRY_RUN,
		OPT_EXACTLY_ONCE, OPT_PARTITIONER, OPT_SEED, OPT_TO
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
		{ "key", required_argument, NULL, 'k' },
		{ "partitions", required_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "topic", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "check", required_argument, NULL, OPT_CHECK },
		{ "commit-interval", required_argument, NULL,
		    OPT_COMMIT_INTERVAL },
		{ "dlq", required_argument, NULL, OPT_DLQ },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "exactly-once", no_argument, NULL, OPT_EXACTLY_ONCE },
		{ "partitioner", required_argument, NULL, OPT_PARTITIONER },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "to", required_argument, NULL, OPT_TO },
		{ NULL, 0, NULL, 0 }
	};
	char err[512];
	const char *e;
	long long v;
	int ch, modes;

	while ((ch = getopt_long(argc, argv, "b:d:eF:G:hI:k:n:qt:VvX:",
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
			c->in_set = 1;
			break;
		case 'k':
			if (c->keys) {
				kp_err("give -k once (a comma list for a "
				    "composite key)");
				return EX_USAGE;
			}
			if (kp_path_parse_list(optarg, &c->keys, &c->nkeys, err,
			    sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_USAGE;
			}
			break;
		case 'n':
			if (kp_strtonum(optarg, 1, INT32_MAX, &v, &e) < 0) {
				kp_err("partition count '%s' is %s", optarg, e);
				return EX_USAGE;
			}
			c->partitions = (int32_t)v;
			break;
		case 'q':
			kp_log_level = KP_LOG_ERR;
			break;
		case 't':
			c->from = optarg;
			break;
		case 'V':
			printf("krepart (kpipe) %s, librdkafka %s\n", KP_VERSION,
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
		case OPT_CHECK:
			c->check = optarg;
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
			c->dlq_path = optarg;
			break;
		case OPT_DRY_RUN:
			c->dry_run = 1;
			break;
		case OPT_EXACTLY_ONCE:
			c->eos = 1;
			break;
		case OPT_PARTITIONER:
			if (kp_partitioner_parse(optarg, &c->part) < 0) {
				kp_err("unknown partitioner '%s' (murmur2, "
				    "murmur2_random, consistent, "
				    "consistent_random, fnv1a, fnv1a_random, "
				    "random)", optarg);
				return EX_USAGE;
			}
			break;
		case OPT_SEED:
			if (kp_strtonum(optarg, 0, UINT32_MAX, &v, &e) < 0) {
				kp_err("seed '%s' is %s", optarg, e);
				return EX_USAGE;
			}
			c->seed = (uint32_t)v;
			c->seed_set = 1;
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

	modes = !!c->to + !!c->check + c->dry_run;
	if (modes != 1) {
		kp_err(modes ? "give only one of --to, --dry-run and --check" :
		    "give --to TOPIC, --dry-run or --check TOPIC");
		usage(EX_USAGE);
	}
	if ((c->eos || c->commit_ms) && !c->to) {
		kp_err("--exactly-once and --commit-interval go with --from "
		    "and --to");
		return EX_USAGE;
	}
	if (c->dry_run) {
		if (c->partitions == 0) {
			kp_err("--dry-run needs -n PARTITIONS");
			return EX_USAGE;
		}
		if (c->from || c->group || c->exit_eof || c->seed_set) {
			kp_err("--dry-run reads files or stdin: --from, -G, -e "
			    "and --seed do not apply");
			return EX_USAGE;
		}
		return 0;
	}
	if (!kp_kconf_has_brokers(&c->kc)) {
		kp_err("no brokers: give -b, or set KPIPE_BROKERS");
		return EX_USAGE;
	}
	if (c->check) {
		if (c->nfiles || c->from || c->group || c->partitions ||
		    c->dlq_path || c->seed_set) {
			kp_err("--check reads the topic it names: files, --from, "
			    "-G, -n, --dlq and --seed do not apply");
			return EX_USAGE;
		}
		return 0;
	}
	if (c->from && c->nfiles) {
		kp_err("give --from TOPIC or files, not both");
		return EX_USAGE;
	}
	if (!!c->from != !!c->group) {
		kp_err("--from and -G go together: the group commits what was "
		    "delivered");
		return EX_USAGE;
	}
	if (c->exit_eof && !c->from) {
		kp_err("-e needs --from TOPIC");
		return EX_USAGE;
	}
	if ((c->eos || c->commit_ms) && !c->from) {
		kp_err("--exactly-once and --commit-interval need --from TOPIC: "
		    "a transaction commits the input offsets with the output");
		return EX_USAGE;
	}
	if (c->from && names_topic(c->from, c->to)) {
		kp_err("--from and --to both name '%s': krepart would read "
		    "its own output", c->to);
		return EX_USAGE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct conf c = {
		.part = KP_PART_MURMUR2,
		.in = KP_FMT_AUTO,
	};
	struct run r = { .c = &c };
	char err[512];
	size_t i;
	int rc;

	kp_log_init("krepart");
	if ((rc = parse_args(argc, argv, &c)) != 0)
		goto done;
	kp_signals_install();
	r.rand = c.seed_set ? c.seed : (uint32_t)kp_now_ms() ^
	    ((uint32_t)getpid() << 16);
	kp_record_init(&r.rec);
	r.jp = kp_json_parser_new();
	/* --dry-run writes nothing to Kafka: its dead letters go to a file */
	if (c.dry_run && c.dlq_path && (r.dlq = kp_dlq_open_file(c.dlq_path,
	    "krepart", err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		rc = EX_CANTCREAT;
	} else {
		rc = c.dry_run ? run_dry(&r) : c.check ? run_check(&r) :
		    run_to(&r);
	}
	if (kp_dlq_close(r.dlq) < 0 && !rc)
		rc = EX_IOERR;
	kp_json_parser_free(r.jp);
	kp_record_free(&r.rec);
	kp_buf_free(&r.out);
	free_parts(&r);
done:
	for (i = 0; i < c.nkeys; i++)
		kp_path_free(&c.keys[i]);
	free(c.keys);
	kp_kconf_free(&c.kc);
	return rc;
}
