/* SPDX-License-Identifier: MIT */
/*
 * Table-made devices for the broker's pure logic. Object ids use disjoint
 * ranges (connectors 1xx, CRTCs 2xx, planes 3xx) so a test that mixes them
 * up fails instead of passing by accident.
 */
#ifndef KG_TEST_FAKE_DEVICE_H
#define KG_TEST_FAKE_DEVICE_H

#include "desc.h"

/* Like virtio-gpu with max_outputs=4: Virtual-1..4, CRTC i drives only
 * connector i, a primary (30i) and a cursor (30i+1) plane per CRTC.
 * Virtual-1 is connected with modes 1280x800 (preferred), 1024x768@60,
 * 1024x768@75. */
void fake_virtio4(struct kg_desc *desc);

/* Like a small R-Car: 2 CRTCs; HDMI-A-1 can use both, LVDS-1 only CRTC 1,
 * DPI-1 only CRTC 0. Planes: primaries 300 (CRTC 0) and 301 (CRTC 1),
 * overlays 310-313 usable on both, one cursor 320 on CRTC 0 only. */
void fake_rcar2(struct kg_desc *desc);

#endif
