// SPDX-License-Identifier: MIT
#include "plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define NONE (-1)

/* Who holds each object while the plan is built: a pipeline index or NONE. */
struct owners {
	int *conn, *crtc, *plane;
};

struct build {
	const struct kg_desc *desc;
	const struct kg_config *cfg;
	struct kg_plan *plan;
	struct owners own;
	char *err;
	size_t errlen;
};

static int owners_init(struct owners *own, const struct kg_desc *desc)
{
	own->conn = malloc((desc->n_connectors + 1) * sizeof(int));
	own->crtc = malloc((desc->n_crtcs + 1) * sizeof(int));
	own->plane = malloc((desc->n_planes + 1) * sizeof(int));
	if (!own->conn || !own->crtc || !own->plane)
		return -ENOMEM;
	for (size_t i = 0; i < desc->n_connectors; i++)
		own->conn[i] = NONE;
	for (size_t i = 0; i < desc->n_crtcs; i++)
		own->crtc[i] = NONE;
	for (size_t i = 0; i < desc->n_planes; i++)
		own->plane[i] = NONE;
	return 0;
}

static void owners_finish(struct owners *own)
{
	free(own->conn);
	free(own->crtc);
	free(own->plane);
}

static int fail(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct build *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, b->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool plane_usable(const struct kg_desc_plane *plane, size_t crtc)
{
	return crtc < 32 && (plane->possible_crtcs & (1u << crtc));
}

/* A free plane of this type for the CRTC; one that only this CRTC can use
 * is preferred, so shared planes stay for the pipelines that need them. */
static int pick_plane(struct build *b, enum kg_plane_type type, size_t crtc)
{
	int found = NONE;

	for (size_t i = 0; i < b->desc->n_planes; i++) {
		const struct kg_desc_plane *p = &b->desc->planes[i];

		if (p->type != type || b->own.plane[i] != NONE || !plane_usable(p, crtc))
			continue;
		if (p->possible_crtcs == (1u << crtc))
			return (int)i;
		if (found == NONE)
			found = (int)i;
	}
	return found;
}

/* The CRTC that drives the connector now if it is free, else the lowest
 * free one it can use. */
static int pick_crtc(struct build *b, const struct kg_desc_connector *conn)
{
	int cur = conn->cur_crtc;

	if (cur >= 0 && (size_t)cur < b->desc->n_crtcs && cur < 32 &&
	    (conn->possible_crtcs & (1u << cur)) && b->own.crtc[cur] == NONE)
		return cur;
	for (size_t i = 0; i < b->desc->n_crtcs && i < 32; i++) {
		if ((conn->possible_crtcs & (1u << i)) && b->own.crtc[i] == NONE)
			return (int)i;
	}
	return NONE;
}

static void add_plane(struct build *b, size_t pipe, size_t plane)
{
	struct kg_plan_pipeline *p = &b->plan->pipelines[pipe];

	b->own.plane[plane] = (int)pipe;
	p->plane_ids[p->n_planes++] = b->desc->planes[plane].id;
}

static void list_connectors(const struct kg_desc *desc, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < desc->n_connectors && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					desc->connectors[i].name);
	if (desc->n_connectors == 0)
		snprintf(buf, len, "none");
}

static const char *pipe_name(struct build *b, int idx)
{
	return b->plan->pipelines[idx].name;
}

/* Pass 1: connectors, explicit CRTCs and explicit plane ids. */
static int claim_explicit(struct build *b, size_t i)
{
	const struct kg_config_pipeline *c = &b->cfg->pipelines[i];
	const struct kg_desc *desc = b->desc;
	const struct kg_desc_connector *conn = kg_desc_find_connector(desc, c->connector);
	struct kg_plan_pipeline *p = &b->plan->pipelines[i];
	size_t ci;

	if (!conn) {
		char names[256];

		list_connectors(desc, names, sizeof(names));
		return fail(b, "pipeline '%s': unknown connector '%s' (this device has: %s)",
			    c->name, c->connector, names);
	}
	ci = (size_t)(conn - desc->connectors);
	if (b->own.conn[ci] != NONE)
		return fail(b, "connector %s is in two pipelines: '%s' and '%s'", conn->name,
			    pipe_name(b, b->own.conn[ci]), c->name);
	b->own.conn[ci] = (int)i;
	p->connector = ci;
	if (c->crtc_index >= 0) {
		size_t k = (size_t)c->crtc_index;

		if (k >= desc->n_crtcs)
			return fail(b,
				    "pipeline '%s': CRTC %zu does not exist (this device has %zu)",
				    c->name, k, desc->n_crtcs);
		if (!(conn->possible_crtcs & (1u << k)))
			return fail(
				b,
				"pipeline '%s': CRTC %zu cannot drive connector %s (possible CRTC mask 0x%x)",
				c->name, k, conn->name, conn->possible_crtcs);
		if (b->own.crtc[k] != NONE)
			return fail(b, "CRTC %zu is in two pipelines: '%s' and '%s'", k,
				    pipe_name(b, b->own.crtc[k]), c->name);
		b->own.crtc[k] = (int)i;
		p->crtc = k;
	}
	for (size_t j = 0; j < c->n_planes; j++) {
		const struct kg_desc_plane *pl;
		size_t pi;

		if (c->planes[j].kind != KG_PLANE_REF_ID)
			continue;
		pl = kg_desc_find_plane(desc, c->planes[j].id);
		if (!pl)
			return fail(b, "pipeline '%s': unknown plane id %u", c->name,
				    c->planes[j].id);
		pi = (size_t)(pl - desc->planes);
		if (b->own.plane[pi] != NONE)
			return fail(b, "plane %u is in two pipelines: '%s' and '%s'", pl->id,
				    pipe_name(b, b->own.plane[pi]), c->name);
		b->own.plane[pi] = (int)i;
	}
	return 0;
}

