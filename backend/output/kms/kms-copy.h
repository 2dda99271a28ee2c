/* SPDX-License-Identifier: MIT */
/*
 * kg_copy: the copy fallback's one job: copy the rows of a damaged rectangle
 * of a guest framebuffer (scattered over backing chunks) into a linear
 * destination, placed at (dst_x, dst_y) and clipped to the destination.
 * Pure memory work, no KMS: unit-tested on hand-made chunk lists.
 */
#ifndef KG_KMS_COPY_H
#define KG_KMS_COPY_H

#include <stdint.h>

#include "output.h"
#include "rect.h"

struct kg_copy_dst {
	uint8_t *map;
	uint32_t width, height, stride; /* pixels, pixels, bytes */
	int32_t x, y; /* where the source's pixel (0,0) lands: may be negative (cropped) */
};

/*
 * Copies damage (in source pixels, NULL = whole) of src into dst, cpp bytes
 * per pixel on both sides. The damage is clipped to the source and to what
 * lands inside dst. Returns the bytes copied (0 when nothing is visible), or
 * -EFAULT when the chunks end before a needed row does (nothing beyond
 * the chunks is read), -EINVAL on impossible geometry.
 */
int64_t kg_copy_damage(const struct kg_copy_dst *dst, const struct kg_fb_source *src, uint32_t cpp,
		       const struct kg_rect *damage);

/* A few disjoint rectangles: what a copy buffer lacks. Rectangles that
 * overlap or touch are merged; past KG_REGION_MAX everything becomes one
 * bounding box (never less than the truth, so nothing is ever missed). */
#define KG_REGION_MAX 4
struct kg_region {
	unsigned n;
	struct kg_rect r[KG_REGION_MAX];
};

void kg_region_add(struct kg_region *reg, const struct kg_rect *r);

#endif
