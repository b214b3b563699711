/* u-jqx.c - tests of common/jqx.c: jq programs on packed msgpack values.
 *
 * Expected values are worked by hand from jq's manual (jq 1.6) and, for
 * the error messages, copied from what the jq 1.6 command prints for the
 * same program (`jq -c PROGRAM`); each group says which.  The direct
 * msgpack <-> jv route is also checked against the JSON-text route
 * (KP_JQX_TEXT) on the same inputs: two conversions, one answer.
 *
 * With KPIPE_BENCH set, it also times both routes on generated
 * Yahoo-benchmark events and prints records/s as TAP comments.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "jqx.h"
#include "json.h"
#include "mp.h"
#include "record.h"
#include "tap.h"

static struct kp_json_parser *jp;

static int
buf_write(void *data, const char *p, size_t n)
{
	kp_buf_add(data, p, n);
	return 0;
}

/* JSON text -> packed msgpack (appended to out) */
static void
pack_json(struct kp_buf *out, const char *json)
{
	char err[256];

	if (kp_json_parse(jp, json, strlen(json), out, err, sizeof(err)) != 0) {
		fprintf(stderr, "bad test JSON '%s': %s\n", json, err);
		exit(2);
	}
}

/* Results in res[0..n) as JSON texts joined by spaces into out. */
static void
results_json(struct kp_buf *out, const struct kp_buf *res)
{
	size_t off = 0;
	long long r;

	kp_buf_reset(out);
	kp_buf_adds(out, "");
	while (off < res->len) {
		if (off)
			kp_buf_addc(out, ' ');
		r = kp_json_write(out, res->data + off, res->len - off);
		if (r <= 0) {
			kp_buf_adds(out, "<bad msgpack>");
			return;
		}
		off += (size_t)r;
	}
}

/* Run prog on the JSON value in (NULL: null input) and compare the
 * results, as space-separated JSON, with want (NULL: want an error whose
 * message is werr). */
static void
check(int flags, const char *prog, const char *in, const char *want,
    const char *werr)
{
	struct kp_buf mp = {0}, res = {0}, got = {0};
	struct kp_jqx *q;
	char err[512];
	long n;

	q = kp_jqx_new(prog, NULL, flags, err, sizeof(err));
	if (!ok(q != NULL, "%s: compiles", prog)) {
		printf("#   %s\n", err);
		return;
	}
	if (in)
		pack_json(&mp, in);
	kp_buf_adds(&res, "");
	n = kp_jqx_run(q, in ? mp.data : NULL, mp.len, 0, &res, err,
	    sizeof(err));
	if (want) {
		results_json(&got, &res);
		if (!ok(n >= 0, "%s%s on %s", prog, flags ? " (text)" : "",
		    in ? in : "null"))
			printf("#   error: %s\n", err);
		else
			is_str(got.data, want, "%s%s on %s -> %s", prog,
			    flags ? " (text)" : "", in ? in : "null", want);
	} else {
		ok(n == -1 && res.len == 0, "%s%s on %s fails, adds nothing",
		    prog, flags ? " (text)" : "", in ? in : "null");
		is_str(err, werr, "%s: message", prog);
	}
	kp_jqx_free(q);
	kp_buf_free(&mp);
	kp_buf_free(&res);
	kp_buf_free(&got);
}

static void
both(const char *prog, const char *in, const char *want, const char *werr)
{
	check(0, prog, in, want, werr);
	check(KP_JQX_TEXT, prog, in, want, werr);
}

