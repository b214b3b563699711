/* u-window.c - tests of common/window.c: durations, window specs, window
 * assignment, close rules, session overlap.
 *
 * Oracles: /work/shared/cases/public-cases.md cases B01 and B02 and its
 * conventions (close rules of Kafka Streams at apache/kafka 1eb7644349cb),
 * whose URLs are cited at each group; every other expected value is worked
 * by hand in the comment next to it.
 */
#include <stdint.h>
#include <string.h>

#include "tap.h"
#include "window.h"

/* Assign ts and compare with want[0..nwant); name says which case. */
static void
check_assign(const struct kp_window_spec *w, int64_t ts, const int64_t *want,
    int nwant, const char *name)
{
	int64_t got[64];
	int n, i, same;

	memset(got, 0x5a, sizeof(got));
	n = kp_window_assign(w, ts, got, 64);
	same = n == nwant;
	for (i = 0; same && i < n; i++)
		same = got[i] == want[i];
	ok(same, "%s: ts %lld -> %d window(s)", name, (long long)ts, nwant);
	if (!same) {
		printf("#   got %d:", n);
		for (i = 0; i < n && i < 64; i++)
			printf(" %lld", (long long)got[i]);
		printf("\n");
	}
}

static struct kp_window_spec
hop(int64_t size, int64_t advance)
{
	struct kp_window_spec w = { KP_WIN_HOPPING, size, advance, 0 };
	return w;
}

static struct kp_window_spec
tumble(int64_t size)
{
	struct kp_window_spec w = { KP_WIN_TUMBLING, size, size, 0 };
	return w;
}

static void
test_duration(void)
{
	char err[128];
	int64_t ms;
	static const struct {
		const char *in;
		int64_t want;
	} good[] = {
		{ "250ms", 250 },
		{ "10s", 10000 },		/* 10 * 1000 */
		{ "5m", 300000 },		/* 5 * 60 * 1000 */
		{ "1h", 3600000 },		/* 60 * 60 * 1000 */
		{ "1d", 86400000 },		/* 24 * 3600 * 1000 */
		{ "1500", 1500 },		/* bare integer = ms */
		{ "0", 0 },
		{ "0s", 0 },
		{ "007s", 7000 },
		/* INT64_MAX itself, in ms */
		{ "9223372036854775807", INT64_MAX },
		{ "9223372036854775807ms", INT64_MAX },
		/*
		 * floor(INT64_MAX / 86400000) = 106751991167 days:
		 * 106751991167 * 86400000 = 9223372036828800000
		 * <= 9223372036854775807.
		 */
		{ "106751991167d", INT64_C(9223372036828800000) },
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "", "invalid duration '': empty" },
		{ "-5s", "invalid duration '-5s': negative" },
		{ "-0", "invalid duration '-0': negative" },
		{ "+5s", "invalid duration '+5s': not a number" },
		{ " 5s", "invalid duration ' 5s': not a number" },
		{ "s", "invalid duration 's': not a number" },
		{ "5x", "invalid duration '5x': unknown unit 'x' "
		    "(ms, s, m, h, d)" },
		{ "5 s", "invalid duration '5 s': unknown unit ' s' "
		    "(ms, s, m, h, d)" },
		{ "5S", "invalid duration '5S': unknown unit 'S' "
		    "(ms, s, m, h, d)" },
		{ "5sx", "invalid duration '5sx': trailing characters 'x'" },
		{ "5ms ", "invalid duration '5ms ': trailing characters ' '" },
		{ "1.5s", "invalid duration '1.5s': not a whole number" },
		/* INT64_MAX + 1 */
		{ "9223372036854775808",
		    "invalid duration '9223372036854775808': out of range" },
		{ "99999999999999999999999",
		    "invalid duration '99999999999999999999999': out of range" },
		/* 106751991168 * 86400000 = 9223372036915200000 > INT64_MAX */
		{ "106751991168d",
		    "invalid duration '106751991168d': out of range" },
		/* 9223372036854776 * 1000 = 9223372036854776000 > INT64_MAX */
		{ "9223372036854776s",
		    "invalid duration '9223372036854776s': out of range" },
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = -1;
		err[0] = '\0';
		is_int(kp_duration_parse(good[i].in, &ms, err, sizeof(err)), 0,
		    "duration '%s' parses", good[i].in);
		is_int(ms, good[i].want, "duration '%s' = %lld ms", good[i].in,
		    (long long)good[i].want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 42;
		err[0] = '\0';
		is_int(kp_duration_parse(bad[i].in, &ms, err, sizeof(err)), -1,
		    "duration '%s' is rejected", bad[i].in);
		is_str(err, bad[i].why, "duration '%s': error text", bad[i].in);
		is_int(ms, 42, "duration '%s': output untouched", bad[i].in);
	}
	/* NULL / tiny error buffers are safe and truncate. */
	is_int(kp_duration_parse("5x", &ms, NULL, 0), -1, "NULL errstr ok");
	memset(err, 'Z', sizeof(err));
	is_int(kp_duration_parse("5x", &ms, err, 8), -1, "short errstr");
	is_str(err, "invalid", "errstr truncated to 7 chars + NUL");
	is_int(kp_duration_parse(NULL, &ms, err, sizeof(err)), -1,
	    "NULL string rejected");
}

