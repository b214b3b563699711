/* codec.c - record stream readers and writers. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "json.h"
#include "mp.h"

#define READ_CHUNK	(64 * 1024)
#define WRITE_HIGH	(64 * 1024)

static const struct {
	const char	*name;
	enum kp_format	 fmt;
	int		 in, out;
} formats[] = {
	{ "auto", KP_FMT_AUTO, 1, 0 },
	{ "kpipe", KP_FMT_KPIPE, 1, 1 },
	{ "json", KP_FMT_JSON, 1, 1 },
	{ "csv", KP_FMT_CSV, 1, 1 },
	{ "msgpack", KP_FMT_MSGPACK, 1, 1 },
	{ "raw", KP_FMT_RAW, 1, 1 },
	{ "value", KP_FMT_VALUE, 0, 1 },
};

static int
format_parse(const char *s, enum kp_format *out, int in)
{
	size_t i;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(s, formats[i].name) &&
		    (in ? formats[i].in : formats[i].out)) {
			*out = formats[i].fmt;
			return 0;
		}
	return -1;
}

int
kp_format_parse_in(const char *s, enum kp_format *out)
{
	return format_parse(s, out, 1);
}

int
kp_format_parse_out(const char *s, enum kp_format *out)
{
	return format_parse(s, out, 0);
}

const char *
kp_format_name(enum kp_format f)
{
	size_t i;

	if (f == KP_FMT_FORMAT)
		return "format";
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].fmt == f)
			return formats[i].name;
	return "?";
}

static int
buf_write(void *data, const char *buf, size_t len)
{
	kp_buf_add(data, buf, len);
	return 0;
}

/* ---- key and time from fields ---- */

int
kp_record_apply_key(struct kp_record *r, const struct kp_path *paths, size_t n)
{
	struct kp_buf kb = {0};
	struct kp_val v;
	size_t i;
	int rc = 0;

	if (n == 1) {
		kp_path_eval(&paths[0], r, &v);
		if (kp_val_key_bytes(&v, &kb) < 0) {
			kp_record_set_key(r, NULL, 0);
		} else {
			kp_record_set_key(r, kb.data ? kb.data : "", kb.len);
		}
	} else {
		struct kp_buf mp = {0};
		msgpack_packer pk;

		msgpack_packer_init(&pk, &mp, buf_write);
		msgpack_pack_array(&pk, n);
		for (i = 0; i < n; i++) {
			kp_path_eval(&paths[i], r, &v);
			kp_val_pack(&v, &pk);
		}
		kp_json_write(&kb, mp.data, mp.len);
		kp_buf_free(&mp);
		kp_record_set_key(r, kb.data, kb.len);
	}
	kp_buf_free(&kb);
	return rc;
}

int
kp_record_apply_time(struct kp_record *r, const struct kp_time_spec *t,
    char *errstr, size_t n)
{
	int64_t ms;

	if (kp_time_extract(t, r, &ms, errstr, n) < 0)
		return -1;
	r->timestamp = ms;
	return 0;
}

/* ---- envelope ---- */

static void
pack_key_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

void
kp_envelope_pack(struct kp_buf *out, const struct kp_record *r)
{
	msgpack_packer pk;
	size_t n = 1, i;

	msgpack_packer_init(&pk, out, buf_write);
	n += !r->key_null;
	n += r->timestamp != KP_TS_NONE;
	n += r->header_cnt > 0;
	n += r->topic.len > 0;
	n += r->partition >= 0;
	n += r->offset >= 0;
	msgpack_pack_map(&pk, n);
	if (r->topic.len) {
		pack_key_str(&pk, "topic");
		msgpack_pack_str_with_body(&pk, r->topic.data, r->topic.len);
	}
	if (r->partition >= 0) {
		pack_key_str(&pk, "partition");
		msgpack_pack_int32(&pk, r->partition);
	}
	if (r->offset >= 0) {
		pack_key_str(&pk, "offset");
		msgpack_pack_int64(&pk, r->offset);
	}
	if (r->timestamp != KP_TS_NONE) {
		pack_key_str(&pk, "timestamp");
		msgpack_pack_int64(&pk, r->timestamp);
	}
	if (!r->key_null) {
		pack_key_str(&pk, "key");
		msgpack_pack_bin_with_body(&pk, r->key.data, r->key.len);
	}
	if (r->header_cnt) {
		pack_key_str(&pk, "headers");
		msgpack_pack_array(&pk, r->header_cnt);
		for (i = 0; i < r->header_cnt; i++) {
			const struct kp_header *h = &r->headers[i];

			msgpack_pack_array(&pk, 2);
			msgpack_pack_str_with_body(&pk, h->name.data, h->name.len);
			if (h->null)
				msgpack_pack_nil(&pk);
			else
				msgpack_pack_bin_with_body(&pk, h->value.data,
				    h->value.len);
		}
	}
	pack_key_str(&pk, "value");
	switch (r->vtype) {
	case KP_VALUE_NULL:
		msgpack_pack_nil(&pk);
		break;
	case KP_VALUE_BYTES:
		msgpack_pack_bin_with_body(&pk, r->value.data, r->value.len);
		break;
	case KP_VALUE_MSGPACK:
		kp_buf_add(out, r->value.data, r->value.len);
		break;
	}
}

