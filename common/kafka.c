/* kafka.c - librdkafka configuration, logging, metadata, exit codes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "kafka.h"
#include "mp.h"
#include "log.h"
#include "util.h"

int
kp_kconf_add(struct kp_kconf *c, const char *nv, char *errstr, size_t n)
{
	const char *eq = strchr(nv, '=');

	if (eq == NULL || eq == nv) {
		snprintf(errstr, n, "invalid property '%s': expected name=value",
		    nv);
		return -1;
	}
	c->props = kp_xrealloc(c->props, (c->nprops + 1) * sizeof(*c->props));
	c->props[c->nprops++] = kp_xstrdup(nv);
	return 0;
}

int
kp_kconf_file(struct kp_kconf *c, const char *path, char *errstr, size_t n)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *s, *e;
	size_t cap = 0;
	long ln = 0;
	int rc = 0;

	if (f == NULL) {
		snprintf(errstr, n, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		ln++;
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' ||
		    e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*s == '\0' || *s == '#')
			continue;
		if (kp_kconf_add(c, s, errstr, n) < 0) {
			char tmp[256];

			snprintf(tmp, sizeof(tmp), "%s", errstr);
			snprintf(errstr, n, "'%s' line %ld: %s", path, ln, tmp);
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

void
kp_kconf_brokers(struct kp_kconf *c, const char *brokers)
{
	free(c->brokers);
	c->brokers = kp_xstrdup(brokers);
}

int
kp_kconf_has_brokers(const struct kp_kconf *c)
{
	size_t i;
	const char *env = getenv("KPIPE_BROKERS");

	if (c->brokers || (env && *env))
		return 1;
	for (i = 0; i < c->nprops; i++)
		if (!strncmp(c->props[i], "bootstrap.servers=", 18) ||
		    !strncmp(c->props[i], "metadata.broker.list=", 21))
			return 1;
	return 0;
}

void
kp_kconf_free(struct kp_kconf *c)
{
	size_t i;

	for (i = 0; i < c->nprops; i++)
		free(c->props[i]);
	free(c->props);
	free(c->brokers);
	memset(c, 0, sizeof(*c));
}

static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	int l = level <= 3 ? KP_LOG_ERR : level <= 4 ? KP_LOG_WARN :
	    level <= 6 ? KP_LOG_INFO : KP_LOG_DEBUG;

	(void)rk;
	/* -X reaches every client a program makes; that a consumer property
	 * is ignored by the producer is expected, not worth a warning */
	if (!strcmp(fac, "CONFWARN") && strstr(buf, "will be ignored by this"))
		l = KP_LOG_DEBUG;
	KP_LOG(l, "librdkafka %s: %s", fac, buf);
}

static int
set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
    size_t n)
{
	char e[512];

	if (rd_kafka_conf_set(conf, name, value, e, sizeof(e)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(errstr, n, "%s", e);
		return -1;
	}
	return 0;
}

rd_kafka_conf_t *
kp_kconf_build(const struct kp_kconf *c, const char *const *defaults,
    char *errstr, size_t n)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *env = getenv("KPIPE_BROKERS");
	size_t i;

	rd_kafka_conf_set_log_cb(conf, log_cb);
	if (c->brokers && set(conf, "bootstrap.servers", c->brokers, errstr, n))
		goto fail;
	if (!c->brokers && env && *env &&
	    set(conf, "bootstrap.servers", env, errstr, n))
		goto fail;
	for (i = 0; defaults && defaults[i]; i += 2)
		if (set(conf, defaults[i], defaults[i + 1], errstr, n))
			goto fail;
	for (i = 0; i < c->nprops; i++) {
		char *name = kp_xstrdup(c->props[i]);
		char *eq = strchr(name, '=');
		int r;

		*eq = '\0';
		r = set(conf, name, eq + 1, errstr, n);
		free(name);
		if (r)
			goto fail;
	}
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

int
kp_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms,
    char *errstr, size_t n)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t err;
	int cnt = -1;

	err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
	rd_kafka_topic_destroy(rkt);
	if (err) {
		snprintf(errstr, n, "cannot get metadata of topic '%s': %s",
		    topic, rd_kafka_err2str(err));
		return -1;
	}
	if (md->topic_cnt != 1 || md->topics[0].err) {
		snprintf(errstr, n, "topic '%s': %s", topic,
		    md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) :
		    "not in metadata");
	} else if (md->topics[0].partition_cnt < 1) {
		snprintf(errstr, n, "topic '%s' has no partitions", topic);
	} else {
		cnt = md->topics[0].partition_cnt;
	}
	rd_kafka_metadata_destroy(md);
	return cnt;
}

int
kp_kafka_exit_code(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR__RESOLVE:
		return EX_UNAVAILABLE;
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
		return EX_CONFIG;
	default:
		break;
	}
	return EX_TEMPFAIL;
}

