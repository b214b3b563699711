#!/bin/sh
# t0401-kjoin-kafka.sh - kjoin in Kafka mode through kmock: the
# co-partitioning check, time order across topics, 6 partitions against
# the model and against pipe mode, restore after losing the state, --to,
# --global.
#
# Records are produced by kafka-python (a peer client, Java's murmur2
# partitioner, explicit timestamps).  Expected values are worked out by
# hand (in the comments) or by tests/data/kjoin/expect.py, a separate
# Python model of kjoin(1)'s semantics.

. "$(dirname "$0")/lib.sh"

D=$TEST_SRC/data/kjoin
enc() { "$PYTHON" "$D/kpipe-enc.py"; }
model() { "$PYTHON" "$D/expect.py" "$@"; }
produce() { "$PYTHON" "$D/produce.py" "$BROKERS" "$@"; }
norm() { jq -c '{key,timestamp,value}'; }
laststats() { grep '^{"program":"kjoin"' "$1" | tail -n 1; }
# a short session: the mock holds a group's old member until it expires
# a bug must fail a test, not hang it
kjoin() { timeout 120 "$KPIPE_BUILD/bin/kjoin" "$@"; }
KJ="-X session.timeout.ms=6000 -X heartbeat.interval.ms=500 --state-dir st"

if ! kafka_up --topic s:6 --topic t4:4 --topic s1:6 --topic t1:6 \
    --topic s2:6 --topic t2:6 --topic rs:6 --topic rt:6 --topic out:6 \
    --topic sb:1 --topic tb:1 --topic outb:1; then
	test_skip 'kjoin in Kafka mode' 'kmock did not start'
	test_done
fi

test_expect_success 'not co-partitioned (6 and 4 partitions): 78, and the fix' '
	test_expect_code 78 kjoin -b "$BROKERS" --from s -G g-mis --table t4 \
	    --table-key .id -e </dev/null >out 2>err &&
	test_line_count = 0 out &&
	grep -F "(6 partitions)" err &&
	grep -F "(4 partitions)" err &&
	grep -F "krepart --from t4 -G t4-repartition --to t4-6 --partitions 6 -k .id" err &&
	grep -F -- "--global" err
'

# by hand, key 1: table a@100, b@300, tombstone@500, d@700; key 2: x@50.
# stream 1@50: nothing yet; 1@200: a; 1@300: b (the table first on a
# tie); 2@350: x; 1@400: b; 1@600: deleted; 1@800: d
cat >table.json <<-\EOF
{"key":"2","timestamp":50,"value":{"name":"x"}}
{"key":"1","timestamp":100,"value":{"name":"a"}}
{"key":"1","timestamp":300,"value":{"name":"b"}}
{"key":"1","timestamp":500,"value":null}
{"key":"1","timestamp":700,"value":{"name":"d"}}
EOF
cat >stream.json <<-\EOF
{"key":"1","timestamp":50,"value":{"n":1}}
{"key":"1","timestamp":200,"value":{"n":2}}
{"key":"1","timestamp":300,"value":{"n":3}}
{"key":"2","timestamp":350,"value":{"n":4}}
{"key":"1","timestamp":400,"value":{"n":5}}
{"key":"1","timestamp":600,"value":{"n":6}}
{"key":"1","timestamp":800,"value":{"n":7}}
EOF
cat >expect.order <<-\EOF
{"key":"1","timestamp":200,"value":{"n":2,"name":"a"}}
{"key":"1","timestamp":300,"value":{"n":3,"name":"b"}}
{"key":"1","timestamp":400,"value":{"n":5,"name":"b"}}
{"key":"1","timestamp":800,"value":{"n":7,"name":"d"}}
{"key":"2","timestamp":350,"value":{"n":4,"name":"x"}}
EOF

test_expect_success 'time order across topics, whatever order they were produced in' '
	produce t1 table.json && produce s1 stream.json &&
	produce s2 stream.json && produce t2 table.json &&
	kjoin -b "$BROKERS" $KJ --from s1 -G g-order1 --table t1 -e -O json \
	    >out1 &&
	kjoin -b "$BROKERS" $KJ --from s2 -G g-order2 --table t2 -e -O json \
	    >out2 &&
	norm <out1 | sort >sorted1 && norm <out2 | sort >sorted2 &&
	test_cmp expect.order sorted1 &&
	test_cmp expect.order sorted2
'

# 3000 stream records and 400 table records (some tombstones) on 40 keys
# over 6 partitions, the stream produced first
test_expect_success '6 partitions: the output equals the model and pipe mode' '
	model gen 11 3000 400 40 . &&
	produce rs stream.json && produce rt table.json &&
	kjoin -b "$BROKERS" $KJ --from rs -G g-rand --table rt -e -O json \
	    >out &&
	norm <out | sort >got &&
	model table stream.json table.json | norm | sort >expect &&
	test_line_count -gt 1000 got &&
	test_cmp expect got &&
	enc <stream.json >s.kp && enc <table.json >t.kp &&
	kjoin --table file:t.kp -O json <s.kp | norm | sort >pipe &&
	test_cmp pipe got &&
	test -s st/g-rand/kjoin/0/CHECKPOINT
