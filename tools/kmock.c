/*
 * kmock - an embedded Kafka cluster on loopback, for demos, tests and laptops.
 *
 * kmock starts librdkafka's mock cluster (N brokers, each listening on an
 * ephemeral port of 127.0.0.1), pre-creates the topics it is given, prints
 * the bootstrap list as the first line of standard output and runs until
 * SIGTERM or SIGINT.  While it runs, it reads fault-injection commands
 * ("down 2", "leader t 0 3", ...) line by line from standard input and from
 * an optional control FIFO, and answers each with one line on standard
 * output: "ok" or "error: <why>".
 *
 * The mock cluster runs on threads of its own; the rd_kafka_t handle that
 * owns it has no brokers and needs no polling, so the main thread sleeps in
 * ppoll() until a command or a signal arrives.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define PROG "kmock"
#define MAX_BROKERS 64
#define MAX_PARTITIONS 10000
#define MAX_RTT_MS 3600000
#define LINE_MAX_LEN 1024
#define MAX_ARGS 3		/* arguments of the longest command */
#define SETTLE_NS 2000000	/* 2 ms: see settle() */
#define MOCK_AUTO_PARTITIONS 4	/* the mock's fixed default, rdkafka_mock.c */

static const char usage_text[] =
    "usage: kmock [-h] [--brokers N] [--control FIFO] [--partitions N]\n"
    "             [--pid-file FILE] [--topic NAME[:PARTITIONS]] ...\n";

struct topic {
	char *name;
	int partitions;		/* 0: take conf.partitions */
};

struct conf {
	int brokers;
	int partitions;		/* for --topic and "topic" without a count */
	const char *pid_file;
	const char *control;
	struct topic *topics;
	int ntopics;
};

/* one line-oriented command source: stdin or the control FIFO */
struct source {
	int fd;			/* -1: closed */
	const char *fifo;	/* reopened on EOF when not NULL */
	char buf[LINE_MAX_LEN];
	size_t len;
	int overlong;		/* discarding the rest of an overlong line */
};

struct kmock {
	const struct conf *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	if (stop)
		_exit(128 + sig);
	stop = 1;
}

/*
 * to_num: convert S to a long within [MIN, MAX], in the spirit of OpenBSD's
 * strtonum(3).  Returns 0 and sets *OUT, or -1 and sets *WHY to a static
 * string.
 */
static int to_num(const char *s, long min, long max, long *out,
		  const char **why)
{
	char *end;
	long v;

	errno = 0;
	if (*s == '\0') {
		*why = "invalid";
		return -1;
	}
	v = strtol(s, &end, 10);
	if (*end != '\0') {
		*why = "invalid";
		return -1;
	}
	if ((errno == ERANGE && v == LONG_MIN) || v < min) {
		*why = "too small";
		return -1;
	}
	if ((errno == ERANGE && v == LONG_MAX) || v > max) {
		*why = "too large";
		return -1;
	}
	*out = v;
	return 0;
}

/* topic_name_ok: Kafka's rule: 1..249 of [A-Za-z0-9._-], not "." or ".." */
static int topic_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 249)
		return 0;
	if ((len == 1 && s[0] == '.') || (len == 2 && !strncmp(s, "..", 2)))
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static void usage(FILE *f)
{
	fputs(usage_text, f);
}

/* bad_usage: report a usage error on stderr; returns EX_USAGE */
__attribute__((format(printf, 1, 2)))
static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return EX_USAGE;
}

/* replication_factor: the mock's own choice for auto-created topics */
static int replication_factor(const struct conf *conf)
{
	return conf->brokers < 3 ? conf->brokers : 3;
}

/* add_topic: parse NAME[:PARTITIONS] into conf->topics; 0 or EX_USAGE */
static int add_topic(struct conf *conf, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
	struct topic *t;
	long n = 0;
	const char *why;

	if (!topic_name_ok(arg, len))
		return bad_usage("invalid topic name in '%s'", arg);
	if (colon && to_num(colon + 1, 1, MAX_PARTITIONS, &n, &why) == -1)
		return bad_usage("partition count in '%s' is %s", arg, why);
	t = realloc(conf->topics, (conf->ntopics + 1) * sizeof(*t));
	if (!t) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(EX_OSERR);
	}
	conf->topics = t;
	t = &conf->topics[conf->ntopics++];
	t->name = strndup(arg, len);
	t->partitions = (int)n;
	if (!t->name) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(EX_OSERR);
	}
	return 0;
}

