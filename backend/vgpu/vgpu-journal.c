// SPDX-License-Identifier: MIT
/*
 * The device's state as a journal of the commands that made it, in memory
 * that outlives the process (a memfd in systemd's fd store), so that a
 * restarted kmsgate-vgpu rebuilds the guest's resources, backings and
 * scanouts by running those commands again (docs/reliability.md).
 *
 * Why a journal of commands and not a dump of the structures: a restart
 * then rebuilds the state through the same handlers, with the same checks,
 * as the guest's own commands; there is no second decoder of device state
 * to get wrong or to fuzz apart. The journal holds only commands that
 * changed the state and succeeded (create, attach, detach, unref, set
 * scanout), appended right after they ran.
 *
 * Why it is always consistent (kill -9 at any instruction): an entry is
 * written first and counted after, by one aligned store of the slot's
 * length; an entry not counted does not exist. When a slot is full the
 * state is written afresh as the commands that make it (one create and one
 * attach per resource, one set-scanout per scanout) into the other slot,
 * which becomes the active one by one store: copy-on-write, the old slot
 * stays valid until the switch.
 *
 * Not kept: 3D (virglrenderer's state lives in the process), the cursor
 * (it comes back with the guest's next cursor update), the frame on each
 * scanout (kept on screen by the output; the next flush replaces it).
 */
#include "vgpu-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define JOURNAL_MAGIC "kgvgpuJ1"
/* A guest that flips sets its scanout every frame: the state is written
 * afresh every this many entries, so that a restart runs at most about
 * this many commands again (7 ms for 1600 on the TCG board VM), not an
 * hour of flips. */
#define JOURNAL_COMPACT_EVERY 512
#define STORE(p, v)	      __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)

struct journal_hdr {
	char magic[8];
	uint32_t active; /* slot appended to: 0 or 1 */
	uint32_t broken; /* 1: the state outgrew a slot; nothing to restore */
	uint64_t len[2]; /* bytes of entries in each slot */
};

/* Followed by the command's bytes, padded to 8. */
struct journal_entry {
	uint32_t len;
	uint32_t queue;
};

static uint64_t slot_size(const struct kg_vgpu *g)
{
	return ((g->journal_size - sizeof(struct journal_hdr)) / 2) & ~7ull;
}

static uint8_t *slot(const struct kg_vgpu *g, unsigned i)
{
	return (uint8_t *)g->journal + sizeof(struct journal_hdr) + i * slot_size(g);
}

static uint64_t entry_size(size_t len)
{
	return sizeof(struct journal_entry) + ((len + 7) & ~(size_t)7);
}

/* Writes one entry at *at in slot s; false when it does not fit. */
static bool put(struct kg_vgpu *g, unsigned s, uint64_t *at, const void *cmd, size_t len)
{
	struct journal_entry e = { (uint32_t)len, KG_VGPU_QUEUE_CONTROL };
	uint8_t *p;

	if (len > UINT32_MAX || entry_size(len) > slot_size(g) - *at)
		return false;
	p = slot(g, s) + *at;
	memcpy(p, &e, sizeof(e));
	memcpy(p + sizeof(e), cmd, len);
	*at += entry_size(len);
	return true;
}