static void
test_spec_parse(void)
{
	struct kp_window_spec w;
	char err[256];
	static const struct {
		const char *in;
		struct kp_window_spec want;
	} good[] = {
		{ "none", { KP_WIN_NONE, 0, 0, 0 } },
		{ "tumbling:1m", { KP_WIN_TUMBLING, 60000, 60000, 0 } },
		{ "tumbling:250", { KP_WIN_TUMBLING, 250, 250, 0 } },
		{ "hopping:1h:5m", { KP_WIN_HOPPING, 3600000, 300000, 0 } },
		{ "hopping:10s:10s", { KP_WIN_HOPPING, 10000, 10000, 0 } },
		{ "hopping:12:5", { KP_WIN_HOPPING, 12, 5, 0 } },
		{ "session:30s", { KP_WIN_SESSION, 0, 0, 30000 } },
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "", "invalid window '': expected none, tumbling:SIZE, "
		    "hopping:SIZE:ADVANCE or session:GAP" },
		{ "tumbling", "invalid window 'tumbling': expected none, "
		    "tumbling:SIZE, hopping:SIZE:ADVANCE or session:GAP" },
		{ "none:1s", "invalid window 'none:1s': unknown type 'none' "
		    "(none, tumbling, hopping, session)" },
		{ "sliding:1s", "invalid window 'sliding:1s': unknown type "
		    "'sliding' (none, tumbling, hopping, session)" },
		{ "Tumbling:1s", "invalid window 'Tumbling:1s': unknown type "
		    "'Tumbling' (none, tumbling, hopping, session)" },
		{ "tumbling:", "invalid window 'tumbling:': size: "
		    "invalid duration '': empty" },
		{ "tumbling:0s", "invalid window 'tumbling:0s': size must "
		    "be > 0" },
		{ "tumbling:5x", "invalid window 'tumbling:5x': size: invalid "
		    "duration '5x': unknown unit 'x' (ms, s, m, h, d)" },
		{ "tumbling:1s:1s", "invalid window 'tumbling:1s:1s': tumbling "
		    "takes one duration (tumbling:SIZE)" },
		{ "hopping:1s", "invalid window 'hopping:1s': hopping takes "
		    "two durations (hopping:SIZE:ADVANCE)" },
		{ "hopping:1s:1s:1s", "invalid window 'hopping:1s:1s:1s': "
		    "hopping takes two durations (hopping:SIZE:ADVANCE)" },
		{ "hopping:5s:10s", "invalid window 'hopping:5s:10s': advance "
		    "10000 ms exceeds size 5000 ms" },
		{ "hopping:5s:0", "invalid window 'hopping:5s:0': advance must "
		    "be > 0" },
		{ "hopping::1s", "invalid window 'hopping::1s': size: invalid "
		    "duration '': empty" },
		{ "hopping:-5s:1s", "invalid window 'hopping:-5s:1s': size: "
		    "invalid duration '-5s': negative" },
		{ "session:0", "invalid window 'session:0': gap must be > 0" },
		{ "session:1s:1s", "invalid window 'session:1s:1s': session "
		    "takes one duration (session:GAP)" },
	};
	size_t i;
	struct kp_window_spec sentinel = { KP_WIN_SESSION, 7, 7, 7 };

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&w, 0x5a, sizeof(w));
		is_int(kp_window_spec_parse(good[i].in, &w, err, sizeof(err)),
		    0, "spec '%s' parses", good[i].in);
		ok(w.type == good[i].want.type &&
		    w.size == good[i].want.size &&
		    w.advance == good[i].want.advance &&
		    w.gap == good[i].want.gap,
		    "spec '%s' = {%d, %lld, %lld, %lld}", good[i].in,
		    (int)good[i].want.type, (long long)good[i].want.size,
		    (long long)good[i].want.advance,
		    (long long)good[i].want.gap);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = sentinel;
		err[0] = '\0';
		is_int(kp_window_spec_parse(bad[i].in, &w, err, sizeof(err)),
		    -1, "spec '%s' is rejected", bad[i].in);
		is_str(err, bad[i].why, "spec '%s': error text", bad[i].in);
		ok(w.type == KP_WIN_SESSION && w.size == 7 && w.gap == 7,
		    "spec '%s': output untouched", bad[i].in);
	}
}

