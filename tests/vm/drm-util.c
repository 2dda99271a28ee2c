// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "drm-util.h"

int kg_vmt_open_card(const char *driver)
{
	glob_t g;
	int found = -1;

	if (glob("/dev/dri/card*", 0, NULL, &g) != 0) {
		fprintf(stderr, "no /dev/dri/card*: is a DRM driver loaded?\n");
		return -1;
	}
	for (size_t i = 0; i < g.gl_pathc && found < 0; i++) {
		int fd = open(g.gl_pathv[i], O_RDWR | O_CLOEXEC);
		drmVersionPtr v;

		if (fd < 0)
			continue;
		v = drmGetVersion(fd);
		if (v && strcmp(v->name, driver) == 0) {
			printf("%s: driver %s\n", g.gl_pathv[i], v->name);
			found = fd;
		} else {
			close(fd);
		}
		drmFreeVersion(v);
	}
	globfree(&g);
	if (found < 0)
		fprintf(stderr, "no DRM device with driver %s\n", driver);
	return found;
}

uint32_t kg_vmt_prop_id(int fd, uint32_t obj, uint32_t type, const char *name)
{
	drmModeObjectPropertiesPtr props = drmModeObjectGetProperties(fd, obj, type);
	uint32_t id = 0;

	for (uint32_t i = 0; props && i < props->count_props && !id; i++) {
		drmModePropertyPtr p = drmModeGetProperty(fd, props->props[i]);

		if (p && strcmp(p->name, name) == 0)
			id = p->prop_id;
		drmModeFreeProperty(p);
	}
	drmModeFreeObjectProperties(props);
	return id;
}

bool kg_vmt_add(int fd, drmModeAtomicReq *req, uint32_t obj, uint32_t type, const char *name,
		uint64_t value)
{
	uint32_t prop = kg_vmt_prop_id(fd, obj, type, name);

	if (!prop) {
		fprintf(stderr, "object %u has no property %s\n", obj, name);
		return false;
	}
	if (drmModeAtomicAddProperty(req, obj, prop, value) < 0) {
		fprintf(stderr, "drmModeAtomicAddProperty %s: %s\n", name, strerror(errno));
		return false;
	}
	return true;
}

static uint64_t plane_type(int fd, uint32_t plane)
{
	drmModeObjectPropertiesPtr props =
		drmModeObjectGetProperties(fd, plane, DRM_MODE_OBJECT_PLANE);
	uint64_t type = UINT64_MAX;

	for (uint32_t i = 0; props && i < props->count_props; i++) {
		drmModePropertyPtr p = drmModeGetProperty(fd, props->props[i]);

		if (p && strcmp(p->name, "type") == 0)
			type = props->prop_values[i];
		drmModeFreeProperty(p);
	}
	drmModeFreeObjectProperties(props);
	return type;
}

uint32_t kg_vmt_find_plane(int fd, unsigned int crtc_idx, uint64_t type)
{
	drmModePlaneResPtr res = drmModeGetPlaneResources(fd);
	uint32_t found = 0;

	for (uint32_t i = 0; res && i < res->count_planes && !found; i++) {
		drmModePlanePtr p = drmModeGetPlane(fd, res->planes[i]);

		if (p && (p->possible_crtcs & (1u << crtc_idx)) &&
		    plane_type(fd, p->plane_id) == type)
			found = p->plane_id;
		drmModeFreePlane(p);
	}
	drmModeFreePlaneResources(res);
	return found;
}

bool kg_vmt_find_mode(drmModeConnector *conn, int w, int h, drmModeModeInfo *out)
{
	bool found = false;

	for (int i = 0; i < conn->count_modes; i++) {
		drmModeModeInfo *m = &conn->modes[i];

		if (m->hdisplay != w || m->vdisplay != h)
			continue;
		if (!found || m->vrefresh == 60)
			*out = *m;
		found = true;
	}
	return found;
}

static const char *plane_type_name(uint64_t t)
{
	switch (t) {
	case DRM_PLANE_TYPE_PRIMARY:
		return "primary";
	case DRM_PLANE_TYPE_CURSOR:
		return "cursor";
	case DRM_PLANE_TYPE_OVERLAY:
		return "overlay";
	default:
		return "?";
	}
}

static void print_planes(int fd)
{
	drmModePlaneResPtr pres = drmModeGetPlaneResources(fd);

	for (uint32_t i = 0; pres && i < pres->count_planes; i++) {
		drmModePlanePtr p = drmModeGetPlane(fd, pres->planes[i]);

		if (!p)
			continue;
		printf("plane %u: %s possible_crtcs=0x%x formats:", p->plane_id,
		       plane_type_name(plane_type(fd, p->plane_id)), p->possible_crtcs);
		for (uint32_t f = 0; f < p->count_formats; f++)
			printf(" %.4s", (const char *)&p->formats[f]);
		printf("\n");
		drmModeFreePlane(p);
	}
	drmModeFreePlaneResources(pres);
}

void kg_vmt_print_resources(int fd)
{
	drmModeResPtr res = drmModeGetResources(fd);

	if (!res) {
		fprintf(stderr, "drmModeGetResources: %s\n", strerror(errno));
		return;
	}
	for (int i = 0; i < res->count_crtcs; i++)
		printf("crtc %u: index %d\n", res->crtcs[i], i);
	for (int i = 0; i < res->count_connectors; i++) {
		drmModeConnectorPtr c = drmModeGetConnector(fd, res->connectors[i]);

		if (!c)
			continue;
		printf("connector %u: %s-%u %s, %d modes, encoders %d\n", c->connector_id,
		       drmModeGetConnectorTypeName(c->connector_type), c->connector_type_id,
		       c->connection == DRM_MODE_CONNECTED ? "connected" : "disconnected",
		       c->count_modes, c->count_encoders);
		drmModeFreeConnector(c);
	}
	print_planes(fd);
	printf("counts: crtcs=%d connectors=%d\n", res->count_crtcs, res->count_connectors);
	drmModeFreeResources(res);
}
