#!/bin/sh
# t0301-kagg-memory: with a state store, kagg keeps at most --cache-bytes
# of window state in memory and the rest in LevelDB, reading windows back
# when a record or the stream time needs them (issue 3: "1M keys must not
# need more than the cache size plus LevelDB's own buffers").
#
# Input: kgen's metrics, 300,000 ids, each seen at two timestamps 60 s
# apart, so that with tumbling:1m every id has two windows: 600,000
# windows, of which 300,000 are open at once, and all of the first ones
# close together when the second minute starts.
#
# Oracles: awk computes count and max per (id, minute) from the raw JSON
# lines; the bounded run must print exactly what the all-in-memory run
# prints (sorted), and both must agree with awk.
#
# Memory bound, in kB of peak RSS (GNU time's "Maximum resident set
# size"): the bounded run holds 1 MiB of window state, LevelDB's write
# buffer (4 MiB, two while one is written out), its 8 MiB block cache
# and table cache, and the program itself (about 7 MB with no data, as
# measured here): about 25 MB, and 42 MB was measured.  It must stay
# under 60 MB, while the all-in-memory run, which holds 300,000 groups
# and 600,000 windows, needs about 100 MB (measured 99 MB): the test
# asserts it needs over 80 MB, so that the bound says something.
. "$(dirname "$0")/lib.sh"

test -x /usr/bin/time || { test_skip 'kagg memory' 'no /usr/bin/time'; test_done; }

AGG='-k .id -w tumbling:1m --time .timestamp --time-unit s
    -a n=count() -a m=max(."max.cpu") -a s=sum(."max.cpu") -O json'

rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }

test_expect_success 'input: 300,000 ids x 2 minutes' '
	kgen metrics 600000 --keys 300000 >in.jsonl &&
	test_line_count = 600000 in.jsonl
'

test_expect_success 'all in memory (no --state-dir)' '
	/usr/bin/time -v kagg $AGG in.jsonl 2>mem.time >mem.out &&
	sort mem.out >mem.sorted &&
	test_line_count = 600000 mem.sorted &&
	say "in memory: $(rss mem.time) kB peak RSS"
'

test_expect_success 'bounded: --state-dir with a 1 MiB cache' '
	/usr/bin/time -v kagg $AGG --state-dir st --cache-bytes 1048576 \
	    in.jsonl 2>bounded.time >bounded.out &&
	sort bounded.out >bounded.sorted &&
	say "bounded: $(rss bounded.time) kB peak RSS"
'

test_expect_success 'the bounded run prints what the in-memory run does' '
	test_cmp mem.sorted bounded.sorted
'

# awk: count and max per (id, minute start in s), from the raw lines
test_expect_success 'count and max per id and minute equal awk' '
	awk -F"[:,}]" "{
		k = \$2 \" \" int(\$4 / 60) * 60; v = \$6 + 0; n[k]++
		if (!(k in m) || v > m[k]) m[k] = v
	} END { for (k in n) printf \"%s %d %.2f\\n\", k, n[k], m[k] }" \
	    in.jsonl | sort >expect &&
	sed "s/.*\"value\":{\"id\":\([0-9]*\),\"window_start\":\([0-9]*\),\"window_end\":[0-9]*,\"n\":\([0-9]*\),\"m\":\([0-9.]*\),.*/\1 \2 \3 \4/" \
	    bounded.out | awk "{ printf \"%s %s %d %.2f\\n\", \$1, \$2, \$3, \$4 }" |
	    sort >actual &&
	test_line_count = 600000 expect &&
	test_cmp expect actual
'

# ASan's shadow memory and quarantine make RSS say nothing of kagg's
if ldd "$(command -v kagg)" 2>/dev/null | grep -q libasan; then
	test_skip 'peak RSS bounds' 'built with a sanitizer'
else
test_expect_success 'peak RSS: bounded under 60 MB, in memory over 80 MB' '
	b=$(rss bounded.time) && m=$(rss mem.time) &&
	test "$b" -lt 60000 &&
	test "$m" -gt 80000
'
fi

test_expect_success 'the store holds no window after the end of input' '
	kagg $AGG --state-dir st --cache-bytes 1048576 </dev/null >again.out &&
	test_line_count = 0 again.out
'

test_done
