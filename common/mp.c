/* mp.c - allocation-free msgpack header reader and object skipper. */
#include <string.h>

#include "mp.h"

static uint64_t
be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* a header with an n-byte big-endian length, then `len` payload bytes */
static int
payload(const uint8_t *p, size_t n, struct kp_mp_item *it, enum kp_mp_type t,
    int lenbytes, int ext)
{
	size_t h = 1 + (size_t)lenbytes + (ext ? 1 : 0);

	if (n < h)
		return 0;
	it->type = t;
	it->len = be(p + 1, lenbytes);
	if (ext)
		it->ext_type = (int8_t)p[1 + lenbytes];
	it->hdr = h;
	it->data = p + h;
	if (n - h < it->len)
		return 0;
	return 1;
}

static int
fixext(const uint8_t *p, size_t n, struct kp_mp_item *it, uint64_t len)
{
	if (n < 2)
		return 0;
	it->type = KP_MP_EXT;
	it->ext_type = (int8_t)p[1];
	it->len = len;
	it->hdr = 2;
	it->data = p + 2;
	return n - 2 >= len;
}

static int
scalar(size_t n, struct kp_mp_item *it, enum kp_mp_type t, size_t hdr)
{
	it->type = t;
	it->hdr = hdr;
	it->len = 0;
	return n >= hdr;
}

int
kp_mp_read(const uint8_t *p, size_t n, struct kp_mp_item *it)
{
	uint8_t c;

	if (n == 0)
		return 0;
	c = p[0];
	if (c <= 0x7f) {
		it->type = KP_MP_UINT;
		it->u = c;
		it->i = c;
		it->hdr = 1;
		return 1;
	}
	if (c >= 0xe0) {
		it->type = KP_MP_INT;
		it->i = (int8_t)c;
		it->hdr = 1;
		return 1;
	}
	if (c <= 0x8f) {
		it->type = KP_MP_MAP;
		it->len = c & 0x0f;
		it->hdr = 1;
		return 1;
	}
	if (c <= 0x9f) {
		it->type = KP_MP_ARRAY;
		it->len = c & 0x0f;
		it->hdr = 1;
		return 1;
	}
	if (c <= 0xbf) {
		it->type = KP_MP_STR;
		it->len = c & 0x1f;
		it->hdr = 1;
		it->data = p + 1;
		return n - 1 >= it->len;
	}
	switch (c) {
	case 0xc0:
		return scalar(n, it, KP_MP_NIL, 1);
	case 0xc2:
	case 0xc3:
		it->b = c == 0xc3;
		return scalar(n, it, KP_MP_BOOL, 1);
	case 0xc4: return payload(p, n, it, KP_MP_BIN, 1, 0);
	case 0xc5: return payload(p, n, it, KP_MP_BIN, 2, 0);
	case 0xc6: return payload(p, n, it, KP_MP_BIN, 4, 0);
	case 0xc7: return payload(p, n, it, KP_MP_EXT, 1, 1);
	case 0xc8: return payload(p, n, it, KP_MP_EXT, 2, 1);
	case 0xc9: return payload(p, n, it, KP_MP_EXT, 4, 1);
	case 0xca:
		if (!scalar(n, it, KP_MP_FLOAT, 5))
			return 0;
		{
			uint32_t u = (uint32_t)be(p + 1, 4);
			float f;

			memcpy(&f, &u, 4);
			it->f = f;
		}
		return 1;
	case 0xcb:
		if (!scalar(n, it, KP_MP_FLOAT, 9))
			return 0;
		{
			uint64_t u = be(p + 1, 8);

			memcpy(&it->f, &u, 8);
		}
		return 1;
	case 0xcc: case 0xcd: case 0xce: case 0xcf: {
		int w = 1 << (c - 0xcc);

		if (!scalar(n, it, KP_MP_UINT, 1 + (size_t)w))
			return 0;
		it->u = be(p + 1, w);
		it->i = (int64_t)it->u;
		return 1;
	}
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		int w = 1 << (c - 0xd0);
		uint64_t u;

		if (!scalar(n, it, KP_MP_INT, 1 + (size_t)w))
			return 0;
		u = be(p + 1, w);
		if (w < 8 && (u >> (w * 8 - 1)))
			u |= ~(uint64_t)0 << (w * 8);	/* sign-extend */
		memcpy(&it->i, &u, 8);
		if (it->i >= 0) {
			it->type = KP_MP_UINT;
			it->u = (uint64_t)it->i;
		}
		return 1;
	}
	case 0xd4: return fixext(p, n, it, 1);
	case 0xd5: return fixext(p, n, it, 2);
	case 0xd6: return fixext(p, n, it, 4);
	case 0xd7: return fixext(p, n, it, 8);
	case 0xd8: return fixext(p, n, it, 16);
	case 0xd9: return payload(p, n, it, KP_MP_STR, 1, 0);
	case 0xda: return payload(p, n, it, KP_MP_STR, 2, 0);
	case 0xdb: return payload(p, n, it, KP_MP_STR, 4, 0);
	case 0xdc:
		if (!scalar(n, it, KP_MP_ARRAY, 3))
			return 0;
		it->len = be(p + 1, 2);
		return 1;
	case 0xdd:
		if (!scalar(n, it, KP_MP_ARRAY, 5))
			return 0;
		it->len = be(p + 1, 4);
		return 1;
	case 0xde:
		if (!scalar(n, it, KP_MP_MAP, 3))
			return 0;
		it->len = be(p + 1, 2);
		return 1;
	case 0xdf:
		if (!scalar(n, it, KP_MP_MAP, 5))
			return 0;
		it->len = be(p + 1, 4);
		return 1;
	}
	return -1;	/* 0xc1: never used */
}

long long
kp_mp_skip(const uint8_t *p, size_t n)
{
	/* pending[d]: items still to read at depth d */
	uint64_t pending[KP_MP_MAX_DEPTH + 1];
	int depth = 0;
	size_t off = 0;
	struct kp_mp_item it;
	int r;

	pending[0] = 1;
	while (depth >= 0) {
		if (pending[depth] == 0) {
			depth--;
			continue;
		}
		pending[depth]--;
		r = kp_mp_read(p + off, n - off, &it);
		if (r <= 0)
			return r;
		off += it.hdr;
		switch (it.type) {
		case KP_MP_STR:
		case KP_MP_BIN:
		case KP_MP_EXT:
			off += it.len;
			break;
		case KP_MP_ARRAY:
		case KP_MP_MAP:
			if (depth == KP_MP_MAX_DEPTH)
				return -1;
			/* each element needs at least one byte */
			if (it.len > n)
				return it.len > (uint64_t)1 << 32 ? -1 : 0;
			pending[++depth] = it.type == KP_MP_MAP ? it.len * 2
			    : it.len;
			break;
		default:
			break;
		}
		if (depth == 0 && pending[0] == 0)
			break;
	}
	return (long long)off;
}
