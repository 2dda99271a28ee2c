// SPDX-License-Identifier: MIT
/*
 * The virtio-gpu device's command validation: every command with good and
 * bad sizes, ids, rectangles and backing, over a memfd guest RAM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "test-vgpu-harness.h"
#include "pacer.h"
#include "guest-ram.h"

#define OK	  VIRTIO_GPU_RESP_OK_NODATA
#define E_UNSPEC  VIRTIO_GPU_RESP_ERR_UNSPEC
#define E_OOM	  VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
#define E_SCANOUT VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID
#define E_RES	  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID
#define E_PARAM	  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
#define XRGB	  VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM
#define PG	  4096u

static int setup(void **state)
{
	*state = h_create(false, 0, 0);
	return 0;
}

static int teardown(void **state)
{
	h_destroy(*state);
	return 0;
}

static struct virtio_gpu_ctrl_hdr hdr(uint32_t type)
{
	return (struct virtio_gpu_ctrl_hdr){ .type = type };
}

static void test_short_header_is_unspec(void **state)
{
	struct harness *h = *state;
	uint8_t b[23] = { 0 };

	assert_int_equal(h_resp_type(h, h_submit(h, b, sizeof(b))), E_UNSPEC);
	assert_int_equal(h_resp_type(h, h_submit(h, b, 0)), E_UNSPEC);
}

/* Every command one byte short of its size is refused, never read past. */
static void test_every_command_short_by_one_is_unspec(void **state)
{
	static const struct {
		uint32_t type;
		size_t size;
	} cmds[] = {
		{ VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, sizeof(struct virtio_gpu_resource_create_2d) },
		{ VIRTIO_GPU_CMD_RESOURCE_UNREF, sizeof(struct virtio_gpu_resource_unref) },
		{ VIRTIO_GPU_CMD_SET_SCANOUT, sizeof(struct virtio_gpu_set_scanout) },
		{ VIRTIO_GPU_CMD_RESOURCE_FLUSH, sizeof(struct virtio_gpu_resource_flush) },
		{ VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
		  sizeof(struct virtio_gpu_transfer_to_host_2d) },
		{ VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
		  sizeof(struct virtio_gpu_resource_attach_backing) },
		{ VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
		  sizeof(struct virtio_gpu_resource_detach_backing) },
		{ VIRTIO_GPU_CMD_GET_EDID, sizeof(struct virtio_gpu_cmd_get_edid) },
		{ VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
		  sizeof(struct virtio_gpu_resource_create_blob) },
		{ VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, sizeof(struct virtio_gpu_set_scanout_blob) },
	};
	struct harness *h = *state;

	kg_vgpu_set_features(h->g, 1ull << VIRTIO_GPU_F_EDID | 1ull << VIRTIO_GPU_F_RESOURCE_BLOB);
	assert_int_equal(h_create_2d(h, 1, XRGB, 16, 16), OK);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		/* A heap buffer of exactly the short size: ASan catches a read past it. */
		uint8_t *b = calloc(1, cmds[i].size - 1);
		struct virtio_gpu_ctrl_hdr hd = hdr(cmds[i].type);

		memcpy(b, &hd, sizeof(hd));
		b[sizeof(hd)] = 1; /* resource/scanout ids that exist */
		assert_int_equal(h_resp_type(h, h_submit(h, b, cmds[i].size - 1)), E_UNSPEC);
		free(b);
	}
}

static void test_unknown_and_3d_commands_are_unspec(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_ctx_create c = { hdr(VIRTIO_GPU_CMD_CTX_CREATE) };
	struct virtio_gpu_get_capset_info ci = { hdr(VIRTIO_GPU_CMD_GET_CAPSET_INFO) };
	struct virtio_gpu_ctrl_hdr bogus = hdr(0x9999);

	assert_int_equal(h_resp_type(h, h_submit(h, &c, sizeof(c))), E_UNSPEC);
	assert_int_equal(h_resp_type(h, h_submit(h, &ci, sizeof(ci))), E_UNSPEC);
	assert_int_equal(h_resp_type(h, h_submit(h, &bogus, sizeof(bogus))), E_UNSPEC);
}

