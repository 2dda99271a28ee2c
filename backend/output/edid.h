/* SPDX-License-Identifier: MIT */
/*
 * kg_edid: the EDID a guest is given when the display's own does not fit:
 * the headless output has none, and a pipeline whose configured mode is not
 * the display's preferred one must not let the guest pick the other mode.
 */
#ifndef KG_EDID_H
#define KG_EDID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KG_EDID_SIZE 128
/* Largest width or height a detailed timing descriptor holds (12 bits). */
#define KG_EDID_MAX_DTD 4095

/* Builds a 128-byte EDID 1.3 block whose preferred (and only) mode is
 * width x height @ refresh_mhz / 1000 Hz. */
void kg_edid_generate(uint8_t edid[KG_EDID_SIZE], uint32_t width, uint32_t height,
		      uint32_t refresh_mhz);
/* Whether the EDID's preferred mode (its first detailed timing) is
 * width x height. False for a short or NULL EDID. */
bool kg_edid_prefers(const uint8_t *edid, size_t len, uint32_t width, uint32_t height);

#endif
