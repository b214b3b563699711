/* dlq.c - dead letters to a file, one JSON line each, or to a Kafka
 * topic with kpipe.error.* headers; and reading them back. */
#include <errno.h>
#include <sysexits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq.h"
#include "json.h"

struct kp_dlq {
	FILE		*f;		/* file target, or NULL */
	struct kp_rq	*q;		/* topic target */
	rd_kafka_t	*own_rk;	/* kp_dlq_open(): our producer ... */
	struct kp_rq	*own_q;		/* ... and queue (q == own_q) */
	rd_kafka_t	*txn_rk;	/* kp_dlq_open() in a transaction */
	int		 exit_code;	/* of the last failure */
	char		 errstr[512];
	char		*topic;
	char		*stage;
	unsigned long	 count;
	struct kp_buf	 line;
	struct kp_record letter;	/* topic: the record being queued */
};

static int	write_topic(struct kp_dlq *d, const struct kp_record *r,
		    const void *raw, size_t rawlen, const char *reason);

struct kp_dlq *
kp_dlq_open_file(const char *path, const char *stage, char *errstr, size_t n)
{
	struct kp_dlq *d;
	FILE *f = strcmp(path, "-") ? fopen(path, "a") : stderr;

	if (f == NULL) {
		snprintf(errstr, n, "cannot open dead-letter file '%s': %s",
		    path, strerror(errno));
		return NULL;
	}
	d = kp_xcalloc(1, sizeof(*d));
	d->f = f;
	d->stage = kp_xstrdup(stage);
	return d;
}

static void
bytes_field(struct kp_buf *b, const char *name, const void *p, size_t n)
{
	if (kp_utf8_valid(p, n)) {
		kp_buf_printf(b, ",\"%s\":", name);
		kp_json_write_string(b, p, n);
	} else {
		kp_buf_printf(b, ",\"%s_encoding\":\"base64\",\"%s\":\"", name,
		    name);
		kp_base64_encode(b, p, n);
		kp_buf_addc(b, '"');
	}
}

int
kp_dlq_write(struct kp_dlq *d, const struct kp_record *r, const void *raw,
    size_t rawlen, const char *reason)
{
	struct kp_buf *b = &d->line;
	size_t i;

	if (d->q || d->txn_rk)
		return write_topic(d, r, raw, rawlen, reason);
	kp_buf_reset(b);
	kp_buf_adds(b, "{\"reason\":");
	kp_json_write_string(b, reason, strlen(reason));
	kp_buf_adds(b, ",\"stage\":");
	kp_json_write_string(b, d->stage, strlen(d->stage));
	kp_buf_adds(b, ",\"source\":{");
	if (r->topic.len) {
		kp_buf_adds(b, "\"topic\":");
		kp_json_write_string(b, r->topic.data, r->topic.len);
		kp_buf_printf(b, ",\"partition\":%d,\"offset\":%lld}",
		    (int)r->partition, (long long)r->offset);
	} else {
		kp_buf_adds(b, "\"file\":");
		kp_json_write_string(b, r->src ? r->src : "-",
		    strlen(r->src ? r->src : "-"));
		kp_buf_printf(b, ",\"line\":%ld}", r->line);
	}
	if (r->timestamp != KP_TS_NONE)
		kp_buf_printf(b, ",\"timestamp\":%lld", (long long)r->timestamp);
	if (r->key_null)
		kp_buf_adds(b, ",\"key\":null");
	else
		bytes_field(b, "key", r->key.data, r->key.len);
	if (r->header_cnt) {
		kp_buf_adds(b, ",\"headers\":[");
		for (i = 0; i < r->header_cnt; i++) {
			const struct kp_header *h = &r->headers[i];

			kp_buf_adds(b, i ? ",[" : "[");
			kp_json_write_string(b, h->name.data, h->name.len);
			kp_buf_addc(b, ',');
			if (h->null) {
				kp_buf_adds(b, "null");
			} else if (kp_utf8_valid(h->value.data, h->value.len)) {
				kp_json_write_string(b, h->value.data,
				    h->value.len);
			} else {
				kp_buf_adds(b, "{\"base64\":\"");
				kp_base64_encode(b, h->value.data, h->value.len);
				kp_buf_adds(b, "\"}");
			}
			kp_buf_addc(b, ']');
		}
		kp_buf_addc(b, ']');
	}
	if (raw == NULL)
		kp_buf_adds(b, ",\"value\":null");
	else
		bytes_field(b, "value", raw, rawlen);
	kp_buf_adds(b, "}\n");
	if (fwrite(b->data, 1, b->len, d->f) != b->len || fflush(d->f) != 0) {
		int e = errno;

		snprintf(d->errstr, sizeof(d->errstr), "cannot write dead "
		    "letter: %s", strerror(e));
		d->exit_code = EX_IOERR;
		errno = e;
		return -1;
	}
	d->count++;
	return 0;
}

