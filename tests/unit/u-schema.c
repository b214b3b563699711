/* u-schema.c - the JSON Schema subset of common/schema.h, keyword by
 * keyword, and the backoff of common/retry.h.
 *
 * Every expected message and verdict was worked out by hand from the
 * JSON Schema 2020-12 validation spec (json-schema.org/draft/2020-12/
 * json-schema-validation.html) and the message formats that schema.h
 * documents.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "retry.h"
#include "schema.h"
#include "tap.h"

static struct kp_json_parser *jp;

static int
to_mp(const char *json, struct kp_buf *out)
{
	char err[256];

	kp_buf_reset(out);
	if (kp_json_parse(jp, json, strlen(json), out, err, sizeof(err)) != 0) {
		printf("# bad JSON in the test: %s: %s\n", json, err);
		return -1;
	}
	return 0;
}

static struct kp_schema *
compile(const char *schema, char *err, size_t n)
{
	struct kp_buf mp = {0};
	struct kp_schema *s = NULL;

	if (to_mp(schema, &mp) == 0)
		s = kp_schema_compile(mp.data, mp.len, err, n);
	kp_buf_free(&mp);
	return s;
}

/* Validate packed msgpack bytes; "ok" or the error (static buffer). */
static const char *
check_mp(const char *schema, const void *mp, size_t len)
{
	static char err[512];
	struct kp_schema *s;
	msgpack_zone zone;
	msgpack_object o;
	size_t off = 0;

	if ((s = compile(schema, err, sizeof(err))) == NULL)
		return err;
	msgpack_zone_init(&zone, 1024);
	if (msgpack_unpack(mp, len, &off, &zone, &o) != MSGPACK_UNPACK_SUCCESS)
		snprintf(err, sizeof(err), "bad instance");
	else if (kp_schema_validate(s, &o, err, sizeof(err)) == 0)
		snprintf(err, sizeof(err), "ok");
	msgpack_zone_destroy(&zone);
	kp_schema_free(s);
	return err;
}

static const char *
check(const char *schema, const char *instance)
{
	static char res[512];
	struct kp_buf mp = {0};

	if (to_mp(instance, &mp) < 0)
		return "bad instance";
	snprintf(res, sizeof(res), "%s", check_mp(schema, mp.data, mp.len));
	kp_buf_free(&mp);
	return res;
}

/* The compile error of a schema, or "compiled". */
static const char *
refuse(const char *schema)
{
	static char err[512];
	struct kp_schema *s = compile(schema, err, sizeof(err));

	if (s) {
		kp_schema_free(s);
		return "compiled";
	}
	return err;
}

static void
test_type(void)
{
	is_str(check("{\"type\":\"null\"}", "null"), "ok", "type null");
	is_str(check("{\"type\":\"boolean\"}", "false"), "ok", "type boolean");
	is_str(check("{\"type\":\"object\"}", "{}"), "ok", "type object");
	is_str(check("{\"type\":\"array\"}", "[]"), "ok", "type array");
	is_str(check("{\"type\":\"string\"}", "\"\""), "ok", "type string");
	is_str(check("{\"type\":\"number\"}", "1.5"), "ok", "1.5 is a number");
	is_str(check("{\"type\":\"number\"}", "-7"), "ok", "-7 is a number");
	is_str(check("{\"type\":\"integer\"}", "-7"), "ok", "-7 is an integer");
	/* 2020-12: any number with a zero fractional part is an integer */
	is_str(check("{\"type\":\"integer\"}", "1.0"), "ok",
	    "1.0 is an integer");
	is_str(check("{\"type\":\"integer\"}", "1.5"),
	    ".: expected integer, got number", "1.5 is not an integer");
	is_str(check("{\"type\":\"number\"}", "\"1\""),
	    ".: expected number, got string", "a numeric string is no number");
	is_str(check("{\"type\":\"boolean\"}", "0"),
	    ".: expected boolean, got integer", "0 is no boolean");
	is_str(check("{\"type\":\"object\"}", "[]"),
	    ".: expected object, got array", "an array is no object");
	is_str(check("{\"type\":[\"string\",\"null\"]}", "null"), "ok",
	    "type array: null");
	is_str(check("{\"type\":[\"string\",\"null\"]}", "\"x\""), "ok",
	    "type array: string");
	is_str(check("{\"type\":[\"string\",\"null\"]}", "5"),
	    ".: expected string or null, got integer",
	    "type array: names every type, in schema order");
	is_str(refuse("{\"type\":\"int\"}"),
	    "'type' must be one of null, boolean, object, array, number, "
	    "string, integer, or an array of them at '#'", "unknown type name");
	is_str(refuse("{\"type\":[]}"),
	    "'type' must not be an empty array at '#'", "empty type array");
	is_str(refuse("{\"type\":[\"null\",\"null\"]}"),
	    "'type' names 'null' twice at '#'", "repeated type name");
}

