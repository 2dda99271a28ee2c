// SPDX-License-Identifier: MIT
/*
 * kg_keeper: kmsgate-vgpu's side of systemd's file descriptor store
 * (keeper.h). The state memfd is written in place, never sent again: the
 * store holds the same file.
 *
 * Consistency under kill -9: the connection's description is written into
 * the copy not in use, then one aligned store of `active` switches to it;
 * the inflight records and the journal have their own single-store commit
 * points (virtqueue-inflight.c, vgpu-journal.c). An fd is stored before any
 * description names it and removed only after no description does, so at
 * worst a restart finds an extra fd, which it removes.
 */
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define KEEPER_MAGIC  "kgvgpuK3"
#define KEEPER_QUEUES 2 /* virtio-gpu: control, cursor */
#define STORE(p, v)   __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)

/* The broker connection (--broker): its fds' serials and libkmsgate's
 * state. Written once, by the process that leased; `kept` commits it. */
struct keeper_broker {
	uint32_t sock;
	uint32_t n;
	uint32_t lease[KG_MAX_SCANOUTS];
	uint32_t size;
	uint8_t state[KG_KEEPER_BROKER_STATE];
};

struct keeper_file {
	char magic[8];
	uint32_t active; /* saved[active] is the description */
	uint32_t next_serial;
	uint32_t device;      /* serial of the KMS device's fd (--device), 0: none */
	uint32_t broker_kept; /* 1: broker describes a live connection */
	struct kg_vu_saved saved[2];
	struct kg_vq_inflight inflight[KEEPER_QUEUES];
	struct keeper_broker broker;
};

#define JOURNAL_OFFSET (((sizeof(struct keeper_file) + 4095) / 4096) * 4096)
#define FILE_SIZE      (JOURNAL_OFFSET + KG_KEEPER_JOURNAL_SIZE)

struct stored_fd {
	uint32_t serial;
	int fd; /* -1 once claimed or closed */
};

struct kg_keeper {
	int state_fd;
	struct keeper_file *f;
	bool adopt;  /* the file describes a live connection of a dead process */
	bool broker; /* ... and a live broker connection (with or without) */
	struct stored_fd *inherited;
	size_t n_inherited;
	struct kg_vu_keeper ops;
};

#ifdef HAVE_SYSTEMD
static int notify_fd(const char *what, uint32_t serial, int fd)
{
	char msg[80];
	int ret;

	if (serial)
		snprintf(msg, sizeof(msg), "%s\nFDNAME=" KG_KEEPER_FD_PREFIX "%u", what, serial);
	else
		snprintf(msg, sizeof(msg), "%s\nFDNAME=" KG_KEEPER_STATE, what);
	ret = fd >= 0 ? sd_pid_notify_with_fds(0, 0, msg, &fd, 1) : sd_pid_notify(0, 0, msg);
	return ret > 0 ? 0 : ret < 0 ? ret : -ENOTCONN;
}

static uint32_t k_keep(void *data, int fd)
{
	struct kg_keeper *k = data;
	uint32_t serial = k->f->next_serial + 1;
	int ret = notify_fd("FDSTORE=1", serial, fd);

	if (ret < 0) {
		errno = -ret;
		kg_log_errno(
			KG_LOG_WARN,
			"cannot put an fd in systemd's fd store: a restart of kmsgate-vgpu "
			"will lose the guest's display (FileDescriptorStoreMax= in its unit?)");
		return 0;
	}
	STORE(k->f->next_serial, serial);
	return serial;
}

static void k_drop(void *data, uint32_t serial)
{
	notify_fd("FDSTOREREMOVE=1", serial, -1);
}
#else
static uint32_t k_keep(void *data, int fd)
{
	return 0;
}

static void k_drop(void *data, uint32_t serial)
{
}
#endif

static void k_save(void *data, const struct kg_vu_saved *s)
{
	struct kg_keeper *k = data;
	uint32_t next = !k->f->active;

	k->f->saved[next] = *s;
	STORE(k->f->active, next);
}

static struct kg_vq_inflight *k_inflight(void *data, unsigned queue)
{
	struct kg_keeper *k = data;

	return queue < KEEPER_QUEUES ? &k->f->inflight[queue] : NULL;
}

static int map_state(struct kg_keeper *k)
{
	struct stat st;

	if (fstat(k->state_fd, &st) < 0)
		return -errno;
	if (st.st_size != (off_t)FILE_SIZE && ftruncate(k->state_fd, FILE_SIZE) < 0)
		return -errno;
	k->f = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, k->state_fd, 0);
	if (k->f == MAP_FAILED) {
		k->f = NULL;
		return -errno;
	}
	return 0;
}

/* A description a dead process left, and whether it can be served. */
static bool usable(const struct keeper_file *f)
{
	const struct kg_vu_saved *s;

	if (memcmp(f->magic, KEEPER_MAGIC, sizeof(f->magic)) || f->active > 1)
		return false;
	s = &f->saved[f->active];
	return s->conn != 0 && s->nq == KEEPER_QUEUES;
}

