// SPDX-License-Identifier: MIT
/* libkmsgate: the wire's structs into the API's, and host strings into
 * fixed fields. Below the rest of the library, which all uses it. */
#include "client-private.h"

#include <string.h>

void kg_client_copy_text(char *dst, size_t n, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i < n - 1; i++)
		dst[i] = (src[i] >= 0x20 && src[i] <= 0x7e) ? src[i] : '?';
	memset(dst + i, 0, n - i);
}

void kg_client_mode_from_proto(struct kmsgate_mode *out, const struct kg_proto_mode *in)
{
	out->clock = in->clock;
	out->hdisplay = in->hdisplay;
	out->hsync_start = in->hsync_start;
	out->hsync_end = in->hsync_end;
	out->htotal = in->htotal;
	out->hskew = in->hskew;
	out->vdisplay = in->vdisplay;
	out->vsync_start = in->vsync_start;
	out->vsync_end = in->vsync_end;
	out->vtotal = in->vtotal;
	out->vscan = in->vscan;
	out->vrefresh = in->vrefresh;
	out->flags = in->flags;
	out->type = in->type;
	memcpy(out->name, in->name, sizeof(out->name));
}

void kg_client_planes_from_proto(struct kmsgate_plane *out, const struct kg_proto_plane *in,
				 uint32_t n)
{
	for (uint32_t i = 0; i < n && i < KG_PROTO_MAX_PLANES; i++) {
		out[i].id = in[i].id;
		out[i].type = in[i].type;
	}
}
