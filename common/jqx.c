/* jqx.c - jq programs over packed msgpack values, on libjq 1.6. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>
#include <msgpack.h>

#include "jqx.h"
#include "json.h"
#include "mp.h"

const char *const kp_jqx_record_vars[] = {
	"key", "timestamp", "topic", "partition", "offset", "headers", NULL
};
#define NRECVARS 6

struct kp_jqx {
	jq_state		*jq;
	int			*refs;		/* a set's handles share jq */
	int			 sel;		/* index in its set, or -1 */
	int			 flags;
	size_t			 nvars;
	char			**names;
	jv			*vals;
	int			*used;
	size_t			*bound;		/* indices of bound vars, in order:
						 * the used ones, or in a set
						 * those any program uses */
	size_t			 nbound;
	size_t			 next;		/* next item `input` returns: the
						 * set index, then bound vars */
	int			 recvar[NRECVARS];	/* var index, or -1 */
	int			 compiling;
	struct kp_buf		 cerr;		/* first compile error */
	struct kp_buf		 tmp;
	struct kp_json_parser	*jp;		/* KP_JQX_TEXT */
	void			(*debug)(void *, const char *, size_t);
	void			*debug_arg;
};

static int
buf_write(void *data, const char *p, size_t n)
{
	kp_buf_add(data, p, n);
	return 0;
}

/* ---- msgpack -> jv ---- */

static jv
jv_str(const void *p, size_t n)
{
	return jv_string_sized(p ? p : "", (int)n);
}

/* Convert the object at p[0..n) into *out.  Returns bytes used, or -1. */
static long long
mp_to_jv(const uint8_t *p, size_t n, jv *out, int depth, struct kp_buf *tmp)
{
	struct kp_mp_item it;
	size_t off;
	uint64_t i;
	long long r;
	jv c, k, v;

	if (depth > KP_MP_MAX_DEPTH || kp_mp_read(p, n, &it) != 1)
		return -1;
	off = it.hdr;
	switch (it.type) {
	case KP_MP_NIL:
		*out = jv_null();
		break;
	case KP_MP_BOOL:
		*out = jv_bool(it.b);
		break;
	case KP_MP_UINT:
		*out = jv_number((double)it.u);
		break;
	case KP_MP_INT:
		*out = jv_number((double)it.i);
		break;
	case KP_MP_FLOAT:
		*out = jv_number(it.f);
		break;
	case KP_MP_STR:
		if (it.len > INT_MAX)
			return -1;
		*out = jv_str(it.data, it.len);
		off += it.len;
		break;
	case KP_MP_BIN:
	case KP_MP_EXT:
		kp_buf_reset(tmp);
		kp_base64_encode(tmp, it.data, it.len);
		if (tmp->len > INT_MAX)
			return -1;
		*out = jv_str(tmp->data, tmp->len);
		off += it.len;
		break;
	case KP_MP_ARRAY:
		/* every element takes a byte at least: refuse lying headers */
		if (it.len > n - off || it.len > INT_MAX)
			return -1;
		c = jv_array_sized((int)it.len);
		for (i = 0; i < it.len; i++) {
			if ((r = mp_to_jv(p + off, n - off, &v, depth + 1,
			    tmp)) < 0) {
				jv_free(c);
				return -1;
			}
			c = jv_array_append(c, v);
			off += (size_t)r;
		}
		*out = c;
		break;
	case KP_MP_MAP:
		if (it.len > (n - off) / 2)
			return -1;
		c = jv_object();
		for (i = 0; i < it.len; i++) {
			struct kp_mp_item ki;

			if (kp_mp_read(p + off, n - off, &ki) != 1) {
				jv_free(c);
				return -1;
			}
			if (ki.type == KP_MP_STR && ki.len <= INT_MAX) {
				k = jv_str(ki.data, ki.len);
				off += ki.hdr + ki.len;
			} else {
				/* a non-string key: its JSON text */
				kp_buf_reset(tmp);
				if ((r = kp_json_write(tmp, p + off, n - off)) < 0 ||
				    tmp->len > INT_MAX) {
					jv_free(c);
					return -1;
				}
				k = jv_str(tmp->data, tmp->len);
				off += (size_t)r;
			}
			if ((r = mp_to_jv(p + off, n - off, &v, depth + 1,
			    tmp)) < 0) {
				jv_free(k);
				jv_free(c);
				return -1;
			}
			c = jv_object_set(c, k, v);
			off += (size_t)r;
		}
		*out = c;
		break;
	}
	return (long long)off;
}

