#!/bin/sh
# t1000-kmap-eos.sh - kmap --exactly-once on kmock: every output of a
# record, on three branch topics, and its dead letter commit in one
# transaction with its offset.
#
# (a) KPIPE_TEST_TXN=crash:3 kills kmap (SIGKILL) right after its third
# commit; restarted, it reads from the committed offsets only, and the
# topics hold exactly what jq computes from the input: no duplicate,
# none missing.  A crash right after a commit leaves nothing uncommitted
# behind, so the comparison is exact even on kmock.
# (b) KPIPE_TEST_TXN=abort:3 aborts every third transaction after its
# records were delivered: the records are read and transformed again.
# kmock keeps aborted records visible (it has no read_committed: see
# t0800-eos-usage.sh), so the topics hold jq's output plus the records
# of the aborted transactions, which kmap counts (common/txn.h): the
# distinct records equal jq's output, and the total is jq's count plus
# the aborted count.
# (c) the log reports the commits: the records committed by the
# restarted run are the input less the group's committed offsets after
# the crash, as kafka-python reads them, and its outputs those on the
# topics less those there after the crash.
#
# KPIPE_TEST_TXN_OFFSETS=1 makes the committed offsets stick on kmock, as
# a real cluster's transactional offsets would.  Expected values: jq(1)
# runs the same program on the input values (all or nothing per record:
# [PROG] inside try), a Python model (kafka-python) produces the input
# and says which records do not decode; kafka-python reads the topics.
. "$(dirname "$0")/lib.sh"

if [ -n "${KPIPE_TEST_BROKERS:-}" ]; then
	test_skip 'kmap exactly once' 'needs kmock (KPIPE_TEST_TXN_OFFSETS)'
	test_done
fi
T=""
for s in a b c; do
	T="$T --topic $s-rest:3 --topic $s-big:3 --topic $s-five:3 --topic $s-dlq:2"
done
if ! kafka_up --topic in:3 --topic in-c:3 $T; then
	test_skip 'kmap exactly once' 'kmock did not start'
	test_done
fi
export KPIPE_TEST_TXN_OFFSETS=1
N=6000

cat >kt.py <<-\EOF
import json, sys
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
brokers = sys.argv[1].split(",")
cmd = sys.argv[2]
if cmd == "produce":
    # produce TOPIC N [PAUSE]: N records keyed k<id>: every 97th fails
    # in jq (.bad), every 211th is not JSON; in.jsonl gets the values
    # that decode; PAUSE seconds after every 100 records
    import time
    topic, pause = sys.argv[3], float(sys.argv[5]) if len(sys.argv) > 5 else 0
    p = KafkaProducer(bootstrap_servers=brokers)
    good = open("in.jsonl", "w")
    undec = open("undecodable.expect", "w")
    for i in range(1, int(sys.argv[4]) + 1):
        if i % 211 == 0:
            v = b'{"id": %d, \xff oops' % i
            undec.write(json.dumps(["dlq", "k%d" % i, "invalid JSON",
                "same"], separators=(",", ":")) + "\n")
        else:
            d = {"id": i, "n": (i * 7) % 1000}
            if i % 97 == 0:
                d["bad"] = True
            v = json.dumps(d).encode()
            good.write(v.decode() + "\n")
        p.send(topic, key=b"k%d" % i, value=v, timestamp_ms=1000 + i)
        if pause and i % 100 == 0:
            p.flush()
            time.sleep(pause)
    p.flush()
