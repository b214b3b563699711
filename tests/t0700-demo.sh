#!/bin/sh
# The main job (scripts/cloud-monitoring) end to end, in its three modes.
# The script checks itself: every hourly window in the SQLite table is
# recomputed from the raw CSVs by Python (max and count exactly, avg to
# 1e-9, p95 within 1% of the exact nearest-rank value), and it exits
# non-zero when any window differs or is missing.
. "$(dirname "$0")/lib.sh"

DEMO=$TOP/scripts/cloud-monitoring
export KPIPE_BUILD

# count_rows DB: rows of metrics_1h
count_rows() {
	sqlite3 "$1" "SELECT count(*) FROM metrics_1h"
}

# The expected number of windows, from the CSVs with awk: distinct
# (file, hour) pairs.
for f in "$TOP"/tests/data/nab/realAWSCloudwatch/*.csv; do
	awk -F, -v f="$f" 'NR > 1 { print f, substr($1, 1, 13) }' "$f"
done | sort -u | wc -l | tr -d " " >windows.expect

test_expect_success 'pipes: one shell pipeline, no broker' '
	DEMO_DB=$PWD/pipes.db "$DEMO" --pipes >out 2>err &&
	grep "windows checked, 0 differ" out &&
	count_rows pipes.db >actual && test_cmp windows.expect actual &&
	grep "expected number, got string" err &&
	grep "truncated" err
'

test_expect_success 'kafka: stages as separate processes joined by topics (kmock)' '
	DEMO_DB=$PWD/kafka.db "$DEMO" >out 2>err &&
	grep "windows checked, 0 differ" out &&
	count_rows kafka.db >actual && test_cmp windows.expect actual &&
	grep "^total	2" err
'

test_expect_success 'the two modes write the same table (avg to 9 places: the order of additions differs)' '
	q="SELECT id, metric, window_start, window_end, max, round(avg, 9), count, p95, name FROM metrics_1h ORDER BY 1, 2, 3" &&
	sqlite3 pipes.db "$q" >pipes.rows && sqlite3 kafka.db "$q" >kafka.rows &&
	test_cmp pipes.rows kafka.rows
'

test_expect_success 'cron: a second run processes only the new records' '
	DEMO_DB=$PWD/cron.db "$DEMO" --cron >out 2>err &&
	grep "windows checked, 0 differ" out &&
	grep "rows after run 1: [0-9]*, after run 2: $(cat windows.expect)" err &&
	before=$(sed -n "s/.*rows after run 1: \([0-9]*\),.*/\1/p" err) &&
	test "$before" -gt 0 && test "$before" -lt "$(cat windows.expect)"
'

test_done
