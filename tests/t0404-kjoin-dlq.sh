#!/bin/sh
# t0404-kjoin-dlq.sh - kjoin --dlq TOPIC in Kafka mode: records of the
# stream, the table and the other stream that cannot be processed land in
# the dead-letter topic with their original key, value bytes and headers,
# and kpipe.error.* headers saying why and where from; the good records
# join as usual, and the counts add up.
#
# Expected values: kafka-python produces the records and reports the
# partition and offset the broker gave each bad one; the dead letters are
# read back with kafka-python too.  Every good stream record's key has a
# table value, so each good stream record gives exactly one output.
. "$(dirname "$0")/lib.sh"

if ! kafka_up --topic s:3 --topic t:3 --topic out:3 --topic dlq:2 \
    --topic dlq2:2 --topic v:3 --topic c:3 --topic jout:3 --topic jdlq:1 \
    --topic dj-kjoin-changelog:3; then
	test_skip 'kjoin --dlq TOPIC' 'kmock did not start'
	test_done
fi
kjoin() { timeout 120 "$KPIPE_BUILD/bin/kjoin" "$@"; }
laststats() { grep '^{"program":"kjoin"' "$1" | tail -n 1; }

# produce LEFT RIGHT: good and bad records to the two topics; prints the
# bad ones as topic partition offset key value(hex), sorted
produce() {
	"$PYTHON" - "$BROKERS" "$1" "$2" <<-\EOF
	import json, sys
	from kafka import KafkaProducer
	p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","))
	left, right = sys.argv[2], sys.argv[3]
	bad = []
	def send(topic, key, value, ts, bad_one=False, headers=None):
	    md = p.send(topic, key=key.encode(), value=value, timestamp_ms=ts,
	        headers=headers or []).get(timeout=30)
	    if bad_one:
	        bad.append("%s %d %d %s %s" % (topic, md.partition, md.offset,
	            key, value.hex()))
	for u in range(10):
	    send(right, "u%d" % u, json.dumps({"user": "u%d" % u,
	        "tier": u % 3}).encode(), 1000)
	send(right, "u3", b"not json at all", 1100, True)
	send(right, "u4", b"[1, 2]", 1200, True)
	send(right, "u5", b"{\"broken", 1300, True)
	for i in range(60):
	    send(left, "u%d" % (i % 10), json.dumps({"id": i,
	        "user": "u%d" % (i % 10)}).encode(), 2000 + i * 10)
	    if i % 20 == 7:
	        send(left, "u%d" % (i % 10), b"\"a string\"", 2005 + i * 10,
	            True, [("trace", b"t-%d" % i)])
	    if i % 20 == 13:
	        send(left, "u%d" % (i % 10), b"{bad json", 2005 + i * 10, True)
	p.flush()
	print("\n".join(sorted(bad)))
	EOF
}
# letters TOPIC: the dead letters as topic partition offset key value(hex),
# sorted; and in TOPIC.hdr the other headers, one "name=value" a line
letters() {
	"$PYTHON" - "$BROKERS" "$1" <<-\EOF
	import sys
	from kafka import KafkaConsumer
	c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1].split(","),
	    auto_offset_reset="earliest", consumer_timeout_ms=3000)
	out, hdr = [], []
	for m in c:
	    h = dict((k, v.decode()) for k, v in m.headers)
	    out.append("%s %s %s %s %s" % (h["kpipe.error.topic"],
	        h["kpipe.error.partition"], h["kpipe.error.offset"],
	        m.key.decode(), m.value.hex()))
	    hdr += ["%s=%s" % (k, v) for k, v in sorted(h.items())
	        if k not in ("kpipe.error.topic", "kpipe.error.partition",
	        "kpipe.error.offset")]
	with open(sys.argv[2] + ".hdr", "w") as f:
	    f.write("\n".join(hdr) + "\n")
	print("\n".join(sorted(out)))
	EOF
}

produce s t >expect || exit 1
KJ="-b $BROKERS --from s --table t -k .user -e $GROUP_X --state-dir st"
test_expect_success 'a table join: bad stream and table records go to the dead-letter topic' '
	kjoin $KJ -G dt --to out --dlq dlq -v 2>err &&
	letters dlq >got &&
	test_cmp expect got &&
	test_line_count = 9 got
'

test_expect_success 'each letter says why, which stage, and keeps its own headers' '
	grep -c "^kpipe.error.reason=" dlq.hdr >n && echo 9 >nine && test_cmp nine n &&
	test "$(grep -c "^kpipe.error.stage=kjoin$" dlq.hdr)" = 9 &&
	test "$(grep -c "^kpipe.error.reason=table value is not an object" dlq.hdr)" = 2 &&
	test "$(grep -c "^kpipe.error.reason=stream value is not an object" dlq.hdr)" = 3 &&
	test "$(grep -c "^trace=t-" dlq.hdr)" = 3 &&
	test "$(grep -c "^kpipe.error.timestamp=" dlq.hdr)" = 9
'

test_expect_success 'the counts add up: 60 joined, 9 dead letters' '
	kcat -C -b "$BROKERS" -t out -e -q | jq -c . | sort -u >outs &&
	test_line_count = 60 outs &&
	laststats err | jq -c "[.stream, .table, .joined, .bad]" >c &&
	echo "[66,13,60,9]" >want &&
	test_cmp want c
'

test_expect_success 'the same with --exactly-once: letters in the transaction' '
	kjoin $KJ -G dt2 --to out --dlq dlq2 --exactly-once 2>err2 &&
	letters dlq2 >got2 &&
	test_cmp expect got2
'

produce v c >expectj || exit 1
test_expect_success 'a stream-stream join: bad records of both sides' '
	kjoin -b "$BROKERS" --from v --join c --within 10s -k .user -e \
	    $GROUP_X -G dj --state-dir st --to jout --dlq jdlq -v 2>errj &&
	letters jdlq >gotj &&
	test_cmp expectj gotj &&
	test "$(grep -c "^kpipe.error.reason=value is not an object" jdlq.hdr)" = 5 &&
	laststats errj | jq -c "[.stream, .other, .bad]" >cj &&
	echo "[66,13,9]" >wantj &&
	test_cmp wantj cj
'

test_done