static int
keyis(const struct kp_mp_item *k, const char *s)
{
	size_t n = strlen(s);

	return k->type == KP_MP_STR && k->len == n && !memcmp(k->data, s, n);
}

static int
bytes_of(const struct kp_mp_item *it)
{
	return it->type == KP_MP_STR || it->type == KP_MP_BIN;
}

long long
kp_envelope_unpack(const void *vp, size_t n, struct kp_record *r,
    char *errstr, size_t en)
{
	const uint8_t *p = vp;
	struct kp_mp_item m, k, v;
	const char *src = r->src;
	long line = r->line;
	long long sz;
	size_t off;
	uint64_t i, j;
	int rc;

	/* one pass: each field is skipped once; an envelope cut short gives
	 * 0 and is parsed again, from a cleared record, when more bytes came */
	kp_record_clear(r);
	r->src = src;
	r->line = line;
	if ((rc = kp_mp_read(p, n, &m)) <= 0) {
		if (rc < 0)
			snprintf(errstr, en, "invalid msgpack");
		return rc;
	}
	if (m.type != KP_MP_MAP) {
		snprintf(errstr, en, "kpipe envelope is not a msgpack map");
		return -1;
	}
	off = m.hdr;
	for (i = 0; i < m.len; i++) {
		if ((rc = kp_mp_read(p + off, n - off, &k)) <= 0)
			goto short_or_bad;
		if ((sz = kp_mp_skip(p + off, n - off)) <= 0) {
			rc = (int)sz;
			goto short_or_bad;
		}
		off += (size_t)sz;
		if ((sz = kp_mp_skip(p + off, n - off)) <= 0) {
			rc = (int)sz;
			goto short_or_bad;
		}
		kp_mp_read(p + off, n - off, &v);
		if (keyis(&k, "value")) {
			if (v.type == KP_MP_NIL)
				kp_record_set_value(r, KP_VALUE_NULL, NULL, 0);
			else if (v.type == KP_MP_BIN)
				kp_record_set_value(r, KP_VALUE_BYTES, v.data, v.len);
			else
				kp_record_set_value(r, KP_VALUE_MSGPACK, p + off,
				    (size_t)sz);
		} else if (keyis(&k, "key")) {
			if (v.type == KP_MP_NIL)
				kp_record_set_key(r, NULL, 0);
			else if (bytes_of(&v))
				kp_record_set_key(r, v.data, v.len);
			else
				goto bad;
		} else if (keyis(&k, "timestamp")) {
			if (v.type == KP_MP_UINT || v.type == KP_MP_INT)
				r->timestamp = v.i;
			else if (v.type != KP_MP_NIL)
				goto bad;
		} else if (keyis(&k, "partition")) {
			if (v.type == KP_MP_UINT || v.type == KP_MP_INT)
				r->partition = (int32_t)v.i;
		} else if (keyis(&k, "offset")) {
			if (v.type == KP_MP_UINT || v.type == KP_MP_INT)
				r->offset = v.i;
		} else if (keyis(&k, "topic")) {
			kp_buf_reset(&r->topic);
			if (bytes_of(&v))
				kp_buf_add(&r->topic, v.data, v.len);
		} else if (keyis(&k, "headers")) {
			size_t ho = off + v.hdr;

			if (v.type != KP_MP_ARRAY)
				goto bad;
			for (j = 0; j < v.len; j++) {
				struct kp_mp_item a, hn, hv;

				kp_mp_read(p + ho, n - ho, &a);
				if (a.type != KP_MP_ARRAY || a.len != 2)
					goto bad;
				ho += a.hdr;
				kp_mp_read(p + ho, n - ho, &hn);
				if (!bytes_of(&hn))
					goto bad;
				ho += hn.hdr + hn.len;
				kp_mp_read(p + ho, n - ho, &hv);
				if (hv.type == KP_MP_NIL)
					kp_record_add_header(r, (const char *)hn.data,
					    hn.len, NULL, 0);
				else if (bytes_of(&hv))
					kp_record_add_header(r, (const char *)hn.data,
					    hn.len, hv.data, hv.len);
				else
					goto bad;
				ho += (size_t)kp_mp_skip(p + ho, n - ho);
			}
		}
		/* unknown names are ignored: the format grows */
		off += (size_t)sz;
	}
	return (long long)off;
short_or_bad:
	if (rc < 0)
		snprintf(errstr, en, "invalid msgpack");
	return rc;
bad:
	snprintf(errstr, en, "invalid kpipe envelope field '%.*s'",
	    k.type == KP_MP_STR ? (int)k.len : 1,
	    k.type == KP_MP_STR ? (const char *)k.data : "?");
	return -1;
}