/* Starts a new description. The broker connection is kept apart from the
 * front-end's: a process killed before QEMU connected still holds leases. */
static void fresh(struct kg_keeper *k, bool keep_broker)
{
	static struct keeper_broker broker; /* too big for the stack */
	uint32_t next = k->f->next_serial;  /* serials are never reused */

	if (keep_broker)
		broker = k->f->broker;
	memset(k->f, 0, sizeof(*k->f));
	memcpy(k->f->magic, KEEPER_MAGIC, sizeof(k->f->magic));
	k->f->next_serial = next;
	if (keep_broker) {
		k->f->broker = broker;
		k->f->broker_kept = 1;
	}
}

#ifdef HAVE_SYSTEMD
/* Sorts the fds systemd passed into the state memfd and serials. */
static int inherit(struct kg_keeper *k)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);

	if (n < 0)
		return n;
	k->inherited = calloc(n > 0 ? (size_t)n : 1, sizeof(*k->inherited));
	if (!k->inherited) {
		n = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names[i] ? names[i] : "";
		unsigned long serial;
		char *end;

		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (!strcmp(name, KG_KEEPER_STATE) && k->state_fd < 0) {
			k->state_fd = fd;
			continue;
		}
		if (strncmp(name, KG_KEEPER_FD_PREFIX, strlen(KG_KEEPER_FD_PREFIX)) == 0) {
			errno = 0;
			serial = strtoul(name + strlen(KG_KEEPER_FD_PREFIX), &end, 10);
			if (!errno && !*end && serial > 0 && serial <= UINT32_MAX) {
				k->inherited[k->n_inherited++] =
					(struct stored_fd){ (uint32_t)serial, fd };
				continue;
			}
		}
		kg_warn("systemd passed an fd named \"%s\" that kmsgate-vgpu does not know: "
			"closing it",
			name);
		close(fd);
	}
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return n < 0 ? n : 0;
}
#endif

static int create_state(struct kg_keeper *k)
{
	int ret;

	k->state_fd = memfd_create("kmsgate-vgpu-state", MFD_CLOEXEC);
	if (k->state_fd < 0)
		return -errno;
	ret = map_state(k);
	if (ret < 0)
		return ret;
	fresh(k, false);
#ifdef HAVE_SYSTEMD
	ret = notify_fd("FDSTORE=1", 0, k->state_fd);
	if (ret < 0)
		return ret;
#endif
	return 0;
}

static uint32_t highest_serial(const struct kg_keeper *k)
{
	uint32_t max = 0;

	for (size_t i = 0; i < k->n_inherited; i++) {
		if (k->inherited[i].serial > max)
			max = k->inherited[i].serial;
	}
	return max;
}

static int open_state(struct kg_keeper *k)
{
	int ret;

#ifdef HAVE_SYSTEMD
	ret = inherit(k);
	if (ret < 0)
		return ret;
#endif
	if (k->state_fd < 0)
		return create_state(k);
	ret = map_state(k);
	if (ret < 0)
		return ret;
	k->adopt = usable(k->f);
	k->broker = !memcmp(k->f->magic, KEEPER_MAGIC, sizeof(k->f->magic)) &&
		    k->f->broker_kept == 1 && k->f->broker.n <= KG_MAX_SCANOUTS &&
		    k->f->broker.size <= KG_KEEPER_BROKER_STATE;
	if (!k->adopt)
		fresh(k, k->broker);
	if (highest_serial(k) > k->f->next_serial)
		k->f->next_serial = highest_serial(k);
	kg_info("systemd's fd store passed kmsgate-vgpu's state and %zu fd(s): %s", k->n_inherited,
		k->adopt ? "serving the same front-end again"
			 : "no front-end was connected, starting afresh");
	return 0;
}

struct kg_keeper *kg_keeper_open(void)
{
	struct kg_keeper *k;
	int ret;

	if (!getenv("NOTIFY_SOCKET")) {
		kg_info("not under systemd: if kmsgate-vgpu dies, its guest's display is lost "
			"until QEMU restarts (run it as kmsgate-vgpu@.service to keep it)");
		return NULL;
	}
#ifndef HAVE_SYSTEMD
	kg_info("built without libsystemd: a restart of kmsgate-vgpu loses its guest's display");
	return NULL;
#endif
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->state_fd = -1;
	k->ops = (struct kg_vu_keeper){ k_keep, k_drop, k_save, k_inflight, k };
	ret = open_state(k);
	if (ret < 0) {
		errno = -ret;
		kg_log_errno(KG_LOG_WARN, "cannot keep kmsgate-vgpu's state in systemd's fd store; "
					  "a restart will lose the guest's display");
		kg_keeper_forget(k);
		kg_keeper_destroy(k);
		return NULL;
	}
	return k;
}

const struct kg_vu_saved *kg_keeper_saved(struct kg_keeper *k)
{
	return k && k->adopt ? &k->f->saved[k->f->active] : NULL;
}

