/* dlq.h - dead letters: records that cannot be processed, kept with the
 * reason instead of being dropped.
 *
 * A dead letter written to a FILE is one JSON line:
 *   {"reason":"...","stage":"ksource","source":{"topic":"t","partition":0,
 *    "offset":7} | {"file":"x.jsonl","line":7},"timestamp":...,
 *    "key":"...","headers":[...],"value":"..."}
 * where key and value are the original bytes, as a string when valid
 * UTF-8 or base64 with "key_encoding"/"value_encoding":"base64" otherwise.
 * Dead letters to a Kafka topic carry the original key, value and headers
 * byte for byte, plus kpipe.error.* headers (see kdlq(1)).
 */
#ifndef KP_DLQ_H
#define KP_DLQ_H

#include <stddef.h>

#include "record.h"

struct kp_dlq;

/* Open a dead-letter file for appending ("-" is stderr).  Returns NULL
 * with errstr set when it cannot be opened. */
struct kp_dlq *kp_dlq_open_file(const char *path, const char *stage,
	    char *errstr, size_t errstr_size);

/* Write one dead letter: r says where the record came from (and its key,
 * timestamp and headers when it was decoded); raw/rawlen are the original
 * value bytes (or the whole input line when the record never decoded).
 * Returns 0, or -1 with errno set on a write error. */
int	kp_dlq_write(struct kp_dlq *d, const struct kp_record *r,
	    const void *raw, size_t rawlen, const char *reason);

/* Number of dead letters written. */
unsigned long kp_dlq_count(const struct kp_dlq *d);

/* Flush and close.  Returns 0, or -1 when a write failed. */
int	kp_dlq_close(struct kp_dlq *d);

#endif