/* ---- jv -> msgpack ---- */

static void
pack_number(msgpack_packer *pk, double d)
{
	if (d == trunc(d)) {
		if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
			msgpack_pack_int64(pk, (int64_t)d);
			return;
		}
		if (d >= 0 && d < 18446744073709551616.0) {
			msgpack_pack_uint64(pk, (uint64_t)d);
			return;
		}
	}
	msgpack_pack_double(pk, d);
}

/* Pack v (consumed).  Returns 0, or -1 when nested too deeply. */
static int
jv_to_mp(jv v, msgpack_packer *pk, int depth)
{
	int rc = 0, i, len;

	if (depth > KP_JSON_MAX_DEPTH) {
		jv_free(v);
		return -1;
	}
	switch (jv_get_kind(v)) {
	case JV_KIND_INVALID:
	case JV_KIND_NULL:
		msgpack_pack_nil(pk);
		break;
	case JV_KIND_FALSE:
		msgpack_pack_false(pk);
		break;
	case JV_KIND_TRUE:
		msgpack_pack_true(pk);
		break;
	case JV_KIND_NUMBER:
		pack_number(pk, jv_number_value(v));
		break;
	case JV_KIND_STRING:
		len = jv_string_length_bytes(jv_copy(v));
		msgpack_pack_str_with_body(pk, jv_string_value(v), (size_t)len);
		break;
	case JV_KIND_ARRAY:
		len = jv_array_length(jv_copy(v));
		msgpack_pack_array(pk, (size_t)len);
		for (i = 0; i < len && rc == 0; i++)
			rc = jv_to_mp(jv_array_get(jv_copy(v), i), pk, depth + 1);
		break;
	case JV_KIND_OBJECT:
		msgpack_pack_map(pk, (size_t)jv_object_length(jv_copy(v)));
		jv_object_foreach(v, k, e) {
			if (rc == 0) {
				msgpack_pack_str_with_body(pk, jv_string_value(k),
				    (size_t)jv_string_length_bytes(jv_copy(k)));
				rc = jv_to_mp(e, pk, depth + 1);
			} else {
				jv_free(e);
			}
			jv_free(k);
		}
		break;
	}
	jv_free(v);
	return rc;
}

/* ---- the two routes ---- */

/* The input value as a jv.  Returns 0, or -1 with errstr. */
static int
to_jv(struct kp_jqx *q, const void *mp, size_t n, jv *out, char *errstr,
    size_t en)
{
	long long r;

	if (mp == NULL) {
		*out = jv_null();
		return 0;
	}
	if (q->flags & KP_JQX_TEXT) {
		kp_buf_reset(&q->tmp);
		if (kp_json_write(&q->tmp, mp, n) < 0 || q->tmp.len > INT_MAX)
			goto bad;
		*out = jv_parse_sized(q->tmp.data, (int)q->tmp.len);
		if (!jv_is_valid(*out)) {
			jv_free(*out);
			goto bad;
		}
		return 0;
	}
	if ((r = mp_to_jv(mp, n, out, 0, &q->tmp)) == (long long)n)
		return 0;
	if (r >= 0)
		jv_free(*out);
bad:
	snprintf(errstr, en, "value is not one valid msgpack object");
	return -1;
}

/* Append result v (consumed) to out.  Returns 0, or -1 with errstr. */
static int
from_jv(struct kp_jqx *q, jv v, struct kp_buf *out, char *errstr, size_t en)
{
	if (q->flags & KP_JQX_TEXT) {
		jv s = jv_dump_string(v, 0);
		int rc;

		rc = kp_json_parse(q->jp, jv_string_value(s),
		    (size_t)jv_string_length_bytes(jv_copy(s)), out, errstr, en);
		jv_free(s);
		return rc == 0 ? 0 : -1;
	} else {
		msgpack_packer pk;

		msgpack_packer_init(&pk, out, buf_write);
		if (jv_to_mp(v, &pk, 0) < 0) {
			snprintf(errstr, en, "result nested deeper than %d levels",
			    KP_JSON_MAX_DEPTH);
			return -1;
		}
		return 0;
	}
}

/* ---- compiling ---- */

