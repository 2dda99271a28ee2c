/* SPDX-License-Identifier: MIT */
/*
 * Sending fds with a message (SCM_RIGHTS), as QEMU does to a vhost-user
 * back-end: the unit tests, the fuzz targets and the test front-end play
 * that side.
 */
#ifndef KG_TEST_SCM_SEND_H
#define KG_TEST_SCM_SEND_H

#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

/* Above any receiver's room (KG_VU_MAX_FDS, the protocol's): tests send
 * too many fds on purpose. */
#define KG_TEST_SCM_MAX_FDS 32

struct kg_test_scm_buf {
	union {
		char b[CMSG_SPACE(sizeof(int) * KG_TEST_SCM_MAX_FDS)];
		struct cmsghdr align;
	};
};

/* Attaches nfds fds to mh as one SCM_RIGHTS message held in buf (nothing
 * for none). Returns false, mh untouched, for more than
 * KG_TEST_SCM_MAX_FDS. */
static inline bool kg_test_scm_attach(struct msghdr *mh, struct kg_test_scm_buf *buf,
				      const int *fds, unsigned nfds)
{
	struct cmsghdr *c;

	if (nfds > KG_TEST_SCM_MAX_FDS)
		return false;
	if (!nfds)
		return true;
	memset(buf, 0, sizeof(*buf));
	mh->msg_control = buf->b;
	mh->msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	return true;
}

#endif
