// SPDX-License-Identifier: MIT
/*
 * Resources (2D and guest blobs) and their backing in guest RAM. Zero copy:
 * the backing pages are the pixels, so TRANSFER_TO_HOST_2D only validates.
 */
#include "vgpu-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest-mem.h"
#include "log.h"

static unsigned res_bucket(uint32_t id)
{
	return (id * 2654435761u) >> 24 & (VGPU_RES_BUCKETS - 1);
}

struct vgpu_resource *vgpu_res_find(struct kg_vgpu *g, uint32_t id)
{
	for (struct vgpu_resource *r = g->res_table[res_bucket(id)]; r; r = r->next) {
		if (r->id == id)
			return r;
	}
	return NULL;
}

struct vgpu_backing *vgpu_backing_ref(struct vgpu_backing *b)
{
	b->refs++;
	return b;
}

void vgpu_backing_unref(struct vgpu_backing *b)
{
	if (b && --b->refs == 0)
		free(b);
}

bool vgpu_backing_valid(const struct kg_vgpu *g, const struct vgpu_backing *b)
{
	/* Not a look-up of the host address: a region mapped again at the
	 * same address (another memfd or offset) would pass that. Any table
	 * change that unmapped something moves the epoch. */
	return b->epoch == kg_gmem_epoch(g->gmem);
}

bool vgpu_backing_read(const struct vgpu_backing *b, uint64_t off, void *dst, size_t len)
{
	uint8_t *d = dst;

	if (!b || off > b->size || len > b->size - off)
		return false;
	for (unsigned i = 0; i < b->n_chunks && len; i++) {
		const struct kg_backing_chunk *ch = &b->chunks[i];
		size_t n;

		if (off >= ch->len) {
			off -= ch->len;
			continue;
		}
		n = ch->len - off < len ? ch->len - off : len;
		memcpy(d, (const uint8_t *)ch->va + off, n);
		d += n;
		len -= n;
		off = 0;
	}
	return len == 0;
}

/* Looks the resource up; a missing one is the guest's error. */
static struct vgpu_resource *res_get(struct kg_vgpu *g, struct vgpu_cmd *c, uint32_t id)
{
	struct vgpu_resource *r = vgpu_res_find(g, id);

	if (!r)
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	return r;
}

static void drop_backing(struct kg_vgpu *g, struct vgpu_resource *r)
{
	if (!r->backing)
		return;
	g->total_chunks -= r->backing->n_chunks;
	vgpu_backing_unref(r->backing);
	r->backing = NULL;
}

static void res_destroy(struct kg_vgpu *g, struct vgpu_resource *r)
{
	if (r->virgl)
		vgpu_3d_resource_gone(g, r);
	drop_backing(g, r);
	g->cnt.resources--;
	g->cnt.resource_bytes -= r->size;
	free(r);
}

void vgpu_res_destroy_all(struct kg_vgpu *g)
{
	for (unsigned i = 0; i < VGPU_RES_BUCKETS; i++) {
		while (g->res_table[i]) {
			struct vgpu_resource *r = g->res_table[i];
			g->res_table[i] = r->next;
			res_destroy(g, r);
		}
	}
}

struct vgpu_resource *vgpu_res_new(struct kg_vgpu *g, struct vgpu_cmd *c, uint32_t id,
				   uint64_t size)
{
	struct vgpu_resource *r;

	if (id == 0 || vgpu_res_find(g, id)) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return NULL;
	}
	/* The guest decides how many resources exist: cap them. */
	if (g->cnt.resources >= g->max_resources || size > g->max_resource_bytes ||
	    g->cnt.resource_bytes > g->max_resource_bytes - size) {
		kg_warn("vgpu: resource %u (%llu bytes) over the cap (%u resources, %llu MiB); "
			"raise --max-resource-mb if the guest needs more",
			id, (unsigned long long)size, g->cnt.resources,
			(unsigned long long)(g->max_resource_bytes >> 20));
		c->error = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		c->error = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		return NULL;
	}
	r->id = id;
	r->serial = g->next_generation++;
	r->size = size;
	r->next = g->res_table[res_bucket(id)];
	g->res_table[res_bucket(id)] = r;
	g->cnt.resources++;
	g->cnt.resource_bytes += size;
	return r;
}

void vgpu_cmd_create_2d(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_resource_create_2d cmd;
	const struct kg_format *fmt;
	struct vgpu_resource *r;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)))
		return;
	fmt = kg_format_from_virtio(cmd.format);
	if (!fmt || !cmd.width || !cmd.height || cmd.width > VGPU_MAX_DIM ||
	    cmd.height > VGPU_MAX_DIM) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	r = vgpu_res_new(g, c, cmd.resource_id, (uint64_t)cmd.width * cmd.height * fmt->cpp);
	if (!r)
		return;
	r->fmt = fmt;
	r->width = cmd.width;
	r->height = cmd.height;
}

