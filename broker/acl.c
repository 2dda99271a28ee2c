// SPDX-License-Identifier: MIT
#include "acl.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "number.h"

/* A cap on list length: an allow list is typed by an admin, and a bigger
 * one is more likely a mistake than a need. */
#define ACL_MAX_ENTRIES 256
#define ACL_NAME_MAX	64

static bool id_in(const unsigned *ids, size_t n, unsigned id)
{
	for (size_t i = 0; i < n; i++) {
		if (ids[i] == id)
			return true;
	}
	return false;
}

bool kg_acl_allows(const struct kg_acl *acl, const struct kg_cred *cred)
{
	if (cred->uid == 0)
		return true;
	if (id_in(acl->uids, acl->n_uids, cred->uid))
		return true;
	if (id_in(acl->gids, acl->n_gids, cred->gid))
		return true;
	for (size_t i = 0; i < cred->n_groups; i++) {
		if (id_in(acl->gids, acl->n_gids, cred->groups[i]))
			return true;
	}
	return false;
}

/* A numeric id; (uid_t)-1 is refused: the kernel uses it for "no id". */
static bool parse_id(const char *s, unsigned *out)
{
	return kg_number_parse_u32(s, UINT32_MAX - 1, out);
}

static int resolve_user(const char *name, unsigned *id)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (parse_id(name, id))
		return 0;
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*id = res->pw_uid;
	return 0;
}

static int resolve_group(const char *name, unsigned *id)
{
	struct group gr, *res = NULL;
	char buf[16384];

	if (parse_id(name, id))
		return 0;
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*id = res->gr_gid;
	return 0;
}

static int append_id(unsigned **ids, size_t *n, unsigned id)
{
	unsigned *grown;

	if (id_in(*ids, *n, id))
		return 0;
	if (*n >= ACL_MAX_ENTRIES)
		return -E2BIG;
	grown = realloc(*ids, (*n + 1) * sizeof(**ids));
	if (!grown)
		return -ENOMEM;
	grown[(*n)++] = id;
	*ids = grown;
	return 0;
}

static int add_list(unsigned **ids, size_t *n, const char *list, bool groups, char *err,
		    size_t errlen)
{
	const char *what = groups ? "group" : "user";
	const char *p = list;

	while (*p) {
		char name[ACL_NAME_MAX];
		size_t len = strcspn(p, ", \t");
		unsigned id;
		int ret;

		if (len == 0) {
			p++;
			continue;
		}
		if (len >= sizeof(name)) {
			snprintf(err, errlen, "%s name too long (max %d characters)", what,
				 ACL_NAME_MAX - 1);
			return -EINVAL;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		ret = groups ? resolve_group(name, &id) : resolve_user(name, &id);
		if (ret < 0) {
			snprintf(err, errlen,
				 "unknown %s '%s' (not a number, and not in the %s database)", what,
				 name, groups ? "group" : "passwd");
			return -EINVAL;
		}
		ret = append_id(ids, n, id);
		if (ret == -E2BIG) {
			snprintf(err, errlen, "too many %ss (max %d)", what, ACL_MAX_ENTRIES);
			return -EINVAL;
		}
		if (ret < 0) {
			snprintf(err, errlen, "out of memory");
			return ret;
		}
	}
	return 0;
}

int kg_acl_add_users(struct kg_acl *acl, const char *list, char *err, size_t errlen)
{
	_Static_assert(sizeof(uid_t) == sizeof(unsigned), "uid_t is not unsigned int");
	return add_list((unsigned **)&acl->uids, &acl->n_uids, list, false, err, errlen);
}

int kg_acl_add_groups(struct kg_acl *acl, const char *list, char *err, size_t errlen)
{
	_Static_assert(sizeof(gid_t) == sizeof(unsigned), "gid_t is not unsigned int");
	return add_list((unsigned **)&acl->gids, &acl->n_gids, list, true, err, errlen);
}

static int dup_ids(unsigned **dst, const unsigned *src, size_t n)
{
	*dst = NULL;
	if (n == 0)
		return 0;
	*dst = malloc(n * sizeof(*src));
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, n * sizeof(*src));
	return 0;
}

int kg_acl_copy(struct kg_acl *dst, const struct kg_acl *src)
{
	memset(dst, 0, sizeof(*dst));
	if (dup_ids((unsigned **)&dst->uids, src->uids, src->n_uids) < 0)
		return -ENOMEM;
	if (dup_ids((unsigned **)&dst->gids, src->gids, src->n_gids) < 0) {
		kg_acl_finish(dst);
		return -ENOMEM;
	}
	dst->n_uids = src->n_uids;
	dst->n_gids = src->n_gids;
	return 0;
}

bool kg_acl_is_empty(const struct kg_acl *acl)
{
	return acl->n_uids == 0 && acl->n_gids == 0;
}

void kg_acl_finish(struct kg_acl *acl)
{
	if (!acl)
		return;
	free(acl->uids);
	free(acl->gids);
	memset(acl, 0, sizeof(*acl));
}
