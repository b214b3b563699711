/* u-join.c - unit tests of common/join.c: join keys, merging, the table,
 * the chooser and stream-stream windows.  Every expected value is worked
 * out by hand in the comment beside it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "join.h"
#include "json.h"
#include "store.h"
#include "tap.h"

static struct kp_json_parser *jp;

/* a record whose value is the JSON text j (NULL: a null value) */
static void
rec(struct kp_record *r, const char *key, const char *j, int64_t ts)
{
	char err[256];

	kp_record_clear(r);
	if (key)
		kp_record_set_key(r, key, strlen(key));
	if (j) {
		kp_buf_reset(&r->value);
		if (kp_json_parse(jp, j, strlen(j), &r->value, err,
		    sizeof(err)) != 0) {
			printf("# bad test JSON %s: %s\n", j, err);
			exit(1);
		}
		r->vtype = KP_VALUE_MSGPACK;
		r->obj_valid = 0;
	}
	r->timestamp = ts;
}

static char *
to_json(const void *p, size_t n)
{
	static struct kp_buf b;

	kp_buf_reset(&b);
	if (kp_json_write(&b, p, n) < 0)
		return "(invalid)";
	return b.data;
}

static const char *
key_of(struct kp_record *r, const char *paths)
{
	static struct kp_buf kb;
	struct kp_path *p = NULL;
	size_t n = 0, i;
	char err[256];
	int rc;

	if (paths && kp_path_parse_list(paths, &p, &n, err, sizeof(err)) < 0)
		return "(bad path)";
	rc = kp_join_key(r, p, n, &kb);
	for (i = 0; i < n; i++)
		kp_path_free(&p[i]);
	free(p);
	return rc < 0 ? "(null)" : kb.data;
}

static void
test_keys(void)
{
	struct kp_record r;

	kp_record_init(&r);
	/* the number 1, the string "1" and the key bytes "1" are one key */
	rec(&r, NULL, "{\"id\":1,\"x\":2}", 0);
	is_str(key_of(&r, ".id"), "1", "key: number field");
	rec(&r, NULL, "{\"id\":\"1\"}", 0);
	is_str(key_of(&r, ".id"), "1", "key: string field");
	rec(&r, "1", "{\"a\":1}", 0);
	is_str(key_of(&r, NULL), "1", "key: record key bytes");
	rec(&r, "1", "{\"id\":-7}", 0);
	is_str(key_of(&r, ".id"), "-7", "key: negative number");
	rec(&r, NULL, "{\"id\":true}", 0);
	is_str(key_of(&r, ".id"), "true", "key: boolean");
	rec(&r, NULL, "{\"id\":1.5}", 0);
	is_str(key_of(&r, ".id"), "1.5", "key: float (slow path)");
	rec(&r, NULL, "{\"id\":2.0}", 0);
	is_str(key_of(&r, ".id"), "2", "key: integral float drops .0");
	rec(&r, NULL, "{\"id\":{\"a\":1}}", 0);
	is_str(key_of(&r, ".id"), "{\"a\":1}", "key: object as compact JSON");
	rec(&r, NULL, "{\"id\":1,\"id\":2}", 0);
	is_str(key_of(&r, ".id"), "2", "key: duplicate names, last wins");
	rec(&r, NULL, "{\"x\":1}", 0);
	is_str(key_of(&r, ".id"), "(null)", "key: missing field is null");
	rec(&r, NULL, "{\"id\":null}", 0);
	is_str(key_of(&r, ".id"), "(null)", "key: null field is null");
	rec(&r, NULL, "[1,2]", 0);
	is_str(key_of(&r, ".id"), "(null)", "key: not a map is null");
	rec(&r, NULL, "{\"a\":{\"b\":\"x\"}}", 0);
	is_str(key_of(&r, ".a.b"), "x", "key: nested path");
	rec(&r, NULL, "{\"a\":1,\"b\":\"y\"}", 0);
	is_str(key_of(&r, ".a,.b"), "[1,\"y\"]", "key: two paths, JSON array");
	rec(&r, NULL, "{\"a\":1}", 0);
	is_str(key_of(&r, NULL), "(null)", "key: null record key");
	rec(&r, NULL, "{\"max.cpu\":20}", 0);
	is_str(key_of(&r, ".\"max.cpu\""), "20", "key: quoted name");
	kp_record_free(&r);
}

