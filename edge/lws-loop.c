/* libwebsockets on our libuv loop; see lws-loop.h. */
#include "edge/lws-loop.h"

#include <string.h>

struct lws_context *lws_loop_context(uv_loop_t *loop, void *user)
{
	struct lws_context_creation_info info;
	void *loops[1] = { loop };

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.foreign_loops = loops;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.user = user;
	return lws_create_context(&info);
}

void lws_loop_teardown(struct lws_context *ctx, uv_loop_t *loop, uv_handle_t *const *handles, size_t n)
{
	if (ctx)
		lws_context_destroy(ctx);
	for (size_t i = 0; i < n; i++)
		uv_close(handles[i], NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	if (ctx)
		lws_context_destroy(ctx);
}
