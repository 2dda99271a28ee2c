/* SPDX-License-Identifier: MIT */
/*
 * File descriptors that arrived with a message (SCM_RIGHTS): the vhost-user
 * sockets (the front-end's and the vhost-user-gpu channel) and the broker's
 * protocol read them the same way.
 */
#ifndef KG_SCM_FDS_H
#define KG_SCM_FDS_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * Moves the fds carried by mh's control messages into fds[*n..max-1],
 * advancing *n; those that find no room are closed (max 0 closes them all).
 * Returns false when any were closed for lack of room.
 */
bool kg_scm_take_fds(struct msghdr *mh, int *fds, unsigned *n, unsigned max);

#endif
