#!/bin/sh
# t0400-kjoin-pipe.sh - kjoin in pipe mode: the stream on standard input,
# the table (or the other stream) from a file.
#
# Expected outputs are worked out by hand (small cases, in the comments)
# or computed by tests/data/kjoin/expect.py, a separate Python model of the
# semantics kjoin(1) describes.  Inputs with keys and timestamps are
# written as kpipe envelopes by tests/data/kjoin/kpipe-enc.py, a Python
# msgpack encoder of its own.

. "$(dirname "$0")/lib.sh"

D=$TEST_SRC/data/kjoin
enc() { "$PYTHON" "$D/kpipe-enc.py"; }
model() { "$PYTHON" "$D/expect.py" "$@"; }
norm() { jq -c '{key,timestamp,value}'; }
laststats() { grep '^{"program":"kjoin"' "$1" | tail -n 1; }

# by hand: ids 1 and 2 have hosts, 3 has none; the string "1" is the
# same key as the number 1
test_expect_success 'the seed example: metrics enriched with host metadata' '
	cat >expect <<-\EOF &&
	{"id":1,"hour":"2024-05-01T10","max.cpu":20,"name":"host-1","region":"eu"}
	{"id":2,"hour":"2024-05-01T10","max.cpu":35,"name":"host-2","region":"us"}
	{"id":"1","hour":"2024-05-01T11","max.cpu":25,"name":"host-1","region":"eu"}
	EOF
	kjoin --table "file:$D/hosts.jsonl" -k .id -O value \
	    <"$D/metrics.jsonl" >out &&
	test_cmp expect out
'

test_expect_success '--left keeps a stream record with no table value' '
	cat >expect <<-\EOF &&
	{"id":1,"hour":"2024-05-01T10","max.cpu":20,"name":"host-1","region":"eu"}
	{"id":2,"hour":"2024-05-01T10","max.cpu":35,"name":"host-2","region":"us"}
	{"id":3,"hour":"2024-05-01T10","max.cpu":50}
	{"id":"1","hour":"2024-05-01T11","max.cpu":25,"name":"host-1","region":"eu"}
	EOF
	kjoin --table "file:$D/hosts.jsonl" -k .id --left -O value \
	    <"$D/metrics.jsonl" >out &&
	test_cmp expect out
'

# CSV reads 1 as a number: the same key as the JSON lines table's
test_expect_success 'a CSV table joins the same' '
	kjoin --table "file:$D/hosts.jsonl" -k .id -O value \
	    <"$D/metrics.jsonl" >expect &&
	kjoin --table "file:$D/hosts.csv" -k .id -O value \
	    <"$D/metrics.jsonl" >out &&
	test_cmp expect out
'

# by hand: the table is keyed by record key "1" (as kcat -K: writes it),
# the stream by the number field .id
test_expect_success 'a number field joins a record key of the same digits' '
	echo "{\"key\":\"1\",\"value\":{\"name\":\"host-1\"}}" | enc >t.kp &&
	printf "{\"id\":1}\n{\"id\":\"1\"}\n{\"id\":1.5}\n" >s.jsonl &&
	cat >expect <<-\EOF &&
	{"id":1,"name":"host-1"}
	{"id":"1","name":"host-1"}
	EOF
	kjoin --table file:t.kp -k .id --table-key @key -O value <s.jsonl >out &&
	test_cmp expect out
'

# by hand, key 1: table a@100, b@300, tombstone@500; key 2: x@50.
# stream 1@200 sees a; 1@300 sees b (the table goes first on a tie);
# 2@350 sees x; 1@400 sees b; 1@600 sees nothing (deleted)
test_expect_success 'a table update between two stream records, a tombstone' '
	enc >t.kp <<-\EOF &&
	{"key":"1","timestamp":100,"value":{"name":"a"}}
	{"key":"1","timestamp":300,"value":{"name":"b"}}
	{"key":"1","timestamp":500,"value":null}
	{"key":"2","timestamp":50,"value":{"name":"x"}}
	EOF
	enc >s.kp <<-\EOF &&
	{"key":"1","timestamp":200,"value":{"n":1}}
	{"key":"1","timestamp":300,"value":{"n":2}}
	{"key":"2","timestamp":350,"value":{"n":3}}
	{"key":"1","timestamp":400,"value":{"n":4}}
	{"key":"1","timestamp":600,"value":{"n":5}}
	EOF
	cat >expect <<-\EOF &&
	{"timestamp":200,"key":"1","value":{"n":1,"name":"a"}}
	{"timestamp":300,"key":"1","value":{"n":2,"name":"b"}}
	{"timestamp":350,"key":"2","value":{"n":3,"name":"x"}}
	{"timestamp":400,"key":"1","value":{"n":4,"name":"b"}}
	EOF
	kjoin --table file:t.kp -O json -v <s.kp >out 2>err &&
	test_cmp expect out &&
	laststats err | jq -e ".tombstones == 1 and .no_match == 1" &&
	echo "{\"timestamp\":600,\"key\":\"1\",\"value\":{\"n\":5}}" >>expect &&
	kjoin --table file:t.kp -O json --left <s.kp >out &&
	test_cmp expect out