/*
 * B01, https://github.com/apache/kafka/pull/1462 (KAFKA-3784), vectors from
 * TimeWindowsTest; plus our documented negative-start rule.
 */
static void
test_assign_b01(void)
{
	struct kp_window_spec w;

	/*
	 * size 6, advance 5, ts 7: candidate starts are multiples of 5 in
	 * (7-6, 7] = (1, 7] -> only 5: [5,11).  [0,6) does not hold 7.
	 */
	w = hop(6, 5);
	check_assign(&w, 7, (const int64_t[]){ 5 }, 1,
	    "B01 hopping 6/5 barely overlapping");

	/* size 12, advance 5, ts 21: multiples of 5 in (9, 21] = 10,15,20. */
	w = hop(12, 5);
	check_assign(&w, 21, (const int64_t[]){ 10, 15, 20 }, 3,
	    "B01 hopping 12/5");

	/* tumbling 12, ts 21: floor(21/12)*12 = 12 -> [12,24). */
	w = tumble(12);
	check_assign(&w, 21, (const int64_t[]){ 12 }, 1, "B01 tumbling 12");
	/* ts 24: 24 is not in [12,24) (end exclusive); [24,36) only. */
	check_assign(&w, 24, (const int64_t[]){ 24 }, 1,
	    "B01 tumbling 12 boundary, end exclusive");
	/* ts 23: last instant of [12,24). */
	check_assign(&w, 23, (const int64_t[]){ 12 }, 1,
	    "tumbling 12 last instant");

	/*
	 * OUR RULE (window.h): pure epoch alignment, no clamp at 0.
	 * size 12, advance 5, ts 3: multiples of 5 in (3-12, 3] = (-9, 3]
	 * are -5 and 0 -> [-5,7) and [0,12).  Kafka gives [0,12) only,
	 * Flink both (B01 last bullet).
	 */
	w = hop(12, 5);
	check_assign(&w, 3, (const int64_t[]){ -5, 0 }, 2,
	    "B01 hopping 12/5 ts 3: our rule keeps [-5,7)");
	/* ts 0: multiples of 5 in (-12, 0] = -10, -5, 0. */
	check_assign(&w, 0, (const int64_t[]){ -10, -5, 0 }, 3,
	    "hopping 12/5 ts 0");
}

/*
 * B02, https://github.com/apache/flink/pull/18982 (FLINK-26334) and
 * https://github.com/apache/kafka/pull/1393 (KAFKA-3716): tumbling 10,
 * start = ts - floormod(ts, 10).
 */
