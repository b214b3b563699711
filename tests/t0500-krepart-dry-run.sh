#!/bin/sh
# krepart --dry-run: partitions of keys, against values published by the
# clients (tests/data/krepart-vectors.tsv, tests/data/krepart-hashes.tsv,
# copied from /work/shared with their sources) and against peers computed
# here: kafka-python's murmur2, zlib's crc32, and an FNV-1a written below
# from its definition.  No broker is needed.
. "$(dirname "$0")/lib.sh"

TAB=$(printf '\t')

test_expect_success 'published partitions (B13-B16, C3-C5), every partitioner' '
	grep -v "^#" "$TEST_SRC/data/krepart-vectors.tsv" |
	while IFS="$TAB" read -r p n key want src; do
		got=$(printf "{\"k\":%s}\n" "$key" |
		    krepart --dry-run -n "$n" --partitioner "$p" -k .k 2>/dev/null |
		    cut -f1)
		echo "$p N=$n $key: $want ($src)" >>expect
		echo "$p N=$n $key: $got ($src)" >>actual
	done &&
	test_line_count = 117 expect &&
	test_cmp expect actual
'

# Every published hash, for N = 1..64, 100 and 999: murmur2 as Java's
# toPositive(h) % N, fnv1a as h % N (shell arithmetic is 64-bit, so
# h & 0x7fffffff of a negative Java int keeps its low 31 bits).  The
# table is cut with cut(1), not read(1): a tab is IFS white space, and
# the empty key is an empty first field.
test_expect_success 'published murmur2 and fnv1a hashes, N = 1..64, 100, 999' '
	grep -v "^#" "$TEST_SRC/data/krepart-hashes.tsv" >hashes &&
	cut -f1 hashes | jq -cR "{k: .}" >keys.jsonl &&
	cut -f2 hashes >murmur &&
	grep -v "$TAB-$TAB" hashes >fhashes &&
	cut -f1 fhashes | jq -cR "{k: .}" >fkeys.jsonl &&
	cut -f3 fhashes >fnv &&
	test_line_count = 34 keys.jsonl &&
	test_line_count = 11 fnv &&
	for n in $(seq 1 64) 100 999; do
		while read -r h; do
			echo "$n $(( (h & 0x7fffffff) % n ))"
		done <murmur >>expect.m &&
		krepart --dry-run -n $n -k .k keys.jsonl |
		    cut -f1 | sed "s/^/$n /" >>actual.m &&
		while read -r h; do
			echo "$n $(( h % n ))"
		done <fnv >>expect.f &&
		krepart --dry-run -n $n -k .k --partitioner fnv1a fkeys.jsonl |
		    cut -f1 | sed "s/^/$n /" >>actual.f || return 1
	done &&
	test_cmp expect.m actual.m &&
	test_cmp expect.f actual.f
'

# 3000 keys: ASCII, 2-, 3- and 4-byte UTF-8, empty, long; peers compute
# the partitions for several N.
cat >peers.py <<'PY'
import json, random, zlib
from kafka.partitioner.default import murmur2   # Java-compatible, unsigned

def fnv1a(b):
    # FNV-1a 32 (Go hash/fnv New32a), then abs of the int32, as
    # librdkafka rd_fnv1a() and Sarama NewHashPartitioner do
    h = 0x811c9dc5
    for c in b:
        h = ((h ^ c) * 0x01000193) & 0xffffffff
    if h >= 0x80000000:
        h = -(h - 0x100000000)
    return h

rnd = random.Random(500)
alphabet = 'abcXYZ019-_:./ \u00e4\u00f6\u00fc\u00df\u00e9\u20ac\u2318\u4e2d\u6587\u043a\u043b\u044e\u0447\U0001f600\U0001d11e'
keys = ['', 'a', 'TT0124']
for i in range(2997):
    keys.append(''.join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 40))))
with open('bulk.jsonl', 'w', encoding='utf-8') as f:
    for k in keys:
        f.write(json.dumps({'k': k}, ensure_ascii=False) + '\n')
with open('bulk.keys', 'w', encoding='utf-8') as f:
    for k in keys:
        f.write(k + '\n')
for n in (1, 2, 3, 6, 7, 10, 12, 16, 17, 32, 50, 100, 999):
    for name, fn in (('murmur2', lambda b: (murmur2(b) & 0x7fffffff) % n),
                     ('consistent', lambda b: zlib.crc32(b) % n),
                     ('fnv1a', lambda b: fnv1a(b) % n)):
        with open('expect.%s.%d' % (name, n), 'w') as f:
            for k in keys:
                f.write('%d\n' % fn(k.encode('utf-8')))
PY

test_expect_success 'bulk keys (multi-byte UTF-8, empty) against kafka-python, zlib and FNV-1a' '
	"$PYTHON" peers.py &&
	test_line_count = 3000 bulk.jsonl &&
	for n in 1 2 3 6 7 10 12 16 17 32 50 100 999; do
		for p in murmur2 consistent fnv1a; do
			krepart --dry-run -n $n --partitioner $p -k .k bulk.jsonl |
			    cut -f1 >actual.$p.$n &&
			test_cmp expect.$p.$n actual.$p.$n || return 1
		done
	done
'

test_expect_success 'the key is printed as text after a tab' '
	krepart --dry-run -n 15 -k .k bulk.jsonl | cut -f2- >keys.out &&
	test_cmp bulk.keys keys.out
