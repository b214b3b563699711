#!/bin/sh
# kdlq on Kafka topics (kmock): good records go to the output topic in
# order and byte for byte; each bad one lands on the dead-letter topic
# with its original key, value, headers and timestamp and the
# kpipe.error.* headers (read back with kcat -f '%h'); offsets are
# committed; stats counts the dead letters; replay after fixing the schema
# brings them back through the same group.
#
# The input, produced with kafka-python, starts with the case of Faust
# #586 (https://github.com/robinhood/faust/issues/586) and the raw value
# of Faust #16 (https://github.com/robinhood/faust/issues/16).  Verdicts,
# worked by hand against tests/data/kdlq-payment.json:
#   0 good   1 .amount: expected integer, got string   2 good
#   3 invalid JSON (sadkjfh)   4 invalid msgpack: truncated
#   5 good (msgpack)   6 invalid JSON (0xff in a string)
#   7 .account_id: required property missing (it also carries a stale
#     kpipe.error.reason header, which the dead letter replaces)
#   8 .account_id: string does not match pattern '^[a-z]{3}$'
#   9 good (a tombstone is not validated)
#   10 .max.cpu: expected number, got string
. "$(dirname "$0")/lib.sh"

D=$TEST_SRC/data
IN=$(unique_topic kdlq-in)
OUT=$(unique_topic kdlq-out)
DLQ=$(unique_topic kdlq-dlq)
G=$(unique_topic kdlq-g)
G2=$(unique_topic kdlq-g2)
TAB=$(printf '\t')
# The mock keeps a member that left its group until its session times
# out, and a new member of the same group waits that long to join: a
# short session keeps the second run of a group quick.
X="-X session.timeout.ms=6000 -X heartbeat.interval.ms=500"

OUT3=$(unique_topic kdlq-out3)
DLQ3=$(unique_topic kdlq-dlq3)

kafka_up --topic "$IN:1" --topic "$OUT:1" --topic "$DLQ:1" \
    --topic "$OUT3:1" --topic "$DLQ3:1" || exit 1

cat >produced.py <<'EOF'
VALUES = [
    b'{"account_id":"abc","amount":1}',
    b'{"account_id":"abc","amount":"a string"}',
    b'{"account_id":"abd","amount":2}',
    b'sadkjfh',
    b'\x82\xaaaccount_id\xa3abc\xa6amount',
    b'\x82\xaaaccount_id\xa3abe\xa6amount\x05',
    b'{"account_id":"a\xffc","amount":6}',
    b'{"amount":7}',
    b'{"account_id":"ABC","amount":8}',
    None,
    b'{"account_id":"abf","amount":10,"max":{"cpu":"x"}}',
]
def headers(i):
    h = [("h", b"v%d" % i)]
    if i == 7:
        h.append(("kpipe.error.reason", b"stale"))
    return h
def key(i):
    return b"k%d" % i
def ts(i):
    return 1700000000000 + i
GOOD = [0, 2, 5, 9]
BAD = [1, 3, 4, 6, 7, 8, 10]
EOF

test_expect_success 'produce the input with kafka-python' '
	"$PYTHON" - "$BROKERS" "$IN" <<-\EOF
	import sys
	from kafka import KafkaProducer
	sys.path.insert(0, ".")
	from produced import *
	p = KafkaProducer(bootstrap_servers=sys.argv[1])
	for i, v in enumerate(VALUES):
	    p.send(sys.argv[2], key=key(i), value=v, headers=headers(i),
	        timestamp_ms=ts(i), partition=0)
	p.flush()
	EOF
'

test_expect_success 'route the topic (to a topic, and to stdout and a file)' '
	kdlq $X -b "$BROKERS" --from "$IN" -G "$G" --to "$OUT" --dlq "$DLQ" \
	    --schema "$D/kdlq-payment.json" -e --stats 60 2>err &
	pid=$! &&
	kdlq $X -b "$BROKERS" --from "$IN" -G "$G2" --dlq dead.jsonl -O json \
	    --schema "$D/kdlq-payment.json" -e >out2.jsonl 2>err2 &&
	wait $pid &&
	tail -n 1 err | grep "\"in\":11,\"good\":4,\"dead\":7,\"delivered\":11,"
'

test_expect_success 'good records are on the output topic, in order, intact' '
	"$PYTHON" - "$BROKERS" "$OUT" <<-\EOF
	import sys
	from kafka import KafkaConsumer
	sys.path.insert(0, ".")
	from produced import *
	c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1],
	    auto_offset_reset="earliest", consumer_timeout_ms=3000)
	got = [(m.key, m.value, m.headers, m.timestamp) for m in c]
	want = [(key(i), VALUES[i], headers(i), ts(i)) for i in GOOD]
	assert got == want, (got, want)
	EOF
'

