// SPDX-License-Identifier: MIT
/*
 * Scanouts: display info and EDID from the output, SET_SCANOUT(_BLOB),
 * RESOURCE_FLUSH and the frames in flight per scanout.
 *
 * At most one frame per scanout is with the output. A newer flush waits
 * behind it; when yet another arrives, the waiting one is superseded
 * (newest wins: its fence completes, counted as coalesced) unless FIFO
 * mode keeps up to KG_VGPU_FIFO_DEPTH frames in order.
 */
#include "vgpu-private.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "stats.h"
#include "trace.h"
#ifdef HAVE_DISPLAY_INFO
#include <libdisplay-info/info.h>
#endif

/* Bytes of a backing an image reads, from the backing's start: its last row
 * ends there. Every size check of a scanout against its backing is this. */
static uint64_t image_end(uint64_t offset, uint32_t width, uint32_t height, uint32_t stride,
			  uint32_t cpp)
{
	return offset + (uint64_t)(height - 1) * stride + (uint64_t)width * cpp;
}

static bool scanout_id_ok(struct kg_vgpu *g, struct vgpu_cmd *c, uint32_t id)
{
	if (id < g->num_scanouts)
		return true;
	c->error = VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	return false;
}

void vgpu_cmd_display_info(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_resp_display_info *resp = &c->resp_buf.info;

	memset(resp, 0, sizeof(*resp));
	resp->hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
	for (unsigned i = 0; i < g->num_scanouts; i++) {
		struct kg_scanout_info info = { 0 };

		if (g->out->ops->get_info(g->out, i, &info) < 0 || !info.connected)
			continue;
		resp->pmodes[i].r.width = info.width;
		resp->pmodes[i].r.height = info.height;
		resp->pmodes[i].enabled = 1;
	}
	c->resp_len = sizeof(*resp);
}

static void log_edid(unsigned scanout, const uint8_t *edid, size_t len)
{
#ifdef HAVE_DISPLAY_INFO
	struct di_info *info = di_info_parse_edid(edid, len);
	const char *fail;
	char *make, *model;

	if (!info) {
		kg_warn("vgpu: scanout %u: the display's EDID does not parse (%zu bytes)", scanout,
			len);
		return;
	}
	fail = di_info_get_failure_msg(info);
	make = di_info_get_make(info);
	model = di_info_get_model(info);
	kg_dbg("vgpu: scanout %u: EDID %s %s, %zu bytes%s%s", scanout, make ? make : "?",
	       model ? model : "?", len, fail ? "; not conformant: " : "", fail ? fail : "");
	free(make);
	free(model);
	di_info_destroy(info);
#else
	kg_dbg("vgpu: scanout %u: EDID of %zu bytes (built without libdisplay-info)", scanout, len);
#endif
}

void vgpu_cmd_get_edid(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_cmd_get_edid cmd;
	struct virtio_gpu_resp_edid *resp = &c->resp_buf.edid;
	struct kg_scanout_info info = { 0 };

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)))
		return;
	if (!(g->features & 1ull << VIRTIO_GPU_F_EDID)) {
		c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	if (!scanout_id_ok(g, c, cmd.scanout))
		return;
	memset(resp, 0, sizeof(*resp));
	resp->hdr.type = VIRTIO_GPU_RESP_OK_EDID;
	c->resp_len = sizeof(*resp);
	/* Without an EDID from the display the guest gets none (size 0)
	 * rather than an invented one. */
	if (g->out->ops->get_info(g->out, cmd.scanout, &info) < 0 || !info.edid || !info.edid_len ||
	    info.edid_len > sizeof(resp->edid))
		return;
	memcpy(resp->edid, info.edid, info.edid_len);
	resp->size = (uint32_t)info.edid_len;
	log_edid(cmd.scanout, info.edid, info.edid_len);
}

static void present_free(struct kg_vgpu *g, struct vgpu_present *p)
{
	if (p->dmabuf_fd >= 0)
		close(p->dmabuf_fd);
	vgpu_backing_unref(p->backing);
	free(p);
}

