#!/bin/sh
# t0300-kagg-basic: kagg's interface on a pipe: the example of issue 3 and
# of kagg(1), usage errors, bad records, every aggregate function and the
# shape of the output.  Expected values are worked out by hand in the
# comments, or computed with jq.
. "$(dirname "$0")/lib.sh"

# render PAGE: the page as plain text (as t0090-man does)
render() {
	mandoc -Tascii -O width=400 "$1" | sed 's/.\x08//g'
}

cat >ex.jsonl <<-\EOF
{"id":1,"timestamp":0,"max.cpu":10}
{"id":1,"timestamp":60,"max.cpu":20}
{"id":1,"timestamp":120,"max.cpu":5}
EOF

# issue 3: one window [0, 3600) s with the maximum 20
test_expect_success 'the example of issue 3' '
	kagg -k .id -w tumbling:1h --time .timestamp --time-unit s \
	    -a "max.cpu=max(.\"max.cpu\")" --emit final -O value ex.jsonl >actual &&
	echo "{\"id\":1,\"window_start\":0,\"window_end\":3600,\"max.cpu\":20}" >expect &&
	test_cmp expect actual
'

test_expect_success 'the JSON envelope: key is the group key, timestamp the window end in ms' '
	kagg -k .id -w tumbling:1h --time .timestamp --time-unit s \
	    -a "n=count()" -O json ex.jsonl | jq -c "{key, timestamp}" >actual &&
	echo "{\"key\":\"1\",\"timestamp\":3600000}" >expect &&
	test_cmp expect actual
'

test_expect_success 'kpipe output reads back with ksource' '
	kagg -k .id -w tumbling:1h --time .timestamp --time-unit s \
	    -a "n=count()" -O kpipe ex.jsonl | ksource -O value >actual &&
	echo "{\"id\":1,\"window_start\":0,\"window_end\":3600,\"n\":3}" >expect &&
	test_cmp expect actual
'

if command -v mandoc >/dev/null 2>&1; then
test_expect_success 'the first example of kagg(1) prints what the page shows' '
	render "$TOP/man/man1/kagg.1" |
	    awk "/^EXAMPLES/ { on = 1 } on && /^ *\\$ printf/ { sub(/^ *\\$ /, \"\"); print; getline; sub(/^ */, \"\"); print > \"page.expect\"; exit }" >page.cmd &&
	test -s page.cmd &&
	sh page.cmd >actual &&
	test_cmp page.expect actual
'
else
	test_skip 'the first example of kagg(1)' 'mandoc is not installed'
fi

test_expect_success 'usage errors exit 64' '
	test_expect_code 64 kagg -a "n=count()" ex.jsonl 2>err &&
	grep "no window" err &&
	test_expect_code 64 kagg -w tumbling:1h ex.jsonl 2>err &&
	grep "no aggregate" err &&
	test_expect_code 64 kagg -w tumbling:5x -a "n=count()" 2>err &&
	grep "unknown unit" err &&
	test_expect_code 64 kagg -w hopping:5s:10s -a "n=count()" 2>err &&
	test_expect_code 64 kagg -w none -a "n=median(.x)" 2>err &&
	grep "unknown function .median." err &&
	test_expect_code 64 kagg -w none -a "n=sum()" 2>err &&
	grep "needs a field path" err &&
	test_expect_code 64 kagg -w none -a "n=count()" -a "n=sum(.x)" 2>err &&
	grep "used twice" err &&
	test_expect_code 64 kagg -w none -a "n=count()" --emit sometimes 2>err &&
	test_expect_code 64 kagg -w none -a "n=count()" --from t -b x 2>err &&
	grep "needs a consumer group" err &&
	test_expect_code 64 kagg -w none -a "n=count()" -e 2>err &&
	test_expect_code 64 kagg --no-such-option 2>err
'

test_expect_success '--help prints the usage to stdout' '
	kagg --help >out 2>err &&
	grep "^usage: kagg" out &&
	! test -s err
'

cat >bad.jsonl <<-\EOF
{"k":"a","t":1,"v":1}
{"k":"a","t":2,"v":"12"}
{"k":"a","t":3}
{"t":4,"v":1}
{"k":null,"t":5,"v":1}
{"k":"a","v":1}
{"k":"a","t":"x","v":1}
not json
{"k":"a","t":6,"v":null}
{"k":"a","t":7,"v":2}
EOF

