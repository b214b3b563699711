/* store.c - LevelDB state stores with a write-batch overlay and
 * checkpoint files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <leveldb/c.h>

#include "store.h"

/* overlay entry: a pending put (del == 0) or delete */
struct ov {
	char	*k, *v;
	size_t	 kn, vn;
	int	 del, used;
};

struct kp_store {
	char			*dir;
	leveldb_t		*db;
	leveldb_options_t	*opts;
	leveldb_cache_t		*cache;
	leveldb_readoptions_t	*ro;
	leveldb_writeoptions_t	*wo;
	leveldb_writebatch_t	*batch;
	struct ov		*tab;
	size_t			 cap, cnt, pending;
	char			*got;	/* last value read from LevelDB */
	kp_store_write_fn	 on_write;	/* kp_store_on_write() */
	void			*on_write_arg;
};

struct kp_store_iter {
	leveldb_iterator_t	*it;
	char			*prefix;
	size_t			 plen;
	int			 started;
	int			 from;	/* positioned by kp_store_iter_from */
};

static uint64_t
hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a 64 */

	while (n--)
		h = (h ^ *s++) * 1099511628211ULL;
	return h;
}

static struct ov *
ov_find(struct kp_store *s, const void *k, size_t kn)
{
	size_t i;

	if (s->cap == 0)
		return NULL;
	for (i = hash(k, kn) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		struct ov *o = &s->tab[i];

		if (!o->used)
			return o;
		if (o->kn == kn && !memcmp(o->k, k, kn))
			return o;
	}
}

static void
ov_set(struct kp_store *s, const void *k, size_t kn, const void *v, size_t vn,
    int del)
{
	struct ov *o;

	if ((s->cnt + 1) * 2 > s->cap) {
		struct ov *old = s->tab;
		size_t oldcap = s->cap, i;

		s->cap = s->cap ? s->cap * 2 : 256;
		s->tab = kp_xcalloc(s->cap, sizeof(*s->tab));
		for (i = 0; i < oldcap; i++)
			if (old[i].used)
				*ov_find(s, old[i].k, old[i].kn) = old[i];
		free(old);
	}
	o = ov_find(s, k, kn);
	if (o->used) {
		free(o->v);
	} else {
		o->used = 1;
		o->k = kp_xmemdup(k, kn);
		o->kn = kn;
		s->cnt++;
	}
	o->del = del;
	o->v = del ? NULL : kp_xmemdup(v, vn);
	o->vn = del ? 0 : vn;
}

static void
ov_clear(struct kp_store *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		if (s->tab[i].used) {
			free(s->tab[i].k);
			free(s->tab[i].v);
		}
	free(s->tab);
	s->tab = NULL;
	s->cap = s->cnt = 0;
}

int
kp_mkdirs(const char *path, int mode)
{
	char *p = kp_xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = '/';
	}
	if (rc == 0 && mkdir(p, mode) < 0 && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}

struct kp_store *
kp_store_open(const char *dir, size_t cache_bytes, char *errstr, size_t n)
{
	struct kp_store *s;
	char *err = NULL;

	if (kp_mkdirs(dir, 0755) < 0) {
		snprintf(errstr, n, "cannot create state directory '%s': %s",
		    dir, strerror(errno));
		return NULL;
	}
	s = kp_xcalloc(1, sizeof(*s));
	s->dir = kp_xstrdup(dir);
	s->opts = leveldb_options_create();
	leveldb_options_set_create_if_missing(s->opts, 1);
	if (cache_bytes) {
		s->cache = leveldb_cache_create_lru(cache_bytes);
		leveldb_options_set_cache(s->opts, s->cache);
	}
	s->db = leveldb_open(s->opts, dir, &err);
	if (err) {
		snprintf(errstr, n, "cannot open state store '%s': %s", dir, err);
		leveldb_free(err);
		leveldb_options_destroy(s->opts);
		if (s->cache)
			leveldb_cache_destroy(s->cache);
		free(s->dir);
		free(s);
		return NULL;
	}
	s->ro = leveldb_readoptions_create();
	s->wo = leveldb_writeoptions_create();
	s->batch = leveldb_writebatch_create();
	return s;
}

void
kp_store_close(struct kp_store *s)
{
	if (s == NULL)
		return;
	ov_clear(s);
	leveldb_writebatch_destroy(s->batch);
	leveldb_readoptions_destroy(s->ro);
	leveldb_writeoptions_destroy(s->wo);
	leveldb_close(s->db);
	leveldb_options_destroy(s->opts);
	if (s->cache)
		leveldb_cache_destroy(s->cache);
	if (s->got)
		leveldb_free(s->got);
	free(s->dir);
	free(s);
}

int
kp_store_get(struct kp_store *s, const void *k, size_t kn, const void **v,
    size_t *vn, char *errstr, size_t n)
{
	struct ov *o = ov_find(s, k, kn);
	char *err = NULL;
	size_t len;

	if (o && o->used) {
		if (o->del)
			return 0;
		*v = o->v;
		*vn = o->vn;
		return 1;
	}
	if (s->got) {
		leveldb_free(s->got);
		s->got = NULL;
	}
	s->got = leveldb_get(s->db, s->ro, k, kn, &len, &err);
	if (err) {
		snprintf(errstr, n, "cannot read state store '%s': %s", s->dir,
		    err);
		leveldb_free(err);
		return -1;
	}
	if (s->got == NULL)
		return 0;
	*v = s->got;
	*vn = len;
	return 1;
}

