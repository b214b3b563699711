/* json.c - yajl's streaming parser packing into msgpack; a msgpack to
 * JSON writer. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <yajl/yajl_parse.h>

#include "json.h"
#include "mp.h"

struct frame {
	size_t	start;		/* offset of the 5 reserved header bytes */
	size_t	count;		/* elements, or keys for a map */
	size_t	key_base;	/* first index in keys[] */
	int	map;
};

struct keyref {
	size_t	off;		/* absolute offset of the packed key */
	size_t	len;		/* its packed length */
};

struct kp_json_parser {
	yajl_handle	 h;
	struct kp_buf	*out;
	msgpack_packer	 pk;
	struct frame	 stack[KP_JSON_MAX_DEPTH];
	int		 depth;
	int		 too_deep;
	int		 values;	/* complete top-level values */
	struct keyref	*keys;
	size_t		 nkeys, capkeys;
	struct kp_buf	 tmp;
};

static int
buf_write(void *data, const char *buf, size_t len)
{
	kp_buf_add(data, buf, len);
	return 0;
}

/* an element was added to the innermost container, or a top-level value
 * is complete */
static void
element(struct kp_json_parser *p)
{
	if (p->depth == 0)
		p->values++;
	else if (!p->stack[p->depth - 1].map)
		p->stack[p->depth - 1].count++;
}

static int
cb_null(void *ctx)
{
	struct kp_json_parser *p = ctx;

	msgpack_pack_nil(&p->pk);
	element(p);
	return 1;
}

static int
cb_bool(void *ctx, int b)
{
	struct kp_json_parser *p = ctx;

	if (b)
		msgpack_pack_true(&p->pk);
	else
		msgpack_pack_false(&p->pk);
	element(p);
	return 1;
}

static int
cb_number(void *ctx, const char *s, size_t n)
{
	struct kp_json_parser *p = ctx;
	char small[64], *num = small, *end;
	int integral = !memchr(s, '.', n) && !memchr(s, 'e', n) &&
	    !memchr(s, 'E', n);

	if (n >= sizeof(small))
		num = kp_xmalloc(n + 1);
	memcpy(num, s, n);
	num[n] = '\0';
	if (integral) {
		long long v;
		unsigned long long u;

		errno = 0;
		v = strtoll(num, &end, 10);
		if (errno == 0) {
			msgpack_pack_int64(&p->pk, v);
			goto done;
		}
		if (num[0] != '-') {
			errno = 0;
			u = strtoull(num, &end, 10);
			if (errno == 0) {
				msgpack_pack_uint64(&p->pk, u);
				goto done;
			}
		}
	}
	msgpack_pack_double(&p->pk, strtod(num, &end));
done:
	if (num != small)
		free(num);
	element(p);
	return 1;
}

static int
cb_string(void *ctx, const unsigned char *s, size_t n)
{
	struct kp_json_parser *p = ctx;

	msgpack_pack_str_with_body(&p->pk, s, n);
	element(p);
	return 1;
}

static int
open_container(struct kp_json_parser *p, int map)
{
	struct frame *f;

	if (p->depth == KP_JSON_MAX_DEPTH) {
		p->too_deep = 1;
		return 0;
	}
	f = &p->stack[p->depth++];
	f->start = p->out->len;
	f->count = 0;
	f->map = map;
	f->key_base = p->nkeys;
	kp_buf_add(p->out, "\0\0\0\0\0", 5);
	return 1;
}

static int
cb_start_map(void *ctx)
{
	return open_container(ctx, 1);
}

static int
cb_start_array(void *ctx)
{
	return open_container(ctx, 0);
}

static int
cb_map_key(void *ctx, const unsigned char *s, size_t n)
{
	struct kp_json_parser *p = ctx;
	struct frame *f = &p->stack[p->depth - 1];

	if (p->nkeys == p->capkeys) {
		p->capkeys = p->capkeys ? p->capkeys * 2 : 32;
		p->keys = kp_xrealloc(p->keys, p->capkeys * sizeof(*p->keys));
	}
	p->keys[p->nkeys].off = p->out->len;
	msgpack_pack_str_with_body(&p->pk, s, n);
	p->keys[p->nkeys].len = p->out->len - p->keys[p->nkeys].off;
	p->nkeys++;
	f->count++;
	return 1;
}

