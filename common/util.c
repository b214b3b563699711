/* util.c - growable buffers, checked numbers, base64, UTF-8, signals. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void
oom(void)
{
	static const char msg[] = "kpipe: out of memory\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

void *
kp_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
kp_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
kp_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

char *
kp_xstrdup(const char *s)
{
	return kp_xmemdup(s, strlen(s) + 1);
}

void *
kp_xmemdup(const void *p, size_t n)
{
	void *q = kp_xmalloc(n);

	if (n)
		memcpy(q, p, n);
	return q;
}

void
kp_buf_grow(struct kp_buf *b, size_t n)
{
	size_t want;

	if (b->cap - b->len > n)
		return;
	want = b->cap ? b->cap : 64;
	while (want - b->len <= n) {
		if (want > SIZE_MAX / 2)
			oom();
		want *= 2;
	}
	b->data = kp_xrealloc(b->data, want);
	b->cap = want;
}

void
kp_buf_add(struct kp_buf *b, const void *p, size_t n)
{
	kp_buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
kp_buf_addc(struct kp_buf *b, char c)
{
	kp_buf_grow(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void
kp_buf_adds(struct kp_buf *b, const char *s)
{
	kp_buf_add(b, s, strlen(s));
}

void
kp_buf_printf(struct kp_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	kp_buf_grow(b, 64);
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		kp_buf_grow(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void
kp_buf_reset(struct kp_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
kp_buf_free(struct kp_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int
kp_strtonum(const char *s, long long min, long long max, long long *out,
    const char **errstr)
{
	char *end;
	long long v;

	errno = 0;
	if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t') {
		*errstr = "invalid";
		return -1;
	}
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*errstr = "invalid";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
		*errstr = "too small";
		return -1;
	}
	if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
		*errstr = "too large";
		return -1;
	}
	*out = v;
	*errstr = NULL;
	return 0;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
kp_base64_encode(struct kp_buf *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	kp_buf_grow(b, (n + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < n; i += 3) {
		b->data[b->len++] = b64[s[i] >> 2];
		b->data[b->len++] = b64[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		b->data[b->len++] = b64[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		b->data[b->len++] = b64[s[i + 2] & 63];
	}
	if (n - i == 1) {
		b->data[b->len++] = b64[s[i] >> 2];
		b->data[b->len++] = b64[(s[i] & 3) << 4];
		b->data[b->len++] = '=';
		b->data[b->len++] = '=';
	} else if (n - i == 2) {
		b->data[b->len++] = b64[s[i] >> 2];
		b->data[b->len++] = b64[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		b->data[b->len++] = b64[(s[i + 1] & 15) << 2];
		b->data[b->len++] = '=';
	}
	b->data[b->len] = '\0';
}

static int
b64val(int c)
{
	const char *p;

	if (c == 0)
		return -1;
	p = strchr(b64, c);
	return p ? (int)(p - b64) : -1;
}

int
kp_base64_decode(struct kp_buf *b, const char *s, size_t n)
{
	size_t i;
	int v[4], k;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		int pad = 0;

		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64val((unsigned char)s[i + k])) < 0) {
				return -1;
			}
		}
		kp_buf_addc(b, (char)((v[0] << 2) | (v[1] >> 4)));
		if (pad < 2)
			kp_buf_addc(b, (char)(((v[1] & 15) << 4) | (v[2] >> 2)));
		if (pad < 1)
			kp_buf_addc(b, (char)(((v[2] & 3) << 6) | v[3]));
	}
	return 0;
}

int
kp_utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p, *e = s + n;

	while (s < e) {
		unsigned c = *s;

		if (c < 0x80) {
			s++;
		} else if (c >= 0xc2 && c <= 0xdf) {
			if (e - s < 2 || (s[1] & 0xc0) != 0x80)
				return 0;
			s += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			if (e - s < 3 || (s[1] & 0xc0) != 0x80 ||
			    (s[2] & 0xc0) != 0x80)
				return 0;
			if (c == 0xe0 && s[1] < 0xa0)
				return 0;	/* overlong */
			if (c == 0xed && s[1] > 0x9f)
				return 0;	/* surrogate */
			s += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			if (e - s < 4 || (s[1] & 0xc0) != 0x80 ||
			    (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
				return 0;
			if (c == 0xf0 && s[1] < 0x90)
				return 0;	/* overlong */
			if (c == 0xf4 && s[1] > 0x8f)
				return 0;	/* above U+10FFFF */
			s += 4;
		} else {
			return 0;
		}
	}
	return 1;
}

int64_t
kp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
kp_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

volatile sig_atomic_t kp_stop;

static void
on_signal(int sig)
{
	if (kp_stop)
		_exit(128 + sig);
	kp_stop = 1;
}

void
kp_signals_install(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* a mask inherited from the parent must not hide the stop signals */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}
