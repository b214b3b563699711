/*
 * kgen - a fast, deterministic generator of benchmark and test data.
 *
 * kgen writes JSON lines (or raw lines) to standard output from a seeded
 * pseudo-random sequence (splitmix64), so the same command and seed give
 * the same bytes on every machine:
 *
 *	metrics N	per-minute CPU metrics, {"id","timestamp","max.cpu"},
 *			keys in round robin, one record per minute per key
 *	yahoo N		Yahoo Streaming Benchmark ad events (user_id, page_id,
 *			ad_id, ad_type, event_type, event_time, ip_address),
 *			over 100 campaigns of 10 ads each
 *	yahoo-campaigns	the ad_id -> campaign_id table of those 1000 ads
 *	bytes N SIZE	N lines of SIZE printable bytes, for raw throughput
 *
 * The ad and campaign ids do not depend on --seed, so one campaign table
 * serves every event file.  With --realtime, yahoo paces its output to
 * --rate events per second of wall-clock time and stamps each event with
 * the wall clock, for latency measurements; otherwise event time starts at
 * 2024-01-01T00:00:00Z and advances by 1/rate seconds per event.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define USAGE \
"usage: kgen metrics n [--keys k] [--seed s]\n" \
"       kgen yahoo n [--rate n] [--realtime] [--seed s]\n" \
"       kgen yahoo-campaigns\n" \
"       kgen bytes n size [--seed s]\n"

#define MAX_N		1000000000000LL	/* 1e12 records */
#define MAX_KEYS	1000000000LL
#define MAX_SIZE	(1LL << 20)
#define MAX_RATE	100000000LL
#define START_S		1704067200LL	/* 2024-01-01T00:00:00Z */
#define YAHOO_CAMPAIGNS	100
#define YAHOO_ADS	10		/* per campaign */
#define YAHOO_ID_SEED	0x5953420000000001ULL	/* fixed: ids never vary */
#define OUT_SIZE	(1 << 16)

enum cmd { CMD_NONE, CMD_METRICS, CMD_YAHOO, CMD_CAMPAIGNS, CMD_BYTES };

struct conf {
	enum cmd	 cmd;
	long long	 n;
	long long	 keys;
	long long	 size;
	long long	 rate;		/* yahoo: events per second */
	int		 realtime;
	int		 keys_set, rate_set, seed_set;
	uint64_t	 seed;
};

/* buffered standard output; a write error ends the program */
struct out {
	char		 buf[OUT_SIZE];
	size_t		 len;
};

static struct out out;

static void
usage(int code)
{
	fputs(USAGE, code ? stderr : stdout);
	exit(code);
}

/* splitmix64 (Steele, Lea and Flood, OOPSLA 2014): one state word, full
 * period, good enough for benchmark data and cheap */
static uint64_t
next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* out_flush: write the buffer out; EPIPE (a reader that went away) ends
 * the program quietly, any other error with status 74 */
static void
out_flush(void)
{
	size_t off = 0;
	ssize_t w;

	while (off < out.len) {
		w = write(1, out.buf + off, out.len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				exit(0);
			kp_err("cannot write standard output: %s",
			    strerror(errno));
			exit(EX_IOERR);
		}
		off += (size_t)w;
	}
	out.len = 0;
}

/* out_room: make sure n bytes fit (n <= OUT_SIZE); returns the write
 * position */
static char *
out_room(size_t n)
{
	if (out.len + n > sizeof(out.buf))
		out_flush();
	return out.buf + out.len;
}

static void
out_str(const char *s, size_t n)
{
	memcpy(out_room(n), s, n);
	out.len += n;
}

#define OUT_LIT(s)	out_str((s), sizeof(s) - 1)

static void
out_u64(uint64_t v)
{
	char tmp[20], *p = tmp + sizeof(tmp);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	out_str(p, (size_t)(tmp + sizeof(tmp) - p));
}

/* a version-4 UUID from 128 random bits, in its 8-4-4-4-12 form */
static void
format_uuid(char dst[36], uint64_t hi, uint64_t lo)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	int i, j;

	for (i = 0; i < 8; i++) {
		b[i] = (unsigned char)(hi >> (56 - 8 * i));
		b[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0, j = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			dst[j++] = '-';
		dst[j++] = hex[b[i] >> 4];
		dst[j++] = hex[b[i] & 15];
	}
}

static void
out_uuid(uint64_t *s)
{
	uint64_t hi = next(s);

	format_uuid(out_room(36), hi, next(s));
	out.len += 36;
}

