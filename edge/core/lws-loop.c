/* libwebsockets on our libuv loop; see lws-loop.h. */
#include "edge/core/lws-loop.h"
#include "edge/core/clock.h"
#include "edge/core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* The descriptor plan (lws-loop.h), set once at start-up; -1 until then (no limits applied). */
static int fd_limit = -1, fd_limit_was, fd_limit_err;
static int web_fd_max = -1;     /* web clients below this ... */
static int listen_fd_max = -1;  /* listeners accept only while the lowest free descriptor is below this */
static int web_spare_max = -1;  /* ... and web clients between listen_fd_max and this */

/* A pause line again within this of the last one is not shown: a site full to the descriptor
 * flaps between full and not full as chargers come and go. */
#define PAUSE_LOG_GAP_MS (10 * 60 * 1000)
#define RETRY_MS 1000
#define ACCEPT_BATCH 32

/* Once per process, before lws sizes its descriptor table (lws 4.1 takes the soft limit at
 * context creation and refuses any socket numbered above it). */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (fd_limit >= 0 || fd_limit_err)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		fd_limit_err = -errno;
		return;
	}
	fd_limit_was = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = { rl.rlim_max, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
		else
			fd_limit_err = -errno;
	}
	int limit = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
	int keep = limit / 4 > 16 ? limit / 4 : 16;
	int spare = limit / 32 > 8 ? limit / 32 : 8;
	fd_limit = limit;
	web_fd_max = limit - keep;
	listen_fd_max = limit - spare;
	web_spare_max = limit - spare / 2;
}

int lws_loop_raise_fd_limit(int *was, int *charger_fds)
{
	raise_fd_limit();
	if (fd_limit_err)
		return fd_limit_err;
	*was = fd_limit_was;
	*charger_fds = listen_fd_max;
	return fd_limit;
}

bool lws_loop_fd_for_web(int fd)
{
	return web_fd_max < 0 || fd < web_fd_max || (fd >= listen_fd_max && fd < web_spare_max);
}

/* Descriptors open in this process (the limit itself when none is left to count them with). */
static int fds_in_use(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = -1; /* the directory's own descriptor */

	if (!dir)
		return fd_limit;
	while (readdir(dir))
		n++;
	closedir(dir);
	return n - 2; /* "." and ".." */
}

/* Whether one more connection fits below listen_fd_max: descriptors are handed out lowest
 * first, so the lowest free one tells whether every one below the mark is taken. */
static bool room_to_accept(int fd)
{
	if (listen_fd_max < 0)
		return true;
	int t = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (t < 0)
		return false;
	close(t);
	return t < listen_fd_max;
}

struct lws_loop_listener {
	uv_poll_t poll;
	uv_timer_t retry;
	struct lws_vhost *vh;
	const char *what;
	int fd;
	int handles_open;
	bool paused, announced;
	uint64_t announced_ms;
};

static void on_readable(uv_poll_t *h, int status, int events);
static void on_retry(uv_timer_t *t);

static void pause_accepting(struct lws_loop_listener *l, int err)
{
	uint64_t now = now_ms();

	uv_poll_stop(&l->poll);
	uv_timer_start(&l->retry, on_retry, RETRY_MS, RETRY_MS);
	l->paused = true;
	if (l->announced || (l->announced_ms && now - l->announced_ms < PAUSE_LOG_GAP_MS))
		return;
	l->announced = true;
	l->announced_ms = now;
	if (err && err != EMFILE && err != ENFILE)
		log_msg(LL_WARN, "cannot accept more %s: %s; trying again every second", l->what, strerror(err));
	else if (err == ENFILE)
		log_msg(LL_WARN, "cannot accept more %s: the whole system is out of file descriptors (fs.file-max); "
				 "they wait until some are free", l->what);
	else
		log_msg(LL_WARN, "cannot accept more %s: %d of %d file descriptors in use; raise LimitNOFILE in the unit "
				 "(the last %d are kept for the web page and the CSMS links; new %s wait until some are free)",
			l->what, fds_in_use(), fd_limit, fd_limit - listen_fd_max, l->what);
}

