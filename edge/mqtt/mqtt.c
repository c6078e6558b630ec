/* The MQTT connection on the daemon's loop, its lifecycle and reconnects; see mqtt.h.
 *
 * Design decision: libmosquitto gets no thread and no loop of its own. Its socket is watched
 * with uv_poll (readable always, writable while mosquitto_want_write), mosquitto_loop_read/write
 * run when it is ready, and a 1 s uv_timer runs mosquitto_loop_misc (keepalive pings, a silent
 * broker). Those calls may close the socket themselves; after every one, settle() checks that the
 * socket we poll is still libmosquitto's and otherwise drops the poll before anything can reuse
 * the descriptor. A lost broker is logged once, retried with a doubling delay, and never touches
 * load management: the site only calls us after its solve, and we never wait.
 *
 * The broker's name is resolved on libuv's thread pool (uv_getaddrinfo) so a slow DNS cannot
 * stall the loop; without TLS we then connect to the address itself. With TLS libmosquitto needs
 * the name to check the certificate and resolves it again (normally at once: it just resolved). */
#include "edge/mqtt/mqtt-private.h"
#include "edge/daemon.h"
#include "edge/core/log.h"
#include "edge/site/site.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void connect_now(struct mqtt *m);
static int client_new(struct mqtt *m);
static void on_poll(uv_poll_t *h, int status, int events);

/* Why a libmosquitto call failed, in words, with errno read at once. */
static const char *why(int rc, int err)
{
	if (rc == MOSQ_ERR_ERRNO)
		return strerror(err);
	if (rc == MOSQ_ERR_KEEPALIVE)
		return "the broker stopped answering (keepalive)";
	if (rc == MOSQ_ERR_CONN_REFUSED)
		return "the broker refused the connection";
	if (rc == MOSQ_ERR_TLS)
		return "TLS failed: is the broker's certificate signed by mqtt.ca and issued for mqtt.host?";
	return mosquitto_strerror(rc);
}

static void arm(struct mqtt *m)
{
	if (m->poll)
		uv_poll_start(m->poll, UV_READABLE | (mosquitto_want_write(m->mosq) ? UV_WRITABLE : 0), on_poll);
}

static void on_retry(uv_timer_t *t)
{
	connect_now(t->data);
}

static void schedule_retry(struct mqtt *m)
{
	const unsigned max_s = (unsigned)m->d->cfg->mqtt.reconnect_max_s;

	if (uv_is_active((uv_handle_t *)&m->retry) || m->resolving)
		return;
	uv_timer_start(&m->retry, on_retry, (uint64_t)m->backoff_s * 1000, 0);
	m->backoff_s = m->backoff_s * 2 > max_s ? max_s : m->backoff_s * 2;
}

/* The connection failed or went away: stop polling its socket (libmosquitto closes it, now or
 * at the next connect), say so once, and try again later. */
static void drop(struct mqtt *m, const char *reason)
{
	const struct cfg_mqtt *c = &m->d->cfg->mqtt;

	if (m->poll) {
		uv_poll_stop(m->poll);
		uv_close((uv_handle_t *)m->poll, (uv_close_cb)free);
		m->poll = NULL;
	}
	m->fd = -1;
	uv_timer_stop(&m->publish);
	if (m->connected)
		store_event(m->d->store, LL_WARN, "mqtt", NULL,
			    "lost the MQTT broker %s:%d (%s); reconnecting in the background, load management "
			    "is not affected", c->host, c->port, reason);
	else if (!m->down_logged)
		log_msg(LL_WARN, "mqtt: no connection to the broker %s:%d (%s); retrying every %d s at most in the "
			"background, load management is not affected", c->host, c->port, reason, c->reconnect_max_s);
	else
		log_msg(LL_DEBUG, "mqtt: broker %s:%d still unreachable (%s)", c->host, c->port, reason);
	m->down_logged = true;
	m->connected = false;
	schedule_retry(m);
}

/* After any call into libmosquitto: keep polling if the connection is still there. */
static void settle(struct mqtt *m, int rc, int err)
{
	if (!m->poll)
		return;
	if (rc == MOSQ_ERR_SUCCESS && !m->lost && mosquitto_socket(m->mosq) == m->fd) {
		arm(m);
		return;
	}
	drop(m, m->refused[0] ? m->refused : rc != MOSQ_ERR_SUCCESS ? why(rc, err) : "connection closed");
}