static void
test_programs(void)
{
	/* filter, map, flat-map, drop: worked by hand from jq's manual */
	both("select(.quantity > 5)", "{\"id\":1,\"quantity\":7}",
	    "{\"id\":1,\"quantity\":7}", NULL);
	both("select(.quantity > 5)", "{\"id\":2,\"quantity\":5}", "", NULL);
	both("{id, cpu: .\"max.cpu\"}", "{\"id\":\"a\",\"max.cpu\":0.5,\"x\":1}",
	    "{\"id\":\"a\",\"cpu\":0.5}", NULL);
	both(".items[]", "{\"items\":[1,\"two\",{\"three\":3}]}",
	    "1 \"two\" {\"three\":3}", NULL);
	both("empty", "{\"a\":1}", "", NULL);
	both(".", NULL, "null", NULL);
	both(".a, .b", "{\"a\":true,\"b\":false}", "true false", NULL);
	both("[.[] * 2]", "[1,2.5,-3]", "[2,5,-6]", NULL);
	/* numbers: integral results pack as integers (jq prints 3, not 3.0) */
	both(".a + .b", "{\"a\":1.5,\"b\":1.5}", "3", NULL);
	both(".a / 4", "{\"a\":1}", "0.25", NULL);
	/* a number is a double in jq: 2^53 + 1 rounds, as `jq -c .` prints
	 * it; but an object that comes back as it went in passes on the
	 * input's bytes, and 2^53 + 1 inside survives */
	both(".", "9007199254740993", "9007199254740992", NULL);
	both("select(.a > 0)", "{\"a\":9007199254740993}",
	    "{\"a\":9007199254740993}", NULL);
	both(". + 0", "[1]", NULL,
	    "array ([1]) and number (0) cannot be added");
	/* 2^53 + 1 is not a double: jq rounds it to 2^53 */
	both(". + 0", "9007199254740993", "9007199254740992", NULL);
	/* 2^63 fits uint64; jq prints the same double as
	 * 9223372036854776000, which the text route then reads as a
	 * different integer: the direct route keeps the value */
	check(0, "pow(2; 63)", "null", "9223372036854775808", NULL);
	check(KP_JQX_TEXT, "pow(2; 63)", "null", "9223372036854776000", NULL);
	/* 2^64 does not fit: float64 */
	both("pow(2; 64)", "null", "1.8446744073709552e+19", NULL);
	/* -0 packs as integer 0, as json.h reads "-0" (jq prints -0) */
	both("-(. * 0)", "1", "0", NULL);
	/* strings, objects: order kept, duplicate keys as jq (last wins at
	 * the first key's position) */
	both("{b: 1, a: 2} | .c = 3", "null", "{\"b\":1,\"a\":2,\"c\":3}", NULL);
	both(".", "{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}", NULL);
	both(".s | ascii_upcase", "{\"s\":\"h\\u00e9llo\"}", "\"H\xc3\xa9LLO\"",
	    NULL);
	both("first(.[])", "[4,5,6]", "4", NULL);
	both("limit(2; .[])", "[4,5,6]", "4 5", NULL);
	/* runtime errors: messages as `jq -c` 1.6 prints them, after
	 * "jq: error (at <stdin>:1): " */
	both(".a / .b", "{\"a\":1,\"b\":0}", NULL,
	    "number (1) and number (0) cannot be divided because the divisor "
	    "is zero");
	both(".[] | 10 / .", "[1,2,0,4]", NULL,
	    "number (10) and number (0) cannot be divided because the divisor "
	    "is zero");
	both(".a.b", "{\"a\":\"x\"}", NULL,
	    "Cannot index string with string \"b\"");
	both("error(\"boom\")", "1", NULL, "boom");
	both("error({a: 1})", "1", NULL, "{\"a\":1} (not a string)");
	/* halt ends the results; halt_error is an error with its message */
	both(".[] | if . == 2 then halt else . end", "[1,2,3]", "1", NULL);
	both("if . == 2 then \"bad two\\n\" | halt_error else . end", "2",
	    NULL, "bad two");
	both("if . == 2 then {x: 2} | halt_error else . end", "2",
	    NULL, "{\"x\":2} (not a string)");
	/* 600 nested arrays: deeper than the writer takes */
	check(0, "reduce range(600) as $i (0; [.])", "null", NULL,
	    "result nested deeper than 512 levels");
}

