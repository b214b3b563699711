#!/bin/sh
# krepart --dlq TOPIC from a Kafka input: records whose value does not
# decode, or that lack the -k field, land in the dead-letter topic with
# the original key, value and headers byte for byte and the kpipe.error.*
# headers (reason, stage, source topic, partition, offset); the good ones
# are repartitioned by murmur2 in their per-key order; read + dead = in,
# and a second run with the same group finds nothing left.  The same
# under --exactly-once, where the dead letters go through the
# transactional producer.  Expected values come from kafka-python: the
# offsets its producer was given, and its own murmur2.
. "$(dirname "$0")/lib.sh"

IN=$(unique_topic in)
kafka_up --topic "$IN:3" --topic out1:4 --topic dlq1:1 --topic out2:4 \
    --topic dlq2:2 || exit 1

# Produce the input with kafka-python; write what is expected of it:
# want.out (key partition value, the good records in input order per
# partition of the input), want.dlq (partition offset reason key value
# headers of the bad ones, as Python reprs).
test_expect_success 'an input of good and bad records (kafka-python)' '
	"$PYTHON" - "$BROKERS" "$IN" <<-\PY
	import sys
	from kafka import KafkaProducer
	from kafka.partitioner.default import murmur2
	brokers, topic = sys.argv[1], sys.argv[2]
	p = KafkaProducer(bootstrap_servers=brokers)
	out, dlq = [], []
	for i in range(60):
	    part = i % 3
	    hdrs = [("h", b"v%d" % i)]
	    key = b"old-%d" % i
	    if i % 10 == 3:
	        v = b"{oops %d" % i
	        why = "json"
	    elif i % 10 == 7:
	        v = b"{\"x\":%d}" % i
	        why = "no key at \x27.id\x27"
	    elif i == 55:
	        v = b"{\"id\":\"\xff\xfe\"}"
	        why = "json"
	    else:
	        v = b"{\"id\": \"k%d\", \"n\":%d}" % (i % 7, i)
	        why = None
	    md = p.send(topic, value=v, key=key, partition=part,
	                headers=hdrs).get(timeout=10)
	    if why is None:
	        k = b"k%d" % (i % 7)
	        out.append((md.partition, md.offset, k,
	                    (murmur2(k) & 0x7fffffff) % 4, v))
	    else:
	        dlq.append((md.partition, md.offset, why, key, v, hdrs))
	p.flush()
	with open("want.out", "w") as f:
	    for o in sorted(out):
	        f.write("%r %d %r\n" % (o[2], o[3], o[4]))
	with open("want.dlq", "w") as f:
	    for d in sorted(dlq):
	        f.write("%d %d %s %r %r %r\n" % d)
	PY
	test_line_count = 47 want.out &&
	test_line_count = 13 want.dlq
'

# read_topics OUT DLQ: got.out (key partition value per record, in the
# order of their input record: sorted by their "n"), got.order (key n,
# in each output partition order), got.dlq (as want.dlq; the reason as
# "json" when it says the value is not JSON)
cat >read.py <<\PY
import sys, json
from kafka import KafkaConsumer, TopicPartition
brokers, intopic, out, dlq = sys.argv[1:5]
def read(topic):
    c = KafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False,
                      consumer_timeout_ms=3000)
    tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    c.assign(tps)
    c.seek_to_beginning()
    end = c.end_offsets(tps)
    msgs = []
    while any(c.position(tp) < end[tp] for tp in tps):
        for recs in c.poll(timeout_ms=1000).values():
            msgs.extend(recs)
    c.close()
    return msgs
got = []
with open("got.order", "w") as f:
    for m in read(out):
        n = json.loads(m.value)["n"]
        got.append((n, m.key, m.partition, m.value))
        f.write("%d %r %d\n" % (m.partition, m.key, n))
# the input partition of record n is n % 3: sort by it, then by offset
with open("got.out", "w") as f:
    for g in sorted(got, key=lambda g: (g[0] % 3, g[0])):
        f.write("%r %d %r\n" % (g[1], g[2], g[3]))
