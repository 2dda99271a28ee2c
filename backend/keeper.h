/* SPDX-License-Identifier: MIT */
/*
 * kg_keeper: what kmsgate-vgpu keeps in systemd's file descriptor store so
 * that, killed at any instruction and restarted by systemd
 * (kmsgate-vgpu@.service, Restart=always), it serves the same QEMU and the
 * same guest again without either noticing more than a pause
 * (docs/reliability.md).
 *
 * Stored (sd_notify(3) FDSTORE=1):
 *   "vgpu-state"   a memfd: the vhost-user connection's description
 *                  (struct kg_vu_saved, two copies, one switch word), each
 *                  queue's inflight record, the device's journal;
 *   "vgpu-fd-N"    every fd of the connection: the socket, guest RAM memfds,
 *                  kick/call/err eventfds, the back-end and GPU channels
 *                  (N: a serial, never reused, named in the description),
 *                  the KMS device's fd with --device, the broker
 *                  connection and its lease fds with --broker.
 * On a clean stop (SIGTERM) all are removed (FDSTOREREMOVE=1): a stopped
 * back-end leaves nothing to adopt.
 *
 * Without NOTIFY_SOCKET (not under systemd) nothing is kept: a restart
 * loses the guest's display, as before, and the log says so.
 */
#ifndef KG_KEEPER_H
#define KG_KEEPER_H

#include <stddef.h>

#include "output.h"
#include "vhost-user.h"

#define KG_KEEPER_STATE	    "vgpu-state"
#define KG_KEEPER_FD_PREFIX "vgpu-fd-"
/* The device's journal: room for the state of any Linux guest's display
 * (a resource with scattered pages costs about 16 bytes a page). */
#define KG_KEEPER_JOURNAL_SIZE (8u << 20)

struct kg_keeper;

/* NULL when not under systemd or when the store cannot be used (logged).
 * Takes the fds systemd passed (LISTEN_FDS) and the state they came with. */
struct kg_keeper *kg_keeper_open(void);
/* Stops keeping and closes what is unclaimed; the store keeps its copies
 * (the next process gets them). Accepts NULL. */
void kg_keeper_destroy(struct kg_keeper *k);
/* A clean stop: everything leaves the store. */
void kg_keeper_forget(struct kg_keeper *k);

/* The connection a dead process left (NULL: start afresh). */
const struct kg_vu_saved *kg_keeper_saved(struct kg_keeper *k);
const struct kg_vu_keeper *kg_keeper_ops(struct kg_keeper *k);
/* Ownership of the stored fd of serial passes to the caller; -1: none. */
int kg_keeper_fd_of(void *keeper, uint32_t serial);
void *kg_keeper_journal(struct kg_keeper *k, size_t *size);
/*
 * The KMS device kmsgate-vgpu opened (--device): kept too, so that the DRM
 * file, and with it the framebuffer on screen, outlives the process (a DRM
 * file's framebuffers are removed, and their planes turned off, when its
 * last fd closes). take: the stored fd of the dead process when it is the
 * same device as path and its connection is adopted, else -1 (open it
 * anew, then keep it).
 */
int kg_keeper_take_device(struct kg_keeper *k, const char *path);
void kg_keeper_keep_device(struct kg_keeper *k, int fd);
/*
 * The broker connection and its leases (--broker): kept too, so that the
 * broker revokes nothing and the lease's frame stays on screen. state is
 * libkmsgate's (kmsgate_save()).
 */
#define KG_KEEPER_BROKER_STATE 4096
struct kg_keeper_broker {
	int sock;
	int leases[KG_MAX_SCANOUTS];
	unsigned n;
	const void *state;
	size_t size;
};
/* What the dead process kept: 0 and *b (fds now the caller's, -1 for one
 * missing; state points into the keeper's file); -ENOENT: nothing;
 * -ESTALE: it died while keeping it, and that connection was ended (its
 * leases end: lease afresh, the broker may take a moment). */
int kg_keeper_take_broker(struct kg_keeper *k, struct kg_keeper_broker *b);
/* Stores the fds (copies) and the state. 0, or -errno (a restart then
 * leases afresh; logged by the store). */
int kg_keeper_keep_broker(struct kg_keeper *k, const struct kg_keeper_broker *b);
/* The kept connection leaves the store (its fds there are closed). */
void kg_keeper_forget_broker(struct kg_keeper *k);
/* After adopting (or not): stored fds nothing refers to leave the store. */
void kg_keeper_drop_unclaimed(struct kg_keeper *k);

#endif
