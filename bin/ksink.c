/*
 * ksink - write records to Kafka, or to stdout or a file in a chosen
 * format (JSON envelopes, bare values, CSV, msgpack, raw, kcat-style
 * format strings).
 *
 * To Kafka it produces with the idempotent producer, keeps keys, headers
 * and timestamps, and checks every delivery report: it exits non-zero,
 * saying how many, when any record was not delivered.  The default
 * partitioner is murmur2_random, Java's and Kafka Streams' choice, so
 * that keys land where a Java producer would put them.
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
#include "db.h"
#include "dlq.h"
#include "kafka.h"
#include "log.h"
#include "partition.h"
#include "path.h"
#include "retry.h"
#include "util.h"

#define USAGE \
"usage: ksink [-qv] [-b brokers] [-d contexts] [-X prop=value] [-F file] -t topic\n" \
"             [-k path] [-p partition] [--partitioner name]\n" \
"             [--value-format json|msgpack|raw] [-I format] [--dlq file]\n" \
"             [file ...]\n" \
"       ksink [-qv] [-O format] [-f format] [--columns path,...]\n" \
"             [--no-header] [-k path] [-I format] [--dlq file]\n" \
"             [--output-file file] [file ...]\n" \
"       ksink [-qv] --sqlite file | --postgres conninfo --table name\n" \
"             [--columns name[=path],...] [--upsert-key name,...]\n" \
"             [--batch n] [--linger ms] [--retry-max n] [-k path]\n" \
"             [-I format] [--dlq file] [file ...]\n"

struct conf {
	struct kp_kconf		 kc;
	const char		*topic;
	int32_t			 partition;
	const char		*partitioner;
	enum kp_value_format	 vf;
	enum kp_format		 in, out;
	const char		*format;
	struct kp_path		*keys;
	size_t			 nkeys;
	const char		*columns_arg;
	struct kp_path		*columns;
	size_t			 ncolumns;
	enum kp_db_kind		 db_kind;
	const char		*db_target;
	const char		*table;
	const char		*upsert_key;
	long long		 batch;
	long long		 linger_ms;
	long long		 retry_max;
	int			 no_header;
	const char		*dlq_path;
	const char		*outfile;
	char			**files;
	int			 nfiles;
};

struct run {
	struct conf		*c;
	rd_kafka_t		*rk;
	struct kp_writer	*w;
	struct kp_dlq		*dlq;
	struct kp_db		*db;
	struct kp_retry		 retry;
	int64_t			 batch_start;
	unsigned long		 produced, delivered, failed;
	rd_kafka_resp_err_t	 last_err;
	int			 exit_code;
};

static void
usage(int code)
{
	fputs(USAGE, code ? stderr : stdout);
	exit(code);
}

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct run *r = opaque;

	(void)rk;
	if (m->err) {
		r->failed++;
		r->last_err = m->err;
		kp_err("record %lu not delivered to '%s': %s",
		    (unsigned long)(uintptr_t)m->_private,
		    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
	} else {
		r->delivered++;
	}
}

/* Write the buffered rows, retrying a database that is down or locked
 * with backoff: a blocking error, never a skipped row. */
static int
db_flush(struct run *r)
{
	char err[512];
	int64_t delay;
	int rc;

	while ((rc = kp_db_flush(r->db, err, sizeof(err))) == -2) {
		if (kp_retry_next(&r->retry, &delay) < 0) {
			kp_err("%s: giving up after %ld retries", err,
			    r->retry.attempt);
			r->exit_code = EX_TEMPFAIL;
			return -1;
		}
		kp_warn("%s (retry %ld in %lld ms)", err, r->retry.attempt,
		    (long long)delay);
		if (kp_retry_sleep(delay) < 0) {
			r->exit_code = EX_TEMPFAIL;
			return -1;
		}
	}
	if (rc < 0) {
		kp_err("%s", err);
		r->exit_code = EX_CONFIG;
		return -1;
	}
	kp_retry_reset(&r->retry);
	r->batch_start = kp_mono_ms();
	return 0;
}

static int
bad_row(struct run *r, struct kp_record *rec, const char *why)
{
	char where[256];

	kp_record_where(rec, where, sizeof(where));
	if (r->dlq) {
		struct kp_buf raw = {0};

		kp_value_json(&raw, rec);
		if (kp_dlq_write(r->dlq, rec, raw.data, raw.len, why) < 0) {
			kp_err("cannot write dead letter: %s", strerror(errno));
			r->exit_code = EX_IOERR;
		}
		kp_buf_free(&raw);
		return r->exit_code ? -1 : 0;
	}
	kp_err("%s: %s", where, why);
	r->exit_code = EX_DATAERR;
	return -1;
}

