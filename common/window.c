/* window.c - durations, window specs, window assignment and close rules.
 * See window.h for the rules and their sources. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "window.h"

static void
seterr(char *errstr, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
seterr(char *errstr, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (errstr == NULL || n == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errstr, n, fmt, ap);
	va_end(ap);
}

/* Units, longest name first so that "ms" is not read as "m" + "s". */
static const struct {
	const char *name;
	int64_t ms;
} units[] = {
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ "h", 60 * 60 * 1000 },
	{ "d", 24 * 60 * 60 * 1000 },
};

int
kp_duration_parse(const char *s, int64_t *ms, char *errstr, size_t n)
{
	const char *p = s, *rest;
	int64_t v = 0, mult = -1;
	size_t i, len = 0;

	if (s == NULL || *s == '\0') {
		seterr(errstr, n, "invalid duration '': empty");
		return -1;
	}
	if (*p == '-') {
		seterr(errstr, n, "invalid duration '%s': negative", s);
		return -1;
	}
	if (*p < '0' || *p > '9') {
		seterr(errstr, n, "invalid duration '%s': not a number", s);
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, *p - '0', &v)) {
			seterr(errstr, n, "invalid duration '%s': out of range",
			    s);
			return -1;
		}
	}
	rest = p;
	if (*rest == '\0') {
		mult = 1;
	} else if (*rest == '.' || *rest == ',') {
		seterr(errstr, n,
		    "invalid duration '%s': not a whole number", s);
		return -1;
	} else {
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			len = strlen(units[i].name);
			if (strncmp(rest, units[i].name, len) == 0) {
				mult = units[i].ms;
				break;
			}
		}
		if (mult < 0) {
			seterr(errstr, n, "invalid duration '%s': unknown unit "
			    "'%s' (ms, s, m, h, d)", s, rest);
			return -1;
		}
		if (rest[len] != '\0') {
			seterr(errstr, n, "invalid duration '%s': trailing "
			    "characters '%s'", s, rest + len);
			return -1;
		}
	}
	if (__builtin_mul_overflow(v, mult, &v)) {
		seterr(errstr, n, "invalid duration '%s': out of range", s);
		return -1;
	}
	*ms = v;
	return 0;
}

/*
 * Parse one duration field of a window spec: the n bytes at f.  The error
 * names the whole spec and the field.
 */
static int
spec_field(const char *spec, const char *what, const char *f, size_t len,
    int64_t *out, char *errstr, size_t n)
{
	char buf[64], why[192];

	if (len >= sizeof(buf)) {
		seterr(errstr, n, "invalid window '%s': %s too long", spec,
		    what);
		return -1;
	}
	memcpy(buf, f, len);
	buf[len] = '\0';
	if (kp_duration_parse(buf, out, why, sizeof(why)) < 0) {
		seterr(errstr, n, "invalid window '%s': %s: %s", spec, what,
		    why);
		return -1;
	}
	if (*out <= 0) {
		seterr(errstr, n, "invalid window '%s': %s must be > 0", spec,
		    what);
		return -1;
	}
	return 0;
}

