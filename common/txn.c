/* txn.c - exactly once: transactions around a consume-transform-produce
 * loop (see txn.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "retry.h"
#include "txn.h"
#include "util.h"

#define INIT_TRY_MS	10000	/* one init_transactions() call */
#define INIT_TOTAL_MS	60000	/* all of them */
#define SEEK_MS		10000
#define FREE_ABORT_MS	5000
/* commit_transaction() and abort_transaction() are called with this
 * timeout and called again (they resume) while they time out, so that a
 * stop request is seen; they give up after CALL_MAX_MS (twice the default
 * transaction.timeout.ms), or STOP_GRACE_MS once a stop is requested */
#define CALL_MS		1000
#define OFFSETS_MS	10000
#define CALL_MAX_MS	120000
#define STOP_GRACE_MS	10000
#define SLOTS		1000
#define BACKOFF_MS	100
#define BACKOFF_MAX_MS	5000

/* One input partition the open transaction (or an earlier one) read. */
struct tp {
	char		*topic;
	int32_t		 partition;
	int64_t		 first;		/* first offset processed in the open
					 * transaction, or -1 */
	int64_t		 next;		/* last processed + 1, or -1 */
	int64_t		 committed;	/* next offset committed by us, or -1 */
};

struct kp_txn {
	struct kp_txn_opts	 o;
	char			*id;		/* transactional.id */
	int			 lock_fd;
	rd_kafka_t		*prod, *cons;
	int			 open;		/* a transaction is open */
	int64_t			 begun;		/* kp_mono_ms() at its first work */
	struct tp		*tps;
	size_t			 ntps, cap, hit;
	unsigned long		 in, out;	/* in the open transaction */
	long			 aborts_in_row;
	struct kp_retry		 backoff;
	struct kp_txn_stats	 st;
	int			 exit_code;
	int			 wedged;	/* a call never came back */
	/* KPIPE_TEST_TXN, KPIPE_TEST_TXN_OFFSETS */
	char			 test_kind;	/* 'a', 'f', 'c' or 0 */
	unsigned long		 test_n, ncommit;
	int			 test_offsets;
	int			 test_owed;	/* that commit was refused */
	int64_t			 test_owed_at;	/* when, kp_mono_ms() */
};

/* ---- the transactional.id and its slot ---- */

/* Copy s into b, characters outside [A-Za-z0-9._-] made '_'. */
static void
add_clean(struct kp_buf *b, const char *s)
{
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			c = '_';
		kp_buf_addc(b, c);
	}
}

/* Take the first free slot: returns its number and sets *fd, or -1 with
 * errstr. */
static int
take_slot(const char *group, const char *program, int *fd, char *errstr,
    size_t n)
{
	const char *tmp = getenv("TMPDIR");
	struct kp_buf dir = {0}, path = {0};
	struct stat sb;
	int i, f, rc = -1;

	kp_buf_printf(&dir, "%s/kpipe-txn-%lu", tmp && *tmp ? tmp : "/tmp",
	    (unsigned long)getuid());
	if (mkdir(dir.data, 0700) < 0 && errno != EEXIST) {
		snprintf(errstr, n, "cannot create '%s': %s", dir.data,
		    strerror(errno));
		goto out;
	}
	if (lstat(dir.data, &sb) < 0 || !S_ISDIR(sb.st_mode) ||
	    sb.st_uid != getuid()) {
		snprintf(errstr, n, "'%s' is not a directory of this user",
		    dir.data);
		goto out;
	}
	for (i = 0; i < SLOTS; i++) {
		kp_buf_reset(&path);
		kp_buf_printf(&path, "%s/", dir.data);
		add_clean(&path, group);
		kp_buf_addc(&path, '-');
		add_clean(&path, program);
		kp_buf_printf(&path, "-%d.lock", i);
		if ((f = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC,
		    0600)) < 0) {
			snprintf(errstr, n, "cannot open '%s': %s", path.data,
			    strerror(errno));
			goto out;
		}
		if (flock(f, LOCK_EX | LOCK_NB) == 0) {
			*fd = f;
			rc = i;
			goto out;
		}
		close(f);
		if (errno != EWOULDBLOCK) {
			snprintf(errstr, n, "cannot lock '%s': %s", path.data,
			    strerror(errno));
			goto out;
		}
	}
	snprintf(errstr, n, "no free instance slot in '%s' (%d in use)",
	    dir.data, SLOTS);
