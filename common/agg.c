/* agg.c - aggregate functions, their state and serialisation, and the
 * windowed group table of one partition.  See agg.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg.h"
#include "json.h"
#include "mp.h"
#include "sketch.h"
#include "store.h"

/* ---- small helpers ---- */

static uint64_t
hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *s = p;
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL), k;

	while (n >= 8) {
		memcpy(&k, s, 8);
		k *= 0xbf58476d1ce4e5b9ULL;
		k ^= k >> 31;
		h = (h ^ k) * 0x94d049bb133111ebULL;
		s += 8;
		n -= 8;
	}
	k = 0;
	if (n)
		memcpy(&k, s, n);
	h ^= k * 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 32;
	return h;
}

static int
buf_write(void *data, const char *buf, size_t len)
{
	kp_buf_add(data, buf, len);
	return 0;
}

static void
put_u8(struct kp_buf *b, uint8_t v)
{
	kp_buf_add(b, &v, 1);
}

static void
put_u32(struct kp_buf *b, uint32_t v)
{
	uint8_t x[4];
	int i;

	for (i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	kp_buf_add(b, x, 4);
}

static void
put_u64(struct kp_buf *b, uint64_t v)
{
	uint8_t x[8];
	int i;

	for (i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	kp_buf_add(b, x, 8);
}

static void
put_f64(struct kp_buf *b, double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	put_u64(b, u);
}

/* a bounds-checked little-endian reader */
struct rd {
	const uint8_t	*p;
	size_t		 n, off;
	int		 bad;
};

static const uint8_t *
rd_take(struct rd *r, size_t k)
{
	const uint8_t *p;

	if (r->bad || r->n - r->off < k) {
		r->bad = 1;
		return NULL;
	}
	p = r->p + r->off;
	r->off += k;
	return p;
}

static uint8_t
get_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? p[0] : 0;
}

static uint32_t
get_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);
	uint32_t v = 0;
	int i;

	if (p)
		for (i = 0; i < 4; i++)
			v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t
get_u64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	uint64_t v = 0;
	int i;

	if (p)
		for (i = 0; i < 8; i++)
			v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static double
get_f64(struct rd *r)
{
	uint64_t u = get_u64(r);
	double d;

	memcpy(&d, &u, 8);
	return d;
}

/* ---- values ---- */

/* size of the complete object whose header is `it` at p[0..n) */
static size_t
obj_size(const uint8_t *p, size_t n, const struct kp_mp_item *it)
{
	long long sz;

	switch (it->type) {
	case KP_MP_STR:
	case KP_MP_BIN:
	case KP_MP_EXT:
		return it->hdr + (size_t)it->len;
	case KP_MP_ARRAY:
	case KP_MP_MAP:
		sz = kp_mp_skip(p, n);
		return sz > 0 ? (size_t)sz : 0;
	default:
		return it->hdr;
	}
}

static void
classify(const uint8_t *p, size_t n, struct kp_aggval *v)
{
	struct kp_mp_item it;

	memset(v, 0, sizeof(*v));
	if (kp_mp_read(p, n, &it) != 1) {
		v->t = KP_AV_MISSING;
		return;
	}
	v->mp = p;
	v->mplen = obj_size(p, n, &it);
	switch (it.type) {
	case KP_MP_NIL:
		v->t = KP_AV_NULL;
		break;
	case KP_MP_BOOL:
		v->t = KP_AV_BOOL;
		v->i = it.b;
		break;
	case KP_MP_UINT:
		if (it.u > INT64_MAX) {
			v->t = KP_AV_FLOAT;
			v->f = (double)it.u;
		} else {
			v->t = KP_AV_INT;
			v->i = (int64_t)it.u;
			v->f = (double)v->i;
		}
		break;
	case KP_MP_INT:
		v->t = KP_AV_INT;
		v->i = it.i;
		v->f = (double)it.i;
		break;
	case KP_MP_FLOAT:
		v->t = KP_AV_FLOAT;
		v->f = it.f;
		break;
	case KP_MP_STR:
		v->t = KP_AV_STR;
		v->data = it.data;
		v->len = (size_t)it.len;
		break;
	case KP_MP_BIN:
		v->t = KP_AV_BIN;
		v->data = it.data;
		v->len = (size_t)it.len;
		break;
	case KP_MP_EXT:
		v->t = KP_AV_EXT;
		break;
	case KP_MP_ARRAY:
		v->t = KP_AV_ARRAY;
		break;
	case KP_MP_MAP:
		v->t = KP_AV_MAP;
		break;
	}
	if (v->mplen == 0)
		v->t = KP_AV_MISSING;
}

/* metadata bytes: BIN, packed as str when valid UTF-8 (kp_val_pack) */
static void
meta_bytes(struct kp_aggval *v, const void *p, size_t n, struct kp_buf *s)
{
	msgpack_packer pk;

	kp_buf_reset(s);
	msgpack_packer_init(&pk, s, buf_write);
	if (kp_utf8_valid(p, n))
		msgpack_pack_str_with_body(&pk, p, n);
	else
		msgpack_pack_bin_with_body(&pk, p, n);
	memset(v, 0, sizeof(*v));
	v->t = KP_AV_BIN;
	v->mp = (const uint8_t *)s->data;
	v->mplen = s->len;
	/* the payload is the tail of the packed copy */
	v->data = v->mp + (v->mplen - n);
	v->len = n;
}

static void
meta_int(struct kp_aggval *v, int64_t i, struct kp_buf *s)
{
	msgpack_packer pk;

	kp_buf_reset(s);
	msgpack_packer_init(&pk, s, buf_write);
	msgpack_pack_int64(&pk, i);
	memset(v, 0, sizeof(*v));
	v->t = KP_AV_INT;
	v->i = i;
	v->f = (double)i;
	v->mp = (const uint8_t *)s->data;
	v->mplen = s->len;
}

static void
meta_nil(struct kp_aggval *v)
{
	static const uint8_t nil = 0xc0;

	memset(v, 0, sizeof(*v));
	v->t = KP_AV_NULL;
	v->mp = &nil;
	v->mplen = 1;
}

/* Size of the object at p[0..n), with inline cases for the common
 * scalars and short strings; 0 when malformed or cut short. */
static inline size_t
fast_size(const uint8_t *p, size_t n)
{
	struct kp_mp_item it;
	uint8_t c;
	size_t sz;

	if (n == 0)
		return 0;
	c = p[0];
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
		return 1;
	if ((c & 0xe0) == 0xa0)
		sz = 1 + (size_t)(c & 0x1f);
	else if (c == 0xcb || c == 0xcf || c == 0xd3)
		sz = 9;
	else if (c == 0xca || c == 0xce || c == 0xd2)
		sz = 5;
	else if (c == 0xcd || c == 0xd1)
		sz = 3;
	else if (c == 0xcc || c == 0xd0)
		sz = 2;
	else if (c == 0xd9)
		sz = n < 2 ? n + 1 : 2 + (size_t)p[1];
	else if (kp_mp_read(p, n, &it) != 1)
		return 0;
	else
		sz = obj_size(p, n, &it);
	return sz <= n ? sz : 0;
}

/* the payload of a str at p (fixstr and str8 inline); -1: not a str */
static inline int
fast_str(const uint8_t *p, size_t n, const uint8_t **s, size_t *len)
{
	struct kp_mp_item it;
	uint8_t c = p[0];

	if ((c & 0xe0) == 0xa0) {
		*s = p + 1;
		*len = c & 0x1f;
		return 0;
	}
	if (c == 0xd9 && n >= 2) {
		*s = p + 2;
		*len = p[1];
		return 0;
	}
	if (c != 0xda && c != 0xdb)
		return -1;
	if (kp_mp_read(p, n, &it) != 1)
		return -1;
	*s = it.data;
	*len = (size_t)it.len;
	return 0;
}

/* the rest of kp_aggval_eval's walk, from step `from` at cur[0..n) */
static void
walk(const struct kp_path *p, size_t from, const uint8_t *cur, size_t n,
    struct kp_aggval *v)
{
	size_t i;

	for (i = from; i < p->nsteps; i++) {
		const struct kp_path_step *s = &p->steps[i];
		struct kp_mp_item it;
		const uint8_t *found = NULL;
		size_t fsz = 0, off, ksz, vsz;
		uint64_t j;

		if (kp_mp_read(cur, n, &it) != 1)
			goto missing;
		off = it.hdr;
		if (s->name) {
			if (it.type != KP_MP_MAP)
				goto missing;
			/* the last duplicate wins, as kp_path_eval() */
			for (j = 0; j < it.len; j++) {
				const uint8_t *ks;
				size_t kl;

				if ((ksz = fast_size(cur + off, n - off)) == 0)
					goto missing;
				if ((vsz = fast_size(cur + off + ksz,
				    n - off - ksz)) == 0)
					goto missing;
				if (fast_str(cur + off, n - off, &ks, &kl) == 0 &&
				    kl == s->name_len &&
				    !memcmp(ks, s->name, kl)) {
					found = cur + off + ksz;
					fsz = vsz;
				}
				off += ksz + vsz;
			}
		} else {
			int64_t ix = s->index;

			if (it.type != KP_MP_ARRAY)
				goto missing;
			if (ix < 0)
				ix += (int64_t)it.len;
			if (ix < 0 || (uint64_t)ix >= it.len)
				goto missing;
			for (j = 0; j <= (uint64_t)ix; j++) {
				if ((vsz = fast_size(cur + off, n - off)) == 0)
					goto missing;
				if (j == (uint64_t)ix) {
					found = cur + off;
					fsz = vsz;
				}
				off += vsz;
			}
		}
		if (found == NULL)
			goto missing;
		cur = found;
		n = fsz;
	}
	classify(cur, n, v);
	return;
missing:
	memset(v, 0, sizeof(*v));
	v->t = KP_AV_MISSING;
}

void
kp_aggval_eval(const struct kp_path *p, struct kp_record *r,
    struct kp_aggval *v, struct kp_buf *scratch)
{
	const struct kp_header *h;

	memset(v, 0, sizeof(*v));
	switch (p->root) {
	case KP_ROOT_KEY:
		if (r->key_null)
			meta_nil(v);
		else
			meta_bytes(v, r->key.data ? r->key.data : "", r->key.len,
			    scratch);
		return;
	case KP_ROOT_TIMESTAMP:
		if (r->timestamp == KP_TS_NONE)
			v->t = KP_AV_MISSING;
		else
			meta_int(v, r->timestamp, scratch);
		return;
	case KP_ROOT_TOPIC:
		if (r->topic.len)
			meta_bytes(v, r->topic.data, r->topic.len, scratch);
		else
			v->t = KP_AV_MISSING;
		return;
	case KP_ROOT_PARTITION:
	case KP_ROOT_OFFSET: {
		int64_t x = p->root == KP_ROOT_PARTITION ? r->partition :
		    r->offset;

		if (x < 0)
			v->t = KP_AV_MISSING;
		else
			meta_int(v, x, scratch);
		return;
	}
	case KP_ROOT_HEADER:
		h = kp_record_header(r, p->steps[0].name, p->steps[0].name_len);
		if (h == NULL)
			v->t = KP_AV_MISSING;
		else if (h->null)
			meta_nil(v);
		else
			meta_bytes(v, h->value.data ? h->value.data : "",
			    h->value.len, scratch);
		return;
	case KP_ROOT_VALUE:
		break;
	}
	if (r->vtype == KP_VALUE_NULL) {
		if (p->nsteps)
			v->t = KP_AV_MISSING;
		else
			meta_nil(v);
		return;
	}
	if (r->vtype == KP_VALUE_BYTES) {
		if (p->nsteps)
			v->t = KP_AV_MISSING;
		else
			meta_bytes(v, r->value.data ? r->value.data : "",
			    r->value.len, scratch);
		return;
	}
	walk(p, 0, (const uint8_t *)r->value.data, r->value.len, v);
}

void
kp_aggval_eval_many(const struct kp_path *const *paths, size_t np,
    struct kp_record *r, struct kp_aggval *vals, struct kp_buf *scratch)
{
	const uint8_t *cur, *pos[KP_AGGVAL_MANY];
	size_t n, off, i, sz[KP_AGGVAL_MANY];
	struct kp_mp_item it;
	uint64_t j;
	int fast = 0;

	/* the paths that start with a field name share one pass over the
	 * top-level map */
	if (r->vtype == KP_VALUE_MSGPACK && np <= KP_AGGVAL_MANY) {
		for (i = 0; i < np; i++) {
			pos[i] = NULL;
			if (paths[i]->root == KP_ROOT_VALUE &&
			    paths[i]->nsteps > 0 && paths[i]->steps[0].name)
				fast++;
		}
	}
	cur = (const uint8_t *)r->value.data;
	n = r->value.len;
	if (fast && kp_mp_read(cur, n, &it) == 1 && it.type == KP_MP_MAP) {
		off = it.hdr;
		for (j = 0; j < it.len; j++) {
			const uint8_t *ks;
			size_t ksz, vsz, kl;

			if ((ksz = fast_size(cur + off, n - off)) == 0 ||
			    (vsz = fast_size(cur + off + ksz, n - off - ksz)) == 0) {
				fast = -1;	/* malformed: the slow way */
				break;
			}
			if (fast_str(cur + off, n - off, &ks, &kl) == 0)
				for (i = 0; i < np; i++) {
					const struct kp_path_step *s =
					    paths[i]->steps;

					if (paths[i]->root == KP_ROOT_VALUE &&
					    paths[i]->nsteps > 0 && s->name &&
					    s->name_len == kl &&
					    !memcmp(s->name, ks, kl)) {
						pos[i] = cur + off + ksz;
						sz[i] = vsz;
					}
				}
			off += ksz + vsz;
		}
	} else if (fast) {
		fast = -1;
	}
	for (i = 0; i < np; i++) {
		const struct kp_path *p = paths[i];

		if (fast > 0 && p->root == KP_ROOT_VALUE && p->nsteps > 0 &&
		    p->steps[0].name) {
			if (pos[i] == NULL) {
				memset(&vals[i], 0, sizeof(vals[i]));
				vals[i].t = KP_AV_MISSING;
			} else {
				walk(p, 1, pos[i], sz[i], &vals[i]);
			}
		} else {
			kp_aggval_eval(p, r, &vals[i], &scratch[i]);
		}
	}
}

