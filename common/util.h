/* util.h - small shared helpers: growable byte buffers, checked number
 * conversion, base64, UTF-8 validation, signals and sysexits codes.
 *
 * Error convention across common/: functions return 0 (or a count) on
 * success and -1 on error, and write a one-line reason into the caller's
 * errstr buffer (librdkafka's errstr/errstr_size idiom).  Nothing here
 * prints or exits.
 */
#ifndef KP_UTIL_H
#define KP_UTIL_H

#define KP_VERSION "0.1.0"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sysexits.h>

/* A growable byte buffer.  Zero-initialise (`struct kp_buf b = {0};`),
 * append, then kp_buf_free().  data is NUL-terminated after every append
 * (the NUL is not counted in len), so text can be used as a C string. */
struct kp_buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

/* Make room for n more bytes; aborts the process on out-of-memory (as
 * git's xmalloc does: nothing sensible can continue). */
void	kp_buf_grow(struct kp_buf *b, size_t n);
void	kp_buf_add(struct kp_buf *b, const void *p, size_t n);
void	kp_buf_addc(struct kp_buf *b, char c);
void	kp_buf_adds(struct kp_buf *b, const char *s);
void	kp_buf_printf(struct kp_buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	kp_buf_reset(struct kp_buf *b);		/* len = 0, keeps memory */
void	kp_buf_free(struct kp_buf *b);

/* Allocation that aborts on out-of-memory. */
void	*kp_xmalloc(size_t n);
void	*kp_xcalloc(size_t n, size_t sz);
void	*kp_xrealloc(void *p, size_t n);
char	*kp_xstrdup(const char *s);
void	*kp_xmemdup(const void *p, size_t n);

/* Checked integer conversion in the spirit of OpenBSD's strtonum(3):
 * the whole of s must be a base-10 integer within [min, max].  Returns 0
 * and stores the value, or -1 with errstr set to "invalid", "too small"
 * or "too large" (errstr points to a static string). */
int	kp_strtonum(const char *s, long long min, long long max,
	    long long *out, const char **errstr);

/* Base64 (RFC 4648, standard alphabet, padded).  encode appends to b;
 * decode appends decoded bytes to b and returns 0, or -1 on bad input. */
void	kp_base64_encode(struct kp_buf *b, const void *p, size_t n);
int	kp_base64_decode(struct kp_buf *b, const char *s, size_t n);

/* Returns 1 when p[0..n) is valid UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), else 0. */
int	kp_utf8_valid(const void *p, size_t n);

/* Wall clock in ms since the Unix epoch; monotonic clock in ms. */
int64_t	kp_now_ms(void);
int64_t	kp_mono_ms(void);

/* Set by the SIGINT/SIGTERM handler that kp_signals_install() sets up:
 * the first signal asks for an orderly stop, a second exits at once
 * (status 130).  SIGPIPE is ignored so that a closed stdout shows up as
 * EPIPE on write, which programs treat as a quiet end. */
extern volatile sig_atomic_t kp_stop;
void	kp_signals_install(void);

#endif
