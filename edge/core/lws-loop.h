/* libwebsockets on a libuv loop we own (lws's "foreign loop"): the daemon, the charger fleet
 * simulator and the loopback CSMS all run lws this way, with their vhosts created afterwards. */
#ifndef AG_LWS_LOOP_H
#define AG_LWS_LOOP_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* A context on `loop` that listens nowhere (vhosts bring the listeners) and can make TLS
 * clients and servers; `user` is what lws_context_user() returns. NULL on failure. */
struct lws_context *lws_loop_context(uv_loop_t *loop, void *user);

/* Descriptors. The soft limit is raised to the hard one (the systemd unit sets LimitNOFILE) once,
 * before the first context is made: lws 4.1 sizes its descriptor table from the soft limit at
 * that moment and refuses any socket numbered above it. With L the limit, the plan is:
 *   below 3/4 L              anyone;
 *   3/4 L .. L - S           chargers and uplinks, not web clients (idle browsers must not
 *                            starve chargers);
 *   L - S .. L - S/2         web clients and uplinks, not new chargers (a site full of chargers
 *                            still shows its page);
 *   the last S/2             uplinks, the database and files only;
 * with S = L/32, at least 8. Descriptors are handed out lowest first, so a descriptor's number
 * tells how full the table is below it. */
/* The limit in force, in *was the one found at start, and in *charger_fds how many descriptors
 * new chargers and their uplinks may take (L - S, two per charger); or -errno. */
int lws_loop_raise_fd_limit(int *was, int *charger_fds);
/* For a web server's LWS_CALLBACK_FILTER_NETWORK_CONNECTION: false when the accepted descriptor
 * `fd` lies in a part kept from web clients (refuse the client). */
bool lws_loop_fd_for_web(int fd);

/* A listening socket whose connections `vh` serves (a vhost made with port
 * CONTEXT_PORT_NO_LISTEN_SERVER), in place of lws's own listener: when the process is out of
 * descriptors, lws 4.1's accept() fails with EMFILE, it logs and returns with the socket still
 * readable, and the loop spins at 100 % CPU. This one stops accepting while no descriptor below
 * L - S is free (newcomers wait in the kernel's queue), says so once in a warning naming `what`
 * ("chargers"), looks again every second and says when it accepts again. `host` "" or 0.0.0.0
 * is every address (IPv6 and IPv4). 0 or -errno (bind, listen). */
struct lws_loop_listener;
int lws_loop_listen(uv_loop_t *loop, struct lws_vhost *vh, const char *host, int port, const char *what,
		    struct lws_loop_listener **out);
/* Stop listening; the socket closes once the loop has run the handles' close. NULL is fine. */
void lws_loop_listener_close(struct lws_loop_listener *l);

/* Tear down a context on a foreign loop, closing the caller's `n` handles too. libwebsockets
 * 4.1 only starts closing its sockets and uv handles in lws_context_destroy; the loop must run
 * those closes, and a second destroy then frees the context. ctx may be NULL. */
void lws_loop_teardown(struct lws_context *ctx, uv_loop_t *loop, uv_handle_t *const *handles, size_t n);

#endif