static void test_display_info(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_ctrl_hdr c = hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
	struct virtio_gpu_resp_display_info info;
	uintptr_t t;
	const struct h_reply *r;

	c.flags = VIRTIO_GPU_FLAG_FENCE;
	c.fence_id = 77;
	t = h_submit(h, &c, sizeof(c));
	r = h_reply_of(h, t);
	assert_non_null(r);
	assert_int_equal(r->len, sizeof(info));
	memcpy(&info, r->buf, sizeof(info));
	assert_int_equal(info.hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(info.hdr.fence_id, 77);
	assert_int_equal(info.hdr.flags & VIRTIO_GPU_FLAG_FENCE, VIRTIO_GPU_FLAG_FENCE);
	assert_int_equal(info.pmodes[0].enabled, 1);
	assert_int_equal(info.pmodes[0].r.width, 1024);
	assert_int_equal(info.pmodes[0].r.height, 768);
	assert_int_equal(info.pmodes[1].enabled, 0); /* the fake's scanout 1 is unplugged */
	assert_int_equal(info.pmodes[2].enabled, 0); /* beyond the output */
}

static void test_get_edid(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_cmd_get_edid c = { hdr(VIRTIO_GPU_CMD_GET_EDID), 0 };
	struct virtio_gpu_resp_edid resp;
	const struct h_reply *r;

	/* Not negotiated: refused. */
	assert_int_equal(h_resp_type(h, h_submit(h, &c, sizeof(c))), E_UNSPEC);
	kg_vgpu_set_features(h->g, 1ull << VIRTIO_GPU_F_EDID);
	r = h_reply_of(h, h_submit(h, &c, sizeof(c)));
	assert_non_null(r);
	memcpy(&resp, r->buf, sizeof(resp));
	assert_int_equal(resp.hdr.type, VIRTIO_GPU_RESP_OK_EDID);
	assert_int_equal(resp.size, 128);
	assert_memory_equal(resp.edid, h->edid, 128);
	/* Scanout 1 has no EDID: none is invented. */
	c.scanout = 1;
	r = h_reply_of(h, h_submit(h, &c, sizeof(c)));
	memcpy(&resp, r->buf, sizeof(resp));
	assert_int_equal(resp.hdr.type, VIRTIO_GPU_RESP_OK_EDID);
	assert_int_equal(resp.size, 0);
	c.scanout = 2;
	assert_int_equal(h_resp_type(h, h_submit(h, &c, sizeof(c))), E_SCANOUT);
	assert_int_equal(h_resp_type(h, h_submit(h, &c, sizeof(c) - 1)), E_UNSPEC);
}

static void test_create_2d(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_resource_create_2d c = { hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D), 9, XRGB,
						   4, 4 };
	struct kg_vgpu_counters cnt;

	assert_int_equal(h_create_2d(h, 1, XRGB, 64, 64), OK);
	assert_int_equal(h_create_2d(h, 1, XRGB, 64, 64), E_RES); /* id reuse */
	assert_int_equal(h_create_2d(h, 0, XRGB, 64, 64), E_RES);
	assert_int_equal(h_create_2d(h, 2, 5, 64, 64), E_PARAM); /* no such format */
	assert_int_equal(h_create_2d(h, 2, XRGB, 0, 64), E_PARAM);
	assert_int_equal(h_create_2d(h, 2, XRGB, 64, 0), E_PARAM);
	assert_int_equal(h_create_2d(h, 2, XRGB, 0x80000000u, 0x80000000u), E_PARAM);
	assert_int_equal(h_resp_type(h, h_submit(h, &c, sizeof(c) - 1)), E_UNSPEC);
	kg_vgpu_get_counters(h->g, &cnt);
	assert_int_equal(cnt.resources, 1);
	assert_int_equal(cnt.resource_bytes, 64 * 64 * 4);
}

static void test_resource_caps(void **state)
{
	struct harness *h = h_create(false, 2, 100 * 100 * 4 + 10 * 10 * 4);

	assert_int_equal(h_create_2d(h, 1, XRGB, 100, 100), OK);
	assert_int_equal(h_create_2d(h, 2, XRGB, 11, 10), E_OOM); /* bytes */
	assert_int_equal(h_create_2d(h, 2, XRGB, 10, 10), OK);
	assert_int_equal(h_create_2d(h, 3, XRGB, 1, 1), E_OOM); /* count */
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_UNREF, 1), OK);
	assert_int_equal(h_create_2d(h, 3, XRGB, 100, 100), OK);
	h_destroy(h);
}

static void test_unref(void **state)
{
	struct harness *h = *state;

	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_UNREF, 5), E_RES);
	assert_int_equal(h_create_2d(h, 5, XRGB, 8, 8), OK);
	assert_int_equal(h_attach1(h, 5, H_RAM_GPA, PG), OK);
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_UNREF, 5), OK);
	assert_int_equal(h->forgets, 1);
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_UNREF, 5), E_RES);
}

static void test_attach_backing(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_mem_entry two[2] = { { H_RAM_GPA, PG }, { H_RAM_GPA + 2 * PG, PG } };
	struct virtio_gpu_mem_entry overlap[2] = { { H_RAM_GPA, 2 * PG }, { H_RAM_GPA + PG, PG } };
	struct virtio_gpu_mem_entry zero[1] = { { H_RAM_GPA, 0 } };

	assert_int_equal(h_create_2d(h, 1, XRGB, 32, 32), OK);
	assert_int_equal(h_attach1(h, 9, H_RAM_GPA, PG), E_RES);
	assert_int_equal(h_attach(h, 1, two, 0), E_PARAM); /* no entries */
	assert_int_equal(h_attach(h, 1, overlap, 2), E_PARAM);
	assert_int_equal(h_attach(h, 1, zero, 1), E_PARAM);
	assert_int_equal(h_attach1(h, 1, 0, PG), E_PARAM); /* below RAM */
	assert_int_equal(h_attach1(h, 1, H_RAM_GPA + 2 * H_REGION_SIZE, PG), E_PARAM); /* above */
	/* Straddling the two regions: each must be inside one region. */
	assert_int_equal(h_attach1(h, 1, H_RAM_GPA + H_REGION_SIZE - PG, 2 * PG), E_PARAM);
	assert_int_equal(h_attach1(h, 1, UINT64_MAX - PG + 1, PG), E_PARAM); /* wraps */
	assert_int_equal(h_attach(h, 1, two, 2), OK);
	assert_int_equal(h_attach(h, 1, two, 2), E_UNSPEC); /* already attached */
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 1), OK);
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 1), E_UNSPEC);
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 9), E_RES);
	assert_int_equal(h_attach(h, 1, two, 2), OK);
}

static void test_attach_short_entries(void **state)
{
	struct harness *h = *state;
	struct {
		struct virtio_gpu_resource_attach_backing c;
		struct virtio_gpu_mem_entry e[2];
	} cmd = { { hdr(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING), 1, 3 },
		  { { H_RAM_GPA, PG }, { H_RAM_GPA + PG, PG } } };

	assert_int_equal(h_create_2d(h, 1, XRGB, 32, 32), OK);
	/* Three entries claimed, two sent. */
	assert_int_equal(h_resp_type(h, h_submit(h, &cmd, sizeof(cmd))), E_UNSPEC);
	/* A huge count must not be trusted either. */
	cmd.c.nr_entries = 0xffffffffu;
	assert_int_equal(h_resp_type(h, h_submit(h, &cmd, sizeof(cmd))), E_PARAM);
	cmd.c.nr_entries = 2;
	assert_int_equal(h_resp_type(h, h_submit(h, &cmd, sizeof(cmd) - 1)), E_UNSPEC);
	assert_int_equal(h_resp_type(h, h_submit(h, &cmd, sizeof(cmd))), OK);
}

