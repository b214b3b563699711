#!/bin/sh
# t0300-kagg-windows: window assignment and close rules, on cases from
# public bug reports (tests/data/kagg/README cites them) and cases worked
# by hand below from the rules of kagg(1) and common/window.h.
. "$(dirname "$0")/lib.sh"

D=$TEST_SRC/data/kagg

# agg_cmp EXPECTED ARGS...: kagg -O value ARGS, compared as sorted lines
agg_cmp() {
	exp=$1
	shift
	kagg -O value "$@" >out &&
	sort out >actual &&
	sort "$exp" >expect &&
	test_cmp expect actual
}

test_expect_success 'B01 (KAFKA-3784): size 6, advance 5, ts 7 is in [5,11) only' '
	agg_cmp "$D/b01-hopping.expected" -k .k -w hopping:6ms:5ms --time .t \
	    -a "n=count()" "$D/b01-hopping.jsonl"
'

test_expect_success 'B01: size 12, advance 5: ts 21 in 3 windows, ts 3 in [-5,7) and [0,12)' '
	agg_cmp "$D/b01-hopping2.expected" -k .k -w hopping:12ms:5ms --time .t \
	    -a "n=count()" "$D/b01-hopping2.jsonl"
'

test_expect_success 'B01: tumbling 12: ts 21 in [12,24), ts 24 in [24,36) only' '
	agg_cmp "$D/b01-tumbling.expected" -k .k -w tumbling:12ms --time .t \
	    -a "n=count()" "$D/b01-tumbling.jsonl"
'

test_expect_success 'B02 (FLINK-26334): negative timestamps floor: -15 in [-20,-10)' '
	agg_cmp "$D/b02-negative.expected" -k .k -w tumbling:10ms --time .t \
	    -a "n=count()" "$D/b02-negative.jsonl"
'

# Boundaries, tumbling 1h = 3600000 ms, grace 10m = 600000 ms, so the
# first window [0,3600000) closes when stream time reaches 4200000:
#   e1 t=0        [0,1h)                      st 0
#   e2 t=3600000  at the end: [1h,2h)         st 3600000
#   e3 t=3599999  out of order, [0,1h) open   st 3600000
#   e4 t=4199999  end + grace - 1 ms: [0,1h) still open
#   e5 t=3000000  out of order within grace: counts in [0,1h)
#   e6 t=4200000  end + grace: st reaches 4200000, [0,1h) closes and is
#                 emitted with e1 e3 e5 (n 3, sum of e 9); e6 in [1h,2h)
#   e7 t=3599999  late: [0,1h) is closed
#   e8 t=4200001  one ms after: [1h,2h)
#   e9 t=0        late
# At the end [1h,2h) holds e2 e4 e6 e8: n 4, sum 20.  Late: e7, e9.
test_expect_success 'tumbling: at the end, at end + grace, one ms after; late to --late' '
	rm -f late.jsonl &&
	kagg -k .k -w tumbling:1h --grace 10m --time .t -a "n=count()" \
	    -a "es=sum(.e)" -O value --late late.jsonl "$D/boundary.jsonl" >actual &&
	test_cmp "$D/boundary.expected" actual &&
	jq -c .value late.jsonl >late.actual &&
	test_cmp "$D/boundary.late" late.actual
'

test_expect_success 'late records: counted on stderr with -v, dropped without --late' '
	kagg -v -k .k -w tumbling:1h --grace 10m --time .t -a "n=count()" \
	    -O value "$D/boundary.jsonl" >actual 2>err &&
	jq -c "del(.es)" "$D/boundary.expected" >expect &&
	test_cmp expect actual &&
	grep "2 late records dropped" err &&
	grep "\"late\":2" err
'

test_expect_success 'dropped late records are a warning without -v; -q hides it' '
	kagg -k .k -w tumbling:1h --grace 10m --time .t -a "n=count()" \
	    -O value "$D/boundary.jsonl" >actual 2>err &&
	test_cmp expect actual &&
	grep "^kagg: 2 late records dropped: .*--late.*--grace" err &&
	kagg -q -k .k -w tumbling:1h --grace 10m --time .t -a "n=count()" \
	    -O value "$D/boundary.jsonl" >actual 2>err &&
	test_cmp /dev/null err
'

# Hopping 10 s advancing by 5 s, grace 0, times in s:
#   h1 t=3   [-5,5) [0,10)    st 3
#   h2 t=7   [0,10) [5,15)    st 7
#   h3 t=12  [5,15) [10,20)   st 12: [-5,5) and [0,10) close (end <= 12)
#   h4 t=5   [0,10) is closed: late for it; [5,15) is open: counts there
# So [-5,5): h1; [0,10): h1 h2; [5,15): h2 h3 h4; [10,20): h3.
test_expect_success 'hopping: a record late for an older window counts in a newer one' '
	rm -f late.jsonl &&
	agg_cmp "$D/hopping.expected" -k .k -w hopping:10s:5s --time .t \
	    --time-unit s -a "n=count()" -a "hs=sum(.h)" --late late.jsonl \
	    "$D/hopping.jsonl" &&
	jq -c .value.h late.jsonl >late.actual &&
	echo 4 >late.expect &&
	test_cmp late.expect late.actual
'

