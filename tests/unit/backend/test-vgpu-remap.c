// SPDX-License-Identifier: MIT
/*
 * A hostile (or hot-plugging) QEMU sends a new memory table while a fenced
 * flush waits for its flip and another frame waits behind it. Nothing the
 * device keeps may then point into memory that is gone: the frame the
 * output has not read yet is taken back and handed over again on the new
 * table's pages, the queued frame moves too, and frames whose pages left
 * guest RAM are dropped with their fences still answered, in order.
 *
 * One test per variant of the table change, on the fake output (which
 * holds frames unread as the KMS output does behind a flip) and on the
 * headless output (which reads the pages of the queued frame after the
 * change). Run under ASan too (suite unit-asan): a stale access is a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "fdcount.h"
#include "guest-ram.h"
#include "loop.h"
#include "output-headless.h"
#include "test-vgpu-harness.h"

#define OK	 VIRTIO_GPU_RESP_OK_NODATA
#define E_UNSPEC VIRTIO_GPU_RESP_ERR_UNSPEC
#define XRGB	 VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM
#define PG	 4096u
#define W	 64u
#define HT	 64u

/* The frame's backing: rows [0, 32) at page 64 of region A, rows [32, 64)
 * at page 16 (scattered, as a Linux guest's are). */
static const struct virtio_gpu_mem_entry frame_pages[2] = {
	{ H_RAM_GPA + 64 * PG, 2 * PG },
	{ H_RAM_GPA + 16 * PG, 2 * PG },
};

enum variant {
	NEW_MEMFD,    /* region A: same addresses, another memfd */
	OTHER_OFFSET, /* same guest address and memfd, another offset in it */
	MOVED_UVA,    /* same guest address and memfd, QEMU maps it elsewhere */
	MOVED_GPA,    /* region A at another guest address: the frame's pages left */
	SHRUNK,	      /* region A resized to 32 pages: page 64 left */
};

static bool pages_stay(enum variant v)
{
	return v == NEW_MEMFD || v == OTHER_OFFSET || v == MOVED_UVA;
}

static int dup_region_fd(struct harness *h, uint64_t gpa)
{
	struct kg_gmem_span sp;
	int fd;

	assert_true(kg_gmem_lookup(h->gm, gpa, 1, &sp));
	fd = fcntl(sp.fd, F_DUPFD_CLOEXEC, 0);
	assert_true(fd >= 0);
	return fd;
}

/* What QEMU sends, then what kg_vu does after it: tell the device. */
static void remap(struct harness *h, enum variant v)
{
	struct kg_gmem_region r[2] = {
		{ H_RAM_GPA, H_REGION_SIZE, 0x7f0000000000ull, 0 },
		{ H_RAM_GPA + H_REGION_SIZE, H_REGION_SIZE, 0x7f0000400000ull, 0 },
	};
	int fds[2] = { -1, dup_region_fd(h, H_RAM_GPA + H_REGION_SIZE) };

	switch (v) {
	case NEW_MEMFD:
		fds[0] = kg_test_ram_fd(H_REGION_SIZE);
		break;
	case OTHER_OFFSET:
		r[0].memory_size = H_REGION_SIZE / 2;
		r[0].mmap_offset = H_REGION_SIZE / 2;
		break;
	case MOVED_UVA:
		r[0].userspace_addr = 0x7f0001000000ull;
		break;
	case MOVED_GPA:
		r[0].guest_phys_addr = H_RAM_GPA + (64u << 20);
		break;
	case SHRUNK:
		r[0].memory_size = 32 * PG;
		break;
	}
	if (fds[0] < 0)
		fds[0] = dup_region_fd(h, H_RAM_GPA);
	assert_int_equal(kg_gmem_set_table(h->gm, r, 2, fds), 0);
	h->ram = h->ram_b = NULL; /* stale now: the test must not use them */
	kg_vgpu_mem_changed(h->g);
}

/* Fills the frame's pages with one colour, through the current table. */
static void paint(struct harness *h, uint32_t xrgb)
{
	for (int i = 0; i < 2; i++) {
		uint32_t *px = kg_gmem_gpa_to_va(h->gm, frame_pages[i].addr, frame_pages[i].length);

		assert_non_null(px);
		for (uint32_t k = 0; k < frame_pages[i].length / 4; k++)
			px[k] = xrgb;
	}
}

static void make_frame(struct harness *h)
{
	assert_int_equal(h_create_2d(h, 1, XRGB, W, HT), OK);
	assert_int_equal(h_attach(h, 1, frame_pages, 2), OK);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, W, HT), OK);
}

