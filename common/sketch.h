/* sketch.h - DDSketch, a mergeable quantile sketch with relative-error
 * guarantees, for kagg's quantile aggregates
 *
 * Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch
 * with Relative-Error Guarantees", PVLDB 12(12), 2019, arXiv:1908.10693,
 * with the conventions of DataDog's implementations (sketches-py,
 * sketches-go):
 *
 *  - Logarithmic index mapping (paper, section 2): with relative accuracy
 *    alpha, gamma = (1 + alpha) / (1 - alpha); a value x > 0 goes to the
 *    bucket with key i = ceil(log(x) / log(gamma)), which holds
 *    (gamma^(i-1), gamma^i].  The estimate for bucket i is
 *    2 * gamma^i / (gamma + 1) = (1 + alpha) * gamma^(i-1), whose relative
 *    error to every value of the bucket is at most alpha.
 *  - Positive values and the magnitudes of negative values go to two
 *    separate stores with the same mapping; zero and every |x| below
 *    min_indexable = DBL_MIN * gamma (about 2.2e-308) go to a zero count.
 *  - Each store is dense (one uint64 count per key between its lowest and
 *    highest non-empty key), grows as needed, and holds at most
 *    max_buckets keys (default 2048).  When a new key would exceed that,
 *    the lowest keys collapse into the lowest key kept (paper, section 2,
 *    the bounded-size variant; DataDog's CollapsingLowestDenseStore): a
 *    value with key k is counted at max(k, highest_key - max_buckets + 1),
 *    whatever the order of the additions.  For the negative store the
 *    lowest keys are the smallest magnitudes, those nearest zero (as
 *    DataDog does).  Only quantiles that land in a collapsed bucket lose
 *    the alpha guarantee (they are over-estimated in magnitude); at alpha
 *    0.01, 2048 buckets cover a dynamic range of gamma^2048, about 6e17.
 *  - Quantile rank, as DataDog's get_quantile_value(): for n values,
 *    rank = q * (n - 1), and the estimate is that of the bucket holding the
 *    value at 0-based index floor(q * (n - 1)) of the sorted input ("lower"
 *    rank, no interpolation).  So q = 0 estimates the minimum, q = 1 the
 *    maximum, and for n = 5, q = 0.9 the 4th smallest value.
 *
 * A struct kp_sketch is owned by its caller (embed or allocate it); it owns
 * its bucket arrays, released by kp_sketch_free().  Not thread-safe.
 * Functions that fail set errno: EINVAL for bad arguments or input, ENOMEM.
 */
#ifndef KP_SKETCH_H
#define KP_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#define KP_SKETCH_DEFAULT_ALPHA		0.01
#define KP_SKETCH_DEFAULT_MAX_BUCKETS	2048
#define KP_SKETCH_MIN_ALPHA		1e-6	/* keys stay well inside int32 */
#define KP_SKETCH_MAX_BUCKETS_LIMIT	(1u << 20) /* 8 MiB per store */
#define KP_SKETCH_VERSION		1	/* first byte of the encoding */

/* One dense store of counts; internal, read-only for callers. */
struct kp_sketch_store {
	uint64_t *bins;		/* bins[i] counts key offset + i; may be NULL */
	int64_t offset;		/* key of bins[0] */
	uint32_t cap;		/* allocated entries of bins */
	int64_t min_key;	/* lowest and highest non-empty key: */
	int64_t max_key;	/*   valid only when count > 0 */
	uint64_t count;		/* sum of bins */
};

/* Fields are read-only for callers; use the functions below. */
struct kp_sketch {
	double alpha;		/* relative accuracy */
	double gamma;		/* (1 + alpha) / (1 - alpha) */
	double ln_gamma;	/* log(gamma) */
	double multiplier;	/* 1 / log(gamma) */
	double min_indexable;	/* |x| below this counts as zero */
	double max_indexable;	/* |x| above this is refused */
	int64_t key_lo, key_hi;	/* keys of min_indexable, max_indexable */
	uint32_t max_buckets;	/* per store */
	uint64_t zero_count;
	struct kp_sketch_store pos;	/* keys of x > 0 */
	struct kp_sketch_store neg;	/* keys of -x for x < 0 */
};