static void
test_compile(void)
{
	struct kp_jqx *q;
	char err[512];
	static const char *const vars[] = { "key", "x", NULL };

	/* worked from jq 1.6's own messages: `jq -n '.a +'` prints "jq:
	 * error: syntax error, unexpected $end (Unix shell quoting
	 * issues?) at <top-level>, line 1:" */
	q = kp_jqx_new(".a +", NULL, 0, err, sizeof(err));
	ok(q == NULL, "syntax error: no program");
	is_str(err, "syntax error, unexpected $end (Unix shell quoting "
	    "issues?) at <top-level>, line 1", "syntax error: jq's message");
	q = kp_jqx_new("$nokey", vars, 0, err, sizeof(err));
	ok(q == NULL, "undefined variable: no program");
	is_str(err, "$nokey is not defined at <top-level>, line 1",
	    "undefined variable: jq's message");
	q = kp_jqx_new("import \"nosuchmodule\" as m; .", vars, 0, err,
	    sizeof(err));
	ok(q == NULL && strstr(err, "module not found: nosuchmodule"),
	    "import of a missing module: jq's error (%s)", err);
	{
		char dir[] = "/tmp/u-jqx.XXXXXX", path[64], prog[128];
		FILE *f;

		if (mkdtemp(dir) == NULL)
			return;
		snprintf(path, sizeof(path), "%s/m.jq", dir);
		f = fopen(path, "w");
		fputs("def twice: . * 2;\n", f);
		fclose(f);
		snprintf(prog, sizeof(prog), "import \"m\" as m {search: "
		    "\"%s\"}; m::twice", dir);
		q = kp_jqx_new(prog, vars, 0, err, sizeof(err));
		ok(q != NULL, "import without variables: compiles (%s)",
		    q ? "" : err);
		kp_jqx_free(q);
		snprintf(prog, sizeof(prog), "import \"m\" as m {search: "
		    "\"%s\"}; $key | m::twice", dir);
		q = kp_jqx_new(prog, vars, 0, err, sizeof(err));
		ok(q == NULL && strstr(err, "cannot import or include"),
		    "import with variables: refused (%s)", err);
		unlink(path);
		rmdir(dir);
	}
	q = kp_jqx_new("$key, $ x, \"$keys\"", vars, 0, err, sizeof(err));
	ok(q && kp_jqx_uses_var(q, 0) && kp_jqx_uses_var(q, 1),
	    "mentions: $key and '$ x' (jq 1.6 allows the blank)");
	kp_jqx_free(q);
	q = kp_jqx_new(".keys, $keyx, $key::m", vars, 0, err, sizeof(err));
	/* compiling fails ($keyx is undefined), so test the scan alone */
	ok(q == NULL, "$keyx undefined");
	q = kp_jqx_new(".key", vars, 0, err, sizeof(err));
	ok(q && !kp_jqx_uses_vars(q), ".key mentions no variable");
	kp_jqx_free(q);
}

static void
test_vars(int flags)
{
	static const char *const vars[] = { "key", "timestamp", "topic",
	    "partition", "offset", "headers", "extra", NULL };
	struct kp_record r;
	struct kp_buf mp = {0}, res = {0}, got = {0};
	struct kp_jqx *q;
	char err[512];
	long n;

	kp_record_init(&r);
	kp_record_set_key(&r, "k1", 2);
	r.timestamp = 1700000000123LL;
	kp_buf_adds(&r.topic, "orders");
	r.partition = 3;
	r.offset = 42;
	kp_record_add_header(&r, "h", 1, "one", 3);
	kp_record_add_header(&r, "n", 1, NULL, 0);
	kp_record_add_header(&r, "h", 1, "two", 3);
	q = kp_jqx_new("[$key, $timestamp, $topic, $partition, $offset, "
	    "$headers, $extra, .v]", vars, flags, err, sizeof(err));
	if (!ok(q != NULL, "variables: compiles")) {
		printf("#   %s\n", err);
		return;
	}
	kp_jqx_set_record(q, &r);
	pack_json(&mp, "[1,\"x\"]");
	ok(kp_jqx_set_var(q, 6, mp.data, mp.len) == 0, "set $extra");
	ok(kp_jqx_set_var(q, 6, "\xc1", 1) == -1, "set $extra: bad msgpack");
	kp_buf_reset(&mp);
	pack_json(&mp, "{\"v\":9}");
	n = kp_jqx_run(q, mp.data, mp.len, 0, &res, err, sizeof(err));
	results_json(&got, &res);
	/* worked by hand: repeated header "h": the last value wins */
	is_str(got.data, "[\"k1\",1700000000123,\"orders\",3,42,"
	    "{\"h\":\"two\",\"n\":null},[1,\"x\"],9]", "variables from a record%s",
	    flags ? " (text)" : "");
	ok(n == 1, "one result");
	/* a second record: null key, no timestamp, not from Kafka */
	kp_record_clear(&r);
	kp_buf_reset(&res);
	kp_jqx_set_record(q, &r);
	n = kp_jqx_run(q, mp.data, mp.len, 0, &res, err, sizeof(err));
	results_json(&got, &res);
	is_str(got.data, "[null,null,null,null,null,{},[1,\"x\"],9]",
	    "variables of a bare record%s", flags ? " (text)" : "");
	/* the variables hold from run to run; `input` sees no more */
	kp_buf_reset(&res);
	kp_jqx_free(q);
	q = kp_jqx_new("$key, input", vars, flags, err, sizeof(err));
	kp_jqx_set_record(q, &r);
	n = kp_jqx_run(q, NULL, 0, 0, &res, err, sizeof(err));
	/* jq 1.6 says "break" too: `jq -n input </dev/null` */
	ok(n == -1 && !strcmp(err, "break"),
	    "input after the variables: an error, as in jq 1.6 (%s)", err);
	kp_buf_reset(&res);
	kp_jqx_free(q);
	q = kp_jqx_new("[$key, inputs]", vars, flags, err, sizeof(err));
	kp_jqx_set_record(q, &r);
	n = kp_jqx_run(q, NULL, 0, 0, &res, err, sizeof(err));
	results_json(&got, &res);
	is_str(got.data, "[null]", "inputs after the variables: none");
	kp_record_set_key(&r, "\xff", 1);
	kp_jqx_free(q);
	q = kp_jqx_new("$key, input", vars, flags, err, sizeof(err));
	kp_jqx_set_record(q, &r);
	kp_buf_reset(&res);
	n = kp_jqx_run(q, NULL, 0, 1, &res, err, sizeof(err));
	results_json(&got, &res);
	/* invalid UTF-8 in a key: U+FFFD, as jq does with bad input */
	is_str(got.data, "\"\xef\xbf\xbd\"", "max 1 stops before input; "
	    "invalid UTF-8 key replaced");
	kp_jqx_free(q);
	kp_record_free(&r);
	kp_buf_free(&mp);
	kp_buf_free(&res);
	kp_buf_free(&got);
}