int
kp_window_spec_parse(const char *s, struct kp_window_spec *out,
    char *errstr, size_t n)
{
	struct kp_window_spec w = { KP_WIN_NONE, 0, 0, 0 };
	const char *a, *b;

	if (s == NULL)
		s = "";
	if (strcmp(s, "none") == 0) {
		*out = w;
		return 0;
	}
	a = strchr(s, ':');
	if (a == NULL) {
		seterr(errstr, n, "invalid window '%s': expected none, "
		    "tumbling:SIZE, hopping:SIZE:ADVANCE or session:GAP", s);
		return -1;
	}
	a++;
	b = strchr(a, ':');
	if (strncmp(s, "tumbling:", 9) == 0) {
		if (b != NULL) {
			seterr(errstr, n, "invalid window '%s': tumbling takes "
			    "one duration (tumbling:SIZE)", s);
			return -1;
		}
		if (spec_field(s, "size", a, strlen(a), &w.size, errstr, n))
			return -1;
		w.type = KP_WIN_TUMBLING;
		w.advance = w.size;
	} else if (strncmp(s, "hopping:", 8) == 0) {
		if (b == NULL || strchr(b + 1, ':') != NULL) {
			seterr(errstr, n, "invalid window '%s': hopping takes "
			    "two durations (hopping:SIZE:ADVANCE)", s);
			return -1;
		}
		if (spec_field(s, "size", a, (size_t)(b - a), &w.size, errstr,
		    n) || spec_field(s, "advance", b + 1, strlen(b + 1),
		    &w.advance, errstr, n))
			return -1;
		if (w.advance > w.size) {
			seterr(errstr, n, "invalid window '%s': advance %lld ms "
			    "exceeds size %lld ms", s, (long long)w.advance,
			    (long long)w.size);
			return -1;
		}
		w.type = KP_WIN_HOPPING;
	} else if (strncmp(s, "session:", 8) == 0) {
		if (b != NULL) {
			seterr(errstr, n, "invalid window '%s': session takes "
			    "one duration (session:GAP)", s);
			return -1;
		}
		if (spec_field(s, "gap", a, strlen(a), &w.gap, errstr, n))
			return -1;
		w.type = KP_WIN_SESSION;
	} else {
		seterr(errstr, n, "invalid window '%s': unknown type '%.*s' "
		    "(none, tumbling, hopping, session)", s, (int)(a - 1 - s),
		    s);
		return -1;
	}
	*out = w;
	return 0;
}

static int
spec_ok(const struct kp_window_spec *w)
{
	if (w == NULL || w->size <= 0 || w->advance <= 0 ||
	    w->advance > w->size)
		return 0;
	if (w->type == KP_WIN_TUMBLING)
		return w->advance == w->size;
	return w->type == KP_WIN_HOPPING;
}

int64_t
kp_window_max_windows(const struct kp_window_spec *w)
{
	if (!spec_ok(w))
		return -1;
	return (w->size - 1) / w->advance + 1;
}

int
kp_window_assign(const struct kp_window_spec *w, int64_t ts, int64_t *starts,
    int max)
{
	int64_t r, last, first, count, span, end, i;

	if (!spec_ok(w) || max <= 0)
		return -1;
	/* r = floormod(ts, advance), in [0, advance). */
	r = ts % w->advance;
	if (r < 0)
		r += w->advance;
	/* The latest window containing ts starts at ts - r. */
	if (__builtin_sub_overflow(ts, r, &last))
		return -1;
	/*
	 * Starts last - j*advance contain ts while r + j*advance < size,
	 * so there are ceil((size - r) / advance) of them; size - r > 0
	 * because r < advance <= size.
	 */
	count = (w->size - r - 1) / w->advance + 1;
	if (count > max)
		return -1;
	if (__builtin_mul_overflow(count - 1, w->advance, &span) ||
	    __builtin_sub_overflow(last, span, &first) ||
	    __builtin_add_overflow(last, w->size, &end))
		return -1;
	for (i = 0; i < count; i++)
		starts[i] = first + i * w->advance;
	return (int)count;
}

/*
 * 1 when t >= base + delta, for delta >= 0 as an unsigned 64-bit value
 * (which may exceed INT64_MAX), without overflow.
 */
static int
reached(int64_t t, int64_t base, uint64_t delta)
{
	if (t < base)
		return 0;
	return (uint64_t)t - (uint64_t)base >= delta;
}

int
kp_window_is_closed(int64_t window_end, int64_t stream_time, int64_t grace)
{
	if (grace < 0)
		return -1;
	return reached(stream_time, window_end, (uint64_t)grace);
}

int
kp_session_is_closed(int64_t last, int64_t gap, int64_t grace,
    int64_t stream_time)
{
	if (gap < 0 || grace < 0)
		return -1;
	return reached(stream_time, last, (uint64_t)gap + (uint64_t)grace);
}

int
kp_session_overlaps(int64_t s_first, int64_t s_last, int64_t ts, int64_t gap)
{
	if (gap < 0 || s_first > s_last)
		return -1;
	/* ts >= s_first - gap and ts <= s_last + gap, as distances. */
	if (ts < s_first && (uint64_t)s_first - (uint64_t)ts > (uint64_t)gap)
		return 0;
	if (ts > s_last && (uint64_t)ts - (uint64_t)s_last > (uint64_t)gap)
		return 0;
	return 1;
}
