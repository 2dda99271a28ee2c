// SPDX-License-Identifier: MIT
/* The device's journal (vgpu-journal.c): a second device restores the
 * first one's resources, backings and scanouts from it, also after it was
 * compacted, without touching its output; a corrupt or outgrown journal is
 * refused; resubmitted commands that took effect are not run twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test-vgpu-harness.h"

#define AREA (256u << 10)
#define FMT  VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM

/* The resource of the frame a flush of scanout 0 presents. */
static uint32_t shown_resource(struct harness *h, uint32_t id)
{
	unsigned n = h->n_presents;

	h_flush(h, id, 0, 0, 64, 64, 0);
	assert_int_equal(h->n_presents, n + 1);
	return h->presents[n].fb.resource_id;
}

static void test_restore_rebuilds_resources_and_scanouts(void **state)
{
	uint8_t *area = calloc(1, AREA);
	struct harness *h = h_create(false, 0, 0), *h2;

	assert_int_equal(kg_vgpu_keep_journal(h->g, area, AREA, false), 0);
	assert_int_equal(h_create_2d(h, 1, FMT, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_attach1(h, 1, H_RAM_GPA, 64 * 64 * 4), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_create_2d(h, 2, FMT, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_UNREF, 2), VIRTIO_GPU_RESP_OK_NODATA);
	/* A failed command is not kept (resource 9 does not exist). */
	assert_int_equal(h_set_scanout(h, 0, 9, 0, 0, 64, 64),
			 VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);

	/* kill -9: a new process, the same memory. */
	h2 = h_create(false, 0, 0);
	assert_int_equal(kg_vgpu_keep_journal(h2->g, area, AREA, true), 5);
	assert_int_equal(h2->disables + h2->forgets + h2->n_presents, 0); /* output untouched */
	assert_int_equal(shown_resource(h2, 1), 1);
	assert_int_equal(h2->presents[0].fb.width, 64);
	/* Resource 2 is gone, its id free again; 1 exists. */
	assert_int_equal(h_create_2d(h2, 2, FMT, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_create_2d(h2, 1, FMT, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	h_destroy(h2); /* last made, first gone: the harness counts fds */
	h_destroy(h);
	free(area);
}

/* Thousands of flips: the state is written afresh into the other slot
 * every 512 entries (and whenever a slot is full), so a restart runs a few
 * hundred commands again, not every flip since the guest started. */
static void test_compaction_keeps_the_state(void **state)
{
	const size_t size = 4u << 20; /* room for every flip: only the count compacts */
	uint8_t *area = calloc(1, size);
	struct harness *h = h_create(false, 0, 0), *h2;
	int n;

	assert_int_equal(kg_vgpu_keep_journal(h->g, area, size, false), 0);
	for (uint32_t id = 1; id <= 2; id++) {
		assert_int_equal(h_create_2d(h, id, FMT, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
		assert_int_equal(h_attach1(h, id, H_RAM_GPA + (id - 1) * 65536, 64 * 64 * 4),
				 VIRTIO_GPU_RESP_OK_NODATA);
	}
	for (unsigned i = 0; i < 3001; i++) {
		assert_int_equal(h_set_scanout(h, 0, 1 + i % 2, 0, 0, 64, 64),
				 VIRTIO_GPU_RESP_OK_NODATA);
		h->n_replies = 0; /* the harness keeps H_MAX_REPLIES */
	}
	h2 = h_create(false, 0, 0);
	n = kg_vgpu_keep_journal(h2->g, area, size, true);
	/* 5 commands make the state, then at most 511 flips since. */
	assert_true(n >= 5 && n <= 5 + 511);
	assert_int_equal(shown_resource(h2, 1), 1); /* the last set-scanout: 3001 % 2 -> 1 */
	assert_int_equal(h_create_2d(h2, 2, FMT, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	h_destroy(h2); /* last made, first gone: the harness counts fds */
	h_destroy(h);
	free(area);
}

static void test_corrupt_journal_is_refused(void **state)
{
	uint8_t *area = calloc(1, AREA);
	struct harness *h = h_create(false, 0, 0), *h2;
	uint32_t huge = 0x7fffffff;

	assert_int_equal(kg_vgpu_keep_journal(h->g, area, AREA, false), 0);
	assert_int_equal(h_create_2d(h, 1, FMT, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
	/* The first entry's length: right after the 32-byte header. */
	memcpy(area + 32, &huge, sizeof(huge));
	h2 = h_create(false, 0, 0);
	assert_int_equal(kg_vgpu_keep_journal(h2->g, area, AREA, true), -EBADMSG);
	assert_int_equal(kg_vgpu_keep_journal(h2->g, area, 1024, true), -EINVAL);
	h_destroy(h2); /* last made, first gone: the harness counts fds */
	h_destroy(h);
	free(area);
}

/* A backing of 3000 scattered pieces needs 48 KiB of entries: more than a
 * slot of the smallest journal holds. A restart must say so, not restore
 * half a state. */
static void test_outgrown_journal_is_refused(void **state)
{
	uint8_t *area = calloc(1, KG_VGPU_JOURNAL_MIN);
	struct virtio_gpu_mem_entry *e = calloc(3000, sizeof(*e));
	struct harness *h = h_create(false, 0, 0), *h2;

	assert_int_equal(kg_vgpu_keep_journal(h->g, area, KG_VGPU_JOURNAL_MIN, false), 0);
	assert_int_equal(h_create_2d(h, 1, FMT, 64, 750), VIRTIO_GPU_RESP_OK_NODATA);
	for (unsigned i = 0; i < 3000; i++)
		e[i] = (struct virtio_gpu_mem_entry){ .addr = H_RAM_GPA + i * 128ull,
						      .length = 64 };
	assert_int_equal(h_attach(h, 1, e, 3000), VIRTIO_GPU_RESP_OK_NODATA);
	h2 = h_create(false, 0, 0);
	assert_int_equal(kg_vgpu_keep_journal(h2->g, area, KG_VGPU_JOURNAL_MIN, true), -ENODATA);
	/* A reset of the device (the guest starts over) clears it. */
	kg_vgpu_reset(h->g);
	assert_int_equal(kg_vgpu_keep_journal(h2->g, area, KG_VGPU_JOURNAL_MIN, true), 0);
	h_destroy(h2); /* last made, first gone: the harness counts fds */
	h_destroy(h);
	free(e);
	free(area);
}

static uint32_t resubmit(struct harness *h, uint32_t type, uint32_t id)
{
	struct virtio_gpu_resource_create_2d c = { .hdr.type = type, .resource_id = id };
	uintptr_t token = h->next_token++;

	c.format = FMT;
	c.width = 64;
	c.height = 64;
	kg_vgpu_resubmit(h->g, KG_VGPU_QUEUE_CONTROL, &c, sizeof(c), (void *)token);
	return h_resp_type(h, token);
}

/* What a dead process did before it answered is not done again; what it
 * did not do is. */
static void test_resubmitted_commands_are_idempotent(void **state)
{
	struct harness *h = h_create(false, 0, 0);

	assert_int_equal(h_create_2d(h, 1, FMT, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(resubmit(h, VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, 1),
			 VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_create_2d(h, 1, FMT, 64, 64), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(resubmit(h, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 1),
			 VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(resubmit(h, VIRTIO_GPU_CMD_RESOURCE_UNREF, 7), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_UNREF, 7),
			 VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	/* Not done yet: done now. */
	assert_int_equal(resubmit(h, VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, 3),
			 VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_simple(h, VIRTIO_GPU_CMD_RESOURCE_UNREF, 3), VIRTIO_GPU_RESP_OK_NODATA);
	h_destroy(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restore_rebuilds_resources_and_scanouts),
		cmocka_unit_test(test_compaction_keeps_the_state),
		cmocka_unit_test(test_corrupt_journal_is_refused),
		cmocka_unit_test(test_outgrown_journal_is_refused),
		cmocka_unit_test(test_resubmitted_commands_are_idempotent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
