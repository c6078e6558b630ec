/* MQTT: the site's state out and a site manager's commands in, through a broker, for building
 * energy managers, SCADA, Home Assistant and fleet telemetry. A daemon module.
 *
 * Topics under <mqtt.prefix>/<site.name>/ (see README and etc/ampgate.conf):
 *   status                       "online" | "offline" (retained; the last will says "offline")
 *   site                         state_site() JSON (retained)
 *   charger/<id>                 state_charger() JSON (retained)
 *   device/<id>                  one entry of state_devices() (retained)
 *   cmd/limit                    {"limit_a": 60, "duration_s": 300} | {"clear": true}
 *   cmd/charger/<id>/priority    {"priority": 5} | {"priority": null}
 *   cmd/charger/<id>/needs       {"departure": "2026-11-22T17:30:00+01:00" | null, "energy_kwh": 30 | null}
 *   cmd/.../result               {"ok": true} | {"ok": false, "error": "..."} (not retained)
 * and Home Assistant discovery under homeassistant/ when mqtt.discovery.
 *
 * The broker being away never blocks the loop nor touches load management: the module logs it
 * once, retries with a growing delay, and republishes everything retained when it is back. */
#ifndef AG_MQTT_H
#define AG_MQTT_H

#include "edge/core/config.h"

struct ag_daemon;

int mqtt_start(struct ag_daemon *d);
void mqtt_stop(struct ag_daemon *d);
/* Reload, once every module accepted `new_cfg` (a changed mqtt group reconnects). */
void mqtt_reload_apply(struct ag_daemon *d, const struct ag_config *new_cfg);

#endif
