// SPDX-License-Identifier: MIT
/* kg_copy_damage: damaged rows from scattered chunks into a linear buffer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kms-copy.h"

#define W      40
#define H      30
#define STRIDE (W * 4 + 16)

struct src {
	uint8_t *mem; /* the backing, linear, then cut into chunks */
	struct kg_backing_chunk chunks[64];
	struct kg_fb_source fb;
};

static uint32_t px(unsigned x, unsigned y)
{
	return 0xff000000u | (x << 12) | y;
}

/* Backing cut into chunks of varying sizes (rows straddle chunks), stored in
 * shuffled order in memory to catch any assumption of contiguity. */
static void src_init(struct src *s, uint64_t offset)
{
	uint64_t total = offset + (uint64_t)STRIDE * H, pos = 0;
	unsigned n = 0, sizes[] = { 1000, 333, 4096, 77, 2500 };

	s->mem = calloc(1, total * 2);
	while (pos < total) {
		uint64_t len = sizes[n % 5];
		if (len > total - pos)
			len = total - pos;
		/* chunk n lives at mem + (total - pos - len) + total: reversed */
		s->chunks[n] = (struct kg_backing_chunk){ s->mem + total + (total - pos - len), len,
							  -1, 0 };
		pos += len;
		n++;
	}
	s->fb = (struct kg_fb_source){ .resource_id = 1,
				       .width = W,
				       .height = H,
				       .stride = STRIDE,
				       .offset = offset,
				       .chunks = s->chunks,
				       .n_chunks = n };
	for (unsigned y = 0; y < H; y++) {
		for (unsigned x = 0; x < W; x++) {
			uint64_t off = offset + (uint64_t)y * STRIDE + x * 4;
			uint32_t v = px(x, y);
			for (unsigned b = 0; b < 4; b++, off++) {
				/* find the chunk holding off */
				uint64_t p = 0;
				unsigned i = 0;
				while (off >= p + s->chunks[i].len)
					p += s->chunks[i++].len;
				((uint8_t *)s->chunks[i].va)[off - p] = (uint8_t)(v >> (8 * b));
			}
		}
	}
}

static uint32_t dst_px(const struct kg_copy_dst *d, unsigned x, unsigned y)
{
	uint32_t v;

	memcpy(&v, d->map + (size_t)y * d->stride + x * 4, 4);
	return v;
}

static struct kg_copy_dst dst_new(uint32_t w, uint32_t h, int32_t x, int32_t y)
{
	struct kg_copy_dst d = { NULL, w, h, w * 4, x, y };

	d.map = calloc(1, (size_t)d.stride * h);
	return d;
}

static void test_full_copy_is_exact(void **state)
{
	struct src s;
	struct kg_copy_dst d = dst_new(W, H, 0, 0);

	src_init(&s, 300);
	assert_int_equal(kg_copy_damage(&d, &s.fb, 4, NULL), W * H * 4);
	for (unsigned y = 0; y < H; y++)
		for (unsigned x = 0; x < W; x++)
			assert_int_equal(dst_px(&d, x, y), px(x, y));
	free(d.map);
	free(s.mem);
}

static void test_damage_copies_only_the_rectangle(void **state)
{
	struct src s;
	struct kg_copy_dst d = dst_new(W, H, 0, 0);
	struct kg_rect r = { 5, 7, 10, 3 };

	src_init(&s, 0);
	assert_int_equal(kg_copy_damage(&d, &s.fb, 4, &r), 10 * 3 * 4);
	for (unsigned y = 0; y < H; y++) {
		for (unsigned x = 0; x < W; x++) {
			bool in = x >= 5 && x < 15 && y >= 7 && y < 10;
			assert_int_equal(dst_px(&d, x, y), in ? px(x, y) : 0);
		}
	}
	free(d.map);
	free(s.mem);
}

