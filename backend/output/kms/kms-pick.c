// SPDX-License-Identifier: MIT
/*
 * kg_kms_find_pipes: pipelines on a card or a lease, for callers that are not
 * told which objects to use (a directly opened card, tests). A lease shows
 * only its own objects, so the same search serves both.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "kms-props.h"
#include "log.h"
#include "kms-pick.h"

struct used {
	uint32_t crtcs; /* bit per CRTC index */
	uint32_t planes[2 * KG_MAX_SCANOUTS];
	unsigned n_planes;
};

static bool plane_used(const struct used *u, uint32_t id)
{
	for (unsigned i = 0; i < u->n_planes; i++)
		if (u->planes[i] == id)
			return true;
	return false;
}

static uint64_t plane_type(int fd, uint32_t id)
{
	struct kg_kms_plane_props p;
	uint64_t type = UINT64_MAX;

	kg_kms_props_plane(fd, id, &p);
	if (p.type)
		kg_kms_prop_value(fd, id, DRM_MODE_OBJECT_PLANE, p.type, &type);
	return type;
}

/* The first unused plane of the type that can feed CRTC index ci. */
static uint32_t find_plane(int fd, unsigned ci, uint64_t type, const struct used *u)
{
	drmModePlaneRes *pr = drmModeGetPlaneResources(fd);
	uint32_t found = 0;

	if (!pr)
		return 0;
	for (uint32_t i = 0; i < pr->count_planes && !found; i++) {
		drmModePlane *pl = drmModeGetPlane(fd, pr->planes[i]);

		if (pl && (pl->possible_crtcs & (1u << ci)) && !plane_used(u, pl->plane_id) &&
		    plane_type(fd, pl->plane_id) == type)
			found = pl->plane_id;
		drmModeFreePlane(pl);
	}
	drmModeFreePlaneResources(pr);
	return found;
}

/* CRTCs the connector's encoders can drive, as a bit mask of indices. */
static uint32_t possible_crtcs(int fd, const drmModeConnector *c)
{
	uint32_t mask = 0;

	for (int i = 0; i < c->count_encoders; i++) {
		drmModeEncoder *e = drmModeGetEncoder(fd, c->encoders[i]);
		if (e) {
			mask |= e->possible_crtcs;
			drmModeFreeEncoder(e);
		}
	}
	return mask;
}

static const drmModeModeInfo *pick_mode(const drmModeConnector *c)
{
	for (int i = 0; i < c->count_modes; i++)
		if (c->modes[i].type & DRM_MODE_TYPE_PREFERRED)
			return &c->modes[i];
	return c->count_modes ? &c->modes[0] : NULL;
}

/* The CRTC index already driving the connector (fbcon, the broker, a
 * video= argument) and its mode, or -1. */
static int active_crtc(int fd, const drmModeRes *res, const drmModeConnector *c,
		       drmModeModeInfo *mode)
{
	drmModeEncoder *e = c->encoder_id ? drmModeGetEncoder(fd, c->encoder_id) : NULL;
	drmModeCrtc *crtc = e && e->crtc_id ? drmModeGetCrtc(fd, e->crtc_id) : NULL;
	int idx = -1;

	for (int i = 0; crtc && crtc->mode_valid && i < res->count_crtcs && i < 32; i++) {
		if (res->crtcs[i] == crtc->crtc_id) {
			*mode = crtc->mode;
			idx = i;
		}
	}
	drmModeFreeCrtc(crtc);
	drmModeFreeEncoder(e);
	return idx;
}

static bool try_crtc(int fd, const drmModeRes *res, int ci, const drmModeConnector *c,
		     const drmModeModeInfo *mode, struct used *u, struct kg_kms_pipe *p)
{
	memset(p, 0, sizeof(*p));
	p->primary_plane_id = find_plane(fd, (unsigned)ci, DRM_PLANE_TYPE_PRIMARY, u);
	if (!p->primary_plane_id)
		return false;
	p->connector_id = c->connector_id;
	p->crtc_id = res->crtcs[ci];
	p->cursor_plane_id = find_plane(fd, (unsigned)ci, DRM_PLANE_TYPE_CURSOR, u);
	p->mode = *mode;
	u->crtcs |= 1u << ci;
	u->planes[u->n_planes++] = p->primary_plane_id;
	if (p->cursor_plane_id)
		u->planes[u->n_planes++] = p->cursor_plane_id;
	return true;
}

/* The CRTC already lighting the connector keeps its mode (what the user or
 * the broker chose); otherwise the first free CRTC and the preferred mode. */
static bool fill_pipe(int fd, const drmModeRes *res, const drmModeConnector *c, struct used *u,
		      struct kg_kms_pipe *p)
{
	uint32_t mask = possible_crtcs(fd, c);
	const drmModeModeInfo *mode = pick_mode(c);
	drmModeModeInfo current;
	int active = active_crtc(fd, res, c, &current);

	if (active >= 0 && (mask & (1u << active)) && !(u->crtcs & (1u << active)) &&
	    try_crtc(fd, res, active, c, &current, u, p))
		return true;
	if (!mode)
		return false;
	for (int ci = 0; ci < res->count_crtcs && ci < 32; ci++) {
		if ((mask & (1u << ci)) && !(u->crtcs & (1u << ci)) &&
		    try_crtc(fd, res, ci, c, mode, u, p))
			return true;
	}
	return false;
}

int kg_kms_find_pipes(int fd, struct kg_kms_pipe *pipes, unsigned max)
{
	struct used u = { 0 };
	drmModeRes *res;
	unsigned n = 0;
	int ret = kg_kms_set_client_caps(fd);

	if (ret < 0)
		return ret;
	res = drmModeGetResources(fd);
	if (!res)
		return -errno;
	if (max > KG_MAX_SCANOUTS)
		max = KG_MAX_SCANOUTS;
	for (int i = 0; i < res->count_connectors && n < max; i++) {
		drmModeConnector *c = drmModeGetConnector(fd, res->connectors[i]);

		if (c && c->connection == DRM_MODE_CONNECTED &&
		    c->connector_type != DRM_MODE_CONNECTOR_WRITEBACK &&
		    fill_pipe(fd, res, c, &u, &pipes[n]))
			n++;
		drmModeFreeConnector(c);
	}
	drmModeFreeResources(res);
	return (int)n;
}
