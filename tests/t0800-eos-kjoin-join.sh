#!/bin/sh
# t0800-eos-kjoin-join.sh - kjoin --join --exactly-once: the changelog
# writes of the join buffers, the joined records and the input offsets
# commit in one transaction; after a crash between the transaction commit
# and the buffer store commit, the store is brought up to the committed
# offsets from the changelog, and the output equals that of a run never
# interrupted, with no duplicate.
#
# KPIPE_TEST_TXN=crash:1 kills kjoin (SIGKILL) right after its first
# transaction committed, before its stores do (common/txn.h: their
# checkpoints stay at 0, where the empty changelog began); on kmock,
# KPIPE_TEST_TXN_OFFSETS=1 makes the committed offsets stick, as a real
# cluster's transactional offsets would.  Such a crash leaves nothing
# uncommitted behind, so the output can be compared exactly even on
# kmock.  Three runs: the first half of the views and clicks (before
# 30 s), crash; the second half, crash; the state directory removed, to
# the end.  Records buffered before each crash join records read after it
# only through the changelog.  Expected output: a Python model of the
# inner windowed join (a view and a click of one user join when at most
# 10 s apart; by hand, u98's click 10 s after its view joins across the
# first crash, u99's 11 s after does not), written from kjoin(1).
. "$(dirname "$0")/lib.sh"

if [ -n "${KPIPE_TEST_BROKERS:-}" ]; then
	test_skip 'kjoin --join crash recovery' 'needs kmock (KPIPE_TEST_TXN_OFFSETS)'
	test_done
fi
if ! kafka_up --topic v:3 --topic c:3 --topic out:3 --topic out2:3 \
    --topic v2:3 --topic c2:3 \
    --topic ej-kjoin-changelog:3 --topic ej2-kjoin-changelog:3; then
	test_skip 'kjoin --join crash recovery' 'kmock did not start'
	test_done
fi
export KPIPE_TEST_TXN_OFFSETS=1

# data PHASE [V C DELAY_MS]: produce views to v (or V) and clicks to c
# (or C) in timestamp order, phase 1 below 30 s, phase 2 the rest, "all"
# both; "model": the expected joins
data() {
	"$PYTHON" - "$BROKERS" "$@" <<-\EOF
	import json, random, sys
	rnd = random.Random(11)
	ev = []
	for side, field in ((0, "view"), (1, "click")):
	    t = 0
	    for i in range(400):
	        t += rnd.randint(0, 300)
	        k = "u%d" % rnd.randrange(15)
	        ev.append((t, side, k, {field: i, "user": k}))
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
	                print(json.dumps(m, sort_keys=True, separators=(",", ":")))
	    sys.exit(0)
	import time
	from kafka import KafkaProducer
	p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","))
	topics = sys.argv[3:5] if len(sys.argv) > 4 else ["v", "c"]
	delay = int(sys.argv[5]) / 1000.0 if len(sys.argv) > 5 else 0
	for t, side, k, v in ev:
	    if sys.argv[2] == "all" or (t < 30000) == (sys.argv[2] == "1"):
	        p.send(topics[side], key=k.encode(),
	            value=json.dumps(v).encode(), timestamp_ms=t)
	        if delay:
	            p.flush()
	            time.sleep(delay)
	if sys.argv[2] == "all":
	    # on every partition, a view and a click far later (and too far
	    # apart to join), so that every record before them can go
	    for part in range(3):
	        p.send(topics[0], key=b"end", value=b"{}", partition=part,
	            timestamp_ms=10000000)
	        p.send(topics[1], key=b"end", value=b"{}", partition=part,
	            timestamp_ms=20000000)
	p.flush()
	EOF
}
data model | sort >expect
data 1 || exit 1

KJ="-b $BROKERS --from v --join c --within 10s -G ej $GROUP_X --to out"
KJ="$KJ --state-dir st --exactly-once --max-idle 5000"
test_expect_success 'run 1: killed (SIGKILL) right after its first commit' '
	KPIPE_TEST_TXN=crash:1 timeout 60 sh -c "exec kjoin $KJ -e -v" 2>run1.err
	test $? -eq 137 &&
	grep -q "transactional id" run1.err &&
	cat st/ej/kjoin/*/CHECKPOINT | sort -u >ck &&
	echo 0 >zero &&
	test_cmp zero ck
'

data 2 || exit 1
test_expect_success 'run 2: the buffers come back from the changelog; killed again' '
	KPIPE_TEST_TXN=crash:1 timeout 60 sh -c "exec kjoin $KJ -e -v" 2>run2.err
	test $? -eq 137 &&
	grep "restor" run2.err | sed "s/^/# /" &&
	grep -q "restored [1-9][0-9]* changelog records" run2.err
'

test_expect_success 'run 3: state directory removed, to the end' '
	rm -rf st &&
	timeout 60 kjoin $KJ -e -v 2>run3.err &&
	grep "restor" run3.err | sed "s/^/# /" &&
	grep -q "restored [1-9][0-9]* changelog records" run3.err
'

test_expect_success 'the output is that of an uninterrupted run, no duplicate' '
	ksource -b "$BROKERS" -t out -e -O value \
	    -X isolation.level=read_committed | jq -cS . | sort >got &&
	test_line_count -gt 300 expect &&
	grep -q "\"u98\"" got &&
	test_cmp expect got
'

# every second transaction aborts (KPIPE_TEST_TXN=abort:2) while the
# records come in slowly: the buffers go back to the last commit, and
# both inputs back to the committed offsets, and the records are read
# again.  A partition that went back to its buffers but not to their
# offsets would see records again that the buffers' stream time has
# passed: they would be dropped as late, and their joins lost.  kjoin is
# stopped (SIGTERM) once every join has been written, or after 60 s.
# kmock keeps aborted records visible, so the outputs can only be
# compared as distinct lines.
test_expect_success 'aborted transactions: buffers rolled back, records read again' '
	KPIPE_TEST_TXN=abort:2 kjoin -b "$BROKERS" --from v2 \
	    --join c2 --within 10s -G ej2 $GROUP_X --to out2 --state-dir st2 \
	    --exactly-once --max-idle 60000 --commit-interval 20 -v \
	    --stats 3600 2>run4.err &
	pid=$!
	data all v2 c2 2 &&
	i=0 &&
	while [ "$(ksource -b "$BROKERS" -t out2 -e -O value 2>/dev/null |
	    sort -u | wc -l)" -lt "$(wc -l <expect)" ] && [ $i -lt 60 ]; do
		sleep 1
		i=$((i + 1))
	done &&
	kill -TERM $pid &&
	wait $pid &&
	grep "transaction aborted: test abort" run4.err | sed "s/^/# /" &&
	grep "^{\"program\"" run4.err | tail -n 1 |
	    jq -c "[.aborts >= 1, .late]" >sums &&
	echo "[true,0]" >want &&
	test_cmp want sums &&
	ksource -b "$BROKERS" -t out2 -e -O value | jq -cS . | sort -u >got4 &&
	test_cmp expect got4
'

test_done
