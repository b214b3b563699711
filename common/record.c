/* record.c - the kpipe record and its memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

void
kp_record_init(struct kp_record *r)
{
	memset(r, 0, sizeof(*r));
	r->key_null = 1;
	r->timestamp = KP_TS_NONE;
	r->partition = -1;
	r->offset = -1;
}

void
kp_record_clear(struct kp_record *r)
{
	r->key_null = 1;
	kp_buf_reset(&r->key);
	r->vtype = KP_VALUE_NULL;
	kp_buf_reset(&r->value);
	r->timestamp = KP_TS_NONE;
	r->header_cnt = 0;
	kp_buf_reset(&r->topic);
	r->partition = -1;
	r->offset = -1;
	r->line = 0;
	r->obj_valid = 0;
}

void
kp_record_free(struct kp_record *r)
{
	size_t i;

	kp_buf_free(&r->key);
	kp_buf_free(&r->value);
	kp_buf_free(&r->topic);
	for (i = 0; i < r->header_cap; i++) {
		kp_buf_free(&r->headers[i].name);
		kp_buf_free(&r->headers[i].value);
	}
	free(r->headers);
	if (r->zone_init)
		msgpack_zone_destroy(&r->zone);
	kp_record_init(r);
}

void
kp_record_copy(struct kp_record *dst, const struct kp_record *src)
{
	size_t i;

	kp_record_clear(dst);
	kp_record_set_key(dst, src->key_null ? NULL : src->key.data,
	    src->key.len);
	kp_record_set_value(dst, src->vtype, src->value.data, src->value.len);
	dst->timestamp = src->timestamp;
	for (i = 0; i < src->header_cnt; i++) {
		const struct kp_header *h = &src->headers[i];

		kp_record_add_header(dst, h->name.data, h->name.len,
		    h->null ? NULL : h->value.data, h->value.len);
	}
	if (src->topic.len)
		kp_buf_add(&dst->topic, src->topic.data, src->topic.len);
	dst->partition = src->partition;
	dst->offset = src->offset;
	dst->src = src->src;
	dst->line = src->line;
}

void
kp_record_set_key(struct kp_record *r, const void *p, size_t n)
{
	kp_buf_reset(&r->key);
	if (p == NULL) {
		r->key_null = 1;
		return;
	}
	r->key_null = 0;
	kp_buf_add(&r->key, p, n);
}

void
kp_record_set_value(struct kp_record *r, enum kp_value_type t, const void *p,
    size_t n)
{
	kp_buf_reset(&r->value);
	r->vtype = t;
	r->obj_valid = 0;
	if (t != KP_VALUE_NULL)
		kp_buf_add(&r->value, p, n);
}

void
kp_record_add_header(struct kp_record *r, const char *name, size_t name_len,
    const void *value, size_t value_len)
{
	struct kp_header *h;

	if (r->header_cnt == r->header_cap) {
		size_t cap = r->header_cap ? r->header_cap * 2 : 4;

		r->headers = kp_xrealloc(r->headers, cap * sizeof(*r->headers));
		memset(r->headers + r->header_cap, 0,
		    (cap - r->header_cap) * sizeof(*r->headers));
		r->header_cap = cap;
	}
	h = &r->headers[r->header_cnt++];
	kp_buf_reset(&h->name);
	kp_buf_reset(&h->value);
	kp_buf_add(&h->name, name, name_len);
	h->null = value == NULL;
	if (value)
		kp_buf_add(&h->value, value, value_len);
}

const struct kp_header *
kp_record_header(const struct kp_record *r, const char *name, size_t name_len)
{
	size_t i;

	for (i = r->header_cnt; i-- > 0;) {
		const struct kp_header *h = &r->headers[i];

		if (h->name.len == name_len && !memcmp(h->name.data, name, name_len))
			return h;
	}
	return NULL;
}

void
kp_record_drop_headers(struct kp_record *r, const char *prefix)
{
	size_t i, j, pl = strlen(prefix);

	for (i = j = 0; i < r->header_cnt; i++) {
		struct kp_header *h = &r->headers[i];

		if (h->name.len >= pl && !memcmp(h->name.data, prefix, pl))
			continue;
		if (i != j) {
			struct kp_header tmp = r->headers[j];

			r->headers[j] = *h;
			*h = tmp;
		}
		j++;
	}
	r->header_cnt = j;
}

const msgpack_object *
kp_record_value_obj(struct kp_record *r)
{
	size_t off = 0;

	if (r->vtype != KP_VALUE_MSGPACK)
		return NULL;
	if (r->obj_valid)
		return &r->obj;
	if (!r->zone_init) {
		msgpack_zone_init(&r->zone, 4096);
		r->zone_init = 1;
	} else {
		msgpack_zone_clear(&r->zone);
	}
	if (msgpack_unpack(r->value.data, r->value.len, &off, &r->zone,
	    &r->obj) != MSGPACK_UNPACK_SUCCESS)
		return NULL;
	r->obj_valid = 1;
	return &r->obj;
}

void
kp_record_value_changed(struct kp_record *r)
{
	r->obj_valid = 0;
}

const char *
kp_record_where(const struct kp_record *r, char *buf, size_t n)
{
	if (r->topic.len)
		snprintf(buf, n, "topic '%s' partition %d offset %lld",
		    r->topic.data, (int)r->partition, (long long)r->offset);
	else if (r->src)
		snprintf(buf, n, "'%s' line %ld", r->src, r->line);
	else
		snprintf(buf, n, "stdin line %ld", r->line);
	return buf;
}
