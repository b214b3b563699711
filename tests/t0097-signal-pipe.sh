#!/bin/sh
# SIGINT or SIGTERM while a program waits on a slow pipe ends its input
# there: what was read is processed and written (kagg emits its open
# windows), and the program exits 0 (the SIGNALS sections of the man
# pages).  Five programs used to exit 65 with "read error: Interrupted
# system call", and kagg lost its open window (found by a new user's
# trial).
#
# Input: 4 records, one every 0.2 s, then a pipe that stays open; the
# signal comes at 1.5 s, when all 4 are read.  Expected values by hand:
# 4 records out of each filter; kagg's 1 s tumbling windows of ts 500,
# 1000, 1500, 2000 are [0,1000) n=1, [1000,2000) n=2, [2000,3000) n=1.
. "$(dirname "$0")/lib.sh"

# slow SIG NAME CMD...: CMD reads the slow pipe, gets SIG at 1.5 s; its
# stdout goes to NAME.out, stderr to NAME.err, status to NAME.rc
slow() {
	_sig=$1 _n=$2
	shift 2
	rm -f fifo
	mkfifo fifo || return 1
	{ for i in 1 2 3 4; do
		echo "{\"id\":\"a\",\"ts\":$((i * 500))}"; sleep 0.2
	  done; sleep 4; } >fifo &
	_w=$!
	# exec: the signal must reach the program, not a shell around it
	(exec "$@" <fifo >"$_n.out" 2>"$_n.err") &
	_p=$!
	sleep 1.5
	kill -"$_sig" $_p
	wait $_p
	echo $? >"$_n.rc"
	kill $_w 2>/dev/null
	wait $_w 2>/dev/null
	echo 0 >zero
	test_cmp zero "$_n.rc" && test_cmp /dev/null "$_n.err"
}

test_expect_success 'kagg: SIGINT emits the open window, exit 0' '
	slow INT kagg kagg -k .id -w tumbling:1s --time .ts -a "n=count()" \
	    -O value &&
	cat >expect <<-\EOT &&
	{"id":"a","window_start":0,"window_end":1000,"n":1}
	{"id":"a","window_start":1000,"window_end":2000,"n":2}
	{"id":"a","window_start":2000,"window_end":3000,"n":1}
	EOT
	test_cmp expect kagg.out
'

test_expect_success 'kagg: SIGTERM the same' '
	slow TERM kagg-t kagg -k .id -w tumbling:1s --time .ts -a "n=count()" \
	    -O value &&
	test_cmp expect kagg-t.out
'

test_expect_success 'ksource, ksink, kmap, krepart --dry-run, kdlq: 4 records, exit 0' '
	slow INT ksource ksource -O value &&
	slow INT ksink ksink -O value &&
	slow INT kmap kmap -O value . &&
	slow TERM krepart krepart --dry-run -n 4 -k .id &&
	slow INT kdlq kdlq --dlq dead.jsonl -O value &&
	test_line_count = 4 ksource.out &&
	test_line_count = 4 ksink.out &&
	test_line_count = 4 kmap.out &&
	test_line_count = 4 krepart.out &&
	test_line_count = 4 kdlq.out
'

test_done