void
kp_store_put(struct kp_store *s, const void *k, size_t kn, const void *v,
    size_t vn)
{
	leveldb_writebatch_put(s->batch, k, kn, v, vn);
	ov_set(s, k, kn, v, vn, 0);
	s->pending += kn + vn;
	if (s->on_write)
		s->on_write(s->on_write_arg, k, kn, v, vn);
}

void
kp_store_delete(struct kp_store *s, const void *k, size_t kn)
{
	leveldb_writebatch_delete(s->batch, k, kn);
	ov_set(s, k, kn, NULL, 0, 1);
	s->pending += kn;
	if (s->on_write)
		s->on_write(s->on_write_arg, k, kn, NULL, 0);
}

void
kp_store_on_write(struct kp_store *s, kp_store_write_fn fn, void *arg)
{
	s->on_write = fn;
	s->on_write_arg = arg;
}

size_t
kp_store_pending(const struct kp_store *s)
{
	return s->pending;
}

int
kp_store_commit(struct kp_store *s, int sync, char *errstr, size_t n)
{
	char *err = NULL;

	if (s->cnt == 0)
		return 0;
	leveldb_writeoptions_set_sync(s->wo, (unsigned char)sync);
	leveldb_write(s->db, s->wo, s->batch, &err);
	if (err) {
		snprintf(errstr, n, "cannot write state store '%s': %s", s->dir,
		    err);
		leveldb_free(err);
		return -1;
	}
	leveldb_writebatch_clear(s->batch);
	ov_clear(s);
	s->pending = 0;
	return 0;
}

struct kp_store_iter *
kp_store_iter_new(struct kp_store *s, const void *prefix, size_t plen)
{
	struct kp_store_iter *it = kp_xcalloc(1, sizeof(*it));

	it->it = leveldb_create_iterator(s->db, s->ro);
	it->prefix = plen ? kp_xmemdup(prefix, plen) : NULL;
	it->plen = plen;
	return it;
}

int
kp_store_iter_next(struct kp_store_iter *it, const void **k, size_t *kn,
    const void **v, size_t *vn)
{
	if (!it->started) {
		if (it->plen)
			leveldb_iter_seek(it->it, it->prefix, it->plen);
		else
			leveldb_iter_seek_to_first(it->it);
		it->started = 1;
	} else if (it->from) {
		it->from = 0;	/* already at the first key >= from */
	} else {
		leveldb_iter_next(it->it);
	}
	if (!leveldb_iter_valid(it->it))
		return 0;
	*k = leveldb_iter_key(it->it, kn);
	if (it->plen && (*kn < it->plen || memcmp(*k, it->prefix, it->plen)))
		return 0;
	*v = leveldb_iter_value(it->it, vn);
	return 1;
}

void
kp_store_iter_free(struct kp_store_iter *it)
{
	if (it == NULL)
		return;
	leveldb_iter_destroy(it->it);
	free(it->prefix);
	free(it);
}

int
kp_store_checkpoint_read(const char *dir, int64_t *offset)
{
	char path[4096];
	FILE *f;
	long long v;
	int rc;

	snprintf(path, sizeof(path), "%s/CHECKPOINT", dir);
	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? 0 : -1;
	rc = fscanf(f, "%lld", &v) == 1 ? 1 : -1;
	fclose(f);
	if (rc == 1)
		*offset = v;
	return rc;
}

int
kp_store_checkpoint_write(const char *dir, int64_t offset, char *errstr,
    size_t n)
{
	char path[4096], tmp[4096], line[32];
	int fd, len;

	snprintf(path, sizeof(path), "%s/CHECKPOINT", dir);
	snprintf(tmp, sizeof(tmp), "%s/CHECKPOINT.tmp", dir);
	len = snprintf(line, sizeof(line), "%lld\n", (long long)offset);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
	    write(fd, line, (size_t)len) != len || fsync(fd) < 0 ||
	    close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(errstr, n, "cannot write checkpoint '%s': %s", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}

int
kp_store_destroy(const char *dir, char *errstr, size_t n)
{
	leveldb_options_t *o = leveldb_options_create();
	char path[4096], *err = NULL;

	leveldb_destroy_db(o, dir, &err);
	leveldb_options_destroy(o);
	if (err) {
		snprintf(errstr, n, "cannot remove state store '%s': %s", dir,
		    err);
		leveldb_free(err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/CHECKPOINT", dir);
	unlink(path);
	return 0;
}

int
kp_store_pending_get(struct kp_store *s, const void *k, size_t kn,
    const void **v, size_t *vn)
{
	struct ov *o = ov_find(s, k, kn);

	if (o == NULL || !o->used)
		return -1;
	if (o->del)
		return 0;
	*v = o->v;
	*vn = o->vn;
	return 1;
}

struct kp_store_iter *
kp_store_iter_from(struct kp_store *s, const void *prefix, size_t plen,
    const void *from, size_t fn)
{
	struct kp_store_iter *it = kp_store_iter_new(s, prefix, plen);

	if (fn > 0) {
		leveldb_iter_seek(it->it, from, fn);
		it->started = 1;
		it->from = 1;
	}
	return it;
}
