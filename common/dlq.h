/* dlq.h - dead letters: records that cannot be processed, kept with the
 * reason instead of being dropped.
 *
 * A dead letter written to a FILE is one JSON line:
 *   {"reason":"...","stage":"ksource","source":{"topic":"t","partition":0,
 *    "offset":7} | {"file":"x.jsonl","line":7},"timestamp":...,
 *    "key":"...","headers":[...],"value":"..."}
 * where key and value are the original bytes, as a string when valid
 * UTF-8 or base64 with "key_encoding"/"value_encoding":"base64" otherwise;
 * a header value is a string, null, or {"base64":"..."}.
 *
 * A dead letter written to a Kafka TOPIC carries the original key, value,
 * headers and timestamp byte for byte, plus these headers (values as
 * text; numbers in decimal):
 *   kpipe.error.reason     what is wrong, and where in the value
 *   kpipe.error.stage      the program that refused it ("kdlq")
 *   kpipe.error.topic      source topic, partition, offset (from Kafka)
 *   kpipe.error.partition
 *   kpipe.error.offset
 *   kpipe.error.file       source file ("-": stdin) and line, otherwise
 *   kpipe.error.line
 *   kpipe.error.timestamp  the original timestamp, ms (when it had one)
 * Headers of the original whose names start with "kpipe.error." are
 * replaced, never repeated.  Topic dead letters go through the caller's
 * struct kp_rq (retry.h): they are delivered in order, retried on
 * blocking errors, and done when that queue says so.
 */
#ifndef KP_DLQ_H
#define KP_DLQ_H

#include <stddef.h>

#include "json.h"
#include "record.h"
#include "retry.h"

#define KP_DLQ_PREFIX	"kpipe.error."
/* The tag of dead letters in a struct kp_rq (kp_rq_opts.done). */
#define KP_DLQ_TAG	0x646c71L

struct kp_dlq;

/* Open a dead-letter file for appending ("-" is stderr).  Returns NULL
 * with errstr set when it cannot be opened. */
struct kp_dlq *kp_dlq_open_file(const char *path, const char *stage,
	    char *errstr, size_t errstr_size);

/* Open the --dlq TARGET of stage ("kagg"): what kp_dlq_target() makes of
 * it with kc's brokers (kc may be NULL in pipe mode: then only files).
 *   A file: as kp_dlq_open_file().
 *   A topic, txn_rk NULL: written by a producer of the dead-letter
 *   target's own, configured from kc (so -X and -F apply), idempotent,
 *   partitioner murmur2_random (a letter keeps its key's partition
 *   number), through an ordered queue (retry.h) that retries blocking
 *   errors with backoff 100 ms doubling to 10 s, for ever until kp_stop.
 *   kp_dlq_write() returns only once the letter is acknowledged, so the
 *   caller may commit the source record's offset after it: dead letters
 *   are rare, and the wait keeps "commit only what was fully processed"
 *   true without tracking them.
 *   A topic, txn_rk a transactional producer (--exactly-once): letters
 *   are produced on it, in its open transaction, and become visible with
 *   the outputs and offsets of that transaction, or not at all.  Their
 *   delivery reports reach txn_rk's callback with the dlq as opaque:
 *   kp_dlq_is_letter() tells them apart.
 * Returns the target, or NULL with errstr and *exit_code (73 for a file
 * that cannot be created, 64 for a topic without brokers, 78 for a bad
 * property).  kp_dlq_close() flushes and frees what it opened. */
struct kp_dlq *kp_dlq_open(const char *target, const struct kp_kconf *kc,
	    rd_kafka_t *txn_rk, const char *stage, char *errstr,
	    size_t errstr_size, int *exit_code);
/* 1 when a delivery report's opaque is a letter of d (kp_dlq_open() with
 * a transactional producer), else 0. */