/* The commands that make resource r: create, attach. */
static bool put_resource(struct kg_vgpu *g, unsigned s, uint64_t *at, const struct vgpu_resource *r)
{
	const struct vgpu_backing *b = r->backing;
	size_t n = b ? b->n_chunks : 0;
	/* The command that carries the entries: the create of a blob, the
	 * attach of a 2D resource (after its create). */
	size_t head = r->blob ? sizeof(struct virtio_gpu_resource_create_blob)
			      : sizeof(struct virtio_gpu_resource_attach_backing);
	size_t len = head + n * sizeof(struct virtio_gpu_mem_entry);
	struct virtio_gpu_mem_entry *ent;
	uint8_t *buf;
	bool ok;

	/* A blob whose pages left guest RAM shows nothing and can be made
	 * again by no command: it is not kept. */
	if (r->blob && !b)
		return true;
	buf = calloc(1, len);
	if (!buf)
		return false;
	ent = (struct virtio_gpu_mem_entry *)(buf + head);
	for (size_t i = 0; i < n; i++)
		ent[i] = (struct virtio_gpu_mem_entry){ .addr = b->chunk_gpa[i],
							.length = (uint32_t)b->chunks[i].len };
	if (r->blob) {
		struct virtio_gpu_resource_create_blob *c = (void *)buf;

		c->hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB;
		c->resource_id = r->id;
		c->blob_mem = VIRTIO_GPU_BLOB_MEM_GUEST;
		c->size = r->size;
		c->nr_entries = (uint32_t)n;
		ok = put(g, s, at, buf, len);
	} else {
		struct virtio_gpu_resource_create_2d c2 = {
			.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
			.resource_id = r->id,
			.format = r->fmt ? r->fmt->virtio : 0,
			.width = r->width,
			.height = r->height,
		};
		struct virtio_gpu_resource_attach_backing *a = (void *)buf;

		a->hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING;
		a->resource_id = r->id;
		a->nr_entries = (uint32_t)n;
		ok = put(g, s, at, &c2, sizeof(c2)) && (!n || put(g, s, at, buf, len));
	}
	free(buf);
	return ok;
}

static bool put_scanout(struct kg_vgpu *g, unsigned s, uint64_t *at, unsigned i)
{
	const struct vgpu_scanout *so = &g->scanouts[i];
	const struct vgpu_resource *r = vgpu_res_find(g, so->resource_id);
	struct virtio_gpu_rect rect = { so->r.x, so->r.y, so->r.width, so->r.height };

	if (!so->resource_id || !r)
		return true;
	if (r->blob && so->fmt) {
		struct virtio_gpu_set_scanout_blob c = {
			.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT_BLOB,
			.r = rect,
			.scanout_id = i,
			.resource_id = r->id,
			.width = r->width,
			.height = r->height,
			.format = so->fmt->virtio,
		};

		c.strides[0] = so->stride;
		c.offsets[0] = (uint32_t)(so->offset - (uint64_t)so->r.y * so->stride -
					  (uint64_t)so->r.x * so->fmt->cpp);
		return put(g, s, at, &c, sizeof(c));
	}
	struct virtio_gpu_set_scanout c = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT,
		.r = rect,
		.scanout_id = i,
		.resource_id = r->id,
	};
	return put(g, s, at, &c, sizeof(c));
}

/* Writes the whole state into the inactive slot and switches to it. */
static bool compact(struct kg_vgpu *g)
{
	struct journal_hdr *h = g->journal;
	unsigned s = !h->active;
	uint64_t at = 0;

	for (unsigned b = 0; b < VGPU_RES_BUCKETS; b++) {
		for (const struct vgpu_resource *r = g->res_table[b]; r; r = r->next) {
			if (!put_resource(g, s, &at, r))
				return false;
		}
	}
	for (unsigned i = 0; i < g->num_scanouts; i++) {
		if (!put_scanout(g, s, &at, i))
			return false;
	}
	STORE(h->len[s], at);
	STORE(h->active, s);
	return true;
}

static bool journaled(uint32_t type)
{
	switch (type) {
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB:
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
	case VIRTIO_GPU_CMD_SET_SCANOUT:
	case VIRTIO_GPU_CMD_SET_SCANOUT_BLOB:
		return true;
	default:
		return false;
	}
}