bool vgpu_res_unref(struct kg_vgpu *g, uint32_t id)
{
	for (struct vgpu_resource **pp = &g->res_table[res_bucket(id)]; *pp; pp = &(*pp)->next) {
		struct vgpu_resource *r = *pp;

		if (r->id != id)
			continue;
		*pp = r->next;
		res_destroy(g, r);
		return true;
	}
	return false;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct virtio_gpu_mem_entry *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Entries that overlap would let one page appear twice in an image; a
 * guest has no reason to send them, so they are refused. */
static bool entries_overlap(const struct virtio_gpu_mem_entry *e, uint32_t n)
{
	struct virtio_gpu_mem_entry *s = malloc(n * sizeof(*s));
	bool overlap = false;

	if (!s)
		return true;
	memcpy(s, e, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_entry);
	for (uint32_t i = 1; i < n && !overlap; i++)
		overlap = s[i - 1].addr + s[i - 1].length > s[i].addr;
	free(s);
	return overlap;
}

/* Appends one guest range to the chunk list, merging it into the previous
 * chunk when it continues it in the same memfd. */
static bool add_chunk(struct kg_vgpu *g, struct vgpu_backing *b, uint64_t gpa, uint64_t len)
{
	struct kg_backing_chunk *prev = b->n_chunks ? &b->chunks[b->n_chunks - 1] : NULL;
	struct kg_gmem_span sp;

	if (!kg_gmem_lookup(g->gmem, gpa, len, &sp))
		return false;
	/* Merged chunks stay inside one region, so that they can be looked
	 * up again when the memory table changes (vgpu_res_remap_all). */
	if (prev && prev->memfd == sp.fd && (uint8_t *)prev->va + prev->len == sp.va &&
	    prev->fd_offset + prev->len == sp.fd_offset &&
	    kg_gmem_gpa_to_va(g->gmem, b->chunk_gpa[b->n_chunks - 1], prev->len + len)) {
		prev->len += len;
	} else {
		b->chunk_gpa[b->n_chunks] = gpa;
		b->chunks[b->n_chunks++] = (struct kg_backing_chunk){
			.va = sp.va, .len = len, .memfd = sp.fd, .fd_offset = sp.fd_offset
		};
	}
	b->size += len;
	return true;
}

static struct vgpu_backing *backing_alloc(uint32_t n)
{
	struct vgpu_backing *b =
		calloc(1, sizeof(*b) + n * (sizeof(b->chunks[0]) + sizeof(b->chunk_gpa[0])));

	if (b)
		b->chunk_gpa = (uint64_t *)&b->chunks[n];
	return b;
}

/* Made and checked: counted, and valid for the current memory table. */
static void backing_commit(struct kg_vgpu *g, struct vgpu_backing *b)
{
	b->refs = 1;
	b->generation = g->next_generation++;
	b->epoch = kg_gmem_epoch(g->gmem);
	g->total_chunks += b->n_chunks;
}

/*
 * Builds a backing from n entries at byte offset off of the command. Every
 * entry must lie inside guest RAM; the entry count and total size are
 * capped, and overlapping entries are refused.
 */
static struct vgpu_backing *backing_create(struct kg_vgpu *g, struct vgpu_cmd *c, size_t off,
					   uint32_t n)
{
	struct virtio_gpu_mem_entry *e = NULL;
	struct vgpu_backing *b = NULL;
	uint64_t total = 0;

	c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (n == 0 || n > g->max_backing_entries || !g->gmem)
		return NULL;
	if (off > c->len || (c->len - off) / sizeof(*e) < n) {
		c->error = VIRTIO_GPU_RESP_ERR_UNSPEC; /* the command is short */
		return NULL;
	}
	e = malloc(n * sizeof(*e));
	if (!e)
		goto oom;
	memcpy(e, c->buf + off, n * sizeof(*e));
	for (uint32_t i = 0; i < n; i++) {
		total += e[i].length; /* n * UINT32_MAX cannot wrap 64 bits */
		if (!e[i].length)
			goto free_entries;
	}
	if (total > g->max_resource_bytes || entries_overlap(e, n))
		goto free_entries;
	if (g->total_chunks + n > VGPU_MAX_TOTAL_CHUNKS) {
		kg_warn("vgpu: %llu backing chunks kept already; refusing %u more",
			(unsigned long long)g->total_chunks, n);
		goto oom_entries;
	}
	b = backing_alloc(n);
	if (!b)
		goto oom_entries;
	for (uint32_t i = 0; i < n; i++) {
		if (!add_chunk(g, b, e[i].addr, e[i].length)) {
			kg_dbg("vgpu: backing entry %u (%#llx + %u) outside guest RAM", i,
			       (unsigned long long)e[i].addr, e[i].length);
			goto free_backing;
		}
	}
	free(e);
	backing_commit(g, b);
	c->error = 0;
	return b;

free_backing:
	free(b);
free_entries:
	free(e);
	return NULL;
oom_entries:
	free(e);
oom:
	c->error = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	return NULL;
}

/*
 * The same guest ranges translated through the current memory table: a
 * backing is defined by guest addresses, its host pointers and memfds are
 * only where those lived when it was made. NULL when a range is no longer
 * inside one region of guest RAM (or out of memory).
 */
static struct vgpu_backing *backing_remap(struct kg_vgpu *g, const struct vgpu_backing *old)
{
	struct vgpu_backing *b = backing_alloc(old->n_chunks);

	if (!b)
		return NULL;
	for (unsigned i = 0; i < old->n_chunks; i++) {
		if (!add_chunk(g, b, old->chunk_gpa[i], old->chunks[i].len)) {
			free(b);
			return NULL;
		}
	}
	backing_commit(g, b);
	return b;
}

void vgpu_res_remap_all(struct kg_vgpu *g)
{
	for (unsigned i = 0; i < VGPU_RES_BUCKETS; i++) {
		for (struct vgpu_resource *r = g->res_table[i]; r; r = r->next) {
			struct vgpu_backing *b;

			if (!r->backing || vgpu_backing_valid(g, r->backing))
				continue;
			b = backing_remap(g, r->backing);
			drop_backing(g, r);
			if (b) {
				r->backing = b;
				if (!r->virgl || vgpu_3d_backing_changed(g, r))
					continue;
				drop_backing(g, r);
			}
			if (r->virgl)
				vgpu_3d_backing_changed(g, r); /* the renderer lets go */
			/* A blob cannot live without its pages; a 2D resource
			 * waits for the guest to attach new ones. */
			kg_warn("vgpu: resource %u: its backing is no longer in guest RAM after "
				"the memory table changed; %s",
				r->id,
				r->blob ? "it shows nothing until the guest recreates it"
					: "the guest must attach it again");
		}
	}
}

/* The non-blob resource an attach (attached false) or detach (attached
 * true) names, if its backing is in the state the command needs; else NULL
 * with the error set. */
static struct vgpu_resource *res_get_for_backing(struct kg_vgpu *g, struct vgpu_cmd *c, uint32_t id,
						 bool attached)
{
	struct vgpu_resource *r = res_get(g, c, id);

	if (r && (r->blob || (r->backing != NULL) != attached)) {
		c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return NULL;
	}
	return r;
}

void vgpu_cmd_attach_backing(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_resource_attach_backing cmd;
	struct vgpu_resource *r;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)))
		return;
	r = res_get_for_backing(g, c, cmd.resource_id, false);
	if (!r)
		return;
	r->backing = backing_create(g, c, sizeof(cmd), cmd.nr_entries);
	if (r->backing && r->virgl && !vgpu_3d_backing_changed(g, r)) {
		drop_backing(g, r);
		c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
}