'

# by hand: the stream has its own "name"; without --prefix the table's is
# dropped, with it every table field is renamed
test_expect_success 'on a clash the stream wins; --prefix renames table fields' '
	echo "{\"id\":1,\"name\":\"cpu\",\"v\":5}" >s.jsonl &&
	echo "{\"id\":1,\"name\":\"cpu\",\"v\":5,\"region\":\"eu\"}" >expect &&
	kjoin --table "file:$D/hosts.jsonl" -k .id -O value <s.jsonl >out &&
	test_cmp expect out &&
	echo "{\"id\":1,\"name\":\"cpu\",\"v\":5,\"host_id\":1,\"host_name\":\"host-1\",\"host_region\":\"eu\"}" >expect &&
	kjoin --table "file:$D/hosts.jsonl" -k .id --prefix host_ -O value \
	    <s.jsonl >out &&
	test_cmp expect out
'

test_expect_success 'table records with a null key are skipped and counted' '
	cat >t.jsonl <<-\EOF &&
	{"id":1,"name":"host-1"}
	{"name":"no id"}
	{"id":null,"name":"null id"}
	EOF
	echo "{\"id\":1}" >s.jsonl &&
	kjoin --table file:t.jsonl -k .id -O value -v <s.jsonl >out 2>err &&
	echo "{\"id\":1,\"name\":\"host-1\"}" >expect &&
	test_cmp expect out &&
	grep "skipped 2 table records with a null key" err &&
	laststats err | jq -e ".table_null_key == 2 and .table == 3"
'

test_expect_success 'a stream value that is not an object: 65, or --dlq' '
	printf "{\"id\":1}\n[1,2]\n{\"id\":2}\n" >s.jsonl &&
	test_expect_code 65 kjoin --table "file:$D/hosts.jsonl" -k .id \
	    -O value <s.jsonl >out 2>err &&
	grep "not an object" err &&
	kjoin --table "file:$D/hosts.jsonl" -k .id -O value --dlq dlq.jsonl \
	    <s.jsonl >out &&
	test_line_count = 2 out &&
	jq -e "select(.reason == \"stream value is not an object\")" dlq.jsonl
'

test_expect_success 'a table value that is not an object: 65' '
	printf "{\"id\":1}\n\"host\"\n" >t.jsonl &&
	echo "{\"id\":1}" >s.jsonl &&
	test_expect_code 65 kjoin --table file:t.jsonl -k .id <s.jsonl \
	    >out 2>err &&
	grep "table value is not an object" err
'

# 3000 stream records, 400 table records (a tenth of them tombstones) on
# 40 keys, timestamps interleaved; the model computes the join
test_expect_success 'random table and stream: the output equals the model' '
	model gen 7 3000 400 40 . &&
	enc <table.json >t.kp && enc <stream.json >s.kp &&
	model table stream.json table.json | norm >expect &&
	kjoin --table file:t.kp -O json <s.kp | norm >out &&
	test_line_count -gt 1000 out &&
	test_cmp expect out &&
	model table stream.json table.json --left --prefix t_ | norm >expect &&
	kjoin --table file:t.kp -O json --left --prefix t_ <s.kp | norm >out &&
	test_cmp expect out
'

test_expect_success '--state-dir keeps the table in LevelDB, same output' '
	kjoin --table file:t.kp -O json --left --prefix t_ --state-dir st <s.kp |
	    norm >out2 &&
	test_cmp out out2 &&
	test -d st/kjoin/kjoin/pipe
'

# by hand: views at 0; u1 clicks at 10 s (|10000 - 0| <= 10000: joins),
# u2 at 11 s (no).  Stream time 11000 closes both views' windows
# (0 + 10000 < 11000): u2's view, never joined, comes out alone with
# --left; at the end of the input the u2 click does with --outer.
test_expect_success 'stream-stream: a click within 10 s of a view joins, 11 s not' '
	enc >v.kp <<-\EOF &&
	{"key":"u1","timestamp":0,"value":{"view":"home"}}
	{"key":"u2","timestamp":0,"value":{"view":"cart"}}
	EOF
	enc >c.kp <<-\EOF &&
	{"key":"u1","timestamp":10000,"value":{"click":"buy"}}
	{"key":"u2","timestamp":11000,"value":{"click":"pay"}}
	EOF
	echo "{\"timestamp\":10000,\"key\":\"u1\",\"value\":{\"view\":\"home\",\"click\":\"buy\"}}" >expect &&
	kjoin --join file:c.kp --within 10s -O json <v.kp >out &&
	test_cmp expect out &&
	echo "{\"timestamp\":0,\"key\":\"u2\",\"value\":{\"view\":\"cart\"}}" >>expect &&
	kjoin --join file:c.kp --within 10s --left -O json <v.kp >out &&
	test_cmp expect out &&
	cat >expect <<-\EOF &&
	{"timestamp":10000,"key":"u1","value":{"view":"home","c_click":"buy"}}
	{"timestamp":0,"key":"u2","value":{"view":"cart"}}
	{"timestamp":11000,"key":"u2","value":{"c_click":"pay"}}
	EOF
	kjoin --join file:c.kp --within 10s --outer --prefix c_ -O json \
	    <v.kp >out &&
	test_cmp expect out