/*
 * parse_args: fill CONF from the command line.  Returns -1 to go on, or an
 * exit status (0 after --help, EX_USAGE).
 */
static int parse_args(struct conf *conf, int argc, char **argv)
{
	enum { OPT_BROKERS = 256, OPT_CONTROL, OPT_PARTITIONS, OPT_PID_FILE,
	       OPT_TOPIC };
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, OPT_BROKERS },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "help", no_argument, NULL, 'h' },
		{ "partitions", required_argument, NULL, OPT_PARTITIONS },
		{ "pid-file", required_argument, NULL, OPT_PID_FILE },
		{ "topic", required_argument, NULL, OPT_TOPIC },
		{ NULL, 0, NULL, 0 },
	};
	const char *why;
	long n;
	int c, rc;

	opterr = 0;	/* getopt's messages name argv[0], a path */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case ':':
			return bad_usage("option '%s' needs an argument",
					 argv[optind - 1]);
		case 'h':
			usage(stdout);
			return fflush(stdout) == 0 ? 0 : EX_IOERR;
		case OPT_BROKERS:
			if (to_num(optarg, 1, MAX_BROKERS, &n, &why) == -1)
				return bad_usage("broker count '%s' is %s",
						 optarg, why);
			conf->brokers = (int)n;
			break;
		case OPT_CONTROL:
			conf->control = optarg;
			break;
		case OPT_PARTITIONS:
			if (to_num(optarg, 1, MAX_PARTITIONS, &n, &why) == -1)
				return bad_usage("partition count '%s' is %s",
						 optarg, why);
			conf->partitions = (int)n;
			break;
		case OPT_PID_FILE:
			conf->pid_file = optarg;
			break;
		case OPT_TOPIC:
			if ((rc = add_topic(conf, optarg)) != 0)
				return rc;
			break;
		default:
			if (!strncmp(argv[optind - 1], "--", 2))
				return bad_usage("bad option '%s'",
						 argv[optind - 1]);
			return bad_usage("unknown option '-%c'", optopt);
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	return -1;
}

/* reply: one answer line on stdout; 0, or -1 when stdout fails */
__attribute__((format(printf, 1, 2)))
static int reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return fflush(stdout) == 0 ? 0 : -1;
}

/*
 * settle: pause after a call into the mock cluster.  Its thread serves
 * queued calls first and drains its wake-up pipe after, so a call queued in
 * between loses its wake-up and waits for the thread's next poll timeout,
 * up to 1 s (rdkafka_mock.c, io_poll).  A pause lets the thread reach the
 * drain before the next call is queued.
 */
static void settle(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = SETTLE_NS };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !stop)
		;
}

/* answer: the reply to a mock call whose result is ERR */
static int answer(rd_kafka_resp_err_t err)
{
	settle();
	return err ? reply("error: %s", rd_kafka_err2str(err)) : reply("ok");
}

/*
 * arg_num: convert a command argument, or answer why not.  Returns 0 when
 * *OUT is set, 1 when the error was answered (*RC: reply()'s result).
 */
static int arg_num(const char *what, const char *s, long min, long max,
		   long *out, int *rc)
{
	const char *why;

	if (to_num(s, min, max, out, &why) == 0)
		return 0;
	*rc = reply("error: %s '%s' is %s", what, s, why);
	return 1;
}

static int cmd_updown(struct kmock *km, char **av)
{
	long id;
	int rc;

	if (arg_num("broker id", av[1], 0, INT32_MAX, &id, &rc))
		return rc;
	return answer(av[0][0] == 'd' ?
	    rd_kafka_mock_broker_set_down(km->mc, (int32_t)id) :
	    rd_kafka_mock_broker_set_up(km->mc, (int32_t)id));
}

