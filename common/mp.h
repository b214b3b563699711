/* mp.h - a minimal reader of packed msgpack bytes, without allocation.
 *
 * msgpack-c (msgpack_unpack into a zone) decodes whole objects; this
 * cursor answers the two questions the envelope reader asks millions of
 * times a second: "what is the next item's header?" and "how many bytes
 * does the next complete object take?".  Format: the msgpack spec,
 * https://github.com/msgpack/msgpack/blob/master/spec.md.
 */
#ifndef KP_MP_H
#define KP_MP_H

#include <stddef.h>
#include <stdint.h>

enum kp_mp_type {
	KP_MP_NIL, KP_MP_BOOL, KP_MP_UINT, KP_MP_INT, KP_MP_FLOAT,
	KP_MP_STR, KP_MP_BIN, KP_MP_ARRAY, KP_MP_MAP, KP_MP_EXT
};

/* One item's header.  For STR/BIN/EXT, `data`/`len` are the payload (a
 * pointer into the input, borrowed); for ARRAY/MAP, `len` is the element
 * (pair) count; for scalars, u/i/f/b hold the value.  `hdr` is the number
 * of bytes the header (and, for scalars, the value) takes. */
struct kp_mp_item {
	enum kp_mp_type	 type;
	size_t		 hdr;
	uint64_t	 len;
	const uint8_t	*data;
	uint64_t	 u;
	int64_t		 i;
	double		 f;
	int		 b;
	int8_t		 ext_type;
};

/* Maximum container nesting that kp_mp_skip() accepts: a value may nest
 * KP_JSON_MAX_DEPTH (512) deep inside an envelope. */
#define KP_MP_MAX_DEPTH 520	/* JSON's 512, plus the envelope around it */

/* Decode the header of the item at p[0..n).  Returns 1 on success, 0 when
 * more bytes are needed (the header, or a STR/BIN/EXT payload, is cut
 * short), -1 on a byte that is not msgpack (0xc1). */
int	kp_mp_read(const uint8_t *p, size_t n, struct kp_mp_item *it);

/* Size in bytes of the complete object at p[0..n), containers included.
 * Returns the size (> 0), 0 when the object is incomplete, -1 when it is
 * invalid or nested deeper than KP_MP_MAX_DEPTH. */
long long kp_mp_skip(const uint8_t *p, size_t n);

#endif
