#!/bin/sh
# ksource and ksink on files and pipes: formats, round trips, bad input.
# Expected values come from Python's json module, jq, Miller, or by hand.
. "$(dirname "$0")/lib.sh"

EDGE=$TEST_SRC/data/json-edge.jsonl

# Python's json module is the oracle for JSON text: same numbers, same
# strings, duplicate keys resolved as jq and Python do (last value, first
# position).
py_normalise() {
	$PYTHON -c '
import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    l = l.strip()
    if l:
        print(json.dumps(json.loads(l), separators=(",", ":"), ensure_ascii=False))
' "$1"
}

test_expect_success 'JSON -> kpipe -> JSON is lossless on the edge-case file' '
	py_normalise "$EDGE" >expect &&
	ksource "$EDGE" >stream.kp &&
	ksink -O value <stream.kp >actual &&
	test_cmp expect actual
'

test_expect_success 'numbers beyond the double range are the largest double, as jq says' '
	printf "{\"v\":1e400,\"w\":-1e400,\"x\":1.5,\"y\":[2e308]}\n" >big.json &&
	ksource big.json | ksink -O value >got &&
	jq -c . big.json >expect &&
	test_cmp expect got
'

test_expect_success 'CSV: integers beyond 64 bits stay strings, every digit kept' '
	printf "a,b,c,d\n123456789012345678901234,18446744073709551615,-9223372036854775809,-9223372036854775808\n" |
	    ksource -I csv | ksink -O value >got &&
	echo "{\"a\":\"123456789012345678901234\",\"b\":18446744073709551615,\"c\":\"-9223372036854775809\",\"d\":-9223372036854775808}" >expect &&
	test_cmp expect got
'

test_expect_success 'the edge-case file has CRLF, a blank line, no final newline' '
	grep -c "$(printf "\r")" "$EDGE" >crlf && test "$(cat crlf)" = 1 &&
	grep -c "^$" "$EDGE" >blank && test "$(cat blank)" = 1 &&
	test "$(tail -c 1 "$EDGE" | od -An -c | tr -d " ")" != "\\n"
'

test_expect_success 'kpipe stream -> kpipe stream is byte-identical' '
	ksource -I kpipe stream.kp >again.kp &&
	cmp stream.kp again.kp
'

test_expect_success 'JSON envelopes keep key, timestamp and value (-k, --time)' '
	printf "{\"id\":\"h-1\",\"ts\":1700000000,\"v\":1}\n{\"id\":7,\"ts\":1.5,\"v\":2}\n" >in.jsonl &&
	ksource -k .id --time .ts --time-unit s -O json in.jsonl >actual &&
	cat >expect <<-\EOF2 &&
	{"timestamp":1700000000000,"key":"h-1","value":{"id":"h-1","ts":1700000000,"v":1}}
	{"timestamp":1500,"key":"7","value":{"id":7,"ts":1.5,"v":2}}
	EOF2
	test_cmp expect actual
'

test_expect_success 'several key paths make a JSON array key' '
	printf "{\"id\":1,\"m\":\"cpu\"}\n" | ksource -k .id,.m -O json >actual &&
	echo "{\"key\":\"[1,\\\"cpu\\\"]\",\"value\":{\"id\":1,\"m\":\"cpu\"}}" >expect &&
	test_cmp expect actual
'

test_expect_success 'CSV: header row, typed fields, strptime time (checked with Miller)' '
	printf "timestamp,value,host\n2014-02-14 14:30:00,51.846000000000004,a\n2014-02-14 14:35:00,3,\"b,c\"\n" >in.csv &&
	ksource --time .timestamp --time-format "%Y-%m-%d %H:%M:%S" in.csv |
		ksink -f "%T %v\n" >actual &&
	mlr --icsv --ojson --jvstack --no-auto-flatten cat in.csv >/dev/null &&
	t1=$(date -u -d "2014-02-14 14:30:00" +%s)000 &&
	t2=$(date -u -d "2014-02-14 14:35:00" +%s)000 &&
	printf "%s %s\n" "$t1" "{\"timestamp\":\"2014-02-14 14:30:00\",\"value\":51.846000000000004,\"host\":\"a\"}" \
		"$t2" "{\"timestamp\":\"2014-02-14 14:35:00\",\"value\":3,\"host\":\"b,c\"}" >expect &&
	test_cmp expect actual
'

test_expect_success 'CSV values agree with Miller on a real NAB file' '
	f=$TEST_SRC/data/nab/realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv &&
	test -f "$f" &&
	ksource "$f" | ksink -O csv --columns .timestamp,.value >actual &&
	mlr --csv cat "$f" >expect &&
	test_cmp expect actual
'

test_expect_success 'raw lines: one bytes value per line, CR before LF dropped' '
	printf "a b\r\nnot json {\n\nlast" | ksource -I raw -O json >actual &&
	cat >expect <<-\EOF2 &&
	{"key":null,"value_encoding":"text","value":"a b"}
	{"key":null,"value_encoding":"text","value":"not json {"}
	{"key":null,"value_encoding":"text","value":""}
	{"key":null,"value_encoding":"text","value":"last"}
	EOF2
	test_cmp expect actual
'

