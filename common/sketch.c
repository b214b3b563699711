/* sketch.c - DDSketch with collapsing-lowest dense stores.  See sketch.h. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sketch.h"

#define MIN_CAP 32

/* ---- index mapping ---------------------------------------------------- */

/* Key of a magnitude x in [min_indexable, max_indexable]. */
static int64_t
key_of(const struct kp_sketch *s, double x)
{
	int64_t k = (int64_t)ceil(log(x) * s->multiplier);

	/* Guard against a rounding step past the precomputed bounds. */
	if (k < s->key_lo)
		k = s->key_lo;
	if (k > s->key_hi)
		k = s->key_hi;
	return k;
}

/* Estimate for key k: 2 gamma^k / (gamma + 1) = (1 + alpha) gamma^(k-1),
 * computed from gamma^(k-1) so that it stays finite at key_hi. */
static double
value_of(const struct kp_sketch *s, int64_t k)
{
	return exp((double)(k - 1) * s->ln_gamma) * (1 + s->alpha);
}

static int
params(struct kp_sketch *s, double alpha, uint32_t max_buckets)
{
	memset(s, 0, sizeof(*s));
	if (!(alpha >= KP_SKETCH_MIN_ALPHA && alpha < 1) || max_buckets < 1 ||
	    max_buckets > KP_SKETCH_MAX_BUCKETS_LIMIT) {
		errno = EINVAL;
		return -1;
	}
	s->alpha = alpha;
	s->gamma = (1 + alpha) / (1 - alpha);
	/* log(gamma) = log1p(2 alpha / (1 - alpha)), accurate for small a */
	s->ln_gamma = log1p(2 * alpha / (1 - alpha));
	s->multiplier = 1 / s->ln_gamma;
	s->min_indexable = DBL_MIN * s->gamma;
	s->max_indexable = DBL_MAX / s->gamma;
	s->key_lo = (int64_t)ceil(log(s->min_indexable) * s->multiplier);
	s->key_hi = (int64_t)ceil(log(s->max_indexable) * s->multiplier);
	s->max_buckets = max_buckets;
	return 0;
}

int
kp_sketch_init_bounded(struct kp_sketch *s, double alpha,
    uint32_t max_buckets)
{
	return params(s, alpha, max_buckets);
}

int
kp_sketch_init(struct kp_sketch *s, double alpha)
{
	return params(s, alpha, KP_SKETCH_DEFAULT_MAX_BUCKETS);
}

/* ---- dense collapsing store ------------------------------------------- */

static uint64_t *
bin(struct kp_sketch_store *st, int64_t k)
{
	return &st->bins[k - st->offset];
}

/*
 * A store is reshaped in two steps so that a merge can fail before it
 * changes anything: fit_prepare() allocates when [lo, hi] is not covered,
 * fit_commit() moves the counts, adding every count below lo into lo.
 */
struct fit {
	uint64_t *bins;		/* NULL: reuse the current array */
	int64_t offset;
	uint32_t cap;
};

static int
fit_prepare(const struct kp_sketch_store *st, int64_t lo, int64_t hi,
    uint32_t max_buckets, struct fit *f)
{
	uint64_t need = (uint64_t)(hi - lo) + 1, cap;

	f->bins = NULL;
	if (st->bins != NULL && lo >= st->offset &&
	    hi < st->offset + (int64_t)st->cap)
		return 0;
	cap = st->cap * 2;
	if (cap < MIN_CAP)
		cap = MIN_CAP;
	if (cap > max_buckets)
		cap = max_buckets;
	if (cap < need)
		cap = need;
	f->bins = calloc(cap, sizeof(*f->bins));
	if (f->bins == NULL) {
		errno = ENOMEM;
		return -1;
	}
	f->cap = (uint32_t)cap;
	/* Leave the spare room on the side the store grows towards. */
	if (st->bins == NULL)
		f->offset = lo - (int64_t)(cap - need) / 2;
	else if (hi >= st->offset + (int64_t)st->cap && lo >= st->offset)
		f->offset = lo;
	else if (lo < st->offset && hi < st->offset + (int64_t)st->cap)
		f->offset = hi - (int64_t)cap + 1;
	else
		f->offset = lo - (int64_t)(cap - need) / 2;
	return 0;
}