/*
 * metrics: record i has id 1 + i % keys and timestamp START_S + 60 * (i /
 * keys): every key reports once a minute, in round robin; max.cpu is
 * uniform on 0.00 .. 99.99 with two decimals.
 */
static int
run_metrics(const struct conf *c)
{
	uint64_t s = c->seed, cpu;
	long long i;

	for (i = 0; i < c->n && !kp_stop; i++) {
		cpu = next(&s) % 10000;
		OUT_LIT("{\"id\":");
		out_u64((uint64_t)(1 + i % c->keys));
		OUT_LIT(",\"timestamp\":");
		out_u64((uint64_t)(START_S + 60 * (i / c->keys)));
		OUT_LIT(",\"max.cpu\":");
		out_u64(cpu / 100);
		out_str((char[]){ '.', (char)('0' + cpu / 10 % 10),
		    (char)('0' + cpu % 10), '}', '\n' }, 5);
	}
	out_flush();
	return 0;
}

/* the 1000 ad ids and 100 campaign ids, from a fixed seed */
static char ad_ids[YAHOO_CAMPAIGNS * YAHOO_ADS][36];
static char campaign_ids[YAHOO_CAMPAIGNS][36];

static void
yahoo_ids(void)
{
	uint64_t s = YAHOO_ID_SEED, hi;
	int i;

	for (i = 0; i < YAHOO_CAMPAIGNS; i++) {
		hi = next(&s);
		format_uuid(campaign_ids[i], hi, next(&s));
	}
	for (i = 0; i < YAHOO_CAMPAIGNS * YAHOO_ADS; i++) {
		hi = next(&s);
		format_uuid(ad_ids[i], hi, next(&s));
	}
}

/* ad i belongs to campaign i / YAHOO_ADS */
static int
run_campaigns(void)
{
	int i;

	yahoo_ids();
	for (i = 0; i < YAHOO_CAMPAIGNS * YAHOO_ADS; i++) {
		OUT_LIT("{\"ad_id\":\"");
		out_str(ad_ids[i], 36);
		OUT_LIT("\",\"campaign_id\":\"");
		out_str(campaign_ids[i / YAHOO_ADS], 36);
		OUT_LIT("\"}\n");
	}
	out_flush();
	return 0;
}

/* one event, as the YSB generator writes it, but with a numeric
 * event_time (ms) so that programs can window on it */
static void
yahoo_event(uint64_t *s, long long t_ms)
{
	static const char *const ad_types[] = {
		"banner", "modal", "sponsored-search", "mail", "mobile"
	};
	static const char *const event_types[] = {
		"view", "click", "purchase"
	};
	uint64_t r;
	const char *a, *e;

	OUT_LIT("{\"user_id\":\"");
	out_uuid(s);
	OUT_LIT("\",\"page_id\":\"");
	out_uuid(s);
	OUT_LIT("\",\"ad_id\":\"");
	r = next(s);
	out_str(ad_ids[r % (YAHOO_CAMPAIGNS * YAHOO_ADS)], 36);
	r = next(s);
	a = ad_types[r % 5];
	e = event_types[(r >> 32) % 3];
	OUT_LIT("\",\"ad_type\":\"");
	out_str(a, strlen(a));
	OUT_LIT("\",\"event_type\":\"");
	out_str(e, strlen(e));
	OUT_LIT("\",\"event_time\":");
	out_u64((uint64_t)t_ms);
	OUT_LIT(",\"ip_address\":\"1.2.3.4\"}\n");
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
run_yahoo(const struct conf *c)
{
	uint64_t s = c->seed;
	long long i = 0, due;
	int64_t t0;

	yahoo_ids();
	if (!c->realtime) {
		for (i = 0; i < c->n && !kp_stop; i++)
			yahoo_event(&s, START_S * 1000 + i * 1000 / c->rate);
		out_flush();
		return 0;
	}
	/* paced: by t ms after the start, 1 + t * rate / 1000 events are out */
	t0 = kp_mono_ms();
	while (i < c->n && !kp_stop) {
		due = 1 + (kp_mono_ms() - t0) * c->rate / 1000;
		if (due > c->n)
			due = c->n;
		if (i < due) {
			int64_t now = kp_now_ms();

			while (i < due) {
				yahoo_event(&s, now);
				i++;
			}
			out_flush();
		} else
			sleep_ms(1);
	}
	out_flush();
	return 0;
}

/* bytes: each line is SIZE characters of [A-Za-z0-9+/] and a newline */
static int
run_bytes(const struct conf *c)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint64_t s = c->seed, r = 0;
	long long i, j, chunk;
	int bits = 0;
	char *p;

	for (i = 0; i < c->n && !kp_stop; i++) {
		for (j = 0; j < c->size; j += chunk) {
			chunk = c->size - j;
			if (chunk > OUT_SIZE)
				chunk = OUT_SIZE;
			p = out_room((size_t)chunk);
			for (long long k = 0; k < chunk; k++) {
				if (bits < 6) {
					r = next(&s);
					bits = 64;
				}
				p[k] = b64[r & 63];
				r >>= 6;
				bits -= 6;
			}
			out.len += (size_t)chunk;
		}
		out_str("\n", 1);
	}
	out_flush();
	return 0;
}

