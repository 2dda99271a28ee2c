// SPDX-License-Identifier: MIT
/*
 * kg_vq: split virtqueues (virtio 1.x, section 2.7) from the device side.
 *
 * The guest can rewrite its rings while we read them, so every value read
 * from the rings is read once into a local (READ_ONCE style) and checked
 * there: head and next indexes against the table size, the avail index jump
 * against the queue size, chain length against the table size (loops),
 * buffer ranges against guest memory, write-only buffers after read-only.
 */
#include "virtqueue-private.h"
#include "iov.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

/* Linux allocates indirect tables with kmalloc; a table bigger than the
 * largest queue is not something a driver needs. Caps the walk. */
#define VQ_MAX_INDIRECT KG_VQ_MAX_SIZE
/* Longest chain walked, empty descriptors included: bounds the work one
 * pop can cost (a chain this long already exceeds KG_VQ_MAX_SG buffers
 * unless it is made of empty descriptors, which no driver sends). */
#define VQ_MAX_CHAIN (2 * KG_VQ_MAX_SG)

struct kg_vq *kg_vq_create(unsigned index)
{
	struct kg_vq *vq = calloc(1, sizeof(*vq));

	if (!vq)
		return NULL;
	vq->index = index;
	vq->call_fd = -1;
	vq->rekick_fd = -1;
	return vq;
}

void kg_vq_destroy(struct kg_vq *vq)
{
	if (!vq)
		return;
	if (vq->call_fd >= 0)
		close(vq->call_fd);
	free(vq->resubmit);
	free(vq);
}

