/* dlq.c - dead letters to a file, one JSON line each. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq.h"
#include "json.h"

struct kp_dlq {
	FILE		*f;
	char		*stage;
	unsigned long	 count;
	struct kp_buf	 line;
};

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
	if (fwrite(b->data, 1, b->len, d->f) != b->len || fflush(d->f) != 0)
		return -1;
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
	if (fflush(d->f) != 0)
		rc = -1;
	if (d->f != stderr && fclose(d->f) != 0)
		rc = -1;
	kp_buf_free(&d->line);
	free(d->stage);
	free(d);
	return rc;
}