static void test_backing_too_big_is_refused(void **state)
{
	struct harness *h = h_create(false, 0, 64 * 64 * 4);
	struct virtio_gpu_mem_entry e[2] = { { H_RAM_GPA, 64 * 64 * 4 },
					     { H_RAM_GPA + (1 << 20), PG } };

	assert_int_equal(h_create_2d(h, 1, XRGB, 64, 64), OK);
	assert_int_equal(h_attach(h, 1, e, 2), E_PARAM); /* more than the whole cap */
	assert_int_equal(h_attach(h, 1, e, 1), OK);
	h_destroy(h);
}

static void test_set_scanout(void **state)
{
	struct harness *h = *state;

	assert_int_equal(h_create_2d(h, 1, XRGB, 64, 32), OK);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 64, 32), OK);
	assert_int_equal(h_set_scanout(h, 1, 1, 16, 8, 48, 24), OK);
	assert_int_equal(h_set_scanout(h, 2, 1, 0, 0, 64, 32), E_SCANOUT);
	assert_int_equal(h_set_scanout(h, 0xffffffffu, 1, 0, 0, 64, 32), E_SCANOUT);
	assert_int_equal(h_set_scanout(h, 0, 7, 0, 0, 64, 32), E_RES);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 65, 32), E_PARAM);
	assert_int_equal(h_set_scanout(h, 0, 1, 1, 0, 64, 32), E_PARAM);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 0, 32), E_PARAM);
	/* x + width wraps around 32 bits. */
	assert_int_equal(h_set_scanout(h, 0, 1, 0xffffffffu, 0, 2, 32), E_PARAM);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0xfffffff0u, 64, 0x20), E_PARAM);
	/* Resource 0 disables, whatever the rectangle. */
	assert_int_equal(h_set_scanout(h, 0, 0, 0, 0, 0, 0), OK);
	assert_int_equal(h->disables, 1);
}

static void test_transfer_2d(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_transfer_to_host_2d t = {
		hdr(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D), { 0, 0, 16, 16 }, 0, 1
	};

	assert_int_equal(h_create_2d(h, 1, XRGB, 16, 16), OK);
	/* No backing yet. */
	assert_int_equal(h_resp_type(h, h_submit(h, &t, sizeof(t))), E_UNSPEC);
	assert_int_equal(h_attach1(h, 1, H_RAM_GPA, 16 * 16 * 4), OK);
	assert_int_equal(h_resp_type(h, h_submit(h, &t, sizeof(t))), OK);
	assert_int_equal(h_resp_type(h, h_submit(h, &t, sizeof(t) - 4)), E_UNSPEC);
	t.r = (struct virtio_gpu_rect){ 8, 8, 8, 8 };
	t.offset = 8 * 64 + 8 * 4;
	assert_int_equal(h_resp_type(h, h_submit(h, &t, sizeof(t))), OK);
	t.offset += 4; /* the last row would end past the backing */
	assert_int_equal(h_resp_type(h, h_submit(h, &t, sizeof(t))), E_PARAM);
	t.offset = UINT64_MAX;
	assert_int_equal(h_resp_type(h, h_submit(h, &t, sizeof(t))), E_PARAM);
	t.offset = 0;
	t.r = (struct virtio_gpu_rect){ 0xfffffff8u, 0, 16, 16 };
	assert_int_equal(h_resp_type(h, h_submit(h, &t, sizeof(t))), E_PARAM);
	t.r = (struct virtio_gpu_rect){ 0, 0, 16, 16 };
	t.resource_id = 2;
	assert_int_equal(h_resp_type(h, h_submit(h, &t, sizeof(t))), E_RES);
}

/* A 2D resource on scanout 0 with a backing of two separate runs. */
static void make_scanout(struct harness *h, uint32_t id, uint32_t w, uint32_t hgt)
{
	uint32_t size = w * hgt * 4, half = (size / 2 + PG - 1) / PG * PG;
	struct virtio_gpu_mem_entry e[2] = { { H_RAM_GPA + 64 * PG, half },
					     { H_RAM_GPA + 16 * PG, size - half } };

	assert_int_equal(h_create_2d(h, id, XRGB, w, hgt), OK);
	assert_int_equal(h_attach(h, id, e, 2), OK);
	assert_int_equal(h_set_scanout(h, 0, id, 0, 0, w, hgt), OK);
}

static void test_flush_presents_the_guest_pages(void **state)
{
	struct harness *h = *state;
	struct h_present *p;
	uintptr_t t;

	make_scanout(h, 1, 64, 64);
	assert_int_equal(h_set_scanout(h, 1, 1, 32, 16, 32, 16), OK);
	t = h_flush(h, 1, 0, 0, 64, 64, 0);
	assert_int_equal(h_resp_type(h, t), OK); /* no fence: answered at once */
	assert_int_equal(h->n_presents, 2);
	p = &h->presents[0];
	assert_int_equal(p->scanout, 0);
	assert_int_equal(p->fb.drm_format, 0x34325258); /* XR24 */
	assert_int_equal(p->fb.width, 64);
	assert_int_equal(p->fb.stride, 256);
	assert_int_equal(p->fb.offset, 0);
	assert_int_equal(p->fb.n_chunks, 2);
	assert_ptr_equal(p->chunks[0].va, h->ram + 64 * PG);
	assert_int_equal(p->chunks[0].fd_offset, 64 * PG);
	assert_ptr_equal(p->chunks[1].va, h->ram + 16 * PG);
	p = &h->presents[1];
	assert_int_equal(p->scanout, 1);
	assert_int_equal(p->fb.width, 32);
	assert_int_equal(p->fb.height, 16);
	assert_int_equal(p->fb.offset, 16 * 256 + 32 * 4);
	assert_int_equal(p->damage.width, 32);
	/* A flush outside scanout 1's rectangle presents only on scanout 0. */
	h_complete(h, 0, true);
	h_complete(h, 1, true);
	h_flush(h, 1, 0, 0, 8, 8, 0);
	assert_int_equal(h->n_presents, 3);
	assert_int_equal(h->presents[2].scanout, 0);
	assert_int_equal(h->presents[2].damage.width, 8);
	h_complete(h, 2, true);
}