static const char *
merge(const char *l, const char *r, const char *prefix)
{
	static struct kp_buf out;
	struct kp_record a, b;
	int rc;

	kp_record_init(&a);
	kp_record_init(&b);
	rec(&a, NULL, l, 0);
	rec(&b, NULL, r, 0);
	kp_buf_reset(&out);
	rc = kp_join_merge(&out, a.value.data, a.value.len, b.value.data,
	    b.value.len, prefix);
	kp_record_free(&a);
	kp_record_free(&b);
	if (rc == -1)
		return "(left not a map)";
	if (rc == -2)
		return "(right not a map)";
	return to_json(out.data, out.len);
}

static void
test_merge(void)
{
	struct kp_buf big = {0}, want = {0};
	int i;

	/* the seed example */
	is_str(merge("{\"id\":1,\"max.cpu\":20}",
	    "{\"id\":1,\"name\":\"host-1\",\"region\":\"eu\"}", NULL),
	    "{\"id\":1,\"max.cpu\":20,\"name\":\"host-1\",\"region\":\"eu\"}",
	    "merge: seed example, id clashes and the stream's stays");
	is_str(merge("{\"name\":\"s\",\"v\":1}", "{\"name\":\"t\",\"r\":2}",
	    NULL), "{\"name\":\"s\",\"v\":1,\"r\":2}",
	    "merge: on a clash the stream's field wins");
	is_str(merge("{\"name\":\"s\"}", "{\"name\":\"t\",\"r\":2}", "h_"),
	    "{\"name\":\"s\",\"h_name\":\"t\",\"h_r\":2}",
	    "merge: --prefix renames every table field");
	is_str(merge("{\"h_r\":0}", "{\"r\":2,\"q\":3}", "h_"),
	    "{\"h_r\":0,\"h_q\":3}",
	    "merge: a prefixed name that clashes still loses");
	is_str(merge("{}", "{\"a\":1}", NULL), "{\"a\":1}", "merge: empty left");
	is_str(merge("{\"a\":1}", "{}", NULL), "{\"a\":1}", "merge: empty right");
	is_str(merge("{\"a\":{\"b\":[1,2]}}", "{\"c\":{\"d\":null}}", NULL),
	    "{\"a\":{\"b\":[1,2]},\"c\":{\"d\":null}}",
	    "merge: nested values are copied whole");
	is_str(merge("[1]", "{\"a\":1}", NULL), "(left not a map)",
	    "merge: left must be a map");
	is_str(merge("{\"a\":1}", "\"x\"", NULL), "(right not a map)",
	    "merge: right must be a map");
	/* 40 fields on each side, 20 shared: 60 fields, map16 header */
	kp_buf_adds(&big, "{");
	kp_buf_adds(&want, "{");
	for (i = 0; i < 40; i++)
		kp_buf_printf(&big, "%s\"f%d\":%d", i ? "," : "", i, i);
	kp_buf_adds(&big, "}");
	for (i = 0; i < 60; i++)
		kp_buf_printf(&want, "%s\"f%d\":%d", i ? "," : "", i, i);
	kp_buf_adds(&want, "}");
	{
		struct kp_buf right = {0};

		kp_buf_adds(&right, "{");
		for (i = 20; i < 60; i++)
			kp_buf_printf(&right, "%s\"f%d\":%d", i > 20 ? "," : "",
			    i, i < 40 ? -1 : i);
		kp_buf_adds(&right, "}");
		is_str(merge(big.data, right.data, NULL), want.data,
		    "merge: 40 + 40 fields, 20 shared");
		kp_buf_free(&right);
	}
	kp_buf_free(&big);
	kp_buf_free(&want);
	{
		struct kp_record a;
		struct kp_buf out = {0};

		kp_record_init(&a);
		rec(&a, NULL, "{\"name\":\"t\",\"a_very_long_field_name_here\":1}", 0);
		ok(kp_join_prefix(&out, a.value.data, a.value.len,
		    "prefix_that_makes_names_long_") == 0, "prefix: ok");
		is_str(to_json(out.data, out.len),
		    "{\"prefix_that_makes_names_long_name\":\"t\","
		    "\"prefix_that_makes_names_long_a_very_long_field_name_here\":1}",
		    "prefix: names past 31 bytes use str8");
		kp_record_free(&a);
		kp_buf_free(&out);
	}
}

