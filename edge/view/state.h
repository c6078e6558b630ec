/* The site as the web page, the REST API, MQTT and /metrics show it: JSON built on demand from
 * the live objects (configuration, site status, chargers, devices). One builder, so every
 * interface shows the same names, units and numbers. Loop thread only. */
#ifndef AG_STATE_H
#define AG_STATE_H

#include <jansson.h>

struct ag_daemon;
struct charger;

/* {"name", "policy", "mode": "normal"|"fallback", "fallback_why", "uplink": {...},
 *  "grid": {"limit_a", "current_a", "measured", "ev_a", "allocated_a", "override": {...}|null},
 *  "chargers": {"configured", "online", "charging"}, "solves"} — new reference, NULL on ENOMEM. */
json_t *state_site(struct ag_daemon *d);
/* One charger: link, boot data, connectors, transactions, meter, limits, priority, and the
 * session's needs: "departure" (RFC 3339), "energy_need_kwh" (still to charge) and "needs_from"
 * ("ev" | "manager"), each null when unknown. */
json_t *state_charger(struct ag_daemon *d, const struct charger *ch);
/* Every charger, in configuration order. */
json_t *state_chargers(struct ag_daemon *d);
/* Every Modbus device: id, role, driver, stale, what the probe found, the latest reading. */
json_t *state_devices(struct ag_daemon *d);

#endif
