/* SPDX-License-Identifier: MIT */
/*
 * kg_stats: per-frame latency of the backend, written as JSON.
 *
 * Each frame carries four timestamps (CLOCK_MONOTONIC, ns): the guest's
 * flush received, the commit issued, the flip event, the guest fence
 * completed. Percentiles cover the last KG_STATS_WINDOW frames of each
 * scanout; the counters cover the whole run. Format: docs/backend.md.
 *
 * What a user of a paced guest feels comes from the fence before a frame
 * (the guest was released to draw it): "draw" is release -> the frame's
 * flush received, "release_to_glass" release -> its flip event, and a
 * frame is "missed" when it reached the screen one or more refreshes after
 * the vblank it was drawn for (the first one after its release).
 */
#ifndef KG_STATS_H
#define KG_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pacer.h"

#define KG_STATS_WINDOW 4096

struct kg_stats;

struct kg_stats_frame {
	unsigned scanout;
	bool shown;	/* false: superseded (coalesced) or dropped */
	bool coalesced; /* replaced by a newer frame before the output */
	bool zero_copy;
	const char *path;   /* the output's path name ("zero-copy", "copy") */
	uint64_t recv_ns;   /* RESOURCE_FLUSH received */
	uint64_t commit_ns; /* 0: never committed */
	uint64_t flip_ns;   /* 0: never shown */
	uint64_t fence_ns;  /* 0: the flush had no fence */
	uint64_t bytes_copied;
	uint64_t period_ns; /* the display's refresh period, 0: unknown */
};

/*
 * What completed a fenced command (its answer sent to the guest). A Linux
 * guest fences its primary-plane flushes of blob framebuffers and also
 * other commands (the cursor's transfer, ...): counting them apart lets a
 * test match flips to the guest's frames exactly.
 */
enum kg_stats_fence {
	KG_STATS_FENCE_FLIP,	 /* a frame of the command was shown (a flip event) */
	KG_STATS_FENCE_REPLACED, /* none shown: superseded by a newer frame (newest wins) */
	KG_STATS_FENCE_DROPPED,	 /* none shown: refused by the output or dropped */
	KG_STATS_FENCE_OTHER,	 /* the command made no frame */
	KG_STATS_FENCE_COUNT
};

/* Returns NULL with errno set. */
struct kg_stats *kg_stats_create(void);
void kg_stats_destroy(struct kg_stats *s);

void kg_stats_add(struct kg_stats *s, const struct kg_stats_frame *f);
/* One fenced command answered; s may be NULL. */
void kg_stats_add_fence(struct kg_stats *s, enum kg_stats_fence kind);

/* The guest of scanout was released to draw (its fence answered) at t_ns:
 * later than the frame's fence_ns when jit pacing held it. s may be NULL. */
void kg_stats_released(struct kg_stats *s, unsigned scanout, uint64_t t_ns);
/* The scanout's pacing, as of its last shown frame. s may be NULL. */
void kg_stats_set_pacing(struct kg_stats *s, unsigned scanout, const char *mode,
			 const struct kg_pacer_state *st);
/* --pacing jit met a flush without a fence on scanout: it cannot pace it. */
void kg_stats_set_unfenced(struct kg_stats *s, unsigned scanout);

/* The JSON document to f. Returns 0 or -errno. */
int kg_stats_write(const struct kg_stats *s, FILE *f);
/* Same, replacing path atomically (temp file + rename). Returns 0 or -errno. */
int kg_stats_write_file(const struct kg_stats *s, const char *path);

/* Percentile p (0..100) of n samples, sorted in place: nearest rank. */
uint64_t kg_stats_percentile(uint64_t *v, unsigned n, unsigned p);

#endif
