// SPDX-License-Identifier: MIT
#include "kms-copy.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Overlapping or sharing an edge: merging them costs no extra pixels. */
static bool touch(const struct kg_rect *a, const struct kg_rect *b)
{
	return (uint64_t)a->x <= (uint64_t)b->x + b->width &&
	       (uint64_t)b->x <= (uint64_t)a->x + a->width &&
	       (uint64_t)a->y <= (uint64_t)b->y + b->height &&
	       (uint64_t)b->y <= (uint64_t)a->y + a->height;
}

void kg_region_add(struct kg_region *reg, const struct kg_rect *r)
{
	struct kg_rect cur = *r;
	bool merged = true;

	if (!cur.width || !cur.height)
		return;
	while (merged) {
		merged = false;
		for (unsigned i = 0; i < reg->n; i++) {
			if (touch(&cur, &reg->r[i])) {
				cur = kg_rect_union(&cur, &reg->r[i]);
				reg->r[i] = reg->r[--reg->n];
				merged = true;
				break;
			}
		}
	}
	if (reg->n == KG_REGION_MAX) {
		for (unsigned i = 0; i < reg->n; i++)
			cur = kg_rect_union(&cur, &reg->r[i]);
		reg->n = 0;
	}
	reg->r[reg->n++] = cur;
}

/* Walks the chunks forward only: rows are copied top to bottom. */
struct chunk_cursor {
	const struct kg_fb_source *src;
	unsigned idx;
	uint64_t start; /* backing offset of chunks[idx] */
};

static int read_backing(struct chunk_cursor *c, uint64_t off, uint8_t *out, uint64_t len)
{
	const struct kg_fb_source *s = c->src;

	while (len) {
		const struct kg_backing_chunk *ch;
		uint64_t in, n;

		while (c->idx < s->n_chunks && off >= c->start + s->chunks[c->idx].len) {
			c->start += s->chunks[c->idx].len;
			c->idx++;
		}
		if (c->idx >= s->n_chunks)
			return -EFAULT;
		ch = &s->chunks[c->idx];
		in = off - c->start;
		n = ch->len - in < len ? ch->len - in : len;
		memcpy(out, (const uint8_t *)ch->va + in, n);
		out += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Clips [a, a + len) of the source axis to what lands in [0, dst_len). */
static void clip_axis(int64_t pos, uint32_t dst_len, uint64_t *a, uint64_t *len)
{
	int64_t lo = (int64_t)*a + pos, hi = lo + (int64_t)*len;

	if (lo < 0)
		lo = 0;
	if (hi > (int64_t)dst_len)
		hi = dst_len;
	if (hi <= lo) {
		*len = 0;
		return;
	}
	*a = (uint64_t)(lo - pos);
	*len = (uint64_t)(hi - lo);
}

int64_t kg_copy_damage(const struct kg_copy_dst *dst, const struct kg_fb_source *src, uint32_t cpp,
		       const struct kg_rect *damage)
{
	struct kg_rect full = { 0, 0, src->width, src->height };
	struct chunk_cursor cur = { src, 0, 0 };
	uint64_t x, y, w, h;
	int64_t copied = 0;

	if (!cpp || (uint64_t)src->width * cpp > src->stride)
		return -EINVAL;
	if (!damage)
		damage = &full;
	/* Clip the damage to the source first: the guest may send anything. */
	x = damage->x < src->width ? damage->x : src->width;
	y = damage->y < src->height ? damage->y : src->height;
	w = (uint64_t)damage->width < src->width - x ? damage->width : src->width - x;
	h = (uint64_t)damage->height < src->height - y ? damage->height : src->height - y;
	clip_axis(dst->x, dst->width, &x, &w);
	clip_axis(dst->y, dst->height, &y, &h);
	if (!w || !h)
		return 0;
	if (src->kind == KG_FB_RENDERED) {
		/* The renderer reads the rectangle back itself, straight into
		 * the destination (one read instead of one per row). */
		struct kg_rect r = { (uint32_t)x, (uint32_t)y, (uint32_t)w, (uint32_t)h };
		int ret =
			src->read
				? src->read(src->read_data, &r,
					    dst->map +
						    (uint64_t)((int64_t)y + dst->y) * dst->stride +
						    (uint64_t)((int64_t)x + dst->x) * cpp,
					    dst->stride)
				: -EINVAL;

		return ret < 0 ? ret : (int64_t)(w * h * cpp);
	}
	for (uint64_t row = y; row < y + h; row++) {
		uint64_t off = src->offset + row * src->stride + x * cpp;
		uint8_t *out = dst->map + (uint64_t)((int64_t)row + dst->y) * dst->stride +
			       (uint64_t)((int64_t)x + dst->x) * cpp;

		if (off < src->offset || read_backing(&cur, off, out, w * cpp) < 0)
			return -EFAULT;
		copied += (int64_t)(w * cpp);
	}
	return copied;
}
