/* u-sketch.c - tests of common/sketch.c, the DDSketch quantile sketch.
 *
 * Oracles: exact quantiles computed here by sorting the input (the value
 * at 0-based index floor(q * (n - 1)), the rank rule of sketch.h and of
 * DataDog's sketches-py get_quantile_value()); the relative-error bound
 * alpha of Masson, Rim, Lee, "DDSketch", PVLDB 12(12) 2019
 * (https://arxiv.org/abs/1908.10693); bucket keys and estimates worked
 * with Python's math module from the paper's formulas
 * (key = ceil(log(x) / log(gamma)), estimate = 2 gamma^key / (gamma + 1));
 * and byte layouts written by hand from the layout in sketch.h.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "sketch.h"

#define N 20000

/* splitmix64: a fixed-seed generator, so every run sees the same data. */
static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double
unif(void)
{
	return ((double)(rng() >> 11) + 0.5) / 9007199254740992.0;
}

/* Standard normal, Box-Muller. */
static double
normal(void)
{
	return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif());
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* |got - want| <= tol * |want|, with exact 0 for want 0. */
static int
close_rel(double got, double want, double tol)
{
	if (want == 0)
		return got == 0;
	return fabs(got - want) <= tol * fabs(want);
}

static int
same_encoding(const struct kp_sketch *a, const struct kp_sketch *b)
{
	size_t na = kp_sketch_encoded_size(a), nb = kp_sketch_encoded_size(b);
	unsigned char *ba, *bb;
	int same;

	if (na != nb)
		return 0;
	ba = malloc(na);
	bb = malloc(nb);
	same = ba && bb && kp_sketch_encode(a, ba) == na &&
	    kp_sketch_encode(b, bb) == nb && memcmp(ba, bb, na) == 0;
	free(ba);
	free(bb);
	return same;
}

static void
test_init(void)
{
	struct kp_sketch s;

	is_int(kp_sketch_init(&s, KP_SKETCH_DEFAULT_ALPHA), 0, "init 0.01");
	ok(s.max_buckets == 2048, "default max buckets 2048");
	/* gamma = 1.01 / 0.99 = 1.0202020202..., log = 0.0200006667... */
	ok(close_rel(s.gamma, 1.02020202020202, 1e-14), "gamma");
	ok(close_rel(s.ln_gamma, 0.020000666706669435, 1e-14), "log gamma");
	kp_sketch_free(&s);
	errno = 0;
	is_int(kp_sketch_init(&s, 0), -1, "alpha 0 rejected");
	is_int(errno, EINVAL, "EINVAL");
	is_int(kp_sketch_init(&s, -0.01), -1, "alpha < 0 rejected");
	is_int(kp_sketch_init(&s, 1), -1, "alpha 1 rejected");
	is_int(kp_sketch_init(&s, NAN), -1, "alpha NaN rejected");
	is_int(kp_sketch_init(&s, 1e-7), -1, "alpha below 1e-6 rejected");
	is_int(kp_sketch_init_bounded(&s, 0.01, 0), -1, "0 buckets rejected");
	is_int(kp_sketch_init_bounded(&s, 0.01,
	    KP_SKETCH_MAX_BUCKETS_LIMIT + 1), -1, "too many buckets rejected");
	kp_sketch_free(&s);	/* safe after a failed init */
}