test_expect_success 'dead letters carry the kpipe.error.* headers (kcat)' '
	kcat -b "$BROKERS" -C -t "$DLQ" -e -f "%k$TAB%h\n" 2>/dev/null |
	    sed "s/reason=invalid JSON[^,]*,/reason=invalid JSON,/" >actual &&
	while IFS="$TAB" read -r i r; do
		printf "k%s\th=v%s,kpipe.error.reason=%s,kpipe.error.stage=kdlq," \
		    $i $i "$r"
		printf "kpipe.error.topic=%s,kpipe.error.partition=0," "$IN"
		printf "kpipe.error.offset=%s,kpipe.error.timestamp=%s\n" \
		    $i $((1700000000000 + i))
	done >expect <<-EOF &&
	1${TAB}.amount: expected integer, got string
	3${TAB}invalid JSON
	4${TAB}invalid msgpack: truncated
	6${TAB}invalid JSON
	7${TAB}.account_id: required property missing
	8${TAB}.account_id: string does not match pattern '"'"'^[a-z]{3}\$'"'"'
	10${TAB}.max.cpu: expected number, got string
	EOF
	test_cmp expect actual
'

test_expect_success 'dead letters keep key, value and timestamp byte for byte' '
	"$PYTHON" - "$BROKERS" "$DLQ" <<-\EOF
	import sys
	from kafka import KafkaConsumer
	sys.path.insert(0, ".")
	from produced import *
	c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1],
	    auto_offset_reset="earliest", consumer_timeout_ms=3000)
	got = [(m.key, m.value, m.timestamp, m.headers[0]) for m in c]
	want = [(key(i), VALUES[i], ts(i), headers(i)[0]) for i in BAD]
	assert got == want, (got, want)
	EOF
'

test_expect_success 'to stdout and a dead-letter file: the same split' '
	jq -r .key out2.jsonl | tr "\n" " " >actual &&
	printf "k0 k2 k5 k9 " >expect &&
	test_cmp expect actual &&
	jq -r "[.key, .source.topic, .source.partition, .source.offset,
	    .timestamp] | @tsv" dead.jsonl >actual &&
	for i in 1 3 4 6 7 8 10; do
		printf "k%s\t%s\t0\t%s\t%s\n" $i "$IN" $i $((1700000000000 + i))
	done >expect &&
	test_cmp expect actual
'

test_expect_success 'stats of the dead-letter topic' '
	kdlq stats -b "$BROKERS" --from "$DLQ" >stats &&
	grep -x "total${TAB}7" stats &&
	grep -x "stage${TAB}7${TAB}kdlq" stats &&
	grep -x "topic${TAB}7${TAB}$IN" stats &&
	grep -x "reason${TAB}1${TAB}.amount: expected integer, got string" \
	    stats &&
	test $(grep -c "^reason${TAB}1${TAB}" stats) -eq 7
'

# Replay the dead letters that broke the schema (reasons starting with a
# path) to the topic they came from; the same group, with the schema
# fixed, then reads only them (its offsets were committed at the end of
# the input) and sends all four on.
test_expect_success 'replay after fixing the schema brings them through' '
	kdlq replay -b "$BROKERS" --from "$DLQ" --reason "^\\." &&
	kcat -b "$BROKERS" -C -t "$IN" -o 11 -e -f "%k$TAB%h$TAB%T\n" \
	    2>/dev/null >replayed &&
	for i in 1 7 8 10; do
		printf "k%s\th=v%s\t%s\n" $i $i $((1700000000000 + i))
	done >expect &&
	test_cmp expect replayed &&
	kdlq $X -b "$BROKERS" --from "$IN" -G "$G" --to "$OUT" --dlq "$DLQ" \
	    --schema "$D/kdlq-payment-fixed.json" -e --stats 60 2>err3 &&
	tail -n 1 err3 | grep "\"in\":4,\"good\":4,\"dead\":0," &&
	"$PYTHON" - "$BROKERS" "$OUT" <<-\EOF
	import sys
	from kafka import KafkaConsumer
	sys.path.insert(0, ".")
	from produced import *
	c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1],
	    auto_offset_reset="earliest", consumer_timeout_ms=3000)
	got = [(m.key, m.value) for m in c]
	want = [(key(i), VALUES[i]) for i in GOOD + [1, 7, 8, 10]]
	assert got == want, (got, want)
	EOF
'

# Standard input to topics: tests/data/kdlq-payments.jsonl, whose
# verdicts t0600-kdlq-pipe.sh lists (good: lines 1, 3, 8, 9, 12).
test_expect_success 'stdin to topics: values byte for byte, file and line' '
	kdlq -b "$BROKERS" --to "$OUT3" --dlq "$DLQ3" \
	    --schema "$D/kdlq-payment.json" <"$D/kdlq-payments.jsonl" &&
	kcat -b "$BROKERS" -C -t "$OUT3" -e -f "%s\n" 2>/dev/null >actual &&
	sed -n "1p;3p;8p;9p;12p" "$D/kdlq-payments.jsonl" >expect &&
	cmp expect actual &&
	kcat -b "$BROKERS" -C -t "$DLQ3" -e -f "%h\n" 2>/dev/null |
	    sed "s/.*,kpipe.error.stage=//" >actual &&
	for n in 2 4 5 6 7 10 11 13; do
		echo "kdlq,kpipe.error.file=-,kpipe.error.line=$n"
	done >expect &&
	test_cmp expect actual &&
	kcat -b "$BROKERS" -C -t "$DLQ3" -e -f "%s\n" 2>/dev/null >actual &&
	sed -n "2p;4p;5p;6p;7p;10p;11p;13p" "$D/kdlq-payments.jsonl" >expect &&
	cmp expect actual
'

test_done