unsigned long
kp_dlq_count(const struct kp_dlq *d)
{
	return d ? d->count : 0;
}

int
kp_dlq_close(struct kp_dlq *d)
{
	int rc = 0;

	if (d == NULL)
		return 0;
	if (d->own_q) {
		if (kp_rq_flush(d->own_q) < 0)
			rc = -1;
		kp_rq_free(d->own_q);
		rd_kafka_flush(d->own_rk, 10000);
		rd_kafka_destroy(d->own_rk);
	}
	if (d->f && fflush(d->f) != 0)
		rc = -1;
	if (d->f && d->f != stderr && fclose(d->f) != 0)
		rc = -1;
	kp_buf_free(&d->line);
	kp_record_free(&d->letter);
	free(d->topic);
	free(d->stage);
	free(d);
	return rc;
}

/* ---- Kafka topics ---- */

static int
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a > b && !strcmp(s + a - b, suffix);
}

enum kp_dlq_kind
kp_dlq_target(const char *target, int have_brokers, const char **name)
{
	*name = target;
	if (!strncmp(target, "file:", 5)) {
		*name = target + 5;
		return KP_DLQ_FILE;
	}
	if (!strncmp(target, "topic:", 6)) {
		*name = target + 6;
		return KP_DLQ_TOPIC;
	}
	if (!strcmp(target, "-") || strchr(target, '/') ||
	    ends_with(target, ".json") || ends_with(target, ".jsonl") ||
	    ends_with(target, ".ndjson"))
		return KP_DLQ_FILE;
	return have_brokers ? KP_DLQ_TOPIC : KP_DLQ_FILE;
}

struct kp_dlq *
kp_dlq_open_topic(struct kp_rq *q, const char *topic, const char *stage)
{
	struct kp_dlq *d = kp_xcalloc(1, sizeof(*d));

	d->q = q;
	d->topic = kp_xstrdup(topic);
	d->stage = kp_xstrdup(stage);
	kp_record_init(&d->letter);
	return d;
}

int
kp_dlq_is_topic(const struct kp_dlq *d)
{
	return d && (d->q || d->txn_rk);
}

struct kp_dlq *
kp_dlq_open(const char *target, const struct kp_kconf *kc, rd_kafka_t *txn_rk,
    const char *stage, char *errstr, size_t n, int *exit_code)
{
	static const char *const defaults[] = {
		"enable.idempotence", "true",
		"partitioner", "murmur2_random",
		NULL
	};
	struct kp_rq_opts ro = { .retry_max = -1, .backoff_ms = 100,
	    .backoff_max_ms = 10000 };
	rd_kafka_conf_t *conf;
	struct kp_dlq *d;
	const char *name;
	rd_kafka_t *rk;

	if (kp_dlq_target(target, kc && kp_kconf_has_brokers(kc), &name) ==
	    KP_DLQ_FILE) {
		if ((d = kp_dlq_open_file(name, stage, errstr, n)) == NULL)
			*exit_code = EX_CANTCREAT;
		return d;
	}
	if (kc == NULL || !kp_kconf_has_brokers(kc)) {
		snprintf(errstr, n, "--dlq topic:%s needs brokers (-b)", name);
		*exit_code = EX_USAGE;
		return NULL;
	}
	if (txn_rk) {
		d = kp_xcalloc(1, sizeof(*d));
		d->txn_rk = txn_rk;
		d->topic = kp_xstrdup(name);
		d->stage = kp_xstrdup(stage);
		kp_record_init(&d->letter);
		return d;
	}
	if ((conf = kp_kconf_build(kc, defaults, errstr, n)) == NULL) {
		*exit_code = EX_CONFIG;
		return NULL;
	}
	kp_rq_conf(conf);
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, n)) == NULL) {
		rd_kafka_conf_destroy(conf);
		*exit_code = EX_CONFIG;
		return NULL;
	}
	d = kp_dlq_open_topic(kp_rq_new(rk, &ro), name, stage);
	d->own_rk = rk;
	d->own_q = d->q;
	return d;
}