/* Pass 2: automatic CRTCs, then the explicit planes' usability. */
static int claim_crtc(struct build *b, size_t i)
{
	const struct kg_config_pipeline *c = &b->cfg->pipelines[i];
	struct kg_plan_pipeline *p = &b->plan->pipelines[i];
	const struct kg_desc_connector *conn = &b->desc->connectors[p->connector];

	if (c->crtc_index < 0) {
		int k = pick_crtc(b, conn);

		if (k == NONE)
			return fail(
				b,
				"pipeline '%s': no free CRTC can drive connector %s (possible CRTC mask 0x%x, all taken)",
				c->name, conn->name, conn->possible_crtcs);
		b->own.crtc[k] = (int)i;
		p->crtc = (size_t)k;
	}
	for (size_t j = 0; j < c->n_planes; j++) {
		const struct kg_desc_plane *pl;

		if (c->planes[j].kind != KG_PLANE_REF_ID)
			continue;
		pl = kg_desc_find_plane(b->desc, c->planes[j].id);
		if (!plane_usable(pl, p->crtc))
			return fail(
				b,
				"pipeline '%s': plane %u cannot be used on CRTC %zu (possible CRTC mask 0x%x)",
				c->name, pl->id, p->crtc, pl->possible_crtcs);
	}
	return 0;
}

/* Pass 3: primary first (it is plane_ids[0]), the explicit ids, cursor. */
static int claim_planes(struct build *b, size_t i)
{
	const struct kg_config_pipeline *c = &b->cfg->pipelines[i];
	struct kg_plan_pipeline *p = &b->plan->pipelines[i];
	int k = pick_plane(b, KG_PLANE_PRIMARY, p->crtc);

	if (k == NONE)
		return fail(b, "pipeline '%s': no free primary plane can be used on CRTC %zu",
			    c->name, p->crtc);
	add_plane(b, i, (size_t)k);
	for (size_t j = 0; j < c->n_planes; j++) {
		if (c->planes[j].kind == KG_PLANE_REF_ID) {
			const struct kg_desc_plane *pl =
				kg_desc_find_plane(b->desc, c->planes[j].id);

			p->plane_ids[p->n_planes++] = pl->id;
		}
	}
	for (size_t j = 0; j < c->n_planes; j++) {
		if (c->planes[j].kind != KG_PLANE_REF_CURSOR)
			continue;
		k = pick_plane(b, KG_PLANE_CURSOR, p->crtc);
		/* Devices without cursor planes exist (virtio-gpu): only a
		 * cursor the config asked for is an error. */
		if (k == NONE && !c->planes_given)
			continue;
		if (k == NONE)
			return fail(b,
				    "pipeline '%s': no free cursor plane can be used on CRTC %zu",
				    c->name, p->crtc);
		add_plane(b, i, (size_t)k);
	}
	return 0;
}

/* Pass 4: "overlays" takes what is left, in file order. */
static void claim_overlays(struct build *b, size_t i)
{
	const struct kg_config_pipeline *c = &b->cfg->pipelines[i];
	struct kg_plan_pipeline *p = &b->plan->pipelines[i];
	int k;

	for (size_t j = 0; j < c->n_planes; j++) {
		if (c->planes[j].kind != KG_PLANE_REF_OVERLAYS)
			continue;
		while (p->n_planes < KG_CONFIG_MAX_PLANES &&
		       (k = pick_plane(b, KG_PLANE_OVERLAY, p->crtc)) != NONE)
			add_plane(b, i, (size_t)k);
	}
}

