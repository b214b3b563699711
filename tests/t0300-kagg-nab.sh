#!/bin/sh
# t0300-kagg-nab: hourly statistics per instance over the real AWS
# CloudWatch series of the Numenta Anomaly Benchmark (tests/data/nab, MIT
# licence in tests/data/nab/LICENSE.txt), as the seed use case computes
# them: ksource reads the CSV with a header into typed records and sets
# each record's timestamp from its 'timestamp' column (UTC), and kagg
# groups by the record key (the instance) in tumbling hours.
#
# Oracles, from the raw CSV files: Miller (stats1) for the hourly max,
# count and mean; Python for the exact nearest-rank 95th percentile (the
# ceil(0.95 n)-th smallest value, in integer arithmetic), which kagg's
# DDSketch must match within 1% relative error.
. "$(dirname "$0")/lib.sh"

NAB=$TEST_SRC/data/nab/realAWSCloudwatch
command -v mlr >/dev/null 2>&1 || { test_skip 'NAB statistics' 'no Miller (mlr)'; test_done; }

# one CSV of every series, with the instance (the file name) as a column,
# in time order (the series cover different weeks; the timestamps sort as
# text); sort -s keeps the rows of one timestamp in file order
test_expect_success 'the NAB series, in one CSV' '
	for f in "$NAB"/*.csv; do
		i=$(basename "$f" .csv)
		awk -F, -v OFS=, -v i="$i" "FNR > 1 { print i, \$0 }" "$f"
	done | sort -s -t, -k2,2 >rows &&
	{ echo instance,timestamp,value; cat rows; } >all.csv &&
	test $(wc -l <rows) -eq $(cat "$NAB"/*.csv | grep -vc ^timestamp)
'

test_expect_success 'kagg: hourly max, avg, count and p95 per instance' '
	ksource -I csv -k .instance --time .timestamp \
	    --time-format "%Y-%m-%d %H:%M:%S" all.csv |
	kagg -w tumbling:1h -a "max=max(.value)" -a "avg=avg(.value)" \
	    -a "n=count()" -a "p95=p95(.value)" -O value >kagg.jsonl &&
	test $(wc -l <kagg.jsonl) -gt 5000
'

test_expect_success 'max and count equal Miller, avg within 1e-9' '
	for f in "$NAB"/*.csv; do
		mlr --icsv --ojsonl put "\$instance = \"$(basename "$f" .csv)\";
		    \$hour = int(strptime(\$timestamp, \"%Y-%m-%d %H:%M:%S\") / 3600) * 3600" \
		    then stats1 -a max,count,mean -f value -g instance,hour "$f"
	done >mlr.jsonl &&
	test $(wc -l <mlr.jsonl) -eq $(wc -l <kagg.jsonl) &&
	$PYTHON - <<-\PY
	import json, sys
	m = {}
	for l in open("mlr.jsonl"):
	    r = json.loads(l)
	    m[(r["instance"], r["hour"] * 1000)] = r
	bad = 0
	for l in open("kagg.jsonl"):
	    k = json.loads(l)
	    r = m.pop((k["key"], k["window_start"]))
	    assert k["window_end"] == k["window_start"] + 3600000
	    if k["n"] != r["value_count"] or float(k["max"]) != float(r["value_max"]) \
	       or abs(k["avg"] - r["value_mean"]) > 1e-9 * max(1.0, abs(r["value_mean"])):
	        bad += 1
	        print("differs:", k, r, file=sys.stderr)
	assert not m, "windows kagg missed: %d" % len(m)
	sys.exit(1 if bad else 0)
	PY
'

test_expect_success 'p95 within 1% of the exact nearest-rank value (Python)' '
	$PYTHON - "$NAB" <<-\PY
	import calendar, csv, glob, json, os, sys, time
	vals = {}
	for f in glob.glob(os.path.join(sys.argv[1], "*.csv")):
	    inst = os.path.basename(f)[:-4]
	    for row in csv.DictReader(open(f)):
	        t = calendar.timegm(time.strptime(row["timestamp"], "%Y-%m-%d %H:%M:%S"))
	        vals.setdefault((inst, t // 3600 * 3600000), []).append(float(row["value"]))
	worst, n = 0.0, 0
	for l in open("kagg.jsonl"):
	    k = json.loads(l)
	    v = sorted(vals.pop((k["key"], k["window_start"])))
	    exact = v[(95 * len(v) + 99) // 100 - 1]
	    err = abs(k["p95"] - exact) / abs(exact) if exact else abs(k["p95"])
	    worst = max(worst, err)
	    n += 1
	    if err > 0.01:
	        print("p95 off:", k, exact, file=sys.stderr)
	        sys.exit(1)
	assert not vals
	print("# %d windows, worst relative error %.5f" % (n, worst))
	PY
'

test_done