test_expect_success 'bare msgpack in and out' '
	printf "{\"a\":1}\n[2]\n" | ksource | ksink -O msgpack >bare.mp &&
	$PYTHON -c "import sys; d=open(\"bare.mp\",\"rb\").read(); sys.exit(d != bytes([0x81,0xa1,0x61,0x01,0x91,0x02]))" &&
	ksource -I msgpack bare.mp | ksink -O value >actual &&
	printf "{\"a\":1}\n[2]\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'invalid JSON stops with 65 naming file and line' '
	printf "{\"a\":1}\n{\"a\":\n{\"a\":3}\n" >bad.jsonl &&
	test_expect_code 65 ksource -O value bad.jsonl >out 2>err &&
	grep "ksource: .bad.jsonl. line 2: invalid JSON" err &&
	echo "{\"a\":1}" >expect && test_cmp expect out
'

test_expect_success 'with --dlq the bad line is kept with its reason and bytes' '
	ksource -O value --dlq dlq.jsonl bad.jsonl >out &&
	printf "{\"a\":1}\n{\"a\":3}\n" >expect && test_cmp expect out &&
	jq -r "[.reason, .source.file, .source.line, .value] | @tsv" dlq.jsonl >actual &&
	printf "invalid JSON: truncated (value not complete at end of line)\tbad.jsonl\t2\t{\"a\":\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'invalid UTF-8 is refused, and kept as base64 in the DLQ' '
	printf "{\"s\":\"\\303\\050\"}\n" >utf.jsonl &&
	test_expect_code 65 ksource utf.jsonl >/dev/null 2>err &&
	grep "line 1: invalid JSON.*UTF8" err &&
	ksource --dlq dlq2.jsonl utf.jsonl >/dev/null &&
	jq -r ".value_encoding + \" \" + .value" dlq2.jsonl >actual &&
	echo "base64 $(printf "{\"s\":\"\\303\\050\"}" | base64)" >expect &&
	test_cmp expect actual
'

test_expect_success 'nesting deeper than 512 is an error, 512 is not' '
	$PYTHON -c "print(\"[\"*512 + \"]\"*512)" >ok.json &&
	$PYTHON -c "print(\"[\"*513 + \"]\"*513)" >deep.json &&
	ksource ok.json | ksink -O value >actual && cmp ok.json actual &&
	test_expect_code 65 ksource deep.json 2>err >/dev/null &&
	grep "nesting deeper than 512" err
'

test_expect_success 'two values on one line is bad input, not silently split' '
	echo "{} {}" >two.jsonl &&
	test_expect_code 65 ksource two.jsonl 2>err >/dev/null &&
	grep "more than one value" err
'

test_expect_success 'truncated kpipe stream: exit 65 after the whole records' '
	printf "{\"a\":1}\n{\"b\":2}\n" | ksource >full.kp &&
	size=$(wc -c <full.kp) &&
	head -c $((size - 2)) full.kp >cut.kp &&
	test_expect_code 65 ksource -I kpipe -O value cut.kp >out 2>err &&
	echo "{\"a\":1}" >expect && test_cmp expect out &&
	grep "truncated kpipe record" err
'

test_expect_success 'ksink -f format string (kcat style) and CSV columns' '
	printf "{\"id\":1,\"name\":\"x, y\"}\n{\"id\":2,\"name\":\"q\\\"r\"}\n" |
		ksource -k .id >s.kp &&
	ksink -f "%k=%v\n" s.kp >actual &&
	printf "1={\"id\":1,\"name\":\"x, y\"}\n2={\"id\":2,\"name\":\"q\\\\\"r\"}\n" >expect &&
	test_cmp expect actual &&
	ksink -O csv --columns .id,.name,@key s.kp >actual.csv &&
	mlr --icsv --ojson cat actual.csv | jq -c ".[]" >actual2 &&
	printf "{\"id\":1,\"name\":\"x, y\",\"@key\":1}\n{\"id\":2,\"name\":\"q\\\\\"r\",\"@key\":2}\n" >expect2 &&
	test_cmp expect2 actual2
'

test_expect_success 'a closed stdout ends quietly' '
	seq 1 200000 | sed "s/.*/{\"n\":&}/" >many.jsonl &&
	{ ksource -O value many.jsonl 2>err; echo $? >rc; } | head -n 1 >first &&
	echo "{\"n\":1}" >expect && test_cmp expect first &&
	test ! -s err && echo 0 >expect && test_cmp expect rc
'

test_expect_success 'output is written out while the input is quiet, not only at its end' '
	{ echo "{\"a\":1}"; sleep 3; echo "{\"a\":2}"; } |
		ksource | ksink -O value >quiet.out &
	sleep 1.5 &&
	echo "{\"a\":1}" >expect && test_cmp expect quiet.out &&
	wait
'

test_expect_success 'a UTF-8 byte order mark (Excel CSV, JSON) is not data' '
	printf "\357\273\277a,b\n1,2\n" >bom.csv &&
	ksource -O value bom.csv >actual &&
	echo "{\"a\":1,\"b\":2}" >expect && test_cmp expect actual &&
	printf "\357\273\277{\"a\":1}\n" | ksource -O value >actual &&
	echo "{\"a\":1}" >expect && test_cmp expect actual
'

test_expect_success 'usage: --help exits 0, a bad option 64' '
	ksource --help >out && grep "usage: ksource" out &&
	ksink --help >out && grep "usage: ksink" out &&
	test_expect_code 64 ksource --no-such-option 2>/dev/null &&
	test_expect_code 64 ksink -O nope 2>/dev/null &&
	test_expect_code 64 ksource -t topic 2>err && grep "no brokers" err
'

test_done