int kg_vq_set_num(struct kg_vq *vq, unsigned num)
{
	if (vq->started)
		return -EBUSY;
	if (num == 0 || num > KG_VQ_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	vq->num = num;
	return 0;
}

int kg_vq_set_addr(struct kg_vq *vq, uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva)
{
	if (vq->started)
		return -EBUSY;
	vq->desc_uva = desc_uva;
	vq->avail_uva = avail_uva;
	vq->used_uva = used_uva;
	vq->addr_set = true;
	return 0;
}

int kg_vq_set_base(struct kg_vq *vq, uint16_t last_avail_idx)
{
	if (vq->started)
		return -EBUSY;
	vq->last_avail_idx = last_avail_idx;
	return 0;
}

uint16_t kg_vq_get_base(const struct kg_vq *vq)
{
	return vq->last_avail_idx;
}

void kg_vq_get_setup(const struct kg_vq *vq, uint32_t *num, uint32_t *addr_set, uint64_t *desc,
		     uint64_t *avail, uint64_t *used)
{
	*num = vq->num;
	*addr_set = vq->addr_set;
	*desc = vq->desc_uva;
	*avail = vq->avail_uva;
	*used = vq->used_uva;
}

void kg_vq_set_call_fd(struct kg_vq *vq, int fd)
{
	if (vq->call_fd >= 0)
		close(vq->call_fd);
	vq->call_fd = fd;
}

static int map_rings(struct kg_vq *vq)
{
	uint64_t event = vq->event_idx ? sizeof(uint16_t) : 0;
	uint64_t desc_len = (uint64_t)vq->num * sizeof(struct vring_desc);
	uint64_t avail_len = 4 + (uint64_t)vq->num * sizeof(uint16_t) + event;
	uint64_t used_len = 4 + (uint64_t)vq->num * sizeof(struct vring_used_elem) + event;

	vq->desc = kg_gmem_uva_to_va(vq->gm, vq->desc_uva, desc_len);
	vq->avail = kg_gmem_uva_to_va(vq->gm, vq->avail_uva, avail_len);
	vq->used = kg_gmem_uva_to_va(vq->gm, vq->used_uva, used_len);
	if (!vq->desc || !vq->avail || !vq->used)
		return -EFAULT;
	/* Alignment of virtio 1.x split rings (2.7); also what makes the
	 * atomic accesses below legal. */
	if ((uintptr_t)vq->desc % 16 || (uintptr_t)vq->avail % 2 || (uintptr_t)vq->used % 4)
		return -EFAULT;
	return 0;
}

int kg_vq_start(struct kg_vq *vq, const struct kg_gmem *gm)
{
	int ret;

	if (!vq->num || !vq->addr_set)
		return -EINVAL;
	vq->gm = gm;
	ret = map_rings(vq);
	if (ret < 0) {
		kg_warn("virtqueue %u: ring (desc 0x%llx avail 0x%llx used 0x%llx, %u entries) is "
			"not inside guest memory",
			vq->index, (unsigned long long)vq->desc_uva,
			(unsigned long long)vq->avail_uva, (unsigned long long)vq->used_uva,
			vq->num);
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return ret;
	}
	vq->used_idx = le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
	vq->signalled_used_valid = false;
	vq->pushed = false;
	vq->broken = false;
	kg_vq_refill(vq);
	vq->started = true;
	return 0;
}

void kg_vq_stop(struct kg_vq *vq)
{
	/* Whatever was in flight is dropped with the queue: nothing is left
	 * for a restarted process to answer. */
	vq_inflight_clear(vq);
	vq->started = false;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
}

void kg_vq_reset(struct kg_vq *vq)
{
	unsigned index = vq->index;

	kg_vq_stop(vq);
	kg_vq_set_call_fd(vq, -1);
	free(vq->resubmit);
	*vq = (struct kg_vq){ .index = index, .call_fd = -1, .rekick_fd = -1 };
}

void kg_vq_set_rekick_fd(struct kg_vq *vq, int fd)
{
	vq->rekick_fd = fd;
}

void kg_vq_refill(struct kg_vq *vq)
{
	vq->budget = vq->num;
	vq->rekicked = false;
}

/* Out of budget: come back through the event loop. */
static int yield(struct kg_vq *vq)
{
	if (!vq->rekicked && vq->rekick_fd >= 0)
		eventfd_write(vq->rekick_fd, 1);
	vq->rekicked = true;
	return 0;
}

int kg_vq_remap(struct kg_vq *vq)
{
	if (!vq->started)
		return 0;
	if (map_rings(vq) < 0) {
		kg_warn("virtqueue %u: ring left guest memory after a memory table change",
			vq->index);
		kg_vq_stop(vq);
		return -EFAULT;
	}
	return 0;
}

int kg_vq_set_features(struct kg_vq *vq, bool event_idx, bool indirect)
{
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	return kg_vq_remap(vq);
}

bool kg_vq_started(const struct kg_vq *vq)
{
	return vq->started;
}

bool kg_vq_broken(const struct kg_vq *vq)
{
	return vq->broken;
}

unsigned kg_vq_index(const struct kg_vq *vq)
{
	return vq->index;
}

/* One descriptor, read once. */
static void read_desc(const struct vring_desc *src, struct vring_desc *d)
{
	memcpy(d, src, sizeof(*d));
	compiler_barrier();
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* Maps [gpa, gpa + len) into iovecs, one per guest memory region crossed. */
static int add_buffer(const struct kg_gmem *gm, struct iovec *iov, uint64_t *iov_gpa, unsigned *n,
		      uint64_t gpa, uint32_t len)
{
	uint64_t left = len;

	while (left) {
		uint64_t contig;
		void *p = kg_gmem_gpa_map(gm, gpa, left, &contig);

		if (!p)
			return -EFAULT;
		if (*n >= KG_VQ_MAX_SG)
			return -E2BIG;
		iov[*n].iov_base = p;
		iov[*n].iov_len = contig;
		if (iov_gpa)
			iov_gpa[*n] = gpa;
		(*n)++;
		gpa += contig;
		left -= contig;
	}
	return 0;
}

static int add_desc(struct kg_vq *vq, const struct vring_desc *d, struct kg_vq_elem *elem)
{
	if (d->flags & VRING_DESC_F_WRITE)
		return add_buffer(vq->gm, elem->in, elem->in_gpa, &elem->in_num, d->addr, d->len);
	/* The device reads the command before it writes the response. */
	if (elem->in_num)
		return -EINVAL;
	return add_buffer(vq->gm, elem->out, NULL, &elem->out_num, d->addr, d->len);
}

static int walk_chain(struct kg_vq *vq, const struct vring_desc *table, unsigned size,
		      unsigned first, struct kg_vq_elem *elem)
{
	unsigned i = first, count = 0;
	struct vring_desc d;

	for (;;) {
		int ret;

		/* A chain longer than its table revisits a descriptor: a loop. */
		if (++count > size)
			return -ELOOP;
		if (count > VQ_MAX_CHAIN)
			return -E2BIG;
		read_desc(&table[i], &d);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return -EINVAL; /* nested, or not at the head */
		ret = add_desc(vq, &d, elem);
		if (ret < 0)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		i = d.next;
		if (i >= size)
			return -ERANGE;
	}
}

static int read_chain(struct kg_vq *vq, uint16_t head, struct kg_vq_elem *elem)
{
	const struct vring_desc *table;
	struct vring_desc d;

	elem->head = head;
	elem->out_num = 0;
	elem->in_num = 0;
	elem->epoch = kg_gmem_epoch(vq->gm);
	read_desc(&vq->desc[head], &d);
	if (!(d.flags & VRING_DESC_F_INDIRECT))
		return walk_chain(vq, vq->desc, vq->num, head, elem);

	if (!vq->indirect || (d.flags & VRING_DESC_F_NEXT))
		return -EINVAL;
	if (d.len == 0 || d.len % sizeof(struct vring_desc) ||
	    d.len / sizeof(struct vring_desc) > VQ_MAX_INDIRECT)
		return -EINVAL;
	table = kg_gmem_gpa_to_va(vq->gm, d.addr, d.len);
	if (!table)
		return -EFAULT;
	return walk_chain(vq, table, d.len / sizeof(struct vring_desc), 0, elem);
}

static uint16_t avail_idx(const struct kg_vq *vq)
{
	/* Acquire: ring entries written before idx are visible after it. */
	return le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
}

/* With EVENT_IDX the guest kicks only when avail passes avail_event: tell
 * it where we are, then look again so an entry added meanwhile is not
 * left waiting for a kick that will not come. */
static uint16_t pending_with_event(struct kg_vq *vq)
{
	uint16_t *avail_event = (uint16_t *)&vq->used->ring[vq->num];

	__atomic_store_n(avail_event, htole16(vq->last_avail_idx), __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (uint16_t)(avail_idx(vq) - vq->last_avail_idx);
}

static int fail(struct kg_vq *vq, int err, const char *what)
{
	if (!vq->broken)
		kg_warn("virtqueue %u: guest ring is malformed (%s): queue stopped until the "
			"guest resets the device",
			vq->index, what);
	vq->broken = true;
	return err;
}

int kg_vq_pop(struct kg_vq *vq, struct kg_vq_elem *elem)
{
	uint16_t pending, head;
	int ret;

	if (!vq->started)
		return 0;
	if (vq->broken)
		return -EIO;
	ret = vq_inflight_next(vq);
	if (ret >= 0) {
		head = (uint16_t)ret;
		ret = read_chain(vq, head, elem);
		if (ret < 0)
			return fail(vq, ret, "a chain left in flight is no longer valid");
		elem->resubmitted = true;
		return 1;
	}
	pending = (uint16_t)(avail_idx(vq) - vq->last_avail_idx);
	if (pending == 0 && vq->event_idx)
		pending = pending_with_event(vq);
	if (pending == 0)
		return 0;
	if (vq->budget == 0)
		return yield(vq);
	if (pending > vq->num)
		return fail(vq, -EINVAL, "avail index jumped past the queue size");
	head = le16toh(
		__atomic_load_n(&vq->avail->ring[vq->last_avail_idx % vq->num], __ATOMIC_RELAXED));
	if (head >= vq->num)
		return fail(vq, -ERANGE, "head index out of range");
	ret = read_chain(vq, head, elem);
	if (ret < 0)
		return fail(vq, ret,
			    ret == -ELOOP    ? "descriptor loop"
			    : ret == -EFAULT ? "buffer outside guest memory"
			    : ret == -E2BIG  ? "too many buffers"
			    : ret == -ERANGE ? "next index out of range"
					     : "bad descriptor flags or indirect table");
	elem->resubmitted = false;
	vq_inflight_popped(vq, head);
	vq->last_avail_idx++;
	vq->budget--;
	return 1;
}

int kg_vq_elem_refresh(const struct kg_vq *vq, struct kg_vq_elem *elem)
{
	uint64_t epoch = kg_gmem_epoch(vq->gm);

	if (elem->epoch == epoch)
		return 0;
	for (unsigned i = 0; i < elem->in_num; i++) {
		void *p = kg_gmem_gpa_to_va(vq->gm, elem->in_gpa[i], elem->in[i].iov_len);

		if (!p) {
			/* Nothing of this response may be written now. */
			elem->in_num = 0;
			elem->epoch = epoch;
			return -EFAULT;
		}
		elem->in[i].iov_base = p;
	}
	elem->epoch = epoch;
	return 0;
}

void kg_vq_push(struct kg_vq *vq, const struct kg_vq_elem *elem, uint32_t written)
{
	struct vring_used_elem *u;
	size_t in_size;

	if (!vq->started || elem->head >= vq->num)
		return;
	in_size = kg_iov_size(elem->in, elem->in_num);
	if (written > in_size)
		written = (uint32_t)in_size;
	u = &vq->used->ring[vq->used_idx % vq->num];
	__atomic_store_n(&u->id, htole32(elem->head), __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, htole32(written), __ATOMIC_RELAXED);
	vq_inflight_pushing(vq, elem->head);
	vq->used_idx++;
	vq->pushed = true;
	/* Release: the element (and the response bytes) before the index. */
	__atomic_store_n(&vq->used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
	vq_inflight_pushed(vq, elem->head);
}

static bool should_notify(struct kg_vq *vq)
{
	uint16_t old, event;
	bool valid;

	/* The used index store must be visible before we read what the guest
	 * asked for, or both sides may decide not to notify. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(le16toh(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED)) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	event = le16toh(__atomic_load_n(&vq->avail->ring[vq->num], __ATOMIC_RELAXED));
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	return !valid || vring_need_event(event, vq->used_idx, old);
}

void kg_vq_notify(struct kg_vq *vq)
{
	/* Nothing returned, nothing to tell (a kick that found the ring
	 * empty must not cost the guest an interrupt). */
	if (!vq->started || vq->call_fd < 0 || !vq->pushed)
		return;
	vq->pushed = false;
	if (!should_notify(vq))
		return;
	/* EAGAIN only when the counter is about to overflow: the guest has
	 * an interrupt pending anyway. */
	if (eventfd_write(vq->call_fd, 1) < 0 && errno != EAGAIN)
		kg_log_errno(KG_LOG_WARN, "virtqueue %u: cannot signal the call eventfd",
			     vq->index);
}
