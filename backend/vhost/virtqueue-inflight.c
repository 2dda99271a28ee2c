// SPDX-License-Identifier: MIT
/*
 * Inflight tracking of a split virtqueue: which chains were popped and not
 * yet answered, kept in memory that outlives the process, so that a
 * restarted back-end answers each of them once (virtqueue.h).
 *
 * The algorithm is vhost-user's "Inflight I/O tracking" for split rings
 * (docs/interop/vhost-user.rst). Every step is one aligned store to the
 * record; a process killed between two stores leaves at most one of two
 * ambiguities, both resolved from the ring itself by kg_vq_resume():
 *
 *   pop:  desc[head].counter = ++counter, desc[head].inflight = 1,
 *         then last_avail_idx++.
 *         Killed in between: the avail entry at last_avail_idx names a head
 *         that is in flight with the newest counter: it was popped.
 *   push: used ring entry, last_batch_head = head, used->idx++ (guest
 *         memory), then desc[head].inflight = 0, used_idx++.
 *         Killed in between: used->idx is one past the record's used_idx:
 *         last_batch_head was answered.
 *
 * Why not record in guest memory: the guest could rewrite it. The record
 * is ours (a memfd only this process and systemd hold); it is still
 * checked on resume, as a corrupt one must not make us read outside the
 * ring.
 */
#include "virtqueue-private.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define STORE(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)

int kg_vq_track(struct kg_vq *vq, struct kg_vq_inflight *inf)
{
	if (!inf) {
		vq->inf = NULL;
		return 0;
	}
	if (vq->num > KG_VQ_INFLIGHT_MAX)
		return -E2BIG;
	STORE(inf->num, 0); /* not valid while it is being set up */
	memset(inf->desc, 0, sizeof(inf->desc[0]) * vq->num);
	inf->counter = 0;
	inf->last_avail_idx = vq->last_avail_idx;
	inf->used_idx = vq->used_idx;
	inf->last_batch_head = 0;
	STORE(inf->num, (uint16_t)vq->num);
	vq->inf = inf;
	return 0;
}

void vq_inflight_popped(struct kg_vq *vq, uint16_t head)
{
	struct kg_vq_inflight *inf = vq->inf;

	if (!inf)
		return;
	STORE(inf->desc[head].counter, inf->counter + 1);
	STORE(inf->desc[head].inflight, 1);
	STORE(inf->counter, inf->counter + 1);
	STORE(inf->last_avail_idx, (uint16_t)(vq->last_avail_idx + 1));
}

void vq_inflight_pushing(struct kg_vq *vq, uint16_t head)
{
	if (vq->inf)
		STORE(vq->inf->last_batch_head, head);
}

void vq_inflight_pushed(struct kg_vq *vq, uint16_t head)
{
	struct kg_vq_inflight *inf = vq->inf;

	if (!inf)
		return;
	STORE(inf->desc[head].inflight, 0);
	STORE(inf->used_idx, vq->used_idx);
}

int vq_inflight_next(struct kg_vq *vq)
{
	if (vq->next_resubmit >= vq->n_resubmit)
		return -1;
	return vq->resubmit[vq->next_resubmit++];
}

void vq_inflight_clear(struct kg_vq *vq)
{
	if (vq->inf)
		STORE(vq->inf->num, 0);
	vq->inf = NULL;
	free(vq->resubmit);
	vq->resubmit = NULL;
	vq->n_resubmit = 0;
	vq->next_resubmit = 0;
}

/* Finishes a push the dead process was killed in. */
static void finish_push(struct kg_vq *vq, struct kg_vq_inflight *inf)
{
	uint16_t guest = vq->used_idx; /* read from guest memory by start */

	if (guest == inf->used_idx)
		return;
	if (guest == (uint16_t)(inf->used_idx + 1) && inf->last_batch_head < vq->num) {
		inf->desc[inf->last_batch_head].inflight = 0;
		inf->used_idx = guest;
		return;
	}
	/* Only the guest can have moved it: it gets what it asked for. */
	kg_warn("virtqueue %u: the used index in guest memory (%u) is not the one recorded "
		"(%u); the guest rewrote its ring",
		vq->index, guest, inf->used_idx);
	inf->used_idx = guest;
}

/* Finishes a pop the dead process was killed in. */
static void finish_pop(struct kg_vq *vq, struct kg_vq_inflight *inf)
{
	uint16_t avail = le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
	uint16_t head;

	if (avail == inf->last_avail_idx)
		return;
	head = le16toh(
		__atomic_load_n(&vq->avail->ring[inf->last_avail_idx % vq->num], __ATOMIC_RELAXED));
	if (head < vq->num && inf->desc[head].inflight && inf->counter &&
	    inf->desc[head].counter == inf->counter)
		inf->last_avail_idx++;
}

static int by_counter(const void *a, const void *b, void *arg)
{
	const struct kg_vq_inflight *inf = arg;
	uint64_t x = inf->desc[*(const uint16_t *)a].counter;
	uint64_t y = inf->desc[*(const uint16_t *)b].counter;

	return x < y ? -1 : x > y;
}

/* qsort_r is glibc's; the array is at most KG_VQ_INFLIGHT_MAX long. */
static void sort_heads(uint16_t *heads, unsigned n, struct kg_vq_inflight *inf)
{
	qsort_r(heads, n, sizeof(heads[0]), by_counter, inf);
}

int kg_vq_resume(struct kg_vq *vq, const struct kg_gmem *gm, struct kg_vq_inflight *inf)
{
	uint16_t *heads;
	unsigned n = 0;
	int ret;

	if (!inf || inf->num != vq->num || vq->num > KG_VQ_INFLIGHT_MAX)
		return -EINVAL;
	heads = malloc(sizeof(*heads) * vq->num);
	if (!heads)
		return -ENOMEM;
	vq->last_avail_idx = inf->last_avail_idx;
	ret = kg_vq_start(vq, gm);
	if (ret < 0) {
		free(heads);
		return ret;
	}
	finish_push(vq, inf);
	finish_pop(vq, inf);
	vq->last_avail_idx = inf->last_avail_idx;
	for (unsigned h = 0; h < vq->num; h++) {
		if (inf->desc[h].inflight)
			heads[n++] = (uint16_t)h;
	}
	sort_heads(heads, n, inf);
	free(vq->resubmit);
	vq->resubmit = heads;
	vq->n_resubmit = n;
	vq->next_resubmit = 0;
	vq->inf = inf;
	return (int)n;
}