/* Present i's chunks are the frame's pages as the current table maps them. */
static void assert_on_current_pages(struct harness *h, unsigned i)
{
	const struct h_present *p = &h->presents[i];

	assert_int_equal(p->fb.n_chunks, 2);
	for (int k = 0; k < 2; k++) {
		struct kg_gmem_span sp;

		assert_true(kg_gmem_lookup(h->gm, frame_pages[k].addr, frame_pages[k].length, &sp));
		assert_ptr_equal(p->chunks[k].va, sp.va);
		assert_int_equal(p->chunks[k].memfd, sp.fd);
		assert_int_equal(p->chunks[k].fd_offset, sp.fd_offset);
	}
}

/* The order in which tokens were answered: a before b. */
static bool answered_before(struct harness *h, uintptr_t a, uintptr_t b)
{
	const struct h_reply *ra = h_reply_of(h, a), *rb = h_reply_of(h, b);

	return ra && rb && ra < rb;
}

static void run_fake_on(struct harness *h, enum variant v);

static void run_fake(enum variant v)
{
	run_fake_on(h_create(false, 0, 0), v);
}

static void run_fake_on(struct harness *h, enum variant v)
{
	uintptr_t t1, t2;

	make_frame(h);
	t1 = h_flush(h, 1, 0, 0, W, HT, 1); /* with the output, unread */
	t2 = h_flush(h, 1, 0, 0, W, HT, 2); /* queued in the device */
	assert_int_equal(h->n_presents, 1);
	remap(h, v);
	assert_true(h->presents[0].retracted);
	if (pages_stay(v)) {
		/* Handed over again on the new pages; the output reads those. */
		assert_int_equal(h->n_presents, 2);
		assert_on_current_pages(h, 1);
		assert_int_not_equal(h->presents[1].fb.generation, h->presents[0].fb.generation);
		paint(h, 0x00123456);
		assert_int_equal(*(uint32_t *)h->presents[1].chunks[1].va, 0x00123456);
		assert_int_equal(h_resp_type(h, t1), 0);
		h_complete(h, 1, true);
		assert_int_equal(h_resp_type(h, t1), OK);
		assert_int_equal(h->n_presents, 3); /* the queued frame, moved too */
		assert_on_current_pages(h, 2);
		h_complete(h, 2, true);
		assert_int_equal(h_resp_type(h, t2), OK);
		/* And the resource keeps working. */
		h_flush(h, 1, 0, 0, W, HT, 3);
		assert_int_equal(h->n_presents, 4);
		assert_on_current_pages(h, 3);
		h_complete(h, 3, true);
	} else {
		/* The pages are gone: nothing is handed over, the fences
		 * still come back, in order. */
		assert_int_equal(h->n_presents, 1);
		assert_int_equal(h_resp_type(h, t1), OK);
		assert_int_equal(h_resp_type(h, t2), OK);
		assert_true(answered_before(h, t1, t2));
		assert_int_equal(h_resp_type(h, h_flush(h, 1, 0, 0, W, HT, 0)), E_UNSPEC);
		assert_int_equal(h->n_presents, 1);
		/* The guest attaches pages that are in RAM and goes on. */
		assert_int_equal(h_attach1(h, 1, H_RAM_GPA + H_REGION_SIZE, W * HT * 4), OK);
		assert_int_equal(h_resp_type(h, h_flush(h, 1, 0, 0, W, HT, 0)), OK);
		assert_int_equal(h->n_presents, 2);
		h_complete(h, 1, true);
	}
	h_destroy(h); /* fds: every memfd and dup is closed again */
}

static void test_fake_new_memfd(void **state)
{
	run_fake(NEW_MEMFD);
}

static void test_fake_other_offset(void **state)
{
	run_fake(OTHER_OFFSET);
}

static void test_fake_moved_uva(void **state)
{
	run_fake(MOVED_UVA);
}

static void test_fake_moved_gpa(void **state)
{
	run_fake(MOVED_GPA);
}

static void test_fake_shrunk(void **state)
{
	run_fake(SHRUNK);
}

/* With several pipelines kmsgate-vgpu joins one KMS output per lease: the
 * join must pass retract on to the output holding the frame. */
static void test_joined_new_memfd(void **state)
{
	run_fake_on(h_create_joined(), NEW_MEMFD);
}

static void test_joined_moved_gpa(void **state)
{
	run_fake_on(h_create_joined(), MOVED_GPA);
}

/* The headless output copies at present(): its frame is read at once, but
 * the queued one is read after the change, from the new pages. */