/* ---- JSON lines without a full parse ---- */

#define SCAN_DEPTH	64	/* deeper values go to the full parser */

static const char *
scan_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int
hexdig(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* A JSON string at p (the opening quote).  Returns the end (past the
 * closing quote) or NULL when invalid; *esc is set when it holds an
 * escape. */
static const char *
scan_string(const char *p, const char *e, int *esc)
{
	const char *b = ++p;
	int hi = 0;

	*esc = 0;
	for (; p < e; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"') {
			if (hi && !kp_utf8_valid(b, (size_t)(p - b)))
				return NULL;
			return p + 1;
		}
		if (c < 0x20)
			return NULL;
		if (c >= 0x80)
			hi = 1;
		else if (c == '\\') {
			*esc = 1;
			if (++p >= e)
				return NULL;
			switch (*p) {
			case '"': case '\\': case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				break;
			case 'u':
				if (e - p < 5 || !hexdig(p[1]) || !hexdig(p[2]) ||
				    !hexdig(p[3]) || !hexdig(p[4]))
					return NULL;
				p += 4;
				break;
			default:
				return NULL;
			}
		}
	}
	return NULL;
}

/* A JSON number (RFC 8259 grammar).  *isint: no fraction, no exponent. */
static const char *
scan_number(const char *p, const char *e, int *isint)
{
	*isint = 1;
	if (p < e && *p == '-')
		p++;
	if (p >= e)
		return NULL;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (p < e && *p == '.') {
		*isint = 0;
		if (++p >= e || *p < '0' || *p > '9')
			return NULL;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		*isint = 0;
		if (++p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return NULL;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static const char *
scan_value(const char *p, const char *e, int depth)
{
	int x;

	if (p >= e)
		return NULL;
	switch (*p) {
	case '"':
		return scan_string(p, e, &x);
	case 't':
		return e - p >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
	case 'f':
		return e - p >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
	case 'n':
		return e - p >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
	case '{':
	case '[': {
		char close = *p == '{' ? '}' : ']';

		if (depth >= SCAN_DEPTH)
			return NULL;
		p = scan_ws(p + 1, e);
		if (p < e && *p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (p >= e || *p != '"' ||
				    (p = scan_string(p, e, &x)) == NULL)
					return NULL;
				p = scan_ws(p, e);
				if (p >= e || *p != ':')
					return NULL;
				p = scan_ws(p + 1, e);
			}
			if ((p = scan_value(p, e, depth + 1)) == NULL)
				return NULL;
			p = scan_ws(p, e);
			if (p < e && *p == ',') {
				p = scan_ws(p + 1, e);
				continue;
			}
			if (p < e && *p == close)
				return p + 1;
			return NULL;
		}
	}
	default:
		return scan_number(p, e, &x);
	}
}

/* Convert one scalar JSON value s[0..n) as json.h packs it.  Returns 0,
 * or -1 to leave it to the full parser. */
static int
scan_convert(const char *s, size_t n, struct kp_aggval *v, struct kp_buf *sc)
{
	msgpack_packer pk;
	int isint, esc;

	kp_buf_reset(sc);
	msgpack_packer_init(&pk, sc, buf_write);
	switch (s[0]) {
	case '"':
		scan_string(s, s + n, &esc);
		if (esc)
			return -1;
		msgpack_pack_str_with_body(&pk, s + 1, n - 2);
		break;
	case 't':
		msgpack_pack_true(&pk);
		break;
	case 'f':
		msgpack_pack_false(&pk);
		break;
	case 'n':
		msgpack_pack_nil(&pk);
		break;
	case '{':
	case '[':
		return -1;
	default:
		scan_number(s, s + n, &isint);
		if (isint) {
			uint64_t u = 0;
			size_t i = s[0] == '-';

			if (n - i > 18)
				return -1;	/* may not fit: the parser decides */
			for (; i < n; i++)
				u = u * 10 + (uint64_t)(s[i] - '0');
			msgpack_pack_int64(&pk, s[0] == '-' ? -(int64_t)u :
			    (int64_t)u);
		} else {
			char tmp[64], *end;
			double d;

			if (n >= sizeof(tmp))
				return -1;
			memcpy(tmp, s, n);
			tmp[n] = '\0';
			d = strtod(tmp, &end);
			if (end != tmp + n)
				return -1;
			msgpack_pack_double(&pk, d);
		}
		break;
	}
	classify((const uint8_t *)sc->data, sc->len, v);
	return 0;
}

int
kp_aggval_scan_json(const struct kp_path *const *paths, size_t np,
    const char *s, size_t n, struct kp_aggval *vals, struct kp_buf *scratch)
{
	const char *p, *e = s + n, *vpos[KP_AGGVAL_MANY];
	size_t vlen[KP_AGGVAL_MANY], i;
	int esc;

	if (np > KP_AGGVAL_MANY)
		return 0;
	for (i = 0; i < np; i++) {
		if (paths[i]->root != KP_ROOT_VALUE || paths[i]->nsteps != 1 ||
		    paths[i]->steps[0].name == NULL)
			return 0;
		vpos[i] = NULL;
	}
	p = scan_ws(s, e);
	if (p >= e || *p != '{')
		return 0;
	p = scan_ws(p + 1, e);
	if (p < e && *p == '}') {
		p++;
	} else {
		for (;;) {
			const char *k, *v;
			size_t kl;

			if (p >= e || *p != '"')
				return 0;
			k = p + 1;
			if ((p = scan_string(p, e, &esc)) == NULL || esc)
				return 0;
			kl = (size_t)(p - k - 1);
			p = scan_ws(p, e);
			if (p >= e || *p != ':')
				return 0;
			v = scan_ws(p + 1, e);
			if ((p = scan_value(v, e, 1)) == NULL)
				return 0;
			for (i = 0; i < np; i++) {
				const struct kp_path_step *st = paths[i]->steps;

				if (st->name_len == kl && !memcmp(st->name, k, kl)) {
					vpos[i] = v;	/* the last duplicate wins */
					vlen[i] = (size_t)(p - v);
				}
			}
			p = scan_ws(p, e);
			if (p < e && *p == ',') {
				p = scan_ws(p + 1, e);
				continue;
			}
			if (p < e && *p == '}') {
				p++;
				break;
			}
			return 0;
		}
	}
	if (scan_ws(p, e) != e)
		return 0;
	for (i = 0; i < np; i++) {
		if (vpos[i] == NULL) {
			memset(&vals[i], 0, sizeof(vals[i]));
			vals[i].t = KP_AV_MISSING;
		} else if (scan_convert(vpos[i], vlen[i], &vals[i],
		    &scratch[i]) < 0) {
			return 0;
		}
	}
	return 1;
}

const char *
kp_aggval_type_name(const struct kp_aggval *v)
{
	switch (v->t) {
	case KP_AV_MISSING: return "missing";
	case KP_AV_NULL: return "null";
	case KP_AV_BOOL: return "boolean";
	case KP_AV_INT: return "integer";
	case KP_AV_FLOAT:	/* a uint64 above INT64_MAX is an integer */
		return v->mp && v->mp[0] == 0xcf ? "integer" : "number";
	case KP_AV_STR: return "string";
	case KP_AV_ARRAY: return "array";
	case KP_AV_MAP: return "object";
	default: return "bytes";
	}
}

int
kp_aggval_key_bytes(const struct kp_aggval *v, struct kp_buf *out)
{
	switch (v->t) {
	case KP_AV_MISSING:
	case KP_AV_NULL:
		return -1;
	case KP_AV_STR:
	case KP_AV_BIN:
		kp_buf_add(out, v->data, v->len);
		return 0;
	case KP_AV_INT: {
		char d[24], *e = d + sizeof(d);
		uint64_t u = v->i < 0 ? 0 - (uint64_t)v->i : (uint64_t)v->i;

		do
			*--e = (char)('0' + u % 10);
		while ((u /= 10) != 0);
		if (v->i < 0)
			*--e = '-';
		kp_buf_add(out, e, (size_t)(d + sizeof(d) - e));
		return 0;
	}
	case KP_AV_FLOAT:
		if (v->mp[0] != 0xca && v->mp[0] != 0xcb) {
			/* an unsigned integer above INT64_MAX */
			kp_json_write(out, v->mp, v->mplen);
			return 0;
		} else {
			size_t at = out->len;

			kp_json_write_double(out, v->f);
			if (out->len >= at + 2 &&
			    !memcmp(out->data + out->len - 2, ".0", 2)) {
				out->len -= 2;
				out->data[out->len] = '\0';
			}
			return 0;
		}
	default:
		kp_json_write(out, v->mp, v->mplen);
		return 0;
	}
}

int
kp_aggval_time(const struct kp_time_spec *t, const struct kp_aggval *v,
    int64_t *ms, char *errstr, size_t n)
{
	const char *text = t->path.text;
	double d;

	if (t->path.root == KP_ROOT_TIMESTAMP && v->t == KP_AV_INT) {
		*ms = v->i;
		return 0;
	}
	if (t->format) {
		char buf[256], *end;
		struct tm tm;
		size_t len;

		if (v->t != KP_AV_STR && v->t != KP_AV_BIN) {
			snprintf(errstr, n, "'%s': expected a time string, got %s",
			    text, kp_aggval_type_name(v));
			return -1;
		}
		len = v->len < sizeof(buf) - 1 ? v->len : sizeof(buf) - 1;
		memcpy(buf, v->data, len);
		buf[len] = '\0';
		memset(&tm, 0, sizeof(tm));
		end = strptime(buf, t->format, &tm);
		if (end == NULL || *end != '\0') {
			snprintf(errstr, n, "'%s': '%s' does not match time "
			    "format '%s'", text, buf, t->format);
			return -1;
		}
		*ms = (int64_t)timegm(&tm) * 1000;
		return 0;
	}
	if (v->t == KP_AV_INT || (v->t == KP_AV_FLOAT && v->f == floor(v->f) &&
	    v->f >= -9.2e18 && v->f <= 9.2e18)) {
		int64_t i = v->t == KP_AV_INT ? v->i : (int64_t)v->f;

		switch (t->unit) {
		case KP_UNIT_S:
			if (i > INT64_MAX / 1000 || i < INT64_MIN / 1000)
				goto range;
			*ms = i * 1000;
			break;
		case KP_UNIT_US:
			*ms = i >= 0 ? i / 1000 : -((-i + 999) / 1000);
			break;
		default:
			*ms = i;
		}
		return 0;
	}
	if (v->t == KP_AV_FLOAT) {
		d = v->f;
		if (t->unit == KP_UNIT_S)
			d *= 1000;
		else if (t->unit == KP_UNIT_US)
			d /= 1000;
		d = floor(d);
		if (!(d > -9.2e18 && d < 9.2e18))
			goto range;
		*ms = (int64_t)d;
		return 0;
	}
	snprintf(errstr, n, "'%s': expected number, got %s", text,
	    kp_aggval_type_name(v));
	return -1;
range:
	snprintf(errstr, n, "'%s': time out of range", text);
	return -1;
}

/* ---- aggregate definitions ---- */

enum {
	SK_COUNT, SK_COUNTNN, SK_SUM, SK_AVG, SK_MIN, SK_MAX, SK_FIRST,
	SK_LAST, SK_DISTINCT, SK_SKETCH
};

struct s_count {
	uint64_t	n;
};

struct s_sum {		/* SUM and AVG */
	int64_t		i;	/* integer inputs, while they fit */
	double		f, c;	/* float inputs: Neumaier sum and compensation */
	uint64_t	n;
	uint8_t		has_f, ovf;
};

struct s_mm {
	int64_t		i;
	double		f;
	uint8_t		has, isint;
};

#define INLINE_VAL	16

struct s_fl {
	int64_t		ts;
	uint32_t	len, cap;	/* cap: heap bytes, 0: inline */
	uint8_t		has;
	uint8_t		*heap;
	uint8_t		inl[INLINE_VAL];
};

struct dset {
	uint32_t	*tab;	/* pairs (hash, offset + 1); 0: empty */
	uint32_t	 cap, cnt;
	struct kp_buf	 arena;	/* u32 length, then the canonical bytes */
};

struct s_dset {
	struct dset	*set;
};

struct s_sketch {
	struct kp_sketch *sk;
};

static const struct {
	const char		*name;
	enum kp_agg_func	 func;
	int			 pct;
	int			 kind;
	int			 needs_path;	/* 1 yes, 0 optional (count) */
} funcs[] = {
	{ "count", KP_AGG_COUNT, 0, SK_COUNT, 0 },
	{ "sum", KP_AGG_SUM, 0, SK_SUM, 1 },
	{ "min", KP_AGG_MIN, 0, SK_MIN, 1 },
	{ "max", KP_AGG_MAX, 0, SK_MAX, 1 },
	{ "avg", KP_AGG_AVG, 0, SK_AVG, 1 },
	{ "first", KP_AGG_FIRST, 0, SK_FIRST, 1 },
	{ "last", KP_AGG_LAST, 0, SK_LAST, 1 },
	{ "count_distinct", KP_AGG_COUNT_DISTINCT, 0, SK_DISTINCT, 1 },
	{ "p50", KP_AGG_QUANTILE, 50, SK_SKETCH, 1 },
	{ "p90", KP_AGG_QUANTILE, 90, SK_SKETCH, 1 },
	{ "p95", KP_AGG_QUANTILE, 95, SK_SKETCH, 1 },
	{ "p99", KP_AGG_QUANTILE, 99, SK_SKETCH, 1 },
};

static size_t
kind_size(int kind)
{
	size_t s;

	switch (kind) {
	case SK_COUNT:
	case SK_COUNTNN: s = sizeof(struct s_count); break;
	case SK_SUM:
	case SK_AVG: s = sizeof(struct s_sum); break;
	case SK_MIN:
	case SK_MAX: s = sizeof(struct s_mm); break;
	case SK_FIRST:
	case SK_LAST: s = sizeof(struct s_fl); break;
	case SK_DISTINCT: s = sizeof(struct s_dset); break;
	default: s = sizeof(struct s_sketch); break;
	}
	return (s + 7) & ~(size_t)7;
}

static int
def_path(struct kp_agg_def *d, const char *text, char *errstr, size_t n)
{
	size_t i;

	for (i = 0; i < d->npaths; i++)
		if (!strcmp(d->paths[i].text, text))
			return (int)i;
	d->paths = kp_xrealloc(d->paths, (d->npaths + 1) * sizeof(*d->paths));
	if (kp_path_parse(text, &d->paths[d->npaths], errstr, n) < 0)
		return -1;
	return (int)d->npaths++;
}

int
kp_agg_def_add(struct kp_agg_def *d, const char *spec, char *errstr, size_t n)
{
	const char *eq = strchr(spec, '='), *f, *open, *close;
	size_t i, flen;
	int fi = -1, path = -1, kind, slot = -1;
	char *ptext = NULL;
	struct kp_agg *a;

	if (eq == NULL || eq == spec) {
		snprintf(errstr, n, "invalid aggregate '%s': expected "
		    "NAME=FUNC(PATH)", spec);
		return -1;
	}
	f = eq + 1;
	open = strchr(f, '(');
	close = open ? strrchr(open, ')') : NULL;
	if (open == NULL || close == NULL || close[1] != '\0') {
		snprintf(errstr, n, "invalid aggregate '%s': expected "
		    "NAME=FUNC(PATH)", spec);
		return -1;
	}
	flen = (size_t)(open - f);
	for (i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		if (strlen(funcs[i].name) == flen &&
		    !strncmp(funcs[i].name, f, flen))
			fi = (int)i;
	if (fi < 0) {
		snprintf(errstr, n, "invalid aggregate '%s': unknown function "
		    "'%.*s' (count, sum, min, max, avg, first, last, "
		    "count_distinct, p50, p90, p95, p99)", spec, (int)flen, f);
		return -1;
	}
	for (i = 0; i < d->naggs; i++)
		if (strlen(d->aggs[i].name) == (size_t)(eq - spec) &&
		    !strncmp(d->aggs[i].name, spec, (size_t)(eq - spec))) {
			snprintf(errstr, n, "invalid aggregate '%s': the name "
			    "'%s' is used twice", spec, d->aggs[i].name);
			return -1;
		}
	kind = funcs[fi].kind;
	if (close > open + 1) {
		ptext = kp_xmemdup(open + 1, (size_t)(close - open - 1) + 1);
		ptext[close - open - 1] = '\0';
		if ((path = def_path(d, ptext, errstr, n)) < 0) {
			free(ptext);
			return -1;
		}
		free(ptext);
		if (kind == SK_COUNT)
			kind = SK_COUNTNN;
	} else if (funcs[fi].needs_path) {
		snprintf(errstr, n, "invalid aggregate '%s': %s needs a field "
		    "path, e.g. %s(.value)", spec, funcs[fi].name,
		    funcs[fi].name);
		return -1;
	}
	/* one slot per (kind, path) */
	for (i = 0; i < d->nslots; i++)
		if (d->slots[i].kind == kind && d->slots[i].path == path)
			slot = (int)i;
	if (slot < 0) {
		d->slots = kp_xrealloc(d->slots, (d->nslots + 1) *
		    sizeof(*d->slots));
		d->slots[d->nslots].kind = kind;
		d->slots[d->nslots].path = path;
		d->slots[d->nslots].off = d->state_size;
		d->state_size += kind_size(kind);
		slot = (int)d->nslots++;
	}
	d->aggs = kp_xrealloc(d->aggs, (d->naggs + 1) * sizeof(*d->aggs));
	a = &d->aggs[d->naggs++];
	a->name = kp_xmemdup(spec, (size_t)(eq - spec) + 1);
	a->name[eq - spec] = '\0';
	a->func = funcs[fi].func;
	a->pct = funcs[fi].pct;
	a->path = path;
	a->slot = slot;
	return 0;
}

void
kp_agg_def_free(struct kp_agg_def *d)
{
	size_t i;

	for (i = 0; i < d->naggs; i++)
		free(d->aggs[i].name);
	for (i = 0; i < d->npaths; i++)
		kp_path_free(&d->paths[i]);
	free(d->aggs);
	free(d->paths);
	free(d->slots);
	memset(d, 0, sizeof(*d));
}

static double sketch_max_cache;

static double
sketch_max(void)
{
	if (sketch_max_cache == 0) {
		struct kp_sketch s;

		kp_sketch_init(&s, KP_SKETCH_DEFAULT_ALPHA);
		sketch_max_cache = s.max_indexable;
		kp_sketch_free(&s);
	}
	return sketch_max_cache;
}

int
kp_agg_check(const struct kp_agg_def *d, const struct kp_aggval *vals,
    char *errstr, size_t n)
{
	size_t i;

	for (i = 0; i < d->nslots; i++) {
		const struct kp_agg_slot *s = &d->slots[i];
		const struct kp_aggval *v;

		if (s->path < 0)
			continue;
		v = &vals[s->path];
		switch (s->kind) {
		case SK_COUNTNN:
			break;
		case SK_FIRST:
		case SK_LAST:
		case SK_DISTINCT:
			if (v->t == KP_AV_MISSING) {
				snprintf(errstr, n, "'%s': field is missing",
				    d->paths[s->path].text);
				return -1;
			}
			break;
		default:
			if (v->t != KP_AV_INT && v->t != KP_AV_FLOAT) {
				snprintf(errstr, n, "'%s': expected number, got %s",
				    d->paths[s->path].text, kp_aggval_type_name(v));
				return -1;
			}
			if (!isfinite(v->f)) {
				snprintf(errstr, n, "'%s': expected a finite "
				    "number, got %g", d->paths[s->path].text, v->f);
				return -1;
			}
			if (s->kind == SK_SKETCH && fabs(v->f) > sketch_max()) {
				snprintf(errstr, n, "'%s': %g is too large for a "
				    "percentile", d->paths[s->path].text, v->f);
				return -1;
			}
			break;
		}
	}
	return 0;
}

/* ---- distinct sets ---- */

/* canonical bytes of a value: a type tag and a payload; integral floats
 * in int64 range are integers, so 1 and 1.0 are one value */
static size_t
canon(const struct kp_aggval *v, uint8_t *tag, uint8_t num[8],
    const uint8_t **payload)
{
	double f = v->f;
	int64_t i;

	switch (v->t) {
	case KP_AV_NULL:
		*tag = 'n';
		return 0;
	case KP_AV_BOOL:
		*tag = v->i ? 't' : 'F';
		return 0;
	case KP_AV_INT:
	case KP_AV_FLOAT:
		if (v->t == KP_AV_INT) {
			i = v->i;
		} else if (f == floor(f) && f >= -9.2e18 && f <= 9.2e18) {
			i = (int64_t)f;
		} else {
			*tag = 'f';
			if (f == 0)
				f = 0;	/* -0.0 is 0 */
			memcpy(num, &f, 8);
			*payload = num;
			return 8;
		}
		*tag = 'i';
		memcpy(num, &i, 8);
		*payload = num;
		return 8;
	case KP_AV_STR:
		*tag = 's';
		*payload = v->data;
		return v->len;
	case KP_AV_BIN:
		*tag = 'b';
		*payload = v->data;
		return v->len;
	default:
		*tag = 'x';
		*payload = v->mp;
		return v->mplen;
	}
}

static uint32_t
dset_hash(uint8_t tag, const uint8_t *p, size_t n)
{
	uint32_t h = (uint32_t)hash_bytes(p, n, 0x51ed27 + tag);

	return h ? h : 1;
}

static void dset_insert_raw(struct dset *s, uint32_t h, uint8_t tag,
    const uint8_t *p, size_t n);

static void
dset_grow(struct dset *s)
{
	uint32_t *old = s->tab, oldcap = s->cap, i;

	s->cap = s->cap ? s->cap * 2 : 8;
	s->tab = kp_xcalloc((size_t)s->cap * 2, sizeof(uint32_t));
	for (i = 0; i < oldcap; i++) {
		uint32_t off = old[2 * i + 1], j;

		if (off == 0)
			continue;
		for (j = old[2 * i] & (s->cap - 1);; j = (j + 1) & (s->cap - 1))
			if (s->tab[2 * j + 1] == 0) {
				s->tab[2 * j] = old[2 * i];
				s->tab[2 * j + 1] = off;
				break;
			}
	}
	free(old);
}

static void
dset_insert_raw(struct dset *s, uint32_t h, uint8_t tag, const uint8_t *p,
    size_t n)
{
	uint32_t j, len = (uint32_t)n + 1;

	if ((s->cnt + 1) * 4 > s->cap * 3)
		dset_grow(s);
	for (j = h & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
		uint32_t off = s->tab[2 * j + 1];
		const uint8_t *e;
		uint32_t elen;

		if (off == 0)
			break;
		if (s->tab[2 * j] != h)
			continue;
		e = (const uint8_t *)s->arena.data + off - 1;
		memcpy(&elen, e, 4);
		if (elen == len && e[4] == tag && !memcmp(e + 5, p, n))
			return;		/* already there */
	}
	s->tab[2 * j] = h;
	s->tab[2 * j + 1] = (uint32_t)s->arena.len + 1;
	kp_buf_add(&s->arena, &len, 4);
	kp_buf_add(&s->arena, &tag, 1);
	kp_buf_add(&s->arena, p, n);
	s->cnt++;
}

static void
dset_free(struct dset *s)
{
	if (s == NULL)
		return;
	free(s->tab);
	kp_buf_free(&s->arena);
	free(s);
}

/* ---- state ---- */

#define SLOT(st, s)	((uint8_t *)(st) + (s)->off)

void
kp_agg_state_init(const struct kp_agg_def *d, void *st)
{
	memset(st, 0, d->state_size);
}

static void
nsum_add(double *s, double *c, double x)
{
	double t = *s + x;

	if (fabs(*s) >= fabs(x))
		*c += (*s - t) + x;
	else
		*c += (x - t) + *s;
	*s = t;
}

static void
sum_add(struct s_sum *s, const struct kp_aggval *v)
{
	int64_t r;

	s->n++;
	if (v->t == KP_AV_INT && !s->ovf) {
		if (!__builtin_add_overflow(s->i, v->i, &r)) {
			s->i = r;
			return;
		}
		/* from now on, integers go the float way too */
		nsum_add(&s->f, &s->c, (double)s->i);
		s->i = 0;
		s->ovf = 1;
	}
	if (v->t != KP_AV_INT)
		s->has_f = 1;
	nsum_add(&s->f, &s->c, v->f);
}

static double
sum_total(const struct s_sum *s)
{
	double t = s->f, c = s->c;

	nsum_add(&t, &c, (double)s->i);
	return t + c;
}

static int
mm_less(int64_t ai, double af, int aint, int64_t bi, double bf, int bint)
{
	if (aint && bint)
		return ai < bi;
	return (aint ? (double)ai : af) < (bint ? (double)bi : bf);
}

static void
mm_add(struct s_mm *m, int64_t i, double f, int isint, int max)
{
	int better;

	if (!m->has) {
		better = 1;
	} else if (max) {
		better = mm_less(m->i, m->f, m->isint, i, f, isint);
	} else {
		better = mm_less(i, f, isint, m->i, m->f, m->isint);
	}
	if (better) {
		m->has = 1;
		m->isint = (uint8_t)isint;
		m->i = i;
		m->f = f;
	}
}

static const uint8_t *
fl_bytes(const struct s_fl *s)
{
	return s->cap ? s->heap : s->inl;
}

static void
fl_set(struct s_fl *s, int64_t ts, const uint8_t *p, size_t n)
{
	s->has = 1;
	s->ts = ts;
	if (n <= INLINE_VAL && s->cap == 0) {
		memcpy(s->inl, p, n);
	} else {
		if (n > s->cap) {
			s->heap = kp_xrealloc(s->heap, n);
			s->cap = (uint32_t)n;
		}
		memcpy(s->heap, p, n);
	}
	s->len = (uint32_t)n;
}

static void
fl_free(struct s_fl *s)
{
	if (s->cap)
		free(s->heap);
	s->heap = NULL;
	s->cap = 0;
	s->has = 0;
}

static void
sketch_add(struct s_sketch *s, double v)
{
	if (s->sk == NULL) {
		s->sk = kp_xmalloc(sizeof(*s->sk));
		kp_sketch_init(s->sk, KP_SKETCH_DEFAULT_ALPHA);
	}
	if (kp_sketch_add(s->sk, v) < 0 && errno == ENOMEM)
		abort();
}

static void
distinct_add(struct s_dset *s, const struct kp_aggval *v)
{
	uint8_t tag, num[8];
	const uint8_t *p = NULL;
	size_t n = canon(v, &tag, num, &p);

	if (s->set == NULL)
		s->set = kp_xcalloc(1, sizeof(*s->set));
	dset_insert_raw(s->set, dset_hash(tag, p, n), tag, p, n);
}

void
kp_agg_state_update(const struct kp_agg_def *d, void *st,
    const struct kp_aggval *vals, int64_t ts)
{
	size_t i;

	for (i = 0; i < d->nslots; i++) {
		const struct kp_agg_slot *s = &d->slots[i];
		const struct kp_aggval *v = s->path >= 0 ? &vals[s->path] : NULL;
		void *p = SLOT(st, s);

		switch (s->kind) {
		case SK_COUNT:
			((struct s_count *)p)->n++;
			break;
		case SK_COUNTNN:
			if (v->t != KP_AV_MISSING && v->t != KP_AV_NULL)
				((struct s_count *)p)->n++;
			break;
		case SK_SUM:
		case SK_AVG:
			sum_add(p, v);
			break;
		case SK_MIN:
		case SK_MAX:
			mm_add(p, v->i, v->f, v->t == KP_AV_INT,
			    s->kind == SK_MAX);
			break;
		case SK_FIRST: {
			struct s_fl *f = p;

			if (!f->has || ts < f->ts)
				fl_set(f, ts, v->mp, v->mplen);
			break;
		}
		case SK_LAST: {
			struct s_fl *f = p;

			if (!f->has || ts >= f->ts)
				fl_set(f, ts, v->mp, v->mplen);
			break;
		}
		case SK_DISTINCT:
			distinct_add(p, v);
			break;
		case SK_SKETCH:
			sketch_add(p, v->f);
			break;
		}
	}
}

void
kp_agg_state_merge(const struct kp_agg_def *d, void *dst, void *src)
{
	size_t i;

	for (i = 0; i < d->nslots; i++) {
		const struct kp_agg_slot *s = &d->slots[i];
		void *a = SLOT(dst, s), *b = SLOT(src, s);

		switch (s->kind) {
		case SK_COUNT:
		case SK_COUNTNN:
			((struct s_count *)a)->n += ((struct s_count *)b)->n;
			break;
		case SK_SUM:
		case SK_AVG: {
			struct s_sum *x = a, *y = b;
			int64_t r;

			x->n += y->n;
			x->has_f |= y->has_f;
			if (!x->ovf && !y->ovf &&
			    !__builtin_add_overflow(x->i, y->i, &r)) {
				x->i = r;
			} else {
				nsum_add(&x->f, &x->c, (double)x->i);
				nsum_add(&x->f, &x->c, (double)y->i);
				x->i = 0;
				x->ovf = 1;
			}
			nsum_add(&x->f, &x->c, y->f);
			x->c += y->c;
			break;
		}
		case SK_MIN:
		case SK_MAX: {
			struct s_mm *y = b;

			if (y->has)
				mm_add(a, y->i, y->f, y->isint, s->kind == SK_MAX);
			break;
		}
		case SK_FIRST:
		case SK_LAST: {
			struct s_fl *x = a, *y = b;

			if (y->has && (!x->has || (s->kind == SK_FIRST ?
			    y->ts < x->ts : y->ts > x->ts)))
				fl_set(x, y->ts, fl_bytes(y), y->len);
			break;
		}
		case SK_DISTINCT: {
			struct s_dset *x = a, *y = b;
			struct dset *t;
			size_t off;

			if (y->set == NULL)
				break;
			if (x->set == NULL || x->set->cnt < y->set->cnt) {
				t = x->set;	/* insert the smaller one */
				x->set = y->set;
				y->set = t;
			}
			if (y->set == NULL)
				break;
			for (off = 0; off < y->set->arena.len;) {
				const uint8_t *e = (const uint8_t *)
				    y->set->arena.data + off;
				uint32_t len;

				memcpy(&len, e, 4);
				dset_insert_raw(x->set, dset_hash(e[4], e + 5,
				    len - 1), e[4], e + 5, len - 1);
				off += 4 + len;
			}
			break;
		}
		case SK_SKETCH: {
			struct s_sketch *x = a, *y = b;

			if (y->sk == NULL)
				break;
			if (x->sk == NULL) {
				x->sk = y->sk;
				y->sk = NULL;
			} else if (kp_sketch_merge(x->sk, y->sk) < 0 &&
			    errno == ENOMEM) {
				abort();
			}
			break;
		}
		}
	}
	kp_agg_state_free(d, src);
}

void
kp_agg_state_free(const struct kp_agg_def *d, void *st)
{
	size_t i;

	for (i = 0; i < d->nslots; i++) {
		const struct kp_agg_slot *s = &d->slots[i];
		void *p = SLOT(st, s);

		switch (s->kind) {
		case SK_FIRST:
		case SK_LAST:
			fl_free(p);
			break;
		case SK_DISTINCT:
			dset_free(((struct s_dset *)p)->set);
			((struct s_dset *)p)->set = NULL;
			break;
		case SK_SKETCH:
			if (((struct s_sketch *)p)->sk) {
				kp_sketch_free(((struct s_sketch *)p)->sk);
				free(((struct s_sketch *)p)->sk);
				((struct s_sketch *)p)->sk = NULL;
			}
			break;
		}
	}
}

void
kp_agg_state_encode(const struct kp_agg_def *d, const void *st,
    struct kp_buf *out)
{
	size_t i;

	for (i = 0; i < d->nslots; i++) {
		const struct kp_agg_slot *s = &d->slots[i];
		const void *p = (const uint8_t *)st + s->off;

		switch (s->kind) {
		case SK_COUNT:
		case SK_COUNTNN:
			put_u64(out, ((const struct s_count *)p)->n);
			break;
		case SK_SUM:
		case SK_AVG: {
			const struct s_sum *x = p;

			put_u64(out, (uint64_t)x->i);
			put_f64(out, x->f);
			put_f64(out, x->c);
			put_u64(out, x->n);
			put_u8(out, (uint8_t)(x->has_f | (x->ovf << 1)));
			break;
		}
		case SK_MIN:
		case SK_MAX: {
			const struct s_mm *x = p;

			put_u8(out, (uint8_t)(x->has | (x->isint << 1)));
			put_u64(out, (uint64_t)x->i);
			put_f64(out, x->f);
			break;
		}
		case SK_FIRST:
		case SK_LAST: {
			const struct s_fl *x = p;

			put_u8(out, x->has);
			put_u64(out, (uint64_t)x->ts);
			put_u32(out, x->has ? x->len : 0);
			if (x->has)
				kp_buf_add(out, fl_bytes(x), x->len);
			break;
		}
		case SK_DISTINCT: {
			const struct dset *x = ((const struct s_dset *)p)->set;

			put_u32(out, x ? x->cnt : 0);
			if (x)
				kp_buf_add(out, x->arena.data, x->arena.len);
			break;
		}
		case SK_SKETCH: {
			const struct kp_sketch *x = ((const struct s_sketch *)p)->sk;
			size_t n;

			if (x == NULL) {
				put_u32(out, 0);
				break;
			}
			n = kp_sketch_encoded_size(x);
			put_u32(out, (uint32_t)n);
			kp_buf_grow(out, n);
			kp_sketch_encode(x, out->data + out->len);
			out->len += n;
			out->data[out->len] = '\0';
			break;
		}
		}
	}
}

long
kp_agg_state_decode(const struct kp_agg_def *d, void *st, const void *buf,
    size_t n)
{
	struct rd r = { .p = buf, .n = n };
	size_t i;

	kp_agg_state_init(d, st);
	for (i = 0; i < d->nslots && !r.bad; i++) {
		const struct kp_agg_slot *s = &d->slots[i];
		void *p = SLOT(st, s);

		switch (s->kind) {
		case SK_COUNT:
		case SK_COUNTNN:
			((struct s_count *)p)->n = get_u64(&r);
			break;
		case SK_SUM:
		case SK_AVG: {
			struct s_sum *x = p;
			uint8_t fl;

			x->i = (int64_t)get_u64(&r);
			x->f = get_f64(&r);
			x->c = get_f64(&r);
			x->n = get_u64(&r);
			fl = get_u8(&r);
			x->has_f = fl & 1;
			x->ovf = (fl >> 1) & 1;
			break;
		}
		case SK_MIN:
		case SK_MAX: {
			struct s_mm *x = p;
			uint8_t fl = get_u8(&r);

			x->has = fl & 1;
			x->isint = (fl >> 1) & 1;
			x->i = (int64_t)get_u64(&r);
			x->f = get_f64(&r);
			break;
		}
		case SK_FIRST:
		case SK_LAST: {
			uint8_t has = get_u8(&r);
			int64_t ts = (int64_t)get_u64(&r);
			uint32_t len = get_u32(&r);
			const uint8_t *b = rd_take(&r, len);

			if (has && b)
				fl_set(p, ts, b, len);
			break;
		}
		case SK_DISTINCT: {
			uint32_t cnt = get_u32(&r), k;
			struct s_dset *x = p;

			for (k = 0; k < cnt && !r.bad; k++) {
				uint32_t len = get_u32(&r);
				const uint8_t *e = len ? rd_take(&r, len) : NULL;

				if (e == NULL) {
					r.bad = 1;
					break;
				}
				if (x->set == NULL)
					x->set = kp_xcalloc(1, sizeof(*x->set));
				dset_insert_raw(x->set, dset_hash(e[0], e + 1,
				    len - 1), e[0], e + 1, len - 1);
			}
			break;
		}
		case SK_SKETCH: {
			uint32_t len = get_u32(&r);
			const uint8_t *b = len ? rd_take(&r, len) : NULL;
			struct s_sketch *x = p;

			if (len == 0)
				break;
			if (b == NULL)
				break;
			x->sk = kp_xmalloc(sizeof(*x->sk));
			if (kp_sketch_decode(x->sk, b, len) < 0) {
				free(x->sk);
				x->sk = NULL;
				r.bad = 1;
			}
			break;
		}
		}
	}
	if (r.bad) {
		kp_agg_state_free(d, st);
		return -1;
	}
	return (long)r.off;
}

/* the nearest-rank percentile: the ceil(pct * n / 100)-th smallest value */
static double
percentile(const struct kp_sketch *s, int pct)
{
	uint64_t n = kp_sketch_count(s), k, idx;
	double q;

	if (n == 0)
		return NAN;
	k = ((uint64_t)pct * n + 99) / 100;
	idx = k ? k - 1 : 0;
	if (n == 1)
		return kp_sketch_quantile(s, 0);
	/* the sketch takes the value at index floor(q * (n - 1)) */
	q = ((double)idx + 0.5) / (double)(n - 1);
	if (q > 1)
		q = 1;
	return kp_sketch_quantile(s, q);
}

void
kp_agg_state_pack(const struct kp_agg_def *d, const void *st,
    msgpack_packer *pk)
{
	size_t i;

	for (i = 0; i < d->naggs; i++) {
		const struct kp_agg *a = &d->aggs[i];
		const struct kp_agg_slot *s = &d->slots[a->slot];
		const void *p = (const uint8_t *)st + s->off;

		msgpack_pack_str_with_body(pk, a->name, strlen(a->name));
		switch (s->kind) {
		case SK_COUNT:
		case SK_COUNTNN:
			msgpack_pack_uint64(pk, ((const struct s_count *)p)->n);
			break;
		case SK_SUM: {
			const struct s_sum *x = p;

			if (!x->has_f && !x->ovf)
				msgpack_pack_int64(pk, x->i);
			else
				msgpack_pack_double(pk, sum_total(x));
			break;
		}
		case SK_AVG: {
			const struct s_sum *x = p;

			if (x->n == 0)
				msgpack_pack_nil(pk);
			else
				msgpack_pack_double(pk, sum_total(x) /
				    (double)x->n);
			break;
		}
		case SK_MIN:
		case SK_MAX: {
			const struct s_mm *x = p;

			if (!x->has)
				msgpack_pack_nil(pk);
			else if (x->isint)
				msgpack_pack_int64(pk, x->i);
			else
				msgpack_pack_double(pk, x->f);
			break;
		}
		case SK_FIRST:
		case SK_LAST: {
			const struct s_fl *x = p;

			if (!x->has)
				msgpack_pack_nil(pk);
			else
				pk->callback(pk->data, (const char *)fl_bytes(x),
				    x->len);
			break;
		}
		case SK_DISTINCT: {
			const struct dset *x = ((const struct s_dset *)p)->set;

			msgpack_pack_uint64(pk, x ? x->cnt : 0);
			break;
		}
		case SK_SKETCH: {
			const struct kp_sketch *x = ((const struct s_sketch *)p)->sk;
			double v = x ? percentile(x, a->pct) : NAN;

			if (isnan(v))
				msgpack_pack_nil(pk);
			else
				msgpack_pack_double(pk, v);
			break;
		}
		}
	}
}

/* ---- the table ---- */

#define NIL32		UINT32_MAX
#define CHUNK_SHIFT	10
#define CHUNK		(1u << CHUNK_SHIFT)

struct win {
	uint32_t	group, prev, next, gen;
	uint8_t		used, cdirty, sdirty, stored;
	uint8_t		estored;	/* its 'e' entry is in the store */
	uint64_t	seq;
	int64_t		start, end;	/* sessions: first and last event */
	int64_t		stored_start;	/* the start in its store key */
	int64_t		stored_eend;	/* the end in its 'e' key */
	/* the aggregate state follows */
};

#define WIN_HDR		((sizeof(struct win) + 7) & ~(size_t)7)

struct group {
	uint64_t	hash;
	uint8_t		*key;
	uint8_t		*fields;
	uint32_t	 keylen, flen;
	uint32_t	 head, nwin, gen;
	uint32_t	 lprev, lnext;	/* bounded: least recently used list */
	uint8_t		 used, has_h, hdirty, hstored;
	int64_t		 hfirst, hlast;	/* latest closed session */
};

enum { T_WIN, T_PURGE };

struct hent {
	int64_t		close;
	uint64_t	seq;
	uint32_t	idx, gen;
	int		kind;
};

struct ref {
	uint32_t	idx, gen;
};

struct kp_aggtab {
	struct kp_aggtab_conf	 c;
	size_t			 wsize;
	uint8_t			**chunks;
	size_t			 nchunks;
	uint32_t		 wnext;		/* slots handed out */
	uint32_t		 wfree;
	size_t			 nopen;
	struct group		*groups;
	uint32_t		 gcap, gnext, gfree;
	size_t			 ngroups;
	uint32_t		*gtab;		/* group indices, NIL32: empty */
	size_t			 gtcap;
	struct hent		*heap;
	size_t			 hn, hcap;
	uint64_t		 seq;
	int64_t			 st;
	/* emit changes */
	struct ref		*cache;
	size_t			 ncache, capcache, cache_used;
	/* store */
	struct ref		*sdirty;
	size_t			 nsdirty, capsdirty;
	struct ref		*hdirty;
	size_t			 nhdirty, caphdirty;
	struct kp_buf		 dels;		/* u32 length + key */
	/* bounded: the rest of the state lives in db (kp_aggtab_bind_store) */
	struct kp_store		*db;
	kp_aggtab_put_fn	 put;
	void			*parg;
	size_t			 mem_bytes;	/* budget of resident state */
	size_t			 resident;	/* estimated bytes held */
	size_t			 unsynced;	/* estimated bytes of deletes */
	int			 want;		/* a commit would let us evict */
	int64_t			 ebound;	/* no evicted window closes before */
	struct kp_buf		 efrom;		/* 'e' entries before are closed */
	struct kp_buf		 fbuf;
	uint32_t		 lhead, ltail;
	/* scratch */
	struct kp_buf		 kbuf, vbuf;
	int64_t			*starts;
	int			 maxstarts;
	uint32_t		*hits;
	size_t			 caphits;
};

#define WIN(t, i) ((struct win *)((t)->chunks[(i) >> CHUNK_SHIFT] + \
	(size_t)((i) & (CHUNK - 1)) * (t)->wsize))
#define WSTATE(w) ((void *)((uint8_t *)(w) + WIN_HDR))

/* estimated resident bytes of a group (hash slots and malloc overhead
 * included) and of a window (with its close-heap entry) */
#define GROUP_COST(g)	(sizeof(struct group) + (g)->keylen + 48)
#define WIN_COST(t)	((t)->wsize + 2 * sizeof(struct hent) + 16)
/* estimated bytes that a buffered delete of a kn-byte key holds */
#define DEL_COST(kn)	(2 * (kn) + 112)
#define SCAN_BATCH	1024	/* groups read back per pass of a scan */

static void	fault_in(struct kp_aggtab *t, const void *key, size_t keylen);
static int	group_level(const struct kp_aggtab *t);
static uint32_t	win_find(struct kp_aggtab *t, uint32_t gi, int64_t start);
static uint32_t	win_fault(struct kp_aggtab *t, uint32_t gi, const void *key,
		    size_t keylen, int64_t start);
static void	scan_due(struct kp_aggtab *t);
static void	evict(struct kp_aggtab *t, size_t target, size_t maxsteps,
		    uint32_t pin);
static void	ekey(struct kp_buf *b, const struct group *g, int64_t eend);
static int64_t	be_time(const uint8_t *p);

static int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static void
ref_push(struct ref **v, size_t *n, size_t *cap, uint32_t idx, uint32_t gen)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = kp_xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[*n].idx = idx;
	(*v)[*n].gen = gen;
	(*n)++;
}

