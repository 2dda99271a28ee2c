/* SPDX-License-Identifier: MIT */
/*
 * A synthetic guest's draw time: how long a test guest "draws" before it
 * sends the next frame, sampled from a distribution given as a spec string,
 * so a scheduler that predicts the draw time can be tested where the right
 * answer is known. Shared by kg-frontend (tests/frontend) and kg-frames
 * (tests/guest, a static guest program): plain C11, no libm, no libdrm.
 *
 * Specs (times in milliseconds, decimals allowed, at most KG_DRAW_MAX_MS):
 *   fixed:MS              always MS
 *   jitter:MS,SD          normal with mean MS and standard deviation SD,
 *                         clamped at 0 (approximated by the sum of 12
 *                         uniforms: exact mean and SD, tails cut at 6 SD)
 *   spikes:MS,LONG,PROB   LONG with probability PROB (0..1), else MS
 *   steps:MS1,N1,MS2      MS1 for the first N1 frames, then MS2 (a draw time
 *                         that jumps past what a predictor has learnt)
 *
 * Samples come from the generator's own splitmix64, seeded by the caller,
 * not from rand(): rand()'s sequence and RAND_MAX (32767 on some libcs)
 * differ between C libraries and its state is global, so the same seed
 * would not give the same run on the host, in the board VM (glibc) and in
 * an arm64 guest with another libc. splitmix64 is the same sequence
 * everywhere, and each generator has its own state.
 */
#ifndef KG_DRAWTIME_H
#define KG_DRAWTIME_H

#include <stddef.h>
#include <stdint.h>

/* Longest draw time a spec may ask for (a typo guard, not a limit of the
 * arithmetic: ns values stay far below 2^63). */
#define KG_DRAW_MAX_MS 10000.0

enum kg_draw_kind {
	KG_DRAW_FIXED,
	KG_DRAW_JITTER,
	KG_DRAW_SPIKES,
	KG_DRAW_STEPS,
};

struct kg_drawtime {
	enum kg_draw_kind kind;
	uint64_t base_ns;  /* fixed, jitter's mean, spikes' MS, steps' MS1 */
	uint64_t sd_ns;	   /* jitter */
	uint64_t other_ns; /* spikes' LONG, steps' MS2 */
	double prob;	   /* spikes */
	uint64_t steps_n;  /* steps' N1 */
	uint64_t rng;	   /* splitmix64 state */
	uint64_t drawn;	   /* samples taken so far */
};

/*
 * Parses spec into d, seeded with seed. Returns 0, or -EINVAL with a
 * message naming what is wrong in err (always NUL-terminated when
 * err_len > 0); d is then left as a fixed:0 generator.
 */
int kg_drawtime_parse(struct kg_drawtime *d, const char *spec, uint64_t seed, char *err,
		      size_t err_len);

/* The next draw time in nanoseconds. */
uint64_t kg_drawtime_next(struct kg_drawtime *d);

/* A uniform double in [0, 1) from d's generator (53 random bits). */
double kg_drawtime_uniform(struct kg_drawtime *d);

#endif
