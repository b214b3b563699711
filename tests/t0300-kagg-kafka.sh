#!/bin/sh
# t0300-kagg-kafka: kagg on Kafka (kmock, 6 partitions) with a LevelDB store
# per partition and a changelog topic, killed and restarted.
#
# The oracle is pipe mode on the same records, and for count, sum, min and
# max an independent computation in Python from the generated input.  The
# input never has a late record, in any partitioning: event times are
# base + jitter with base non-decreasing and jitter in [-2 s, 0], so a
# record's window ends after stream time - 2 s, and the grace is 5 s.
#
# One job (group ga) is stopped five times while the input grows: a real
# kill -9 while it works, then three deterministic crashes through the
# KPIPE_TEST_CRASH hook (after a changelog flush without its marker; after
# the changelog is delivered but before the store commit, with the local
# state removed so that it is rebuilt from the changelog alone; after the
# store commit but before the input offsets commit), and a last run with
# -e.  At least once: the union of the final windows emitted by the runs,
# duplicates removed, must equal the pipe-mode result.
. "$(dirname "$0")/lib.sh"

kafka_up --topic in:6 --topic ga-kagg-changelog:6 --topic gb-kagg-changelog:6 \
    --topic gw-kagg-changelog:4 --topic out:6 --topic late:1 --topic lt:1 \
    --topic gl-kagg-changelog:1 || exit 1

AGGS="-a n=count() -a s=sum(.v) -a lo=min(.v) -a hi=max(.v) -a avg=avg(.v)
    -a d=count_distinct(.v) -a p95=p95(.v) -a f=first(.seq) -a l=last(.seq)"
# the job's options (word-split on use: no argument holds a space); a
# dead member leaves the group after the session timeout
KARGS="--from in -b $BROKERS -k .id -w tumbling:10s --grace 5s --time .ts
    $AGGS -O value --commit-interval 200ms -X session.timeout.ms=3000
    -X heartbeat.interval.ms=300 -v"

# make the input: 5 chunks of 4000 records, 30 keys, 50 ms apart
$PYTHON - <<-\PY || exit 1
import json, random
random.seed(7)
t0 = 1700000000000
for c in range(5):
    with open("chunk%d.jsonl" % c, "w") as f:
        for i in range(c * 4000, (c + 1) * 4000):
            ts = t0 + i * 50 - random.randint(0, 2000)
            f.write(json.dumps({"id": "k%d" % (i % 30), "seq": i, "ts": ts,
                                "v": random.randint(0, 500)}) + "\n")
PY
cat chunk0.jsonl chunk1.jsonl chunk2.jsonl chunk3.jsonl chunk4.jsonl >all.jsonl

# produce FILE [PIECES]: send FILE keyed by .id, in PIECES parts 0.3 s apart
produce() {
	$PYTHON - "$BROKERS" "$1" "${2:-1}" <<-\PY
	import json, sys, time
	from kafka import KafkaProducer
	p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","), linger_ms=5)
	lines = open(sys.argv[2]).read().splitlines()
	n = int(sys.argv[3])
	for k in range(n):
	    for l in lines[k * len(lines) // n:(k + 1) * len(lines) // n]:
	        p.send("in", key=json.loads(l)["id"].encode(), value=l.encode())
	    p.flush()
	    if k + 1 < n:
	        time.sleep(0.3)
	PY
}

# reap: kill what a test left running (its pids are in the file pids)
reap() {
	[ -f pids ] || return 0
	for p in $(cat pids); do
		kill -9 "$p" 2>/dev/null
	done
	rm -f pids
}

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (30 s)
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 300 ] && { echo "no '$2' in $1" >&2; cat "$1" >&2; return 1; }
		sleep 0.1
	done
}

