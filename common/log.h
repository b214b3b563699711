/* log.h - the one logger of a kpipe program.
 *
 * Messages go to stderr as "PROGRAM: message", git's style: lowercase, no
 * trailing period, the subject in quotes.  KP_LOG checks the level before
 * evaluating its arguments, so a debug line costs one comparison when off.
 * Levels: 0 quiet (errors only), 1 normal (warnings), 2 verbose (-v), 3 debug.
 */
#ifndef KP_LOG_H
#define KP_LOG_H

enum { KP_LOG_ERR = 0, KP_LOG_WARN = 1, KP_LOG_INFO = 2, KP_LOG_DEBUG = 3 };

extern const char *kp_progname;	/* set by kp_log_init(); default "kpipe" */
extern int kp_log_level;	/* default KP_LOG_WARN */

/* Set the program name printed before each message (borrowed, must live
 * as long as the program: pass a string literal). */
void	kp_log_init(const char *progname);

/* Print one message at level; a newline is added. */
void	kp_log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define KP_LOG(level, ...) do {						\
	if ((level) <= kp_log_level)					\
		kp_log_msg((level), __VA_ARGS__);			\
} while (0)
#define kp_err(...)	KP_LOG(KP_LOG_ERR, __VA_ARGS__)
#define kp_warn(...)	KP_LOG(KP_LOG_WARN, __VA_ARGS__)
#define kp_info(...)	KP_LOG(KP_LOG_INFO, __VA_ARGS__)
#define kp_debug(...)	KP_LOG(KP_LOG_DEBUG, __VA_ARGS__)

#endif
