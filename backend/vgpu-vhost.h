/* SPDX-License-Identifier: MIT */
/*
 * kg_vgpu_vhost: the virtio-gpu device served over vhost-user. Binds kg_vgpu
 * to kg_vu: pops each descriptor chain, copies the command out of guest
 * memory, and pushes the response back into the chain's writable buffers.
 * Also forwards the output's hotplug to the guest as a display event.
 */
#ifndef KG_VGPU_VHOST_H
#define KG_VGPU_VHOST_H

#include "vgpu.h"
#include "vhost-user.h"

struct kg_loop;
struct kg_vgpu_vhost;

struct kg_vgpu_vhost_config {
	const char *socket_path;    /* where QEMU connects; NULL: kg_vgpu_vhost_serve_fd only */
	struct kg_vgpu_config vgpu; /* output, stats, caps, fifo; the rest is set here */
	/* The front-end went away (NULL: wait for the next one). */
	void (*disconnected)(void *data);
	void *disconnected_data;
};

/* Takes ownership of cfg->vgpu.output on success (on failure the caller
 * keeps it). Returns NULL with errno set (and a log line). */
struct kg_vgpu_vhost *kg_vgpu_vhost_create(struct kg_loop *loop,
					   const struct kg_vgpu_vhost_config *cfg);
/* Serves an already connected front-end socket (the fuzzer's socketpair):
 * kg_vu_serve_fd. Takes ownership of fd on every path; returns 0 or -errno. */
int kg_vgpu_vhost_serve_fd(struct kg_vgpu_vhost *v, int fd);
/*
 * Surviving a restart (docs/reliability.md): from now on k keeps the
 * transport's fds and records, and journal (size bytes, memory that outlives
 * the process) the device's state. adopt (NULL: a fresh start) is the
 * connection a dead process left, served again with the fds fd_of(k->data,
 * serial) gives and the state in journal. Returns 0 or -errno; -ENOTSUP
 * with 3D (nothing is kept then).
 */
int kg_vgpu_vhost_keep(struct kg_vgpu_vhost *v, const struct kg_vu_keeper *k, void *journal,
		       size_t size, const struct kg_vu_saved *adopt,
		       int (*fd_of)(void *data, uint32_t serial));
/* Disconnects QEMU, then destroys the output (which may complete its
 * frames into the device), then the device. Accepts NULL. */
void kg_vgpu_vhost_destroy(struct kg_vgpu_vhost *v);

#endif