int
kp_dlq_is_letter(const struct kp_dlq *d, const void *opaque)
{
	return d != NULL && opaque == (const void *)d;
}

const char *
kp_dlq_strerror(const struct kp_dlq *d)
{
	return d && d->errstr[0] ? d->errstr : "no error";
}

int
kp_dlq_exit_code(const struct kp_dlq *d)
{
	return d ? d->exit_code : 0;
}

static void
header_s(struct kp_record *r, const char *name, const char *v, size_t n)
{
	kp_record_add_header(r, name, strlen(name), v, n);
}

static void
header_n(struct kp_record *r, const char *name, long long v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%lld", v);

	header_s(r, name, buf, (size_t)n);
}

void
kp_dlq_error_headers(struct kp_record *r, const struct kp_record *src,
    const char *stage, const char *reason)
{
	kp_record_drop_headers(r, KP_DLQ_PREFIX);
	header_s(r, KP_DLQ_PREFIX "reason", reason, strlen(reason));
	header_s(r, KP_DLQ_PREFIX "stage", stage, strlen(stage));
	if (src->topic.len) {
		header_s(r, KP_DLQ_PREFIX "topic", src->topic.data,
		    src->topic.len);
		header_n(r, KP_DLQ_PREFIX "partition", src->partition);
		header_n(r, KP_DLQ_PREFIX "offset", src->offset);
	} else {
		const char *f = src->src ? src->src : "-";

		header_s(r, KP_DLQ_PREFIX "file", f, strlen(f));
		header_n(r, KP_DLQ_PREFIX "line", src->line);
	}
	if (src->timestamp != KP_TS_NONE)
		header_n(r, KP_DLQ_PREFIX "timestamp", src->timestamp);
}

static int
write_topic(struct kp_dlq *d, const struct kp_record *r, const void *raw,
    size_t rawlen, const char *reason)
{
	struct kp_record *l = &d->letter;
	size_t i;

	kp_record_clear(l);
	kp_record_set_key(l, r->key_null ? NULL : (r->key.data ? r->key.data :
	    ""), r->key.len);
	if (raw)
		kp_record_set_value(l, KP_VALUE_BYTES, raw, rawlen);
	l->timestamp = r->timestamp;
	for (i = 0; i < r->header_cnt; i++) {
		const struct kp_header *h = &r->headers[i];

		kp_record_add_header(l, h->name.data, h->name.len,
		    h->null ? NULL : (h->value.data ? h->value.data : ""),
		    h->value.len);
	}
	/* the origin, for the queue's done callback (offsets to commit) */
	kp_buf_add(&l->topic, r->topic.data, r->topic.len);
	l->partition = r->partition;
	l->offset = r->offset;
	l->src = r->src;
	l->line = r->line;
	kp_dlq_error_headers(l, r, d->stage, reason);
	if (d->txn_rk) {
		rd_kafka_resp_err_t e = kp_record_produce(d->txn_rk, d->topic,
		    RD_KAFKA_PARTITION_UA, l, KP_VF_RAW, d);

		if (e) {
			snprintf(d->errstr, sizeof(d->errstr), "dead letter not "
			    "sent to '%s': %s", d->topic, rd_kafka_err2str(e));
			d->exit_code = kp_kafka_exit_code(e);
			errno = EIO;
			return -1;
		}
		d->count++;
		return 0;
	}
	kp_rq_produce(d->q, d->topic, l, KP_VF_RAW, KP_DLQ_TAG);
	/* our own producer: the source record's offset may be committed
	 * only once its dead letter is acknowledged, and bad records are
	 * rare, so wait for it here */
	if (d->own_q && kp_rq_flush(d->own_q) < 0) {
		const char *t = NULL;
		rd_kafka_resp_err_t e = kp_rq_error(d->own_q, &t);

		snprintf(d->errstr, sizeof(d->errstr), "dead letter not "
		    "delivered to '%s': %s", t ? t : d->topic,
		    rd_kafka_err2str(e));
		d->exit_code = EX_TEMPFAIL;
		errno = EIO;
		return -1;
	}
	d->count++;
	return 0;
}

/* ---- reading dead letters back ---- */

void
kp_dlq_letter_init(struct kp_dlq_letter *l)
{
	memset(l, 0, sizeof(*l));
	kp_record_init(&l->rec);
}

