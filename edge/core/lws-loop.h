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

/* Raise the soft descriptor limit to the hard one (the systemd unit sets LimitNOFILE); the
 * limit in force, or -errno. Afterwards lws_loop_fd_for_web() keeps the top quarter (at least
 * 16) of the descriptors for chargers and uplinks. */
int lws_loop_raise_fd_limit(int *was);
/* For a web server's LWS_CALLBACK_FILTER_NETWORK_CONNECTION: false when the accepted descriptor
 * `fd` lies in the part kept for chargers and uplinks (refuse the web client: idle browsers must
 * not starve chargers of descriptors). */
bool lws_loop_fd_for_web(int fd);

/* Tear down a context on a foreign loop, closing the caller's `n` handles too. libwebsockets
 * 4.1 only starts closing its sockets and uv handles in lws_context_destroy; the loop must run
 * those closes, and a second destroy then frees the context. ctx may be NULL. */
void lws_loop_teardown(struct lws_context *ctx, uv_loop_t *loop, uv_handle_t *const *handles, size_t n);

#endif