static int
keyeq(const struct kp_json_parser *p, const struct keyref *a,
    const struct keyref *b)
{
	return a->len == b->len &&
	    !memcmp(p->out->data + a->off, p->out->data + b->off, a->len);
}

/* Rebuild a map's entries [content, end) keeping, for each distinct key,
 * its first position and its last value.  Returns the new count. */
static size_t
dedup(struct kp_json_parser *p, struct keyref *k, size_t n, size_t end)
{
	size_t i, j, kept = 0, content = k[0].off;
	struct kp_buf *t = &p->tmp;

	kp_buf_reset(t);
	for (i = 0; i < n; i++) {
		size_t last = i, vstart, vend;

		for (j = 0; j < i && !keyeq(p, &k[j], &k[i]); j++)
			;
		if (j < i)
			continue;		/* not the first occurrence */
		for (j = i + 1; j < n; j++)
			if (keyeq(p, &k[j], &k[i]))
				last = j;
		vstart = k[last].off + k[last].len;
		vend = last + 1 < n ? k[last + 1].off : end;
		kp_buf_add(t, p->out->data + k[i].off, k[i].len);
		kp_buf_add(t, p->out->data + vstart, vend - vstart);
		kept++;
	}
	memcpy(p->out->data + content, t->data, t->len);
	p->out->len = content + t->len;
	return kept;
}

static int
has_dup(const struct kp_json_parser *p, const struct keyref *k, size_t n)
{
	size_t i, j;

	/* maps are small; a quadratic scan beats sorting below ~64 keys,
	 * and a huge object pays once per parse */
	for (i = 1; i < n; i++)
		for (j = 0; j < i; j++)
			if (keyeq(p, &k[i], &k[j]))
				return 1;
	return 0;
}

static int
close_container(void *ctx)
{
	struct kp_json_parser *p = ctx;
	struct frame *f = &p->stack[--p->depth];
	unsigned char hdr[5];
	size_t h, body;

	if (f->map) {
		struct keyref *k = p->keys + f->key_base;

		if (f->count > 1 && has_dup(p, k, f->count))
			f->count = dedup(p, k, f->count, p->out->len);
		p->nkeys = f->key_base;
	}
	if (f->count < 16) {
		hdr[0] = (unsigned char)((f->map ? 0x80 : 0x90) | f->count);
		h = 1;
	} else if (f->count < 65536) {
		hdr[0] = f->map ? 0xde : 0xdc;
		hdr[1] = (unsigned char)(f->count >> 8);
		hdr[2] = (unsigned char)f->count;
		h = 3;
	} else {
		hdr[0] = f->map ? 0xdf : 0xdd;
		hdr[1] = (unsigned char)(f->count >> 24);
		hdr[2] = (unsigned char)(f->count >> 16);
		hdr[3] = (unsigned char)(f->count >> 8);
		hdr[4] = (unsigned char)f->count;
		h = 5;
	}
	body = p->out->len - f->start - 5;
	memcpy(p->out->data + f->start, hdr, h);
	if (h < 5) {
		memmove(p->out->data + f->start + h,
		    p->out->data + f->start + 5, body);
		p->out->len -= 5 - h;
		p->out->data[p->out->len] = '\0';
	}
	element(p);
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_null = cb_null,
	.yajl_boolean = cb_bool,
	.yajl_number = cb_number,
	.yajl_string = cb_string,
	.yajl_start_map = cb_start_map,
	.yajl_map_key = cb_map_key,
	.yajl_end_map = close_container,
	.yajl_start_array = cb_start_array,
	.yajl_end_array = close_container,
};

static void
reset_handle(struct kp_json_parser *p)
{
	if (p->h)
		yajl_free(p->h);
	p->h = yajl_alloc(&callbacks, NULL, p);
	if (p->h == NULL)
		abort();
	yajl_config(p->h, yajl_allow_multiple_values, 1);
	p->depth = 0;
	p->nkeys = 0;
}

