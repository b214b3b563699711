/* changelog.c - a state store's changelog topic: see changelog.h.
 * The check and the restore were first written in bin/kagg.c. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "changelog.h"
#include "kafka.h"

#define PROGRESS_MS	5000
#define IDLE_POLLS	60	/* of 500 ms: no data for 30 s */

/* The partition count of topic from a listing of all topics: the count,
 * 0 when there is no such topic, -1 with errstr. */
static int
topic_partitions(rd_kafka_t *rk, const char *topic, char *errstr, size_t n)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t e;
	int i, cnt = 0;

	if ((e = rd_kafka_metadata(rk, 1, NULL, &md, 10000))) {
		snprintf(errstr, n, "cannot get metadata: %s", rd_kafka_err2str(e));
		return -1;
	}
	for (i = 0; i < md->topic_cnt; i++)
		if (!strcmp(md->topics[i].topic, topic) && !md->topics[i].err)
			cnt = md->topics[i].partition_cnt;
	rd_kafka_metadata_destroy(md);
	return cnt;
}

/* Create topic, compacted.  Returns NULL, or why not (in err or a
 * constant). */
static const char *
create_topic(rd_kafka_t *rk, const char *topic, int nparts, char *err,
    size_t en)
{
	rd_kafka_NewTopic_t *nt;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	rd_kafka_AdminOptions_t *ao;
	const char *why = "no answer";

	if ((nt = rd_kafka_NewTopic_new(topic, nparts, -1, err, en)) == NULL)
		return err;
	rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
	q = rd_kafka_queue_new(rk);
	ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(ao, 5000, err, en);
	rd_kafka_AdminOptions_set_request_timeout(ao, 5000, err, en);
	rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
	ev = rd_kafka_queue_poll(q, 8000);
	if (ev && rd_kafka_event_error(ev)) {
		snprintf(err, en, "%s", rd_kafka_event_error_string(ev));
		why = err;
	} else if (ev) {
		const rd_kafka_CreateTopics_result_t *res =
		    rd_kafka_event_CreateTopics_result(ev);
		size_t cnt = 0;
		const rd_kafka_topic_result_t **tr = res ?
		    rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;

		if (cnt == 1 && rd_kafka_topic_result_error(tr[0])) {
			snprintf(err, en, "%s",
			    rd_kafka_topic_result_error_string(tr[0]) ?
			    rd_kafka_topic_result_error_string(tr[0]) :
			    rd_kafka_err2str(rd_kafka_topic_result_error(tr[0])));
			why = err;
		} else if (cnt == 1) {
			why = NULL;
		}
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(ao);
	rd_kafka_queue_destroy(q);
	rd_kafka_NewTopic_destroy(nt);
	return why;
}

int
kp_changelog_check(rd_kafka_t *rk, const char *topic, int nparts,
    const char *input, int *created, char *errstr, size_t en)
{
	char err[512];
	const char *why;
	int n;

	if (created)
		*created = 0;
	if ((n = topic_partitions(rk, topic, errstr, en)) < 0)
		return EX_UNAVAILABLE;
	if (n == 0) {
		if ((why = create_topic(rk, topic, nparts, err,
		    sizeof(err))) == NULL) {
			if (created)
				*created = 1;
			n = kp_kafka_partition_count(rk, topic, 10000, err,
			    sizeof(err));
		}
		if (why || n <= 0) {
			snprintf(errstr, en, "changelog topic '%s' does not exist "
			    "and cannot be created (%s): create it with %d "
			    "partitions, as the input '%s' has, e.g. "
			    "kafka-topics.sh --create --topic %s --partitions %d "
			    "--config cleanup.policy=compact (on kmock: "
			    "--topic %s:%d)", topic,
			    why ? why : err, nparts, input, topic, nparts, topic,
			    nparts);
			return EX_CONFIG;
		}
	}
	if (n != nparts) {
		snprintf(errstr, en, "changelog topic '%s' has %d partitions, the "
		    "input '%s' has %d: they must be equal", topic, n, input,
		    nparts);
		return EX_CONFIG;
	}
	return 0;
}

/* apply the writes held in b to s, and empty b */
static void
apply(struct kp_buf *b, struct kp_store *s)
{
	size_t off = 0;

	while (off < b->len) {
		uint8_t del = (uint8_t)b->data[off];
		uint32_t kn, vn;

		memcpy(&kn, b->data + off + 1, 4);
		memcpy(&vn, b->data + off + 5 + kn, 4);
		if (del)
			kp_store_delete(s, b->data + off + 5, kn);
		else
			kp_store_put(s, b->data + off + 5, kn,
			    b->data + off + 9 + kn, vn);
		off += 9 + kn + vn;
	}
	kp_buf_reset(b);
}

static int
save(struct kp_changelog_restore *r, char *errstr, size_t en)
{
	if (kp_store_commit(r->store, 0, errstr, en) < 0 ||
	    kp_store_checkpoint_write(r->dir, r->checkpoint, errstr, en) < 0)
		return -1;
	return 0;
}

int
kp_changelog_restore(struct kp_changelog_restore *r, char *errstr, size_t en)
{
	rd_kafka_topic_partition_list_t *tl;
	int64_t t0 = kp_mono_ms(), next_progress = t0 + PROGRESS_MS;
	int idle = 0, rc = 0;

	r->records = 0;
	r->offset = -1;
	r->checkpoint = r->from;
	kp_buf_reset(&r->tail);
	if (r->from >= r->hi) {
		r->ms = 0;
		return save(r, errstr, en);
	}
	tl = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tl, r->topic, r->partition)->offset =
	    r->from;
	if (rd_kafka_assign(r->rk, tl)) {
		snprintf(errstr, en, "cannot assign changelog '%s' partition %d",
		    r->topic, (int)r->partition);
		rd_kafka_topic_partition_list_destroy(tl);
		return -1;
	}
	rd_kafka_topic_partition_list_destroy(tl);
	while (!kp_stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 500);
		uint8_t del;
		uint32_t kn, vn;
		int64_t off;

		if (r->progress && kp_mono_ms() >= next_progress) {
			r->progress(r->arg, r->partition, r->records,
			    (kp_mono_ms() - t0) / 1000.0);
			next_progress += PROGRESS_MS;
		}
		if (m == NULL) {
			if (++idle > IDLE_POLLS) {
				snprintf(errstr, en, "changelog '%s' partition %d: "
				    "no data before offset %lld", r->topic,
				    (int)r->partition, (long long)r->hi);
				rc = -1;
				break;
			}
			continue;
		}
		idle = 0;
		if (m->err) {
			int eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;

			if (!eof && r->warn)
				r->warn(r->arg, rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			if (eof)
				break;
			continue;
		}
		if (m->partition != r->partition || m->offset < r->from) {
			rd_kafka_message_destroy(m);
			continue;
		}
		del = m->payload == NULL;
		kn = (uint32_t)m->key_len;
		vn = (uint32_t)m->len;
		kp_buf_add(&r->tail, &del, 1);
		kp_buf_add(&r->tail, &kn, 4);
		kp_buf_add(&r->tail, m->key ? m->key : "", kn);
		kp_buf_add(&r->tail, &vn, 4);
		kp_buf_add(&r->tail, m->payload ? m->payload : "", vn);
		r->records++;
		r->offset = off = m->offset;
		if (kn == r->marker_len && !memcmp(m->key, r->marker, kn)) {
			apply(&r->tail, r->store);
			r->checkpoint = off + 1;
			if (kp_store_pending(r->store) > r->batch_bytes &&
			    save(r, errstr, en) < 0) {
				rd_kafka_message_destroy(m);
				rc = -1;
				break;
			}
		}
		rd_kafka_message_destroy(m);
		if (off + 1 >= r->hi)
			break;
	}
	rd_kafka_assign(r->rk, NULL);
	if (rc == 0 && kp_stop) {
		snprintf(errstr, en, "interrupted");
		rc = -1;
	}
	if (rc == 0)
		rc = save(r, errstr, en);
	r->ms = kp_mono_ms() - t0;
	return rc;
}
