#!/bin/sh
# t0800-eos-broker.sh - broker faults under --exactly-once: while
# krepart -> kdlq run in transactions on a stream of records, kmock takes
# the transaction coordinator down and up, then a partition leader.  The
# output read with read_committed must be the golden output: nothing
# missing, nothing foreign, and - when no transaction had to abort, or on
# a cluster that honours transactions - no duplicate.
#
#   in (6 partitions) -> krepart -k .user -> rekeyed
#     -> kdlq --require .amount -> valid (+ dead letters to dead)
#
# Placement (kmock commands, see kmock(1)): the input topic is led by
# broker 1 (so that feeding it never waits), the other topics by brokers
# 1 and 2, the groups' coordinator is broker 1, and both transactional
# ids (set with -X transactional.id=) have broker 3 as their coordinator,
# so "down 3" takes away the transaction coordinator alone; "down 2" then
# takes away the leader of half of the partitions the stages write and
# kdlq reads.
#
# The golden output is kdlq's pipe mode on the same records (stdin to
# stdout, no Kafka), checked against a Python model (a record without
# .amount is a dead letter, every other one passes unchanged).
. "$(dirname "$0")/lib.sh"

if [ -n "${KPIPE_TEST_BROKERS:-}" ]; then
	test_skip 'broker faults' 'kmock commands are needed: runs on kmock only'
	test_done
fi

N=${EOS_RECORDS:-20000}
CHUNKS=16
IN=in REKEYED=rekeyed VALID=valid DEAD=dead
if ! kafka_up --topic in:6 --topic rekeyed:6 --topic valid:6 --topic dead:6 \
    --control "$TRASH/ctl"; then
	test_skip 'broker faults' 'kmock did not start'
	test_done
fi
export KPIPE_TEST_TXN_OFFSETS=1

# ctl CMD: one kmock command; its answer must be ok
ctl() {
	echo "$*" >"$TRASH/ctl"
	ctl_n=$(grep -c . "$TRASH/kmock.out")
	ctl_i=0
	while [ "$(grep -c . "$TRASH/kmock.out")" -le "$ctl_n" ] &&
	    [ $ctl_i -lt 50 ]; do
		sleep 0.05
		ctl_i=$((ctl_i + 1))
	done
	if ! tail -n 1 "$TRASH/kmock.out" | grep -q '^ok'; then
		echo "kmock: $*: $(tail -n 1 "$TRASH/kmock.out")" >>harness.err
	fi
	ncmd=$((ncmd + 1))
}
ncmd=0

"$PYTHON" - "$N" <<-\EOF
import json, sys
with open("in.jsonl", "w") as f:
    for i in range(1, int(sys.argv[1]) + 1):
        r = {"id": i, "user": "u%d" % (i % 97)}
        if i % 50:
            r["amount"] = i % 13
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
EOF

test_expect_success 'golden output: pipe mode, checked against the model' '
	kdlq --require .amount --dlq gold-dead.jsonl -O value <in.jsonl |
	    jq -cS . | sort >golden &&
	jq -c ".value | fromjson" gold-dead.jsonl | jq -cS . | sort >golden-dead &&
	jq -cS "select(has(\"amount\"))" in.jsonl | sort >model &&
	jq -cS "select(has(\"amount\") | not)" in.jsonl | sort >model-dead &&
	test_cmp model golden &&
	test_cmp model-dead golden-dead
'

for p in 0 1 2 3 4 5; do
	ctl leader $IN $p 1
	for t in $REKEYED $VALID $DEAD; do
		ctl leader $t $p $((p % 2 + 1))
	done
done
ctl coordinator group g-rep 1
ctl coordinator group g-dlq 1
ctl coordinator transaction eos-rep 3
ctl coordinator transaction eos-dlq 3

