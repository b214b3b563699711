/* schema.c - a JSON Schema subset over msgpack objects. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "schema.h"
#include "util.h"

enum { TY_NULL, TY_BOOLEAN, TY_OBJECT, TY_ARRAY, TY_NUMBER, TY_STRING,
	TY_INTEGER, TY_N };

static const char *const type_names[TY_N] = {
	"null", "boolean", "object", "array", "number", "string", "integer"
};

static const char *const annotations[] = {
	"$schema", "$id", "title", "description", "$comment", "examples",
	"default", NULL
};

struct prop {
	const char	*name;		/* into the schema's packed bytes */
	size_t		 len;
	struct node	*s;
};

struct node {
	int			 boolean;	/* -1: an object schema */
	int			 types[TY_N];	/* as written */
	int			 ntypes;
	const msgpack_object	*cnst, *enm;
	const msgpack_object	*min, *max, *xmin, *xmax;
	int64_t			 minlen, maxlen;	/* -1: none */
	int			 has_re;
	regex_t			 re;
	char			*pattern;
	const msgpack_object	*required;	/* array of strings */
	struct prop		*props;
	size_t			 nprops;
	struct node		*addl;		/* NULL: anything */
	struct node		*items;		/* NULL: anything */
};

struct kp_schema {
	struct kp_buf	 mp;	/* packed schema: the objects point into it */
	msgpack_zone	 zone;
	msgpack_object	 obj;
	struct node	*root;
};

/* Patterns are matched by code point whatever the user's locale. */
static locale_t
utf8_locale(void)
{
	static locale_t loc;
	static int tried;

	if (!tried) {
		tried = 1;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	}
	return loc;
}

/* ---- msgpack object helpers ---- */

static int
is_number(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
	    o->type == MSGPACK_OBJECT_FLOAT32 ||
	    o->type == MSGPACK_OBJECT_FLOAT64;
}

static int
is_int(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

static long double
num_ld(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (long double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return (long double)o->via.i64;
	default:
		return (long double)o->via.f64;
	}
}

/* Compare two numbers: -1, 0, 1 (exact for integers). */
static int
num_cmp(const msgpack_object *a, const msgpack_object *b)
{
	long double x, y;

	if (is_int(a) && is_int(b)) {
		if (a->type != b->type)
			return a->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? -1 : 1;
		if (a->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			return a->via.u64 < b->via.u64 ? -1 :
			    a->via.u64 > b->via.u64;
		return a->via.i64 < b->via.i64 ? -1 : a->via.i64 > b->via.i64;
	}
	x = num_ld(a);
	y = num_ld(b);
	return x < y ? -1 : x > y;
}

static int
str_is(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	    !memcmp(o->via.str.ptr, s, n);
}

static const msgpack_object *
map_get(const msgpack_object *m, const char *name, size_t len)
{
	uint32_t i;

	for (i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
		    !memcmp(k->via.str.ptr, name, len))
			return &m->via.map.ptr[i].val;
	}
	return NULL;
}

/* Equality as JSON Schema defines it for enum and const. */
static int
json_equal(const msgpack_object *a, const msgpack_object *b)
{
	uint32_t i;

	if (is_number(a) && is_number(b))
		return num_cmp(a, b) == 0;
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case MSGPACK_OBJECT_NIL:
		return 1;
	case MSGPACK_OBJECT_BOOLEAN:
		return a->via.boolean == b->via.boolean;
	case MSGPACK_OBJECT_STR:
	case MSGPACK_OBJECT_BIN:
		return a->via.str.size == b->via.str.size &&
		    !memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size);
	case MSGPACK_OBJECT_EXT:
		return a->via.ext.type == b->via.ext.type &&
		    a->via.ext.size == b->via.ext.size &&
		    !memcmp(a->via.ext.ptr, b->via.ext.ptr, a->via.ext.size);
	case MSGPACK_OBJECT_ARRAY:
		if (a->via.array.size != b->via.array.size)
			return 0;
		for (i = 0; i < a->via.array.size; i++)
			if (!json_equal(&a->via.array.ptr[i], &b->via.array.ptr[i]))
				return 0;
		return 1;
	case MSGPACK_OBJECT_MAP:
		if (a->via.map.size != b->via.map.size)
			return 0;
		for (i = 0; i < a->via.map.size; i++) {
			const msgpack_object *k = &a->via.map.ptr[i].key, *v;

			if (k->type != MSGPACK_OBJECT_STR)
				return 0;
			v = map_get(b, k->via.str.ptr, k->via.str.size);
			if (v == NULL || !json_equal(&a->via.map.ptr[i].val, v))
				return 0;
		}
		return 1;
	default:
		return 0;
	}
}