struct kp_json_parser *
kp_json_parser_new(void)
{
	struct kp_json_parser *p = kp_xcalloc(1, sizeof(*p));

	reset_handle(p);
	return p;
}

void
kp_json_parser_free(struct kp_json_parser *p)
{
	if (p == NULL)
		return;
	yajl_free(p->h);
	free(p->keys);
	kp_buf_free(&p->tmp);
	free(p);
}

static int
all_space(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

int
kp_json_parse(struct kp_json_parser *p, const char *s, size_t n,
    struct kp_buf *out, char *errstr, size_t errstr_size)
{
	size_t before = out->len;
	yajl_status st;

	if (all_space(s, n)) {
		snprintf(errstr, errstr_size, "empty");
		return -2;
	}
	p->out = out;
	msgpack_packer_init(&p->pk, out, buf_write);
	p->values = 0;
	p->too_deep = 0;
	st = yajl_parse(p->h, (const unsigned char *)s, n);
	/* a trailing number needs a delimiter to be seen as complete */
	if (st == yajl_status_ok)
		st = yajl_parse(p->h, (const unsigned char *)" ", 1);
	if (st != yajl_status_ok) {
		if (p->too_deep) {
			snprintf(errstr, errstr_size,
			    "invalid JSON: nesting deeper than %d",
			    KP_JSON_MAX_DEPTH);
		} else {
			unsigned char *e = yajl_get_error(p->h, 0, NULL, 0);
			size_t col = yajl_get_bytes_consumed(p->h);
			char *nl;

			if ((nl = strchr((char *)e, '\n')) != NULL)
				*nl = '\0';
			if ((nl = strrchr((char *)e, '.')) != NULL &&
			    nl[1] == '\0')
				*nl = '\0';
			snprintf(errstr, errstr_size,
			    "invalid JSON at column %zu: %s", col + 1, e);
			yajl_free_error(p->h, e);
		}
		goto fail;
	}
	if (p->values == 0 || p->depth != 0) {
		snprintf(errstr, errstr_size,
		    "invalid JSON: truncated (value not complete at end of line)");
		goto fail;
	}
	if (p->values > 1) {
		snprintf(errstr, errstr_size,
		    "invalid JSON: more than one value on the line");
		goto fail;
	}
	return 0;
fail:
	reset_handle(p);
	out->len = before;
	if (out->data)
		out->data[before] = '\0';
	return -1;
}

/* ---- one field (struct kp_json_field), first written in krepart ---- */

struct kp_json_field {
	yajl_handle		 h;
	char			*name;
	size_t			 name_len;
	int			 depth;
	int			 values;	/* top-level values complete */
	int			 want;		/* the next value is the field */
	int			 found;
	struct kp_buf		 val;
	int			 null;
};

/* a scalar value: the field's when it is wanted */
static int
field_scalar(struct kp_json_field *f, int kind, const void *s, size_t n)
{
	if (f->depth == 0)
		return 0;	/* a top-level scalar: not an object */
	if (!f->want)
		return 1;
	f->want = 0;
	f->found++;
	switch (kind) {
	case 's':
		kp_buf_add(&f->val, s, n);
		return 1;
	case 'z':
		f->null = 1;
		return 1;
	default:
		return 0;
	}
}

static int
field_null(void *ctx)
{
	return field_scalar(ctx, 'z', NULL, 0);
}

static int
field_bool(void *ctx, int b)
{
	(void)b;
	return field_scalar(ctx, 'b', NULL, 0);
}

/* an integer of at most 18 digits keys as its digits, as the full
 * decoder's int64 does; "-0", floats and longer numbers go to it */
static int
field_number(void *ctx, const char *s, size_t n)
{
	struct kp_json_field *f = ctx;
	size_t i = s[0] == '-';

	if (!f->want)
		return field_scalar(f, 'n', NULL, 0);
	if (n - i < 1 || n - i > 18 || (i && s[1] == '0'))
		return 0;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return field_scalar(f, 's', s, n);
}

static int
field_string(void *ctx, const unsigned char *s, size_t n)
{
	return field_scalar(ctx, 's', s, n);
}

static int
field_open(void *ctx)
{
	struct kp_json_field *f = ctx;

	if (f->want || f->depth >= KP_JSON_MAX_DEPTH)
		return 0;
	f->depth++;
	return 1;
}

static int
field_open_array(void *ctx)
{
	struct kp_json_field *f = ctx;

	return f->depth == 0 ? 0 : field_open(ctx);
}

static int
field_close(void *ctx)
{
	struct kp_json_field *f = ctx;

	if (--f->depth == 0)
		f->values++;
	return 1;
}

static int
field_map_key(void *ctx, const unsigned char *s, size_t n)
{
	struct kp_json_field *f = ctx;

	if (f->depth != 1)
		return 1;
	f->want = n == f->name_len && !memcmp(s, f->name, n);
	return !(f->want && f->found);	/* a repeated field: give up */
}

static const yajl_callbacks field_callbacks = {
	.yajl_null = field_null,
	.yajl_boolean = field_bool,
	.yajl_number = field_number,
	.yajl_string = field_string,
	.yajl_start_map = field_open,
	.yajl_map_key = field_map_key,
	.yajl_end_map = field_close,
	.yajl_start_array = field_open_array,
	.yajl_end_array = field_close,
};

static void
field_reset(struct kp_json_field *f)
{
	if (f->h)
		yajl_free(f->h);
	if ((f->h = yajl_alloc(&field_callbacks, NULL, f)) == NULL)
		abort();
	yajl_config(f->h, yajl_allow_multiple_values, 1);
	f->depth = 0;
}

struct kp_json_field *
kp_json_field_new(const char *name, size_t name_len)
{
	struct kp_json_field *f = kp_xcalloc(1, sizeof(*f));

	f->name = kp_xmalloc(name_len + 1);
	memcpy(f->name, name, name_len);
	f->name[name_len] = '\0';
	f->name_len = name_len;
	field_reset(f);
	return f;
}

void
kp_json_field_free(struct kp_json_field *f)
{
	if (f == NULL)
		return;
	yajl_free(f->h);
	kp_buf_free(&f->val);
	free(f->name);
	free(f);
}

int
kp_json_field_get(struct kp_json_field *f, const void *sv, size_t n,
    const char **v, size_t *vn)
{
	const unsigned char *p = sv;
	yajl_status st;
	size_t j = 0;

	while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\n' ||
	    p[j] == '\r'))
		j++;
	if (j == n || p[j] != '{')
		return 0;
	f->values = f->want = f->found = f->null = 0;
	kp_buf_reset(&f->val);
	st = yajl_parse(f->h, p, n);
	/* a trailing number needs a delimiter to be seen as complete */
	if (st == yajl_status_ok)
		st = yajl_parse(f->h, (const unsigned char *)" ", 1);
	if (st != yajl_status_ok || f->depth != 0) {
		field_reset(f);
		return 0;
	}
	if (f->values != 1 || f->found != 1)
		return 0;
	*v = f->null ? NULL : f->val.data ? f->val.data : "";
	*vn = f->null ? 0 : f->val.len;
	return 1;
}

