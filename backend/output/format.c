// SPDX-License-Identifier: MIT
#include "format.h"

#include <drm_fourcc.h>
#include <linux/virtio_gpu.h>
#include <stddef.h>

/*
 * Byte order in memory (virtio) read as a little-endian word (DRM): the
 * first byte is bits 7:0. E.g. A8R8G8B8 = bytes A,R,G,B = word B:G:R:A =
 * DRM_FORMAT_BGRA8888.
 */
static const struct kg_format formats[] = {
	{ VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, DRM_FORMAT_ARGB8888, 4, 16, 8, 0, 24, "B8G8R8A8" },
	{ VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, DRM_FORMAT_XRGB8888, 4, 16, 8, 0, -1, "B8G8R8X8" },
	{ VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, DRM_FORMAT_BGRA8888, 4, 8, 16, 24, 0, "A8R8G8B8" },
	{ VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, DRM_FORMAT_BGRX8888, 4, 8, 16, 24, -1, "X8R8G8B8" },
	{ VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, DRM_FORMAT_ABGR8888, 4, 0, 8, 16, 24, "R8G8B8A8" },
	{ VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, DRM_FORMAT_RGBX8888, 4, 24, 16, 8, -1, "X8B8G8R8" },
	{ VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, DRM_FORMAT_RGBA8888, 4, 24, 16, 8, 0, "A8B8G8R8" },
	{ VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, DRM_FORMAT_XBGR8888, 4, 0, 8, 16, -1, "R8G8B8X8" },
};

const struct kg_format *kg_format_from_virtio(uint32_t virtio_format)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (formats[i].virtio == virtio_format)
			return &formats[i];
	}
	return NULL;
}

const struct kg_format *kg_format_from_drm(uint32_t drm_format)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (formats[i].drm == drm_format)
			return &formats[i];
	}
	return NULL;
}

const struct kg_format *kg_format_opaque(const struct kg_format *f)
{
	for (size_t i = 0; f->a_shift >= 0 && i < sizeof(formats) / sizeof(formats[0]); i++) {
		const struct kg_format *o = &formats[i];

		if (o->a_shift < 0 && o->r_shift == f->r_shift && o->g_shift == f->g_shift &&
		    o->b_shift == f->b_shift)
			return o;
	}
	return f;
}

uint32_t kg_format_to_argb(const struct kg_format *fmt, uint32_t pixel)
{
	uint32_t r = (pixel >> fmt->r_shift) & 0xff;
	uint32_t g = (pixel >> fmt->g_shift) & 0xff;
	uint32_t b = (pixel >> fmt->b_shift) & 0xff;
	uint32_t a = fmt->a_shift < 0 ? 0xff : (pixel >> fmt->a_shift) & 0xff;

	return a << 24 | r << 16 | g << 8 | b;
}
