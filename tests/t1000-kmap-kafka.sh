#!/bin/sh
# kmap against a Kafka protocol server (kmock): kcat produces, kmap reads
# in a consumer group and writes topics, kcat reads back.  Expected values
# come from jq and awk run on what kcat produced and read.
. "$(dirname "$0")/lib.sh"

kafka_up --topic orders:3 --topic big:2 --topic rest:3 --topic mixed:1 \
	--topic out:1 --topic fromfile:2 --topic five:1 --topic five-out:1 \
	--topic stream:2 --topic stream-out:1 --topic ci:1 --topic ci-out:1 || exit 1

# committed GROUP TOPIC PARTITION: the group's committed offset, as
# kafka-python (an independent client) reads it; "None" when none
committed() {
	$PYTHON - "$BROKERS" "$@" <<-\PY
	import sys
	from kafka import KafkaConsumer, TopicPartition
	c = KafkaConsumer(bootstrap_servers=sys.argv[1].split(","),
	                  group_id=sys.argv[2], enable_auto_commit=False)
	print(c.committed(TopicPartition(sys.argv[3], int(sys.argv[4]))))
	c.close()
	PY
}

# 120 orders keyed k1..k120, with a header; quantity 0..199, some items
awk 'BEGIN {
	srand(5);
	for (i = 1; i <= 120; i++) {
		items = "";
		for (j = 0; j < i % 3; j++)
			items = items (j ? "," : "") "\"i" i "-" j "\"";
		printf "k%d|{\"id\":%d,\"quantity\":%d,\"items\":[%s]}\n", i, i,
		    int(rand() * 200), items
	}
}' >orders.txt
cut -d"|" -f2 orders.txt >orders.jsonl

# librdkafka 2.0.2's mock does not end a member on LeaveGroup: a group
# rejoined after kmap exits waits for the old member's session to time
# out (45 s by default, as kcat -G sees too), so keep sessions short
S="-X session.timeout.ms=6000"
kcat -P -b "$BROKERS" -t orders -K "|" -H src=kcat <orders.txt || exit 1

test_expect_success 'filter, map, re-key and branch: topics hold what jq computes' '
	kmap -b "$BROKERS" $S --from orders -G g1 -e -v \
		--key ".id | tostring" \
		--branch big=".q2 >= 200" --to big=big --to rest \
		"select(.quantity > 5) | {id, q2: (.quantity * 2)}" 2>err &&
	grep "120 records in" err &&
	kcat -C -b "$BROKERS" -t big -e -q -f "%k %h %s\n" | sort >big.actual &&
	kcat -C -b "$BROKERS" -t rest -e -q -f "%k %h %s\n" | sort >rest.actual &&
	jq -r "select(.quantity > 5) | {id, q2: (.quantity * 2)} |
		select(.q2 >= 200) | \"\(.id) src=kcat \(tojson)\"" orders.jsonl |
		sort >big.expect &&
	jq -r "select(.quantity > 5) | {id, q2: (.quantity * 2)} |
		select(.q2 < 200) | \"\(.id) src=kcat \(tojson)\"" orders.jsonl |
		sort >rest.expect &&
	test_cmp big.expect big.actual &&
	test_cmp rest.expect rest.actual &&
	n=$(cat big.actual rest.actual | wc -l) &&
	m=$(jq "select(.quantity > 5)" orders.jsonl | jq -s length) &&
	test "$n" -eq "$m"
'

test_expect_success 'timestamps pass unchanged' '
	kcat -C -b "$BROKERS" -t orders -e -q -f "%T %s\n" |
		awk "{ split(\$2, a, /[:,]/); print a[2], \$1 }" | sort >ts.all &&
	kcat -C -b "$BROKERS" -t big -e -q -f "%k %T\n" | sort >ts.big &&
	join ts.big ts.all | awk "\$2 != \$3" >mismatch &&
	test ! -s mismatch &&
	test "$(wc -l <ts.big)" -gt 0
