/* u-codec.c - unit tests of util, mp, json (and its one-field reader),
 * path and the envelope codec.
 * Expected values are worked by hand from RFC 4648 (base64), RFC 3629
 * (UTF-8), the msgpack spec, and jq's path semantics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "json.h"
#include "mp.h"
#include "path.h"
#include "tap.h"
#include "util.h"

static char err[512];

/* JSON text -> msgpack -> JSON text */
static const char *
rt(struct kp_json_parser *p, const char *in)
{
	static struct kp_buf out;
	struct kp_buf mp = {0};

	kp_buf_reset(&out);
	if (kp_json_parse(p, in, strlen(in), &mp, err, sizeof(err)) != 0) {
		kp_buf_free(&mp);
		return NULL;
	}
	kp_json_write(&out, mp.data, mp.len);
	kp_buf_free(&mp);
	return out.data;
}

static void
test_util(void)
{
	struct kp_buf b = {0};
	long long v;
	const char *e;

	/* RFC 4648 section 10 test vectors */
	static const char *vec[][2] = { { "", "" }, { "f", "Zg==" },
	    { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
	    { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };
	size_t i;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		kp_buf_reset(&b);
		kp_base64_encode(&b, vec[i][0], strlen(vec[i][0]));
		is_str(b.data ? b.data : "", vec[i][1], "base64 '%s'", vec[i][0]);
		kp_buf_reset(&b);
		ok(kp_base64_decode(&b, vec[i][1], strlen(vec[i][1])) == 0 &&
		    b.len == strlen(vec[i][0]) &&
		    !memcmp(b.data ? b.data : "", vec[i][0], b.len),
		    "base64 decode '%s'", vec[i][1]);
	}
	kp_buf_reset(&b);
	ok(kp_base64_decode(&b, "Zm9", 3) < 0, "base64: bad length refused");
	ok(kp_base64_decode(&b, "Zm*v", 4) < 0, "base64: bad char refused");
	/* kcat #111: key bytes 00 ff fe 41 -> "AP/+QQ==" */
	kp_buf_reset(&b);
	kp_base64_encode(&b, "\x00\xff\xfe\x41", 4);
	is_str(b.data, "AP/+QQ==", "base64 of kcat #111's key");

	ok(kp_utf8_valid("caf\xc3\xa9", 5), "utf8: e-acute");
	ok(kp_utf8_valid("\xf0\x9f\x98\x80", 4), "utf8: 4-byte emoji");
	ok(!kp_utf8_valid("\xc3\x28", 2), "utf8: c3 28 invalid (kcat #111)");
	ok(!kp_utf8_valid("\xc0\xaf", 2), "utf8: overlong refused");
	ok(!kp_utf8_valid("\xed\xa0\x80", 3), "utf8: surrogate refused");
	ok(!kp_utf8_valid("\xf4\x90\x80\x80", 4), "utf8: above U+10FFFF refused");
	ok(!kp_utf8_valid("\xe2\x82", 2), "utf8: truncated refused");

	ok(kp_strtonum("42", 0, 100, &v, &e) == 0 && v == 42, "strtonum 42");
	ok(kp_strtonum("101", 0, 100, &v, &e) < 0 && !strcmp(e, "too large"),
	    "strtonum too large");
	ok(kp_strtonum("-1", 0, 100, &v, &e) < 0 && !strcmp(e, "too small"),
	    "strtonum too small");
	ok(kp_strtonum("4x", 0, 100, &v, &e) < 0 && !strcmp(e, "invalid"),
	    "strtonum trailing junk");
	ok(kp_strtonum("", 0, 100, &v, &e) < 0, "strtonum empty");
	kp_buf_free(&b);
}

static void
test_mp(void)
{
	/* {"a":[1,-1,"xy"]}: 81 a1 61 93 01 ff a2 78 79 (msgpack spec) */
	static const unsigned char m[] = { 0x81, 0xa1, 0x61, 0x93, 0x01, 0xff,
	    0xa2, 0x78, 0x79 };
	/* uint64 max: cf ff..ff; int16 -300: d1 fe d4 */
	static const unsigned char u[] = { 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff };
	static const unsigned char i16[] = { 0xd1, 0xfe, 0xd4 };
	struct kp_mp_item it;
	size_t n;

	is_int(kp_mp_skip(m, sizeof(m)), sizeof(m), "skip a whole map");
	for (n = 0; n < sizeof(m); n++)
		if (kp_mp_skip(m, n) != 0)
			break;
	is_int(n, sizeof(m), "every prefix is incomplete (0)");
	is_int(kp_mp_skip((const unsigned char *)"\xc1", 1), -1,
	    "0xc1 is invalid");
	ok(kp_mp_read(u, sizeof(u), &it) == 1 && it.type == KP_MP_UINT &&
	    it.u == UINT64_MAX, "uint64 max");
	ok(kp_mp_read(i16, sizeof(i16), &it) == 1 && it.type == KP_MP_INT &&
	    it.i == -300, "int16 -300 sign-extends");
}

static void
test_json(void)
{
	struct kp_json_parser *p = kp_json_parser_new();
	struct kp_buf mp = {0};

	is_str(rt(p, "{\"a\":1,\"b\":[true,null,\"x\"]}"),
	    "{\"a\":1,\"b\":[true,null,\"x\"]}", "object round trip");
	is_str(rt(p, "{\"a\":1,\"b\":2,\"a\":3}"), "{\"a\":3,\"b\":2}",
	    "duplicate key: last value, first position (jq)");
	is_str(rt(p, "{\"a\":{\"x\":1,\"x\":2},\"a\":{\"y\":3}}"),
	    "{\"a\":{\"y\":3}}", "nested duplicates");
	is_str(rt(p, "1.0"), "1.0", "float keeps .0");
	is_str(rt(p, "0.1"), "0.1", "shortest digits for 0.1");
	/* jq 1.6: `echo 1e400 | jq .` prints 1.7976931348623157e+308 */
	is_str(rt(p, "1e400"), "1.7976931348623157e+308",
	    "overflowing float becomes the largest double (jq)");
	is_str(rt(p, "-1e400"), "-1.7976931348623157e+308",
	    "and its negative");
	is_str(rt(p, "18446744073709551615"), "18446744073709551615",
	    "uint64 max exact");
	is_str(rt(p, "18446744073709551616"), "1.8446744073709552e+19",
	    "2^64 becomes a float");
	is_str(rt(p, "-9223372036854775808"), "-9223372036854775808",
	    "int64 min exact");
	is_str(rt(p, "\"\\ud83d\\ude00\""), "\"\xf0\x9f\x98\x80\"",
	    "surrogate pair joined");
	is_str(rt(p, "\"\\u0000\""), "\"\\u0000\"", "NUL kept and escaped");
	is_str(rt(p, "  [ ]  "), "[]", "white space around a value");
	ok(rt(p, "{\"a\":}") == NULL, "invalid JSON refused: %s", err);
	ok(rt(p, "{\"a\":1") == NULL && strstr(err, "truncated"),
	    "truncated: %s", err);
	ok(rt(p, "1 2") == NULL && strstr(err, "more than one"),
	    "two values: %s", err);
	ok(rt(p, "[1]") != NULL, "parser usable after errors");
	ok(kp_json_parse(p, "  ", 2, &mp, err, sizeof(err)) == -2,
	    "blank is -2");
	/* 16 and 65536 elements need map16/array32 headers */
	{
		struct kp_buf in = {0};
		int i;

		kp_buf_addc(&in, '{');
		for (i = 0; i < 20; i++)
			kp_buf_printf(&in, "%s\"k%02d\":%d", i ? "," : "", i, i);
		kp_buf_addc(&in, '}');
		is_str(rt(p, in.data), in.data, "map with 20 keys (map16)");
		kp_buf_free(&in);
	}
	kp_buf_free(&mp);
	kp_json_parser_free(p);
}

/* The key krepart's full decoder gives for -k .id (decode, then
 * kp_record_apply_key()): 1 with the bytes in kb or *null, -1 when the
 * text is not valid JSON. */
static int
full_key(struct kp_json_parser *jp, const char *s, size_t n, struct kp_buf *kb,
    int *null)
{
	struct kp_record r;
	struct kp_path pa;

	kp_record_init(&r);
	kp_buf_reset(kb);
	if (kp_json_parse(jp, s, n, &r.value, err, sizeof(err)) != 0) {
		kp_record_free(&r);
		return -1;
	}
	r.vtype = KP_VALUE_MSGPACK;
	kp_path_parse(".id", &pa, err, sizeof(err));
	kp_record_apply_key(&r, &pa, 1);
	*null = r.key_null;
	kp_buf_add(kb, r.key.data ? r.key.data : "", r.key.len);
	kp_path_free(&pa);
	kp_record_free(&r);
	return 1;
}

/* s with control and non-ASCII bytes shown as '.', for a test's name */
static const char *
shown(const char *s)
{
	static char b[128];
	size_t i;

	for (i = 0; s[i] && i < sizeof(b) - 1; i++)
		b[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e ?
		    '.' : s[i];
	b[i] = '\0';
	return b;
}

static void
test_json_field(void)
{
	/* text; the field's bytes ("" with is_null for null), or NULL:
	 * the reader must fall back to the full decoder */
	static const struct { const char *in, *want; int is_null; } c[] = {
	    { "{\"id\":\"a1\",\"x\":2}", "a1", 0 },
	    { " \t{\"x\":[1,{\"y\":null}],\"id\":42}\r\n", "42", 0 },
	    { "{\"id\":-12}", "-12", 0 },
	    { "{\"id\":123456789012345678}", "123456789012345678", 0 },
	    { "{\"id\":0}", "0", 0 },
	    { "{\"id\":\"\"}", "", 0 },
	    { "{\"id\":null}", "", 1 },
	    /* nested objects: only the top level's field counts */
	    { "{\"a\":{\"id\":\"in\"},\"id\":\"out\"}", "out", 0 },
	    { "{\"id\":\"out\",\"a\":{\"b\":{\"id\":\"in\"}}}", "out", 0 },
	    { "{\"l\":[{\"id\":1},{\"id\":2}],\"id\":7}", "7", 0 },
	    { "{\"a\":{\"id\":\"in\"}}", NULL, 0 },
	    /* escaped keys and values are compared decoded */
	    { "{\"\\u0069d\":\"e\"}", "e", 0 },
	    { "{\"i\\\"d\":1,\"id\":\"q\\\"\\u00e9\\n\"}", "q\"\xc3\xa9\n", 0 },
	    { "{\"i\\u0064x\":1}", NULL, 0 },
	    /* duplicate keys: the full decoder keeps the last; nested
	     * duplicates do not matter */
	    { "{\"id\":1,\"id\":2}", NULL, 0 },
	    { "{\"id\":\"a\",\"x\":0,\"\\u0069d\":\"b\"}", NULL, 0 },
	    { "{\"a\":{\"id\":1,\"id\":2},\"id\":3}", "3", 0 },
	    /* values the reader leaves to the full decoder */
	    { "{\"id\":true}", NULL, 0 },
	    { "{\"id\":1.5}", NULL, 0 },
	    { "{\"id\":1e3}", NULL, 0 },
	    { "{\"id\":-0}", NULL, 0 },
	    { "{\"id\":1234567890123456789}", NULL, 0 },
	    { "{\"id\":{\"a\":1}}", NULL, 0 },
	    { "{\"id\":[1]}", NULL, 0 },
	    { "{\"x\":1}", NULL, 0 },
	    { "{}", NULL, 0 },
	    /* not an object */
	    { "\"id\"", NULL, 0 },
	    { "42", NULL, 0 },
	    { "null", NULL, 0 },
	    { "[{\"id\":1}]", NULL, 0 },
	    { "", NULL, 0 },
	    { "   ", NULL, 0 },
	    /* invalid JSON, and then a good object still reads */
	    { "{\"id\":1", NULL, 0 },
	    { "{\"id\":\"ok\"}", "ok", 0 },
	    { "{\"id\":1,}", NULL, 0 },
	    { "{\"id\":2}", "2", 0 },
	    { "{\"id\":1} {\"id\":2}", NULL, 0 },
	    { "{\"id\":1} 5", NULL, 0 },
	    { "{\"id\":\"\xff\"}", NULL, 0 },
	    { "{\"id\":1} x", NULL, 0 },
	    { "{'id':1}", NULL, 0 },
	    { "{\"id\":3}", "3", 0 },
	};
	struct kp_json_field *f = kp_json_field_new("idx", 2);
	struct kp_json_parser *jp = kp_json_parser_new();
	struct kp_buf kb = {0}, deep = {0};
	const char *v;
	size_t i, vn;
	int null, rc;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		size_t n = strlen(c[i].in);

		v = "untouched";
		vn = 99;
		rc = kp_json_field_get(f, c[i].in, n, &v, &vn);
		if (c[i].want == NULL) {
			ok(rc == 0 && vn == 99, "field: falls back on %s",
			    shown(c[i].in));
			continue;
		}
		ok(rc == 1 && (c[i].is_null ? v == NULL && vn == 0 :
		    v != NULL && vn == strlen(c[i].want) &&
		    !memcmp(v, c[i].want, vn)), "field: %s is the key%s",
		    shown(c[i].in), c[i].is_null ? " (null)" : "");
		/* the same key as the full decoder's */
		ok(full_key(jp, c[i].in, n, &kb, &null) == 1 &&
		    null == (v == NULL) && (v == NULL || (kb.len == vn &&
		    !memcmp(kb.data ? kb.data : "", v, vn))),
		    "field: the full decoder agrees on %s", shown(c[i].in));
	}
	/* duplicates: the full decoder's key is the last value */
	ok(full_key(jp, "{\"id\":1,\"id\":2}", 15, &kb, &null) == 1 &&
	    kb.len == 1 && kb.data[0] == '2', "full decoder: the last id wins");
	/* nesting deeper than KP_JSON_MAX_DEPTH */
	kp_buf_add(&deep, "{\"id\":1,\"a\":", 12);
	for (i = 0; i < KP_JSON_MAX_DEPTH + 10; i++)
		kp_buf_add(&deep, "[", 1);
	for (i = 0; i < KP_JSON_MAX_DEPTH + 10; i++)
		kp_buf_add(&deep, "]", 1);
	kp_buf_add(&deep, "}", 1);
	ok(kp_json_field_get(f, deep.data, deep.len, &v, &vn) == 0,
	    "field: falls back on nesting deeper than %d", KP_JSON_MAX_DEPTH);
	ok(full_key(jp, deep.data, deep.len, &kb, &null) == -1,
	    "full decoder: refuses it too");
	ok(kp_json_field_get(f, "{\"id\":\"x\"}", 10, &v, &vn) == 1 &&
	    vn == 1 && *v == 'x', "field: reads again after that");
	kp_buf_free(&deep);
	kp_buf_free(&kb);
	kp_json_parser_free(jp);
	kp_json_field_free(f);
	kp_json_field_free(NULL);
}

static void
test_path(void)
{
	struct kp_json_parser *jp = kp_json_parser_new();
	struct kp_record r;
	struct kp_path pa;
	struct kp_val v;
	struct kp_buf kb = {0};
	const char *doc = "{\"id\":1,\"max.cpu\":10.5,\"tags\":[\"a\",\"b\"],"
	    "\"d\":{\"u\":\"x\"},\"s\":\"1\"}";
	double d;

	kp_record_init(&r);
	kp_json_parse(jp, doc, strlen(doc), &r.value, err, sizeof(err));
	r.vtype = KP_VALUE_MSGPACK;
	kp_record_set_key(&r, "k1", 2);
	kp_record_add_header(&r, "h", 1, "v", 1);
	r.timestamp = 1234;

#define EVAL(text) (kp_path_parse(text, &pa, err, sizeof(err)) == 0 ? \
	(kp_path_eval(&pa, &r, &v), kp_path_free(&pa), 1) : 0)

	ok(EVAL(".id") && kp_val_number(&v, &d) == 0 && d == 1, ".id is 1");
	ok(EVAL(".\"max.cpu\"") && kp_val_number(&v, &d) == 0 && d == 10.5,
	    ".\"max.cpu\" is 10.5");
	ok(EVAL(".tags[1]") && v.t == KP_V_OBJ && v.o->via.str.size == 1 &&
	    v.o->via.str.ptr[0] == 'b', ".tags[1] is b");
	ok(EVAL(".tags[-1]") && v.t == KP_V_OBJ && v.o->via.str.ptr[0] == 'b',
	    ".tags[-1] is b (jq)");
	ok(EVAL(".tags[2]") && v.t == KP_V_MISSING, ".tags[2] is missing");
	ok(EVAL(".d.u") && v.t == KP_V_OBJ, ".d.u found");
	ok(EVAL(".id.x") && v.t == KP_V_MISSING, "step into a number: missing");
	ok(EVAL(".s") && kp_val_number(&v, &d) < 0 &&
	    !strcmp(kp_val_type_name(&v), "string"), "a numeric string is not "
	    "a number");
	ok(EVAL("@key") && v.t == KP_V_BYTES && v.n == 2, "@key");
	ok(EVAL("@timestamp") && v.t == KP_V_INT && v.i == 1234, "@timestamp");
	ok(EVAL("@header.h") && v.t == KP_V_BYTES && v.n == 1, "@header.h");
	ok(EVAL("@header.nope") && v.t == KP_V_MISSING, "absent header");
	ok(!EVAL("id"), "a path must start with . or @: %s", err);
	ok(!EVAL("@nope"), "unknown @ name refused");
	ok(!EVAL(".a["), "unclosed bracket refused");
	/* key bytes: what a Java or kcat producer would send */
	ok(EVAL(".s") && kp_val_key_bytes(&v, &kb) == 0 && kb.len == 1 &&
	    kb.data[0] == '1', "string key \"1\" is the byte 1");
	kp_buf_reset(&kb);
	ok(EVAL(".id") && kp_val_key_bytes(&v, &kb) == 0 &&
	    !strcmp(kb.data, "1"), "integer key 1 is the byte 1");
	kp_buf_reset(&kb);
	ok(EVAL(".\"max.cpu\"") && kp_val_key_bytes(&v, &kb) == 0 &&
	    !strcmp(kb.data, "10.5"), "float key");
	kp_buf_reset(&kb);
	ok(EVAL(".d") && kp_val_key_bytes(&v, &kb) == 0 &&
	    !strcmp(kb.data, "{\"u\":\"x\"}"), "object key is compact JSON");
	kp_buf_reset(&kb);
	ok(EVAL(".nope") && kp_val_key_bytes(&v, &kb) < 0, "missing: null key");
	{
		struct kp_path *list;
		size_t n;

		ok(kp_path_parse_list(".a,.\"b,c\",.d[1]", &list, &n, err,
		    sizeof(err)) == 0 && n == 3 &&
		    !strcmp(list[1].steps[0].name, "b,c"),
		    "path list keeps a quoted comma");
		while (n--)
			kp_path_free(&list[n]);
		free(list);
	}
	{
		struct kp_time_spec t = { .unit = KP_UNIT_S, .has_path = 1 };
		int64_t ms;

		kp_path_parse(".id", &t.path, err, sizeof(err));
		ok(kp_time_extract(&t, &r, &ms, err, sizeof(err)) == 0 &&
		    ms == 1000, "1 s is 1000 ms");
		kp_path_free(&t.path);
		kp_path_parse(".s", &t.path, err, sizeof(err));
		ok(kp_time_extract(&t, &r, &ms, err, sizeof(err)) < 0 &&
		    !strcmp(err, "'.s': expected number, got string"),
		    "time from a string without a format: %s", err);
		kp_path_free(&t.path);
	}
	kp_buf_free(&kb);
	kp_record_free(&r);
	kp_json_parser_free(jp);
}

