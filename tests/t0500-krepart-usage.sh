#!/bin/sh
# krepart: --help, usage errors (64), and the man page: lint-clean, and
# its SYNOPSIS is the usage text.  No broker is needed.
. "$(dirname "$0")/lib.sh"

test_expect_success '--help prints the usage to stdout and exits 0' '
	krepart --help >out 2>err &&
	test_line_count = 0 err &&
	head -n 1 out | grep "^usage: krepart " &&
	krepart -h >out2 &&
	test_cmp out out2
'

test_expect_success '-V prints the version' '
	krepart -V >out &&
	grep "^krepart (kpipe) [0-9]" out
'

test_expect_success 'the man page is lint-clean' '
	mandoc -Tlint -W warning "$TOP/man/man1/krepart.1"
'

# The SYNOPSIS as mandoc prints it, and the usage, as word lists.
test_expect_success 'the man page SYNOPSIS is the usage text' '
	MANWIDTH=200 mandoc -Tascii -O width=200 "$TOP/man/man1/krepart.1" |
	    col -bx | sed -n "/^SYNOPSIS/,/^DESCRIPTION/p" |
	    sed "1d;\$d" | tr -s " \t\n" "\n\n\n" | sed "/^\$/d" >man.words &&
	krepart --help | sed "s/^usage://" | tr -s " \n" "\n\n" |
	    sed "/^\$/d" >usage.words &&
	test_line_count -gt 40 usage.words &&
	test_cmp man.words usage.words
'

test_expect_success 'usage errors exit 64' '
	test_expect_code 64 krepart 2>err &&
	grep "give --to TOPIC, --dry-run or --check TOPIC" err &&
	test_expect_code 64 krepart --dry-run --to t -n 3 </dev/null &&
	test_expect_code 64 krepart --dry-run </dev/null 2>err &&
	grep "needs -n" err &&
	test_expect_code 64 krepart --dry-run -n 0 </dev/null &&
	test_expect_code 64 krepart --dry-run -n x </dev/null &&
	test_expect_code 64 krepart --dry-run -n 3 --partitioner java </dev/null 2>err &&
	grep "unknown partitioner .java." err &&
	test_expect_code 64 krepart --dry-run -n 3 -k ".a[" </dev/null &&
	test_expect_code 64 krepart --dry-run -n 3 -I yaml </dev/null &&
	test_expect_code 64 krepart --dry-run -n 3 --seed -1 </dev/null &&
	test_expect_code 64 krepart --dry-run -n 3 --from t -G g </dev/null &&
	test_expect_code 64 krepart --to t 2>err &&
	grep "no brokers" err &&
	test_expect_code 64 krepart -b localhost:1 --to t --from s 2>err &&
	grep "go together" err &&
	test_expect_code 64 krepart -b localhost:1 --to t -e 2>err &&
	test_expect_code 64 krepart -b localhost:1 --from s,t -G g --to t 2>err &&
	grep "would read its own output" err &&
	test_expect_code 64 krepart -b localhost:1 --to t --from s -G g f.jsonl &&
	test_expect_code 64 krepart -b localhost:1 --check t -n 3 &&
	test_expect_code 64 krepart -b localhost:1 --check t f.jsonl &&
	test_expect_code 64 krepart --bogus 2>err &&
	grep "^usage: krepart" err
'

test_expect_success 'crc32 is another name for consistent' '
	echo "{\"k\":\"TT0124\"}" >in.jsonl &&
	krepart --dry-run -n 15 -k .k --partitioner crc32 in.jsonl >a &&
	krepart --dry-run -n 15 -k .k --partitioner consistent in.jsonl >b &&
	test_cmp a b
'

test_expect_success 'a missing input file exits 66' '
	test_expect_code 66 krepart --dry-run -n 3 no-such-file 2>err &&
	grep "cannot open .no-such-file." err
'

test_done
