// SPDX-License-Identifier: MIT
/*
 * libkmsgate: the connection, the handshake and the one request/reply path
 * every call goes through. The socket is non-blocking; blocking calls poll
 * with a deadline, so a stuck broker cannot hang a client forever (except a
 * waiting ACQUIRE, which asked for exactly that).
 */
#include "client-private.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on the socket until deadline (-1: none). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int timeout, r;

	do {
		timeout = deadline < 0 ? -1 : (int)(deadline > now_ms() ? deadline - now_ms() : 0);
		r = poll(&pfd, 1, timeout);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

void kg_client_break(struct kmsgate_client *c)
{
	c->broken = true;
	for (struct kmsgate_lease *l = c->leases; l; l = l->next)
		l->revoked = true;
}

int kg_client_send(struct kmsgate_client *c, struct kg_proto_msg *m)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	int64_t deadline = now_ms() + KG_CLIENT_REPLY_TIMEOUT_MS;
	ssize_t n;
	int r;

	if (c->broken)
		return -ECONNRESET;
	m->seq = c->next_seq++;
	if (c->next_seq == 0)
		c->next_seq = 1;
	n = kg_proto_encode(m, buf, sizeof(buf));
	if (n < 0)
		return -EINVAL;
	while ((r = kg_proto_send(c->fd, buf, (size_t)n, -1)) == -EAGAIN) {
		r = wait_fd(c->fd, POLLOUT, deadline);
		if (r < 0)
			break;
	}
	if (r < 0) {
		kg_client_break(c);
		return r == -EPIPE ? -ECONNRESET : r;
	}
	return 0;
}

/* Reads one message. Returns 0, -EAGAIN (nothing there), or -errno with the
 * client broken (-ECONNRESET on EOF, -EPROTO on garbage). */
static int read_one(struct kmsgate_client *c, struct kg_proto_msg *m, int *fd)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	ssize_t n = kg_proto_recv(c->fd, buf, sizeof(buf), fd, NULL);

	if (n == -EAGAIN)
		return -EAGAIN;
	if (n <= 0) {
		kg_client_break(c);
		if (n == 0 || n == -ECONNRESET)
			return -ECONNRESET;
		return -EPROTO; /* -EMSGSIZE, -EPROTO: a broken broker */
	}
	if (kg_proto_decode(buf, (size_t)n, m) != 0 || kg_proto_type_is_request(m->type)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		kg_client_break(c);
		return -EPROTO;
	}
	return 0;
}

int kg_client_wait(struct kmsgate_client *c, uint32_t seq, struct kg_proto_msg *m, int *fd,
		   int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	int dummy, r;

	if (!fd)
		fd = &dummy;
	*fd = -1;
	for (;;) {
		if (c->broken)
			return -ECONNRESET;
		r = read_one(c, m, fd);
		if (r == -EAGAIN) {
			if (timeout_ms == 0)
				return -ETIMEDOUT; /* a poll, not a wait */
			r = wait_fd(c->fd, POLLIN, deadline);
			if (r == -ETIMEDOUT)
				kg_client_break(c); /* a late reply would be unmatched */
			if (r < 0)
				return r;
			continue;
		}
		if (r < 0)
			return r;
		if (kg_proto_type_is_event(m->type)) {
			kg_client_event_received(c, m);
			continue;
		}
		if (m->seq == seq || (m->type == KG_PROTO_MSG_ERROR && m->seq == 0)) {
			/* A caller that expects no fd gets none: it will see the
			 * wrong type and fail, and the fd must not leak. */
			if (fd == &dummy && dummy >= 0) {
				close(dummy);
				dummy = -1;
			}
			return 0;
		}
		/* A broker restarted after a kill -9 answers the request the
		 * old one was handling with CANCELLED, and may do so although
		 * the old one had answered it already (docs/recovery.md): a
		 * CANCELLED for a request we no longer wait for is that one. */
		if (m->type == KG_PROTO_MSG_ERROR && m->u.error.code == KG_PROTO_ERR_CANCELLED &&
		    m->seq != 0) {
			if (*fd >= 0)
				close(*fd);
			*fd = -1;
			continue;
		}
		/* A reply to what a process before kmsgate_adopt() asked. */
		if (c->adopted) {
			if (*fd >= 0)
				close(*fd);
			*fd = -1;
			continue;
		}
		/* A reply to nothing we asked: the broker is confused. */
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		kg_client_break(c);
		return -EPROTO;
	}
}

int kmsgate_error_to_errno(uint32_t code)
{
	switch (code) {
	case KG_PROTO_ERR_VERSION:
		return EPROTONOSUPPORT;
	case KG_PROTO_ERR_NOT_FOUND:
	case KG_PROTO_ERR_NOT_HELD:
		return ENOENT;
	case KG_PROTO_ERR_BUSY:
		return EBUSY;
	case KG_PROTO_ERR_DENIED:
		return EACCES;
	case KG_PROTO_ERR_UNAVAILABLE:
		return ENODEV;
	case KG_PROTO_ERR_CANCELLED:
		return ECANCELED;
	case KG_PROTO_ERR_LIMIT:
		return EAGAIN;
	case KG_PROTO_ERR_INTERNAL:
		return EIO;
	default:
		return EPROTO;
	}
}

