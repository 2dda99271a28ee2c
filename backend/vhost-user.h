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

#include <stdint.h>

#include "guest-mem.h"
#include "virtqueue.h"

struct kg_loop;
struct kg_vu_dev;

struct kg_vu_device_ops {
	/* Virtio device feature bits offered beyond the transport's own
	 * (VERSION_1, RING_INDIRECT_DESC, ... are added by kg_vu). */
	uint64_t features;
	unsigned num_queues;
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
	/* VHOST_USER_GPU_SET_SOCKET: the device takes ownership of fd. */
	void (*gpu_socket)(void *opaque, int fd);
	/* The front-end went away or reset the device: drop all guest state
	 * (resources, scanouts, pending fences); memory is unmapped after. */
	void (*reset)(void *opaque);
};

/* Listens on socket_path (replacing a stale socket) and serves one
 * front-end at a time, again after each disconnect. NULL with errno set. */
struct kg_vu_dev *kg_vu_create(struct kg_loop *loop, const char *socket_path,
			       const struct kg_vu_device_ops *ops, void *opaque);
/* Same, on an already listening socket (socket activation, tests). */
struct kg_vu_dev *kg_vu_create_from_fd(struct kg_loop *loop, int listen_fd,
				       const struct kg_vu_device_ops *ops, void *opaque);
void kg_vu_destroy(struct kg_vu_dev *dev);

const struct kg_gmem *kg_vu_gmem(const struct kg_vu_dev *dev);
/* Tells QEMU the config space changed (VHOST_USER_BACKEND_CONFIG_CHANGE_MSG),
 * for display hotplug events. Returns 0 or -errno (-ENOTSUP if the front-end
 * did not negotiate the backend request channel). */
int kg_vu_config_changed(struct kg_vu_dev *dev);

#endif
