#!/bin/sh
# t0403-kjoin-changelog.sh - kjoin --join in Kafka mode: the stream-stream
# buffers go to the changelog topic GROUP-kjoin-changelog, and a partition
# whose state directory is gone is rebuilt from it.
#
# Views and clicks of 20 users (3 partitions) are produced in timestamp
# order; the first half (timestamps before 30 s) slowly, while kjoin runs.
# kjoin is killed with SIGKILL in the middle, its --state-dir is removed,
# the second half is produced, and kjoin runs again to the end (-e).  The
# records buffered at the kill join records of the second half only if
# they were restored from the changelog.  Expected output: a Python model
# of the inner windowed join (a view and a click of one user join when
# their timestamps are at most 10 s apart, bounds included; the output
# takes the later timestamp and the view's fields first), written from
# kjoin(1).  Two pairs cross the kill by hand: u98's click 10 s after its
# view joins, u99's 11 s after does not.  Repeats come only from records
# replayed after the last commit (at least once): counted, and reported.
. "$(dirname "$0")/lib.sh"

if ! kafka_up --topic v:3 --topic c:3 --topic out:3 \
    --topic v3:3 --topic c3:3 --topic out3:3 --topic cp-kjoin-changelog:3 \
    --topic cl-kjoin-changelog:3 --topic other-changelog:3 \
    --topic cbad-kjoin-changelog:2; then
	test_skip 'kjoin changelog' 'kmock did not start'
	test_done
fi
kjoin() { timeout 120 "$KPIPE_BUILD/bin/kjoin" "$@"; }

# data PHASE [DELAY_MS [V C]]: produce views to v (V) and clicks to c
# (C), merged in timestamp order; phase 1 below 30 s, phase 2 the rest;
# "model" prints the expected joins
data() {
	"$PYTHON" - "$BROKERS" "$@" <<-\EOF
	import json, random, sys, time
	rnd = random.Random(7)
	ev = []
	for side, field in ((0, "view"), (1, "click")):
	    t = 0
	    for i in range(500):
	        t += rnd.randint(0, 240)
	        k = "u%d" % rnd.randrange(20)
	        ev.append((t, side, k, {field: i, "user": k}))
	# by hand: across the kill (at 30 s), 10 s apart and 11 s apart
	ev += [(29000, 0, "u98", {"view": "a", "user": "u98"}),
	       (39000, 1, "u98", {"click": "b", "user": "u98"}),
	       (29000, 0, "u99", {"view": "c", "user": "u99"}),
	       (40000, 1, "u99", {"click": "d", "user": "u99"})]
	ev.sort(key=lambda e: (e[0], e[1]))
	if sys.argv[2] == "model":
	    for tv, sv, kv, v in ev:
	        for tc, sc, kc, c in ev:
	            if sv == 0 and sc == 1 and kv == kc and abs(tv - tc) <= 10000:
	                m = dict(v)
	                for n, x in c.items():
	                    m.setdefault(n, x)
	                print(json.dumps({"key": kv, "timestamp": max(tv, tc),
	                    "value": m}, sort_keys=True, separators=(",", ":")))
	    sys.exit(0)
	from kafka import KafkaProducer
	p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","), linger_ms=5)
	delay = int(sys.argv[3]) / 1000.0 if len(sys.argv) > 3 else 0
	topics = sys.argv[4:6] if len(sys.argv) > 5 else ["v", "c"]
	for t, side, k, v in ev:
	    if (t < 30000) == (sys.argv[2] == "1"):
	        p.send(topics[side], key=k.encode(),
	            value=json.dumps(v).encode(), timestamp_ms=t)
	        if delay:
	            p.flush()
	            time.sleep(delay)
	p.flush()
	EOF
}
fromkcat() {
	kcat -C -b "$BROKERS" -t "$1" -e -q -J |
	    jq -cS '{key, timestamp: .ts, value: (.payload | fromjson)}'
}
data model | sort >expect
test_expect_success 'the model: u98 joins across the kill, u99 does not' '
	grep -q "\"u98\"" expect && ! grep -q "\"u99\"" expect &&
	test_line_count -gt 500 expect
'

