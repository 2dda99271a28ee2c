// SPDX-License-Identifier: MIT
/* The headless output (frames, damage, completion, PNG, EDID), the output
 * join, and the latency statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <drm_fourcc.h>
#include <png.h>

#include "config.h"
#include "loop.h"
#include "edid.h"
#include "output-headless.h"
#include "stats.h"
#include "trace.h"
#include "output-join.h"
#ifdef HAVE_DISPLAY_INFO
#include <libdisplay-info/info.h>
#endif

#define W 64
#define H 48

struct done {
	int calls;
	struct kg_present_result res;
};

static void done_cb(void *data, const struct kg_present_result *res)
{
	struct done *d = data;

	d->calls++;
	d->res = *res;
}

/* An XRGB image split into two chunks at an odd byte offset. */
struct image {
	uint8_t *mem;
	struct kg_backing_chunk chunks[2];
	struct kg_fb_source fb;
};

static void image_init(struct image *im, uint32_t fourcc, uint32_t seed)
{
	size_t size = (size_t)W * H * 4 + 4096;

	im->mem = calloc(1, size);
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			((uint32_t *)(im->mem + 64))[y * W + x] = seed + y * 1000 + x;
	im->chunks[0] = (struct kg_backing_chunk){ im->mem, 1001, -1, 0 };
	im->chunks[1] = (struct kg_backing_chunk){ im->mem + 1001, size - 1001, -1, 1001 };
	im->fb = (struct kg_fb_source){ .resource_id = 1,
					.drm_format = fourcc,
					.width = W,
					.height = H,
					.stride = W * 4,
					.offset = 64,
					.chunks = im->chunks,
					.n_chunks = 2 };
}

static uint32_t argb_of(uint32_t fourcc, uint32_t v)
{
	return fourcc == DRM_FORMAT_XRGB8888 ? (v | 0xff000000u) : v;
}

static void run_until(struct kg_loop *loop, struct done *d, int calls)
{
	for (int i = 0; i < 100 && d->calls < calls; i++)
		kg_loop_dispatch(loop, 10);
}

static void test_present_copies_and_completes_later(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	struct kg_headless_config cfg = { 2, W, H, 0 };
	struct kg_output *out = kg_output_headless_create(loop, &cfg);
	struct image im;
	struct done d = { 0 };
	const uint32_t *f;
	uint32_t w, h;

	image_init(&im, DRM_FORMAT_XRGB8888, 0x00100000);
	assert_null(kg_output_headless_frame(out, 1, &w, &h));
	assert_int_equal(out->ops->present(out, 1, &im.fb, NULL, done_cb, &d), 0);
	assert_int_equal(d.calls, 0); /* never from inside present */
	run_until(loop, &d, 1);
	assert_int_equal(d.calls, 1);
	assert_true(d.res.shown);
	assert_false(d.res.zero_copy);
	assert_int_equal(d.res.bytes_copied, W * H * 4);
	assert_true(d.res.flip_ns >= d.res.commit_ns);
	f = kg_output_headless_frame(out, 1, &w, &h);
	assert_non_null(f);
	assert_int_equal(w, W);
	for (uint32_t i = 0; i < W * H; i++)
		assert_int_equal(f[i],
				 argb_of(DRM_FORMAT_XRGB8888, 0x00100000 + (i / W) * 1000 + i % W));

	/* Only the damaged rectangle is copied. */
	for (uint32_t i = 0; i < W * H; i++)
		((uint32_t *)(im.mem + 64))[i] = 0x00abcdef;
	struct kg_rect dmg = { 10, 5, 3, 2 };
	assert_int_equal(out->ops->present(out, 1, &im.fb, &dmg, done_cb, &d), 0);
	run_until(loop, &d, 2);
	assert_int_equal(d.res.bytes_copied, 3 * 2 * 4);
	assert_int_equal(f[5 * W + 10], 0xffabcdef);
	assert_int_equal(f[6 * W + 12], 0xffabcdef);
	assert_int_equal(f[5 * W + 9], argb_of(DRM_FORMAT_XRGB8888, 0x00100000 + 5 * 1000 + 9));
	assert_int_equal(f[7 * W + 10], argb_of(DRM_FORMAT_XRGB8888, 0x00100000 + 7 * 1000 + 10));
	out->ops->destroy(out);
	kg_loop_destroy(loop);
	free(im.mem);
}

