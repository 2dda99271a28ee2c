// SPDX-License-Identifier: MIT
/* Reading a decoded command and checking its rectangles: what every handler
 * shares, below them all. */
#include "vgpu-private.h"

#include <string.h>

bool vgpu_cmd_get(struct vgpu_cmd *c, void *dst, size_t size)
{
	if (c->len < size) {
		c->error = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return false;
	}
	memcpy(dst, c->buf, size);
	return true;
}

bool vgpu_rect_inside(const struct virtio_gpu_rect *r, uint32_t w, uint32_t h)
{
	/* 64-bit sums: x + width cannot wrap around. */
	return r->width && r->height && (uint64_t)r->x + r->width <= w &&
	       (uint64_t)r->y + r->height <= h;
}