'

test_expect_success 'offsets were committed: the same group reads nothing again' '
	kmap -b "$BROKERS" $S --from orders -G g1 -e -v --to rest . 2>err &&
	grep "0 records in" err &&
	printf "k121|{\"id\":121,\"quantity\":50,\"items\":[]}\n" |
		kcat -P -b "$BROKERS" -t orders -K "|" &&
	kmap -b "$BROKERS" $S --from orders -G g1 -e -v --to rest . 2>err &&
	grep "1 records in" err
'

test_expect_success 'variables: $key $partition $offset $topic $timestamp $headers, as kcat sees them' '
	kmap -b "$BROKERS" $S --from orders -G g2 -e -O value \
		"{k: \$key, p: \$partition, o: \$offset, t: \$topic, ts: \$timestamp, h: \$headers}" |
		sort >actual &&
	kcat -C -b "$BROKERS" -t orders -e -q \
		-f "{\"k\":\"%k\",\"p\":%p,\"o\":%o,\"t\":\"%t\",\"ts\":%T,\"h\":{\"src\":\"kcat\"}}\n" >raw &&
	jq -c "if .k == \"k121\" then .h = {} else . end" raw | sort >expect &&
	test_cmp expect actual
'

test_expect_success 'flat-map in a pipe from Kafka: one record per item, same key, timestamp, headers' '
	ksource -b "$BROKERS" -t orders -e | kmap ".items[]" |
		ksink -f "%k %T %h %v\n" | sort >actual &&
	kcat -C -b "$BROKERS" -t orders -e -q -f "%k %T %h %s\n" |
		while read -r k t h v; do
			echo "$v" | jq -r --arg p "$k $t $h" ".items[] | \"\(\$p) \(tojson)\""
		done | sort >expect &&
	test_line_count -gt 100 actual &&
	test_cmp expect actual
'

# mixed: offsets 0..4 = a good record, a payload that is not JSON, a
# division by zero, two good records (worked by hand: 100 / quantity)
test_expect_success 'a bad record stops kmap (65) before its offset commits; the rerun dead-letters it' '
	printf "%s\n" "{\"quantity\":4}" "oops" "{\"quantity\":0}" \
		"{\"quantity\":5}" "{\"quantity\":20}" |
		kcat -P -b "$BROKERS" -t mixed -p 0 &&
	test_expect_code 65 kmap -b "$BROKERS" $S --from mixed -G gm -e -I json \
		--to out "100 / .quantity" 2>err &&
	grep "topic .mixed. partition 0 offset 1: invalid JSON" err &&
	kmap -b "$BROKERS" $S --from mixed -G gm -e -I json --dlq dlq.jsonl \
		--to out "100 / .quantity" &&
	kcat -C -b "$BROKERS" -t out -e -q -f "%s\n" >actual &&
	printf "25\n20\n5\n" >expect &&
	test_cmp expect actual &&
	jq -c "[.source.offset, .value]" dlq.jsonl >actual &&
	printf "%s\n" "[1,\"oops\"]" "[2,\"{\\\"quantity\\\":0}\"]" >expect &&
	test_cmp expect actual &&
	jq -r ".reason" dlq.jsonl | tail -n 1 >actual &&
	echo "number (100) and number (0) cannot be divided because the divisor is zero" >expect &&
	test_cmp expect actual
'

test_expect_success 'a failed delivery exits 69 and commits nothing' '
	seq 1 5 | kcat -P -b "$BROKERS" -t five -p 0 &&
	test_expect_code 69 kmap -b "$BROKERS" $S --from five -G gf -e \
		-X message.timeout.ms=1 -X linger.ms=0 --to five-out . 2>err &&
	grep "cannot deliver to topic .five-out.: Local: Message timed out" err &&
	test "$(committed gf five 0)" = None
'

