#!/bin/sh
# kdlq: --help, -V, usage errors (64), and the man page: lint-clean, and
# its SYNOPSIS is the usage text, word for word.  No broker is needed.
. "$(dirname "$0")/lib.sh"

test_expect_success '--help prints the usage to stdout and exits 0' '
	kdlq --help >out 2>err &&
	test_line_count = 0 err &&
	head -n 1 out | grep "^usage: kdlq " &&
	kdlq -h >out2 &&
	test_cmp out out2 &&
	kdlq replay --help >out3 &&
	test_cmp out out3
'

test_expect_success '-V prints the version' '
	kdlq -V >out &&
	grep "^kdlq (kpipe) [0-9]" out
'

test_expect_success 'the man page is lint-clean' '
	mandoc -Tlint -W warning "$TOP/man/man1/kdlq.1" >lint 2>&1 &&
	test_line_count = 0 lint
'

test_expect_success 'the man page SYNOPSIS is the usage text' '
	mandoc -Tascii -O width=200 "$TOP/man/man1/kdlq.1" |
	    col -bx | sed -n "/^SYNOPSIS/,/^DESCRIPTION/p" |
	    sed "1d;\$d" | tr -s " \t\n" "\n\n\n" | sed "/^\$/d" >man.words &&
	kdlq --help | sed "s/^usage://" | tr -s " \n" "\n\n" |
	    sed "/^\$/d" >usage.words &&
	test_line_count -gt 50 usage.words &&
	test_cmp man.words usage.words
'

test_expect_success 'usage errors exit 64' '
	test_expect_code 64 kdlq </dev/null 2>err &&
	grep "give a dead-letter route" err &&
	test_expect_code 64 kdlq --no-such-option </dev/null 2>err &&
	test_expect_code 64 kdlq --dlq d.jsonl extra </dev/null 2>err &&
	grep "unexpected argument" err &&
	test_expect_code 64 kdlq --dlq d.jsonl --from t </dev/null 2>err &&
	grep "no brokers" err &&
	test_expect_code 64 kdlq -b 127.0.0.1:1 --dlq d.jsonl --from t \
	    </dev/null 2>err &&
	grep "needs a consumer group" err &&
	test_expect_code 64 kdlq --dlq d.jsonl -e </dev/null 2>err &&
	test_expect_code 64 kdlq --dlq d.jsonl --retry-max -1 </dev/null &&
	test_expect_code 64 kdlq --dlq d.jsonl --require "..x" </dev/null &&
	test_expect_code 64 kdlq --dlq d.jsonl -O csv </dev/null &&
	test_expect_code 64 kdlq --dlq topic:t </dev/null 2>err &&
	grep "no brokers for dead-letter topic" err &&
	test_expect_code 64 kdlq replay </dev/null 2>err &&
	grep "give the dead letters to read" err &&
	test_expect_code 64 kdlq replay --from d.jsonl --schema s.json \
	    </dev/null &&
	test_expect_code 64 kdlq replay --from d.jsonl --reason "(" \
	    </dev/null 2>err &&
	grep "invalid --reason" err &&
	test_expect_code 64 kdlq stats --from d.jsonl --to - </dev/null &&
	test_expect_code 64 kdlq --dlq d.jsonl --reason x </dev/null
'

test_expect_success 'replay without brokers needs --to -' '
	printf "{\"reason\":\"r\",\"value\":\"v\"}\n" >d.jsonl &&
	test_expect_code 64 kdlq replay --from d.jsonl 2>err &&
	grep "no brokers to replay to" err &&
	kdlq replay --from d.jsonl --to - -O raw >out &&
	echo v >expect &&
	test_cmp expect out
'

test_expect_success 'a line that is not a dead letter: warned, skipped, 65' '
	printf "{\"reason\":\"r\",\"value\":\"v\"}\nnot json\n{\"x\":1}\n" \
	    >d2.jsonl &&
	test_expect_code 65 kdlq replay --from d2.jsonl --to - -O raw \
	    >out 2>err &&
	test_cmp expect out &&
	test_line_count = 2 err &&
	grep "line 3: not a dead letter: no \"reason\" (skipped)" err &&
	test_expect_code 65 kdlq stats --from d2.jsonl >stats &&
	head -n 1 stats | grep "^total.1$"
'

test_done