static void test_newer_frame_supersedes(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	struct kg_headless_config cfg = { 1, W, H, 60000 };
	struct kg_output *out = kg_output_headless_create(loop, &cfg);
	struct image im;
	struct done a = { 0 }, b = { 0 };

	image_init(&im, DRM_FORMAT_ARGB8888, 0x80000000u);
	assert_int_equal(out->ops->present(out, 0, &im.fb, NULL, done_cb, &a), 0);
	assert_int_equal(out->ops->present(out, 0, &im.fb, NULL, done_cb, &b), 0);
	assert_int_equal(a.calls, 1);
	assert_false(a.res.shown);
	run_until(loop, &b, 1);
	assert_true(b.res.shown);
	out->ops->destroy(out);
	kg_loop_destroy(loop);
	free(im.mem);
}

static void test_bad_frames_are_refused(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	struct kg_headless_config cfg = { 1, W, H, 0 };
	struct kg_output *out = kg_output_headless_create(loop, &cfg);
	struct image im;
	struct done d = { 0 };
	struct kg_rect outside = { 60, 0, 8, 1 };

	image_init(&im, DRM_FORMAT_XRGB8888, 0);
	im.fb.offset = 4096 + 64 + 1; /* the last row would run past the chunks */
	assert_true(out->ops->present(out, 0, &im.fb, NULL, done_cb, &d) < 0);
	im.fb.offset = 64;
	im.fb.stride = W * 4 - 4;
	assert_true(out->ops->present(out, 0, &im.fb, NULL, done_cb, &d) < 0);
	im.fb.stride = W * 4;
	im.fb.drm_format = DRM_FORMAT_RGB565;
	assert_true(out->ops->present(out, 0, &im.fb, NULL, done_cb, &d) < 0);
	im.fb.drm_format = DRM_FORMAT_XRGB8888;
	assert_true(out->ops->present(out, 1, &im.fb, NULL, done_cb, &d) < 0);
	assert_int_equal(out->ops->present(out, 0, &im.fb, NULL, done_cb, &d), 0);
	run_until(loop, &d, 1);
	assert_true(out->ops->present(out, 0, &im.fb, &outside, done_cb, &d) < 0);
	assert_int_equal(d.calls, 1);
	out->ops->destroy(out);
	kg_loop_destroy(loop);
	free(im.mem);
}

static void test_png_round_trip(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	struct kg_headless_config cfg = { 1, W, H, 0 };
	struct kg_output *out = kg_output_headless_create(loop, &cfg);
	char dir[] = "/tmp/kg-png-XXXXXX", path[64];
	png_image img = { .version = PNG_IMAGE_VERSION };
	uint8_t *rgb;
	struct image im;
	struct done d = { 0 };

	assert_non_null(mkdtemp(dir));
	assert_int_equal(kg_output_headless_write_png(out, dir), 0); /* no frame yet */
	image_init(&im, DRM_FORMAT_XRGB8888, 0x00204060);
	assert_int_equal(out->ops->present(out, 0, &im.fb, NULL, done_cb, &d), 0);
	run_until(loop, &d, 1);
	assert_int_equal(kg_output_headless_write_png(out, dir), 1);
	snprintf(path, sizeof(path), "%s/scanout-0.png", dir);
	assert_true(png_image_begin_read_from_file(&img, path));
	assert_int_equal(img.width, W);
	assert_int_equal(img.height, H);
	img.format = PNG_FORMAT_RGB;
	rgb = malloc(PNG_IMAGE_SIZE(img));
	assert_true(png_image_finish_read(&img, NULL, rgb, 0, NULL));
	for (uint32_t i = 0; i < W * H; i++) {
		uint32_t v = 0x00204060 + (i / W) * 1000 + i % W;
		assert_int_equal(rgb[3 * i], (v >> 16) & 0xff);
		assert_int_equal(rgb[3 * i + 1], (v >> 8) & 0xff);
		assert_int_equal(rgb[3 * i + 2], v & 0xff);
	}
	free(rgb);
	assert_true(kg_output_headless_write_png(out, "/nonexistent/dir") < 0);
	unlink(path);
	rmdir(dir);
	out->ops->destroy(out);
	kg_loop_destroy(loop);
	free(im.mem);
}