static int
sink(struct run *r, struct kp_record *rec)
{
	rd_kafka_resp_err_t err;
	char why[512];
	int rc;

	if (r->db) {
		if ((rc = kp_db_add(r->db, rec, why, sizeof(why))) == -1)
			return bad_row(r, rec, why);
		if (rc < 0) {
			kp_err("%s", why);
			r->exit_code = EX_CONFIG;
			return -1;
		}
		if ((long long)kp_db_pending(r->db) >= r->c->batch ||
		    kp_mono_ms() - r->batch_start >= r->c->linger_ms)
			return db_flush(r);
		return 0;
	}

	if (r->w) {
		if (kp_writer_write(r->w, rec) < 0) {
			if (errno != EPIPE)
				kp_err("cannot write output: %s", strerror(errno));
			r->exit_code = errno == EPIPE ? 0 : EX_IOERR;
			return -1;
		}
		return 0;
	}
	r->produced++;
	err = kp_record_produce(r->rk, r->c->topic, r->c->partition, rec,
	    r->c->vf, (void *)(uintptr_t)r->produced);
	if (err) {
		if (kp_stop)
			return -1;
		kp_err("cannot produce to '%s': %s", r->c->topic,
		    rd_kafka_err2str(err));
		r->exit_code = kp_kafka_exit_code(err);
		return -1;
	}
	rd_kafka_poll(r->rk, 0);
	return 0;
}

static int
read_all(struct run *r)
{
	struct conf *c = r->c;
	struct kp_reader_opts ro = {
		.fmt = c->in, .key_paths = c->keys, .nkey_paths = c->nkeys,
	};
	struct kp_record rec;
	char err[512], where[256];
	int i, nf = c->nfiles ? c->nfiles : 1;

	kp_record_init(&rec);
	for (i = 0; i < nf && !r->exit_code && !kp_stop; i++) {
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
			rc = kp_reader_next(rd, &rec, err, sizeof(err));
			if (rc == 0)
				break;
			if (rc == 1) {
				if (sink(r, &rec) < 0)
					break;
				continue;
			}
			if (rc == -2) {
				kp_err("'%s': %s", strcmp(name, "-") ? name :
				    "stdin", err);
				r->exit_code = EX_DATAERR;
				break;
			}
			kp_record_where(&rec, where, sizeof(where));
			if (r->dlq) {
				const void *raw;
				size_t n;

				kp_reader_raw(rd, &raw, &n);
				if (kp_dlq_write(r->dlq, &rec, raw, n, err) < 0) {
					kp_err("cannot write dead letter: %s",
					    strerror(errno));
					r->exit_code = EX_IOERR;
					break;
				}
				continue;
			}
			kp_err("%s: %s", where, err);
			r->exit_code = EX_DATAERR;
			break;
		}
		kp_reader_free(rd);
		if (fd > 0)
			close(fd);
	}
	kp_record_free(&rec);
	return r->exit_code;
}

static rd_kafka_t *
producer(struct run *r)
{
	struct conf *c = r->c;
	const char *const defaults[] = {
		"enable.idempotence", "true",
		"partitioner", c->partitioner,
		"linger.ms", "5",
		NULL
	};
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512];

	if ((conf = kp_kconf_build(&c->kc, defaults, err, sizeof(err))) == NULL) {
		kp_err("%s", err);
		r->exit_code = EX_CONFIG;
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, r);
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
	    sizeof(err))) == NULL) {
		kp_err("cannot create producer: %s", err);
		r->exit_code = EX_CONFIG;
	}
	return rk;
}

