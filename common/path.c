/* path.c - jq-style field paths over a record, and event time. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "path.h"

static void
add_step(struct kp_path *p, const char *name, size_t n, int64_t index)
{
	struct kp_path_step *s;

	p->steps = kp_xrealloc(p->steps, (p->nsteps + 1) * sizeof(*p->steps));
	s = &p->steps[p->nsteps++];
	s->name = name ? kp_xmemdup(name, n + 1) : NULL;
	if (s->name)
		s->name[n] = '\0';
	s->name_len = n;
	s->index = index;
}

/* a quoted name at *sp (pointing at the opening quote); JSON escapes \"
 * \\ \/ \n \t are understood */
static int
quoted(const char **sp, struct kp_buf *name)
{
	const char *s = *sp + 1;

	kp_buf_reset(name);
	for (; *s && *s != '"'; s++) {
		if (*s == '\\') {
			s++;
			switch (*s) {
			case 'n': kp_buf_addc(name, '\n'); break;
			case 't': kp_buf_addc(name, '\t'); break;
			case '"': case '\\': case '/': kp_buf_addc(name, *s); break;
			default: return -1;
			}
		} else {
			kp_buf_addc(name, *s);
		}
	}
	if (*s != '"')
		return -1;
	*sp = s + 1;
	return 0;
}

static int
idchar(int c)
{
	return isalnum(c) || c == '_' || c == '-' || c == '$' || c >= 0x80;
}

