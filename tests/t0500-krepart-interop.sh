#!/bin/sh
# krepart through kmock, against peer producers: records that kafka-python
# (Java-compatible murmur2) or kcat (librdkafka's consistent_random) placed
# land on the same partition numbers when krepart copies them with the
# same partitioner; re-keying by a field puts each record where
# kafka-python's murmur2 says; a group commits only what was delivered.
. "$(dirname "$0")/lib.sh"

A=$(unique_topic A) B=$(unique_topic B) C=$(unique_topic C)
D=$(unique_topic D) R=$(unique_topic R) S1=$(unique_topic S1)
S2=$(unique_topic S2)
kafka_up --topic "$A:6" --topic "$B:6" --topic "$C:6" --topic "$D:6" \
    --topic "$R:6" --topic "$S1:6" --topic "$S2:6" || exit 1

# kafka-python producer: N records from index FIRST to topic T, keyed
# (ASCII, multi-byte UTF-8, binary, empty), values JSON with spaces (to see
# that they pass byte for byte), one header.  Every 50th value has no
# "user" field.  kafka-python's DefaultPartitioner is Java's murmur2.
cat >produce.py <<'PY'
import sys
from kafka import KafkaProducer
brokers, topic, first, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = KafkaProducer(bootstrap_servers=brokers.split(','), api_version=(2, 0, 0),
                  linger_ms=5, batch_size=65536)
for i in range(first, first + n):
    j = i % 1000
    kind = j % 4
    if kind == 0:
        key = ('user-%d' % j).encode()
    elif kind == 1:
        key = ('ключ-\u2318-%d' % j).encode('utf-8')
    elif kind == 2:
        key = bytes([0x80 + j % 128, 0xff, 0xc0 + j % 7]) + b'bin'
    else:
        key = b'' if j % 100 == 3 else ('u%d' % j).encode()
    if i % 50 == 0:
        value = '{"i": %d}' % i
    else:
        value = '{"i": %d,  "user": "u-%d"}' % (i, i % 777)
    p.send(topic, key=key, value=value.encode(), headers=[('n', str(i).encode())])
p.flush()
PY

# librdkafka 2.0.2's mock keeps a group whose last member left in state
# "up", and holds the next JoinGroup for the group's session.timeout.ms
# less 1 s (45 s by default): a short session for the group that is
# joined twice.
SESSION="-X session.timeout.ms=6000"

# partition, then offset, then key, value, headers: the records of each
# partition in log order
dump() {
	kcat -C -b "$BROKERS" -t "$1" -e -q -f '%p %o %k|%s|%h\n' |
	    sort -k1,1n -k2,2n | cut -d' ' -f1,3-
}

test_expect_success 'kafka-python writes 10,000 keyed records to A' '
	"$PYTHON" produce.py "$BROKERS" "$A" 0 10000 &&
	dump "$A" >a.dump &&
	test_line_count = 10000 a.dump
'

test_expect_success 'krepart murmur2: every record on the same partition in B, in order' '
	krepart -b "$BROKERS" $SESSION --from "$A" -G g-ab -e --to "$B" &&
	dump "$B" >b.dump &&
	test_cmp a.dump b.dump
'

test_expect_success 'a second run in the group copies only the new records' '
	"$PYTHON" produce.py "$BROKERS" "$A" 10000 500 &&
	krepart -b "$BROKERS" $SESSION --from "$A" -G g-ab -e --to "$B" &&
	dump "$A" >a.dump &&
	dump "$B" >b.dump &&
	test_line_count = 10500 a.dump &&
	test_cmp a.dump b.dump
'

# Re-keyed by .user: the key is the field's text and the partition is
# kafka-python's murmur2 of it; a record without the field has a null key,
# which murmur2 hashes as the empty key (B17): murmur2(b"") % 6.  The value
# and headers are the bytes kafka-python sent.
cat >rekey.py <<'PY'
import json, sys
from kafka.partitioner.default import murmur2
def part(b):
    return (murmur2(b) & 0x7fffffff) % 6
