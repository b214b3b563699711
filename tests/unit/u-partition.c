/* u-partition.c - unit tests of common/partition.c: the murmur2, CRC-32 and
 * FNV-1a hashes and the seven partitioners, against the vectors published
 * by the clients they copy (/work/shared/vectors/partitioners.md, tables
 * C1-C5) and the public bug reports B13-B17 (cases/public-cases.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "partition.h"
#include "tap.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define SEED 0x6b706970u	/* "kpip": any fixed value will do */

/* The partition counts of the "partition for N" columns of C1, C2 and C4. */
static const int32_t ns[12] = { 1, 2, 3, 4, 6, 8, 10, 12, 16, 32, 50, 100 };

/* The key as a test name shows it: a Kafka null is "null". */
static const char *
kname(const char *key, int is_null)
{
	return is_null || key == NULL ? "null" : key;
}

/* dup_at: a copy of len bytes of key at offset off of a fresh heap block of
 * exactly off + len bytes, so that under ASan any read before or past the
 * key is caught, and off 1..3 misaligns it.  *block is what to free. */
static const unsigned char *
dup_at(const char *key, size_t len, size_t off, unsigned char **block)
{
	size_t sz = off + len;

	*block = malloc(sz > 0 ? sz : 1);
	if (*block == NULL)
		abort();
	if (len > 0)
		memcpy(*block + off, key, len);
	return *block + off;
}

/*
 * C1. Java Utils.murmur2: apache/kafka @ 1eb7644349cb07139d6a3c1ad1986979647cac99,
 * clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java
 * testMurmur2() lines 105-118 (key, Java int).  Partitions are
 * BuiltInPartitioner.partitionForKey = toPositive(murmur2(key)) % N,
 * BuiltInPartitioner.java lines 329-331, computed in partitioners.md.
 */
