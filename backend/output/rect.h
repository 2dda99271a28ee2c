/* SPDX-License-Identifier: MIT */
/* kg_rect: a rectangle of pixels (damage, scanout areas) and its arithmetic. */
#ifndef KG_RECT_H
#define KG_RECT_H

#include <stdbool.h>
#include <stdint.h>

struct kg_rect {
	uint32_t x, y, width, height;
};

/* Bounding box of a and b (an empty rect, width or height 0, is ignored). */
struct kg_rect kg_rect_union(const struct kg_rect *a, const struct kg_rect *b);

/* r clipped to a w x h image (the guest may send any rectangle). */
struct kg_rect kg_rect_clip(const struct kg_rect *r, uint32_t w, uint32_t h);

/* r is not empty and lies inside a w x h image (overflow-safe). */
bool kg_rect_inside(const struct kg_rect *r, uint32_t w, uint32_t h);

#endif