static void
test_objects(void)
{
	const char *s = "{\"type\":\"object\",\"required\":[\"id\"],"
	    "\"properties\":{\"id\":{\"type\":\"integer\"},"
	    "\"max\":{\"properties\":{\"cpu\":{\"type\":\"number\"}}}}}";

	is_str(check(s, "{\"id\":1}"), "ok", "required present");
	is_str(check(s, "{}"), ".id: required property missing",
	    "required missing");
	is_str(check("{\"required\":[\"id\"]}", "{\"id\":null}"), "ok",
	    "required: a null value is present");
	is_str(check("{\"required\":[\"id\"]}", "[]"), "ok",
	    "required applies to objects only");
	is_str(check(s, "{\"id\":1,\"max\":{\"cpu\":\"high\"}}"),
	    ".max.cpu: expected number, got string", "nested property path");
	is_str(check(s, "{\"id\":1,\"extra\":[1],\"max\":{\"mem\":1}}"), "ok",
	    "extra fields are allowed by default");
	is_str(check("{\"properties\":{\"max.cpu\":{\"type\":\"number\"}}}",
	    "{\"max.cpu\":\"x\"}"), "." "\"max.cpu\": expected number, got string",
	    "a name with a dot is quoted, as jq writes it");
	is_str(check("{\"required\":[\"a\"],\"properties\":{\"b\":"
	    "{\"type\":\"string\"}}}", "{\"b\":1}"),
	    ".a: required property missing", "required is checked first");
	is_str(check("{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
	    "{\"a\":1}"), "ok", "additionalProperties false: named only");
	is_str(check("{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
	    "{\"a\":1,\"b\":2}"), ".b: additional property not allowed",
	    "additionalProperties false: an extra one");
	is_str(check("{\"additionalProperties\":{\"type\":\"integer\"}}",
	    "{\"x\":1,\"y\":\"s\"}"), ".y: expected integer, got string",
	    "additionalProperties as a schema");
	is_str(check("{\"additionalProperties\":true}", "{\"x\":1}"), "ok",
	    "additionalProperties true");
	is_str(refuse("{\"required\":\"id\"}"),
	    "'required' must be an array of strings at '#'",
	    "required not an array");
	is_str(refuse("{\"properties\":[]}"),
	    "'properties' must be an object at '#'", "properties not an object");
}

static void
test_arrays(void)
{
	is_str(check("{\"items\":{\"type\":\"string\"}}", "[\"a\",\"b\"]"),
	    "ok", "items: every element");
	is_str(check("{\"items\":{\"type\":\"string\"}}", "[\"a\",1]"),
	    ".[1]: expected string, got integer", "items: the failing index");
	is_str(check("{\"properties\":{\"tags\":{\"items\":{\"maxLength\":2}}}}",
	    "{\"tags\":[\"ab\",\"abc\"]}"),
	    ".tags[1]: string of 3 characters is longer than maxLength 2",
	    "items below a property");
	is_str(check("{\"items\":false}", "[]"), "ok", "items false, empty");
	is_str(check("{\"items\":false}", "[1]"),
	    ".[0]: no value is allowed here (the schema is false)",
	    "items false, one element");
	is_str(refuse("{\"items\":[{}]}"),
	    "'items' must be a schema (its array form is 'prefixItems' in "
	    "2020-12, which is not supported) at '#'", "items array form");
}