static void
json_bytes(struct kp_buf *out, const char *name, const void *p, size_t n)
{
	if (kp_utf8_valid(p, n)) {
		kp_buf_printf(out, "\"%s\":", name);
		kp_json_write_string(out, p, n);
	} else {
		kp_buf_printf(out, "\"%s_encoding\":\"base64\",\"%s\":\"", name,
		    name);
		kp_base64_encode(out, p, n);
		kp_buf_addc(out, '"');
	}
}

void
kp_value_json(struct kp_buf *out, const struct kp_record *r)
{
	switch (r->vtype) {
	case KP_VALUE_NULL:
		kp_buf_add(out, "null", 4);
		break;
	case KP_VALUE_BYTES:
		kp_json_write_string(out, r->value.data, r->value.len);
		break;
	case KP_VALUE_MSGPACK:
		if (kp_json_write(out, r->value.data, r->value.len) < 0)
			kp_buf_add(out, "null", 4);
		break;
	}
}

void
kp_envelope_json(struct kp_buf *out, const struct kp_record *r)
{
	size_t i;

	kp_buf_addc(out, '{');
	if (r->topic.len) {
		kp_buf_adds(out, "\"topic\":");
		kp_json_write_string(out, r->topic.data, r->topic.len);
		kp_buf_addc(out, ',');
	}
	if (r->partition >= 0)
		kp_buf_printf(out, "\"partition\":%d,", (int)r->partition);
	if (r->offset >= 0)
		kp_buf_printf(out, "\"offset\":%lld,", (long long)r->offset);
	if (r->timestamp != KP_TS_NONE)
		kp_buf_printf(out, "\"timestamp\":%lld,", (long long)r->timestamp);
	if (r->key_null)
		kp_buf_adds(out, "\"key\":null,");
	else {
		json_bytes(out, "key", r->key.data, r->key.len);
		kp_buf_addc(out, ',');
	}
	if (r->header_cnt) {
		kp_buf_adds(out, "\"headers\":[");
		for (i = 0; i < r->header_cnt; i++) {
			const struct kp_header *h = &r->headers[i];

			if (i)
				kp_buf_addc(out, ',');
			kp_buf_addc(out, '[');
			kp_json_write_string(out, h->name.data, h->name.len);
			kp_buf_addc(out, ',');
			if (h->null) {
				kp_buf_adds(out, "null");
			} else if (kp_utf8_valid(h->value.data, h->value.len)) {
				kp_json_write_string(out, h->value.data,
				    h->value.len);
			} else {
				kp_buf_adds(out, "{\"base64\":\"");
				kp_base64_encode(out, h->value.data, h->value.len);
				kp_buf_adds(out, "\"}");
			}
			kp_buf_addc(out, ']');
		}
		kp_buf_adds(out, "],");
	}
	if (r->vtype == KP_VALUE_BYTES) {
		if (kp_utf8_valid(r->value.data, r->value.len)) {
			kp_buf_adds(out, "\"value_encoding\":\"text\",\"value\":");
			kp_json_write_string(out, r->value.data, r->value.len);
		} else {
			json_bytes(out, "value", r->value.data, r->value.len);
		}
	} else {
		kp_buf_adds(out, "\"value\":");
		kp_value_json(out, r);
	}
	kp_buf_addc(out, '}');
}

/* ---- reader ---- */

struct kp_reader {
	int			 fd;
	const char		*name;	/* NULL: stdin */
	struct kp_reader_opts	 o;
	enum kp_format		 fmt;
	char			*buf;
	size_t			 cap, start, end;
	int			 eof, dead;
	int			 bom_checked;
	long			 line;	/* lines (or frames) consumed */
	const char		*raw;	/* last record's bytes */
	size_t			 rawlen;
	struct kp_json_parser	*jp;
	/* CSV */
	char			**cols;
	size_t			 ncols;
	struct kp_buf		 field;
	struct kp_buf		 fieldv;	/* packed field values */
	struct kp_buf		 rec;		/* a CSV record spanning lines */
};

struct kp_reader *
kp_reader_new(int fd, const char *name, const struct kp_reader_opts *opts)
{
	struct kp_reader *rd = kp_xcalloc(1, sizeof(*rd));

	rd->fd = fd;
	rd->name = name && strcmp(name, "-") ? name : NULL;
	rd->o = *opts;
	rd->fmt = opts->fmt;
	if (rd->fmt == KP_FMT_AUTO && rd->name) {
		size_t l = strlen(rd->name);

		if (l > 4 && !strcmp(rd->name + l - 4, ".csv"))
			rd->fmt = KP_FMT_CSV;
	}
	rd->cap = READ_CHUNK * 2;
	rd->buf = kp_xmalloc(rd->cap);
	return rd;
}

void
kp_reader_free(struct kp_reader *rd)
{
	size_t i;

	if (rd == NULL)
		return;
	free(rd->buf);
	kp_json_parser_free(rd->jp);
	for (i = 0; i < rd->ncols; i++)
		free(rd->cols[i]);
	free(rd->cols);
	kp_buf_free(&rd->field);
	kp_buf_free(&rd->fieldv);
	kp_buf_free(&rd->rec);
	free(rd);
}

