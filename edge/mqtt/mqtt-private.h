/* Shared by the MQTT module's files: mqtt.c (connection on the loop, lifecycle), mqtt-state.c
 * (retained state and Home Assistant discovery out) and mqtt-cmd.c (commands in). Not for other
 * modules. */
#ifndef AG_MQTT_PRIVATE_H
#define AG_MQTT_PRIVATE_H

#include "edge/mqtt/mqtt.h"

#include <mosquitto.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* The last payload sent on a topic, so only what changed goes out again. */
struct mqtt_sent {
	char *topic;
	char *payload;
};

struct mqtt {
	struct ag_daemon *d;
	struct mosquitto *mosq;
	char base[512];                 /* "<prefix>/<site>" */
	char status_topic[600];
	bool tls;
	char host[256];                 /* where we connect (the configured host) */
	uv_poll_t *poll;                /* the broker socket; NULL while not connected */
	int fd;
	uv_timer_t retry;               /* reconnect with backoff */
	uv_timer_t misc;                /* keepalive pings, broker silence (mosquitto_loop_misc) */
	uv_timer_t publish;             /* the rate limit's deferred publish */
	uv_getaddrinfo_t resolve;
	bool resolving;
	bool active;                    /* enabled and not stopped: keep (re)connecting */
	bool connected;                 /* CONNACK accepted */
	bool down_logged;               /* "broker unreachable" said once until it is back */
	bool lost;                      /* set by libmosquitto's disconnect callback */
	bool ever_connected;
	bool rediscover;                /* a reload: discovery again at the next publish */
	bool stopping;
	int closing;                    /* handles still closing after mqtt_stop */
	char refused[200];              /* the broker's CONNACK refusal, in words */
	unsigned backoff_s;
	uint64_t published_ms;          /* last publish cycle */
	uint64_t refreshed_ms;          /* last full refresh */
	struct mqtt_sent site;
	struct mqtt_sent *chargers;     /* by index in proxy->chargers */
	size_t n_chargers;
	struct mqtt_sent *devices;      /* by index in devices */
	size_t n_devices;
	uint64_t override_until_ms;     /* the override whose expiry time is in `expires` */
	char expires[32];
};

/* mqtt.c: publish if connected; a failed publish marks the connection lost. 0 or -errno.
 * QoS: 1 for what must not be missed and is rare (status, discovery, command answers); 0 for the
 * state topics, which TCP delivers while connected and which are all sent again on a reconnect,
 * so a slow broker never makes libmosquitto hold a growing queue of superseded state. */
int mqtt_publish(struct mqtt *m, const char *topic, const char *payload, int qos, bool retain);

/* mqtt-state.c */
/* Publish every state topic whose payload changed since it was last sent, or all when `force`. */
void mqtt_publish_state(struct mqtt *m, bool force);
/* Retained Home Assistant discovery for the site and every configured charger. */
void mqtt_publish_discovery(struct mqtt *m);
/* Forget (and free) what was sent: the next publish sends everything. */
void mqtt_state_reset(struct mqtt *m);

/* mqtt-cmd.c */
/* Subscribe to the command topics (after every CONNACK: the session is clean). */
void mqtt_cmd_subscribe(struct mqtt *m);
/* A message arrived on a subscribed topic: validate, apply, audit, answer on <topic>/result. */
void mqtt_cmd_handle(struct mqtt *m, const struct mosquitto_message *msg);

#endif