# every bad record goes to the dead-letter file with its reason; the good
# ones (t 1 and t 7, v 1 and 2) count: sum 3, never a zero for the others
test_expect_success 'bad records go to --dlq with the reason, never counted as zero' '
	kagg -k .k -w tumbling:1s --time .t -a "s=sum(.v)" -a "n=count()" \
	    -O value --dlq dlq.jsonl bad.jsonl >actual &&
	echo "{\"k\":\"a\",\"window_start\":0,\"window_end\":1000,\"s\":3,\"n\":2}" >expect &&
	test_cmp expect actual &&
	jq -r "[.source.line, .reason] | @tsv" dlq.jsonl >actual &&
	cat >expect <<-\EOF &&
	2	'"'"'.v'"'"': expected number, got string
	3	'"'"'.v'"'"': expected number, got missing
	4	'"'"'.k'"'"': group key is missing
	5	'"'"'.k'"'"': group key is null
	6	'"'"'.t'"'"': expected number, got missing
	7	'"'"'.t'"'"': expected number, got string
	EOF
	sed -n "1,6p" actual >first6 &&
	test_cmp expect first6 &&
	sed -n "7p" actual | grep "^8	invalid JSON" &&
	sed -n "8p" actual | grep "^9	'"'"'.v'"'"': expected number, got null" &&
	jq -r .value dlq.jsonl | sed -n 1p | grep -F "{\"k\":\"a\",\"t\":2,\"v\":\"12\"}"
'

test_expect_success 'without --dlq the first bad record stops with 65, naming it' '
	test_expect_code 65 kagg -k .k -w tumbling:1s --time .t -a "s=sum(.v)" \
	    -O value bad.jsonl >out 2>err &&
	grep "^kagg: .bad.jsonl. line 2: .\.v.: expected number, got string" err
'

test_expect_success 'a record without a timestamp is bad; with -w none it is fine' '
	printf "%s\n" "{\"k\":\"a\"}" >nots.jsonl &&
	test_expect_code 65 kagg -k .k -w tumbling:1s -a "n=count()" \
	    nots.jsonl 2>err &&
	grep "record has no timestamp" err &&
	kagg -k .k -w none -a "n=count()" -O value nots.jsonl >actual &&
	echo "{\"k\":\"a\",\"n\":1}" >expect &&
	test_cmp expect actual
'

# One window, records in this order (t in ms):
#   t=5 v=3 s="x"   t=1 v=2.5 s="y"   t=9 v=-4 s="x"   t=5 v=7 s=1.0
#   t=3 v=1 s=1     t=9 v=0 s=null
# count 6; count(.s) counts the 5 non-null s; sum 3+2.5-4+7+1+0 = 9.5 (a
# float, as 2.5 is one); sumi of .i (all integers) stays an integer; min
# -4 and max 7 keep their integer type; avg 9.5/6; first: the smallest t
# is 1 -> v 2.5; last: the largest t is 9, twice -> the later, v 0;
# distinct s: "x", "y", 1 (= 1.0), null -> 4.
test_expect_success 'every aggregate on one window, worked by hand' '
	cat >agg.jsonl <<-\EOF &&
	{"k":"a","t":5,"v":3,"s":"x","i":1}
	{"k":"a","t":1,"v":2.5,"s":"y","i":2}
	{"k":"a","t":9,"v":-4,"s":"x","i":3}
	{"k":"a","t":5,"v":7,"s":1.0,"i":4}
	{"k":"a","t":3,"v":1,"s":1,"i":5}
	{"k":"a","t":9,"v":0,"s":null,"i":6}
	EOF
	kagg -k .k -w tumbling:1s --time .t -a "n=count()" -a "ns=count(.s)" \
	    -a "sum=sum(.v)" -a "sumi=sum(.i)" -a "min=min(.v)" -a "max=max(.v)" \
	    -a "avg=avg(.v)" -a "first=first(.v)" -a "last=last(.v)" \
	    -a "d=count_distinct(.s)" -O value agg.jsonl >actual &&
	avg=$(jq -n "9.5 / 6") &&
	echo "{\"k\":\"a\",\"window_start\":0,\"window_end\":1000,\"n\":6,\"ns\":5,\"sum\":9.5,\"sumi\":21,\"min\":-4,\"max\":7,\"avg\":$avg,\"first\":2.5,\"last\":0,\"d\":4}" >expect &&
	test_cmp expect actual
'