static void
test_table(struct kp_store *st)
{
	struct kp_jtable *t = kp_jtable_new(st);
	const void *v;
	size_t vn;
	char err[256], k[32];
	int i, bad = 0;

	ok(kp_jtable_get(t, "a", 1, &v, &vn, err, sizeof(err)) == 0,
	    "table%s: absent key", st ? " (store)" : "");
	kp_jtable_put(t, "a", 1, "one", 3);
	ok(kp_jtable_get(t, "a", 1, &v, &vn, err, sizeof(err)) == 1 &&
	    vn == 3 && !memcmp(v, "one", 3), "table%s: put, get",
	    st ? " (store)" : "");
	kp_jtable_put(t, "a", 1, "uno", 3);
	ok(kp_jtable_get(t, "a", 1, &v, &vn, err, sizeof(err)) == 1 &&
	    !memcmp(v, "uno", 3), "table%s: latest value wins",
	    st ? " (store)" : "");
	kp_jtable_delete(t, "a", 1);
	ok(kp_jtable_get(t, "a", 1, &v, &vn, err, sizeof(err)) == 0,
	    "table%s: a tombstone deletes", st ? " (store)" : "");
	kp_jtable_put(t, "", 0, "empty", 5);
	ok(kp_jtable_get(t, "", 0, &v, &vn, err, sizeof(err)) == 1 &&
	    vn == 5, "table%s: the empty key is a key", st ? " (store)" : "");
	/* many keys, half deleted: exercises growth and backward shifts */
	for (i = 0; i < 5000; i++) {
		int n = snprintf(k, sizeof(k), "key-%d", i);

		kp_jtable_put(t, k, (size_t)n, k, (size_t)n);
	}
	for (i = 0; i < 5000; i += 2) {
		int n = snprintf(k, sizeof(k), "key-%d", i);

		kp_jtable_delete(t, k, (size_t)n);
	}
	for (i = 0; i < 5000; i++) {
		int n = snprintf(k, sizeof(k), "key-%d", i);
		int rc = kp_jtable_get(t, k, (size_t)n, &v, &vn, err, sizeof(err));

		if (rc != (i % 2) || (rc == 1 && (vn != (size_t)n ||
		    memcmp(v, k, vn))))
			bad++;
	}
	is_int(bad, 0, "table%s: 5000 keys, even ones deleted",
	    st ? " (store)" : "");
	if (!st)
		is_int(kp_jtable_count(t), 2501, "table: count");
	kp_jtable_free(t);
}