static void
test_enum_const(void)
{
	const char *e = "{\"enum\":[\"a\",\"b\",1,{\"k\":[1,2]}]}";

	is_str(check(e, "\"b\""), "ok", "enum: a string");
	is_str(check(e, "1.0"), "ok", "enum: 1.0 equals 1");
	is_str(check(e, "{\"k\":[1,2.0]}"), "ok", "enum: an object");
	is_str(check(e, "\"c\""),
	    ".: not one of the enum values [\"a\",\"b\",1,{\"k\":[1,2]}]",
	    "enum: a miss");
	is_str(check(e, "{\"k\":[2,1]}"),
	    ".: not one of the enum values [\"a\",\"b\",1,{\"k\":[1,2]}]",
	    "enum: array order matters");
	is_str(check("{\"const\":{\"a\":1,\"b\":null}}", "{\"b\":null,\"a\":1}"),
	    "ok", "const: object key order does not matter");
	is_str(check("{\"const\":{\"a\":1}}", "{\"a\":1,\"b\":2}"),
	    ".: not equal to const {\"a\":1}", "const: an extra key");
	is_str(check("{\"const\":false}", "0"), ".: not equal to const false",
	    "const: false is not 0");
	is_str(check("{\"const\":null}", "null"), "ok", "const null");
	is_str(refuse("{\"enum\":\"a\"}"), "'enum' must be an array at '#'",
	    "enum not an array");
}

static void
test_numbers(void)
{
	is_str(check("{\"minimum\":5}", "5"), "ok", "minimum: equal");
	is_str(check("{\"minimum\":5}", "4.9"), ".: 4.9 is less than minimum 5",
	    "minimum: below");
	is_str(check("{\"exclusiveMinimum\":5}", "5.5"), "ok",
	    "exclusiveMinimum: above");
	is_str(check("{\"exclusiveMinimum\":5}", "5"),
	    ".: 5 is not greater than exclusiveMinimum 5",
	    "exclusiveMinimum: equal");
	is_str(check("{\"maximum\":10}", "10.0"), "ok", "maximum: equal");
	is_str(check("{\"maximum\":10}", "11"),
	    ".: 11 is greater than maximum 10", "maximum: above");
	is_str(check("{\"exclusiveMaximum\":10}", "9"), "ok",
	    "exclusiveMaximum: below");
	is_str(check("{\"exclusiveMaximum\":10}", "10"),
	    ".: 10 is not less than exclusiveMaximum 10",
	    "exclusiveMaximum: equal");
	is_str(check("{\"minimum\":-1.5}", "-2"),
	    ".: -2 is less than minimum -1.5", "minimum: negative bound");
	/* 2^53 + 1: a double cannot hold it, the comparison must be exact */
	is_str(check("{\"maximum\":9007199254740993}", "9007199254740992"),
	    "ok", "maximum: exact for large integers (below)");
	is_str(check("{\"maximum\":9007199254740993}", "9007199254740994"),
	    ".: 9007199254740994 is greater than maximum 9007199254740993",
	    "maximum: exact for large integers (above)");
	is_str(check("{\"minimum\":0}", "18446744073709551615"), "ok",
	    "minimum: a uint64 value");
	is_str(check("{\"minimum\":5}", "\"1\""), "ok",
	    "numeric keywords ignore strings");
	is_str(refuse("{\"minimum\":\"5\"}"), "'minimum' must be a number at '#'",
	    "minimum not a number");
	is_str(refuse("{\"exclusiveMinimum\":true}"),
	    "'exclusiveMinimum' must be a number (draft-04's boolean form is "
	    "not supported) at '#'", "draft-04 exclusiveMinimum");
}

