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

/* Append the JSON text of the packed msgpack object at mp[0..n) to out.
 * Returns the number of msgpack bytes consumed, or -1 when mp is not one
 * complete msgpack object (out is then left with a partial write). */
long long kp_json_write(struct kp_buf *out, const void *mp, size_t n);

/* Append s[0..n) to out as a JSON string literal, with quotes, escaping
 * as RFC 8259 requires; invalid UTF-8 becomes U+FFFD. */
void	kp_json_write_string(struct kp_buf *out, const void *s, size_t n);

/* Append the shortest decimal that reads back as d (or "null" for NaN
 * and infinities); integral values keep ".0". */
void	kp_json_write_double(struct kp_buf *out, double d);

#endif
