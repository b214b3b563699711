#!/bin/sh
# ksink --sqlite and --postgres: created tables, upserts, batches, retries.
# Expected rows are worked by hand or computed with jq from the input.
. "$(dirname "$0")/lib.sh"

cat >in.jsonl <<\EOF2
{"id":"i-1","metric":"cpu","window_start":0,"max":10.5,"n":3}
{"id":"i-2","metric":"cpu","window_start":0,"max":7,"n":1}
{"id":"i-1","metric":"cpu","window_start":3600,"max":4.25,"n":2}
{"id":"i-1","metric":"cpu","window_start":0,"max":20,"n":4}
EOF2

test_expect_success 'sqlite: table created, last value per upsert key wins' '
	ksink --sqlite t.db --table m --upsert-key id,metric,window_start in.jsonl &&
	sqlite3 -separator " " t.db "SELECT id, metric, window_start, max, n FROM m ORDER BY id, window_start" >actual &&
	cat >expect <<-\EOF2 &&
	i-1 cpu 0 20.0 4
	i-1 cpu 3600 4.25 2
	i-2 cpu 0 7.0 1
	EOF2
	test_cmp expect actual
'

test_expect_success 'sqlite: a replay is idempotent' '
	ksink --sqlite t.db --table m --upsert-key id,metric,window_start in.jsonl &&
	sqlite3 t.db "SELECT count(*) FROM m" >actual &&
	echo 3 >expect && test_cmp expect actual
'

test_expect_success 'sqlite: named columns with paths, key from @key by default' '
	ksource -k .id in.jsonl |
		ksink --sqlite t2.db --table k --columns "host=.id,peak=.max" --upsert-key host --batch 2 &&
	sqlite3 -separator " " t2.db "SELECT host, peak FROM k ORDER BY host" >actual &&
	printf "i-1 20.0\ni-2 7.0\n" >expect && test_cmp expect actual &&
	ksource -k .id in.jsonl | ksink --sqlite t3.db --table d &&
	sqlite3 -separator " " t3.db "SELECT key, max FROM d ORDER BY key" >actual &&
	test_cmp expect actual
'

test_expect_success 'sqlite: a row without its key column is bad data (65) or a dead letter' '
	printf "{\"id\":\"a\",\"v\":1}\n{\"v\":2}\n{\"id\":\"b\",\"v\":3}\n" >nokey.jsonl &&
	test_expect_code 65 ksink --sqlite t4.db --table x --upsert-key id nokey.jsonl 2>err &&
	grep "line 2: upsert key column .id. (...id..) is missing or null" err &&
	ksink --sqlite t5.db --table x --upsert-key id --dlq dl.jsonl nokey.jsonl &&
	sqlite3 t5.db "SELECT id FROM x ORDER BY id" >actual &&
	printf "a\nb\n" >expect && test_cmp expect actual &&
	jq -r .source.line dl.jsonl >actual && echo 2 >expect && test_cmp expect actual
'

test_expect_success 'sqlite: a table with other columns is a configuration error (78)' '
	sqlite3 t6.db "CREATE TABLE m (a TEXT PRIMARY KEY)" &&
	test_expect_code 78 ksink --sqlite t6.db --table m --upsert-key id in.jsonl 2>err &&
	grep "exists without a column" err
'

test_expect_success 'sqlite: a locked database is retried, not skipped' '
	ksink --sqlite t7.db --table m --upsert-key id,metric,window_start in.jsonl &&
	$PYTHON - <<-\PY &
	import sqlite3, time
	c = sqlite3.connect("t7.db", isolation_level=None)
	c.execute("BEGIN EXCLUSIVE")
	time.sleep(7)
	c.execute("COMMIT")
	PY
	sleep 1 &&
	echo "{\"id\":\"i-9\",\"metric\":\"cpu\",\"window_start\":0,\"max\":1,\"n\":1}" |
		ksink --sqlite t7.db --table m --upsert-key id,metric,window_start 2>err &&
	grep "retry 1" err &&
	sqlite3 t7.db "SELECT count(*) FROM m" >actual &&
	echo 4 >expect && test_cmp expect actual
'

# PostgreSQL: a real server from Debian's package, on a loopback port and a
# temporary directory, run as the postgres user (it refuses root).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PGBIN" ] || ! id postgres >/dev/null 2>&1; then
	test_skip 'postgres upserts' 'no PostgreSQL server installed'
else
	PGDIR=$(mktemp -d /tmp/kpipe-pg.XXXXXX)
	PGPORT=$((20000 + $$ % 20000))
	as_pg() {
		if [ "$(id -u)" -eq 0 ]; then
			runuser -u postgres -- "$@"
		else
			"$@"
		fi
	}
	[ "$(id -u)" -eq 0 ] && chown postgres "$PGDIR"
	pg_stop() {
		as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1
		rm -rf "$PGDIR"
	}
	trap 'pg_stop; _kpipe_cleanup' EXIT
	test_expect_success 'postgres: start a server' '
		as_pg "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U kpipe >/dev/null &&
		as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
			-o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
	'
	CONN="host=127.0.0.1 port=$PGPORT user=kpipe dbname=postgres"
	test_expect_success 'postgres: table created, last value per upsert key wins' '
		ksink --postgres "$CONN" --table m --upsert-key id,metric,window_start in.jsonl &&
		ksink --postgres "$CONN" --table m --upsert-key id,metric,window_start in.jsonl &&
		psql -X -A -F " " -t "$CONN" -c "SELECT id, metric, window_start, max, n FROM m ORDER BY id, window_start" >actual &&
		cat >expect <<-\EOF2 &&
		i-1 cpu 0 20 4
		i-1 cpu 3600 4.25 2
		i-2 cpu 0 7 1
		EOF2
		test_cmp expect actual
	'
	test_expect_success 'postgres: a server that is down is retried until it is up' '
		as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null &&
		( sleep 3; as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
			-o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null ) &
		echo "{\"id\":\"i-3\",\"metric\":\"cpu\",\"window_start\":0,\"max\":1,\"n\":1}" |
			ksink --postgres "$CONN" --table m --upsert-key id,metric,window_start 2>err &&
		grep "retry" err &&
		psql -X -A -t "$CONN" -c "SELECT count(*) FROM m" >actual &&
		echo 4 >expect && test_cmp expect actual
	'
	test_expect_success 'postgres: --retry-max gives up with 75' '
		as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null &&
		echo "{\"id\":\"x\"}" | test_expect_code 75 ksink --postgres "$CONN" \
			--table z --upsert-key id --retry-max 2 2>err &&
		grep "giving up after 2 retries" err
	'
fi

test_done
