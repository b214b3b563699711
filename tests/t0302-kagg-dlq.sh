#!/bin/sh
# t0302-kagg-dlq.sh - kagg --dlq TOPIC from Kafka: records that do not
# decode, or whose time, group or aggregate field is missing or of the
# wrong type, land in the dead-letter topic with their original key, value
# and headers byte for byte and the kpipe.error.* headers (reason, stage,
# topic, partition, offset); the good ones aggregate; the counts add up.
# Once acknowledged one by one (at least once), once in the transactions
# of --exactly-once.
#
# Expected values: the producer (kafka-python) notes the partition and
# offset of every bad record it sends and which field makes it bad; the
# windows of the good records come from a Python model; the letters are
# read back with kafka-python, not with kpipe.
. "$(dirname "$0")/lib.sh"

if ! kafka_up --topic in:2 --topic out:2 --topic out2:2 --topic dead:2 \
    --topic dead2:2 --topic gd-kagg-changelog:2 --topic ge-kagg-changelog:2; then
	test_skip 'kagg dead-letter topic' 'kmock did not start'
	test_done
fi
export KPIPE_TEST_TXN_OFFSETS=1

# 300 good records (keys k0..k5) and 30 bad ones of five kinds, each kind
# with the field it names in its reason
"$PYTHON" - "$BROKERS" <<-\EOF || exit 1
import json, sys
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","))
t0 = 1700000000000
bad_kinds = [
    (b'{"id":"k1","ts":', "JSON"),
    (b'not json at all', "JSON"),
    (b'{"id":"k2","v":3}', "'.ts'"),
    (b'{"id":"k3","ts":"noon","v":3}', "'.ts'"),
    (b'{"id":"k4","ts":%d,"v":"many"}', "'.v'"),
    (b'{"ts":%d,"v":5}', "'.id'"),
]
good = {}
futs = []
for i in range(330):
    if i % 11 == 5:
        raw, why = bad_kinds[(i // 11) % len(bad_kinds)]
        if b"%d" in raw:
            raw = raw % (t0 + i * 100)
        key = b"bad%d" % i
        f = p.send("in", key=key, value=raw,
            headers=[("h", b"x%d" % i)])
        futs.append((f, key, raw, why))
        continue
    k = "k%d" % (i % 6)
    r = {"id": k, "ts": t0 + i * 100, "v": i % 17}
    s = r["ts"] // 10000 * 10000
    a = good.setdefault((k, s), [0, 0])
    a[0] += 1
    a[1] += r["v"]
    p.send("in", key=k.encode(), value=json.dumps(r).encode())
p.flush()
with open("expect-dead", "w") as f:
    for fu, key, raw, why in futs:
        md = fu.get(timeout=10)
        f.write(json.dumps({"key": key.decode(), "value": raw.decode(),
            "h": "x" + key.decode()[3:], "why": why, "stage": "kagg",
            "topic": "in", "partition": str(md.partition),
            "offset": str(md.offset)}, sort_keys=True) + "\n")
with open("expect-out", "w") as f:
    for (k, s), (n, t) in sorted(good.items()):
        f.write(json.dumps({"id": k, "n": n, "s": t, "window_end": s + 10000,
            "window_start": s}, sort_keys=True, separators=(",", ":")) + "\n")
EOF
sort -o expect-dead expect-dead
sort -o expect-out expect-out

# letters TOPIC: the dead letters as the model writes them, the reason
# replaced by the model's field name when it names it
letters() {
	"$PYTHON" - "$BROKERS" "$1" <<-\EOF
	import json, sys
	from kafka import KafkaConsumer
	why = {json.loads(l)["key"]: json.loads(l)["why"]
	    for l in open("expect-dead")}
	c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1].split(","),
	    auto_offset_reset="earliest", consumer_timeout_ms=3000)
	for m in c:
	    h = {k: v.decode() for k, v in m.headers}
	    reason = h.get("kpipe.error.reason", "")
	    key = m.key.decode()
	    print(json.dumps({"key": key, "value": m.value.decode(),
	        "h": h.get("h"),
	        "why": why[key] if why.get(key, "?") in reason else reason,
	        "stage": h.get("kpipe.error.stage"),
	        "topic": h.get("kpipe.error.topic"),
	        "partition": h.get("kpipe.error.partition"),
	        "offset": h.get("kpipe.error.offset")}, sort_keys=True))
	EOF
}
out() {
	ksource -b "$BROKERS" -t "$1" -e -O value 2>/dev/null |
	    jq -cS '{id, n, s, window_end, window_start}' | sort
}
KA="-b $BROKERS --from in -I json -k .id -w tumbling:10s --time .ts
    -a n=count() -a s=sum(.v) -O value --emit final --state-dir st -e
    --stats 600 $GROUP_X"

test_expect_success 'at least once: bad records go to the dead-letter topic' '
	timeout 60 kagg $KA -G gd --to out --dlq dead 2>run1.err &&
	grep "^{" run1.err | tail -n 1 >stats1 &&
	grep -q "\"records\":330,.*\"dead_letters\":30," stats1
'

test_expect_success 'each letter: original bytes, headers, the reason and where it came from' '
	letters dead | sort >got-dead &&
	test_line_count = 30 got-dead &&
	test_cmp expect-dead got-dead
'

test_expect_success 'the good records aggregate as the model says' '
	out out >got-out &&
	test_cmp expect-out got-out
'

test_expect_success 'exactly once: the letters go in the transactions' '
	timeout 60 kagg $KA -G ge --to out2 --dlq dead2 --exactly-once \
	    2>run2.err &&
	grep "^{" run2.err | tail -n 1 >stats2 &&
	grep -q "\"records\":330,.*\"dead_letters\":30," stats2 &&
	grep -q "\"records_committed\":330," stats2 &&
	letters dead2 | sort >got-dead2 &&
	test_cmp expect-dead got-dead2 &&
	out out2 >got-out2 &&
	test_cmp expect-out got-out2
'

test_done
