/* SPDX-License-Identifier: MIT */
/*
 * kg_fe_vring: the driver (guest) side of a split virtqueue in fake guest
 * RAM, as the Linux virtio driver lays it out. Each request is a chain of two
 * descriptors: the command (device-readable) and the response
 * (device-writable), in per-slot buffers inside guest RAM.
 */
#ifndef KG_FE_VRING_H
#define KG_FE_VRING_H

#include <stdint.h>

#include "fake-guest.h"
#include "vu-client.h"

#define KG_FE_VRING_NUM 64
#define KG_FE_SLOTS	8
#define KG_FE_REQ_MAX	(64 * 1024) /* ATTACH_BACKING of 4,000 entries */
#define KG_FE_RESP_MAX	4096

struct kg_fe_vring {
	unsigned index;
	uint8_t *base; /* our mapping of guest RAM */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t avail_idx, used_seen;
	int kick, call; /* eventfds */
	uint64_t slot_gpa[KG_FE_SLOTS];
	bool busy[KG_FE_SLOTS];
};

/* Lays the ring out in ram and hands it to the back-end (NUM, ADDR, BASE,
 * CALL, KICK, ENABLE). Returns 0 or -errno. */
int kg_fe_vring_init(struct kg_fe_vring *vr, unsigned index, struct kg_fg_ram *ram,
		     struct kg_fe_vu *vu);
void kg_fe_vring_finish(struct kg_fe_vring *vr);

/* A free slot's command buffer (KG_FE_REQ_MAX bytes), or NULL when all are
 * in flight. */
void *kg_fe_vring_req(struct kg_fe_vring *vr, int *slot);
/* Publishes slot's chain (req_len command bytes, a response buffer) and
 * kicks. */
void kg_fe_vring_submit(struct kg_fe_vring *vr, int slot, uint32_t req_len);
/* Waits up to timeout_ms for the next used element. Returns its slot (and
 * the response in *resp, len in *len) or -ETIMEDOUT / -EPROTO. The slot is
 * free again after the call. */
int kg_fe_vring_wait(struct kg_fe_vring *vr, int timeout_ms, const void **resp, uint32_t *len);

#endif
