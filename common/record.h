/* record.h - the kpipe record: key, value, timestamp, headers, origin.
 *
 * A record mirrors a Kafka message.  The key is bytes or null (a Kafka
 * null key differs from an empty one: partitioners treat them apart).
 * The value is null (a tombstone), bytes, or a structured value held as
 * one packed msgpack object (JSON and msgpack payloads are decoded once,
 * at the source).  The timestamp is in ms since the Unix epoch, or
 * KP_TS_NONE.  Headers are ordered and may repeat; a header value may be
 * null.  topic/partition/offset say where the record came from (-1 and
 * an empty topic when it did not come from Kafka); `src`/`line` name a
 * file and line for error messages.
 *
 * A record owns all its memory.  Readers reuse one record across reads:
 * kp_record_clear() empties it but keeps its buffers, so steady-state
 * reading allocates nothing.
 */
#ifndef KP_RECORD_H
#define KP_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "util.h"

#define KP_TS_NONE INT64_MIN

enum kp_value_type {
	KP_VALUE_NULL = 0,	/* Kafka null: a tombstone */
	KP_VALUE_BYTES,		/* opaque bytes (raw lines, undecoded payloads) */
	KP_VALUE_MSGPACK	/* one packed msgpack object (decoded JSON too) */
};

struct kp_header {
	struct kp_buf	name;
	struct kp_buf	value;
	int		null;
};

struct kp_record {
	int			key_null;	/* 1: null key */
	struct kp_buf		key;
	enum kp_value_type	vtype;
	struct kp_buf		value;
	int64_t			timestamp;	/* ms, or KP_TS_NONE */
	struct kp_header	*headers;
	size_t			header_cnt, header_cap;
	struct kp_buf		topic;		/* empty: not from Kafka */
	int32_t			partition;	/* -1: none */
	int64_t			offset;		/* -1: none */
	const char		*src;		/* file name, borrowed; or NULL */
	long			line;		/* 1-based line/record number */

	/* decoded view of a KP_VALUE_MSGPACK value (kp_record_value_obj) */
	msgpack_zone		zone;
	msgpack_object		obj;
	int			obj_valid;
	int			zone_init;
};

/* Initialise an empty record (null key, null value, no timestamp). */
void	kp_record_init(struct kp_record *r);
/* Empty a record for reuse; keeps its buffers. */
void	kp_record_clear(struct kp_record *r);
/* Free everything a record owns. */
void	kp_record_free(struct kp_record *r);
/* Deep copy src into dst (dst initialised). */
void	kp_record_copy(struct kp_record *dst, const struct kp_record *src);

/* Set the key to n bytes (copied), or to null when p is NULL. */
void	kp_record_set_key(struct kp_record *r, const void *p, size_t n);
/* Set the value: type and n bytes (copied); KP_VALUE_NULL ignores p. */
void	kp_record_set_value(struct kp_record *r, enum kp_value_type t,
	    const void *p, size_t n);
/* Append a header; value NULL means a null header value. */
void	kp_record_add_header(struct kp_record *r, const char *name,
	    size_t name_len, const void *value, size_t value_len);
/* Find the last header named name; returns it or NULL (borrowed). */
const struct kp_header *kp_record_header(const struct kp_record *r,
	    const char *name, size_t name_len);
/* Remove every header whose name starts with prefix. */
void	kp_record_drop_headers(struct kp_record *r, const char *prefix);

/* The value as a msgpack object, decoded on first use and cached until
 * the value changes (call kp_record_value_changed() after writing to
 * r->value directly).  Returns NULL when the value is not structured or
 * does not decode.  The object is borrowed: valid until the record is
 * changed, cleared or freed. */
const msgpack_object *kp_record_value_obj(struct kp_record *r);
void	kp_record_value_changed(struct kp_record *r);

/* Describe where a record came from, for error messages:
 * "topic 'metrics' partition 3 offset 42", "file 'x.jsonl' line 7" or
 * "stdin line 7".  Writes into buf (size n) and returns buf. */
const char *kp_record_where(const struct kp_record *r, char *buf, size_t n);

#endif