void
kp_reader_raw(const struct kp_reader *rd, const void **p, size_t *n)
{
	*p = rd->raw;
	*n = rd->rawlen;
}

enum kp_format
kp_reader_format(const struct kp_reader *rd)
{
	return rd->fmt;
}

/* Every writer of the process, so that a reader about to wait for input
 * can first write out what is buffered (as C stdio flushes line-buffered
 * output before reading): a window closed by the last record must not sit
 * in a buffer while the input is quiet. */
static struct kp_writer **writers;
static size_t nwriters;

static void
flush_writers_if_idle(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t i;

	if (nwriters == 0 || poll(&p, 1, 0) != 0)
		return;
	for (i = 0; i < nwriters; i++)
		if (kp_writer_pending(writers[i]))
			(void)kp_writer_flush(writers[i]);	/* errors
					 * come back at the next write */
}

/* Read more input.  Returns 1 when bytes were added, 0 at EOF, -1 on
 * error. */
static int
fill(struct kp_reader *rd)
{
	ssize_t n;

	if (rd->eof)
		return 0;
	if (rd->start > 0 && (rd->start == rd->end || rd->start > rd->cap / 2)) {
		memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
		rd->end -= rd->start;
		rd->start = 0;
	}
	if (rd->cap - rd->end < READ_CHUNK) {
		rd->cap *= 2;
		rd->buf = kp_xrealloc(rd->buf, rd->cap);
	}
	flush_writers_if_idle(rd->fd);
	do
		n = read(rd->fd, rd->buf + rd->end, rd->cap - rd->end - 1);
	while (n < 0 && errno == EINTR && !kp_stop);
	/* SIGINT or SIGTERM (kp_stop) while waiting for input ends the input
	 * there, as the man pages say: what was read is processed and
	 * flushed (open windows emitted), and the program exits 0 */
	if (n < 0 && errno == EINTR)
		n = 0;
	if (n < 0)
		return -1;
	if (n == 0) {
		rd->eof = 1;
		return 0;
	}
	rd->end += (size_t)n;
	return 1;
}

/* The next line, without its '\n' (and a '\r' before it).  Returns 1, 0
 * at EOF, -1 on error.  A last line without a final newline counts. */
static int
next_line(struct kp_reader *rd, const char **lp, size_t *ln)
{
	char *nl;
	size_t scanned = 0;
	int r;

	for (;;) {
		nl = memchr(rd->buf + rd->start + scanned, '\n',
		    rd->end - rd->start - scanned);
		if (nl)
			break;
		scanned = rd->end - rd->start;
		if ((r = fill(rd)) < 0)
			return -1;
		if (r == 0) {
			if (rd->start == rd->end)
				return 0;
			/* final line without newline */
			*lp = rd->buf + rd->start;
			*ln = rd->end - rd->start;
			rd->start = rd->end;
			goto got;
		}
	}
	*lp = rd->buf + rd->start;
	*ln = (size_t)(nl - *lp);
	rd->start += *ln + 1;
got:
	rd->line++;
	rd->raw = *lp;
	rd->rawlen = *ln;
	if (*ln && (*lp)[*ln - 1] == '\r')
		(*ln)--;
	return 1;
}

/* Is the msgpack map at p[0..n) a kpipe envelope?  1 yes, 0 no, -1 when
 * its first key is not all there yet. */
static int
envelope_first_key(const uint8_t *p, size_t n)
{
	static const char *names[] = { "key", "value", "timestamp", "headers",
	    "topic", "partition", "offset" };
	struct kp_mp_item m, k;
	size_t i;
	int r;

	if ((r = kp_mp_read(p, n, &m)) <= 0)
		return r < 0 ? 0 : -1;
	if (m.type != KP_MP_MAP || m.len == 0)
		return 0;
	if ((r = kp_mp_read(p + m.hdr, n - m.hdr, &k)) <= 0)
		return r < 0 ? 0 : -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (keyis(&k, names[i]))
			return 1;
	return 0;
}

/* A UTF-8 byte order mark at the start of text input (as spreadsheets
 * write it) is not data: skip it.  Returns 0, or -1 on a read error. */
static int
skip_bom(struct kp_reader *rd)
{
	int r;

	rd->bom_checked = 1;
	while (rd->end - rd->start < 3 && !rd->eof)
		if ((r = fill(rd)) < 0)
			return -1;
		else if (r == 0)
			break;
	if (rd->end - rd->start >= 3 &&
	    !memcmp(rd->buf + rd->start, "\xef\xbb\xbf", 3))
		rd->start += 3;
	return 0;
}

/* Decide the input format from the first bytes, reading no more than it
 * needs: one byte for text, a map's first key for msgpack. */
