// SPDX-License-Identifier: MIT
/*
 * The 3D commands (VIRTIO_GPU_F_VIRGL) on virglrenderer: capsets, contexts,
 * 3D resources, transfers, command submission, and 3D resources shown on a
 * scanout.
 *
 * Everything is checked here before virglrenderer sees it, where the spec
 * lets us: ids (contexts must exist, resources must be 3D ones), sizes
 * (the submitted stream inside the command, dimensions and levels within
 * what any GPU takes, the resource caps of 2D apply to 3D too), capset
 * index and version. The command stream itself is virglrenderer's to
 * decode (vrend_decode.c), as it is in QEMU.
 *
 * 2D resources stay guest pages shown without a copy: a guest may attach
 * one to a 3D context (a Linux guest attaches every buffer it opens), which
 * is accepted and means nothing to the renderer.
 */
#include "vgpu-private.h"

#include <drm_fourcc.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <virgl/virglrenderer.h>

#include "log.h"
#include "virgl.h"

/* Beyond any GPU's limits (GL's MAX_3D_TEXTURE_SIZE, MAX_ARRAY_TEXTURE_LAYERS). */
#define MAX_3D_DEPTH	       2048
#define MAX_3D_LAYERS	       2048
#define MAX_3D_LEVELS	       15
#define MAX_SAMPLES	       16
#define PIPE_BUFFER	       0 /* gallium's pipe_texture_target: a buffer, width in bytes */
#define PIPE_MAX_TEXTURE_TYPES 9
/* virglrenderer.h declares struct virgl_box without its members; it is
 * virtio_gpu_box's layout (six uint32_t), which QEMU passes it too. */
#define VIRGL_BOX(b) ((struct virgl_box *)(b))

bool vgpu_3d_enabled(const struct kg_vgpu *g)
{
	return g->virgl && g->features & 1ull << VIRTIO_GPU_F_VIRGL;
}

static void on_gpu_fence(void *data, uint32_t seq)
{
	vgpu_fences_gpu_done(data, seq);
}

void vgpu_3d_attach(struct kg_vgpu *g)
{
	kg_virgl_set_fence_cb(g->virgl, on_gpu_fence, g);
}

void vgpu_3d_detach(struct kg_vgpu *g)
{
	kg_virgl_set_fence_cb(g->virgl, NULL, NULL);
}

/* Every 3D command starts here: without the negotiated feature the guest
 * has no business sending it. */
static bool need_3d(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	if (vgpu_3d_enabled(g))
		return true;
	c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
	return false;
}

static int ctx_slot(const struct kg_vgpu *g, uint32_t id)
{
	for (int i = 0; i < VGPU_MAX_CONTEXTS; i++) {
		if (g->contexts[i] == id)
			return i;
	}
	return -1;
}

/* The command's context must exist (virglrenderer would look it up too,
 * but answers an unknown one with nothing the guest can act on). */
static bool ctx_ok(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	if (c->hdr.ctx_id && ctx_slot(g, c->hdr.ctx_id) >= 0)
		return true;
	c->error = VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	return false;
}

static struct vgpu_resource *res_3d(struct kg_vgpu *g, struct vgpu_cmd *c, uint32_t id)
{
	struct vgpu_resource *r = vgpu_res_find(g, id);

	if (!r || !r->virgl) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return NULL;
	}
	return r;
}

/* ---- capsets ------------------------------------------------------------ */

static const uint32_t capset_ids[] = { VIRTIO_GPU_CAPSET_VIRGL, VIRTIO_GPU_CAPSET_VIRGL2 };

void vgpu_cmd_get_capset_info(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_get_capset_info cmd;
	struct virtio_gpu_resp_capset_info *resp = &c->resp_buf.capset_info;
	uint32_t max_ver = 0, max_size = 0;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)) || !need_3d(g, c))
		return;
	if (cmd.capset_index >= sizeof(capset_ids) / sizeof(capset_ids[0])) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	virgl_renderer_get_cap_set(capset_ids[cmd.capset_index], &max_ver, &max_size);
	memset(resp, 0, sizeof(*resp));
	resp->hdr.type = VIRTIO_GPU_RESP_OK_CAPSET_INFO;
	resp->capset_id = capset_ids[cmd.capset_index];
	resp->capset_max_version = max_ver;
	resp->capset_max_size = max_size <= VGPU_MAX_CAPSET ? max_size : 0;
	c->resp_len = sizeof(*resp);
}