static void
test_test(void)
{
	static const struct {
		const char *prog, *in;
		int truth;
	} t[] = {
		/* jq truthiness: only false and null are false */
		{ ".a > 1", "{\"a\":2}", 1 },
		{ ".a > 1", "{\"a\":1}", 0 },
		{ ".a", "{\"a\":0}", 1 },
		{ ".a", "{\"a\":\"\"}", 1 },
		{ ".a", "{}", 0 },
		{ "empty", "1", 0 },
		{ "false, true", "1", 0 },	/* the first result decides */
		{ "true, error(\"x\")", "1", 1 },
	};
	struct kp_buf mp = {0};
	struct kp_jqx *q;
	char err[512];
	size_t i;
	int truth, rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		q = kp_jqx_new(t[i].prog, NULL, 0, err, sizeof(err));
		kp_buf_reset(&mp);
		pack_json(&mp, t[i].in);
		rc = kp_jqx_test(q, mp.data, mp.len, &truth, err, sizeof(err));
		ok(rc == 0 && truth == t[i].truth, "test %s on %s: %d",
		    t[i].prog, t[i].in, t[i].truth);
		kp_jqx_free(q);
	}
	q = kp_jqx_new(".a.b", NULL, 0, err, sizeof(err));
	kp_buf_reset(&mp);
	pack_json(&mp, "{\"a\":1}");
	rc = kp_jqx_test(q, mp.data, mp.len, &truth, err, sizeof(err));
	ok(rc == -1 && !strcmp(err, "Cannot index number with string \"b\""),
	    "test: runtime error (%s)", err);
	kp_jqx_free(q);
	kp_buf_free(&mp);
}

