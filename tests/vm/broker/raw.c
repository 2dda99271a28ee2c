// SPDX-License-Identifier: MIT
/*
 * Raw-protocol clients for what libkmsgate hides or cannot do: connection
 * caps, clients that never read, version negotiation, the wait queue's cap.
 * Each prints what it saw, one "WORD key=value..." line per fact, for the
 * host script to check.
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
#include <unistd.h>

#include "kg-lessee.h"
#include "kmsgate-proto.h"

/* How long any one answer may take under TCG before we call it missing. */
#define ANSWER_MS 5000

static int send_msg(int fd, const struct kg_proto_msg *m)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	ssize_t len = kg_proto_encode(m, buf, sizeof(buf));

	if (len < 0) {
		fprintf(stderr, "cannot encode %s\n", kg_proto_type_name(m->type));
		return -EINVAL;
	}
	return kg_proto_send(fd, buf, (size_t)len, -1);
}

/* Receives one message within ms. Returns 1 (m filled; a lease fd is
 * closed), 0 when the broker closed the connection, -ETIMEDOUT, -EPROTO
 * for something undecodable, or another -errno. */
static int recv_msg(int fd, struct kg_proto_msg *m, int ms)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	struct pollfd p = { fd, POLLIN, 0 };
	int lease_fd = -1;
	ssize_t n;

	if (poll(&p, 1, ms) == 0)
		return -ETIMEDOUT;
	n = kg_proto_recv(fd, buf, sizeof(buf), &lease_fd, NULL);
	if (lease_fd >= 0)
		close(lease_fd);
	if (n <= 0)
		return n == 0 || n == -ECONNRESET ? 0 : (int)n;
	return kg_proto_decode(buf, (size_t)n, m) == 0 ? 1 : -EPROTO;
}

static int send_hello(int fd, uint32_t seq, uint16_t min, uint16_t max)
{
	struct kg_proto_msg m = { .type = KG_PROTO_MSG_HELLO, .seq = seq };

	m.u.hello.min_version = min;
	m.u.hello.max_version = max;
	snprintf(m.u.hello.client_name, sizeof(m.u.hello.client_name), "kg-raw");
	return send_msg(fd, &m);
}

static int send_named(int fd, uint16_t type, uint32_t seq, const char *name, uint32_t flags)
{
	struct kg_proto_msg m = { .type = type, .seq = seq };

	/* acquire, release and revoke all start with the name */
	snprintf(m.u.acquire.name, sizeof(m.u.acquire.name), "%s", name);
	if (type == KG_PROTO_MSG_ACQUIRE)
		m.u.acquire.flags = flags;
	return send_msg(fd, &m);
}

/* An error code's name without "ERR_": LIMIT, VERSION... */
static const char *err_short(uint32_t code)
{
	const char *name = kg_proto_err_name(code);

	return strncmp(name, "ERR_", 4) == 0 ? name + 4 : name;
}

/* "TYPE seq=N" or "ERROR CODE seq=N (text)" or "closed"/"timeout". */
static void describe(int r, const struct kg_proto_msg *m, char *out, size_t n)
{
	if (r == 0)
		snprintf(out, n, "closed");
	else if (r == -ETIMEDOUT)
		snprintf(out, n, "timeout");
	else if (r < 0)
		snprintf(out, n, "recv-error:%s", strerror(-r));
	else if (m->type == KG_PROTO_MSG_ERROR)
		snprintf(out, n, "ERROR %s seq=%u req=%s text='%s'", err_short(m->u.error.code),
			 m->seq, kg_proto_type_name(m->u.error.request_type), m->u.error.text);
	else
		snprintf(out, n, "%s seq=%u", kg_proto_type_name(m->type), m->seq);
}

/* True when the broker closes fd within ANSWER_MS (queued messages are
 * read and dropped). */
static bool closes(int fd)
{
	struct kg_proto_msg m;
	int r;

	while ((r = recv_msg(fd, &m, ANSWER_MS)) > 0 || r == -EPROTO)
		;
	return r == 0;
}

static void wait_stdin_quit(void)
{
	char line[64];

	while (fgets(line, sizeof(line), stdin) && strncmp(line, "quit", 4) != 0)
		;
}