static void
test_empty_and_errors(void)
{
	struct kp_sketch s;

	kp_sketch_init(&s, 0.01);
	ok(isnan(kp_sketch_quantile(&s, 0.5)), "empty: p50 is NaN");
	ok(isnan(kp_sketch_quantile(&s, 0)), "empty: p0 is NaN");
	ok(isnan(kp_sketch_quantile(&s, 1)), "empty: p100 is NaN");
	is_int(kp_sketch_count(&s), 0, "empty: count 0");
	is_int(kp_sketch_add(&s, NAN), -1, "add NaN fails");
	is_int(kp_sketch_add(&s, INFINITY), -1, "add +inf fails");
	is_int(kp_sketch_add(&s, -INFINITY), -1, "add -inf fails");
	is_int(kp_sketch_add(&s, DBL_MAX), -1, "add DBL_MAX (> DBL_MAX/gamma)");
	is_int(kp_sketch_add(&s, -DBL_MAX), -1, "add -DBL_MAX");
	is_int(kp_sketch_count(&s), 0, "failed adds count nothing");
	is_int(kp_sketch_add(&s, 1), 0, "add 1");
	ok(isnan(kp_sketch_quantile(&s, -0.01)), "q < 0 is NaN");
	ok(isnan(kp_sketch_quantile(&s, 1.01)), "q > 1 is NaN");
	ok(isnan(kp_sketch_quantile(&s, NAN)), "q NaN is NaN");
	/* The largest accepted magnitude gives a finite estimate. */
	is_int(kp_sketch_add(&s, s.max_indexable), 0, "add max_indexable");
	is_int(kp_sketch_add(&s, -s.max_indexable), 0, "add -max_indexable");
	ok(isfinite(kp_sketch_quantile(&s, 1)) &&
	    close_rel(kp_sketch_quantile(&s, 1), s.max_indexable, 0.01),
	    "max_indexable estimate finite, within alpha");
	ok(close_rel(kp_sketch_quantile(&s, 0), -s.max_indexable, 0.01),
	    "-max_indexable estimate finite, within alpha");
	kp_sketch_free(&s);
	is_int(kp_sketch_count(&s), 0, "free leaves an empty sketch");
	is_int(kp_sketch_add(&s, 2), 0, "reusable after free");
	is_int(kp_sketch_count(&s), 1, "count 1 after reuse");
	kp_sketch_free(&s);
}

/*
 * Hand-worked (alpha 0.01, gamma = 1.0202020202, values from Python):
 *   x   key = ceil(ln x / ln gamma)   estimate 2 gamma^key / (gamma + 1)
 *   1     0                            0.99            (exactly 1 - alpha)
 *   2    35                            1.9936617014173446
 *   3    55                            2.9742334234767016
 *   4    70                            4.0148353330285875
 *   5    81                            5.002829575110705
 *   100  231                           100.49456770856492
 */
