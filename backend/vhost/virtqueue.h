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
 * memory and stay valid until the memory table changes or the queue stops:
 * an element kept across a table change (a fenced response waiting for its
 * flip) is re-translated from in_gpa by kg_vq_elem_refresh() first. */
struct kg_vq_elem {
	uint16_t head;
	unsigned out_num; /* driver -> device buffers (the command) */
	unsigned in_num;  /* device -> driver buffers (the response) */
	uint64_t epoch;	  /* kg_gmem_epoch() the iovecs were translated in */
	struct iovec out[KG_VQ_MAX_SG];
	struct iovec in[KG_VQ_MAX_SG];
	uint64_t in_gpa[KG_VQ_MAX_SG]; /* guest address of each in iovec */
	/* Set when the chain was popped by a process that died before it
	 * answered (kg_vq_resume()): the device may have acted on it already,
	 * so it must act idempotently (vgpu: docs/reliability.md). */
	bool resubmitted;
};

/*
 * Pops the next available chain. Returns 1 with *elem filled, 0 when the
 * ring is empty (or the pop budget below is spent), -EINVAL (or another
 * -errno) when the ring is malformed: the device must then stop using the
 * queue.
 * Pop until 0 on every kick. With VIRTIO_RING_F_EVENT_IDX (QEMU passes the
 * guest's choice through, offered or not) the guest kicks again only after
 * the device saw the ring empty: a device that stops popping early must
 * come back to the queue on its own, no kick will remind it.
 */
int kg_vq_pop(struct kg_vq *vq, struct kg_vq_elem *elem);
/* Before writing into a kept element: translates its in buffers again if
 * the memory table unmapped something since it was popped. -EFAULT when a
 * buffer is no longer inside guest RAM: then it has no in buffers left (the
 * chain goes back with 0 bytes written). */
int kg_vq_elem_refresh(const struct kg_vq *vq, struct kg_vq_elem *elem);
/* Returns a chain to the guest with `written` bytes in its in buffers. */
void kg_vq_push(struct kg_vq *vq, const struct kg_vq_elem *elem, uint32_t written);
/* Interrupts the guest through the call eventfd if chains were pushed since
 * the last call and the guest asked for it (NO_INTERRUPT, or used_event
 * with EVENT_IDX). */
void kg_vq_notify(struct kg_vq *vq);
unsigned kg_vq_index(const struct kg_vq *vq);

/*
 * Set-up, used by kg_vu as the front-end configures the ring (and by tests).
 * A queue starts once its size and addresses are set and kg_vq_start()
 * finds all three ring parts inside guest memory.
 */
#define KG_VQ_MAX_SIZE 32768

/* NULL with errno set. */
struct kg_vq *kg_vq_create(unsigned index);
/* Closes the call fd. Accepts NULL. */
void kg_vq_destroy(struct kg_vq *vq);
/* Power of two, 1..KG_VQ_MAX_SIZE; -EINVAL otherwise, -EBUSY while started. */
int kg_vq_set_num(struct kg_vq *vq, unsigned num);
/* Ring addresses in QEMU's user address space (SET_VRING_ADDR). -EBUSY
 * while started. */
int kg_vq_set_addr(struct kg_vq *vq, uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva);
/* Next avail index to read (SET_VRING_BASE); -EBUSY while started. */
int kg_vq_set_base(struct kg_vq *vq, uint16_t last_avail_idx);
uint16_t kg_vq_get_base(const struct kg_vq *vq);
/* The setup SET_VRING_NUM and SET_VRING_ADDR gave (for the keeper). */
void kg_vq_get_setup(const struct kg_vq *vq, uint32_t *num, uint32_t *addr_set, uint64_t *desc,
		     uint64_t *avail, uint64_t *used);
/* Negotiated VIRTIO_RING_F_EVENT_IDX / VIRTIO_RING_F_INDIRECT_DESC. A
 * started queue is remapped (the event fields change the ring sizes). */
