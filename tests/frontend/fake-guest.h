/* SPDX-License-Identifier: MIT */
/*
 * kg_fg: plays a guest's memory for the test front-end and the benches.
 *
 * Guest RAM is one sealed memfd (as QEMU's memory-backend-memfd gives it:
 * F_SEAL_SHRINK | F_SEAL_GROW, so udmabuf accepts it). A guest framebuffer
 * is a list of 4 KiB guest pages laid out as a Linux guest's dumb buffer
 * would be, depending on how fragmented its memory is:
 *   contiguous  one run of pages
 *   runs        runs of 16 pages (a lightly fragmented guest)
 *   scattered   every page on its own, in random order
 * The frame is described as a kg_fb_source of one chunk per page.
 */
#ifndef KG_FAKE_GUEST_H
#define KG_FAKE_GUEST_H

#include <stdint.h>

#include "output.h"

enum kg_fg_layout {
	KG_FG_CONTIGUOUS,
	KG_FG_RUNS,
	KG_FG_SCATTERED,
};

struct kg_fg_ram {
	int memfd;
	uint8_t *map;
	uint64_t size;
	uint64_t next_page; /* bump allocator for contiguous/runs */
	uint8_t *taken;	    /* one byte per page */
	uint64_t n_pages;
	uint32_t seed;
};

struct kg_fg_fb {
	struct kg_backing_chunk *chunks; /* one per page */
	unsigned n_chunks;
	struct kg_fb_source src;
};

/* Returns 0 or -errno. */
int kg_fg_ram_init(struct kg_fg_ram *ram, uint64_t size, uint32_t seed);
void kg_fg_ram_finish(struct kg_fg_ram *ram);
int kg_fg_layout_parse(const char *name);

/* bytes (rounded up to pages) of contiguous guest RAM, zeroed; returns its
 * guest physical address (= offset in the memfd) or -ENOMEM. */
int64_t kg_fg_alloc(struct kg_fg_ram *ram, uint64_t bytes);

/* A w x h XRGB8888 framebuffer, stride w * 4, in newly taken pages. */
int kg_fg_fb_init(struct kg_fg_fb *fb, struct kg_fg_ram *ram, enum kg_fg_layout layout,
		  uint32_t resource_id, uint32_t w, uint32_t h);
void kg_fg_fb_finish(struct kg_fg_fb *fb);

/* The test pattern: a function of frame, x and y (XRGB8888, X = 0). */
uint32_t kg_fg_pattern(uint32_t frame, uint32_t x, uint32_t y);
/* Draws the pattern of frame into the rectangle r (NULL: all) of fb. */
void kg_fg_draw(struct kg_fg_fb *fb, uint32_t frame, const struct kg_rect *r);
/* Pixel (x, y) as the guest wrote it. */
uint32_t kg_fg_pixel(const struct kg_fg_fb *fb, uint32_t x, uint32_t y);
/* How many runs of adjacent pages the fb has (what udmabuf needs). */
unsigned kg_fg_runs(const struct kg_fg_fb *fb);

#endif