static int
has_type(const msgpack_object *o, int t)
{
	switch (t) {
	case TY_NULL:
		return o->type == MSGPACK_OBJECT_NIL;
	case TY_BOOLEAN:
		return o->type == MSGPACK_OBJECT_BOOLEAN;
	case TY_OBJECT:
		return o->type == MSGPACK_OBJECT_MAP;
	case TY_ARRAY:
		return o->type == MSGPACK_OBJECT_ARRAY;
	case TY_STRING:
		return o->type == MSGPACK_OBJECT_STR;
	case TY_NUMBER:
		return is_number(o);
	case TY_INTEGER:
		if (is_int(o))
			return 1;
		return is_number(o) && isfinite(o->via.f64) &&
		    floor(o->via.f64) == o->via.f64;
	}
	return 0;
}

static const char *
got_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "null";
	case MSGPACK_OBJECT_BOOLEAN: return "boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "number";
	case MSGPACK_OBJECT_STR: return "string";
	case MSGPACK_OBJECT_ARRAY: return "array";
	case MSGPACK_OBJECT_MAP: return "object";
	case MSGPACK_OBJECT_BIN: return "bytes";
	default: return "msgpack ext";
	}
}

static int
buf_write(void *data, const char *p, size_t n)
{
	kp_buf_add(data, p, n);
	return 0;
}

/* Append o as compact JSON, cut to about max bytes with "...". */
static void
obj_json(struct kp_buf *out, const msgpack_object *o, size_t max)
{
	struct kp_buf mp = {0}, js = {0};
	msgpack_packer pk;

	msgpack_packer_init(&pk, &mp, buf_write);
	msgpack_pack_object(&pk, *o);
	kp_json_write(&js, mp.data, mp.len);
	if (js.len > max) {
		kp_buf_add(out, js.data, max);
		kp_buf_adds(out, "...");
	} else if (js.len) {
		kp_buf_add(out, js.data, js.len);
	}
	kp_buf_free(&mp);
	kp_buf_free(&js);
}

static void
num_text(struct kp_buf *out, const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		kp_buf_printf(out, "%llu", (unsigned long long)o->via.u64);
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		kp_buf_printf(out, "%lld", (long long)o->via.i64);
	else
		kp_json_write_double(out, o->via.f64);
}

static size_t
code_points(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

/* ---- paths (jq's syntax) ---- */

static int
ident(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static void
path_name(struct kp_buf *p, const char *s, size_t n)
{
	kp_buf_addc(p, '.');
	if (ident(s, n))
		kp_buf_add(p, s, n);
	else
		kp_json_write_string(p, s, n);
}

/* ".[3]" at the top, ".tags[3]" below it, as jq writes them */
static void
path_index(struct kp_buf *p, uint32_t i)
{
	kp_buf_printf(p, "%s[%u]", p->len ? "" : ".", (unsigned)i);
}

static void
path_key(struct kp_buf *p, const msgpack_object *k)
{
	if (k->type == MSGPACK_OBJECT_STR) {
		path_name(p, k->via.str.ptr, k->via.str.size);
	} else {
		struct kp_buf t = {0};

		obj_json(&t, k, 64);
		path_name(p, t.data ? t.data : "", t.len);
		kp_buf_free(&t);
	}
}

/* ---- compiling ---- */

struct cctx {
	struct kp_buf	 ptr;	/* JSON Pointer of the place, "#/..." */
	char		*err;
	size_t		 n;
};

static void
ptr_push(struct kp_buf *p, const char *s, size_t n)
{
	size_t i;

	kp_buf_addc(p, '/');
	for (i = 0; i < n; i++) {
		if (s[i] == '~')
			kp_buf_adds(p, "~0");
		else if (s[i] == '/')
			kp_buf_adds(p, "~1");
		else
			kp_buf_addc(p, s[i]);
	}
}

__attribute__((format(printf, 2, 3)))
static void
cfail(struct cctx *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->n, "%s at '%s'", msg, c->ptr.data);
}

static void
node_free(struct node *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nprops; i++)
		node_free(s->props[i].s);
	free(s->props);
	node_free(s->addl);
	node_free(s->items);
	if (s->has_re)
		regfree(&s->re);
	free(s->pattern);
	free(s);
}

