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
if ! kafka_up --topic v:3 --topic c:3 --topic out:3 \
    --topic ej-kjoin-changelog:3; then
	test_skip 'kjoin --join crash recovery' 'kmock did not start'
	test_done
fi
export KPIPE_TEST_TXN_OFFSETS=1

# data PHASE: produce views to v and clicks to c in timestamp order,
# phase 1 below 30 s, phase 2 the rest; "model": the expected joins
data() {
	"$PYTHON" - "$BROKERS" "$1" <<-\EOF
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
	from kafka import KafkaProducer
	p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","))
	for t, side, k, v in ev:
	    if (t < 30000) == (sys.argv[2] == "1"):
	        p.send("vc"[side], key=k.encode(), value=json.dumps(v).encode(),
	            timestamp_ms=t)
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

test_done