/* Make the store's counts lie in [lo, hi]; counts below lo go to lo.
 * Leaves min_key / max_key to the caller. */
static void
fit_commit(struct kp_sketch_store *st, int64_t lo, struct fit *f)
{
	uint64_t sum = 0;
	int64_t k;

	if (f->bins == NULL) {
		if (st->count == 0 || st->min_key >= lo)
			return;
		for (k = st->min_key; k < lo && k <= st->max_key; k++) {
			sum += *bin(st, k);
			*bin(st, k) = 0;
		}
		*bin(st, lo) += sum;
		return;
	}
	if (st->count > 0)
		for (k = st->min_key; k <= st->max_key; k++)
			f->bins[(k < lo ? lo : k) - f->offset] += *bin(st, k);
	free(st->bins);
	st->bins = f->bins;
	st->offset = f->offset;
	st->cap = f->cap;
}

/*
 * The range [*lo, *hi] the store will have after adding keys in
 * [klo, khi]: the union, cut to the highest max_buckets keys.
 */
static void
target_range(const struct kp_sketch_store *st, int64_t klo, int64_t khi,
    uint32_t max_buckets, int64_t *lo, int64_t *hi)
{
	*lo = klo;
	*hi = khi;
	if (st->count > 0) {
		if (st->min_key < *lo)
			*lo = st->min_key;
		if (st->max_key > *hi)
			*hi = st->max_key;
	}
	if (*hi - *lo + 1 > (int64_t)max_buckets)
		*lo = *hi - (int64_t)max_buckets + 1;
}

static void
store_free(struct kp_sketch_store *st)
{
	free(st->bins);
	memset(st, 0, sizeof(*st));
}

/* ---- public ----------------------------------------------------------- */

int
kp_sketch_add(struct kp_sketch *s, double v)
{
	struct kp_sketch_store *st;
	struct fit f;
	int64_t k, lo, hi;
	double x;

	if (!isfinite(v) || fabs(v) > s->max_indexable) {
		errno = EINVAL;
		return -1;
	}
	if (kp_sketch_count(s) == UINT64_MAX)
		goto overflow;
	x = fabs(v);
	if (x < s->min_indexable) {
		s->zero_count++;
		return 0;
	}
	st = v > 0 ? &s->pos : &s->neg;
	k = key_of(s, x);
	target_range(st, k, k, s->max_buckets, &lo, &hi);
	if (fit_prepare(st, lo, hi, s->max_buckets, &f) < 0)
		return -1;
	fit_commit(st, lo, &f);
	*bin(st, k < lo ? lo : k) += 1;
	st->count++;
	st->min_key = lo;
	st->max_key = hi;
	return 0;
overflow:
	errno = EINVAL;
	return -1;
}

