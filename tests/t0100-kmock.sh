#!/bin/sh
# t0100-kmock: the embedded mock cluster, checked with peers (kcat,
# python3-kafka) and by hand-worked values.
#
# - The bootstrap list has one 127.0.0.1:PORT entry per broker (3 by
#   default), the broker ids and addresses as kcat -L reports them.
# - --topic NAME:6 gives 6 partitions (0..5) with min(3, brokers) = 3
#   replicas; a topic nobody created gets 4, the constant of librdkafka
#   2.0.2's rd_kafka_mock_cluster_new().
# - Five lines produced by kcat to partition 2 of a fresh topic come back
#   at offsets 0..4 through kcat and through python3-kafka, and three keyed
#   records from python3-kafka come back through kcat.
# - Retention, from rdkafka_mock.c: max_size = 5 MiB = 5242880 bytes, and a
#   batch is counted in before the oldest are dropped.  Twelve records of
#   600000 bytes, one per batch (kcat's batch.size is 1000000 bytes), are
#   each about 600070 bytes: 8 of them (4800560) fit, 9 (5400630) do not,
#   so offsets 12 - 8 = 4 .. 11 remain.
# - Control commands (FIFO and stdin) answer "ok" or "error: ...": "down 2"
#   makes broker 2's port refuse connections, "up 2" opens it again.
# - SIGTERM and SIGINT end kmock with 0 and remove its pid file; --help
#   exits 0, usage errors 64 (sysexits EX_USAGE).

. "$(dirname "$0")/lib.sh"

# these tests are of kmock itself, never of an external cluster
unset KPIPE_TEST_BROKERS