int	kp_dlq_is_letter(const struct kp_dlq *d, const void *opaque);
/* The last failure of kp_dlq_write() as text (naming the file or topic),
 * and the exit code it calls for: 74 (EX_IOERR) for a file, 75
 * (EX_TEMPFAIL) for a letter that could not be delivered, or librdkafka's
 * error mapped by kp_kafka_exit_code(). */
const char *kp_dlq_strerror(const struct kp_dlq *d);
int	kp_dlq_exit_code(const struct kp_dlq *d);

/* Write one dead letter: r says where the record came from (and its key,
 * timestamp and headers when it was decoded); raw/rawlen are the original
 * value bytes (or the whole input line when the record never decoded).
 * Returns 0, or -1 with errno set and kp_dlq_strerror() on a write
 * error or (a topic of kp_dlq_open()) a letter that was not delivered. */
int	kp_dlq_write(struct kp_dlq *d, const struct kp_record *r,
	    const void *raw, size_t rawlen, const char *reason);

/* Number of dead letters written. */
unsigned long kp_dlq_count(const struct kp_dlq *d);

/* Flush and close.  Returns 0, or -1 when a write failed.  For a topic
 * of kp_dlq_open_topic(), it only frees: the caller flushes its queue
 * (kp_rq_flush()); for one of kp_dlq_open(), it flushes and destroys the
 * producer it made (a transactional producer stays the caller's). */
int	kp_dlq_close(struct kp_dlq *d);

/* ---- Kafka topics ---- */

enum kp_dlq_kind { KP_DLQ_FILE, KP_DLQ_TOPIC };

/* Say whether a --dlq TOPIC|FILE argument names a file or a topic:
 * "file:PATH" and "topic:NAME" say it outright; "-" (stderr), a name that
 * holds a '/' or ends in ".json", ".jsonl" or ".ndjson" is a file; any
 * other name is a topic when brokers are configured, else a file.  *name
 * is set to the name without its prefix (borrowed from target). */
enum kp_dlq_kind kp_dlq_target(const char *target, int have_brokers,
	    const char **name);

/* A dead-letter target on topic: kp_dlq_write() queues each letter on q
 * (borrowed; its producer must be set up with kp_rq_conf()) with tag
 * KP_DLQ_TAG, and returns 0 at once.  Never NULL. */
struct kp_dlq *kp_dlq_open_topic(struct kp_rq *q, const char *topic,
	    const char *stage);
/* 1 for a topic target, 0 for a file. */
int	kp_dlq_is_topic(const struct kp_dlq *d);

/* Replace r's kpipe.error.* headers with those describing a dead letter of
 * src (its origin and timestamp) refused by stage for reason. */
void	kp_dlq_error_headers(struct kp_record *r, const struct kp_record *src,
	    const char *stage, const char *reason);

/* ---- reading dead letters back (kdlq replay, kdlq stats) ---- */

struct kp_dlq_letter {
	/* the original record: key, value (bytes, or null), headers without
	 * kpipe.error.*, timestamp (KP_TS_NONE when it had none); topic,
	 * partition and offset of the source when it was a topic */
	struct kp_record	rec;
	struct kp_buf		reason;
	struct kp_buf		stage;
	struct kp_buf		file;	/* source file when not a topic */
	long			line;
};

void	kp_dlq_letter_init(struct kp_dlq_letter *l);
void	kp_dlq_letter_free(struct kp_dlq_letter *l);
/* Read a dead letter from one JSON line of a dead-letter file.  Returns
 * 0, or -1 with errstr (not JSON, or not a dead letter). */
int	kp_dlq_parse_json(struct kp_dlq_letter *l, struct kp_json_parser *jp,
	    const char *line, size_t n, char *errstr, size_t errstr_size);
/* Read a dead letter from a record consumed from a dead-letter topic
 * (value as bytes: KP_FMT_RAW).  Returns 0, or -1 with errstr when it has
 * no kpipe.error.reason header. */
int	kp_dlq_parse_record(struct kp_dlq_letter *l, const struct kp_record *r,
	    char *errstr, size_t errstr_size);

#endif