static int cmd_leader(struct kmock *km, char **av)
{
	long part, id;
	int rc;

	if (!topic_name_ok(av[1], strlen(av[1])))
		return reply("error: invalid topic name '%s'", av[1]);
	if (arg_num("partition", av[2], 0, INT32_MAX, &part, &rc) ||
	    arg_num("broker id", av[3], -1, INT32_MAX, &id, &rc))
		return rc;
	return answer(rd_kafka_mock_partition_set_leader(
	    km->mc, av[1], (int32_t)part, (int32_t)id));
}

static int cmd_coordinator(struct kmock *km, char **av)
{
	long id;
	int rc;

	if (strcmp(av[1], "transaction") && strcmp(av[1], "group"))
		return reply("error: coordinator type '%s' is not "
			     "transaction or group", av[1]);
	if (arg_num("broker id", av[3], 0, INT32_MAX, &id, &rc))
		return rc;
	return answer(rd_kafka_mock_coordinator_set(km->mc, av[1], av[2],
						       (int32_t)id));
}

static int cmd_rtt(struct kmock *km, char **av)
{
	long id, ms;
	int rc;

	if (arg_num("broker id", av[1], 0, INT32_MAX, &id, &rc) ||
	    arg_num("rtt", av[2], 0, MAX_RTT_MS, &ms, &rc))
		return rc;
	return answer(rd_kafka_mock_broker_set_rtt(km->mc, (int32_t)id,
						      (int)ms));
}

static int cmd_topic(struct kmock *km, char **av)
{
	long part = km->conf->partitions;
	int rc;

	if (!topic_name_ok(av[1], strlen(av[1])))
		return reply("error: invalid topic name '%s'", av[1]);
	if (av[2] && arg_num("partition count", av[2], 1, MAX_PARTITIONS,
			     &part, &rc))
		return rc;
	return answer(rd_kafka_mock_topic_create(km->mc, av[1], (int)part,
	    replication_factor(km->conf)));
}

static const struct {
	const char *name;
	int min_args, max_args;
	int (*run)(struct kmock *, char **);
	const char *usage;
} commands[] = {
	{ "coordinator", 3, 3, cmd_coordinator,
	  "coordinator transaction|group KEY BROKER_ID" },
	{ "down", 1, 1, cmd_updown, "down BROKER_ID" },
	{ "leader", 3, 3, cmd_leader, "leader TOPIC PARTITION BROKER_ID" },
	{ "rtt", 2, 2, cmd_rtt, "rtt BROKER_ID MS" },
	{ "topic", 1, 2, cmd_topic, "topic NAME [PARTITIONS]" },
	{ "up", 1, 1, cmd_updown, "up BROKER_ID" },
};

/*
 * command: run one control line (modified in place).  Blank lines and
 * lines starting with '#' get no answer.  Returns 0, or -1 when the answer
 * could not be written to stdout.
 */
static int command(struct kmock *km, char *line)
{
	char *av[MAX_ARGS + 2] = { NULL };
	char *save = NULL, *tok;
	int ac = 0;
	size_t i;

	for (tok = strtok_r(line, " \t\r", &save); tok;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		if (ac == MAX_ARGS + 1)
			return reply("error: too many arguments");
		av[ac++] = tok;
	}
	if (ac == 0 || av[0][0] == '#')
		return 0;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(av[0], commands[i].name))
			continue;
		if (ac - 1 < commands[i].min_args ||
		    ac - 1 > commands[i].max_args)
			return reply("error: usage: %s", commands[i].usage);
		return commands[i].run(km, av);
	}
	return reply("error: unknown command '%s'", av[0]);
}

/* is_dev_null: whether FD is /dev/null */
static int is_dev_null(int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat("/dev/null", &b) == 0 &&
	       S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev;
}

/*
 * open_fifo: open the control FIFO, creating it when absent (then *CREATED
 * is set, if CREATED is not NULL).  Returns the fd, or -1 (reported).
 */