rows = []
for m in read(dlq):
    h = dict((k, v) for k, v in m.headers if k.startswith("kpipe.error."))
    rest = [(k, v) for k, v in m.headers if not k.startswith("kpipe.error.")]
    assert h["kpipe.error.stage"] == b"krepart", h
    assert h["kpipe.error.topic"] == intopic.encode(), h
    why = h["kpipe.error.reason"].decode()
    if "no key" not in why:
        assert "JSON" in why or "json" in why or "UTF-8" in why, why
        why = "json"
    rows.append((int(h["kpipe.error.partition"]), int(h["kpipe.error.offset"]),
                 why, m.key, m.value, rest))
with open("got.dlq", "w") as f:
    for r in sorted(rows):
        f.write("%d %d %s %r %r %r\n" % r)
PY

# per-key order: in each output partition, the n values of a key from one
# input partition (n % 3) increase
check_order() {
	awk '{ k = $1 " " $2 " " ($3 % 3); if (k in last && last[k] >= $3) { print "out of order: " $0; bad = 1 } last[k] = $3 } END { exit bad }' got.order
}

test_expect_success 'bad records go to the dead-letter topic, good ones on' '
	krepart -v -b "$BROKERS" $GROUP_X --from "$IN" -G g1 -e -k .id \
	    --dlq dlq1 --to out1 2>err1 &&
	cp err1 err &&
	grep "read 60 records, wrote 47 to topic .out1." err &&
	grep "13 dead letters" err &&
	"$PYTHON" read.py "$BROKERS" "$IN" out1 dlq1 &&
	test_cmp want.out got.out &&
	test_cmp want.dlq got.dlq &&
	check_order
'

test_expect_success 'the same group again: everything was committed' '
	krepart -v -b "$BROKERS" $GROUP_X --from "$IN" -G g1 -e -k .id \
	    --dlq dlq1 --to out1 2>err &&
	grep "read 0 records, wrote 0 to topic .out1." err &&
	"$PYTHON" read.py "$BROKERS" "$IN" out1 dlq1 &&
	test_cmp want.out got.out &&
	test_cmp want.dlq got.dlq
'

test_expect_success '--exactly-once: dead letters in the transaction' '
	KPIPE_TEST_TXN_OFFSETS=1 krepart -v -b "$BROKERS" $GROUP_X \
	    --from "$IN" -G g2 -e -k .id --exactly-once --dlq dlq2 \
	    --to out2 2>err2 &&
	cp err2 err &&
	grep "read 60 records, wrote 47 to topic .out2." err &&
	grep "13 dead letters" err &&
	grep "transactions: [1-9][0-9]* committed (60 records in" err &&
	grep " 0 aborted" err &&
	"$PYTHON" read.py "$BROKERS" "$IN" out2 dlq2 &&
	test_cmp want.out got.out &&
	test_cmp want.dlq got.dlq &&
	check_order
'

test_expect_success '--exactly-once, the same group again: nothing left' '
	KPIPE_TEST_TXN_OFFSETS=1 krepart -v -b "$BROKERS" $GROUP_X \
	    --from "$IN" -G g2 -e -k .id --exactly-once --dlq dlq2 \
	    --to out2 2>err &&
	grep "read 0 records" err &&
	"$PYTHON" read.py "$BROKERS" "$IN" out2 dlq2 &&
	test_cmp want.out got.out &&
	test_cmp want.dlq got.dlq
'

test_expect_success 'without --dlq a missing key field is a null key, as before' '
	printf "{\"x\":1}\n" | krepart -b "$BROKERS" --to out1 -k .id 2>err &&
	grep "no key at .\.id.: the key is null" err
'

test_expect_success 'from a file, --dlq TOPIC takes lines that are not JSON' '
	printf "%s\n" "{\"id\":\"a\"}" "not json" "{\"y\":2}" >in.jsonl &&
	krepart -v -b "$BROKERS" --to out1 -k .id --dlq dlq2 in.jsonl 2>err &&
	grep "2 dead letters" err &&
	kcat -C -b "$BROKERS" -t dlq2 -e -q -f "%s|%h\n" >all &&
	grep "^not json|.*kpipe.error.file=in.jsonl.*kpipe.error.line=2" all &&
	grep "^{\"y\":2}|.*kpipe.error.reason=no key at .\.id." all
'

test_done