/*
 * kp_sketch_init - make s an empty sketch with relative accuracy alpha
 * (KP_SKETCH_MIN_ALPHA <= alpha < 1; KP_SKETCH_DEFAULT_ALPHA is 0.01) and
 * KP_SKETCH_DEFAULT_MAX_BUCKETS buckets per store.  Allocates nothing.
 * Returns 0, or -1 (EINVAL) for a bad alpha, leaving s empty but unusable
 * (kp_sketch_free() is still safe).
 */
int kp_sketch_init(struct kp_sketch *s, double alpha);

/*
 * kp_sketch_init_bounded - as kp_sketch_init() with max_buckets buckets
 * per store (1 .. KP_SKETCH_MAX_BUCKETS_LIMIT).
 */
int kp_sketch_init_bounded(struct kp_sketch *s, double alpha,
    uint32_t max_buckets);

/*
 * kp_sketch_add - count the value v.  Returns 0; -1 with EINVAL when v is
 * NaN or infinite or |v| > s->max_indexable (DBL_MAX / gamma, about
 * 1.76e308 at alpha 0.01) or the count is already UINT64_MAX, or -1 with
 * ENOMEM; on -1 s is unchanged.
 */
int kp_sketch_add(struct kp_sketch *s, double v);

/*
 * kp_sketch_merge - add every value counted by src to dst (src is not
 * changed; dst == src doubles every count).  Requires the same alpha
 * (bit-equal); dst keeps its own max_buckets.  The result has the same
 * buckets as one sketch fed with both inputs, in any order (the paper's full
 * mergeability), provided src->max_buckets >= dst->max_buckets.
 * Returns 0; -1 with EINVAL (different alpha, or the total count would
 * overflow uint64) or ENOMEM, and then dst is unchanged.
 */
int kp_sketch_merge(struct kp_sketch *dst, const struct kp_sketch *src);

/*
 * kp_sketch_quantile - the estimate of the q-quantile, 0 <= q <= 1, with
 * the rank rule at the top (index floor(q * (n - 1)) of the sorted input).
 * Its relative error to that input value is at most alpha unless the value
 * fell into a collapsed bucket; zeros come back as exactly 0.  Returns NaN
 * when the sketch is empty or q is outside [0, 1] or NaN.
 */
double kp_sketch_quantile(const struct kp_sketch *s, double q);

/* kp_sketch_count - how many values the sketch counts (zeros included). */
uint64_t kp_sketch_count(const struct kp_sketch *s);

/*
 * kp_sketch_free - release the bucket arrays.  s is then an empty sketch
 * with the same parameters and may be used again, or dropped.
 */
void kp_sketch_free(struct kp_sketch *s);

/*
 * Serialisation for the state store and its changelog.  Layout, version 1,
 * every multi-byte field little-endian:
 *
 *   offset  size  field
 *   0       1     version = KP_SKETCH_VERSION (1)
 *   1       8     alpha, IEEE 754 binary64
 *   9       4     max_buckets, uint32
 *   13      8     zero_count, uint64
 *   21            positive store, then negative store, each:
 *                   4  nbins, uint32 (0 = empty store; nothing follows)
 *                   4  min_key, int32 (key of the first count)
 *                   .. nbins counts, unsigned LEB128 varints (1..10 bytes,
 *                      minimal), for keys min_key .. min_key + nbins - 1;
 *                      the first and the last are non-zero
 *
 * The encoding of a sketch is canonical: two sketches with the same
 * parameters and buckets encode to the same bytes.
 */

/* kp_sketch_encoded_size - the exact number of bytes kp_sketch_encode()
 * writes for s (at least 29). */
size_t kp_sketch_encoded_size(const struct kp_sketch *s);

/* kp_sketch_encode - write s into buf, which holds at least
 * kp_sketch_encoded_size(s) bytes; returns the number of bytes written. */
size_t kp_sketch_encode(const struct kp_sketch *s, void *buf);

/*
 * kp_sketch_decode - make s the sketch encoded in buf[0 .. len).  s is
 * overwritten without being freed: pass an uninitialised or freed sketch.
 * Returns 0; -1 with EINVAL when the input is not exactly one valid
 * encoding (unknown version, alpha or max_buckets out of range, truncated,
 * trailing bytes, a store wider than max_buckets or outside the keys of
 * alpha, non-minimal varints, zero edge counts, a total count overflowing
 * uint64), or ENOMEM; on -1 s is zeroed (kp_sketch_free() is safe, nothing
 * else is).  Never reads outside buf[0 .. len).
 */
int kp_sketch_decode(struct kp_sketch *s, const void *buf, size_t len);

#endif