static int open_fifo(const char *path, int *created)
{
	struct stat st;
	int fd;

	if (mkfifo(path, 0600) == 0) {
		if (created)
			*created = 1;
	} else if (errno != EEXIST) {
		fprintf(stderr, PROG ": cannot create control fifo '%s': %s\n",
			path, strerror(errno));
		return -1;
	}
	/* non-blocking, or open() would wait for the first writer */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		fprintf(stderr, PROG ": cannot open control fifo '%s': %s\n",
			path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISFIFO(st.st_mode)) {
		fprintf(stderr, PROG ": cannot use control fifo '%s': %s\n",
			path, "not a fifo");
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * stdout_failed: after a write to stdout failed.  A closed pipe ends kmock
 * quietly, as a signal does (returns 0); anything else is reported
 * (returns EX_IOERR).
 */
static int stdout_failed(void)
{
	if (errno == EPIPE) {
		stop = 1;
		return 0;
	}
	fprintf(stderr, PROG ": cannot write to stdout: %s\n", strerror(errno));
	return EX_IOERR;
}

/*
 * source_read: read what SRC has and run each complete line.  Returns 0,
 * or an exit status after an error (reported).
 */
static int source_read(struct kmock *km, struct source *src)
{
	ssize_t n;
	char *nl;
	int fd;

	n = read(src->fd, src->buf + src->len, sizeof(src->buf) - src->len);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		fprintf(stderr, PROG ": cannot read commands from '%s': %s\n",
			src->fifo ? src->fifo : "stdin", strerror(errno));
		return EX_IOERR;
	}
	if (n == 0) {
		/* EOF: stdin is done; a FIFO waits for its next writer */
		src->len = 0;
		src->overlong = 0;
		if (!src->fifo) {
			src->fd = -1;
			return 0;
		}
		/* open anew before closing: a writer that comes in between
		 * finds a reader, and the pipe keeps what it wrote */
		fd = open_fifo(src->fifo, NULL);
		close(src->fd);
		src->fd = fd;
		return fd == -1 ? EX_IOERR : 0;
	}
	src->len += (size_t)n;
	while ((nl = memchr(src->buf, '\n', src->len))) {
		size_t used = (size_t)(nl - src->buf) + 1;

		*nl = '\0';
		if (!src->overlong && command(km, src->buf) == -1)
			return stdout_failed();
		src->overlong = 0;
		memmove(src->buf, src->buf + used, src->len - used);
		src->len -= used;
	}
	if (src->len == sizeof(src->buf)) {
		/* no newline in a full buffer: answer once, drop to '\n' */
		if (!src->overlong && reply("error: line too long") == -1)
			return stdout_failed();
		src->overlong = 1;
		src->len = 0;
	}
	return 0;
}

/* serve: answer commands until a signal; 0 or an exit status */
static int serve(struct kmock *km, const sigset_t *waitmask)
{
	struct source src[2] = {
		{ .fd = -1 },
		{ .fd = -1, .fifo = km->conf->control },
	};
	struct pollfd pfd[2];
	int i, rc = 0, created = 0;

	if (!isatty(STDIN_FILENO) && !is_dev_null(STDIN_FILENO) &&
	    fcntl(STDIN_FILENO, F_GETFD) != -1)
		src[0].fd = STDIN_FILENO;
	if (src[1].fifo && (src[1].fd = open_fifo(src[1].fifo, &created)) == -1)
		rc = EX_IOERR;

	while (!stop && rc == 0) {
		for (i = 0; i < 2; i++) {
			pfd[i].fd = src[i].fd;	/* poll ignores fd -1 */
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (ppoll(pfd, 2, NULL, waitmask) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": cannot poll: %s\n",
				strerror(errno));
			rc = EX_OSERR;
			break;
		}
		for (i = 0; i < 2 && rc == 0; i++)
			if (src[i].fd != -1 && pfd[i].revents)
				rc = source_read(km, &src[i]);
	}
	if (src[1].fd != -1)
		close(src[1].fd);
	if (created)
		unlink(src[1].fifo);
	return rc;
}

/* write_pid_file: 0 or -1 (reported) */
static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f && fprintf(f, "%ld\n", (long)getpid()) > 0 && fclose(f) == 0)
		return 0;
	fprintf(stderr, PROG ": cannot write pid file '%s': %s\n", path,
		strerror(errno));
	if (f)
		fclose(f);
	return -1;
}

