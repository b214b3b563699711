#!/bin/sh
# kmap on files and pipes: the seed filter, a map, a flat-map, drops,
# variables, keys, runtime errors (dead letters, exit 65), and the jq
# command (`jq -c`, an independent implementation of the same language)
# as the oracle on generated records.
. "$(dirname "$0")/lib.sh"

# The issue's seed example, Kafka Streams' order filter: keep the orders
# of more than five items.  Expected output worked by hand: ids 1, 3, 5.
cat >orders.jsonl <<\EOF
{"id":1,"product":"apple","quantity":7,"items":["a1","a2"]}
{"id":2,"product":"pear","quantity":5,"items":[]}
{"id":3,"product":"plum","quantity":12,"items":["p1"]}
{"id":4,"product":"fig","quantity":0,"items":["f1","f2","f3"]}
{"id":5,"product":"kiwi","quantity":6,"items":["k1"]}
EOF

test_expect_success 'seed: select(.quantity > 5) keeps orders 1, 3 and 5' '
	cat >expect <<-\EOF &&
	{"id":1,"product":"apple","quantity":7,"items":["a1","a2"]}
	{"id":3,"product":"plum","quantity":12,"items":["p1"]}
	{"id":5,"product":"kiwi","quantity":6,"items":["k1"]}
	EOF
	kmap -O value "select(.quantity > 5)" orders.jsonl >actual &&
	test_cmp expect actual &&
	kmap -O value "select(.quantity > 5)" <orders.jsonl >actual &&
	test_cmp expect actual
'

test_expect_success 'seed in a pipe: ksource | kmap | kmap keeps keys and timestamps' '
	ksource -I json -k .product --time .id --time-unit s orders.jsonl |
		kmap "select(.quantity > 5)" | kmap -O json . >out &&
	jq -c "[.key, .timestamp, .value.id]" out >actual &&
	cat >expect <<-\EOF &&
	["apple",1000,1]
	["plum",3000,3]
	["kiwi",5000,5]
	EOF
	test_cmp expect actual
'

test_expect_success 'map: {id, cpu: ."max.cpu"} (expected from jq -c)' '
	cat >m.jsonl <<-\EOF &&
	{"id":"h1","max.cpu":0.93,"min.cpu":0.1}
	{"id":"h2","max.cpu":45,"other":[1,2]}
	{"id":"h3"}
	EOF
	jq -c "{id, cpu: .\"max.cpu\"}" m.jsonl >expect &&
	kmap -O value "{id, cpu: .\"max.cpu\"}" m.jsonl >actual &&
	test_cmp expect actual
'

test_expect_success 'flat-map: .items[] gives one record per item, same key' '
	ksource -I json -k .product orders.jsonl |
		kmap ".items[]" | kmap -O json . | jq -c "[.key, .value]" >actual &&
	jq -c ".product as \$k | .items[] | [\$k, .]" orders.jsonl >expect &&
	test_line_count = 7 actual &&
	test_cmp expect actual
'

test_expect_success 'empty drops everything, exit 0' '
	kmap -O value empty orders.jsonl >actual &&
	test ! -s actual
'

test_expect_success 'variables: $key, $timestamp; $topic, $partition, $offset null off Kafka' '
	ksource -I json -k .product --time .id --time-unit s orders.jsonl |
		kmap -O value "[\$key, \$timestamp, \$topic, \$partition, \$offset, \$headers]" |
		head -n 2 >actual &&
	cat >expect <<-\EOF &&
	["apple",1000,null,null,null,{}]
	["pear",2000,null,null,null,{}]
	EOF
	test_cmp expect actual
'

test_expect_success '--key: strings as they are, numbers as digits, objects as JSON, null and empty: null' '
	kmap -O json --key .product . orders.jsonl | jq -r .key >actual &&
	printf "apple\npear\nplum\nfig\nkiwi\n" >expect && test_cmp expect actual &&
	kmap -O json --key .id . orders.jsonl | jq -r .key | head -n 2 >actual &&
	printf "1\n2\n" >expect && test_cmp expect actual &&
	kmap -O json --key "{a: .id}" . orders.jsonl | jq -r .key | head -n 1 >actual &&
	echo "{\"a\":1}" >expect && test_cmp expect actual &&
	ksource -I json -k .product orders.jsonl | kmap --key null . |
		kmap -O json . | jq -c .key | sort -u >actual &&
	echo null >expect && test_cmp expect actual &&
	ksource -I json -k .product orders.jsonl | kmap --key empty . |
		kmap -O json . | jq -c .key | sort -u >actual &&
	test_cmp expect actual