static void
error_cb(void *data, jv msg)
{
	struct kp_jqx *q = data;
	const char *s, *nl;

	if (!q->compiling || q->cerr.len) {
		jv_free(msg);
		return;
	}
	msg = jq_format_error(msg);
	if (jv_get_kind(msg) != JV_KIND_STRING) {
		jv_free(msg);
		return;
	}
	s = jv_string_value(msg);
	if (!strncmp(s, "jq: error: ", 11))
		s += 11;
	nl = strchr(s, '\n');
	kp_buf_add(&q->cerr, s, nl ? (size_t)(nl - s) : strlen(s));
	/* "... at <top-level>, line 1:" announces the source line */
	if (q->cerr.len && q->cerr.data[q->cerr.len - 1] == ':')
		q->cerr.data[--q->cerr.len] = '\0';
	jv_free(msg);
}

static jv
input_cb(jq_state *jq, void *data)
{
	struct kp_jqx *q = data;
	size_t k;

	(void)jq;
	if (q->sel >= 0 && q->next == 0) {
		q->next++;
		return jv_number(q->sel);
	}
	k = q->next - (q->sel >= 0);
	if (k < q->nbound) {
		q->next++;
		return jv_copy(q->vals[q->bound[k]]);
	}
	return jv_invalid();
}

static void
debug_cb(void *data, jv v)
{
	struct kp_jqx *q = data;
	jv s = jv_dump_string(v, 0);

	if (q->debug)
		q->debug(q->debug_arg, jv_string_value(s),
		    (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
}

/* Does program mention $name?  (jq 1.6 allows blanks after '$'.)  A
 * mention in a comment or a string counts too: binding costs little. */
static int
mentions(const char *prog, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = prog; (p = strchr(p, '$')) != NULL; ) {
		p++;
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!strncmp(p, name, n) && !isalnum((unsigned char)p[n]) &&
		    p[n] != '_' && !(p[n] == ':' && p[n + 1] == ':'))
			return 1;
	}
	return 0;
}

/* Are the parentheses of prog, outside string literals and comments,
 * balanced and never closed before they open?  Then "(" prog "\n)" is a
 * valid jq term exactly when prog is a valid expression: its own last
 * ')' cannot close the wrapper's '('.  Inside a string, \( ... )
 * interpolates code, whose parentheses count in a frame of their own.
 * Returns 1 when balanced, 0 when not or not sure. */
static int
parens_balanced(const char *prog)
{
	enum { CODE, STR };
	int kind[64], depth[64], top = 0;
	const char *p;

	kind[0] = CODE;
	depth[0] = 0;
	for (p = prog; *p; p++) {
		if (kind[top] == STR) {
			if (*p == '"') {
				top--;
			} else if (*p == '\\') {
				if (p[1] == '\0')
					return 0;
				if (*++p == '(') {
					if (++top == 64)
						return 0;
					kind[top] = CODE;
					depth[top] = 0;
				}
			}
			continue;
		}
		switch (*p) {
		case '#':
			while (p[1] != '\0' && p[1] != '\n')
				p++;
			break;
		case '"':
			if (++top == 64)
				return 0;
			kind[top] = STR;
			break;
		case '(':
			depth[top]++;
			break;
		case ')':
			if (depth[top] > 0)
				depth[top]--;
			else if (top > 0)
				top--;		/* the end of \( ... ) */
			else
				return 0;
			break;
		}
	}
	return top == 0 && depth[0] == 0;
}

static int
compile(struct kp_jqx *q, const char *prog, char *errstr, size_t en)
{
	jv args = jv_object();
	size_t i;
	int ok;

	for (i = 0; i < q->nvars; i++)
		args = jv_object_set(args, jv_string(q->names[i]), jv_null());
	kp_buf_reset(&q->cerr);
	q->compiling = 1;
	ok = jq_compile_args(q->jq, prog, args);
	q->compiling = 0;
	if (!ok) {
		snprintf(errstr, en, "%s", q->cerr.len ? q->cerr.data :
		    "compile error");
		return -1;
	}
	return 0;
}