/* on_log: librdkafka's log lines, in kmock's style, on stderr */
static void on_log(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf)
{
	(void)rk;
	(void)level;
	fprintf(stderr, PROG ": librdkafka: %s: %s\n", fac, buf);
}

/* start: create the handle, the cluster and the topics; 0 or exit status */
static int start(struct kmock *km)
{
	const struct conf *conf = km->conf;
	rd_kafka_conf_t *kconf = rd_kafka_conf_new();
	rd_kafka_resp_err_t err;
	char errstr[512];
	int i, rf = replication_factor(conf);

	/* warnings and worse: the handle has no bootstrap.servers on purpose,
	 * and says so at level 5 (notice) */
	rd_kafka_conf_set_log_cb(kconf, on_log);
	if (rd_kafka_conf_set(kconf, "log_level", "4", errstr,
			      sizeof(errstr)) == RD_KAFKA_CONF_OK)
		km->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr,
				      sizeof(errstr));
	if (!km->rk) {
		rd_kafka_conf_destroy(kconf);
		fprintf(stderr, PROG ": cannot create mock cluster: %s\n",
			errstr);
		return EX_SOFTWARE;
	}
	km->mc = rd_kafka_mock_cluster_new(km->rk, conf->brokers);
	if (!km->mc) {
		fprintf(stderr, PROG ": cannot create mock cluster: %s\n",
			"see the librdkafka log above");
		return EX_UNAVAILABLE;
	}
	for (i = 0; i < conf->ntopics; i++) {
		const struct topic *t = &conf->topics[i];

		err = rd_kafka_mock_topic_create(km->mc, t->name,
		    t->partitions ? t->partitions : conf->partitions, rf);
		settle();
		if (err) {
			fprintf(stderr, PROG ": cannot create topic '%s': %s\n",
				t->name, rd_kafka_err2str(err));
			return EX_UNAVAILABLE;
		}
	}
	return 0;
}

static void stop_cluster(struct kmock *km)
{
	if (km->mc)
		rd_kafka_mock_cluster_destroy(km->mc);
	if (km->rk)
		rd_kafka_destroy(km->rk);
}

static int run(const struct conf *conf)
{
	struct kmock km = { .conf = conf };
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, orig;
	int rc, pid_written = 0;

	/* block the stop signals outside ppoll(); librdkafka's threads are
	 * created with them blocked and so never take them */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &orig);
	/* ppoll() waits with these unblocked, even when kmock was started
	 * with them blocked (a parent's mask is inherited) */
	sigdelset(&orig, SIGINT);
	sigdelset(&orig, SIGTERM);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = start(&km);
	if (rc == 0 && conf->pid_file) {
		if (write_pid_file(conf->pid_file) == -1)
			rc = EX_IOERR;
		else
			pid_written = 1;
	}
	if (rc == 0) {
		printf("%s\n", rd_kafka_mock_cluster_bootstraps(km.mc));
		if (fflush(stdout) != 0)
			rc = stdout_failed();
	}
	if (rc == 0 && !stop)
		rc = serve(&km, &orig);
	/* a second signal during shutdown ends the process at once */
	sigprocmask(SIG_SETMASK, &orig, NULL);
	stop_cluster(&km);
	if (pid_written)
		unlink(conf->pid_file);
	return rc;
}

int main(int argc, char **argv)
{
	struct conf conf = {
		.brokers = 3,
		.partitions = MOCK_AUTO_PARTITIONS,
		.pid_file = NULL,
		.control = NULL,
		.topics = NULL,
		.ntopics = 0,
	};
	int i, rc;

	if ((rc = parse_args(&conf, argc, argv)) == -1)
		rc = run(&conf);
	for (i = 0; i < conf.ntopics; i++)
		free(conf.topics[i].name);
	free(conf.topics);
	return rc;
}