KJ="-b $BROKERS --from v --join c --within 10s -G cl $GROUP_X --to out"
KJ="$KJ --state-dir st --commit-interval 200 --max-idle 30000"
test_expect_success 'kill -9 in the middle, with join buffers committed' '
	command kjoin $KJ -v 2>err1 &
	pid=$!
	data 1 3 &
	ppid=$!
	i=0
	while [ "$(kcat -C -b "$BROKERS" -t out -e -q | wc -l)" -lt 300 ] &&
	    [ $i -lt 200 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	sleep 0.5
	kill -9 $pid
	before=$(kcat -C -b "$BROKERS" -t out -e -q | wc -l)
	wait $ppid &&
	phase1=$(awk -F"\"timestamp\":" "{ split(\$2, a, \",\"); if (a[1] < 30000) n++ } END { print n }" expect) &&
	echo "killed after $before outputs (joins of the first half alone: $phase1)" >note &&
	test "$before" -ge 300 &&
	kcat -C -b "$BROKERS" -t cl-kjoin-changelog -e -q -f "%k\n" >clkeys &&
	grep -q "^m$" clkeys && grep -q "^w" clkeys
'

test_expect_success 'state directory removed; restart: restored from the changelog' '
	rm -rf st &&
	data 2 &&
	kjoin $KJ -e -v 2>err2 &&
	grep "restor" err2 | sed "s/^/# /" &&
	grep -q "restored [1-9][0-9]* changelog records in .* records/s" err2 &&
	n=$(sed -n "s/.*restored \([0-9]*\) changelog records.*/\1/p" err2 |
	    awk "{ s += \$1 } END { print s }") &&
	echo "restored $n changelog records after rm -rf of the state" >>note
'

test_expect_success 'distinct outputs equal the model; repeats only from replay' '
	fromkcat out | sort >all &&
	sort -u all >got &&
	test_cmp expect got &&
	grep -q "\"u98\"" got &&
	n=$(wc -l <all) && d=$(wc -l <got) &&
	echo "$n outputs, $d distinct: $((n - d)) repeated after the kill" \
	    >>note &&
	test $((n - d)) -lt "$(wc -l <expect)"
'
[ -f note ] && while read -r l; do say "$l"; done <note

test_expect_success '--changelog names the topic; its partitions must match (78)' '
	test_expect_code 78 kjoin -b "$BROKERS" --from v --join c --within 1s \
	    -G cbad $GROUP_X -e --state-dir st3 -O json 2>err3 >/dev/null &&
	grep "changelog topic .cbad-kjoin-changelog. has 2 partitions" err3 &&
	kjoin -b "$BROKERS" --from v --join c --within 1s -G cother $GROUP_X \
	    --changelog other-changelog -e --state-dir st4 -O json >/dev/null &&
	kcat -C -b "$BROKERS" -t other-changelog -e -q -f "%k\n" | grep -q "^m$"
'

# A crash after a commit's changelog writes were delivered and before
# its markers were (KPIPE_TEST_CRASH=partial:1, as kagg's): the restore
# applies whole commits only and writes the keys of the one cut short
# again; the records behind it are processed again from the last marker.
test_expect_success 'a commit cut short in the changelog: repaired, nothing lost' '
	data 1 0 v3 c3 &&
	kjoin -b "$BROKERS" --from v3 --join c3 --within 10s -G cp $GROUP_X \
	    --to out3 --state-dir stp -e 2>errA &&
	data 2 0 v3 c3 &&
	KPIPE_TEST_CRASH=partial:1 kjoin -b "$BROKERS" --from v3 --join c3 \
	    --within 10s -G cp $GROUP_X --to out3 --state-dir stp -e 2>errB
	test $? -eq 137 &&
	rm -rf stp &&
	kjoin -b "$BROKERS" --from v3 --join c3 --within 10s -G cp $GROUP_X \
	    --to out3 --state-dir stp -e -v 2>errC &&
	grep "repairing [1-9][0-9]* changelog records" errC | sed "s/^/# /" &&
	fromkcat out3 | sort -u >got3 &&
	test_cmp expect got3
'

test_expect_success '--changelog without --join and --from is a usage error' '
	test_expect_code 64 kjoin --table file:x --changelog t 2>err5 </dev/null &&
	grep -q "changelog goes with --join" err5
'

test_done