static void
test_strings(void)
{
	/* "h\u00e9\u00e9" is 5 bytes and 3 code points; U+1F600 is 4 bytes */
	is_str(check("{\"minLength\":3}", "\"h\\u00e9\\u00e9\""), "ok",
	    "minLength counts code points (equal)");
	is_str(check("{\"maxLength\":2}", "\"h\\u00e9\\u00e9\""),
	    ".: string of 3 characters is longer than maxLength 2",
	    "maxLength counts code points, not bytes");
	is_str(check("{\"maxLength\":1}", "\"\\ud83d\\ude00\""), "ok",
	    "an emoji is one character");
	is_str(check("{\"minLength\":2}", "\"a\""),
	    ".: string of 1 characters is shorter than minLength 2",
	    "minLength: short");
	is_str(check("{\"minLength\":2}", "1"), "ok",
	    "string keywords ignore numbers");
	is_str(check("{\"maxLength\":2.0}", "\"ab\""), "ok",
	    "maxLength 2.0 is the integer 2");
	is_str(refuse("{\"minLength\":-1}"),
	    "'minLength' must be a non-negative integer at '#'",
	    "negative minLength");
	is_str(check("{\"pattern\":\"^[a-z]+$\"}", "\"abc\""), "ok",
	    "pattern: match");
	is_str(check("{\"pattern\":\"^[a-z]+$\"}", "\"aBc\""),
	    ".: string does not match pattern '^[a-z]+$'", "pattern: miss");
	is_str(check("{\"pattern\":\"b\"}", "\"abc\""), "ok",
	    "pattern is not anchored");
	is_str(check("{\"pattern\":\"^.{3}$\"}", "\"h\\u00e9\\u00e9\""), "ok",
	    "pattern: '.' is one code point");
	is_str(check("{\"pattern\":\"^[[:digit:]]+\\\\.[0-9]$\"}", "\"12.5\""),
	    "ok", "pattern: POSIX classes and an escaped dot");
	is_str(check("{\"pattern\":\"^a$\"}", "\"a\\u0000\""),
	    ".: string does not match pattern '^a$'",
	    "pattern: a NUL inside the string is not its end");
	is_str(check("{\"pattern\":\"x\"}", "5"), "ok", "pattern ignores numbers");
	is_str(refuse("{\"pattern\":\"\\\\d+\"}"),
	    "pattern '\\d+' is not supported: '\\d' is ECMA-262 syntax that "
	    "POSIX ERE does not have at '#'", "pattern: \\d refused");
	is_str(refuse("{\"pattern\":\"(?:ab)+\"}"),
	    "pattern '(?:ab)+' is not supported: '(?' groups (non-capturing, "
	    "lookaround, named) are ECMA-262 syntax that POSIX ERE does not "
	    "have at '#'", "pattern: non-capturing group refused");
	is_str(refuse("{\"pattern\":\"a+?\"}"),
	    "pattern 'a+?' is not supported: lazy quantifiers ('*?', '+?', "
	    "'?" "?', '}?') are ECMA-262 syntax that POSIX ERE does not have "
	    "at '#'", "pattern: lazy quantifier refused");
	is_str(refuse("{\"pattern\":\"[\\\\w]\"}"),
	    "pattern '[\\w]' is not supported: a backslash in a bracket "
	    "expression is an escape in ECMA-262 but a plain character in "
	    "POSIX ERE at '#'", "pattern: backslash in brackets refused");
	is_str(refuse("{\"pattern\":\"a{2\"}"),
	    "invalid pattern 'a{2': Unmatched \\{ at '#'",
	    "pattern: regcomp's own error");
	is_str(refuse("{\"pattern\":1}"), "'pattern' must be a string at '#'",
	    "pattern not a string");
}

static void
test_keywords(void)
{
	is_str(check("{\"$schema\":\"https://json-schema.org/draft/2020-12/"
	    "schema\",\"$id\":\"x\",\"title\":\"t\",\"description\":\"d\","
	    "\"$comment\":\"c\",\"examples\":[1],\"default\":1}", "[1]"), "ok",
	    "annotation keywords are ignored");
	is_str(refuse("{\"oneOf\":[]}"), "unsupported keyword 'oneOf' at '#'",
	    "unknown keyword at the top");
	is_str(refuse("{\"properties\":{\"a/b\":{\"format\":\"email\"}}}"),
	    "unsupported keyword 'format' at '#/properties/a~1b'",
	    "unknown keyword below, as a JSON Pointer");
	is_str(refuse("{\"items\":{\"$ref\":\"#\"}}"),
	    "unsupported keyword '$ref' at '#/items'", "$ref is refused");
	is_str(refuse("[]"), "a schema must be an object or a boolean, not "
	    "array at '#'", "a schema that is an array");
	is_str(check("true", "{\"anything\":[1]}"), "ok", "schema true");
	is_str(check("false", "null"),
	    ".: no value is allowed here (the schema is false)", "schema false");
	is_str(check("{\"properties\":{\"a\":false}}", "{\"a\":1}"),
	    ".a: no value is allowed here (the schema is false)",
	    "property schema false");
	is_str(check("{}", "\"anything\""), "ok", "empty schema");
}