static void
test_assign_b02(void)
{
	struct kp_window_spec w = tumble(10);
	struct kp_window_spec h = hop(10, 4);

	/* floormod(-15, 10) = 5 -> -20: [-20,-10) (C's % would give -10). */
	check_assign(&w, -15, (const int64_t[]){ -20 }, 1, "B02 ts -15");
	/* floormod(-1, 10) = 9 -> -10: [-10,0); -1 is the no-timestamp
	 * sentinel of kcat #105 and must not crash anything. */
	check_assign(&w, -1, (const int64_t[]){ -10 }, 1, "B02 ts -1");
	check_assign(&w, 0, (const int64_t[]){ 0 }, 1, "B02 ts 0");
	check_assign(&w, 9, (const int64_t[]){ 0 }, 1, "B02 ts 9");
	check_assign(&w, 10, (const int64_t[]){ 10 }, 1, "B02 ts 10");
	/* -10 is the first instant of [-10,0); -11 the last of [-20,-10). */
	check_assign(&w, -10, (const int64_t[]){ -10 }, 1, "tumbling ts -10");
	check_assign(&w, -11, (const int64_t[]){ -20 }, 1, "tumbling ts -11");

	/*
	 * Hopping 10/4 on negatives: ts -15, multiples of 4 in (-25, -15]:
	 * -24, -20, -16.  ts -1: (-11, -1] -> -8, -4.  ts -16: (-26, -16]
	 * -> -24, -20, -16.
	 */
	check_assign(&h, -15, (const int64_t[]){ -24, -20, -16 }, 3,
	    "hopping 10/4 ts -15");
	check_assign(&h, -1, (const int64_t[]){ -8, -4 }, 2,
	    "hopping 10/4 ts -1");
	check_assign(&h, -16, (const int64_t[]){ -24, -20, -16 }, 3,
	    "hopping 10/4 ts -16");
	/* ts 5: (-5, 5] -> -4, 0, 4. */
	check_assign(&h, 5, (const int64_t[]){ -4, 0, 4 }, 3,
	    "hopping 10/4 ts 5");
}

/* Every start returned must hold ts, and none may be missing: brute force
 * over a small range (an independent check of the formula). */
static void
test_assign_brute(void)
{
	static const int64_t sz[][2] = {
		{ 1, 1 }, { 10, 10 }, { 6, 5 }, { 12, 5 }, { 10, 4 },
		{ 7, 3 }, { 9, 3 }, { 5, 1 }, { 13, 13 },
	};
	int64_t got[32], ts, s, want[32];
	size_t k;
	int n, m, i, bad = 0, tries = 0;

	for (k = 0; k < sizeof(sz) / sizeof(sz[0]); k++) {
		struct kp_window_spec w = sz[k][0] == sz[k][1] ?
		    tumble(sz[k][0]) : hop(sz[k][0], sz[k][1]);

		for (ts = -60; ts <= 60; ts++) {
			m = 0;
			/* every multiple of advance in [-100, 100] that
			 * satisfies start <= ts < start + size */
			for (s = -100; s <= 100; s++)
				if (s % sz[k][1] == 0 && s <= ts &&
				    ts < s + sz[k][0])
					want[m++] = s;
			n = kp_window_assign(&w, ts, got, 32);
			tries++;
			if (n != m) {
				bad++;
				continue;
			}
			for (i = 0; i < n; i++)
				if (got[i] != want[i])
					bad++;
		}
	}
	is_int(bad, 0, "brute force over %d (spec, ts) pairs", tries);
}