/* ---- writer ---- */

static const char hexd[] = "0123456789abcdef";

void
kp_json_write_string(struct kp_buf *out, const void *sv, size_t n)
{
	const unsigned char *s = sv, *e = s + n;

	kp_buf_grow(out, n + 2);
	kp_buf_addc(out, '"');
	while (s < e) {
		unsigned char c = *s;
		const unsigned char *run = s;

		/* copy plain ASCII runs in one go */
		while (s < e && *s >= 0x20 && *s < 0x80 && *s != '"' &&
		    *s != '\\')
			s++;
		if (s > run) {
			kp_buf_add(out, run, (size_t)(s - run));
			continue;
		}
		c = *s;
		if (c < 0x80) {
			switch (c) {
			case '"': kp_buf_add(out, "\\\"", 2); break;
			case '\\': kp_buf_add(out, "\\\\", 2); break;
			case '\n': kp_buf_add(out, "\\n", 2); break;
			case '\r': kp_buf_add(out, "\\r", 2); break;
			case '\t': kp_buf_add(out, "\\t", 2); break;
			case '\b': kp_buf_add(out, "\\b", 2); break;
			case '\f': kp_buf_add(out, "\\f", 2); break;
			default: {
				char u[6] = { '\\', 'u', '0', '0',
				    hexd[c >> 4], hexd[c & 15] };

				kp_buf_add(out, u, 6);
			}
			}
			s++;
			continue;
		}
		{
			size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

			if ((size_t)(e - s) >= len && kp_utf8_valid(s, len)) {
				kp_buf_add(out, s, len);
				s += len;
			} else {
				kp_buf_add(out, "\xef\xbf\xbd", 3);
				s++;
			}
		}
	}
	kp_buf_addc(out, '"');
}