# timeout(1) guards against a kmap left running; --foreground, because
# without it timeout sends TERM twice (to kmap and to its process group),
# and a second signal means "exit at once"
test_expect_success 'SIGTERM: kmap stops, delivers, commits what it read, exits 0' '
	seq 1 40 | kcat -P -b "$BROKERS" -t stream -p 0 &&
	seq 41 60 | kcat -P -b "$BROKERS" -t stream -p 1 &&
	{ timeout --foreground 60 kmap -b "$BROKERS" $S --from stream -G gs -I json --to stream-out \
		". * 10" 2>err & } &&
	pid=$! &&
	i=0 &&
	while [ "$(kcat -C -b "$BROKERS" -t stream-out -e -q | wc -l)" -lt 60 ] &&
	    [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done &&
	kill -TERM $pid &&
	wait $pid &&
	test "$(committed gs stream 0)" = 40 &&
	test "$(committed gs stream 1)" = 20 &&
	kcat -C -b "$BROKERS" -t stream-out -e -q | sort -n >actual &&
	seq 10 10 600 >expect &&
	test_cmp expect actual
'

# librdkafka commits every auto.commit.interval.ms (5 s by default);
# with --commit-interval 100 the offsets commit within 1.2 s of the last
# delivery, as kafka-python sees them (one consumer polling the group's
# committed offset; it prints the ms it waited), three times in a row:
# the default interval would pass a round by chance about one time in
# four, all three about one time in 60
wait_committed() {
	$PYTHON - "$BROKERS" "$@" <<-\PY
	import sys, time
	from kafka import KafkaConsumer, TopicPartition
	c = KafkaConsumer(bootstrap_servers=sys.argv[1].split(","),
	                  group_id=sys.argv[2], enable_auto_commit=False)
	tp = TopicPartition(sys.argv[3], 0)
	t0 = time.monotonic()
	while c.committed(tp) != int(sys.argv[4]) and time.monotonic() - t0 < 10:
	    time.sleep(0.02)
	print(int((time.monotonic() - t0) * 1000))
	c.close()
	PY
}
# ci_round N: produce 10 more records, wait for all N out, then for the
# commit of offset N; prints the ms it waited for the commit
ci_round() {
	seq 1 10 | kcat -P -b "$BROKERS" -t ci -p 0 &&
	i=0 &&
	while [ "$(kcat -C -b "$BROKERS" -t ci-out -e -q | wc -l)" -lt $1 ] &&
	    [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done &&
	wait_committed gci ci $1
}
test_expect_success '--commit-interval: offsets commit that often while kmap runs' '
	{ timeout --foreground 60 kmap -b "$BROKERS" $S --from ci -G gci \
		--commit-interval 100 --to ci-out . 2>err & } &&
	pid=$! &&
	ms1=$(ci_round 10) && ms2=$(ci_round 20) && ms3=$(ci_round 30) &&
	say "committed $ms1, $ms2, $ms3 ms after the last delivery was seen" &&
	kill -TERM $pid && wait $pid &&
	test "$ms1" -lt 1200 && test "$ms2" -lt 1200 && test "$ms3" -lt 1200
'

test_expect_success 'from a file to a topic: kcat reads back what jq selects' '
	kmap -b "$BROKERS" --to fromfile --key .id "select(.quantity < 50)" orders.jsonl &&
	kcat -C -b "$BROKERS" -t fromfile -e -q -f "%k %s\n" | sort >actual &&
	jq -r "select(.quantity < 50) | \"\(.id) \(tojson)\"" orders.jsonl | sort >expect &&
	test_cmp expect actual
'

test_expect_success 'usage: --from needs -G; topics need brokers' '
	test_expect_code 64 kmap -b "$BROKERS" $S --from orders . 2>err &&
	grep "needs a consumer group" err &&
	test_expect_code 64 kmap --to sometopic . orders.jsonl 2>err &&
	grep "no brokers" err
'

test_done
