/* SPDX-License-Identifier: MIT */
/*
 * kg_device: the display device the broker is DRM master of, and its
 * objects as a kg_desc. Every libdrm call of the broker that reads or
 * changes KMS state is here (leases are in lease.c).
 */
#ifndef KG_BROKER_DEVICE_H
#define KG_BROKER_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desc.h"

struct kg_device;

/* Opens path if not NULL, else the first card whose kernel driver is named
 * driver, else (driver NULL, or "rcar-du" not present) the first card that
 * can do KMS. Becomes DRM master (if master; else it only reads, e.g. for
 * --check while a broker runs) and turns on universal planes and atomic.
 * Returns 0 or -errno, logging what failed and what to do. */
int kg_device_open(const char *path, const char *driver, bool master, struct kg_device **out);
/* The same from a DRM fd out of systemd's fd store (owned from here, also
 * on failure): refused unless it is the card that path/driver select as
 * kg_device_open would (-ENODEV), or when it is no longer master. */
int kg_device_adopt(int fd, const char *path, const char *driver, struct kg_device **out);
/* Accepts NULL. Closing the fd drops master and ends every lease (unless a
 * copy of it lives on, e.g. in systemd's fd store). */
void kg_device_destroy(struct kg_device *dev);

int kg_device_fd(const struct kg_device *dev);
const char *kg_device_path(const struct kg_device *dev);
const struct kg_desc *kg_device_desc(const struct kg_device *dev);

/* Probes the connectors again (status, size, modes) after a hotplug event.
 * changed[i] (n_connectors entries) is set for each connector whose status
 * or modes differ. Returns the number changed, or -errno. */
int kg_device_reprobe(struct kg_device *dev, bool *changed);

/* Switches a pipeline off with one atomic commit: CRTC inactive without
 * mode, connector detached, planes without framebuffer. Only for pipelines
 * nobody leases. Returns 0 or -errno. */
int kg_device_blank(struct kg_device *dev, size_t crtc, size_t connector, const uint32_t *planes,
		    size_t n_planes);

/* The mode the CRTC (index) runs now; false when it is off. Read-only, so
 * also fine on a leased CRTC. */
bool kg_device_crtc_mode(struct kg_device *dev, size_t crtc, drmModeModeInfo *mode);

/* The framebuffer id a plane scans out now (0: none), or 0 on error. */
uint32_t kg_device_plane_fb(struct kg_device *dev, uint32_t plane_id);

#endif
