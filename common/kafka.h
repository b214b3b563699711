/* kafka.h - librdkafka glue shared by every program that talks to Kafka:
 * configuration from -b, -X prop=value and -F FILE (kcat's syntax and
 * order: later settings win), librdkafka's log routed into kp_log,
 * metadata look-ups, and librdkafka errors mapped to sysexits codes.
 */
#ifndef KP_KAFKA_H
#define KP_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* Configuration as given on the command line, applied in order. */
struct kp_kconf {
	char	**props;	/* "name=value" strings (owned) */
	size_t	  nprops;
	char	 *brokers;	/* -b, or NULL (then $KPIPE_BROKERS) */
};

/* Add "-X name=value".  Returns 0, or -1 with errstr when there is no
 * '='. */
int	kp_kconf_add(struct kp_kconf *c, const char *namevalue, char *errstr,
	    size_t errstr_size);
/* Read -F FILE: one name=value per line; blank lines and lines starting
 * with '#' are skipped (kcat's -F format).  Returns 0, or -1 with errstr
 * naming the file and line. */
int	kp_kconf_file(struct kp_kconf *c, const char *path, char *errstr,
	    size_t errstr_size);
/* Set -b (copied). */
void	kp_kconf_brokers(struct kp_kconf *c, const char *brokers);
/* Returns 1 when brokers were given by -b, $KPIPE_BROKERS or
 * bootstrap.servers/metadata.broker.list in -X or -F. */
int	kp_kconf_has_brokers(const struct kp_kconf *c);
void	kp_kconf_free(struct kp_kconf *c);

/* Build a librdkafka configuration: bootstrap.servers from -b (or
 * $KPIPE_BROKERS), then `defaults` (a NULL-terminated list of name,
 * value pairs, program defaults), then every -X/-F property in order, so
 * the user has the last word.  The log callback goes to kp_log.  Returns
 * a new conf (the caller owns it until rd_kafka_new() takes it), or NULL
 * with errstr set (librdkafka's own message for a bad property). */
rd_kafka_conf_t *kp_kconf_build(const struct kp_kconf *c,
	    const char *const *defaults, char *errstr, size_t errstr_size);

/* The number of partitions of topic, from a metadata request that waits
 * at most timeout_ms.  Returns the count (>= 1), or -1 with errstr
 * (unknown topic, broker unavailable). */
int	kp_kafka_partition_count(rd_kafka_t *rk, const char *topic,
	    int timeout_ms, char *errstr, size_t errstr_size);

/* A sysexits code for a librdkafka error: EX_UNAVAILABLE (69) for
 * transport, all-brokers-down and timeouts, EX_CONFIG (78) for
 *  configuration and authorisation errors, EX_TEMPFAIL (75) for
 * every other error (they may pass: a supervisor may restart). */
int	kp_kafka_exit_code(rd_kafka_resp_err_t err);


#include "codec.h"
#include "json.h"
#include "record.h"

/* Fill r from a consumed message: topic, partition, offset, timestamp
 * (CreateTime or LogAppendTime, ms), key (null stays null), headers, and
 * the value decoded by `in`: KP_FMT_RAW keeps bytes; KP_FMT_JSON parses
 * JSON; KP_FMT_MSGPACK takes one msgpack object; KP_FMT_AUTO parses
 * payloads that start with '{' or '[' as JSON, takes a payload that is
 * exactly one msgpack map or array as msgpack, and keeps anything else as
 * bytes.  A null payload is a null value (tombstone).  jp is the caller's
 * JSON parser.  Returns 0; or -1 with errstr when the payload does not
 * decode, r then holding the metadata and the payload as bytes. */
int	kp_record_from_message(struct kp_record *r, const rd_kafka_message_t *m,
	    enum kp_format in, struct kp_json_parser *jp, char *errstr,
	    size_t errstr_size);

/* How a structured value is written to Kafka: JSON text (the default),
 * msgpack, or raw (bytes values only; a structured value as JSON). */
enum kp_value_format { KP_VF_JSON, KP_VF_MSGPACK, KP_VF_RAW };

/* Produce r to topic (partition RD_KAFKA_PARTITION_UA lets the
 * configured partitioner choose): key, value encoded by vf, headers, and
 * the timestamp when r has one.  `opaque` comes back in the delivery
 * report.  Blocks while the local queue is full (polling for delivery
 * reports), until kp_stop is set.  Returns RD_KAFKA_RESP_ERR_NO_ERROR or
 * librdkafka's error. */
rd_kafka_resp_err_t kp_record_produce(rd_kafka_t *rk, const char *topic,
	    int32_t partition, const struct kp_record *r,
	    enum kp_value_format vf, void *opaque);

#endif