static void
test_choose(void)
{
	struct kp_join_head h[2];

#define H(i, has_, ts_, state_) \
	h[i].has = (has_), h[i].ts = (ts_), h[i].state = (state_)
	H(0, 1, 10, KP_JOIN_LAGGING); H(1, 1, 5, KP_JOIN_LAGGING);
	is_int(kp_join_choose(h, 1, 0, 0), 1, "choose: lower timestamp first");
	H(0, 1, 5, KP_JOIN_LAGGING); H(1, 1, 5, KP_JOIN_LAGGING);
	is_int(kp_join_choose(h, 1, 0, 0), 1, "choose: tie goes to `tie` (1)");
	is_int(kp_join_choose(h, 0, 0, 0), 0, "choose: tie goes to `tie` (0)");
	H(0, 1, 5, KP_JOIN_LAGGING); H(1, 1, KP_TS_NONE, KP_JOIN_LAGGING);
	is_int(kp_join_choose(h, 0, 0, 0), 1, "choose: no timestamp first");
	H(0, 1, 5, KP_JOIN_LAGGING); H(1, 0, 0, KP_JOIN_LAGGING);
	is_int(kp_join_choose(h, 1, 100000, 0), KP_JOIN_WAIT,
	    "choose: a lagging side is waited for");
	H(1, 0, 0, KP_JOIN_CAUGHT_UP);
	is_int(kp_join_choose(h, 1, 0, 0), 0,
	    "choose: caught up, max-idle 0: go");
	is_int(kp_join_choose(h, 1, 99, 100), KP_JOIN_WAIT,
	    "choose: caught up, waited 99 of 100 ms: wait");
	is_int(kp_join_choose(h, 1, 100, 100), 0,
	    "choose: caught up, waited 100 of 100 ms: go");
	H(1, 0, 0, KP_JOIN_DONE);
	is_int(kp_join_choose(h, 1, 0, 1000), 0, "choose: other side done: go");
	H(0, 0, 0, KP_JOIN_DONE); H(1, 0, 0, KP_JOIN_DONE);
	is_int(kp_join_choose(h, 1, 0, 0), KP_JOIN_EMPTY, "choose: empty");
	H(0, 0, 0, KP_JOIN_LAGGING); H(1, 1, 7, KP_JOIN_LAGGING);
	is_int(kp_join_choose(h, 0, 0, 0), KP_JOIN_WAIT,
	    "choose: symmetric, side 0 lagging");
#undef H
}

/* window outputs, as text lines "L+R ts" / "L ts" / "R ts" */
static struct kp_buf wout;

static const char *
valtext(struct kp_record *r)
{
	return to_json(r->value.data, r->value.len);
}

static int
emit(void *ctx, struct kp_record *l, struct kp_record *r)
{
	(void)ctx;
	if (l && r) {
		kp_buf_printf(&wout, "%s", valtext(l));
		kp_buf_printf(&wout, "+%s;", valtext(r));
	} else {
		kp_buf_printf(&wout, "%s;", valtext(l ? l : r));
	}
	return 0;
}