'

test_expect_success '--key sees the output value: one key per flat-mapped result' '
	kmap -O json --key . ".items[]" orders.jsonl | jq -r .key >actual &&
	jq -r ".items[]" orders.jsonl >expect &&
	test_cmp expect actual
'

test_expect_success '-O raw writes string results without quotes, as jq -r' '
	jq -r ".product, .quantity" orders.jsonl >expect &&
	kmap -O raw ".product, .quantity" orders.jsonl >actual &&
	test_cmp expect actual
'

test_expect_success 'bytes values (-I raw) are strings to jq, as jq -R' '
	printf "one\nTwo words\n\n\\\\ backslash\n" >lines &&
	jq -R -c "{s: ascii_upcase, n: length}" lines >expect &&
	kmap -I raw -O value "{s: ascii_upcase, n: length}" lines >actual &&
	test_cmp expect actual
'

test_expect_success 'runtime error: to --dlq with jq'"'"'s message, the rest goes on' '
	kmap -O value "100 / .quantity" --dlq dlq.jsonl orders.jsonl >actual &&
	jq -c "select(.quantity != 0) | 100 / .quantity" orders.jsonl >expect &&
	test_cmp expect actual &&
	test_line_count = 1 dlq.jsonl &&
	# the reason, as the jq command words it for the same record
	jq -c "100 / .quantity" orders.jsonl 2>jq.err >/dev/null;
	sed -n "s/^jq: error (at [^)]*): //p" jq.err >expect &&
	jq -r .reason dlq.jsonl >actual &&
	test_cmp expect actual &&
	jq -c "[.stage, .source, (.value | fromjson | .id)]" dlq.jsonl >actual &&
	echo "[\"kmap\",{\"file\":\"orders.jsonl\",\"line\":4},4]" >expect &&
	test_cmp expect actual
'

test_expect_success 'runtime error without --dlq: exit 65 naming the record, earlier output kept' '
	test_expect_code 65 kmap -O value "100 / .quantity" orders.jsonl >actual 2>err &&
	grep "^kmap: .orders.jsonl. line 4: number (100) and number (0) cannot be divided" err &&
	test_line_count = 3 actual
'

test_expect_success 'a record is all or nothing: results before an error are dropped' '
	printf "%s\n" "{\"d\":[1,2]}" "{\"d\":[5,0,4]}" "{\"d\":[10]}" >d.jsonl &&
	kmap -O value ".d[] | 20 / ." --dlq dlq2.jsonl d.jsonl >actual &&
	printf "20\n10\n2\n" >expect &&
	test_cmp expect actual &&
	test_line_count = 1 dlq2.jsonl
'

test_expect_success 'error(obj), halt_error and halt' '
	echo "{\"a\":1}" >one.jsonl &&
	kmap "error({x: .a})" --dlq e.jsonl one.jsonl &&
	jq -r .reason e.jsonl >actual &&
	echo "{\"x\":1} (not a string)" >expect && test_cmp expect actual &&
	kmap "\"stop here\" | halt_error" --dlq h.jsonl one.jsonl &&
	jq -r .reason h.jsonl >actual &&
	echo "stop here" >expect && test_cmp expect actual &&
	kmap -O value ".a, halt, 2" one.jsonl >actual &&
	echo 1 >expect && test_cmp expect actual
'

test_expect_success 'debug writes ["DEBUG:",value] to stderr, as jq does' '
	kmap -O value ".a | debug" one.jsonl >out 2>actual &&
	jq -c ".a | debug" one.jsonl 2>expect >/dev/null &&
	test_cmp expect actual
'