static void on_retry(uv_timer_t *t)
{
	struct lws_loop_listener *l = t->data;

	if (!room_to_accept(l->fd))
		return;
	uv_timer_stop(&l->retry);
	l->paused = false;
	if (l->announced)
		log_msg(LL_NOTICE, "accepting %s again: %d of %d file descriptors in use", l->what, fds_in_use(), fd_limit);
	l->announced = false;
	uv_poll_start(&l->poll, UV_READABLE, on_readable);
}

/* What lws's own listener does with a new connection, minus its accept() loop: lws 4.1 logs
 * EMFILE and returns with the socket still readable, so the loop spins at 100 % CPU. */
static void on_readable(uv_poll_t *h, int status, int events)
{
	struct lws_loop_listener *l = h->data;
	(void)events;

	if (status < 0) {
		pause_accepting(l, -status); /* libuv's codes are -errno on Unix */
		return;
	}
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (!room_to_accept(l->fd)) {
			pause_accepting(l, 0);
			return;
		}
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pause_accepting(l, errno);
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		lws_adopt_socket_vhost(l->vh, fd); /* closes fd itself when it cannot */
	}
}

/* A bound, listening, non-blocking socket; "" or 0.0.0.0 is every address, both IPv6 and IPv4
 * where the system has IPv6 (as lws's own listener). -errno on failure. */
static int listen_socket(const char *host, int port)
{
	struct addrinfo hints, *res = NULL;
	const char *node = host && *host && strcmp(host, "0.0.0.0") != 0 ? host : NULL;
	char service[16];
	int rc = -EADDRNOTAVAIL;

	snprintf(service, sizeof(service), "%d", port);
	for (int pass = 0; pass < 2; pass++) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_family = node ? AF_UNSPEC : pass == 0 ? AF_INET6 : AF_INET;
		if (getaddrinfo(node, service, &hints, &res) != 0)
			continue;
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
			int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, zero = 0;
			if (fd < 0) {
				rc = -errno;
				continue;
			}
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (!node && ai->ai_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
				freeaddrinfo(res);
				return fd;
			}
			rc = -errno;
			close(fd);
		}
		freeaddrinfo(res);
		res = NULL;
		if (node)
			break;
	}
	return rc;
}

int lws_loop_listen(uv_loop_t *loop, struct lws_vhost *vh, const char *host, int port, const char *what,
		    struct lws_loop_listener **out)
{
	struct lws_loop_listener *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return -ENOMEM;
	if ((l->fd = listen_socket(host, port)) < 0) {
		rc = l->fd;
		free(l);
		return rc;
	}
	if ((rc = uv_poll_init_socket(loop, &l->poll, l->fd)) < 0) {
		close(l->fd);
		free(l);
		return rc;
	}
	uv_timer_init(loop, &l->retry);
	l->poll.data = l->retry.data = l;
	l->handles_open = 2;
	l->vh = vh;
	l->what = what;
	uv_poll_start(&l->poll, UV_READABLE, on_readable);
	*out = l;
	return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct lws_loop_listener *l = h->data;

	if (--l->handles_open == 0) {
		close(l->fd);
		free(l);
	}
}

void lws_loop_listener_close(struct lws_loop_listener *l)
{
	if (!l)
		return;
	uv_poll_stop(&l->poll);
	uv_timer_stop(&l->retry);
	uv_close((uv_handle_t *)&l->poll, on_listener_closed);
	uv_close((uv_handle_t *)&l->retry, on_listener_closed);
}

struct lws_context *lws_loop_context(uv_loop_t *loop, void *user)
{
	struct lws_context_creation_info info;
	void *loops[1] = { loop };

	raise_fd_limit();
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
