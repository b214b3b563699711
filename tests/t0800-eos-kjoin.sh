#!/bin/sh
# t0800-eos-kjoin.sh - kjoin --exactly-once after a crash between the
# transaction commit and the table store commit: the store lags the
# group's offsets, is brought up to them from the table topic, and the
# output equals that of a run never interrupted, with no duplicate.
#
# KPIPE_TEST_TXN=crash:1 kills kjoin (SIGKILL) right after its first
# transaction committed, before its stores do (common/txn.h); on kmock,
# KPIPE_TEST_TXN_OFFSETS=1 makes the committed offsets stick, as a real
# cluster's transactional offsets would.  Nothing uncommitted is left
# behind by such a crash, so the output can be compared exactly even on
# kmock.
#
# The table changes in the middle of the stream (users u0..u3 get tier 9
# at timestamp 5000), written after the crash with the second half of the
# stream: a store restored past the committed table offset would join
# records before timestamp 5000 with tier 9, and shows in the output.  Expected output: a Python model of the time-ordered join
# (each stream record joins the last table version at or before its
# timestamp; stream fields first), written from kjoin(1).
. "$(dirname "$0")/lib.sh"

if [ -n "${KPIPE_TEST_BROKERS:-}" ]; then
	test_skip 'kjoin crash recovery' 'needs kmock (KPIPE_TEST_TXN_OFFSETS)'
	test_done
fi
if ! kafka_up --topic s:3 --topic users:3 --topic out:3; then
	test_skip 'kjoin crash recovery' 'kmock did not start'
	test_done
fi
export KPIPE_TEST_TXN_OFFSETS=1

# produce PHASE: phase 1 is the table's first version (timestamp 1000)
# and the stream records before timestamp 4000; phase 2 the change of
# u0..u3 (timestamp 5000) and the rest of the stream; "model" writes the
# expected output of both
produce() {
	"$PYTHON" - "$BROKERS" "$1" <<-\EOF
	import json, sys
	from kafka import KafkaProducer
	table = [(1000, {"user": "u%d" % u, "tier": u % 3}) for u in range(7)]
	table += [(5000, {"user": "u%d" % u, "tier": 9}) for u in range(4)]
	stream = [(2001 + i * 10, {"id": i, "user": "u%d" % (i % 7)})
	    for i in range(600)]
	if sys.argv[2] == "model":
	    for ts, v in stream:
	        cur = [tv for tts, tv in table if tv["user"] == v["user"]
	            and tts <= ts][-1]
	        out = dict(cur)
	        out.update(v)
	        print(json.dumps(out, sort_keys=True, separators=(",", ":")))
	    sys.exit(0)
	p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","))
	first = sys.argv[2] == "1"
	for ts, v in table:
	    if (ts < 4000) == first:
	        p.send("users", key=v["user"].encode(),
	            value=json.dumps(v).encode(), timestamp_ms=ts)
	p.flush()
	for ts, v in stream:
	    if (ts < 4000) == first:
	        p.send("s", key=v["user"].encode(), value=json.dumps(v).encode(),
	            timestamp_ms=ts)
	p.flush()
	EOF
}
produce model | sort >expect
produce 1 || exit 1

KJ="-b $BROKERS --from s --table users -k .user -G kj $GROUP_X --to out"
KJ="$KJ --state-dir st --exactly-once"
test_expect_success 'killed (SIGKILL) right after its first commit' '
	KPIPE_TEST_TXN=crash:1 timeout 60 sh -c "exec kjoin $KJ -e -v" 2>run1.err
	test $? -eq 137 &&
	grep -q "transactional id" run1.err &&
	! ls st/kj/kjoin/*/CHECKPOINT
'

produce 2 || exit 1
test_expect_success 'restarted: the stores catch up to the committed offsets only' '
	timeout 60 kjoin $KJ -e -v 2>run2.err &&
	grep "restor" run2.err | sed "s/^/# /" &&
	grep -q "restored [1-9][0-9]* records of table partition" run2.err
'

test_expect_success 'the output is that of an uninterrupted run, no duplicate' '
	ksource -b "$BROKERS" -t out -e -O value \
	    -X isolation.level=read_committed | jq -cS . | sort >got &&
	test_cmp expect got
'

test_done