static void
test_window(struct kp_store *st)
{
	struct kp_jwin_opts o = { .within = 10000, .grace = 0,
	    .left_unmatched = 1, .right_unmatched = 0 };
	struct kp_jwin *w = kp_jwin_new(&o, emit, NULL);
	struct kp_record r;
	char err[256];

	kp_record_init(&r);
	kp_buf_reset(&wout);
	/* a view at 0; a click at 10 s joins (|10000 - 0| <= 10000) */
	rec(&r, "u1", "{\"v\":1}", 0);
	is_int(kp_jwin_add(w, 0, "u1", 2, &r), 0, "window: view buffered");
	rec(&r, "u1", "{\"c\":1}", 10000);
	kp_jwin_add(w, 1, "u1", 2, &r);
	is_str(wout.data, "{\"v\":1}+{\"c\":1};", "window: click at 10 s joins");
	/* a click at 11 s: stream time 11000 > 0 + 10000, the view's window
	 * closes first (it joined, so nothing more for it); no join */
	kp_buf_reset(&wout);
	rec(&r, "u1", "{\"c\":2}", 11000);
	kp_jwin_add(w, 1, "u1", 2, &r);
	is_str(wout.data ? wout.data : "", "", "window: click at 11 s does not join");
	/* another key: a view at 12 s never clicked: emitted alone (--left)
	 * when stream time passes 22 s */
	rec(&r, "u2", "{\"v\":2}", 12000);
	kp_jwin_add(w, 0, "u2", 2, &r);
	rec(&r, "u3", "{\"v\":3}", 22000);
	kp_jwin_add(w, 0, "u3", 2, &r);
	is_str(wout.data ? wout.data : "", "", "window: 22 s does not close 12 s");
	rec(&r, "u3", "{\"v\":4}", 22001);
	kp_jwin_add(w, 0, "u3", 2, &r);
	is_str(wout.data, "{\"v\":2};", "window: 22.001 s closes 12 s, unmatched left");
	/* late: ts + grace (0) < stream time 22001 */
	rec(&r, "u3", "{\"c\":9}", 22000);
	is_int(kp_jwin_add(w, 1, "u3", 2, &r), 1, "window: a late record");
	/* the right side is not emitted alone without --outer */
	kp_buf_reset(&wout);
	rec(&r, "u3", "{\"c\":10}", 22001);
	kp_jwin_add(w, 1, "u3", 2, &r);
	is_str(wout.data, "{\"v\":3}+{\"c\":10};{\"v\":4}+{\"c\":10};",
	    "window: one right joins two lefts, in arrival order");
	/* the views at 22000 and 22001 and the click at 22001 */
	is_int(kp_jwin_buffered(w), 3, "window: 3 records buffered");
	if (st) {
		struct kp_jwin *w2;

		kp_jwin_free(w);
		/* persist: a new window with the store attached gets the
		 * same records */
		w = kp_jwin_new(&o, emit, NULL);
		kp_jwin_attach_store(w, st);
		kp_buf_reset(&wout);
		rec(&r, "u5", "{\"v\":5}", 1000);
		kp_jwin_add(w, 0, "u5", 2, &r);
		rec(&r, "u6", "{\"v\":6}", 2000);
		kp_jwin_add(w, 0, "u6", 2, &r);
		rec(&r, "u5", "{\"c\":5}", 3000);
		kp_jwin_add(w, 1, "u5", 2, &r);
		ok(kp_store_commit(st, 0, err, sizeof(err)) == 0, "window: commit");
		w2 = kp_jwin_new(&o, emit, NULL);
		ok(kp_jwin_load(w2, st, err, sizeof(err)) == 0, "window: load");
		is_int(kp_jwin_buffered(w2), 3, "window: 3 records reloaded");
		is_int(kp_jwin_stream_time(w2), 3000, "window: stream time reloaded");
		kp_buf_reset(&wout);
		/* closing all: u5 view joined, u6 view did not: only u6 */
		kp_jwin_close_all(w2);
		is_str(wout.data, "{\"v\":6};", "window: matched flag survives reload");
		kp_jwin_free(w2);
	} else {
		kp_buf_reset(&wout);
		kp_jwin_close_all(w);
		/* the u3 views and click all joined: nothing alone */
		is_str(wout.data ? wout.data : "", "", "window: close all, all matched");
	}
	kp_jwin_free(w);

	/* --outer with grace: right records come out alone too */
	o.right_unmatched = 1;
	o.grace = 5000;
	w = kp_jwin_new(&o, emit, NULL);
	kp_buf_reset(&wout);
	rec(&r, "k", "{\"c\":1}", 100000);
	kp_jwin_add(w, 1, "k", 1, &r);
	rec(&r, "k", "{\"v\":1}", 120000);
	kp_jwin_add(w, 0, "k", 1, &r);
	/* stream time 120000 > 100000 + 10000 + 5000: the click closes */
	is_str(wout.data, "{\"c\":1};", "window: outer, right emitted alone");
	/* with grace 5 s a record 5 s old is not late, 5.001 s is */
	rec(&r, "k", "{\"c\":2}", 115000);
	is_int(kp_jwin_add(w, 1, "k", 1, &r), 0, "window: within grace, not late");
	rec(&r, "k", "{\"c\":3}", 114999);
	is_int(kp_jwin_add(w, 1, "k", 1, &r), 1, "window: past grace, late");
	kp_buf_reset(&wout);
	kp_jwin_close_all(w);
	/* view 120000 joined c2 (|115000-120000| = 5000): nothing alone */
	is_str(wout.data ? wout.data : "", "", "window: outer close, all matched");
	kp_jwin_free(w);
	kp_record_free(&r);
}

/* kp_store_on_write(): every write of the window's store reaches the
 * hook, in order, so that replaying them into an empty store (what a
 * changelog restore does) gives the same contents */
static struct kp_store *mirror;
static int nput, ndel;