static const struct c1 {
	const char *key;
	size_t len;
	int32_t java;		/* published */
	uint32_t hex;		/* the same bits */
	int32_t part[12];	/* for ns[] */
} c1[] = {
	{ "21", 2, -973932308, 0xc5f2f8ec, { 0, 0, 0, 0, 0, 4, 0, 0, 12, 12, 40, 40 } },
	{ "foobar", 6, -790332482, 0xd0e47bbe, { 0, 0, 0, 2, 0, 6, 6, 6, 14, 30, 16, 66 } },
	{ "a-little-bit-long-string", 24, -985981536, 0xc53b1da0, { 0, 0, 2, 0, 2, 0, 2, 8, 0, 0, 12, 12 } },
	{ "a-little-bit-longer-string", 26, -1486304829, 0xa768c9c3, { 0, 1, 2, 3, 5, 3, 9, 11, 3, 3, 19, 19 } },
	{ "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 48, -58897971, 0xfc7d49cd, { 0, 1, 2, 1, 5, 5, 7, 5, 13, 13, 27, 77 } },
	{ "abc", 3, 479470107, 0x1c94221b, { 0, 1, 0, 3, 3, 3, 7, 3, 11, 27, 7, 7 } },
};

static void
test_c1(void)
{
	size_t i, j;

	for (i = 0; i < NELEM(c1); i++) {
		const struct c1 *v = &c1[i];
		uint32_t h = kp_murmur2(v->key, v->len);

		is_int((int32_t)h, v->java, "C1 murmur2(\"%s\") = %d (Java)",
		    v->key, v->java);
		is_int(h, v->hex, "C1 murmur2(\"%s\") = 0x%08x", v->key, v->hex);
		for (j = 0; j < NELEM(ns); j++) {
			is_int(kp_partition(KP_PART_MURMUR2, v->key, v->len,
			    0, ns[j], NULL), v->part[j],
			    "C1 murmur2 \"%s\" N=%d -> %d", v->key, ns[j],
			    v->part[j]);
			is_int(kp_partition(KP_PART_MURMUR2_RANDOM, v->key,
			    v->len, 0, ns[j], NULL), v->part[j],
			    "C1 murmur2_random \"%s\" N=%d -> %d", v->key,
			    ns[j], v->part[j]);
		}
	}
}

/*
 * C2. librdkafka @ 4c3b017c3de8d9c10de12b9eec0ea688e8d5787d:
 * src/rdmurmur2.c unittest_murmur2() java_murmur2_results[] (murmur2), and
 * src/rdfnv1a.c unittest_fnv1a() golang_hashfnv_results[] (fnv1a).  The
 * keys "234", "34", "4" and "reAmble...", "eAmble...", "AmbleWill..." are
 * the unaligned tails of two of them.  crc32 (zlib's) and the partitions
 * are [computed] in partitioners.md.  Each key is hashed at offsets 0..3.
 */
static const struct c2 {
	const char *key;
	size_t len;
	uint32_t murmur2;	/* published, rdmurmur2.c */
	int32_t java;		/* the same bits */
	int32_t part[12];	/* murmur2 partition for ns[] */
	uint32_t fnv1a;		/* published, rdfnv1a.c */
	uint32_t crc32;
} c2[] = {
	{ "kafka", 5, 0xd067cf64, -798503068, { 0, 0, 1, 0, 4, 4, 0, 4, 4, 4, 30, 80 }, 0x0d33c4e1, 0x5bbc7517 },
	{ "giberish123456789", 17, 0x8f552b0c, -1890243828, { 0, 0, 2, 0, 2, 4, 0, 8, 12, 12, 20, 20 }, 0x77a58295, 0x7b3a8e3f },
	{ "1234", 4, 0x9fc97b14, -1614185708, { 0, 0, 0, 0, 0, 4, 0, 0, 4, 20, 40, 40 }, 0x023bdd03, 0x9be3e0a3 },
	{ "234", 3, 0xe7c009ca, -406844982, { 0, 0, 2, 2, 2, 2, 6, 2, 10, 10, 16, 66 }, 0x2dea3cd2, 0x0d717969 },
	{ "34", 2, 0x873930da, -2026295078, { 0, 0, 0, 2, 0, 2, 0, 6, 10, 26, 20, 70 }, 0x740fa83e, 0x9406837a },
	{ "4", 1, 0x5a4b5ca1, 1514888353, { 0, 1, 1, 1, 1, 1, 3, 1, 1, 1, 3, 53 }, 0x310ca263, 0xf3b61b38 },
	{ "PreAmbleWillBeRemoved,ThePrePartThatIs", 38, 0x78424f1c, 2017611548, { 0, 0, 2, 0, 2, 4, 8, 8, 12, 28, 48, 48 }, 0x65cbd69c, 0xddcba83a },
	{ "reAmbleWillBeRemoved,ThePrePartThatIs", 37, 0x4a62b377, 1247982455, { 0, 1, 2, 3, 5, 7, 5, 11, 7, 23, 5, 55 }, 0x6e49c79a, 0x6f0978f7 },
	{ "eAmbleWillBeRemoved,ThePrePartThatIs", 36, 0xe0e4e09e, -521871202, { 0, 0, 1, 2, 4, 6, 6, 10, 14, 30, 46, 46 }, 0x69eed356, 0x0e3b0c4b },
	{ "AmbleWillBeRemoved,ThePrePartThatIs", 35, 0x62b8b43f, 1656271935, { 0, 1, 0, 3, 3, 7, 5, 3, 15, 31, 35, 35 }, 0x6abcc023, 0xea4122a0 },
	{ "", 0, 0x106e08d9, 275646681, { 0, 1, 0, 1, 3, 1, 1, 9, 9, 25, 31, 81 }, 0x7ee3623b, 0x00000000 },
};

static void
test_c2(void)
{
	size_t i, j, off;
	unsigned char *block;
	const unsigned char *k;

	for (i = 0; i < NELEM(c2); i++) {
		const struct c2 *v = &c2[i];

		for (off = 0; off < 4; off++) {
			k = dup_at(v->key, v->len, off, &block);
			is_int(kp_murmur2(k, v->len), v->murmur2,
			    "C2 murmur2(\"%s\") at offset %zu = 0x%08x",
			    v->key, off, v->murmur2);
			is_int(kp_fnv1a(k, v->len), v->fnv1a,
			    "C2 fnv1a(\"%s\") at offset %zu = 0x%08x",
			    v->key, off, v->fnv1a);
			is_int(kp_crc32(k, v->len), v->crc32,
			    "C2 crc32(\"%s\") at offset %zu = 0x%08x",
			    v->key, off, v->crc32);
			free(block);
		}
		is_int((int32_t)kp_murmur2(v->key, v->len), v->java,
		    "C2 murmur2(\"%s\") = %d as a Java int", v->key, v->java);
		for (j = 0; j < NELEM(ns); j++) {
			is_int(kp_partition(KP_PART_MURMUR2, v->key, v->len,
			    0, ns[j], NULL), v->part[j],
			    "C2 murmur2 \"%s\" N=%d -> %d", v->key, ns[j],
			    v->part[j]);
			/* consistent and fnv1a: the published hash % N */
			is_int(kp_partition(KP_PART_CONSISTENT, v->key, v->len,
			    0, ns[j], NULL), (int32_t)(v->crc32 % (uint32_t)ns[j]),
			    "C2 consistent \"%s\" N=%d -> 0x%08x %% N", v->key,
			    ns[j], v->crc32);
			is_int(kp_partition(KP_PART_FNV1A, v->key, v->len, 0,
			    ns[j], NULL), (int32_t)(v->fnv1a % (uint32_t)ns[j]),
			    "C2 fnv1a \"%s\" N=%d -> 0x%08x %% N", v->key,
			    ns[j], v->fnv1a);
		}
	}
	/* rdmurmur2.c and rdfnv1a.c also hash NULL with length 0. */
	is_int(kp_murmur2(NULL, 0), 0x106e08d9, "C2 murmur2(NULL, 0) = murmur2(\"\")");
	is_int(kp_fnv1a(NULL, 0), 0x7ee3623b, "C2 fnv1a(NULL, 0) = fnv1a(\"\")");
	is_int(kp_crc32(NULL, 0), 0, "C2 crc32(NULL, 0) = 0");
}

/*
 * C3. librdkafka @ 4c3b017c3de8d9c10de12b9eec0ea688e8d5787d,
 * tests/0048-partitioner.c do_test_partitioners(): per built-in partitioner
 * the expected hash (crc32 from OS X crc32, murmur2 from
 * tests/java/Murmur2Cli.java and so already & 0x7fffffff, fnv1a from Go),
 * taken % part_cnt for part_cnt 7 and 17; -1 where the test expects a
 * random partition.
 */
static const enum kp_partitioner c3_parts[6] = {
	KP_PART_CONSISTENT, KP_PART_CONSISTENT_RANDOM,
	KP_PART_MURMUR2, KP_PART_MURMUR2_RANDOM,
	KP_PART_FNV1A, KP_PART_FNV1A_RANDOM,
};

static const struct c3 {
	const char *key;
	size_t len;
	int null;
	int32_t n;
	uint32_t hash[3];	/* crc32, murmur2 & 0x7fffffff, fnv1a */
	int32_t want[6];	/* in the order of c3_parts[] */
} c3[] = {
	{ NULL, 0, 1, 7, { 0x00000000, 0x106e08d9, 0x7ee3623b }, { 0, -1, 2, -1, 2, -1 } },
	{ "", 0, 0, 7, { 0x00000000, 0x106e08d9, 0x7ee3623b }, { 0, -1, 2, 2, 2, 2 } },
	{ "23456", 5, 0, 7, { 0xb1b451d7, 0x058d780f, 0x27e6f469 }, { 5, 5, 5, 5, 5, 5 } },
	{ "this is another string with more length to it perhaps", 53, 0, 7, { 0xb0150df7, 0x4f7703da, 0x155e3e5f }, { 6, 6, 1, 1, 6, 6 } },
	{ "hejsan", 6, 0, 7, { 0xd077037e, 0x5ec19395, 0x17b1e27a }, { 3, 3, 6, 6, 3, 3 } },
	{ NULL, 0, 1, 17, { 0x00000000, 0x106e08d9, 0x7ee3623b }, { 0, -1, 11, -1, 0, -1 } },
	{ "", 0, 0, 17, { 0x00000000, 0x106e08d9, 0x7ee3623b }, { 0, -1, 11, 11, 0, 0 } },
	{ "23456", 5, 0, 17, { 0xb1b451d7, 0x058d780f, 0x27e6f469 }, { 7, 7, 9, 9, 6, 6 } },
	{ "this is another string with more length to it perhaps", 53, 0, 17, { 0xb0150df7, 0x4f7703da, 0x155e3e5f }, { 15, 15, 11, 11, 0, 0 } },
	{ "hejsan", 6, 0, 17, { 0xd077037e, 0x5ec19395, 0x17b1e27a }, { 14, 14, 5, 5, 4, 4 } },
};

/* check_place: kp_partition(p, key) is want, and draws nothing from the
 * random state; or, with want -1, is in [0, n), is a random draw (the state
 * moves), and over 1000 draws reaches every partition. */
static void
check_place(const char *tag, enum kp_partitioner p, const char *key,
    size_t len, int is_null, int32_t n, int32_t want)
{
	uint32_t st = SEED;
	int32_t got, i, hits, seen[32] = { 0 };

	got = kp_partition(p, key, len, is_null, n, &st);
	if (want >= 0) {
		is_int(got, want, "%s %s key \"%s\" N=%d -> %d", tag,
		    kp_partitioner_name(p), kname(key, is_null), n, want);
		ok(st == SEED, "%s %s key \"%s\" N=%d hashes, draws nothing",
		    tag, kp_partitioner_name(p), kname(key, is_null), n);
		return;
	}
	ok(got >= 0 && got < n, "%s %s key \"%s\" N=%d -> random, in range "
	    "(got %d)", tag, kp_partitioner_name(p), kname(key, is_null), n,
	    got);
	ok(st != SEED, "%s %s key \"%s\" N=%d is a random draw", tag,
	    kp_partitioner_name(p), kname(key, is_null), n);
	for (i = 0; i < 1000 && n <= 32; i++) {
		got = kp_partition(p, key, len, is_null, n, &st);
		if (got >= 0 && got < n)
			seen[got] = 1;
	}
	for (i = hits = 0; i < n && i < 32; i++)
		hits += seen[i];
	is_int(hits, n, "%s %s key \"%s\" N=%d: 1000 draws reach every "
	    "partition", tag, kp_partitioner_name(p), kname(key, is_null), n);
}

static void
test_c3(void)
{
	size_t i, j;

	for (i = 0; i < NELEM(c3); i++) {
		const struct c3 *v = &c3[i];

		if (!v->null) {
			is_int(kp_crc32(v->key, v->len), v->hash[0],
			    "C3 crc32(\"%s\") = 0x%08x", v->key, v->hash[0]);
			is_int(kp_murmur2(v->key, v->len) & 0x7fffffff,
			    v->hash[1], "C3 murmur2(\"%s\") & 0x7fffffff = "
			    "0x%08x", v->key, v->hash[1]);
			is_int(kp_fnv1a(v->key, v->len), v->hash[2],
			    "C3 fnv1a(\"%s\") = 0x%08x", v->key, v->hash[2]);
		}
		for (j = 0; j < NELEM(c3_parts); j++)
			check_place("C3", c3_parts[j], v->key, v->len, v->null,
			    v->n, v->want[j]);
		/* "random": any key, always a draw */
		check_place("C3", KP_PART_RANDOM, v->key, v->len, v->null,
		    v->n, -1);
	}
}

/*
 * C4. tulios/kafkajs src/producer/partitioners/defaultJava/murmur2.spec.js,
 * "Generated with src/producer/partitioners/defaultJava/Test.java" (a copy
 * of Kafka's Utils.murmur2); "100:48069" from
 * https://github.com/tulios/kafkajs/issues/357.  Partitions [computed].
 */
static const struct c4 {
	const char *key;
	size_t len;
	int32_t java;		/* published */
	int32_t part[12];	/* for ns[] */
} c4[] = {
	{ "0", 1, 971027396, { 0, 0, 2, 0, 2, 4, 6, 8, 4, 4, 46, 96 } },
	{ "1", 1, -1993445489, { 0, 1, 0, 3, 3, 7, 9, 3, 15, 15, 9, 59 } },
	{ "128", 3, -326012175, { 0, 1, 2, 1, 5, 1, 3, 5, 1, 17, 23, 73 } },
	{ "2187", 4, -1508407203, { 0, 1, 2, 1, 5, 5, 5, 5, 13, 29, 45, 45 } },
	{ "16384", 5, -325739742, { 0, 0, 2, 2, 2, 2, 6, 2, 2, 2, 6, 6 } },
	{ "78125", 5, -1654490814, { 0, 0, 2, 2, 2, 2, 4, 2, 2, 2, 34, 34 } },
	{ "279936", 6, 1462227128, { 0, 0, 2, 0, 2, 0, 8, 8, 8, 24, 28, 28 } },
	{ "823543", 6, -2014198330, { 0, 0, 1, 2, 4, 6, 8, 10, 6, 6, 18, 18 } },
	{ "2097152", 7, 607668903, { 0, 1, 0, 3, 3, 7, 3, 3, 7, 7, 3, 3 } },
	{ "4782969", 7, -1182699775, { 0, 1, 1, 1, 1, 1, 3, 1, 1, 1, 23, 73 } },
	{ "10000000", 8, -1830336757, { 0, 1, 1, 3, 1, 3, 1, 7, 11, 11, 41, 91 } },
	{ "19487171", 8, -1603849305, { 0, 1, 2, 3, 5, 7, 3, 11, 7, 7, 43, 43 } },
	{ "35831808", 8, -857013643, { 0, 1, 1, 1, 1, 5, 5, 1, 5, 21, 5, 5 } },
	{ "62748517", 8, -1167431028, { 0, 0, 2, 0, 2, 4, 0, 8, 12, 12, 20, 20 } },
	{ "105413504", 9, -381294639, { 0, 1, 2, 1, 5, 1, 9, 5, 1, 17, 9, 9 } },
	{ "170859375", 9, -1658323481, { 0, 1, 0, 3, 3, 7, 7, 3, 7, 7, 17, 67 } },
	{ "100:48069", 9, 1009543857, { 0, 1, 0, 1, 3, 1, 7, 9, 1, 17, 7, 57 } },
};

static void
test_c4(void)
{
	size_t i, j;

	for (i = 0; i < NELEM(c4); i++) {
		const struct c4 *v = &c4[i];

		is_int((int32_t)kp_murmur2(v->key, v->len), v->java,
		    "C4 murmur2(\"%s\") = %d (Java)", v->key, v->java);
		for (j = 0; j < NELEM(ns); j++)
			is_int(kp_partition(KP_PART_MURMUR2_RANDOM, v->key,
			    v->len, 0, ns[j], NULL), v->part[j],
			    "C4 murmur2_random \"%s\" N=%d -> %d", v->key,
			    ns[j], v->part[j]);
	}
	/* B14: the legacy kafkajs port's overflowing hash of this key. */
	ok(kp_murmur2("100:48069", 9) != 1713501762u,
	    "B14 murmur2(\"100:48069\") is not the legacy kafkajs 1713501762");
}

/*
 * C5 (and B13, B15). Reported numbers, one issue per row:
 *   https://github.com/tulios/kafkajs/issues/1154 (TT0124)
 *   https://github.com/tulios/kafkajs/issues/357 (100:48069)
 *   https://github.com/Blizzard/node-rdkafka/issues/616 (354afe16, f562ac3b)
 *   https://github.com/Blizzard/node-rdkafka/issues/817 (fd7af248)
 *   https://github.com/confluentinc/confluent-kafka-python/issues/1481 (Struct)
 *   https://github.com/nodefluent/node-sinek/issues/39 (wu), /40 (thing...)
 *   movio/go-kafka partitioner/murmur2_test.go, as vendored in
 *   kalmanb/datapipelinepoc service/vendor/github.com/movio/go-kafka/
 *   (empty, ⌘, oh no, c03a3475).
 * The wrong variants (uint32 % N, abs(int32) % N) and crc32 % N are
 * [computed] in partitioners.md; the bold "mask" column is the right one.
 */
static const struct c5 {
	const char *key;
	size_t len;
	int32_t n;
	int32_t java;		/* murmur2 as a Java int */
	int32_t mask;		/* (h & 0x7fffffff) % N: Java, librdkafka */
	int32_t unsig;		/* wrong: (uint32_t)h % N */
	int32_t abs;		/* wrong: abs(h) % N */
	int32_t crc;		/* librdkafka default: crc32 % N */
} c5[] = {
	/* kafkajs#1154: JavaCompatible=10, kcat/node-rdkafka=9 */
	{ "TT0124", 6, 15, -1442328778, 10, 3, 13, 9 },
	/* kafkajs#357: Java=9, kafkajs legacy=6 (legacy hash 1713501762) */
	{ "100:48069", 9, 12, 1009543857, 9, 9, 9, 6 },
	/* node-rdkafka#616: Java=4, node-rdkafka default=9 */
	{ "354afe16-939a-4ea8-8e17-8bb0840b6886", 36, 10, 983768104, 4, 4, 4, 9 },
	/* node-rdkafka#616: Java=5, node-rdkafka default=6 */
	{ "f562ac3b-2224-4e25-a0ab-56094e10c239", 36, 10, -377816373, 5, 3, 3, 6 },
	/* node-rdkafka#817: kafka-console-producer=26 */
	{ "fd7af248-ce5c-46a5-93d7-1c0c9005b99d", 36, 32, -147180742, 26, 26, 6, 23 },
	/* confluent-kafka-python#1481: Java-based producers=40, librdkafka default=36 */
	{ "Struct{documentKey={\"_id\": \"638d1b94ce8def06be68b439\"}}", 55, 50, -327499208, 40, 38, 8, 36 },
	/* node-sinek#39: Java=0, no-seed impl=5 */
	{ "wu", 2, 10, 290249560, 0, 0, 0, 1 },
	/* node-sinek#40: Java=2, char-code impl=4; "thingäöüÄÖÜ" in UTF-8 */
	{ "thing\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x84\xc3\x96\xc3\x9c", 17, 10, 215785582, 2, 2, 2, 5 },
	/* movio go test: 1 */
	{ "", 0, 2, 275646681, 1, 1, 1, 0 },
	/* movio go test: 2; "⌘" in UTF-8 */
	{ "\xe2\x8c\x98", 3, 3, -2107568223, 2, 1, 0, 1 },
	/* movio go test: 36 */
	{ "oh no", 5, 100, -1208315212, 36, 84, 12, 61 },
	/* movio go test: 14 */
	{ "c03a3475-3ed6-4ed1-8ae5-1c432da43e73", 36, 999, -1770713781, 14, 295, 267, 170 },
};

/* The movio go test's own expectations: positive(murmur2(key)) and the
 * partitions for N = 2, 3, 100, 999. */
static const struct movio {
	const char *key;
	size_t len;
	int32_t positive;
	int32_t part[4];
} movio[] = {
	{ "", 0, 275646681, { 1, 0, 81, 603 } },
	{ "\xe2\x8c\x98", 3, 39915425, { 1, 2, 25, 380 } },
	{ "oh no", 5, 939168436, { 0, 1, 36, 544 } },
	{ "c03a3475-3ed6-4ed1-8ae5-1c432da43e73", 36, 376769867, { 1, 2, 67, 14 } },
};

static void
test_c5(void)
{
	static const int32_t movio_ns[4] = { 2, 3, 100, 999 };
	size_t i, j;

	for (i = 0; i < NELEM(c5); i++) {
		const struct c5 *v = &c5[i];
		uint32_t h = kp_murmur2(v->key, v->len);
		int32_t got, n = v->n;
		int64_t sh = (int32_t)h;

		is_int((int32_t)h, v->java, "C5 murmur2(\"%s\") = %d", v->key,
		    v->java);
		got = kp_partition(KP_PART_MURMUR2, v->key, v->len, 0, n, NULL);
		is_int(got, v->mask, "C5 murmur2 \"%s\" N=%d -> %d (Java)",
		    v->key, n, v->mask);
		is_int(kp_partition(KP_PART_MURMUR2_RANDOM, v->key, v->len, 0,
		    n, NULL), v->mask, "C5 murmur2_random \"%s\" N=%d -> %d",
		    v->key, n, v->mask);
		/* The wrong columns are what the wrong formulas give... */
		is_int(h % (uint32_t)n, v->unsig, "C5 \"%s\": (uint32)h %% %d "
		    "is the table's wrong value %d", v->key, n, v->unsig);
		is_int((sh < 0 ? -sh : sh) % n, v->abs, "C5 \"%s\": abs(h) %% "
		    "%d is the table's wrong value %d", v->key, n, v->abs);
		/* ...and where they differ from the right one, not ours. */
		if (v->unsig != v->mask)
			ok(got != v->unsig, "C5 murmur2 \"%s\" N=%d is not the "
			    "unsigned-modulo %d", v->key, n, v->unsig);
		if (v->abs != v->mask)
			ok(got != v->abs, "C5 murmur2 \"%s\" N=%d is not the "
			    "abs-modulo %d", v->key, n, v->abs);
		is_int(kp_partition(KP_PART_CONSISTENT, v->key, v->len, 0, n,
		    NULL), v->crc, "C5 consistent \"%s\" N=%d -> %d (librdkafka)",
		    v->key, n, v->crc);
		if (v->len > 0) {
			is_int(kp_partition(KP_PART_CONSISTENT_RANDOM, v->key,
			    v->len, 0, n, NULL), v->crc, "C5 consistent_random "
			    "\"%s\" N=%d -> %d (librdkafka default)", v->key, n,
			    v->crc);
			if (v->crc != v->mask)
				ok(got != v->crc, "C5 murmur2 \"%s\" N=%d is "
				    "not the crc32 %d", v->key, n, v->crc);
		}
	}
	/* node-sinek #39 and #40: the buggy ports' reported numbers. */
	ok(kp_partition(KP_PART_MURMUR2, "wu", 2, 0, 10, NULL) != 5,
	    "C5 murmur2 \"wu\" N=10 is not the seedless port's 5");
	ok(kp_partition(KP_PART_MURMUR2, c5[7].key, c5[7].len, 0, 10, NULL)
	    != 4, "C5 murmur2 \"%s\" N=10 is not the char-code port's 4",
	    c5[7].key);

	for (i = 0; i < NELEM(movio); i++) {
		const struct movio *v = &movio[i];

		is_int(kp_murmur2(v->key, v->len) & 0x7fffffff, v->positive,
		    "C5 movio positive(murmur2(\"%s\")) = %d", v->key,
		    v->positive);
		for (j = 0; j < NELEM(movio_ns); j++)
			is_int(kp_partition(KP_PART_MURMUR2, v->key, v->len, 0,
			    movio_ns[j], NULL), v->part[j],
			    "C5 movio murmur2 \"%s\" N=%d -> %d", v->key,
			    movio_ns[j], v->part[j]);
	}
}

/*
 * B16. https://github.com/nodefluent/node-sinek/issues/39 and /40: hash the
 * UTF-8 bytes with seed 0x9747b28c.  The bytes are spelt out, and checked
 * to be what this file's UTF-8 literals hold.
 */
static void
test_b16(void)
{
	static const unsigned char thing[] = {
		0x74, 0x68, 0x69, 0x6e, 0x67, 0xc3, 0xa4, 0xc3, 0xb6,
		0xc3, 0xbc, 0xc3, 0x84, 0xc3, 0x96, 0xc3, 0x9c,
	};
	static const unsigned char cmd[] = { 0xe2, 0x8c, 0x98 };

	ok(strlen("thingäöüÄÖÜ") == sizeof(thing) &&
	    memcmp("thingäöüÄÖÜ", thing, sizeof(thing)) == 0,
	    "B16 \"thingäöüÄÖÜ\" is the 17 UTF-8 bytes of the report");
	ok(strlen("⌘") == sizeof(cmd) && memcmp("⌘", cmd, sizeof(cmd)) == 0,
	    "B16 \"⌘\" is e2 8c 98");
	is_int(kp_partition(KP_PART_MURMUR2, "wu", 2, 0, 10, NULL), 0,
	    "B16 murmur2 \"wu\" N=10 -> 0");
	is_int((int32_t)kp_murmur2(thing, sizeof(thing)), 215785582,
	    "B16 murmur2(\"thingäöüÄÖÜ\") = 215785582");
	is_int(kp_partition(KP_PART_MURMUR2, thing, sizeof(thing), 0, 10,
	    NULL), 2, "B16 murmur2 \"thingäöüÄÖÜ\" N=10 -> 2");
	is_int(kp_partition(KP_PART_MURMUR2, cmd, sizeof(cmd), 0, 3, NULL), 2,
	    "B16 murmur2 \"⌘\" N=3 -> 2");
}

/*
 * B17. https://github.com/confluentinc/librdkafka/issues/4510: null and
 * empty keys differ across partitioners (librdkafka src/rdkafka_msg.c
 * rd_kafka_msg_partitioner_* @ 4c3b017c3de8).  The stream null, "", "a"
 * under each partitioner, N = 7 and 17; -1 is random.  null and "" come
 * from C3; "a" from librdkafka 2.0.2's own rd_kafka_msg_partitioner_*
 * (Debian librdkafka1), agreeing with Python zlib.crc32(b"a") = 0xe8b7be43
 * and FNV-1a("a") = 0xe40c292c, the FNV reference test vector.
 */
static const struct b17 {
	enum kp_partitioner p;
	int32_t n;
	int32_t null_key, empty_key, a_key;
} b17[] = {
	{ KP_PART_MURMUR2, 7, 2, 2, 5 },
	{ KP_PART_MURMUR2_RANDOM, 7, -1, 2, 5 },
	{ KP_PART_CONSISTENT, 7, 0, 0, 4 },
	{ KP_PART_CONSISTENT_RANDOM, 7, -1, -1, 4 },
	{ KP_PART_FNV1A, 7, 2, 2, 6 },
	{ KP_PART_FNV1A_RANDOM, 7, -1, 2, 6 },
	{ KP_PART_RANDOM, 7, -1, -1, -1 },
	{ KP_PART_MURMUR2, 17, 11, 11, 0 },
	{ KP_PART_MURMUR2_RANDOM, 17, -1, 11, 0 },
	{ KP_PART_CONSISTENT, 17, 0, 0, 9 },
	{ KP_PART_CONSISTENT_RANDOM, 17, -1, -1, 9 },
	{ KP_PART_FNV1A, 17, 0, 0, 16 },
	{ KP_PART_FNV1A_RANDOM, 17, -1, 0, 16 },
	{ KP_PART_RANDOM, 17, -1, -1, -1 },
};

static void
test_b17(void)
{
	size_t i;
	uint32_t st;

	for (i = 0; i < NELEM(b17); i++) {
		const struct b17 *v = &b17[i];

		check_place("B17", v->p, NULL, 0, 1, v->n, v->null_key);
		check_place("B17", v->p, "", 0, 0, v->n, v->empty_key);
		check_place("B17", v->p, "a", 1, 0, v->n, v->a_key);
	}
	/* A null flag wins over whatever key and len say; a non-null empty
	 * key may be a NULL pointer. */
	st = SEED;
	is_int(kp_partition(KP_PART_MURMUR2, "a", 1, 1, 7, &st), 2,
	    "B17 murmur2: a null key ignores the key bytes given");
	is_int(kp_partition(KP_PART_MURMUR2_RANDOM, NULL, 0, 0, 7, &st), 2,
	    "B17 murmur2_random: (NULL, 0) not flagged null is the empty key");
	ok(st == SEED, "B17 ... and neither drew from the random state");
	is_int(kp_partition(KP_PART_FNV1A_RANDOM, NULL, 0, 0, 17, NULL), 0,
	    "B17 fnv1a_random: (NULL, 0) not flagged null is the empty key");
	is_int(kp_partition(KP_PART_CONSISTENT_RANDOM, "a", 1, 0, 17, NULL), 9,
	    "B17 consistent_random keyed needs no random state");
}

/* A bitwise CRC-32 (reflected 0xedb88320), independent of the table. */
static uint32_t
crc32_bitwise(const unsigned char *p, size_t len)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int b;

	for (i = 0; i < len; i++) {
		c ^= p[i];
		for (b = 0; b < 8; b++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return ~c;
}

static void
test_hash_extra(void)
{
	unsigned char buf[300], byte;
	uint32_t st = SEED, want;
	size_t i, len;
	int bad;

	/* The CRC-32 check value of the CRC catalogue (CRC-32/ISO-HDLC),
	 * also Python's zlib.crc32(b"123456789"). */
	is_int(kp_crc32("123456789", 9), 0xcbf43926u,
	    "crc32(\"123456789\") = 0xcbf43926 (check value)");
	is_int(kp_crc32("a", 1), 0xe8b7be43u,
	    "crc32(\"a\") = 0xe8b7be43 (Python zlib)");
	/* Each single byte b goes through table entry b ^ 0xff: all 256. */
	for (i = 0, bad = -1; i < 256; i++) {
		byte = (unsigned char)i;
		if (kp_crc32(&byte, 1) != crc32_bitwise(&byte, 1) && bad < 0)
			bad = (int)i;
	}
	is_int(bad, -1, "crc32 of each single byte 0..255 (every table "
	    "entry) equals a bitwise CRC-32");
	for (len = 0, bad = -1; len <= sizeof(buf); len++) {
		for (i = 0; i < len; i++)
			buf[i] = (unsigned char)(kp_partition(KP_PART_RANDOM,
			    NULL, 0, 1, 256, &st));
		if (kp_crc32(buf, len) != crc32_bitwise(buf, len) && bad < 0)
			bad = (int)len;
	}
	is_int(bad, -1, "crc32 of pseudo-random buffers of 0..300 bytes "
	    "equals a bitwise CRC-32");

	/* FNV-1a("a") = 0xe40c292c (Fowler/Noll/Vo test vectors), negative
	 * as an int32, so rd_fnv1a returns its negation. */
	is_int(kp_fnv1a("a", 1), 0x100000000ull - 0xe40c292cull,
	    "fnv1a(\"a\") = -(int32)0xe40c292c");
	/* "hp4gi_" is a key whose FNV-1a is 0x80000000 (INT32_MIN): found by
	 * search here, checked with a Python FNV-1a.  librdkafka's int32
	 * negation wraps to itself; ours must give the same with no UB, and
	 * librdkafka 2.0.2 rd_kafka_msg_partitioner_fnv1a gives 2, 9, 48, 281
	 * for N = 7, 17, 100, 999 (= 2^31 % N, also Sarama's answer). */
	want = 0x80000000u;
	is_int(kp_fnv1a("hp4gi_", 6), want, "fnv1a(\"hp4gi_\") = 0x80000000");
	is_int(kp_partition(KP_PART_FNV1A, "hp4gi_", 6, 0, 7, NULL), 2,
	    "fnv1a \"hp4gi_\" N=7 -> 2");
	is_int(kp_partition(KP_PART_FNV1A, "hp4gi_", 6, 0, 17, NULL), 9,
	    "fnv1a \"hp4gi_\" N=17 -> 9");
	is_int(kp_partition(KP_PART_FNV1A_RANDOM, "hp4gi_", 6, 0, 100, NULL),
	    48, "fnv1a_random \"hp4gi_\" N=100 -> 48");
	is_int(kp_partition(KP_PART_FNV1A, "hp4gi_", 6, 0, 999, NULL), 281,
	    "fnv1a \"hp4gi_\" N=999 -> 281");

	/* Hashing must read only the bytes given: the same key embedded in
	 * a longer buffer hashes the same. */
	memcpy(buf, "kafkaXYZ", 8);
	is_int(kp_murmur2(buf, 5), 0xd067cf64u,
	    "murmur2 reads only len bytes of a longer buffer");
	is_int(kp_fnv1a(buf, 5), 0x0d33c4e1u,
	    "fnv1a reads only len bytes of a longer buffer");
	is_int(kp_crc32(buf, 5), 0x5bbc7517u,
	    "crc32 reads only len bytes of a longer buffer");
}

static void
test_names(void)
{
	static const struct {
		const char *name;
		enum kp_partitioner p;
	} names[] = {
		{ "murmur2", KP_PART_MURMUR2 },
		{ "murmur2_random", KP_PART_MURMUR2_RANDOM },
		{ "consistent", KP_PART_CONSISTENT },
		{ "consistent_random", KP_PART_CONSISTENT_RANDOM },
		{ "fnv1a", KP_PART_FNV1A },
		{ "fnv1a_random", KP_PART_FNV1A_RANDOM },
		{ "random", KP_PART_RANDOM },
	};
	static const char *const bad[] = {
		"", "Murmur2", "MURMUR2", "murmur2 ", " murmur2", "murmur",
		"crc32_random", "CRC32", "fnv1a_", "sticky", "default",
		"murmur2\n",
	};
	enum kp_partitioner p;
	size_t i;

	for (i = 0; i < NELEM(names); i++) {
		p = KP_PART_RANDOM;
		if (names[i].p == KP_PART_RANDOM)
			p = KP_PART_MURMUR2;
		is_int(kp_partitioner_parse(names[i].name, &p), 0,
		    "parse \"%s\" succeeds", names[i].name);
		is_int(p, names[i].p, "parse \"%s\" gives its partitioner",
		    names[i].name);
		is_str(kp_partitioner_name(names[i].p), names[i].name,
		    "name of partitioner %d is \"%s\"", (int)names[i].p,
		    names[i].name);
	}
	p = KP_PART_MURMUR2;
	is_int(kp_partitioner_parse("crc32", &p), 0, "parse \"crc32\" succeeds");
	is_int(p, KP_PART_CONSISTENT, "\"crc32\" is consistent");
	is_str(kp_partitioner_name(KP_PART_CONSISTENT), "consistent",
	    "consistent is named \"consistent\", not \"crc32\"");
	for (i = 0; i < NELEM(bad); i++) {
		p = KP_PART_FNV1A;
		is_int(kp_partitioner_parse(bad[i], &p), -1,
		    "parse \"%s\" fails", bad[i]);
		is_int(p, KP_PART_FNV1A, "failed parse \"%s\" leaves *out",
		    bad[i]);
	}
	is_int(kp_partitioner_parse(NULL, &p), -1, "parse NULL fails");
	ok(kp_partitioner_name((enum kp_partitioner)7) == NULL,
	    "name of a value past the enum is NULL");
	ok(kp_partitioner_name((enum kp_partitioner)-1) == NULL,
	    "name of a negative value is NULL");
}

static void
test_errors(void)
{
	uint32_t st = SEED;
	size_t i;

	for (i = 0; i < 7; i++) {
		enum kp_partitioner p = (enum kp_partitioner)i;

		is_int(kp_partition(p, "k", 1, 0, 0, &st), -1,
		    "%s with 0 partitions is -1", kp_partitioner_name(p));
		is_int(kp_partition(p, "k", 1, 0, -3, &st), -1,
		    "%s with -3 partitions is -1", kp_partitioner_name(p));
		is_int(kp_partition(p, NULL, 4, 0, 7, &st), -1,
		    "%s with a NULL non-null key of 4 bytes is -1",
		    kp_partitioner_name(p));
		is_int(kp_partition(p, "k", 1, 0, 1, &st), 0,
		    "%s with 1 partition is 0", kp_partitioner_name(p));
		is_int(kp_partition(p, NULL, 0, 1, 1, &st), 0,
		    "%s with 1 partition, null key, is 0",
		    kp_partitioner_name(p));
	}
	is_int(kp_partition((enum kp_partitioner)7, "k", 1, 0, 7, &st), -1,
	    "an unknown partitioner is -1");
	is_int(kp_partition(KP_PART_RANDOM, "k", 1, 0, 7, NULL), -1,
	    "random without a random state is -1");
	is_int(kp_partition(KP_PART_MURMUR2_RANDOM, NULL, 0, 1, 7, NULL), -1,
	    "murmur2_random null key without a random state is -1");
	is_int(kp_partition(KP_PART_CONSISTENT_RANDOM, "", 0, 0, 7, NULL), -1,
	    "consistent_random empty key without a random state is -1");
	is_int(kp_partition(KP_PART_MURMUR2, "21", 2, 0, INT32_MAX, NULL),
	    1173551340 % INT32_MAX, "murmur2 \"21\" N=INT32_MAX (C1 "
	    "toPositive %% N)");
}

static void
test_random(void)
{
	static const enum kp_partitioner rp[] = {
		KP_PART_MURMUR2_RANDOM, KP_PART_CONSISTENT_RANDOM,
		KP_PART_FNV1A_RANDOM, KP_PART_RANDOM,
	};
	static const uint32_t seeds[] = { 0, 1, SEED, 0xffffffffu };
	uint32_t a, b;
	int32_t x, y, n, counts[100];
	int i, same, differ, inrange, lo, hi, hits;
	size_t s, j;

	/* Deterministic: the same seed gives the same draws, whichever
	 * random partitioner draws them (null key: all four draw). */
	for (j = 0; j < NELEM(rp); j++) {
		a = b = SEED;
		for (i = same = 0; i < 1000; i++) {
			x = kp_partition(rp[j], NULL, 0, 1, 17, &a);
			y = kp_partition(rp[0], NULL, 0, 1, 17, &b);
			same += x == y;
		}
		is_int(same, 1000, "%s: 1000 draws from seed 0x%08x repeat "
		    "exactly", kp_partitioner_name(rp[j]), SEED);
		is_int(a, b, "%s: the states end equal",
		    kp_partitioner_name(rp[j]));
	}
	a = SEED;
	b = SEED + 1;
	for (i = differ = 0; i < 100; i++)
		differ += kp_partition(KP_PART_RANDOM, NULL, 0, 1, 1000, &a) !=
		    kp_partition(KP_PART_RANDOM, NULL, 0, 1, 1000, &b);
	ok(differ > 90, "different seeds give different draws (%d of 100 "
	    "differ)", differ);

	/* Every seed, 0 included, covers all partitions, evenly: 70,000
	 * draws over 7 partitions give each 10,000 +- 5%. */
	for (s = 0; s < NELEM(seeds); s++) {
		a = seeds[s];
		memset(counts, 0, sizeof(counts));
		for (i = inrange = 0; i < 70000; i++) {
			x = kp_partition(KP_PART_RANDOM, "k", 1, 0, 7, &a);
			if (x >= 0 && x < 7) {
				inrange++;
				counts[x]++;
			}
		}
		is_int(inrange, 70000, "seed 0x%08x: 70000 draws N=7 all in "
		    "range", seeds[s]);
		for (i = 0, lo = hi = counts[0]; i < 7; i++) {
			lo = counts[i] < lo ? counts[i] : lo;
			hi = counts[i] > hi ? counts[i] : hi;
		}
		ok(lo >= 9500 && hi <= 10500, "seed 0x%08x: each of 7 "
		    "partitions drawn 9500..10500 times (%d..%d)", seeds[s],
		    lo, hi);
	}
	a = SEED;
	memset(counts, 0, sizeof(counts));
	for (i = inrange = 0; i < 20000; i++) {
		x = kp_partition(KP_PART_CONSISTENT_RANDOM, "", 0, 0, 100, &a);
		if (x >= 0 && x < 100) {
			inrange++;
			counts[x] = 1;
		}
	}
	for (i = hits = 0; i < 100; i++)
		hits += counts[i];
	is_int(inrange, 20000, "consistent_random empty key N=100: 20000 "
	    "draws in range");
	is_int(hits, 100, "consistent_random empty key N=100: every "
	    "partition drawn");
	/* Large partition counts stay in range and spread. */
	n = INT32_MAX;
	a = SEED;
	for (i = inrange = differ = 0, y = -1; i < 1000; i++) {
		x = kp_partition(KP_PART_RANDOM, NULL, 0, 1, n, &a);
		inrange += x >= 0 && x < n;
		differ += x != y;
		y = x;
	}
	is_int(inrange, 1000, "N=INT32_MAX: 1000 draws in range");
	is_int(differ, 1000, "N=INT32_MAX: consecutive draws differ");
	/* The upper half of a large range is reached too (the top bits). */
	for (i = hits = 0; i < 1000; i++)
		hits += kp_partition(KP_PART_RANDOM, NULL, 0, 1, n, &a) >
		    n / 2;
	ok(hits > 400 && hits < 600, "N=INT32_MAX: about half the draws "
	    "above N/2 (%d of 1000)", hits);
}

int
main(void)
{
	test_c1();
	test_c2();
	test_c3();
	test_c4();
	test_c5();
	test_b16();
	test_b17();
	test_hash_extra();
	test_names();
	test_errors();
	test_random();
	return done_testing();
}