'

# the state is lost; three new stream records after every table record:
# the table is restored from its topic up to the committed offset, and only
# the new records come out, joined with the final table
test_expect_success 'restore after losing the state: the table topic is the changelog' '
	cat >more.json <<-\EOF &&
	{"key":"h1","timestamp":900000,"value":{"id":"h1","n":3000}}
	{"key":"h2","timestamp":900001,"value":{"id":"h2","n":3001}}
	{"key":"h3","timestamp":900002,"value":{"id":"h3","n":3002}}
	EOF
	cat stream.json more.json >all.json &&
	produce rs more.json &&
	rm -rf st/g-rand &&
	kjoin -b "$BROKERS" $KJ --from rs -G g-rand --table rt -e -O json -v \
	    >out 2>err &&
	norm <out | sort >got &&
	model table all.json table.json --left | norm |
	    jq -c "select(.value.n >= 3000)" | sort >expect &&
	test_line_count = 3 expect &&
	test_cmp expect got &&
	laststats err | jq -e ".restored == 400 and .table == 0"
'

test_expect_success 'a second run with the state and the offsets does nothing' '
	kjoin -b "$BROKERS" $KJ --from rs -G g-rand --table rt -e -O json \
	    >out &&
	test_line_count = 0 out
'

# the same join into a topic, read back with kcat (a peer client)
test_expect_success '--to writes the joined records to a topic' '
	kjoin -b "$BROKERS" $KJ --from s1 -G g-to --table t1 -e --to out &&
	kcat -C -b "$BROKERS" -t out -e -q -J |
	    jq -c "{key, timestamp: .ts, value: (.payload | fromjson)}" |
	    sort >got &&
	test_cmp expect.order got
'

# --global: the stream (6 partitions) with the 4-partition table, loaded
# whole before the stream starts: the model with every table record first
test_expect_success '--global needs no co-partitioning' '
	model gen 5 500 100 20 . &&
	produce t4 table.json && produce s stream.json &&
	jq -c ".timestamp = 0" table.json >table0.json &&
	model table stream.json table0.json | norm | sort >expect &&
	kjoin -b "$BROKERS" $KJ --from s -G g-global --table t4 --global -e \
	    -O json >out &&
	norm <out | sort >got &&
	test_line_count -gt 100 got &&
	test_cmp expect got &&
	test -d st/g-global/kjoin/global
'

test_expect_success 'a file table in Kafka mode is loaded whole first' '
	enc <table.json >t.kp &&
	kjoin -b "$BROKERS" $KJ --from s -G g-file --table file:t.kp -e \
	    -O json >out &&
	norm <out | sort >got &&
	test_cmp expect got
'

# The table (3000 keys) is produced before the stream (5000 records), so
# every stream record is later than every table record: the stream's one
# partition queues past kjoin's pause mark (2000 records) while the table
# is read, is paused, and resumes once the table is in.  Every stream
# record must come out joined, once.  Expected: awk's join of the lines.
test_expect_success 'a stream that waits for its table past the pause mark' '
	awk "BEGIN { for (i = 1; i <= 3000; i++)
		printf \"%d\t{\\\"id\\\":%d,\\\"name\\\":\\\"h%d\\\"}\n\", i, i, i }" \
	    >tb.in &&
	awk "BEGIN { for (i = 1; i <= 5000; i++)
		printf \"%d\t{\\\"id\\\":%d,\\\"n\\\":%d}\n\", i % 3000 + 1, i % 3000 + 1, i }" \
	    >sb.in &&
	kcat -P -K "	" -b "$BROKERS" -t tb <tb.in &&
	kcat -P -K "	" -b "$BROKERS" -t sb <sb.in &&
	awk -F "\t" "NR == FNR { t[\$1] = 1; next } (\$1 in t) { print \$1 }" \
	    tb.in sb.in | sort -n >expect &&
	test_line_count = 5000 expect &&
	kjoin -b "$BROKERS" --from sb --table tb -G g-pause $KJ --to outb -e \
	    </dev/null 2>err &&
	kcat -C -e -q -b "$BROKERS" -t outb -f "%s\n" >out &&
	test_line_count = 5000 out &&
	jq -r "select(.name == \"h\" + (.id | tostring)) | .id" <out |
	    sort -n >got &&
	test_cmp expect got &&
	jq -r .n <out | sort -n | uniq | wc -l | grep -qx 5000
'

test_done
