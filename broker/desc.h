/* SPDX-License-Identifier: MIT */
/*
 * kg_desc: a plain description of a KMS device's objects.
 *
 * The broker's pure logic (config validation, default partitioning, mode
 * choice) works on this struct instead of calling libdrm, so it can be
 * tested without a kernel: device.c fills it from libdrm, the unit tests
 * from a table. Indices into crtcs[] are the bit positions used by every
 * possible_crtcs mask, exactly as in the kernel.
 */
#ifndef KG_BROKER_DESC_H
#define KG_BROKER_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xf86drmMode.h>

/* Same values as DRM_PLANE_TYPE_* (the kernel's "type" plane property). */
enum kg_plane_type {
	KG_PLANE_OVERLAY = 0,
	KG_PLANE_PRIMARY = 1,
	KG_PLANE_CURSOR = 2,
};

/* Same values as drmModeConnection. */
enum kg_conn_status {
	KG_CONN_CONNECTED = 1,
	KG_CONN_DISCONNECTED = 2,
	KG_CONN_UNKNOWN = 3,
};

#define KG_DESC_NAME_MAX 32

struct kg_desc_connector {
	uint32_t id;
	char name[KG_DESC_NAME_MAX]; /* e.g. "HDMI-A-1", "Virtual-2" */
	uint32_t type;		     /* DRM_MODE_CONNECTOR_* */
	uint32_t type_id;
	enum kg_conn_status status;
	uint32_t mm_width, mm_height;
	uint32_t possible_crtcs; /* union of its encoders' masks */
	int cur_crtc;		 /* index of the CRTC driving it now, or -1 */
	drmModeModeInfo *modes;	 /* owned: freed by kg_desc_free() */
	size_t n_modes;
};

struct kg_desc_crtc {
	uint32_t id;
};

struct kg_desc_plane {
	uint32_t id;
	enum kg_plane_type type;
	uint32_t possible_crtcs;
};

struct kg_desc {
	struct kg_desc_connector *connectors;
	size_t n_connectors;
	struct kg_desc_crtc *crtcs;
	size_t n_crtcs;
	struct kg_desc_plane *planes;
	size_t n_planes;
};

/* Frees the arrays (and every connector's modes); leaves desc zeroed.
 * Accepts NULL and a half-filled desc. */
void kg_desc_free(struct kg_desc *desc);

const struct kg_desc_connector *kg_desc_find_connector(const struct kg_desc *desc,
						       const char *name);
/* Index of the CRTC with this object id, or -1. */
int kg_desc_crtc_index(const struct kg_desc *desc, uint32_t crtc_id);
const struct kg_desc_plane *kg_desc_find_plane(const struct kg_desc *desc, uint32_t plane_id);

#endif
