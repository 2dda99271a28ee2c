// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the device journal a restarted kmsgate-vgpu reads back
 * from its state memfd (vgpu-journal.c), torn or corrupt after a kill -9,
 * or written by something else that got hold of the memfd.
 *
 * Input: byte 0 masks the device features (VIRGL | EDID | BLOB, as the
 * saved vhost-user features would set them before the restore), the rest
 * is the journal area (header and slots, zero-padded to
 * KG_VGPU_JOURNAL_MIN). The device restores from it over a memfd guest
 * RAM on the fake output, then takes a flush of every resource id the
 * restore may have made, so a half-made resource or scanout is used, not
 * just built. Invariants: no crash, leak or read outside guest RAM (the
 * sanitizers); a refused journal leaves a device without resources.
 */
#include <linux/virtio_gpu.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>

#include "fuzz-output.h"
#include "guest-mem.h"
#include "log.h"
#include "vgpu.h"
#include "guest-ram.h"

#define RAM_GPA	 0x10000ull
#define RAM_SIZE (1u << 20)

static struct {
	struct kg_gmem *gm;
	int ram_fd;
	uint8_t *area;
} F;

static void t_reply(void *data, void *token, const void *resp, size_t len)
{
}

static void t_drop(void *data, void *token)
{
}

static const struct kg_vgpu_transport transport = { t_reply, t_drop };

static int init(void)
{
	const struct kg_gmem_region r = { RAM_GPA, RAM_SIZE, 0x10000000ull, 0 };
	int fd;

	kg_log_init("fuzz-vgpu-journal", KG_LOG_SILENT);
	F.ram_fd = kg_test_ram_fd(RAM_SIZE);
	F.gm = kg_gmem_create();
	F.area = malloc(KG_VGPU_JOURNAL_MIN);
	if (F.ram_fd < 0 || !F.gm || !F.area)
		abort();
	fd = fcntl(F.ram_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0 || kg_gmem_set_table(F.gm, &r, 1, &fd) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once = -1;
	struct kg_vgpu_config cfg = { .output = fz_output(), .transport = &transport };
	struct kg_vgpu *g;
	int n;

	if (once < 0)
		once = init();
	if (size < 1)
		return 0;
	memset(F.area, 0, KG_VGPU_JOURNAL_MIN);
	memcpy(F.area, data + 1, size - 1 < KG_VGPU_JOURNAL_MIN ? size - 1 : KG_VGPU_JOURNAL_MIN);
	cfg.gmem = F.gm;
	cfg.max_resources = 64;
	cfg.max_resource_bytes = 8u << 20;
	g = kg_vgpu_create(&cfg);
	if (!g)
		abort();
	kg_vgpu_set_features(g, data[0] & 0xb);
	n = kg_vgpu_keep_journal(g, F.area, KG_VGPU_JOURNAL_MIN, true);
	for (uint32_t id = 1; n > 0 && id <= 8; id++) {
		struct virtio_gpu_resource_flush f = {
			.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
			.r = { 0, 0, 64, 64 },
			.resource_id = id,
		};

		kg_vgpu_submit(g, KG_VGPU_QUEUE_CONTROL, &f, sizeof(f), NULL);
		fz_output_complete(true);
	}
	kg_vgpu_destroy(g);
	return 0;
}
