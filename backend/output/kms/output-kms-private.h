/* SPDX-License-Identifier: MIT */
/*
 * The KMS output's private state, shared by output-kms.c (frames, commits,
 * flip events, create/destroy) and output-kms-ctl.c (display info, disable,
 * cursor, forget, path, stats). Not for other modules: they use output.h and
 * output-kms.h.
 */
#ifndef KG_OUTPUT_KMS_PRIVATE_H
#define KG_OUTPUT_KMS_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "kms-atomic.h"
#include "kms-copy.h"
#include "kms-dumb.h"
#include "kms-fbcache.h"
#include "kms-layout.h"
#include "kms-props.h"
#include "log.h"
#include "loop.h"
#include "output-kms.h"

#define CURSOR_SIZE 64
/* How long destroy waits for flips in flight (a vblank is 16.7 ms at 60 Hz). */
#define DRAIN_MS 200

enum layout {
	LAYOUT_UNKNOWN = 0,
	LAYOUT_SCALE,  /* the plane scales the guest image to fit, aspect kept */
	LAYOUT_CENTRE, /* 1:1, centred, cropped when larger */
	LAYOUT_NONE,   /* the plane takes neither: copy into a mode-sized buffer */
};

struct frame {
	bool used;
	struct kg_fb_source fb; /* chunks borrowed until cb runs */
	struct kg_rect damage;
	kg_present_cb cb;
	void *data;
	struct kg_zcfb *zc; /* zero copy: the fb (a reference) */
	int dumb;	    /* copy path: index into copybuf, else -1 */
	uint64_t bytes_copied;
	uint64_t commit_ns;
};

/* What a copy buffer mirrors, so that only damage needs copying. */
struct copy_key {
	uint32_t resource_id, format, width, height, stride;
	uint64_t generation, offset;
};

/* A log line about a scanout names its connector and CRTC (as wlroots'
 * wlr_drm_conn_log does), so the user can match it to the display. */
#define kg_so_log(so, level, fmt, ...)                                              \
	kg_log(level, "kms: scanout %u (connector %u, CRTC %u): " fmt, (so)->index, \
	       (so)->pipe.connector_id, (so)->pipe.crtc_id, ##__VA_ARGS__)

struct scanout {
	struct kg_output_kms *out;
	unsigned index;
	struct kg_kms_pipe pipe;
	struct kg_kms_conn_props conn_props;
	struct kg_kms_crtc_props crtc_props;
	struct kg_kms_plane_props primary_props, cursor_props;
	uint32_t mode_blob;
	bool active;	/* the modeset was committed */
	bool flipped;	/* a flip of this output completed (leftovers) */
	bool in_flight; /* a commit's flip event is still to come */
	struct frame pending, queued;
	struct kg_zcfb *current_zc; /* on screen (zero copy) */
	int current_dumb;	    /* on screen (copy), else -1 */
	struct kg_dumb copybuf[2];
	struct copy_key copykey[2];
	struct kg_region stale[2]; /* where copybuf[i] lags the guest */
	uint32_t layout_w, layout_h;
	enum layout layout;
	struct kg_dumb cursor;
	bool cursor_visible, cursor_dirty;
	int32_t cursor_x, cursor_y, hot_x, hot_y;
	bool zero_copy_last;
	bool copy_format_warned;
	uint8_t *edid;
	size_t edid_len;
	bool edid_generated; /* the display's EDID prefers another mode */
	struct kg_output_kms_stats stats;
};

struct kg_output_kms {
	struct kg_output base; /* first: kg_output * casts to this */
	struct kg_loop *loop;
	int fd;
	struct kg_source *src;
	struct kg_fbcache *cache;
	unsigned n;
	struct scanout scanouts[KG_MAX_SCANOUTS];
	/* A dead process's framebuffers on this DRM file, removed once every
	 * scanout flipped (kg_output_kms_take_leftovers). */
	uint32_t *old_fbs;
	unsigned n_old_fbs;
	uintptr_t cookie; /* what its commits give their flip events */
};

static inline struct kg_output_kms *kg_kms_from_output(struct kg_output *out)
{
	return (struct kg_output_kms *)out;
}

/* output-kms.c */
struct scanout *kg_kms_scanout(struct kg_output *out, unsigned idx); /* NULL: bad index */
void kg_kms_frame_drop(struct frame *f);			     /* completes it as not shown */
void kg_kms_add_plane_off(struct kg_atomic *a, uint32_t plane, const struct kg_kms_plane_props *p);
void kg_kms_log_commit_failure(struct scanout *so, int err);
void kg_kms_commit_next(struct scanout *so); /* commits what waits, if nothing is in flight */
struct copy_key kg_kms_copy_key_of(const struct kg_fb_source *fb);

/* output-kms-ctl.c: kg_output_ops entries */
int kg_kms_get_info(struct kg_output *out, unsigned idx, struct kg_scanout_info *info);
int kg_kms_disable(struct kg_output *out, unsigned idx);
int kg_kms_cursor_set(struct kg_output *out, unsigned idx, const uint32_t *argb, int32_t hot_x,
		      int32_t hot_y);
int kg_kms_cursor_move(struct kg_output *out, unsigned idx, int32_t x, int32_t y);
void kg_kms_forget(struct kg_output *out, uint32_t resource_id);
const char *kg_kms_path(struct kg_output *out, unsigned idx);

#endif