static void
hook(void *arg, const void *k, size_t kn, const void *v, size_t vn)
{
	(void)arg;
	if (v) {
		nput++;
		kp_store_put(mirror, k, kn, v, vn);
	} else {
		ndel++;
		kp_store_delete(mirror, k, kn);
	}
}

static void
dump(struct kp_store *st, struct kp_buf *out)
{
	struct kp_store_iter *it = kp_store_iter_new(st, NULL, 0);
	const void *k, *v;
	size_t kn, vn;

	while (kp_store_iter_next(it, &k, &kn, &v, &vn) == 1) {
		kp_buf_printf(out, "%zu:", kn);
		kp_buf_add(out, k, kn);
		kp_buf_printf(out, "=%zu:", vn);
		kp_buf_add(out, v, vn);
		kp_buf_addc(out, ';');
	}
	kp_store_iter_free(it);
}

static void
test_store_hook(struct kp_store *st, const char *mdir)
{
	struct kp_jwin_opts o = { .within = 10000, .left_unmatched = 1 };
	struct kp_jwin *w = kp_jwin_new(&o, emit, NULL);
	struct kp_buf a = {0}, b = {0};
	struct kp_record r;
	char err[256];

	kp_record_init(&r);
	if ((mirror = kp_store_open(mdir, 0, err, sizeof(err))) == NULL) {
		printf("# %s\n", err);
		exit(1);
	}
	kp_jwin_attach_store(w, st);
	kp_store_on_write(st, hook, NULL);
	/* by hand: each add puts its entry and the stream time "s" (2
	 * puts); the click at 30 s closes the view at 1 s (1 < 30 - 10):
	 * its entry is deleted (1 delete) */
	rec(&r, "u7", "{\"v\":7}", 1000);
	kp_jwin_add(w, 0, "u7", 2, &r);
	rec(&r, "u8", "{\"c\":8}", 30000);
	kp_jwin_add(w, 1, "u8", 2, &r);
	kp_store_put(st, "m", 1, "meta", 4);
	is_int(nput, 5, "store hook: 5 puts (2 entries, 2 stream times, m)");
	is_int(ndel, 1, "store hook: 1 delete (the closed view)");
	ok(kp_store_commit(st, 0, err, sizeof(err)) == 0 &&
	    kp_store_commit(mirror, 0, err, sizeof(err)) == 0, "store hook: commit");
	dump(st, &a);
	dump(mirror, &b);
	ok(a.len > 0 && a.len == b.len && !memcmp(a.data, b.data, a.len),
	    "store hook: replayed writes give the same store");
	kp_store_on_write(st, NULL, NULL);
	kp_store_put(st, "x", 1, "y", 1);
	is_int(nput, 5, "store hook: none after it is removed");
	kp_jwin_free(w);
	kp_store_close(mirror);
	kp_store_destroy(mdir, err, sizeof(err));
	kp_buf_free(&a);
	kp_buf_free(&b);
	kp_record_free(&r);
}

/* kp_jtable_prefetch() is a hint: look-ups answer the same after it */
static void
test_prefetch(void)
{
	struct kp_jtable *t = kp_jtable_new(NULL);
	const void *v;
	size_t vn;
	char err[64];
	int i;

	kp_jtable_prefetch(t, "a", 1, 0);	/* empty: no slots yet */
	kp_jtable_prefetch(t, "a", 1, 1);
	for (i = 0; i < 100; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		kp_jtable_put(t, k, strlen(k), k, strlen(k));
	}
	kp_jtable_prefetch(t, "k42", 3, 0);
	kp_jtable_prefetch(t, "k42", 3, 1);
	kp_jtable_prefetch(t, "nope", 4, 0);
	kp_jtable_prefetch(t, "nope", 4, 1);
	ok(kp_jtable_get(t, "k42", 3, &v, &vn, err, sizeof(err)) == 1 &&
	    vn == 3 && !memcmp(v, "k42", 3), "prefetch: a present key");
	ok(kp_jtable_get(t, "nope", 4, &v, &vn, err, sizeof(err)) == 0,
	    "prefetch: an absent key");
	kp_jtable_free(t);
}