'

# murmur2 partitions of the byte strings, one a line, of file $1 for N=$2,
# printed as krepart --dry-run prints them; kafka-python is the peer.
cat >mm.py <<'PY'
import sys
from kafka.partitioner.default import murmur2
n = int(sys.argv[2])
for line in open(sys.argv[1], 'rb'):
    k = line.rstrip(b'\n')
    sys.stdout.write('%d\t%s\n' % ((murmur2(k) & 0x7fffffff) % n, k.decode()))
PY

# Worked by hand: kp_val_key_bytes gives the digits of an integer, and the
# compact JSON of an object or array, members in input order; several -k
# paths give the compact JSON array of the values.
cat >in.jsonl <<'EOF'
{"id":1,"region":"eu","n":42}
{"id":{"b":1, "a":[1, 2]},"region":"us","n":-7}
{"id":"host-1","region":"","n":0}
EOF
cat >bytes <<'EOF'
1
{"b":1,"a":[1,2]}
host-1
["eu",42]
["us",-7]
["",0]
EOF

test_expect_success 'integer, object and composite keys hash their serialised bytes' '
	"$PYTHON" mm.py bytes 15 >expect &&
	krepart --dry-run -n 15 -k .id in.jsonl >actual &&
	krepart --dry-run -n 15 -k .region,.n in.jsonl >>actual &&
	test_cmp expect actual
'

# Hand-worked: null and empty keys under each partitioner, from the rules
# of librdkafka rdkafka_msg.c (B17, C3): 275646681 % 10 = 1 is murmur2 of
# the empty key, 0x7ee3623b % 10 = 2128831035 % 10 = 5 is fnv1a of it.
printf '%s\n' '{"k":null}' '{"k":""}' '{}' >ne.jsonl
cat >ne.expect <<'EOF'
murmur2 1 1 1
murmur2_random random 1 random
consistent 0 0 0
consistent_random random random random
fnv1a 5 5 5
fnv1a_random random 5 random
random random random random
EOF

test_expect_success 'null and empty keys per partitioner' '
	for p in murmur2 murmur2_random consistent consistent_random fnv1a \
	    fnv1a_random random; do
		{ printf "%s " $p &&
		krepart --dry-run -n 10 -k .k --partitioner $p ne.jsonl 2>/dev/null |
		    cut -f1 | paste -sd " " -; } || return 1
	done >actual &&
	test_cmp ne.expect actual
'

test_expect_success 'a missing key field is reported once on stderr' '
	krepart --dry-run -n 10 -k .k ne.jsonl >out 2>err &&
	test_line_count = 3 out &&
	test_line_count = 1 err &&
	grep "line 1: no key at .\.k." err
'

# kpipe envelopes carry bytes keys: a binary key, a null key and an empty
# key, written here in msgpack by hand: map {"key": bin8 ff fe 0a 5c,
# "value": nil}, map {"key": nil, ...}, map {"key": bin8 of length 0, ...}.
# The key is not UTF-8, so it prints as \xff\xfe\n\\ (worked by hand from
# the rules in krepart(1)); the partitions come from kafka-python.
printf '\202\243key\304\004\377\376\n\134\245value\300' >env
printf '\202\243key\300\245value\300' >>env
printf '\202\243key\304\000\245value\300' >>env
cat >env.py <<'PY'
from kafka.partitioner.default import murmur2
def p(b):
    return (murmur2(b) & 0x7fffffff) % 7
print('%d\t%s' % (p(b'\xff\xfe\n\\'), r'\xff\xfe\n\\'))
print('random\t')
print('%d\t' % p(b''))
PY

test_expect_success 'binary, null and empty keys from kpipe envelopes' '
	"$PYTHON" env.py >expect &&
	krepart --dry-run -n 7 -I kpipe --partitioner murmur2_random <env >actual &&
	test_cmp expect actual
'

test_expect_success 'the man page examples' '
	printf "{\"id\":\"TT0124\"}\n{\"id\":1}\n" |
	    krepart --dry-run -n 15 -k .id >actual &&
	printf "{\"id\":\"TT0124\"}\n" |
	    krepart --dry-run -n 15 -k .id --partitioner consistent >>actual &&
	printf "10\tTT0124\n9\t1\n9\tTT0124\n" >expect &&
	test_cmp expect actual
'

printf '{"k":"a"}\n{not json\n{"k":"b"}\n' >bad.jsonl

test_expect_success 'a bad line stops with 65, or goes to --dlq' '
	test_expect_code 65 krepart --dry-run -n 4 -k .k bad.jsonl >out &&
	test_line_count = 1 out &&
	krepart --dry-run -n 4 -k .k --dlq dead.jsonl bad.jsonl >out &&
	test_line_count = 2 out &&
	test_line_count = 1 dead.jsonl &&
	jq -e ".source.line == 2 and .stage == \"krepart\"" dead.jsonl
'

test_expect_success 'a closed stdout ends quietly' '
	seq 1 100000 | sed "s/.*/{\"k\":&}/" >many.jsonl &&
	{ krepart --dry-run -n 4 -k .k many.jsonl 2>err; echo $? >rc; } |
	    head -n 1 >/dev/null &&
	test "$(cat rc)" = 0 &&
	test_line_count = 0 err
'

test_done