/* Refuse ECMA-262 syntax that POSIX ERE lacks or reads differently. */
static int
ere_check(const char *p, size_t n, char *why, size_t wn)
{
	static const char lazy[] = "lazy quantifiers ('*?', '+?', '?" "?', "
	    "'}?') are ECMA-262 syntax that POSIX ERE does not have";
	size_t i = 0, j;
	int quant = 0;

	while (i < n) {
		char c = p[i];

		if (c == '\0') {
			snprintf(why, wn, "a NUL character is not supported");
			return -1;
		}
		if (c == '\\') {
			if (i + 1 >= n) {
				snprintf(why, wn, "it ends with a backslash");
				return -1;
			}
			if (p[i + 1] == '\0' ||
			    !strchr(".[]{}()*+?^$|\\/-", p[i + 1])) {
				snprintf(why, wn, "'\\%c' is ECMA-262 syntax that "
				    "POSIX ERE does not have", p[i + 1]);
				return -1;
			}
			i += 2;
			quant = 0;
			continue;
		}
		if (c == '[') {
			i++;
			if (i < n && p[i] == '^')
				i++;
			if (i < n && p[i] == ']')
				i++;
			while (i < n && p[i] != ']') {
				if (p[i] == '\\') {
					snprintf(why, wn, "a backslash in a bracket "
					    "expression is an escape in ECMA-262 "
					    "but a plain character in POSIX ERE");
					return -1;
				}
				if (p[i] == '[' && i + 1 < n && (p[i + 1] == ':' ||
				    p[i + 1] == '=' || p[i + 1] == '.')) {
					char t = p[i + 1];

					for (j = i + 2; j + 1 < n; j++)
						if (p[j] == t && p[j + 1] == ']')
							break;
					if (j + 1 >= n) {
						snprintf(why, wn, "unterminated "
						    "'[%c' in a bracket expression", t);
						return -1;
					}
					i = j + 2;
					continue;
				}
				i++;
			}
			if (i >= n) {
				snprintf(why, wn, "unterminated bracket expression");
				return -1;
			}
			i++;
			quant = 0;
			continue;
		}
		if (c == '(' && i + 1 < n && p[i + 1] == '?') {
			snprintf(why, wn, "'(?' groups (non-capturing, "
			    "lookaround, named) are ECMA-262 syntax that POSIX "
			    "ERE does not have");
			return -1;
		}
		if (c == '?' && quant) {
			snprintf(why, wn, "%s", lazy);
			return -1;
		}
		quant = c == '*' || c == '+' || c == '?' || c == '}';
		i++;
	}
	return 0;
}

static int
get_len(struct cctx *c, const char *kw, const msgpack_object *v, int64_t *out)
{
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    v->via.u64 <= INT64_MAX) {
		*out = (int64_t)v->via.u64;
		return 0;
	}
	if ((v->type == MSGPACK_OBJECT_FLOAT64 ||
	    v->type == MSGPACK_OBJECT_FLOAT32) && v->via.f64 >= 0 &&
	    v->via.f64 < 9.2e18 && floor(v->via.f64) == v->via.f64) {
		*out = (int64_t)v->via.f64;
		return 0;
	}
	cfail(c, "'%s' must be a non-negative integer", kw);
	return -1;
}

static struct node *compile(struct cctx *c, const msgpack_object *o);

/* Compile the child schema under key kw (and name, for properties). */
static struct node *
child(struct cctx *c, const char *kw, const char *name, size_t nlen,
    const msgpack_object *o)
{
	size_t mark = c->ptr.len;
	struct node *s;

	ptr_push(&c->ptr, kw, strlen(kw));
	if (name)
		ptr_push(&c->ptr, name, nlen);
	s = compile(c, o);
	if (s) {
		c->ptr.len = mark;
		c->ptr.data[mark] = '\0';
	}
	return s;
}

