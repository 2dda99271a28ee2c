// SPDX-License-Identifier: MIT
/* kg_rect: rectangle arithmetic for damage, overflow-safe (64-bit sums). */
#include "rect.h"

struct kg_rect kg_rect_union(const struct kg_rect *a, const struct kg_rect *b)
{
	uint64_t x0, y0, x1, y1;

	if (!a->width || !a->height)
		return *b;
	if (!b->width || !b->height)
		return *a;
	x0 = a->x < b->x ? a->x : b->x;
	y0 = a->y < b->y ? a->y : b->y;
	x1 = (uint64_t)a->x + a->width > (uint64_t)b->x + b->width ? (uint64_t)a->x + a->width
								   : (uint64_t)b->x + b->width;
	y1 = (uint64_t)a->y + a->height > (uint64_t)b->y + b->height ? (uint64_t)a->y + a->height
								     : (uint64_t)b->y + b->height;
	return (struct kg_rect){ (uint32_t)x0, (uint32_t)y0, (uint32_t)(x1 - x0),
				 (uint32_t)(y1 - y0) };
}

struct kg_rect kg_rect_clip(const struct kg_rect *r, uint32_t w, uint32_t h)
{
	uint32_t x = r->x < w ? r->x : w, y = r->y < h ? r->y : h;

	return (struct kg_rect){ x, y, r->width < w - x ? r->width : w - x,
				 r->height < h - y ? r->height : h - y };
}

bool kg_rect_inside(const struct kg_rect *r, uint32_t w, uint32_t h)
{
	return r->width && r->height && (uint64_t)r->x + r->width <= w &&
	       (uint64_t)r->y + r->height <= h;
}