static void run_headless(enum variant v)
{
	struct kg_loop *loop = kg_loop_create();
	struct kg_headless_config cfg = { 1, W, HT, 60000 };
	struct kg_output *out;
	struct harness *h;
	uintptr_t t1, t2;
	const uint32_t *f;
	uint32_t fw = 0, fh = 0;
	int fds_before = kg_test_fd_count() - 1; /* the loop's epoll fd is open */

	assert_non_null(loop);
	out = kg_output_headless_create(loop, &cfg);
	assert_non_null(out);
	h = h_create_on(out, false, 0, 0);
	/* The loop and the output close theirs before h_destroy counts. */
	h->fds_before = fds_before;
	make_frame(h);
	paint(h, 0x00111111);
	t1 = h_flush(h, 1, 0, 0, W, HT, 1);
	t2 = h_flush(h, 1, 0, 0, W, HT, 2);
	remap(h, v);
	if (pages_stay(v))
		paint(h, 0x00222222);
	for (int i = 0; i < 200 && !h_resp_type(h, t2); i++)
		kg_loop_dispatch(loop, 10);
	assert_int_equal(h_resp_type(h, t1), OK);
	assert_int_equal(h_resp_type(h, t2), OK);
	assert_true(answered_before(h, t1, t2));
	f = kg_output_headless_frame(out, 0, &fw, &fh);
	assert_non_null(f);
	assert_int_equal(fw, W);
	/* Moved: the second frame shows the new pages. Gone: it was dropped,
	 * the first stays on screen. */
	for (uint32_t i = 0; i < W * HT; i++)
		assert_int_equal(f[i], pages_stay(v) ? 0xff222222 : 0xff111111);
	out->ops->destroy(out);
	kg_loop_destroy(loop);
	h_destroy(h);
}

static void test_headless_new_memfd(void **state)
{
	run_headless(NEW_MEMFD);
}

static void test_headless_other_offset(void **state)
{
	run_headless(OTHER_OFFSET);
}

static void test_headless_moved_uva(void **state)
{
	run_headless(MOVED_UVA);
}

static void test_headless_moved_gpa(void **state)
{
	run_headless(MOVED_GPA);
}

static void test_headless_shrunk(void **state)
{
	run_headless(SHRUNK);
}

/* A frame of resource 1 waits with the output; the guest moves the scanout
 * on, frees resource 1 and makes another under the same id. After the table
 * change the old frame must not be shown from the new resource's pages. */
static void test_reused_id_is_not_rebased(void **state)
{
	struct harness *h = h_create(false, 0, 0);
	uintptr_t t1;

	make_frame(h);
	t1 = h_flush(h, 1, 0, 0, W, HT, 1);
	assert_int_equal(h_create_2d(h, 2, XRGB, W, HT), OK);
	assert_int_equal(h_attach1(h, 2, H_RAM_GPA + 128 * PG, W * HT * 4), OK);
	assert_int_equal(h_set_scanout(h, 0, 2, 0, 0, W, HT), OK);
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_UNREF, 1), OK);
	assert_int_equal(h_create_2d(h, 1, XRGB, W, HT), OK);
	assert_int_equal(h_attach1(h, 1, H_RAM_GPA + H_REGION_SIZE, W * HT * 4), OK);
	remap(h, NEW_MEMFD);
	assert_true(h->presents[0].retracted);
	assert_int_equal(h->n_presents, 1); /* dropped, not shown from the new 1 */
	assert_int_equal(h_resp_type(h, t1), OK);
	h_destroy(h);
}

/* QEMU resends an identical table at every device start: nothing moves,
 * nothing is taken back. */
static void test_identical_table_changes_nothing(void **state)
{
	struct harness *h = h_create(false, 0, 0);
	struct kg_gmem_region r[2] = {
		{ H_RAM_GPA, H_REGION_SIZE, 0x7f0000000000ull, 0 },
		{ H_RAM_GPA + H_REGION_SIZE, H_REGION_SIZE, 0x7f0000400000ull, 0 },
	};
	int fds[2] = { dup_region_fd(h, H_RAM_GPA), dup_region_fd(h, H_RAM_GPA + H_REGION_SIZE) };
	uint64_t epoch = kg_gmem_epoch(h->gm);
	uintptr_t t1;

	make_frame(h);
	t1 = h_flush(h, 1, 0, 0, W, HT, 1);
	assert_int_equal(kg_gmem_set_table(h->gm, r, 2, fds), 0);
	kg_vgpu_mem_changed(h->g);
	assert_int_equal(kg_gmem_epoch(h->gm), epoch);
	assert_false(h->presents[0].retracted);
	assert_int_equal(h->n_presents, 1);
	h_complete(h, 0, true);
	assert_int_equal(h_resp_type(h, t1), OK);
	h_destroy(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fake_new_memfd),
		cmocka_unit_test(test_fake_other_offset),
		cmocka_unit_test(test_fake_moved_uva),
		cmocka_unit_test(test_fake_moved_gpa),
		cmocka_unit_test(test_fake_shrunk),
		cmocka_unit_test(test_joined_new_memfd),
		cmocka_unit_test(test_joined_moved_gpa),
		cmocka_unit_test(test_headless_new_memfd),
		cmocka_unit_test(test_headless_other_offset),
		cmocka_unit_test(test_headless_moved_uva),
		cmocka_unit_test(test_headless_moved_gpa),
		cmocka_unit_test(test_headless_shrunk),
		cmocka_unit_test(test_identical_table_changes_nothing),
		cmocka_unit_test(test_reused_id_is_not_rebased),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