/* msgpack that JSON cannot say: bin, ext, non-string keys, floats */
static void
test_msgpack(void)
{
	struct kp_buf mp = {0}, res = {0}, got = {0};
	struct kp_jqx *q;
	msgpack_packer pk;
	char err[512];
	long n;

	msgpack_packer_init(&pk, &mp, buf_write);
	msgpack_pack_map(&pk, 4);
	msgpack_pack_str_with_body(&pk, "b", 1);
	msgpack_pack_bin_with_body(&pk, "hi!", 3);
	msgpack_pack_int(&pk, 7);
	msgpack_pack_str_with_body(&pk, "seven", 5);
	msgpack_pack_str_with_body(&pk, "f", 1);
	msgpack_pack_float(&pk, 0.5f);
	msgpack_pack_str_with_body(&pk, "bad", 3);
	msgpack_pack_str_with_body(&pk, "a\xffz", 3);
	q = kp_jqx_new(". + {}", NULL, 0, err, sizeof(err));
	n = kp_jqx_run(q, mp.data, mp.len, 0, &res, err, sizeof(err));
	results_json(&got, &res);
	/* worked by hand: base64("hi!") = "aGkh"; key 7 -> "7"; the
	 * float32 0.5 is exact; 0xff -> U+FFFD */
	is_str(got.data, "{\"b\":\"aGkh\",\"7\":\"seven\",\"f\":0.5,"
	    "\"bad\":\"a\xef\xbf\xbdz\"}", "bin, int key, float32, bad UTF-8");
	ok(n == 1, "one result");
	kp_buf_reset(&res);
	kp_jqx_free(q);
	/* `.` hands back the input's own bytes, bin and all */
	q = kp_jqx_new("select(.f < 1)", NULL, 0, err, sizeof(err));
	n = kp_jqx_run(q, mp.data, mp.len, 0, &res, err, sizeof(err));
	ok(n == 1 && res.len == mp.len && !memcmp(res.data, mp.data, mp.len),
	    "select passes the input's bytes unchanged");
	kp_buf_reset(&res);
	n = kp_jqx_run(q, "\x92\x01", 2, 0, &res, err, sizeof(err));
	ok(n == -1 && res.len == 0, "truncated msgpack: error (%s)", err);
	n = kp_jqx_run(q, "\x01\x02", 2, 0, &res, err, sizeof(err));
	ok(n == -1, "two objects: error");
	n = kp_jqx_run(q, "\xdd\xff\xff\xff\xff", 5, 0, &res, err, sizeof(err));
	ok(n == -1, "an array header that lies: error");
	kp_jqx_free(q);
	/* non-finite numbers pack as float64 (the JSON writer shows null) */
	q = kp_jqx_new("[nan, infinite, -infinite]", NULL, 0, err, sizeof(err));
	kp_buf_reset(&res);
	n = kp_jqx_run(q, NULL, 0, 0, &res, err, sizeof(err));
	ok(n == 1 && res.len == 1 + 3 * 9 && (uint8_t)res.data[1] == 0xcb,
	    "nan, infinities: float64");
	kp_jqx_free(q);
	kp_buf_free(&mp);
	kp_buf_free(&res);
	kp_buf_free(&got);
}

static void
debug_to_buf(void *arg, const char *json, size_t n)
{
	kp_buf_add(arg, json, n);
	kp_buf_addc(arg, ';');
}

static void
test_debug(void)
{
	struct kp_buf mp = {0}, res = {0}, seen = {0};
	struct kp_jqx *q;
	char err[512];
	long n;

	q = kp_jqx_new(".[] | debug | . + 1", NULL, 0, err, sizeof(err));
	pack_json(&mp, "[1,{\"a\":[]}]");
	n = kp_jqx_run(q, mp.data, mp.len, 0, &res, err, sizeof(err));
	ok(n == -1 && seen.len == 0, "debug without a callback: silent");
	kp_jqx_set_debug(q, debug_to_buf, &seen);
	n = kp_jqx_run(q, mp.data, mp.len, 0, &res, err, sizeof(err));
	/* worked by hand: both elements pass debug before {"a":[]} + 1
	 * fails */
	is_str(seen.data, "1;{\"a\":[]};", "debug hands each value as JSON");
	ok(n == -1, "then the error");
	kp_jqx_free(q);
	kp_buf_free(&mp);
	kp_buf_free(&res);
	kp_buf_free(&seen);
}

/* kp_jqx_new_set(): each handle runs its own program, whatever ran
 * before it on the shared state; errors name the program that has them;
 * a set that cannot be one compiles program by program.  Expected values
 * worked by hand (and with jq -c on the same inputs). */