static int
compile_type(struct cctx *c, struct node *s, const msgpack_object *v)
{
	const msgpack_object *names = v;
	uint32_t cnt = 1, i;
	int t, k;

	if (v->type == MSGPACK_OBJECT_ARRAY) {
		names = v->via.array.ptr;
		cnt = v->via.array.size;
		if (cnt == 0) {
			cfail(c, "'type' must not be an empty array");
			return -1;
		}
	}
	for (i = 0; i < cnt; i++) {
		if (names[i].type != MSGPACK_OBJECT_STR)
			goto bad;
		for (t = 0; t < TY_N; t++)
			if (str_is(&names[i], type_names[t]))
				break;
		if (t == TY_N)
			goto bad;
		for (k = 0; k < s->ntypes; k++)
			if (s->types[k] == t) {
				cfail(c, "'type' names '%s' twice", type_names[t]);
				return -1;
			}
		s->types[s->ntypes++] = t;
	}
	return 0;
bad:
	cfail(c, "'type' must be one of null, boolean, object, array, number, "
	    "string, integer, or an array of them");
	return -1;
}

static int
compile_pattern(struct cctx *c, struct node *s, const msgpack_object *v)
{
	char why[300], ebuf[200];
	locale_t loc = utf8_locale(), old = (locale_t)0;
	int rc;

	if (v->type != MSGPACK_OBJECT_STR) {
		cfail(c, "'pattern' must be a string");
		return -1;
	}
	s->pattern = kp_xmalloc(v->via.str.size + 1);
	memcpy(s->pattern, v->via.str.ptr, v->via.str.size);
	s->pattern[v->via.str.size] = '\0';
	if (ere_check(v->via.str.ptr, v->via.str.size, why, sizeof(why)) < 0) {
		cfail(c, "pattern '%s' is not supported: %s", s->pattern, why);
		return -1;
	}
	if (loc)
		old = uselocale(loc);
	rc = regcomp(&s->re, s->pattern, REG_EXTENDED | REG_NOSUB);
	if (rc != 0)
		regerror(rc, &s->re, ebuf, sizeof(ebuf));
	if (loc)
		uselocale(old);
	if (rc != 0) {
		cfail(c, "invalid pattern '%s': %s", s->pattern, ebuf);
		return -1;
	}
	s->has_re = 1;
	return 0;
}

static int
compile_bound(struct cctx *c, const char *kw, const msgpack_object *v,
    const msgpack_object **out)
{
	if (v->type == MSGPACK_OBJECT_BOOLEAN && kw[0] == 'e') {
		cfail(c, "'%s' must be a number (draft-04's boolean form is "
		    "not supported)", kw);
		return -1;
	}
	if (!is_number(v)) {
		cfail(c, "'%s' must be a number", kw);
		return -1;
	}
	*out = v;
	return 0;
}

static int
keyword(struct cctx *c, struct node *s, const char *k, size_t kl,
    const msgpack_object *v)
{
	uint32_t i;
	int a;

#define KW(name) (kl == sizeof(name) - 1 && !memcmp(k, name, kl))
	for (a = 0; annotations[a]; a++)
		if (kl == strlen(annotations[a]) && !memcmp(k, annotations[a], kl))
			return 0;
	if (KW("type"))
		return compile_type(c, s, v);
	if (KW("required")) {
		if (v->type != MSGPACK_OBJECT_ARRAY)
			goto not_strings;
		for (i = 0; i < v->via.array.size; i++)
			if (v->via.array.ptr[i].type != MSGPACK_OBJECT_STR)
				goto not_strings;
		s->required = v;
		return 0;
	}
	if (KW("properties")) {
		if (v->type != MSGPACK_OBJECT_MAP) {
			cfail(c, "'properties' must be an object");
			return -1;
		}
		s->props = kp_xcalloc(v->via.map.size + 1, sizeof(*s->props));
		for (i = 0; i < v->via.map.size; i++) {
			const msgpack_object_kv *kv = &v->via.map.ptr[i];
			struct prop *p = &s->props[s->nprops];

			if (kv->key.type != MSGPACK_OBJECT_STR) {
				cfail(c, "'properties' must have string keys");
				return -1;
			}
			p->name = kv->key.via.str.ptr;
			p->len = kv->key.via.str.size;
			p->s = child(c, "properties", p->name, p->len, &kv->val);
			if (p->s == NULL)
				return -1;
			s->nprops++;
		}
		return 0;
	}
	if (KW("additionalProperties"))
		return (s->addl = child(c, "additionalProperties", NULL, 0, v)) ?
		    0 : -1;
	if (KW("items")) {
		if (v->type == MSGPACK_OBJECT_ARRAY) {
			cfail(c, "'items' must be a schema (its array form is "
			    "'prefixItems' in 2020-12, which is not supported)");
			return -1;
		}
		return (s->items = child(c, "items", NULL, 0, v)) ? 0 : -1;
	}
	if (KW("enum")) {
		if (v->type != MSGPACK_OBJECT_ARRAY) {
			cfail(c, "'enum' must be an array");
			return -1;
		}
		s->enm = v;
		return 0;
	}
	if (KW("const")) {
		s->cnst = v;
		return 0;
	}
	if (KW("minimum"))
		return compile_bound(c, "minimum", v, &s->min);
	if (KW("maximum"))
		return compile_bound(c, "maximum", v, &s->max);
	if (KW("exclusiveMinimum"))
		return compile_bound(c, "exclusiveMinimum", v, &s->xmin);
	if (KW("exclusiveMaximum"))
		return compile_bound(c, "exclusiveMaximum", v, &s->xmax);
	if (KW("minLength"))
		return get_len(c, "minLength", v, &s->minlen);
	if (KW("maxLength"))
		return get_len(c, "maxLength", v, &s->maxlen);
	if (KW("pattern"))
		return compile_pattern(c, s, v);
#undef KW
	cfail(c, "unsupported keyword '%.*s'", (int)(kl > 100 ? 100 : kl), k);
	return -1;
not_strings:
	cfail(c, "'required' must be an array of strings");
	return -1;
}

