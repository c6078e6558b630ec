/* What a charger's WebSocket upgrade request carries before any frame: the URL (station id
 * under ocpp.path) and the offered subprotocols, read by ocpp-server.c's ocpp_station_id() and
 * offers() (included to reach them; the Authorization header is fuzz_passwd's).
 * Input: URI '\n' ocpp.path '\n' Sec-WebSocket-Protocol. An accepted station id lies inside the
 * URI, is at most 48 characters and holds none of "/?#% ". */
#include "tests/fuzz/fuzz.h"
#include "edge/ocpp/ocpp-server.c"

#include <stdio.h>

FUZZ_DEFAULT_INIT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *uri = fuzz_str(data, size), *path = strchr(uri, '\n'), *protos = NULL;
	const char *id;

	if (path) {
		*path++ = 0;
		if ((protos = strchr(path, '\n')))
			*protos++ = 0;
	}
	id = ocpp_station_id(uri, path ? path : "/ocpp");
	if (id && (id < uri || id > uri + strlen(uri) || !*id || strlen(id) > 48 || strpbrk(id, "/?#% "))) {
		fprintf(stderr, "station id \"%s\" accepted from \"%s\"\n", id, uri);
		abort();
	}
	if (protos)
		(void)(offers(protos, "ocpp1.6") || offers(protos, "ocpp2.0.1"));
	free(uri);
	return 0;
}