void
kp_dlq_letter_free(struct kp_dlq_letter *l)
{
	kp_record_free(&l->rec);
	kp_buf_free(&l->reason);
	kp_buf_free(&l->stage);
	kp_buf_free(&l->file);
}

static void
letter_clear(struct kp_dlq_letter *l)
{
	kp_record_clear(&l->rec);
	kp_buf_reset(&l->reason);
	kp_buf_reset(&l->stage);
	kp_buf_reset(&l->file);
	l->line = 0;
}

static const msgpack_object *
get(const msgpack_object *m, const char *name)
{
	size_t n = strlen(name);
	uint32_t i;

	if (m == NULL || m->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		    !memcmp(k->via.str.ptr, name, n))
			return &m->via.map.ptr[i].val;
	}
	return NULL;
}

static int
is_str(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_STR;
}

static int
get_int(const msgpack_object *o, int64_t *v)
{
	if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return 0;
	}
	if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	return -1;
}

/* Bytes of a string field, base64-decoded when enc says so, into out. */
static int
field_bytes(const msgpack_object *v, const msgpack_object *enc,
    struct kp_buf *out)
{
	kp_buf_reset(out);
	if (!is_str(v))
		return -1;
	if (enc && is_str(enc) && enc->via.str.size == 6 &&
	    !memcmp(enc->via.str.ptr, "base64", 6))
		return kp_base64_decode(out, v->via.str.ptr, v->via.str.size);
	kp_buf_add(out, v->via.str.ptr, v->via.str.size);
	return 0;
}

int
kp_dlq_parse_json(struct kp_dlq_letter *l, struct kp_json_parser *jp,
    const char *line, size_t n, char *errstr, size_t en)
{
	struct kp_buf mp = {0}, tmp = {0};
	msgpack_zone zone;
	msgpack_object o;
	const msgpack_object *v, *src;
	size_t off = 0;
	int64_t i64;
	uint32_t i;
	int rc = -1;

	letter_clear(l);
	if (kp_json_parse(jp, line, n, &mp, errstr, en) != 0) {
		kp_buf_free(&mp);
		return -1;
	}
	msgpack_zone_init(&zone, 1024);
	if (msgpack_unpack(mp.data, mp.len, &off, &zone, &o) !=
	    MSGPACK_UNPACK_SUCCESS || o.type != MSGPACK_OBJECT_MAP) {
		snprintf(errstr, en, "not a dead letter: not a JSON object");
		goto out;
	}
	if (!is_str(v = get(&o, "reason"))) {
		snprintf(errstr, en, "not a dead letter: no \"reason\"");
		goto out;
	}
	kp_buf_add(&l->reason, v->via.str.ptr, v->via.str.size);
	if (is_str(v = get(&o, "stage")))
		kp_buf_add(&l->stage, v->via.str.ptr, v->via.str.size);
	src = get(&o, "source");
	if (is_str(v = get(src, "topic"))) {
		kp_buf_add(&l->rec.topic, v->via.str.ptr, v->via.str.size);
		if (get_int(get(src, "partition"), &i64) == 0)
			l->rec.partition = (int32_t)i64;
		if (get_int(get(src, "offset"), &i64) == 0)
			l->rec.offset = i64;
	} else if (is_str(v = get(src, "file"))) {
		kp_buf_add(&l->file, v->via.str.ptr, v->via.str.size);
		if (get_int(get(src, "line"), &i64) == 0)
			l->line = (long)i64;
	}
	if (get_int(get(&o, "timestamp"), &i64) == 0)
		l->rec.timestamp = i64;
	v = get(&o, "key");
	if (v && v->type != MSGPACK_OBJECT_NIL) {
		if (field_bytes(v, get(&o, "key_encoding"), &tmp) < 0) {
			snprintf(errstr, en, "dead letter has a bad \"key\"");
			goto out;
		}
		kp_record_set_key(&l->rec, tmp.data ? tmp.data : "", tmp.len);
	}
	v = get(&o, "value");
	if (v && v->type != MSGPACK_OBJECT_NIL) {
		if (field_bytes(v, get(&o, "value_encoding"), &tmp) < 0) {
			snprintf(errstr, en, "dead letter has a bad \"value\"");
			goto out;
		}
		kp_record_set_value(&l->rec, KP_VALUE_BYTES, tmp.data, tmp.len);
	}
	v = get(&o, "headers");
	for (i = 0; v && v->type == MSGPACK_OBJECT_ARRAY && i < v->via.array.size;
	    i++) {
		const msgpack_object *h = &v->via.array.ptr[i], *hn, *hv;

		if (h->type != MSGPACK_OBJECT_ARRAY || h->via.array.size != 2 ||
		    !is_str(hn = &h->via.array.ptr[0])) {
			snprintf(errstr, en, "dead letter has a bad header");
			goto out;
		}
		hv = &h->via.array.ptr[1];
		if (hv->type == MSGPACK_OBJECT_NIL) {
			kp_record_add_header(&l->rec, hn->via.str.ptr,
			    hn->via.str.size, NULL, 0);
			continue;
		}
		if (hv->type == MSGPACK_OBJECT_MAP) {
			const msgpack_object *b = get(hv, "base64");

			kp_buf_reset(&tmp);
			if (!is_str(b) || kp_base64_decode(&tmp, b->via.str.ptr,
			    b->via.str.size) < 0) {
				snprintf(errstr, en, "dead letter has a bad header");
				goto out;
			}
		} else if (field_bytes(hv, NULL, &tmp) < 0) {
			snprintf(errstr, en, "dead letter has a bad header");
			goto out;
		}
		kp_record_add_header(&l->rec, hn->via.str.ptr, hn->via.str.size,
		    tmp.data ? tmp.data : "", tmp.len);
	}
	kp_record_drop_headers(&l->rec, KP_DLQ_PREFIX);
	rc = 0;
out:
	msgpack_zone_destroy(&zone);
	kp_buf_free(&mp);
	kp_buf_free(&tmp);
	return rc;
}