static void test_adjacent_entries_merge_into_one_chunk(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_mem_entry e[4] = { { H_RAM_GPA, PG },
					     { H_RAM_GPA + PG, PG },
					     { H_RAM_GPA + 2 * PG, PG },
					     { H_RAM_GPA + 2 * H_REGION_SIZE - PG, PG } };

	assert_int_equal(h_create_2d(h, 1, XRGB, 64, 64), OK);
	assert_int_equal(h_attach(h, 1, e, 4), OK);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 64, 64), OK);
	h_flush(h, 1, 0, 0, 64, 64, 0);
	assert_int_equal(h->n_presents, 1);
	assert_int_equal(h->presents[0].fb.n_chunks, 2);
	assert_int_equal(h->presents[0].chunks[0].len, 3 * PG);
	assert_int_not_equal(h->presents[0].chunks[0].memfd, h->presents[0].chunks[1].memfd);
	h_complete(h, 0, true);
}

static void test_flush_validation(void **state)
{
	struct harness *h = *state;

	assert_int_equal(h_resp_type(h, h_flush(h, 1, 0, 0, 4, 4, 0)), E_RES);
	assert_int_equal(h_create_2d(h, 1, XRGB, 64, 64), OK);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 64, 64), OK);
	/* On a scanout but no backing: nothing can be shown. */
	assert_int_equal(h_resp_type(h, h_flush(h, 1, 0, 0, 4, 4, 0)), E_UNSPEC);
	/* Backing smaller than the image. */
	assert_int_equal(h_attach1(h, 1, H_RAM_GPA, PG), OK);
	assert_int_equal(h_resp_type(h, h_flush(h, 1, 0, 0, 4, 4, 0)), E_UNSPEC);
	assert_int_equal(h_resp_type(h, h_flush(h, 1, 0, 0, 65, 4, 0)), E_PARAM);
	assert_int_equal(h_resp_type(h, h_flush(h, 1, 0xffffffffu, 0, 2, 4, 0)), E_PARAM);
	assert_int_equal(h->n_presents, 0);
}

static void test_fence_waits_for_the_flip(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_ctrl_hdr resp;
	uintptr_t t;

	make_scanout(h, 1, 64, 64);
	t = h_flush(h, 1, 0, 0, 64, 64, 42);
	assert_int_equal(h_resp_type(h, t), 0); /* deferred */
	assert_int_equal(h->n_presents, 1);
	h_complete(h, 0, true);
	assert_int_equal(h_resp_type(h, t), OK);
	memcpy(&resp, h_reply_of(h, t)->buf, sizeof(resp));
	assert_int_equal(resp.fence_id, 42);
	assert_int_equal(resp.flags & VIRTIO_GPU_FLAG_FENCE, VIRTIO_GPU_FLAG_FENCE);
}

static void test_fences_complete_in_order(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_transfer_to_host_2d tr = {
		hdr(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D), { 0, 0, 8, 8 }, 0, 1
	};
	uintptr_t t1, t2, t3;

	make_scanout(h, 1, 64, 64);
	t1 = h_flush(h, 1, 0, 0, 64, 64, 1);
	tr.hdr.flags = VIRTIO_GPU_FLAG_FENCE;
	tr.hdr.fence_id = 2;
	t2 = h_submit(h, &tr, sizeof(tr));
	t3 = h_flush(h, 1, 0, 0, 8, 8, 0); /* no fence: answered at once */
	/* Fence 2 is done but must not overtake fence 1. */
	assert_int_equal(h_resp_type(h, t2), 0);
	assert_int_equal(h_resp_type(h, t3), OK);
	h_complete(h, 0, true);
	assert_int_equal(h_resp_type(h, t1), OK);
	assert_int_equal(h_resp_type(h, t2), OK);
	assert_true(h_reply_of(h, t1) < h_reply_of(h, t2));
	h_complete(h, 1, true);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * --pacing jit through the device: after the pacer's warm-up a shown
 * frame's fence is held until just before the next vblank (60 Hz, a guest
 * that "draws" in no time: about 16.7 - 2 ms after the flip), a fenced
 * command behind it waits too (fences leave in order), and the release
 * timer on the loop sends both.
 */
static void test_jit_holds_the_fence_until_just_in_time(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	struct harness *h;
	struct virtio_gpu_transfer_to_host_2d tr = {
		hdr(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D), { 0, 0, 8, 8 }, 0, 1
	};
	uint64_t flip, sent;
	uintptr_t t, t2;
	unsigned i;

	assert_non_null(loop);
	h = h_create_paced(loop);
	make_scanout(h, 1, 64, 64);
	/* Warm-up: answered on the flip, as plain pacing does. */
	for (i = 0; i < KG_PACER_WARMUP; i++) {
		t = h_flush(h, 1, 0, 0, 64, 64, i + 1);
		h_complete_at(h, i, true, now_ns());
		assert_int_equal(h_resp_type(h, t), OK);
	}
	t = h_flush(h, 1, 0, 0, 64, 64, i + 1);
	flip = now_ns();
	h_complete_at(h, i, true, flip);
	tr.hdr.flags = VIRTIO_GPU_FLAG_FENCE;
	tr.hdr.fence_id = i + 2;
	t2 = h_submit(h, &tr, sizeof(tr));
	assert_int_equal(h_resp_type(h, t), 0);	 /* held */
	assert_int_equal(h_resp_type(h, t2), 0); /* behind it */
	while (!h_resp_type(h, t))
		assert_true(kg_loop_dispatch(loop, 100) >= 0);
	sent = now_ns();
	assert_int_equal(h_resp_type(h, t2), OK);
	assert_true(h_reply_of(h, t) < h_reply_of(h, t2));
	/* Released at next vblank - draw (~0) - 2 ms margin, not before. */
	assert_true(sent - flip >= 16666667ull - KG_PACER_DEFAULT_MARGIN_NS - 1000000u);
	assert_true(sent - flip < 16666667ull + 20000000u); /* and not a refresh late */
	h_destroy(h);
	kg_loop_destroy(loop);
}

