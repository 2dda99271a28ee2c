// SPDX-License-Identifier: MIT
/* kg_udmabuf_plan: guest chunks → merged, page-aligned udmabuf ranges. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "udmabuf.h"

#define PG 4096u

static const struct kg_udmabuf_limits big = { 1024, 64ull << 20 };

/* n one-page chunks of memfd 7 at the given page numbers. */
static struct kg_backing_chunk *pages(const unsigned *pgno, unsigned n)
{
	struct kg_backing_chunk *c = calloc(n, sizeof(*c));

	for (unsigned i = 0; i < n; i++)
		c[i] = (struct kg_backing_chunk){ NULL, PG, 7, (uint64_t)pgno[i] * PG };
	return c;
}

static struct kg_fb_source fb_of(struct kg_backing_chunk *c, unsigned n, uint32_t w, uint32_t h,
				 uint32_t stride, uint64_t offset)
{
	return (struct kg_fb_source){ .resource_id = 1,
				      .width = w,
				      .height = h,
				      .stride = stride,
				      .offset = offset,
				      .chunks = c,
				      .n_chunks = n };
}

static void test_contiguous_pages_merge_into_one_range(void **state)
{
	unsigned pg[] = { 10, 11, 12, 13 };
	struct kg_backing_chunk *c = pages(pg, 4);
	struct kg_fb_source fb = fb_of(c, 4, 64, 64, 256, 0); /* 16 KiB */
	struct kg_udmabuf_plan p;

	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), 0);
	assert_int_equal(p.n_ranges, 1);
	assert_int_equal(p.n_chunks, 4);
	assert_int_equal(p.ranges[0].memfd, 7);
	assert_int_equal(p.ranges[0].offset, 10 * PG);
	assert_int_equal(p.ranges[0].size, 4 * PG);
	assert_int_equal(p.size, 4 * PG);
	assert_int_equal(p.fb_offset, 0);
	kg_udmabuf_plan_finish(&p);
	free(c);
}

static void test_scattered_pages_give_one_range_per_run(void **state)
{
	/* Runs: 5 | 9,10 | 3 | 20,21,22 → 4 ranges. */
	unsigned pg[] = { 5, 9, 10, 3, 20, 21, 22 };
	struct kg_backing_chunk *c = pages(pg, 7);
	struct kg_fb_source fb = fb_of(c, 7, 1024, 7, 4096, 0);
	struct kg_udmabuf_plan p;

	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), 0);
	assert_int_equal(p.n_ranges, 4);
	assert_int_equal(p.ranges[1].offset, 9 * PG);
	assert_int_equal(p.ranges[1].size, 2 * PG);
	assert_int_equal(p.ranges[3].size, 3 * PG);
	assert_int_equal(p.size, 7 * PG);
	kg_udmabuf_plan_finish(&p);
	free(c);
}

static void test_different_memfds_do_not_merge(void **state)
{
	unsigned pg[] = { 1, 2 };
	struct kg_backing_chunk *c = pages(pg, 2);
	struct kg_fb_source fb = fb_of(c, 2, 1024, 2, 4096, 0);
	struct kg_udmabuf_plan p;

	c[1].memfd = 8;
	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), 0);
	assert_int_equal(p.n_ranges, 2);
	kg_udmabuf_plan_finish(&p);
	free(c);
}

static void test_only_the_image_span_is_taken(void **state)
{
	/* 8 pages of backing, the image (2 rows of 4 KiB) starts in page 2
	 * at byte 100: pages 2..4 are needed, fb_offset 100. */
	unsigned pg[] = { 40, 30, 20, 21, 22, 50, 60, 70 };
	struct kg_backing_chunk *c = pages(pg, 8);
	struct kg_fb_source fb = fb_of(c, 8, 1024, 2, 4096, 2 * PG + 100);
	struct kg_udmabuf_plan p;

	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), 0);
	assert_int_equal(p.n_chunks, 3);
	assert_int_equal(p.n_ranges, 1);
	assert_int_equal(p.ranges[0].offset, 20 * PG);
	assert_int_equal(p.ranges[0].size, 3 * PG);
	assert_int_equal(p.fb_offset, 100);
	kg_udmabuf_plan_finish(&p);
	free(c);
}

static void test_unaligned_inner_boundary_is_refused(void **state)
{
	struct kg_backing_chunk c[2] = { { NULL, 6000, 7, 0 }, { NULL, 6000, 7, 100 * PG } };
	struct kg_fb_source fb = fb_of(c, 2, 1000, 3, 4000, 0);
	struct kg_udmabuf_plan p;

	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), -ENOTSUP);
	kg_udmabuf_plan_finish(&p);
}