/* A paced guest's frame is on screen: its fence releases the guest to draw
 * the next one, now or (jit) just in time for the next vblank. */
static void pace_shown(struct kg_vgpu *g, struct vgpu_present *p, uint64_t flip_ns)
{
	struct vgpu_scanout *s = &g->scanouts[p->scanout];
	uint64_t at = kg_pacer_shown(s->pacer, flip_ns, s->period_ns);

	p->fence->paced = p->scanout + 1;
	if (at > flip_ns && at > p->fence->hold_until)
		p->fence->hold_until = at; /* jit: held until then */
	if (g->stats) {
		struct kg_pacer_state st;

		kg_pacer_get_state(s->pacer, &st);
		kg_stats_set_pacing(g->stats, p->scanout, kg_pacing_name(g->pacing), &st);
	}
}

/* The frame is done with: on screen, superseded or failed. */
static void present_finish(struct kg_vgpu *g, struct vgpu_present *p,
			   const struct kg_present_result *res, bool coalesced)
{
	struct kg_stats_frame f = {
		.scanout = p->scanout,
		.shown = res && res->shown,
		.coalesced = coalesced,
		.zero_copy = res && res->zero_copy,
		.recv_ns = p->recv_ns,
		.commit_ns = res ? res->commit_ns : 0,
		.flip_ns = res && res->shown ? res->flip_ns : 0,
		.bytes_copied = res ? res->bytes_copied : 0,
		.period_ns = g->scanouts[p->scanout].period_ns,
	};

	if (f.shown)
		g->cnt.frames_shown++;
	if (coalesced)
		g->cnt.frames_coalesced++;
	/* Counted before its fence goes: a release that jit pacing holds
	 * tells the statistics its own time later (kg_stats_released). */
	if (p->fence)
		f.fence_ns = kg_now_ns();
	if (g->stats) {
		f.path = g->out->ops->path ? g->out->ops->path(g->out, p->scanout) : NULL;
		kg_stats_add(g->stats, &f);
	}
	kg_trace_frame(g->trace, &f);
	if (p->fence && f.shown)
		pace_shown(g, p, res->flip_ns);
	if (p->fence)
		vgpu_fence_present_done(g, p->fence,
					f.shown	    ? VGPU_FRAME_SHOWN
					: coalesced ? VGPU_FRAME_REPLACED
						    : VGPU_FRAME_DROPPED);
	present_free(g, p);
}

static void present_start(struct kg_vgpu *g, struct vgpu_present *p);

/* Takes the oldest waiting frame off the scanout's queue. */
static struct vgpu_present *queue_pop(struct vgpu_scanout *s)
{
	struct vgpu_present *p = kg_list_first(&s->queue, struct vgpu_present, link);

	kg_list_remove(&p->link);
	s->queued--;
	return p;
}

/* The output is free: the oldest waiting frame goes. A frame the output
 * refuses at once must not leave the ones behind it waiting for a flip that
 * never comes. */
static void start_waiting(struct kg_vgpu *g, struct vgpu_scanout *s)
{
	while (!s->inflight && !kg_list_empty(&s->queue))
		present_start(g, queue_pop(s));
}

static void present_cb(void *data, const struct kg_present_result *res)
{
	struct vgpu_present *p = data;
	struct kg_vgpu *g = p->g;
	struct vgpu_scanout *s = &g->scanouts[p->scanout];

	if (s->inflight == p)
		s->inflight = NULL;
	present_finish(g, p, res, false);
	start_waiting(g, s);
}

static void present_start(struct kg_vgpu *g, struct vgpu_present *p)
{
	struct vgpu_scanout *s = &g->scanouts[p->scanout];
	int ret;

	s->inflight = p;
	ret = g->out->ops->present(g->out, p->scanout, &p->fb, &p->damage, present_cb, p);
	if (ret < 0) {
		kg_dbg("vgpu: scanout %u: the output refused a frame: %s", p->scanout,
		       strerror(-ret));
		if (s->inflight == p)
			s->inflight = NULL;
		present_finish(g, p, NULL, false);
	}
}

