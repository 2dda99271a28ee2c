/* SPDX-License-Identifier: MIT */
/*
 * kg_vu: the vhost-user back-end end of the socket QEMU's vhost-user-gpu
 * device connects to (docs/interop/vhost-user.rst).
 *
 * Written here because Debian packages no C library for the back-end side
 * (QEMU's libvhost-user is not shipped as a library, and it asserts on peer
 * input). It owns the socket, the memory table and the virtqueues; the
 * device (virtio-gpu) plugs in through kg_vu_device_ops.
 */
#ifndef KG_VHOST_USER_H
#define KG_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "guest-mem.h"
#include "virtqueue.h"

struct kg_loop;
struct kg_vu_dev;

#define KG_VU_MAX_QUEUES 8

struct kg_vu_device_ops {
	/* Virtio device feature bits offered beyond the transport's own
	 * (VERSION_1, RING_INDIRECT_DESC, ... are added by kg_vu). */
	uint64_t features;
	unsigned num_queues; /* 1..KG_VU_MAX_QUEUES */
	/* Fills the device config space; returns bytes written or -errno. */
	int (*get_config)(void *opaque, uint32_t offset, void *buf, uint32_t len);
	/* The guest accepted these features (VHOST_USER_SET_FEATURES). */
	void (*set_features)(void *opaque, uint64_t features);
	/* A queue was started; kicks follow through queue_kick. */
	void (*queue_started)(void *opaque, struct kg_vq *vq);
	/* The guest kicked the queue: pop and process what is available. */
	void (*queue_kick)(void *opaque, struct kg_vq *vq);
	/* A queue stopped (GET_VRING_BASE): forget every element of it. */
	void (*queue_stopped)(void *opaque, struct kg_vq *vq);
	/* SET_MEM_TABLE replaced guest RAM and the rings were remapped. Host
	 * pointers the device took from the old table may be gone
	 * (kg_gmem_epoch() tells): it must translate again what it keeps. */
	void (*mem_changed)(void *opaque);
	/* VHOST_USER_GPU_SET_SOCKET: the device takes ownership of fd (the
	 * vhost-user-gpu channel is the device's protocol, not the
	 * transport's). QEMU sends a new socket each time the guest driver
	 * becomes ready (DRIVER_OK), after closing the previous one. NULL:
	 * the message is refused and the fd closed. */
	void (*gpu_socket)(void *opaque, int fd);
	/* The front-end went away or reset the device: drop all guest state
	 * (resources, scanouts, pending fences); memory is unmapped after. */
	void (*reset)(void *opaque);
	/* The front-end's connection is closed (after reset). NULL: nothing
	 * to do; kmsgate-vgpu --fd exits then, as nothing else can connect. */
	void (*disconnected)(void *opaque);
	/* kg_vu_adopt(): the connection of a dead process is served again,
	 * guest memory and features are back, no queue runs yet: the device
	 * restores its own state now (its first kick may be a resubmitted
	 * command that refers to it). */
	void (*resumed)(void *opaque);
};

/*
 * Surviving our own restart (docs/reliability.md). A keeper, given by the
 * program, holds what outlives the process: copies of the connection's fds
 * (systemd's fd store), this plain-data description of the connection, and
 * each queue's inflight record (virtqueue.h), all in memory that outlives
 * it. kg_vu calls save() after every front-end message that changed the
 * connection, and only then drop() for the fds that message replaced, so a
 * saved description never names an fd the keeper no longer has.
 */
struct kg_vu_saved_queue {
	uint32_t num;
	uint32_t enabled;
	uint32_t addr_set;
	uint32_t base; /* next avail index when not running */
	uint64_t desc, avail, used;
	uint32_t kick, call, err; /* fd serials, 0: none */
	uint32_t pad;
};

struct kg_vu_saved {
	uint64_t features;
	uint64_t protocol_features;
	uint32_t conn;	  /* fd serial of the front-end connection, 0: none */
	uint32_t backend; /* SET_BACKEND_REQ_FD's socket */
	uint32_t gpu;	  /* GPU_SET_SOCKET's, handed to ops->gpu_socket */
	uint32_t pad;
	uint32_t nregions;
	uint32_t nq;
	struct kg_gmem_region regions[KG_GMEM_MAX_REGIONS];
	uint32_t region_fd[KG_GMEM_MAX_REGIONS];
	struct kg_vu_saved_queue q[KG_VU_MAX_QUEUES];
};

struct kg_vu_keeper {
	/* Keeps a copy of fd; returns its serial (> 0), 0 when it cannot. */
	uint32_t (*keep)(void *data, int fd);
	void (*drop)(void *data, uint32_t serial);
	void (*save)(void *data, const struct kg_vu_saved *s);
	/* Queue i's inflight record, NULL: none. */
	struct kg_vq_inflight *(*inflight)(void *data, unsigned queue);
	void *data;
};

/* From now on (kept by reference; NULL: stop keeping). */
void kg_vu_set_keeper(struct kg_vu_dev *dev, const struct kg_vu_keeper *k);
/*
 * Serves the front-end connection a dead process of ours left, from its
 * saved description: fd_of(data, serial) returns the stored fd of that
 * serial (ownership passes to kg_vu) or -1. Guest memory and the rings are
 * checked as when QEMU sends them; chains the dead process popped and did
 * not answer are returned first by the queues (elem->resubmitted). Returns
 * 0, or -errno with nothing adopted (the caller closes what it holds).
 */
int kg_vu_adopt(struct kg_vu_dev *dev, const struct kg_vu_saved *s,
		int (*fd_of)(void *data, uint32_t serial), void *data);

/* Listens on socket_path (replacing a stale socket) and serves one
 * front-end at a time, again after each disconnect. NULL with errno set. */
struct kg_vu_dev *kg_vu_create(struct kg_loop *loop, const char *socket_path,
			       const struct kg_vu_device_ops *ops, void *opaque);
/* Same, on an already listening socket (socket activation, tests); takes
 * ownership of listen_fd. listen_fd -1: no listener, front-ends come only
 * through kg_vu_serve_fd(). */
struct kg_vu_dev *kg_vu_create_from_fd(struct kg_loop *loop, int listen_fd,
				       const struct kg_vu_device_ops *ops, void *opaque);
/* Drops the front-end (ops->reset runs if one is connected), closes and
 * unlinks the socket. Accepts NULL. */
void kg_vu_destroy(struct kg_vu_dev *dev);
/* Serves an already connected front-end socket (socketpair in tests and
 * fuzzing, inetd-style activation). Takes ownership of fd on every path.
 * Returns 0, or -EBUSY while another front-end is connected. */
int kg_vu_serve_fd(struct kg_vu_dev *dev, int fd);
/* True while a front-end is connected. */
bool kg_vu_connected(const struct kg_vu_dev *dev);

const struct kg_gmem *kg_vu_gmem(const struct kg_vu_dev *dev);
/* Tells QEMU the config space changed (VHOST_USER_BACKEND_CONFIG_CHANGE_MSG),
 * for display hotplug events. Returns 0 or -errno (-ENOTSUP if the front-end
 * did not negotiate the backend request channel).
 * Beware: QEMU 10's vhost-user-gpu answers this message with "unhandled
 * backend config change" and keeps events_read/num_scanouts to itself
 * (hw/display/vhost-user-gpu.c), so with stock QEMU the guest sees no
 * display event from it; it works only with a front-end that handles it. */
int kg_vu_config_changed(struct kg_vu_dev *dev);

#endif