static void
test_utf8(void)
{
	/* {"n":"\xff"} and {"t":["ok","\xc3"]}, packed by hand */
	static const unsigned char bad1[] = { 0x81, 0xa1, 'n', 0xa1, 0xff };
	static const unsigned char bad2[] = { 0x81, 0xa1, 't', 0x92, 0xa2, 'o',
	    'k', 0xa1, 0xc3 };
	static const unsigned char good[] = { 0x81, 0xa1, 'n', 0xa2, 0xc3, 0xa9 };
	msgpack_zone zone;
	msgpack_object o;
	char err[256];
	size_t off;

	msgpack_zone_init(&zone, 1024);
	off = 0;
	msgpack_unpack((const char *)bad1, sizeof(bad1), &off, &zone, &o);
	ok(kp_schema_check_utf8(&o, err, sizeof(err)) == -1,
	    "utf8: a bad string is found");
	is_str(err, ".n: invalid UTF-8 in string", "utf8: its path");
	off = 0;
	msgpack_unpack((const char *)bad2, sizeof(bad2), &off, &zone, &o);
	ok(kp_schema_check_utf8(&o, err, sizeof(err)) == -1,
	    "utf8: in an array");
	is_str(err, ".t[1]: invalid UTF-8 in string", "utf8: array path");
	off = 0;
	msgpack_unpack((const char *)good, sizeof(good), &off, &zone, &o);
	is_int(kp_schema_check_utf8(&o, err, sizeof(err)), 0,
	    "utf8: U+00E9 is fine");
	msgpack_zone_destroy(&zone);
	is_str(check_mp("{\"properties\":{\"n\":{\"type\":\"string\"}}}", good,
	    sizeof(good)), "ok", "validate a msgpack map packed by hand");
}

static void
test_load(void)
{
	char err[512];
	struct kp_schema *s;

	s = kp_schema_load("/nonexistent/schema.json", err, sizeof(err));
	ok(s == NULL, "load: a missing file");
	is_str(err, "cannot open schema '/nonexistent/schema.json': No such "
	    "file or directory", "load: the reason");
}

/* The backoff of retry.h, with u fixed: d = min(cap, base * 2^(k-1)),
 * delay = d/2 + u*d/2, worked by hand. */
static void
test_backoff(void)
{
	struct kp_retry r;
	int64_t d;
	int i, okd = 1;

	is_int(kp_retry_backoff(100, 10000, 1, 0.0), 50, "backoff 1, u=0");
	is_int(kp_retry_backoff(100, 10000, 1, 0.5), 75, "backoff 1, u=0.5");
	is_int(kp_retry_backoff(100, 10000, 3, 0.0), 200, "backoff 3: d=400");
	is_int(kp_retry_backoff(100, 10000, 8, 0.5), 7500,
	    "backoff 8: 12800 capped at 10000");
	is_int(kp_retry_backoff(100, 10000, 1000, 0.0), 5000,
	    "backoff 1000: capped, no overflow");
	kp_retry_init(&r, 2, 100, 1000);
	ok(kp_retry_next(&r, &d) == 0 && d >= 50 && d < 100, "retry 1 of 2");
	ok(kp_retry_next(&r, &d) == 0 && d >= 100 && d < 200, "retry 2 of 2");
	ok(kp_retry_next(&r, &d) == -1, "no retry 3 of 2");
	is_int(r.total, 2, "retries counted");
	kp_retry_reset(&r);
	ok(kp_retry_next(&r, &d) == 0 && d >= 50 && d < 100,
	    "after a success, retry 1 again");
	/* nominal delays 10, 20, 40, 40, ...: each delay in [d/2, d) */
	kp_retry_init(&r, -1, 10, 40);
	for (i = 1; i <= 1000; i++) {
		int64_t nom = i == 1 ? 10 : i == 2 ? 20 : 40;

		if (kp_retry_next(&r, &d) < 0 || d < nom / 2 || d >= nom)
			okd = 0;
	}
	ok(okd, "forever: 1000 retries, each in [d/2, d)");
}

int
main(void)
{
	jp = kp_json_parser_new();
	test_type();
	test_objects();
	test_arrays();
	test_enum_const();
	test_numbers();
	test_strings();
	test_keywords();
	test_utf8();
	test_load();
	test_backoff();
	kp_json_parser_free(jp);
	return done_testing();
}