/* Adds what a superseded frame damaged to the frame that replaces it. A
 * frame of another size or resource has nothing in common with it: then
 * the whole new frame is damaged. */
static void damage_merge(struct vgpu_present *p, const struct vgpu_present *old)
{
	if (p->fb.width != old->fb.width || p->fb.height != old->fb.height ||
	    p->fb.resource_id != old->fb.resource_id) {
		p->damage = (struct kg_rect){ 0, 0, p->fb.width, p->fb.height };
		return;
	}
	p->damage = kg_rect_union(&p->damage, &old->damage);
}

/* Hands the frame to the output now, or queues it behind the one there. */
static void present_submit(struct kg_vgpu *g, struct vgpu_present *p)
{
	struct vgpu_scanout *s = &g->scanouts[p->scanout];

	g->cnt.frames_presented++;
	if (p->fence) {
		kg_pacer_frame(s->pacer, p->recv_ns);
	} else if (g->pacing == KG_PACING_JIT && !s->told_unfenced) {
		s->told_unfenced = true;
		kg_info("vgpu: scanout %u: the guest's flushes carry no fence, so --pacing jit "
			"cannot pace it (a Linux guest fences blob framebuffers' flips: "
			"QEMU with qemu-patches/)",
			p->scanout);
		kg_stats_set_unfenced(g->stats, p->scanout);
	}
	if (!s->inflight) {
		present_start(g, p);
		return;
	}
	if (!kg_list_empty(&s->queue) && (!g->fifo || s->queued >= KG_VGPU_FIFO_DEPTH)) {
		/* The oldest waiting frame is superseded; what it damaged
		 * must still reach the screen with the next one. */
		struct vgpu_present *old = queue_pop(s);

		damage_merge(kg_list_empty(&s->queue)
				     ? p
				     : kg_list_first(&s->queue, struct vgpu_present, link),
			     old);
		present_finish(g, old, NULL, true);
	}
	kg_list_append(&s->queue, &p->link);
	s->queued++;
}

/* Frames waiting behind the output's are dropped (their fences complete). */
static void scanout_drop_queue(struct kg_vgpu *g, struct vgpu_scanout *s)
{
	while (!kg_list_empty(&s->queue))
		present_finish(g, queue_pop(s), NULL, false);
}

static void scanout_disable(struct kg_vgpu *g, unsigned i)
{
	struct vgpu_scanout *s = &g->scanouts[i];

	scanout_drop_queue(g, s);
	if (s->resource_id && g->out->ops->disable && !g->restoring)
		g->out->ops->disable(g->out, i);
	s->resource_id = 0;
}

void vgpu_scanouts_drop_resource(struct kg_vgpu *g, uint32_t id)
{
	for (unsigned i = 0; i < g->num_scanouts; i++) {
		if (g->scanouts[i].resource_id == id)
			scanout_disable(g, i);
	}
}

void vgpu_scanouts_reset(struct kg_vgpu *g)
{
	/* Frames with the output stay until it calls back. */
	for (unsigned i = 0; i < g->num_scanouts; i++)
		scanout_disable(g, i);
}

void vgpu_scanouts_release(struct kg_vgpu *g)
{
	for (unsigned i = 0; i < g->num_scanouts; i++) {
		struct vgpu_scanout *s = &g->scanouts[i];

		while (!kg_list_empty(&s->queue))
			present_free(g, queue_pop(s));
		if (s->inflight)
			present_free(g, s->inflight);
		s->inflight = NULL;
		s->resource_id = 0;
	}
}

/* Bytes of the backing a frame reads (every virtio-gpu format is 4 bytes a
 * pixel: format.h). */