out:
	kp_buf_free(&dir);
	kp_buf_free(&path);
	return rc;
}

struct kp_txn *
kp_txn_new(const struct kp_txn_opts *o, char *errstr, size_t n)
{
	struct kp_txn *t;
	struct kp_buf id = {0};
	char host[256];
	int slot, fd = -1;

	if (o->group == NULL || o->program == NULL) {
		snprintf(errstr, n, "exactly once needs a consumer group");
		return NULL;
	}
	if ((slot = take_slot(o->group, o->program, &fd, errstr, n)) < 0)
		return NULL;
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	kp_buf_printf(&id, "%s-%s-", o->group, o->program);
	add_clean(&id, host);
	kp_buf_printf(&id, "-%d", slot);
	t = kp_xcalloc(1, sizeof(*t));
	t->o = *o;
	if (t->o.interval_ms <= 0)
		t->o.interval_ms = KP_TXN_INTERVAL_MS;
	t->id = id.data;
	t->lock_fd = fd;
	kp_retry_init(&t->backoff, -1, BACKOFF_MS, BACKOFF_MAX_MS);
	return t;
}

int
kp_txn_producer_conf(struct kp_txn *t, rd_kafka_conf_t *conf, char *errstr,
    size_t n)
{
	char v[512];
	size_t vn = sizeof(v);

	if (rd_kafka_conf_get(conf, "transactional.id", v, &vn) ==
	    RD_KAFKA_CONF_OK && vn > 1) {
		free(t->id);
		t->id = kp_xstrdup(v);
		return 0;
	}
	if (rd_kafka_conf_set(conf, "transactional.id", t->id, errstr, n) !=
	    RD_KAFKA_CONF_OK)
		return -1;
	return 0;
}

int
kp_txn_consumer_conf(rd_kafka_conf_t *conf, char *errstr, size_t n)
{
	static const char *const props[] = {
		"isolation.level", "read_committed",
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		NULL
	};
	int i;

	for (i = 0; props[i]; i += 2)
		if (rd_kafka_conf_set(conf, props[i], props[i + 1], errstr,
		    n) != RD_KAFKA_CONF_OK)
			return -1;
	return 0;
}

const char *
kp_txn_id(const struct kp_txn *t)
{
	return t->id;
}

/* ---- errors ---- */

/* Note error e in errstr ("what: reason") and destroy it. */
static void
say(rd_kafka_error_t *e, const char *what, char *errstr, size_t n)
{
	snprintf(errstr, n, "%s: %s", what, rd_kafka_error_string(e));
}

/* A failure that ends the run: exit 75 when fatal, or for an error that
 * is neither retriable nor abortable (librdkafka's advice: treat it as
 * fatal). */
static enum kp_txn_status
fatal(struct kp_txn *t, rd_kafka_error_t *e, const char *what, char *errstr,
    size_t n)
{
	char fe[256];

	if (e) {
		say(e, what, errstr, n);
		if (rd_kafka_error_is_fatal(e) &&
		    rd_kafka_fatal_error(t->prod, fe, sizeof(fe)))
			snprintf(errstr, n, "%s: fatal error: %s", what, fe);
		rd_kafka_error_destroy(e);
	}
	t->exit_code = EX_TEMPFAIL;
	t->open = 0;
	return KP_TXN_FATAL;
}

