#!/bin/sh
# krepart --from with -k .FIELD reads a JSON value's key without decoding
# the whole value (a fast path, falling back to the full decoder for
# anything unusual).  Whatever the path, the key, the partition and the
# dead letters must be those of the full decoder: the same lines through
# `krepart --dry-run` (files are always fully decoded) give the expected
# key and partition of each record, and its dead-letter reason; a few
# keys are also worked out by Python (its json module and murmur2).
. "$(dirname "$0")/lib.sh"

IN=$(unique_topic in) OUT=$(unique_topic out)
kafka_up --topic "$IN:1" --topic "$OUT:4" || exit 1

# one JSON value per line: strings with escapes and non-ASCII, integers
# (negative, -0, 18 and 19 digits, past int64), floats, null, booleans,
# an object and an array as the key, a repeated field, the field absent,
# nested fields of the same name, a top-level array, whitespace, bad JSON
cat >values <<\EOV
{"id":"plain"}
{"id":"tab\there \"quoted\" \u00e9\u4e2d \ud83d\ude00"}
{"x":{"id":"inner"},"id":"outer","y":[{"id":1}]}
{"id":42}
{"id":-17}
{"id":-0}
{"id":123456789012345678}
{"id":1234567890123456789}
{"id":123456789012345678901234}
{"id":2.0}
{"id":24.65}
{"id":1e3}
{"id":null}
{"id":true}
{"id":false}
{"id":{"b":1,"a":[1,2]}}
{"id":[1,"x"]}
{"id":"first","id":"second"}
{"nope":1}
  {"id":"spaces"}  
[{"id":"array"}]
{"id":"truncated"
{"id":"a"} {"id":"b"}
{"id":"bad \escape"}
{"id":"ok-after-bad"}
{}
EOV
printf '{"id":"%s"}\n' $(seq 1 200) >>values

test_expect_success 'the values go to a topic, one record per line' '
	cp values in.jsonl &&
	kcat -P -b "$BROKERS" -t "$IN" -p 0 <in.jsonl &&
	kcat -C -b "$BROKERS" -t "$IN" -e -q -f "%s\n" >back &&
	test_cmp in.jsonl back
'

test_expect_success 'keys and partitions are those of the full decoder' '
	krepart --dry-run -n 4 -k .id --dlq dry-dlq.jsonl <in.jsonl \
	    >dry.tsv 2>/dev/null &&
	krepart -b "$BROKERS" $GROUP_X --from "$IN" -G g1 -e -k .id \
	    --dlq topic-dlq.jsonl --to "$OUT" 2>err &&
	kcat -C -b "$BROKERS" -t "$OUT" -e -q -f "%p|||%k|||%s\n" >got.tsv &&
	wc -l <got.tsv >n && test "$(cat n)" -gt 200 &&
	"$PYTHON" - <<-\PY
	# dry.tsv: "PART\tKEY" per good line, in input order (keys escaped;
	# murmur2 hashes a null key as empty, never "random"); got.tsv:
	# "PART|||KEY|||VALUE" by output partition: put it in input order
	def unesc(k):
	    return k.encode().decode("unicode_escape").encode("latin-1")
	dry = [l.rstrip("\n").split("\t") for l in open("dry.tsv")]
	got = {}
	for l in open("got.tsv", "rb"):
	    p, k, v = l.rstrip(b"\n").split(b"|||", 2)
	    got[v] = (p.decode(), k)
	ordered = [got[l.rstrip(b"\n")] for l in open("in.jsonl", "rb")
	           if l.rstrip(b"\n") in got]
	assert len(dry) == len(ordered) == len(got), (len(dry), len(got))
	for d, g in zip(dry, ordered):
	    assert d[0] == g[0], (d, g)
	    assert unesc(d[1]) == g[1], (d, g)
	PY
	jq -r .reason dry-dlq.jsonl >dry.reasons &&
	jq -r .reason topic-dlq.jsonl >topic.reasons &&
	test_cmp dry.reasons topic.reasons &&
	test_line_count = 6 topic.reasons
'

test_expect_success 'a few keys worked out by Python' '
	"$PYTHON" - <<-\PY
	from kafka.partitioner.default import murmur2
	got = {}
	for l in open("got.tsv", encoding="utf-8"):
	    p, k, v = l.rstrip("\n").split("|||", 2)
	    got.setdefault(v, (int(p), k))
	def want(v, k):
	    kb = k.encode("utf-8")
	    assert got[v] == ((murmur2(kb) & 0x7fffffff) % 4, k), (v, got[v])
	want("{\"id\":\"plain\"}", "plain")
	want("{\"id\":42}", "42")
	want("{\"id\":-17}", "-17")
	want("{\"id\":-0}", "0")
	want("{\"id\":123456789012345678}", "123456789012345678")
	want("{\"id\":1234567890123456789}", "1234567890123456789")
	want("{\"id\":2.0}", "2")
	want("{\"id\":24.65}", "24.65")
	want("{\"id\":true}", "true")
	want("{\"x\":{\"id\":\"inner\"},\"id\":\"outer\",\"y\":[{\"id\":1}]}", "outer")
	want("{\"id\":{\"b\":1,\"a\":[1,2]}}", "{\"b\":1,\"a\":[1,2]}")
	want("{\"id\":\"tab\\there \\\"quoted\\\" \\u00e9\\u4e2d \\ud83d\\ude00\"}",
	     "tab\there \"quoted\" \u00e9\u4e2d \U0001F600")
	for i in range(1, 201):
	    want("{\"id\":\"%d\"}" % i, str(i))
	PY
'

test_done