static void raise_fd_limit(int n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_max < (rlim_t)n + 64)
		rl.rlim_max = (rlim_t)n + 64; /* root only; harmless otherwise */
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Opens n connections one after the other, each saying HELLO and waiting for
 * the answer. Prints every refusal ("CONNS refused at=I ..."), then
 * "CONNS ok=.. refused=.. other=..", holds the accepted ones until stdin
 * says quit, and closes them. */
int kg_raw_conns(const char *sock, int n)
{
	int *fds = calloc((size_t)n, sizeof(int));
	int ok = 0, refused = 0, other = 0;

	if (!fds)
		return 2;
	raise_fd_limit(n);
	for (int i = 0; i < n; i++) {
		struct kg_proto_msg m;
		char what[256];
		int r;

		fds[i] = kg_dial(sock);
		if (fds[i] < 0) {
			printf("CONNS dial failed at=%d: %s\n", i, strerror(errno));
			other++;
			continue;
		}
		/* A refused connection may already be closed: the send can fail,
		 * the broker's ERROR is still there to read. */
		send_hello(fds[i], 1, KG_PROTO_MIN_VERSION, KG_PROTO_VERSION);
		r = recv_msg(fds[i], &m, ANSWER_MS);
		if (r > 0 && m.type == KG_PROTO_MSG_SERVER_HELLO && m.seq == 1) {
			ok++;
			continue;
		}
		describe(r, &m, what, sizeof(what));
		if (r > 0 && m.type == KG_PROTO_MSG_ERROR)
			refused++;
		else
			other++;
		printf("CONNS refused at=%d %s then=%s\n", i, what,
		       closes(fds[i]) ? "closed" : "OPEN");
		close(fds[i]);
		fds[i] = -1;
	}
	printf("CONNS ok=%d refused=%d other=%d\n", ok, refused, other);
	fflush(stdout);
	wait_stdin_quit();
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	free(fds);
	return 0;
}

/* Drains fd without blocking for long: counts messages until the broker's
 * close (*eof) or 1 s of silence. */
static int drain(int fd, bool *eof)
{
	struct kg_proto_msg m;
	int n = 0, r;

	while ((r = recv_msg(fd, &m, 1000)) > 0 || r == -EPROTO)
		n++;
	*eof = r == 0;
	return n;
}

/* A client that says HELLO and then reads nothing until stdin says quit;
 * then prints how many messages were queued for it and whether the broker
 * had closed the connection: "IDLE queued=N closed=yes|no". */
int kg_raw_idle(const char *sock)
{
	struct kg_proto_msg m;
	bool eof;
	int fd = kg_dial(sock), n;

	if (fd < 0 || send_hello(fd, 1, 1, KG_PROTO_VERSION) < 0 ||
	    recv_msg(fd, &m, ANSWER_MS) != 1 || m.type != KG_PROTO_MSG_SERVER_HELLO) {
		printf("IDLE no handshake\n");
		return 2;
	}
	printf("IDLE READY\n");
	fflush(stdout);
	wait_stdin_quit();
	n = drain(fd, &eof);
	printf("IDLE queued=%d closed=%s\n", n, eof ? "yes" : "no");
	close(fd);
	return 0;
}

/* Sends LIST after LIST without reading a reply, until the broker closes
 * the connection or max requests went out; a send that cannot go out for
 * 5 s means the broker stopped reading us without closing. Prints
 * "NOREAD sent=N queued=M closed=yes|no stuck=yes|no ms=T". */
