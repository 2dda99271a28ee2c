// SPDX-License-Identifier: MIT
#include "scm-fds.h"

#include <string.h>
#include <unistd.h>

bool kg_scm_take_fds(struct msghdr *mh, int *fds, unsigned *n, unsigned max)
{
	bool all_taken = true;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t count;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (*n < max) {
				fds[(*n)++] = fd;
			} else {
				close(fd);
				all_taken = false;
			}
		}
	}
	return all_taken;
}
