#!/bin/sh
# kgen, the benchmark data generator: output shape, counts, key ranges and
# determinism.  Expected values come from the rules of kgen(1), computed
# independently with jq and awk, and from a Python re-implementation of
# splitmix64 (the published algorithm) for the exact bytes.
. "$(dirname "$0")/lib.sh"

test_expect_success 'metrics: N lines, exactly the three fields' '
	kgen metrics 5000 --keys 70 >m.jsonl &&
	test_line_count = 5000 m.jsonl &&
	jq -c "keys_unsorted" m.jsonl | sort -u >actual &&
	echo "[\"id\",\"timestamp\",\"max.cpu\"]" >expect &&
	test_cmp expect actual
'

test_expect_success 'metrics: id = 1 + i mod k, timestamp = 1704067200 + 60 floor(i/k)' '
	jq -n -c "[inputs] | to_entries[]
	    | select(.value.id != 1 + (.key % 70)
	        or .value.timestamp != 1704067200 + 60 * ((.key / 70) | floor))" \
	    m.jsonl >bad &&
	! test -s bad
'

test_expect_success 'metrics: keys 1..k, each key once a minute' '
	jq -s -c "group_by(.id) | map({id: .[0].id, n: length,
	    steps: ([.[1:][].timestamp] as \$t | [.[:-1][].timestamp] as \$u
	        | [range(0; \$t | length) | \$t[.] - \$u[.]] | unique)})
	    | [length, (map(.id) | min), (map(.id) | max),
	       (map(.steps) | unique)]" m.jsonl >actual &&
	# 5000 records over 70 keys: 71 or 72 records each, 60 s apart
	echo "[70,1,70,[[60]]]" >expect &&
	test_cmp expect actual &&
	jq -s -c "group_by(.id) | map(length) | unique" m.jsonl >actual &&
	echo "[71,72]" >expect &&
	test_cmp expect actual
'

test_expect_success 'metrics: max.cpu in [0, 100) with two decimals' '
	awk -F"\"max.cpu\":" "{ sub(/}\$/, \"\", \$2);
	    if (\$2 !~ /^[0-9]+\\.[0-9][0-9]\$/ || \$2 + 0 >= 100) bad++ }
	    END { exit bad > 0 }" m.jsonl
'

test_expect_success 'metrics: bytes match a Python splitmix64 of seed 1' '
	$PYTHON -c "