static struct node *
compile(struct cctx *c, const msgpack_object *o)
{
	struct node *s = kp_xcalloc(1, sizeof(*s));
	uint32_t i;

	s->boolean = -1;
	s->minlen = s->maxlen = -1;
	if (o->type == MSGPACK_OBJECT_BOOLEAN) {
		s->boolean = o->via.boolean;
		return s;
	}
	if (o->type != MSGPACK_OBJECT_MAP) {
		cfail(c, "a schema must be an object or a boolean, not %s",
		    got_name(o));
		goto fail;
	}
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR) {
			cfail(c, "a schema must have string keys");
			goto fail;
		}
		if (keyword(c, s, kv->key.via.str.ptr, kv->key.via.str.size,
		    &kv->val) < 0)
			goto fail;
	}
	return s;
fail:
	node_free(s);
	return NULL;
}

struct kp_schema *
kp_schema_compile(const void *mp, size_t n, char *errstr, size_t en)
{
	struct kp_schema *S = kp_xcalloc(1, sizeof(*S));
	struct cctx c = { .err = errstr, .n = en };
	size_t off = 0;

	kp_buf_add(&S->mp, mp, n);
	msgpack_zone_init(&S->zone, 4096);
	if (msgpack_unpack(S->mp.data, S->mp.len, &off, &S->zone, &S->obj) !=
	    MSGPACK_UNPACK_SUCCESS) {
		snprintf(errstr, en, "schema is not one msgpack object");
		kp_schema_free(S);
		return NULL;
	}
	kp_buf_adds(&c.ptr, "#");
	S->root = compile(&c, &S->obj);
	kp_buf_free(&c.ptr);
	if (S->root == NULL) {
		kp_schema_free(S);
		return NULL;
	}
	return S;
}

struct kp_schema *
kp_schema_load(const char *path, char *errstr, size_t en)
{
	struct kp_json_parser *jp;
	struct kp_buf text = {0}, mp = {0};
	struct kp_schema *S = NULL;
	char tmp[512];
	size_t got;
	FILE *f;
	int rc;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(errstr, en, "cannot open schema '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	do {
		kp_buf_grow(&text, 65536);
		got = fread(text.data + text.len, 1, 65536, f);
		text.len += got;
	} while (got > 0);
	if (ferror(f)) {
		snprintf(errstr, en, "cannot read schema '%s': %s", path,
		    strerror(errno));
		fclose(f);
		kp_buf_free(&text);
		return NULL;
	}
	fclose(f);
	jp = kp_json_parser_new();
	rc = kp_json_parse(jp, text.data ? text.data : "", text.len, &mp, tmp,
	    sizeof(tmp));
	kp_json_parser_free(jp);
	if (rc != 0)
		snprintf(errstr, en, "schema '%s': %s", path,
		    rc == -2 ? "empty file" : tmp);
	else if ((S = kp_schema_compile(mp.data, mp.len, tmp, sizeof(tmp))) ==
	    NULL)
		snprintf(errstr, en, "schema '%s': %s", path, tmp);
	kp_buf_free(&text);
	kp_buf_free(&mp);
	return S;
}

