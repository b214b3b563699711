/* json.h - JSON text to packed msgpack and back.
 *
 * Parsing uses yajl's streaming parser (yajl 2, Debian libyajl-dev),
 * packing straight into msgpack without building a DOM: about 4x faster
 * than a jansson DOM on small records (DESIGN.md).  Rules, written in
 * kpipe-format(5):
 *  - integers that fit int64 pack as integers, those in (2^63, 2^64) as
 *    uint64, larger ones as float64 (as jq does); -0 is integer 0;
 *  - numbers with a fraction or exponent pack as float64;
 *  - strings must be valid UTF-8 (yajl checks), \u escapes are decoded,
 *    surrogate pairs joined;
 *  - duplicate object keys: the last value wins, at the first key's
 *    position (jq's rule);
 *  - nesting deeper than KP_JSON_MAX_DEPTH is an error.
 *
 * Writing turns packed msgpack into compact JSON: float64 keeps a ".0"
 * when integral so the type survives a round trip, shortest round-trip
 * digits otherwise; NaN and infinities become null; bin and ext become
 * base64 strings; non-string map keys are written as JSON text in a
 * string; invalid UTF-8 inside a msgpack str becomes U+FFFD.
 */
#ifndef KP_JSON_H
#define KP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define KP_JSON_MAX_DEPTH 512

struct kp_json_parser;

/* Returns a new parser (never NULL: aborts on out-of-memory). */
struct kp_json_parser *kp_json_parser_new(void);
void	kp_json_parser_free(struct kp_json_parser *p);

/* Parse s[0..n), which must hold exactly one JSON value (surrounding
 * white space allowed), and append it to out as one packed msgpack
 * object.  Returns 0, or -1 with errstr set (e.g. "invalid JSON at column
 * 7: lexical error: invalid char in json text"); on error out is restored
 * to its previous length.  Returns -2 (errstr "empty") when s holds only
 * white space. */
int	kp_json_parse(struct kp_json_parser *p, const char *s, size_t n,
	    struct kp_buf *out, char *errstr, size_t errstr_size);

/* A reader of one top-level field of a JSON object, for a program that
 * needs only that field and passes the text on byte for byte (krepart's
 * -k .FIELD): yajl checks the whole text as kp_json_parse() would, but
 * only the field's value is kept, nothing is packed.  It answers only
 * where the answer is sure to be the full decoder's; anything else it
 * leaves to the caller, who then decodes the text with kp_json_parse()
 * (which also gives the reason for a dead letter).  First written in
 * bin/krepart.c. */
struct kp_json_field;

/* Returns a reader of the field named name[0..name_len) (the name as it
 * reads after JSON unescaping; copied).  Never NULL: aborts on
 * out-of-memory. */
struct kp_json_field *kp_json_field_new(const char *name, size_t name_len);
void	kp_json_field_free(struct kp_json_field *f);

/* Find the field in s[0..n), which must hold exactly one JSON object
 * (surrounding white space allowed).  Returns 1 with *v, *vn: the bytes of
 * a string value (escapes decoded), the digits of an integer of at most
 * 18 digits (what the full decoder's int64 keys as), or *v = NULL, *vn =
 * 0 for null; *v is borrowed until the next call or kp_json_field_free().
 * Returns 0, *v and *vn untouched, when it cannot say and the caller must
 * fall back to kp_json_parse(): s is not an object (a scalar, an array,
 * empty), not valid JSON or more than one value, the field is absent or
 * repeated at the top level (the full decoder keeps the last one), its
 * value is a boolean, a float, -0 or any negative number written with a
 * leading zero, a longer integer, an object or an array, or nesting is
 * deeper than KP_JSON_MAX_DEPTH.  Fields of nested objects never match.
 * There are no errors. */
int	kp_json_field_get(struct kp_json_field *f, const void *s, size_t n,
	    const char **v, size_t *vn);

/* Append the JSON text of the packed msgpack object at mp[0..n) to out.
 * Returns the number of msgpack bytes consumed, or -1 when mp is not one
 * complete msgpack object (out is then left with a partial write). */
long long kp_json_write(struct kp_buf *out, const void *mp, size_t n);

/* Append s[0..n) to out as a JSON string literal, with quotes, escaping
 * as RFC 8259 requires; invalid UTF-8 becomes U+FFFD. */
void	kp_json_write_string(struct kp_buf *out, const void *s, size_t n);

/* Append the shortest decimal that reads back as d; integral values keep
 * ".0".  An infinity (from a JSON number beyond the double range, such as
 * 1e400) is written as +-1.7976931348623157e+308, the largest double, as
 * jq 1.6 does; NaN as null. */
void	kp_json_write_double(struct kp_buf *out, double d);

#endif