/* The text of header name, NUL-terminated in tmp; or NULL. */
static const char *
header_text(const struct kp_record *r, const char *name, struct kp_buf *tmp)
{
	const struct kp_header *h = kp_record_header(r, name, strlen(name));

	if (h == NULL || h->null)
		return NULL;
	kp_buf_reset(tmp);
	kp_buf_add(tmp, h->value.data ? h->value.data : "", h->value.len);
	return tmp->data ? tmp->data : "";
}

int
kp_dlq_parse_record(struct kp_dlq_letter *l, const struct kp_record *r,
    char *errstr, size_t en)
{
	struct kp_buf tmp = {0};
	const char *s, *e;
	long long v;

	letter_clear(l);
	if ((s = header_text(r, KP_DLQ_PREFIX "reason", &tmp)) == NULL) {
		snprintf(errstr, en, "not a dead letter: no %sreason header",
		    KP_DLQ_PREFIX);
		kp_buf_free(&tmp);
		return -1;
	}
	kp_buf_add(&l->reason, tmp.data, tmp.len);
	if ((s = header_text(r, KP_DLQ_PREFIX "stage", &tmp)) != NULL)
		kp_buf_add(&l->stage, tmp.data, tmp.len);
	kp_record_copy(&l->rec, r);
	kp_buf_reset(&l->rec.topic);
	l->rec.partition = -1;
	l->rec.offset = -1;
	l->rec.timestamp = KP_TS_NONE;
	l->rec.src = NULL;
	l->rec.line = 0;
	if ((s = header_text(r, KP_DLQ_PREFIX "topic", &tmp)) != NULL) {
		kp_buf_add(&l->rec.topic, tmp.data, tmp.len);
		if ((s = header_text(r, KP_DLQ_PREFIX "partition", &tmp)) &&
		    kp_strtonum(s, 0, INT32_MAX, &v, &e) == 0)
			l->rec.partition = (int32_t)v;
		if ((s = header_text(r, KP_DLQ_PREFIX "offset", &tmp)) &&
		    kp_strtonum(s, 0, INT64_MAX, &v, &e) == 0)
			l->rec.offset = v;
	} else if ((s = header_text(r, KP_DLQ_PREFIX "file", &tmp)) != NULL) {
		kp_buf_add(&l->file, tmp.data, tmp.len);
		if ((s = header_text(r, KP_DLQ_PREFIX "line", &tmp)) &&
		    kp_strtonum(s, 0, INT64_MAX, &v, &e) == 0)
			l->line = (long)v;
	}
	if ((s = header_text(r, KP_DLQ_PREFIX "timestamp", &tmp)) &&
	    kp_strtonum(s, INT64_MIN + 1, INT64_MAX, &v, &e) == 0)
		l->rec.timestamp = v;
	kp_record_drop_headers(&l->rec, KP_DLQ_PREFIX);
	kp_buf_free(&tmp);
	return 0;
}