static void test_edid(void **state)
{
	uint8_t e[128];
	uint8_t sum = 0;

	kg_edid_generate(e, 1920, 1080, 60000);
	for (int i = 0; i < 128; i++)
		sum += e[i];
	assert_int_equal(sum, 0);
	assert_memory_equal(e, "\0\xff\xff\xff\xff\xff\xff\0", 8);
	/* Detailed timing: 1920 x 1080 active. */
	assert_int_equal(e[56] | (e[58] >> 4) << 8, 1920);
	assert_int_equal(e[59] | (e[61] >> 4) << 8, 1080);
#ifdef HAVE_DISPLAY_INFO
	struct di_info *info = di_info_parse_edid(e, sizeof(e));
	char *model;

	assert_non_null(info);
	model = di_info_get_model(info);
	assert_string_equal(model, "kmsgate");
	free(model);
	di_info_destroy(info);
#endif
}

static void test_join(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	struct kg_headless_config c1 = { 1, W, H, 0 }, c2 = { 2, 32, 16, 0 };
	struct kg_output *outs[2] = { kg_output_headless_create(loop, &c1),
				      kg_output_headless_create(loop, &c2) };
	struct kg_output *j = kg_output_join(outs, 2);
	struct kg_scanout_info info;
	struct image im;
	struct done d = { 0 };
	uint32_t w, h;

	assert_non_null(j);
	assert_int_equal(j->ops->num_scanouts(j), 3);
	assert_int_equal(j->ops->get_info(j, 2, &info), 0);
	assert_int_equal(info.width, 32);
	assert_true(j->ops->get_info(j, 3, &info) < 0);
	image_init(&im, DRM_FORMAT_XRGB8888, 7);
	assert_int_equal(j->ops->present(j, 2, &im.fb, NULL, done_cb, &d), 0);
	run_until(loop, &d, 1);
	assert_non_null(kg_output_headless_frame(outs[1], 1, &w, &h));
	assert_null(kg_output_headless_frame(outs[1], 0, &w, &h));
	assert_null(kg_output_headless_frame(outs[0], 0, &w, &h));
	j->ops->destroy(j);
	kg_loop_destroy(loop);
	free(im.mem);
}

static void test_percentile(void **state)
{
	uint64_t v[100];

	for (int i = 0; i < 100; i++)
		v[i] = (uint64_t)(100 - i); /* 100..1 */
	assert_int_equal(kg_stats_percentile(v, 100, 50), 50);
	assert_int_equal(kg_stats_percentile(v, 100, 99), 99);
	assert_int_equal(kg_stats_percentile(v, 100, 100), 100);
	assert_int_equal(kg_stats_percentile(v, 1, 50), 1);
	assert_int_equal(kg_stats_percentile(v, 0, 50), 0);
}

static void test_stats_json(void **state)
{
	struct kg_stats *s = kg_stats_create();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	for (uint64_t i = 0; i < 10; i++) {
		struct kg_stats_frame fr = { .scanout = 1,
					     .shown = true,
					     .path = "zero-copy",
					     .zero_copy = true,
					     .recv_ns = 1000,
					     .commit_ns = 1000 + 1000 * (i + 1),
					     .flip_ns = 50000,
					     .fence_ns = 51000 };
		kg_stats_add(s, &fr);
	}
	struct kg_stats_frame co = { .scanout = 1, .coalesced = true, .recv_ns = 1 };
	struct kg_stats_frame cp = { .scanout = 1,
				     .shown = true,
				     .path = "copy",
				     .recv_ns = 1,
				     .commit_ns = 2,
				     .flip_ns = 3,
				     .bytes_copied = 4000 };
	kg_stats_add(s, &co);
	kg_stats_add(s, &cp);
	assert_int_equal(kg_stats_write(s, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\"scanout\": 1"));
	assert_non_null(strstr(buf, "\"frames\": 12, \"shown\": 11, \"coalesced\": 1"));
	assert_non_null(strstr(buf, "\"zero_copy_ratio\": 0.909"));
	assert_non_null(strstr(buf, "\"bytes_copied_per_frame\": 363.6"));
	/* recv->commit: 1..10 us and 0.001 us; p50 = 5 us, max 10 us. */
	assert_non_null(strstr(buf, "\"recv_to_commit\": {\"samples\": 11, \"p50_us\": 5.0"));
	assert_non_null(strstr(buf, "\"max_us\": 10.0"));
	assert_null(strstr(buf, "\"scanout\": 0"));
	free(buf);
	kg_stats_destroy(s);
}

