// SPDX-License-Identifier: MIT
/*
 * Fuzz target 'proto': the broker's and the client's view of one packet.
 * 1. kg_proto_decode() on the raw bytes; whatever decodes must re-encode to
 *    exactly the same bytes (one canonical encoding) and decode again.
 * 2. The receive path: the bytes go through a real SOCK_SEQPACKET pair with
 *    0-2 fds attached (chosen by the input length), and kg_proto_recv() must
 *    hand back an fd only for LEASE and leak none.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kmsgate-proto.h"
#include "scm-send.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decode(const uint8_t *data, size_t size)
{
	static uint8_t again[KG_PROTO_MAX_MSG_SIZE];
	struct kg_proto_msg m, m2;
	ssize_t n;

	if (kg_proto_decode(data, size, &m) != 0)
		return;
	n = kg_proto_encode(&m, again, sizeof(again));
	if (n != (ssize_t)size || memcmp(again, data, size) != 0)
		abort(); /* a decoded message that does not re-encode the same */
	if (kg_proto_decode(again, (size_t)n, &m2) != 0 || memcmp(&m, &m2, sizeof(m)) != 0)
		abort();
}

static int sv[2] = { -1, -1 };
static int null_fd = -1;

static void send_with_fds(const uint8_t *data, size_t size, int nfds)
{
	struct kg_test_scm_buf ctl;
	int fds[2] = { null_fd, null_fd };
	struct iovec iov = { .iov_base = (void *)data, .iov_len = size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 2 || !kg_test_scm_attach(&mh, &ctl, fds, (unsigned)nfds))
		abort();
	if (sendmsg(sv[0], &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)size)
		abort();
}

static void check_recv(const uint8_t *data, size_t size)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	int fd, lowest, probe;
	ssize_t n;

	if (sv[0] < 0) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			abort();
		null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (size > 4096)
		return;
	/* The lowest free fd number: if anything leaks, it changes. */
	lowest = dup(0);
	close(lowest);
	send_with_fds(data, size, (int)(size % 3));
	n = kg_proto_recv(sv[1], buf, sizeof(buf), &fd, NULL);
	if (fd >= 0) {
		uint16_t type;
		uint32_t seq;

		if (n <= 0 || kg_proto_peek_header(buf, (size_t)n, &type, &seq) != 0 ||
		    !kg_proto_type_has_fd(type))
			abort(); /* an fd handed out for a type that carries none */
		close(fd);
	}
	probe = dup(0);
	if (probe != lowest)
		abort(); /* an fd leaked */
	close(probe);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode(data, size);
	check_recv(data, size);
	return 0;
}
