/* SPDX-License-Identifier: MIT */
/*
 * The KMS output: each guest scanout on one pipeline (connector + CRTC +
 * primary plane + optional cursor plane) of a DRM device, with atomic KMS.
 *
 * The device fd may be a DRM lease fd from the broker or a card opened
 * directly; it is borrowed (the caller closes it after destroy) and the
 * output reads its events (page flips) from the loop.
 *
 * Per frame: zero copy where the driver takes it (guest pages → udmabuf →
 * PRIME import → fb, cached per resource), else the damaged rows are copied
 * into double-buffered dumb buffers. The flip event completes the frame; a
 * frame presented while a flip is in flight waits, and a newer one replaces
 * it (the replaced one completes as not shown).
 *
 * Environment: KG_KMS_FORCE_COPY=1 turns zero copy off (to compare paths).
 */
#ifndef KG_OUTPUT_KMS_H
#define KG_OUTPUT_KMS_H

#include <stdint.h>
#include <xf86drmMode.h>

#include "output.h"

struct kg_loop;

struct kg_kms_pipe {
	uint32_t connector_id;
	uint32_t crtc_id;
	uint32_t primary_plane_id;
	uint32_t cursor_plane_id; /* 0 if none */
	drmModeModeInfo mode;	  /* the mode to set (the guest is offered its size) */
};

/*
 * Sets the client caps (universal planes, atomic) on drm_fd, caches the
 * objects' property ids and creates one scanout per pipe (n <=
 * KG_MAX_SCANOUTS). Nothing is committed until the first present. Returns
 * NULL with errno set (and a log line naming what failed).
 */
struct kg_output *kg_output_kms_create(struct kg_loop *loop, int drm_fd,
				       const struct kg_kms_pipe *pipes, unsigned n);

struct kg_output_kms_stats {
	uint64_t presented; /* present() calls accepted */
	uint64_t shown;	    /* completed by a flip event */
	uint64_t replaced;  /* replaced by a newer present() before they were committed */
	uint64_t zero_copy; /* frames committed zero copy */
	uint64_t copied;    /* frames committed through the copy path */
	uint64_t bytes_copied;
	unsigned last_ranges; /* udmabuf entries the last zero-copy import needed */
};

/* Returns 0 or -EINVAL for a bad scanout index. */
/*
 * The DRM fd was a dead kmsgate-vgpu's, kept in systemd's fd store
 * (backend/keeper.h): its framebuffers are still on screen. They stay until
 * this output has flipped once on every scanout (a framebuffer removed while
 * shown turns its plane off), then they are removed; its buffer handles are
 * closed now (a framebuffer holds its own reference to its buffer). Call
 * before the first present.
 */
void kg_output_kms_take_leftovers(struct kg_output *out);
int kg_output_kms_get_stats(struct kg_output *out, unsigned scanout,
			    struct kg_output_kms_stats *st);

#endif
