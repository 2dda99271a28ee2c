/* SPDX-License-Identifier: MIT */
/*
 * The fuzz targets' output: two 640x480 scanouts with an EDID. It checks
 * every frame it is handed against the frame's chunks, touching both ends
 * of each (a chunk outside guest RAM faults), and holds it until the input
 * completes it, as the KMS output holds a frame behind a flip; a frame not
 * yet completed can be taken back (retract), and disable drops the frames
 * of the scanout at once, as the KMS output does. Completing reads the
 * pages again, as a commit behind a flip does, so a stale pointer is a
 * crash.
 */
#ifndef KG_FUZZ_OUTPUT_H
#define KG_FUZZ_OUTPUT_H

#include <stdbool.h>

struct kg_output;

/* The one fake output (static state: one device at a time). Its destroy
 * drops what it holds (callbacks run, pages not read). */
struct kg_output *fz_output(void);
/* Completes every held frame, newest first, as shown or not. */
void fz_output_complete(bool shown);
/* Completes the oldest held frame only (one flip event); false: none held. */
bool fz_output_complete_one(bool shown);
/* The display changed (a hotplug): the device is told, as the KMS output
 * tells it. */
void fz_output_hotplug(void);

#endif