static void
test_assign_limits(void)
{
	struct kp_window_spec w = hop(12, 5), t = tumble(10);
	struct kp_window_spec none = { KP_WIN_NONE, 0, 0, 0 };
	struct kp_window_spec sess = { KP_WIN_SESSION, 0, 0, 5 };
	struct kp_window_spec badhop = { KP_WIN_HOPPING, 5, 10, 0 };
	struct kp_window_spec badtum = { KP_WIN_TUMBLING, 10, 5, 0 };
	struct kp_window_spec zero = { KP_WIN_TUMBLING, 0, 0, 0 };
	int64_t got[4] = { 11, 11, 11, 11 };

	/* ceil(12/5) = 3; tumbling 1; 10/4 -> 3; 1h/1m -> 60; 7/7 -> 1 */
	is_int(kp_window_max_windows(&w), 3, "max windows 12/5 = 3");
	is_int(kp_window_max_windows(&t), 1, "max windows tumbling = 1");
	w = hop(10, 4);
	is_int(kp_window_max_windows(&w), 3, "max windows 10/4 = 3");
	w = hop(3600000, 60000);
	is_int(kp_window_max_windows(&w), 60, "max windows 1h/1m = 60");
	is_int(kp_window_max_windows(&none), -1, "max windows none = -1");
	is_int(kp_window_max_windows(&sess), -1, "max windows session = -1");
	is_int(kp_window_max_windows(&badhop), -1, "advance > size = -1");

	/* Wrong types and invalid specs. */
	is_int(kp_window_assign(&none, 5, got, 4), -1, "assign none = -1");
	is_int(kp_window_assign(&sess, 5, got, 4), -1, "assign session = -1");
	is_int(kp_window_assign(&badhop, 5, got, 4), -1,
	    "assign advance > size = -1");
	is_int(kp_window_assign(&badtum, 5, got, 4), -1,
	    "assign tumbling advance != size = -1");
	is_int(kp_window_assign(&zero, 5, got, 4), -1, "assign size 0 = -1");
	is_int(kp_window_assign(NULL, 5, got, 4), -1, "assign NULL = -1");

	/* max too small: 12/5 at ts 21 needs 3. */
	w = hop(12, 5);
	is_int(kp_window_assign(&w, 21, got, 2), -1, "max 2 < 3 windows");
	is_int(got[0], 11, "nothing written when max is too small");
	is_int(kp_window_assign(&w, 21, got, 0), -1, "max 0");
	/* ts 24: multiples of 5 in (12, 24] = 15, 20: two fit in 2. */
	is_int(kp_window_assign(&w, 24, got, 2), 2, "12/5 ts 24 fits in 2");

	/*
	 * Near INT64_MIN: tumbling 10 at INT64_MIN = -9223372036854775808,
	 * floormod = 2 (…800 + 8 = …810 is a multiple of 10, so the start
	 * would be …810 < INT64_MIN): -1.
	 * INT64_MIN + 8 = -9223372036854775800 is itself a multiple of 10:
	 * its window starts there.
	 */
	is_int(kp_window_assign(&t, INT64_MIN, got, 4), -1,
	    "INT64_MIN: start below int64 -> -1");
	check_assign(&t, INT64_MIN + 8,
	    (const int64_t[]){ INT64_MIN + 8 }, 1, "INT64_MIN + 8");
	/*
	 * Near INT64_MAX = 9223372036854775807: tumbling 10, the window
	 * holding it starts at …800 and ends at …810 > INT64_MAX: -1.
	 * INT64_MAX - 8 = …799 lies in [...790, ...800): end …800 fits.
	 */
	is_int(kp_window_assign(&t, INT64_MAX, got, 4), -1,
	    "INT64_MAX: end above int64 -> -1");
	check_assign(&t, INT64_MAX - 8,
	    (const int64_t[]){ INT64_MAX - 17 }, 1, "INT64_MAX - 8");
	/* Tumbling size 1 at both extremes: [ts, ts+1) fits except at MAX. */
	t = tumble(1);
	check_assign(&t, INT64_MIN, (const int64_t[]){ INT64_MIN }, 1,
	    "size 1 at INT64_MIN");
	is_int(kp_window_assign(&t, INT64_MAX, got, 4), -1,
	    "size 1 at INT64_MAX: end INT64_MAX + 1 -> -1");
	/*
	 * Hopping 12/5 at ts = INT64_MIN + 12 = -9223372036854775796:
	 * multiples of 5 in (ts - 12, ts] = (MIN, MIN + 12] are
	 * -9223372036854775805 = MIN + 3 and -…800 = MIN + 8; both starts
	 * and ends fit.  At ts = MIN + 4 the multiples in (MIN - 8, MIN + 4]
	 * are MIN - 2 and MIN + 3: MIN - 2 is not an int64 -> -1.
	 */
	w = hop(12, 5);
	check_assign(&w, INT64_MIN + 12,
	    (const int64_t[]){ INT64_MIN + 3, INT64_MIN + 8 }, 2,
	    "hopping 12/5 at INT64_MIN + 12");
	is_int(kp_window_assign(&w, INT64_MIN + 4, got, 4), -1,
	    "hopping 12/5 at INT64_MIN + 4: earliest start below int64");
	/*
	 * All or nothing: hopping 10/5 at ts = MAX - 3 = …804: starts …795
	 * (end …805, fits) and …800 (end …810 > …807): -1, not a partial
	 * list.
	 */
	w = hop(10, 5);
	is_int(kp_window_assign(&w, INT64_MAX - 3, got, 4), -1,
	    "hopping 10/5 at INT64_MAX - 3: one end overflows -> -1");
	/* Size INT64_MAX at ts 1: [0, INT64_MAX) fits; at ts MAX it is
	 * [MAX, 2*MAX): -1. */
	w = tumble(INT64_MAX);
	check_assign(&w, 1, (const int64_t[]){ 0 }, 1, "size INT64_MAX ts 1");
	is_int(kp_window_assign(&w, INT64_MAX, got, 4), -1,
	    "size INT64_MAX at ts INT64_MAX -> -1");
	/* ts -1: floormod(-1, MAX) = MAX - 1, start -MAX = MIN + 1, end 0. */
	check_assign(&w, -1, (const int64_t[]){ INT64_MIN + 1 }, 1,
	    "size INT64_MAX ts -1");
}