static void
test_set(void)
{
	static const char *const vars[] = { "key", "topic", NULL };
	const char *progs[] = { ".a + 1", "$key, .b", "(.a | . > 1) and "
	    "($topic == null)", ".a | debug" };
	const char *bad[] = { ".a", "$key +", "." };
	const char *loc[] = { "1", "$__loc__.line" };
	struct kp_buf mp = {0}, res = {0}, got = {0}, seen = {0};
	struct kp_record r;
	struct kp_jqx *q[4];
	char err[512];
	size_t i;
	int truth = -1;
	long n;

	kp_record_init(&r);
	kp_record_set_key(&r, "k7", 2);
	ok(kp_jqx_new_set(progs, 4, vars, 0, q, err, sizeof(err)) == 4,
	    "set: compiles");
	ok(q[0] != NULL && !kp_jqx_uses_vars(q[0]) && kp_jqx_uses_var(q[1], 0)
	    && !kp_jqx_uses_var(q[1], 1) && kp_jqx_uses_var(q[2], 1),
	    "set: each handle knows its own variables");
	kp_jqx_set_debug(q[3], debug_to_buf, &seen);
	for (i = 0; i < 4; i++)
		kp_jqx_set_record(q[i], &r);
	pack_json(&mp, "{\"a\":2,\"b\":\"x\"}");
	/* one result of q[1] only: its run is cut short, q[0]'s follows */
	n = kp_jqx_run(q[1], mp.data, mp.len, 1, &res, err, sizeof(err));
	results_json(&got, &res);
	is_str(got.data, "\"k7\"", "set: $key (max 1)");
	kp_buf_reset(&res);
	n = kp_jqx_run(q[0], mp.data, mp.len, 0, &res, err, sizeof(err));
	results_json(&got, &res);
	is_str(got.data, "3", "set: .a + 1 after it");
	ok(kp_jqx_test(q[2], mp.data, mp.len, &truth, err, sizeof(err)) == 0 &&
	    truth == 1, "set: the predicate");
	kp_buf_reset(&res);
	n = kp_jqx_run(q[1], mp.data, mp.len, 0, &res, err, sizeof(err));
	results_json(&got, &res);
	is_str(got.data, "\"k7\" \"x\"", "set: $key, .b in full");
	kp_buf_reset(&res);
	n = kp_jqx_run(q[3], mp.data, mp.len, 0, &res, err, sizeof(err));
	is_str(seen.data, "2;", "set: debug reaches the handle's callback");
	ok(n == 1, "set: one result of debug");
	kp_buf_reset(&res);
	n = kp_jqx_run(q[0], NULL, 0, 0, &res, err, sizeof(err));
	results_json(&got, &res);
	is_str(got.data, "1", "set: null input");
	/* freed out of order: the state goes with the last */
	kp_jqx_free(q[2]);
	kp_jqx_free(q[0]);
	kp_buf_reset(&res);
	n = kp_jqx_run(q[1], mp.data, mp.len, 0, &res, err, sizeof(err));
	ok(n == 2, "set: a handle runs after others are freed");
	kp_jqx_free(q[3]);
	kp_jqx_free(q[1]);

	/* not NULL before: the call must clear them */
	q[0] = q[1] = q[2] = (struct kp_jqx *)(void *)&truth;
	ok(kp_jqx_new_set(bad, 3, vars, 0, q, err, sizeof(err)) == 1 &&
	    q[0] == NULL && q[1] == NULL && q[2] == NULL,
	    "set: the second program does not compile, nothing is left");
	is_str(err, "syntax error, unexpected $end (Unix shell quoting "
	    "issues?) at <top-level>, line 1", "set: jq's message for it");
	/* $__loc__ counts the program's own lines: compiled on its own */
	ok(kp_jqx_new_set(loc, 2, NULL, 0, q, err, sizeof(err)) == 2,
	    "set with $__loc__: compiles");
	kp_buf_reset(&res);
	n = kp_jqx_run(q[1], NULL, 0, 0, &res, err, sizeof(err));
	results_json(&got, &res);
	is_str(got.data, "1", "set: $__loc__ is line 1 of its program");
	kp_jqx_free(q[0]);
	kp_jqx_free(q[1]);
	kp_record_free(&r);
	kp_buf_free(&mp);
	kp_buf_free(&res);
	kp_buf_free(&got);
	kp_buf_free(&seen);
}