int mqtt_publish(struct mqtt *m, const char *topic, const char *payload, int qos, bool retain)
{
	int rc;

	if (!m->connected || m->lost)
		return -ENOTCONN;
	rc = mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, qos, retain);
	if (rc == MOSQ_ERR_SUCCESS)
		return 0;
	log_msg(LL_DEBUG, "mqtt: publish on %s: %s", topic, mosquitto_strerror(rc));
	if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO)
		m->lost = true; /* settle() drops it once libmosquitto is out of the way */
	return -EIO;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct mqtt *m = h->data;
	int rc = MOSQ_ERR_SUCCESS;

	(void)status; /* an error shows as a failed read or write */
	/* During a TLS handshake libmosquitto advances it from loop_read, whichever way the socket
	 * became ready; a read with nothing to read is harmless. */
	if (events & UV_READABLE || status < 0 || (m->tls && !m->connected))
		rc = mosquitto_loop_read(m->mosq, 1);
	if (rc == MOSQ_ERR_SUCCESS && events & UV_WRITABLE && mosquitto_socket(m->mosq) == m->fd)
		rc = mosquitto_loop_write(m->mosq, 1);
	settle(m, rc, errno);
}

static void publish_due(struct mqtt *m)
{
	uint64_t now = now_ms();
	bool force = now - m->refreshed_ms >= (uint64_t)m->d->cfg->mqtt.refresh_s * 1000;

	if (m->rediscover && m->d->cfg->mqtt.discovery)
		mqtt_publish_discovery(m);
	m->rediscover = false;
	mqtt_publish_state(m, force);
	m->published_ms = now;
	if (force)
		m->refreshed_ms = now;
	settle(m, MOSQ_ERR_SUCCESS, 0);
}

static void on_misc(uv_timer_t *t)
{
	struct mqtt *m = t->data;

	if (!m->poll)
		return;
	settle(m, mosquitto_loop_misc(m->mosq), errno);
	/* A site without chargers never solves: refresh on our own clock too. */
	if (m->connected && now_ms() - m->refreshed_ms >= (uint64_t)m->d->cfg->mqtt.refresh_s * 1000)
		publish_due(m);
}

static void on_publish_timer(uv_timer_t *t)
{
	struct mqtt *m = t->data;

	if (m->connected)
		publish_due(m);
}

/* After every solve: publish what changed, at most once per mqtt.publish_ms. */
static void on_solve(void *arg, struct ag_daemon *d)
{
	struct mqtt *m = arg;
	uint64_t now = now_ms(), every = (uint64_t)d->cfg->mqtt.publish_ms;

	if (!m->connected || uv_is_active((uv_handle_t *)&m->publish))
		return;
	if (now - m->published_ms >= every)
		publish_due(m);
	else
		uv_timer_start(&m->publish, on_publish_timer, every - (now - m->published_ms), 0);
}

static void on_connect(struct mosquitto *mosq, void *arg, int rc)
{
	struct mqtt *m = arg;
	const struct cfg_mqtt *c = &m->d->cfg->mqtt;

	(void)mosq;
	if (rc != 0) {
		static const char *const words[] = {
			[1] = "it does not accept MQTT 3.1.1",
			[2] = "it rejected the client id (mqtt.client_id)",
			[3] = "it is not available",
			[4] = "bad user name or password: check mqtt.username and mqtt.password against the broker's password file",
			[5] = "not authorised: check mqtt.username and mqtt.password against the broker's password file",
		};
		snprintf(m->refused, sizeof(m->refused), "it refused us: %s",
			 rc > 0 && rc <= 5 ? words[rc] : mosquitto_connack_string(rc));
		return; /* libmosquitto closes the socket when loop_read returns */
	}
	m->connected = true;
	m->backoff_s = 1;
	if (m->down_logged || m->ever_connected)
		store_event(m->d->store, LL_NOTICE, "mqtt", NULL, "connected to the MQTT broker %s:%d%s%s; state republished",
			    c->host, c->port, c->username ? " as " : "", c->username ? c->username : "");
	else
		log_msg(LL_INFO, "mqtt: connected to the broker %s:%d%s%s, publishing under %s/", c->host, c->port,
			c->username ? " as " : "", c->username ? c->username : "", m->base);
	m->down_logged = false;
	m->ever_connected = true;
	mqtt_cmd_subscribe(m);
	mqtt_publish(m, m->status_topic, "online", 1, true);
	if (c->discovery)
		mqtt_publish_discovery(m);
	mqtt_state_reset(m);
	mqtt_publish_state(m, true);
	m->published_ms = m->refreshed_ms = now_ms();
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
	struct mqtt *m = arg;

	(void)mosq;
	(void)rc;
	m->lost = true;
}

