#!/bin/sh
# t0402-kjoin-window.sh - kjoin in Kafka mode through kmock: stream-stream
# joins over 6 partitions, their buffers across a restart, and a kill -9
# in the middle of a stream-table join.
#
# Records are produced by kafka-python (Java's murmur2 partitioner,
# explicit timestamps).  Expected values are worked out by hand (in the
# comments) or by tests/data/kjoin/expect.py, a separate Python model of
# kjoin(1)'s semantics.

. "$(dirname "$0")/lib.sh"

D=$TEST_SRC/data/kjoin
model() { "$PYTHON" "$D/expect.py" "$@"; }
produce() { "$PYTHON" "$D/produce.py" "$BROKERS" "$@"; }
norm() { jq -c '{key,timestamp,value}'; }
fromkcat() {
	kcat -C -b "$BROKERS" -t "$1" -e -q -J |
	    jq -c '{key, timestamp: .ts, value: (.payload | fromjson)}'
}
# a bug must fail a test, not hang it
kjoin() { timeout 120 "$KPIPE_BUILD/bin/kjoin" "$@"; }
KJ="-X session.timeout.ms=6000 -X heartbeat.interval.ms=500 --state-dir st"

if ! kafka_up --topic v:6 --topic c:6 --topic v2:6 --topic c2:6 \
    --topic g-win-kjoin-changelog:6 --topic g-win2-kjoin-changelog:6 \
    --topic ks:6 --topic kt:6 --topic kout:6; then
	test_skip 'kjoin stream-stream joins in Kafka mode' 'kmock did not start'
	test_done
fi

# by hand: u1 clicks 10 s after its view: joined; u2 11 s after: its view
# comes out alone (--left) once its partition's stream time, 11000, passes
# 0 + 10000.  u3's view at 50 s has no click yet and stays buffered: -e
# does not close windows.
test_expect_success 'stream-stream: a click within 10 s of a view joins, 11 s not' '
	cat >views.json <<-\EOF &&
	{"key":"u1","timestamp":0,"value":{"view":"home"}}
	{"key":"u2","timestamp":0,"value":{"view":"cart"}}
	{"key":"u3","timestamp":50000,"value":{"view":"shop"}}
	EOF
	cat >clicks.json <<-\EOF &&
	{"key":"u1","timestamp":10000,"value":{"click":"buy"}}
	{"key":"u2","timestamp":11000,"value":{"click":"pay"}}
	EOF
	cat >expect <<-\EOF &&
	{"key":"u1","timestamp":10000,"value":{"view":"home","click":"buy"}}
	{"key":"u2","timestamp":0,"value":{"view":"cart"}}
	EOF
	produce v views.json && produce c clicks.json &&
	kjoin -b "$BROKERS" $KJ --from v -G g-win --join c --within 10s --left \
	    -e -O json >out &&
	norm <out | sort >got &&
	test_cmp expect got
'

# by hand: the click at 55 s joins the view at 50 s that the first run
# left in the partition's store
test_expect_success 'stream-stream: buffered records survive a restart' '
	echo "{\"key\":\"u3\",\"timestamp\":55000,\"value\":{\"click\":\"go\"}}" \
	    >more.json &&
	produce c more.json &&
	echo "{\"key\":\"u3\",\"timestamp\":55000,\"value\":{\"view\":\"shop\",\"click\":\"go\"}}" \
	    >expect &&
	kjoin -b "$BROKERS" $KJ --from v -G g-win --join c --within 10s --left \
	    -e -O json >out &&
	norm <out >got &&
	test_cmp expect got
'

# 1000 views and 1000 clicks on 30 users, in time order: every pair of one
# user within 10 s joins, as the model says
test_expect_success 'stream-stream: 6 partitions, random streams equal the model' '
	model genw 9 1000 30 . 0 &&
	produce v2 left.json && produce c2 right.json &&
	model window left.json right.json 10000 | norm | sort >expect &&
	kjoin -b "$BROKERS" $KJ --from v2 -G g-win2 --join c2 --within 10s -e \
	    -O json >out &&
	norm <out | sort >got &&
	test_line_count -gt 100 got &&
	test_cmp expect got
'

# The table is produced first; the stream is produced slowly while kjoin
# runs (--max-idle keeps the table from running ahead of the stream); kjoin
# is killed with SIGKILL after some output, and run again to the end.  The
# distinct outputs are the model's; repeats come only from records replayed
# after the last commit (at least once).
test_expect_success 'kill -9 and restart: the distinct outputs equal the model' '
	model gen 13 300 100 20 . || exit 1
	model table stream.json table.json | norm | sort >expect || exit 1
	produce kt table.json || exit 1
	command kjoin -b "$BROKERS" $KJ --from ks -G g-crash --table kt \
	    --to kout --max-idle 30000 -vv 2>err1 &
	pid=$!
	i=0
	while ! grep -q "^kjoin: partition 5:" err1 && [ $i -lt 100 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	"$PYTHON" "$D/produce.py" "$BROKERS" ks stream.json 20 &
	ppid=$!
	i=0
	while [ "$(kcat -C -b "$BROKERS" -t kout -e -q | wc -l)" -lt 50 ] &&
	    [ $i -lt 100 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	before=$(kcat -C -b "$BROKERS" -t kout -e -q | wc -l)
	kill -9 $pid
	wait $ppid || exit 1
	echo "killed after $before outputs" >note
	test "$before" -ge 50 &&
	kjoin -b "$BROKERS" $KJ --from ks -G g-crash --table kt --to kout -e \
	    2>err2 &&
	fromkcat kout | sort >all &&
	sort -u all >got &&
	test_cmp expect got &&
	echo "$(wc -l <all) outputs, $(wc -l <got) distinct:" \
	    "$(($(wc -l <all) - $(wc -l <got))) repeated after the kill" >>note
'
[ -f note ] && while read -r l; do say "$l"; done <note

test_done
