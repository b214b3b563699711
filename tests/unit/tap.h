/* tap.h - a tiny Test Anything Protocol producer for the C unit tests.
 *
 * Every check goes through ok(), which counts it; done_testing() prints the
 * plan and returns the exit status (non-zero when any check failed), so a
 * failing check can never be printed and still pass (kcat's self-test did).
 */
#ifndef KP_TAP_H
#define KP_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static inline int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (!pass)
		tap_failed++;
	printf("%s %d - ", pass ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass)
		printf("#   failed at %s:%d\n", file, line);
	fflush(stdout);
	return pass;
}

/* is_int(got, want, name...): integer equality, printing both on failure. */
#define is_int(got, want, ...) do {					\
	long long tap_g_ = (long long)(got), tap_w_ = (long long)(want); \
	if (!ok(tap_g_ == tap_w_, __VA_ARGS__))				\
		printf("#   got %lld, want %lld\n", tap_g_, tap_w_);	\
} while (0)

/* is_str(got, want, name...): string equality (NULL-safe). */
#define is_str(got, want, ...) do {					\
	const char *tap_g_ = (got), *tap_w_ = (want);			\
	int tap_e_ = (tap_g_ && tap_w_) ? !strcmp(tap_g_, tap_w_)	\
	    : tap_g_ == tap_w_;						\
	if (!ok(tap_e_, __VA_ARGS__))					\
		printf("#   got '%s', want '%s'\n",			\
		    tap_g_ ? tap_g_ : "(null)", tap_w_ ? tap_w_ : "(null)"); \
} while (0)

static inline int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	if (tap_failed)
		printf("# failed %d of %d\n", tap_failed, tap_n);
	return tap_failed != 0 || tap_n == 0;
}

#endif