static void test_newest_frame_wins(void **state)
{
	struct harness *h = *state;
	struct kg_vgpu_counters cnt;
	uintptr_t t1, t2, t3;

	make_scanout(h, 1, 64, 64);
	t1 = h_flush(h, 1, 0, 0, 8, 8, 1);   /* to the output */
	t2 = h_flush(h, 1, 16, 16, 8, 8, 2); /* waits */
	t3 = h_flush(h, 1, 32, 32, 8, 8, 3); /* supersedes t2 */
	assert_int_equal(h->n_presents, 1);
	kg_vgpu_get_counters(h->g, &cnt);
	assert_int_equal(cnt.frames_coalesced, 1);
	assert_int_equal(h_resp_type(h, t2), 0); /* done, but behind fence 1 */
	h_complete(h, 0, true);
	assert_int_equal(h_resp_type(h, t1), OK);
	assert_int_equal(h_resp_type(h, t2), OK);
	assert_int_equal(h_resp_type(h, t3), 0);
	/* Frame 3 carries frame 2's damage too. */
	assert_int_equal(h->n_presents, 2);
	assert_int_equal(h->presents[1].damage.x, 16);
	assert_int_equal(h->presents[1].damage.y, 16);
	assert_int_equal(h->presents[1].damage.width, 24);
	assert_int_equal(h->presents[1].damage.height, 24);
	h_complete(h, 1, true);
	assert_int_equal(h_resp_type(h, t3), OK);
	kg_vgpu_get_counters(h->g, &cnt);
	assert_int_equal(cnt.frames_shown, 2);
	assert_int_equal(cnt.frames_presented, 3);
}

static void test_superseded_frame_of_another_size_damages_all(void **state)
{
	struct harness *h = *state;

	make_scanout(h, 1, 64, 64);
	h_flush(h, 1, 0, 0, 8, 8, 0);	  /* to the output */
	h_flush(h, 1, 40, 40, 24, 24, 0); /* waits: 64x64 */
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 32, 32), OK);
	h_flush(h, 1, 0, 0, 4, 4, 0); /* supersedes it: 32x32 */
	h_complete(h, 0, true);
	assert_int_equal(h->n_presents, 2);
	assert_int_equal(h->presents[1].fb.width, 32);
	/* Not the union (which would reach 64): the whole smaller frame. */
	assert_int_equal(h->presents[1].damage.x, 0);
	assert_int_equal(h->presents[1].damage.width, 32);
	assert_int_equal(h->presents[1].damage.height, 32);
	h_complete(h, 1, true);
}

static void test_fifo_shows_every_frame(void **state)
{
	struct harness *h = h_create(true, 0, 0);
	struct kg_vgpu_counters cnt;
	uintptr_t t[4];

	make_scanout(h, 1, 64, 64);
	for (int i = 0; i < 4; i++)
		t[i] = h_flush(h, 1, 0, 0, 8, 8, (uint64_t)i + 1);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(h->n_presents, i + 1);
		assert_int_equal(h_resp_type(h, t[i]), 0);
		h_complete(h, i, true);
		assert_int_equal(h_resp_type(h, t[i]), OK);
	}
	kg_vgpu_get_counters(h->g, &cnt);
	assert_int_equal(cnt.frames_shown, 4);
	assert_int_equal(cnt.frames_coalesced, 0);
	h_destroy(h);
}

static void test_refused_queued_frames_do_not_stall(void **state)
{
	struct harness *h = h_create(true, 0, 0);
	uintptr_t t[4];

	make_scanout(h, 1, 64, 64);
	for (int i = 0; i < 4; i++)
		t[i] = h_flush(h, 1, 0, 0, 8, 8, (uint64_t)i + 1);
	/* The output refuses what follows the frame it has: the queue must
	 * drain (fences answered) instead of waiting for another flush. */
	h->present_error = -5;
	h_complete(h, 0, true);
	for (int i = 0; i < 4; i++)
		assert_int_equal(h_resp_type(h, t[i]), OK);
	h->present_error = 0;
	h_destroy(h);
}

static void test_refused_present_still_answers(void **state)
{
	struct harness *h = *state;
	uintptr_t t;

	make_scanout(h, 1, 64, 64);
	h->present_error = -5;
	t = h_flush(h, 1, 0, 0, 8, 8, 9);
	assert_int_equal(h_resp_type(h, t), OK);
	h->present_error = 0;
}

static void assert_fences(struct harness *h, uint64_t flip, uint64_t replaced, uint64_t dropped,
			  uint64_t other)
{
	struct kg_vgpu_counters cnt;
	char want[128], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	kg_vgpu_get_counters(h->g, &cnt);
	assert_int_equal(cnt.fences_flip, flip);
	assert_int_equal(cnt.fences_replaced, replaced);
	assert_int_equal(cnt.fences_dropped, dropped);
	assert_int_equal(cnt.fences_other, other);
	/* The statistics (--stats) count the same. */
	assert_non_null(f);
	assert_int_equal(kg_stats_write(h->stats, f), 0);
	fclose(f);
	snprintf(want, sizeof(want),
		 "\"fences\": {\"flip\": %llu, \"replaced\": %llu, \"dropped\": %llu, "
		 "\"other\": %llu}",
		 (unsigned long long)flip, (unsigned long long)replaced,
		 (unsigned long long)dropped, (unsigned long long)other);
	if (!strstr(buf, want))
		fail_msg("want %s in\n%s", want, buf);
	free(buf);
}

