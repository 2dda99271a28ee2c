// SPDX-License-Identifier: MIT
/*
 * The virtio-gpu device: command dispatch, the one place responses are
 * sent, and the fence queue.
 */
#include "vgpu-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "output.h"

typedef void (*vgpu_handler)(struct kg_vgpu *g, struct vgpu_cmd *c);

/* UNREF touches scanouts, the output and resources: it is dispatched here,
 * above all three, so that resources never call up into scanouts. */
static void cmd_unref(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_resource_unref cmd;

	if (!vgpu_cmd_get(c, &cmd, sizeof(cmd)))
		return;
	if (!vgpu_res_find(g, cmd.resource_id)) {
		c->error = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
		return;
	}
	vgpu_scanouts_drop_resource(g, cmd.resource_id);
	if (g->out->ops->forget && !g->restoring)
		g->out->ops->forget(g->out, cmd.resource_id);
	vgpu_res_unref(g, cmd.resource_id);
}

#ifdef HAVE_VIRGL
#define VGPU_3D(fn) fn
#else
#define VGPU_3D(fn) NULL /* built without virglrenderer: not supported */
#endif

struct vgpu_cmd_desc {
	uint32_t type;
	const char *name;
	vgpu_handler fn; /* NULL: not supported */
	bool gpu;	 /* 3D: a fence also waits for the renderer */
};

static const struct vgpu_cmd_desc cmd_table[] = {
	{ VIRTIO_GPU_CMD_GET_DISPLAY_INFO, "GET_DISPLAY_INFO", vgpu_cmd_display_info },
	{ VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, "RESOURCE_CREATE_2D", vgpu_cmd_create_2d },
	{ VIRTIO_GPU_CMD_RESOURCE_UNREF, "RESOURCE_UNREF", cmd_unref },
	{ VIRTIO_GPU_CMD_SET_SCANOUT, "SET_SCANOUT", vgpu_cmd_set_scanout },
	{ VIRTIO_GPU_CMD_RESOURCE_FLUSH, "RESOURCE_FLUSH", vgpu_cmd_flush },
	{ VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, "TRANSFER_TO_HOST_2D", vgpu_cmd_transfer_2d },
	{ VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, "RESOURCE_ATTACH_BACKING",
	  vgpu_cmd_attach_backing },
	{ VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, "RESOURCE_DETACH_BACKING",
	  vgpu_cmd_detach_backing },
	{ VIRTIO_GPU_CMD_GET_CAPSET_INFO, "GET_CAPSET_INFO", VGPU_3D(vgpu_cmd_get_capset_info) },
	{ VIRTIO_GPU_CMD_GET_CAPSET, "GET_CAPSET", VGPU_3D(vgpu_cmd_get_capset) },
	{ VIRTIO_GPU_CMD_CTX_CREATE, "CTX_CREATE", VGPU_3D(vgpu_cmd_ctx_create), true },
	{ VIRTIO_GPU_CMD_CTX_DESTROY, "CTX_DESTROY", VGPU_3D(vgpu_cmd_ctx_destroy), true },
	{ VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, "CTX_ATTACH_RESOURCE", VGPU_3D(vgpu_cmd_ctx_attach),
	  true },
	{ VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE, "CTX_DETACH_RESOURCE", VGPU_3D(vgpu_cmd_ctx_detach),
	  true },
	{ VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, "RESOURCE_CREATE_3D", VGPU_3D(vgpu_cmd_create_3d),
	  true },
	{ VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, "TRANSFER_TO_HOST_3D",
	  VGPU_3D(vgpu_cmd_transfer_to_host_3d), true },
	{ VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, "TRANSFER_FROM_HOST_3D",
	  VGPU_3D(vgpu_cmd_transfer_from_host_3d), true },
	{ VIRTIO_GPU_CMD_SUBMIT_3D, "SUBMIT_3D", VGPU_3D(vgpu_cmd_submit_3d), true },
	{ VIRTIO_GPU_CMD_GET_EDID, "GET_EDID", vgpu_cmd_get_edid },
	{ VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID, "RESOURCE_ASSIGN_UUID", NULL },
	{ VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, "RESOURCE_CREATE_BLOB", vgpu_cmd_create_blob },
	{ VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, "SET_SCANOUT_BLOB", vgpu_cmd_set_scanout_blob },
};

static const struct vgpu_cmd_desc *cmd_lookup(uint32_t type)
{
	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
		if (cmd_table[i].type == type)
			return &cmd_table[i];
	}
	return NULL;
}

struct kg_vgpu *kg_vgpu_create(const struct kg_vgpu_config *cfg)
{
	struct kg_vgpu *g;