int
kp_sketch_merge(struct kp_sketch *dst, const struct kp_sketch *src)
{
	const struct kp_sketch_store *ss[2] = { &src->pos, &src->neg };
	struct kp_sketch_store *ds[2] = { &dst->pos, &dst->neg };
	struct fit f[2] = { { NULL, 0, 0 }, { NULL, 0, 0 } };
	int64_t lo[2], hi[2], k;
	uint64_t total, t;
	int i, use[2];

	/* Bit-equal alpha: same gamma, same keys. */
	if (memcmp(&dst->alpha, &src->alpha, sizeof(double)) != 0) {
		errno = EINVAL;
		return -1;
	}
	total = kp_sketch_count(dst);
	if (__builtin_add_overflow(total, kp_sketch_count(src), &t)) {
		errno = EINVAL;
		return -1;
	}
	/* Snapshot src's fields: dst and src may be the same sketch. */
	for (i = 0; i < 2; i++) {
		use[i] = ss[i]->count > 0;
		if (!use[i])
			continue;
		target_range(ds[i], ss[i]->min_key, ss[i]->max_key,
		    dst->max_buckets, &lo[i], &hi[i]);
		if (fit_prepare(ds[i], lo[i], hi[i], dst->max_buckets,
		    &f[i]) < 0) {
			if (i == 1)
				free(f[0].bins);
			return -1;
		}
	}
	if (dst == src) {
		/* Same range, so nothing was allocated: double every count. */
		free(f[0].bins);
		free(f[1].bins);
		for (i = 0; i < 2; i++) {
			if (!use[i])
				continue;
			for (k = ds[i]->min_key; k <= ds[i]->max_key; k++)
				*bin(ds[i], k) *= 2;
			ds[i]->count *= 2;
		}
		dst->zero_count *= 2;
		return 0;
	}
	for (i = 0; i < 2; i++) {
		if (!use[i])
			continue;
		fit_commit(ds[i], lo[i], &f[i]);
		for (k = ss[i]->min_key; k <= ss[i]->max_key; k++)
			*bin(ds[i], k < lo[i] ? lo[i] : k) +=
			    ss[i]->bins[k - ss[i]->offset];
		ds[i]->count += ss[i]->count;
		ds[i]->min_key = lo[i];
		ds[i]->max_key = hi[i];
	}
	dst->zero_count += src->zero_count;
	return 0;
}

/*
 * The first key, in ascending order, at which the running count passes
 * rank: running > rank ("lower", DataDog's key_at_rank(lower=True)), or
 * running >= rank + 1 (lower = 0).
 */
static int64_t
key_at_rank(const struct kp_sketch_store *st, double rank, int lower)
{
	double running = 0;
	int64_t k;

	for (k = st->min_key; k <= st->max_key; k++) {
		running += (double)st->bins[k - st->offset];
		if (lower ? running > rank : running >= rank + 1)
			return k;
	}
	return st->max_key;
}

double
kp_sketch_quantile(const struct kp_sketch *s, double q)
{
	double rank, nneg, nzero;
	uint64_t n = kp_sketch_count(s);

	if (n == 0 || !(q >= 0 && q <= 1))
		return NAN;
	rank = q * (double)(n - 1);
	nneg = (double)s->neg.count;
	nzero = (double)s->zero_count;
	if (rank < nneg)
		/* Negatives, most negative first: the store's keys are
		 * magnitudes, so count down from the largest magnitude. */
		return -value_of(s, key_at_rank(&s->neg, nneg - rank - 1, 0));
	if (rank < nneg + nzero)
		return 0;
	return value_of(s, key_at_rank(&s->pos, rank - nneg - nzero, 1));
}

uint64_t
kp_sketch_count(const struct kp_sketch *s)
{
	return s->zero_count + s->pos.count + s->neg.count;
}

void
kp_sketch_free(struct kp_sketch *s)
{
	store_free(&s->pos);
	store_free(&s->neg);
	s->zero_count = 0;
}

/* ---- encoding --------------------------------------------------------- */

static size_t
uvarint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static unsigned char *
put_uvarint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

