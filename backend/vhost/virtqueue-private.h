/* SPDX-License-Identifier: MIT */
/*
 * The virtqueue's state, shared by virtqueue.c (the ring) and
 * virtqueue-inflight.c (the record that outlives the process).
 */
#ifndef KG_VIRTQUEUE_PRIVATE_H
#define KG_VIRTQUEUE_PRIVATE_H

#include "virtqueue.h"

#include <linux/virtio_ring.h>

#define compiler_barrier() __asm__ __volatile__("" ::: "memory")

struct kg_vq {
	unsigned index;
	const struct kg_gmem *gm;
	unsigned num; /* 0 until SET_VRING_NUM */
	bool addr_set;
	uint64_t desc_uva, avail_uva, used_uva;
	bool event_idx, indirect;

	bool started;
	bool broken;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	uint16_t last_avail_idx; /* next avail entry to pop */
	uint16_t used_idx;	 /* our copy of used->idx, never re-read */
	uint16_t signalled_used; /* used_idx at the last interrupt (EVENT_IDX) */
	bool signalled_used_valid;
	bool pushed; /* used entries added since the last notify */
	int call_fd;
	uint32_t budget; /* pops left until the next kick */
	int rekick_fd;	 /* borrowed; written when the budget runs out */
	bool rekicked;

	/* Inflight record (virtqueue-inflight.c): NULL when not recorded. */
	struct kg_vq_inflight *inf;
	uint16_t *resubmit; /* heads a dead process left in flight, pop order */
	unsigned n_resubmit, next_resubmit;
};

/* virtqueue-inflight.c, called by the ring code. */
void vq_inflight_popped(struct kg_vq *vq, uint16_t head);
void vq_inflight_pushing(struct kg_vq *vq, uint16_t head);
void vq_inflight_pushed(struct kg_vq *vq, uint16_t head);
/* The next chain a dead process left in flight, or -1. */
int vq_inflight_next(struct kg_vq *vq);
void vq_inflight_clear(struct kg_vq *vq);

#endif