void vgpu_cmd_get_capset(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_get_capset cmd;
	struct virtio_gpu_ctrl_hdr *hdr = &c->resp_buf.hdr;
	uint32_t max_ver = 0, max_size = 0;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)) || !need_3d(g, c))
		return;
	virgl_renderer_get_cap_set(cmd.capset_id, &max_ver, &max_size);
	if (!max_size || max_size > VGPU_MAX_CAPSET || cmd.capset_version > max_ver ||
	    (cmd.capset_id != VIRTIO_GPU_CAPSET_VIRGL &&
	     cmd.capset_id != VIRTIO_GPU_CAPSET_VIRGL2)) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	memset(&c->resp_buf, 0, sizeof(*hdr) + max_size);
	hdr->type = VIRTIO_GPU_RESP_OK_CAPSET;
	virgl_renderer_fill_caps(cmd.capset_id, cmd.capset_version,
				 c->resp_buf.capset + sizeof(*hdr));
	c->resp_len = sizeof(*hdr) + max_size;
}

/* ---- contexts ----------------------------------------------------------- */

void vgpu_cmd_ctx_create(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_ctx_create cmd;
	uint32_t capset;
	int slot, ret;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)) || !need_3d(g, c))
		return;
	capset = cmd.context_init & VIRTIO_GPU_CONTEXT_INIT_CAPSET_ID_MASK;
	if (!c->hdr.ctx_id || ctx_slot(g, c->hdr.ctx_id) >= 0 ||
	    cmd.nlen > sizeof(cmd.debug_name) ||
	    (capset && capset != VIRTIO_GPU_CAPSET_VIRGL && capset != VIRTIO_GPU_CAPSET_VIRGL2)) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	slot = ctx_slot(g, 0);
	if (slot < 0) {
		kg_warn("vgpu: the guest holds %d 3D contexts already; context %u refused",
			VGPU_MAX_CONTEXTS, c->hdr.ctx_id);
		c->error = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		return;
	}
	ret = virgl_renderer_context_create(c->hdr.ctx_id, cmd.nlen, cmd.debug_name);
	if (ret) {
		kg_dbg("vgpu: virglrenderer refused context %u: %s", c->hdr.ctx_id, strerror(ret));
		c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	g->contexts[slot] = c->hdr.ctx_id;
}

void vgpu_cmd_ctx_destroy(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_ctx_destroy cmd;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)) || !need_3d(g, c) || !ctx_ok(g, c))
		return;
	virgl_renderer_context_destroy(c->hdr.ctx_id);
	g->contexts[ctx_slot(g, c->hdr.ctx_id)] = 0;
}

static void ctx_resource(struct kg_vgpu *g, struct vgpu_cmd *c, bool attach)
{
	struct virtio_gpu_ctx_resource cmd;
	struct vgpu_resource *r;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)) || !need_3d(g, c) || !ctx_ok(g, c))
		return;
	r = vgpu_res_find(g, cmd.resource_id);
	if (!r) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return;
	}
	if (!r->virgl)
		return; /* a 2D resource: nothing for the renderer (see the top) */
	if (attach)
		virgl_renderer_ctx_attach_resource(c->hdr.ctx_id, cmd.resource_id);
	else
		virgl_renderer_ctx_detach_resource(c->hdr.ctx_id, cmd.resource_id);
}

void vgpu_cmd_ctx_attach(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	ctx_resource(g, c, true);
}

void vgpu_cmd_ctx_detach(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	ctx_resource(g, c, false);
}

void vgpu_3d_reset(struct kg_vgpu *g)
{
	for (int i = 0; i < VGPU_MAX_CONTEXTS; i++) {
		if (g->contexts[i])
			virgl_renderer_context_destroy(g->contexts[i]);
		g->contexts[i] = 0;
	}
}

/* ---- resources ---------------------------------------------------------- */

/* What a 3D resource counts against the caps: 4 bytes a texel (most
 * formats; wider ones are under-counted, the renderer's own limits still
 * apply), every layer and slice, mip levels ignored. */