void
kp_schema_free(struct kp_schema *S)
{
	if (S == NULL)
		return;
	node_free(S->root);
	msgpack_zone_destroy(&S->zone);
	kp_buf_free(&S->mp);
	free(S);
}

/* ---- validating ---- */

struct vctx {
	struct kp_buf	 path;
	struct kp_buf	 tmp;
	char		*err;
	size_t		 n;
};

__attribute__((format(printf, 2, 3)))
static int
vfail(struct vctx *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->n, "%s: %s", c->path.len ? c->path.data : ".", msg);
	return -1;
}

static void
path_cut(struct kp_buf *p, size_t mark)
{
	p->len = mark;
	if (p->data)
		p->data[mark] = '\0';
}

static int validate(const struct node *s, const msgpack_object *o,
	    struct vctx *c);

static int
check_number(const struct node *s, const msgpack_object *o, struct vctx *c)
{
	static const struct {
		const char	*fmt;
		int		 bad_if;	/* fail when cmp has this sign */
		int		 or_equal;
	} rule[4] = {
		{ "%s is less than minimum %s", -1, 0 },
		{ "%s is not greater than exclusiveMinimum %s", -1, 1 },
		{ "%s is greater than maximum %s", 1, 0 },
		{ "%s is not less than exclusiveMaximum %s", 1, 1 },
	};
	const msgpack_object *b[4] = { s->min, s->xmin, s->max, s->xmax };
	int i, cmp;

	for (i = 0; i < 4; i++) {
		if (b[i] == NULL)
			continue;
		cmp = num_cmp(o, b[i]);
		if (cmp == rule[i].bad_if || (cmp == 0 && rule[i].or_equal)) {
			struct kp_buf x = {0}, y = {0};
			int rc;

			num_text(&x, o);
			num_text(&y, b[i]);
			rc = vfail(c, rule[i].fmt, x.data, y.data);
			kp_buf_free(&x);
			kp_buf_free(&y);
			return rc;
		}
	}
	return 0;
}

static int
check_string(const struct node *s, const msgpack_object *o, struct vctx *c)
{
	const char *p = o->via.str.ptr;
	size_t n = o->via.str.size, cp;

	if (s->minlen >= 0 || s->maxlen >= 0) {
		cp = code_points(p, n);
		if (s->minlen >= 0 && cp < (uint64_t)s->minlen)
			return vfail(c, "string of %zu characters is shorter "
			    "than minLength %lld", cp, (long long)s->minlen);
		if (s->maxlen >= 0 && cp > (uint64_t)s->maxlen)
			return vfail(c, "string of %zu characters is longer "
			    "than maxLength %lld", cp, (long long)s->maxlen);
	}
	if (s->has_re) {
		locale_t loc = utf8_locale(), old = (locale_t)0;
		regmatch_t m[1];
		int rc;

		m[0].rm_so = 0;
		m[0].rm_eo = (regoff_t)n;
		if (loc)
			old = uselocale(loc);
		rc = regexec(&s->re, p ? p : "", 1, m, REG_STARTEND);
		if (loc)
			uselocale(old);
		if (rc != 0)
			return vfail(c, "string does not match pattern '%s'",
			    s->pattern);
	}
	return 0;
}

static int
check_object(const struct node *s, const msgpack_object *o, struct vctx *c)
{
	size_t mark = c->path.len, i, j;
	const msgpack_object *v;

	if (s->required) {
		for (i = 0; i < s->required->via.array.size; i++) {
			const msgpack_object *r = &s->required->via.array.ptr[i];

			if (map_get(o, r->via.str.ptr, r->via.str.size))
				continue;
			path_name(&c->path, r->via.str.ptr, r->via.str.size);
			return vfail(c, "required property missing");
		}
	}
	for (i = 0; i < s->nprops; i++) {
		const struct prop *p = &s->props[i];

		if ((v = map_get(o, p->name, p->len)) == NULL)
			continue;
		path_name(&c->path, p->name, p->len);
		if (validate(p->s, v, c) < 0)
			return -1;
		path_cut(&c->path, mark);
	}
	if (s->addl == NULL)
		return 0;
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		for (j = 0; j < s->nprops; j++)
			if (kv->key.type == MSGPACK_OBJECT_STR &&
			    kv->key.via.str.size == s->props[j].len &&
			    !memcmp(kv->key.via.str.ptr, s->props[j].name,
			    s->props[j].len))
				break;
		if (j < s->nprops)
			continue;
		path_key(&c->path, &kv->key);
		if (s->addl->boolean == 0)
			return vfail(c, "additional property not allowed");
		if (validate(s->addl, &kv->val, c) < 0)
			return -1;
		path_cut(&c->path, mark);
	}
	return 0;
}