int
kp_path_parse(const char *text, struct kp_path *p, char *errstr, size_t n)
{
	static const struct { const char *name; enum kp_path_root root; } meta[] = {
		{ "@key", KP_ROOT_KEY }, { "@timestamp", KP_ROOT_TIMESTAMP },
		{ "@topic", KP_ROOT_TOPIC }, { "@partition", KP_ROOT_PARTITION },
		{ "@offset", KP_ROOT_OFFSET },
	};
	struct kp_buf name = {0};
	const char *s = text;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->text = kp_xstrdup(text);
	if (*s == '@') {
		if (!strncmp(s, "@header.", 8) && s[8]) {
			p->root = KP_ROOT_HEADER;
			add_step(p, s + 8, strlen(s + 8), 0);
			return 0;
		}
		for (i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
			if (!strcmp(s, meta[i].name)) {
				p->root = meta[i].root;
				return 0;
			}
		snprintf(errstr, n, "invalid field path '%s': unknown name "
		    "(@key, @timestamp, @topic, @partition, @offset, "
		    "@header.NAME)", text);
		goto fail;
	}
	if (*s != '.') {
		snprintf(errstr, n, "invalid field path '%s': must start with "
		    "'.' or '@' (did you mean '.%s'?)", text, text);
		goto fail;
	}
	p->root = KP_ROOT_VALUE;
	if (!strcmp(s, "."))
		return 0;
	while (*s) {
		if (*s == '.') {
			s++;
			if (*s == '"') {
				if (quoted(&s, &name) < 0)
					goto bad;
				add_step(p, name.data ? name.data : "", name.len, 0);
			} else if (idchar((unsigned char)*s)) {
				const char *b = s;

				while (idchar((unsigned char)*s))
					s++;
				add_step(p, b, (size_t)(s - b), 0);
			} else if (*s != '[') {
				goto bad;
			}
		} else if (*s == '[') {
			char *end;
			long long v;

			s++;
			if (*s == '"') {
				if (quoted(&s, &name) < 0 || *s != ']')
					goto bad;
				add_step(p, name.data ? name.data : "", name.len, 0);
				s++;
				continue;
			}
			v = strtoll(s, &end, 10);
			if (end == s || *end != ']')
				goto bad;
			add_step(p, NULL, 0, v);
			s = end + 1;
		} else {
			goto bad;
		}
	}
	kp_buf_free(&name);
	return 0;
bad:
	snprintf(errstr, n, "invalid field path '%s' at '%s'", text, s);
fail:
	kp_buf_free(&name);
	kp_path_free(p);
	return -1;
}

void
kp_path_free(struct kp_path *p)
{
	size_t i;

	for (i = 0; i < p->nsteps; i++)
		free(p->steps[i].name);
	free(p->steps);
	free(p->text);
	memset(p, 0, sizeof(*p));
}

int
kp_path_parse_list(const char *s, struct kp_path **out, size_t *n,
    char *errstr, size_t errstr_size)
{
	struct kp_path *v = NULL;
	size_t cnt = 0, i;
	const char *b = s;
	int inq = 0, br = 0;

	for (;; s++) {
		if (*s == '"' && (s == b || s[-1] != '\\'))
			inq = !inq;
		else if (!inq && *s == '[')
			br++;
		else if (!inq && *s == ']')
			br--;
		if (*s == '\0' || (*s == ',' && !inq && !br)) {
			char *one = kp_xmemdup(b, (size_t)(s - b) + 1);

			one[s - b] = '\0';
			v = kp_xrealloc(v, (cnt + 1) * sizeof(*v));
			if (kp_path_parse(one, &v[cnt], errstr, errstr_size) < 0) {
				free(one);
				for (i = 0; i < cnt; i++)
					kp_path_free(&v[i]);
				free(v);
				return -1;
			}
			free(one);
			cnt++;
			if (*s == '\0')
				break;
			b = s + 1;
		}
	}
	*out = v;
	*n = cnt;
	return 0;
}

void
kp_path_eval(const struct kp_path *p, struct kp_record *r, struct kp_val *v)
{
	const msgpack_object *o;
	const struct kp_header *h;
	size_t i;

	memset(v, 0, sizeof(*v));
	switch (p->root) {
	case KP_ROOT_KEY:
		if (r->key_null) {
			v->t = KP_V_NULL;
		} else {
			v->t = KP_V_BYTES;
			v->p = r->key.data ? r->key.data : "";
			v->n = r->key.len;
		}
		return;
	case KP_ROOT_TIMESTAMP:
		if (r->timestamp == KP_TS_NONE) {
			v->t = KP_V_MISSING;
		} else {
			v->t = KP_V_INT;
			v->i = r->timestamp;
		}
		return;
	case KP_ROOT_TOPIC:
		v->t = r->topic.len ? KP_V_BYTES : KP_V_MISSING;
		v->p = r->topic.data;
		v->n = r->topic.len;
		return;
	case KP_ROOT_PARTITION:
	case KP_ROOT_OFFSET:
		v->i = p->root == KP_ROOT_PARTITION ? r->partition : r->offset;
		v->t = v->i < 0 ? KP_V_MISSING : KP_V_INT;
		return;
	case KP_ROOT_HEADER:
		h = kp_record_header(r, p->steps[0].name, p->steps[0].name_len);
		if (h == NULL) {
			v->t = KP_V_MISSING;
		} else if (h->null) {
			v->t = KP_V_NULL;
		} else {
			v->t = KP_V_BYTES;
			v->p = h->value.data ? h->value.data : "";
			v->n = h->value.len;
		}
		return;
	case KP_ROOT_VALUE:
		break;
	}
	if (r->vtype == KP_VALUE_NULL) {
		v->t = p->nsteps ? KP_V_MISSING : KP_V_NULL;
		return;
	}
	if (r->vtype == KP_VALUE_BYTES) {
		v->t = p->nsteps ? KP_V_MISSING : KP_V_BYTES;
		v->p = r->value.data;
		v->n = r->value.len;
		return;
	}
	if ((o = kp_record_value_obj(r)) == NULL) {
		v->t = KP_V_MISSING;
		return;
	}
	for (i = 0; i < p->nsteps; i++) {
		const struct kp_path_step *s = &p->steps[i];
		const msgpack_object *next = NULL;
		uint32_t j;

		if (s->name) {
			if (o->type != MSGPACK_OBJECT_MAP)
				goto missing;
			for (j = o->via.map.size; j-- > 0;) {
				const msgpack_object *k = &o->via.map.ptr[j].key;

				if (k->type == MSGPACK_OBJECT_STR &&
				    k->via.str.size == s->name_len &&
				    !memcmp(k->via.str.ptr, s->name, s->name_len)) {
					next = &o->via.map.ptr[j].val;
					break;
				}
			}
		} else {
			int64_t ix = s->index;

			if (o->type != MSGPACK_OBJECT_ARRAY)
				goto missing;
			if (ix < 0)
				ix += o->via.array.size;
			if (ix >= 0 && ix < (int64_t)o->via.array.size)
				next = &o->via.array.ptr[ix];
		}
		if (next == NULL)
			goto missing;
		o = next;
	}
	v->t = KP_V_OBJ;
	v->o = o;
	return;
missing:
	v->t = KP_V_MISSING;
}

const char *
kp_val_type_name(const struct kp_val *v)
{
	switch (v->t) {
	case KP_V_MISSING: return "missing";
	case KP_V_NULL: return "null";
	case KP_V_BYTES: return "bytes";
	case KP_V_INT: return "integer";
	case KP_V_OBJ: break;
	}
	switch (v->o->type) {
	case MSGPACK_OBJECT_NIL: return "null";
	case MSGPACK_OBJECT_BOOLEAN: return "boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "number";
	case MSGPACK_OBJECT_STR: return "string";
	case MSGPACK_OBJECT_ARRAY: return "array";
	case MSGPACK_OBJECT_MAP: return "object";
	default: return "bytes";
	}
}

int
kp_val_number(const struct kp_val *v, double *out)
{
	if (v->t == KP_V_INT) {
		*out = (double)v->i;
		return 0;
	}
	if (v->t != KP_V_OBJ)
		return -1;
	switch (v->o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = (double)v->o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (double)v->o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*out = v->o->via.f64;
		return 0;
	default:
		return -1;
	}
}

int
kp_val_int(const struct kp_val *v, int64_t *out)
{
	double d;

	if (v->t == KP_V_INT) {
		*out = v->i;
		return 0;
	}
	if (v->t != KP_V_OBJ)
		return -1;
	switch (v->o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (v->o->via.u64 > INT64_MAX)
			return -1;
		*out = (int64_t)v->o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = v->o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		d = v->o->via.f64;
		if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
			return -1;
		*out = (int64_t)d;
		return 0;
	default:
		return -1;
	}
}

static int
buf_write(void *data, const char *buf, size_t len)
{
	kp_buf_add(data, buf, len);
	return 0;
}

int
kp_val_key_bytes(const struct kp_val *v, struct kp_buf *out)
{
	switch (v->t) {
	case KP_V_MISSING:
	case KP_V_NULL:
		return -1;
	case KP_V_BYTES:
		kp_buf_add(out, v->p, v->n);
		return 0;
	case KP_V_INT:
		kp_buf_printf(out, "%lld", (long long)v->i);
		return 0;
	case KP_V_OBJ:
		break;
	}
	switch (v->o->type) {
	case MSGPACK_OBJECT_NIL:
		return -1;
	case MSGPACK_OBJECT_STR:
		kp_buf_add(out, v->o->via.str.ptr, v->o->via.str.size);
		return 0;
	case MSGPACK_OBJECT_BIN:
		kp_buf_add(out, v->o->via.bin.ptr, v->o->via.bin.size);
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: {
		/* shortest digits, without the ".0" the JSON writer keeps */
		size_t at = out->len;

		kp_json_write_double(out, v->o->via.f64);
		if (out->len >= at + 2 && !memcmp(out->data + out->len - 2, ".0", 2))
			out->len -= 2;
		out->data[out->len] = '\0';
		return 0;
	}
	default: {
		struct kp_buf mp = {0};
		msgpack_packer pk;

		msgpack_packer_init(&pk, &mp, buf_write);
		msgpack_pack_object(&pk, *v->o);
		kp_json_write(out, mp.data, mp.len);
		kp_buf_free(&mp);
		return 0;
	}
	}
}

void
kp_val_pack(const struct kp_val *v, msgpack_packer *pk)
{
	switch (v->t) {
	case KP_V_MISSING:
	case KP_V_NULL:
		msgpack_pack_nil(pk);
		break;
	case KP_V_BYTES:
		if (kp_utf8_valid(v->p, v->n))
			msgpack_pack_str_with_body(pk, v->p, v->n);
		else
			msgpack_pack_bin_with_body(pk, v->p, v->n);
		break;
	case KP_V_INT:
		msgpack_pack_int64(pk, v->i);
		break;
	case KP_V_OBJ:
		msgpack_pack_object(pk, *v->o);
		break;
	}
}

int
kp_time_unit_parse(const char *s, enum kp_time_unit *out)
{
	if (!strcmp(s, "ms"))
		*out = KP_UNIT_MS;
	else if (!strcmp(s, "s"))
		*out = KP_UNIT_S;
	else if (!strcmp(s, "us"))
		*out = KP_UNIT_US;
	else
		return -1;
	return 0;
}

int64_t
kp_time_from_ms(int64_t ms, enum kp_time_unit unit)
{
	switch (unit) {
	case KP_UNIT_S:
		/* floor division: -1 ms is in second -1 */
		return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	case KP_UNIT_US:
		return ms * 1000;
	default:
		return ms;
	}
}

int
kp_time_extract(const struct kp_time_spec *t, struct kp_record *r,
    int64_t *ms, char *errstr, size_t n)
{
	struct kp_val v;
	int64_t i;
	double d;

	if (!t->has_path) {
		if (r->timestamp == KP_TS_NONE) {
			snprintf(errstr, n, "record has no timestamp "
			    "(name a field with --time)");
			return -1;
		}
		*ms = r->timestamp;
		return 0;
	}
	kp_path_eval(&t->path, r, &v);
	if (t->path.root == KP_ROOT_TIMESTAMP && v.t == KP_V_INT) {
		*ms = v.i;
		return 0;
	}
	if (t->format) {
		const char *s;
		size_t len;
		char buf[256], *end;
		struct tm tm;

		if (v.t == KP_V_OBJ && v.o->type == MSGPACK_OBJECT_STR) {
			s = v.o->via.str.ptr;
			len = v.o->via.str.size;
		} else if (v.t == KP_V_BYTES) {
			s = v.p;
			len = v.n;
		} else {
			snprintf(errstr, n, "'%s': expected a time string, got %s",
			    t->path.text, kp_val_type_name(&v));
			return -1;
		}
		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, s, len);
		buf[len] = '\0';
		memset(&tm, 0, sizeof(tm));
		end = strptime(buf, t->format, &tm);
		if (end == NULL || *end != '\0') {
			snprintf(errstr, n, "'%s': '%s' does not match time "
			    "format '%s'", t->path.text, buf, t->format);
			return -1;
		}
		*ms = (int64_t)timegm(&tm) * 1000;
		return 0;
	}
	if (kp_val_int(&v, &i) == 0) {
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
	if (kp_val_number(&v, &d) == 0) {
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
	snprintf(errstr, n, "'%s': expected number, got %s", t->path.text,
	    kp_val_type_name(&v));
	return -1;
range:
	snprintf(errstr, n, "'%s': time out of range", t->path.text);
	return -1;
}

void
kp_time_spec_free(struct kp_time_spec *t)
{
	if (t->has_path)
		kp_path_free(&t->path);
	free(t->format);
	memset(t, 0, sizeof(*t));
}
