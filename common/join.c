/* join.c - join keys, value merging, the KTable, the time-ordered chooser
 * and stream-stream join windows (see join.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "join.h"
#include "json.h"
#include "mp.h"

static int
buf_write(void *data, const char *buf, size_t len)
{
	kp_buf_add(data, buf, len);
	return 0;
}

static uint64_t
hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a 64, then a mix */

	while (n--)
		h = (h ^ *s++) * 1099511628211ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static void
put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* ---- a hash map from key bytes to an object that owns the bytes ---- */

struct jmap_slot {
	uint64_t	 h;
	const char	*k;	/* borrowed from v */
	size_t		 kn;
	void		*v;	/* NULL: empty slot */
};

struct jmap {
	struct jmap_slot	*s;
	size_t			 cap, cnt;
};

static struct jmap_slot *
jmap_slot(const struct jmap *m, const void *k, size_t kn, uint64_t h)
{
	size_t i;

	for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct jmap_slot *s = &m->s[i];

		if (s->v == NULL || (s->h == h && s->kn == kn &&
		    !memcmp(s->k, k, kn)))
			return s;
	}
}

static void *
jmap_get(const struct jmap *m, const void *k, size_t kn, uint64_t h)
{
	if (m->cap == 0)
		return NULL;
	return jmap_slot(m, k, kn, h)->v;
}

/* Insert or replace; returns the value replaced, or NULL. */
static void *
jmap_set(struct jmap *m, const char *k, size_t kn, uint64_t h, void *v)
{
	struct jmap_slot *s;
	void *old;

	if ((m->cnt + 1) * 4 > m->cap * 3) {
		struct jmap_slot *os = m->s;
		size_t ocap = m->cap, i;

		m->cap = m->cap ? m->cap * 2 : 64;
		m->s = kp_xcalloc(m->cap, sizeof(*m->s));
		for (i = 0; i < ocap; i++)
			if (os[i].v)
				*jmap_slot(m, os[i].k, os[i].kn, os[i].h) = os[i];
		free(os);
	}
	s = jmap_slot(m, k, kn, h);
	old = s->v;
	if (old == NULL)
		m->cnt++;
	s->h = h;
	s->k = k;
	s->kn = kn;
	s->v = v;
	return old;
}

/* Remove a key (linear probing, backward-shift deletion); returns its
 * value or NULL. */
static void *
jmap_del(struct jmap *m, const void *k, size_t kn, uint64_t h)
{
	struct jmap_slot *s;
	size_t i, j, home;
	void *old;

	if (m->cap == 0 || (s = jmap_slot(m, k, kn, h))->v == NULL)
		return NULL;
	old = s->v;
	i = (size_t)(s - m->s);
	for (j = (i + 1) & (m->cap - 1); m->s[j].v; j = (j + 1) & (m->cap - 1)) {
		home = m->s[j].h & (m->cap - 1);
		/* move j into the hole at i unless its home lies in (i, j] */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			m->s[i] = m->s[j];
			i = j;
		}
	}
	memset(&m->s[i], 0, sizeof(m->s[i]));
	m->cnt--;
	return old;
}

static void
jmap_free(struct jmap *m, int free_values)
{
	size_t i;

	if (free_values)
		for (i = 0; i < m->cap; i++)
			free(m->s[i].v);
	free(m->s);
	m->s = NULL;
	m->cap = m->cnt = 0;
}

/* ---- join keys ---- */

/* Append the decimal digits of v (with a '-' when neg), as printf's %llu
 * would, without printf's cost on the hot path. */
