/* SPDX-License-Identifier: MIT */
/*
 * kg_acl: who may acquire a pipeline (or revoke one), decided from the
 * peer's credentials as the kernel reported them (SO_PEERCRED and
 * SO_PEERGROUPS), never from anything the client says about itself.
 */
#ifndef KG_BROKER_ACL_H
#define KG_BROKER_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A list of uids and gids. Empty means "root only": a pipeline nobody was
 * given stays with root, so a forgotten allow list fails closed. */
struct kg_acl {
	uid_t *uids;
	size_t n_uids;
	gid_t *gids;
	size_t n_gids;
};

/* A peer's identity: uid, primary gid and supplementary groups. */
struct kg_cred {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
};

/* True when cred is root, is listed by uid, or has a listed group as its
 * primary or a supplementary group. */
bool kg_acl_allows(const struct kg_acl *acl, const struct kg_cred *cred);

/* Parses a comma- or space-separated list of user names or numeric uids
 * (group names or gids) and appends them. Names are resolved now, through
 * NSS. Returns 0, or -EINVAL with a message in err (unknown name, bad
 * number), or -ENOMEM. */
int kg_acl_add_users(struct kg_acl *acl, const char *list, char *err, size_t errlen);
int kg_acl_add_groups(struct kg_acl *acl, const char *list, char *err, size_t errlen);

/* Deep copy; returns 0 or -ENOMEM (dst is left empty then). */
int kg_acl_copy(struct kg_acl *dst, const struct kg_acl *src);
bool kg_acl_is_empty(const struct kg_acl *acl);
/* Frees the lists; accepts NULL. */
void kg_acl_finish(struct kg_acl *acl);

#endif
