// SPDX-License-Identifier: MIT
/* libkmsgate: ACQUIRE, RELEASE, REVOKE and the lease accessors. */
#include "client-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xf86drmMode.h>

/* kmsgate.h promises a drop-in copy of drmModeModeInfo. */
_Static_assert(sizeof(struct kmsgate_mode) == sizeof(drmModeModeInfo), "mode size");
_Static_assert(offsetof(struct kmsgate_mode, vrefresh) == offsetof(drmModeModeInfo, vrefresh),
	       "mode layout");
_Static_assert(offsetof(struct kmsgate_mode, name) == offsetof(drmModeModeInfo, name),
	       "mode layout");

static int name_copy(char *dst, size_t n, const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len >= n)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (name[i] <= 0x20 || name[i] > 0x7e)
			return -EINVAL;
	}
	memset(dst, 0, n);
	memcpy(dst, name, len);
	return 0;
}

struct kmsgate_lease *kg_client_lease_new(struct kmsgate_client *c,
					  const struct kg_proto_lease *info, int fd)
{
	struct kmsgate_lease *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->client = c;
	l->fd = fd;
	l->info = *info;
	kg_client_planes_from_proto(l->planes, info->planes, info->n_planes);
	l->next = c->leases;
	c->leases = l;
	return l;
}

/* Sends the request and waits for its LEASE or ERROR. */
static int acquire_wait(struct kmsgate_client *c, struct kg_proto_msg *m, int *fd)
{
	int timeout =
		(m->u.acquire.flags & KG_PROTO_ACQUIRE_WAIT) ? -1 : KG_CLIENT_REPLY_TIMEOUT_MS;
	int r = kg_client_send(c, m);

	if (r < 0)
		return r;
	r = kg_client_wait(c, m->seq, m, fd, timeout);
	if (r < 0)
		return r;
	if (m->type == KG_PROTO_MSG_ERROR)
		return kg_client_error(c, m);
	if (m->type != KG_PROTO_MSG_LEASE || *fd < 0) {
		kg_client_break(c);
		return -EPROTO;
	}
	return 0;
}

struct kmsgate_lease *kmsgate_acquire(struct kmsgate_client *c, const char *name, uint32_t flags)
{
	struct kg_proto_msg *m = calloc(1, sizeof(*m));
	struct kmsgate_lease *l = NULL;
	int fd = -1, r;

	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->type = KG_PROTO_MSG_ACQUIRE;
	m->u.acquire.flags = flags & KG_PROTO_ACQUIRE_WAIT;
	r = name_copy(m->u.acquire.name, sizeof(m->u.acquire.name), name);
	if (r == 0 && (flags & ~KMSGATE_ACQUIRE_WAIT))
		r = -EINVAL;
	if (r == 0)
		r = acquire_wait(c, m, &fd);
	if (r == 0) {
		l = kg_client_lease_new(c, &m->u.lease, fd);
		if (!l) {
			/* Closing the fd alone keeps the broker's lease: say so. */
			close(fd);
			r = -ENOMEM;
		}
	}
	free(m);
	if (!l)
		errno = -r;
	return l;
}

int kmsgate_lease_fd(const struct kmsgate_lease *l)
{
	return l->fd;
}

const char *kmsgate_lease_name(const struct kmsgate_lease *l)
{
	return l->info.name;
}

uint32_t kmsgate_lease_lessee_id(const struct kmsgate_lease *l)
{
	return l->info.lessee_id;
}

uint32_t kmsgate_lease_connector_id(const struct kmsgate_lease *l)
{
	return l->info.connector_id;
}

uint32_t kmsgate_lease_crtc_id(const struct kmsgate_lease *l)
{
	return l->info.crtc_id;
}

int kmsgate_lease_mode(const struct kmsgate_lease *l, struct kmsgate_mode *mode)
{
	if (l->info.mode.clock == 0)
		return -ENOENT;
	kg_client_mode_from_proto(mode, &l->info.mode);
	return 0;
}

size_t kmsgate_lease_plane_count(const struct kmsgate_lease *l)
{
	return l->info.n_planes;
}

const struct kmsgate_plane *kmsgate_lease_plane(const struct kmsgate_lease *l, size_t i)
{
	return i < l->info.n_planes ? &l->planes[i] : NULL;
}

uint32_t kmsgate_lease_plane_id(const struct kmsgate_lease *l, uint32_t type)
{
	for (uint32_t i = 0; i < l->info.n_planes; i++) {
		if (l->planes[i].type == type)
			return l->planes[i].id;
	}
	return 0;
}

int kmsgate_lease_revoked(const struct kmsgate_lease *l)
{
	return l->revoked;
}

void kmsgate_lease_destroy(struct kmsgate_lease *l)
{
	if (!l)
		return;
	if (l->client) {
		struct kmsgate_lease **pp = &l->client->leases;

		while (*pp && *pp != l)
			pp = &(*pp)->next;
		if (*pp)
			*pp = l->next;
	}
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}

/* RELEASE and REVOKE: a name, answered by OK or ERROR. */
int kg_client_name_request(struct kmsgate_client *c, uint16_t type, const char *name)
{
	struct kg_proto_msg *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->type = type;
	r = name_copy(m->u.release.name, sizeof(m->u.release.name), name);
	if (r == 0)
		r = kg_client_send(c, m);
	if (r == 0)
		r = kg_client_wait(c, m->seq, m, NULL, KG_CLIENT_REPLY_TIMEOUT_MS);
	if (r == 0 && m->type == KG_PROTO_MSG_ERROR)
		r = kg_client_error(c, m);
	else if (r == 0 && (m->type != KG_PROTO_MSG_OK || m->u.ok.request_type != type)) {
		kg_client_break(c);
		r = -EPROTO;
	}
	free(m);
	return r;
}

int kmsgate_release(struct kmsgate_client *c, struct kmsgate_lease *l)
{
	char name[KG_PROTO_NAME_LEN];

	memcpy(name, l->info.name, sizeof(name));
	/* Close our fd first: the lease must not outlive the release. */
	kmsgate_lease_destroy(l);
	return kg_client_name_request(c, KG_PROTO_MSG_RELEASE, name);
}

int kmsgate_revoke(struct kmsgate_client *c, const char *name)
{
	return kg_client_name_request(c, KG_PROTO_MSG_REVOKE, name);
}
