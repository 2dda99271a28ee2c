// SPDX-License-Identifier: MIT
/*
 * The fence queue: fenced commands in submission order, each answered once
 * its handler ran and its frames were shown, and never before an older one
 * (a Linux guest treats fence N as "everything up to N is done").
 */
#include "vgpu-private.h"

#include <stdlib.h>
#include <string.h>

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

/* Sends every response at the head of the fence queue that is complete. */
void vgpu_fences_run(struct kg_vgpu *g)
{
	while (!kg_list_empty(&g->fenceq)) {
		struct vgpu_fence *f = kg_list_first(&g->fenceq, struct vgpu_fence, link);

		if (!f->handled || f->presents_left)
			break;
		if (f->token) {
			g->tp->reply(g->tp_data, f->token, f->resp, f->resp_len);
			f->token = NULL;
		}
		fence_free(g, f);
	}
}

void vgpu_fence_present_done(struct kg_vgpu *g, struct vgpu_fence *f)
{
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
	}
}

void vgpu_fence_respond(struct kg_vgpu *g, struct vgpu_fence *f, const void *resp, size_t len)
{
	f->resp = malloc(len);
	if (f->resp) {
		memcpy(f->resp, resp, len);
		f->resp_len = len;
	} else {
		/* Out of memory: answer at once rather than never. */
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