# wait_dead PID: until the child PID has exited, killed after 30 s; its
# status goes to $status (a dead child stays a zombie until waited for, so
# kill -0 alone would wait forever)
wait_dead() {
	i=0
	while kill -0 "$1" 2>/dev/null &&
	    [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			echo "$1 did not stop" >&2
			kill -9 "$1" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$1"
	status=$?
}

test_expect_success 'pipe mode: count, sum, min and max agree with Python' '
	kagg -k .id -w tumbling:10s --grace 5s --time .ts $AGGS -O value \
	    all.jsonl | jq -cS . | sort >pipe.jsonl &&
	jq -c "{id, window_start, window_end, n, s, lo, hi}" pipe.jsonl |
	    sort >actual &&
	$PYTHON - <<-\PY >expect &&
	import json
	w = {}
	for l in open("all.jsonl"):
	    r = json.loads(l)
	    start = r["ts"] // 10000 * 10000
	    a = w.setdefault((r["id"], start), [])
	    a.append(r["v"])
	for (k, start), v in w.items():
	    print(json.dumps({"id": k, "window_start": start,
	                      "window_end": start + 10000, "n": len(v), "s": sum(v),
	                      "lo": min(v), "hi": max(v)}, separators=(",", ":")))
	PY
	sort -o expect expect &&
	test_cmp expect actual
'

test_expect_success 'run 1: kill -9 while working' '
	produce chunk0.jsonl &&
	{ kagg $KARGS -G ga >out1 2>err1 & pid=$!; echo $pid >>pids; } &&
	wait_for err1 "resuming at offset" &&
	wait_for err1 "reached end of .in. partition" &&
	produce chunk1.jsonl 4 &&
	sleep 0.2 &&
	kill -9 $pid &&
	wait_dead $pid && test $status = 137
'
reap

test_expect_success 'run 2: crash after a changelog flush without its marker' '
	{ KPIPE_TEST_CRASH=partial:2 kagg $KARGS -G ga >out2 2>err2 & pid=$!; echo $pid >>pids; } &&
	wait_for err2 "resuming at offset" &&
	produce chunk2.jsonl 6 &&
	wait_dead $pid && test $status = 137 &&
	grep "test crash at .partial." err2
'
reap

test_expect_success 'run 3: state removed, rebuilt from the changelog; crash before the store commit' '
	rm -rf kpipe-state &&
	{ KPIPE_TEST_CRASH=store:2 kagg $KARGS -G ga >out3 2>err3 & pid=$!; echo $pid >>pids; } &&
	wait_for err3 "resuming at offset" &&
	grep "restored [1-9][0-9]* changelog records" err3 &&
	grep "repairing" err3 &&
	produce chunk3.jsonl 6 &&
	wait_dead $pid && test $status = 137 &&
	grep "test crash at .store." err3
'
reap

test_expect_success 'run 4: crash before the input offsets commit' '
	{ KPIPE_TEST_CRASH=offsets:2 kagg $KARGS -G ga >out4 2>err4 & pid=$!; echo $pid >>pids; } &&
	wait_for err4 "resuming at offset" &&
	produce chunk4.jsonl 6 &&
	wait_dead $pid && test $status = 137 &&
	grep "test crash at .offsets." err4
'
reap

test_expect_success 'run 5 (-e): the distinct final windows equal pipe mode' '
	kagg $KARGS -G ga -e >out5 2>err5 &&
	cat out1 out2 out3 out4 out5 | jq -cS . | sort -u >actual &&
	test_cmp pipe.jsonl actual
'

# --emit changes to a topic: each key's results are in one partition, in
# order, so the last result of each window is its final value
test_expect_success 'emit changes to --to: the last result of each window is final' '
	kagg $KARGS -G gb -e --to out --emit changes --cache-bytes 0 \
	    >/dev/null 2>errb &&
	kcat -C -b "$BROKERS" -t out -e -q -f "%s\n" >changes.jsonl &&
	test $(wc -l <changes.jsonl) -eq $(wc -l <all.jsonl) &&
	jq -cs "group_by([.id, .window_start]) | map(last) | .[]" changes.jsonl |
	    jq -cS . | sort >actual &&
	test_cmp pipe.jsonl actual &&
	kcat -C -b "$BROKERS" -t gb-kagg-changelog -e -q -f "%k\n" >keys &&
	grep -qx m keys
'

# tumbling 10 s, grace 5 s: a@20000 moves stream time past 10000 + 5000,
# so a@1000 is late and goes to the topic late; [0,10s) holds a@0 only
test_expect_success '--late TOPIC: late records go to a topic' '
	printf "%s\n" "{\"k\":\"a\",\"t\":0}" "{\"k\":\"a\",\"t\":20000}" \
	    "{\"k\":\"a\",\"t\":1000}" | kcat -P -b "$BROKERS" -t lt &&
	kagg --from lt -G gl -b "$BROKERS" -k .k -w tumbling:10s --grace 5s \
	    --time .t -a "n=count()" --late late -e -O value \
	    -X session.timeout.ms=3000 >actual 2>errl &&
	printf "%s\n" "{\"k\":\"a\",\"window_start\":0,\"window_end\":10000,\"n\":1}" \
	    "{\"k\":\"a\",\"window_start\":20000,\"window_end\":30000,\"n\":1}" >expect &&
	test_cmp expect actual &&
	kcat -C -b "$BROKERS" -t late -e -q -f "%s\n" >late.actual &&
	echo "{\"k\":\"a\",\"t\":1000}" >late.expect &&
	test_cmp late.expect late.actual
'

test_expect_success 'a changelog with the wrong partition count is a config error (78)' '
	test_expect_code 78 kagg $KARGS -G gw -e >/dev/null 2>err &&
	grep "changelog topic .gw-kagg-changelog. has 4 partitions" err
'

test_expect_success 'a missing changelog that cannot be created: exit 78 with a hint' '
	test_expect_code 78 kagg $KARGS -G gz -e >/dev/null 2>err &&
	grep "does not exist and cannot be created" err &&
	grep -- "--partitions 6" err
'

test_done
