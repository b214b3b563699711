#!/bin/sh
# A kpipe stream (msgpack envelopes) that ends inside a record, given with
# --dlq: the tail is a bad record like any other; its dead letter holds
# every byte of it, nothing is lost, and the program exits 0, the records
# before it processed.  Without --dlq: 65.  A corrupt envelope in the
# middle is different: the stream cannot be read on past it, and even
# with --dlq the program exits 65.  The same for every program that reads
# a kpipe stream.  The envelopes are packed here by Python (a fixmap of
# "key" and "value", value a fixmap {"id": N}), not by kpipe.
. "$(dirname "$0")/lib.sh"

test_expect_success 'streams: 5 envelopes whole, cut in the last, corrupt in the third' '
	"$PYTHON" - <<-\PY
	def env(i):
	    # {"key": "k<i>", "value": {"id": i}}, i < 10
	    k = b"k%d" % i
	    return (b"\x82\xa3key" + bytes([0xa0 + len(k)]) + k +
	            b"\xa5value\x81\xa2id" + bytes([i]))
	recs = [env(i) for i in range(1, 6)]
	whole = b"".join(recs)
	open("whole.kp", "wb").write(whole)
	cut = whole[:-3]
	open("cut.kp", "wb").write(cut)
	open("tail.bin", "wb").write(recs[4][:-3])
	bad = bytearray(whole)
	bad[len(recs[0]) + len(recs[1])] = 0xc1   # never used in msgpack
	open("corrupt.kp", "wb").write(bytes(bad))
	PY
	printf "{\"id\":1,\"n\":\"one\"}\n" >table.jsonl &&
	ksink -O json <whole.kp >whole.json &&
	test_line_count = 5 whole.json
'

# run NAME CMD...: CMD --dlq NAME.dlq <cut.kp; NAME.rc, NAME.out
cut_with_dlq() {
	_n=$1
	shift
	"$@" --dlq "$_n.dlq" <cut.kp >"$_n.out" 2>"$_n.err"
	echo $? >"$_n.rc"
	echo 0 >zero &&
	test_cmp zero "$_n.rc" &&
	test_line_count = 1 "$_n.dlq" &&
	jq -e ".reason == \"truncated kpipe record at end of input\"" \
	    "$_n.dlq" &&
	jq -r .value "$_n.dlq" | base64 -d >"$_n.tail" &&
	cmp tail.bin "$_n.tail"
}

without_dlq() {
	_n=$1
	shift
	"$@" <cut.kp >"$_n.out2" 2>"$_n.err2"
	echo $? >"$_n.rc2"
	echo 65 >sixtyfive &&
	test_cmp sixtyfive "$_n.rc2" &&
	grep "truncated kpipe record" "$_n.err2"
}

corrupt_with_dlq() {
	_n=$1
	shift
	"$@" --dlq "$_n.cdlq" <corrupt.kp >"$_n.out3" 2>"$_n.err3"
	echo $? >"$_n.rc3"
	echo 65 >sixtyfive &&
	test_cmp sixtyfive "$_n.rc3" &&
	grep "cannot read on after a corrupt kpipe frame" "$_n.err3"
}

# the programs, each reading a kpipe stream on stdin, writing JSON lines
cmd_ksource() { ksource -O json "$@"; }
cmd_ksink() { ksink -O json "$@"; }
cmd_krepart() { krepart --dry-run -n 4 "$@"; }
cmd_kdlq() { kdlq -O json "$@"; }
cmd_kmap() { kmap -O json "$@" .value; }
cmd_kagg() { kagg -k .id -a "n=count(.id)" -w none --emit changes -O json "$@"; }
cmd_kjoin() {
	kjoin --table file:table.jsonl --table-key .id -k .id --left -O json "$@"
}

for p in ksource ksink krepart kdlq kmap kagg kjoin; do
	test_expect_success "$p: a cut tail with --dlq is a dead letter, exit 0" '
		cut_with_dlq $p cmd_$p &&
		test_line_count = 4 $p.out
	'
	if [ "$p" != kdlq ]; then
		test_expect_success "$p: without --dlq, 65" '
			without_dlq $p cmd_$p
		'
	fi
	test_expect_success "$p: a corrupt envelope in the middle, with --dlq: 65" '
		corrupt_with_dlq $p cmd_$p
	'
done

test_done