static void test_list_limit_is_checked_and_reported(void **state)
{
	unsigned pg[64];
	struct kg_backing_chunk *c;
	struct kg_udmabuf_limits small = { 16, 64ull << 20 };
	struct kg_fb_source fb;
	struct kg_udmabuf_plan p;

	for (unsigned i = 0; i < 64; i++)
		pg[i] = 2 * i; /* every other page: no merging */
	c = pages(pg, 64);
	fb = fb_of(c, 64, 1024, 64, 4096, 0);
	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &small, &p), -E2BIG);
	assert_int_equal(p.n_ranges, 64);
	kg_udmabuf_plan_finish(&p);
	small.list_limit = 64;
	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &small, &p), 0);
	kg_udmabuf_plan_finish(&p);
	free(c);
}

static void test_size_limit_is_checked(void **state)
{
	struct kg_backing_chunk c = { NULL, 8ull << 20, 7, 0 };
	struct kg_udmabuf_limits small = { 1024, 4ull << 20 };
	struct kg_fb_source fb = fb_of(&c, 1, 1024, 2048, 4096, 0); /* 8 MiB */
	struct kg_udmabuf_plan p;

	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &small, &p), -EFBIG);
	assert_int_equal(p.size, 8ull << 20);
	kg_udmabuf_plan_finish(&p);
}

static void test_short_backing_is_refused(void **state)
{
	unsigned pg[] = { 1, 2 };
	struct kg_backing_chunk *c = pages(pg, 2);
	struct kg_fb_source fb = fb_of(c, 2, 1024, 3, 4096, 0); /* needs 3 pages */
	struct kg_udmabuf_plan p;

	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), -EFAULT);
	kg_udmabuf_plan_finish(&p);
	free(c);
}

static void test_impossible_geometry_is_refused(void **state)
{
	unsigned pg[] = { 1, 2 };
	struct kg_backing_chunk *c = pages(pg, 2);
	struct kg_fb_source fb = fb_of(c, 2, 1024, 2, 1000, 0); /* stride < row */
	struct kg_udmabuf_plan p;

	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), -EINVAL);
	kg_udmabuf_plan_finish(&p);
	fb = fb_of(c, 2, 0, 2, 4096, 0);
	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), -EINVAL);
	kg_udmabuf_plan_finish(&p);
	fb = fb_of(c, 2, 1024, 2, 4096, UINT64_MAX - 10); /* offset + span wraps */
	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), -EINVAL);
	kg_udmabuf_plan_finish(&p);
	c[1].len = UINT64_MAX; /* chunk lengths that wrap the running position */
	fb = fb_of(c, 2, 1024, 2, 4096, 0);
	assert_int_not_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), 0);
	kg_udmabuf_plan_finish(&p);
	free(c);
}

static void test_missing_memfd_is_refused(void **state)
{
	unsigned pg[] = { 1, 2 };
	struct kg_backing_chunk *c = pages(pg, 2);
	struct kg_fb_source fb = fb_of(c, 2, 1024, 2, 4096, 0);
	struct kg_udmabuf_plan p;

	c[1].memfd = -1;
	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), -EBADF);
	kg_udmabuf_plan_finish(&p);
	free(c);
}

/* A Linux guest's 1080p dumb buffer: 2,025 pages; contiguous or not. */
static void test_1080p_range_counts(void **state)
{
	unsigned n = (1920 * 4 * 1080 + PG - 1) / PG;
	unsigned *pg = calloc(n, sizeof(*pg));
	struct kg_backing_chunk *c;
	struct kg_fb_source fb;
	struct kg_udmabuf_plan p;

	assert_int_equal(n, 2025);
	for (unsigned i = 0; i < n; i++)
		pg[i] = 3 * i; /* fully scattered */
	c = pages(pg, n);
	fb = fb_of(c, n, 1920, 1080, 7680, 0);
	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), -E2BIG);
	assert_int_equal(p.n_ranges, 2025);
	kg_udmabuf_plan_finish(&p);
	for (unsigned i = 0; i < n; i++)
		c[i].fd_offset = (uint64_t)(i + (i / 512) * 7) * PG; /* 2 MiB runs */
	assert_int_equal(kg_udmabuf_plan(&fb, 4, PG, &big, &p), 0);
	assert_int_equal(p.n_ranges, 4);
	kg_udmabuf_plan_finish(&p);
	free(c);
	free(pg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contiguous_pages_merge_into_one_range),
		cmocka_unit_test(test_scattered_pages_give_one_range_per_run),
		cmocka_unit_test(test_different_memfds_do_not_merge),
		cmocka_unit_test(test_only_the_image_span_is_taken),
		cmocka_unit_test(test_unaligned_inner_boundary_is_refused),
		cmocka_unit_test(test_list_limit_is_checked_and_reported),
		cmocka_unit_test(test_size_limit_is_checked),
		cmocka_unit_test(test_short_backing_is_refused),
		cmocka_unit_test(test_impossible_geometry_is_refused),
		cmocka_unit_test(test_missing_memfd_is_refused),
		cmocka_unit_test(test_1080p_range_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
