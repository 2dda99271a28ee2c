// SPDX-License-Identifier: MIT
/* libkmsgate: LIST and the pipeline accessors. */
#include "client-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The broker has at most a few dozen pipelines; a list longer than this is
 * a broken broker, not a big display controller. */
#define LIST_MAX 256

static int list_append(struct kmsgate_list *l, const struct kg_proto_pipeline *p)
{
	struct kmsgate_pipeline *items;

	if (l->count >= LIST_MAX)
		return -EPROTO;
	items = realloc(l->items, (l->count + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	l->items = items;
	memset(&items[l->count], 0, sizeof(items[l->count]));
	items[l->count].info = *p;
	kg_client_planes_from_proto(items[l->count].planes, p->planes, p->n_planes);
	l->count++;
	return 0;
}

/* Collects PIPELINE replies until LIST_END. */
static int read_list(struct kmsgate_client *c, uint32_t seq, struct kmsgate_list *l)
{
	struct kg_proto_msg *m = malloc(sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	for (;;) {
		r = kg_client_wait(c, seq, m, NULL, KG_CLIENT_REPLY_TIMEOUT_MS);
		if (r < 0)
			break;
		if (m->type == KG_PROTO_MSG_ERROR) {
			r = kg_client_error(c, m);
			break;
		}
		if (m->type == KG_PROTO_MSG_LIST_END) {
			r = m->u.list_end.count == l->count ? 0 : -EPROTO;
			break;
		}
		r = m->type == KG_PROTO_MSG_PIPELINE ? list_append(l, &m->u.pipeline) : -EPROTO;
		if (r < 0)
			break;
	}
	if (r == -EPROTO)
		kg_client_break(c);
	free(m);
	return r;
}

int kmsgate_list(struct kmsgate_client *c, struct kmsgate_list **out)
{
	struct kg_proto_msg req = { .type = KG_PROTO_MSG_LIST };
	struct kmsgate_list *l;
	int r;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	r = kg_client_send(c, &req);
	if (r == 0)
		r = read_list(c, req.seq, l);
	if (r < 0) {
		kmsgate_list_free(l);
		return r;
	}
	*out = l;
	return 0;
}

size_t kmsgate_list_count(const struct kmsgate_list *l)
{
	return l->count;
}

const struct kmsgate_pipeline *kmsgate_list_get(const struct kmsgate_list *l, size_t i)
{
	return i < l->count ? &l->items[i] : NULL;
}

void kmsgate_list_free(struct kmsgate_list *l)
{
	if (!l)
		return;
	free(l->items);
	free(l);
}

const char *kmsgate_pipeline_name(const struct kmsgate_pipeline *p)
{
	return p->info.name;
}

uint32_t kmsgate_pipeline_state(const struct kmsgate_pipeline *p)
{
	return p->info.state;
}

int kmsgate_pipeline_allowed(const struct kmsgate_pipeline *p)
{
	return !!(p->info.flags & KG_PROTO_PIPE_ALLOWED);
}

int kmsgate_pipeline_mine(const struct kmsgate_pipeline *p)
{
	return !!(p->info.flags & KG_PROTO_PIPE_MINE);
}

const char *kmsgate_pipeline_connector_name(const struct kmsgate_pipeline *p)
{
	return p->info.connector_name;
}

uint32_t kmsgate_pipeline_connector_id(const struct kmsgate_pipeline *p)
{
	return p->info.connector_id;
}

uint32_t kmsgate_pipeline_connector_type(const struct kmsgate_pipeline *p)
{
	return p->info.connector_type;
}

uint32_t kmsgate_pipeline_connector_status(const struct kmsgate_pipeline *p)
{
	return p->info.connector_status;
}

void kmsgate_pipeline_size_mm(const struct kmsgate_pipeline *p, uint32_t *width, uint32_t *height)
{
	*width = p->info.mm_width;
	*height = p->info.mm_height;
}

uint32_t kmsgate_pipeline_crtc_id(const struct kmsgate_pipeline *p)
{
	return p->info.crtc_id;
}

int kmsgate_pipeline_current_mode(const struct kmsgate_pipeline *p, struct kmsgate_mode *mode)
{
	if (!(p->info.flags & KG_PROTO_PIPE_HAS_CURRENT_MODE))
		return -ENOENT;
	kg_client_mode_from_proto(mode, &p->info.current_mode);
	return 0;
}

int kmsgate_pipeline_preferred_mode(const struct kmsgate_pipeline *p, struct kmsgate_mode *mode)
{
	if (!(p->info.flags & KG_PROTO_PIPE_HAS_PREFERRED_MODE))
		return -ENOENT;
	kg_client_mode_from_proto(mode, &p->info.preferred_mode);
	return 0;
}

size_t kmsgate_pipeline_plane_count(const struct kmsgate_pipeline *p)
{
	return p->info.n_planes;
}

const struct kmsgate_plane *kmsgate_pipeline_plane(const struct kmsgate_pipeline *p, size_t i)
{
	return i < p->info.n_planes ? &p->planes[i] : NULL;
}

pid_t kmsgate_pipeline_lessee_pid(const struct kmsgate_pipeline *p)
{
	return (pid_t)p->info.lessee_pid;
}

uid_t kmsgate_pipeline_lessee_uid(const struct kmsgate_pipeline *p)
{
	return (uid_t)p->info.lessee_uid;
}

const char *kmsgate_pipeline_lessee_name(const struct kmsgate_pipeline *p)
{
	return p->info.lessee_name;
}
