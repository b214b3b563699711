/* window.h - durations, time-window specs, window assignment and close rules
 *
 * Pure functions, no allocation, no I/O: the arithmetic behind kagg's
 * tumbling, hopping and session windows, following Kafka Streams
 * (TimeWindows, SessionWindows, KIP-328 grace periods and suppress) except
 * where a rule below says otherwise.
 *
 * Units.  kp_duration_parse() and kp_window_spec_parse() produce
 * milliseconds.  Every other function here is unit-agnostic: all of its
 * times (timestamps, window starts and ends, sizes, advances, gaps, grace,
 * stream time) must be int64 values in the SAME unit as the event time; a
 * caller whose event time is in seconds or microseconds converts the spec
 * first.
 *
 * Rules decided here (see also /work/shared/cases/public-cases.md):
 *
 *  - Time windows are half-open [start, start + size), aligned to the epoch:
 *    start is a multiple of advance (Kafka Streams TimeWindows).
 *
 *  - Negative timestamps are accepted and use pure epoch alignment with
 *    floor division (Flink's rule; case B02: size 10, ts -15 -> [-20,-10)).
 *    Consequence for hopping windows (case B01): size 12, advance 5, ts 3
 *    belongs to [-5,7) AND [0,12).  Kafka Streams' windowsFor() clamps the
 *    first start at 0 and would give only [0,12); we do not, so that a
 *    window's content never depends on where zero is.  A caller who wants
 *    Kafka's behaviour rejects ts < 0 (B02's alternative: DLQ with reason
 *    negative_timestamp) and drops the windows whose start is < 0.
 *
 *  - Stream time is the largest event time seen on the partition, INCLUDING
 *    the record being processed (Kafka updates observedStreamTime before the
 *    check, KStreamWindowAggregate / KStreamSessionWindowAggregate).
 *
 *  - Time window close (Kafka Streams; KIP-328): the window [start, end) is
 *    closed when stream_time >= end + grace.  At that moment it is emitted
 *    as final (suppress(untilWindowCloses)), and a record for it is late.
 *    A record is accepted into a window iff the window is not closed by this
 *    same rule, judged per window: a record can be late for an older hopping
 *    window and still count in a newer one (as KStreamWindowAggregate does).
 *    This equals Kafka's accept rule "end > stream_time - grace".
 *
 *  - Sessions are [first, last], both inclusive (SessionWindows).  A record
 *    at ts merges with every session for which kp_session_overlaps() holds
 *    (|gap| inclusive, as Kafka's findSessions(key, ts - gap, ts + gap)).
 *    A session is closed when stream_time >= last + gap + grace; it is then
 *    emitted as final.  Kafka accepts a record iff its merged session has
 *    mergedEnd >= stream_time - grace - gap, so at stream_time == last + gap
 *    + grace it both emits a session and still accepts into it (case B08 of
 *    the conventions).  We do not: the close rule decides both, so a record
 *    is accepted iff
 *        (a) its merged session is not closed (kp_session_is_closed() on the
 *            merged last, i.e. max(ts, lasts of the merged sessions)), and
 *        (b) none of the existing sessions it would merge with is closed
 *            (a session already emitted as final never changes; Kafka has
 *            no rule (b) and can extend an emitted session with a record
 *            that falls within gap of it).
 *    With no session to merge with, (a) alone applies to [ts, ts].
 */
#ifndef KP_WINDOW_H
#define KP_WINDOW_H

#include <stddef.h>
#include <stdint.h>

/*
 * kp_duration_parse - parse a duration into milliseconds.
 *
 * Accepts a non-negative decimal integer followed by an optional unit:
 * "ms", "s", "m" (minutes), "h", "d" (86400 s); no unit means ms.  So
 * "250ms", "10s", "5m", "1h", "1d", "1500".  Zero ("0", "0s") is accepted;
 * callers that need a positive duration check it.  No sign, no spaces, no
 * fractions.
 *
 * On success stores the value in *ms and returns 0.  On error returns -1,
 * leaves *ms unchanged and writes a NUL-terminated reason into errstr
 * (truncated to errstr_size; errstr may be NULL when errstr_size is 0):
 * empty, negative, not a number, unknown unit, trailing characters, or out
 * of range (the result would not fit in int64 ms).  Example:
 * "invalid duration '5x': unknown unit 'x' (ms, s, m, h, d)".
 */
int kp_duration_parse(const char *s, int64_t *ms,
    char *errstr, size_t errstr_size);