/* Each answered fence is counted once, by what completed it; unfenced
 * commands and fences a reset dropped are not counted. */
static void test_fences_are_counted_by_what_completed_them(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_transfer_to_host_2d tr = {
		hdr(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D), { 0, 0, 8, 8 }, 0, 1
	};
	uintptr_t t[4];

	make_scanout(h, 1, 64, 64);
	assert_fences(h, 0, 0, 0, 0);
	/* A fenced command that makes no frame (as a Linux guest's cursor
	 * update fences its transfer). */
	tr.hdr.flags = VIRTIO_GPU_FLAG_FENCE;
	tr.hdr.fence_id = 1;
	assert_int_equal(h_resp_type(h, h_submit(h, &tr, sizeof(tr))), OK);
	assert_fences(h, 0, 0, 0, 1);
	t[0] = h_flush(h, 1, 0, 0, 8, 8, 2);	   /* to the output */
	t[1] = h_flush(h, 1, 0, 0, 8, 8, 3);	   /* waits */
	t[2] = h_flush(h, 1, 0, 0, 8, 8, 4);	   /* replaces it */
	h_flush(h, 1, 0, 0, 8, 8, 0);		   /* unfenced: replaces fence 4's frame */
	assert_int_equal(h_resp_type(h, t[1]), 0); /* behind fence 2 */
	assert_fences(h, 0, 0, 0, 1);
	h_complete(h, 0, true);
	assert_int_equal(h_resp_type(h, t[2]), OK);
	assert_fences(h, 1, 2, 0, 1);
	/* The output fails the frame it was given: dropped, still answered. */
	t[3] = h_flush(h, 1, 0, 0, 8, 8, 5);
	h_complete(h, 1, false);
	assert_int_equal(h_resp_type(h, t[3]), 0); /* its own frame is next */
	h_complete(h, 2, false);
	assert_int_equal(h_resp_type(h, t[3]), OK);
	assert_fences(h, 1, 2, 1, 1);
	/* One fence, frames on two scanouts: one flip fence, not two. */
	assert_int_equal(h_set_scanout(h, 1, 1, 0, 0, 64, 64), OK);
	t[0] = h_flush(h, 1, 0, 0, 8, 8, 6);
	assert_int_equal(h->n_presents, 5);
	h_complete(h, 3, true);
	h_complete(h, 4, false);
	assert_int_equal(h_resp_type(h, t[0]), OK);
	assert_fences(h, 2, 2, 1, 1);
	/* A fenced flush of a resource no scanout shows makes no frame. */
	assert_int_equal(h_create_2d(h, 2, XRGB, 8, 8), OK);
	assert_int_equal(h_resp_type(h, h_flush(h, 2, 0, 0, 8, 8, 7)), OK);
	assert_fences(h, 2, 2, 1, 2);
	/* Dropped by a reset: never answered, not counted. */
	h_flush(h, 1, 0, 0, 8, 8, 8);
	kg_vgpu_reset(h->g);
	h_complete(h, 5, true);
	h_complete(h, 6, true);
	assert_fences(h, 2, 2, 1, 2);
}

static void test_unref_during_flip_keeps_pages(void **state)
{
	struct harness *h = *state;
	uintptr_t t;

	make_scanout(h, 1, 64, 64);
	t = h_flush(h, 1, 0, 0, 64, 64, 5);
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 1), OK);
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_UNREF, 1), OK);
	/* The output still reads its chunks (ASan checks they are alive). */
	assert_int_equal(h->presents[0].fb.chunks[0].len, h->presents[0].chunks[0].len);
	h_complete(h, 0, true);
	assert_int_equal(h_resp_type(h, t), OK);
}

static void test_remapped_guest_memory_is_not_scanned_out(void **state)
{
	struct harness *h = *state;
	struct kg_gmem_region r[2] = {
		{ H_RAM_GPA, H_REGION_SIZE, 0x7f0000000000ull, 0 },
		{ H_RAM_GPA + H_REGION_SIZE, H_REGION_SIZE, 0x7f0000400000ull, 0 },
	};
	int fds[2];
	struct virtio_gpu_mem_entry e = { H_RAM_GPA + 16 * PG, 64 * 64 * 4 };

	make_scanout(h, 1, 64, 64);
	h_flush(h, 1, 0, 0, 64, 64, 0);
	assert_int_equal(h->n_presents, 1);
	h_complete(h, 0, true);
	/* QEMU sends a new table: region A is another file now. */
	for (int i = 0; i < 2; i++) {
		fds[i] = kg_test_ram_fd(H_REGION_SIZE);
		assert_true(fds[i] >= 0);
	}
	assert_int_equal(kg_gmem_set_table(h->gm, r, 2, fds), 0);
	assert_int_equal(h_resp_type(h, h_flush(h, 1, 0, 0, 64, 64, 0)), E_UNSPEC);
	assert_int_equal(h->n_presents, 1); /* no stale pointers handed out */
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 1), OK);
	assert_int_equal(h_attach(h, 1, &e, 1), OK);
	assert_int_equal(h_resp_type(h, h_flush(h, 1, 0, 0, 64, 64, 0)), OK);
	assert_int_equal(h->n_presents, 2);
	assert_ptr_equal(h->presents[1].chunks[0].va,
			 kg_gmem_gpa_to_va(h->gm, H_RAM_GPA + 16 * PG, PG));
	h_complete(h, 1, true);
}

