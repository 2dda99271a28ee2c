/* SPDX-License-Identifier: MIT */
/*
 * kg_dumb: a CPU-mapped dumb buffer with a framebuffer, for the copy path
 * (and the cursor). Also knows bytes per pixel of the formats we scan out.
 */
#ifndef KG_KMS_DUMB_H
#define KG_KMS_DUMB_H

#include <stdint.h>

struct kg_dumb {
	int fd; /* borrowed DRM fd */
	uint32_t handle;
	uint32_t fb_id;
	uint32_t width, height, format;
	uint32_t stride;
	uint64_t size;
	uint8_t *map; /* zero-filled at creation */
};

/*
 * Drops our framebuffer id without turning off a plane that still shows it
 * (DRM_IOCTL_MODE_CLOSEFB, Linux 6.8+), so the last frame stays on screen
 * when kmsgate-vgpu exits and the broker decides (keep or blank). Older
 * kernels get RmFB, which turns such a plane off.
 */
void kg_kms_close_fb(int fd, uint32_t fb_id);

/* Bytes per pixel of a single-plane DRM format, 0 when not supported. */
uint32_t kg_format_cpp(uint32_t drm_format);

/* Creates, maps, clears and adds a framebuffer. Returns 0 or -errno (and
 * logs which step failed). */
int kg_dumb_init(struct kg_dumb *d, int fd, uint32_t width, uint32_t height, uint32_t format);
/* Accepts a zeroed or half-built buffer. */
void kg_dumb_finish(struct kg_dumb *d);

#endif
