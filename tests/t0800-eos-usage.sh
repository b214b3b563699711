#!/bin/sh
# t0800-eos-usage.sh - --exactly-once and --commit-interval of krepart,
# kdlq, kjoin, kagg and kmap: usage errors (64), the transactional id (derived from
# the group and the program, a slot per live instance, or -X), a fatal
# transaction error (fenced) exits 75, and an aborted transaction is read
# again.  The probe at the end says whether the cluster honours
# transactions (kmock does not).
#
# Expected values: the ids are worked out by hand from common/txn.h's rule
# GROUP-PROGRAM-HOST-N, HOST being hostname(1) with characters outside
# [A-Za-z0-9._-] made '_'; record counts come from seq(1).
. "$(dirname "$0")/lib.sh"

B="-b localhost:1"
test_expect_success 'usage: --exactly-once needs Kafka in and out' '
	test_expect_code 64 krepart $B --to t --exactly-once </dev/null 2>err &&
	grep "need --from" err &&
	test_expect_code 64 krepart --dry-run -n 3 --exactly-once </dev/null &&
	test_expect_code 64 krepart $B --check t --commit-interval 5 &&
	test_expect_code 64 krepart $B --from s -G g --to t --commit-interval 0 2>err &&
	grep "not positive" err &&
	test_expect_code 64 krepart $B --from s -G g --to t --commit-interval 5x &&
	test_expect_code 64 kdlq $B --exactly-once --dlq d.jsonl </dev/null 2>err &&
	grep "needs --from, --to and a dead-letter topic" err &&
	test_expect_code 64 kdlq $B --from s -G g --to t --dlq d.jsonl --exactly-once 2>err &&
	grep "dead-letter topic" err &&
	test_expect_code 64 kdlq --dlq d.jsonl --commit-interval 100 </dev/null &&
	test_expect_code 64 kdlq replay $B --from d --exactly-once &&
	test_expect_code 64 kjoin $B --table t --exactly-once </dev/null 2>err &&
	grep "need --from" err &&
	test_expect_code 64 kjoin $B --table t --from s -G g --exactly-once 2>err &&
	grep "needs --to" err &&
	test_expect_code 64 kjoin $B --join t --within 1s --from s -G g \
	    --exactly-once 2>err &&
	grep "needs --to" err &&
	test_expect_code 64 kjoin $B --join file:t --within 1s --exactly-once \
	    </dev/null 2>err &&
	grep "need --from" err
'

KA="-w tumbling:1s -a n=count() -k .id"
test_expect_success 'usage: kagg --exactly-once needs --from and --to, topics for --late and --dlq' '
	test_expect_code 64 kagg $KA --exactly-once </dev/null 2>err &&
	grep "needs --from" err &&
	test_expect_code 64 kagg $B $KA --from s -G g --exactly-once 2>err &&
	grep "needs --to" err &&
	test_expect_code 64 kagg $B $KA --from s -G g --to o --late l/x.jsonl \
	    --exactly-once 2>err &&
	grep "late to be a topic" err &&
	test_expect_code 64 kagg $B $KA --from s -G g --to o --dlq d.jsonl \
	    --exactly-once 2>err &&
	grep "dlq to be a topic" err &&
	test_expect_code 64 kagg $B $KA --from s -G g --to o --commit-interval 0 \
	    2>err &&
	grep "must be positive" err &&
	test_expect_code 64 kagg $B $KA --from s -G g --to o --stats 0 &&
	test_expect_code 64 kagg -k .id -w tumbling:1s 2>err &&
	grep "no aggregate" err
'

test_expect_success 'usage: kmap --exactly-once needs --from, topic outputs, a dead-letter topic' '
	test_expect_code 64 kmap $B --exactly-once --to t . </dev/null 2>err &&
	grep "need --from" err &&
	test_expect_code 64 kmap --commit-interval 5 . </dev/null 2>err &&
	grep "need --from" err &&
	test_expect_code 64 kmap $B --from s -G g --exactly-once . 2>err &&
	grep "needs --to TOPIC" err &&
	test_expect_code 64 kmap $B --from s -G g --to file:o.jsonl \
	    --exactly-once . 2>err &&
	grep "topics only" err &&
	test_expect_code 64 kmap $B --from s -G g --to t --branch a=.a \
	    --to a=file:a.jsonl --exactly-once . 2>err &&
	grep "topics only" err &&
	test_expect_code 64 kmap $B --from s -G g --to t --dlq d.jsonl \
	    --exactly-once . 2>err &&
	grep "needs a dead-letter topic" err &&
	test_expect_code 64 kmap $B --from s -G g --to t --dlq file:d \
	    --exactly-once . 2>err &&
	grep "needs a dead-letter topic" err &&
	test_expect_code 64 kmap $B --from s -G g --to t --commit-interval 0 . 2>err &&
	grep "not positive" err &&
	test_expect_code 64 kmap $B --from s -G g --to t --commit-interval 5x . &&
	! test -e o.jsonl && ! test -e a.jsonl
'