/*
 * Close rules: conventions of public-cases.md ("Close rules are those of
 * Kafka Streams", KTableSuppressProcessorSupplier.enforceConstraints,
 * GraphGraceSearchUtil; KIP-328).
 */
static void
test_close(void)
{
	int64_t end = 100, grace = 20, last = 100, gap = 30;

	/*
	 * Time window [90,100), grace 20: closed iff stream_time >= 120.
	 * Kafka accepts iff end > st - grace: st 119 -> 100 > 99 accept;
	 * st 120 -> 100 > 100 false, reject; so ours == Kafka here.
	 */
	is_int(kp_window_is_closed(end, end + grace - 1, grace), 0,
	    "window open at end+grace-1 (119): emits nothing, accepts");
	is_int(kp_window_is_closed(end, end + grace, grace), 1,
	    "window closed at end+grace (120): emits final, rejects late");
	is_int(kp_window_is_closed(end, end + grace + 1, grace), 1,
	    "window closed at end+grace+1 (121)");
	/* grace 0: closes when stream time reaches the exclusive end. */
	is_int(kp_window_is_closed(100, 99, 0), 0, "grace 0, st 99 open");
	is_int(kp_window_is_closed(100, 100, 0), 1, "grace 0, st 100 closed");
	is_int(kp_window_is_closed(100, 50, 0), 0, "st before end is open");
	is_int(kp_window_is_closed(100, 200, -1), -1, "negative grace = -1");
	/* Negative window ends (B02 windows). */
	is_int(kp_window_is_closed(-10, -11, 0), 0, "end -10 st -11 open");
	is_int(kp_window_is_closed(-10, -10, 0), 1, "end -10 st -10 closed");
	/* No overflow: end + grace > INT64_MAX never closes. */
	is_int(kp_window_is_closed(INT64_MAX - 5, INT64_MAX, 10), 0,
	    "end+grace past INT64_MAX: open, no overflow");
	is_int(kp_window_is_closed(INT64_MAX - 5, INT64_MAX, 5), 1,
	    "end+grace == INT64_MAX: closed at INT64_MAX");
	/* end MIN + grace MAX = -1: closed from st -1 on. */
	is_int(kp_window_is_closed(INT64_MIN, -1, INT64_MAX), 1,
	    "end MIN, grace MAX: closed at st -1");
	is_int(kp_window_is_closed(INT64_MIN, -2, INT64_MAX), 0,
	    "end MIN, grace MAX: open at st -2");

	/*
	 * Session [_, 100], gap 30, grace 20: closed iff st >= 150.
	 * Kafka emits at st 150 and still accepts a record whose merged
	 * end is 100 (100 >= 150 - 20 - 30 = 100): B08.  Ours rejects it.
	 */
	is_int(kp_session_is_closed(last, gap, grace, last + gap + grace - 1),
	    0, "session open at last+gap+grace-1 (149)");
	is_int(kp_session_is_closed(last, gap, grace, last + gap + grace),
	    1, "session closed at last+gap+grace (150): emits and rejects "
	    "(Kafka would also accept: B08)");
	is_int(kp_session_is_closed(last, gap, grace, last + gap + grace + 1),
	    1, "session closed at last+gap+grace+1 (151)");
	is_int(kp_session_is_closed(last, gap, 0, 129), 0,
	    "grace 0: open at 129");
	is_int(kp_session_is_closed(last, gap, 0, 130), 1,
	    "grace 0: closed at 130");
	is_int(kp_session_is_closed(last, -1, 0, 130), -1, "gap < 0 = -1");
	is_int(kp_session_is_closed(last, 1, -1, 130), -1, "grace < 0 = -1");
	/* gap + grace = 2*INT64_MAX does not overflow: never closed. */
	is_int(kp_session_is_closed(0, INT64_MAX, INT64_MAX, INT64_MAX), 0,
	    "gap+grace beyond int64: open");
	is_int(kp_session_is_closed(INT64_MIN, INT64_MAX, 0, -1), 1,
	    "MIN + MAX = -1: closed at st -1");
	is_int(kp_session_is_closed(INT64_MIN, INT64_MAX, 0, -2), 0,
	    "MIN + MAX = -1: open at st -2");

	/*
	 * Rule (b) of window.h, worked: session [0,10], gap 5, grace 0.
	 * It closes at st 15.  At st 15 a record at ts 14 would merge
	 * (14 <= 10 + 5) into [0,14], whose own close is 19 > 15, so Kafka
	 * accepts it and extends an emitted session.  Our rule: the existing
	 * session is closed -> the record is late.
	 */
	is_int(kp_session_overlaps(0, 10, 14, 5), 1,
	    "rule (b): ts 14 merges with [0,10] gap 5");
	is_int(kp_session_is_closed(10, 5, 0, 15), 1,
	    "rule (b): [0,10] closed at st 15 -> record late");
	is_int(kp_session_is_closed(14, 5, 0, 15), 0,
	    "rule (b): merged [0,14] alone would look open");
}

