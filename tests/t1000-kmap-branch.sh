#!/bin/sh
# kmap --branch in pipe mode: records go to the first branch whose
# predicate is true, branch outputs to files, the rest to stdout or to
# --default.  Expected outputs come from jq -c and awk on the same input.
. "$(dirname "$0")/lib.sh"

# 500 orders, quantity 0..199, fixed seed; some without a quantity
awk 'BEGIN {
	srand(11);
	for (i = 1; i <= 500; i++) {
		if (i % 50 == 0)
			printf "{\"id\":%d,\"note\":\"no quantity\"}\n", i;
		else
			printf "{\"id\":%d,\"quantity\":%d,\"tag\":%s}\n", i,
			    int(rand() * 200), i % 3 ? "\"t" i % 3 "\"" : "null";
	}
}' >orders.jsonl

BR='--branch big=.quantity>=100 --to big=file:big.out
    --branch mid=.quantity>=10 --to mid=file:mid.out
    --branch small=.quantity>0 --to small=file:small.out'

test_expect_success 'three branches and the rest: counts add up to the input' '
	kmap -O value $BR . orders.jsonl >rest.out &&
	n=$(cat big.out mid.out small.out rest.out | wc -l) &&
	test "$n" -eq 500 &&
	awk -F"\"quantity\":" "NF > 1 { split(\$2, a, \",\"); q = a[1] + 0;
		if (q >= 100) b++; else if (q >= 10) m++; else if (q > 0) s++;
		else r++; next } { r++ }
		END { print b; print m; print s; print r }" orders.jsonl >expect &&
	for f in big mid small rest; do wc -l <$f.out; done | tr -d " " >actual &&
	test_cmp expect actual
'

test_expect_success 'each branch holds what jq selects for it, in input order' '
	jq -c "select(.quantity >= 100)" orders.jsonl >expect &&
	test_cmp expect big.out &&
	jq -c "select(.quantity < 100 and .quantity >= 10)" orders.jsonl >expect &&
	test_cmp expect mid.out &&
	jq -c "select(.quantity < 10 and .quantity > 0)" orders.jsonl >expect &&
	test_cmp expect small.out &&
	jq -c "select((.quantity > 0) | not)" orders.jsonl >expect &&
	test_cmp expect rest.out
'

test_expect_success '--default sends the unmatched to a branch; stdout gets nothing' '
	kmap -O value $BR --default small . orders.jsonl >rest2.out &&
	test ! -s rest2.out &&
	jq -c "select((.quantity >= 10) | not)" orders.jsonl >expect &&
	test_cmp expect small.out
'

test_expect_success 'branches see the output value, and jq truthiness (0 and "" are true)' '
	printf "%s\n" "{\"v\":0}" "{\"v\":\"\"}" "{\"v\":false}" "{\"v\":null}" "{}" >t.jsonl &&
	kmap -O value --branch yes=. --to yes=file:yes.out ".v" t.jsonl >no.out &&
	printf "0\n\"\"\n" >expect && test_cmp expect yes.out &&
	printf "false\nnull\nnull\n" >expect && test_cmp expect no.out
'

test_expect_success 'two branches to one file share it, in input order' '
	kmap -O value --branch a=".quantity>=150" --to a=file:ab.out \
		--branch b=".quantity>=100" --to b=file:ab.out . orders.jsonl >/dev/null &&
	jq -c "select(.quantity >= 100)" orders.jsonl >expect &&
	test_cmp expect ab.out
'

test_expect_success 'a flat-map feeds the branches result by result' '
	kmap -O value --branch even=". % 2 == 0" --to even=file:even.out \
		"[.quantity // empty, .id] | .[]" orders.jsonl >odd.out &&
	jq -c "[.quantity // empty, .id] | .[] | select(. % 2 == 0)" orders.jsonl >expect &&
	test_cmp expect even.out &&
	jq -c "[.quantity // empty, .id] | .[] | select(. % 2 == 1)" orders.jsonl >expect &&
	test_cmp expect odd.out
'

test_expect_success 'a branch predicate error goes to the dead-letter file, named' '
	kmap -O value --branch x=".tag | ascii_upcase == \"T1\"" --to x=file:x.out \
		--dlq dlq.jsonl . orders.jsonl >rest.out &&
	jq -c "select(.tag != null and .quantity != null)" orders.jsonl | jq -c "select(.tag == \"t1\")" >expect &&
	test_cmp expect x.out &&
	jq -c "select(.tag == \"t2\")" orders.jsonl >expect &&
	test_cmp expect rest.out &&
	jq -c "select(.tag == null)" orders.jsonl | wc -l >expect &&
	wc -l <dlq.jsonl >actual && test_cmp expect actual &&
	jq -r .reason dlq.jsonl | sort -u >actual &&
	echo "--branch x: explode input must be a string" >expect &&
	test_cmp expect actual
'

test_expect_success 'branch output in another format (-O kpipe) reads back' '
	kmap -O kpipe --branch big=".quantity>=100" --to big=file:big.kp . orders.jsonl >/dev/null &&
	kmap -O value . big.kp >actual &&
	jq -c "select(.quantity >= 100)" orders.jsonl >expect &&
	test_cmp expect actual
'

test_expect_success 'usage errors: branch without output, unknown --to name, --default' '
	test_expect_code 64 kmap --branch a=true . orders.jsonl 2>err &&
	grep "branch .a. has no output" err &&
	test_expect_code 64 kmap --branch a=true --to b=file:x . orders.jsonl 2>err &&
	grep "no branch .b." err &&
	test_expect_code 64 kmap --branch a=true --to a=file:x --default c . orders.jsonl 2>err &&
	grep "no such branch" err &&
	test_expect_code 64 kmap --branch a=true --to a=file:x --default a --to file:y . orders.jsonl 2>err &&
	grep "would get nothing" err &&
	test_expect_code 64 kmap --branch a=true --branch a=false . orders.jsonl 2>err &&
	grep "given twice" err &&
	test_expect_code 64 kmap --branch "a=(" --to a=file:x . orders.jsonl 2>err &&
	grep "cannot compile --branch a" err
'

test_done
