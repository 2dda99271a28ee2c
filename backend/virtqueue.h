/* SPDX-License-Identifier: MIT */
/*
 * kg_vq: a split virtqueue driven from the device side.
 *
 * The guest owns the ring memory and may rewrite it at any time: every index,
 * descriptor, length and chain is checked on each access, indirect tables
 * included, and a malformed ring makes kg_vq_pop() fail instead of reading
 * outside guest memory.
 */
#ifndef KG_VIRTQUEUE_H
#define KG_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest-mem.h"

/* More than any virtio-gpu command needs (ATTACH_BACKING entries live in
 * guest memory, not in separate descriptors). */
#define KG_VQ_MAX_SG 64

struct kg_vq;

/* One popped descriptor chain. Held by value; the iovecs point into guest
 * memory and stay valid until the memory table changes or the queue stops. */
struct kg_vq_elem {
	uint16_t head;
	unsigned out_num; /* driver -> device buffers (the command) */
	unsigned in_num;  /* device -> driver buffers (the response) */
	struct iovec out[KG_VQ_MAX_SG];
	struct iovec in[KG_VQ_MAX_SG];
};

/*
 * Pops the next available chain. Returns 1 with *elem filled, 0 when the
 * ring is empty, -EINVAL (or another -errno) when the ring is malformed: the
 * device must then stop using the queue.
 */
int kg_vq_pop(struct kg_vq *vq, struct kg_vq_elem *elem);
/* Returns a chain to the guest with `written` bytes in its in buffers. */
void kg_vq_push(struct kg_vq *vq, const struct kg_vq_elem *elem, uint32_t written);
/* Interrupts the guest through the call eventfd if it asked for it. */
void kg_vq_notify(struct kg_vq *vq);
unsigned kg_vq_index(const struct kg_vq *vq);

/* Copies up to len bytes out of / into an iovec array starting at offset.
 * Return the number of bytes copied. */
size_t kg_iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len);
size_t kg_iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf,
		       size_t len);
size_t kg_iov_size(const struct iovec *iov, unsigned n);

#endif
