/* kafka.c - librdkafka configuration, logging, metadata, exit codes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "kafka.h"
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
