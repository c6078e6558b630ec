/* ampgatectl's client of the daemon's REST API (rest.c). Blocking; one request per call. */
#ifndef AG_TOOLS_CTL_REST_H
#define AG_TOOLS_CTL_REST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct rest {
	char host[256];
	int port;
	bool tls;
	bool insecure;          /* https without checking the certificate (--insecure) */
	const char *cafile;     /* the CA that signed the edge's certificate; NULL = the system's */
	char cookie[96];        /* "ampgate_session=..." after rest_login */
};

/* "http://host:port" or "https://...". 0, or -EINVAL with the reason in `err`. */
int rest_init(struct rest *r, const char *url, char *err, size_t size);
/* Log in as `user`; keeps the session cookie. 0, or -errno with the edge's words in `err`. */
int rest_login(struct rest *r, const char *user, const char *password, char *err, size_t size);
/* `method` `path` with an optional JSON `body`: the answer's JSON (new reference) and its
 * `status`; NULL when there was no JSON answer. On a status >= 400 or NULL, `err` says why. */
json_t *rest_call(struct rest *r, const char *method, const char *path, const char *body, int *status, char *err,
		  size_t size);

#endif