/* A new program for program and vars, not compiled, without jq. */
static struct kp_jqx *
alloc_q(const char *program, const char *const *vars, int flags)
{
	struct kp_jqx *q = kp_xcalloc(1, sizeof(*q));
	size_t i, j;

	q->sel = -1;
	q->flags = flags;
	for (i = 0; vars && vars[i]; i++)
		q->nvars++;
	q->names = kp_xcalloc(q->nvars + 1, sizeof(*q->names));
	q->vals = kp_xcalloc(q->nvars + 1, sizeof(*q->vals));
	q->used = kp_xcalloc(q->nvars + 1, sizeof(*q->used));
	q->bound = kp_xcalloc(q->nvars + 1, sizeof(*q->bound));
	for (j = 0; j < NRECVARS; j++)
		q->recvar[j] = -1;
	for (i = 0; i < q->nvars; i++) {
		q->names[i] = kp_xstrdup(vars[i]);
		q->vals[i] = jv_null();
		if ((q->used[i] = mentions(program, vars[i])))
			q->bound[q->nbound++] = i;
		for (j = 0; j < NRECVARS; j++)
			if (!strcmp(vars[i], kp_jqx_record_vars[j]))
				q->recvar[j] = (int)i;
	}
	if (flags & KP_JQX_TEXT)
		q->jp = kp_json_parser_new();
	return q;
}

/* Point jq's callbacks at q. */
static void
callbacks(struct kp_jqx *q)
{
	/* jq 1.6's jq_init() leaves the debug callback unset: set all */
	jq_set_error_cb(q->jq, error_cb, q);
	jq_set_input_cb(q->jq, input_cb, q);
	jq_set_debug_cb(q->jq, debug_cb, q);
}

/* Give q a jq of its own.  Returns 0, or -1 with errstr. */
static int
init_jq(struct kp_jqx *q, char *errstr, size_t en)
{
	if ((q->jq = jq_init()) == NULL) {
		snprintf(errstr, en, "cannot start jq: out of memory");
		return -1;
	}
	callbacks(q);
	/* what jq's main sets: without a search path, `import` asserts */
	jq_set_attr(q->jq, jv_string("JQ_LIBRARY_PATH"),
	    JV_ARRAY(jv_string("~/.jq")));
	jq_set_attr(q->jq, jv_string("JQ_ORIGIN"), jv_string("."));
	jq_set_attr(q->jq, jv_string("PROGRAM_ORIGIN"), jv_string("."));
	return 0;
}

struct kp_jqx *
kp_jqx_new(const char *program, const char *const *vars, int flags,
    char *errstr, size_t en)
{
	struct kp_jqx *q = alloc_q(program, vars, flags);
	size_t i;

	if (init_jq(q, errstr, en) < 0) {
		kp_jqx_free(q);
		return NULL;
	}
	/* A compile is most of the start-up (libjq 1.6 parses and binds its
	 * builtins anew each time: some 20 ms), so a program with variables
	 * is compiled once, wrapped, when its parentheses show that the
	 * wrapper cannot change its meaning.  Otherwise, or when that fails,
	 * the program as written goes first: its errors name its own text. */
	if (q->nbound) {
		struct kp_buf w = {0};
		char err[512];

		for (i = 0; i < q->nbound; i++)
			kp_buf_printf(&w, "input as $%s | ", q->names[q->bound[i]]);
		kp_buf_printf(&w, "(%s\n)", program);
		if (parens_balanced(program) && compile(q, w.data, err,
		    sizeof(err)) == 0) {
			kp_buf_free(&w);
			return q;
		}
		if (compile(q, program, errstr, en) < 0) {
			kp_buf_free(&w);
			kp_jqx_free(q);
			return NULL;
		}
		if (compile(q, w.data, err, sizeof(err)) < 0) {
			snprintf(errstr, en, "cannot bind variables (a program "
			    "that uses them cannot import or include "
			    "modules): %s", err);
			kp_buf_free(&w);
			kp_jqx_free(q);
			return NULL;
		}
		kp_buf_free(&w);
	} else if (compile(q, program, errstr, en) < 0) {
		kp_jqx_free(q);
		return NULL;
	}
	return q;
}

/* kp_jqx_new_set()'s single compile: "input as $__kp_sel | input as $v
 * | ... | if $__kp_sel == 0 then (P0) elif ... end", the variables being
 * those that any program mentions.  Returns 0, or -1 (out untouched)
 * when a program's parentheses do not show that the wrapper keeps its
 * meaning, or when the whole does not compile. */
