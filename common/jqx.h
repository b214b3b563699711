/* jqx.h - jq programs over kpipe values, on libjq (Debian libjq-dev 1.6).
 *
 * A program is compiled once and run on many values.  Values go in and
 * results come out as packed msgpack; the conversion between msgpack and
 * jq's jv values is direct, without JSON text in between (KP_JQX_TEXT
 * selects the JSON-text route, kept to measure one against the other:
 * see tests/unit/u-jqx.c).
 *
 * msgpack to jq: nil, booleans and strings map to themselves; integers
 * and floats become jq numbers (doubles: integers beyond 2^53 round, as
 * in jq itself); arrays and maps become arrays and objects; bin and ext
 * payloads become base64 strings and non-string map keys become their
 * JSON text, as the JSON writer (json.h) does; a duplicate map key keeps
 * the last value at the first key's position (jq's rule); invalid UTF-8
 * in a string becomes U+FFFD.
 *
 * jq to msgpack: a number with an integral value that fits int64 (or
 * uint64) packs as an integer, any other number as float64 (NaN and
 * infinities too: the JSON writer shows them as null); the rest maps
 * back one to one.  A result that is the input object, array or string
 * itself (jq's `.`, `select(...)`) is passed on as the input's bytes,
 * unchanged: no conversion, and nothing rounded or re-encoded inside.
 *
 * Variables: a program may name variables ($key, ...) whose values
 * change from run to run.  Only the variables that the program's text
 * mentions are bound; they are fed to the program through jq's `input`
 * (the program is wrapped as `input as $v | ... | (PROGRAM)`), so a
 * program that uses variables cannot start with `import` or `include`,
 * and `input`/`inputs` in a program see no further inputs.
 *
 * jq's `halt` ends a run's results; `halt_error` and `error` are runtime
 * errors.  Compile errors and runtime errors come back in errstr as jq
 * words them, without jq's "jq: error: " prefix.
 */
#ifndef KP_JQX_H
#define KP_JQX_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "util.h"

/* kp_jqx_new() flags */
#define KP_JQX_TEXT	0x1	/* convert through JSON text (slower) */

/* The record variables that kp_jqx_set_record() sets, in this order:
 * key, timestamp, topic, partition, offset, headers (NULL-terminated). */
extern const char *const kp_jqx_record_vars[];

struct kp_jqx;

/* Compile program.  vars is a NULL-terminated list of variable names
 * (without '$'), or NULL; every variable starts as null.  Returns a new
 * program, or NULL with errstr set to jq's first compile error (e.g.
 * "syntax error, unexpected $end (Unix shell quoting issues?) at
 * <top-level>, line 1"). */
struct kp_jqx *kp_jqx_new(const char *program, const char *const *vars,
	    int flags, char *errstr, size_t errstr_size);
void	kp_jqx_free(struct kp_jqx *q);

/* Compile n programs with the same vars into out[0..n), each handle
 * used as one of kp_jqx_new().  libjq 1.6 parses and binds all its
 * builtins at every compile (some 20 ms here), so when it can, this
 * compiles them once, as one jq program that runs program i when it is
 * fed the index i ("if $__kp_sel == 0 then (P0) elif ..."); the handles
 * then share one jq state, so a run of one must end (kp_jqx_run() and
 * kp_jqx_test() return) before a run of another starts; they may be
 * freed in any order.  A program whose parentheses (outside strings and
 * comments) do not balance, or that mentions $__loc__, or a set that
 * does not compile as one (import, include, an error), is compiled on
 * its own, as kp_jqx_new() does.  Returns n, or the index of the first
 * program that does not compile, with errstr set as kp_jqx_new() sets
 * it and out[] all NULL. */
size_t	kp_jqx_new_set(const char *const *progs, size_t n,
	    const char *const *vars, int flags, struct kp_jqx **out,
	    char *errstr, size_t errstr_size);

/* jq's `debug` hands each value it sees to cb, as compact JSON text
 * (borrowed for the call); without a callback `debug` is silent. */
void	kp_jqx_set_debug(struct kp_jqx *q,
	    void (*cb)(void *arg, const char *json, size_t n), void *arg);

/* Returns 1 when the program's text mentions variable i (an index into
 * the vars given to kp_jqx_new()), else 0. */
int	kp_jqx_uses_var(const struct kp_jqx *q, size_t i);
/* Returns 1 when the program mentions any of its variables. */
int	kp_jqx_uses_vars(const struct kp_jqx *q);

/* Set variable i for the following runs to the packed msgpack object
 * mp[0..n) (NULL: null).  Returns 0, or -1 when mp is not one valid
 * object. */
int	kp_jqx_set_var(struct kp_jqx *q, size_t i, const void *mp, size_t n);

/* Set the record variables among q's variables (by name, see
 * kp_jqx_record_vars) from r: $key a string (invalid UTF-8 replaced) or
 * null; $timestamp ms or null; $topic a string, or null when r did not
 * come from Kafka; $partition, $offset numbers or null; $headers an
 * object of name -> string (a null header value is null; when a name
 * repeats, the last value wins).  Variables the program does not mention
 * are left alone (and cost nothing). */
void	kp_jqx_set_record(struct kp_jqx *q, const struct kp_record *r);

/* Run the program on the packed msgpack object mp[0..n) (mp NULL: the
 * null value) and append its results to out, each one packed msgpack
 * object (split them with kp_mp_skip()); stop after max results (0: no
 * limit).  Returns the number of results, or -1 with errstr set (jq's
 * runtime error message, "error message (not a string): {...}" for a
 * non-string error, or a conversion error); out then keeps its length at
 * the call: a failed run adds nothing. */
long	kp_jqx_run(struct kp_jqx *q, const void *mp, size_t n, size_t max,
	    struct kp_buf *out, char *errstr, size_t errstr_size);

/* Run the program as a predicate: *truth is 1 when its first result is
 * neither false nor null, 0 when it is, or when there is no result.
 * Returns 0, or -1 with errstr set as kp_jqx_run() does. */
int	kp_jqx_test(struct kp_jqx *q, const void *mp, size_t n, int *truth,
	    char *errstr, size_t errstr_size);

#endif