elif cmd == "dump":
    # dump TOPIC LABEL: [LABEL, key, value] per record, the value as
    # JSON with sorted keys; a dead-letter topic (LABEL dlq): [dlq, key,
    # reason, "same" when the record its kpipe.error.topic, .partition
    # and .offset headers name has the letter's key, value bytes and
    # timestamp, else what differs]
    topic, label = sys.argv[3], sys.argv[4]
    def read(topic):
        # every record up to the end offsets of now
        c = KafkaConsumer(bootstrap_servers=brokers,
            consumer_timeout_ms=10000)
        tps = [TopicPartition(topic, p)
            for p in c.partitions_for_topic(topic)]
        c.assign(tps)
        c.seek_to_beginning()
        end = c.end_offsets(tps)
        left = dict((tp, n) for tp, n in end.items() if n > 0)
        for m in c if left else []:
            yield m
            tp = TopicPartition(m.topic, m.partition)
            if m.offset + 1 >= end[tp]:
                left.pop(tp, None)
            if not left:
                break
        c.close()
    orig = {}
    if label == "dlq":
        for m in read(sys.argv[5]):
            orig[(m.partition, m.offset)] = m
    for m in read(topic):
        if label != "dlq":
            print(json.dumps([label, m.key.decode(), json.loads(m.value)],
                sort_keys=True, separators=(",", ":")))
            continue
        h = dict((k, v.decode()) for k, v in m.headers)
        reason = h["kpipe.error.reason"]
        if reason.startswith("invalid JSON"):
            reason = "invalid JSON"
        src = orig.get((int(h["kpipe.error.partition"]),
            int(h["kpipe.error.offset"])))
        if h["kpipe.error.topic"] != sys.argv[5] or src is None:
            same = "no source"
        elif (src.key, src.value, src.timestamp) != (m.key, m.value,
            m.timestamp):
            same = "differs"
        elif h["kpipe.error.stage"] != "kmap":
            same = "stage " + h["kpipe.error.stage"]
        else:
            same = "same"
        print(json.dumps(["dlq", m.key.decode(), reason, same],
            separators=(",", ":")))
elif cmd == "committed":
    # committed GROUP [TOPIC]: the sum of the group's committed offsets
    # on the 3 partitions of TOPIC (in)
    topic = sys.argv[4] if len(sys.argv) > 4 else "in"
    c = KafkaConsumer(bootstrap_servers=brokers, group_id=sys.argv[3],
        enable_auto_commit=False)
    print(sum(c.committed(TopicPartition(topic, p)) or 0 for p in range(3)))
    c.close()
EOF
kt() { "$PYTHON" kt.py "$BROKERS" "$@"; }
kt produce in $N || exit 1

# the program, its branches, and jq's model of them: the branch of a
# result is that of the first branch expression that is true
PROG='if .bad then error("bad record \(.id)")
	else ({id, n: (.n * 3)}, (select(.id % 5 == 0) | {id, tag: "five"})) end'
