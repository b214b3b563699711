#!/bin/sh
# A reader that goes away is a quiet end (DESIGN.md: "A closed stdout
# (SIGPIPE) ends quietly"): `prog ... | head -1` (here head -c 1) exits 0 and says nothing,
# for every pipe mode of every program that writes records to standard
# output.  kdlq used to exit 74 here (its last flush met EPIPE again and
# took it for an I/O error).  The output is made much larger than a pipe
# holds (64 KiB), so the write side must meet the closed pipe.
. "$(dirname "$0")/lib.sh"

# closed NAME CMD...: run CMD with in.jsonl on stdin into `head -c 1`
# (binary output has no lines); its status goes to NAME.rc, its stderr
# to NAME.err
closed() {
	_c=$1
	shift
	{ "$@" <in.jsonl 2>"$_c.err"; echo $? >"$_c.rc"; } |
	    head -c 1 >"$_c.out"
	echo 0 >zero
	test_cmp zero "$_c.rc" &&
	test "$(wc -c <"$_c.out")" -eq 1 &&
	test_cmp /dev/null "$_c.err"
}

test_expect_success 'input: 200000 records, a 1000-row table, dead letters' '
	awk "BEGIN { for (i = 1; i <= 200000; i++)
	    printf \"{\\\"id\\\":%d,\\\"host\\\":\\\"h%d\\\",\\\"ts\\\":%d}\n\",
	    i % 1000, i % 1000, 1700000000 + i }" >in.jsonl &&
	awk "BEGIN { for (i = 0; i < 1000; i++)
	    printf \"{\\\"id\\\":%d,\\\"name\\\":\\\"n%d\\\"}\n\", i, i }" \
	    >table.jsonl &&
	awk "BEGIN { for (i = 1; i <= 100000; i++) print \"oops\", i }" |
	    kdlq --dlq dead.jsonl >/dev/null &&
	test_line_count = 100000 dead.jsonl
'

test_expect_success 'kdlq | head -1: 0, quiet' '
	closed kdlq kdlq --dlq dlq.jsonl &&
	closed kdlq-json kdlq --dlq dlq.jsonl -O json
'

test_expect_success 'kdlq replay --to - | head -1 and kdlq stats | head -1: 0, quiet' '
	closed replay kdlq replay --from dead.jsonl --to - &&
	closed stats kdlq stats --from dead.jsonl
'

test_expect_success 'krepart --dry-run | head -1: 0, quiet' '
	closed krepart krepart --dry-run -n 4 -k .id
'

test_expect_success 'kagg | head -1: 0, quiet' '
	closed kagg kagg -k .id -a "n=count(.id)" -w none --emit changes &&
	closed kagg-json kagg -k .id -a "n=count(.id)" -w none \
	    --emit changes -O json
'

test_expect_success 'kmap | head -1: 0, quiet' '
	closed kmap kmap .value &&
	closed kmap-json kmap -O json .value
'

test_expect_success 'kjoin | head -1: 0, quiet' '
	closed kjoin kjoin --table file:table.jsonl --table-key .id -k .id &&
	closed kjoin-json kjoin --table file:table.jsonl --table-key .id \
	    -k .id -O json
'

test_expect_success 'ksource | head -1: 0, quiet' '
	closed ksource ksource &&
	closed ksource-json ksource -O json
'

test_done