void vgpu_cmd_detach_backing(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_resource_detach_backing cmd;
	struct vgpu_resource *r;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)))
		return;
	r = res_get_for_backing(g, c, cmd.resource_id, true);
	if (!r)
		return;
	drop_backing(g, r);
	if (r->virgl)
		vgpu_3d_backing_changed(g, r);
}

void vgpu_cmd_transfer_2d(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_transfer_to_host_2d cmd;
	struct vgpu_resource *r;
	uint64_t stride, need;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)))
		return;
	r = res_get(g, c, cmd.resource_id);
	if (!r)
		return;
	if (r->blob)
		return; /* a guest blob is its own pixels: nothing to do */
	if (r->virgl) {
		vgpu_3d_transfer_2d(g, c, r, &cmd);
		return;
	}
	if (!r->backing) {
		c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	if (!vgpu_rect_inside(&cmd.r, r->width, r->height)) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	/* The rows the guest says it wrote must be inside its backing. */
	stride = (uint64_t)r->width * r->fmt->cpp;
	need = (uint64_t)(cmd.r.height - 1) * stride + (uint64_t)cmd.r.width * r->fmt->cpp;
	if (cmd.offset > r->backing->size || need > r->backing->size - cmd.offset)
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
}

void vgpu_cmd_create_blob(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_resource_create_blob cmd;
	struct vgpu_resource *r;
	struct vgpu_backing *b;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)))
		return;
	if (!(g->features & 1ull << VIRTIO_GPU_F_RESOURCE_BLOB)) {
		c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	/* Host-memory blobs need a 3D renderer, which this device has not. */
	if (cmd.blob_mem != VIRTIO_GPU_BLOB_MEM_GUEST || !cmd.size) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	r = vgpu_res_new(g, c, cmd.resource_id, cmd.size);
	if (!r)
		return;
	r->blob = true;
	b = backing_create(g, c, sizeof(cmd), cmd.nr_entries);
	if (b && b->size < cmd.size) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		g->total_chunks -= b->n_chunks;
		vgpu_backing_unref(b);
		b = NULL;
	}
	if (!b) {
		/* Unlink the half-made resource again. */
		g->res_table[res_bucket(r->id)] = r->next;
		res_destroy(g, r);
		return;
	}
	r->backing = b;
}