static int
detect(struct kp_reader *rd)
{
	unsigned char c = 0;
	size_t i;
	int r, k;

	if (skip_bom(rd) < 0)
		return -1;
	for (;;) {
		for (i = rd->start; i < rd->end; i++)
			if (rd->buf[i] != ' ' && rd->buf[i] != '\t' &&
			    rd->buf[i] != '\r' && rd->buf[i] != '\n')
				break;
		if (i < rd->end) {
			c = (unsigned char)rd->buf[i];
			if (c < 0x80 || c == 0xef)	/* 0xef: a UTF-8 BOM */
				break;
			k = envelope_first_key((uint8_t *)rd->buf + rd->start,
			    rd->end - rd->start);
			if (k >= 0 || rd->eof) {
				rd->fmt = k == 1 ? KP_FMT_KPIPE : KP_FMT_MSGPACK;
				return 0;
			}
		}
		if ((r = fill(rd)) < 0)
			return -1;
		if (r == 0) {
			if (i >= rd->end) {
				rd->fmt = KP_FMT_JSON;	/* empty input */
				return 0;
			}
			if (c >= 0x80 && c != 0xef) {
				rd->fmt = KP_FMT_MSGPACK;
				return 0;
			}
			break;
		}
	}
	if (c == '{' || c == '[' || c == '"' || c == '-' ||
	    (c >= '0' && c <= '9'))
		rd->fmt = KP_FMT_JSON;
	else
		rd->fmt = KP_FMT_RAW;
	return 0;
}

static int
read_frame(struct kp_reader *rd, struct kp_record *r, char *errstr, size_t en)
{
	long long sz;
	int f;

	for (;;) {
		if (rd->start < rd->end) {
			if (rd->fmt == KP_FMT_KPIPE)
				sz = kp_envelope_unpack(rd->buf + rd->start,
				    rd->end - rd->start, r, errstr, en);
			else
				sz = kp_mp_skip((uint8_t *)rd->buf + rd->start,
				    rd->end - rd->start);
			if (sz > 0)
				break;
			if (sz < 0) {
				rd->line++;
				r->line = rd->line;
				rd->raw = rd->buf + rd->start;
				rd->rawlen = rd->end - rd->start;
				if (rd->fmt != KP_FMT_KPIPE)
					snprintf(errstr, en, "invalid msgpack");
				rd->dead = 1;
				return -1;
			}
		}
		if ((f = fill(rd)) < 0) {
			snprintf(errstr, en, "read error: %s", strerror(errno));
			return -2;
		}
		if (f == 0) {
			if (rd->start == rd->end)
				return 0;
			rd->line++;
			r->line = rd->line;
			rd->raw = rd->buf + rd->start;
			rd->rawlen = rd->end - rd->start;
			rd->start = rd->end;
			snprintf(errstr, en, "truncated %s record at end of input",
			    kp_format_name(rd->fmt));
			return -1;
		}
	}
	rd->line++;
	r->line = rd->line;
	rd->raw = rd->buf + rd->start;
	rd->rawlen = (size_t)sz;
	if (rd->fmt == KP_FMT_MSGPACK)
		kp_record_set_value(r, KP_VALUE_MSGPACK, rd->buf + rd->start,
		    (size_t)sz);
	rd->start += (size_t)sz;
	return 1;
}

/* ---- CSV (RFC 4180) ---- */

/* Pack one CSV field: quoted fields are strings; unquoted ones that read
 * as an integer or a float are numbers; everything else a string. */
static void
csv_pack_field(msgpack_packer *pk, const char *s, size_t n, int quoted)
{
	char tmp[64], *end;

	if (!quoted && n > 0 && n < sizeof(tmp)) {
		size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
		int digits = 0, other = 0;

		for (; i < n; i++) {
			if (s[i] >= '0' && s[i] <= '9')
				digits++;
			else
				other = 1;
		}
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		if (digits && !other) {
			long long v;

			errno = 0;
			v = strtoll(tmp, &end, 10);
			if (errno == 0 && *end == '\0') {
				msgpack_pack_int64(pk, v);
				return;
			}
			if (s[0] != '-') {
				unsigned long long u;

				errno = 0;
				u = strtoull(tmp, &end, 10);
				if (errno == 0 && *end == '\0') {
					msgpack_pack_uint64(pk, u);
					return;
				}
			}
			/* more digits than 64 bits hold: a string, so that
			 * none of them is lost (ksource(1)) */
			msgpack_pack_str_with_body(pk, s, n);
			return;
		}
		if (digits && strpbrk(tmp, "0123456789") &&
		    !strpbrk(tmp, "xXnNiIpP")) {	/* no hex, nan, inf */
			double d = strtod(tmp, &end);

			if (*end == '\0') {
				msgpack_pack_double(pk, d);
				return;
			}
		}
	}
	msgpack_pack_str_with_body(pk, s, n);
}

/* Split one CSV record (which may span lines inside quotes) into fields,
 * packing them with `pack` into rd->fieldv.  Returns the field count, 0
 * at EOF, -1 for a bad record, -2 on I/O error. */