static unsigned char *
put_le(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

static size_t
store_size(const struct kp_sketch_store *st)
{
	size_t n = 4;
	int64_t k;

	if (st->count == 0)
		return n;
	n += 4;
	for (k = st->min_key; k <= st->max_key; k++)
		n += uvarint_len(st->bins[k - st->offset]);
	return n;
}

size_t
kp_sketch_encoded_size(const struct kp_sketch *s)
{
	return 21 + store_size(&s->pos) + store_size(&s->neg);
}

static unsigned char *
put_store(unsigned char *p, const struct kp_sketch_store *st)
{
	int64_t k;

	if (st->count == 0)
		return put_le(p, 0, 4);
	p = put_le(p, (uint64_t)(st->max_key - st->min_key + 1), 4);
	p = put_le(p, (uint64_t)(uint32_t)(int32_t)st->min_key, 4);
	for (k = st->min_key; k <= st->max_key; k++)
		p = put_uvarint(p, st->bins[k - st->offset]);
	return p;
}

size_t
kp_sketch_encode(const struct kp_sketch *s, void *buf)
{
	unsigned char *p = buf;
	uint64_t bits;

	*p++ = KP_SKETCH_VERSION;
	memcpy(&bits, &s->alpha, sizeof(bits));
	p = put_le(p, bits, 8);
	p = put_le(p, s->max_buckets, 4);
	p = put_le(p, s->zero_count, 8);
	p = put_store(p, &s->pos);
	p = put_store(p, &s->neg);
	return (size_t)(p - (unsigned char *)buf);
}

struct reader {
	const unsigned char *p, *end;
};

static int
get_le(struct reader *r, int n, uint64_t *v)
{
	int i;

	if (r->end - r->p < n)
		return -1;
	*v = 0;
	for (i = 0; i < n; i++)
		*v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return 0;
}

/* Unsigned LEB128, at most 10 bytes, minimal (no trailing 0x00 group). */
static int
get_uvarint(struct reader *r, uint64_t *v)
{
	unsigned shift = 0;
	unsigned char b;
	int i;

	*v = 0;
	for (i = 0; i < 10; i++) {
		if (r->p == r->end)
			return -1;
		b = *r->p++;
		if (i == 9 && b > 1)
			return -1;		/* beyond 64 bits */
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return (b == 0 && i > 0) ? -1 : 0;
		shift += 7;
	}
	return -1;
}

/* Returns 0, -1 for bad input, -2 when out of memory. */
static int
get_store(struct reader *r, const struct kp_sketch *s,
    struct kp_sketch_store *st, uint64_t *total)
{
	uint64_t nbins, u, c;
	int64_t min_key, k;

	if (get_le(r, 4, &nbins) < 0)
		return -1;
	if (nbins == 0)
		return 0;
	if (nbins > s->max_buckets || get_le(r, 4, &u) < 0)
		return -1;
	min_key = (int32_t)(uint32_t)u;
	if (min_key < s->key_lo || min_key + (int64_t)nbins - 1 > s->key_hi)
		return -1;
	/* Every count takes at least one byte: no allocation beyond what
	 * the input can fill. */
	if ((uint64_t)(r->end - r->p) < nbins)
		return -1;
	st->bins = calloc(nbins, sizeof(*st->bins));
	if (st->bins == NULL)
		return -2;
	st->cap = (uint32_t)nbins;
	st->offset = min_key;
	st->min_key = min_key;
	st->max_key = min_key + (int64_t)nbins - 1;
	for (k = 0; k < (int64_t)nbins; k++) {
		if (get_uvarint(r, &c) < 0 ||
		    __builtin_add_overflow(st->count, c, &st->count) ||
		    __builtin_add_overflow(*total, c, total))
			return -1;
		st->bins[k] = c;
	}
	if (st->bins[0] == 0 || st->bins[nbins - 1] == 0)
		return -1;
	return 0;
}

int
kp_sketch_decode(struct kp_sketch *s, const void *buf, size_t len)
{
	struct reader r;
	struct kp_sketch t;
	uint64_t u, total;
	double alpha;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (buf == NULL || len < 1)
		goto bad;
	r.p = buf;
	r.end = r.p + len;
	if (*r.p++ != KP_SKETCH_VERSION ||
	    get_le(&r, 8, &u) < 0)
		goto bad;
	memcpy(&alpha, &u, sizeof(alpha));
	if (get_le(&r, 4, &u) < 0 || params(&t, alpha, (uint32_t)u) < 0)
		goto bad;
	if (get_le(&r, 8, &t.zero_count) < 0)
		goto bad;
	total = t.zero_count;
	if ((rc = get_store(&r, &t, &t.pos, &total)) < 0 ||
	    (rc = get_store(&r, &t, &t.neg, &total)) < 0 || r.p != r.end) {
		kp_sketch_free(&t);
		goto bad;
	}
	*s = t;
	return 0;
bad:
	memset(s, 0, sizeof(*s));
	errno = rc == -2 ? ENOMEM : EINVAL;
	return -1;
}
