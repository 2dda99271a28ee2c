/* SPDX-License-Identifier: MIT */
/*
 * kg_output_headless: an output without a display, for machines without KMS,
 * host tests with a real QEMU, and debugging.
 *
 * Each present copies the damaged rectangle out of the guest pages into a
 * frame kept per scanout (as XRGB8888) and completes at the next tick of a
 * simulated refresh. The frames can be written as PNG files. Each scanout
 * offers a generated EDID (make "KMG", name "kmsgate") for its size.
 */
#ifndef KG_OUTPUT_HEADLESS_H
#define KG_OUTPUT_HEADLESS_H

#include <stdint.h>

#include "output.h"

struct kg_loop;

struct kg_headless_config {
	unsigned num_scanouts;	/* 1..KG_MAX_SCANOUTS */
	uint32_t width, height; /* the mode offered to the guest */
	uint32_t refresh_mhz;	/* simulated refresh; 0: complete at once */
};

/* Returns NULL with errno set. */
struct kg_output *kg_output_headless_create(struct kg_loop *loop,
					    const struct kg_headless_config *cfg);

/* Writes dir/scanout-N.png for every scanout that has shown a frame.
 * Returns the number of files written or -errno. */
int kg_output_headless_write_png(struct kg_output *out, const char *dir);

/* The last frame of a scanout as 0xAARRGGBB words (row stride = width),
 * or NULL when it has shown none. For tests. */
const uint32_t *kg_output_headless_frame(struct kg_output *out, unsigned scanout, uint32_t *width,
					 uint32_t *height);
/* The cursor as last set: visible, position and hotspot; its image in argb
 * (64 * 64 words) when argb is not NULL. For tests. */
struct kg_headless_cursor {
	int visible;
	int32_t x, y, hot_x, hot_y;
	uint64_t updates;
};
void kg_output_headless_cursor(struct kg_output *out, unsigned scanout,
			       struct kg_headless_cursor *cur, uint32_t *argb);

#endif