TMO=
# stage N [ARGS]: become stage N (it execs: call it in a subshell)
stage() {
	n=$1
	shift
	case $n in
	1) exec $TMO krepart -b "$BROKERS" --from $IN -G g-rep $GROUP_X -k .user \
	    --to $REKEYED --exactly-once -X transactional.id=eos-rep -v "$@" ;;
	2) exec $TMO kdlq -b "$BROKERS" --from $REKEYED -G g-dlq $GROUP_X --to $VALID \
	    --dlq $DEAD --require .amount --exactly-once \
	    -X transactional.id=eos-dlq -v "$@" ;;
	esac
}

split -n l/$CHUNKS -d -a 3 in.jsonl chunk.
stage 1 >/dev/null 2>stage1.log &
P1=$!
stage 2 >/dev/null 2>stage2.log &
P2=$!
_kpipe_pids="$KMOCK_PID $P1 $P2"
# the faults come once records flow through both stages
ksink -b "$BROKERS" -t $IN -k .id chunk.000 2>>ksink.log ||
    echo "ksink failed" >>harness.err
w=0
while [ "$(ksource -b "$BROKERS" -t $VALID -e -c 1 -O value 2>/dev/null |
    wc -l)" -eq 0 ] && [ $w -lt 60 ]; do
	sleep 0.5
	w=$((w + 1))
done
say "records flow after $((w / 2)) s"
i=1
for c in chunk.*; do
	[ "$c" = chunk.000 ] && continue
	ksink -b "$BROKERS" -t $IN -k .id "$c" 2>>ksink.log ||
	    echo "ksink failed" >>harness.err
	case $i in
	3) ctl down 3; say "transaction coordinator (broker 3) down" ;;
	8) ctl up 3; say "transaction coordinator up" ;;
	10) ctl down 2; say "partition leader (broker 2) down" ;;
	13) ctl up 2; say "partition leader up" ;;
	esac
	i=$((i + 1))
	sleep 0.4
done
sleep 2
kill "$P1" "$P2" 2>/dev/null
wait "$P1"
rc1=$?
wait "$P2"
rc2=$?
say "the stages stopped with status $rc1 and $rc2"
_kpipe_pids=$KMOCK_PID
TMO="timeout 120"
(stage 1 -e) >/dev/null 2>drain1.log || echo "drain 1: exit $?" >>harness.err
(stage 2 -e) >/dev/null 2>drain2.log || echo "drain 2: exit $?" >>harness.err

ksource -b "$BROKERS" -t $VALID -e -O value -X isolation.level=read_committed 2>>ksource.log |
    jq -cS . | sort >out
ksource -b "$BROKERS" -t $DEAD -e -O value -X isolation.level=read_committed 2>>ksource.log |
    jq -cS . | sort >out-dead
sort -u out >out-uniq
sort -u out-dead >out-dead-uniq
dups=$(( $(wc -l <out) - $(wc -l <out-uniq) + $(wc -l <out-dead) -
    $(wc -l <out-dead-uniq) ))
aborts=$(cat stage1.log stage2.log drain1.log drain2.log |
    sed -n 's/.*committed.*, \([0-9]*\) aborted.*/\1/p' |
    awk '{ n += $1 } END { print n + 0 }')
say "$(wc -l <golden) records and $(wc -l <golden-dead) dead letters compared; $aborts transactions aborted; $dups duplicates"
grep -h "transactions:" stage?.log drain?.log | sed 's/^/# /'

test_expect_success 'the harness ran: kmock took every command, stages drained' '
	test "$(grep -c "^ok" "$TRASH/kmock.out")" -eq "$ncmd" &&
	! test -s harness.err
'

test_expect_success 'no record missing, none foreign' '
	test_cmp golden out-uniq &&
	test_cmp golden-dead out-dead-uniq
'

# on kmock, records of a transaction that aborted, or that a stage left
# open when it gave up (status 75), stay visible to read_committed
if [ "$aborts" -eq 0 ] && [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]; then
	test_expect_success 'every transaction committed: output = golden, no duplicate' '
		test_cmp golden out &&
		test_cmp golden-dead out-dead
	'
else
	test_skip "output = golden, no duplicate ($dups here)" \
	    "$aborts transactions aborted, stages stopped with $rc1 and $rc2; kmock (librdkafka 2.0.2 mock) shows unfinished transactions to read_committed readers"
fi

test_done
