/* path.h - field paths (jq's syntax) and event-time extraction.
 *
 * A path names part of a record, as DESIGN.md describes:
 *   .            the whole value
 *   .a.b         nested object fields
 *   ."max.cpu"   a field whose name holds a dot (or any JSON string)
 *   .tags[0]     an array element; [-1] counts from the end, as in jq
 *   @key @timestamp @topic @partition @offset @header.NAME
 * Paths apply to a structured (msgpack) value; on a bytes value only "."
 * and the @ names resolve.
 */
#ifndef KP_PATH_H
#define KP_PATH_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "record.h"
#include "util.h"

enum kp_path_root {
	KP_ROOT_VALUE, KP_ROOT_KEY, KP_ROOT_TIMESTAMP, KP_ROOT_TOPIC,
	KP_ROOT_PARTITION, KP_ROOT_OFFSET, KP_ROOT_HEADER
};

struct kp_path_step {
	char	*name;		/* field name (owned), or NULL for an index */
	size_t	 name_len;
	int64_t	 index;
};

struct kp_path {
	char			*text;	/* as written, for messages (owned) */
	enum kp_path_root	 root;
	struct kp_path_step	*steps;
	size_t			 nsteps;
};

/* Parse one path.  Returns 0, or -1 with errstr set. Free with
 * kp_path_free(). */
int	kp_path_parse(const char *s, struct kp_path *out, char *errstr,
	    size_t errstr_size);
void	kp_path_free(struct kp_path *p);

/* Parse a comma-separated list of paths ("a quoted ."x,y" is one name");
 * *out is a new array of *n paths (free each, then the array). */
int	kp_path_parse_list(const char *s, struct kp_path **out, size_t *n,
	    char *errstr, size_t errstr_size);

/* What a path found.  MISSING: no such field.  OBJ: a part of the value
 * (o borrowed from the record's decoded value: valid until the record
 * changes).  BYTES: key, topic, header or a bytes value (p/n borrowed).
 * INT: timestamp, partition, offset.  NULL: a null key, value or header. */
enum kp_val_type { KP_V_MISSING, KP_V_NULL, KP_V_OBJ, KP_V_BYTES, KP_V_INT };

struct kp_val {
	enum kp_val_type	 t;
	const msgpack_object	*o;
	const void		*p;
	size_t			 n;
	int64_t			 i;
};

/* Evaluate p on r.  Always succeeds; a field that is absent, or a step
 * into something that is not an object/array, gives KP_V_MISSING. */
void	kp_path_eval(const struct kp_path *p, struct kp_record *r,
	    struct kp_val *out);

/* A short name of the value's type for messages: "missing", "null",
 * "boolean", "integer", "number", "string", "bytes", "array", "object". */
const char *kp_val_type_name(const struct kp_val *v);

/* The value as a number: integers and floats convert, nothing else does
 * (a numeric string is not a number).  Returns 0, or -1. */
int	kp_val_number(const struct kp_val *v, double *out);
/* The value as an exact int64 when it is an integer, or a float with an
 * integral value in range.  Returns 0, or -1. */
int	kp_val_int(const struct kp_val *v, int64_t *out);

/* Serialise a value to key bytes, the bytes a Java or kcat producer of
 * the same key would send: a string as its UTF-8 bytes (no quotes),
 * bytes as they are, an integer in decimal, a float as shortest decimal,
 * true/false, and arrays/objects as compact JSON.  Returns 0 and appends
 * to out, or -1 for a null or missing value (a null key). */
int	kp_val_key_bytes(const struct kp_val *v, struct kp_buf *out);

/* Pack the value as one msgpack object (missing packs as nil). */
void	kp_val_pack(const struct kp_val *v, msgpack_packer *pk);

/* Event time.  With no path, the record timestamp.  A numeric field is
 * read in `unit` (s, ms or us; floats allowed: 1.5 s is 1500 ms); a string
 * field is parsed with strptime(3) `format` as UTC when a format is given. */
enum kp_time_unit { KP_UNIT_MS = 0, KP_UNIT_S, KP_UNIT_US };

struct kp_time_spec {
	struct kp_path		path;
	int			has_path;
	enum kp_time_unit	unit;
	char			*format;	/* owned, or NULL */
};

/* Parse "s", "ms" or "us".  Returns 0, or -1. */
int	kp_time_unit_parse(const char *s, enum kp_time_unit *out);
/* Multiply a time in ms into unit (floor for us→ms conversions is the
 * caller's: this converts ms to the unit exactly). */
int64_t	kp_time_from_ms(int64_t ms, enum kp_time_unit unit);

/* Extract the event time of r in ms.  Returns 0, or -1 with errstr set
 * (e.g. "'.timestamp': expected number, got string"). */
int	kp_time_extract(const struct kp_time_spec *t, struct kp_record *r,
	    int64_t *ms, char *errstr, size_t errstr_size);
void	kp_time_spec_free(struct kp_time_spec *t);

#endif