	if (!cfg || !cfg->output || !cfg->transport || !cfg->transport->reply) {
		errno = EINVAL;
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->out = cfg->output;
	g->gmem = cfg->gmem;
	g->stats = cfg->stats;
	g->trace = cfg->trace;
	g->tp = cfg->transport;
	g->tp_data = cfg->transport_data;
	g->max_resource_bytes = cfg->max_resource_bytes ? cfg->max_resource_bytes
							: KG_VGPU_DEFAULT_MAX_RESOURCE_BYTES;
	g->max_resources = cfg->max_resources ? cfg->max_resources : KG_VGPU_DEFAULT_MAX_RESOURCES;
	g->max_backing_entries = cfg->max_backing_entries ? cfg->max_backing_entries
							  : KG_VGPU_DEFAULT_MAX_BACKING_ENTRIES;
	g->fifo = cfg->fifo;
	g->virgl = cfg->virgl;
	g->pacing = cfg->pacing == KG_PACING_JIT && cfg->loop ? KG_PACING_JIT : KG_PACING_FLIP;
	if (cfg->pacing == KG_PACING_JIT && !cfg->loop)
		kg_warn("vgpu: --pacing jit needs an event loop: pacing on the flip event");
	if (g->virgl)
		vgpu_3d_attach(g);
	g->num_scanouts = g->out->ops->num_scanouts(g->out);
	if (g->num_scanouts > KG_MAX_SCANOUTS)
		g->num_scanouts = KG_MAX_SCANOUTS;
	kg_list_init(&g->fenceq);
	for (unsigned i = 0; i < KG_MAX_SCANOUTS; i++) {
		kg_list_init(&g->scanouts[i].queue);
		g->scanouts[i].pacer = kg_pacer_create(g->pacing, cfg->pacing_margin_ns);
		if (!g->scanouts[i].pacer)
			goto fail;
	}
	if (g->pacing == KG_PACING_JIT) {
		g->pace_timer = kg_loop_add_timer(cfg->loop, 0, 0, vgpu_fences_timer, g);
		if (!g->pace_timer)
			goto fail;
	}
	g->next_generation = 1;
	return g;

fail:
	kg_vgpu_destroy(g);
	return NULL;
}

void kg_vgpu_destroy(struct kg_vgpu *g)
{
	if (!g)
		return;
	vgpu_fences_drop(g);
	vgpu_scanouts_release(g);
	if (g->virgl) {
		vgpu_3d_reset(g);
		vgpu_3d_detach(g);
	}
	vgpu_res_destroy_all(g);
	/* No frame is left to wait for: free what remains of the queue. */
	vgpu_fences_free(g);
	kg_loop_remove(g->pace_timer);
	for (unsigned i = 0; i < KG_MAX_SCANOUTS; i++)
		kg_pacer_destroy(g->scanouts[i].pacer);
	free(g);
}

uint64_t kg_vgpu_offered_features(const struct kg_vgpu_config *cfg)
{
	uint64_t f = 1ull << VIRTIO_GPU_F_EDID | 1ull << VIRTIO_GPU_F_RESOURCE_BLOB;

	return cfg && cfg->virgl ? f | 1ull << VIRTIO_GPU_F_VIRGL : f;
}

void kg_vgpu_set_features(struct kg_vgpu *g, uint64_t features)
{
	struct kg_vgpu_config cfg = { .virgl = g->virgl };

	g->features = features & kg_vgpu_offered_features(&cfg);
	kg_dbg("vgpu: features edid=%d blob=%d virgl=%d",
	       !!(g->features & 1ull << VIRTIO_GPU_F_EDID),
	       !!(g->features & 1ull << VIRTIO_GPU_F_RESOURCE_BLOB),
	       !!(g->features & 1ull << VIRTIO_GPU_F_VIRGL));
}

int kg_vgpu_get_config(struct kg_vgpu *g, uint32_t offset, void *buf, uint32_t len)
{
	struct virtio_gpu_config cfg = {
		.events_read = g->events_read,
		.num_scanouts = g->num_scanouts,
		.num_capsets = g->virgl ? 2 : 0, /* virgl, virgl2 */
	};

	if (offset > sizeof(cfg) || len > sizeof(cfg) - offset)
		return -EINVAL;
	memcpy(buf, (const uint8_t *)&cfg + offset, len);
	return (int)len;
}

void kg_vgpu_display_changed(struct kg_vgpu *g)
{
	g->events_read |= VIRTIO_GPU_EVENT_DISPLAY;
	/* The mode may have changed: each scanout reads its period again at
	 * its next SET_SCANOUT. */
	for (unsigned i = 0; i < KG_MAX_SCANOUTS; i++)
		g->scanouts[i].period_ns = 0;
}

void kg_vgpu_reset(struct kg_vgpu *g)
{
	vgpu_fences_drop(g);
	vgpu_scanouts_reset(g);
	if (g->virgl)
		vgpu_3d_reset(g);
	vgpu_res_destroy_all(g);
	vgpu_fences_run(g);
	vgpu_journal_clear(g);
	g->features = 0;
	g->events_read = 0;
}

void kg_vgpu_mem_changed(struct kg_vgpu *g)
{
	/* Resources first: frames are rebased onto their new backings. */
	vgpu_res_remap_all(g);
	vgpu_scanouts_remap(g);
}

void kg_vgpu_get_counters(const struct kg_vgpu *g, struct kg_vgpu_counters *c)
{
	*c = g->cnt;
}

/* Fills the response header and returns the response's bytes. */
static const void *build_response(struct vgpu_cmd *c, size_t *len)
{
	struct virtio_gpu_ctrl_hdr *h = &c->resp_buf.hdr;

	if (c->error || !c->resp_len) {
		memset(h, 0, sizeof(*h));
		h->type = c->error ? c->error : VIRTIO_GPU_RESP_OK_NODATA;
		c->resp_len = sizeof(*h);
	}
	h->flags = c->hdr.flags & (VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX);
	h->fence_id = c->hdr.fence_id;
	h->ctx_id = c->hdr.ctx_id;
	h->ring_idx = c->hdr.flags & VIRTIO_GPU_FLAG_INFO_RING_IDX ? c->hdr.ring_idx : 0;
	*len = c->resp_len;
	return &c->resp_buf;
}

static void run_handler(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	const struct vgpu_cmd_desc *d = cmd_lookup(c->hdr.type);

	if (!d || !d->fn) {
		kg_dbg("vgpu: command %#x (%s) not supported", c->hdr.type,
		       d ? d->name : "unknown");
		c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	if (kg_log_get_level() >= KG_LOG_DEBUG && !g->restoring &&
	    c->hdr.type != VIRTIO_GPU_CMD_RESOURCE_FLUSH &&
	    c->hdr.type != VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D && !d->gpu)
		kg_dbg("vgpu: %s", d->name); /* per-frame commands stay quiet */
	c->gpu = d->gpu;
	d->fn(g, c);
	if (c->error)
		kg_dbg("vgpu: %s failed: %#x", d->name, c->error);
}

/* A resubmitted command that already took effect (kg_vgpu_resubmit()). The
 * resource id is at the same place in each of these commands. */
static bool took_effect(struct kg_vgpu *g, struct vgpu_cmd *c)
{
	struct virtio_gpu_resource_unref id; /* hdr, resource_id */
	const struct vgpu_resource *r;

	switch (c->hdr.type) {
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB:
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
		break;
	default:
		return false;
	}
	if (c->len < sizeof(id))
		return false;
	memcpy(&id, c->buf, sizeof(id));
	r = vgpu_res_find(g, id.resource_id);
	switch (c->hdr.type) {
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
		return r && r->backing;
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
		return r && !r->backing;
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
		return !r;
	default:
		return r != NULL;
	}
}

static void submit_control(struct kg_vgpu *g, const void *cmd, size_t len, void *token, bool again)
{
	struct vgpu_cmd c = { .buf = cmd, .len = len, .recv_ns = kg_now_ns() };
	const void *resp;
	size_t resp_len;

	g->cnt.commands++;
	if (vgpu_cmd_get(&c, &c.hdr, sizeof(c.hdr))) {
		if (c.hdr.flags & VIRTIO_GPU_FLAG_FENCE)
			c.fence = vgpu_fence_new(g, token);
		/* Journaled by the dead process if it took effect: the state
		 * restored from the journal tells. */
		bool done = again && took_effect(g, &c);

		/* Only after a restart: what the dead process had taken
		 * from the rings (at most a queue's worth), said at info
		 * level. */
		if (again) {
			const struct vgpu_cmd_desc *d = cmd_lookup(c.hdr.type);

			kg_info("vgpu: the previous process's %s %s",
				d ? d->name : "unknown command",
				done ? "had taken effect: answered" : "runs again");
		}
		if (!done) {
			run_handler(g, &c);
			vgpu_journal_note(g, &c);
		}
	} else {
		memset(&c.hdr, 0, sizeof(c.hdr));
	}
	if (c.error)
		g->cnt.errors++;
	/* A 3D command's fence means "the GPU finished it", not "handled". */
	if (c.fence && c.gpu && !c.error && vgpu_3d_enabled(g))
		vgpu_3d_fence(g, c.fence);
	resp = build_response(&c, &resp_len);
	if (c.fence)
		vgpu_fence_respond(g, c.fence, resp, resp_len);
	else
		g->tp->reply(g->tp_data, token, resp, resp_len);
}

static void submit(struct kg_vgpu *g, enum kg_vgpu_queue q, const void *cmd, size_t len,
		   void *token, bool again)
{
	if (q == KG_VGPU_QUEUE_CURSOR) {
		/* Cursor commands have no response: the buffer goes back empty. */
		g->cnt.commands++;
		vgpu_cursor_process(g, cmd, len);
		g->tp->reply(g->tp_data, token, NULL, 0);
		return;
	}
	submit_control(g, cmd, len, token, again);
}

void kg_vgpu_submit(struct kg_vgpu *g, enum kg_vgpu_queue q, const void *cmd, size_t len,
		    void *token)
{
	submit(g, q, cmd, len, token, false);
}

void kg_vgpu_resubmit(struct kg_vgpu *g, enum kg_vgpu_queue q, const void *cmd, size_t len,
		      void *token)
{
	submit(g, q, cmd, len, token, true);
}
