/* The device layer as the rest of the daemon sees it: the latest reading of every configured
 * Modbus device, whether it is stale, a hook called on the loop thread when a reading arrives
 * or a device turns stale, and setpoints for devices that can be controlled.
 *
 * Behind it, one worker thread per bus (a Modbus TCP endpoint, or one serial line shared by
 * several unit ids) polls its devices; see devices.c. Every function here is for the loop
 * thread only. */
#ifndef AG_DEVICES_H
#define AG_DEVICES_H

#include "drivers/driver.h"
#include "edge/core/config.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct devices;

enum devices_event {
	DEV_EV_READING,         /* a new good reading arrived (r->quality GOOD or PARTIAL) */
	DEV_EV_FAILED,          /* a poll failed (r->err says why; values are the last good ones) */
	DEV_EV_STALE,           /* the reading just became older than site.meter_stale_ms, or froze */
};

/* Called on the loop thread. `r` is valid only during the call. */
typedef void (*devices_cb)(void *arg, const char *device_id, enum devices_event ev, const struct device_reading *r);

/* Start one worker per bus for cfg's devices. The configuration is copied: cfg may be freed
 * afterwards. NULL with errno set (invalid device configuration: EINVAL, logged). */
struct devices *devices_new(uv_loop_t *loop, const struct ag_config *cfg);
/* Stop workers (each within max(timeout_ms) or 1 s, whichever is less; a worker still inside
 * a Modbus call then is left to finish on its own and frees itself), close handles.
 * devices_free(NULL) is fine. Handles close asynchronously: run the loop afterwards. */
void devices_free(struct devices *ds);
/* Reload, first step: can every device of `cfg` be driven? 0 or -EINVAL (logged); no effect. */
int devices_reload_check(const struct ag_config *cfg);
/* Reload, once every module accepted `cfg`: unchanged device list = nothing; otherwise restart
 * the buses, keeping the latest readings of devices whose id survives (a bus that cannot start
 * is logged; its devices read stale, which the site answers with fallback currents). */
void devices_reload(struct devices *ds, const struct ag_config *cfg);

/* Latest reading of a device (quality RQ_NONE before the first answer); NULL for an unknown id. */
const struct device_reading *devices_latest(const struct devices *ds, const char *id);
/* True when the device's reading is older than site.meter_stale_ms at now_ms (or never came),
 * or, for meters, its values have not changed for that long (a frozen meter). Unknown id: true. */
bool devices_stale(const struct devices *ds, const char *id, uint64_t now_ms);
/* What the probe found ("SunSpec at 40000: ..."), or "" before it answered. NULL for an unknown id. */
const char *devices_describe(const struct devices *ds, const char *id);

/* Subscribe to readings and stale transitions of every device. 0, or -ENOSPC (too many). */
int devices_subscribe(struct devices *ds, devices_cb cb, void *arg);
void devices_unsubscribe(struct devices *ds, devices_cb cb, void *arg);

/* Ask device `id` to take a setpoint (battery charge/discharge limits). Queued to its worker
 * (the newest replaces an unapplied older one); the outcome is logged.
 * 0, -ENOENT (unknown id), -ENOTSUP (its driver or role cannot be controlled). */
int devices_set(struct devices *ds, const char *id, const struct device_setpoint *sp);

/* Number of devices and the id of the i-th (NULL past the end), for listings. */
size_t devices_count(const struct devices *ds);
const char *devices_id(const struct devices *ds, size_t i);

#endif