M = (1 << 64) - 1
s = 1
def nxt():
    global s
    s = (s + 0x9e3779b97f4a7c15) & M
    z = s
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    return z ^ (z >> 31)
for i in range(3000):
    c = nxt() % 10000
    print(\"{\\\"id\\\":%d,\\\"timestamp\\\":%d,\\\"max.cpu\\\":%d.%02d}\"
          % (1 + i % 1000, 1704067200 + 60 * (i // 1000), c // 100, c % 100))
" >expect &&
	kgen metrics 3000 >actual &&
	test_cmp expect actual
'

test_expect_success 'same seed, same bytes; another seed, other values' '
	kgen metrics 20000 --keys 100 --seed 42 >a &&
	kgen metrics 20000 --keys 100 --seed 42 >b &&
	cmp a b &&
	kgen metrics 20000 --keys 100 --seed 43 >c &&
	! cmp -s a c &&
	jq -c "[.id, .timestamp]" a >ka && jq -c "[.id, .timestamp]" c >kc &&
	test_cmp ka kc &&
	kgen yahoo 3000 --seed 9 >y1 && kgen yahoo 3000 --seed 9 >y2 &&
	cmp y1 y2 &&
	kgen bytes 500 33 --seed 5 >b1 && kgen bytes 500 33 --seed 5 >b2 &&
	cmp b1 b2
'

test_expect_success 'a shorter run is a prefix of a longer one' '
	kgen metrics 20000 --keys 100 --seed 42 | head -n 777 >head &&
	kgen metrics 777 --keys 100 --seed 42 >short &&
	test_cmp head short &&
	kgen yahoo 5000 | head -n 100 >head &&
	kgen yahoo 100 >short &&
	test_cmp head short
'

test_expect_success 'yahoo-campaigns: 1000 ads, 100 campaigns of 10' '
	kgen yahoo-campaigns >camp.jsonl &&
	test_line_count = 1000 camp.jsonl &&
	jq -r .ad_id camp.jsonl | sort -u | wc -l >actual &&
	jq -r .campaign_id camp.jsonl | sort | uniq -c |
	    awk "{ print \$1 }" | sort -u >>actual &&
	jq -r .campaign_id camp.jsonl | sort -u | wc -l >>actual &&
	printf "1000\n10\n100\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'yahoo: N events with the seven YSB fields in order' '
	kgen yahoo 30000 >y.jsonl &&
	test_line_count = 30000 y.jsonl &&
	jq -c "keys_unsorted" y.jsonl | sort -u >actual &&
	echo "[\"user_id\",\"page_id\",\"ad_id\",\"ad_type\",\"event_type\",\"event_time\",\"ip_address\"]" >expect &&
	test_cmp expect actual
'

test_expect_success 'yahoo: field values in their sets, every ad_id in the table' '
	U="^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\$" &&
	jq -n -c --slurpfile c camp.jsonl --arg u "$U" "
	    (\$c | map({(.ad_id): 1}) | add) as \$ads
	    | inputs
	    | select((.user_id | test(\$u) | not) or (.page_id | test(\$u) | not)
	        or (\$ads[.ad_id] == null)
	        or ([.ad_type] | inside([\"banner\",\"modal\",\"sponsored-search\",\"mail\",\"mobile\"]) | not)
	        or ([.event_type] | inside([\"view\",\"click\",\"purchase\"]) | not)
	        or (.event_time | type) != \"number\"
	        or .ip_address != \"1.2.3.4\")" y.jsonl >bad &&
	! test -s bad &&
	# all 1000 ads, all three event types, all five ad types show up
	jq -r .ad_id y.jsonl | sort -u | wc -l | tr -d " " >actual &&
	jq -r .event_type y.jsonl | sort -u | tr "\n" " " >>actual &&
	jq -r .ad_type y.jsonl | sort -u | wc -l | tr -d " " >>actual &&
	printf "1000\nclick purchase view 5\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'yahoo: event_time = 1704067200000 + floor(i * 1000 / rate)' '
	jq -n "[inputs.event_time] | to_entries[]
	    | select(.value != 1704067200000 + ((.key * 1000 / 10000) | floor))" \
	    y.jsonl >bad &&
	! test -s bad &&
	kgen yahoo 10 --rate 3 | jq .event_time | tail -n 1 >actual &&
	# event 9 at 3 events/s: 9 * 1000 / 3 = 3000 ms after the start
	echo 1704067203000 >expect &&
	test_cmp expect actual
'

test_expect_success 'yahoo: event types close to a third each' '
	jq -r .event_type y.jsonl | sort | uniq -c |
	    awk "{ if (\$1 < 9500 || \$1 > 10500) bad++ } END { exit bad > 0 }"
'

test_expect_success 'yahoo --realtime: paced by the wall clock' '
	kgen yahoo 200 --rate 1000 --realtime >rt.jsonl &&
	test_line_count = 200 rt.jsonl &&
	# event 199 is due 199 ms after the first: its stamp is that much later
	jq -s "(.[-1].event_time - .[0].event_time) >= 150
	    and ([.[].event_time] == ([.[].event_time] | sort))" rt.jsonl >actual &&
	echo true >expect &&
	test_cmp expect actual
'

test_expect_success 'bytes: N lines of SIZE base64 characters' '
	kgen bytes 2000 100 >b.txt &&
	test_line_count = 2000 b.txt &&
	awk "length(\$0) != 100 || /[^A-Za-z0-9+\\/]/ { bad++ }
	    END { exit bad > 0 }" b.txt &&
	sort -u b.txt | wc -l | tr -d " " >actual &&
	echo 2000 >expect &&
	test_cmp expect actual &&
	kgen bytes 3 100000 | awk "length(\$0) != 100000 { bad++ }
	    END { exit bad > 0 || NR != 3 }"
'

test_expect_success 'zero records is empty output' '
	kgen metrics 0 >empty && ! test -s empty
'

test_expect_success 'usage errors exit 64' '
	test_expect_code 64 kgen &&
	test_expect_code 64 kgen nosuch 3 &&
	test_expect_code 64 kgen metrics &&
	test_expect_code 64 kgen metrics -1 &&
	test_expect_code 64 kgen metrics 10 --keys 0 &&
	test_expect_code 64 kgen yahoo 10 --keys 3 &&
	test_expect_code 64 kgen metrics 10 --realtime &&
	test_expect_code 64 kgen bytes 10 &&
	test_expect_code 64 kgen bytes 10 0 &&
	test_expect_code 64 kgen yahoo-campaigns --seed 3
'

test_expect_success 'a closed pipe is a quiet end' '
	kgen metrics 100000000 2>err | head -n 1 >first &&
	test_line_count = 1 first &&
	! test -s err
'

test_done