int kg_vq_set_features(struct kg_vq *vq, bool event_idx, bool indirect);
/* Takes ownership of fd (-1: none); the previous one is closed. */
void kg_vq_set_call_fd(struct kg_vq *vq, int fd);
/* Translates the ring through gm (kept by reference) and reads the used
 * index. Returns 0, -EINVAL if size or addresses are unset, -EFAULT if a
 * part is outside guest memory or misaligned. */
int kg_vq_start(struct kg_vq *vq, const struct kg_gmem *gm);
/* Translates again after the memory table changed; stops the queue and
 * returns -EFAULT if the ring is no longer inside guest memory. */
int kg_vq_remap(struct kg_vq *vq);
void kg_vq_stop(struct kg_vq *vq);
/* Back to the state after kg_vq_create() (front-end gone): stopped, call
 * fd closed, size, addresses, base and features forgotten. */
void kg_vq_reset(struct kg_vq *vq);
bool kg_vq_started(const struct kg_vq *vq);
/* True once kg_vq_pop() found the ring malformed (until the next start). */
bool kg_vq_broken(const struct kg_vq *vq);
/*
 * Pop budget. A guest can keep a ring non-empty for ever (refilling it as
 * fast as we pop, or aliasing the avail ring with the used ring or with a
 * response buffer), and a device that pops until empty would then never
 * return to the event loop. So kg_vq_pop() hands out at most one queue
 * size of chains per kick: then it returns 0 and writes 1 to the rekick
 * eventfd (borrowed; kg_vu passes the kick fd), so the loop serves
 * everything else and comes back to this queue. kg_vu refills the budget
 * on each kick; kg_vq_start() fills it once.
 */
void kg_vq_set_rekick_fd(struct kg_vq *vq, int fd);
void kg_vq_refill(struct kg_vq *vq);

/*
 * Inflight tracking, so that a restarted back-end answers every chain the
 * dead one popped, once (virtqueue-inflight.c). The record lives in memory
 * that outlives the process (a memfd kept in systemd's fd store); it is the
 * split-ring algorithm of vhost-user's "Inflight I/O tracking"
 * (docs/interop/vhost-user.rst), which QEMU's vhost-user-gpu front-end does
 * not negotiate, so the back-end keeps the region itself.
 *
 * Queues larger than KG_VQ_INFLIGHT_MAX are not tracked (QEMU's virtio-gpu
 * queues have 256 entries).
 */
#define KG_VQ_INFLIGHT_MAX 1024

struct kg_vq_inflight_desc {
	uint64_t counter; /* pop order */
	uint8_t inflight; /* popped, not yet pushed */
	uint8_t pad[7];
};

struct kg_vq_inflight {
	uint64_t counter;	  /* of the newest pop */
	uint16_t last_avail_idx;  /* next avail entry to pop */
	uint16_t used_idx;	  /* used->idx after the last completed push */
	uint16_t last_batch_head; /* head of the push in progress */
	uint16_t num;		  /* ring size while tracked, 0: not tracked */
	uint32_t pad;
	struct kg_vq_inflight_desc desc[KG_VQ_INFLIGHT_MAX];
};

/* Starts recording into inf (NULL: stops) from the queue's current state.
 * -E2BIG when the queue is larger than KG_VQ_INFLIGHT_MAX (not recorded).
 * Call while the queue is started; kg_vq_stop() ends recording. */
int kg_vq_track(struct kg_vq *vq, struct kg_vq_inflight *inf);
/*
 * Starts a queue (as kg_vq_start()) from a record a dead process left:
 * finishes the push or pop it was interrupted in, takes last_avail_idx from
 * the record, and queues every chain still in flight for kg_vq_pop() to
 * return first, in the order they were popped, with elem->resubmitted set.
 * Recording goes on into inf. The record is checked against the ring (a
 * corrupt record or a guest that rewrote its used ring cannot make us read
 * outside the ring); returns the number of chains resubmitted or -errno.
 */
int kg_vq_resume(struct kg_vq *vq, const struct kg_gmem *gm, struct kg_vq_inflight *inf);

#endif