static int
validate(const struct node *s, const msgpack_object *o, struct vctx *c)
{
	size_t mark = c->path.len;
	uint32_t i;
	int k;

	if (s->boolean == 1)
		return 0;
	if (s->boolean == 0)
		return vfail(c, "no value is allowed here (the schema is false)");
	if (s->ntypes) {
		for (k = 0; k < s->ntypes; k++)
			if (has_type(o, s->types[k]))
				break;
		if (k == s->ntypes) {
			struct kp_buf e = {0};
			int rc;

			for (k = 0; k < s->ntypes; k++)
				kp_buf_printf(&e, "%s%s", k ? " or " : "",
				    type_names[s->types[k]]);
			rc = vfail(c, "expected %s, got %s", e.data, got_name(o));
			kp_buf_free(&e);
			return rc;
		}
	}
	if (s->cnst && !json_equal(o, s->cnst)) {
		kp_buf_reset(&c->tmp);
		obj_json(&c->tmp, s->cnst, 80);
		return vfail(c, "not equal to const %s", c->tmp.data);
	}
	if (s->enm) {
		for (i = 0; i < s->enm->via.array.size; i++)
			if (json_equal(o, &s->enm->via.array.ptr[i]))
				break;
		if (i == s->enm->via.array.size) {
			kp_buf_reset(&c->tmp);
			obj_json(&c->tmp, s->enm, 120);
			return vfail(c, "not one of the enum values %s",
			    c->tmp.data);
		}
	}
	if (is_number(o) && check_number(s, o, c) < 0)
		return -1;
	if (o->type == MSGPACK_OBJECT_STR && check_string(s, o, c) < 0)
		return -1;
	if (o->type == MSGPACK_OBJECT_MAP && check_object(s, o, c) < 0)
		return -1;
	if (o->type == MSGPACK_OBJECT_ARRAY && s->items) {
		for (i = 0; i < o->via.array.size; i++) {
			path_index(&c->path, i);
			if (validate(s->items, &o->via.array.ptr[i], c) < 0)
				return -1;
			path_cut(&c->path, mark);
		}
	}
	return 0;
}

int
kp_schema_validate(const struct kp_schema *S, const msgpack_object *o,
    char *errstr, size_t en)
{
	struct vctx c = { .err = errstr, .n = en };
	int rc;

	rc = validate(S->root, o, &c);
	kp_buf_free(&c.path);
	kp_buf_free(&c.tmp);
	return rc;
}

static int
utf8_walk(const msgpack_object *o, struct vctx *c)
{
	size_t mark = c->path.len;
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		if (!kp_utf8_valid(o->via.str.ptr, o->via.str.size))
			return vfail(c, "invalid UTF-8 in string");
		return 0;
	case MSGPACK_OBJECT_ARRAY:
		for (i = 0; i < o->via.array.size; i++) {
			path_index(&c->path, i);
			if (utf8_walk(&o->via.array.ptr[i], c) < 0)
				return -1;
			path_cut(&c->path, mark);
		}
		return 0;
	case MSGPACK_OBJECT_MAP:
		for (i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];

			if (kv->key.type == MSGPACK_OBJECT_STR &&
			    !kp_utf8_valid(kv->key.via.str.ptr,
			    kv->key.via.str.size))
				return vfail(c, "invalid UTF-8 in an object key");
			path_key(&c->path, &kv->key);
			if (utf8_walk(&kv->val, c) < 0)
				return -1;
			path_cut(&c->path, mark);
		}
		return 0;
	default:
		return 0;
	}
}

int
kp_schema_check_utf8(const msgpack_object *o, char *errstr, size_t en)
{
	struct vctx c = { .err = errstr, .n = en };
	int rc;

	rc = utf8_walk(o, &c);
	kp_buf_free(&c.path);
	kp_buf_free(&c.tmp);
	return rc;
}