static void
test_hand(void)
{
	struct kp_sketch s;
	const double e1 = 0.99, e2 = 1.9936617014173446,
	    e3 = 2.9742334234767016, e4 = 4.0148353330285875,
	    e5 = 5.002829575110705, e100 = 100.49456770856492;
	int i;

	kp_sketch_init(&s, 0.01);
	kp_sketch_add(&s, 1);
	ok(close_rel(kp_sketch_quantile(&s, 0.5), e1, 1e-12),
	    "{1}: p50 = 0.99, error exactly alpha (bucket (0.980, 1])");
	kp_sketch_free(&s);

	/* {1..5}, n = 5: rank q*4; index floor(rank). */
	kp_sketch_init(&s, 0.01);
	for (i = 5; i >= 1; i--)
		kp_sketch_add(&s, i);
	ok(close_rel(kp_sketch_quantile(&s, 0), e1, 1e-12),
	    "{1..5} q 0: rank 0 -> 1 -> 0.99");
	ok(close_rel(kp_sketch_quantile(&s, 0.24), e1, 1e-12),
	    "{1..5} q 0.24: rank 0.96 -> index 0 -> 1");
	ok(close_rel(kp_sketch_quantile(&s, 0.25), e2, 1e-12),
	    "{1..5} q 0.25: rank 1 -> 2");
	ok(close_rel(kp_sketch_quantile(&s, 0.5), e3, 1e-12),
	    "{1..5} q 0.5: rank 2 -> 3");
	ok(close_rel(kp_sketch_quantile(&s, 0.9), e4, 1e-12),
	    "{1..5} q 0.9: rank 3.6 -> index 3 -> 4 (lower rank)");
	ok(close_rel(kp_sketch_quantile(&s, 1), e5, 1e-12),
	    "{1..5} q 1: rank 4 -> 5");
	is_int(kp_sketch_count(&s), 5, "{1..5} count");
	kp_sketch_free(&s);

	/* {-5..-1}: sorted -5 -4 -3 -2 -1, same ranks. */
	kp_sketch_init(&s, 0.01);
	for (i = 1; i <= 5; i++)
		kp_sketch_add(&s, -i);
	ok(close_rel(kp_sketch_quantile(&s, 0), -e5, 1e-12),
	    "{-5..-1} q 0 -> -5");
	ok(close_rel(kp_sketch_quantile(&s, 0.24), -e5, 1e-12),
	    "{-5..-1} q 0.24: index 0 -> -5");
	ok(close_rel(kp_sketch_quantile(&s, 0.25), -e4, 1e-12),
	    "{-5..-1} q 0.25: index 1 -> -4");
	ok(close_rel(kp_sketch_quantile(&s, 0.5), -e3, 1e-12),
	    "{-5..-1} q 0.5 -> -3");
	ok(close_rel(kp_sketch_quantile(&s, 0.9), -e2, 1e-12),
	    "{-5..-1} q 0.9: index 3 -> -2");
	ok(close_rel(kp_sketch_quantile(&s, 1), -e1, 1e-12),
	    "{-5..-1} q 1 -> -1");
	kp_sketch_free(&s);

	/*
	 * {-2, 0, 1e-310, 100}: 1e-310 is subnormal, below min_indexable
	 * (DBL_MIN * gamma), so it counts as zero.  Sorted -2 0 0 100, n 4,
	 * rank 3q.
	 */
	kp_sketch_init(&s, 0.01);
	kp_sketch_add(&s, 100);
	kp_sketch_add(&s, 0);
	kp_sketch_add(&s, -2);
	kp_sketch_add(&s, 1e-310);
	is_int(s.zero_count, 2, "0 and 1e-310 in the zero count");
	ok(close_rel(kp_sketch_quantile(&s, 0), -e2, 1e-12),
	    "mixed q 0 -> -2");
	ok(kp_sketch_quantile(&s, 0.34) == 0, "mixed q 0.34: index 1 -> 0");
	ok(kp_sketch_quantile(&s, 0.67) == 0, "mixed q 0.67: 2.01 -> 0");
	ok(close_rel(kp_sketch_quantile(&s, 1), e100, 1e-12),
	    "mixed q 1 -> 100");
	kp_sketch_free(&s);
}

enum dist { UNIFORM, EXPONENTIAL, LOGNORMAL, SPAN, MIXED, NDIST };
static const char *dist_name[] = {
	"uniform(0,1000)", "exponential(1)", "lognormal(0,2)",
	"log-uniform 1e-3..1e6", "mixed negatives, zeros, positives",
};

static double
draw(enum dist d)
{
	double u;

	switch (d) {
	case UNIFORM:
		return 1000 * unif();
	case EXPONENTIAL:
		return -log(unif());
	case LOGNORMAL:
		return exp(2 * normal());
	case SPAN:
		return pow(10, -3 + 9 * unif());
	default:
		u = unif();
		if (u < 0.1)
			return 0;
		if (u < 0.4)
			return -exp(1.5 * normal());
		return exp(normal()) * 10;
	}
}

