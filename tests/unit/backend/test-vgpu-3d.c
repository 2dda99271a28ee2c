// SPDX-License-Identifier: MIT
/*
 * The device's 3D commands on the real virglrenderer (surfaceless EGL,
 * Mesa's llvmpipe: no GPU needed): capsets, contexts, a clear drawn by a
 * real command stream and read back from the scanned-out frame, transfers
 * through the guest's backing (also after a memory-table change), fences
 * that wait for the renderer and keep their order with 2D fences, and
 * hostile 3D commands answered with errors.
 */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <drm_fourcc.h>

#include "clock.h"
#include "test-vgpu-harness.h"
#include "virgl.h"

/* From virglrenderer's virgl_protocol.h / gallium (the guest's side of the
 * protocol; not installed as headers). */
#define VIRGL_CMD0(cmd, obj, len)   ((cmd) | ((obj) << 8) | ((len) << 16))
#define VIRGL_CCMD_CREATE_OBJECT    1
#define VIRGL_CCMD_SET_FRAMEBUFFER  5
#define VIRGL_CCMD_CLEAR	    7
#define VIRGL_OBJECT_SURFACE	    8
#define VIRGL_FORMAT_B8G8R8X8_UNORM 2
#define VIRGL_BIND_RENDER_TARGET    (1 << 1)
#define VIRGL_BIND_SCANOUT	    (1 << 18)
#define PIPE_BUFFER		    0
#define PIPE_TEXTURE_2D		    2
#define PIPE_CLEAR_COLOR0	    (1 << 2)

#define W   64
#define H   32
#define CTX 1
#define RES 7

static struct kg_virgl *virgl;

static int group_setup(void **state)
{
	struct kg_virgl_config cfg = { 0 };

	/* Once per process: virglrenderer keeps global state. */
	virgl = kg_virgl_create(&cfg);
	return virgl ? 0 : -1;
}

static int group_teardown(void **state)
{
	kg_virgl_destroy(virgl);
	return 0;
}

static struct harness *make(void)
{
	struct harness *h = h_create_3d(virgl);

	kg_vgpu_set_features(h->g, 1ull << VIRTIO_GPU_F_VIRGL | 1ull << VIRTIO_GPU_F_EDID);
	return h;
}

/* Lets the renderer report retired fences until token is answered. */
static void wait_reply(struct harness *h, uintptr_t token)
{
	uint64_t end = kg_now_ns() + 10ull * 1000000000;

	while (!h_resp_type(h, token) && kg_now_ns() < end) {
		struct pollfd p = { kg_virgl_poll_fd(virgl), POLLIN, 0 };

		poll(&p, 1, 50);
		kg_virgl_dispatch(virgl);
	}
	assert_int_not_equal(h_resp_type(h, token), 0);
}

static uintptr_t send(struct harness *h, void *cmd, size_t len, uint32_t type, uint32_t ctx,
		      uint64_t fence)
{
	struct virtio_gpu_ctrl_hdr *hdr = cmd;

	hdr->type = type;
	hdr->ctx_id = ctx;
	hdr->flags = fence ? VIRTIO_GPU_FLAG_FENCE : 0;
	hdr->fence_id = fence;
	return h_submit(h, cmd, len);
}

/* Sends and waits for the answer; returns its type. */
static uint32_t call(struct harness *h, void *cmd, size_t len, uint32_t type, uint32_t ctx)
{
	uintptr_t t = send(h, cmd, len, type, ctx, 0);

	wait_reply(h, t);
	return h_resp_type(h, t);
}

static uint32_t ctx_create(struct harness *h, uint32_t ctx)
{
	struct virtio_gpu_ctx_create c = { .nlen = 4 };

	memcpy(c.debug_name, "test", 4);
	return call(h, &c, sizeof(c), VIRTIO_GPU_CMD_CTX_CREATE, ctx);
}

