/* schema.h - a JSON Schema subset (draft 2020-12 semantics) validated
 * over msgpack objects.
 *
 * Keywords: type (a name or an array of names: null, boolean, object,
 * array, number, string, integer; an integer is any number with a zero
 * fractional part, 1.0 included), required, properties,
 * additionalProperties (a boolean or a schema), items (one schema for
 * every element), enum, const (equality as JSON Schema defines it: 1 and
 * 1.0 are equal, object keys are unordered), minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum (numbers, as in 2020-12), minLength,
 * maxLength (in Unicode code points), pattern (POSIX extended regular
 * expressions via regcomp(3), unanchored, matched by code point; ECMA-262
 * syntax that ERE lacks, such as \d, \w, (?:...), lookaround and lazy
 * quantifiers, is refused at load).  The schema true accepts anything and
 * false nothing.  Annotation keywords are ignored: $schema, $id, title,
 * description, $comment, examples, default.  Any other keyword is refused
 * when the schema is compiled, never silently ignored.  Properties that
 * the schema does not name are allowed unless additionalProperties says
 * otherwise.
 *
 * Validation stops at the first error and describes it with the path of
 * the value in jq's syntax: ".max.cpu: expected number, got string",
 * ".id: required property missing", ".tags[2]: string does not match
 * pattern '^[a-z]+$'".  Keywords are checked in this order: type, const,
 * enum, the numeric bounds, the string keywords, required, properties (in
 * schema order), additionalProperties (in record order), items.
 */
#ifndef KP_SCHEMA_H
#define KP_SCHEMA_H

#include <stddef.h>

#include <msgpack.h>

struct kp_schema;

/* Compile a schema from the JSON file at path.  Returns the schema, or
 * NULL with errstr set (the file cannot be read, is not JSON, or uses a
 * keyword or a value this subset does not support; the message names the
 * place as a JSON Pointer, e.g. "#/properties/id"). */
struct kp_schema *kp_schema_load(const char *path, char *errstr,
	    size_t errstr_size);
/* Compile a schema from one packed msgpack object mp[0..n) (a map or a
 * boolean).  Same returns as kp_schema_load(). */
struct kp_schema *kp_schema_compile(const void *mp, size_t n, char *errstr,
	    size_t errstr_size);
void	kp_schema_free(struct kp_schema *s);

/* Validate o.  Returns 0 when it is valid, or -1 with the first error in
 * errstr. */
int	kp_schema_validate(const struct kp_schema *s, const msgpack_object *o,
	    char *errstr, size_t errstr_size);

/* Check that every string and map key in o is valid UTF-8 (msgpack does
 * not promise it; JSON text parsed by kp_json_parse() already is).
 * Returns 0, or -1 with errstr such as ".name: invalid UTF-8 in string". */
int	kp_schema_check_utf8(const msgpack_object *o, char *errstr,
	    size_t errstr_size);

#endif