/* number: convert a count operand or option value, or exit 64 */
static long long
number(const char *what, const char *s, long long min, long long max)
{
	const char *e;
	long long v;

	if (kp_strtonum(s, min, max, &v, &e) < 0) {
		kp_err("%s '%s' is %s", what, s, e);
		exit(EX_USAGE);
	}
	return v;
}

static int
parse_args(int argc, char **argv, struct conf *c)
{
	enum { OPT_KEYS = 256, OPT_RATE, OPT_REALTIME, OPT_SEED };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "keys", required_argument, NULL, OPT_KEYS },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "realtime", no_argument, NULL, OPT_REALTIME },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static const struct { const char *name; enum cmd cmd; int nargs; }
	    cmds[] = {
		{ "bytes", CMD_BYTES, 2 },
		{ "metrics", CMD_METRICS, 1 },
		{ "yahoo", CMD_YAHOO, 1 },
		{ "yahoo-campaigns", CMD_CAMPAIGNS, 0 },
	};
	char **arg;
	int ch, nargs;
	size_t i;

	while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(0);
			break;
		case 'V':
			printf("kgen (kpipe) %s\n", KP_VERSION);
			exit(0);
		case OPT_KEYS:
			c->keys = number("key count", optarg, 1, MAX_KEYS);
			c->keys_set = 1;
			break;
		case OPT_RATE:
			c->rate = number("rate", optarg, 1, MAX_RATE);
			c->rate_set = 1;
			break;
		case OPT_REALTIME:
			c->realtime = 1;
			break;
		case OPT_SEED:
			c->seed = (uint64_t)number("seed", optarg, 0,
			    INT64_MAX);
			c->seed_set = 1;
			break;
		default:
			usage(EX_USAGE);
		}
	}
	arg = argv + optind;
	nargs = argc - optind;
	if (nargs < 1) {
		kp_err("no command: give metrics, yahoo, yahoo-campaigns "
		    "or bytes");
		usage(EX_USAGE);
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(arg[0], cmds[i].name) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		kp_err("unknown command '%s' (metrics, yahoo, "
		    "yahoo-campaigns, bytes)", arg[0]);
		return EX_USAGE;
	}
	c->cmd = cmds[i].cmd;
	if (nargs - 1 != cmds[i].nargs) {
		kp_err("%s takes %d operand%s, not %d", cmds[i].name,
		    cmds[i].nargs, cmds[i].nargs == 1 ? "" : "s", nargs - 1);
		usage(EX_USAGE);
	}
	if (cmds[i].nargs >= 1)
		c->n = number("record count", arg[1], 0, MAX_N);
	if (cmds[i].nargs >= 2)
		c->size = number("size", arg[2], 1, MAX_SIZE);
	if (c->keys_set && c->cmd != CMD_METRICS) {
		kp_err("--keys goes with metrics only");
		return EX_USAGE;
	}
	if ((c->rate_set || c->realtime) && c->cmd != CMD_YAHOO) {
		kp_err("--rate and --realtime go with yahoo only");
		return EX_USAGE;
	}
	if (c->seed_set && c->cmd == CMD_CAMPAIGNS) {
		kp_err("yahoo-campaigns takes no --seed: its ids are fixed");
		return EX_USAGE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct conf c = {
		.keys = 1000,
		.rate = 10000,
		.seed = 1,
	};
	int rc;

	kp_log_init("kgen");
	if ((rc = parse_args(argc, argv, &c)) != 0)
		return rc;
	kp_signals_install();
	switch (c.cmd) {
	case CMD_METRICS:
		return run_metrics(&c);
	case CMD_YAHOO:
		return run_yahoo(&c);
	case CMD_CAMPAIGNS:
		return run_campaigns();
	case CMD_BYTES:
		return run_bytes(&c);
	default:
		return EX_SOFTWARE;
	}
}
