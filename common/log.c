/* log.c - the one logger: "PROGRAM: message" lines on stderr. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

const char *kp_progname = "kpipe";
int kp_log_level = KP_LOG_WARN;

void
kp_log_init(const char *progname)
{
	kp_progname = progname;
}

void
kp_log_msg(int level, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int n;

	(void)level;
	n = snprintf(line, sizeof(line), "%s: ", kp_progname);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
