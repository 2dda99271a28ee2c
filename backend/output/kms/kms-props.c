// SPDX-License-Identifier: MIT
#include "kms-props.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "log.h"

struct prop_name {
	const char *name;
	size_t offset; /* of the uint32_t id in the props struct */
};

/* Sorted by name (strcmp): looked up with bsearch. */
static const struct prop_name conn_names[] = {
	{ "CRTC_ID", offsetof(struct kg_kms_conn_props, crtc_id) },
	{ "EDID", offsetof(struct kg_kms_conn_props, edid) },
	{ "WRITEBACK_FB_ID", offsetof(struct kg_kms_conn_props, writeback_fb_id) },
	{ "WRITEBACK_OUT_FENCE_PTR", offsetof(struct kg_kms_conn_props, writeback_out_fence_ptr) },
	{ "WRITEBACK_PIXEL_FORMATS", offsetof(struct kg_kms_conn_props, writeback_pixel_formats) },
};

static const struct prop_name crtc_names[] = {
	{ "ACTIVE", offsetof(struct kg_kms_crtc_props, active) },
	{ "MODE_ID", offsetof(struct kg_kms_crtc_props, mode_id) },
};

static const struct prop_name plane_names[] = {
	{ "CRTC_H", offsetof(struct kg_kms_plane_props, crtc_h) },
	{ "CRTC_ID", offsetof(struct kg_kms_plane_props, crtc_id) },
	{ "CRTC_W", offsetof(struct kg_kms_plane_props, crtc_w) },
	{ "CRTC_X", offsetof(struct kg_kms_plane_props, crtc_x) },
	{ "CRTC_Y", offsetof(struct kg_kms_plane_props, crtc_y) },
	{ "FB_ID", offsetof(struct kg_kms_plane_props, fb_id) },
	{ "HOTSPOT_X", offsetof(struct kg_kms_plane_props, hotspot_x) },
	{ "HOTSPOT_Y", offsetof(struct kg_kms_plane_props, hotspot_y) },
	{ "IN_FORMATS", offsetof(struct kg_kms_plane_props, in_formats) },
	{ "SRC_H", offsetof(struct kg_kms_plane_props, src_h) },
	{ "SRC_W", offsetof(struct kg_kms_plane_props, src_w) },
	{ "SRC_X", offsetof(struct kg_kms_plane_props, src_x) },
	{ "SRC_Y", offsetof(struct kg_kms_plane_props, src_y) },
	{ "type", offsetof(struct kg_kms_plane_props, type) },
};

static int cmp_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct prop_name *)elem)->name);
}

static int scan(int fd, uint32_t id, uint32_t type, const struct prop_name *names, size_t n,
		void *out)
{
	drmModeObjectProperties *props = drmModeObjectGetProperties(fd, id, type);

	if (!props)
		return -(errno ? errno : ENOENT);
	for (uint32_t i = 0; i < props->count_props; i++) {
		drmModePropertyRes *prop = drmModeGetProperty(fd, props->props[i]);
		const struct prop_name *hit;

		if (!prop)
			continue;
		hit = bsearch(prop->name, names, n, sizeof(*names), cmp_name);
		if (hit)
			*(uint32_t *)((char *)out + hit->offset) = prop->prop_id;
		drmModeFreeProperty(prop);
	}
	drmModeFreeObjectProperties(props);
	return 0;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

int kg_kms_props_conn(int fd, uint32_t id, struct kg_kms_conn_props *p)
{
	int ret;

	memset(p, 0, sizeof(*p));
	ret = scan(fd, id, DRM_MODE_OBJECT_CONNECTOR, conn_names, N(conn_names), p);
	if (ret < 0)
		return ret;
	return p->crtc_id ? 0 : -ENOTSUP;
}

int kg_kms_props_crtc(int fd, uint32_t id, struct kg_kms_crtc_props *p)
{
	int ret;

	memset(p, 0, sizeof(*p));
	ret = scan(fd, id, DRM_MODE_OBJECT_CRTC, crtc_names, N(crtc_names), p);
	if (ret < 0)
		return ret;
	return p->active && p->mode_id ? 0 : -ENOTSUP;
}

int kg_kms_props_plane(int fd, uint32_t id, struct kg_kms_plane_props *p)
{
	int ret;

	memset(p, 0, sizeof(*p));
	ret = scan(fd, id, DRM_MODE_OBJECT_PLANE, plane_names, N(plane_names), p);
	if (ret < 0)
		return ret;
	if (!p->fb_id || !p->crtc_id || !p->src_x || !p->src_y || !p->src_w || !p->src_h ||
	    !p->crtc_x || !p->crtc_y || !p->crtc_w || !p->crtc_h)
		return -ENOTSUP;
	return 0;
}

#ifndef DRM_CLIENT_CAP_CURSOR_PLANE_HOTSPOT
#define DRM_CLIENT_CAP_CURSOR_PLANE_HOTSPOT 6 /* libdrm < 2.4.118 */
#endif

int kg_kms_set_client_caps(int fd)
{
	if (drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) < 0 ||
	    drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) < 0)
		return -errno;
	/* Refused by older kernels: then no driver hides its cursor planes. */
	drmSetClientCap(fd, DRM_CLIENT_CAP_CURSOR_PLANE_HOTSPOT, 1);
	return 0;
}

int kg_kms_prop_value(int fd, uint32_t obj_id, uint32_t obj_type, uint32_t prop_id, uint64_t *value)
{
	drmModeObjectProperties *props = drmModeObjectGetProperties(fd, obj_id, obj_type);
	int ret = -ENOENT;

	if (!props)
		return -(errno ? errno : ENOENT);
	for (uint32_t i = 0; i < props->count_props; i++) {
		if (props->props[i] == prop_id) {
			*value = props->prop_values[i];
			ret = 0;
			break;
		}
	}
	drmModeFreeObjectProperties(props);
	return ret;
}
