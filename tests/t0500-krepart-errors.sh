#!/bin/sh
# krepart against kmock when things go wrong: an output topic that does not
# exist (the mock has no CreateTopics: exit 78 with how to create it, and
# no auto-created topic left behind), a failed delivery (exit 75, input
# offsets not committed, so a second run delivers them), and a record whose
# value does not decode (exit 65, or --dlq and on).
. "$(dirname "$0")/lib.sh"

IN=$(unique_topic in) OUT=$(unique_topic out) L=$(unique_topic lead)
BADIN=$(unique_topic badin) BADOUT=$(unique_topic badout)
NEW=$(unique_topic new) IN2=$(unique_topic in2) L2=$(unique_topic lead2)
BIGIN=$(unique_topic bigin) BIGOUT=$(unique_topic bigout)
kafka_up --topic "$IN:2" --topic "$OUT:3" --topic "$L:1" --topic "$BADIN:1" \
    --topic "$BADOUT:2" --topic "$IN2:2" --topic "$L2:2" \
    --topic "$BIGIN:1" --topic "$BIGOUT:1" \
    --control "$TRASH/ctl" || exit 1

# As in t0500-krepart-interop.sh: the mock holds a rejoin of an emptied
# group for session.timeout.ms less 1 s.
SESSION="-X session.timeout.ms=6000"

topics() {
	kcat -L -b "$BROKERS" | sed -n 's/^  topic "\([^"]*\)".*/\1/p' | sort
}

test_expect_success 'an output topic that cannot be created: 78, and how to create it' '
	printf "{\"k\":1}\n" >one.jsonl &&
	test_expect_code 78 krepart -b "$BROKERS" -n 4 --to "$NEW" one.jsonl 2>err &&
	grep "cannot create topic .$NEW." err &&
	grep "kafka-topics.sh --bootstrap-server BROKER --create --topic $NEW --partitions 4" err &&
	grep -- "--topic $NEW:4" err &&
	topics >list &&
	! grep -x "$NEW" list &&
	grep -x "$OUT" list
'

test_expect_success 'an output topic that does not exist, without -n: 78' '
	test_expect_code 78 krepart -b "$BROKERS" --to "$NEW" one.jsonl 2>err &&
	grep "topic .$NEW. does not exist: give -n" err &&
	topics >list &&
	! grep -x "$NEW" list
'

test_expect_success 'an input topic that does not exist: 78, not auto-created' '
	test_expect_code 78 krepart -b "$BROKERS" --from "$NEW" -G g0 --to "$OUT" 2>err &&
	grep "topic .$NEW. does not exist" err &&
	topics >list &&
	! grep -x "$NEW" list
'

test_expect_success 'a bad librdkafka property: 78' '
	test_expect_code 78 krepart -b "$BROKERS" -X no.such.property=1 --to "$OUT" one.jsonl
'

test_expect_success 'an existing topic with fewer partitions than -n: 78' '
	test_expect_code 78 krepart -b "$BROKERS" -n 4 --to "$OUT" one.jsonl 2>err &&
	grep "has 3 partitions, fewer than -n 4" err
'

# Partition 0 of L has no leader: nothing can be delivered to it before
# message.timeout.ms.
test_expect_success 'failed deliveries: 75 with the count, input offsets not committed' '
	seq 1 5 | sed "s/.*/{\"k\":\"&\"}/" |
	    kcat -P -b "$BROKERS" -t "$IN" -p 0 &&
	seq 6 8 | sed "s/.*/{\"k\":\"&\"}/" |
	    kcat -P -b "$BROKERS" -t "$IN" -p 1 &&
	echo "leader $L 0 -1" >"$TRASH/ctl" &&
	sleep 0.5 &&
	test_expect_code 75 krepart -b "$BROKERS" $SESSION \
	    -X message.timeout.ms=1500 --from "$IN" -G g-fail -e -k .k \
	    --to "$L" 2>err &&
	grep "8 of 8 records could not be delivered to topic .$L." err &&
	grep "input offsets were not committed" err
'

test_expect_success 'the same group, once the partition has a leader, delivers them all' '
	echo "leader $L 0 1" >"$TRASH/ctl" &&
	sleep 0.5 &&
	krepart -b "$BROKERS" $SESSION --from "$IN" -G g-fail -e -k .k --to "$L" &&
	kcat -C -b "$BROKERS" -t "$L" -e -q -f "%k\n" | sort -n >got &&
	seq 1 8 >expect &&
	test_cmp expect got
