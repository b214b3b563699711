#!/bin/sh
# t0801-kagg-scale.sh - kagg scaled out: two instances with one -G (and
# a state directory each, as on two machines) share the 6 partitions of
# the input; one is killed (kill -9) and the survivor takes over its
# partitions, restoring their state from the changelog; a third instance
# joins and partitions move to it with their state.  A last run with -e
# (a fresh state directory again) restores every partition and closes
# the windows still open.  The distinct final windows in the output
# must equal a Python model of the input.
#
# With --exactly-once on kmock (KPIPE_TEST_TXN_OFFSETS=1 keeps the
# committed offsets): kmock shows the records of the killed instance's
# unfinished transaction to every reader, so results it emitted there may
# be emitted again by the instance that takes over (counted, and shown);
# on a cluster that honours transactions a read_committed reader would
# see each window once.  The input has no late record: event times are
# base + jitter with base non-decreasing and jitter in [-1 s, 0], and the
# grace is 5 s.
. "$(dirname "$0")/lib.sh"

if [ -n "${KPIPE_TEST_BROKERS:-}" ]; then
	test_skip 'kagg scale-out' 'needs kmock (KPIPE_TEST_TXN_OFFSETS)'
	test_done
fi
if ! kafka_up --topic in:6 --topic out:6 --topic gs-kagg-changelog:6; then
	test_skip 'kagg scale-out' 'kmock did not start'
	test_done
fi
export KPIPE_TEST_TXN_OFFSETS=1

# the input: 3 chunks of 6000 records, 24 keys, 20 ms apart
"$PYTHON" - <<-\EOF || exit 1
import json, random
random.seed(3)
t0 = 1700000000000
w = {}
for c in range(3):
    with open("chunk%d.jsonl" % c, "w") as f:
        for i in range(c * 6000, (c + 1) * 6000):
            r = {"id": "k%d" % (i % 24), "seq": i,
                 "ts": t0 + i * 20 - random.randint(0, 1000),
                 "v": random.randint(0, 1000)}
            f.write(json.dumps(r) + "\n")
            s = r["ts"] // 10000 * 10000
            a = w.setdefault((r["id"], s), [0, 0, None])
            a[0] += 1
            a[1] += r["v"]
            a[2] = r["v"] if a[2] is None else max(a[2], r["v"])
with open("expect", "w") as f:
    for (k, s), (n, t, hi) in sorted(w.items()):
        f.write(json.dumps({"hi": hi, "id": k, "n": n, "s": t,
            "window_end": s + 10000, "window_start": s},
            sort_keys=True, separators=(",", ":")) + "\n")
EOF
sort -o expect expect

# produce FILE: send FILE keyed by .id (Java's murmur2, as kafka-python)
produce() {
	"$PYTHON" - "$BROKERS" "$1" <<-\EOF
	import json, sys
	from kafka import KafkaProducer
	p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","), linger_ms=5)
	for l in open(sys.argv[2]):
	    p.send("in", key=json.loads(l)["id"].encode(), value=l.strip().encode())
	p.flush()
	EOF
}

# caught_up N: until the group's committed offsets of 'in' add up to N
# (60 s)
caught_up() {
	"$PYTHON" - "$BROKERS" "$1" <<-\EOF
	import sys, time
	from kafka import KafkaConsumer, TopicPartition
	c = KafkaConsumer(bootstrap_servers=sys.argv[1].split(","),
	    group_id="gs", enable_auto_commit=False)
	tps = [TopicPartition("in", p) for p in range(6)]
	for i in range(600):
	    n = sum(c.committed(tp) or 0 for tp in tps)
	    if n >= int(sys.argv[2]):
	        print("# committed: %s" % [c.committed(tp) for tp in tps])
	        sys.exit(0)
	    time.sleep(0.1)
	print("# committed %d of %s" % (n, sys.argv[2]))
	sys.exit(1)
	EOF
}

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (60 s)
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 600 ] && { echo "no '$2' in $1" >&2; return 1; }
		sleep 0.1
	done
}

# gone PID: until PID (started in an earlier test's subshell, so not
# this shell's child to wait for) has exited (30 s; then killed)
gone() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 300 ] && { kill -9 "$1"; echo "$1 did not stop" >&2; return 1; }
		sleep 0.1
	done
}

KA="-b $BROKERS --from in -k .id -w tumbling:10s --grace 5s --time .ts"
KA="$KA -a n=count() -a s=sum(.v) -a hi=max(.v) -O value --emit final"
KA="$KA --exactly-once -G gs --to out -X session.timeout.ms=3000"
KA="$KA -X heartbeat.interval.ms=300 --stats 1 -v"

produce chunk0.jsonl || exit 1

test_expect_success 'two instances share the partitions' '
	bg kagg $KA --state-dir sa 2>a.err && A=$BG_PID &&
	bg kagg $KA --state-dir sb 2>b.err && B=$BG_PID &&
	echo "$A $B" >pids &&
	wait_for a.err "transactional id" && wait_for b.err "transactional id" &&
	caught_up 6000 &&
	na=$(grep -c "resuming at offset" a.err) &&
	nb=$(grep -c "resuming at offset" b.err) &&
	say "partitions opened: $na by the first, $nb by the second" &&
	test "$nb" -gt 0 && test "$na" -gt 0
'

test_expect_success 'one is killed (kill -9) at work: the survivor restores its partitions' '
	read A B <pids &&
	wc -l <a.err >a.before &&
	{ produce chunk1.jsonl & } &&
	sleep 0.5 &&
	kill -9 "$B" && gone "$B" &&
	echo "$A" >pids &&
	wait &&
	caught_up 12000 &&
	tail -n +$(($(cat a.before) + 1)) a.err >a.after &&
	grep -q "restored [1-9][0-9]* changelog records" a.after
'

test_expect_success 'a third joins: partitions move to it with their state' '
	read A <pids &&
	bg kagg $KA --state-dir sc 2>c.err && C=$BG_PID &&
	echo "$A $C" >pids &&
	wait_for c.err "restored [1-9][0-9]* changelog records" &&
	produce chunk2.jsonl &&
	caught_up 18000 &&
	grep "restored" c.err | sed "s/^/# /" &&
	grep "^{" c.err | tail -n 1 >c.stats &&
	sed "s/^/# /" c.stats &&
	! grep -q "\"restored\":0," c.stats &&
	kill "$A" "$C" && gone "$A" && gone "$C" &&
	: >pids &&
	grep -q "\"records_committed\":" c.err
'

# whatever a failed test left running
for p in $(cat pids 2>/dev/null); do
	kill -9 "$p" 2>/dev/null
done

test_expect_success 'a last run (-e) closes the open windows' '
	timeout 120 kagg $KA --state-dir sd -e 2>d.err &&
	grep -q "restored [1-9][0-9]* changelog records" d.err
'

test_expect_success 'the distinct final windows equal the model' '
	ksource -b "$BROKERS" -t out -e -O value 2>/dev/null |
	    jq -cS "{hi, id, n, s, window_end, window_start}" | sort >got &&
	sort -u got >distinct &&
	test_cmp expect distinct
'
say "$(wc -l <got) results, $(wc -l <distinct) distinct," \
    "$(($(wc -l <got) - $(wc -l <distinct))) duplicates (the killed" \
    "instance's unfinished transaction, visible on kmock);" \
    "model: $(wc -l <expect) windows"
grep -h "restored [0-9]* changelog" a.err c.err d.err | sed 's/^/# /'

test_done