static void test_reset_drops_pending_fences(void **state)
{
	struct harness *h = *state;
	uintptr_t t1, t2;
	struct kg_vgpu_counters cnt;

	make_scanout(h, 1, 64, 64);
	t1 = h_flush(h, 1, 0, 0, 8, 8, 1);
	t2 = h_flush(h, 1, 0, 0, 8, 8, 2);
	kg_vgpu_reset(h->g);
	assert_int_equal(h->drops, 2);
	kg_vgpu_get_counters(h->g, &cnt);
	assert_int_equal(cnt.resources, 0);
	/* The output's frame comes back later: no answer, no crash. */
	h_complete(h, 0, true);
	assert_int_equal(h_resp_type(h, t1), 0);
	assert_int_equal(h_resp_type(h, t2), 0);
}

static void test_destroy_with_frames_in_flight(void **state)
{
	struct harness *h = h_create(false, 0, 0);
	uintptr_t t1, t2;
	unsigned replies;

	make_scanout(h, 1, 64, 64);
	t1 = h_flush(h, 1, 0, 0, 8, 8, 1); /* with the output */
	t2 = h_flush(h, 1, 0, 0, 8, 8, 2); /* queued behind it */
	replies = h->n_replies;
	/* Both fenced commands are dropped through the transport, never
	 * answered; the frames are freed without calling the output (ASan and
	 * LSan check the memory, the harness the fds). */
	kg_vgpu_destroy(h->g);
	h->g = NULL;
	assert_int_equal(h->drops, 2);
	assert_int_equal(h->n_replies, replies);
	assert_int_equal(h_resp_type(h, t1), 0);
	assert_int_equal(h_resp_type(h, t2), 0);
	h_destroy(h);
}

static void test_cursor(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_update_cursor c = {
		hdr(VIRTIO_GPU_CMD_UPDATE_CURSOR), { 0, 100, 50 }, 3, 2, 5
	};
	uint32_t *px = (uint32_t *)(h->ram + 128 * PG);

	for (int i = 0; i < 64 * 64; i++)
		px[i] = 0x80000000u | (uint32_t)i;
	assert_int_equal(h_create_2d(h, 3, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64), OK);
	assert_int_equal(h_attach1(h, 3, H_RAM_GPA + 128 * PG, 64 * 64 * 4), OK);
	h_submit_cursor(h, &c, sizeof(c));
	assert_int_equal(h->cursor_sets, 1);
	assert_true(h->cursor_visible);
	assert_int_equal(h->cursor[77], 0x80000000u | 77);
	assert_int_equal(h->hot_x, 2);
	assert_int_equal(h->cursor_x, 100);
	assert_int_equal(h->cursor_y, 50);
	/* The cursor queue answers with an empty buffer. */
	assert_int_equal(h->replies[h->n_replies - 1].len, 0);

	c.hdr.type = VIRTIO_GPU_CMD_MOVE_CURSOR;
	c.pos.x = 7;
	h_submit_cursor(h, &c, sizeof(c));
	assert_int_equal(h->cursor_x, 7);
	assert_int_equal(h->cursor_sets, 1);

	/* Bad ones are ignored: short, bad scanout, not 64x64, no resource. */
	c.hdr.type = VIRTIO_GPU_CMD_UPDATE_CURSOR;
	h_submit_cursor(h, &c, sizeof(c) - 1);
	c.pos.scanout_id = 9;
	h_submit_cursor(h, &c, sizeof(c));
	c.pos.scanout_id = 0;
	assert_int_equal(h_create_2d(h, 4, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 32, 32), OK);
	assert_int_equal(h_attach1(h, 4, H_RAM_GPA + 128 * PG, 32 * 32 * 4), OK);
	c.resource_id = 4;
	h_submit_cursor(h, &c, sizeof(c));
	c.resource_id = 99;
	h_submit_cursor(h, &c, sizeof(c));
	assert_int_equal(h->cursor_sets, 1);
	c.resource_id = 0; /* hides it */
	h_submit_cursor(h, &c, sizeof(c));
	assert_int_equal(h->cursor_sets, 2);
	assert_false(h->cursor_visible);
}

struct blob_cmd {
	struct virtio_gpu_resource_create_blob c;
	struct virtio_gpu_mem_entry e[2];
};

static uint32_t create_blob(struct harness *h, uint32_t id, uint32_t mem, uint64_t size)
{
	struct blob_cmd b = { { hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB), id, mem, 0, 2, 0, size },
			      { { H_RAM_GPA + 256 * PG, 8 * PG },
				{ H_RAM_GPA + 512 * PG, 8 * PG } } };

	return h_resp_type(h, h_submit(h, &b, sizeof(b)));
}

/* A Linux guest with RESOURCE_BLOB makes its cursor a blob too: it has no
 * format or size, the device reads 64x64 B8G8R8A8 from it. */
static void test_cursor_blob(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_update_cursor c = {
		hdr(VIRTIO_GPU_CMD_UPDATE_CURSOR), { 0, 10, 20 }, 7, 3, 4
	};
	uint32_t *px = (uint32_t *)(h->ram + 256 * PG);

	for (int i = 0; i < 64 * 64; i++)
		px[i] = 0xff000000u | (uint32_t)i;
	kg_vgpu_set_features(h->g, 1ull << VIRTIO_GPU_F_RESOURCE_BLOB);
	assert_int_equal(create_blob(h, 7, VIRTIO_GPU_BLOB_MEM_GUEST, 16 * PG), OK);
	h_submit_cursor(h, &c, sizeof(c));
	assert_int_equal(h->cursor_sets, 1);
	assert_true(h->cursor_visible);
	assert_int_equal(h->cursor[1000], 0xff000000u | 1000);
	assert_int_equal(h->hot_x, 3);
	assert_int_equal(h->cursor_y, 20);

	/* A blob too small for a 64x64 cursor is refused. */
	assert_int_equal(create_blob(h, 8, VIRTIO_GPU_BLOB_MEM_GUEST, 2 * PG), OK);
	c.resource_id = 8;
	h_submit_cursor(h, &c, sizeof(c));
	assert_int_equal(h->cursor_sets, 1);
}