static long
csv_record(struct kp_reader *rd, int typed, char *errstr, size_t en)
{
	const char *l;
	size_t n, i;
	long nf = 0;
	int inq = 0, wasq = 0, r;
	msgpack_packer pk;
	long first;

	kp_buf_reset(&rd->fieldv);
	kp_buf_reset(&rd->field);
	kp_buf_reset(&rd->rec);
	msgpack_packer_init(&pk, &rd->fieldv, buf_write);
	do {
		r = next_line(rd, &l, &n);
		if (r < 0) {
			snprintf(errstr, en, "read error: %s", strerror(errno));
			return -2;
		}
		if (r == 0) {
			if (!inq)
				return 0;
			snprintf(errstr, en, "unterminated quoted field");
			return -1;
		}
	} while (!inq && n == 0);	/* skip empty lines */
	first = rd->line;
	for (;;) {
		if (rd->rec.len)
			kp_buf_addc(&rd->rec, '\n');
		kp_buf_add(&rd->rec, l, n);
		for (i = 0; i <= n; i++) {
			char c = i < n ? l[i] : '\n';

			if (inq) {
				if (c == '"') {
					if (i + 1 < n && l[i + 1] == '"') {
						kp_buf_addc(&rd->field, '"');
						i++;
					} else {
						inq = 0;
					}
				} else {
					kp_buf_addc(&rd->field, c);
				}
				continue;
			}
			if (c == ',' || c == '\n') {
				if (typed)
					csv_pack_field(&pk, rd->field.data ?
					    rd->field.data : "", rd->field.len, wasq);
				else
					msgpack_pack_str_with_body(&pk, rd->field.data
					    ? rd->field.data : "", rd->field.len);
				nf++;
				kp_buf_reset(&rd->field);
				wasq = 0;
			} else if (c == '"' && rd->field.len == 0 && !wasq) {
				inq = wasq = 1;
			} else if (wasq) {
				snprintf(errstr, en, "text after a closing quote");
				rd->line = rd->line;
				return -1;
			} else {
				kp_buf_addc(&rd->field, c);
			}
		}
		if (!inq)
			break;
		r = next_line(rd, &l, &n);
		if (r <= 0) {
			snprintf(errstr, en, "unterminated quoted field "
			    "starting on line %ld", first);
			return r < 0 ? -2 : -1;
		}
	}
	rd->raw = rd->rec.data;
	rd->rawlen = rd->rec.len;
	return nf;
}

static int
csv_header(struct kp_reader *rd, char *errstr, size_t en)
{
	long nf = csv_record(rd, 0, errstr, en);
	size_t off = 0, i, j;

	if (nf <= 0)
		return (int)nf;
	rd->cols = kp_xcalloc((size_t)nf, sizeof(*rd->cols));
	rd->ncols = (size_t)nf;
	for (i = 0; i < rd->ncols; i++) {
		struct kp_mp_item it;

		kp_mp_read((uint8_t *)rd->fieldv.data + off,
		    rd->fieldv.len - off, &it);
		rd->cols[i] = kp_xmalloc(it.len + 1);
		memcpy(rd->cols[i], it.data, it.len);
		rd->cols[i][it.len] = '\0';
		off += it.hdr + it.len;
		for (j = 0; j < i; j++)
			if (!strcmp(rd->cols[j], rd->cols[i])) {
				snprintf(errstr, en, "duplicate column name "
				    "'%s' in the header", rd->cols[i]);
				return -2;
			}
	}
	return 1;
}

static int
read_csv(struct kp_reader *rd, struct kp_record *r, char *errstr, size_t en)
{
	struct kp_buf *v = &r->value;
	msgpack_packer pk;
	long nf;
	size_t i, off = 0;
	int h;

	if (rd->cols == NULL) {
		if ((h = csv_header(rd, errstr, en)) <= 0) {
			r->line = rd->line;
			return h == 0 ? 0 : -2;
		}
	}
	nf = csv_record(rd, 1, errstr, en);
	r->line = rd->line;
	if (nf <= 0)
		return (int)nf;
	if ((size_t)nf != rd->ncols) {
		snprintf(errstr, en, "%ld fields, the header has %zu", nf,
		    rd->ncols);
		return -1;
	}
	kp_buf_reset(v);
	msgpack_packer_init(&pk, v, buf_write);
	msgpack_pack_map(&pk, rd->ncols);
	for (i = 0; i < rd->ncols; i++) {
		long long sz = kp_mp_skip((uint8_t *)rd->fieldv.data + off,
		    rd->fieldv.len - off);

		msgpack_pack_str_with_body(&pk, rd->cols[i], strlen(rd->cols[i]));
		kp_buf_add(v, rd->fieldv.data + off, (size_t)sz);
		off += (size_t)sz;
	}
	r->vtype = KP_VALUE_MSGPACK;
	r->obj_valid = 0;
	return 1;
}