/* Relative error <= alpha at every quantile, against the sorted input. */
static void
test_accuracy(double alpha)
{
	static const double qs[] = { 0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95,
	    0.99, 0.999, 1 };
	static double v[N];
	struct kp_sketch s;
	enum dist d;
	size_t i, j;
	double want, got, worst;

	for (d = 0; d < NDIST; d++) {
		rng_state = 42 + d;
		kp_sketch_init(&s, alpha);
		for (i = 0; i < N; i++) {
			v[i] = draw(d);
			kp_sketch_add(&s, v[i]);
		}
		qsort(v, N, sizeof(v[0]), cmp_double);
		is_int(kp_sketch_count(&s), N, "%s: count", dist_name[d]);
		for (j = 0; j < sizeof(qs) / sizeof(qs[0]); j++) {
			want = v[(size_t)floor(qs[j] * (double)(N - 1))];
			got = kp_sketch_quantile(&s, qs[j]);
			/* alpha, plus rounding of log/exp near bucket edges */
			ok(close_rel(got, want, alpha + 1e-12),
			    "%s alpha %g: q %g, exact %.9g, sketch %.9g",
			    dist_name[d], alpha, qs[j], want, got);
		}
		/* Every 1/1000 quantile, counted once. */
		worst = 0;
		for (j = 0; j <= 1000; j++) {
			want = v[(size_t)floor(j / 1000.0 * (N - 1))];
			got = kp_sketch_quantile(&s, j / 1000.0);
			if (want == 0)
				worst = got == 0 ? worst : INFINITY;
			else if (fabs(got - want) / fabs(want) > worst)
				worst = fabs(got - want) / fabs(want);
		}
		ok(worst <= alpha + 1e-12, "%s alpha %g: worst of 1001 "
		    "quantiles %.6g <= alpha", dist_name[d], alpha, worst);
		kp_sketch_free(&s);
	}
}

/* merge(A, B) has the same buckets (same encoding) as sketch(A u B). */
static void
test_merge(uint32_t max_buckets, const char *what)
{
	struct kp_sketch a, b, all, c, odd;
	double x;
	int i;

	kp_sketch_init_bounded(&a, 0.01, max_buckets);
	kp_sketch_init_bounded(&b, 0.01, max_buckets);
	kp_sketch_init_bounded(&all, 0.01, max_buckets);
	rng_state = 7;
	for (i = 0; i < N; i++) {
		/* A holds small values, B large ones: different ranges, so
		 * B's keys extend A's store (and collapse it if bounded). */
		x = i % 2 ? draw(MIXED) : draw(SPAN) * 1e3;
		kp_sketch_add(i % 2 ? &a : &b, x);
		kp_sketch_add(&all, x);
	}
	is_int(kp_sketch_merge(&a, &b), 0, "%s: merge", what);
	/* Positive keys span about ln(1e9 / 0.03) / 0.02 = 1200 buckets:
	 * more than 64 (collapsed to the cap), fewer than 2048. */
	ok(max_buckets == 2048 ? a.pos.max_key - a.pos.min_key + 1 < 2048 :
	    a.pos.max_key - a.pos.min_key + 1 == (int64_t)max_buckets,
	    "%s: positive store %s", what, max_buckets == 2048 ?
	    "not collapsed" : "collapsed to its cap");
	ok(same_encoding(&a, &all), "%s: merge(A,B) == sketch(A u B)", what);
	is_int(kp_sketch_count(&a), N, "%s: merged count", what);
	ok(kp_sketch_quantile(&a, 0.37) == kp_sketch_quantile(&all, 0.37),
	    "%s: same p37", what);

	/* Merge the other way round, and into an empty sketch. */
	kp_sketch_init_bounded(&c, 0.01, max_buckets);
	kp_sketch_merge(&c, &b);
	rng_state = 7;
	for (i = 0; i < N; i++) {
		x = i % 2 ? draw(MIXED) : draw(SPAN) * 1e3;
		if (i % 2)
			kp_sketch_add(&c, x);
	}
	ok(same_encoding(&c, &all), "%s: B then A's values == union", what);
	kp_sketch_free(&c);

	/* Different alpha: refused, dst unchanged. */
	kp_sketch_init(&odd, 0.02);
	kp_sketch_add(&odd, 3);
	kp_sketch_init_bounded(&c, 0.01, max_buckets);
	kp_sketch_merge(&c, &b);
	errno = 0;
	is_int(kp_sketch_merge(&c, &odd), -1, "%s: alpha 0.02 into 0.01",
	    what);
	is_int(errno, EINVAL, "%s: EINVAL", what);
	is_int(kp_sketch_count(&c), kp_sketch_count(&b),
	    "%s: dst unchanged", what);

	/* Merging an empty sketch changes nothing. */
	kp_sketch_free(&odd);
	kp_sketch_init_bounded(&odd, 0.01, max_buckets);
	is_int(kp_sketch_merge(&c, &odd), 0, "%s: merge empty", what);
	ok(same_encoding(&c, &b), "%s: merge empty is identity", what);

	/* Self merge doubles every count. */
	is_int(kp_sketch_merge(&c, &c), 0, "%s: self merge", what);
	is_int(kp_sketch_count(&c), 2 * kp_sketch_count(&b),
	    "%s: self merge doubles count", what);
	kp_sketch_merge(&b, &b);
	kp_sketch_merge(&odd, &b);
	ok(same_encoding(&c, &odd), "%s: self merge == merge of a copy", what);

	kp_sketch_free(&a);
	kp_sketch_free(&b);
	kp_sketch_free(&c);
	kp_sketch_free(&all);
	kp_sketch_free(&odd);
}

