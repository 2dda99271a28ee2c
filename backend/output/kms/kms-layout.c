// SPDX-License-Identifier: MIT
#include "kms-layout.h"

#include <string.h>

void kg_layout_full(uint32_t mode_w, uint32_t mode_h, uint32_t fb_id, uint32_t w, uint32_t h,
		    struct kg_plane_setup *ps)
{
	*ps = (struct kg_plane_setup){
		.fb_id = fb_id, .src_w = w, .src_h = h, .crtc_w = mode_w, .crtc_h = mode_h
	};
}

void kg_layout_scale(uint32_t mode_w, uint32_t mode_h, uint32_t fb_id, uint32_t w, uint32_t h,
		     struct kg_plane_setup *ps)
{
	uint64_t mw = mode_w, mh = mode_h, cw = mw, ch = mh;

	/* Fit inside the mode, aspect ratio kept; the bars split evenly. */
	if (w && h && mw * h > mh * w)
		cw = mh * w / h;
	else if (w && h)
		ch = mw * h / w;
	*ps = (struct kg_plane_setup){ .fb_id = fb_id,
				       .src_w = w,
				       .src_h = h,
				       .crtc_x = (int32_t)((mw - cw) / 2),
				       .crtc_y = (int32_t)((mh - ch) / 2),
				       .crtc_w = (uint32_t)cw,
				       .crtc_h = (uint32_t)ch };
}

static void centre_axis(uint32_t src, uint32_t mode, uint32_t *src_off, uint32_t *len, int32_t *pos)
{
	if (src <= mode) {
		*src_off = 0;
		*len = src;
		*pos = (int32_t)((mode - src) / 2);
	} else {
		*src_off = (src - mode) / 2;
		*len = mode;
		*pos = 0;
	}
}

void kg_layout_centre(uint32_t mode_w, uint32_t mode_h, uint32_t fb_id, uint32_t w, uint32_t h,
		      struct kg_plane_setup *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->fb_id = fb_id;
	centre_axis(w, mode_w, &ps->src_x, &ps->src_w, &ps->crtc_x);
	centre_axis(h, mode_h, &ps->src_y, &ps->src_h, &ps->crtc_y);
	ps->crtc_w = ps->src_w;
	ps->crtc_h = ps->src_h;
}