static int
test_hook(struct kp_txn *t)
{
	const char *s = getenv("KPIPE_TEST_TXN");
	const char *o = getenv("KPIPE_TEST_TXN_OFFSETS");
	long long v;
	const char *e;

	t->test_offsets = o && !strcmp(o, "1");
	if (s == NULL || *s == '\0')
		return 0;
	if (!strncmp(s, "abort:", 6))
		t->test_kind = 'a';
	else if (!strncmp(s, "fatal:", 6))
		t->test_kind = 'f';
	else if (!strncmp(s, "crash:", 6))
		t->test_kind = 'c';
	if (t->test_kind == 0 || kp_strtonum(s + 6, 1, 1000000000, &v,
	    &e) < 0) {
		t->test_kind = 0;
		return -1;
	}
	t->test_n = (unsigned long)v;
	return 0;
}

/* ---- starting ---- */

static rd_kafka_error_t *
begin(struct kp_txn *t)
{
	rd_kafka_error_t *e = rd_kafka_begin_transaction(t->prod);

	if (e == NULL) {
		t->open = 1;
		t->in = t->out = 0;
	}
	return e;
}

int
kp_txn_start(struct kp_txn *t, rd_kafka_t *producer, rd_kafka_t *consumer,
    char *errstr, size_t n)
{
	int64_t until = kp_mono_ms() + INIT_TOTAL_MS;
	rd_kafka_error_t *e;

	t->prod = producer;
	t->cons = consumer;
	if (test_hook(t) < 0) {
		snprintf(errstr, n, "KPIPE_TEST_TXN: want abort:N, fatal:N or "
		    "crash:N");
		t->exit_code = EX_USAGE;
		return -1;
	}
	for (;;) {
		if ((e = rd_kafka_init_transactions(producer,
		    INIT_TRY_MS)) == NULL)
			break;
		if (rd_kafka_error_is_retriable(e) && !kp_stop &&
		    kp_mono_ms() < until) {
			t->st.retries++;
			rd_kafka_error_destroy(e);
			continue;
		}
		say(e, "cannot initialise transactions", errstr, n);
		t->exit_code = rd_kafka_error_is_fatal(e) ? EX_TEMPFAIL :
		    rd_kafka_error_is_retriable(e) ? EX_UNAVAILABLE :
		    rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__NOT_CONFIGURED ||
		    rd_kafka_error_code(e) ==
		    RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT ||
		    rd_kafka_error_code(e) ==
		    RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED ?
		    EX_CONFIG : EX_TEMPFAIL;
		rd_kafka_error_destroy(e);
		return -1;
	}
	if ((e = begin(t)) != NULL) {
		fatal(t, e, "cannot begin a transaction", errstr, n);
		return -1;
	}
	return 0;
}

/* ---- partitions ---- */

static struct tp *
tp_find(const struct kp_txn *t, const char *topic, int32_t partition)
{
	size_t i;

	if (t->hit < t->ntps && t->tps[t->hit].partition == partition &&
	    !strcmp(t->tps[t->hit].topic, topic))
		return &t->tps[t->hit];
	for (i = 0; i < t->ntps; i++)
		if (t->tps[i].partition == partition &&
		    !strcmp(t->tps[i].topic, topic)) {
			((struct kp_txn *)t)->hit = i;
			return &t->tps[i];
		}
	return NULL;
}

void
kp_txn_processed(struct kp_txn *t, const char *topic, int32_t partition,
    int64_t offset)
{
	struct tp *p = tp_find(t, topic, partition);

	if (p == NULL) {
		if (t->ntps == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 16;
			t->tps = kp_xrealloc(t->tps, t->cap * sizeof(*t->tps));
		}
		p = &t->tps[t->ntps];
		t->hit = t->ntps++;
		p->topic = kp_xstrdup(topic);
		p->partition = partition;
		p->first = p->next = p->committed = -1;
	}
	if (p->first < 0)
		p->first = offset;
	p->next = offset + 1;
	if (t->in == 0 && t->out == 0)
		t->begun = kp_mono_ms();
	t->in++;
}

void
kp_txn_produced(struct kp_txn *t, unsigned long n)
{
	if (t->in == 0 && t->out == 0)
		t->begun = kp_mono_ms();
	t->out += n;
}

int
kp_txn_pending(const struct kp_txn *t)
{
	return t->open && (t->in > 0 || t->out > 0);
}

