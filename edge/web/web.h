/* The site manager's web page, the REST API (/api/v1/...), the live view (a WebSocket at
 * /api/v1/live) and /metrics, on web.listen. A daemon module; see web.c. */
#ifndef AG_WEB_H
#define AG_WEB_H

#include "edge/core/config.h"

struct ag_daemon;

int web_start(struct ag_daemon *d);
void web_stop(struct ag_daemon *d);
/* Reload, once every module accepted `new_cfg`: removed users and changed roles log out. */
void web_reload_apply(struct ag_daemon *d, const struct ag_config *new_cfg);

#endif
