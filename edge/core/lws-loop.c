/* libwebsockets on our libuv loop; see lws-loop.h. */
#include "edge/core/lws-loop.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

/* Set once at start-up: descriptors from here on are kept for chargers and uplinks. */
static int web_fd_max = -1;

int lws_loop_raise_fd_limit(int *was)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	*was = (int)rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	int limit = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
	int keep = limit / 4 > 16 ? limit / 4 : 16;
	web_fd_max = limit - keep;
	return limit;
}

bool lws_loop_fd_for_web(int fd)
{
	return web_fd_max < 0 || fd < web_fd_max;
}

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
