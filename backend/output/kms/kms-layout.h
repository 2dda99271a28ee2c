/* SPDX-License-Identifier: MIT */
/*
 * kg_layout: where a guest image of w x h goes on a plane of a mode of
 * mode_w x mode_h: the whole mode (same size), scaled to fit with its aspect
 * ratio kept, or 1:1 centred (cropped when larger). Pure geometry; which one
 * the display takes is asked with TEST_ONLY commits by the output.
 */
#ifndef KG_KMS_LAYOUT_H
#define KG_KMS_LAYOUT_H

#include <stdint.h>

struct kg_plane_setup {
	uint32_t fb_id;
	uint32_t src_x, src_y, src_w, src_h; /* pixels (the commit shifts them to 16.16) */
	int32_t crtc_x, crtc_y;
	uint32_t crtc_w, crtc_h;
};

void kg_layout_full(uint32_t mode_w, uint32_t mode_h, uint32_t fb_id, uint32_t w, uint32_t h,
		    struct kg_plane_setup *ps);
void kg_layout_scale(uint32_t mode_w, uint32_t mode_h, uint32_t fb_id, uint32_t w, uint32_t h,
		     struct kg_plane_setup *ps);
void kg_layout_centre(uint32_t mode_w, uint32_t mode_h, uint32_t fb_id, uint32_t w, uint32_t h,
		      struct kg_plane_setup *ps);

#endif