static uint64_t fb_need(const struct kg_fb_source *fb)
{
	const struct kg_format *f = kg_format_from_drm(fb->drm_format);

	return image_end(fb->offset, fb->width, fb->height, fb->stride, f ? f->cpp : 4);
}

/* Points a frame whose backing went stale at its resource's backing for
 * the current memory table. False when there is none that holds it. */
static bool present_rebase(struct kg_vgpu *g, struct vgpu_present *p)
{
	struct vgpu_resource *r = vgpu_res_find(g, p->fb.resource_id);

	/* A rendered frame reads the renderer's image, not guest RAM. */
	if (p->fb.kind == KG_FB_RENDERED || vgpu_backing_valid(g, p->backing))
		return true;
	/* The same resource, not one the guest made since under its id. */
	if (!r || r->serial != p->res_serial || !r->backing || !vgpu_backing_valid(g, r->backing) ||
	    fb_need(&p->fb) > r->backing->size)
		return false;
	vgpu_backing_unref(p->backing);
	p->backing = vgpu_backing_ref(r->backing);
	p->fb.generation = p->backing->generation;
	p->fb.chunks = p->backing->chunks;
	p->fb.n_chunks = p->backing->n_chunks;
	return true;
}

static void warn_dropped(struct vgpu_present *p)
{
	kg_warn("vgpu: scanout %u: a frame of resource %u is dropped: its pages left guest RAM "
		"when the memory table changed",
		p->scanout, p->fb.resource_id);
}

/* Frames waiting in the device: rebased, or dropped (fence completes). */
static void scanout_remap_queue(struct kg_vgpu *g, struct vgpu_scanout *s)
{
	struct vgpu_present *p, *tmp;

	kg_list_for_each_safe (p, tmp, &s->queue, link) {
		if (present_rebase(g, p))
			continue;
		kg_list_remove(&p->link);
		s->queued--;
		warn_dropped(p);
		present_finish(g, p, NULL, false);
	}
}

/* The frame with the output: one it has not read yet is taken back and
 * handed over again on the current table's pages. One it has read (copied,
 * or imported: the kernel holds those pages) needs nothing. */
static void scanout_remap_inflight(struct kg_vgpu *g, struct vgpu_scanout *s)
{
	struct vgpu_present *p = s->inflight;

	if (!p || p->fb.kind == KG_FB_RENDERED || vgpu_backing_valid(g, p->backing) ||
	    !g->out->ops->retract || g->out->ops->retract(g->out, p->scanout) < 0)
		return;
	s->inflight = NULL;
	if (present_rebase(g, p)) {
		present_start(g, p);
	} else {
		warn_dropped(p);
		present_finish(g, p, NULL, false);
	}
	start_waiting(g, s);
}

void vgpu_scanouts_remap(struct kg_vgpu *g)
{
	for (unsigned i = 0; i < g->num_scanouts; i++) {
		scanout_remap_queue(g, &g->scanouts[i]);
		scanout_remap_inflight(g, &g->scanouts[i]);
	}
}

/* The display's refresh period, for jit pacing and the statistics' missed
 * vblanks: read at a scanout's first SET_SCANOUT and again after a display
 * change (kg_vgpu_display_changed), not per frame: a flipping guest sends a
 * SET_SCANOUT per frame, and get_info asks the kernel (connector, EDID). */
static uint64_t scanout_period(struct kg_vgpu *g, unsigned i)
{
	struct kg_scanout_info info = { 0 };

	if ((!g->stats && g->pacing != KG_PACING_JIT) ||
	    g->out->ops->get_info(g->out, i, &info) < 0 || !info.refresh_mhz)
		return 0;
	return 1000000000000ull / info.refresh_mhz;
}

