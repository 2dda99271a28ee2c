// SPDX-License-Identifier: MIT
/* virtio-gpu formats → DRM fourccs, checked through the bytes in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <drm_fourcc.h>
#include <linux/virtio_gpu.h>

#include "format.h"

/* For each format, the bytes in memory of one pixel with R=0x11 G=0x22
 * B=0x33 A=0x44 (X channels hold 0x44 too), from the format's name. */
static const struct {
	uint32_t virtio, drm;
	uint8_t bytes[4];
	int has_alpha;
} cases[] = {
	{ VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, DRM_FORMAT_ARGB8888, { 0x33, 0x22, 0x11, 0x44 }, 1 },
	{ VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, DRM_FORMAT_XRGB8888, { 0x33, 0x22, 0x11, 0x44 }, 0 },
	{ VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, DRM_FORMAT_BGRA8888, { 0x44, 0x11, 0x22, 0x33 }, 1 },
	{ VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, DRM_FORMAT_BGRX8888, { 0x44, 0x11, 0x22, 0x33 }, 0 },
	{ VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, DRM_FORMAT_ABGR8888, { 0x11, 0x22, 0x33, 0x44 }, 1 },
	{ VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, DRM_FORMAT_RGBX8888, { 0x44, 0x33, 0x22, 0x11 }, 0 },
	{ VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, DRM_FORMAT_RGBA8888, { 0x44, 0x33, 0x22, 0x11 }, 1 },
	{ VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, DRM_FORMAT_XBGR8888, { 0x11, 0x22, 0x33, 0x44 }, 0 },
};

static void test_every_virtio_format_maps_to_its_fourcc(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct kg_format *f = kg_format_from_virtio(cases[i].virtio);

		assert_non_null(f);
		assert_int_equal(f->drm, cases[i].drm);
		assert_int_equal(f->cpp, 4);
		assert_ptr_equal(kg_format_from_drm(cases[i].drm), f);
	}
}

static void test_channels_match_the_byte_order(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct kg_format *f = kg_format_from_virtio(cases[i].virtio);
		uint32_t word, want = cases[i].has_alpha ? 0x44112233u : 0xff112233u;

		memcpy(&word, cases[i].bytes, 4); /* little-endian host */
		assert_int_equal(kg_format_to_argb(f, word), want);
	}
}

static void test_unknown_formats(void **state)
{
	assert_null(kg_format_from_virtio(0));
	assert_null(kg_format_from_virtio(5));
	assert_null(kg_format_from_virtio(0xffffffffu));
	assert_null(kg_format_from_drm(DRM_FORMAT_RGB565));
}

/* A plane must not blend padding as alpha: the same layout without it. */
static void test_opaque(void **state)
{
	assert_int_equal(kg_format_opaque(kg_format_from_drm(DRM_FORMAT_ABGR8888))->drm,
			 DRM_FORMAT_XBGR8888);
	assert_int_equal(kg_format_opaque(kg_format_from_drm(DRM_FORMAT_ARGB8888))->drm,
			 DRM_FORMAT_XRGB8888);
	assert_int_equal(kg_format_opaque(kg_format_from_drm(DRM_FORMAT_RGBA8888))->drm,
			 DRM_FORMAT_RGBX8888);
	assert_int_equal(kg_format_opaque(kg_format_from_drm(DRM_FORMAT_XRGB8888))->drm,
			 DRM_FORMAT_XRGB8888);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_virtio_format_maps_to_its_fourcc),
		cmocka_unit_test(test_channels_match_the_byte_order),
		cmocka_unit_test(test_unknown_formats),
		cmocka_unit_test(test_opaque),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