/*
 * Collapsing with 16 buckets.  Values 1..1000 have keys 0 ..
 * ceil(ln 1000 / 0.0200006667) = ceil(345.37) = 346 (Python), so only
 * keys 331..346 are kept and every value with key <= 331, i.e. x <=
 * gamma^331 = 750.11 (Python), sits in bucket 331, whose estimate is
 * 2 gamma^331 / (gamma + 1) = 742.61 (Python).
 */
static void
test_collapse(void)
{
	struct kp_sketch up, down, shuf, half;
	int i, j, t, perm[1000];

	kp_sketch_init_bounded(&up, 0.01, 16);
	kp_sketch_init_bounded(&down, 0.01, 16);
	kp_sketch_init_bounded(&shuf, 0.01, 16);
	kp_sketch_init_bounded(&half, 0.01, 16);
	for (i = 0; i < 1000; i++)
		perm[i] = i + 1;
	rng_state = 99;
	for (i = 999; i > 0; i--) {
		j = (int)(rng() % (uint64_t)(i + 1));
		t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 1; i <= 1000; i++) {
		kp_sketch_add(&up, i);
		kp_sketch_add(&down, 1001 - i);
		kp_sketch_add(&shuf, perm[i - 1]);
	}
	is_int(up.pos.max_key, 346, "collapse: highest key 346");
	is_int(up.pos.min_key, 331, "collapse: lowest key kept 331");
	is_int(kp_sketch_count(&up), 1000, "collapse keeps the count");
	ok(same_encoding(&up, &down), "collapse: ascending == descending");
	ok(same_encoding(&up, &shuf), "collapse: ascending == shuffled");
	/* p99: index floor(0.99 * 999) = 989 -> 990, key 345, kept. */
	ok(close_rel(kp_sketch_quantile(&up, 0.99), 990, 0.01),
	    "collapse: p99 still within alpha");
	ok(close_rel(kp_sketch_quantile(&up, 1), 1000, 0.01),
	    "collapse: max still within alpha");
	/* p50: index floor(0.5 * 999) = 499 -> 500, key 311 (Python:
	 * ln 500 / ln gamma = 310.72), collapsed into bucket 331: 742.61. */
	ok(close_rel(kp_sketch_quantile(&up, 0.5), 742.60950705708, 1e-9),
	    "collapse: p50 over-estimated to the lowest kept bucket");
	/* Merge of two collapsed halves == the whole. */
	for (i = 1; i <= 500; i++)
		kp_sketch_add(&half, i);
	kp_sketch_free(&down);
	kp_sketch_init_bounded(&down, 0.01, 16);
	for (i = 501; i <= 1000; i++)
		kp_sketch_add(&down, i);
	kp_sketch_merge(&half, &down);
	ok(same_encoding(&half, &up), "collapse: merge of halves == whole");
	/* A merge into a sketch with fewer buckets collapses further. */
	kp_sketch_free(&down);
	kp_sketch_init_bounded(&down, 0.01, 4);
	kp_sketch_merge(&down, &up);
	ok(down.pos.min_key == 343 && down.pos.max_key == 346 &&
	    kp_sketch_count(&down) == 1000, "merge into 4 buckets: 343..346");
	kp_sketch_free(&up);
	kp_sketch_free(&down);
	kp_sketch_free(&shuf);
	kp_sketch_free(&half);
}

