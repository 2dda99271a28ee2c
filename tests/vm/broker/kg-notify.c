// SPDX-License-Identifier: MIT
/*
 * kg-notify: the sd_notify side of systemd, for the broker's VM tests
 * (the board VM has no systemd and no socat).
 *
 *   kg-notify listen NOTIFY_PATH BROKER_SOCK SECS
 *       binds a datagram socket at NOTIFY_PATH (point NOTIFY_SOCKET at it),
 *       prints "NOTIFY_LISTENING", then "NOTIFY pid=P <fields>" per message
 *       (newlines as spaces). On READY=1 it connects to BROKER_SOCK at once
 *       and prints "READY_CONNECT=ok" or "READY_CONNECT=<errno name>": READY
 *       must mean the broker already serves. Exits on STOPPING=1 (0) or
 *       after SECS seconds without one (1).
 *   kg-notify poke stream|dgram PATH
 *       connects a stream socket to PATH (or sends one datagram): wakes a
 *       systemd-socket-activate that listens with the wrong socket type.
 *
 * Test code: errors go to stderr with what failed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int unix_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path)) {
		fprintf(stderr, "kg-notify: path too long: %s\n", path);
		return -1;
	}
	strcpy(a->sun_path, path);
	return 0;
}

/* Connects like a broker client would: SOCK_SEQPACKET. */
static const char *try_connect(const char *path)
{
	struct sockaddr_un a;
	const char *res = "ok";
	int fd;

	if (unix_addr(path, &a) < 0)
		return "ENAMETOOLONG";
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return strerrorname_np(errno);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		res = strerrorname_np(errno);
	close(fd);
	return res;
}

/* One message: prints it; returns 1 on STOPPING=1, 0 otherwise. */
static int on_message(int fd, const char *broker_sock)
{
	char buf[4096], cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	pid_t pid = -1;
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	int ready, stopping;

	if (n < 0)
		return 0;
	buf[n] = 0;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
			pid = ((struct ucred *)CMSG_DATA(c))->pid;
	ready = !strncmp(buf, "READY=1", 7) || strstr(buf, "\nREADY=1");
	stopping = !strncmp(buf, "STOPPING=1", 10) || strstr(buf, "\nSTOPPING=1");
	/* Connect before printing: as soon after READY as this can. */
	const char *rc = ready ? try_connect(broker_sock) : NULL;

	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	printf("NOTIFY pid=%d %s\n", (int)pid, buf);
	if (rc)
		printf("READY_CONNECT=%s\n", rc);
	fflush(stdout);
	return stopping;
}

static int listen_notify(const char *path, const char *broker_sock, int secs)
{
	struct sockaddr_un a;
	int one = 1, fd;
	time_t end = time(NULL) + secs;

	if (unix_addr(path, &a) < 0)
		return 1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		fprintf(stderr, "kg-notify: datagram socket at %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("NOTIFY_LISTENING\n");
	fflush(stdout);
	while (time(NULL) < end) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (poll(&p, 1, 200) > 0 && on_message(fd, broker_sock)) {
			close(fd);
			return 0;
		}
	}
	printf("NOTIFY_TIMEOUT\n");
	close(fd);
	return 1;
}

static int poke(const char *type, const char *path)
{
	struct sockaddr_un a;
	int dgram = !strcmp(type, "dgram");
	int fd, r;

	if (unix_addr(path, &a) < 0)
		return 1;
	fd = socket(AF_UNIX, (dgram ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	if (dgram)
		r = sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) == 1 ? 0 : -1;
	else
		r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (r < 0)
		fprintf(stderr, "kg-notify: poke %s %s: %s\n", type, path, strerror(errno));
	else
		sleep(1); /* the activator sees the pending connection */
	close(fd);
	return r < 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "listen"))
		return listen_notify(argv[2], argv[3], atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "poke"))
		return poke(argv[2], argv[3]);
	fprintf(stderr, "usage: kg-notify listen NOTIFY_PATH BROKER_SOCK SECS\n"
			"       kg-notify poke stream|dgram PATH\n");
	return 2;
}