int kg_raw_noread(const char *sock, int max)
{
	struct kg_proto_msg m = { .type = KG_PROTO_MSG_LIST };
	bool eof = false, stuck = false;
	double t0;
	int fd = kg_dial(sock), sent = 0, n;

	if (fd < 0 || send_hello(fd, 1, 1, KG_PROTO_VERSION) < 0 ||
	    recv_msg(fd, &m, ANSWER_MS) != 1 || m.type != KG_PROTO_MSG_SERVER_HELLO) {
		printf("NOREAD no handshake\n");
		return 2;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	t0 = kg_now_ms();
	while (sent < max) {
		struct pollfd p = { fd, POLLOUT, 0 };
		int r;

		m = (struct kg_proto_msg){ .type = KG_PROTO_MSG_LIST, .seq = (uint32_t)sent + 2 };
		r = send_msg(fd, &m);
		if (r == 0) {
			sent++;
			continue;
		}
		if (r != -EAGAIN)
			break; /* EPIPE, ECONNRESET: the broker closed it */
		if (poll(&p, 1, ANSWER_MS) == 0) {
			stuck = true;
			break;
		}
	}
	n = drain(fd, &eof);
	printf("NOREAD sent=%d queued=%d closed=%s stuck=%s ms=%.0f\n", sent, n, eof ? "yes" : "no",
	       stuck ? "yes" : "no", kg_now_ms() - t0);
	close(fd);
	return 0;
}

/* Reads one answer of the version dialogue, prints "VERSION label
 * got=<answer>" and returns the answer's type, or its code for an ERROR
 * (0: no answer). */
static int version_step(int fd, const char *label, uint32_t *count)
{
	struct kg_proto_msg m;
	char what[256];
	int r = recv_msg(fd, &m, ANSWER_MS);

	describe(r, &m, what, sizeof(what));
	if (r > 0 && m.type == KG_PROTO_MSG_SERVER_HELLO)
		printf("VERSION %s got=%s version=%u\n", label, what, m.u.server_hello.version);
	else
		printf("VERSION %s got=%s\n", label, what);
	if (r > 0 && m.type == KG_PROTO_MSG_LIST_END && count)
		*count = m.u.list_end.count;
	return r <= 0 ? 0 : m.type == KG_PROTO_MSG_ERROR ? (int)m.u.error.code : m.type;
}

/* The version dialogue on two connections:
 *   a: HELLO 2..3 -> ERROR VERSION; HELLO 1..4 (same connection) ->
 *      SERVER_HELLO version 1; LIST works; a third HELLO is UNEXPECTED.
 *   b: HELLO 2..2 -> ERROR VERSION; LIST (still NEW) -> UNEXPECTED, closed.
 * Prints one VERSION line per answer; the host checks them. */
int kg_raw_version(const char *sock)
{
	struct kg_proto_msg m = { .type = KG_PROTO_MSG_LIST, .seq = 3 };
	uint32_t count = 0;
	int a = kg_dial(sock), b = kg_dial(sock), pipelines = 0, t;

	if (a < 0 || b < 0) {
		printf("VERSION cannot connect\n");
		return 2;
	}
	send_hello(a, 1, 2, 3);
	version_step(a, "a-hello-2..3", NULL);
	send_hello(a, 2, 1, 4);
	version_step(a, "a-hello-1..4", NULL);
	send_msg(a, &m);
	while ((t = version_step(a, "a-list", &count)) == KG_PROTO_MSG_PIPELINE)
		pipelines++;
	printf("VERSION a-list pipelines=%d list_end_count=%u\n", pipelines, count);
	send_hello(a, 4, 1, 1);
	version_step(a, "a-hello-again", NULL);
	printf("VERSION a-after closed=%s\n", closes(a) ? "yes" : "no");
	close(a);

	send_hello(b, 1, 2, 2);
	version_step(b, "b-hello-2..2", NULL);
	send_msg(b, &m);
	version_step(b, "b-list-before-hello", NULL);
	printf("VERSION b-after closed=%s\n", closes(b) ? "yes" : "no");
	close(b);
	return 0;
}

/* Sends a request, then LIST (seq+1), and reads up to LIST_END: replies
 * come in request order, so an answer to the request arrives before the
 * LIST's, and none means a queued ACQUIRE. Returns 1 with the answer in
 * *ans, 0 for no answer, -1 when the connection broke. */
static int answer_before_list(int fd, uint32_t seq, struct kg_proto_msg *ans)
{
	struct kg_proto_msg m = { .type = KG_PROTO_MSG_LIST, .seq = seq + 1 };
	int found = 0;

	if (send_msg(fd, &m) < 0)
		return -1;
	for (;;) {
		int r = recv_msg(fd, &m, ANSWER_MS);

		if (r <= 0)
			return -1;
		if (m.seq == seq && !found) {
			*ans = m;
			found = 1;
		}
		if (m.type == KG_PROTO_MSG_LIST_END && m.seq == seq + 1)
			return found;
	}
}

/* How each waiting connection's wait ended. */
static void waiters_end(const int *fds, int n)
{
	int cancelled = 0, leased = 0, closed = 0, other = 0;

	for (int i = 0; i < n; i++) {
		struct kg_proto_msg m;
		int r;

		if (fds[i] < 0)
			continue;
		/* events (seq 0) may come first */
		while ((r = recv_msg(fds[i], &m, 60000)) > 0 && m.seq != 2)
			;
		if (r > 0 && m.type == KG_PROTO_MSG_ERROR &&
		    m.u.error.code == KG_PROTO_ERR_CANCELLED &&
		    m.u.error.request_type == KG_PROTO_MSG_ACQUIRE)
			cancelled++;
		else if (r > 0 && m.type == KG_PROTO_MSG_LEASE)
			leased++;
		else if (r == 0)
			closed++;
		else
			other++;
	}
	printf("WAITERS_END cancelled=%d leased=%d closed=%d other=%d\n", cancelled, leased, closed,
	       other);
}

/* n connections each ACQUIRE name with WAIT (seq 2), in order. Prints
 * "WAITERS queued=.. limit=.. other=..", each refusal, and what the first
 * connection gets for a second WAIT on the same pipeline and for a RELEASE
 * of it ("WAITERS again=..", "WAITERS release=.."). Then "WAITERS READY"; it
 * holds until every queued connection's wait ended (broker stopping: ERROR
 * CANCELLED with seq 2) and prints "WAITERS_END ...". */
int kg_raw_waiters(const char *sock, const char *name, int n)
{
	int *fds = calloc((size_t)n, sizeof(int));
	int queued = 0, limit = 0, other = 0;

	if (!fds)
		return 2;
	raise_fd_limit(n);
	for (int i = 0; i < n; i++)
		fds[i] = -1;
	for (int i = 0; i < n; i++) {
		struct kg_proto_msg m;
		char what[256];
		int r;

		fds[i] = kg_dial(sock);
		if (fds[i] < 0 || send_hello(fds[i], 1, 1, KG_PROTO_VERSION) < 0 ||
		    recv_msg(fds[i], &m, ANSWER_MS) != 1 || m.type != KG_PROTO_MSG_SERVER_HELLO) {
			printf("WAITERS no handshake at=%d\n", i);
			goto out;
		}
		send_named(fds[i], KG_PROTO_MSG_ACQUIRE, 2, name, KG_PROTO_ACQUIRE_WAIT);
		r = answer_before_list(fds[i], 2, &m);
		if (r == 0) {
			queued++;
			continue;
		}
		describe(r, &m, what, sizeof(what));
		printf("WAITERS refused at=%d %s\n", i, what);
		if (r > 0 && m.type == KG_PROTO_MSG_ERROR && m.u.error.code == KG_PROTO_ERR_LIMIT)
			limit++;
		else
			other++;
		close(fds[i]);
		fds[i] = -1;
		if (i == 0)
			goto out; /* the first one must queue: nothing else means anything */
	}
	printf("WAITERS queued=%d limit=%d other=%d\n", queued, limit, other);
	for (int k = 0; k < 2; k++) {
		struct kg_proto_msg m;
		char what[256];
		uint32_t seq = 4 + 2 * (uint32_t)k;
		int r;

		if (k == 0)
			send_named(fds[0], KG_PROTO_MSG_ACQUIRE, seq, name, KG_PROTO_ACQUIRE_WAIT);
		else
			send_named(fds[0], KG_PROTO_MSG_RELEASE, seq, name, 0);
		r = answer_before_list(fds[0], seq, &m);
		describe(r, &m, what, sizeof(what));
		printf("WAITERS %s=%s\n", k == 0 ? "again" : "release",
		       r == 0 ? "no-answer" : what);
	}
	printf("WAITERS READY\n");
	fflush(stdout);
	waiters_end(fds, n);
out:
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	free(fds);
	return queued ? 0 : 2;
}