static void
add_decimal(struct kp_buf *out, uint64_t v, int neg)
{
	char tmp[24], *p = tmp + sizeof(tmp);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (neg)
		*--p = '-';
	kp_buf_add(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

int
kp_join_key(struct kp_record *r, const struct kp_path *paths, size_t n,
    struct kp_buf *out)
{
	struct kp_val v;

	kp_buf_reset(out);
	if (n == 0) {
		if (r->key_null)
			return -1;
		kp_buf_add(out, r->key.data ? r->key.data : "", r->key.len);
		return 0;
	}
	if (n == 1 && paths[0].root == KP_ROOT_VALUE && paths[0].nsteps == 1 &&
	    paths[0].steps[0].name && r->vtype == KP_VALUE_MSGPACK) {
		/* fast path: one top-level field of a map, without decoding
		 * the value into objects; the last equal name wins, as in
		 * kp_path_eval() */
		const struct kp_path_step *st = &paths[0].steps[0];
		const uint8_t *p = (const uint8_t *)r->value.data;
		size_t len = r->value.len, off;
		struct kp_mp_item m, k, val = { .type = KP_MP_NIL };
		int found = 0;
		long long sz;
		uint64_t i;

		if (kp_mp_read(p, len, &m) != 1)
			goto slow;
		if (m.type != KP_MP_MAP)
			return -1;
		off = m.hdr;
		for (i = 0; i < m.len; i++) {
			if (kp_mp_read(p + off, len - off, &k) != 1 ||
			    (sz = kp_mp_skip(p + off, len - off)) <= 0)
				goto slow;
			off += (size_t)sz;
			if (k.type == KP_MP_STR && k.len == st->name_len &&
			    !memcmp(k.data, st->name, st->name_len)) {
				if (kp_mp_read(p + off, len - off, &val) != 1)
					goto slow;
				found = 1;
			}
			if ((sz = kp_mp_skip(p + off, len - off)) <= 0)
				goto slow;
			off += (size_t)sz;
		}
		if (!found)
			return -1;
		switch (val.type) {
		case KP_MP_NIL:
			return -1;
		case KP_MP_STR:
		case KP_MP_BIN:
			kp_buf_add(out, val.data, val.len);
			return 0;
		case KP_MP_UINT:
			add_decimal(out, val.u, 0);
			return 0;
		case KP_MP_INT:
			/* negative: its magnitude, computed without overflow */
			add_decimal(out, (uint64_t)-(val.i + 1) + 1, 1);
			return 0;
		case KP_MP_BOOL:
			kp_buf_adds(out, val.b ? "true" : "false");
			return 0;
		default:
			break;
		}
	}
slow:
	kp_buf_reset(out);
	if (n == 1) {
		kp_path_eval(&paths[0], r, &v);
		return kp_val_key_bytes(&v, out);
	} else {
		struct kp_buf mp = {0};
		msgpack_packer pk;
		size_t i;

		msgpack_packer_init(&pk, &mp, buf_write);
		msgpack_pack_array(&pk, n);
		for (i = 0; i < n; i++) {
			kp_path_eval(&paths[i], r, &v);
			kp_val_pack(&v, &pk);
		}
		kp_json_write(out, mp.data, mp.len);
		kp_buf_free(&mp);
		return 0;
	}
}

/* ---- values ---- */

int
kp_join_is_map(const void *p, size_t n)
{
	struct kp_mp_item it;

	return kp_mp_read(p, n, &it) == 1 && it.type == KP_MP_MAP;
}

int
kp_join_value_is_null(const struct kp_record *r)
{
	if (r->vtype == KP_VALUE_NULL)
		return 1;
	return r->vtype == KP_VALUE_MSGPACK && r->value.len > 0 &&
	    (unsigned char)r->value.data[0] == 0xc0;
}

static void
pack_map_hdr(struct kp_buf *out, uint64_t n)
{
	unsigned char h[5];

	if (n <= 15) {
		h[0] = (unsigned char)(0x80 | n);
		kp_buf_add(out, h, 1);
	} else if (n <= 0xffff) {
		h[0] = 0xde;
		h[1] = (unsigned char)(n >> 8);
		h[2] = (unsigned char)n;
		kp_buf_add(out, h, 3);
	} else {
		h[0] = 0xdf;
		h[1] = (unsigned char)(n >> 24);
		h[2] = (unsigned char)(n >> 16);
		h[3] = (unsigned char)(n >> 8);
		h[4] = (unsigned char)n;
		kp_buf_add(out, h, 5);
	}
}

static void
pack_str2(struct kp_buf *out, const char *a, size_t an, const void *b,
    size_t bn)
{
	unsigned char h[5];
	size_t n = an + bn;

	if (n <= 31) {
		h[0] = (unsigned char)(0xa0 | n);
		kp_buf_add(out, h, 1);
	} else if (n <= 0xff) {
		h[0] = 0xd9;
		h[1] = (unsigned char)n;
		kp_buf_add(out, h, 2);
	} else if (n <= 0xffff) {
		h[0] = 0xda;
		h[1] = (unsigned char)(n >> 8);
		h[2] = (unsigned char)n;
		kp_buf_add(out, h, 3);
	} else {
		h[0] = 0xdb;
		h[1] = (unsigned char)(n >> 24);
		h[2] = (unsigned char)(n >> 16);
		h[3] = (unsigned char)(n >> 8);
		h[4] = (unsigned char)n;
		kp_buf_add(out, h, 5);
	}
	kp_buf_add(out, a, an);
	kp_buf_add(out, b, bn);
}

/* one map entry: its name (a string's payload, or the packed bytes of a
 * name of another type) and where the entry's packed bytes lie */
struct ment {
	int		 str;
	const uint8_t	*name;
	size_t		 nlen;
	const uint8_t	*key;	/* packed name */
	size_t		 klen;	/* packed name */
	size_t		 vlen;	/* packed value */
};

/* Split the packed map at p[0..n) into its entries (*ents, *cap long,
 * is replaced by a larger allocation when needed; `stack` is the caller's
 * array that must not be freed).  Returns the entry count, or -1 when p is not a valid map. */
static long
map_entries(const uint8_t *p, size_t n, struct ment **ents, size_t *cap,
    struct ment *stack)
{
	struct kp_mp_item m, k;
	size_t off;
	uint64_t i;
	long long ks, vs;

	if (kp_mp_read(p, n, &m) != 1 || m.type != KP_MP_MAP)
		return -1;
	if (m.len > *cap) {
		/* filled from scratch below: no need to copy */
		if (*ents != stack)
			free(*ents);
		*cap = m.len;
		*ents = kp_xmalloc(*cap * sizeof(**ents));
	}
	off = m.hdr;
	for (i = 0; i < m.len; i++) {
		struct ment *e = &(*ents)[i];

		if (kp_mp_read(p + off, n - off, &k) != 1 ||
		    (ks = kp_mp_skip(p + off, n - off)) <= 0)
			return -1;
		if ((vs = kp_mp_skip(p + off + ks, n - off - (size_t)ks)) <= 0)
			return -1;
		e->str = k.type == KP_MP_STR;
		e->name = e->str ? k.data : p + off;
		e->nlen = e->str ? k.len : (size_t)ks;
		e->key = p + off;
		e->klen = (size_t)ks;
		e->vlen = (size_t)vs;
		off += (size_t)(ks + vs);
	}
	return (long)m.len;
}

/* Does the right-hand entry r (renamed with prefix) clash with one of
 * l[0..ln)? */
static int
clashes(const struct ment *l, long ln, const struct ment *r, const char *pfx,
    size_t plen)
{
	long i;

	for (i = 0; i < ln; i++) {
		if (l[i].str != r->str)
			continue;
		if (r->str && pfx) {
			if (l[i].nlen == plen + r->nlen &&
			    !memcmp(l[i].name, pfx, plen) &&
			    !memcmp(l[i].name + plen, r->name, r->nlen))
				return 1;
		} else if (l[i].nlen == r->nlen &&
		    !memcmp(l[i].name, r->name, r->nlen)) {
			return 1;
		}
	}
	return 0;
}

static void
add_entry(struct kp_buf *out, const struct ment *e, const char *pfx,
    size_t plen)
{
	if (e->str && pfx)
		pack_str2(out, pfx, plen, e->name, e->nlen);
	else
		kp_buf_add(out, e->key, e->klen);
	kp_buf_add(out, e->key + e->klen, e->vlen);
}

int
kp_join_merge(struct kp_buf *out, const void *l, size_t ln, const void *r,
    size_t rn, const char *prefix)
{
	/* small maps need no allocation: the common case */
	struct ment lbuf[32], rbuf[32], *le = lbuf, *re = rbuf;
	size_t lcap = 32, rcap = 32, plen = prefix ? strlen(prefix) : 0;
	long nl, nr, i, keep = 0;
	char keepbuf[64], *kept = keepbuf;
	int rc = 0;

	if ((nl = map_entries(l, ln, &le, &lcap, lbuf)) < 0) {
		rc = -1;
		goto out;
	}
	if ((nr = map_entries(r, rn, &re, &rcap, rbuf)) < 0) {
		rc = -2;
		goto out;
	}
	if ((size_t)nr > sizeof(keepbuf))
		kept = kp_xmalloc((size_t)nr);
	for (i = 0; i < nr; i++) {
		kept[i] = !clashes(le, nl, &re[i], prefix, plen);
		keep += kept[i];
	}
	pack_map_hdr(out, (uint64_t)(nl + keep));
	if (nl > 0) {
		const uint8_t *end = le[nl - 1].key + le[nl - 1].klen +
		    le[nl - 1].vlen;

		kp_buf_add(out, le[0].key, (size_t)(end - le[0].key));
	}
	for (i = 0; i < nr; i++)
		if (kept[i])
			add_entry(out, &re[i], prefix, plen);
	if (kept != keepbuf)
		free(kept);
out:
	if (le != lbuf)
		free(le);
	if (re != rbuf)
		free(re);
	return rc;
}

int
kp_join_prefix(struct kp_buf *out, const void *r, size_t rn, const char *prefix)
{
	struct ment rbuf[32], *re = rbuf;
	size_t rcap = 32, plen = prefix ? strlen(prefix) : 0;
	long nr, i;

	if ((nr = map_entries(r, rn, &re, &rcap, rbuf)) < 0) {
		if (re != rbuf)
			free(re);
		return -2;
	}
	pack_map_hdr(out, (uint64_t)nr);
	for (i = 0; i < nr; i++)
		add_entry(out, &re[i], prefix, plen);
	if (re != rbuf)
		free(re);
	return 0;
}

/* ---- the table ---- */

/*
 * A memory table is an open-addressing hash table (linear probing) of
 * 16-byte slots, the key's hash and its entry, over entries carved from
 * an arena of large chunks: loading a table costs no allocation per key,
 * and freeing it none per entry.  A new value goes to new arena space and
 * the key's old entry, if any, is dead.  Dead space (replaced and deleted
 * entries) is reclaimed by copying the live entries to a fresh arena once
 * it exceeds both the live space and TARENA_CHUNK, so a table holds at
 * most about twice its live bytes.
 *
 * A put is not applied at once: its entry is made and its hash slot
 * prefetched, and it waits in a queue of TPEND puts, to be applied when
 * it leaves the queue (by then its slot is in the cache: loading a large
 * table is otherwise one cache miss per key) or before any other
 * operation reads or changes the table, so that every operation sees the
 * puts before it in order.
 */

#define TARENA_CHUNK	((size_t)1 << 20)	/* bytes per arena chunk */
#define TPEND		16			/* puts queued */

struct tent {
	size_t	kn, vn;
	size_t	cap;	/* bytes available in d */
	char	d[];	/* key, then value */
};

struct tchunk {
	struct tchunk	*next;
	size_t		 used, size;
	_Alignas(16) char d[];
};

struct tslot {
	uint64_t	 h;
	struct tent	*e;	/* NULL: empty */
};

struct kp_jtable {
	struct kp_store	*st;
	struct tslot	*s;
	size_t		 cap, cnt;	/* slots (a power of 2), keys */
	struct tchunk	*chunks;	/* the newest first */
	size_t		 live, dead;	/* arena bytes in and out of use */
	struct tslot	 pend[TPEND];	/* puts not applied yet, a ring */
	size_t		 ph, pn;	/* its oldest, its length */
	struct kp_buf	 kb;
};

static size_t
tent_size(size_t cap)
{
	return (sizeof(struct tent) + cap + 15) & ~(size_t)15;
}

/* n bytes (a multiple of 16) from the arena */
static void *
tarena_alloc(struct tchunk **chunks, size_t n)
{
	struct tchunk *c = *chunks;
	void *p;

	if (c == NULL || c->size - c->used < n) {
		size_t sz = n > TARENA_CHUNK / 4 ? n : TARENA_CHUNK;

		c = kp_xmalloc(sizeof(*c) + sz);
		c->size = sz;
		c->used = 0;
		if (sz == n && *chunks) {
			/* a big entry: keep filling the current chunk */
			c->next = (*chunks)->next;
			(*chunks)->next = c;
		} else {
			c->next = *chunks;
			*chunks = c;
		}
	}
	p = c->d + c->used;
	c->used += n;
	return p;
}

static void
tarena_free(struct tchunk *c)
{
	struct tchunk *n;

	for (; c; c = n) {
		n = c->next;
		free(c);
	}
}

/* the slot of key k: its entry's, or the empty one where it would go */
static struct tslot *
tslot(const struct kp_jtable *t, const void *k, size_t kn, uint64_t h)
{
	size_t i, m = t->cap - 1;

	for (i = h & m;; i = (i + 1) & m) {
		struct tslot *s = &t->s[i];

		if (s->e == NULL || (s->h == h && s->e->kn == kn &&
		    !memcmp(s->e->d, k, kn)))
			return s;
	}
}

/* make room for n keys at a load factor of at most 3/4 */
static void
tgrow(struct kp_jtable *t, size_t n)
{
	struct tslot *os = t->s;
	size_t ocap = t->cap, cap = t->cap ? t->cap : 64, i;

	while (n * 4 > cap * 3)
		cap *= 2;
	if (cap == t->cap)
		return;
	t->s = kp_xcalloc(cap, sizeof(*t->s));
	t->cap = cap;
	for (i = 0; i < ocap; i++)
		if (os[i].e) {
			size_t j;

			for (j = os[i].h & (cap - 1); t->s[j].e;
			    j = (j + 1) & (cap - 1))
				;
			t->s[j] = os[i];
		}
	free(os);
}

/* copy the live entries to a fresh arena and free the old one */
static void
tcompact(struct kp_jtable *t)
{
	struct tchunk *nc = NULL;
	size_t i, live = 0;

	for (i = 0; i < t->cap; i++) {
		struct tent *e = t->s[i].e, *ne;
		size_t sz;

		if (e == NULL)
			continue;
		sz = tent_size(e->kn + e->vn);
		ne = tarena_alloc(&nc, sz);
		memcpy(ne, e, sizeof(*e) + e->kn + e->vn);
		ne->cap = sz - sizeof(*ne);
		t->s[i].e = ne;
		live += sz;
	}
	for (i = 0; i < t->pn; i++) {
		struct tslot *q = &t->pend[(t->ph + i) % TPEND];
		size_t sz = tent_size(q->e->kn + q->e->vn);
		struct tent *ne = tarena_alloc(&nc, sz);

		memcpy(ne, q->e, sizeof(*ne) + q->e->kn + q->e->vn);
		ne->cap = sz - sizeof(*ne);
		q->e = ne;
		live += sz;
	}
	tarena_free(t->chunks);
	t->chunks = nc;
	t->live = live;
	t->dead = 0;
}

static void
tdead(struct kp_jtable *t, struct tent *e)
{
	size_t sz = sizeof(*e) + e->cap;

	t->live -= sz;
	t->dead += sz;
	if (t->dead > t->live && t->dead > TARENA_CHUNK)
		tcompact(t);
}

/* apply a put: e (in the arena, counted live) becomes key's entry */
static void
tinsert(struct kp_jtable *t, uint64_t h, struct tent *e)
{
	struct tslot *s;

	if ((t->cnt + 1) * 4 > t->cap * 3)
		tgrow(t, t->cnt + 1);
	s = tslot(t, e->d, e->kn, h);
	if (s->e == NULL) {
		t->cnt++;
		s->h = h;
		s->e = e;
	} else {
		struct tent *old = s->e;

		s->e = e;
		tdead(t, old);
	}
}

/* apply the oldest queued put */
static void
tpop(struct kp_jtable *t)
{
	struct tslot q = t->pend[t->ph];

	t->ph = (t->ph + 1) % TPEND;
	t->pn--;
	tinsert(t, q.h, q.e);
}

static void
tflush(struct kp_jtable *t)
{
	while (t->pn > 0)
		tpop(t);
}

struct kp_jtable *
kp_jtable_new(struct kp_store *store)
{
	struct kp_jtable *t = kp_xcalloc(1, sizeof(*t));

	t->st = store;
	return t;
}

void
kp_jtable_free(struct kp_jtable *t)
{
	if (t == NULL)
		return;
	free(t->s);
	tarena_free(t->chunks);
	kp_buf_free(&t->kb);
	free(t);
}

void
kp_jtable_reserve(struct kp_jtable *t, size_t n)
{
	if (t->st == NULL && n > t->cnt)
		tgrow(t, n);
}

static void
store_key(struct kp_jtable *t, const void *k, size_t kn)
{
	kp_buf_reset(&t->kb);
	kp_buf_addc(&t->kb, 'k');
	kp_buf_add(&t->kb, k, kn);
}

int
kp_jtable_get(struct kp_jtable *t, const void *k, size_t kn, const void **v,
    size_t *vn, char *errstr, size_t en)
{
	struct tent *e;

	if (t->st) {
		store_key(t, k, kn);
		return kp_store_get(t->st, t->kb.data, t->kb.len, v, vn, errstr,
		    en);
	}
	tflush(t);
	if (t->cap == 0 || (e = tslot(t, k, kn, hash(k, kn))->e) == NULL)
		return 0;
	*v = e->d + e->kn;
	*vn = e->vn;
	return 1;
}

void
kp_jtable_put(struct kp_jtable *t, const void *k, size_t kn, const void *v,
    size_t vn)
{
	struct tent *e;
	uint64_t h;
	size_t sz;

	if (t->st) {
		store_key(t, k, kn);
		kp_store_put(t->st, t->kb.data, t->kb.len, v, vn);
		return;
	}
	if (t->pn == TPEND)
		tpop(t);
	h = hash(k, kn);
	if (t->cap > 0)
		__builtin_prefetch(&t->s[h & (t->cap - 1)]);
	sz = tent_size(kn + vn);
	e = tarena_alloc(&t->chunks, sz);
	e->kn = kn;
	e->vn = vn;
	e->cap = sz - sizeof(*e);
	memcpy(e->d, k, kn);
	memcpy(e->d + kn, v, vn);
	t->live += sz;
	t->pend[(t->ph + t->pn) % TPEND] = (struct tslot){ h, e };
	t->pn++;
}

void
kp_jtable_delete(struct kp_jtable *t, const void *k, size_t kn)
{
	struct tslot *s;
	struct tent *old;
	size_t i, j, home, m;

	if (t->st) {
		store_key(t, k, kn);
		kp_store_delete(t->st, t->kb.data, t->kb.len);
		return;
	}
	tflush(t);
	if (t->cap == 0 || (s = tslot(t, k, kn, hash(k, kn)))->e == NULL)
		return;
	old = s->e;
	m = t->cap - 1;
	i = (size_t)(s - t->s);
	/* backward-shift deletion, as jmap_del() */
	for (j = (i + 1) & m; t->s[j].e; j = (j + 1) & m) {
		home = t->s[j].h & m;
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			t->s[i] = t->s[j];
			i = j;
		}
	}
	memset(&t->s[i], 0, sizeof(t->s[i]));
	t->cnt--;
	tdead(t, old);
}

void
kp_jtable_prefetch(const struct kp_jtable *t, const void *k, size_t kn,
    int stage)
{
	const struct tslot *s;
	uint64_t h;

	if (t->st || t->cap == 0)
		return;
	h = hash(k, kn);
	s = &t->s[h & (t->cap - 1)];
	if (stage == 0)
		__builtin_prefetch(s);
	else if (s->e && s->h == h)
		__builtin_prefetch(s->e);
}

size_t
kp_jtable_count(struct kp_jtable *t)
{
	if (t->st)
		return 0;
	tflush(t);
	return t->cnt;
}

/* ---- the chooser ---- */

int
kp_join_choose(const struct kp_join_head h[2], int tie, int64_t idle_ms,
    int64_t max_idle_ms)
{
	int i;

	if (h[0].has && h[1].has) {
		if (h[0].ts != h[1].ts)
			return h[0].ts < h[1].ts ? 0 : 1;
		return tie ? 1 : 0;
	}
	if (!h[0].has && !h[1].has)
		return KP_JOIN_EMPTY;
	i = h[0].has ? 0 : 1;
	switch (h[1 - i].state) {
	case KP_JOIN_DONE:
		return i;
	case KP_JOIN_CAUGHT_UP:
		return idle_ms >= max_idle_ms ? i : KP_JOIN_WAIT;
	case KP_JOIN_LAGGING:
	default:
		return KP_JOIN_WAIT;
	}
}

/* ---- stream-stream windows ---- */

struct jkey;

struct jent {
	struct jent	*next;		/* same key, arrival order */
	struct jkey	*key;
	uint64_t	 seq;
	int64_t		 ts;
	int		 side, matched;
	size_t		 hix;		/* index in the heap */
	struct kp_record rec;
};

struct jkey {
	struct jent	*head, *tail;
	uint64_t	 h;
	size_t		 kn;
	char		 k[];
};

struct kp_jwin {
	struct kp_jwin_opts	 o;
	kp_jwin_emit_fn		 emit;
	void			*ctx;
	struct jmap		 keys;
	struct jent		**heap;		/* by (ts, seq) */
	size_t			 hn, hcap;
	uint64_t		 seq;
	int64_t			 st;
	struct kp_store		*store;
	struct kp_buf		 tmp;
};

struct kp_jwin *
kp_jwin_new(const struct kp_jwin_opts *o, kp_jwin_emit_fn emit, void *ctx)
{
	struct kp_jwin *w = kp_xcalloc(1, sizeof(*w));

	w->o = *o;
	w->emit = emit;
	w->ctx = ctx;
	w->st = KP_TS_NONE;
	return w;
}

static void
ent_free(struct jent *e)
{
	kp_record_free(&e->rec);
	free(e);
}

void
kp_jwin_free(struct kp_jwin *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->hn; i++)
		ent_free(w->heap[i]);
	free(w->heap);
	jmap_free(&w->keys, 1);
	kp_buf_free(&w->tmp);
	free(w);
}