/* A 3D resource: its size and format are the renderer's. */
static void set_scanout_3d(struct kg_vgpu *g, struct vgpu_cmd *c,
			   const struct virtio_gpu_set_scanout *cmd, struct vgpu_resource *r)
{
	const struct kg_format *fmt;
	struct vgpu_scanout *s;
	uint32_t w, h;

	if (!vgpu_3d_scanout_info(g, r, &w, &h, &fmt) || !vgpu_rect_inside(&cmd->r, w, h)) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	s = &g->scanouts[cmd->scanout_id];
	s->resource_id = r->id;
	if (!s->period_ns)
		s->period_ns = scanout_period(g, cmd->scanout_id);
	s->virgl = true;
	s->r = (struct kg_rect){ cmd->r.x, cmd->r.y, cmd->r.width, cmd->r.height };
	s->fmt = fmt;
	s->stride = 0;
	s->offset = 0;
}

void vgpu_cmd_set_scanout(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_set_scanout cmd;
	struct vgpu_resource *r;
	struct vgpu_scanout *s;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)) || !scanout_id_ok(g, c, cmd.scanout_id))
		return;
	if (cmd.resource_id == 0) {
		scanout_disable(g, cmd.scanout_id);
		return;
	}
	r = vgpu_res_find(g, cmd.resource_id);
	if (!r || r->blob) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return;
	}
	if (r->virgl) {
		set_scanout_3d(g, c, &cmd, r);
		return;
	}
	if (!vgpu_rect_inside(&cmd.r, r->width, r->height)) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	s = &g->scanouts[cmd.scanout_id];
	s->resource_id = r->id;
	if (!s->period_ns)
		s->period_ns = scanout_period(g, cmd.scanout_id);
	s->virgl = false;
	s->r = (struct kg_rect){ cmd.r.x, cmd.r.y, cmd.r.width, cmd.r.height };
	s->fmt = r->fmt;
	s->stride = r->width * r->fmt->cpp;
	s->offset = (uint64_t)cmd.r.y * s->stride + (uint64_t)cmd.r.x * r->fmt->cpp;
}

void vgpu_cmd_set_scanout_blob(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_set_scanout_blob cmd;
	const struct kg_format *fmt;
	struct vgpu_resource *r;
	struct vgpu_scanout *s;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)))
		return;
	if (!(g->features & 1ull << VIRTIO_GPU_F_RESOURCE_BLOB)) {
		c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	if (!scanout_id_ok(g, c, cmd.scanout_id))
		return;
	if (cmd.resource_id == 0) {
		scanout_disable(g, cmd.scanout_id);
		return;
	}
	r = vgpu_res_find(g, cmd.resource_id);
	if (!r || !r->blob) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return;
	}
	fmt = kg_format_from_virtio(cmd.format);
	c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (!fmt || !cmd.width || !cmd.height || cmd.width > VGPU_MAX_DIM ||
	    cmd.height > VGPU_MAX_DIM || !vgpu_rect_inside(&cmd.r, cmd.width, cmd.height) ||
	    cmd.strides[0] < cmd.width * fmt->cpp)
		return;
	/* The whole framebuffer the guest describes must be in the blob. */
	if (!r->backing || image_end(cmd.offsets[0], cmd.width, cmd.height, cmd.strides[0],
				     fmt->cpp) > r->backing->size)
		return;
	c->error = 0;
	r->fmt = fmt;
	r->width = cmd.width;
	r->height = cmd.height;
	s = &g->scanouts[cmd.scanout_id];
	s->resource_id = r->id;
	if (!s->period_ns)
		s->period_ns = scanout_period(g, cmd.scanout_id);
	s->virgl = false;
	s->r = (struct kg_rect){ cmd.r.x, cmd.r.y, cmd.r.width, cmd.r.height };
	s->fmt = fmt;
	s->stride = cmd.strides[0];
	s->offset = cmd.offsets[0] + (uint64_t)cmd.r.y * s->stride + (uint64_t)cmd.r.x * fmt->cpp;
}