static void test_centred_in_a_larger_destination(void **state)
{
	struct src s;
	struct kg_copy_dst d = dst_new(W + 20, H + 10, 10, 5);

	src_init(&s, 0);
	assert_int_equal(kg_copy_damage(&d, &s.fb, 4, NULL), W * H * 4);
	assert_int_equal(dst_px(&d, 10, 5), px(0, 0));
	assert_int_equal(dst_px(&d, 10 + W - 1, 5 + H - 1), px(W - 1, H - 1));
	assert_int_equal(dst_px(&d, 9, 5), 0);
	assert_int_equal(dst_px(&d, 10, 4), 0);
	free(d.map);
	free(s.mem);
}

static void test_cropped_in_a_smaller_destination(void **state)
{
	struct src s;
	struct kg_copy_dst d = dst_new(W - 10, H - 6, -5, -3);

	src_init(&s, 0);
	assert_int_equal(kg_copy_damage(&d, &s.fb, 4, NULL), (W - 10) * (H - 6) * 4);
	assert_int_equal(dst_px(&d, 0, 0), px(5, 3));
	assert_int_equal(dst_px(&d, W - 11, H - 7), px(W - 6, H - 4));
	free(d.map);
	free(s.mem);
}

static void test_hostile_damage_is_clipped(void **state)
{
	struct src s;
	struct kg_copy_dst d = dst_new(W, H, 0, 0);
	struct kg_rect wrap = { 30, 20, UINT32_MAX, UINT32_MAX };
	struct kg_rect outside = { UINT32_MAX, UINT32_MAX, 5, 5 };

	src_init(&s, 0);
	assert_int_equal(kg_copy_damage(&d, &s.fb, 4, &wrap), (W - 30) * (H - 20) * 4);
	assert_int_equal(kg_copy_damage(&d, &s.fb, 4, &outside), 0);
	free(d.map);
	free(s.mem);
}

static void test_short_backing_fails_without_reading_past_it(void **state)
{
	struct src s;
	struct kg_copy_dst d = dst_new(W, H, 0, 0);

	src_init(&s, 0);
	s.fb.n_chunks = 2; /* 1,333 bytes: a few rows only */
	assert_int_equal(kg_copy_damage(&d, &s.fb, 4, NULL), -EFAULT);
	s.fb.stride = 4; /* stride < row */
	assert_int_equal(kg_copy_damage(&d, &s.fb, 4, NULL), -EINVAL);
	free(d.map);
	free(s.mem);
}

static void test_rect_union(void **state)
{
	struct kg_rect a = { 10, 10, 5, 5 }, b = { 0, 12, 3, 10 }, e = { 0 };
	struct kg_rect u = kg_rect_union(&a, &b);

	assert_int_equal(u.x, 0);
	assert_int_equal(u.y, 10);
	assert_int_equal(u.width, 15);
	assert_int_equal(u.height, 12);
	u = kg_rect_union(&e, &a);
	assert_memory_equal(&u, &a, sizeof(a));
	u = kg_rect_union(&a, &e);
	assert_memory_equal(&u, &a, sizeof(a));
}

static void test_rect_clip(void **state)
{
	struct kg_rect wrap = { 10, 20, UINT32_MAX, UINT32_MAX }, out = { 500, 500, 5, 5 };
	struct kg_rect c = kg_rect_clip(&wrap, 40, 30);

	assert_int_equal(c.x, 10);
	assert_int_equal(c.width, 30);
	assert_int_equal(c.height, 10);
	c = kg_rect_clip(&out, 40, 30);
	assert_int_equal(c.width, 0);
	assert_int_equal(c.height, 0);
}

static unsigned region_area(const struct kg_region *reg)
{
	unsigned a = 0;

	for (unsigned i = 0; i < reg->n; i++)
		a += reg->r[i].width * reg->r[i].height;
	return a;
}