if ! kafka_up --topic in:3 --topic big:3 --topic out:3 --topic out2:3 --topic valid:3 \
    --topic dead:3 --topic probe-in:1 --topic probe-out:1; then
	test_skip 'exactly once on kmock' 'kmock did not start'
	test_done
fi
seq 1 300 | awk '{ printf "{\"id\":%d,\"user\":\"u%d\"}\n", $1, $1 % 7 }' >in.jsonl
ksink -b "$BROKERS" -t in -k .id in.jsonl 2>/dev/null
seq 1 20000 | awk '{ printf "{\"id\":%d}\n", $1 }' >big.jsonl
ksink -b "$BROKERS" -t big -k .id big.jsonl 2>/dev/null
HOST=$(hostname | sed 's/[^A-Za-z0-9._-]/_/g')
UNIQ=$(unique_topic g)
out() { ksource -b "$BROKERS" -t "$1" -e -O value 2>/dev/null; }

test_expect_success 'the transactional id is GROUP-krepart-HOST-0, a second instance gets slot 1' '
	krepart -b "$BROKERS" --from in -G "$UNIQ-a" $GROUP_X -k .user \
	    --to out --exactly-once -v 2>a.err &
	p=$! &&
	i=0 &&
	while ! grep -q "transactional id" a.err && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done &&
	timeout 60 krepart -b "$BROKERS" --from in -G "$UNIQ-a" $GROUP_X \
	    -k .user --to out --exactly-once -e -v 2>b.err ;
	kill $p; wait $p
	grep -F "transactional id '"'"'$UNIQ-a-krepart-$HOST-0'"'"'" a.err &&
	grep -F "transactional id '"'"'$UNIQ-a-krepart-$HOST-1'"'"'" b.err
'

test_expect_success 'a clean run: every record once (300 in, 300 out), slot 0 again' '
	timeout 60 krepart -b "$BROKERS" --from in -G "$UNIQ-a" $GROUP_X -k .user \
	    --to out2 --exactly-once -e -v 2>c.err &&
	grep -F "transactional id '"'"'$UNIQ-a-krepart-$HOST-0'"'"'" c.err &&
	grep "transactions: [0-9]* committed (300 records in, 300 out), 0 aborted" c.err &&
	out out2 | jq -c .id | sort -n >got &&
	seq 1 300 >want &&
	test_cmp want got
'

test_expect_success 'aborted transactions are read again (kdlq, -X transactional.id)' '
	KPIPE_TEST_TXN=abort:2 timeout 60 kdlq -b "$BROKERS" --from big \
	    -G "$UNIQ-g" $GROUP_X --to valid --dlq dead --exactly-once -e -v \
	    --stats 60 --commit-interval 10 -X transactional.id=mine 2>i.err &&
	grep -F "transactional id '"'"'mine'"'"'" i.err &&
	grep "transaction aborted: test abort of transaction 2" i.err &&
	grep "^{" i.err | tail -n 1 >stats &&
	grep "\"records_committed\":20000," stats &&
	! grep "\"aborts\":0," stats &&
	out valid | jq -c .id | sort -n | uniq >got &&
	seq 1 20000 >want-big &&
	test_cmp want-big got
'

test_expect_success 'a fatal transaction error (fenced) exits 75' '
	KPIPE_TEST_TXN=fatal:1 test_expect_code 75 timeout 60 krepart \
	    -b "$BROKERS" --from in -G "$UNIQ-e" $GROUP_X -k .user --to out \
	    --exactly-once -e 2>g.err &&
	grep -i "fatal" g.err &&
	KPIPE_TEST_TXN=fatal:1 test_expect_code 75 timeout 60 kjoin \
	    -b "$BROKERS" --from in -G "$UNIQ-f" $GROUP_X --table file:/dev/null \
	    --to out --exactly-once -e --state-dir st 2>h.err &&
	grep -i "fatal" h.err &&
	KPIPE_TEST_TXN=fatal:1 test_expect_code 75 timeout 60 kmap \
	    -b "$BROKERS" --from in -G "$UNIQ-k" $GROUP_X --to out \
	    --exactly-once -e . 2>k.err &&
	grep -i "fatal" k.err
'

# the probe: a record delivered in a transaction that aborts (kdlq gives
# up at the first abort with --retry-max 0) is invisible to
# read_committed readers on a cluster that honours transactions, and
# visible on kmock
echo '{"id":1}' >one.jsonl
ksink -b "$BROKERS" -t probe-in one.jsonl 2>/dev/null
KPIPE_TEST_TXN=abort:1 timeout 60 kdlq -b "$BROKERS" --from probe-in \
    -G "$UNIQ-p" $GROUP_X --to probe-out --dlq dead --exactly-once \
    --commit-interval 500 --retry-max 0 -e 2>probe.err
seen=$(ksource -b "$BROKERS" -t probe-out -e -O value \
    -X isolation.level=read_committed \
    2>/dev/null | wc -l)
if [ "$seen" -eq 0 ]; then
	test_expect_success 'the cluster honours transactions' 'true'
else
	test_skip 'the cluster honours transactions' \
	    'kmock (librdkafka 2.0.2 mock) shows an unfinished transaction to read_committed readers: exactly once cannot be seen there'
fi

test_done