enum kp_window_type {
	KP_WIN_NONE,		/* no windowing: one aggregate per key */
	KP_WIN_TUMBLING,	/* [k*size, (k+1)*size) */
	KP_WIN_HOPPING,		/* [k*advance, k*advance + size) */
	KP_WIN_SESSION		/* [first, last], closed after gap inactivity */
};

/*
 * A window spec.  For TUMBLING, advance == size.  For HOPPING,
 * 0 < advance <= size.  For SESSION, gap > 0 and size == advance == 0.
 * For NONE, all three are 0.  Same time unit as the event time (see top).
 */
struct kp_window_spec {
	enum kp_window_type type;
	int64_t size, advance, gap;
};

/*
 * kp_window_spec_parse - parse "none", "tumbling:SIZE",
 * "hopping:SIZE:ADVANCE" or "session:GAP", each duration as for
 * kp_duration_parse() (so the result is in ms).
 *
 * Requires SIZE > 0, 0 < ADVANCE <= SIZE (Kafka's TimeWindows.advanceBy
 * rule), GAP > 0 (SessionWindows.ofInactivityGap...).  Returns 0 and fills
 * *out, or -1 with a reason in errstr (as kp_duration_parse) and *out
 * unchanged.
 */
int kp_window_spec_parse(const char *s, struct kp_window_spec *out,
    char *errstr, size_t errstr_size);

/*
 * kp_window_max_windows - the most windows one timestamp can fall in:
 * 1 for tumbling, ceil(size / advance) for hopping.  Returns -1 when w is
 * not a valid TUMBLING or HOPPING spec.  Use it to size the starts array of
 * kp_window_assign().
 */
int64_t kp_window_max_windows(const struct kp_window_spec *w);

/*
 * kp_window_assign - the time windows that contain ts.
 *
 * Writes the start of every window [start, start + size) with
 * start <= ts < start + size and start a multiple of w->advance (epoch
 * aligned, floor division for negative ts) into starts[], ascending, and
 * returns how many: exactly 1 for tumbling, floor(size/advance) or
 * ceil(size/advance) for hopping.  No clamp at 0 (see the top comment;
 * this differs from Kafka's TimeWindows.windowsFor() only for windows that
 * start before 0).
 *
 * Returns -1, writing nothing, when w is not a valid TUMBLING or HOPPING
 * spec, when max is smaller than the number of windows, or when a window
 * containing ts has a start or an end (start + size) outside int64 -- near
 * INT64_MIN / INT64_MAX.  starts is caller-owned, max entries long.
 */
int kp_window_assign(const struct kp_window_spec *w, int64_t ts,
    int64_t *starts, int max);

/*
 * kp_window_is_closed - 1 when the time window ending at window_end
 * (exclusive) is closed at stream_time with the given grace, i.e.
 * stream_time >= window_end + grace (computed without overflow); 0 when it
 * is open.  A closed window is emitted as final and rejects records (late);
 * an open one accepts them.  Returns -1 when grace < 0: compare the result
 * with 1, not for truth.  Source: Kafka Streams KStreamWindowAggregate
 * (accept iff end > streamTime - grace) and
 * KTableSuppressProcessorSupplier / GraphGraceSearchUtil (emit iff
 * end <= streamTime - grace), KIP-328.
 */
int kp_window_is_closed(int64_t window_end, int64_t stream_time,
    int64_t grace);

/*
 * kp_session_is_closed - 1 when the session whose (inclusive) last event is
 * at last is closed at stream_time: stream_time >= last + gap + grace
 * (computed without overflow); 0 when open.  Closed means: emit as final,
 * and a record whose merged session ends at last is late (see rule (a) and
 * (b) at the top; this is stricter than Kafka by exactly one time unit, at
 * equality).  Returns -1 when gap < 0 or grace < 0.  Source: Kafka Streams
 * KStreamSessionWindowAggregate and GraphGraceSearchUtil (suppress duration
 * grace + gap), KIP-328.
 */
int kp_session_is_closed(int64_t last, int64_t gap, int64_t grace,
    int64_t stream_time);

/*
 * kp_session_overlaps - 1 when a record at ts merges with the session
 * [s_first, s_last]: s_first - gap <= ts <= s_last + gap, bounds inclusive,
 * so records exactly gap apart merge (Kafka Streams
 * KStreamSessionWindowAggregate calls findSessions(key, ts - gap, ts + gap),
 * whose bounds are inclusive: sessions with end >= ts - gap and
 * start <= ts + gap).  0 otherwise.  Computed without overflow.  Returns -1
 * when gap < 0 or s_first > s_last.
 */
int kp_session_overlaps(int64_t s_first, int64_t s_last, int64_t ts,
    int64_t gap);

#endif
