// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: virtio-gpu commands into the device (kg_vgpu) over a
 * memfd guest RAM, with a fake output that holds frames until the input
 * says to complete them.
 *
 * Input: records of [op:1][len:2 little endian][len bytes]. op & 7:
 * 0 control command, 1 cursor command, 2 complete the held frames as
 * shown, 3 as not shown, 4 device reset, 5 set features (VIRGL | EDID |
 * BLOB masked by the first byte), 6 write the bytes into guest RAM at
 * offset 64 * byte 0 (so backing entries can point at chosen content),
 * 7 a new memory table, as a hostile or hot-plugging QEMU sends it while
 * frames and fenced flushes wait (byte 0 picks: another memfd, another
 * offset, another host address, another guest address, shrunk to byte 1
 * pages), then kg_vgpu_mem_changed() as kg_vu calls it.
 * The output (fuzz-output.c) reads a held frame's pages when it completes
 * it, as the KMS output does behind a flip, so a stale pointer is a crash.
 * Built with virglrenderer, the device has the real renderer (surfaceless
 * llvmpipe, created once): the 3D commands, their fences (reported after
 * each command) and rendered frames (read back by the output) are fuzzed
 * too.
 * Invariants checked: every frame handed to the output lies inside its
 * chunks, every command is answered or dropped exactly once.
 */
#include <linux/virtio_gpu.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz-output.h"
#include "guest-mem.h"
#include "log.h"
#include "vgpu.h"
#include "guest-ram.h"
#ifdef HAVE_VIRGL
#include "virgl.h"
#endif

#define RAM_GPA	 0x10000ull
#define RAM_SIZE (1u << 20)

static struct {
	struct kg_gmem *gm;
	int ram_fd;		/* the standard table's memfd, each input starts on it */
	struct kg_virgl *virgl; /* NULL: built without virglrenderer */
	uint64_t submitted, answered;
} F;

static void t_reply(void *data, void *token, const void *resp, size_t len)
{
	F.answered++;
}

static void t_drop(void *data, void *token)
{
	F.answered++;
}

static const struct kg_vgpu_transport transport = { t_reply, t_drop };

static void set_table(struct kg_gmem_region r, int fd)
{
	if (fd < 0 || kg_gmem_set_table(F.gm, &r, 1, &fd) < 0)
		abort();
}

static const struct kg_gmem_region std_region = { RAM_GPA, RAM_SIZE, 0x10000000ull, 0 };

/* The table changes a hostile QEMU can send; the device is told after. */
static void change_table(struct kg_vgpu *g, const uint8_t *arg, size_t len)
{
	struct kg_gmem_region r = std_region;
	int fd = fcntl(F.ram_fd, F_DUPFD_CLOEXEC, 0);

	switch (len ? arg[0] % 5 : 0) {
	case 0:
		close(fd);
		fd = kg_test_ram_fd(RAM_SIZE);
		break;
	case 1:
		r.memory_size = RAM_SIZE / 2;
		r.mmap_offset = RAM_SIZE / 2;
		break;
	case 2:
		r.userspace_addr += 0x1000000;
		break;
	case 3:
		r.guest_phys_addr += RAM_SIZE;
		break;
	default:
		r.memory_size = (len > 1 ? arg[1] + 1u : 1u) * 4096u;
		break;
	}
	set_table(r, fd);
	kg_vgpu_mem_changed(g);
}

static int init(void)
{
	kg_log_init("fuzz-vgpu", KG_LOG_SILENT);
	F.ram_fd = kg_test_ram_fd(RAM_SIZE);
	F.gm = kg_gmem_create();
	if (F.ram_fd < 0 || !F.gm)
		abort();
#ifdef HAVE_VIRGL
	F.virgl = kg_virgl_create(&(struct kg_virgl_config){ 0 });
	if (!F.virgl)
		abort();
#endif
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once = -1;
	struct kg_vgpu_config cfg = { .output = fz_output(), .transport = &transport };
	struct kg_vgpu *g;

	if (once < 0)
		once = init();
	set_table(std_region, fcntl(F.ram_fd, F_DUPFD_CLOEXEC, 0));
	cfg.gmem = F.gm;
	cfg.max_resources = 64;
	cfg.max_resource_bytes = 8u << 20;
	cfg.fifo = size & 1;
	cfg.virgl = F.virgl;
	g = kg_vgpu_create(&cfg);
	if (!g)
		abort();
	F.submitted = F.answered = 0;
	while (size >= 3) {
		uint8_t op = data[0] & 7;
		size_t len = (size_t)data[1] | (size_t)data[2] << 8;

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		switch (op) {
		case 0:
		case 1:
			F.submitted++;
			kg_vgpu_submit(g, op ? KG_VGPU_QUEUE_CURSOR : KG_VGPU_QUEUE_CONTROL, data,
				       len, (void *)(uintptr_t)F.submitted);
#ifdef HAVE_VIRGL
			kg_virgl_dispatch(F.virgl); /* fences the renderer retired */
#endif
			break;
		case 2:
		case 3:
			fz_output_complete(op == 2);
			break;
		case 4:
			kg_vgpu_reset(g);
			break;
		case 5:
			kg_vgpu_set_features(g, len ? data[0] & 0xb : 0xb);
			break;
		case 6:
			if (len > 1) {
				uint64_t off = (uint64_t)data[0] * 64, contig = 0;
				uint8_t *p = kg_gmem_gpa_map(F.gm, RAM_GPA + off, len - 1, &contig);

				if (p)
					memcpy(p, data + 1, contig);
			}
			break;
		case 7:
			change_table(g, data, len);
			break;
		default:
			break;
		}
		data += len;
		size -= len;
	}
	fz_output_complete(true);
	kg_vgpu_destroy(g);
	/* Every command got exactly one answer (a reply or a drop). */
	if (F.answered != F.submitted)
		abort();
	return 0;
}
