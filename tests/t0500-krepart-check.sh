#!/bin/sh
# krepart --check: finds exactly the records a CRC32 producer (kcat, whose
# librdkafka default is consistent_random) put on partitions other than
# Java's murmur2 would; the expected mismatches are computed with
# kafka-python's murmur2 (kafka.partitioner.default.murmur2) from what kcat
# reads back.
. "$(dirname "$0")/lib.sh"

E=$(unique_topic E) F=$(unique_topic F)
kafka_up --topic "$E:5" --topic "$F:6" || exit 1

# kcat "%t/%p/%o %k" lines in, krepart --check lines out: those whose
# partition is not (murmur2(key) & 0x7fffffff) % N; a null key (kcat -Z
# prints it as empty, with no way to tell it from an empty key: here there
# are none) would be hashed as the empty key.
cat >expect.py <<'PY'
import sys
from kafka.partitioner.default import murmur2
n = int(sys.argv[1])
field = int(sys.argv[2]) if len(sys.argv) > 2 else None
for line in sys.stdin.read().splitlines():
    where, rest = line.split(' ', 1)
    key = rest if field is None else rest.split('|')[field]
    topic, p, o = where.rsplit('/', 2)
    want = (murmur2(key.encode()) & 0x7fffffff) % n
    if want != int(p):
        print('%s %s expected=%d' % (where, key, want))
PY

awk 'BEGIN { for (i = 0; i < 4000; i++) printf "host-%d:{\"seq\":%d}\n", i % 523, i }' >e.in

test_expect_success 'kcat writes 4000 keyed records with CRC32 to E (5 partitions)' '
	kcat -P -b "$BROKERS" -t "$E" -K: -l e.in &&
	kcat -C -b "$BROKERS" -t "$E" -e -q -f "%t/%p/%o %k\n" >e.kcat &&
	test_line_count = 4000 e.kcat
'

test_expect_success '--check (murmur2) lists exactly the records kafka-python places elsewhere' '
	"$PYTHON" expect.py 5 <e.kcat | sort >expect &&
	test_line_count -gt 1000 expect &&
	test_expect_code 1 krepart -b "$BROKERS" --check "$E" >out 2>err &&
	sort out >actual &&
	test_cmp expect actual &&
	n=$(wc -l <expect) &&
	grep "topic .$E. (5 partitions), partitioner murmur2: 4000 records, 4000 checked, $n on the wrong partition" err
'

test_expect_success '--check --partitioner consistent: kcat placed every record (exit 0)' '
	krepart -b "$BROKERS" --check "$E" --partitioner consistent >out 2>err &&
	test_line_count = 0 out &&
	grep "4000 records, 4000 checked, 0 on the wrong partition" err
'

test_expect_success 'krepart copies E to F (murmur2), and --check F finds nothing' '
	test_expect_code 78 krepart -b "$BROKERS" --from "$E" -G g-ef -e --to "$F" -n 8 2>err &&
	grep "has 6 partitions, fewer than -n 8" err &&
	krepart -b "$BROKERS" --from "$E" -G g-ef -e --to "$F" &&
	krepart -b "$BROKERS" --check "$F" >out &&
	test_line_count = 0 out
'

# -k: check placement by a field of the value.  F is keyed by host but the
# value carries seq: by .seq nearly everything is elsewhere, by kafka-python.
test_expect_success '--check -k .seq uses the field as the key' '
	kcat -C -b "$BROKERS" -t "$F" -e -q -f "%t/%p/%o %s\n" |
	    sed "s/ {\"seq\":\([0-9]*\)}\$/ \1/" >f.kcat &&
	test_line_count = 4000 f.kcat &&
	"$PYTHON" expect.py 6 <f.kcat | sort >expect &&
	test_expect_code 1 krepart -b "$BROKERS" --check "$F" -k .seq >out &&
	sort out >actual &&
	test_cmp expect actual
'

test_expect_success '--check of a topic that does not exist exits 78' '
	test_expect_code 78 krepart -b "$BROKERS" --check "no-such-$E" 2>err &&
	grep "does not exist" err
'

test_done