static void
test_envelope(void)
{
	struct kp_record a, b;
	struct kp_buf out = {0};
	long long n;

	kp_record_init(&a);
	kp_record_init(&b);
	kp_record_set_key(&a, "", 0);			/* empty, not null */
	kp_record_set_value(&a, KP_VALUE_BYTES, "\x00\xff", 2);
	kp_record_add_header(&a, "n", 1, NULL, 0);	/* null header */
	kp_record_add_header(&a, "n", 1, "2", 1);	/* repeated */
	a.timestamp = -15;
	kp_buf_add(&a.topic, "t", 1);
	a.partition = 3;
	a.offset = 42;
	kp_envelope_pack(&out, &a);
	n = kp_envelope_unpack(out.data, out.len, &b, err, sizeof(err));
	is_int(n, out.len, "envelope unpacks whole");
	ok(!b.key_null && b.key.len == 0, "empty key stays empty, not null");
	ok(b.vtype == KP_VALUE_BYTES && b.value.len == 2 &&
	    !memcmp(b.value.data, "\x00\xff", 2), "bytes value kept");
	ok(b.header_cnt == 2 && b.headers[0].null && !b.headers[1].null,
	    "null and repeated headers kept in order");
	ok(b.timestamp == -15 && b.partition == 3 && b.offset == 42 &&
	    b.topic.len == 1, "timestamp and origin kept");
	is_int(kp_envelope_unpack(out.data, out.len - 1, &b, err, sizeof(err)),
	    0, "a cut envelope is incomplete");
	kp_record_clear(&a);
	kp_buf_reset(&out);
	kp_envelope_pack(&out, &a);
	kp_record_clear(&b);
	kp_envelope_unpack(out.data, out.len, &b, err, sizeof(err));
	ok(b.key_null && b.vtype == KP_VALUE_NULL &&
	    b.timestamp == KP_TS_NONE, "null key and tombstone kept");
	/* an unknown field is ignored: {"future":1,"value":2} */
	n = kp_envelope_unpack("\x82\xa6" "future" "\x01\xa5" "value" "\x02",
	    16, &b, err, sizeof(err));
	ok(n == 16 && b.vtype == KP_VALUE_MSGPACK && b.value.len == 1 &&
	    b.value.data[0] == 2, "unknown envelope fields are ignored");
	kp_buf_free(&out);
	kp_record_free(&a);
	kp_record_free(&b);
}

int
main(void)
{
	test_util();
	test_mp();
	test_json();
	test_path();
	test_json_field();
	test_envelope();
	return done_testing();
}
