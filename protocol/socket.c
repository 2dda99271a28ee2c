// SPDX-License-Identifier: MIT
/*
 * Sending and receiving one packet with at most one fd. The receive side is
 * where stray fds die: a peer can attach fds to any packet, and every fd it
 * did not have to send is closed before the caller sees the message.
 */
#include "kmsgate-proto.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scm-fds.h"

/* Room for more fds than we accept, so that a peer sending a few extra ones
 * gets them closed (the kernel would otherwise drop them with MSG_CTRUNC,
 * which is also handled). */
#define RECV_FD_ROOM 8

int kg_proto_send(int sock, const void *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EMSGSIZE;
	return 0;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

static ssize_t recv_packet(int sock, void *buf, size_t cap, int *fd, size_t *len_out, int flags)
{
	union {
		char buf[CMSG_SPACE(RECV_FD_ROOM * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	int fds[RECV_FD_ROOM];
	unsigned nfds = 0;
	uint16_t type;
	uint32_t seq;
	ssize_t n;

	*fd = -1;
	if (len_out)
		*len_out = 0;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Never more than the room: the kernel cannot deliver more than the
	 * control buffer holds (MSG_CTRUNC below). */
	kg_scm_take_fds(&mh, fds, &nfds, RECV_FD_ROOM);
	if (len_out)
		*len_out = (size_t)n;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_fds(fds, nfds);
		return -EMSGSIZE;
	}
	if (n == 0) {
		close_fds(fds, nfds);
		return 0;
	}
	if (kg_proto_peek_header(buf, (size_t)n, &type, &seq) == 0 && kg_proto_type_has_fd(type)) {
		if (nfds == 1) {
			*fd = fds[0];
			return n;
		}
		close_fds(fds, nfds);
		return -EPROTO;
	}
	if (nfds > 0) {
		close_fds(fds, nfds);
		return -EPROTO;
	}
	return n;
}

ssize_t kg_proto_recv(int sock, void *buf, size_t cap, int *fd, size_t *len_out)
{
	return recv_packet(sock, buf, cap, fd, len_out, 0);
}

ssize_t kg_proto_peek(int sock, void *buf, size_t cap, int *fd, size_t *len_out)
{
	return recv_packet(sock, buf, cap, fd, len_out, MSG_PEEK);
}
