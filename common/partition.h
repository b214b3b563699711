/* partition.h - Kafka partitioners, bit-exact with the clients they name.
 *
 * Chooses a partition in [0, N) from a record's key bytes the way a named
 * Kafka client does, so that kpipe output lands on the same partition as a
 * Java, librdkafka or Go producer would put it (co-partitioning). Key bytes
 * are the serialized key: the UTF-8 bytes of a string, and for a Kafka
 * Streams windowed key only the inner key (WindowedStreamPartitioner).
 *
 * Which client each partitioner matches:
 *
 *   murmur2_random     Java producer's built-in partitioner
 *                      (BuiltInPartitioner.partitionForKey, formerly
 *                      DefaultPartitioner), Kafka Streams, kafka-python,
 *                      kafkajs JavaCompatiblePartitioner: keyed records by
 *                      (murmur2(key) & 0x7fffffff) % N, an empty key hashed,
 *                      a null key not hashed (Java makes it sticky; here it
 *                      is random).  Also librdkafka "murmur2_random".
 *   murmur2            librdkafka "murmur2": the same hash, and a null key
 *                      is hashed as the empty key (275646681 % N).
 *   consistent_random  librdkafka's default ("consistent_random"), so also
 *                      kcat, confluent-kafka-python/-go, node-rdkafka by
 *                      default: crc32(key) % N, and any zero-length key
 *                      (null or empty) random.
 *   consistent         librdkafka "consistent": crc32(key) % N, null and
 *                      empty keys both to partition 0.  "crc32" is accepted
 *                      as another name for it.
 *   fnv1a_random       Sarama (IBM/sarama NewHashPartitioner, its default)
 *                      and librdkafka "fnv1a_random": abs(int32 FNV-1a) % N,
 *                      a null key random, an empty key hashed.  Not
 *                      Sarama's NewReferenceHashPartitioner, which masks.
 *   fnv1a              librdkafka "fnv1a": as fnv1a_random, with a null key
 *                      hashed as the empty key.
 *   random             librdkafka "random": uniform for every record.
 *
 * Where a client is sticky (keeps a batch of unkeyed records on one
 * partition), kpipe draws a uniformly random partition per record instead.
 * The random draws come from a caller-owned 32-bit state, so a fixed seed
 * reproduces a run.
 *
 * Nothing here allocates, prints, or keeps global state; every function is
 * safe to call from any thread as long as a random state is not shared.
 */
#ifndef KP_PARTITION_H
#define KP_PARTITION_H

#include <stddef.h>
#include <stdint.h>

/* kp_murmur2: Kafka's 32-bit murmur2 of len bytes at key, as an unsigned
 * int (the bits of Java's int result: (int32_t)kp_murmur2(...) is what Java
 * prints).  key may be NULL when len is 0; it needs no alignment.  Seed
 * 0x9747b28c, m 0x5bd1e995, r 24, little-endian 4-byte blocks.
 * Source: apache/kafka clients/.../common/utils/Utils.java murmur2(byte[]),
 * lines 492-530 @ 1eb7644349cb; librdkafka src/rdmurmur2.c rd_murmur2(). */
uint32_t kp_murmur2(const void *key, size_t len);

/* kp_crc32: the standard reflected CRC-32 (polynomial 0xedb88320, initial
 * and final xor 0xffffffff) of len bytes at key: zlib's crc32(0, key, len)
 * and librdkafka's rd_crc32(), so kp_crc32(NULL, 0) == 0.  key may be NULL
 * when len is 0.  Source: librdkafka src/rdcrc32.h, used by the consistent
 * partitioners in src/rdkafka_msg.c. */
uint32_t kp_crc32(const void *key, size_t len);

/* kp_fnv1a: FNV-1a 32 (offset basis 0x811c9dc5, prime 0x01000193) of len
 * bytes at key, then, if the result is negative as an int32, its negation,
 * as librdkafka's rd_fnv1a() does to match Sarama.  The negation is done in
 * 64 bits, so 0x80000000 (where librdkafka's int32 negation overflows and
 * wraps) comes back as 0x80000000.  The result is in [0, 0x80000000].
 * key may be NULL when len is 0.  Source: librdkafka src/rdfnv1a.c
 * rd_fnv1a() @ 4c3b017c3de8. */
uint32_t kp_fnv1a(const void *key, size_t len);

/* The partitioners, named as librdkafka's "partitioner" property names them;
 * see the top of this file for the clients each one matches. */
enum kp_partitioner {
	KP_PART_MURMUR2,
	KP_PART_MURMUR2_RANDOM,
	KP_PART_CONSISTENT,
	KP_PART_CONSISTENT_RANDOM,
	KP_PART_FNV1A,
	KP_PART_FNV1A_RANDOM,
	KP_PART_RANDOM
};

/* kp_partitioner_parse: set *out to the partitioner called name, one of
 * "murmur2", "murmur2_random", "consistent", "consistent_random", "fnv1a",
 * "fnv1a_random", "random", or "crc32" (= consistent); the match is exact
 * and case-sensitive, as librdkafka's.  Returns 0, or -1 for a NULL or
 * unknown name, leaving *out untouched. */
int kp_partitioner_parse(const char *name, enum kp_partitioner *out);

/* kp_partitioner_name: the name of p as kp_partitioner_parse() takes it
 * (consistent is "consistent", never "crc32"); a static string, never to be
 * freed.  NULL for a value outside the enum. */
const char *kp_partitioner_name(enum kp_partitioner p);

/* kp_partition: the partition in [0, partition_cnt) for a record whose key
 * is len bytes at key, following librdkafka's src/rdkafka_msg.c partitioners
 * (rd_kafka_msg_partitioner_*, lines 1050-1128 @ 4c3b017c3de8):
 *
 *   murmur2            (kp_murmur2(key) & 0x7fffffff) % N; null = empty
 *   murmur2_random     random if null, else as murmur2
 *   consistent         kp_crc32(key) % N; null = empty, which gives 0
 *   consistent_random  random if len == 0 (null or empty), else consistent
 *   fnv1a              kp_fnv1a(key) % N; null = empty
 *   fnv1a_random       random if null, else as fnv1a
 *   random             always random
 *
 * key_is_null non-zero says the key is a Kafka null; then key and len are
 * ignored (taken as NULL, 0).  Otherwise key points at len readable bytes,
 * any alignment (NULL is allowed when len is 0: an empty, not null, key).
 *
 * rand_state is a caller-owned generator state, read and advanced only when
 * the call draws a random partition; seed it with any value (0 included)
 * and the draws are reproducible.  It may be NULL when p is murmur2,
 * consistent or fnv1a.  A draw is uniform over [0, partition_cnt).
 *
 * Returns -1 when partition_cnt < 1, when p is not a kp_partitioner, when
 * key is NULL with len > 0 for a non-null key, or when a random draw is
 * needed and rand_state is NULL. */
int32_t kp_partition(enum kp_partitioner p, const void *key, size_t len,
    int key_is_null, int32_t partition_cnt, uint32_t *rand_state);

#endif