struct kp_aggtab *
kp_aggtab_new(const struct kp_aggtab_conf *c)
{
	struct kp_aggtab *t = kp_xcalloc(1, sizeof(*t));
	int64_t m;

	t->c = *c;
	t->wsize = WIN_HDR + c->def->state_size;
	t->wfree = NIL32;
	t->gfree = NIL32;
	t->st = INT64_MIN;
	t->lhead = t->ltail = NIL32;
	t->ebound = INT64_MAX;
	m = (c->win.type == KP_WIN_TUMBLING || c->win.type == KP_WIN_HOPPING) ?
	    kp_window_max_windows(&c->win) : 1;
	t->maxstarts = m > 0 && m < (1 << 20) ? (int)m : 1;
	t->starts = kp_xcalloc((size_t)t->maxstarts, sizeof(*t->starts));
	return t;
}

/* ---- heap ---- */

static int
hless(const struct hent *a, const struct hent *b)
{
	return a->close < b->close || (a->close == b->close && a->seq < b->seq);
}

static void
heap_push(struct kp_aggtab *t, int64_t close, uint64_t seq, uint32_t idx,
    uint32_t gen, int kind)
{
	size_t i;

	if (t->hn == t->hcap) {
		t->hcap = t->hcap ? t->hcap * 2 : 256;
		t->heap = kp_xrealloc(t->heap, t->hcap * sizeof(*t->heap));
	}
	i = t->hn++;
	t->heap[i] = (struct hent){ close, seq, idx, gen, kind };
	while (i > 0) {
		size_t p = (i - 1) / 2;
		struct hent tmp;

		if (!hless(&t->heap[i], &t->heap[p]))
			break;
		tmp = t->heap[p];
		t->heap[p] = t->heap[i];
		t->heap[i] = tmp;
		i = p;
	}
}