int
kp_txn_due(const struct kp_txn *t)
{
	if (t->test_owed && kp_mono_ms() - t->test_owed_at >= t->o.interval_ms)
		return 1;
	return kp_txn_pending(t) && kp_mono_ms() - t->begun >=
	    t->o.interval_ms;
}

int64_t
kp_txn_committed(const struct kp_txn *t, const char *topic, int32_t partition)
{
	const struct tp *p = tp_find(t, topic, partition);

	return p ? p->committed : -1;
}

void
kp_txn_forget(struct kp_txn *t, const rd_kafka_topic_partition_list_t *parts)
{
	size_t i;
	int j;

	for (j = 0; j < parts->cnt; j++)
		for (i = 0; i < t->ntps; i++)
			if (t->tps[i].partition == parts->elems[j].partition &&
			    !strcmp(t->tps[i].topic, parts->elems[j].topic)) {
				free(t->tps[i].topic);
				t->tps[i] = t->tps[--t->ntps];
				break;
			}
	t->hit = 0;
}

/* ---- commit and abort ---- */

/* Seek the consumer back to where the open transaction began on each
 * partition it processed records of. */
static void
rewind_consumer(struct kp_txn *t)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_error_t *e;
	size_t i;
	int j;

	l = rd_kafka_topic_partition_list_new(t->ntps ? (int)t->ntps : 1);
	for (i = 0; i < t->ntps; i++) {
		struct tp *p = &t->tps[i];

		if (p->first >= 0)
			rd_kafka_topic_partition_list_add(l, p->topic,
			    p->partition)->offset = p->committed >= 0 ?
			    p->committed : p->first;
		p->first = p->next = -1;
	}
	if (t->cons && l->cnt > 0) {
		if ((e = rd_kafka_seek_partitions(t->cons, l, SEEK_MS)) != NULL)
			rd_kafka_error_destroy(e);
		for (j = 0; j < l->cnt; j++)
			if (t->o.rewound && l->elems[j].err == 0)
				t->o.rewound(t->o.opaque, l->elems[j].topic,
				    l->elems[j].partition, l->elems[j].offset);
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* May a call that began at t0 and failed with retriable error e be
 * made again?  Not past CALL_MAX_MS, nor STOP_GRACE_MS after a stop
 * request. */
static int
again(struct kp_txn *t, rd_kafka_error_t *e, int64_t t0)
{
	int64_t took = kp_mono_ms() - t0;
	rd_kafka_resp_err_t c = rd_kafka_error_code(e);

	/* librdkafka 2.0.2 flags a send_offsets_to_transaction() that lost
	 * its coordinator (timed out, transport failure) as neither
	 * retriable nor abortable; calling it again once the coordinator is
	 * back works */
	if ((!rd_kafka_error_is_retriable(e) && (rd_kafka_error_is_fatal(e) ||
	    rd_kafka_error_txn_requires_abort(e) ||
	    (c != RD_KAFKA_RESP_ERR__TIMED_OUT &&
	    c != RD_KAFKA_RESP_ERR__TRANSPORT &&
	    c != RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE &&
	    c != RD_KAFKA_RESP_ERR_NOT_COORDINATOR))) ||
	    took >= CALL_MAX_MS || (kp_stop && took >= STOP_GRACE_MS))
		return 0;
	t->st.retries++;
	return 1;
}

/* Abort the open transaction (retrying retriable errors), rewind, back
 * off when aborts come in a row, and begin again. */
static enum kp_txn_status
do_abort(struct kp_txn *t, char *errstr, size_t n)
{
	rd_kafka_error_t *e;
	int64_t delay, t0 = kp_mono_ms();

	for (;;) {
		if ((e = rd_kafka_abort_transaction(t->prod, CALL_MS)) == NULL)
			break;
		if (again(t, e, t0)) {
			rd_kafka_error_destroy(e);
			continue;
		}
		return fatal(t, e, "cannot abort the transaction", errstr, n);
	}
	t->open = 0;
	t->st.aborts++;
	t->st.in_aborted += t->in;
	t->st.out_aborted += t->out;
	rewind_consumer(t);
	t->aborts_in_row++;
	if (t->o.max_aborts >= 0 && t->aborts_in_row > t->o.max_aborts) {
		size_t len = strlen(errstr);

		snprintf(errstr + len, n - len, "%s%ld transactions aborted "
		    "in a row: giving up", len ? "; " : "", t->aborts_in_row);
		return fatal(t, NULL, NULL, errstr, n);
	}
	if (t->aborts_in_row > 1 && kp_retry_next(&t->backoff, &delay) == 0)
		kp_retry_sleep(delay);
	if ((e = begin(t)) != NULL)
		return fatal(t, e, "cannot begin a transaction", errstr, n);
	return KP_TXN_ABORTED;
}

/* An error of a transactional call that began at t0: retriable (1: call
 * again), abortable (abort and rewind), or fatal.  A retriable error that
 * lasts too long (see again()) is fatal: the coordinator does not answer,
 * and a restarted instance will abort what is left. */
static int
triage(struct kp_txn *t, rd_kafka_error_t *e, const char *what, int64_t t0,
    enum kp_txn_status *st, char *errstr, size_t n)
{
	if (again(t, e, t0)) {
		rd_kafka_error_destroy(e);
		return 1;
	}
	if (rd_kafka_error_txn_requires_abort(e)) {
		say(e, what, errstr, n);
		rd_kafka_error_destroy(e);
		*st = do_abort(t, errstr, n);
		return 0;
	}
	*st = fatal(t, e, what, errstr, n);
	return 0;
}

/* rd_kafka_send_offsets_to_transaction() in a thread of its own: in
 * librdkafka up to at least 2.14 it can block past its timeout, for
 * ever, when a coordinator goes away during the call (librdkafka issues
 * 5456 and 5511; seen here with kmock's "down" and "up").  The caller
 * waits for it at most OFFSETS_WAIT_MS; a call that has not come back by
 * then is left behind (with what it borrows), and the producer with it. */
#define OFFSETS_WAIT_MS	(3 * OFFSETS_MS)

struct offsets_call {
	rd_kafka_t				*prod;
	rd_kafka_topic_partition_list_t		*l;
	rd_kafka_consumer_group_metadata_t	*md;
	rd_kafka_error_t			*e;
	int					 done;
	pthread_mutex_t				 mu;
	pthread_cond_t				 cv;
};

static void *
offsets_thread(void *arg)
{
	struct offsets_call *c = arg;
	rd_kafka_error_t *e;

	e = rd_kafka_send_offsets_to_transaction(c->prod, c->l, c->md,
	    OFFSETS_MS);
	pthread_mutex_lock(&c->mu);
	c->e = e;
	c->done = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Returns 1 with c->e set when the call came back, 0 when it did not in
 * time (c and what it holds must then be left alone). */
static int
offsets_call(struct offsets_call *c)
{
	struct timespec ts;
	pthread_t th;
	int done;

	c->done = 0;
	c->e = NULL;
	if (pthread_create(&th, NULL, offsets_thread, c) != 0) {
		offsets_thread(c);
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += OFFSETS_WAIT_MS / 1000;
	pthread_mutex_lock(&c->mu);
	while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
		;
	done = c->done;
	pthread_mutex_unlock(&c->mu);
	if (done)
		pthread_join(th, NULL);
	else
		pthread_detach(th);
	return done;
}

static enum kp_txn_status
send_offsets(struct kp_txn *t, char *errstr, size_t n)
{
	rd_kafka_consumer_group_metadata_t *md;
	rd_kafka_topic_partition_list_t *l;
	enum kp_txn_status st = KP_TXN_OK;
	struct offsets_call *c;
	rd_kafka_error_t *e;
	int64_t t0;
	size_t i;

	if (t->cons == NULL)
		return KP_TXN_OK;
	l = rd_kafka_topic_partition_list_new(t->ntps ? (int)t->ntps : 1);
	for (i = 0; i < t->ntps; i++)
		if (t->tps[i].next >= 0)
			rd_kafka_topic_partition_list_add(l, t->tps[i].topic,
			    t->tps[i].partition)->offset = t->tps[i].next;
	if (l->cnt == 0) {
		rd_kafka_topic_partition_list_destroy(l);
		return KP_TXN_OK;
	}
	if ((md = rd_kafka_consumer_group_metadata(t->cons)) == NULL) {
		rd_kafka_topic_partition_list_destroy(l);
		snprintf(errstr, n, "cannot send offsets: the consumer has no "
		    "group metadata");
		return do_abort(t, errstr, n);
	}
	/* retried with the same offsets and metadata, as rdkafka.h asks */
	c = kp_xcalloc(1, sizeof(*c));
	c->prod = t->prod;
	c->l = l;
	c->md = md;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	t0 = kp_mono_ms();
	for (;;) {
		if (!offsets_call(c)) {
			/* left behind: c, l and md stay allocated */
			snprintf(errstr, n, "cannot send offsets to the "
			    "transaction: no answer in %d s (a librdkafka "
			    "bug: the call never comes back when a "
			    "coordinator goes away)", OFFSETS_WAIT_MS / 1000);
			t->wedged = 1;
			return fatal(t, NULL, NULL, errstr, n);
		}
		if ((e = c->e) == NULL || !triage(t, e, "cannot send offsets to "
		    "the transaction", t0, &st, errstr, n))
			break;
	}
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
	rd_kafka_consumer_group_metadata_destroy(md);
	rd_kafka_topic_partition_list_destroy(l);
	return e ? st : KP_TXN_OK;
}

/* KPIPE_TEST_TXN_OFFSETS=1: also commit the committed transactions'
 * offsets through the consumer (synchronously, so in order), for a
 * cluster that does not store transactional offsets: librdkafka 2.0.2's
 * mock answers TxnOffsetCommit and forgets the offsets.  Every partition
 * still owned is committed at its last committed offset, and a commit the
 * mock refuses (a rebalance in progress) is owed: kp_txn_due() asks for
 * it again after the commit interval, with or without new work, so that
 * the last transaction's offsets are not lost to a refusal. */
static void
test_commit_offsets(struct kp_txn *t)
{
	rd_kafka_topic_partition_list_t *l;
	size_t i;

	if (t->cons == NULL)
		return;
	l = rd_kafka_topic_partition_list_new(t->ntps ? (int)t->ntps : 1);
	for (i = 0; i < t->ntps; i++)
		if (t->tps[i].committed >= 0)
			rd_kafka_topic_partition_list_add(l, t->tps[i].topic,
			    t->tps[i].partition)->offset = t->tps[i].committed;
	t->test_owed = l->cnt > 0 && rd_kafka_commit(t->cons, l, 0) != 0;
	if (t->test_owed)
		t->test_owed_at = kp_mono_ms();
	rd_kafka_topic_partition_list_destroy(l);
}

enum kp_txn_status
kp_txn_commit(struct kp_txn *t, char *errstr, size_t n)
{
	enum kp_txn_status st;
	rd_kafka_error_t *e;
	char fe[256];
	int64_t t0;
	size_t i;

	if (errstr && n)
		errstr[0] = '\0';
	if (!t->open)
		return t->exit_code ? KP_TXN_FATAL : KP_TXN_OK;
	if (!kp_txn_pending(t)) {
		if (t->test_owed)
			test_commit_offsets(t);
		return KP_TXN_OK;
	}
	t->ncommit++;
	if (t->test_kind == 'a' && t->ncommit % t->test_n == 0) {
		/* as a commit that failed: its records were delivered */
		rd_kafka_flush(t->prod, FREE_ABORT_MS);
		snprintf(errstr, n, "test abort of transaction %lu",
		    t->ncommit);
		return do_abort(t, errstr, n);
	}
	if (t->test_kind == 'f' && t->ncommit == t->test_n)
		rd_kafka_test_fatal_error(t->prod,
		    RD_KAFKA_RESP_ERR_PRODUCER_FENCED, "KPIPE_TEST_TXN");
	/* a fatal error (raised by librdkafka on its own threads) ends it
	 * here, before the transaction can commit */
	if (rd_kafka_fatal_error(t->prod, fe, sizeof(fe)) != 0) {
		snprintf(errstr, n, "cannot commit the transaction: fatal "
		    "error: %s", fe);
		return fatal(t, NULL, NULL, errstr, n);
	}
	t0 = kp_mono_ms();
	if ((st = send_offsets(t, errstr, n)) != KP_TXN_OK)
		return st;
	while ((e = rd_kafka_commit_transaction(t->prod, CALL_MS)) != NULL &&
	    triage(t, e, "cannot commit the transaction", t0, &st, errstr, n))
		;
	if (e)
		return st;
	t->open = 0;
	t->st.commits++;
	t->st.in_committed += t->in;
	t->st.out_committed += t->out;
	if (kp_mono_ms() - t0 > t->st.commit_ms_max)
		t->st.commit_ms_max = kp_mono_ms() - t0;
	for (i = 0; i < t->ntps; i++) {
		struct tp *p = &t->tps[i];

		if (p->next >= 0)
			p->committed = p->next;
		p->first = p->next = -1;
	}
	if (t->test_offsets)
		test_commit_offsets(t);
	t->aborts_in_row = 0;
	kp_retry_reset(&t->backoff);
	if (t->test_kind == 'c' && t->ncommit == t->test_n)
		raise(SIGKILL);
	if ((e = begin(t)) != NULL)
		return fatal(t, e, "cannot begin a transaction", errstr, n);
	return KP_TXN_OK;
}

enum kp_txn_status
kp_txn_abort(struct kp_txn *t, char *errstr, size_t n)
{
	if (errstr && n)
		errstr[0] = '\0';
	if (!t->open)
		return t->exit_code ? KP_TXN_FATAL : KP_TXN_ABORTED;
	return do_abort(t, errstr, n);
}

int
kp_txn_exit_code(const struct kp_txn *t)
{
	return t->exit_code;
}

int
kp_txn_wedged(const struct kp_txn *t)
{
	return t != NULL && t->wedged;
}

void
kp_txn_get_stats(const struct kp_txn *t, struct kp_txn_stats *st)
{
	*st = t->st;
}

void
kp_txn_free(struct kp_txn *t)
{
	rd_kafka_error_t *e;
	char fe[256];
	size_t i;

	if (t == NULL)
		return;
	if (t->open && t->prod && !t->wedged &&
	    !rd_kafka_fatal_error(t->prod, fe, sizeof(fe)) &&
	    (e = rd_kafka_abort_transaction(t->prod, FREE_ABORT_MS)) != NULL)
		rd_kafka_error_destroy(e);
	for (i = 0; i < t->ntps; i++)
		free(t->tps[i].topic);
	free(t->tps);
	free(t->id);
	if (t->lock_fd >= 0)
		close(t->lock_fd);
	free(t);
}

static enum kp_txn_status
logged(struct kp_txn *t, enum kp_txn_status st, const char *err,
    int *exit_code)
{
	if (st == KP_TXN_ABORTED) {
		kp_warn("transaction aborted: %s", err);
	} else if (st == KP_TXN_FATAL && *exit_code == 0) {
		kp_err("%s", err);
		*exit_code = kp_txn_exit_code(t);
	}
	return st;
}

enum kp_txn_status
kp_txn_commit_logged(struct kp_txn *t, int *exit_code)
{
	char err[512];

	return logged(t, kp_txn_commit(t, err, sizeof(err)), err, exit_code);
}

enum kp_txn_status
kp_txn_abort_logged(struct kp_txn *t, const char *why, int *exit_code)
{
	char err[512];
	enum kp_txn_status st = kp_txn_abort(t, err, sizeof(err));

	return logged(t, st, st == KP_TXN_ABORTED ? why : err, exit_code);
}
