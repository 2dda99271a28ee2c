// SPDX-License-Identifier: MIT
/* kg_layout: full, scaled (aspect kept) and centred plane geometry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kms-layout.h"

static void test_full_covers_the_mode(void **state)
{
	struct kg_plane_setup ps;

	kg_layout_full(1920, 1080, 7, 1920, 1080, &ps);
	assert_int_equal(ps.fb_id, 7);
	assert_int_equal(ps.src_w, 1920);
	assert_int_equal(ps.crtc_x, 0);
	assert_int_equal(ps.crtc_w, 1920);
	assert_int_equal(ps.crtc_h, 1080);
}

static void test_scale_keeps_aspect_with_even_bars(void **state)
{
	struct kg_plane_setup ps;

	/* 4:3 on 16:9: pillarbox, 1440 wide, 240 each side */
	kg_layout_scale(1920, 1080, 1, 1024, 768, &ps);
	assert_int_equal(ps.src_w, 1024);
	assert_int_equal(ps.src_h, 768);
	assert_int_equal(ps.crtc_w, 1440);
	assert_int_equal(ps.crtc_h, 1080);
	assert_int_equal(ps.crtc_x, 240);
	assert_int_equal(ps.crtc_y, 0);
	/* 16:9 on 4:3: letterbox */
	kg_layout_scale(1024, 768, 1, 1920, 1080, &ps);
	assert_int_equal(ps.crtc_w, 1024);
	assert_int_equal(ps.crtc_h, 576);
	assert_int_equal(ps.crtc_y, 96);
}

static void test_centre_pads_a_smaller_image(void **state)
{
	struct kg_plane_setup ps;

	kg_layout_centre(1024, 768, 1, 800, 600, &ps);
	assert_int_equal(ps.src_x, 0);
	assert_int_equal(ps.src_w, 800);
	assert_int_equal(ps.crtc_x, 112);
	assert_int_equal(ps.crtc_y, 84);
	assert_int_equal(ps.crtc_w, 800);
	assert_int_equal(ps.crtc_h, 600);
}

static void test_centre_crops_a_larger_image(void **state)
{
	struct kg_plane_setup ps;

	kg_layout_centre(1024, 768, 1, 1920, 1080, &ps);
	assert_int_equal(ps.src_x, 448);
	assert_int_equal(ps.src_y, 156);
	assert_int_equal(ps.src_w, 1024);
	assert_int_equal(ps.src_h, 768);
	assert_int_equal(ps.crtc_x, 0);
	assert_int_equal(ps.crtc_y, 0);
}

static void test_degenerate_sizes_do_not_divide_by_zero(void **state)
{
	struct kg_plane_setup ps;

	kg_layout_scale(1024, 768, 1, 0, 768, &ps);
	kg_layout_scale(1024, 768, 1, 1024, 0, &ps);
	assert_int_equal(ps.crtc_w, 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_covers_the_mode),
		cmocka_unit_test(test_scale_keeps_aspect_with_even_bars),
		cmocka_unit_test(test_centre_pads_a_smaller_image),
		cmocka_unit_test(test_centre_crops_a_larger_image),
		cmocka_unit_test(test_degenerate_sizes_do_not_divide_by_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