# Sessions, gap 10 s, grace 20 s (a session closes at last + 30), in s:
#   v1 t=100  A [100,100]                 st 100
#   v2 t=105  A [100,105]                 st 105
#   v3 t=125  125 - 105 > 10: B [125,125]; A closes at 135: open
#   v4 t=130  B [125,130]                 st 130
#   v5 t=115  within 10 of A (105 + 10) and of B (125 - 10), both open:
#             A and B merge with v5 into [100,130], n 5, sum 15,
#             first (t 100) v 1, last (t 130) v 4
#   v6 t=200  st 200 >= 130 + 30: [100,130] closes and is emitted;
#             C [200,200]
#   v7 t=145  not within 10 of [100,130] or C; alone, [145,145] would
#             close at 175 <= 200: late (rule (a))
#   v8 t=175  [175,175] closes at 205 > 200: accepted, D [175,175]
#   v9 t=185  within 10 of D: D [175,185] (C starts at 200: 15 away)
# At the end C and D close.
test_expect_success 'sessions: two open sessions merge; out-of-order and late records' '
	rm -f late.jsonl &&
	kagg -k .u -w session:10s --grace 20s --time .t --time-unit s \
	    -a "n=count()" -a "s=sum(.v)" -a "f=first(.v)" -a "l=last(.v)" \
	    -O value --late late.jsonl "$D/session-merge.jsonl" >actual &&
	test_cmp "$D/session-merge.expected" actual &&
	jq -c .value late.jsonl >late.actual &&
	test_cmp "$D/session-merge.late" late.actual
'

# Rule (b) of window.h, gap 10 s, grace 0 (a session closes at last + 10):
#   x1 t=0   S [0,0]                                 st 0
#   x2 t=12  st 12 >= 10: S closes, emitted; T [12,12]
#   x3 t=5   within 10 of S (closed) and of T (12 - 10 = 2 <= 5): the
#            merged [0,12] would be open, and Kafka Streams would accept
#            it, changing S after it was emitted; rule (b): late
#   x4 t=20  T [12,20]                               st 20
#   x5 t=30  st 30 >= 20 + 10: T closes, emitted; 30 is within 10 of T:
#            late by rule (b) (Kafka accepts it at this equality, B08)
test_expect_success 'sessions: an emitted session never changes (rule (b))' '
	rm -f late.jsonl &&
	kagg -k .u -w session:10s --time .t --time-unit s -a "n=count()" \
	    -a "s=sum(.v)" -O value --late late.jsonl \
	    "$D/session-rule-b.jsonl" >actual &&
	test_cmp "$D/session-rule-b.expected" actual &&
	jq -c .value late.jsonl >late.actual &&
	test_cmp "$D/session-rule-b.late" late.actual
'

# Emit changes on the hopping case: with a cache of 0 bytes every update
# is emitted (h1 updates 2 windows, h2 2, h3 2, h4 1: 7 records); with the
# default cache nothing is flushed before the windows close, so each
# window is emitted once, with its final value.
test_expect_success 'emit changes: a 0-byte cache emits every update' '
	kagg -k .k -w hopping:10s:5s --time .t --time-unit s -a "n=count()" \
	    -a "hs=sum(.h)" --emit changes --cache-bytes 0 -O value \
	    "$D/hopping.jsonl" >actual &&
	cat >expect <<-\EOF &&
	{"k":"a","window_start":-5,"window_end":5,"n":1,"hs":1}
	{"k":"a","window_start":0,"window_end":10,"n":1,"hs":1}
	{"k":"a","window_start":0,"window_end":10,"n":2,"hs":3}
	{"k":"a","window_start":5,"window_end":15,"n":1,"hs":2}
	{"k":"a","window_start":5,"window_end":15,"n":2,"hs":5}
	{"k":"a","window_start":10,"window_end":20,"n":1,"hs":3}
	{"k":"a","window_start":5,"window_end":15,"n":3,"hs":9}
	EOF
	test_cmp expect actual
'

test_expect_success 'emit changes: the cache collapses updates of a window' '
	agg_cmp "$D/hopping.expected" -k .k -w hopping:10s:5s --time .t \
	    --time-unit s -a "n=count()" -a "hs=sum(.h)" --emit changes \
	    "$D/hopping.jsonl"
'

# With a cache that holds one window, a second window in the cache flushes
# it: t=1 a, t=2 a (collapsed), t=3 b (2 windows: flush a n 2, b n 1),
# t=4 b (b alone again: n 2, emitted at the end).
test_expect_success 'emit changes: a full cache is flushed' '
	printf "%s\n" "{\"k\":\"a\",\"t\":1}" "{\"k\":\"a\",\"t\":2}" \
	    "{\"k\":\"b\",\"t\":3}" "{\"k\":\"b\",\"t\":4}" >in.jsonl &&
	kagg -k .k -w tumbling:1s --time .t -a "n=count()" --emit changes \
	    --cache-bytes 200 -O value in.jsonl >actual &&
	cat >expect <<-\EOF &&
	{"k":"a","window_start":0,"window_end":1000,"n":2}
	{"k":"b","window_start":0,"window_end":1000,"n":1}
	{"k":"b","window_start":0,"window_end":1000,"n":2}
	EOF
	test_cmp expect actual
'

test_done
