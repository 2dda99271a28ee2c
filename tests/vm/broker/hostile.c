// SPDX-License-Identifier: MIT
/*
 * The hostile client: garbage, oversized packets, stray fds, half messages,
 * requests before HELLO, and many connections at once. Each abuse must get
 * the documented ERROR (or just a close) and the broker must keep serving.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kg-lessee.h"
#include "kmsgate-proto.h"
#include "kmsgate.h"
#include "scm-send.h"

int kg_dial(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Waits for the broker's answer: the ERROR code (0 for another message),
 * -1 for a close without one, -2 for no answer in 5 s. */
static int answer(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	struct kg_proto_msg msg;
	ssize_t n;

	if (poll(&p, 1, 5000) <= 0)
		return -2;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n <= 0)
		return -1;
	if (kg_proto_decode(buf, (size_t)n, &msg) != 0)
		return -3;
	return msg.type == KG_PROTO_MSG_ERROR ? (int)msg.u.error.code : 0;
}

/* True when the socket is closed by the broker within 5 s. */
static bool closed(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char b[KG_PROTO_MAX_MSG_SIZE];

	while (poll(&p, 1, 5000) > 0) {
		if (recv(fd, b, sizeof(b), 0) <= 0)
			return true;
	}
	return false;
}

static ssize_t hello(void *buf, size_t cap)
{
	struct kg_proto_msg m = { .type = KG_PROTO_MSG_HELLO, .seq = 1 };

	m.u.hello.min_version = 1;
	m.u.hello.max_version = 1;
	snprintf(m.u.hello.client_name, sizeof(m.u.hello.client_name), "hostile");
	return kg_proto_encode(&m, buf, cap);
}

static int send_fd(int sock, const void *buf, size_t len, int nfds)
{
	struct kg_test_scm_buf ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[KG_TEST_SCM_MAX_FDS];
	int ret = -1;

	if (nfds < 0 || nfds > KG_TEST_SCM_MAX_FDS)
		return -1;
	for (int i = 0; i < nfds; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (kg_test_scm_attach(&mh, &ctl, fds, (unsigned)nfds))
		ret = (int)sendmsg(sock, &mh, MSG_NOSIGNAL);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return ret;
}

struct abuse {
	const char *what;
	int expect; /* ERROR code; 0: any protocol violation (1-15) */
};

static int check(const char *sock, const struct abuse *a, int fd)
{
	int got = answer(fd);
	bool gone = got == -1 || closed(fd);

	close(fd);
	printf("HOSTILE %-28s answer=%d (%s) %s\n", a->what, got,
	       got > 0 ? kg_proto_err_name((uint32_t)got) : "-", gone ? "closed" : "OPEN");
	if (!gone || (a->expect ? got != a->expect : (got < 1 || got > 15)))
		return 1;
	return 0;
}

static int abuse_all(const char *sock)
{
	uint8_t buf[4096];
	ssize_t n;
	int fails = 0, fd;

	/* garbage */
	fd = kg_dial(sock);
	for (size_t i = 0; i < 100; i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	send(fd, buf, 100, MSG_NOSIGNAL);
	fails += check(sock, &(struct abuse){ "garbage", 0 }, fd);
	/* oversized: a HELLO header claiming 4096 bytes, sent in full */
	fd = kg_dial(sock);
	memset(buf, 0, sizeof(buf));
	n = hello(buf, sizeof(buf));
	buf[4] = 0x00, buf[5] = 0x10, buf[6] = 0, buf[7] = 0;
	send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
	fails += check(sock, &(struct abuse){ "oversized", KG_PROTO_ERR_TOO_BIG }, fd);
	/* half message: a HELLO cut after 20 of its bytes */
	fd = kg_dial(sock);
	n = hello(buf, sizeof(buf));
	send(fd, buf, 20, MSG_NOSIGNAL);
	fails += check(sock, &(struct abuse){ "half message", KG_PROTO_ERR_TRUNCATED }, fd);
	/* shorter than a header */
	fd = kg_dial(sock);
	send(fd, buf, 5, MSG_NOSIGNAL);
	fails += check(sock, &(struct abuse){ "5-byte packet", KG_PROTO_ERR_TRUNCATED }, fd);
	/* a valid HELLO with stray fds */
	fd = kg_dial(sock);
	send_fd(fd, buf, (size_t)n, 3);
	fails += check(sock, &(struct abuse){ "HELLO + 3 stray fds", KG_PROTO_ERR_FD }, fd);
	/* a request before HELLO */
	fd = kg_dial(sock);
	{
		struct kg_proto_msg m = { .type = KG_PROTO_MSG_LIST, .seq = 3 };

		n = kg_proto_encode(&m, buf, sizeof(buf));
		send(fd, buf, (size_t)n, MSG_NOSIGNAL);
	}
	fails += check(sock, &(struct abuse){ "LIST before HELLO", KG_PROTO_ERR_UNEXPECTED }, fd);
	/* a server message sent to the server */
	fd = kg_dial(sock);
	n = hello(buf, sizeof(buf));
	send(fd, buf, (size_t)n, MSG_NOSIGNAL);
	answer(fd);
	{
		struct kg_proto_msg m = { .type = KG_PROTO_MSG_LIST_END, .seq = 4 };

		n = kg_proto_encode(&m, buf, sizeof(buf));
		send(fd, buf, (size_t)n, MSG_NOSIGNAL);
	}
	fails += check(sock, &(struct abuse){ "LIST_END from a client", KG_PROTO_ERR_UNEXPECTED },
		       fd);
	return fails;
}

static bool broker_serves(const char *sock)
{
	struct kmsgate_client *c = kmsgate_connect(sock, "hostile-check");
	struct kmsgate_list *l = NULL;
	bool ok = c && kmsgate_list(c, &l) == 0;

	kmsgate_list_free(l);
	kmsgate_close(c);
	return ok;
}

/* Opens n connections at once (half of them say HELLO), checks the broker
 * still answers a new client, then closes them all. */
static int flood(const char *sock, int n)
{
	struct rlimit rl = { (rlim_t)n + 64, (rlim_t)n + 64 };
	int *fds = calloc((size_t)n, sizeof(int));
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	ssize_t len = hello(buf, sizeof(buf));
	int open_ok = 0, ret;
	double t0 = kg_now_ms();

	setrlimit(RLIMIT_NOFILE, &rl);
	for (int i = 0; i < n; i++) {
		fds[i] = kg_dial(sock);
		if (fds[i] >= 0) {
			open_ok++;
			if (i % 2)
				send(fds[i], buf, (size_t)len, MSG_NOSIGNAL);
		}
	}
	ret = broker_serves(sock) ? 0 : 1;
	printf("HOSTILE flood: %d of %d connections open in %.0f ms; broker %s\n", open_ok, n,
	       kg_now_ms() - t0, ret ? "DID NOT ANSWER" : "answers");
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	free(fds);
	return ret;
}

int kg_hostile(const char *sock, int connections)
{
	int fails = abuse_all(sock);

	fails += flood(sock, connections);
	if (!broker_serves(sock)) {
		printf("HOSTILE broker no longer serves\n");
		fails++;
	}
	printf("HOSTILE %s\n", fails ? "FAILED" : "DONE");
	return fails ? 1 : 0;
}
