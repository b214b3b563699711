# tests/lib.sh - shell test library for kpipe, in the manner of git's test-lib.sh.
#
# Source it at the top of tests/tNNNN-*.sh:
#
#	. "$(dirname "$0")/lib.sh"
#	test_expect_success 'what it checks' '
#		ksource -I json in.jsonl >out && test_cmp expect out
#	'
#	test_done
#
# Each script runs in a fresh temporary directory (removed on exit unless
# KPIPE_TEST_KEEP is set), with LC_ALL=C and TZ=UTC, and the freshly built
# programs first on PATH.  Output is TAP, for prove.

set -u
export LC_ALL=C TZ=UTC
unset KPIPE_BROKERS

TEST_SRC=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$TEST_SRC/.." && pwd)
KPIPE_BUILD=${KPIPE_BUILD:-$TOP/build}
PATH=$KPIPE_BUILD/bin:$KPIPE_BUILD/tools:$PATH
export PATH TEST_SRC TOP KPIPE_BUILD
# peers: Debian's python3 has python3-kafka; a pyenv shim on PATH may not
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

test_count=0
test_failed=0
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/kpipe-test.XXXXXX")
_kpipe_pids=""

_kpipe_cleanup() {
	[ -n "${_kpipe_watchdog:-}" ] && kill "$_kpipe_watchdog" 2>/dev/null
	for p in $_kpipe_pids; do
		kill "$p" 2>/dev/null
	done
	for p in $_kpipe_pids; do
		wait "$p" 2>/dev/null
	done
	if [ -z "${KPIPE_TEST_KEEP:-}" ]; then
		rm -rf "$TRASH"
	else
		echo "# kept $TRASH" >&2
	fi
}
trap _kpipe_cleanup EXIT
trap 'exit 130' INT TERM
cd "$TRASH" || exit 1

# A watchdog: a test script that hangs is stopped after
# KPIPE_TEST_TIMEOUT seconds (default 600), so that a hang fails one
# script instead of the whole run.
_kpipe_self=$$
(
	trap 'kill "$sp" 2>/dev/null; exit 0' TERM
	sleep "${KPIPE_TEST_TIMEOUT:-600}" &
	sp=$!
	wait "$sp"
	echo "# $0: timed out after ${KPIPE_TEST_TIMEOUT:-600} s" >&2
	kill -TERM "$_kpipe_self"
	pkill -TERM -P "$_kpipe_self"	# the command it waits for, too
) >/dev/null 2>&1 &
_kpipe_watchdog=$!

# say MSG: a TAP diagnostic line
say() { printf '# %s\n' "$*"; }

# test_expect_success DESC SCRIPT: run SCRIPT with eval in a subshell-free
# context; pass when it exits 0.  On failure, its stderr is shown.
test_expect_success() {
	test_count=$((test_count + 1))
	if (eval "$2") >"$TRASH/.out" 2>"$TRASH/.err"; then
		printf 'ok %d - %s\n' "$test_count" "$1"
	else
		test_failed=$((test_failed + 1))
		printf 'not ok %d - %s\n' "$test_count" "$1"
		printf '%s\n' "$2" | sed 's/^/#   /'
		sed 's/^/#   out: /' "$TRASH/.out" | head -40
		sed 's/^/#   err: /' "$TRASH/.err" | head -40
	fi
}

# test_skip DESC REASON: a skipped test (TAP SKIP directive)
test_skip() {
	test_count=$((test_count + 1))
	printf 'ok %d - %s # SKIP %s\n' "$test_count" "$1" "$2"
}

# test_expect_code CODE CMD...: run CMD, succeed when it exits with CODE
test_expect_code() {
	want=$1
	shift
	"$@"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "test_expect_code: '$*' exited $got, want $want" >&2
		return 1
	fi
	return 0
}

# test_cmp EXPECTED ACTUAL: diff -u, the diff shown on failure
test_cmp() {
	diff -u "$1" "$2" >&2
}

# test_line_count OP N FILE: e.g. test_line_count = 3 out
test_line_count() {
	n=$(wc -l <"$3")
	if ! [ "$n" "$1" "$2" ]; then
		echo "test_line_count: $3 has $n lines, want $1 $2" >&2
		return 1
	fi
}

# unique_topic PREFIX: a topic name no other test uses
unique_topic() {
	printf '%s-%s-%s\n' "$1" "$$" "$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
}

# kafka_up [KMOCK ARGS...]: start kmock with the given topics, export
# BROKERS (and KPIPE_BROKERS); kmock is killed when the script exits.
# With KPIPE_TEST_BROKERS set, use that cluster instead (topics must then
# exist or be auto-created).
kafka_up() {
	if [ -n "${KPIPE_TEST_BROKERS:-}" ]; then
		BROKERS=$KPIPE_TEST_BROKERS
		export BROKERS
		return 0
	fi
	rm -f "$TRASH/kmock.out"
	kmock "$@" --pid-file "$TRASH/kmock.pid" >"$TRASH/kmock.out" 2>"$TRASH/kmock.err" &
	KMOCK_PID=$!
	_kpipe_pids="$_kpipe_pids $KMOCK_PID"
	i=0
	while ! [ -s "$TRASH/kmock.out" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$KMOCK_PID" 2>/dev/null; then
			echo "kafka_up: kmock did not start" >&2
			cat "$TRASH/kmock.err" >&2
			return 1
		fi
		sleep 0.05
	done
	BROKERS=$(head -n 1 "$TRASH/kmock.out")
	export BROKERS KMOCK_PID
}

# Options for consumer-group tests on kmock: the mock forgets a member that
# left only after session.timeout.ms (45 s by default), so a restarted group
# member would wait that long.  Pass "$GROUP_X" to every -G program.
GROUP_X="-X session.timeout.ms=6000 -X heartbeat.interval.ms=500"
export GROUP_X

# bg CMD...: run CMD in the background, killed at exit; sets BG_PID
bg() {
	"$@" &
	BG_PID=$!
	_kpipe_pids="$_kpipe_pids $BG_PID"
}

# test_done: print the plan; exit non-zero if anything failed
test_done() {
	printf '1..%d\n' "$test_count"
	[ "$test_failed" -eq 0 ]
	exit $?
}
