// SPDX-License-Identifier: MIT
/*
 * libkmsgate: kmsgate_save() and kmsgate_adopt(), a connection handed on
 * to the next process (systemd's fd store; kmsgate.h).
 *
 * The state is this library's own: a fixed header and the leases' wire
 * descriptions. It never crosses a library version boundary unnoticed: the
 * magic names the layout and the sizes are checked. The broker is asked
 * (LIST) which leases are still ours rather than trusting the state: the
 * previous process may have died after the broker revoked one.
 */
#include "client-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define SAVE_MAGIC "kgclnt01"

struct saved {
	char magic[8];
	uint32_t lease_size; /* sizeof(struct kg_proto_lease): the layout */
	uint32_t n_leases;
	uint32_t next_seq;
	uint16_t version;
	uint16_t pad;
	char server_name[KG_PROTO_NAME_LEN];
	struct kg_proto_lease leases[]; /* in the order acquired */
};

long kmsgate_save(const struct kmsgate_client *c, void *buf, size_t size)
{
	struct saved *s = buf;
	size_t n = 0, need;

	if (c->broken)
		return -ECONNRESET;
	for (const struct kmsgate_lease *l = c->leases; l; l = l->next)
		n++;
	need = sizeof(*s) + n * sizeof(s->leases[0]);
	if (need > size)
		return (long)need;
	memset(s, 0, sizeof(*s));
	memcpy(s->magic, SAVE_MAGIC, sizeof(s->magic));
	s->lease_size = sizeof(s->leases[0]);
	s->n_leases = (uint32_t)n;
	s->next_seq = c->next_seq;
	s->version = c->version;
	memcpy(s->server_name, c->server_name, sizeof(s->server_name));
	/* c->leases is newest first. */
	for (const struct kmsgate_lease *l = c->leases; l; l = l->next)
		s->leases[--n] = l->info;
	return (long)need;
}

static bool text_ok(const char *t, size_t n)
{
	return memchr(t, 0, n) != NULL;
}

/* The state is ours, of this layout, whole, and its strings end. */
static bool state_ok(const struct saved *s, size_t size, size_t n_leases)
{
	if (size < sizeof(*s) || memcmp(s->magic, SAVE_MAGIC, sizeof(s->magic)) ||
	    s->lease_size != sizeof(s->leases[0]) || s->n_leases != n_leases ||
	    n_leases > (size - sizeof(*s)) / sizeof(s->leases[0]) ||
	    !text_ok(s->server_name, sizeof(s->server_name)))
		return false;
	for (size_t i = 0; i < n_leases; i++) {
		if (!text_ok(s->leases[i].name, sizeof(s->leases[i].name)) ||
		    s->leases[i].n_planes > KG_PROTO_MAX_PLANES)
			return false;
	}
	return true;
}

/* A lease the broker no longer lists as this connection's is revoked; a
 * pipeline it lists as ours that the state does not have (granted after
 * the last save: nobody here has its fd) is given back. */
static int check_leases(struct kmsgate_client *c)
{
	struct kmsgate_list *list = NULL;
	int r = kmsgate_list(c, &list);

	/* The broker restarted while answering (kill -9 and systemd): once
	 * more, the restarted one answers. */
	if (r == -ECANCELED)
		r = kmsgate_list(c, &list);
	if (r < 0)
		return r;
	for (struct kmsgate_lease *l = c->leases; l; l = l->next) {
		bool mine = false;

		for (size_t i = 0; i < kmsgate_list_count(list); i++) {
			const struct kmsgate_pipeline *p = kmsgate_list_get(list, i);

			if (strcmp(kmsgate_pipeline_name(p), l->info.name) == 0)
				mine = kmsgate_pipeline_mine(p);
		}
		if (!mine)
			l->revoked = true;
	}
	for (size_t i = 0; r == 0 && i < kmsgate_list_count(list); i++) {
		const struct kmsgate_pipeline *p = kmsgate_list_get(list, i);

		if (kmsgate_pipeline_mine(p) &&
		    !kg_client_find_lease(c, kmsgate_pipeline_name(p), false))
			r = kg_client_name_request(c, KG_PROTO_MSG_RELEASE,
						   kmsgate_pipeline_name(p));
	}
	kmsgate_list_free(list);
	/* NOT_HELD: it went meanwhile, as wanted. */
	return r == -ENOENT ? 0 : r;
}

/* Where this process's request numbers start: away from every earlier
 * process's on this connection (each adopted the same saved state), so
 * that none of their replies is taken for one of ours. */
static uint32_t seq_base(uint32_t saved)
{
	uint16_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint16_t)getpid();
	return saved + 0x10000u * (1u + r);
}

struct kmsgate_client *kmsgate_adopt(int fd, const void *state, size_t size, const int *lease_fds,
				     struct kmsgate_lease **leases, size_t n_leases)
{
	const struct saved *s = state;
	struct kmsgate_client *c = NULL;
	size_t i = 0;
	int r = -EINVAL;

	if (!state_ok(s, size, n_leases) || fd < 0)
		goto fail;
	for (size_t j = 0; j < n_leases; j++) {
		if (lease_fds[j] < 0) {
			r = -EBADF;
			goto fail;
		}
	}
	r = -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->fd = fd;
	c->queue = calloc(KG_CLIENT_MAX_QUEUED, sizeof(*c->queue));
	if (!c->queue)
		goto fail;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	c->version = s->version;
	memcpy(c->server_name, s->server_name, sizeof(c->server_name));
	c->adopted = true;
	c->next_seq = seq_base(s->next_seq);
	if (c->next_seq == 0)
		c->next_seq = 1;
	for (; i < n_leases; i++) {
		if (!(leases[i] = kg_client_lease_new(c, &s->leases[i], lease_fds[i])))
			goto fail;
		fcntl(lease_fds[i], F_SETFD, FD_CLOEXEC);
	}
	r = check_leases(c);
	if (r < 0)
		goto fail;
	return c;

fail:
	/* The connection ends, in every copy (the fd store's too): the
	 * broker ends its leases at once, and the caller may lease afresh. */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	/* Every fd is ours: the leases made so far close theirs, the rest
	 * are closed here. */
	for (size_t j = 0; j < i && c; j++)
		kmsgate_lease_destroy(leases[j]);
	for (size_t j = i; j < n_leases; j++) {
		if (lease_fds[j] >= 0)
			close(lease_fds[j]);
	}
	if (c)
		kmsgate_close(c);
	else if (fd >= 0)
		close(fd);
	errno = -r;
	return NULL;
}
