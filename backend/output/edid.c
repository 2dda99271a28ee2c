// SPDX-License-Identifier: MIT
/*
 * A minimal EDID for a display mode. libdisplay-info only parses EDIDs, so
 * the few bytes a guest needs to list one mode as preferred are written here.
 */
#include "edid.h"

#include <string.h>

/* EDID 1.3 detailed timing descriptor for the mode, with simple fixed
 * blanking (enough for a guest to list the mode as preferred). */
static void edid_dtd(uint8_t *d, uint32_t w, uint32_t h, uint32_t refresh_mhz, uint32_t w_mm,
		     uint32_t h_mm)
{
	const uint32_t hb = 160, hso = 48, hsw = 32, vb = 35, vso = 3, vsw = 5;
	uint64_t clk = (uint64_t)(w + hb) * (h + vb) * refresh_mhz / 1000 / 10000;

	if (clk > 0xffff)
		clk = 0xffff;
	w &= 0xfff;
	h &= 0xfff;
	d[0] = clk & 0xff;
	d[1] = clk >> 8;
	d[2] = w & 0xff;
	d[3] = hb & 0xff;
	d[4] = (uint8_t)((w >> 8) << 4 | hb >> 8);
	d[5] = h & 0xff;
	d[6] = vb & 0xff;
	d[7] = (uint8_t)((h >> 8) << 4 | vb >> 8);
	d[8] = hso;
	d[9] = hsw;
	d[10] = (uint8_t)((vso & 15) << 4 | (vsw & 15));
	d[11] = 0;
	d[12] = w_mm & 0xff;
	d[13] = h_mm & 0xff;
	d[14] = (uint8_t)(((w_mm >> 8) & 15) << 4 | ((h_mm >> 8) & 15));
	d[17] = 0x1e; /* digital separate sync, +hsync +vsync */
}

static void edid_text(uint8_t *d, uint8_t tag, const char *s)
{
	size_t n = strlen(s);

	d[3] = tag;
	memset(d + 5, ' ', 13);
	memcpy(d + 5, s, n);
	d[5 + n] = '\n';
}

void kg_edid_generate(uint8_t edid[KG_EDID_SIZE], uint32_t width, uint32_t height,
		      uint32_t refresh_mhz)
{
	static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	static const uint8_t srgb[10] = {
		0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54
	};
	uint32_t w_mm = width * 254 / 960, h_mm = height * 254 / 960;
	uint8_t sum = 0;

	memset(edid, 0, 128);
	memcpy(edid, header, sizeof(header));
	edid[8] = 0x2d; /* "KMG": 5-bit letters, big endian */
	edid[9] = 0xa7;
	edid[10] = 1;  /* product code */
	edid[16] = 1;  /* week */
	edid[17] = 34; /* 2024 */
	edid[18] = 1;  /* EDID 1.3 */
	edid[19] = 3;
	edid[20] = 0x80; /* digital input */
	edid[21] = (uint8_t)(w_mm / 10 > 255 ? 255 : w_mm / 10);
	edid[22] = (uint8_t)(h_mm / 10 > 255 ? 255 : h_mm / 10);
	edid[23] = 120;	 /* gamma 2.2 */
	edid[24] = 0x0a; /* RGB colour, preferred timing in the first DTD */
	memcpy(edid + 25, srgb, sizeof(srgb));
	memset(edid + 38, 0x01, 16); /* no standard timings */
	edid_dtd(edid + 54, width, height, refresh_mhz, w_mm, h_mm);
	edid_text(edid + 72, 0xfc, "kmsgate");
	edid_text(edid + 90, 0xff, "generated");
	edid[108 + 3] = 0x10; /* dummy descriptor */
	for (int i = 0; i < 127; i++)
		sum += edid[i];
	edid[127] = (uint8_t)(256 - sum);
}

bool kg_edid_prefers(const uint8_t *edid, size_t len, uint32_t width, uint32_t height)
{
	const uint8_t *d;

	/* The first detailed timing descriptor is the preferred mode (EDID
	 * 1.3 and later); a pixel clock of 0 marks a display descriptor. */
	if (!edid || len < KG_EDID_SIZE)
		return false;
	d = edid + 54;
	if (d[0] == 0 && d[1] == 0)
		return false;
	return (uint32_t)(d[2] | (d[4] >> 4) << 8) == width &&
	       (uint32_t)(d[5] | (d[7] >> 4) << 8) == height;
}
