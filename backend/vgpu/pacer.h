/* SPDX-License-Identifier: MIT */
/*
 * kg_pacer: when to release a paced guest to draw its next frame.
 *
 * A guest whose flush fence completes on the flip event draws right after
 * vblank N, and its frame waits for vblank N+1: what it sampled reaches the
 * glass a whole refresh later. Just-in-time pacing completes the fence at
 * "next vblank - predicted draw time - margin" instead, so the frame is
 * drawn just before the vblank that shows it (Weston's repaint window and
 * mutter's dynamic max render time do this for a compositor's clients).
 *
 * One pacer per scanout, pure logic over CLOCK_MONOTONIC nanoseconds: the
 * device feeds it the flips and the guest's flushes and asks it when to
 * release; the event loop and the fences stay with the device.
 *
 * The prediction is the 90th percentile of the last KG_PACER_HISTORY draw
 * times (release -> next flush received), followed at once when it rises
 * and slowly when it falls (1/8 of the gap per frame). A miss (the frame
 * showed a refresh or more after the vblank it was released for) raises it
 * at once to at least the draw that missed, and adds to the margin a slack
 * that goes again by a 128th per frame not missed. A guest too erratic
 * to predict (its draw time changing between frames by more than a sixth
 * of a refresh typically, or 4 misses in the window) falls back to
 * flip-event pacing for KG_PACER_BACKOFF frames, then tries again.
 */
#ifndef KG_PACER_H
#define KG_PACER_H

#include <stdbool.h>
#include <stdint.h>

#define KG_PACER_HISTORY 64
/* Frames of plain pacing after the guest proved erratic (1 s at 60 Hz):
 * long enough that an erratic guest costs few misses (about 2 per retry),
 * short enough that a steady one caught by a burst of host noise is back
 * to jit soon. */
#define KG_PACER_BACKOFF 60
/* Samples before the first prediction is trusted. */
#define KG_PACER_WARMUP 8
/* The default time kept between the flush predicted and the vblank: the
 * commit's own path (receive, commit, the driver's work before vblank). */
#define KG_PACER_DEFAULT_MARGIN_NS 2000000ull

enum kg_pacing {
	KG_PACING_FLIP, /* release on the flip event (the default) */
	KG_PACING_JIT,	/* release just in time for the next vblank */
};

struct kg_pacer;

struct kg_pacer_state {
	bool active;	     /* releases are being delayed now */
	uint64_t predict_ns; /* the predicted draw time, 0: none yet */
	uint64_t slack_ns;   /* margin added after misses */
	uint64_t jit_releases, flip_releases;
	uint64_t misses;    /* jit releases whose frame came a refresh late */
	uint64_t fallbacks; /* times the guest proved too erratic */
};

/* Returns NULL with errno set. margin_ns 0: the default. */
struct kg_pacer *kg_pacer_create(enum kg_pacing mode, uint64_t margin_ns);
void kg_pacer_destroy(struct kg_pacer *p);

/*
 * A frame of the guest was shown at flip_ns (the vblank); period_ns is the
 * display's refresh period (0: unknown, no jit). Returns when the guest
 * should be released: flip_ns under plain pacing, when there is no trusted
 * prediction, or when the predicted draw leaves less than a margin to gain.
 */
uint64_t kg_pacer_shown(struct kg_pacer *p, uint64_t flip_ns, uint64_t period_ns);
/* The guest was released (its fence answered) at t_ns. */
void kg_pacer_released(struct kg_pacer *p, uint64_t t_ns);
/* The guest's next frame arrived (its flush received) at t_ns. */
void kg_pacer_frame(struct kg_pacer *p, uint64_t t_ns);

void kg_pacer_get_state(const struct kg_pacer *p, struct kg_pacer_state *st);
const char *kg_pacing_name(enum kg_pacing mode);
/* "flip" or "jit"; -1 for anything else. */
int kg_pacing_parse(const char *s);

#endif