static int settings_from(struct build *b, struct kg_plan_pipeline *p,
			 const struct kg_config_pipeline *c)
{
	const struct kg_acl *acl = b->cfg ? &b->cfg->allow : NULL;

	if (c && c->has_acl)
		acl = &c->acl;
	p->on_release = c ? c->on_release : (b->cfg ? b->cfg->on_release : KG_RELEASE_KEEP);
	if (c)
		p->mode = c->mode;
	else
		p->mode.preferred = true;
	if (acl && kg_acl_copy(&p->acl, acl) < 0)
		return fail(b, "out of memory");
	return 0;
}

static int build_from_config(struct build *b)
{
	size_t n = b->cfg->n_pipelines;
	int ret;

	for (size_t i = 0; i < n; i++)
		strcpy(b->plan->pipelines[i].name, b->cfg->pipelines[i].name);
	b->plan->n_pipelines = n;
	for (size_t i = 0; i < n; i++) {
		ret = claim_explicit(b, i);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < n; i++) {
		ret = claim_crtc(b, i);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < n; i++) {
		ret = claim_planes(b, i);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < n; i++) {
		claim_overlays(b, i);
		ret = settings_from(b, &b->plan->pipelines[i], &b->cfg->pipelines[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* One pipeline per connector; a connector left without a CRTC or primary
 * plane is skipped with a warning rather than failing the whole device. */
static int build_default(struct build *b)
{
	const struct kg_desc *desc = b->desc;

	for (size_t ci = 0; ci < desc->n_connectors; ci++) {
		const struct kg_desc_connector *conn = &desc->connectors[ci];
		size_t i = b->plan->n_pipelines;
		struct kg_plan_pipeline *p = &b->plan->pipelines[i];
		int crtc = pick_crtc(b, conn), primary, cursor;

		if (crtc == NONE) {
			kg_warn("connector %s: no free CRTC can drive it; it gets no pipeline",
				conn->name);
			continue;
		}
		primary = pick_plane(b, KG_PLANE_PRIMARY, (size_t)crtc);
		if (primary == NONE) {
			kg_warn("connector %s: CRTC %d has no free primary plane; it gets no pipeline",
				conn->name, crtc);
			continue;
		}
		memset(p, 0, sizeof(*p));
		snprintf(p->name, sizeof(p->name), "%s", conn->name);
		p->connector = ci;
		p->crtc = (size_t)crtc;
		b->own.conn[ci] = (int)i;
		b->own.crtc[crtc] = (int)i;
		add_plane(b, i, (size_t)primary);
		cursor = pick_plane(b, KG_PLANE_CURSOR, (size_t)crtc);
		if (cursor != NONE)
			add_plane(b, i, (size_t)cursor);
		b->plan->n_pipelines++;
		if (settings_from(b, p, NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

int kg_plan_build(const struct kg_desc *desc, const struct kg_config *cfg, struct kg_plan **out,
		  char *err, size_t errlen)
{
	struct build b = { .desc = desc, .cfg = cfg, .err = err, .errlen = errlen };
	size_t cap = cfg && cfg->n_pipelines ? cfg->n_pipelines : desc->n_connectors;
	int ret;

	*out = NULL;
	b.plan = calloc(1, sizeof(*b.plan));
	if (!b.plan)
		return -ENOMEM;
	b.plan->pipelines = calloc(cap + 1, sizeof(*b.plan->pipelines));
	if (!b.plan->pipelines || owners_init(&b.own, desc) < 0) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto err_plan;
	}
	ret = cfg && cfg->n_pipelines ? build_from_config(&b) : build_default(&b);
	if (ret < 0)
		goto err_plan;
	owners_finish(&b.own);
	*out = b.plan;
	return 0;
err_plan:
	owners_finish(&b.own);
	kg_plan_destroy(b.plan);
	return ret;
}

void kg_plan_destroy(struct kg_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; plan->pipelines && i < plan->n_pipelines; i++)
		kg_acl_finish(&plan->pipelines[i].acl);
	free(plan->pipelines);
	free(plan);
}

static bool mode_matches(const drmModeModeInfo *m, const struct kg_mode_spec *spec)
{
	return m->hdisplay == spec->width && m->vdisplay == spec->height &&
	       (spec->refresh == 0 || m->vrefresh == spec->refresh);
}

int kg_plan_pick_mode(const struct kg_desc_connector *conn, const struct kg_mode_spec *spec)
{
	int first = NONE;

	for (size_t i = 0; i < conn->n_modes; i++) {
		const drmModeModeInfo *m = &conn->modes[i];
		bool pref = m->type & DRM_MODE_TYPE_PREFERRED;

		if (!spec->preferred && !mode_matches(m, spec))
			continue;
		/* Among the matches the kernel's preferred one wins: it is the
		 * monitor's native timing. */
		if (pref)
			return (int)i;
		if (first == NONE)
			first = (int)i;
	}
	return first;
}