static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg)
{
	(void)mosq;
	mqtt_cmd_handle(arg, msg);
}

static void start_session(struct mqtt *m, const char *addr)
{
	const struct cfg_mqtt *c = &m->d->cfg->mqtt;
	int rc, err;

	/* A new client for every attempt: libmosquitto would otherwise resend the QoS 1 state left
	 * in flight by the lost connection after our fresh one, and a stale value would be retained. */
	if (client_new(m) < 0) {
		drop(m, "cannot set up the MQTT client");
		return;
	}
	m->lost = false;
	m->refused[0] = '\0';
	errno = 0;
	rc = mosquitto_connect_async(m->mosq, addr, c->port, c->keepalive_s);
	err = errno;
	if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(m->mosq) < 0) {
		drop(m, why(rc, err));
		return;
	}
	m->fd = mosquitto_socket(m->mosq);
	m->poll = malloc(sizeof(*m->poll));
	if (!m->poll || uv_poll_init_socket(&m->d->loop, m->poll, m->fd) < 0) {
		free(m->poll);
		m->poll = NULL;
		drop(m, "cannot watch the socket");
		return;
	}
	m->poll->data = m;
	arm(m);
}

static void maybe_free(struct mqtt *m)
{
	if (m->stopping && m->closing == 0 && !m->resolving) {
		mqtt_state_reset(m);
		free(m);
	}
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct mqtt *m = req->data;
	char addr[INET6_ADDRSTRLEN] = "";

	m->resolving = false;
	if (m->stopping || !m->active) {
		uv_freeaddrinfo(res);
		maybe_free(m); /* stopping: mqtt_stop may have left the context to us */
		return;
	}
	if (status < 0 || !res) {
		uv_freeaddrinfo(res);
		drop(m, status == UV_EAI_NONAME ? "unknown host name" : uv_strerror(status));
		return;
	}
	if (res->ai_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof(addr));
	else if (res->ai_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, addr, sizeof(addr));
	uv_freeaddrinfo(res);
	start_session(m, m->tls || !addr[0] ? m->d->cfg->mqtt.host : addr);
}

static void connect_now(struct mqtt *m)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	char port[8];

	if (m->poll || m->resolving)
		return;
	snprintf(port, sizeof(port), "%d", m->d->cfg->mqtt.port);
	m->resolve.data = m;
	if (uv_getaddrinfo(&m->d->loop, &m->resolve, on_resolved, m->d->cfg->mqtt.host, port, &hints) < 0) {
		drop(m, "cannot resolve the host name");
		return;
	}
	m->resolving = true;
}

/* A libmosquitto client for the current configuration (will, credentials, TLS), replacing the
 * previous one (whose socket nobody polls any more). */