/* ---- benchmark (KPIPE_BENCH) ---- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
bench(void)
{
	static const char *types[] = { "view", "click", "purchase" };
	static const char *progs[] = { "select(.event_type == \"view\")",
	    "{user_id, ad_id, t: (.event_time | tonumber)}" };
	enum { N = 200000 };
	struct kp_buf all = {0}, res = {0};
	size_t *offs = kp_xmalloc((N + 1) * sizeof(*offs));
	char line[512], err[512];
	unsigned seed = 1;
	int i, p, flags;

	for (i = 0; i < N; i++) {
		seed = seed * 1103515245 + 12345;
		snprintf(line, sizeof(line), "{\"user_id\":\"%08x-u\","
		    "\"page_id\":\"%08x-p\",\"ad_id\":\"%08x-a\",\"ad_type\":"
		    "\"banner\",\"event_type\":\"%s\",\"event_time\":"
		    "\"%lld\",\"ip_address\":\"1.2.3.4\"}", seed, seed * 7,
		    seed % 1000, types[(seed >> 16) % 3],
		    1700000000000LL + i);
		offs[i] = all.len;
		pack_json(&all, line);
	}
	offs[N] = all.len;
	for (p = 0; p < 2; p++) {
		for (flags = 0; flags <= KP_JQX_TEXT; flags++) {
			struct kp_jqx *q = kp_jqx_new(progs[p], NULL, flags, err,
			    sizeof(err));
			double t0 = now_s(), dt;
			long out = 0;

			for (i = 0; i < N; i++) {
				kp_buf_reset(&res);
				out += kp_jqx_run(q, all.data + offs[i],
				    offs[i + 1] - offs[i], 0, &res, err,
				    sizeof(err));
			}
			dt = now_s() - t0;
			printf("# bench %-48s %-6s %8.0f records/s (%ld out)\n",
			    progs[p], flags ? "text" : "direct", N / dt, out);
			kp_jqx_free(q);
		}
	}
	free(offs);
	kp_buf_free(&all);
	kp_buf_free(&res);
}

/* A program with variables is compiled once, wrapped in "( ... )",
 * when its parentheses outside strings and comments balance: the
 * wrapper must not make a program valid that jq refuses, nor change
 * what a valid one means.  Expected values worked by hand (and with
 * `jq -n --arg key k PROGRAM` for the valid ones). */
static void
test_wrap(void)
{
	static const char *const vars[] = { "key", NULL };
	static const struct {
		const char	*prog;
		const char	*want;		/* NULL: refused */
	} t[] = {
		{ "1) , ($key", NULL },
		{ "$key) | (.", NULL },
		{ "$key # (", "\"k\"" },
		{ "$key # )\n, 1", "\"k\" 1" },
		{ "\"(\" + $key + \")\"", "\"(k)\"" },
		{ "\")\" + $key", "\")k\"" },
		{ "\"\\(1 + (2)) \\($key)\"", "\"3 k\"" },
		{ "\"\\(\")\")\" + $key", "\")k\"" },
		{ "\"\\\"(\" + $key", "\"\\\"(k\"" },
		{ "[$key, (1, (2))]", "[\"k\",1,2]" },
		{ "def f: $key; f", "\"k\"" },
		{ "$key; 1", NULL },
		{ "$key +", NULL },
	};
	struct kp_record r;
	struct kp_buf res = {0}, got = {0};
	struct kp_jqx *q;
	char err[512];
	size_t i;
	long n;

	kp_record_init(&r);
	kp_record_set_key(&r, "k", 1);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		q = kp_jqx_new(t[i].prog, vars, 0, err, sizeof(err));
		if (t[i].want == NULL) {
			ok(q == NULL, "wrap %zu: refused (%s)", i,
			    q ? "compiled" : err);
			kp_jqx_free(q);
			continue;
		}
		if (!ok(q != NULL, "wrap %zu: compiles", i)) {
			printf("#   %s\n", err);
			continue;
		}
		kp_jqx_set_record(q, &r);
		kp_buf_reset(&res);
		n = kp_jqx_run(q, NULL, 0, 0, &res, err, sizeof(err));
		results_json(&got, &res);
		is_str(n < 0 ? err : got.data, t[i].want, "wrap %zu: results",
		    i);
		kp_jqx_free(q);
	}
	/* a syntax error names the program's own text, not the wrapper */
	q = kp_jqx_new("$key +", vars, 0, err, sizeof(err));
	is_str(err, "syntax error, unexpected $end (Unix shell quoting "
	    "issues?) at <top-level>, line 1", "wrap: jq's message for the "
	    "program as written");
	kp_record_free(&r);
	kp_buf_free(&res);
	kp_buf_free(&got);
}

int
main(void)
{
	jp = kp_json_parser_new();
	test_compile();
	test_wrap();
	test_set();
	test_programs();
	test_vars(0);
	test_vars(KP_JQX_TEXT);
	test_test();
	test_msgpack();
	test_debug();
	if (getenv("KPIPE_BENCH"))
		bench();
	kp_json_parser_free(jp);
	return done_testing();
}