/* flush ∩ scanout rect, relative to the scanout; false when empty. */
static bool scanout_damage(const struct vgpu_scanout *s, const struct virtio_gpu_rect *f,
			   struct kg_rect *d)
{
	uint64_t x1 = f->x > s->r.x ? f->x : s->r.x;
	uint64_t y1 = f->y > s->r.y ? f->y : s->r.y;
	uint64_t fx2 = (uint64_t)f->x + f->width, sx2 = (uint64_t)s->r.x + s->r.width;
	uint64_t fy2 = (uint64_t)f->y + f->height, sy2 = (uint64_t)s->r.y + s->r.height;
	uint64_t x2 = fx2 < sx2 ? fx2 : sx2, y2 = fy2 < sy2 ? fy2 : sy2;

	if (x2 <= x1 || y2 <= y1)
		return false;
	*d = (struct kg_rect){ (uint32_t)(x1 - s->r.x), (uint32_t)(y1 - s->r.y),
			       (uint32_t)(x2 - x1), (uint32_t)(y2 - y1) };
	return true;
}

/* A frame of a 3D resource: the renderer's image, read back or exported. */
static struct vgpu_present *present_new_3d(struct kg_vgpu *g, struct vgpu_cmd *c, unsigned i,
					   struct vgpu_resource *r, const struct kg_rect *damage)
{
	struct vgpu_scanout *s = &g->scanouts[i];
	struct vgpu_present *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->g = g;
	p->scanout = i;
	p->fence = c->fence;
	p->res_serial = r->serial;
	p->damage = *damage;
	p->recv_ns = c->recv_ns;
	p->src = s->r;
	p->dmabuf_fd = -1;
	p->fb = (struct kg_fb_source){
		.resource_id = r->id,
		.generation = r->serial,
		.drm_format = s->fmt->drm,
		.width = s->r.width,
		.height = s->r.height,
		.stride = s->r.width * s->fmt->cpp,
	};
	vgpu_3d_frame(g, r, p);
	return p;
}

/* A frame of scanout i showing r, or NULL if its backing cannot hold it. */
static struct vgpu_present *present_new(struct kg_vgpu *g, struct vgpu_cmd *c, unsigned i,
					struct vgpu_resource *r, const struct kg_rect *damage)
{
	struct vgpu_scanout *s = &g->scanouts[i];
	struct vgpu_present *p;

	if (s->virgl)
		return present_new_3d(g, c, i, r, damage);
	if (!r->backing)
		return NULL;
	if (!vgpu_backing_valid(g, r->backing)) {
		kg_warn("vgpu: resource %u: guest memory was remapped under its backing; the "
			"guest must attach it again",
			r->id);
		return NULL;
	}
	if (image_end(s->offset, s->r.width, s->r.height, s->stride, s->fmt->cpp) >
	    r->backing->size)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->g = g;
	p->scanout = i;
	p->fence = c->fence;
	p->backing = vgpu_backing_ref(r->backing);
	p->res_serial = r->serial;
	p->damage = *damage;
	p->recv_ns = c->recv_ns;
	p->dmabuf_fd = -1;
	p->fb = (struct kg_fb_source){
		.resource_id = r->id,
		.generation = r->backing->generation,
		.drm_format = s->fmt->drm,
		.width = s->r.width,
		.height = s->r.height,
		.stride = s->stride,
		.offset = s->offset,
		.chunks = r->backing->chunks,
		.n_chunks = r->backing->n_chunks,
	};
	return p;
}

void vgpu_cmd_flush(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_resource_flush cmd;
	struct vgpu_resource *r;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)))
		return;
	r = vgpu_res_find(g, cmd.resource_id);
	if (!r) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return;
	}
	if (!vgpu_rect_inside(&cmd.r, r->width, r->height)) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		return;
	}
	for (unsigned i = 0; i < g->num_scanouts; i++) {
		struct kg_rect damage;
		struct vgpu_present *p;

		if (g->scanouts[i].resource_id != r->id ||
		    !scanout_damage(&g->scanouts[i], &cmd.r, &damage))
			continue;
		p = present_new(g, c, i, r, &damage);
		if (!p) {
			c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
			continue;
		}
		if (p->fence)
			p->fence->presents_left++;
		present_submit(g, p);
	}
}
