// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: virtio-gpu commands into the device (kg_vgpu) over a
 * memfd guest RAM, with a fake output that holds frames until the input
 * says to complete them.
 *
 * Input: records of [op:1][len:2 little endian][len bytes]. op & 7:
 * 0 control command, 1 cursor command, 2 complete the held frames as
 * shown, 3 as not shown, 4 device reset, 5 set features (EDID | BLOB
 * masked by the first byte), 6 write the bytes into guest RAM at
 * offset 64 * byte 0 (so backing entries can point at chosen content).
 * Invariants checked: every frame handed to the output lies inside its
 * chunks, every command is answered or dropped exactly once.
 */
#include <linux/virtio_gpu.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest-mem.h"
#include "log.h"
#include "output.h"
#include "vgpu.h"
#include "guest-ram.h"

#define RAM_GPA	 0x10000ull
#define RAM_SIZE (1u << 20)
#define MAX_HELD 64

struct held {
	kg_present_cb cb;
	void *data;
};

static struct {
	struct kg_output out;
	struct kg_gmem *gm;
	uint8_t *ram;
	struct held held[MAX_HELD];
	unsigned n_held;
	uint64_t submitted, answered;
} F;

static unsigned f_num_scanouts(struct kg_output *out)
{
	return 2;
}

static int f_get_info(struct kg_output *out, unsigned i, struct kg_scanout_info *info)
{
	static const uint8_t edid[128] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };

	if (i >= 2)
		abort(); /* the device must check scanout ids itself */
	*info = (struct kg_scanout_info){ .connected = true,
					  .width = 640,
					  .height = 480,
					  .edid = edid,
					  .edid_len = sizeof(edid) };
	return 0;
}

static int f_present(struct kg_output *out, unsigned i, const struct kg_fb_source *fb,
		     const struct kg_rect *d, kg_present_cb cb, void *data)
{
	uint64_t size = 0;
	volatile uint8_t sink = 0;

	if (i >= 2 || !fb->n_chunks || !fb->width || !fb->height)
		abort();
	for (unsigned k = 0; k < fb->n_chunks; k++) {
		size += fb->chunks[k].len;
		/* Touch both ends: a chunk outside guest RAM would fault. */
		sink ^= ((const uint8_t *)fb->chunks[k].va)[0];
		sink ^= ((const uint8_t *)fb->chunks[k].va)[fb->chunks[k].len - 1];
	}
	(void)sink;
	if (fb->offset > size ||
	    (uint64_t)(fb->height - 1) * fb->stride + (uint64_t)fb->width * 4 > size - fb->offset)
		abort();
	if (d && ((uint64_t)d->x + d->width > fb->width || (uint64_t)d->y + d->height > fb->height))
		abort();
	if (F.n_held >= MAX_HELD)
		return -16; /* -EBUSY */
	F.held[F.n_held++] = (struct held){ cb, data };
	return 0;
}

static int f_ok(struct kg_output *out, unsigned i)
{
	if (i >= 2)
		abort();
	return 0;
}

static int f_cursor_set(struct kg_output *out, unsigned i, const uint32_t *argb, int32_t hx,
			int32_t hy)
{
	return f_ok(out, i);
}

static int f_cursor_move(struct kg_output *out, unsigned i, int32_t x, int32_t y)
{
	return f_ok(out, i);
}

static void f_forget(struct kg_output *out, uint32_t id)
{
}

static void f_destroy(struct kg_output *out)
{
}

static const struct kg_output_ops fops = {
	.name = "fuzz",
	.destroy = f_destroy,
	.num_scanouts = f_num_scanouts,
	.get_info = f_get_info,
	.present = f_present,
	.disable = f_ok,
	.cursor_set = f_cursor_set,
	.cursor_move = f_cursor_move,
	.forget = f_forget,
};

static void t_reply(void *data, void *token, const void *resp, size_t len)
{
	F.answered++;
}

static void t_drop(void *data, void *token)
{
	F.answered++;
}

static const struct kg_vgpu_transport transport = { t_reply, t_drop };

static void complete_held(bool shown)
{
	while (F.n_held) {
		struct held h = F.held[--F.n_held];
		struct kg_present_result res = { .shown = shown, .commit_ns = 1, .flip_ns = 2 };

		h.cb(h.data, &res);
	}
}

static int init(void)
{
	struct kg_gmem_region r = { RAM_GPA, RAM_SIZE, 0x10000000ull, 0 };
	int fd = kg_test_ram_fd(RAM_SIZE);

	kg_log_init("fuzz-vgpu", KG_LOG_SILENT);
	if (fd < 0)
		abort();
	F.gm = kg_gmem_create();
	if (!F.gm || kg_gmem_set_table(F.gm, &r, 1, &fd) < 0)
		abort();
	F.ram = kg_gmem_gpa_to_va(F.gm, RAM_GPA, RAM_SIZE);
	F.out.ops = &fops;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once = -1;
	struct kg_vgpu_config cfg = { .output = &F.out, .transport = &transport };
	struct kg_vgpu *g;

	if (once < 0)
		once = init();
	cfg.gmem = F.gm;
	cfg.max_resources = 64;
	cfg.max_resource_bytes = 8u << 20;
	cfg.fifo = size & 1;
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
			break;
		case 2:
		case 3:
			complete_held(op == 2);
			break;
		case 4:
			kg_vgpu_reset(g);
			break;
		case 5:
			kg_vgpu_set_features(g, len ? data[0] & 0xa : 0xa);
			break;
		case 6:
			if (len > 1) {
				size_t off = (size_t)data[0] * 64;
				memcpy(F.ram + off, data + 1,
				       len - 1 < RAM_SIZE - off ? len - 1 : RAM_SIZE - off);
			}
			break;
		default:
			break;
		}
		data += len;
		size -= len;
	}
	complete_held(true);
	kg_vgpu_destroy(g);
	/* Every command got exactly one answer (a reply or a drop). */
	if (F.answered != F.submitted)
		abort();
	return 0;
}
