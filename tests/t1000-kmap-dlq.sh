#!/bin/sh
# t1000-kmap-dlq.sh - kmap --dlq TOPIC: records that fail (a jq runtime
# error, a payload that does not decode) land in a dead-letter topic with
# their original key, value bytes, headers and timestamp, and the
# kpipe.error.* headers (dlq.h); the good ones come out; the counts add
# up; the offsets commit.
#
# Expected values: kafka-python produces the input and reads both topics
# back; jq(1) runs the same program on the values that decode, and its
# error messages are the expected reasons; which payloads do not decode
# is the producer's choice (invalid UTF-8 inside broken JSON).
. "$(dirname "$0")/lib.sh"

kafka_up --topic src:2 --topic good:2 --topic dead:2 --topic fdead:1 || exit 1

cat >kt.py <<-\EOF
import json, sys
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
brokers = sys.argv[1].split(",")
cmd = sys.argv[2]

def read(topic):
    # every record up to the end offsets of now
    c = KafkaConsumer(bootstrap_servers=brokers, consumer_timeout_ms=10000)
    tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    c.assign(tps)
    c.seek_to_beginning()
    end = c.end_offsets(tps)
    left = dict((tp, n) for tp, n in end.items() if n > 0)
    for m in c if left else []:
        yield m
        if m.offset + 1 >= end[TopicPartition(m.topic, m.partition)]:
            left.pop(TopicPartition(m.topic, m.partition), None)
        if not left:
            break
    c.close()

if cmd == "produce":
    # 300 records keyed k<i>, header h=v<i>, timestamp 5000+i; every
    # 13th divides by zero in the program (the others divide n by one
    # of its divisors: integral results), every 29th is not JSON
    p = KafkaProducer(bootstrap_servers=brokers)
    good = open("in.jsonl", "w")
    undec = open("undecodable", "w")
    for i in range(1, 301):
        if i % 29 == 0:
            v = b'{"id": %d, "n": \xfe\xff' % i
            undec.write("k%d\n" % i)
        else:
            v = json.dumps({"id": i, "n": i * 12,
                "d": 0 if i % 13 == 0 else i % 4 + 1}).encode()
            good.write(v.decode() + "\n")
        p.send("src", key=b"k%d" % i, value=v, timestamp_ms=5000 + i,
            headers=[("h", b"v%d" % i)])
    p.flush()
elif cmd == "good":
    for m in read(sys.argv[3]):
        print(m.key.decode(), json.dumps(json.loads(m.value),
            sort_keys=True, separators=(",", ":")))
elif cmd == "dead":
    # per letter: its key, its reason, and "same" when the record its
    # kpipe.error.topic/partition/offset headers name has its key, value
    # bytes, timestamp and headers (less kpipe.error.*), and
    # kpipe.error.timestamp and .stage are right; else what differs
    orig = dict(((m.partition, m.offset), m) for m in read("src"))
    for m in read(sys.argv[3]):
        h = dict((k, v.decode()) for k, v in m.headers)
        rest = [(k, v) for k, v in m.headers
            if not k.startswith("kpipe.error.")]
        src = orig.get((int(h.get("kpipe.error.partition", -1)),
            int(h.get("kpipe.error.offset", -1))))
        if h.get("kpipe.error.topic") != "src" or src is None:
            same = "no source"
        elif src.key != m.key:
            same = "key differs"
        elif src.value != m.value:
            same = "value differs"
        elif src.timestamp != m.timestamp or \
            h.get("kpipe.error.timestamp") != str(src.timestamp):
            same = "timestamp differs"
        elif rest != list(src.headers):
            same = "headers differ"
        elif h.get("kpipe.error.stage") != "kmap":
            same = "stage differs"
        else:
            same = "same"
        print("%s|%s|%s" % (m.key.decode(), h["kpipe.error.reason"], same))
elif cmd == "fdead":
    # a letter of a record from a file: file, line, reason, value
    for m in read(sys.argv[3]):
        h = dict((k, v.decode()) for k, v in m.headers)
        print("%s|%s|%s|%s" % (h.get("kpipe.error.file"),
            h.get("kpipe.error.line"), h["kpipe.error.reason"],
            m.value.decode()))
elif cmd == "committed":
    c = KafkaConsumer(bootstrap_servers=brokers, group_id=sys.argv[3],
        enable_auto_commit=False)
    print(" ".join(str(c.committed(TopicPartition("src", p)))
        for p in range(2)))
    c.close()
elif cmd == "ends":
    c = KafkaConsumer(bootstrap_servers=brokers)
    e = c.end_offsets([TopicPartition("src", p) for p in range(2)])
    print(" ".join(str(e[TopicPartition("src", p)]) for p in range(2)))
    c.close()
EOF
kt() { "$PYTHON" kt.py "$BROKERS" "$@"; }
kt produce || exit 1

PROG='{id, q: (.n / .d)}'
# jq's model: a result per good record, jq's message per failing one
jq -rnc "inputs | . as \$in | try ([$PROG] | .[] | \"k\(\$in.id) \(tojson)\")
	catch \"k\(\$in.id)|\(.)|same\"" in.jsonl >model &&
grep -v "|" model | sort >good.expect
{ grep "|" model; sed "s/\$/|invalid JSON|same/" undecodable; } | sort >dead.expect
say "model: $(wc -l <good.expect) good, $(wc -l <dead.expect) dead letters"

test_expect_success 'bad records go to the dead-letter topic, good ones on; the counts add up' '
	kmap -b "$BROKERS" $GROUP_X --from src -G gd -e -v -I json --to good \
	    --dlq dead "$PROG" 2>err &&
	ngood=$(grep -c . good.expect) && ndead=$(grep -c . dead.expect) &&
	test $(($ngood + $ndead)) -eq 300 &&
	grep "300 records in; out: main $ngood; $ndead dead letters" err &&
	kt good good | sort >good.got &&
	test_cmp good.expect good.got
'

test_expect_success 'each letter: jq'"'"'s message, where it came from, the original bytes' '
	kt dead dead | sed "s/|invalid JSON at column [0-9]*: [^|]*|/|invalid JSON|/" |
	    sort >dead.got &&
	test_cmp dead.expect dead.got
'

test_expect_success 'kcat sees the reason and the original value of a letter' '
	kcat -C -b "$BROKERS" -t dead -e -q -f "%k %h %s\n" | grep "^k13 " >k13 &&
	grep "kpipe.error.reason=number (156) and number (0) cannot be divided because the divisor is zero" k13 &&
	grep "kpipe.error.topic=src" k13 &&
	grep "h=v13" k13 &&
	grep -F " {\"id\": 13, \"n\": 156, \"d\": 0}" k13
'

test_expect_success 'the offsets of every record, good or dead, committed' '
	test "$(kt committed gd)" = "$(kt ends)"
'

test_expect_success 'from a file, a letter names the file and line' '
	printf "%s\n" "{\"n\":1,\"d\":1}" "{\"n\":2,\"d\":0}" "{\"n\":3,\"d\":3}" >f.jsonl &&
	kmap -b "$BROKERS" -O value --dlq topic:fdead "$PROG" f.jsonl >f.out &&
	printf "%s\n" "{\"id\":null,\"q\":1}" "{\"id\":null,\"q\":1}" >f.expect &&
	test_cmp f.expect f.out &&
	kt fdead fdead >f.got &&
	echo "f.jsonl|2|number (2) and number (0) cannot be divided because the divisor is zero|{\"n\":2,\"d\":0}" >f.dexpect &&
	test_cmp f.dexpect f.got
'

test_done