static void test_region_merges_touching_keeps_apart_disjoint(void **state)
{
	struct kg_region reg = { 0 };
	struct kg_rect band0 = { 0, 0, 100, 10 }, band1 = { 0, 10, 100, 10 };
	struct kg_rect band7 = { 0, 70, 100, 10 }, empty = { 5, 5, 0, 9 };

	kg_region_add(&reg, &band7);
	kg_region_add(&reg, &band0);
	assert_int_equal(reg.n, 2); /* a bounding box would be 8 bands */
	assert_int_equal(region_area(&reg), 2000);
	kg_region_add(&reg, &band1); /* touches band0: merged */
	assert_int_equal(reg.n, 2);
	assert_int_equal(region_area(&reg), 3000);
	kg_region_add(&reg, &empty);
	assert_int_equal(reg.n, 2);
}

static void test_region_overflows_into_a_bounding_box(void **state)
{
	struct kg_region reg = { 0 };

	for (uint32_t i = 0; i < KG_REGION_MAX + 1; i++) {
		struct kg_rect r = { i * 10, i * 10, 2, 2 };
		kg_region_add(&reg, &r);
	}
	/* Never less than the truth: one box covering all five. */
	assert_int_equal(reg.n, 1);
	assert_int_equal(reg.r[0].x, 0);
	assert_int_equal(reg.r[0].width, KG_REGION_MAX * 10 + 2);
}

/* A rendered frame: its renderer reads the damage (clipped to the source
 * and the destination) straight to where it lands; nothing else is read. */
struct rd {
	int calls;
	struct kg_rect r;
	uint32_t stride;
	const uint8_t *dst;
};

static int read_fill(void *data, const struct kg_rect *r, void *dst, uint32_t dst_stride)
{
	struct rd *rd = data;

	rd->calls++;
	rd->r = *r;
	rd->stride = dst_stride;
	rd->dst = dst;
	for (uint32_t y = 0; y < r->height; y++)
		for (uint32_t x = 0; x < r->width; x++)
			memcpy((uint8_t *)dst + (size_t)y * dst_stride + x * 4,
			       &(uint32_t){ px(r->x + x, r->y + y) }, 4);
	return 0;
}

static void test_rendered_frame_read_into_place(void **state)
{
	struct rd rd = { 0 };
	struct kg_fb_source fb = { .kind = KG_FB_RENDERED,
				   .width = W,
				   .height = H,
				   .stride = W * 4,
				   .read = read_fill,
				   .read_data = &rd };
	struct kg_copy_dst d = dst_new(32, 32, -4, 6); /* cropped left, moved down */
	struct kg_rect dmg = { 2, 20, 30, 50 };	       /* runs off the bottom */

	assert_int_equal(kg_copy_damage(&d, &fb, 4, &dmg), 28 * 6 * 4);
	assert_int_equal(rd.calls, 1);
	/* Source x 4..32 (left crop, right edge of dst), y 20..26 (dst bottom). */
	assert_int_equal(rd.r.x, 4);
	assert_int_equal(rd.r.y, 20);
	assert_int_equal(rd.r.width, 28);
	assert_int_equal(rd.r.height, 6);
	assert_int_equal(rd.stride, d.stride);
	assert_ptr_equal(rd.dst, d.map + (size_t)26 * d.stride);
	assert_int_equal(dst_px(&d, 0, 26), px(4, 20));
	assert_int_equal(dst_px(&d, 27, 31), px(31, 25));
	/* Fully outside: the renderer is not asked. */
	rd.calls = 0;
	assert_int_equal(kg_copy_damage(&d, &fb, 4, &(struct kg_rect){ 0, 0, 3, 3 }), 0);
	assert_int_equal(rd.calls, 0);
	free(d.map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_copy_is_exact),
		cmocka_unit_test(test_damage_copies_only_the_rectangle),
		cmocka_unit_test(test_centred_in_a_larger_destination),
		cmocka_unit_test(test_cropped_in_a_smaller_destination),
		cmocka_unit_test(test_hostile_damage_is_clipped),
		cmocka_unit_test(test_short_backing_fails_without_reading_past_it),
		cmocka_unit_test(test_rect_union),
		cmocka_unit_test(test_rect_clip),
		cmocka_unit_test(test_region_merges_touching_keeps_apart_disjoint),
		cmocka_unit_test(test_region_overflows_into_a_bounding_box),
		cmocka_unit_test(test_rendered_frame_read_into_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
