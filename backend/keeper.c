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
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define KEEPER_MAGIC  "kgvgpuK4"
#define KEEPER_QUEUES 2 /* virtio-gpu: control, cursor */
#define STORE(p, v)   __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)

/* The broker connection (--broker): its fds' serials and libkmsgate's
 * state. Written once, by the process that leased: the serials first, then
 * the fds go into the store, then `kept` commits it. Serials without `kept`
 * are a keep a kill interrupted: the next process ends that connection. */
struct keeper_broker {
	uint32_t kept; /* 1: this describes a live connection */
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
	uint32_t device; /* serial of the KMS device's fd (--device), 0: none */
	uint32_t pad;
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
	bool adopt; /* the file describes a live connection of a dead process */
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

/* Starts a new description of the front-end's connection. The magic, the
 * serial counter and the broker section stay as they are (the broker
 * connection is kept apart: a process killed before QEMU connected still
 * holds its leases), so no kill in here loses them. */
static void fresh(struct kg_keeper *k)
{
	struct keeper_file *f = k->f;

	if (memcmp(f->magic, KEEPER_MAGIC, sizeof(f->magic))) {
		memset(f, 0, sizeof(*f)); /* a new file, or another layout */
		memcpy(f->magic, KEEPER_MAGIC, sizeof(f->magic));
		return;
	}
	STORE(f->active, 0);
	memset(&f->device, 0,
	       offsetof(struct keeper_file, broker) - offsetof(struct keeper_file, device));
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
	fresh(k);
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
	if (!k->adopt)
		fresh(k);
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

/* The section's serials are sane (the file is ours, but a kill may have
 * been anywhere). */
static bool broker_sane(const struct keeper_broker *kb)
{
	return kb->n <= KG_MAX_SCANOUTS && kb->size <= sizeof(kb->state);
}

/* The connection of a keep a kill interrupted: shut down in every copy
 * (the store's too), so that the broker ends its leases now, not when
 * systemd gets to the FDSTOREREMOVE. */
static void end_unkept(struct kg_keeper *k)
{
	struct keeper_broker *kb = &k->f->broker;
	int fd = kb->sock ? kg_keeper_fd_of(k, kb->sock) : -1;

	if (fd >= 0) {
		shutdown(fd, SHUT_RDWR);
		close(fd);
	}
	for (unsigned i = 0; i < kb->n && i < KG_MAX_SCANOUTS; i++) {
		fd = kb->lease[i] ? kg_keeper_fd_of(k, kb->lease[i]) : -1;
		if (fd >= 0)
			close(fd);
	}
	kg_warn("broker: the previous kmsgate-vgpu died while keeping its connection; "
		"ended it, leasing the pipelines again");
	kg_keeper_forget_broker(k);
}

int kg_keeper_take_broker(struct kg_keeper *k, struct kg_keeper_broker *b)
{
	struct keeper_broker *kb;

	if (!k)
		return -ENOENT;
	kb = &k->f->broker;
	if (!kb->kept || !broker_sane(kb)) {
		if (!kb->sock)
			return -ENOENT;
		end_unkept(k);
		return -ESTALE;
	}
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
	uint32_t base = k->f->next_serial + 1;
	int ret = 0;

	if (b->n > KG_MAX_SCANOUTS || b->size > sizeof(kb->state))
		return -E2BIG;
	kg_keeper_forget_broker(k);
	/* The serials first: a kill from here on leaves them for the next
	 * process to end (end_unkept), never an fd nobody knows of. */
	kb->sock = base;
	for (unsigned i = 0; i < b->n; i++)
		kb->lease[i] = base + 1 + i;
	kb->n = b->n;
	kb->size = (uint32_t)b->size;
	memcpy(kb->state, b->state, b->size);
	STORE(k->f->next_serial, base + b->n);
#ifdef HAVE_SYSTEMD
	ret = notify_fd("FDSTORE=1", kb->sock, b->sock);
	for (unsigned i = 0; ret == 0 && i < b->n; i++)
		ret = notify_fd("FDSTORE=1", kb->lease[i], b->leases[i]);
#endif
	if (ret < 0) {
		kg_keeper_forget_broker(k); /* what went in goes out */
		return ret;
	}
	STORE(kb->kept, 1);
	return 0;
}

void kg_keeper_forget_broker(struct kg_keeper *k)
{
	struct keeper_broker *kb = &k->f->broker;

	STORE(kb->kept, 0);
	if (kb->sock)
		k_drop(k, kb->sock);
	for (unsigned i = 0; i < kb->n && i < KG_MAX_SCANOUTS; i++) {
		if (kb->lease[i])
			k_drop(k, kb->lease[i]);
	}
	kb->sock = kb->n = 0;
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
	fresh(k);
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