'

# Half the records go to a partition without a leader, interleaved with
# ones that are delivered: no input offset may be committed past a record
# that failed, so the second run delivers every key that the first did
# not (the delivered ones may come twice: at least once).  Which output
# partition a key gets is murmur2's, worked out by kafka-python.
test_expect_success 'some deliveries fail among good ones: none lost on the rerun' '
	seq 1 400 | sed "s/.*/{\"k\":\"&\"}/" >in2.jsonl &&
	head -n 200 in2.jsonl | kcat -P -b "$BROKERS" -t "$IN2" -p 0 &&
	tail -n 200 in2.jsonl | kcat -P -b "$BROKERS" -t "$IN2" -p 1 &&
	"$PYTHON" -c "
from kafka.partitioner.default import murmur2
for i in range(1, 401):
    k = str(i).encode()
    print(i, (murmur2(k) & 0x7fffffff) % 2)
" >parts &&
	awk "\$2 == 0" parts | wc -l >n0 &&
	test "$(cat n0)" -gt 100 &&
	echo "leader $L2 0 -1" >"$TRASH/ctl" &&
	sleep 0.5 &&
	test_expect_code 75 krepart -b "$BROKERS" $SESSION \
	    -X message.timeout.ms=1500 --from "$IN2" -G g-half -e -k .k \
	    --to "$L2" 2>err &&
	grep "records could not be delivered" err &&
	echo "leader $L2 0 1" >"$TRASH/ctl" &&
	sleep 0.5 &&
	krepart -b "$BROKERS" $SESSION --from "$IN2" -G g-half -e -k .k \
	    --to "$L2" &&
	kcat -C -b "$BROKERS" -t "$L2" -e -q -f "%k %p\n" | sort -u -n >got &&
	sort -n parts >expect &&
	test_cmp expect got
'

# -k .k needs the value decoded; "{oops" starts like JSON and is not.
# The good records leave with their value bytes as they came (spaces and
# all), not re-serialised.
test_expect_success 'a value that does not decode: 65 without --dlq' '
	printf "%s\n" "{ \"k\" : \"a\" }" "{oops" "{\"k\":\"b\"}" |
	    kcat -P -b "$BROKERS" -t "$BADIN" -p 0 &&
	test_expect_code 65 krepart -b "$BROKERS" $SESSION --from "$BADIN" \
	    -G g-bad -e -k .k --to "$BADOUT" 2>err &&
	grep "topic .$BADIN. partition 0 offset 1" err
'

test_expect_success 'with --dlq the bad record is written there and the rest goes on' '
	krepart -b "$BROKERS" $SESSION --from "$BADIN" -G g-bad -e -k .k \
	    --dlq dead.jsonl --to "$BADOUT" &&
	test_line_count = 1 dead.jsonl &&
	jq -e ".source.offset == 1 and .value == \"{oops\"" dead.jsonl &&
	kcat -C -b "$BROKERS" -t "$BADOUT" -e -q -f "%k %s\n" | sort >got &&
	printf "%s\n" "a { \"k\" : \"a\" }" "b {\"k\":\"b\"}" >expect &&
	test_cmp expect got
'

# A record the producer refuses at once (larger than its
# message.max.bytes) opens a transaction: it is the first record of its
# partition in it, and the consumer has already moved past it.  The abort
# must rewind the partition to it, so that it is tried again (and, after
# KP_TXN_MAX_ABORTS tries, the run stops with 75) instead of being skipped
# while the records after it commit.
test_expect_success '--exactly-once: a record that cannot be produced is never skipped' '
	{ echo "{\"k\":\"big\",\"pad\":\"$(head -c 20000 /dev/zero |
	    tr "\\0" x)\"}"; echo "{\"k\":\"a\"}"; echo "{\"k\":\"b\"}"; } |
	    kcat -P -b "$BROKERS" -t "$BIGIN" -p 0 &&
	KPIPE_TEST_TXN_OFFSETS=1 test_expect_code 75 timeout 120 krepart \
	    -b "$BROKERS" $SESSION --from "$BIGIN" -G g-big -e -k .k \
	    --to "$BIGOUT" --exactly-once -X message.max.bytes=10000 2>err &&
	grep -i "too large" err &&
	! grep -q "^krepart: transactions: [1-9]" err &&
	kcat -C -b "$BROKERS" -G g-big-probe -t "$BIGOUT" -e -q -o beginning \
	    -f "%k\n" >got 2>/dev/null;
	! grep -q . got
'

test_done
