/* SPDX-License-Identifier: MIT */
/*
 * Small libdrm helpers shared by the board-VM test programs (kms-heads,
 * vkms-flip). Test code: errors are printed to stderr and returned.
 */
#ifndef KG_VMT_DRM_UTIL_H
#define KG_VMT_DRM_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <xf86drmMode.h>

/* Opens the first /dev/dri/card* whose kernel driver is named driver
 * (never by number: card order depends on module load order). -1 if none. */
int kg_vmt_open_card(const char *driver);

/* Property id of name on the object, 0 when it has none. */
uint32_t kg_vmt_prop_id(int fd, uint32_t obj, uint32_t type, const char *name);

/* Adds obj.name = value to req; false (and a message) when the property is
 * missing or libdrm fails. */
bool kg_vmt_add(int fd, drmModeAtomicReq *req, uint32_t obj, uint32_t type, const char *name,
		uint64_t value);

/* The plane of the given DRM_PLANE_TYPE_* usable on CRTC index crtc_idx; 0 if none. */
uint32_t kg_vmt_find_plane(int fd, unsigned int crtc_idx, uint64_t type);

/* A mode of exactly w x h from the connector (60 Hz preferred); false if none. */
bool kg_vmt_find_mode(drmModeConnector *conn, int w, int h, drmModeModeInfo *out);

/* Prints the CRTCs, connectors and planes of the device. */
void kg_vmt_print_resources(int fd);

#endif
