// SPDX-License-Identifier: MIT
#include "fake-device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_mode(struct kg_desc_connector *c, uint16_t w, uint16_t h, uint32_t hz, bool pref)
{
	drmModeModeInfo *m;

	c->modes = realloc(c->modes, (c->n_modes + 1) * sizeof(*c->modes));
	m = &c->modes[c->n_modes++];
	memset(m, 0, sizeof(*m));
	m->hdisplay = w;
	m->vdisplay = h;
	m->vrefresh = hz;
	m->type = DRM_MODE_TYPE_DRIVER | (pref ? DRM_MODE_TYPE_PREFERRED : 0);
	snprintf(m->name, sizeof(m->name), "%ux%u", w, h);
}

static void alloc_desc(struct kg_desc *d, size_t conns, size_t crtcs, size_t planes)
{
	memset(d, 0, sizeof(*d));
	d->connectors = calloc(conns, sizeof(*d->connectors));
	d->n_connectors = conns;
	d->crtcs = calloc(crtcs, sizeof(*d->crtcs));
	d->n_crtcs = crtcs;
	d->planes = calloc(planes, sizeof(*d->planes));
	d->n_planes = planes;
}

static void set_conn(struct kg_desc_connector *c, uint32_t id, const char *name, uint32_t mask)
{
	c->id = id;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->status = KG_CONN_DISCONNECTED;
	c->possible_crtcs = mask;
	c->cur_crtc = -1;
}

void fake_virtio4(struct kg_desc *d)
{
	alloc_desc(d, 4, 4, 8);
	for (size_t i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "Virtual-%zu", i + 1);
		set_conn(&d->connectors[i], 100 + (uint32_t)i, name, 1u << i);
		d->crtcs[i].id = 200 + (uint32_t)i;
		d->planes[2 * i] =
			(struct kg_desc_plane){ 300 + 10 * (uint32_t)i, KG_PLANE_PRIMARY, 1u << i };
		d->planes[2 * i + 1] =
			(struct kg_desc_plane){ 301 + 10 * (uint32_t)i, KG_PLANE_CURSOR, 1u << i };
	}
	d->connectors[0].status = KG_CONN_CONNECTED;
	d->connectors[0].cur_crtc = 0;
	add_mode(&d->connectors[0], 1280, 800, 60, true);
	add_mode(&d->connectors[0], 1024, 768, 60, false);
	add_mode(&d->connectors[0], 1024, 768, 75, false);
}

void fake_rcar2(struct kg_desc *d)
{
	alloc_desc(d, 3, 2, 7);
	set_conn(&d->connectors[0], 100, "HDMI-A-1", 0x3);
	set_conn(&d->connectors[1], 101, "LVDS-1", 0x2);
	set_conn(&d->connectors[2], 102, "DPI-1", 0x1);
	d->crtcs[0].id = 200;
	d->crtcs[1].id = 201;
	d->planes[0] = (struct kg_desc_plane){ 300, KG_PLANE_PRIMARY, 0x1 };
	d->planes[1] = (struct kg_desc_plane){ 301, KG_PLANE_PRIMARY, 0x2 };
	for (uint32_t i = 0; i < 4; i++)
		d->planes[2 + i] = (struct kg_desc_plane){ 310 + i, KG_PLANE_OVERLAY, 0x3 };
	d->planes[6] = (struct kg_desc_plane){ 320, KG_PLANE_CURSOR, 0x1 };
}