jq -ncS "inputs | . as \$in | try ([$PROG] | .[] |
	[(if .n >= 1500 then \"big\" elif .tag == \"five\" then \"five\"
	else \"rest\" end), \"k\(\$in.id)\", .]) catch [\"dlq\", \"k\(\$in.id)\",
	., \"same\"]" in.jsonl >expect.jq &&
	cat expect.jq undecodable.expect | sort >expect
say "model: $(wc -l <expect) records out, $(grep -c '^\["dlq"' expect) dead letters"

# eos SET [ENV...]: kmap --exactly-once from topic $IN in group $GRP,
# with $EXTRA, to the topics of SET; with EXEC=exec (in a background
# subshell), the subshell becomes timeout(1), which passes a TERM on to
# kmap (--foreground: once)
eos() {
	s=$1
	shift
	${EXEC:-} env "$@" timeout --foreground 120 kmap -b "$BROKERS" $GROUP_X --from "$IN" \
	    -G "$GRP" -v --exactly-once $EXTRA \
	    --branch big='.n >= 1500' --to big=$s-big \
	    --branch five='.tag == "five"' --to five=$s-five \
	    --to $s-rest --dlq $s-dlq "$PROG"
}
# run SET [ENV...]: from topic in to its end, group eos-SET
run() {
	IN=in GRP=eos-$1 EXTRA="-e --commit-interval 5" eos "$@"
}
# dump SET [INPUT]
dump() {
	for t in rest big five dlq; do
		kt dump $1-$t $t ${2:-in}
	done
}

test_expect_success '(a) killed (SIGKILL) right after its third commit' '
	run a KPIPE_TEST_TXN=crash:3 2>a1.err
	test $? -eq 137 &&
	grep -q "transactional id" a1.err &&
	c1=$(kt committed eos-a) &&
	say "committed before the crash: $c1 of $N" &&
	test "$c1" -gt 0 && test "$c1" -lt $N &&
	echo "$c1" >c1 &&
	dump a >got-a1 &&
	test_line_count -gt 0 got-a1
'

test_expect_success '(a) restarted: the topics hold what jq computes, exactly once' '
	run a 2>a2.err &&
	dump a | sort >got-a &&
	test_cmp expect got-a
'

test_expect_success '(c) the log reports the commits of the rest of the input' '
	grep "^kmap: transactions:" a2.err | sed "s/^/# /" &&
	in=$(($N - $(cat c1))) &&
	out=$(($(grep -c . got-a) - $(grep -c . got-a1))) &&
	grep "transactions: [1-9][0-9]* committed ($in records in, $out out), 0 aborted" a2.err &&
	test "$(kt committed eos-a)" -eq $N
'

# committed_at_least N: wait (up to 60 s) until group eos-c has
# committed N records of in-c
committed_at_least() {
	i=0
	while [ "$(kt committed eos-c in-c)" -lt "$1" ]; do
		i=$((i + 1))
		[ $i -lt 600 ] || return 1
		sleep 0.1
	done
}
# (d): the input is produced while two instances run, the second started
# once the first has committed some of it: the group moves partitions,
# and a revoked partition's open transaction commits before it goes.
# Here kmock cannot show exactly once either: its group refuses an
# OffsetCommit while it rebalances (REBALANCE_IN_PROGRESS), so the
# KPIPE_TEST_TXN_OFFSETS stand-in for the offsets of the transaction
# committed on revocation is lost (seen here), and the new owner reads
# those records again.  (A real coordinator takes TxnOffsetCommit from
# the current generation while the group prepares the rebalance.)  What
# is checked: nothing is missing, each instance committed its share, and
# the two have distinct transactional ids.
kt produce in-c $N 0.1 &
pp=$!
EXEC=exec IN=in-c GRP=eos-c EXTRA= eos c 2>d1.err &
p1=$!
_kpipe_pids="$_kpipe_pids $pp $p1"
test_expect_success '(d) a first instance transforms the input as it comes' '
	committed_at_least 600
'
EXEC=exec IN=in-c GRP=eos-c EXTRA= eos c 2>d2.err &
p2=$!
_kpipe_pids="$_kpipe_pids $p2"
wait $pp
prc=$?
test_expect_success '(d) a second instance joins mid-stream; they commit all' '
	test $prc -eq 0 &&
	committed_at_least $N
'
kill -TERM $p1 $p2
wait $p1
rc1=$?
wait $p2
rc2=$?
test_expect_success '(d) partitions moved, each record went out once' '
	test $rc1 -eq 0 && test $rc2 -eq 0 &&
	grep "^kmap: transactions:" d1.err d2.err | sed "s/^/# /" &&
	id1=$(sed -n "s/^kmap: transactional id .\(eos-c-kmap-.*\).$/\1/p" d1.err) &&
	id2=$(sed -n "s/^kmap: transactional id .\(eos-c-kmap-.*\).$/\1/p" d2.err) &&
	say "transactional ids $id1 and $id2" &&
	test -n "$id1" && test -n "$id2" && test "$id1" != "$id2" &&
	dump c in-c | sort >got-c &&
	sort -u got-c >got-c-distinct &&
	test_cmp expect got-c-distinct &&
	in1=$(sed -n "s/.*transactions: .* committed (\([0-9]*\) records in.*/\1/p" d1.err) &&
	in2=$(sed -n "s/.*transactions: .* committed (\([0-9]*\) records in.*/\1/p" d2.err) &&
	test "$in1" -gt 0 && test "$in2" -gt 0 &&
	test $(($in1 + $in2)) -ge $N
'
# what a real cluster would not show
say "(d) records out twice on kmock: $(sort got-c 2>/dev/null | uniq -d | wc -l)"

test_expect_success '(b) aborted transactions are redone: distinct output as jq, none missing' '
	run b KPIPE_TEST_TXN=abort:3 2>b.err &&
	grep "transaction aborted: test abort of transaction 3" b.err &&
	grep "^kmap: transactions:" b.err | sed "s/^/# /" &&
	dump b | sort >got-b &&
	sort -u got-b >got-b-distinct &&
	test_cmp expect got-b-distinct &&
	want=$(grep -c . expect) &&
	line=$(grep "^kmap: transactions:" b.err) &&
	echo "$line" | grep "committed ($N records in, $want out), [1-9][0-9]* aborted" &&
	aborted=$(echo "$line" | sed "s/.*aborted ([0-9]* records in, \([0-9]*\) out.*/\1/") &&
	test "$(grep -c . got-b)" -eq $(($want + $aborted))
'

test_done