static uint32_t create_3d(struct harness *h, uint32_t id, uint32_t target, uint32_t w, uint32_t hgt,
			  uint32_t depth)
{
	struct virtio_gpu_resource_create_3d c = {
		.resource_id = id,
		.target = target,
		.format = VIRGL_FORMAT_B8G8R8X8_UNORM,
		.bind = target == PIPE_BUFFER ? 0 : VIRGL_BIND_RENDER_TARGET | VIRGL_BIND_SCANOUT,
		.width = w,
		.height = hgt,
		.depth = depth,
		.array_size = 1,
	};

	return call(h, &c, sizeof(c), VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, 0);
}

static uint32_t ctx_attach(struct harness *h, uint32_t ctx, uint32_t id)
{
	struct virtio_gpu_ctx_resource c = { .resource_id = id };

	return call(h, &c, sizeof(c), VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, ctx);
}

/* A render target of W x H, backed, attached to CTX. */
static void make_target(struct harness *h)
{
	assert_int_equal(ctx_create(h, CTX), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(create_3d(h, RES, PIPE_TEXTURE_2D, W, H, 1), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_attach1(h, RES, H_RAM_GPA, W * H * 4), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(ctx_attach(h, CTX, RES), VIRTIO_GPU_RESP_OK_NODATA);
}

struct submit {
	struct virtio_gpu_cmd_submit hdr;
	uint32_t dw[32];
};

/* A stream that clears RES to (r, g, b): surface, framebuffer, clear. */
static size_t clear_stream(struct submit *s, float r, float g, float b)
{
	uint32_t *d = s->dw;
	float col[4] = { r, g, b, 1.0f };
	unsigned n = 0;

	d[n++] = VIRGL_CMD0(VIRGL_CCMD_CREATE_OBJECT, VIRGL_OBJECT_SURFACE, 5);
	d[n++] = 1; /* surface handle */
	d[n++] = RES;
	d[n++] = VIRGL_FORMAT_B8G8R8X8_UNORM;
	d[n++] = 0; /* level */
	d[n++] = 0; /* layers */
	d[n++] = VIRGL_CMD0(VIRGL_CCMD_SET_FRAMEBUFFER, 0, 3);
	d[n++] = 1; /* nr_cbufs */
	d[n++] = 0; /* no depth surface */
	d[n++] = 1; /* cbuf 0: the surface */
	d[n++] = VIRGL_CMD0(VIRGL_CCMD_CLEAR, 0, 8);
	d[n++] = PIPE_CLEAR_COLOR0;
	memcpy(&d[n], col, sizeof(col));
	n += 4;
	d[n++] = 0; /* depth: a double */
	d[n++] = 0;
	d[n++] = 0; /* stencil */
	s->hdr.size = n * 4;
	return sizeof(s->hdr) + n * 4;
}

static void test_features_and_capsets(void **state)
{
	struct harness *h = make();
	struct virtio_gpu_get_capset_info ci = { 0 };
	struct virtio_gpu_get_capset cs = { 0 };
	struct virtio_gpu_config cfg;
	const struct virtio_gpu_resp_capset_info *ri;
	uintptr_t t;
	uint32_t size2;

	assert_true(kg_vgpu_offered_features(&(struct kg_vgpu_config){ .virgl = virgl }) &
		    1ull << VIRTIO_GPU_F_VIRGL);
	assert_false(kg_vgpu_offered_features(NULL) & 1ull << VIRTIO_GPU_F_VIRGL);
	assert_int_equal(kg_vgpu_get_config(h->g, 0, &cfg, sizeof(cfg)), sizeof(cfg));
	assert_int_equal(cfg.num_capsets, 2);

	ci.capset_index = 1;
	t = send(h, &ci, sizeof(ci), VIRTIO_GPU_CMD_GET_CAPSET_INFO, 0, 0);
	assert_int_equal(h_resp_type(h, t), VIRTIO_GPU_RESP_OK_CAPSET_INFO);
	ri = (const void *)h_reply_of(h, t)->buf;
	assert_int_equal(ri->capset_id, VIRTIO_GPU_CAPSET_VIRGL2);
	assert_true(ri->capset_max_version >= 1);
	size2 = ri->capset_max_size;
	assert_true(size2 > 0 && size2 <= 4096);
	ci.capset_index = 2; /* there are two */
	t = send(h, &ci, sizeof(ci), VIRTIO_GPU_CMD_GET_CAPSET_INFO, 0, 0);
	assert_int_equal(h_resp_type(h, t), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);

	cs.capset_id = VIRTIO_GPU_CAPSET_VIRGL2;
	cs.capset_version = 1;
	t = send(h, &cs, sizeof(cs), VIRTIO_GPU_CMD_GET_CAPSET, 0, 0);
	assert_int_equal(h_resp_type(h, t), VIRTIO_GPU_RESP_OK_CAPSET);
	assert_int_equal(h_reply_of(h, t)->len, sizeof(struct virtio_gpu_ctrl_hdr) + size2);
	cs.capset_version = 99;
	t = send(h, &cs, sizeof(cs), VIRTIO_GPU_CMD_GET_CAPSET, 0, 0);
	assert_int_equal(h_resp_type(h, t), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	cs.capset_id = 3; /* venus: not offered */
	cs.capset_version = 0;
	t = send(h, &cs, sizeof(cs), VIRTIO_GPU_CMD_GET_CAPSET, 0, 0);
	assert_int_equal(h_resp_type(h, t), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	h_destroy(h);
}

/* Without the negotiated feature the 3D commands are refused. */
static void test_needs_feature(void **state)
{
	struct harness *h = h_create_3d(virgl);

	kg_vgpu_set_features(h->g, 1ull << VIRTIO_GPU_F_EDID);
	assert_int_equal(ctx_create(h, CTX), VIRTIO_GPU_RESP_ERR_UNSPEC);
	h_destroy(h);
}

static void test_contexts(void **state)
{
	struct harness *h = make();
	struct virtio_gpu_ctx_destroy d = { 0 };
	struct submit s = { 0 };

	assert_int_equal(ctx_create(h, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(ctx_create(h, CTX), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(ctx_create(h, CTX), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(call(h, &d, sizeof(d), VIRTIO_GPU_CMD_CTX_DESTROY, 9),
			 VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	assert_int_equal(call(h, &s, sizeof(s.hdr), VIRTIO_GPU_CMD_SUBMIT_3D, 9),
			 VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	/* A reset takes every context: the id is free again. */
	kg_vgpu_reset(h->g);
	kg_vgpu_set_features(h->g, 1ull << VIRTIO_GPU_F_VIRGL);
	assert_int_equal(ctx_create(h, CTX), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(call(h, &d, sizeof(d), VIRTIO_GPU_CMD_CTX_DESTROY, CTX),
			 VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(call(h, &d, sizeof(d), VIRTIO_GPU_CMD_CTX_DESTROY, CTX),
			 VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	h_destroy(h);
}

/* The guest's command stream clears the target; the frame the scanout
 * gets reads back exactly that colour. */
static void test_clear_scanout_readback(void **state)
{
	struct harness *h = make();
	struct submit s = { 0 };
	uint32_t px[W * H];
	size_t len = clear_stream(&s, 1.0f, 0.0f, 0.0f);
	struct h_present *p;
	uintptr_t t;

	make_target(h);
	t = send(h, &s, len, VIRTIO_GPU_CMD_SUBMIT_3D, CTX, 5);
	wait_reply(h, t);
	assert_int_equal(h_resp_type(h, t), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_set_scanout(h, 0, RES, 0, 0, W, H), VIRTIO_GPU_RESP_OK_NODATA);
	h_flush(h, RES, 0, 0, W, H, 0);
	assert_int_equal(h->n_presents, 1);
	p = &h->presents[0];
	assert_int_equal(p->fb.kind, KG_FB_RENDERED);
	assert_int_equal(p->fb.drm_format, DRM_FORMAT_XRGB8888);
	assert_int_equal(p->fb.width, W);
	assert_int_equal(p->fb.height, H);
	assert_non_null(p->fb.read);
	memset(px, 0x55, sizeof(px));
	assert_int_equal(p->fb.read(p->fb.read_data, &(struct kg_rect){ 0, 0, W, H }, px, W * 4),
			 0);
	for (unsigned i = 0; i < W * H; i++)
		assert_int_equal(px[i] & 0xffffff, 0xff0000);
	/* A rectangle outside the frame is refused, not read. */
	assert_true(p->fb.read(p->fb.read_data, &(struct kg_rect){ W - 1, 0, 2, 1 }, px, 8) < 0);
	h_complete(h, 0, true);
	h_destroy(h);
}

/* A 2D fence behind a 3D one leaves only after it: fence N means
 * "everything up to N is done". Nothing is answered before the renderer
 * reports its fence. */
static void test_fence_order(void **state)
{
	struct harness *h = make();
	struct submit s = { 0 };
	struct virtio_gpu_resource_detach_backing db = { .resource_id = RES };
	size_t len;
	uintptr_t t3d, t2d;

	make_target(h);
	len = clear_stream(&s, 0.0f, 1.0f, 0.0f);
	t3d = send(h, &s, len, VIRTIO_GPU_CMD_SUBMIT_3D, CTX, 10);
	t2d = send(h, &db, sizeof(db), VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 0, 11);
	assert_int_equal(h_resp_type(h, t3d), 0);
	assert_int_equal(h_resp_type(h, t2d), 0);
	wait_reply(h, t2d);
	assert_int_equal(h_resp_type(h, t3d), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_resp_type(h, t2d), VIRTIO_GPU_RESP_OK_NODATA);
	/* Answered in order: the 3D fence's reply was recorded first. */
	assert_true(h_reply_of(h, t3d) < h_reply_of(h, t2d));
	h_destroy(h);
}

static void fill(struct harness *h, uint32_t v)
{
	uint32_t *px = kg_gmem_gpa_to_va(h->gm, H_RAM_GPA, W * H * 4);

	assert_non_null(px);
	for (unsigned i = 0; i < W * H; i++)
		px[i] = v + i;
}

static uint32_t transfer(struct harness *h, uint32_t type)
{
	struct virtio_gpu_transfer_host_3d c = { .box = { 0, 0, 0, W, H, 1 },
						 .resource_id = RES,
						 .stride = W * 4 };

	return call(h, &c, sizeof(c), type, CTX);
}

/* TO_HOST then FROM_HOST: the renderer reads and writes the guest's
 * backing, also after the memory table moved it (the iov follows). */
static void test_transfer_round_trip_and_remap(void **state)
{
	struct harness *h = make();
	struct kg_gmem_region r[2] = {
		{ H_RAM_GPA, H_REGION_SIZE, 0x7f0000000000ull, 0 },
		{ H_RAM_GPA + H_REGION_SIZE, H_REGION_SIZE, 0x7f0000400000ull, 0 },
	};
	struct kg_gmem_span sp;
	int fds[2];
	uint32_t *px;

	make_target(h);
	fill(h, 0x00100000);
	assert_int_equal(transfer(h, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D),
			 VIRTIO_GPU_RESP_OK_NODATA);
	fill(h, 0);

	/* QEMU moves region A to another host address (same memfd). */
	for (int i = 0; i < 2; i++) {
		assert_true(kg_gmem_lookup(h->gm, r[i].guest_phys_addr, 1, &sp));
		fds[i] = fcntl(sp.fd, F_DUPFD_CLOEXEC, 0);
	}
	r[0].userspace_addr = 0x7f0001000000ull;
	assert_int_equal(kg_gmem_set_table(h->gm, r, 2, fds), 0);
	kg_vgpu_mem_changed(h->g);

	assert_int_equal(transfer(h, VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D),
			 VIRTIO_GPU_RESP_OK_NODATA);
	px = kg_gmem_gpa_to_va(h->gm, H_RAM_GPA, W * H * 4);
	for (unsigned i = 0; i < W * H; i++)
		assert_int_equal(px[i] & 0xffffff, (0x00100000 + i) & 0xffffff);
	h_destroy(h);
}

/* What a hostile guest may send: each gets an error, nothing crashes
 * (this test runs under ASan in the unit-asan suite) and nothing leaks. */
static void test_hostile(void **state)
{
	struct harness *h = make();
	struct submit s = { 0 };
	struct virtio_gpu_ctx_resource a = { .resource_id = 999 };
	struct virtio_gpu_transfer_host_3d tr = { .box = { 0, 0, 0, W, H, 1 }, .resource_id = 1 };
	uint8_t junk[sizeof(struct virtio_gpu_cmd_submit) + 64];
	uintptr_t t;

	make_target(h);
	/* Streams larger than the command, or not whole dwords. */
	s.hdr.size = 4096;
	assert_int_equal(call(h, &s, sizeof(s), VIRTIO_GPU_CMD_SUBMIT_3D, CTX),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	s.hdr.size = 6;
	assert_int_equal(call(h, &s, sizeof(s), VIRTIO_GPU_CMD_SUBMIT_3D, CTX),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	s.hdr.size = 0;
	assert_int_equal(call(h, &s, sizeof(s.hdr), VIRTIO_GPU_CMD_SUBMIT_3D, CTX),
			 VIRTIO_GPU_RESP_OK_NODATA);
	/* A stream of garbage: virglrenderer's decoder refuses it. */
	memset(junk, 0xa5, sizeof(junk));
	memset(junk, 0, sizeof(struct virtio_gpu_cmd_submit));
	((struct virtio_gpu_cmd_submit *)junk)->size = 64;
	t = send(h, junk, sizeof(junk), VIRTIO_GPU_CMD_SUBMIT_3D, CTX, 0);
	wait_reply(h, t);
	/* Resources: unknown, zero and huge sizes, unknown targets. */
	assert_int_equal(ctx_attach(h, CTX, 999), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(call(h, &a, sizeof(a), VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, 77),
			 VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	assert_int_equal(create_3d(h, 20, PIPE_TEXTURE_2D, 0, 16, 1),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(create_3d(h, 21, PIPE_TEXTURE_2D, 16, 16, 100000),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(create_3d(h, 22, 99, 16, 16, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(create_3d(h, 23, PIPE_TEXTURE_2D, 16384, 16384, 2048),
			 VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY); /* 2 TiB: over the cap */
	assert_int_equal(create_3d(h, RES, PIPE_TEXTURE_2D, 16, 16, 1),
			 VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID); /* the id is taken */
	/* 3D commands on a 2D resource, transfers without backing. */
	assert_int_equal(h_create_2d(h, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16),
			 VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(call(h, &tr, sizeof(tr), VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, CTX),
			 VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(create_3d(h, 30, PIPE_BUFFER, 4096, 1, 1), VIRTIO_GPU_RESP_OK_NODATA);
	tr.resource_id = 30;
	tr.box = (struct virtio_gpu_box){ 0, 0, 0, 4096, 1, 1 };
	assert_int_equal(call(h, &tr, sizeof(tr), VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, CTX),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	/* Backing outside guest RAM is refused before the renderer sees it. */
	assert_int_equal(h_attach1(h, 30, 0x10, 4096), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	/* Its backing ends before the box does: the renderer refuses. */
	assert_int_equal(h_attach1(h, 30, H_RAM_GPA, 1024), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(call(h, &tr, sizeof(tr), VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, CTX),
			 VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	h_destroy(h); /* resources, contexts and backing go; fds checked */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features_and_capsets),
		cmocka_unit_test(test_needs_feature),
		cmocka_unit_test(test_contexts),
		cmocka_unit_test(test_clear_scanout_readback),
		cmocka_unit_test(test_fence_order),
		cmocka_unit_test(test_transfer_round_trip_and_remap),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
