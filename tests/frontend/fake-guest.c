// SPDX-License-Identifier: MIT
#include "fake-guest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096u

int kg_fg_ram_init(struct kg_fg_ram *ram, uint64_t size, uint32_t seed)
{
	int ret;

	memset(ram, 0, sizeof(*ram));
	ram->memfd = memfd_create("kg-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (ram->memfd < 0)
		return -errno;
	ram->size = size;
	ram->n_pages = size / PG;
	ram->seed = seed ? seed : 1;
	if (ftruncate(ram->memfd, (off_t)size) < 0 ||
	    fcntl(ram->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		goto err;
	ram->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ram->memfd, 0);
	if (ram->map == MAP_FAILED) {
		ram->map = NULL;
		goto err;
	}
	ram->taken = calloc(ram->n_pages, 1);
	if (!ram->taken)
		goto err;
	return 0;
err:
	ret = -errno;
	kg_fg_ram_finish(ram);
	return ret;
}

void kg_fg_ram_finish(struct kg_fg_ram *ram)
{
	if (ram->map)
		munmap(ram->map, ram->size);
	if (ram->memfd >= 0)
		close(ram->memfd);
	free(ram->taken);
	memset(ram, 0, sizeof(*ram));
	ram->memfd = -1;
}

int kg_fg_layout_parse(const char *name)
{
	if (!strcmp(name, "contiguous"))
		return KG_FG_CONTIGUOUS;
	if (!strcmp(name, "runs"))
		return KG_FG_RUNS;
	if (!strcmp(name, "scattered"))
		return KG_FG_SCATTERED;
	return -1;
}

static uint32_t rnd(struct kg_fg_ram *ram)
{
	/* xorshift32: reproducible page layouts for a given seed */
	ram->seed ^= ram->seed << 13;
	ram->seed ^= ram->seed >> 17;
	ram->seed ^= ram->seed << 5;
	return ram->seed;
}

/* A free page: the next one in order, or a random one. -1 when full. */
static int64_t take_page(struct kg_fg_ram *ram, bool random)
{
	uint64_t p = random ? rnd(ram) % ram->n_pages : ram->next_page;

	for (uint64_t tries = 0; tries < ram->n_pages; tries++, p = (p + 1) % ram->n_pages) {
		if (!ram->taken[p]) {
			ram->taken[p] = 1;
			ram->next_page = p + 1;
			return (int64_t)p;
		}
	}
	return -1;
}

int64_t kg_fg_alloc(struct kg_fg_ram *ram, uint64_t bytes)
{
	uint64_t n = (bytes + PG - 1) / PG, run = 0;

	for (uint64_t p = 0; p < ram->n_pages; p++) {
		run = ram->taken[p] ? 0 : run + 1;
		if (run == n) {
			uint64_t first = p + 1 - n;
			memset(ram->taken + first, 1, n);
			memset(ram->map + first * PG, 0, n * PG);
			return (int64_t)(first * PG);
		}
	}
	return -ENOMEM;
}

int kg_fg_fb_init(struct kg_fg_fb *fb, struct kg_fg_ram *ram, enum kg_fg_layout layout,
		  uint32_t resource_id, uint32_t w, uint32_t h)
{
	uint64_t bytes = (uint64_t)w * 4 * h;
	unsigned n = (unsigned)((bytes + PG - 1) / PG);

	memset(fb, 0, sizeof(*fb));
	fb->chunks = calloc(n, sizeof(*fb->chunks));
	if (!fb->chunks)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		/* runs: a random start every 16 pages */
		bool random = layout == KG_FG_SCATTERED || (layout == KG_FG_RUNS && i % 16 == 0);
		int64_t p = take_page(ram, random);

		if (p < 0) {
			kg_fg_fb_finish(fb);
			return -ENOMEM;
		}
		fb->chunks[i] = (struct kg_backing_chunk){ ram->map + p * PG, PG, ram->memfd,
							   (uint64_t)p * PG };
	}
	fb->n_chunks = n;
	fb->src = (struct kg_fb_source){ .resource_id = resource_id,
					 .generation = 1,
					 .drm_format = 0x34325258 /* XR24 */,
					 .width = w,
					 .height = h,
					 .stride = w * 4,
					 .chunks = fb->chunks,
					 .n_chunks = n };
	return 0;
}

void kg_fg_fb_finish(struct kg_fg_fb *fb)
{
	free(fb->chunks);
	memset(fb, 0, sizeof(*fb));
}

uint32_t kg_fg_pattern(uint32_t frame, uint32_t x, uint32_t y)
{
	uint32_t v = (x * 0x010203u) ^ (y * 0x030107u) ^ (frame * 0x1f3d5bu);

	return v & 0xffffffu;
}

static uint32_t *pixel_ptr(const struct kg_fg_fb *fb, uint32_t x, uint32_t y)
{
	uint64_t off = (uint64_t)y * fb->src.stride + (uint64_t)x * 4;

	/* 4-byte pixels never straddle a 4 KiB page */
	return (uint32_t *)((uint8_t *)fb->chunks[off / PG].va + off % PG);
}

void kg_fg_draw(struct kg_fg_fb *fb, uint32_t frame, const struct kg_rect *r)
{
	struct kg_rect all = { 0, 0, fb->src.width, fb->src.height };

	if (!r)
		r = &all;
	for (uint32_t y = r->y; y < r->y + r->height && y < fb->src.height; y++)
		for (uint32_t x = r->x; x < r->x + r->width && x < fb->src.width; x++)
			*pixel_ptr(fb, x, y) = kg_fg_pattern(frame, x, y);
}

uint32_t kg_fg_pixel(const struct kg_fg_fb *fb, uint32_t x, uint32_t y)
{
	return *pixel_ptr(fb, x, y);
}

unsigned kg_fg_runs(const struct kg_fg_fb *fb)
{
	unsigned runs = 0;

	for (unsigned i = 0; i < fb->n_chunks; i++)
		if (i == 0 || fb->chunks[i].fd_offset != fb->chunks[i - 1].fd_offset + PG)
			runs++;
	return runs;
}