static int
run(struct conf *c)
{
	struct run r = { .c = c };
	char err[512];
	int fd = 1;

	if (c->dlq_path && (r.dlq = kp_dlq_open_file(c->dlq_path, "ksink", err,
	    sizeof(err))) == NULL) {
		kp_err("%s", err);
		return EX_CANTCREAT;
	}
	if (c->db_target) {
		struct kp_db_column *cols = NULL;
		size_t ncols = 0;

		if (c->columns_arg && kp_db_columns_parse(c->columns_arg, &cols,
		    &ncols, err, sizeof(err)) < 0) {
			kp_err("%s", err);
			return EX_USAGE;
		}
		r.db = kp_db_open(c->db_kind, c->db_target, c->table, cols,
		    ncols, c->upsert_key, err, sizeof(err));
		kp_db_columns_free(cols, ncols);
		if (r.db == NULL) {
			kp_err("%s", err);
			return EX_USAGE;
		}
		kp_retry_init(&r.retry, c->retry_max ? c->retry_max : -1, 100,
		    10000);
		r.batch_start = kp_mono_ms();
	} else if (c->topic) {
		if ((r.rk = producer(&r)) == NULL)
			return r.exit_code;
	} else {
		struct kp_writer_opts wo = {
			.fmt = c->out, .format = c->format,
			.columns = c->columns, .ncolumns = c->ncolumns,
			.no_header = c->no_header,
		};

		if (c->outfile && (fd = open(c->outfile,
		    O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
			kp_err("cannot open '%s': %s", c->outfile,
			    strerror(errno));
			return EX_CANTCREAT;
		}
		r.w = kp_writer_new(fd, &wo);
	}
	read_all(&r);
	if (r.db) {
		/* what was read in full is written, even after a bad record */
		if (kp_db_pending(r.db) && db_flush(&r) == 0)
			kp_info("rows written to table '%s'", c->table);
		kp_db_close(r.db);
	} else if (r.w) {
		if (kp_writer_flush(r.w) < 0 && errno != EPIPE && !r.exit_code) {
			kp_err("cannot write output: %s", strerror(errno));
			r.exit_code = EX_IOERR;
		}
		if (fd != 1 && close(fd) < 0 && !r.exit_code) {
			kp_err("cannot close '%s': %s", c->outfile,
			    strerror(errno));
			r.exit_code = EX_IOERR;
		}
		kp_writer_free(r.w);
	} else {
		/* wait for every delivery report; a second signal exits */
		while (rd_kafka_outq_len(r.rk) > 0)
			rd_kafka_flush(r.rk, 500);
		if (r.failed) {
			kp_err("%lu of %lu records not delivered", r.failed,
			    r.produced);
			if (!r.exit_code)
				r.exit_code = kp_kafka_exit_code(r.last_err);
		}
		kp_info("%lu records delivered to '%s'", r.delivered, c->topic);
		rd_kafka_destroy(r.rk);
	}
	if (kp_dlq_close(r.dlq) < 0 && !r.exit_code)
		r.exit_code = EX_IOERR;
	return r.exit_code;
}

static int
parse_args(int argc, char **argv, struct conf *c)
{
	enum { OPT_COLUMNS = 256, OPT_DLQ, OPT_NO_HEADER, OPT_OUTFILE,
	    OPT_PARTITIONER, OPT_VALUE_FORMAT, OPT_SQLITE, OPT_POSTGRES,
	    OPT_TABLE, OPT_UPSERT_KEY, OPT_BATCH, OPT_LINGER, OPT_RETRY_MAX };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "debug", required_argument, NULL, 'd' },
		{ "config-file", required_argument, NULL, 'F' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "input", required_argument, NULL, 'I' },
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'O' },
		{ "partition", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "to", required_argument, NULL, 't' },
		{ "topic", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "columns", required_argument, NULL, OPT_COLUMNS },
		{ "dlq", required_argument, NULL, OPT_DLQ },
		{ "no-header", no_argument, NULL, OPT_NO_HEADER },
		{ "output-file", required_argument, NULL, OPT_OUTFILE },
		{ "partitioner", required_argument, NULL, OPT_PARTITIONER },
		{ "value-format", required_argument, NULL, OPT_VALUE_FORMAT },
		{ "sqlite", required_argument, NULL, OPT_SQLITE },
		{ "postgres", required_argument, NULL, OPT_POSTGRES },
		{ "table", required_argument, NULL, OPT_TABLE },
		{ "upsert-key", required_argument, NULL, OPT_UPSERT_KEY },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "linger", required_argument, NULL, OPT_LINGER },
		{ "retry-max", required_argument, NULL, OPT_RETRY_MAX },
		{ NULL, 0, NULL, 0 }
	};
	enum kp_partitioner pt;
	char err[512];
	const char *e;
	long long v;
	int ch, out_set = 0;

	while ((ch = getopt_long(argc, argv, "b:d:F:f:hI:k:O:p:qt:VvX:",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			kp_kconf_brokers(&c->kc, optarg);
			break;
		case 'd':
			snprintf(err, sizeof(err), "debug=%s", optarg);
			kp_kconf_add(&c->kc, err, err, sizeof(err));
			break;
		case 'F':
			if (kp_kconf_file(&c->kc, optarg, err, sizeof(err)) < 0) {
				kp_err("%s", err);
				return EX_CONFIG;
			}
			break;
		case 'f':
			c->format = optarg;
			c->out = KP_FMT_FORMAT;
			out_set = 1;
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
			if (kp_format_parse_out(optarg, &c->out) < 0) {
				kp_err("unknown output format '%s' (kpipe, json, "
				    "value, raw, msgpack, csv)", optarg);
				return EX_USAGE;
			}
			out_set = 1;
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
			printf("ksink (kpipe) %s, librdkafka %s\n", KP_VERSION,
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
		case OPT_COLUMNS:
			c->columns_arg = optarg;
			break;
		case OPT_SQLITE:
		case OPT_POSTGRES:
			c->db_kind = ch == OPT_SQLITE ? KP_DB_SQLITE :
			    KP_DB_POSTGRES;
			c->db_target = optarg;
			break;
		case OPT_TABLE:
			c->table = optarg;
			break;
		case OPT_UPSERT_KEY:
			c->upsert_key = optarg;
			break;
		case OPT_BATCH:
		case OPT_LINGER:
		case OPT_RETRY_MAX:
			if (kp_strtonum(optarg, ch == OPT_BATCH ? 1 : 0,
			    INT32_MAX, &v, &e) < 0) {
				kp_err("%s '%s' is %s", ch == OPT_BATCH ? "batch" :
				    ch == OPT_LINGER ? "linger" : "retry-max",
				    optarg, e);
				return EX_USAGE;
			}
			if (ch == OPT_BATCH)
				c->batch = v;
			else if (ch == OPT_LINGER)
				c->linger_ms = v;
			else
				c->retry_max = v;
			break;
		case OPT_DLQ:
			c->dlq_path = optarg;
			break;
		case OPT_NO_HEADER:
			c->no_header = 1;
			break;
		case OPT_OUTFILE:
			c->outfile = optarg;
			break;
		case OPT_PARTITIONER:
			/* librdkafka implements the same names (and
			 * common/partition.c is tested against them) */
			if (kp_partitioner_parse(optarg, &pt) < 0) {
				kp_err("unknown partitioner '%s' (murmur2, "
				    "murmur2_random, consistent, consistent_random, "
				    "fnv1a, fnv1a_random, random)", optarg);
				return EX_USAGE;
			}
			c->partitioner = kp_partitioner_name(pt);
			break;
		case OPT_VALUE_FORMAT:
			if (!strcmp(optarg, "json"))
				c->vf = KP_VF_JSON;
			else if (!strcmp(optarg, "msgpack"))
				c->vf = KP_VF_MSGPACK;
			else if (!strcmp(optarg, "raw"))
				c->vf = KP_VF_RAW;
			else {
				kp_err("unknown value format '%s' (json, msgpack, "
				    "raw)", optarg);
				return EX_USAGE;
			}
			break;
		default:
			usage(EX_USAGE);
		}
	}
	c->files = argv + optind;
	c->nfiles = argc - optind;
	if (c->db_target && (c->topic || out_set || c->outfile)) {
		kp_err("--sqlite and --postgres write a table: no -t, -O, -f "
		    "or --output-file");
		return EX_USAGE;
	}
	if (c->db_target && c->table == NULL) {
		kp_err("--sqlite and --postgres need --table");
		return EX_USAGE;
	}
	if (c->table && !c->db_target) {
		kp_err("--table needs --sqlite or --postgres");
		return EX_USAGE;
	}
	if (c->db_target)
		return 0;
	if (c->columns_arg && kp_path_parse_list(c->columns_arg, &c->columns,
	    &c->ncolumns, err, sizeof(err)) < 0) {
		kp_err("%s", err);
		return EX_USAGE;
	}
	if (c->topic && (out_set || c->columns || c->outfile)) {
		kp_err("-O, -f, --columns and --output-file are for file "
		    "output, not a topic (-t)");
		return EX_USAGE;
	}
	if (c->topic && !kp_kconf_has_brokers(&c->kc)) {
		kp_err("no brokers: give -b, or set KPIPE_BROKERS");
		return EX_USAGE;
	}
	if (!out_set && !c->topic)
		c->out = KP_FMT_JSON;
	if (c->out == KP_FMT_CSV && c->ncolumns == 0) {
		kp_err("-O csv needs --columns PATH,...");
		return EX_USAGE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct conf c = {
		.partition = RD_KAFKA_PARTITION_UA,
		.partitioner = "murmur2_random",
		.vf = KP_VF_JSON,
		.in = KP_FMT_AUTO,
		.out = KP_FMT_JSON,
		.batch = 1000,
		.linger_ms = 1000,
	};
	int rc;

	kp_log_init("ksink");
	if ((rc = parse_args(argc, argv, &c)) != 0)
		return rc;
	kp_signals_install();
	rc = run(&c);
	kp_kconf_free(&c.kc);
	while (c.nkeys > 0)
		kp_path_free(&c.keys[--c.nkeys]);
	free(c.keys);
	while (c.ncolumns > 0)
		kp_path_free(&c.columns[--c.ncolumns]);
	free(c.columns);
	return rc;
}
