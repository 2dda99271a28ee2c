// SPDX-License-Identifier: MIT
/*
 * Just-in-time pacing: the draw-time predictor and the release time.
 * pacer.h says what and why; the numbers are argued where they are used.
 */
#include "pacer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * What a miss adds to the margin at least, and how fast it goes again: a
 * 128th per frame not missed (about 2 s at 60 Hz to lose two thirds). Most
 * misses are a one-off hiccup of the host, and slack kept for long only
 * costs latency: with a 1024th, three such misses on the TCG rig held a
 * steady 2 ms guest near flip pacing for a whole 10 s run. A path that
 * needs 1 ms more than the margin still misses only about once in 90
 * frames (derived: ln 2 x 128, the frames from 2 ms of slack to 1) instead
 * of nearly every frame.
 */
#define SLACK_STEP_NS 1000000ull
#define SLACK_DECAY   128

struct kg_pacer {
	enum kg_pacing mode;
	uint64_t margin_ns;
	uint64_t draw[KG_PACER_HISTORY]; /* ns, a ring of the last draw times */
	unsigned n, next;
	uint8_t missed[KG_PACER_HISTORY]; /* a ring: did each jit release miss? */
	unsigned miss_next;
	uint64_t predict_ns;
	uint64_t period_ns;
	uint64_t released_ns; /* the release the next frame answers, 0: none */
	uint64_t last_draw_ns;
	uint64_t slack_ns;	 /* learned from misses: the margin was too thin */
	uint64_t pending_target; /* the vblank the coming release aims at, 0: plain */
	uint64_t target_ns;	 /* the vblank the last release aimed at, 0: plain */
	unsigned backoff;	 /* frames of plain pacing left */
	struct kg_pacer_state st;
};

struct kg_pacer *kg_pacer_create(enum kg_pacing mode, uint64_t margin_ns)
{
	struct kg_pacer *p;

	if (mode != KG_PACING_FLIP && mode != KG_PACING_JIT) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->mode = mode;
	p->margin_ns = margin_ns ? margin_ns : KG_PACER_DEFAULT_MARGIN_NS;
	return p;
}