/*
 * A memory table under churn, checked against a model (an array indexed
 * by key): values that grow (moved) and shrink (rewritten in place),
 * deletes, some values above a quarter of an arena chunk (their own
 * chunk), far more dead bytes than live ones (so the arena is compacted
 * many times), and size hints below, at and above the keys held.
 */
#define CHURN_KEYS	2000
static void
churn_value(char *buf, int key, int ver, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (char)('a' + (key * 31 + ver * 7 + (int)i) % 26);
}

static void
test_table_churn(void)
{
	static char buf[400000];
	static struct { int ver; size_t n; } m[CHURN_KEYS]; /* ver 0: absent */
	struct kp_jtable *t = kp_jtable_new(NULL);
	unsigned long x = 12345;
	const void *v;
	size_t vn, held = 0;
	char err[64], k[16];
	int i, op, key, bad = 0, checks = 0;

	kp_jtable_reserve(t, 100);
	for (op = 1; op <= 200000; op++) {
		x = x * 6364136223846793005UL + 1442695040888963407UL;
		key = (int)((x >> 33) % CHURN_KEYS);
		snprintf(k, sizeof(k), "key%d", key);
		if ((x >> 20) % 10 == 0) {
			kp_jtable_delete(t, k, strlen(k));
			held -= m[key].ver != 0;
			m[key].ver = 0;
		} else {
			size_t n = (x >> 40) % 600;

			if ((x >> 12) % 5000 == 0)
				n = 300000;
			churn_value(buf, key, op, n);
			kp_jtable_put(t, k, strlen(k), buf, n);
			held += m[key].ver == 0;
			m[key].ver = op;
			m[key].n = n;
		}
		if (op == 50000)
			kp_jtable_reserve(t, 10);	/* below: no effect */
		if (op == 100000)
			kp_jtable_reserve(t, 100000);
		if (op % 25000)
			continue;
		for (i = 0; i < CHURN_KEYS; i++) {
			int rc;

			snprintf(k, sizeof(k), "key%d", i);
			rc = kp_jtable_get(t, k, strlen(k), &v, &vn, err,
			    sizeof(err));
			checks++;
			if (m[i].ver == 0) {
				bad += rc != 0;
				continue;
			}
			churn_value(buf, i, m[i].ver, m[i].n);
			bad += rc != 1 || vn != m[i].n || memcmp(v, buf, vn);
		}
		bad += kp_jtable_count(t) != held;
	}
	ok(bad == 0 && checks == 8 * CHURN_KEYS,
	    "table churn: %d of %d look-ups and counts differ from the model",
	    bad, checks);
	kp_jtable_free(t);
}

int
main(void)
{
	char dir[] = "/tmp/u-join.XXXXXX", err[256];
	struct kp_store *st;

	jp = kp_json_parser_new();
	test_keys();
	test_merge();
	test_table(NULL);
	test_table_churn();
	test_choose();
	test_window(NULL);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if ((st = kp_store_open(dir, 0, err, sizeof(err))) == NULL) {
		printf("# %s\n", err);
		return 1;
	}
	test_table(st);
	kp_store_close(st);
	kp_store_destroy(dir, err, sizeof(err));
	if ((st = kp_store_open(dir, 0, err, sizeof(err))) == NULL) {
		printf("# %s\n", err);
		return 1;
	}
	test_window(st);
	kp_store_close(st);
	kp_store_destroy(dir, err, sizeof(err));
	if ((st = kp_store_open(dir, 0, err, sizeof(err))) == NULL) {
		printf("# %s\n", err);
		return 1;
	}
	{
		char mdir[4200];

		snprintf(mdir, sizeof(mdir), "%s/mirror", dir);
		test_store_hook(st, mdir);
	}
	kp_store_close(st);
	kp_store_destroy(dir, err, sizeof(err));
	rmdir(dir);
	test_prefetch();
	kp_json_parser_free(jp);
	return done_testing();
}