static struct hent
heap_pop(struct kp_aggtab *t)
{
	struct hent top = t->heap[0];
	size_t i = 0;

	t->heap[0] = t->heap[--t->hn];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct hent tmp;

		if (l < t->hn && hless(&t->heap[l], &t->heap[m]))
			m = l;
		if (r < t->hn && hless(&t->heap[r], &t->heap[m]))
			m = r;
		if (m == i)
			break;
		tmp = t->heap[m];
		t->heap[m] = t->heap[i];
		t->heap[i] = tmp;
		i = m;
	}
	return top;
}

/* ---- groups ---- */

static void
gtab_insert(struct kp_aggtab *t, uint32_t gi)
{
	size_t j, mask = t->gtcap - 1;

	for (j = t->groups[gi].hash & mask; t->gtab[j] != NIL32; j = (j + 1) & mask)
		;
	t->gtab[j] = gi;
}

static void
gtab_grow(struct kp_aggtab *t)
{
	uint32_t *old = t->gtab;
	size_t oldcap = t->gtcap, i;

	t->gtcap = t->gtcap ? t->gtcap * 2 : 1024;
	t->gtab = kp_xmalloc(t->gtcap * sizeof(*t->gtab));
	memset(t->gtab, 0xff, t->gtcap * sizeof(*t->gtab));
	for (i = 0; i < oldcap; i++)
		if (old[i] != NIL32)
			gtab_insert(t, old[i]);
	free(old);
}