static void test_blob(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_set_scanout_blob s = { hdr(VIRTIO_GPU_CMD_SET_SCANOUT_BLOB),
						 { 0, 0, 32, 32 },
						 0,
						 7,
						 32,
						 32,
						 XRGB,
						 0,
						 { 128 },
						 { 4096 } };
	struct kg_vgpu_counters cnt;

	assert_int_equal(create_blob(h, 7, VIRTIO_GPU_BLOB_MEM_GUEST, 16 * PG), E_UNSPEC);
	kg_vgpu_set_features(h->g, 1ull << VIRTIO_GPU_F_RESOURCE_BLOB);
	assert_int_equal(create_blob(h, 7, VIRTIO_GPU_BLOB_MEM_HOST3D, 16 * PG), E_PARAM);
	assert_int_equal(create_blob(h, 7, VIRTIO_GPU_BLOB_MEM_GUEST, 16 * PG + 1), E_PARAM);
	assert_int_equal(create_blob(h, 7, VIRTIO_GPU_BLOB_MEM_GUEST, 0), E_PARAM);
	kg_vgpu_get_counters(h->g, &cnt);
	assert_int_equal(cnt.resources, 0); /* the failed ones left nothing */
	assert_int_equal(create_blob(h, 7, VIRTIO_GPU_BLOB_MEM_GUEST, 16 * PG), OK);
	assert_int_equal(create_blob(h, 7, VIRTIO_GPU_BLOB_MEM_GUEST, 16 * PG), E_RES);
	assert_int_equal(h_attach1(h, 7, H_RAM_GPA, PG), E_UNSPEC);

	assert_int_equal(h_resp_type(h, h_submit(h, &s, sizeof(s))), OK);
	h_flush(h, 7, 0, 0, 32, 32, 0);
	assert_int_equal(h->n_presents, 1);
	assert_int_equal(h->presents[0].fb.stride, 128);
	assert_int_equal(h->presents[0].fb.offset, 4096);
	assert_int_equal(h->presents[0].fb.n_chunks, 2);
	h_complete(h, 0, true);

	s.strides[0] = 64; /* shorter than a row */
	assert_int_equal(h_resp_type(h, h_submit(h, &s, sizeof(s))), E_PARAM);
	s.strides[0] = 128;
	s.offsets[0] = 16 * PG - 100; /* runs past the blob */
	assert_int_equal(h_resp_type(h, h_submit(h, &s, sizeof(s))), E_PARAM);
	s.offsets[0] = 0;
	s.format = 0;
	assert_int_equal(h_resp_type(h, h_submit(h, &s, sizeof(s))), E_PARAM);
	s.format = XRGB;
	s.r.width = 33;
	assert_int_equal(h_resp_type(h, h_submit(h, &s, sizeof(s))), E_PARAM);
	s.r.width = 32;
	assert_int_equal(h_resp_type(h, h_submit(h, &s, sizeof(s) - 1)), E_UNSPEC);
	/* SET_SCANOUT refuses blobs, SET_SCANOUT_BLOB refuses 2D. */
	assert_int_equal(h_set_scanout(h, 0, 7, 0, 0, 32, 32), E_RES);
	assert_int_equal(h_create_2d(h, 8, XRGB, 32, 32), OK);
	s.resource_id = 8;
	assert_int_equal(h_resp_type(h, h_submit(h, &s, sizeof(s))), E_RES);
}

static void test_config_and_display_event(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_config cfg;

	assert_int_equal(kg_vgpu_get_config(h->g, 0, &cfg, sizeof(cfg)), sizeof(cfg));
	assert_int_equal(cfg.num_scanouts, 2);
	assert_int_equal(cfg.events_read, 0);
	kg_vgpu_display_changed(h->g);
	assert_int_equal(kg_vgpu_get_config(h->g, 0, &cfg, sizeof(cfg)), sizeof(cfg));
	assert_int_equal(cfg.events_read, VIRTIO_GPU_EVENT_DISPLAY);
	assert_int_equal(kg_vgpu_get_config(h->g, 8, &cfg, 4), 4);
	assert_int_equal(cfg.events_read, 2); /* num_scanouts at offset 8 */
	assert_true(kg_vgpu_get_config(h->g, 12, &cfg, 8) < 0);
	assert_true(kg_vgpu_get_config(h->g, 0xfffffff0u, &cfg, 0x20) < 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_short_header_is_unspec),
		T(test_every_command_short_by_one_is_unspec),
		T(test_unknown_and_3d_commands_are_unspec),
		T(test_display_info),
		T(test_get_edid),
		T(test_create_2d),
		cmocka_unit_test(test_resource_caps),
		T(test_unref),
		T(test_attach_backing),
		T(test_attach_short_entries),
		cmocka_unit_test(test_backing_too_big_is_refused),
		T(test_set_scanout),
		T(test_transfer_2d),
		T(test_flush_presents_the_guest_pages),
		T(test_adjacent_entries_merge_into_one_chunk),
		T(test_flush_validation),
		T(test_fence_waits_for_the_flip),
		T(test_fences_complete_in_order),
		cmocka_unit_test(test_jit_holds_the_fence_until_just_in_time),
		T(test_newest_frame_wins),
		T(test_superseded_frame_of_another_size_damages_all),
		cmocka_unit_test(test_fifo_shows_every_frame),
		T(test_refused_present_still_answers),
		T(test_fences_are_counted_by_what_completed_them),
		cmocka_unit_test(test_refused_queued_frames_do_not_stall),
		T(test_unref_during_flip_keeps_pages),
		T(test_remapped_guest_memory_is_not_scanned_out),
		T(test_reset_drops_pending_fences),
		cmocka_unit_test(test_destroy_with_frames_in_flight),
		T(test_cursor),
		T(test_blob),
		T(test_cursor_blob),
		T(test_config_and_display_event),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
