/* SPDX-License-Identifier: MIT */
/*
 * kg_format: virtio-gpu formats as DRM fourccs.
 *
 * virtio-gpu names its formats by byte order in memory (B8G8R8A8 = bytes B,
 * G, R, A), DRM by the bits of a little-endian word (ARGB8888 = A in bits
 * 31:24, B in 7:0). So B8G8R8A8 is ARGB8888, not BGRA8888. Every virtio-gpu
 * format is 4 bytes per pixel.
 */
#ifndef KG_FORMAT_H
#define KG_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

struct kg_format {
	uint32_t virtio; /* VIRTIO_GPU_FORMAT_* */
	uint32_t drm;	 /* DRM_FORMAT_* */
	uint32_t cpp;	 /* bytes per pixel */
	/* Bit positions of each channel in the little-endian 32-bit word. */
	uint8_t r_shift, g_shift, b_shift;
	int8_t a_shift;	  /* -1: no alpha (X channel) */
	const char *name; /* the virtio-gpu name, for logs */
};

/* The format for a VIRTIO_GPU_FORMAT_* value, or NULL if it is unknown. */
const struct kg_format *kg_format_from_virtio(uint32_t virtio_format);
/* The format for a DRM fourcc, or NULL if virtio-gpu has none for it. */
const struct kg_format *kg_format_from_drm(uint32_t drm_format);

/* The format of f's byte layout without alpha (ARGB8888 -> XRGB8888); f
 * itself when it has none. For a plane that must not blend what is only
 * padding. */
const struct kg_format *kg_format_opaque(const struct kg_format *f);

/* One pixel (a little-endian word of fmt) as 0xAARRGGBB; alpha 0xff when
 * the format has none. */
uint32_t kg_format_to_argb(const struct kg_format *fmt, uint32_t pixel);

#endif