int
kp_record_from_message(struct kp_record *r, const rd_kafka_message_t *m,
    enum kp_format in, struct kp_json_parser *jp, char *errstr, size_t n)
{
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_timestamp_type_t tst;
	const char *topic = rd_kafka_topic_name(m->rkt);
	const unsigned char *p = m->payload;
	int64_t ts;
	size_t i;

	kp_record_clear(r);
	kp_buf_add(&r->topic, topic, strlen(topic));
	r->partition = m->partition;
	r->offset = m->offset;
	ts = rd_kafka_message_timestamp(m, &tst);
	if (tst != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
		r->timestamp = ts;
	if (m->key)
		kp_record_set_key(r, m->key, m->key_len);
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		const char *name;
		const void *val;
		size_t sz;

		for (i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &sz);
		    i++)
			kp_record_add_header(r, name, strlen(name), val, sz);
	}
	if (p == NULL)
		return 0;
	if (in == KP_FMT_AUTO) {
		size_t j = 0;

		while (j < m->len && (p[j] == ' ' || p[j] == '\t' ||
		    p[j] == '\n' || p[j] == '\r'))
			j++;
		if (j < m->len && (p[j] == '{' || p[j] == '['))
			in = KP_FMT_JSON;
		else if (m->len && ((p[0] >= 0x80 && p[0] <= 0x9f) ||
		    (p[0] >= 0xdc && p[0] <= 0xdf)) &&
		    kp_mp_skip(p, m->len) == (long long)m->len)
			in = KP_FMT_MSGPACK;
		else
			in = KP_FMT_RAW;
	}
	switch (in) {
	case KP_FMT_JSON:
		kp_buf_reset(&r->value);
		if (kp_json_parse(jp, m->payload, m->len, &r->value, errstr,
		    n) != 0) {
			if (!strcmp(errstr, "empty"))
				snprintf(errstr, n, "invalid JSON: empty payload");
			kp_record_set_value(r, KP_VALUE_BYTES, p, m->len);
			return -1;
		}
		r->vtype = KP_VALUE_MSGPACK;
		r->obj_valid = 0;
		return 0;
	case KP_FMT_MSGPACK:
		if (kp_mp_skip(p, m->len) != (long long)m->len) {
			snprintf(errstr, n, "invalid msgpack payload");
			kp_record_set_value(r, KP_VALUE_BYTES, p, m->len);
			return -1;
		}
		kp_record_set_value(r, KP_VALUE_MSGPACK, p, m->len);
		return 0;
	default:
		kp_record_set_value(r, KP_VALUE_BYTES, p, m->len);
		return 0;
	}
}

rd_kafka_resp_err_t
kp_record_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
    const struct kp_record *r, enum kp_value_format vf, void *opaque)
{
	struct kp_buf val = {0};
	const void *vp = NULL;
	size_t vlen = 0, i;
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_resp_err_t err;

	switch (r->vtype) {
	case KP_VALUE_NULL:
		break;
	case KP_VALUE_BYTES:
		vp = r->value.data ? r->value.data : "";
		vlen = r->value.len;
		break;
	case KP_VALUE_MSGPACK:
		if (vf == KP_VF_MSGPACK) {
			vp = r->value.data;
			vlen = r->value.len;
		} else {
			kp_json_write(&val, r->value.data, r->value.len);
			vp = val.data;
			vlen = val.len;
		}
		break;
	}
	if (r->header_cnt) {
		hdrs = rd_kafka_headers_new(r->header_cnt);
		for (i = 0; i < r->header_cnt; i++) {
			const struct kp_header *h = &r->headers[i];

			rd_kafka_header_add(hdrs, h->name.data, (ssize_t)h->name.len,
			    h->null ? NULL : h->value.data,
			    h->null ? 0 : (ssize_t)h->value.len);
		}
	}
	for (;;) {
		err = rd_kafka_producev(rk,
		    RD_KAFKA_V_TOPIC(topic),
		    RD_KAFKA_V_PARTITION(partition),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_KEY(r->key_null ? NULL : (r->key.data ?
			r->key.data : ""), r->key_null ? 0 : r->key.len),
		    RD_KAFKA_V_VALUE((void *)vp, vlen),
		    RD_KAFKA_V_TIMESTAMP(r->timestamp == KP_TS_NONE ? 0 :
			r->timestamp),
		    RD_KAFKA_V_HEADERS(hdrs),
		    RD_KAFKA_V_OPAQUE(opaque),
		    RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || kp_stop)
			break;
		rd_kafka_poll(rk, 100);
	}
	if (err && hdrs)
		rd_kafka_headers_destroy(hdrs);	/* not taken on failure */
	kp_buf_free(&val);
	return err;
}