const struct kg_vu_keeper *kg_keeper_ops(struct kg_keeper *k)
{
	return &k->ops;
}

/* The inherited, unclaimed fd of serial, or NULL. */
static struct stored_fd *inherited(struct kg_keeper *k, uint32_t serial)
{
	for (size_t i = 0; i < k->n_inherited; i++) {
		if (k->inherited[i].serial == serial && k->inherited[i].fd >= 0)
			return &k->inherited[i];
	}
	return NULL;
}

int kg_keeper_fd_of(void *keeper, uint32_t serial)
{
	struct stored_fd *s = inherited(keeper, serial);
	int fd = s ? s->fd : -1;

	if (s)
		s->fd = -1; /* claimed */
	return fd;
}

int kg_keeper_take_device(struct kg_keeper *k, const char *path)
{
	struct stat want, got;
	struct stored_fd *s;

	if (!k || !k->adopt || !k->f->device || stat(path, &want) < 0)
		return -1;
	s = inherited(k, k->f->device);
	/* Another device than --device now: it is dropped with the unclaimed. */
	if (!s || fstat(s->fd, &got) < 0 || !S_ISCHR(got.st_mode) || got.st_rdev != want.st_rdev)
		return -1;
	return kg_keeper_fd_of(k, k->f->device);
}

void kg_keeper_keep_device(struct kg_keeper *k, int fd)
{
	uint32_t old = k->f->device;

	STORE(k->f->device, k_keep(k, fd));
	if (old)
		k_drop(k, old);
}

int kg_keeper_take_broker(struct kg_keeper *k, struct kg_keeper_broker *b)
{
	const struct keeper_broker *kb;

	if (!k || !k->broker)
		return -ENOENT;
	kb = &k->f->broker;
	b->sock = kg_keeper_fd_of(k, kb->sock);
	b->n = kb->n;
	for (unsigned i = 0; i < kb->n; i++)
		b->leases[i] = kg_keeper_fd_of(k, kb->lease[i]);
	b->state = kb->state;
	b->size = kb->size;
	return 0;
}

int kg_keeper_keep_broker(struct kg_keeper *k, const struct kg_keeper_broker *b)
{
	struct keeper_broker *kb = &k->f->broker;

	if (b->n > KG_MAX_SCANOUTS || b->size > sizeof(kb->state))
		return -E2BIG;
	kg_keeper_forget_broker(k);
	/* The fds first, then their description, then the commit. */
	kb->sock = k_keep(k, b->sock);
	for (unsigned i = 0; i < b->n; i++)
		kb->lease[i] = k_keep(k, b->leases[i]);
	kb->n = b->n;
	kb->size = (uint32_t)b->size;
	memcpy(kb->state, b->state, b->size);
	for (unsigned i = 0; i < b->n; i++) {
		if (!kb->lease[i])
			return -EIO;
	}
	if (!kb->sock)
		return -EIO;
	STORE(k->f->broker_kept, 1);
	return 0;
}

void kg_keeper_forget_broker(struct kg_keeper *k)
{
	struct keeper_broker *kb = &k->f->broker;

	if (!k->f->broker_kept)
		return;
	STORE(k->f->broker_kept, 0);
	if (kb->sock)
		k_drop(k, kb->sock);
	for (unsigned i = 0; i < kb->n && i < KG_MAX_SCANOUTS; i++) {
		if (kb->lease[i])
			k_drop(k, kb->lease[i]);
	}
	k->broker = false;
}

void *kg_keeper_journal(struct kg_keeper *k, size_t *size)
{
	*size = KG_KEEPER_JOURNAL_SIZE;
	return (uint8_t *)k->f + JOURNAL_OFFSET;
}

void kg_keeper_drop_unclaimed(struct kg_keeper *k)
{
	for (size_t i = 0; k && i < k->n_inherited; i++) {
		if (k->inherited[i].fd < 0)
			continue;
		close(k->inherited[i].fd);
		k->inherited[i].fd = -1;
		k_drop(k, k->inherited[i].serial);
	}
}

void kg_keeper_forget(struct kg_keeper *k)
{
	if (!k || !k->f)
		return;
	if (k->f->device)
		k_drop(k, k->f->device);
	kg_keeper_forget_broker(k);
	/* The connection's fds left the store when it was dropped (kg_vu
	 * saves, then drops, on every path); what is left is the state. */
	fresh(k, false);
	kg_keeper_drop_unclaimed(k);
#ifdef HAVE_SYSTEMD
	notify_fd("FDSTOREREMOVE=1", 0, -1);
#endif
}

void kg_keeper_destroy(struct kg_keeper *k)
{
	if (!k)
		return;
	kg_keeper_drop_unclaimed(k);
	if (k->f)
		munmap(k->f, FILE_SIZE);
	if (k->state_fd >= 0)
		close(k->state_fd);
	free(k->inherited);
	free(k);
}
