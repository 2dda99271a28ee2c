// SPDX-License-Identifier: MIT
/*
 * The fence queue: fenced commands in submission order, each answered once
 * its handler ran and its frames were shown, and never before an older one
 * (a Linux guest treats fence N as "everything up to N is done").
 */
#include "vgpu-private.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "loop.h"
#include "stats.h"
#include "trace.h"

struct vgpu_fence *vgpu_fence_new(struct kg_vgpu *g, void *token)
{
	struct vgpu_fence *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL; /* answered at once, unfenced */
	f->token = token;
	kg_list_append(&g->fenceq, &f->link);
	return f;
}

static void fence_free(struct kg_vgpu *g, struct vgpu_fence *f)
{
	kg_list_remove(&f->link);
	if (f->token && g->tp->drop)
		g->tp->drop(g->tp_data, f->token);
	free(f->resp);
	free(f);
}

/* Counts a fence as its answer leaves, by what completed it. A flip of any
 * of its frames makes it a flip fence: that is the guest's frame reaching
 * the screen. */
static void fence_count(struct kg_vgpu *g, const struct vgpu_fence *f)
{
	enum kg_stats_fence kind = KG_STATS_FENCE_OTHER;

	if (f->outcomes & VGPU_FRAME_SHOWN) {
		kind = KG_STATS_FENCE_FLIP;
		g->cnt.fences_flip++;
	} else if (f->outcomes & VGPU_FRAME_REPLACED) {
		kind = KG_STATS_FENCE_REPLACED;
		g->cnt.fences_replaced++;
	} else if (f->outcomes & VGPU_FRAME_DROPPED) {
		kind = KG_STATS_FENCE_DROPPED;
		g->cnt.fences_dropped++;
	} else {
		g->cnt.fences_other++;
	}
	kg_stats_add_fence(g->stats, kind);
}

/* A timer wake-up this close to the deadline is on time: sleeping again
 * for less would cost more than it gains. */
#define HOLD_SLACK_NS 50000ull

/* The head is held for jit pacing until at: the timer wakes us then. */
static void hold(struct kg_vgpu *g, uint64_t at)
{
	if (g->pace_timer_at == at)
		return;
	if (kg_loop_timer_arm_at(g->pace_timer, at) < 0) {
		/* Cannot wait: release at once (plain pacing) rather than
		 * never. */
		kg_log_errno(KG_LOG_WARN, "vgpu: cannot arm the pacing timer");
		return;
	}
	g->pace_timer_at = at;
}

/* The guest is free to draw: its pacer and the statistics learn when. */
static void released(struct kg_vgpu *g, const struct vgpu_fence *f, uint64_t now)
{
	unsigned i = f->paced - 1;

	kg_pacer_released(g->scanouts[i].pacer, now);
	kg_stats_released(g->stats, i, now);
	if (f->hold_until)
		kg_trace_released(g->trace, i, now);
}

/* Sends every response at the head of the fence queue that is complete. */
void vgpu_fences_run(struct kg_vgpu *g)
{
	while (!kg_list_empty(&g->fenceq)) {
		struct vgpu_fence *f = kg_list_first(&g->fenceq, struct vgpu_fence, link);
		uint64_t now = 0;

		if (!f->handled || f->presents_left || f->gpu_wait)
			break;
		if (f->token && (f->hold_until || f->paced))
			now = kg_now_ns();
		if (f->token && f->hold_until > now + HOLD_SLACK_NS && g->pace_timer) {
			hold(g, f->hold_until);
			if (g->pace_timer_at == f->hold_until)
				break;
		}
		if (f->token) {
			fence_count(g, f);
			g->tp->reply(g->tp_data, f->token, f->resp, f->resp_len);
			f->token = NULL;
			if (f->paced)
				released(g, f, now);
		}
		fence_free(g, f);
	}
}

void vgpu_fences_timer(void *data)
{
	struct kg_vgpu *g = data;

	g->pace_timer_at = 0;
	vgpu_fences_run(g);
}

void vgpu_fence_present_done(struct kg_vgpu *g, struct vgpu_fence *f,
			     enum vgpu_frame_outcome outcome)
{
	f->outcomes |= outcome;
	if (f->presents_left)
		f->presents_left--;
	vgpu_fences_run(g);
}

void vgpu_fences_drop(struct kg_vgpu *g)
{
	struct vgpu_fence *f;

	kg_list_for_each (f, &g->fenceq, link) {
		if (f->token && g->tp->drop)
			g->tp->drop(g->tp_data, f->token);
		f->token = NULL;
		f->gpu_wait = false; /* nothing is answered: no need to wait */
	}
}

void vgpu_fences_gpu_done(struct kg_vgpu *g, uint32_t seq)
{
	struct vgpu_fence *f;

	/* Ids wrap after 2^32 fences: "retired" is "not after seq". */
	kg_list_for_each (f, &g->fenceq, link) {
		if (f->gpu_wait && (int32_t)(f->gpu_seq - seq) <= 0)
			f->gpu_wait = false;
	}
	vgpu_fences_run(g);
}

void vgpu_fence_respond(struct kg_vgpu *g, struct vgpu_fence *f, const void *resp, size_t len)
{
	f->resp = malloc(len);
	if (f->resp) {
		memcpy(f->resp, resp, len);
		f->resp_len = len;
	} else {
		/* Out of memory: answer at once rather than never (not
		 * counted: it leaves before its frames are done). */
		g->tp->reply(g->tp_data, f->token, resp, len);
		f->token = NULL;
	}
	f->handled = true;
	vgpu_fences_run(g);
}

void vgpu_fences_free(struct kg_vgpu *g)
{
	while (!kg_list_empty(&g->fenceq))
		fence_free(g, kg_list_first(&g->fenceq, struct vgpu_fence, link));
}
