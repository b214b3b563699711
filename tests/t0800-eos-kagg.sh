#!/bin/sh
# t0800-eos-kagg.sh - kagg --exactly-once --emit final on a 3-partition
# topic: killed right after a transaction commit and before its stores
# commit, then restarted, its output equals the windows of a run never
# interrupted, with no duplicate and none missing; and with every third
# transaction aborted, the aborted work is done again from the state of
# the last commit (rolled back, never counted twice); a fatal error of
# the transaction (fenced) ends the run with 75.
#
# KPIPE_TEST_TXN=crash:N kills kagg (SIGKILL) right after its Nth
# transaction committed, before its stores do (common/txn.h): the store
# then lags the changelog, and the restart restores it from there.  On
# kmock, KPIPE_TEST_TXN_OFFSETS=1 makes the committed offsets stick, as a
# real cluster's transactional offsets would.  Nothing uncommitted is left
# behind by such a crash, so the output can be compared exactly even on
# kmock.  KPIPE_TEST_TXN=abort:N aborts every Nth transaction once its
# records are delivered; kmock shows aborted records to every reader
# (it has no read_committed), so there the output holds the aborted
# transactions' results too: the distinct results must equal the model,
# and the results of the committed transactions alone must number exactly
# the model's windows.
#
# Expected output: a Python model of the tumbling windows (count and sum
# per key and 10 s window), from kagg(1).  The input has no late record:
# event times are base + jitter with base non-decreasing and jitter in
# [-2 s, 0], and the grace is 5 s.
. "$(dirname "$0")/lib.sh"

if [ -n "${KPIPE_TEST_BROKERS:-}" ]; then
	test_skip 'kagg crash recovery' 'needs kmock (KPIPE_TEST_TXN_OFFSETS)'
	test_done
fi
if ! kafka_up --topic in:3 --topic out:3 --topic out2:3 --topic out3:3 \
    --topic ke-kagg-changelog:3 --topic ka-kagg-changelog:3 \
    --topic kf-kagg-changelog:3; then
	test_skip 'kagg crash recovery' 'kmock did not start'
	test_done
fi
export KPIPE_TEST_TXN_OFFSETS=1

"$PYTHON" - "$BROKERS" <<-\EOF || exit 1
import json, random, sys
from kafka import KafkaProducer
random.seed(11)
t0 = 1700000000000
recs = []
for i in range(3000):
    recs.append({"id": "k%d" % (i % 12), "seq": i,
                 "ts": t0 + i * 40 - random.randint(0, 2000),
                 "v": random.randint(0, 100)})
w = {}
for r in recs:
    s = r["ts"] // 10000 * 10000
    a = w.setdefault((r["id"], s), [0, 0])
    a[0] += 1
    a[1] += r["v"]
with open("expect", "w") as f:
    for (k, s), (n, t) in sorted(w.items()):
        f.write(json.dumps({"id": k, "n": n, "s": t, "window_end": s + 10000,
            "window_start": s}, sort_keys=True, separators=(",", ":")) + "\n")
p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","), linger_ms=5)
for r in recs:
    p.send("in", key=r["id"].encode(), value=json.dumps(r).encode())
p.flush()
EOF
sort -o expect expect
nwin=$(wc -l <expect)

KA="-b $BROKERS --from in -k .id -w tumbling:10s --grace 5s --time .ts"
KA="$KA -a n=count() -a s=sum(.v) -O value --emit final --exactly-once"
KA="$KA --state-dir st --commit-interval 1ms $GROUP_X"
out() {
	ksource -b "$BROKERS" -t "$1" -e -O value 2>/dev/null |
	    jq -cS '{id, n, s, window_end, window_start}' | sort
}

test_expect_success 'killed (SIGKILL) right after its 5th commit' '
	KPIPE_TEST_TXN=crash:5 timeout 60 sh -c "exec kagg \$0 -G ke --to out -e -v" \
	    "$KA" 2>run1.err
	test $? -eq 137 &&
	grep -q "transactional id" run1.err
'

test_expect_success 'restarted: the stores are restored from the changelog' '
	timeout 120 kagg $KA -G ke --to out -e -v 2>run2.err &&
	grep "restored\|resuming" run2.err | sed "s/^/# /" &&
	grep -q "restored [1-9][0-9]* changelog records" run2.err
'

test_expect_success 'the output is every window once, as the model says' '
	out out >got &&
	test_line_count = $nwin got &&
	test_cmp expect got
'

test_expect_success 'every 3rd transaction aborted: redone from the last commit' '
	KPIPE_TEST_TXN=abort:3 timeout 120 kagg $KA -G ka --to out2 -e -v \
	    --stats 600 2>run3.err &&
	grep -q "transaction aborted: test abort of transaction 3" run3.err &&
	grep -q "(rolled back)" run3.err &&
	grep "^{" run3.err | tail -n 1 >stats &&
	sed "s/^/# /" stats &&
	! grep -q "\"aborts\":0," stats &&
	grep -q "\"records_committed\":3000," stats &&
	grep -q "\"outputs_committed\":$nwin," stats
'

test_expect_success 'the distinct results of the aborted run equal the model' '
	out out2 >got2 &&
	say "$(wc -l <got2) results read, $nwin distinct windows" &&
	sort -u got2 >got2u &&
	test_cmp expect got2u
'

test_expect_success 'a fatal transaction error (fenced) exits 75' '
	KPIPE_TEST_TXN=fatal:1 test_expect_code 75 timeout 60 kagg $KA -G kf \
	    --to out3 -e 2>run4.err &&
	grep -i "fatal" run4.err
'

test_done