a = sorted(l.split(' ', 2)[2] for l in open('a.kcat', encoding='utf-8', errors='surrogateescape').read().splitlines())
r = open('r.kcat', encoding='utf-8', errors='surrogateescape').read().splitlines()
vals = []
bad = 0
for line in r:
    p, k, rest = line.split(' ', 2)
    v = rest.split('|')[0]
    vals.append(rest)
    user = json.loads(v).get('user')
    want_key = user if user is not None else ''
    want_p = part(user.encode() if user is not None else b'')
    if k != want_key or int(p) != want_p:
        print('wrong: %s (want key %r partition %d)' % (line, want_key, want_p))
        bad += 1
if sorted(vals) != a:
    print('values or headers differ')
    bad += 1
print('%d records, %d bad' % (len(r), bad))
sys.exit(1 if bad else 0)
PY

test_expect_success 'krepart -k .user puts each record where kafka-python would' '
	krepart -b "$BROKERS" --from "$A" -G g-ar -e -k .user --to "$R" 2>err &&
	grep "no key at .\.user." err &&
	kcat -C -b "$BROKERS" -t "$A" -e -q -f "%p %k %s|%h\n" >a.kcat &&
	kcat -C -b "$BROKERS" -t "$R" -e -q -f "%p %k %s|%h\n" >r.kcat &&
	test_line_count = 10500 r.kcat &&
	"$PYTHON" rekey.py
'

test_expect_success 'kcat (consistent_random) to C, krepart consistent_random to D: same partitions' '
	awk "BEGIN { for (i = 0; i < 3000; i++) printf \"k%d:v%d\n\", i % 301, i }" >c.in &&
	kcat -P -b "$BROKERS" -t "$C" -K: -l c.in &&
	krepart -b "$BROKERS" --from "$C" -G g-cd -e --partitioner consistent_random \
	    --to "$D" &&
	dump "$C" >c.dump &&
	dump "$D" >d.dump &&
	test_line_count = 3000 c.dump &&
	test_cmp c.dump d.dump
'

# From a file: null keys under murmur2_random draw from --seed, so two runs
# with the same seed agree; keyed records go where kafka-python says.
awk 'BEGIN { for (i = 0; i < 600; i++)
	if (i % 3) printf "{\"id\":\"k%d\",\"i\":%d}\n", i, i;
	else printf "{\"i\":%d}\n", i }' >s.jsonl

test_expect_success 'file input, murmur2_random with --seed: reproducible, spread, keyed ones by murmur2' '
	krepart -b "$BROKERS" -k .id --partitioner murmur2_random --seed 7 \
	    --to "$S1" s.jsonl 2>/dev/null &&
	krepart -b "$BROKERS" -k .id --partitioner murmur2_random --seed 7 \
	    --to "$S2" s.jsonl 2>/dev/null &&
	kcat -C -b "$BROKERS" -t "$S1" -e -q -f "%p %k %s\n" | sort >s1 &&
	kcat -C -b "$BROKERS" -t "$S2" -e -q -f "%p %k %s\n" | sort >s2 &&
	test_line_count = 600 s1 &&
	test_cmp s1 s2 &&
	awk "\$2 ~ /^{/ { print \$1 }" s1 | sort -u >nullparts &&
	test_line_count -gt 3 nullparts &&
	awk "\$2 !~ /^{/ { print \$2 }" s1 >keys &&
	"$PYTHON" -c "
import sys
from kafka.partitioner.default import murmur2
for k in open(\"keys\").read().split():
    print((murmur2(k.encode()) & 0x7fffffff) % 6, k)
" | sort >expect &&
	awk "\$2 !~ /^{/ { print \$1, \$2 }" s1 | sort >actual &&
	test_line_count = 400 actual &&
	test_cmp expect actual
'

test_done