static bool size_3d(const struct virtio_gpu_resource_create_3d *a, uint64_t *size)
{
	uint64_t s;

	if (a->target >= PIPE_MAX_TEXTURE_TYPES || !a->width || !a->height || !a->depth ||
	    !a->array_size || a->depth > MAX_3D_DEPTH || a->array_size > MAX_3D_LAYERS ||
	    a->last_level >= MAX_3D_LEVELS || a->nr_samples > MAX_SAMPLES)
		return false;
	if (a->target == PIPE_BUFFER) {
		if (a->height != 1 || a->depth != 1 || a->array_size != 1)
			return false;
		*size = a->width;
		return true;
	}
	if (a->width > VGPU_MAX_DIM || a->height > VGPU_MAX_DIM)
		return false;
	s = (uint64_t)a->width * a->height * a->depth * a->array_size * 4;
	*size = s * (a->nr_samples ? a->nr_samples : 1);
	return true;
}

void vgpu_cmd_create_3d(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_resource_create_3d cmd;
	struct virgl_renderer_resource_create_args args;
	struct vgpu_resource *r;
	uint64_t size;
	int ret;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)) || !need_3d(g, c))
		return;
	if (!size_3d(&cmd, &size)) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	r = vgpu_res_new(g, c, cmd.resource_id, size);
	if (!r)
		return;
	args = (struct virgl_renderer_resource_create_args){
		.handle = cmd.resource_id,
		.target = cmd.target,
		.format = cmd.format,
		.bind = cmd.bind,
		.width = cmd.width,
		.height = cmd.height,
		.depth = cmd.depth,
		.array_size = cmd.array_size,
		.last_level = cmd.last_level,
		.nr_samples = cmd.nr_samples,
		.flags = cmd.flags,
	};
	ret = virgl_renderer_resource_create(&args, NULL, 0);
	if (ret) {
		kg_dbg("vgpu: virglrenderer refused 3D resource %u (target %u format %u %ux%ux%u): "
		       "%s",
		       cmd.resource_id, cmd.target, cmd.format, cmd.width, cmd.height, cmd.depth,
		       strerror(ret));
		vgpu_res_unref(g, cmd.resource_id);
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	r->virgl = true;
	r->dmabuf_fd = -1;
	r->width = cmd.width;
	r->height = cmd.height;
}

bool vgpu_3d_backing_changed(struct kg_vgpu *g, struct vgpu_resource *r)
{
	struct vgpu_backing *b = r->backing;
	struct iovec *iov = NULL;

	/* virglrenderer keeps the iov array: the old one goes only after it
	 * let go of it. */
	if (r->iov) {
		virgl_renderer_resource_detach_iov(r->id, NULL, NULL);
		free(r->iov);
		r->iov = NULL;
	}
	if (!b)
		return true;
	iov = calloc(b->n_chunks, sizeof(*iov));
	if (!iov)
		return false;
	for (unsigned i = 0; i < b->n_chunks; i++)
		iov[i] = (struct iovec){ b->chunks[i].va, b->chunks[i].len };
	if (virgl_renderer_resource_attach_iov(r->id, iov, (int)b->n_chunks)) {
		free(iov);
		return false;
	}
	r->iov = iov;
	return true;
}

void vgpu_3d_resource_gone(struct kg_vgpu *g, struct vgpu_resource *r)
{
	if (r->iov)
		virgl_renderer_resource_detach_iov(r->id, NULL, NULL);
	free(r->iov);
	r->iov = NULL;
	if (r->dmabuf_fd >= 0)
		close(r->dmabuf_fd);
	r->dmabuf_fd = -1;
	virgl_renderer_resource_unref(r->id);
}

/* ---- transfers and submission ------------------------------------------- */