int kg_client_error(struct kmsgate_client *c, const struct kg_proto_msg *m)
{
	uint32_t code = m->u.error.code;

	memcpy(c->last_error, m->u.error.text, sizeof(c->last_error));
	/* Protocol violations and VERSION end the connection on the broker's
	 * side; so do errors we cannot tie to a request. */
	if (code < KG_PROTO_ERR_NOT_FOUND || m->seq == 0)
		kg_client_break(c);
	return -kmsgate_error_to_errno(code);
}

/* Events are taken in as they are read, whoever reads them. */
struct kmsgate_lease *kg_client_find_lease(struct kmsgate_client *c, const char *name, bool revoked)
{
	for (struct kmsgate_lease *l = c->leases; l; l = l->next) {
		if (l->revoked == revoked && strcmp(l->info.name, name) == 0)
			return l;
	}
	return NULL;
}

void kg_client_event_received(struct kmsgate_client *c, const struct kg_proto_msg *m)
{
	if (m->type == KG_PROTO_MSG_EV_REVOKED) {
		struct kmsgate_lease *l = kg_client_find_lease(c, m->u.revoked.name, false);

		if (l)
			l->revoked = true;
	}
	if (c->queue_len < KG_CLIENT_MAX_QUEUED)
		c->queue[c->queue_len++] = *m;
}

static int open_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do {
		r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	} while (r < 0 && errno == EINTR);
	if (r < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* A broker that refuses the connection (LIMIT: too many clients) sends an
 * ERROR with seq 0 and closes, maybe before our HELLO went out (the send
 * fails), or with it unread (our first read reports the reset, the ERROR
 * is still queued behind it): look for that ERROR before giving up. */
static int refusal(struct kmsgate_client *c, int err)
{
	for (int i = 0; i < 2; i++) {
		uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
		struct kg_proto_msg m;
		int fd = -1;
		ssize_t n = kg_proto_recv(c->fd, buf, sizeof(buf), &fd, NULL);

		if (fd >= 0)
			close(fd);
		if (n > 0 && kg_proto_decode(buf, (size_t)n, &m) == 0 &&
		    m.type == KG_PROTO_MSG_ERROR && m.seq == 0)
			return kg_client_error(c, &m);
		if (n != -ECONNRESET)
			break;
	}
	return err;
}

static int handshake(struct kmsgate_client *c, const char *client_name)
{
	struct kg_proto_msg m = { .type = KG_PROTO_MSG_HELLO };
	int r;

	m.u.hello.min_version = KG_PROTO_MIN_VERSION;
	m.u.hello.max_version = KG_PROTO_VERSION;
	kg_client_copy_text(m.u.hello.client_name, sizeof(m.u.hello.client_name), client_name);
	r = kg_client_send(c, &m);
	if (r == 0)
		r = kg_client_wait(c, m.seq, &m, NULL, KG_CLIENT_REPLY_TIMEOUT_MS);
	if (r == -ECONNRESET)
		return refusal(c, r);
	if (r < 0)
		return r;
	if (m.type == KG_PROTO_MSG_ERROR)
		return kg_client_error(c, &m);
	if (m.type != KG_PROTO_MSG_SERVER_HELLO ||
	    m.u.server_hello.version < KG_PROTO_MIN_VERSION ||
	    m.u.server_hello.version > KG_PROTO_VERSION)
		return -EPROTO;
	c->version = m.u.server_hello.version;
	memcpy(c->server_name, m.u.server_hello.server_name, sizeof(c->server_name));
	return 0;
}

struct kmsgate_client *kmsgate_connect(const char *path, const char *client_name)
{
	struct kmsgate_client *c;
	int r;

	if (!path)
		path = getenv(KMSGATE_SOCKET_ENV);
	if (!path || !*path)
		path = KMSGATE_DEFAULT_SOCKET;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = -1;
	c->next_seq = 1;
	c->queue = calloc(KG_CLIENT_MAX_QUEUED, sizeof(*c->queue));
	if (!c->queue) {
		r = -ENOMEM;
		goto err_client;
	}
	c->fd = open_socket(path);
	if (c->fd < 0) {
		r = c->fd;
		goto err_client;
	}
	r = handshake(c, client_name);
	if (r < 0)
		goto err_client;
	return c;

err_client:
	kmsgate_close(c);
	errno = -r;
	return NULL;
}

void kmsgate_close(struct kmsgate_client *c)
{
	if (!c)
		return;
	/* Leases outlive the client as revoked objects their owner destroys. */
	for (struct kmsgate_lease *l = c->leases; l; l = l->next) {
		l->revoked = true;
		l->client = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->queue);
	free(c);
}

unsigned kmsgate_version(const struct kmsgate_client *c)
{
	return c->version;
}

const char *kmsgate_server_name(const struct kmsgate_client *c)
{
	return c->server_name;
}

const char *kmsgate_last_error(const struct kmsgate_client *c)
{
	return c->last_error;
}

int kmsgate_get_fd(const struct kmsgate_client *c)
{
	return c->fd;
}