static int
ent_less(const struct jent *a, const struct jent *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void
heap_swap(struct kp_jwin *w, size_t i, size_t j)
{
	struct jent *t = w->heap[i];

	w->heap[i] = w->heap[j];
	w->heap[j] = t;
	w->heap[i]->hix = i;
	w->heap[j]->hix = j;
}

static void
heap_push(struct kp_jwin *w, struct jent *e)
{
	size_t i;

	if (w->hn == w->hcap) {
		w->hcap = w->hcap ? w->hcap * 2 : 64;
		w->heap = kp_xrealloc(w->heap, w->hcap * sizeof(*w->heap));
	}
	i = w->hn++;
	w->heap[i] = e;
	e->hix = i;
	while (i > 0 && ent_less(w->heap[i], w->heap[(i - 1) / 2])) {
		heap_swap(w, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static struct jent *
heap_pop(struct kp_jwin *w)
{
	struct jent *top = w->heap[0];
	size_t i = 0;

	w->heap[0] = w->heap[--w->hn];
	w->heap[0]->hix = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < w->hn && ent_less(w->heap[l], w->heap[m]))
			m = l;
		if (r < w->hn && ent_less(w->heap[r], w->heap[m]))
			m = r;
		if (m == i)
			break;
		heap_swap(w, i, m);
		i = m;
	}
	return top;
}

/* store key of an entry: 'w' + big-endian seq */
static void
ent_store_key(unsigned char k[9], uint64_t seq)
{
	k[0] = 'w';
	put_be64(k + 1, seq);
}

/* value: side, matched, key length (8 bytes), key, kpipe envelope */
static void
ent_persist(struct kp_jwin *w, const struct jent *e)
{
	unsigned char k[9], hdr[10];

	if (w->store == NULL)
		return;
	ent_store_key(k, e->seq);
	kp_buf_reset(&w->tmp);
	hdr[0] = (unsigned char)e->side;
	hdr[1] = (unsigned char)e->matched;
	put_be64(hdr + 2, e->key->kn);
	kp_buf_add(&w->tmp, hdr, sizeof(hdr));
	kp_buf_add(&w->tmp, e->key->k, e->key->kn);
	kp_envelope_pack(&w->tmp, &e->rec);
	kp_store_put(w->store, k, sizeof(k), w->tmp.data, w->tmp.len);
}

static void
meta_persist(struct kp_jwin *w)
{
	unsigned char v[16];

	if (w->store == NULL)
		return;
	put_be64(v, (uint64_t)w->st);
	put_be64(v + 8, w->seq);
	kp_store_put(w->store, "s", 1, v, sizeof(v));
}

static struct jkey *
key_get(struct kp_jwin *w, const void *k, size_t kn, int create)
{
	uint64_t h = hash(k, kn);
	struct jkey *jk = jmap_get(&w->keys, k, kn, h);

	if (jk == NULL && create) {
		jk = kp_xcalloc(1, sizeof(*jk) + kn);
		jk->h = h;
		jk->kn = kn;
		memcpy(jk->k, k, kn);
		jmap_set(&w->keys, jk->k, kn, h, jk);
	}
	return jk;
}

static void
key_append(struct jkey *jk, struct jent *e)
{
	e->key = jk;
	e->next = NULL;
	if (jk->tail)
		jk->tail->next = e;
	else
		jk->head = e;
	jk->tail = e;
}

/* unlink e from its key list, dropping the key when it empties */
static void
key_unlink(struct kp_jwin *w, struct jent *e)
{
	struct jkey *jk = e->key;
	struct jent **pp, *prev = NULL;

	for (pp = &jk->head; *pp != e; pp = &(*pp)->next)
		prev = *pp;
	*pp = e->next;
	if (jk->tail == e)
		jk->tail = prev;
	if (jk->head == NULL)
		free(jmap_del(&w->keys, jk->k, jk->kn, jk->h));
}

/* remove the entry at the top of the heap, emitting it when unmatched
 * and asked for */
static int
expire_top(struct kp_jwin *w)
{
	struct jent *e = heap_pop(w);
	unsigned char k[9];
	int rc = 0;

	key_unlink(w, e);
	if (w->store) {
		ent_store_key(k, e->seq);
		kp_store_delete(w->store, k, sizeof(k));
	}
	if (!e->matched && (e->side == 0 ? w->o.left_unmatched :
	    w->o.right_unmatched))
		rc = e->side == 0 ? w->emit(w->ctx, &e->rec, NULL) :
		    w->emit(w->ctx, NULL, &e->rec);
	ent_free(e);
	return rc;
}

/* a - b, saturating at INT64_MIN */
static int64_t
sat_sub(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return INT64_MIN;
	return r;
}

int
kp_jwin_add(struct kp_jwin *w, int side, const void *k, size_t kn,
    struct kp_record *rec)
{
	int64_t ts = rec->timestamp, limit;
	struct jkey *jk;
	struct jent *e, *n;
	int rc, matched = 0;

	if (w->st != KP_TS_NONE && ts < sat_sub(w->st, w->o.grace))
		return 1;	/* late */
	if (w->st == KP_TS_NONE || ts > w->st)
		w->st = ts;
	/* close windows: ts + within + grace < stream time */
	limit = sat_sub(sat_sub(w->st, w->o.within), w->o.grace);
	while (w->hn > 0 && w->heap[0]->ts < limit)
		if ((rc = expire_top(w)) != 0)
			return rc;
	if ((jk = key_get(w, k, kn, 0)) != NULL) {
		for (e = jk->head; e; e = e->next) {
			int64_t d;

			if (e->side == side)
				continue;
			if (__builtin_sub_overflow(ts, e->ts, &d))
				continue;
			if (d < -w->o.within || d > w->o.within)
				continue;
			rc = side == 0 ? w->emit(w->ctx, rec, &e->rec) :
			    w->emit(w->ctx, &e->rec, rec);
			if (rc != 0)
				return rc;
			matched = 1;
			if (!e->matched) {
				e->matched = 1;
				ent_persist(w, e);
			}
		}
	}
	n = kp_xcalloc(1, sizeof(*n));
	kp_record_init(&n->rec);
	kp_record_copy(&n->rec, rec);
	n->seq = w->seq++;
	n->ts = ts;
	n->side = side;
	n->matched = matched;
	key_append(key_get(w, k, kn, 1), n);
	heap_push(w, n);
	ent_persist(w, n);
	meta_persist(w);
	return 0;
}

int
kp_jwin_close_all(struct kp_jwin *w)
{
	int rc;

	while (w->hn > 0)
		if ((rc = expire_top(w)) != 0)
			return rc;
	meta_persist(w);
	return 0;
}

int64_t
kp_jwin_stream_time(const struct kp_jwin *w)
{
	return w->st;
}

size_t
kp_jwin_buffered(const struct kp_jwin *w)
{
	return w->hn;
}

void
kp_jwin_attach_store(struct kp_jwin *w, struct kp_store *store)
{
	w->store = store;
}

int
kp_jwin_load(struct kp_jwin *w, struct kp_store *store, char *errstr,
    size_t en)
{
	struct kp_store_iter *it;
	const void *k, *v;
	size_t kn, vn;
	int rc;

	if ((rc = kp_store_get(store, "s", 1, &v, &vn, errstr, en)) < 0)
		return -1;
	if (rc == 1 && vn == 16) {
		w->st = (int64_t)get_be64(v);
		w->seq = get_be64((const unsigned char *)v + 8);
	}
	it = kp_store_iter_new(store, "w", 1);
	while (kp_store_iter_next(it, &k, &kn, &v, &vn) == 1) {
		const unsigned char *p = v;
		struct jent *e;
		uint64_t keylen;
		long long used;

		if (kn != 9 || vn < 10 || (keylen = get_be64(p + 2)) > vn - 10) {
			snprintf(errstr, en, "invalid join buffer entry in the "
			    "state store");
			kp_store_iter_free(it);
			return -1;
		}
		e = kp_xcalloc(1, sizeof(*e));
		kp_record_init(&e->rec);
		used = kp_envelope_unpack(p + 10 + keylen, vn - 10 - keylen,
		    &e->rec, errstr, en);
		if (used <= 0) {
			if (used == 0)
				snprintf(errstr, en, "truncated join buffer "
				    "entry in the state store");
			ent_free(e);
			kp_store_iter_free(it);
			return -1;
		}
		e->seq = get_be64((const unsigned char *)k + 1);
		e->side = p[0];
		e->matched = p[1];
		e->ts = e->rec.timestamp;
		key_append(key_get(w, p + 10, (size_t)keylen, 1), e);
		heap_push(w, e);
		if (e->seq >= w->seq)
			w->seq = e->seq + 1;
	}
	kp_store_iter_free(it);
	return 0;
}