test_expect_success 'a bad expression: exit 64 with jq'"'"'s compile error' '
	test_expect_code 64 kmap ".a +" orders.jsonl 2>err &&
	grep "^kmap: cannot compile .\.a +.: syntax error" err &&
	test_expect_code 64 kmap "\$nosuch" orders.jsonl 2>err &&
	grep "nosuch is not defined" err &&
	test_expect_code 64 kmap . --key "(" orders.jsonl
'

# Generated records with strings (escapes, non-ASCII), integers, floats,
# nulls, arrays and nested objects; seed fixed.
awk 'BEGIN {
	srand(7);
	split("alpha Beta gamma-1 d\\u00e9lta \\\"q\\\" tab\\there", w, " ");
	for (i = 1; i <= 400; i++) {
		n = int(rand() * 1000) - 200;
		f = sprintf("%.3f", rand() * 100 - 50);
		if (f ~ /\.000$/)	# integral floats: see the next test
			f = f "1";
		s = w[int(rand() * 6) + 1];
		t = "";
		for (j = 0; j < i % 4; j++)
			t = t (j ? "," : "") "\"t" int(rand() * 5) "\"";
		nul = (i % 7 == 0) ? "null" : "\"x" i "\"";
		printf "{\"id\":%d,\"n\":%d,\"f\":%s,\"s\":\"%s\",\"tags\":[%s],\"opt\":%s,\"nested\":{\"a\":{\"b\":%d},\"c\":[%d,%s]}}\n",
		    i, n, f, s, t, nul, i % 3, n, f
	}
}' >gen.jsonl

while read -r prog; do
	test_expect_success "jq oracle: $prog" '
		jq -c "$prog" gen.jsonl >expect &&
		kmap -O value "$prog" gen.jsonl >actual &&
		test_cmp expect actual &&
		ksource -I json gen.jsonl | kmap "$prog" | kmap -O value . >actual2 &&
		test_cmp expect actual2
	'
done <<\EOF
.
select(.n > 300)
select(.opt == null) | .id
{id, s: (.s | ascii_downcase), t: (.tags | length)}
.tags[]
.nested.a.b // "none"
.f * 2, .n / 8
[.n, .f] | add
to_entries | map(select(.value != null)) | from_entries
keys
if .n % 2 == 0 then . else empty end
"\(.id)-\(.s)-\(.f)"
.nested | .c | map(. * 1.5)
del(.nested) | .extra = {list: [range(.id % 3)]}
[paths | join(".")?]
.s | test("a")
{(.s): .n}
.tags | sort | unique
[.f, .n] | max
.f | floor, sqrt?
@base64 "\(.s)"
EOF

test_expect_success 'usage matches the man page SYNOPSIS' '
	kmap --help | grep -o -- "--*[a-zA-Z][a-z-]*" | sort -u >actual &&
	mandoc -Tascii "$TOP/man/man1/kmap.1" | col -b |
		sed -n "/^SYNOPSIS/,/^DESCRIPTION/p" |
		grep -o -- "--*[a-zA-Z][a-z-]*" | sort -u >expect &&
	test_cmp expect actual &&
	kmap --help | sed "s/^usage://" | tr -s " \t\n" "   " >u &&
	mandoc -Tascii "$TOP/man/man1/kmap.1" | col -b |
		sed -n "/^SYNOPSIS/,/^DESCRIPTION/p" | sed "1d;\$d" |
		tr -s " \t\n" "   " >m &&
	echo >>u && echo >>m &&
	test_cmp m u
'

test_expect_success 'floats: an integral float passed through keeps its .0 (kpipe JSON), computed ones do not' '
	echo "{\"f\":-42.000,\"g\":1.5}" >fl.jsonl &&
	kmap -O value ". , .f, (.f + 0), .g * 2" fl.jsonl >actual &&
	cat >expect <<-\EOF &&
	{"f":-42.0,"g":1.5}
	-42
	-42
	3
	EOF
	test_cmp expect actual &&
	jq -c ". , .f, (.f + 0), .g * 2" fl.jsonl | jq -c . >expect &&
	jq -c . actual >actual2 &&
	test_cmp expect actual2
'

test_expect_success '--help exits 0 on stdout; no expression: exit 64' '
	kmap --help >out && grep "^usage: kmap" out &&
	test_expect_code 64 kmap 2>err && grep "no jq expression" err
'

test_done
