// SPDX-License-Identifier: MIT
#include "trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "output.h"

struct kg_trace {
	FILE *f;
	bool first;			   /* no event written yet: no comma */
	uint64_t release[KG_MAX_SCANOUTS]; /* the fence before the next frame */
};

struct kg_trace *kg_trace_open(const char *path)
{
	struct kg_trace *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return NULL;
	t->f = fopen(path, "we");
	if (!t->f) {
		err = errno;
		free(t);
		errno = err;
		return NULL;
	}
	t->first = true;
	fputs("[\n", t->f);
	return t;
}

void kg_trace_close(struct kg_trace *t)
{
	if (!t)
		return;
	fputs("\n]\n", t->f);
	fclose(t->f);
	free(t);
}

void kg_trace_flush(struct kg_trace *t)
{
	if (t)
		fflush(t->f);
}

static void slice(struct kg_trace *t, unsigned tid, const char *name, uint64_t from, uint64_t to,
		  uint64_t frame_ns)
{
	if (!from || !to || to < from)
		return;
	fprintf(t->f,
		"%s{\"name\": \"%s\", \"ph\": \"X\", \"pid\": 1, \"tid\": %u, \"ts\": %.3f, "
		"\"dur\": %.3f, \"args\": {\"flush_ns\": %llu}}",
		t->first ? "" : ",\n", name, tid, from / 1e3, (to - from) / 1e3,
		(unsigned long long)frame_ns);
	t->first = false;
}

static void instant(struct kg_trace *t, unsigned tid, const char *name, uint64_t at)
{
	if (!at)
		return;
	fprintf(t->f,
		"%s{\"name\": \"%s\", \"ph\": \"i\", \"s\": \"t\", \"pid\": 1, \"tid\": %u, "
		"\"ts\": %.3f}",
		t->first ? "" : ",\n", name, tid, at / 1e3);
	t->first = false;
}

void kg_trace_released(struct kg_trace *t, unsigned scanout, uint64_t t_ns)
{
	if (!t || scanout >= KG_MAX_SCANOUTS || !t->release[scanout])
		return;
	t->release[scanout] = t_ns;
	instant(t, scanout, "release", t_ns);
}

void kg_trace_frame(struct kg_trace *t, const struct kg_stats_frame *f)
{
	uint64_t release;

	if (!t || f->scanout >= KG_MAX_SCANOUTS)
		return;
	if (!f->shown) {
		instant(t, f->scanout, f->coalesced ? "superseded" : "dropped", f->recv_ns);
		return;
	}
	release = t->release[f->scanout];
	t->release[f->scanout] = f->fence_ns;
	if (release && release <= f->recv_ns)
		slice(t, f->scanout, "draw", release, f->recv_ns, f->recv_ns);
	slice(t, f->scanout, "queue", f->recv_ns, f->commit_ns, f->recv_ns);
	/* A driver without a vblank (virtio-gpu) stamps the flip event before
	 * the commit call returns: the frame was on screen at once, a slice of
	 * length 0 rather than none (the demo's timeline plot needs it). */
	slice(t, f->scanout, "scanout", f->commit_ns,
	      f->flip_ns && f->flip_ns < f->commit_ns ? f->commit_ns : f->flip_ns, f->recv_ns);
	instant(t, f->scanout, "fence", f->fence_ns);
}