static void transfer_3d(struct kg_vgpu *g, struct vgpu_cmd *c, bool to_host)
{
	struct virtio_gpu_transfer_host_3d cmd;
	struct vgpu_resource *r;
	int ret;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)) || !need_3d(g, c))
		return;
	if (c->hdr.ctx_id && !ctx_ok(g, c))
		return;
	r = res_3d(g, c, cmd.resource_id);
	if (!r)
		return;
	/* The renderer bounds the box by the level's size and the guest's
	 * bytes by the attached iov; these only keep the arithmetic sane. */
	if (!r->iov || !cmd.box.w || !cmd.box.h || !cmd.box.d || cmd.level >= MAX_3D_LEVELS ||
	    (uint64_t)cmd.box.x + cmd.box.w > UINT32_MAX ||
	    (uint64_t)cmd.box.y + cmd.box.h > UINT32_MAX ||
	    (uint64_t)cmd.box.z + cmd.box.d > UINT32_MAX || cmd.offset > r->backing->size) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	if (to_host)
		ret = virgl_renderer_transfer_write_iov(
			cmd.resource_id, c->hdr.ctx_id, (int)cmd.level, cmd.stride,
			cmd.layer_stride, VIRGL_BOX(&cmd.box), cmd.offset, NULL, 0);
	else
		ret = virgl_renderer_transfer_read_iov(cmd.resource_id, c->hdr.ctx_id, cmd.level,
						       cmd.stride, cmd.layer_stride,
						       VIRGL_BOX(&cmd.box), cmd.offset, NULL, 0);
	if (ret) {
		kg_dbg("vgpu: 3D transfer %s resource %u refused: %s", to_host ? "to" : "from",
		       cmd.resource_id, strerror(ret));
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
}

void vgpu_3d_transfer_2d(struct kg_vgpu *g, struct vgpu_cmd *c, struct vgpu_resource *r,
			 const struct virtio_gpu_transfer_to_host_2d *cmd)
{
	struct virtio_gpu_box box = { cmd->r.x, cmd->r.y, 0, cmd->r.width, cmd->r.height, 1 };
	int ret;

	if (!r->iov || !vgpu_rect_inside(&cmd->r, r->width, r->height) ||
	    cmd->offset > r->backing->size) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	ret = virgl_renderer_transfer_write_iov(r->id, 0, 0, 0, 0, VIRGL_BOX(&box), cmd->offset,
						NULL, 0);
	if (ret) {
		kg_dbg("vgpu: 2D transfer to 3D resource %u refused: %s", r->id, strerror(ret));
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
}

void vgpu_cmd_transfer_to_host_3d(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	transfer_3d(g, c, true);
}

void vgpu_cmd_transfer_from_host_3d(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	transfer_3d(g, c, false);
}

void vgpu_cmd_submit_3d(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_cmd_submit cmd;
	void *stream;
	int ret;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)) || !need_3d(g, c) || !ctx_ok(g, c))
		return;
	/* The stream is dwords, all inside the command the guest sent. */
	if (cmd.size % 4 || cmd.size > c->len - sizeof(cmd)) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	if (!cmd.size)
		return;
	/* virglrenderer's prototype takes a writable buffer: give it its own. */
	stream = malloc(cmd.size);
	if (!stream) {
		c->error = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		return;
	}
	memcpy(stream, c->buf + sizeof(cmd), cmd.size);
	ret = virgl_renderer_submit_cmd(stream, (int)c->hdr.ctx_id, (int)(cmd.size / 4));
	free(stream);
	if (ret) {
		kg_dbg("vgpu: context %u: virglrenderer refused a %u-byte command stream: %s",
		       c->hdr.ctx_id, cmd.size, strerror(ret));
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
}

/* ---- fences ------------------------------------------------------------- */

void vgpu_3d_fence(struct kg_vgpu *g, struct vgpu_fence *f)
{
	f->gpu_seq = ++g->gpu_seq;
	f->gpu_wait = true;
	/* Fences of the renderer's context 0 retire in order after everything
	 * submitted before them, on every context (what QEMU relies on too). */
	if (virgl_renderer_create_fence((int)f->gpu_seq, 0)) {
		kg_warn("vgpu: virglrenderer could not make fence %u; answering at once",
			f->gpu_seq);
		f->gpu_wait = false;
	}
}

/* ---- scanout ------------------------------------------------------------ */

bool vgpu_3d_scanout_info(struct kg_vgpu *g, struct vgpu_resource *r, uint32_t *w, uint32_t *h,
			  const struct kg_format **fmt)
{
	struct virgl_renderer_resource_info info;

	if (virgl_renderer_resource_get_info((int)r->id, &info))
		return false;
	/* The guest's format (virgl formats are gallium's, whose 32-bit RGB
	 * values are virtio-gpu's): what a readback gives. The storage may
	 * differ (try_export). */
	*fmt = kg_format_from_virtio(info.virgl_format);
	if (!*fmt) {
		kg_warn("vgpu: 3D resource %u has format %u (fourcc %#x), which no scanout takes",
			r->id, info.virgl_format, info.drm_fourcc);
		return false;
	}
	*w = info.width;
	*h = info.height;
	return true;
}

