// SPDX-License-Identifier: MIT
/*
 * Fuzzes what the KMS output does with a guest framebuffer before any ioctl:
 * the udmabuf plan (merging, alignment, limits) and the copy fallback
 * (damage clipping, placement, rows that straddle chunks). The geometry and
 * the damage are the guest's (hostile); the chunks are what the device hands
 * over (valid memory, any sizes and offsets), so they point into the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kms-copy.h"
#include "udmabuf.h"

#define MAX_CHUNKS 64

struct head {
	uint16_t w, h;
	uint32_t stride, offset;
	uint8_t n_chunks;
	int16_t dst_x, dst_y;
	uint8_t dst_w, dst_h;
	uint32_t dmg[4];
} __attribute__((packed));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct kg_udmabuf_limits lim = { 16, 1u << 20 };
	struct kg_backing_chunk chunks[MAX_CHUNKS];
	struct kg_fb_source fb;
	struct kg_udmabuf_plan plan;
	struct kg_copy_dst dst;
	struct kg_rect dmg;
	struct head hd;
	uint8_t *mem;
	size_t pos = sizeof(hd), n;

	if (size < sizeof(hd))
		return 0;
	memcpy(&hd, data, sizeof(hd));
	n = hd.n_chunks % MAX_CHUNKS;
	if (size < pos + 4 * n)
		return 0;
	/* The backing bytes are the rest of the input, copied so that reads past
	 * a chunk end are caught by ASan. */
	mem = malloc(size - pos - 4 * n + 1);
	if (!mem)
		return 0;
	memcpy(mem, data + pos + 4 * n, size - pos - 4 * n);
	for (size_t i = 0, off = 0; i < n; i++) {
		uint16_t len, fdoff;
		memcpy(&len, data + pos + 4 * i, 2);
		memcpy(&fdoff, data + pos + 4 * i + 2, 2);
		if (len > size - pos - 4 * n - off)
			len = (uint16_t)(size - pos - 4 * n - off);
		chunks[i] = (struct kg_backing_chunk){ mem + off, len, 3 + (fdoff & 1),
						       (uint64_t)fdoff * 512 };
		off += len;
	}
	fb = (struct kg_fb_source){ .resource_id = 1,
				    .drm_format = 0,
				    .width = hd.w,
				    .height = hd.h,
				    .stride = hd.stride,
				    .offset = hd.offset,
				    .chunks = chunks,
				    .n_chunks = (unsigned)n };
	kg_udmabuf_plan(&fb, 4, 4096, &lim, &plan);
	kg_udmabuf_plan_finish(&plan);
	dst = (struct kg_copy_dst){ NULL,     hd.dst_w, hd.dst_h, (uint32_t)hd.dst_w * 4,
				    hd.dst_x, hd.dst_y };
	dst.map = malloc((size_t)dst.stride * dst.height + 1);
	dmg = (struct kg_rect){ hd.dmg[0], hd.dmg[1], hd.dmg[2], hd.dmg[3] };
	if (dst.map)
		kg_copy_damage(&dst, &fb, 4, (hd.n_chunks & 0x80) ? NULL : &dmg);
	free(dst.map);
	free(mem);
	return 0;
}