# ctl CMD...: send one command through the control FIFO; print the answer
ctl() {
	n=$(wc -l <"$TRASH/kmock.out")
	timeout 5 sh -c 'echo "$1" >"$2"' _ "$*" "$TRASH/ctl" || {
		echo "ctl: cannot write '$*' to the fifo" >&2
		return 1
	}
	i=0
	while [ "$(wc -l <"$TRASH/kmock.out")" -le "$n" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "ctl: no answer to '$*'" >&2
			return 1
		fi
		sleep 0.05
	done
	sed -n "$((n + 1))p" "$TRASH/kmock.out"
}

# wait_lines N FILE: wait up to 5 s for FILE to have N lines
wait_lines() {
	i=0
	while [ "$(wc -l <"$2" 2>/dev/null || echo 0)" -lt "$1" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "wait_lines: $2 has not $1 lines" >&2
			return 1
		fi
		sleep 0.05
	done
}

# connects HOST:PORT: whether a TCP connection to HOST:PORT is accepted
connects() {
	"$PYTHON" -c 'import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
socket.create_connection((h, int(p)), 2).close()' "$1" 2>/dev/null
}

T=$(unique_topic t)
R=$(unique_topic r)
kafka_up --topic "$T:6" --topic "$R:1" --control "$TRASH/ctl" || {
	echo 'Bail out! kmock did not start'
	exit 1
}

test_expect_success 'kmock prints a bootstrap list of 3 loopback brokers' '
	echo "$BROKERS" | tr , "\n" >list &&
	test_line_count = 3 list &&
	! grep -v "^127\.0\.0\.1:[0-9][0-9]*\$" list &&
	test "$(sort -u list | wc -l)" -eq 3 &&
	test "$(cat "$TRASH/kmock.pid")" = "$KMOCK_PID"
'

test_expect_success 'kcat -L: the 3 brokers of the bootstrap list, ids 1..3' '
	kcat -L -b "$BROKERS" -t "$T" >meta &&
	sed -n "s/^  broker \([0-9]*\) at \(.*\)\$/\1 \2/p" meta | sort >got &&
	echo "$BROKERS" | tr , "\n" | awk "{ print NR, \$0 }" | sort >expect &&
	test_cmp expect got
'

test_expect_success '--topic NAME:6 shows 6 partitions of 3 replicas' '
	kcat -L -b "$BROKERS" -t "$T" >meta &&
	grep "topic \"$T\" with 6 partitions:" meta &&
	sed -n "s/^ *partition \([0-9]*\), leader [0-9]*, replicas: \([0-9,]*\),.*/\1 \2/p" meta |
	    awk "{ print \$1, split(\$2, r, \",\") }" >got &&
	printf "0 3\n1 3\n2 3\n3 3\n4 3\n5 3\n" >expect &&
	test_cmp expect got
'

test_expect_success 'a topic nobody created is auto-created with 4 partitions' '
	A=$(unique_topic auto) &&
	kcat -L -b "$BROKERS" -t "$A" >meta &&
	grep "topic \"$A\" with 4 partitions:" meta
'

test_expect_success 'kcat produces 5 records to partition 2 and reads them back' '
	printf "one\ntwo\nthree\nfour\nfive\n" |
	    kcat -P -b "$BROKERS" -t "$T" -p 2 &&
	kcat -C -b "$BROKERS" -t "$T" -p 2 -o beginning -e -q \
	    -f "%t %p %o %s\n" >got &&
	cat >expect <<-EOF &&
	$T 2 0 one
	$T 2 1 two
	$T 2 2 three
	$T 2 3 four
	$T 2 4 five
	EOF
	test_cmp expect got
'

test_expect_success 'python3-kafka reads the kcat records and writes its own' '
	"$PYTHON" - "$BROKERS" "$T" >got <<-\EOF &&
	import sys
	from kafka import KafkaConsumer, KafkaProducer, TopicPartition
	servers, topic = sys.argv[1].split(","), sys.argv[2]
	p = KafkaProducer(bootstrap_servers=servers, api_version=(2, 0, 0))
	for k, v in ((b"k1", b"a"), (b"k2", b"b"), (b"k3", b"c")):
	    p.send(topic, key=k, value=v, partition=4).get(timeout=10)
	p.close()
	c = KafkaConsumer(bootstrap_servers=servers, api_version=(2, 0, 0),
	                  auto_offset_reset="earliest", consumer_timeout_ms=10000)
	c.assign([TopicPartition(topic, 2)])
	n = 0
	for m in c:
	    print(m.partition, m.offset, m.value.decode())
	    n += 1
	    if n == 5:
	        break
	c.close()
	EOF
	printf "2 0 one\n2 1 two\n2 2 three\n2 3 four\n2 4 five\n" >expect &&
	test_cmp expect got &&
	kcat -C -b "$BROKERS" -t "$T" -p 4 -o beginning -e -q \
	    -f "%p %o %k=%s\n" >got &&
	printf "4 0 k1=a\n4 1 k2=b\n4 2 k3=c\n" >expect &&
	test_cmp expect got
'

test_expect_success 'a partition keeps 5 MiB: of 12 600000-byte batches, 4..11' '
	"$PYTHON" -c "print(\"x\" * 600000)" >rec &&
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do cat rec; done |
	    kcat -P -b "$BROKERS" -t "$R" -p 0 &&
	kcat -C -b "$BROKERS" -t "$R" -p 0 -o beginning -e -q \
	    -f "%o %S\n" >got &&
	printf "%s 600000\n" 4 5 6 7 8 9 10 11 >expect &&
	test_cmp expect got
'

test_expect_success 'control fifo: down 2 refuses connections, up 2 accepts' '
	kcat -L -b "$BROKERS" -t "$T" >meta &&
	B2=$(sed -n "s/^  broker 2 at \(.*\)\$/\1/p" meta) &&
	test -n "$B2" &&
	connects "$B2" &&
	test "$(ctl down 2)" = ok &&
	! connects "$B2" &&
	test "$(ctl up 2)" = ok &&
	connects "$B2"
'

test_expect_success 'control fifo: every command answers one line' '
	ctl frob 1 >got &&
	ctl down 99 >>got &&
	ctl down >>got &&
	ctl rtt 1 x >>got &&
	ctl leader "$T" 0 3 >>got &&
	ctl coordinator group g1 1 >>got &&
	ctl coordinator txn x 1 >>got &&
	ctl rtt 3 0 >>got &&
	cat >expect <<-EOF &&
	error: unknown command '\''frob'\''
	error: Broker: Broker not available
	error: usage: down BROKER_ID
	error: rtt '\''x'\'' is invalid
	ok
	ok
	error: coordinator type '\''txn'\'' is not transaction or group
	ok
	EOF
	test_cmp expect got &&
	kill -0 "$KMOCK_PID"
'

test_expect_success 'control fifo: topic NAME 3 creates a topic, once' '
	N=$(unique_topic new) &&
	test "$(ctl topic "$N" 3)" = ok &&
	ctl topic "$N" 3 | grep "^error: " &&
	kcat -L -b "$BROKERS" -t "$N" >meta &&
	grep "topic \"$N\" with 3 partitions:" meta
'

test_expect_success 'an idle kmock uses (almost) no CPU' '
	t0=$(awk "{ print \$14 + \$15 }" /proc/$KMOCK_PID/stat) &&
	sleep 1 &&
	t1=$(awk "{ print \$14 + \$15 }" /proc/$KMOCK_PID/stat) &&
	echo "clock ticks in 1 s: $((t1 - t0))" >&2 &&
	test $((t1 - t0)) -le 5
'

test_expect_success 'commands on stdin; SIGTERM ends kmock with 0' '
	printf "down 1\nup 1\n\n# a comment\nbogus\n" |
	    kmock --brokers 1 --pid-file k.pid >out 2>err &
	pid=$!
	wait_lines 4 out
	kill -TERM $pid
	wait $pid
	rc=$?
	test $rc -eq 0 &&
	head -n 1 out | grep "^127\.0\.0\.1:[0-9][0-9]*\$" &&
	sed 1d out >got &&
	printf "ok\nok\nerror: unknown command '\''bogus'\''\n" >expect &&
	test_cmp expect got &&
	! test -e k.pid &&
	! test -s err
'

test_expect_success 'SIGINT ends kmock with 0' '
	kmock --brokers 1 >out 2>err </dev/null &
	pid=$!
	wait_lines 1 out
	kill -INT $pid
	wait $pid
	rc=$?
	test $rc -eq 0 && ! test -s err
'

test_expect_success '--help prints the usage to stdout and exits 0' '
	kmock --help >out 2>err &&
	head -n 1 out | grep "^usage: kmock " &&
	grep -e "--topic NAME\[:PARTITIONS\]" out &&
	! test -s err
'

test_expect_success 'usage errors exit 64 and say why' '
	test_expect_code 64 timeout 5 kmock --bogus </dev/null &&
	test_expect_code 64 timeout 5 kmock --brokers 0 </dev/null &&
	test_expect_code 64 timeout 5 kmock --topic t:x </dev/null &&
	test_expect_code 64 timeout 5 kmock --topic "a b:3" </dev/null &&
	test_expect_code 64 timeout 5 kmock extra </dev/null &&
	test_expect_code 64 timeout 5 kmock --brokers 3x </dev/null 2>err &&
	head -n 1 err >got &&
	echo "kmock: broker count '\''3x'\'' is invalid" >expect &&
	test_cmp expect got
'

test_done
