/* SPDX-License-Identifier: MIT */
/*
 * kg_kms_props: KMS property ids, looked up once per object from a sorted
 * name table (never by string per frame). An id of 0 means the object does
 * not have the property; optional ones must be checked before use.
 */
#ifndef KG_KMS_PROPS_H
#define KG_KMS_PROPS_H

#include <stdint.h>

struct kg_kms_conn_props {
	uint32_t crtc_id;
	uint32_t edid;
	uint32_t writeback_fb_id;
	uint32_t writeback_out_fence_ptr;
	uint32_t writeback_pixel_formats;
};

struct kg_kms_crtc_props {
	uint32_t active;
	uint32_t mode_id;
};

struct kg_kms_plane_props {
	uint32_t crtc_h;
	uint32_t crtc_id;
	uint32_t crtc_w;
	uint32_t crtc_x;
	uint32_t crtc_y;
	uint32_t fb_id;
	uint32_t hotspot_x; /* cursor planes of virtual drivers (virtio-gpu) */
	uint32_t hotspot_y;
	uint32_t in_formats;
	uint32_t src_h;
	uint32_t src_w;
	uint32_t src_x;
	uint32_t src_y;
	uint32_t type;
};

/* Fill the ids for one object. Return 0, or -errno when the object cannot be
 * read (-ENOENT: not on this device or not in the lease) or lacks a property
 * atomic KMS needs (-ENOTSUP). */
int kg_kms_props_conn(int fd, uint32_t id, struct kg_kms_conn_props *p);
int kg_kms_props_crtc(int fd, uint32_t id, struct kg_kms_crtc_props *p);
int kg_kms_props_plane(int fd, uint32_t id, struct kg_kms_plane_props *p);

/* Universal planes and atomic (required: -errno when refused), and cursor
 * plane hotspots (optional: virtual drivers such as virtio-gpu hide their
 * cursor planes from atomic clients that do not take it, since Linux 6.8). */
int kg_kms_set_client_caps(int fd);

/* Current value of a property (by its cached id), or -errno. */
int kg_kms_prop_value(int fd, uint32_t obj_id, uint32_t obj_type, uint32_t prop_id,
		      uint64_t *value);

#endif