static int
new_set(const char *const *progs, size_t n, const char *const *vars,
    int flags, struct kp_jqx **out)
{
	struct kp_jqx **qs = kp_xcalloc(n, sizeof(*qs)), *q0;
	struct kp_buf w = {0};
	size_t i, k, nb = 0, *bound;
	char err[512];
	int rc = -1;

	/* $__loc__ would count the lines of the whole */
	for (i = 0; i < n; i++)
		if (!parens_balanced(progs[i]) || strstr(progs[i], "__loc__")) {
			free(qs);
			return -1;
		}
	for (i = 0; i < n; i++)
		qs[i] = alloc_q(progs[i], vars, flags);
	q0 = qs[0];
	bound = kp_xcalloc(q0->nvars + 1, sizeof(*bound));
	for (k = 0; k < q0->nvars; k++)
		for (i = 0; i < n; i++)
			if (qs[i]->used[k]) {
				bound[nb++] = k;
				break;
			}
	kp_buf_adds(&w, "input as $__kp_sel | ");
	for (k = 0; k < nb; k++)
		kp_buf_printf(&w, "input as $%s | ", q0->names[bound[k]]);
	for (i = 0; i < n; i++)
		kp_buf_printf(&w, "%s $__kp_sel == %zu then (%s\n)\n",
		    i ? "elif" : "if", i, progs[i]);
	kp_buf_adds(&w, "else empty end");
	if (init_jq(q0, err, sizeof(err)) == 0 &&
	    compile(q0, w.data, err, sizeof(err)) == 0) {
		q0->refs = kp_xcalloc(1, sizeof(*q0->refs));
		*q0->refs = (int)n;
		for (i = 0; i < n; i++) {
			qs[i]->jq = q0->jq;
			qs[i]->refs = q0->refs;
			qs[i]->sel = (int)i;
			memcpy(qs[i]->bound, bound, nb * sizeof(*bound));
			qs[i]->nbound = nb;
			out[i] = qs[i];
		}
		rc = 0;
	} else {
		for (i = 0; i < n; i++)
			kp_jqx_free(qs[i]);
	}
	kp_buf_free(&w);
	free(bound);
	free(qs);
	return rc;
}

size_t
kp_jqx_new_set(const char *const *progs, size_t n, const char *const *vars,
    int flags, struct kp_jqx **out, char *errstr, size_t en)
{
	size_t i, j;

	if (n > 1 && new_set(progs, n, vars, flags, out) == 0)
		return n;
	/* one compile each: a program's errors name its own text */
	for (i = 0; i < n; i++)
		if ((out[i] = kp_jqx_new(progs[i], vars, flags, errstr,
		    en)) == NULL) {
			for (j = 0; j < n; j++) {
				if (j < i)
					kp_jqx_free(out[j]);
				out[j] = NULL;
			}
			return i;
		}
	return n;
}

void
kp_jqx_free(struct kp_jqx *q)
{
	size_t i;

	if (q == NULL)
		return;
	if (q->refs && --*q->refs > 0)
		q->jq = NULL;		/* another handle of the set has it */
	else
		free(q->refs);
	if (q->jq)
		jq_teardown(&q->jq);
	for (i = 0; i < q->nvars; i++) {
		free(q->names[i]);
		jv_free(q->vals[i]);
	}
	free(q->names);
	free(q->vals);
	free(q->used);
	free(q->bound);
	kp_buf_free(&q->cerr);
	kp_buf_free(&q->tmp);
	kp_json_parser_free(q->jp);
	free(q);
}

void
kp_jqx_set_debug(struct kp_jqx *q, void (*cb)(void *, const char *, size_t),
    void *arg)
{
	q->debug = cb;
	q->debug_arg = arg;
}

int
kp_jqx_uses_var(const struct kp_jqx *q, size_t i)
{
	return i < q->nvars && q->used[i];
}

int
kp_jqx_uses_vars(const struct kp_jqx *q)
{
	size_t i;

	for (i = 0; i < q->nvars; i++)
		if (q->used[i])
			return 1;
	return 0;
}

static void
set_val(struct kp_jqx *q, size_t i, jv v)
{
	jv_free(q->vals[i]);
	q->vals[i] = v;
}

int
kp_jqx_set_var(struct kp_jqx *q, size_t i, const void *mp, size_t n)
{
	long long r;
	jv v;

	if (i >= q->nvars)
		return -1;
	if (mp == NULL) {
		set_val(q, i, jv_null());
		return 0;
	}
	if ((r = mp_to_jv(mp, n, &v, 0, &q->tmp)) != (long long)n) {
		if (r >= 0)
			jv_free(v);
		return -1;
	}
	set_val(q, i, v);
	return 0;
}