void
kp_json_write_double(struct kp_buf *out, double d)
{
	char b[40];
	int prec;

	/* JSON has no infinity: a number too large for a double (1e400)
	 * is written as the largest double, with its sign, as jq does;
	 * NaN, which no JSON text makes, as null */
	if (isnan(d)) {
		kp_buf_add(out, "null", 4);
		return;
	}
	if (isinf(d)) {
		kp_buf_adds(out, d < 0 ? "-1.7976931348623157e+308" :
		    "1.7976931348623157e+308");
		return;
	}
	for (prec = 15; prec <= 17; prec++) {
		snprintf(b, sizeof(b), "%.*g", prec, d);
		if (strtod(b, NULL) == d)
			break;
	}
	kp_buf_adds(out, b);
	if (!strpbrk(b, ".en"))
		kp_buf_add(out, ".0", 2);
}

static long long
write_obj(struct kp_buf *out, const uint8_t *p, size_t n, int depth)
{
	struct kp_mp_item it;
	size_t off;
	uint64_t i;
	long long r;

	if (depth > KP_MP_MAX_DEPTH || kp_mp_read(p, n, &it) != 1)
		return -1;
	off = it.hdr;
	switch (it.type) {
	case KP_MP_NIL:
		kp_buf_add(out, "null", 4);
		break;
	case KP_MP_BOOL:
		kp_buf_adds(out, it.b ? "true" : "false");
		break;
	case KP_MP_UINT:
		kp_buf_printf(out, "%llu", (unsigned long long)it.u);
		break;
	case KP_MP_INT:
		kp_buf_printf(out, "%lld", (long long)it.i);
		break;
	case KP_MP_FLOAT:
		kp_json_write_double(out, it.f);
		break;
	case KP_MP_STR:
		kp_json_write_string(out, it.data, it.len);
		off += it.len;
		break;
	case KP_MP_BIN:
	case KP_MP_EXT:
		kp_buf_addc(out, '"');
		kp_base64_encode(out, it.data, it.len);
		kp_buf_addc(out, '"');
		off += it.len;
		break;
	case KP_MP_ARRAY:
		kp_buf_addc(out, '[');
		for (i = 0; i < it.len; i++) {
			if (i)
				kp_buf_addc(out, ',');
			if ((r = write_obj(out, p + off, n - off, depth + 1)) < 0)
				return -1;
			off += (size_t)r;
		}
		kp_buf_addc(out, ']');
		break;
	case KP_MP_MAP:
		kp_buf_addc(out, '{');
		for (i = 0; i < it.len; i++) {
			struct kp_mp_item k;

			if (i)
				kp_buf_addc(out, ',');
			if (kp_mp_read(p + off, n - off, &k) != 1)
				return -1;
			if (k.type == KP_MP_STR) {
				kp_json_write_string(out, k.data, k.len);
				off += k.hdr + k.len;
			} else {
				struct kp_buf kb = {0};

				r = write_obj(&kb, p + off, n - off, depth + 1);
				if (r >= 0)
					kp_json_write_string(out, kb.data, kb.len);
				kp_buf_free(&kb);
				if (r < 0)
					return -1;
				off += (size_t)r;
			}
			kp_buf_addc(out, ':');
			if ((r = write_obj(out, p + off, n - off, depth + 1)) < 0)
				return -1;
			off += (size_t)r;
		}
		kp_buf_addc(out, '}');
		break;
	}
	return (long long)off;
}

long long
kp_json_write(struct kp_buf *out, const void *mp, size_t n)
{
	return write_obj(out, mp, n, 0);
}