void vgpu_journal_note(struct kg_vgpu *g, const struct vgpu_cmd *c)
{
	struct journal_hdr *h = g->journal;
	uint64_t at;

	if (!h || g->restoring || c->error || !journaled(c->hdr.type) || h->broken)
		return;
	at = h->len[h->active];
	if (++g->journal_appends < JOURNAL_COMPACT_EVERY &&
	    put(g, h->active, &at, c->buf, c->len)) {
		STORE(h->len[h->active], at);
		return;
	}
	/* The state after this command, which already ran. */
	g->journal_appends = 0;
	if (compact(g))
		return;
	STORE(h->broken, 1);
	kg_err("vgpu: the guest's resources need more than %llu bytes of journal: a restart of "
	       "kmsgate-vgpu would lose them until the guest resets its device",
	       (unsigned long long)slot_size(g));
}

void vgpu_journal_clear(struct kg_vgpu *g)
{
	struct journal_hdr *h = g->journal;

	if (!h)
		return;
	STORE(h->len[0], 0);
	STORE(h->len[1], 0);
	STORE(h->broken, 0);
	g->journal_appends = 0;
}

static void discard_reply(void *data, void *token, const void *resp, size_t len)
{
	const struct virtio_gpu_ctrl_hdr *r = resp;
	unsigned *failed = data;

	if (len >= sizeof(*r) && r->type != VIRTIO_GPU_RESP_OK_NODATA)
		(*failed)++;
}

static void discard_drop(void *data, void *token)
{
}

static const struct kg_vgpu_transport replay_tp = { discard_reply, discard_drop };

/* Runs each entry of the active slot; returns the number run or -errno. */
static int replay(struct kg_vgpu *g, unsigned *failed)
{
	const struct journal_hdr *h = g->journal;
	uint64_t len = h->len[h->active], at = 0;
	const uint8_t *base = slot(g, h->active);
	int n = 0;

	while (at < len) {
		struct journal_entry e;
		uint8_t *cmd;

		if (len - at < sizeof(e))
			return -EBADMSG;
		memcpy(&e, base + at, sizeof(e));
		if (e.queue != KG_VGPU_QUEUE_CONTROL ||
		    e.len < sizeof(struct virtio_gpu_ctrl_hdr) || entry_size(e.len) > len - at)
			return -EBADMSG;
		cmd = malloc(e.len);
		if (!cmd)
			return -ENOMEM;
		memcpy(cmd, base + at + sizeof(e), e.len);
		/* Its fence was answered long ago. */
		((struct virtio_gpu_ctrl_hdr *)cmd)->flags = 0;
		kg_vgpu_submit(g, KG_VGPU_QUEUE_CONTROL, cmd, e.len, NULL);
		free(cmd);
		at += entry_size(e.len);
		n++;
	}
	return n;
}

int kg_vgpu_keep_journal(struct kg_vgpu *g, void *area, size_t size, bool restore)
{
	struct journal_hdr *h = area;
	const struct kg_vgpu_transport *tp = g->tp;
	void *tp_data = g->tp_data;
	unsigned failed = 0;
	int n;

	if (g->virgl)
		return -ENOTSUP;
	if (size < KG_VGPU_JOURNAL_MIN)
		return -EINVAL;
	g->journal = area;
	g->journal_size = size;
	if (!restore || memcmp(h->magic, JOURNAL_MAGIC, sizeof(h->magic))) {
		memset(h, 0, sizeof(*h));
		memcpy(h->magic, JOURNAL_MAGIC, sizeof(h->magic));
		return 0;
	}
	if (h->active > 1 || h->len[0] > slot_size(g) || h->len[1] > slot_size(g))
		return -EBADMSG;
	if (h->broken)
		return -ENODATA;
	g->restoring = true;
	g->tp = &replay_tp;
	g->tp_data = &failed;
	n = replay(g, &failed);
	g->tp = tp;
	g->tp_data = tp_data;
	g->restoring = false;
	g->journal_appends = n > 0 ? (unsigned)n : 0;
	if (n >= 0 && failed)
		kg_warn("vgpu: %u of the %d kept commands failed when run again", failed, n);
	return n;
}
