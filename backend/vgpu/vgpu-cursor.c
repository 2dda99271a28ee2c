// SPDX-License-Identifier: MIT
/*
 * The cursor queue: UPDATE_CURSOR (a 64x64 resource → the output's cursor)
 * and MOVE_CURSOR. These commands have no response, so a bad one is only
 * logged (at debug level: a guest could flood the log).
 */
#include "vgpu-private.h"

#include <string.h>

#include "log.h"

#define CURSOR_SIZE 64

/* The cursor image as ARGB8888 words, or false if the resource cannot be
 * one (wrong size, no backing, too small a backing). A Linux guest makes
 * every dumb buffer an X (no alpha) resource, cursors included, yet fills
 * the fourth byte with alpha: like QEMU, take that byte as alpha. */
static bool cursor_image(struct kg_vgpu *g, uint32_t id, uint32_t *argb)
{
	struct vgpu_resource *r = vgpu_res_find(g, id);
	const struct kg_format *f;
	struct kg_format fmt;

	if (!r || !r->backing || !vgpu_backing_valid(g, r->backing))
		return false;
	if (r->blob) {
		/* A blob has no format or size of its own. The virtio-gpu cursor
		 * is 64x64 B8G8R8A8 by definition (the spec; Linux's cursor
		 * plane offers only ARGB8888), as QEMU's device reads it too.
		 * The blob's own size bounds it, not just its backing's. */
		if (r->size < CURSOR_SIZE * CURSOR_SIZE * 4)
			return false;
		f = kg_format_from_virtio(VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM);
	} else {
		if (!r->fmt || r->width != CURSOR_SIZE || r->height != CURSOR_SIZE)
			return false;
		f = r->fmt;
	}
	if (!f || !vgpu_backing_read(r->backing, 0, argb, CURSOR_SIZE * CURSOR_SIZE * 4))
		return false;
	fmt = *f;
	if (fmt.a_shift < 0)
		fmt.a_shift = (int8_t)(48 - fmt.r_shift - fmt.g_shift - fmt.b_shift);
	for (unsigned i = 0; i < CURSOR_SIZE * CURSOR_SIZE; i++)
		argb[i] = kg_format_to_argb(&fmt, argb[i]);
	return true;
}

static void cursor_update(struct kg_vgpu *g, const struct virtio_gpu_update_cursor *cmd)
{
	const struct kg_output_ops *ops = g->out->ops;
	uint32_t argb[CURSOR_SIZE * CURSOR_SIZE];
	unsigned i = cmd->pos.scanout_id;

	if (!ops->cursor_set)
		return;
	if (cmd->resource_id == 0) {
		ops->cursor_set(g->out, i, NULL, 0, 0);
		return;
	}
	if (!cursor_image(g, cmd->resource_id, argb)) {
		kg_dbg("vgpu: cursor resource %u is not a 64x64 image with backing",
		       cmd->resource_id);
		return;
	}
	ops->cursor_set(g->out, i, argb, (int32_t)cmd->hot_x, (int32_t)cmd->hot_y);
	if (ops->cursor_move)
		ops->cursor_move(g->out, i, (int32_t)cmd->pos.x, (int32_t)cmd->pos.y);
}

void vgpu_cursor_process(struct kg_vgpu *g, const void *buf, size_t len)
{
	struct virtio_gpu_update_cursor cmd;

	if (len < sizeof(cmd)) {
		kg_dbg("vgpu: short cursor command (%zu bytes)", len);
		return;
	}
	memcpy(&cmd, buf, sizeof(cmd));
	if (cmd.pos.scanout_id >= g->num_scanouts) {
		kg_dbg("vgpu: cursor command for scanout %u", cmd.pos.scanout_id);
		return;
	}
	switch (cmd.hdr.type) {
	case VIRTIO_GPU_CMD_UPDATE_CURSOR:
		cursor_update(g, &cmd);
		break;
	case VIRTIO_GPU_CMD_MOVE_CURSOR:
		if (g->out->ops->cursor_move)
			g->out->ops->cursor_move(g->out, cmd.pos.scanout_id, (int32_t)cmd.pos.x,
						 (int32_t)cmd.pos.y);
		break;
	default:
		kg_dbg("vgpu: cursor queue command %#x ignored", cmd.hdr.type);
	}
}