int
kp_reader_next(struct kp_reader *rd, struct kp_record *r, char *errstr,
    size_t en)
{
	const char *l;
	size_t n;
	int rc;

	kp_record_clear(r);
	r->src = rd->name;
	if (rd->dead) {
		snprintf(errstr, en, "cannot read on after a corrupt %s frame",
		    kp_format_name(rd->fmt));
		return -2;
	}
	if (rd->fmt == KP_FMT_AUTO && detect(rd) < 0) {
		snprintf(errstr, en, "read error: %s", strerror(errno));
		return -2;
	}
	if (!rd->bom_checked && (rd->fmt == KP_FMT_CSV ||
	    rd->fmt == KP_FMT_JSON || rd->fmt == KP_FMT_RAW) &&
	    skip_bom(rd) < 0) {
		snprintf(errstr, en, "read error: %s", strerror(errno));
		return -2;
	}
	switch (rd->fmt) {
	case KP_FMT_KPIPE:
	case KP_FMT_MSGPACK:
		rc = read_frame(rd, r, errstr, en);
		break;
	case KP_FMT_CSV:
		rc = read_csv(rd, r, errstr, en);
		break;
	case KP_FMT_RAW:
		rc = next_line(rd, &l, &n);
		r->line = rd->line;
		if (rc > 0)
			kp_record_set_value(r, KP_VALUE_BYTES, l, n);
		else if (rc < 0)
			snprintf(errstr, en, "read error: %s", strerror(errno));
		if (rc < 0)
			rc = -2;
		break;
	default:
		if (rd->jp == NULL)
			rd->jp = kp_json_parser_new();
		for (;;) {
			rc = next_line(rd, &l, &n);
			r->line = rd->line;
			if (rc <= 0) {
				if (rc < 0) {
					snprintf(errstr, en, "read error: %s",
					    strerror(errno));
					rc = -2;
				}
				break;
			}
			kp_buf_reset(&r->value);
			rc = kp_json_parse(rd->jp, l, n, &r->value, errstr, en);
			if (rc == -2)
				continue;	/* empty line */
			if (rc == 0) {
				r->vtype = KP_VALUE_MSGPACK;
				r->obj_valid = 0;
				rc = 1;
			}
			break;
		}
		break;
	}
	if (rc != 1)
		return rc;
	if (rd->o.nkey_paths)
		kp_record_apply_key(r, rd->o.key_paths, rd->o.nkey_paths);
	if (rd->o.time && kp_record_apply_time(r, rd->o.time, errstr, en) < 0)
		return -1;
	return 1;
}

/* ---- writer ---- */

struct kp_writer {
	int			 fd;
	struct kp_writer_opts	 o;
	struct kp_buf		 out;
	int			 header_done;
};

struct kp_writer *
kp_writer_new(int fd, const struct kp_writer_opts *opts)
{
	struct kp_writer *w = kp_xcalloc(1, sizeof(*w));

	w->fd = fd;
	w->o = *opts;
	writers = kp_xrealloc(writers, (nwriters + 1) * sizeof(*writers));
	writers[nwriters++] = w;
	return w;
}

void
kp_writer_free(struct kp_writer *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < nwriters; i++)
		if (writers[i] == w) {
			writers[i] = writers[--nwriters];
			break;
		}
	if (nwriters == 0) {
		free(writers);
		writers = NULL;
	}
	kp_buf_free(&w->out);
	free(w);
}

size_t
kp_writer_pending(const struct kp_writer *w)
{
	return w->out.len;
}

int
kp_writer_flush(struct kp_writer *w)
{
	size_t off = 0;
	ssize_t n;

	while (off < w->out.len) {
		n = write(w->fd, w->out.data + off, w->out.len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* keep what was not written, for a retry */
			memmove(w->out.data, w->out.data + off, w->out.len - off);
			w->out.len -= off;
			return -1;
		}
		off += (size_t)n;
	}
	kp_buf_reset(&w->out);
	return 0;
}

static void
csv_field(struct kp_buf *out, const char *s, size_t n)
{
	size_t i;

	if (n && !memchr(s, ',', n) && !memchr(s, '"', n) &&
	    !memchr(s, '\n', n) && !memchr(s, '\r', n) && s[0] != ' ' &&
	    s[n - 1] != ' ') {
		kp_buf_add(out, s, n);
		return;
	}
	if (n == 0)
		return;
	kp_buf_addc(out, '"');
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			kp_buf_addc(out, '"');
		kp_buf_addc(out, s[i]);
	}
	kp_buf_addc(out, '"');
}

static void
csv_value(struct kp_buf *out, struct kp_val *v, struct kp_buf *tmp)
{
	kp_buf_reset(tmp);
	if (v->t == KP_V_OBJ && v->o->type == MSGPACK_OBJECT_STR) {
		csv_field(out, v->o->via.str.ptr, v->o->via.str.size);
		return;
	}
	if (v->t == KP_V_MISSING || v->t == KP_V_NULL ||
	    (v->t == KP_V_OBJ && v->o->type == MSGPACK_OBJECT_NIL))
		return;
	if (v->t == KP_V_OBJ && (v->o->type == MSGPACK_OBJECT_FLOAT64 ||
	    v->o->type == MSGPACK_OBJECT_FLOAT32)) {
		kp_json_write_double(tmp, v->o->via.f64);
		csv_field(out, tmp->data, tmp->len);
		return;
	}
	kp_val_key_bytes(v, tmp);
	csv_field(out, tmp->data ? tmp->data : "", tmp->len);
}