static void
lru_unlink(struct kp_aggtab *t, uint32_t gi)
{
	struct group *g = &t->groups[gi];

	if (g->lprev != NIL32)
		t->groups[g->lprev].lnext = g->lnext;
	else
		t->lhead = g->lnext;
	if (g->lnext != NIL32)
		t->groups[g->lnext].lprev = g->lprev;
	else
		t->ltail = g->lprev;
	g->lprev = g->lnext = NIL32;
}

static void
lru_push(struct kp_aggtab *t, uint32_t gi)
{
	struct group *g = &t->groups[gi];

	g->lprev = NIL32;
	g->lnext = t->lhead;
	if (t->lhead != NIL32)
		t->groups[t->lhead].lprev = gi;
	t->lhead = gi;
	if (t->ltail == NIL32)
		t->ltail = gi;
}

/* bounded: gi was used just now */
static void
lru_touch(struct kp_aggtab *t, uint32_t gi)
{
	if (t->lhead == gi)
		return;
	lru_unlink(t, gi);
	lru_push(t, gi);
}

static uint32_t
group_find(struct kp_aggtab *t, const void *key, size_t keylen, uint64_t h)
{
	size_t j, mask;

	if (t->gtcap == 0)
		return NIL32;
	mask = t->gtcap - 1;
	for (j = h & mask; t->gtab[j] != NIL32; j = (j + 1) & mask) {
		struct group *g = &t->groups[t->gtab[j]];

		if (g->hash == h && g->keylen == keylen &&
		    !memcmp(g->key, key, keylen))
			return t->gtab[j];
	}
	return NIL32;
}

static uint32_t
group_new(struct kp_aggtab *t, const void *key, size_t keylen, uint64_t h)
{
	struct group *g;
	uint32_t gi;

	if ((t->ngroups + 1) * 2 > t->gtcap)
		gtab_grow(t);
	if (t->gfree != NIL32) {
		gi = t->gfree;
		t->gfree = t->groups[gi].head;
	} else {
		if (t->gnext == t->gcap) {
			t->gcap = t->gcap ? t->gcap * 2 : 256;
			t->groups = kp_xrealloc(t->groups, t->gcap *
			    sizeof(*t->groups));
		}
		gi = t->gnext++;
		t->groups[gi].gen = 0;
	}
	g = &t->groups[gi];
	g->hash = h;
	g->key = kp_xmemdup(key, keylen ? keylen : 1);
	g->keylen = (uint32_t)keylen;
	g->fields = NULL;
	g->flen = 0;
	g->head = NIL32;
	g->nwin = 0;
	g->used = 1;
	g->has_h = g->hdirty = g->hstored = 0;
	t->ngroups++;
	t->resident += GROUP_COST(g);
	gtab_insert(t, gi);
	g->lprev = g->lnext = NIL32;
	if (t->db)
		lru_push(t, gi);
	return gi;
}

static void
group_set_fields(struct kp_aggtab *t, struct group *g, const void *fields,
    size_t flen)
{
	if (g->fields || fields == NULL)
		return;
	g->fields = kp_xmemdup(flen ? fields : "", flen ? flen : 1);
	g->flen = (uint32_t)flen;
	t->resident += flen;
}

/* a store delete: bounded, at once (so that a read of the store sees
 * it); else with the next kp_aggtab_store_flush() */
static void
del_key(struct kp_aggtab *t, const struct kp_buf *k)
{
	uint32_t n = (uint32_t)k->len;

	if (t->db) {
		t->put(t->parg, k->data, k->len, NULL, 0);
		t->unsynced += DEL_COST(k->len);
		return;
	}
	kp_buf_add(&t->dels, &n, 4);
	kp_buf_add(&t->dels, k->data, k->len);
}

static void
hkey(struct kp_buf *b, const struct group *g)
{
	kp_buf_reset(b);
	kp_buf_addc(b, 'h');
	kp_buf_add(b, g->key, g->keylen);
}

/* drop a group from memory; keep: its store entries stay (eviction) */
static void
group_release(struct kp_aggtab *t, uint32_t gi, int keep)
{
	struct group *g = &t->groups[gi];
	size_t j, k, mask = t->gtcap - 1;

	if (t->db)
		lru_unlink(t, gi);
	t->resident -= GROUP_COST(g) + g->flen;
	if (!keep && t->c.store && g->hstored) {
		hkey(&t->kbuf, g);
		del_key(t, &t->kbuf);
	}
	/* backward-shift deletion from the linear-probing table */
	for (j = g->hash & mask; t->gtab[j] != gi; j = (j + 1) & mask)
		;
	for (;;) {
		t->gtab[j] = NIL32;
		for (k = (j + 1) & mask;; k = (k + 1) & mask) {
			size_t home;

			if (t->gtab[k] == NIL32)
				goto done;
			home = t->groups[t->gtab[k]].hash & mask;
			/* can the entry at k move to j? */
			if (j <= k ? (home <= j || home > k) :
			    (home <= j && home > k))
				break;
		}
		t->gtab[j] = t->gtab[k];
		j = k;
	}
done:
	free(g->key);
	free(g->fields);
	g->key = g->fields = NULL;
	g->used = 0;
	g->gen++;
	g->head = t->gfree;
	t->gfree = gi;
	t->ngroups--;
}

static void
group_remove(struct kp_aggtab *t, uint32_t gi)
{
	group_release(t, gi, 0);
}

/* ---- windows ---- */

static int64_t
close_time(const struct kp_aggtab *t, const struct win *w)
{
	switch (t->c.win.type) {
	case KP_WIN_SESSION:
		return sat_add(sat_add(w->end, t->c.win.gap), t->c.grace);
	case KP_WIN_NONE:
		return INT64_MAX;
	default:
		return sat_add(w->end, t->c.grace);
	}
}

static int
is_closed(const struct kp_aggtab *t, const struct win *w)
{
	if (t->st == INT64_MIN)
		return 0;
	switch (t->c.win.type) {
	case KP_WIN_SESSION:
		return kp_session_is_closed(w->end, t->c.win.gap, t->c.grace,
		    t->st) == 1;
	case KP_WIN_NONE:
		return 0;
	default:
		return kp_window_is_closed(w->end, t->st, t->c.grace) == 1;
	}
}