/* Exports the render target once; a refusal is remembered (read back). */
static void try_export(struct vgpu_resource *r, const struct kg_format *guest)
{
	struct virgl_renderer_resource_info info;
	const struct kg_format *storage;
	int fd = -1, stride = 0, offset = 0, ret;

	if (r->export_tried)
		return;
	r->export_tried = true;
	if (virgl_renderer_resource_get_info((int)r->id, &info))
		return;
	/* virglrenderer keeps BGRA/BGRX as GL_RGBA8 (vrend_formats.c): the
	 * dmabuf is RGBA in memory whatever the guest asked for. Padding
	 * must not become alpha on a plane. */
	storage = kg_format_from_drm((uint32_t)info.drm_fourcc);
	if (!storage) {
		kg_info("vgpu: 3D resource %u is stored as fourcc %#x, which no scanout takes: "
			"its frames are read back (copied)",
			r->id, info.drm_fourcc);
		return;
	}
	if (guest->a_shift < 0)
		storage = kg_format_opaque(storage);
	/* Stored upside down (GL's row order) for the guest's view: the
	 * readback turns it, a plane would show it inverted. */
	if (info.flags & VIRTIO_GPU_RESOURCE_FLAG_Y_0_TOP) {
		kg_info("vgpu: 3D resource %u is stored upside down (Y_0_TOP): its frames are "
			"read back (copied), not scanned out",
			r->id);
		return;
	}
	ret = virgl_renderer_get_fd_for_texture2(info.tex_id, &fd, &stride, &offset);
	if (ret || fd < 0) {
		kg_info("vgpu: 3D resource %u: the renderer exports no dmabuf of it (%s): its "
			"frames are read back (copied)",
			r->id, strerror(ret ? ret : EINVAL));
		return;
	}
	r->dmabuf_fd = fd;
	r->dmabuf_stride = (uint32_t)stride;
	r->dmabuf_offset = (uint32_t)offset;
	r->dmabuf_format = storage->drm;
	kg_info("vgpu: 3D resource %u: exported as a dmabuf (%.4s, stride %d; the guest sees "
		"%s)",
		r->id, (const char *)&storage->drm, stride, guest->name);
}

static int read_frame(void *data, const struct kg_rect *rect, void *dst, uint32_t dst_stride)
{
	struct vgpu_present *p = data;
	struct virtio_gpu_box box = { .x = p->src.x + rect->x,
				      .y = p->src.y + rect->y,
				      .z = 0,
				      .w = rect->width,
				      .h = rect->height,
				      .d = 1 };
	struct iovec iov = { dst,
			     (size_t)(rect->height - 1) * dst_stride + (size_t)rect->width * 4 };
	int ret;

	if (!kg_rect_inside(rect, p->fb.width, p->fb.height))
		return -EINVAL;
	ret = virgl_renderer_transfer_read_iov(p->fb.resource_id, 0, 0, dst_stride, 0,
					       VIRGL_BOX(&box), 0, &iov, 1);
	return ret ? -ret : 0;
}

void vgpu_3d_frame(struct kg_vgpu *g, struct vgpu_resource *r, struct vgpu_present *p)
{
	p->fb.kind = KG_FB_RENDERED;
	p->fb.read = read_frame;
	p->fb.read_data = p;
	p->fb.dmabuf_fd = -1;
	/* virglrenderer 0.10 has no resource_get_info_ext: no modifier to
	 * ask for, so only linear buffers can be scanned out. */
	p->fb.modifier = DRM_FORMAT_MOD_LINEAR;
	try_export(r, kg_format_from_drm(p->fb.drm_format));
	if (r->dmabuf_fd < 0)
		return;
	/* The frame holds its own fd: the resource may go (and its fd be
	 * closed) while the output still imports this one. */
	p->dmabuf_fd = fcntl(r->dmabuf_fd, F_DUPFD_CLOEXEC, 0);
	p->fb.dmabuf_fd = p->dmabuf_fd;
	p->fb.dmabuf_format = r->dmabuf_format;
	p->fb.stride = r->dmabuf_stride;
	p->fb.offset =
		r->dmabuf_offset + (uint64_t)p->src.y * r->dmabuf_stride + (uint64_t)p->src.x * 4;
}