static void
write_format(struct kp_writer *w, struct kp_record *r)
{
	const char *f = w->o.format;
	struct kp_buf *out = &w->out;
	size_t i;

	for (; *f; f++) {
		if (*f == '\\' && f[1]) {
			f++;
			switch (*f) {
			case 'n': kp_buf_addc(out, '\n'); break;
			case 't': kp_buf_addc(out, '\t'); break;
			case 'r': kp_buf_addc(out, '\r'); break;
			case '0': kp_buf_addc(out, '\0'); break;
			default: kp_buf_addc(out, *f);
			}
			continue;
		}
		if (*f != '%' || !f[1]) {
			kp_buf_addc(out, *f);
			continue;
		}
		switch (*++f) {
		case 'k':
			if (!r->key_null)
				kp_buf_add(out, r->key.data, r->key.len);
			break;
		case 'K':
			kp_buf_printf(out, "%ld", r->key_null ? -1L :
			    (long)r->key.len);
			break;
		case 'v':
			if (r->vtype == KP_VALUE_BYTES)
				kp_buf_add(out, r->value.data, r->value.len);
			else if (r->vtype == KP_VALUE_MSGPACK)
				kp_value_json(out, r);
			break;
		case 'S':
			kp_buf_printf(out, "%ld", r->vtype == KP_VALUE_NULL ? -1L :
			    (long)r->value.len);
			break;
		case 't':
			kp_buf_add(out, r->topic.data, r->topic.len);
			break;
		case 'p':
			kp_buf_printf(out, "%d", (int)r->partition);
			break;
		case 'o':
			kp_buf_printf(out, "%lld", (long long)r->offset);
			break;
		case 'T':
			kp_buf_printf(out, "%lld", r->timestamp == KP_TS_NONE ?
			    -1LL : (long long)r->timestamp);
			break;
		case 'h':
			for (i = 0; i < r->header_cnt; i++) {
				if (i)
					kp_buf_addc(out, ',');
				kp_buf_add(out, r->headers[i].name.data,
				    r->headers[i].name.len);
				kp_buf_addc(out, '=');
				if (!r->headers[i].null)
					kp_buf_add(out, r->headers[i].value.data,
					    r->headers[i].value.len);
			}
			break;
		case '%':
			kp_buf_addc(out, '%');
			break;
		default:
			kp_buf_addc(out, '%');
			kp_buf_addc(out, *f);
		}
	}
}

int
kp_writer_write(struct kp_writer *w, struct kp_record *r)
{
	struct kp_buf *out = &w->out;
	size_t i;

	switch (w->o.fmt) {
	case KP_FMT_KPIPE:
	case KP_FMT_AUTO:
		kp_envelope_pack(out, r);
		break;
	case KP_FMT_JSON:
		kp_envelope_json(out, r);
		kp_buf_addc(out, '\n');
		break;
	case KP_FMT_VALUE:
		kp_value_json(out, r);
		kp_buf_addc(out, '\n');
		break;
	case KP_FMT_RAW:
		if (r->vtype == KP_VALUE_BYTES)
			kp_buf_add(out, r->value.data, r->value.len);
		else if (r->vtype == KP_VALUE_MSGPACK)
			kp_value_json(out, r);
		kp_buf_addc(out, '\n');
		break;
	case KP_FMT_MSGPACK:
		if (r->vtype == KP_VALUE_MSGPACK) {
			kp_buf_add(out, r->value.data, r->value.len);
		} else {
			msgpack_packer pk;

			msgpack_packer_init(&pk, out, buf_write);
			if (r->vtype == KP_VALUE_NULL)
				msgpack_pack_nil(&pk);
			else
				msgpack_pack_bin_with_body(&pk, r->value.data,
				    r->value.len);
		}
		break;
	case KP_FMT_CSV: {
		struct kp_buf tmp = {0};
		struct kp_val v;

		if (!w->header_done && !w->o.no_header) {
			for (i = 0; i < w->o.ncolumns; i++) {
				const char *t = w->o.columns[i].text;
				const char *name = t[0] == '.' && t[1] ? t + 1 : t;

				if (i)
					kp_buf_addc(out, ',');
				csv_field(out, name, strlen(name));
			}
			kp_buf_addc(out, '\n');
		}
		w->header_done = 1;
		for (i = 0; i < w->o.ncolumns; i++) {
			if (i)
				kp_buf_addc(out, ',');
			kp_path_eval(&w->o.columns[i], r, &v);
			csv_value(out, &v, &tmp);
		}
		kp_buf_addc(out, '\n');
		kp_buf_free(&tmp);
		break;
	}
	case KP_FMT_FORMAT:
		write_format(w, r);
		break;
	default:
		break;
	}
	if (out->len >= WRITE_HIGH)
		return kp_writer_flush(w);
	return 0;
}

size_t
kp_reader_buffered(const struct kp_reader *rd)
{
	return rd->end - rd->start;
}