/*
 * Session overlap: Kafka Streams KStreamSessionWindowAggregate,
 * findSessions(key, ts - gap, ts + gap), inclusive bounds
 * (https://github.com/apache/kafka at 1eb7644349cb,
 * streams/.../kstream/internals/KStreamSessionWindowAggregate.java).
 */
static void
test_overlaps(void)
{
	/* Session [100, 200], gap 10: merges ts in [90, 210]. */
	is_int(kp_session_overlaps(100, 200, 89, 10), 0, "ts 89: 11 before");
	is_int(kp_session_overlaps(100, 200, 90, 10), 1,
	    "ts 90: exactly gap before merges");
	is_int(kp_session_overlaps(100, 200, 150, 10), 1, "ts inside");
	is_int(kp_session_overlaps(100, 200, 210, 10), 1,
	    "ts 210: exactly gap after merges");
	is_int(kp_session_overlaps(100, 200, 211, 10), 0, "ts 211: 11 after");
	/* Single-point session and gap 0: only the same instant. */
	is_int(kp_session_overlaps(5, 5, 5, 0), 1, "gap 0 same ts");
	is_int(kp_session_overlaps(5, 5, 6, 0), 0, "gap 0 next ts");
	/* Negative times. */
	is_int(kp_session_overlaps(-20, -10, -25, 5), 1, "neg: -25 in gap");
	is_int(kp_session_overlaps(-20, -10, -26, 5), 0, "neg: -26 out");
	is_int(kp_session_overlaps(-20, -10, -5, 5), 1, "neg: -5 in gap");
	is_int(kp_session_overlaps(-20, -10, -4, 5), 0, "neg: -4 out");
	/* Extremes: distances beyond int64 must not overflow. */
	is_int(kp_session_overlaps(INT64_MAX, INT64_MAX, INT64_MIN, INT64_MAX),
	    0, "MIN vs MAX, distance 2^64-1 > gap");
	is_int(kp_session_overlaps(INT64_MIN, INT64_MIN, INT64_MAX, INT64_MAX),
	    0, "MAX after MIN, distance 2^64-1 > gap");
	is_int(kp_session_overlaps(0, 0, INT64_MAX, INT64_MAX), 1,
	    "ts MAX, session 0, gap MAX: exactly gap");
	is_int(kp_session_overlaps(0, 0, INT64_MIN, INT64_MAX), 0,
	    "ts MIN, session 0, gap MAX: gap + 1 away");
	is_int(kp_session_overlaps(10, 5, 7, 1), -1, "first > last = -1");
	is_int(kp_session_overlaps(0, 5, 7, -1), -1, "gap < 0 = -1");
}

int
main(void)
{
	test_duration();
	test_spec_parse();
	test_assign_b01();
	test_assign_b02();
	test_assign_brute();
	test_assign_limits();
	test_close();
	test_overlaps();
	return done_testing();
}