/* A paced guest at 60 Hz: released by each frame's fence just after its
 * flip, it draws for 4 ms; the fourth frame comes 2 refreshes late (drawn
 * for vblank 4, shown at 6). draw and release_to_glass are measured from
 * the fence before each frame, so the first frame has none. */
static void test_stats_pacing(void **state)
{
	const uint64_t p = 16666667, t0 = 1000000000;
	/* vblank index each frame is shown at; its flush comes 4 ms after the
	 * previous frame's fence (= that frame's flip + 0.1 ms). */
	const unsigned shown_at[] = { 1, 2, 3, 6, 7 };
	struct kg_stats *s = kg_stats_create();
	uint64_t release = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	for (unsigned i = 0; i < 5; i++) {
		uint64_t flip = t0 + shown_at[i] * p;
		struct kg_stats_frame fr = { .scanout = 0,
					     .shown = true,
					     .recv_ns = release ? release + 4000000 : t0,
					     .commit_ns = (release ? release : t0) + 4100000,
					     .flip_ns = flip,
					     .fence_ns = flip + 100000,
					     .period_ns = p };

		kg_stats_add(s, &fr);
		release = fr.fence_ns;
	}
	assert_int_equal(kg_stats_write(s, f), 0);
	fclose(f);
	/* Frame 4 was drawn for vblank 4 and shown at 6: 2 vblanks missed. */
	assert_non_null(strstr(buf, "\"missed\": 1, \"missed_vblanks\": 2"));
	assert_non_null(strstr(buf, "\"draw\": {\"samples\": 4, \"p50_us\": 4000.0"));
	/* release -> glass: one period less the 0.1 ms fence delay, and three
	 * for the late frame (p90 of 4 samples is the largest). */
	assert_non_null(strstr(buf, "\"release_to_glass\": {\"samples\": 4, \"p50_us\": 16566.7"));
	assert_non_null(strstr(buf, "\"max_us\": 49900.0"));
	free(buf);
	kg_stats_destroy(s);
}

/* The trace file: a JSON array of trace events, one track per scanout;
 * a frame after a fenced one gets its draw slice, dropped frames an instant. */
static void test_trace_file(void **state)
{
	char path[] = "/tmp/kg-trace-XXXXXX", buf[4096];
	int fd = mkstemp(path);
	struct kg_trace *t;
	size_t n;
	FILE *f;

	assert_true(fd >= 0);
	close(fd);
	t = kg_trace_open(path);
	assert_non_null(t);
	kg_trace_frame(t, &(struct kg_stats_frame){ .scanout = 1,
						    .shown = true,
						    .recv_ns = 1000000,
						    .commit_ns = 1002000,
						    .flip_ns = 1016000,
						    .fence_ns = 1016500 });
	kg_trace_frame(t, &(struct kg_stats_frame){ .scanout = 1,
						    .shown = true,
						    .recv_ns = 1020500,
						    .commit_ns = 1021000,
						    .flip_ns = 1032666,
						    .fence_ns = 1033000 });
	kg_trace_frame(
		t, &(struct kg_stats_frame){ .scanout = 0, .coalesced = true, .recv_ns = 1040000 });
	kg_trace_close(t);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	assert_true(buf[0] == '[' && strstr(buf, "\n]\n"));
	/* Only the second frame has a release before it: 1016.5 -> 1020.5 us. */
	assert_non_null(strstr(buf, "{\"name\": \"draw\", \"ph\": \"X\", \"pid\": 1, "
				    "\"tid\": 1, \"ts\": 1016.500, \"dur\": 4.000"));
	assert_null(strstr(strstr(buf, "\"draw\"") + 1, "\"draw\"")); /* one draw slice */
	assert_non_null(strstr(buf, "\"name\": \"scanout\", \"ph\": \"X\", \"pid\": 1, "
				    "\"tid\": 1, \"ts\": 1021.000, \"dur\": 11.666"));
	assert_non_null(strstr(buf, "\"name\": \"superseded\", \"ph\": \"i\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_present_copies_and_completes_later),
		cmocka_unit_test(test_newer_frame_supersedes),
		cmocka_unit_test(test_bad_frames_are_refused),
		cmocka_unit_test(test_png_round_trip),
		cmocka_unit_test(test_edid),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_percentile),
		cmocka_unit_test(test_stats_json),
		cmocka_unit_test(test_stats_pacing),
		cmocka_unit_test(test_trace_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