/*
 * The layout of sketch.h, by hand: {0, 1, 1, 1, 1.03, -2 x 300} at alpha
 * 0.01.  Keys: 1 -> 0; 1.03 -> ceil(0.029559 / 0.020001) = 2; 2 -> 35.
 */
static const unsigned char hand_enc[] = {
	0x01,					/* version */
	0x7b, 0x14, 0xae, 0x47, 0xe1, 0x7a, 0x84, 0x3f,	/* 0.01 */
	0x00, 0x08, 0x00, 0x00,			/* max_buckets 2048 */
	0x01, 0, 0, 0, 0, 0, 0, 0,		/* zero_count 1 */
	0x03, 0x00, 0x00, 0x00,			/* pos: 3 bins */
	0x00, 0x00, 0x00, 0x00,			/*   min_key 0 */
	0x03, 0x00, 0x01,			/*   keys 0, 1, 2 */
	0x01, 0x00, 0x00, 0x00,			/* neg: 1 bin */
	0x23, 0x00, 0x00, 0x00,			/*   min_key 35 */
	0xac, 0x02,				/*   300, LEB128 */
};

static void
test_encoding(void)
{
	struct kp_sketch s, d, e;
	unsigned char *buf, *bad;
	size_t n, cut, k;
	int i, rc, fails, crashes_avoided;

	kp_sketch_init(&s, 0.01);
	kp_sketch_add(&s, 1);
	kp_sketch_add(&s, 0);
	kp_sketch_add(&s, 1.03);
	kp_sketch_add(&s, 1);
	for (i = 0; i < 300; i++)
		kp_sketch_add(&s, -2);
	kp_sketch_add(&s, 1);
	n = kp_sketch_encoded_size(&s);
	is_int(n, sizeof(hand_enc), "hand sketch: encoded size 42");
	buf = malloc(n);
	is_int(kp_sketch_encode(&s, buf), n, "encode writes the size");
	ok(memcmp(buf, hand_enc, n) == 0, "encoding == hand-written bytes");
	is_int(kp_sketch_decode(&d, hand_enc, sizeof(hand_enc)), 0,
	    "decode hand-written bytes");
	ok(same_encoding(&d, &s), "decoded == original");
	is_int(kp_sketch_count(&d), 305, "decoded count 305");
	/* n 305, rank 304q: index 299 is the last -2, 300 the zero. */
	ok(close_rel(kp_sketch_quantile(&d, 299.5 / 304), -1.9936617014173446,
	    1e-12), "decoded: rank 299.5 -> index 299 -> -2");
	ok(kp_sketch_quantile(&d, 300.5 / 304) == 0,
	    "decoded: rank 300.5 -> index 300 -> 0");
	ok(close_rel(kp_sketch_quantile(&d, 1), 2 * pow(1.01 / 0.99, 2) /
	    (1.01 / 0.99 + 1), 1e-12), "decoded: max -> bucket 2");
	/* A decoded sketch keeps working. */
	is_int(kp_sketch_add(&d, 5), 0, "add after decode");
	is_int(kp_sketch_merge(&d, &s), 0, "merge after decode");
	is_int(kp_sketch_count(&d), 611, "count after add and merge");
	kp_sketch_free(&d);

	/* Empty sketch: 21 + 4 + 4 bytes. */
	kp_sketch_init(&e, 0.05);
	is_int(kp_sketch_encoded_size(&e), 29, "empty: 29 bytes");
	{
		unsigned char eb[29];

		kp_sketch_encode(&e, eb);
		is_int(kp_sketch_decode(&d, eb, sizeof(eb)), 0,
		    "empty round trip");
		ok(isnan(kp_sketch_quantile(&d, 0.5)) && d.alpha == 0.05,
		    "empty decoded: NaN, alpha 0.05");
		kp_sketch_free(&d);
	}

	/* Large round trip. */
	kp_sketch_free(&e);
	kp_sketch_init(&e, 0.01);
	rng_state = 3;
	for (i = 0; i < N; i++)
		kp_sketch_add(&e, draw(MIXED));
	free(buf);
	n = kp_sketch_encoded_size(&e);
	buf = malloc(n);
	kp_sketch_encode(&e, buf);
	is_int(kp_sketch_decode(&d, buf, n), 0, "large round trip decodes");
	ok(same_encoding(&d, &e), "large round trip: same buckets");
	ok(kp_sketch_quantile(&d, 0.9) == kp_sketch_quantile(&e, 0.9),
	    "large round trip: same p90");
	kp_sketch_free(&d);

	/* Every truncation fails, and leaves a zeroed sketch. */
	fails = 0;
	for (cut = 0; cut < n; cut++) {
		errno = 0;
		if (kp_sketch_decode(&d, buf, cut) == -1 && errno == EINVAL &&
		    d.pos.bins == NULL && d.neg.bins == NULL)
			fails++;
		kp_sketch_free(&d);
	}
	is_int(fails, n, "all %zu truncations rejected", n);
	is_int(kp_sketch_decode(&d, NULL, 0), -1, "NULL buffer rejected");

	/* Trailing byte. */
	bad = malloc(n + 1);
	memcpy(bad, buf, n);
	bad[n] = 0;
	is_int(kp_sketch_decode(&d, bad, n + 1), -1, "trailing byte rejected");
	free(bad);

	/* Field by field on the hand-written encoding. */
	bad = malloc(sizeof(hand_enc));
#define MUTATE(off, val, name) do {					\
	memcpy(bad, hand_enc, sizeof(hand_enc));			\
	bad[off] = (val);						\
	is_int(kp_sketch_decode(&d, bad, sizeof(hand_enc)), -1, name);	\
} while (0)
	MUTATE(0, 0x02, "version 2 rejected");
	MUTATE(0, 0x00, "version 0 rejected");
	MUTATE(8, 0xff, "alpha NaN (0xff.. exponent) rejected");
	/* offsets: 0 version, 1-8 alpha, 9-12 max_buckets, 13-20 zero,
	 * 21-24 pos nbins, 25-28 pos min_key, 29-31 counts, 32-35 neg
	 * nbins, 36-39 neg min_key, 40-41 count */
	MUTATE(8, 0x40, "alpha 0x4084.. = 655 rejected");
	MUTATE(10, 0x00, "max_buckets 0 rejected");
	MUTATE(12, 0x01, "max_buckets 2^24 + 2048 > limit rejected");
	MUTATE(21, 0x00, "pos nbins 0 with bytes after it rejected");
	MUTATE(24, 0x01, "pos nbins 2^24 + 3 > max_buckets rejected");
	MUTATE(29, 0x00, "pos first count 0 rejected");
	MUTATE(31, 0x00, "pos last count 0 rejected");
	MUTATE(30, 0x80, "pos varint spilling into the next field rejected");
	MUTATE(35, 0x80, "neg nbins 2^31 + 1 rejected");
	MUTATE(39, 0x80, "neg min_key -2^31 + 35 below key_lo rejected");
	MUTATE(39, 0x7f, "neg min_key 0x7f000023 above key_hi rejected");
	MUTATE(41, 0x00, "neg varint 0xac 0x00 (non-minimal) rejected");