static uint32_t
win_new(struct kp_aggtab *t, uint32_t gi, int64_t start, int64_t end)
{
	struct group *g;
	struct win *w;
	uint32_t wi;

	if (t->wfree != NIL32) {
		wi = t->wfree;
		w = WIN(t, wi);
		t->wfree = w->next;
	} else {
		if ((t->wnext >> CHUNK_SHIFT) == t->nchunks) {
			t->chunks = kp_xrealloc(t->chunks, (t->nchunks + 1) *
			    sizeof(*t->chunks));
			t->chunks[t->nchunks++] = kp_xmalloc(CHUNK * t->wsize);
		}
		wi = t->wnext++;
		w = WIN(t, wi);
		w->gen = 0;
	}
	g = &t->groups[gi];
	w->group = gi;
	w->used = 1;
	w->cdirty = w->sdirty = w->stored = w->estored = 0;
	w->seq = t->seq++;
	w->start = start;
	w->end = end;
	w->stored_start = start;
	w->stored_eend = end;
	w->prev = NIL32;
	w->next = g->head;
	if (g->head != NIL32)
		WIN(t, g->head)->prev = wi;
	g->head = wi;
	g->nwin++;
	t->nopen++;
	t->resident += WIN_COST(t);
	kp_agg_state_init(t->c.def, WSTATE(w));
	if (t->c.win.type != KP_WIN_NONE)
		heap_push(t, close_time(t, w), w->seq, wi, w->gen, T_WIN);
	else
		heap_push(t, INT64_MAX, w->seq, wi, w->gen, T_WIN);
	return wi;
}

static size_t
win_est(const struct kp_aggtab *t, const struct win *w)
{
	return t->groups[w->group].keylen + t->wsize + 64;
}

static void
wkey(struct kp_buf *b, const struct group *g, int64_t start)
{
	uint8_t x[8];
	uint64_t u = (uint64_t)start ^ (1ULL << 63);
	uint32_t n = g->keylen;
	int i;

	kp_buf_reset(b);
	kp_buf_addc(b, 'w');
	for (i = 0; i < 4; i++)
		x[i] = (uint8_t)(n >> (24 - 8 * i));
	kp_buf_add(b, x, 4);
	kp_buf_add(b, g->key, g->keylen);
	for (i = 0; i < 8; i++)
		x[i] = (uint8_t)(u >> (56 - 8 * i));
	kp_buf_add(b, x, 8);
}

/* the end in a window's 'e' key: window none never closes by time */
static int64_t
eend(const struct kp_aggtab *t, const struct win *w)
{
	return t->c.win.type == KP_WIN_NONE ? INT64_MAX : w->end;
}

/* drop a window; keep: its store entries stay (eviction) */
static void
win_release(struct kp_aggtab *t, uint32_t wi, int keep)
{
	struct win *w = WIN(t, wi);
	struct group *g = &t->groups[w->group];

	if (!keep && t->c.store && w->stored) {
		wkey(&t->kbuf, g, w->stored_start);
		del_key(t, &t->kbuf);
	}
	if (!keep && t->db && w->estored) {
		ekey(&t->kbuf, g, w->stored_eend);
		del_key(t, &t->kbuf);
	}
	t->resident -= WIN_COST(t);
	if (w->cdirty)
		t->cache_used -= t->cache_used >= win_est(t, w) ?
		    win_est(t, w) : t->cache_used;
	w->cdirty = 0;
	kp_agg_state_free(t->c.def, WSTATE(w));
	if (w->prev != NIL32)
		WIN(t, w->prev)->next = w->next;
	else
		g->head = w->next;
	if (w->next != NIL32)
		WIN(t, w->next)->prev = w->prev;
	g->nwin--;
	t->nopen--;
	w->used = 0;
	w->gen++;
	w->next = t->wfree;
	t->wfree = wi;
}

static void
win_free(struct kp_aggtab *t, uint32_t wi)
{
	win_release(t, wi, 0);
}

static void
emit(struct kp_aggtab *t, struct win *w)
{
	const struct group *g = &t->groups[w->group];
	struct kp_buf *b = &t->vbuf;
	msgpack_packer pk;
	size_t i, off = 0;
	int timed = t->c.win.type != KP_WIN_NONE;
	int64_t ts;

	kp_buf_reset(b);
	msgpack_packer_init(&pk, b, buf_write);
	msgpack_pack_map(&pk, t->c.ngroup + (timed ? 2 : 0) + t->c.def->naggs);
	for (i = 0; i < t->c.ngroup; i++) {
		const char *name = t->c.group_names[i];
		long long sz = off < g->flen ? kp_mp_skip(g->fields + off,
		    g->flen - off) : 0;

		msgpack_pack_str_with_body(&pk, name, strlen(name));
		if (sz > 0) {
			kp_buf_add(b, g->fields + off, (size_t)sz);
			off += (size_t)sz;
		} else {
			msgpack_pack_nil(&pk);
		}
	}
	if (timed) {
		msgpack_pack_str_with_body(&pk, "window_start", 12);
		msgpack_pack_int64(&pk, kp_time_from_ms(w->start, t->c.unit));
		msgpack_pack_str_with_body(&pk, "window_end", 10);
		msgpack_pack_int64(&pk, kp_time_from_ms(w->end, t->c.unit));
	}
	kp_agg_state_pack(t->c.def, WSTATE(w), &pk);
	ts = w->end;
	t->c.emit(t->c.arg, g->key, g->keylen, b->data, b->len, ts);
}

static void
mark_dirty(struct kp_aggtab *t, uint32_t wi)
{
	struct win *w = WIN(t, wi);

	if (t->c.store && !w->sdirty) {
		w->sdirty = 1;
		ref_push(&t->sdirty, &t->nsdirty, &t->capsdirty, wi, w->gen);
	}
	if (!t->c.emit_changes)
		return;
	if (!w->cdirty) {
		w->cdirty = 1;
		ref_push(&t->cache, &t->ncache, &t->capcache, wi, w->gen);
		t->cache_used += win_est(t, w);
	}
	if (t->cache_used > t->c.cache_bytes)
		kp_aggtab_flush_cache(t);
}

void
kp_aggtab_flush_cache(struct kp_aggtab *t)
{
	size_t i;

	for (i = 0; i < t->ncache; i++) {
		struct win *w = WIN(t, t->cache[i].idx);

		if (!w->used || w->gen != t->cache[i].gen || !w->cdirty)
			continue;
		w->cdirty = 0;
		emit(t, w);
	}
	t->ncache = 0;
	t->cache_used = 0;
}

static void
group_horizon(struct kp_aggtab *t, uint32_t gi, int64_t first, int64_t last)
{
	struct group *g = &t->groups[gi];

	if (g->has_h && g->hlast >= last)
		return;
	g->has_h = 1;
	g->hfirst = first;
	g->hlast = last;
	if (t->c.store && !g->hdirty) {
		g->hdirty = 1;
		ref_push(&t->hdirty, &t->nhdirty, &t->caphdirty, gi, g->gen);
	}
}

static int64_t
purge_time(const struct kp_aggtab *t, const struct group *g)
{
	return sat_add(sat_add(g->hlast, sat_add(t->c.win.gap, t->c.win.gap)),
	    t->c.grace);
}

/* a window closes: emit it (final, or a pending change), then drop it */
static void
close_window(struct kp_aggtab *t, uint32_t wi)
{
	struct win *w = WIN(t, wi);
	uint32_t gi = w->group;
	struct group *g = &t->groups[gi];

	if (!t->c.emit_changes || w->cdirty)
		emit(t, w);
	if (t->c.win.type == KP_WIN_SESSION)
		group_horizon(t, gi, w->start, w->end);
	win_free(t, wi);
	if (g->nwin == 0) {
		if (!g->has_h)
			group_remove(t, gi);
		else
			heap_push(t, purge_time(t, g), 0, gi, g->gen, T_PURGE);
	}
}

/* handle one heap entry that is due (or, with force, any entry); an entry
 * that is not due after all is pushed again with its true close time */
static void
due(struct kp_aggtab *t, struct hent e, int force)
{
	if (e.kind == T_PURGE) {
		struct group *g = &t->groups[e.idx];
		int64_t pt;

		if (!g->used || g->gen != e.gen || g->nwin > 0)
			return;
		pt = purge_time(t, g);
		if (pt > e.close) {
			heap_push(t, pt, 0, e.idx, e.gen, T_PURGE);
			return;
		}
		/* else a saturated purge time: the horizon stays */
		if (force || (t->st != INT64_MIN && t->st >= pt &&
		    pt != INT64_MAX))
			group_remove(t, e.idx);
		return;
	} else {
		struct win *w = WIN(t, e.idx);
		int64_t ct;

		if (!w->used || w->gen != e.gen)
			return;
		ct = close_time(t, w);
		if (!force && ct > e.close) {
			heap_push(t, ct, w->seq, e.idx, e.gen, T_WIN);
			return;
		}
		if (!force && !is_closed(t, w))
			return;		/* saturated close time: never closes */
		close_window(t, e.idx);
	}
}

static void
close_expired(struct kp_aggtab *t)
{
	while (t->hn > 0 && t->heap[0].close <= t->st)
		due(t, heap_pop(t), 0);
}

static int	close_all_bounded(struct kp_aggtab *t);

static void
close_all_mem(struct kp_aggtab *t)
{
	size_t i;

	/* the stream time moves on to close the last window, so that a later
	 * record for any window emitted here is late */
	if (t->c.win.type != KP_WIN_NONE)
		for (i = 0; i < t->hn; i++) {
			struct win *w;

			if (t->heap[i].kind != T_WIN)
				continue;
			w = WIN(t, t->heap[i].idx);
			if (w->used && w->gen == t->heap[i].gen &&
			    close_time(t, w) > t->st)
				t->st = close_time(t, w);
		}
	while (t->hn > 0) {
		struct hent e = heap_pop(t);

		if (e.kind == T_WIN)
			due(t, e, 1);
		/* purge timers are dropped: the horizons stay */
	}
	/* purge timers of the horizons left behind */
	{
		uint32_t gi;

		for (gi = 0; gi < t->gnext; gi++) {
			struct group *g = &t->groups[gi];

			if (g->used && g->nwin == 0)
				heap_push(t, purge_time(t, g), 0, gi, g->gen,
				    T_PURGE);
		}
	}
	t->ncache = 0;
	t->cache_used = 0;
}

int
kp_aggtab_close_all(struct kp_aggtab *t)
{
	if (t->db && close_all_bounded(t) > 0)
		return 1;
	close_all_mem(t);
	return 0;
}

static uint32_t
group_get(struct kp_aggtab *t, const void *key, size_t keylen,
    const void *fields, size_t flen, int fault)
{
	uint64_t h;
	uint32_t gi;

	if (key == NULL)
		key = "";
	h = hash_bytes(key, keylen, 0x6b616767);
	gi = group_find(t, key, keylen, h);

	if (gi == NIL32 && t->db && fault && group_level(t)) {
		/* bounded sessions and window none: read the group back from
		 * the store, close what was due in it, and look again
		 * (tumbling and hopping windows are read one by one) */
		fault_in(t, key, keylen);
		close_expired(t);
		gi = group_find(t, key, keylen, h);
	}
	if (gi == NIL32)
		gi = group_new(t, key, keylen, h);
	group_set_fields(t, &t->groups[gi], fields, flen);
	return gi;
}

static int
add_session(struct kp_aggtab *t, uint32_t gi, int64_t ts,
    const struct kp_aggval *vals)
{
	const struct kp_window_spec *ws = &t->c.win;
	struct group *g = &t->groups[gi];
	uint32_t wi, nh = 0, i, keep;
	int64_t mlast = ts, mfirst = ts;
	int closed = 0;

	/* rule (b): an emitted session never changes */
	if (g->has_h && kp_session_overlaps(g->hfirst, g->hlast, ts,
	    ws->gap) == 1)
		return 1;
	for (wi = g->head; wi != NIL32; wi = WIN(t, wi)->next) {
		struct win *w = WIN(t, wi);

		if (kp_session_overlaps(w->start, w->end, ts, ws->gap) != 1)
			continue;
		if (nh == t->caphits) {
			t->caphits = t->caphits ? t->caphits * 2 : 8;
			t->hits = kp_xrealloc(t->hits, t->caphits *
			    sizeof(*t->hits));
		}
		t->hits[nh++] = wi;
		if (is_closed(t, w))
			closed = 1;
		if (w->end > mlast)
			mlast = w->end;
		if (w->start < mfirst)
			mfirst = w->start;
	}
	/* rule (a): the merged session must be open */
	if (closed || (t->st != INT64_MIN && kp_session_is_closed(mlast,
	    ws->gap, t->c.grace, t->st) == 1))
		return 1;
	if (nh == 0) {
		wi = win_new(t, gi, ts, ts);
		kp_agg_state_update(t->c.def, WSTATE(WIN(t, wi)), vals, ts);
		mark_dirty(t, wi);
		return 0;
	}
	/* merge into the oldest session */
	keep = 0;
	for (i = 1; i < nh; i++)
		if (WIN(t, t->hits[i])->seq < WIN(t, t->hits[keep])->seq)
			keep = i;
	wi = t->hits[keep];
	for (i = 0; i < nh; i++) {
		struct win *o;

		if (i == keep)
			continue;
		o = WIN(t, t->hits[i]);
		kp_agg_state_merge(t->c.def, WSTATE(WIN(t, wi)), WSTATE(o));
		kp_agg_state_init(t->c.def, WSTATE(o));
		/* superseded by the merged session: no change to emit */
		win_free(t, t->hits[i]);
	}
	{
		struct win *w = WIN(t, wi);

		w->start = mfirst;
		w->end = mlast;
		kp_agg_state_update(t->c.def, WSTATE(w), vals, ts);
	}
	mark_dirty(t, wi);
	return 0;
}