void
kp_jqx_set_record(struct kp_jqx *q, const struct kp_record *r)
{
	size_t h;
	jv v;
	int j, i;

	if (q->nbound == 0)
		return;
	for (j = 0; j < NRECVARS; j++) {
		if ((i = q->recvar[j]) < 0 || !q->used[i])
			continue;
		switch (j) {
		case 0:
			v = r->key_null ? jv_null() : jv_str(r->key.data,
			    r->key.len);
			break;
		case 1:
			v = r->timestamp == KP_TS_NONE ? jv_null() :
			    jv_number((double)r->timestamp);
			break;
		case 2:
			v = r->topic.len ? jv_str(r->topic.data, r->topic.len) :
			    jv_null();
			break;
		case 3:
			v = r->partition < 0 ? jv_null() :
			    jv_number(r->partition);
			break;
		case 4:
			v = r->offset < 0 ? jv_null() :
			    jv_number((double)r->offset);
			break;
		default:
			v = jv_object();
			for (h = 0; h < r->header_cnt; h++) {
				const struct kp_header *hd = &r->headers[h];

				v = jv_object_set(v, jv_str(hd->name.data,
				    hd->name.len), hd->null ? jv_null() :
				    jv_str(hd->value.data, hd->value.len));
			}
			break;
		}
		set_val(q, (size_t)i, v);
	}
}

/* ---- running ---- */

/* r is what ended the results (consumed).  Returns 1 with errstr set
 * when it is an error, 0 when the results simply ended. */
static int
run_error(struct kp_jqx *q, jv r, char *errstr, size_t en)
{
	jv msg;
	int err = 0;

	if (jq_halted(q->jq)) {
		jv_free(r);
		msg = jq_get_error_message(q->jq);
		if (!jv_is_valid(msg)) {	/* halt: no error */
			jv_free(msg);
			return 0;
		}
		err = 1;
	} else if (jv_invalid_has_msg(jv_copy(r))) {
		msg = jv_invalid_get_msg(r);
		err = 1;
	} else {
		jv_free(r);
		return 0;
	}
	if (jv_get_kind(msg) == JV_KIND_STRING) {
		const char *s = jv_string_value(msg);
		size_t n = strlen(s);

		while (n && s[n - 1] == '\n')
			n--;
		snprintf(errstr, en, "%.*s", (int)n, s);
		jv_free(msg);
	} else {
		jv s = jv_dump_string(msg, 0);

		snprintf(errstr, en, "%s (not a string)", jv_string_value(s));
		jv_free(s);
	}
	return err;
}

long
kp_jqx_run(struct kp_jqx *q, const void *mp, size_t n, size_t max,
    struct kp_buf *out, char *errstr, size_t en)
{
	size_t at = out->len;
	long cnt = 0;
	jv in, r;

	if (to_jv(q, mp, n, &in, errstr, en) < 0)
		return -1;
	q->next = 0;
	if (q->sel >= 0)
		callbacks(q);	/* the set's jq: this handle's turn */
	jq_start(q->jq, jv_copy(in), 0);
	while (max == 0 || (size_t)cnt < max) {
		r = jq_next(q->jq);
		if (!jv_is_valid(r)) {
			if (run_error(q, r, errstr, en))
				goto fail;
			break;
		}
		if (mp && jv_get_kind(r) >= JV_KIND_STRING &&
		    jv_identical(jv_copy(r), jv_copy(in))) {
			/* `.` or select(): the input's own bytes */
			kp_buf_add(out, mp, n);
			jv_free(r);
		} else if (from_jv(q, r, out, errstr, en) < 0) {
			goto fail;
		}
		cnt++;
	}
	jv_free(in);
	return cnt;
fail:
	jv_free(in);
	out->len = at;
	if (out->data)
		out->data[at] = '\0';
	return -1;
}

int
kp_jqx_test(struct kp_jqx *q, const void *mp, size_t n, int *truth,
    char *errstr, size_t en)
{
	jv in, r;
	jv_kind k;

	*truth = 0;
	if (to_jv(q, mp, n, &in, errstr, en) < 0)
		return -1;
	q->next = 0;
	if (q->sel >= 0)
		callbacks(q);
	jq_start(q->jq, in, 0);
	r = jq_next(q->jq);
	if (!jv_is_valid(r))
		return run_error(q, r, errstr, en) ? -1 : 0;
	k = jv_get_kind(r);
	*truth = k != JV_KIND_NULL && k != JV_KIND_FALSE;
	jv_free(r);
	return 0;
}