static int client_new(struct mqtt *m)
{
	const struct ag_config *cfg = m->d->cfg;
	const struct cfg_mqtt *c = &cfg->mqtt;
	char id[80];
	int rc = MOSQ_ERR_SUCCESS;

	if (m->mosq)
		mosquitto_destroy(m->mosq);
	snprintf(id, sizeof(id), "ampgate-%s", cfg->site.name);
	m->mosq = mosquitto_new(c->client_id ? c->client_id : id, true, m);
	if (!m->mosq)
		return -ENOMEM;
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_message_callback_set(m->mosq, on_message);
	rc = mosquitto_will_set(m->mosq, m->status_topic, 7, "offline", 1, true);
	if (rc == MOSQ_ERR_SUCCESS && c->username)
		rc = mosquitto_username_pw_set(m->mosq, c->username, c->password);
	if (rc == MOSQ_ERR_SUCCESS && c->tls) {
		rc = mosquitto_tls_set(m->mosq, c->ca, c->ca ? NULL : "/etc/ssl/certs", NULL, NULL, NULL);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_opts_set(m->mosq, 1 /* SSL_VERIFY_PEER */, NULL, NULL);
	}
	if (rc != MOSQ_ERR_SUCCESS) {
		log_msg(LL_ERROR, "mqtt: cannot set up the client: %s", mosquitto_strerror(rc));
		mosquitto_destroy(m->mosq);
		m->mosq = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Close the session without waiting: "offline" and DISCONNECT go out if the socket takes them. */
static void session_end(struct mqtt *m)
{
	m->active = false;
	if (!m->mosq)
		return;
	if (m->connected && !m->lost) {
		mqtt_publish(m, m->status_topic, "offline", 1, true);
		mosquitto_disconnect(m->mosq);
	}
	if (m->poll) {
		uv_poll_stop(m->poll);
		uv_close((uv_handle_t *)m->poll, (uv_close_cb)free);
		m->poll = NULL;
	}
	uv_timer_stop(&m->retry);
	uv_timer_stop(&m->publish);
	mosquitto_destroy(m->mosq);
	m->mosq = NULL;
	m->connected = false;
	m->fd = -1;
}

static int session_begin(struct mqtt *m)
{
	const struct ag_config *cfg = m->d->cfg;
	int rc;

	if (!cfg->mqtt.enabled)
		return 0;
	snprintf(m->base, sizeof(m->base), "%s/%s", cfg->mqtt.prefix, cfg->site.name);
	snprintf(m->status_topic, sizeof(m->status_topic), "%s/status", m->base);
	m->tls = cfg->mqtt.tls;
	m->backoff_s = 1;
	if ((rc = client_new(m)) < 0) /* the settings are usable: say so now, not at every retry */
		return rc;
	m->active = true;
	mqtt_state_reset(m);
	connect_now(m);
	return 0;
}

int mqtt_start(struct ag_daemon *d)
{
	static bool lib_ready;
	struct mqtt *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	if (!lib_ready) {
		/* Never mosquitto_lib_cleanup(): it unloads OpenSSL modules libwebsockets still uses. */
		mosquitto_lib_init();
		lib_ready = true;
	}
	m->d = d;
	m->fd = -1;
	d->mqtt = m;
	uv_timer_init(&d->loop, &m->retry);
	uv_timer_init(&d->loop, &m->misc);
	uv_timer_init(&d->loop, &m->publish);
	m->retry.data = m->misc.data = m->publish.data = m;
	uv_timer_start(&m->misc, on_misc, 1000, 1000);
	site_subscribe(d, on_solve, m);
	/* Whatever goes wrong here, the daemon runs on: MQTT is an interface, not the controller. */
	if (session_begin(m) < 0)
		log_msg(LL_ERROR, "mqtt: not started; the site runs without MQTT until the configuration is fixed and reloaded");
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct mqtt *m = h->data;

	m->closing--;
	maybe_free(m);
}

void mqtt_stop(struct ag_daemon *d)
{
	struct mqtt *m = d->mqtt;

	if (!m)
		return;
	site_unsubscribe(d, on_solve, m);
	session_end(m);
	m->stopping = true;
	if (m->resolving)
		uv_cancel((uv_req_t *)&m->resolve);
	m->closing = 3;
	uv_close((uv_handle_t *)&m->retry, on_closed);
	uv_close((uv_handle_t *)&m->misc, on_closed);
	uv_close((uv_handle_t *)&m->publish, on_closed);
	d->mqtt = NULL;
}

static void on_restart(uv_timer_t *t)
{
	struct mqtt *m = t->data;

	/* The new configuration is in place now (reload swaps it after every module agreed). */
	session_end(m);
	m->down_logged = false;
	if (session_begin(m) < 0)
		log_msg(LL_ERROR, "mqtt: not restarted after the reload; fix the mqtt group and reload again");
}

void mqtt_reload_apply(struct ag_daemon *d, const struct ag_config *new_cfg)
{
	struct mqtt *m = d->mqtt;
	bool same = config_group_equal(d->cfg, new_cfg, "mqtt") && strcmp(d->cfg->site.name, new_cfg->site.name) == 0;

	if (!m)
		return;
	if (same) {
		/* Chargers or devices may have changed: discovery and every topic again. */
		m->refreshed_ms = 0;
		if (m->connected && new_cfg->mqtt.discovery)
			m->rediscover = true;
		return;
	}
	m->retry.data = m;
	uv_timer_stop(&m->retry);
	uv_timer_start(&m->retry, on_restart, 0, 0);
}