'

# by hand: the view at 5 s comes after one at 20 s: 5000 + 0 < 20000 is
# late; with --grace 15s it is not, and joins the click at 6 s
test_expect_success 'stream-stream: a late record is dropped and counted' '
	enc >v.kp <<-\EOF &&
	{"key":"u1","timestamp":20000,"value":{"view":"a"}}
	{"key":"u1","timestamp":5000,"value":{"view":"b"}}
	EOF
	echo "{\"key\":\"u1\",\"timestamp\":40000,\"value\":{\"click\":\"x\"}}" |
	    enc >c.kp &&
	kjoin --join file:c.kp --within 10s -O json -v <v.kp >out 2>err &&
	test_line_count = 0 out &&
	laststats err | jq -e ".late == 1" &&
	echo "{\"key\":\"u1\",\"timestamp\":6000,\"value\":{\"click\":\"y\"}}" |
	    enc >c.kp &&
	echo "{\"timestamp\":6000,\"key\":\"u1\",\"value\":{\"view\":\"b\",\"click\":\"y\"}}" >expect &&
	kjoin --join file:c.kp --within 10s --grace 15s -O json <v.kp >out &&
	test_cmp expect out
'

test_expect_success 'stream-stream: random streams, every mode equals the model' '
	model genw 3 2000 30 . &&
	enc <left.json >l.kp && enc <right.json >r.kp &&
	for m in "" --left --outer; do
		model window left.json right.json 10000 $m | norm >expect &&
		kjoin --join file:r.kp --within 10s $m -O json <l.kp | norm >out &&
		test_cmp expect out || return 1
	done &&
	model window left.json right.json 10000 --outer --grace 3000 \
	    --prefix c_ | norm >expect &&
	kjoin --join file:r.kp --within 10s --grace 3s --outer --prefix c_ \
	    -O json <l.kp | norm >out &&
	test_cmp expect out
'

test_expect_success 'stream-stream: a record without a timestamp is bad' '
	echo "{\"key\":\"u1\",\"timestamp\":1,\"value\":{\"click\":1}}" | enc >c.kp &&
	echo "{\"view\":1}" >v.jsonl &&
	test_expect_code 65 kjoin --join file:c.kp --within 1s <v.jsonl \
	    >out 2>err &&
	grep "no timestamp" err
'

test_expect_success 'usage errors exit 64' '
	test_expect_code 64 kjoin </dev/null 2>err &&
	test_expect_code 64 kjoin --table file:x --join file:y </dev/null &&
	test_expect_code 64 kjoin --join file:x </dev/null &&
	test_expect_code 64 kjoin --table file:x --within 1s </dev/null &&
	test_expect_code 64 kjoin --join file:x --within 1s --left --outer \
	    </dev/null &&
	test_expect_code 64 kjoin --table file:x --outer </dev/null &&
	test_expect_code 64 kjoin --table file:x --from s </dev/null &&
	test_expect_code 64 kjoin --table file:x -e </dev/null &&
	test_expect_code 64 kjoin --table topic </dev/null &&
	test_expect_code 64 kjoin --join file:x --within 5x </dev/null &&
	test_expect_code 64 kjoin --table file:x --max-idle -1 </dev/null &&
	test_expect_code 64 kjoin --table file:x extra </dev/null &&
	test_expect_code 66 kjoin --table file:no-such-file </dev/null
'

# the options of --help and of the man page SYNOPSIS are the same
test_expect_success '--help matches the man page SYNOPSIS' '
	kjoin --help >help &&
	grep -o -- "-[-a-zA-Z]*" help | sort -u >opts.help &&
	MANWIDTH=200 mandoc -T ascii "$TOP/man/man1/kjoin.1" | col -b |
	    sed -n "/^SYNOPSIS/,/^DESCRIPTION/p" |
	    grep -o -- "-[-a-zA-Z]*" | sort -u >opts.man &&
	test_cmp opts.help opts.man &&
	test_line_count -gt 20 opts.man
'

test_expect_success 'the man page example runs' '
	echo "{\"id\":1,\"name\":\"host-1\",\"region\":\"eu\"}" >hosts.jsonl &&
	echo "{\"id\":1,\"hour\":\"2024-05-01T10\",\"max.cpu\":20}" |
	    kjoin --table file:hosts.jsonl -k .id -O value >out &&
	echo "{\"id\":1,\"hour\":\"2024-05-01T10\",\"max.cpu\":20,\"name\":\"host-1\",\"region\":\"eu\"}" >expect &&
	test_cmp expect out
'

test_done
