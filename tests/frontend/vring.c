// SPDX-License-Identifier: MIT
#include "vring.h"

#include <errno.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vhost-user-proto.h"

static struct vring_desc *desc(struct kg_fe_vring *vr)
{
	return (struct vring_desc *)(vr->base + vr->desc_gpa);
}

static struct vring_avail *avail(struct kg_fe_vring *vr)
{
	return (struct vring_avail *)(vr->base + vr->avail_gpa);
}

static struct vring_used *used(struct kg_fe_vring *vr)
{
	return (struct vring_used *)(vr->base + vr->used_gpa);
}

static int hand_over(struct kg_fe_vring *vr, struct kg_fe_vu *vu)
{
	struct kg_vu_vring_state num = { vr->index, KG_FE_VRING_NUM }, base = { vr->index, 0 };
	struct kg_vu_vring_state on = { vr->index, 1 };
	struct kg_vu_vring_addr addr = {
		.index = vr->index,
		.desc_user_addr = (uint64_t)(uintptr_t)(vr->base + vr->desc_gpa),
		.used_user_addr = (uint64_t)(uintptr_t)(vr->base + vr->used_gpa),
		.avail_user_addr = (uint64_t)(uintptr_t)(vr->base + vr->avail_gpa),
	};
	uint64_t idx = vr->index;
	int ret;

	ret = kg_fe_vu_request(vu, KG_VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0, NULL, 0);
	if (!ret)
		ret = kg_fe_vu_request(vu, KG_VU_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL,
				       0);
	if (!ret)
		ret = kg_fe_vu_request(vu, KG_VU_SET_VRING_BASE, &base, sizeof(base), NULL, 0, NULL,
				       0);
	if (!ret)
		ret = kg_fe_vu_request(vu, KG_VU_SET_VRING_CALL, &idx, 8, &vr->call, 1, NULL, 0);
	if (!ret)
		ret = kg_fe_vu_request(vu, KG_VU_SET_VRING_KICK, &idx, 8, &vr->kick, 1, NULL, 0);
	if (!ret && vu->protocol_features)
		ret = kg_fe_vu_request(vu, KG_VU_SET_VRING_ENABLE, &on, sizeof(on), NULL, 0, NULL,
				       0);
	return ret;
}

int kg_fe_vring_init(struct kg_fe_vring *vr, unsigned index, struct kg_fg_ram *ram,
		     struct kg_fe_vu *vu)
{
	int64_t ring = kg_fg_alloc(ram, 2 * 4096);

	memset(vr, 0, sizeof(*vr));
	vr->kick = vr->call = -1;
	if (ring < 0)
		return -ENOMEM;
	vr->index = index;
	vr->base = ram->map;
	vr->desc_gpa = (uint64_t)ring;
	vr->avail_gpa = vr->desc_gpa + 16 * KG_FE_VRING_NUM;
	vr->used_gpa = vr->desc_gpa + 4096;
	for (int s = 0; s < KG_FE_SLOTS; s++) {
		int64_t b = kg_fg_alloc(ram, KG_FE_REQ_MAX + KG_FE_RESP_MAX);
		if (b < 0)
			return -ENOMEM;
		vr->slot_gpa[s] = (uint64_t)b;
	}
	vr->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vr->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vr->kick < 0 || vr->call < 0)
		return -errno;
	return hand_over(vr, vu);
}

void kg_fe_vring_finish(struct kg_fe_vring *vr)
{
	if (vr->kick >= 0)
		close(vr->kick);
	if (vr->call >= 0)
		close(vr->call);
	vr->kick = vr->call = -1;
}

void *kg_fe_vring_req(struct kg_fe_vring *vr, int *slot)
{
	for (int s = 0; s < KG_FE_SLOTS; s++) {
		if (!vr->busy[s]) {
			*slot = s;
			return vr->base + vr->slot_gpa[s];
		}
	}
	return NULL;
}

void kg_fe_vring_submit(struct kg_fe_vring *vr, int slot, uint32_t req_len)
{
	struct vring_desc *d = desc(vr);
	uint16_t head = (uint16_t)(2 * slot);
	uint64_t one = 1;

	vr->busy[slot] = true;
	d[head] = (struct vring_desc){ vr->slot_gpa[slot], req_len, VRING_DESC_F_NEXT,
				       (uint16_t)(head + 1) };
	d[head + 1] = (struct vring_desc){ vr->slot_gpa[slot] + KG_FE_REQ_MAX, KG_FE_RESP_MAX,
					   VRING_DESC_F_WRITE, 0 };
	avail(vr)->ring[vr->avail_idx % KG_FE_VRING_NUM] = head;
	/* The device may read the ring as soon as idx moves. */
	__atomic_store_n(&avail(vr)->idx, ++vr->avail_idx, __ATOMIC_RELEASE);
	if (write(vr->kick, &one, 8) != 8)
		return; /* the wait reports the missing answer */
}

int kg_fe_vring_wait(struct kg_fe_vring *vr, int timeout_ms, const void **resp, uint32_t *len)
{
	struct pollfd p = { .fd = vr->call, .events = POLLIN };
	uint64_t v;

	for (;;) {
		uint16_t idx = __atomic_load_n(&used(vr)->idx, __ATOMIC_ACQUIRE);

		if (idx != vr->used_seen) {
			struct vring_used_elem e = used(vr)->ring[vr->used_seen % KG_FE_VRING_NUM];
			int slot = (int)(e.id / 2);

			vr->used_seen++;
			if (e.id % 2 || slot >= KG_FE_SLOTS || !vr->busy[slot])
				return -EPROTO;
			vr->busy[slot] = false;
			*resp = vr->base + vr->slot_gpa[slot] + KG_FE_REQ_MAX;
			*len = e.len;
			return slot;
		}
		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		if (read(vr->call, &v, 8) < 0 && errno != EAGAIN)
			return -errno;
	}
}