# percentiles of 1..100: the nearest rank of P is the P-th value, P; the
# sketch may be 1% off; avg is a float even of integers
test_expect_success 'percentiles are within 1% of the nearest rank' '
	seq 1 100 | jq -c "{k: \"a\", t: 0, v: .}" >p.jsonl &&
	kagg -k .k -w tumbling:1s --time .t -a "p50=p50(.v)" -a "p90=p90(.v)" \
	    -a "p95=p95(.v)" -a "p99=p99(.v)" -a "avg=avg(.v)" -O value p.jsonl |
	    jq -e "(.p50 / 50 - 1 | fabs) <= 0.01 and (.p90 / 90 - 1 | fabs) <= 0.01
	        and (.p95 / 95 - 1 | fabs) <= 0.01 and (.p99 / 99 - 1 | fabs) <= 0.01
	        and .avg == 50.5"
'

test_expect_success 'several group fields: a JSON array key, the fields in the value' '
	printf "%s\n" "{\"h\":\"x\",\"r\":2,\"t\":0}" "{\"h\":\"x\",\"r\":2,\"t\":1}" \
	    "{\"h\":\"x\",\"r\":3,\"t\":2}" >multi.jsonl &&
	kagg -k .h,.r -w tumbling:1s --time .t -a "n=count()" -O json multi.jsonl |
	    jq -c "[.key, .value.h, .value.r, .value.n]" >actual &&
	cat >expect <<-\EOF &&
	["[\"x\",2]","x",2,2]
	["[\"x\",3]","x",3,1]
	EOF
	test_cmp expect actual
'

test_expect_success 'a dead letter from kpipe input holds the value as JSON' '
	echo "{\"h\":\"x\",\"r\":1,\"t\":0,\"v\":\"bad\"}" >dl.jsonl &&
	ksource -O kpipe dl.jsonl |
	kagg -k .h,.r -w tumbling:1s --time .t -a "s=sum(.v)" --dlq dl.dlq \
	    -O value >actual &&
	! test -s actual &&
	jq -r .value dl.dlq >dl.actual &&
	test_cmp dl.jsonl dl.actual
'

test_expect_success 'the record key is the default group; time from @timestamp' '
	kagg -k .id -w tumbling:1h --time .timestamp --time-unit s \
	    -a "n=count()" -O kpipe ex.jsonl >k.kp &&
	kagg -w tumbling:2h -a "n=count()" -O value k.kp >actual &&
	echo "{\"key\":\"1\",\"window_start\":0,\"window_end\":7200000,\"n\":1}" >expect &&
	test_cmp expect actual
'

# 1500000 us is 1500 ms: window [1000, 2000) ms = [1000000, 2000000) us
test_expect_success '--time-unit us: windows in microseconds' '
	echo "{\"k\":\"a\",\"t\":1500000}" | kagg -k .k -w tumbling:1s --time .t \
	    --time-unit us -a "n=count()" -O value >actual &&
	echo "{\"k\":\"a\",\"window_start\":1000000,\"window_end\":2000000,\"n\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success '--time-format: string times as UTC' '
	printf "%s\n" "{\"k\":\"a\",\"ts\":\"2014-02-14 14:30:00\"}" \
	    "{\"k\":\"a\",\"ts\":\"2014-02-14 14:59:59\"}" |
	kagg -k .k -w tumbling:1h --time .ts --time-format "%Y-%m-%d %H:%M:%S" \
	    --time-unit s -a "n=count()" -O value >actual &&
	start=$(date -u -d "2014-02-14 14:00:00" +%s) &&
	echo "{\"k\":\"a\",\"window_start\":$start,\"window_end\":$((start + 3600)),\"n\":2}" >expect &&
	test_cmp expect actual
'

# --state-dir on a pipe: run 1 ends at stream time 120 s, closing [0,1h);
# run 2 loads that stream time, so a record at 30 s is late, and one at
# 1h counts
test_expect_success '--state-dir on a pipe carries the stream time to the next run' '
	kagg -k .id -w tumbling:1h --time .timestamp --time-unit s -a "n=count()" \
	    --state-dir st -O value ex.jsonl >/dev/null &&
	test -d st/pipe/kagg/0 &&
	printf "%s\n" "{\"id\":1,\"timestamp\":30}" "{\"id\":1,\"timestamp\":3600}" |
	kagg -v -k .id -w tumbling:1h --time .timestamp --time-unit s \
	    -a "n=count()" --state-dir st -O value >actual 2>err &&
	echo "{\"id\":1,\"window_start\":3600,\"window_end\":7200,\"n\":1}" >expect &&
	test_cmp expect actual &&
	grep "1 late record" err
'

test_expect_success 'a closed stdout ends quietly' '
	seq 1 20000 | jq -c "{k: ., t: 0}" >many.jsonl &&
	kagg -k .k -w none -a "n=count()" -O value many.jsonl | head -1 >/dev/null
'

test_done