void kg_pacer_destroy(struct kg_pacer *p)
{
	free(p);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank 90th percentile of the history (64 values: sorting a
 * copy costs about a microsecond, once per frame). */
static uint64_t p90(const struct kg_pacer *p)
{
	uint64_t v[KG_PACER_HISTORY];

	memcpy(v, p->draw, p->n * sizeof(v[0]));
	qsort(v, p->n, sizeof(v[0]), cmp_u64);
	return v[(p->n * 90 + 99) / 100 - 1];
}

static unsigned recent_misses(const struct kg_pacer *p)
{
	unsigned m = 0;

	for (unsigned i = 0; i < KG_PACER_HISTORY; i++)
		m += p->missed[i];
	return m;
}

static void note_outcome(struct kg_pacer *p, bool miss)
{
	p->missed[p->miss_next] = miss;
	p->miss_next = (p->miss_next + 1) % KG_PACER_HISTORY;
}

/*
 * Too erratic to predict: draw times whose typical (median) change from one
 * frame to the next is more than a sixth of a refresh (2.8 ms at 60 Hz,
 * about the margin) cannot be met by any prediction short of the longest;
 * and 4 misses in 64 frames (62 per 1000, far above the goal of 1), each of
 * which added slack, say no margin helps. The change between frames, not the spread: a guest whose
 * draw time steps from 2 to 9 ms and stays there is predictable after one frame. The median, not
 * the mean: a guest's first frames (whole buffers to fill) and a rare long one are a few big
 * changes, which misses deal with.
 */
static bool erratic(const struct kg_pacer *p)
{
	uint64_t d[KG_PACER_HISTORY];
	unsigned m = 0;

	if (recent_misses(p) >= 4)
		return true;
	if (p->n < KG_PACER_WARMUP || !p->period_ns)
		return false;
	for (unsigned k = 1; k < p->n; k++) {
		/* Oldest to newest: the ring starts at next once full. */
		unsigned i = (p->next + KG_PACER_HISTORY - p->n + k) % KG_PACER_HISTORY;
		unsigned j = (i + KG_PACER_HISTORY - 1) % KG_PACER_HISTORY;

		d[m++] =
			p->draw[i] > p->draw[j] ? p->draw[i] - p->draw[j] : p->draw[j] - p->draw[i];
	}
	qsort(d, m, sizeof(d[0]), cmp_u64);
	return d[m / 2] > p->period_ns / 6;
}

uint64_t kg_pacer_shown(struct kg_pacer *p, uint64_t flip_ns, uint64_t period_ns)
{
	uint64_t release;
	bool miss = false;

	p->period_ns = period_ns;
	if (p->target_ns) {
		/* Shown half a refresh or more after the vblank it was
		 * released for: it came a whole refresh late. Up at once, past
		 * the draw that missed: the next one is likely as long. */
		miss = period_ns && flip_ns > p->target_ns + period_ns / 2;

		note_outcome(p, miss);
		if (miss) {
			p->st.misses++;
			if (p->predict_ns < p->last_draw_ns)
				p->predict_ns = p->last_draw_ns;
			/*
			 * A frame drawn in about the predicted time that still
			 * missed says the margin is too thin for this path (a
			 * copying output's copy, a loaded host): keep more,
			 * and let it go slowly, or the prediction decaying back
			 * to the draw time would miss again every few dozen
			 * frames (measured on the headless output: a miss every
			 * 14-17 frames without it).
			 */
			p->slack_ns += p->predict_ns / 4 > SLACK_STEP_NS ? p->predict_ns / 4
									 : SLACK_STEP_NS;
			if (p->slack_ns > period_ns / 4)
				p->slack_ns = period_ns / 4;
		}
		p->target_ns = 0;
	}
	/* Every frame, released just in time or not: slack that made jit
	 * not worth it must still wear off, or it never comes back. */
	if (!miss)
		p->slack_ns -= p->slack_ns / SLACK_DECAY;
	p->pending_target = 0;
	p->st.active = false;
	if (p->mode != KG_PACING_JIT || !period_ns)
		return flip_ns;
	if (p->backoff) {
		p->backoff--;
		return flip_ns;
	}
	if (erratic(p)) {
		p->st.fallbacks++;
		p->backoff = KG_PACER_BACKOFF;
		/* Start afresh after the back-off: old misses and draw times
		 * would make it fall back again at once. */
		memset(p->missed, 0, sizeof(p->missed));
		/* The slack stays: it is the path's, not the guest's. */
		p->n = p->next = 0;
		p->predict_ns = 0;
		return flip_ns;
	}
	if (p->n < KG_PACER_WARMUP)
		return flip_ns;
	/* Clamped to one refresh, and worth it only when it gains at least
	 * a margin's worth: a release a hair after the flip buys nothing but
	 * the risk of a miss when the draw time wobbles (measured: a 10 ms
	 * guest on the TCG rig missed 100-250 per 1000 with a 1.7 ms gain).
	 * The slack is not counted there: it moves the release earlier (at
	 * the latest to the flip), it does not stop jit while it wears off. */
	if (p->predict_ns + 2 * p->margin_ns >= period_ns)
		return flip_ns;
	release = flip_ns + period_ns - p->predict_ns - p->margin_ns;
	release = release > flip_ns + p->slack_ns ? release - p->slack_ns : flip_ns;
	p->pending_target = flip_ns + period_ns;
	p->st.active = true;
	return release;
}

void kg_pacer_released(struct kg_pacer *p, uint64_t t_ns)
{
	p->released_ns = t_ns;
	p->target_ns = p->pending_target;
	p->pending_target = 0;
	if (p->target_ns)
		p->st.jit_releases++;
	else
		p->st.flip_releases++;
}

void kg_pacer_frame(struct kg_pacer *p, uint64_t t_ns)
{
	uint64_t draw, high;

	if (!p->released_ns || t_ns < p->released_ns)
		return; /* not a paced frame (no fence, or one drawn ahead) */
	draw = t_ns - p->released_ns;
	p->released_ns = 0;
	p->last_draw_ns = draw;
	p->draw[p->next] = draw;
	p->next = (p->next + 1) % KG_PACER_HISTORY;
	if (p->n < KG_PACER_HISTORY)
		p->n++;
	high = p90(p);
	/* Up at once to the percentile, down by an eighth of the gap per frame
	 * (about 6 frames to halve it) so a few short frames do not invite a
	 * miss. Not up to every long draw: one outlier that still made its
	 * vblank (the margin absorbs some) is no reason to give up latency;
	 * one that missed raises it in kg_pacer_shown(). */
	if (high > p->predict_ns)
		p->predict_ns = high;
	else
		p->predict_ns -= (p->predict_ns - high) / 8;
	p->st.predict_ns = p->predict_ns;
}

void kg_pacer_get_state(const struct kg_pacer *p, struct kg_pacer_state *st)
{
	*st = p->st;
	st->predict_ns = p->predict_ns;
	st->slack_ns = p->slack_ns;
}

const char *kg_pacing_name(enum kg_pacing mode)
{
	return mode == KG_PACING_JIT ? "jit" : "flip";
}

int kg_pacing_parse(const char *s)
{
	if (!strcmp(s, "flip"))
		return KG_PACING_FLIP;
	if (!strcmp(s, "jit"))
		return KG_PACING_JIT;
	return -1;
}