#undef MUTATE
	/* Non-minimal varint: 3 as 0x83 0x00. */
	{
		unsigned char nm[sizeof(hand_enc) + 1];

		memcpy(nm, hand_enc, 29);
		nm[29] = 0x83;
		nm[30] = 0x00;
		memcpy(nm + 31, hand_enc + 30, sizeof(hand_enc) - 30);
		is_int(kp_sketch_decode(&d, nm, sizeof(nm)), -1,
		    "non-minimal varint rejected");
	}
	/* A 10-byte varint of 2^64 - 1 overflows the total with zero 1. */
	{
		unsigned char big[60];
		size_t m = 0;

		memcpy(big, hand_enc, 21);	/* zero_count 1 */
		m = 21;
		memcpy(big + m, "\x01\0\0\0\0\0\0\0", 8);	/* 1 bin, key 0 */
		m += 8;
		memcpy(big + m, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
		    10);
		m += 10;
		memcpy(big + m, "\0\0\0\0", 4);
		m += 4;
		is_int(kp_sketch_decode(&d, big, m), -1,
		    "count 2^64-1 + zero 1 overflows: rejected");
		big[13] = 0;			/* zero_count 0: fits */
		is_int(kp_sketch_decode(&d, big, m), 0,
		    "count 2^64-1 alone decodes");
		ok(kp_sketch_count(&d) == UINT64_MAX, "count is 2^64-1");
		errno = 0;
		is_int(kp_sketch_add(&d, 1), -1, "add past 2^64-1 refused");
		is_int(kp_sketch_add(&d, 0), -1, "nor a zero");
		is_int(kp_sketch_add(&d, -1), -1, "nor a negative");
		is_int(kp_sketch_merge(&d, &d), -1, "self merge would overflow");
		kp_sketch_free(&d);
		big[29 + 9] = 0x02;		/* 11th bit group > 64 bits */
		is_int(kp_sketch_decode(&d, big, m), -1,
		    "varint beyond 64 bits rejected");
	}
	free(bad);

	/* Random garbage and random mutations: no crash (ASan watches),
	 * any success decodes to something usable. */
	crashes_avoided = 0;
	rng_state = 12345;
	bad = malloc(n);
	for (i = 0; i < 20000; i++) {
		size_t len = i < 10000 ? (size_t)(rng() % 64) : n;

		if (i < 10000) {
			for (k = 0; k < len; k++)
				bad[k] = (unsigned char)rng();
			if (len > 0 && (i & 1))
				bad[0] = KP_SKETCH_VERSION;
		} else {
			memcpy(bad, buf, n);
			size_t flips = 1 + rng() % 3;

			for (k = 0; k < flips; k++)
				bad[rng() % n] = (unsigned char)rng();
		}
		rc = kp_sketch_decode(&d, bad, len);
		if (rc == 0) {
			(void)kp_sketch_quantile(&d, 0.5);
			kp_sketch_add(&d, 1);
			(void)kp_sketch_encoded_size(&d);
		}
		kp_sketch_free(&d);
		crashes_avoided++;
	}
	is_int(crashes_avoided, 20000, "20000 garbage / mutated decodes");
	free(bad);
	free(buf);
	kp_sketch_free(&s);
	kp_sketch_free(&e);
}

int
main(void)
{
	test_init();
	test_empty_and_errors();
	test_hand();
	test_accuracy(0.01);
	test_accuracy(0.05);
	test_merge(KP_SKETCH_DEFAULT_MAX_BUCKETS, "2048 buckets");
	test_merge(64, "64 buckets (collapsing)");
	test_collapse();
	test_encoding();
	return done_testing();
}
