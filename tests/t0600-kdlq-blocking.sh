#!/bin/sh
# kdlq and blocking errors: kmock takes the broker that leads the output
# partition down (control command "down 2") while kdlq routes a topic.
# Deliveries fail, kdlq retries with backoff (logged, counted in --stats),
# and once the broker is back every record is delivered: none lost, none
# skipped, none out of order (a record may be written twice: the last copy
# of each is in input order).  With --retry-max, kdlq gives up with 75 and
# commits nothing past the record it could not deliver: the next run
# routes the whole input again.
#
# The input is 300 records made by awk: {"id":N}, and "bad N" (not JSON)
# for every tenth N; so 270 good records in order and 30 dead letters.
. "$(dirname "$0")/lib.sh"

if [ -n "${KPIPE_TEST_BROKERS:-}" ]; then
	test_skip 'blocking errors' 'needs kmock to take a broker down'
	test_done
fi

IN=$(unique_topic kdlq-in)
OUT=$(unique_topic kdlq-out)
OUT2=$(unique_topic kdlq-out2)
DLQ=$(unique_topic kdlq-dlq)
G=$(unique_topic kdlq-g)
G2=$(unique_topic kdlq-g2)
CTL=$TRASH/kmock.ctl
# a short session: see t0600-kdlq-kafka.sh
X="-X session.timeout.ms=6000 -X heartbeat.interval.ms=500"

kafka_up --control "$CTL" --topic "$IN:1" --topic "$OUT:1" --topic "$OUT2:1" \
    --topic "$DLQ:1" || exit 1

# ctl COMMAND: send a control command to kmock, wait for its "ok"
ctl() {
	n=$(wc -l <"$TRASH/kmock.out")
	echo "$*" >"$CTL" || return 1
	i=0
	while [ "$(wc -l <"$TRASH/kmock.out")" -le "$n" ]; do
		i=$((i + 1))
		if [ $i -gt 200 ]; then
			echo "kmock did not answer '$*'" >&2
			return 1
		fi
		sleep 0.05
	done
	tail -n 1 "$TRASH/kmock.out" | grep -qx ok || {
		echo "kmock: $*: $(tail -n 1 "$TRASH/kmock.out")" >&2
		return 1
	}
}

# wait_for PATTERN FILE SECONDS: until grep finds PATTERN in FILE
wait_for() {
	i=0
	until grep -q "$1" "$2" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt $(($3 * 10)) ]; then
			echo "no '$1' in $2 after $3 s" >&2
			cat "$2" >&2
			return 1
		fi
		sleep 0.1
	done
}

# check_out TOPIC: every good id on TOPIC, the last copies in order
check_out() {
	"$PYTHON" - "$BROKERS" "$1" <<-\EOF
	import json, sys
	from kafka import KafkaConsumer
	c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1],
	    auto_offset_reset="earliest", consumer_timeout_ms=3000)
	got = [json.loads(m.value)["id"] for m in c]
	want = [n for n in range(1, 301) if n % 10]
	last = {n: i for i, n in enumerate(got)}
	order = sorted(last, key=last.get)
	assert order == want, (len(got), order[:20])
	print("# %d records on %s for %d good ones" % (len(got), sys.argv[2],
	    len(want)))
	EOF
}

# check_dlq TOPIC: the 30 bad records, each at least once
check_dlq() {
	kcat -b "$BROKERS" -C -t "$1" -e -f '%s\n' 2>/dev/null | sort -u >dead &&
	awk 'BEGIN { for (n = 10; n <= 300; n += 10) print "bad " n }' |
	    sort >expect &&
	test_cmp expect dead
}

test_expect_success 'set up: pin leaders, produce the input with kcat' '
	ctl leader "$IN" 0 1 &&
	ctl leader "$OUT" 0 2 &&
	ctl leader "$OUT2" 0 2 &&
	ctl leader "$DLQ" 0 3 &&
	ctl coordinator group "$G" 1 &&
	ctl coordinator group "$G2" 1 &&
	awk "BEGIN { for (n = 1; n <= 300; n++)
		if (n % 10) printf \"{\\\"id\\\":%d}\\n\", n
		else print \"bad \" n }" >in.txt &&
	kcat -b "$BROKERS" -P -t "$IN" -p 0 <in.txt &&
	test_line_count = 300 in.txt
'

test_expect_success 'output broker down, then up: retried, nothing lost' '
	ctl down 2 &&
	kdlq $X -b "$BROKERS" --from "$IN" -G "$G" --to "$OUT" --dlq "$DLQ" \
	    -e --stats 1 -X message.timeout.ms=1000 --retry-backoff 100 \
	    --retry-backoff-max 400 2>err &
	pid=$! &&
	wait_for "\"in\":300" err 30 &&
	wait_for "cannot deliver to topic .$OUT.: .*; retry 1 in" err 20 &&
	ctl up 2 &&
	wait $pid &&
	tail -n 1 err >final &&
	grep "\"in\":300,\"good\":270,\"dead\":30," final &&
	grep "\"queued\":0}" final &&
	retries=$(sed "s/.*\"retries\":\([0-9]*\).*/\1/" final) &&
	say "retries: $retries" &&
	test "$retries" -ge 1 &&
	check_out "$OUT" &&
	check_dlq "$DLQ"
'

test_expect_success 'retries exhausted: exit 75, nothing committed past it' '
	ctl down 2 &&
	test_expect_code 75 kdlq $X -b "$BROKERS" --from "$IN" -G "$G2" \
	    --to "$OUT2" --dlq "$DLQ" -e --stats 60 -X message.timeout.ms=500 \
	    --retry-max 2 --retry-backoff 50 2>err2 &&
	grep "cannot deliver to topic .$OUT2.: .*; retry 2 in" err2 &&
	grep "giving up after 2 retries" err2 &&
	grep "their offsets are not committed" err2 &&
	tail -n 1 err2 | grep "\"queued\":300}" &&
	ctl up 2 &&
	kdlq $X -b "$BROKERS" --from "$IN" -G "$G2" --to "$OUT2" \
	    --dlq "$DLQ" -e --stats 60 2>err3 &&
	tail -n 1 err3 | grep "\"in\":300,\"good\":270,\"dead\":30," &&
	check_out "$OUT2"
'

test_done
