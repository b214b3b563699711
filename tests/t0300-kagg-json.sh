#!/bin/sh
# t0300-kagg-json: kagg reads JSON lines from a named file with a scanner
# that decodes only the fields it needs (kp_aggval_scan_json), and from a
# pipe with the full parser of json.h.  The full parser is the oracle:
# results and dead letters (line, reason, original bytes) must be the same
# both ways, on hand-picked hard lines (escapes, nesting, duplicates, big
# and odd numbers, invalid JSON and UTF-8, blank lines, CR LF, no final
# newline: tests/data/kagg/json-tricky.jsonl) and on lines mutated at
# random from valid ones (fixed seed).
. "$(dirname "$0")/lib.sh"

AGGS='-a n=count() -a s=sum(.v) -a lo=min(.v) -a f=first(.v) -a l=last(.v)
    -a d=count_distinct(.v) -a p=p50(.v)'

# both FILE: kagg on FILE (scanner) and on cat FILE (parser); compare
both() {
	rm -f scan.dlq parse.dlq &&
	kagg -k .k -w tumbling:1s --time .t $AGGS -O value --dlq scan.dlq \
	    "$1" >scan.out &&
	cat "$1" | kagg -k .k -w tumbling:1s --time .t $AGGS -O value \
	    --dlq parse.dlq >parse.out &&
	test_cmp parse.out scan.out &&
	touch scan.dlq parse.dlq &&
	jq -c "[.source.line, .reason, .value, .value_encoding]" parse.dlq >parse.r &&
	jq -c "[.source.line, .reason, .value, .value_encoding]" scan.dlq >scan.r &&
	test_cmp parse.r scan.r
}

test_expect_success 'hand-picked hard lines: the scanner agrees with the parser' '
	both "$TEST_SRC/data/kagg/json-tricky.jsonl" &&
	test -s scan.out && test $(wc -l <scan.r) -ge 20
'

test_expect_success '-I json on standard input takes the scanner too' '
	kagg -I json -k .k -w tumbling:1s --time .t $AGGS -O value \
	    --dlq stdin.dlq <"$TEST_SRC/data/kagg/json-tricky.jsonl" >stdin.out &&
	test_cmp parse.out stdin.out
'

test_expect_success 'lines mutated at random: the scanner agrees with the parser' '
	$PYTHON - <<-\PY &&
	import json, random
	random.seed(3)
	alphabet = "{}[]\",:\\ 0123456789.eE+-tfnulrsa\x01\xe9"
	out = open("fuzz.jsonl", "w", encoding="utf-8", errors="surrogatepass")
	for i in range(4000):
	    rec = {"k": random.choice(["a", "b", "c\"d", "\u00e9"]), "t": random.randint(0, 3000),
	           "v": random.choice([random.randint(-10**6, 10**6), random.random() * 100,
	                               "7", None, True, [1, 2], {"x": 1}])}
	    if random.random() < 0.3:
	        rec["n"] = {"a": [1, {"b": "}"}], "c": None}
	    line = json.dumps(rec, ensure_ascii=random.random() < 0.5)
	    for _ in range(random.choice([0, 0, 1, 1, 2, 3])):
	        p = random.randrange(len(line) + 1)
	        op = random.random()
	        if op < 0.4:
	            line = line[:p] + line[p + 1:]
	        elif op < 0.8:
	            line = line[:p] + random.choice(alphabet) + line[p:]
	        else:
	            line = line[:p] + line[p:p + 3][::-1] + line[p + 3:]
	    out.write(line.replace("\n", " ") + "\n")
	PY
	both fuzz.jsonl &&
	test $(wc -l <scan.r) -gt 500
'

test_done