int
kp_aggtab_add(struct kp_aggtab *t, const void *key, size_t keylen,
    const void *fields, size_t flen, int64_t ts,
    const struct kp_aggval *vals)
{
	const struct kp_window_spec *ws = &t->c.win;
	uint32_t gi, wi;
	int late = 0, n, i;

	if (ws->type != KP_WIN_NONE && ts != KP_TS_NONE && ts > t->st) {
		t->st = ts;
		close_expired(t);
	}
	if (t->db)
		scan_due(t);
	gi = group_get(t, key, keylen, fields, flen, 1);
	switch (ws->type) {
	case KP_WIN_NONE: {
		struct group *g = &t->groups[gi];

		wi = g->head;
		if (wi == NIL32)
			wi = win_new(t, gi, ts, ts);
		else if (ts != KP_TS_NONE) {
			struct win *w = WIN(t, wi);

			if (w->start == KP_TS_NONE || ts < w->start)
				w->start = ts;
			if (w->end == KP_TS_NONE || ts > w->end)
				w->end = ts;
		}
		kp_agg_state_update(t->c.def, WSTATE(WIN(t, wi)), vals, ts);
		mark_dirty(t, wi);
		break;
	}
	case KP_WIN_SESSION:
		late = add_session(t, gi, ts, vals);
		break;
	default:
		n = kp_window_assign(ws, ts, t->starts, t->maxstarts);
		if (n < 0) {
			late = 2;
			break;
		}
		for (i = 0; i < n; i++) {
			int64_t start = t->starts[i], end = start + ws->size;

			if (kp_window_is_closed(end, t->st, t->c.grace) == 1) {
				late = 1;
				continue;
			}
			for (wi = t->groups[gi].head; wi != NIL32;
			    wi = WIN(t, wi)->next)
				if (WIN(t, wi)->start == start)
					break;
			if (wi == NIL32 && t->db)
				wi = win_fault(t, gi, key, keylen, start);
			if (wi == NIL32)
				wi = win_new(t, gi, start, end);
			kp_agg_state_update(t->c.def, WSTATE(WIN(t, wi)), vals,
			    ts);
			mark_dirty(t, wi);
		}
		break;
	}
	if (t->groups[gi].used && t->groups[gi].nwin == 0 &&
	    !t->groups[gi].has_h)
		group_remove(t, gi);
	if (t->db) {
		if (t->groups[gi].used)
			lru_touch(t, gi);
		if (t->resident > t->mem_bytes)
			evict(t, t->mem_bytes, 64, gi);
		if (t->resident > t->mem_bytes ||
		    t->unsynced > t->mem_bytes / 4)
			t->want = 1;
	}
	return late;
}

int64_t
kp_aggtab_stream_time(const struct kp_aggtab *t)
{
	return t->st;
}

void
kp_aggtab_set_stream_time(struct kp_aggtab *t, int64_t st)
{
	t->st = st;
}

size_t
kp_aggtab_open_windows(const struct kp_aggtab *t)
{
	return t->nopen;
}

size_t
kp_aggtab_groups(const struct kp_aggtab *t)
{
	return t->ngroups;
}

void
kp_aggtab_free(struct kp_aggtab *t)
{
	uint32_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->wnext; i++) {
		struct win *w = WIN(t, i);

		if (w->used)
			kp_agg_state_free(t->c.def, WSTATE(w));
	}
	for (i = 0; i < t->nchunks; i++)
		free(t->chunks[i]);
	for (i = 0; i < t->gnext; i++)
		if (t->groups[i].used) {
			free(t->groups[i].key);
			free(t->groups[i].fields);
		}
	free(t->chunks);
	free(t->groups);
	free(t->gtab);
	free(t->heap);
	free(t->cache);
	free(t->sdirty);
	free(t->hdirty);
	free(t->starts);
	free(t->hits);
	kp_buf_free(&t->dels);
	kp_buf_free(&t->efrom);
	kp_buf_free(&t->fbuf);
	kp_buf_free(&t->kbuf);
	kp_buf_free(&t->vbuf);
	free(t);
}

/* ---- the store ---- */

static void
wvalue(struct kp_aggtab *t, const struct win *w, struct kp_buf *b)
{
	const struct group *g = &t->groups[w->group];

	kp_buf_reset(b);
	put_u8(b, 1);
	put_u64(b, (uint64_t)w->start);
	put_u64(b, (uint64_t)w->end);
	put_u32(b, g->flen);
	kp_buf_add(b, g->fields ? g->fields : (const uint8_t *)"", g->flen);
	kp_agg_state_encode(t->c.def, WSTATE(w), b);
}

void
kp_aggtab_store_flush(struct kp_aggtab *t, kp_aggtab_put_fn put, void *arg)
{
	size_t i, off;

	/* deletes first: removed windows and horizons, moved sessions */
	for (off = 0; off < t->dels.len;) {
		uint32_t n;

		memcpy(&n, t->dels.data + off, 4);
		put(arg, t->dels.data + off + 4, n, NULL, 0);
		off += 4 + n;
	}
	kp_buf_reset(&t->dels);
	for (i = 0; i < t->nsdirty; i++) {
		struct win *w = WIN(t, t->sdirty[i].idx);

		if (!w->used || w->gen != t->sdirty[i].gen || !w->sdirty)
			continue;
		if (w->stored && w->stored_start != w->start) {
			wkey(&t->kbuf, &t->groups[w->group], w->stored_start);
			put(arg, t->kbuf.data, t->kbuf.len, NULL, 0);
			w->stored = 0;
		}
		if (t->db && w->estored && w->stored_eend != eend(t, w)) {
			ekey(&t->kbuf, &t->groups[w->group], w->stored_eend);
			put(arg, t->kbuf.data, t->kbuf.len, NULL, 0);
			w->estored = 0;
		}
	}
	for (i = 0; i < t->nsdirty; i++) {
		struct win *w = WIN(t, t->sdirty[i].idx);

		if (!w->used || w->gen != t->sdirty[i].gen || !w->sdirty)
			continue;
		wkey(&t->kbuf, &t->groups[w->group], w->start);
		wvalue(t, w, &t->vbuf);
		put(arg, t->kbuf.data, t->kbuf.len, t->vbuf.data, t->vbuf.len);
		if (t->db && (!w->estored || !w->stored)) {
			/* the index by end: 'e' end key -> start */
			uint8_t v[8];
			int k;

			for (k = 0; k < 8; k++)
				v[k] = (uint8_t)((uint64_t)w->start >> (8 * k));
			ekey(&t->kbuf, &t->groups[w->group], eend(t, w));
			put(arg, t->kbuf.data, t->kbuf.len, v, 8);
			w->estored = 1;
			w->stored_eend = eend(t, w);
		}
		w->stored = 1;
		w->stored_start = w->start;
		w->sdirty = 0;
	}
	t->nsdirty = 0;
	for (i = 0; i < t->nhdirty; i++) {
		struct group *g = &t->groups[t->hdirty[i].idx];
		uint8_t v[16];
		int k;

		if (!g->used || g->gen != t->hdirty[i].gen || !g->hdirty)
			continue;
		g->hdirty = 0;
		hkey(&t->kbuf, g);
		if (!g->has_h) {
			if (g->hstored)
				put(arg, t->kbuf.data, t->kbuf.len, NULL, 0);
			g->hstored = 0;
			continue;
		}
		for (k = 0; k < 8; k++) {
			v[k] = (uint8_t)((uint64_t)g->hfirst >> (8 * k));
			v[8 + k] = (uint8_t)((uint64_t)g->hlast >> (8 * k));
		}
		put(arg, t->kbuf.data, t->kbuf.len, v, 16);
		g->hstored = 1;
	}
	t->nhdirty = 0;
}

/* split a 'w' key into group key and start; -1 when malformed */
static int
parse_wkey(const uint8_t *k, size_t kn, const uint8_t **gk, size_t *gn,
    int64_t *start)
{
	uint32_t n;
	uint64_t u = 0;
	int i;

	if (kn < 13 || k[0] != 'w')
		return -1;
	n = (uint32_t)k[1] << 24 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 8 |
	    k[4];
	if ((size_t)n + 13 != kn)
		return -1;
	*gk = k + 5;
	*gn = n;
	for (i = 0; i < 8; i++)
		u = (u << 8) | k[5 + n + i];
	*start = (int64_t)(u ^ (1ULL << 63));
	return 0;
}

int
kp_aggtab_store_load(struct kp_aggtab *t, const void *kp, size_t kn,
    const void *vp, size_t vn, char *errstr, size_t n)
{
	const uint8_t *k = kp;
	uint32_t gi, wi;

	if (kn >= 1 && k[0] == 'h') {
		struct rd r = { .p = vp, .n = vn };
		struct group *g;
		int64_t f, l;

		f = (int64_t)get_u64(&r);
		l = (int64_t)get_u64(&r);
		if (r.bad || r.off != vn) {
			snprintf(errstr, n, "bad session horizon in the store");
			return -1;
		}
		gi = group_get(t, k + 1, kn - 1, NULL, 0, 0);
		g = &t->groups[gi];
		g->has_h = 1;
		g->hfirst = f;
		g->hlast = l;
		g->hstored = 1;
		if (g->nwin == 0)
			heap_push(t, purge_time(t, g), 0, gi, g->gen, T_PURGE);
		return 0;
	}
	if (kn >= 1 && k[0] == 'w') {
		struct rd r = { .p = vp, .n = vn };
		const uint8_t *gk, *fields;
		size_t gn;
		int64_t kstart, start, end;
		uint32_t flen;
		struct win *w;
		long used;

		if (parse_wkey(k, kn, &gk, &gn, &kstart) < 0 ||
		    get_u8(&r) != 1) {
			snprintf(errstr, n, "bad window entry in the store");
			return -1;
		}
		start = (int64_t)get_u64(&r);
		end = (int64_t)get_u64(&r);
		flen = get_u32(&r);
		fields = rd_take(&r, flen);
		if (r.bad || start != kstart) {
			snprintf(errstr, n, "bad window entry in the store");
			return -1;
		}
		gi = group_get(t, gk, gn, fields, flen, 0);
		wi = win_new(t, gi, start, end);
		w = WIN(t, wi);
		used = kp_agg_state_decode(t->c.def, WSTATE(w), r.p + r.off,
		    vn - r.off);
		if (used < 0 || (size_t)used != vn - r.off) {
			if (used >= 0)
				kp_agg_state_free(t->c.def, WSTATE(w));
			kp_agg_state_init(t->c.def, WSTATE(w));
			win_free(t, wi);
			snprintf(errstr, n, "bad aggregate state in the store "
			    "(written with other -a options?)");
			return -1;
		}
		w->stored = 1;
		w->stored_start = start;
		w->estored = t->db != NULL;
		w->stored_eend = eend(t, w);
		return 0;
	}
	snprintf(errstr, n, "unknown entry in the store");
	return -1;
}

void
kp_aggtab_store_touch(struct kp_aggtab *t, const void *kp, size_t kn)
{
	const uint8_t *k = kp;
	struct kp_buf kb = {0};
	uint32_t gi;

	kp_buf_add(&kb, kp, kn);
	if (kn >= 1 && k[0] == 'h') {
		uint64_t h = hash_bytes(k + 1, kn - 1, 0x6b616767);

		gi = group_find(t, k + 1, kn - 1, h);
		if (gi == NIL32 && t->db) {
			fault_in(t, k + 1, kn - 1);
			gi = group_find(t, k + 1, kn - 1, h);
		}
		if (gi != NIL32 && t->groups[gi].has_h) {
			struct group *g = &t->groups[gi];

			if (!g->hdirty) {
				g->hdirty = 1;
				ref_push(&t->hdirty, &t->nhdirty, &t->caphdirty,
				    gi, g->gen);
			}
		} else {
			del_key(t, &kb);
		}
	} else if (kn >= 1 && k[0] == 'w') {
		const uint8_t *gk;
		size_t gn;
		int64_t start;
		uint32_t wi = NIL32;

		if (parse_wkey(k, kn, &gk, &gn, &start) == 0) {
			uint64_t h = hash_bytes(gk, gn, 0x6b616767);

			gi = group_find(t, gk, gn, h);
			if (gi == NIL32 && t->db && group_level(t)) {
				fault_in(t, gk, gn);
				gi = group_find(t, gk, gn, h);
			}
			if (gi != NIL32)
				wi = win_find(t, gi, start);
			if (wi == NIL32 && t->db)
				wi = win_fault(t, gi, gk, gn, start);
		}
		if (wi != NIL32) {
			struct win *w = WIN(t, wi);

			if (!w->sdirty) {
				w->sdirty = 1;
				ref_push(&t->sdirty, &t->nsdirty, &t->capsdirty,
				    wi, w->gen);
			}
		} else {
			del_key(t, &kb);
		}
	} else if (kn >= 9 && k[0] == 'e' && t->db) {
		const uint8_t *gk = k + 9;
		size_t gn = kn - 9;
		uint64_t h = hash_bytes(gk, gn, 0x6b616767);
		int64_t end = be_time(k + 1);
		uint32_t wi = NIL32;

		const void *v;
		size_t vn;
		char err[128];

		if ((gi = group_find(t, gk, gn, h)) == NIL32 && group_level(t)) {
			fault_in(t, gk, gn);
			gi = group_find(t, gk, gn, h);
		}
		if (gi != NIL32)
			for (wi = t->groups[gi].head; wi != NIL32;
			    wi = WIN(t, wi)->next)
				if (WIN(t, wi)->estored &&
				    WIN(t, wi)->stored_eend == end)
					break;
		if (wi == NIL32 && kp_store_get(t->db, k, kn, &v, &vn, err,
		    sizeof(err)) == 1 && vn == 8) {
			int64_t start = 0;
			int i;

			for (i = 7; i >= 0; i--)
				start = (int64_t)((uint64_t)start << 8 |
				    ((const uint8_t *)v)[i]);
			wi = win_fault(t, gi, gk, gn, start);
			if (wi != NIL32 && !(WIN(t, wi)->estored &&
			    WIN(t, wi)->stored_eend == end))
				wi = NIL32;
		}
		if (wi != NIL32) {
			struct win *w = WIN(t, wi);

			w->estored = 0;		/* write it again */
			if (!w->sdirty) {
				w->sdirty = 1;
				ref_push(&t->sdirty, &t->nsdirty, &t->capsdirty,
				    wi, w->gen);
			}
		} else {
			del_key(t, &kb);
		}
	}
	kp_buf_free(&kb);
}

