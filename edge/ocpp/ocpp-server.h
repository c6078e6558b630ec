/* Charger side of the proxy: the libwebsockets server chargers connect to at
 * ws[s]://<ocpp.listen><ocpp.path>/<stationId>, with subprotocol ocpp1.6 or ocpp2.0.1 and the
 * configured security profile (1 Basic, 2 TLS + Basic, 3 mutual TLS with the station id checked
 * against the certificate's CN). */
#ifndef AG_OCPP_SERVER_H
#define AG_OCPP_SERVER_H

struct proxy;

struct charger;

int ocpp_server_start(struct proxy *p);
/* Stop accepting chargers (shutdown); connected ones stay until the lws context goes. */
void ocpp_server_stop(struct proxy *p);
/* From the tick: read the charger again once what waits for the CSMS has drained. */
void ocpp_server_flow(struct proxy *p, struct charger *ch);
/* Close the charger's socket with a close frame (`code`, static `reason`) at its next WRITEABLE,
 * even after the proxy let go of it (shutdown: 1001). */
void ocpp_server_close(struct proxy *p, struct charger *ch, int code, const char *reason);
/* The station id in a request URI "<path>/<id>" (path with or without a trailing slash), or NULL
 * when the URI is not under `path` or the id is empty, longer than 48 or holds / ? # % or space.
 * Points into `uri`. */
const char *ocpp_station_id(const char *uri, const char *path);

#endif
