/* codec.h - reading and writing record streams: the kpipe envelope
 * (msgpack, see kpipe-format(5)), JSON lines, CSV, bare msgpack and raw
 * lines in; the envelope, JSON envelopes, bare values, raw bytes, bare
 * msgpack, CSV and kcat-style format strings out.
 *
 * Readers and writers use their own buffers over a file descriptor
 * (read(2)/write(2)), so a stream of small records costs one system call
 * per 64 KiB, not per record.
 */
#ifndef KP_CODEC_H
#define KP_CODEC_H

#include <stddef.h>

#include "path.h"
#include "record.h"

enum kp_format {
	KP_FMT_AUTO,	/* in: detect from the first bytes (and .csv names) */
	KP_FMT_KPIPE,	/* msgpack envelopes, one map per record */
	KP_FMT_JSON,	/* in: one JSON value per line; out: JSON envelopes */
	KP_FMT_CSV,	/* RFC 4180 with a header row */
	KP_FMT_MSGPACK,	/* bare msgpack values, one object per record */
	KP_FMT_RAW,	/* in: one line is one bytes value; out: value bytes */
	KP_FMT_VALUE,	/* out: the value alone, as a JSON line */
	KP_FMT_FORMAT	/* out: a kcat-style -f format string */
};

/* Parse an input (-I) or output (-O) format name.  Input: auto json csv
 * msgpack kpipe raw.  Output: kpipe json value raw msgpack csv.  Returns 0
 * or -1. */
int	kp_format_parse_in(const char *s, enum kp_format *out);
int	kp_format_parse_out(const char *s, enum kp_format *out);
const char *kp_format_name(enum kp_format f);

struct kp_reader_opts {
	enum kp_format		 fmt;
	const struct kp_path	*key_paths;	/* -k: key from fields */
	size_t			 nkey_paths;
	const struct kp_time_spec *time;	/* --time: timestamp from a field */
};

struct kp_reader;

/* A reader over fd (not closed by the reader), named `name` in messages
 * ("-" or NULL: stdin).  Never NULL. */
struct kp_reader *kp_reader_new(int fd, const char *name,
	    const struct kp_reader_opts *opts);
void	kp_reader_free(struct kp_reader *rd);

/* Read the next record into r (cleared first).  Returns 1 for a record;
 * 0 at end of input; -1 for a bad record (errstr names the reason, r->src
 * and r->line say where, and kp_reader_raw() gives its original bytes):
 * the caller may route it to a dead-letter file and read on; -2 for an
 * error that ends the stream (I/O error, or a binary stream that cannot
 * be resynchronised after a corrupt frame). */
int	kp_reader_next(struct kp_reader *rd, struct kp_record *r,
	    char *errstr, size_t errstr_size);
/* The original bytes of the record last read (borrowed until the next
 * kp_reader_next()). */
void	kp_reader_raw(const struct kp_reader *rd, const void **p, size_t *n);
/* The format in use (after auto-detection, once a record was read). */
enum kp_format kp_reader_format(const struct kp_reader *rd);

/* Set r's key from paths: one path gives kp_val_key_bytes(); several give
 * a compact JSON array of the values; a missing or null field gives a
 * null key.  Set r's timestamp from t.  Return 0 or -1 with errstr. */
int	kp_record_apply_key(struct kp_record *r, const struct kp_path *paths,
	    size_t n);
int	kp_record_apply_time(struct kp_record *r, const struct kp_time_spec *t,
	    char *errstr, size_t errstr_size);

struct kp_writer_opts {
	enum kp_format		 fmt;
	const char		*format;	/* KP_FMT_FORMAT: -f string */
	const struct kp_path	*columns;	/* KP_FMT_CSV */
	size_t			 ncolumns;
	int			 no_header;	/* KP_FMT_CSV: no header row */
};

struct kp_writer;

/* A writer over fd (not closed).  Never NULL.  A reader that is about to
 * wait for input first writes out every writer's buffer, as C stdio does
 * for line-buffered output, so output never waits on a quiet input. */
struct kp_writer *kp_writer_new(int fd, const struct kp_writer_opts *opts);
/* Frees, without flushing: call kp_writer_flush() first. */
void	kp_writer_free(struct kp_writer *w);
/* Append one record; writes out when the buffer passes 64 KiB.  Returns
 * 0, or -1 with errno set by write(2) (EPIPE: the reader went away). */
int	kp_writer_write(struct kp_writer *w, struct kp_record *r);
/* Write out everything buffered.  Returns 0 or -1 with errno set. */
int	kp_writer_flush(struct kp_writer *w);
/* Bytes buffered and not yet written. */
size_t	kp_writer_pending(const struct kp_writer *w);

/* Append r as one kpipe envelope (packed msgpack map) to out. */
void	kp_envelope_pack(struct kp_buf *out, const struct kp_record *r);
/* Decode the envelope at p[0..n) into r.  Returns bytes used, 0 when
 * incomplete, -1 when invalid (errstr set). */
long long kp_envelope_unpack(const void *p, size_t n, struct kp_record *r,
	    char *errstr, size_t errstr_size);
/* Append r as one JSON envelope line (without the newline) to out. */
void	kp_envelope_json(struct kp_buf *out, const struct kp_record *r);
/* Append r's value as JSON (null, the structured value, or bytes as a
 * string) to out. */
void	kp_value_json(struct kp_buf *out, const struct kp_record *r);

/* Bytes read from the fd and not yet returned in records: 0 means the
 * next kp_reader_next() will read(2) (so a caller may poll(2) the fd
 * first). */
size_t	kp_reader_buffered(const struct kp_reader *rd);

#endif