/* ---- bounded memory: the store holds what memory does not ---- */

/* i64be' of wkey(): big-endian with the sign bit flipped */
static int64_t
be_time(const uint8_t *p)
{
	uint64_t u = 0;
	int i;

	for (i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	return (int64_t)(u ^ (1ULL << 63));
}

/* 'e' i64be'(end) key: the windows of the store in end order */
static void
ekey(struct kp_buf *b, const struct group *g, int64_t end)
{
	uint64_t u = (uint64_t)end ^ (1ULL << 63);
	uint8_t x[8];
	int i;

	kp_buf_reset(b);
	kp_buf_addc(b, 'e');
	for (i = 0; i < 8; i++)
		x[i] = (uint8_t)(u >> (56 - 8 * i));
	kp_buf_add(b, x, 8);
	kp_buf_add(b, g->key, g->keylen);
}

/* the close time of a window that ends at end */
static int64_t
eclose(const struct kp_aggtab *t, int64_t end)
{
	if (t->c.win.type == KP_WIN_SESSION)
		return sat_add(sat_add(end, t->c.win.gap), t->c.grace);
	if (t->c.win.type == KP_WIN_NONE)
		return INT64_MAX;
	return sat_add(end, t->c.grace);
}

/* Read the windows (and session horizon) of a group that is not in
 * memory back from the store: committed entries, less those deleted
 * since. */
static void
fault_in(struct kp_aggtab *t, const void *key, size_t keylen)
{
	struct kp_store_iter *it;
	const void *k, *v, *pv;
	size_t kn, vn, pvn;
	uint8_t x[4];
	char err[128];
	int i;

	kp_buf_reset(&t->fbuf);
	kp_buf_addc(&t->fbuf, 'w');
	for (i = 0; i < 4; i++)
		x[i] = (uint8_t)(keylen >> (24 - 8 * i));
	kp_buf_add(&t->fbuf, x, 4);
	kp_buf_add(&t->fbuf, key, keylen);
	it = kp_store_iter_new(t->db, t->fbuf.data, t->fbuf.len);
	while (kp_store_iter_next(it, &k, &kn, &v, &vn)) {
		int pr = kp_store_pending_get(t->db, k, kn, &pv, &pvn);

		if (pr == 0)
			continue;
		if (pr == 1) {
			v = pv;
			vn = pvn;
		}
		/* an entry that does not decode stays in the store */
		(void)kp_aggtab_store_load(t, k, kn, v, vn, err, sizeof(err));
	}
	kp_store_iter_free(it);
	if (t->c.win.type == KP_WIN_SESSION) {
		kp_buf_reset(&t->fbuf);
		kp_buf_addc(&t->fbuf, 'h');
		kp_buf_add(&t->fbuf, key, keylen);
		if (kp_store_get(t->db, t->fbuf.data, t->fbuf.len, &v, &vn, err,
		    sizeof(err)) == 1)
			(void)kp_aggtab_store_load(t, t->fbuf.data, t->fbuf.len,
			    v, vn, err, sizeof(err));
	}
}

/* Are groups read back whole (sessions, window none), or window by
 * window (tumbling, hopping: a group in memory may lack some)? */
static int
group_level(const struct kp_aggtab *t)
{
	return t->c.win.type == KP_WIN_SESSION ||
	    t->c.win.type == KP_WIN_NONE;
}

/* the window of group gi stored under start, NIL32: none in memory */
static uint32_t
win_find(struct kp_aggtab *t, uint32_t gi, int64_t start)
{
	uint32_t wi;

	for (wi = t->groups[gi].head; wi != NIL32; wi = WIN(t, wi)->next)
		if (WIN(t, wi)->stored && WIN(t, wi)->stored_start == start)
			return wi;
	return NIL32;
}

/* Read one window (key, start) back from the store, by a point read
 * (tombstones make prefix scans slow); gi: its group if in memory, or
 * NIL32.  Returns the window, or NIL32 when the store has none. */
static uint32_t
win_fault(struct kp_aggtab *t, uint32_t gi, const void *key, size_t keylen,
    int64_t start)
{
	uint64_t u = (uint64_t)start ^ (1ULL << 63);
	const void *v;
	size_t vn;
	uint8_t x[8];
	char err[128];
	int i;

	kp_buf_reset(&t->fbuf);
	kp_buf_addc(&t->fbuf, 'w');
	for (i = 0; i < 4; i++)
		x[i] = (uint8_t)(keylen >> (24 - 8 * i));
	kp_buf_add(&t->fbuf, x, 4);
	kp_buf_add(&t->fbuf, key, keylen);
	for (i = 0; i < 8; i++)
		x[i] = (uint8_t)(u >> (56 - 8 * i));
	kp_buf_add(&t->fbuf, x, 8);
	if (kp_store_get(t->db, t->fbuf.data, t->fbuf.len, &v, &vn, err,
	    sizeof(err)) != 1 || kp_aggtab_store_load(t, t->fbuf.data,
	    t->fbuf.len, v, vn, err, sizeof(err)) < 0)
		return NIL32;
	if (gi == NIL32)
		gi = group_find(t, key, keylen, hash_bytes(key, keylen,
		    0x6b616767));
	return gi == NIL32 ? NIL32 : win_find(t, gi, start);
}

/* Is every window of the group written to the store as it is? */
static int
group_clean(struct kp_aggtab *t, const struct group *g)
{
	uint32_t wi;

	if (g->hdirty || (g->has_h && !g->hstored))
		return 0;
	for (wi = g->head; wi != NIL32; wi = WIN(t, wi)->next) {
		const struct win *w = WIN(t, wi);

		if (w->sdirty || w->cdirty || !w->stored || !w->estored)
			return 0;
	}
	return 1;
}

static void
sift_down(struct kp_aggtab *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct hent tmp;

		if (l < t->hn && hless(&t->heap[l], &t->heap[m]))
			m = l;
		if (r < t->hn && hless(&t->heap[r], &t->heap[m]))
			m = r;
		if (m == i)
			break;
		tmp = t->heap[m];
		t->heap[m] = t->heap[i];
		t->heap[i] = tmp;
		i = m;
	}
}

/* drop the heap entries of windows and groups that are gone */
static void
heap_compact(struct kp_aggtab *t)
{
	size_t i, j = 0;

	for (i = 0; i < t->hn; i++) {
		struct hent e = t->heap[i];
		int keep;

		if (e.kind == T_WIN) {
			const struct win *w = WIN(t, e.idx);

			keep = w->used && w->gen == e.gen;
		} else {
			const struct group *g = &t->groups[e.idx];

			keep = g->used && g->gen == e.gen && g->nwin == 0;
		}
		if (keep)
			t->heap[j++] = e;
	}
	t->hn = j;
	for (i = j / 2; i-- > 0;)
		sift_down(t, i);
}

/* Drop clean groups, least recently used first, until the table holds
 * at most target bytes; look at maxsteps groups at most (0: all). */
static void
evict(struct kp_aggtab *t, size_t target, size_t maxsteps, uint32_t pin)
{
	uint32_t gi = t->ltail;
	size_t steps = 0;

	while (gi != NIL32 && t->resident > target &&
	    (maxsteps == 0 || steps++ < maxsteps)) {
		struct group *g = &t->groups[gi];
		uint32_t prev = g->lprev;

		if (gi != pin && group_clean(t, g)) {
			while (g->head != NIL32) {
				struct win *w = WIN(t, g->head);
				int64_t ct = eclose(t, w->stored_eend);

				if (ct < t->ebound)
					t->ebound = ct;
				win_release(t, g->head, 1);
			}
			group_release(t, gi, 1);
		}
		gi = prev;
	}
	if (t->hn > 2 * (t->nopen + t->ngroups) + 4096)
		heap_compact(t);
}

/*
 * Read back the groups of the evicted windows that are due (their 'e'
 * entries, in end order, from where the last scan stopped), a batch at
 * a time, and close them through the heap.  Stops when nothing more is
 * due, or, asking for a commit, when memory stays full of state that
 * the store does not hold yet.  force: every window (end of input).
 * Returns 1 when it stopped early.
 */
static int
scan(struct kp_aggtab *t, int force)
{
	for (;;) {
		struct kp_store_iter *it;
		const void *k, *v, *pv;
		size_t kn, vn, pvn, nf = 0;
		int64_t last = INT64_MIN;
		uint32_t gi;
		int done = 0, more;

		it = kp_store_iter_from(t->db, "e", 1, t->efrom.data,
		    t->efrom.len);
		while ((more = kp_store_iter_next(it, &k, &kn, &v, &vn))) {
			const uint8_t *e = k;
			int64_t ct;

			if (kn < 9)
				continue;
			ct = eclose(t, be_time(e + 1));
			if (!force && (ct > t->st || ct == INT64_MAX)) {
				t->ebound = ct;
				done = 1;
				break;
			}
			if (kp_store_pending_get(t->db, k, kn, &pv, &pvn) == 0)
				continue;	/* closed since the last commit */
			kp_buf_reset(&t->efrom);
			kp_buf_add(&t->efrom, k, kn);
			last = ct;
			gi = group_find(t, e + 9, kn - 9, hash_bytes(e + 9, kn - 9,
			    0x6b616767));
			if (t->c.win.type == KP_WIN_SESSION) {
				if (gi != NIL32)
					continue;	/* the heap has it */
				fault_in(t, e + 9, kn - 9);
			} else {
				int64_t start = 0;
				int i;

				for (i = 7; i >= 0 && vn == 8; i--)
					start = (int64_t)((uint64_t)start << 8 |
					    ((const uint8_t *)v)[i]);
				if (gi != NIL32 && win_find(t, gi, start) != NIL32)
					continue;	/* the heap has it */
				(void)win_fault(t, gi, e + 9, kn - 9, start);
			}
			if (++nf >= SCAN_BATCH || t->resident > t->mem_bytes)
				break;
		}
		kp_store_iter_free(it);
		if (!more) {
			done = 1;
			if (!force)
				t->ebound = INT64_MAX;
		}
		if (force && t->c.win.type == KP_WIN_NONE) {
			while (t->hn > 0) {
				struct hent e = heap_pop(t);

				if (e.kind == T_WIN)
					due(t, e, 1);
			}
		} else {
			if (force && last != INT64_MIN && last > t->st)
				t->st = last;
			close_expired(t);
		}
		evict(t, t->mem_bytes / 2, 0, NIL32);
		if (done)
			return 0;
		if (t->resident > t->mem_bytes ||
		    t->unsynced > t->mem_bytes / 4) {
			t->want = 1;
			return 1;
		}
	}
}

static void
scan_due(struct kp_aggtab *t)
{
	if (t->c.win.type == KP_WIN_NONE || t->st == INT64_MIN ||
	    t->ebound > t->st)
		return;
	scan(t, 0);
}

/* End of input, bounded: close the windows of the store in end order,
 * as a stream time moving on through them would; then those left in
 * memory.  The caller commits first (1: commit and call again). */
static int
close_all_bounded(struct kp_aggtab *t)
{
	if (t->nsdirty > 0 || t->nhdirty > 0 || t->ncache > 0 ||
	    t->unsynced > t->mem_bytes / 4) {
		t->want = 1;
		return 1;
	}
	if (scan(t, 1) > 0)
		return 1;
	kp_buf_reset(&t->efrom);
	t->ebound = INT64_MAX;
	return 0;
}

void
kp_aggtab_bind_store(struct kp_aggtab *t, struct kp_store *db,
    kp_aggtab_put_fn put, void *arg, size_t mem_bytes)
{
	uint32_t gi;

	t->db = db;
	t->put = put;
	t->parg = arg;
	t->mem_bytes = mem_bytes;
	t->ebound = INT64_MIN;		/* look at the store first */
	kp_buf_reset(&t->efrom);
	for (gi = 0; gi < t->gnext; gi++)
		if (t->groups[gi].used)
			lru_push(t, gi);
}

int
kp_aggtab_want_commit(const struct kp_aggtab *t)
{
	return t->want;
}

void
kp_aggtab_committed(struct kp_aggtab *t)
{
	if (t->db == NULL)
		return;
	t->unsynced = 0;
	t->want = 0;
	evict(t, t->mem_bytes / 2, 0, NIL32);
}

void
kp_aggtab_advance(struct kp_aggtab *t)
{
	if (t->db)
		scan_due(t);
}

size_t
kp_aggtab_resident(const struct kp_aggtab *t)
{
	return t->resident;
}
