// SPDX-License-Identifier: MIT
/*
 * The KMS output's control operations: display info and EDID, turning a
 * scanout off, the cursor plane, forgetting a resource, path and stats.
 * The frame path is in output-kms.c.
 */
#include <drm_fourcc.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "edid.h"
#include "log.h"
#include "output-kms-private.h"

/* The mode's exact refresh in mHz; vrefresh when the timings are missing. */
static uint32_t mode_refresh_mhz(const drmModeModeInfo *m)
{
	if (!m->htotal || !m->vtotal)
		return m->vrefresh * 1000;
	return (uint32_t)((uint64_t)m->clock * 1000000u / ((uint64_t)m->htotal * m->vtotal));
}

/*
 * A guest takes the EDID's preferred mode. When the pipeline runs another
 * mode (the broker's config chose it), the display's EDID would make the
 * guest render a frame the pipeline can only centre or scale: give it an
 * EDID that prefers the pipeline's mode instead.
 */
static void fit_edid(struct scanout *so)
{
	const drmModeModeInfo *m = &so->pipe.mode;
	uint8_t *gen;

	if (!so->edid || kg_edid_prefers(so->edid, so->edid_len, m->hdisplay, m->vdisplay))
		return;
	if (m->hdisplay > KG_EDID_MAX_DTD || m->vdisplay > KG_EDID_MAX_DTD)
		return; /* a detailed timing cannot describe it: keep the display's */
	gen = malloc(KG_EDID_SIZE);
	if (!gen)
		return; /* keep the display's own */
	kg_edid_generate(gen, m->hdisplay, m->vdisplay, mode_refresh_mhz(m));
	if (!so->edid_generated)
		kg_so_log(so, KG_LOG_INFO,
			  "the display's EDID prefers another mode; the guest gets a generated "
			  "EDID for the pipeline's %ux%u",
			  m->hdisplay, m->vdisplay);
	so->edid_generated = true;
	free(so->edid);
	so->edid = gen;
	so->edid_len = KG_EDID_SIZE;
}

static void read_edid(struct scanout *so)
{
	uint64_t blob_id = 0;
	drmModePropertyBlobRes *blob;

	free(so->edid);
	so->edid = NULL;
	so->edid_len = 0;
	if (!so->conn_props.edid ||
	    kg_kms_prop_value(so->out->fd, so->pipe.connector_id, DRM_MODE_OBJECT_CONNECTOR,
			      so->conn_props.edid, &blob_id) < 0 ||
	    !blob_id)
		return;
	blob = drmModeGetPropertyBlob(so->out->fd, (uint32_t)blob_id);
	if (!blob)
		return;
	so->edid = malloc(blob->length);
	if (so->edid) {
		memcpy(so->edid, blob->data, blob->length);
		so->edid_len = blob->length;
	}
	drmModeFreePropertyBlob(blob);
	fit_edid(so);
}

int kg_kms_get_info(struct kg_output *out, unsigned idx, struct kg_scanout_info *info)
{
	struct scanout *so = kg_kms_scanout(out, idx);
	drmModeConnector *conn;
	const drmModeModeInfo *m;

	if (!so)
		return -EINVAL;
	m = &so->pipe.mode;
	memset(info, 0, sizeof(*info));
	conn = drmModeGetConnectorCurrent(so->out->fd, so->pipe.connector_id);
	if (!conn)
		return -errno;
	info->connected = conn->connection == DRM_MODE_CONNECTED;
	info->width_mm = conn->mmWidth;
	info->height_mm = conn->mmHeight;
	drmModeFreeConnector(conn);
	info->width = m->hdisplay;
	info->height = m->vdisplay;
	info->refresh_mhz = mode_refresh_mhz(m);
	read_edid(so);
	info->edid = so->edid;
	info->edid_len = so->edid_len;
	return 0;
}

int kg_kms_disable(struct kg_output *out, unsigned idx)
{
	struct scanout *so = kg_kms_scanout(out, idx);
	struct kg_atomic a;
	int ret;

	if (!so)
		return -EINVAL;
	if (so->pending.used)
		kg_kms_frame_drop(&so->pending);
	if (!so->active)
		return 0;
	kg_atomic_begin(&a, so->out->fd);
	kg_kms_add_plane_off(&a, so->pipe.primary_plane_id, &so->primary_props);
	if (so->pipe.cursor_plane_id)
		kg_kms_add_plane_off(&a, so->pipe.cursor_plane_id, &so->cursor_props);
	kg_atomic_add(&a, so->pipe.crtc_id, so->crtc_props.active, 0);
	kg_atomic_add(&a, so->pipe.crtc_id, so->crtc_props.mode_id, 0);
	kg_atomic_add(&a, so->pipe.connector_id, so->conn_props.crtc_id, 0);
	/* Blocking: it waits for a flip in flight, whose event still comes. */
	ret = kg_atomic_commit(&a, DRM_MODE_ATOMIC_ALLOW_MODESET, false, NULL);
	kg_atomic_finish(&a);
	if (ret < 0) {
		kg_kms_log_commit_failure(so, ret);
		return ret;
	}
	so->active = false;
	so->cursor_dirty = so->cursor_visible;
	return 0;
}

static int cursor_ensure(struct scanout *so)
{
	if (so->cursor.fb_id)
		return 0;
	return kg_dumb_init(&so->cursor, so->out->fd, CURSOR_SIZE, CURSOR_SIZE,
			    DRM_FORMAT_ARGB8888);
}

int kg_kms_cursor_set(struct kg_output *out, unsigned idx, const uint32_t *argb, int32_t hot_x,
		      int32_t hot_y)
{
	struct scanout *so = kg_kms_scanout(out, idx);
	int ret;

	if (!so)
		return -EINVAL;
	if (!so->pipe.cursor_plane_id)
		return -ENOTSUP;
	if (argb) {
		ret = cursor_ensure(so);
		if (ret < 0)
			return ret;
		/* The kernel may scan this buffer out while we write: a torn
		 * cursor for one frame is acceptable, a second buffer is not
		 * worth it for 16 KiB. */
		for (unsigned y = 0; y < CURSOR_SIZE; y++)
			memcpy(so->cursor.map + (size_t)y * so->cursor.stride,
			       argb + (size_t)y * CURSOR_SIZE, CURSOR_SIZE * 4);
		so->hot_x = hot_x;
		so->hot_y = hot_y;
	}
	so->cursor_visible = argb != NULL;
	so->cursor_dirty = true;
	kg_kms_commit_next(so);
	return 0;
}

int kg_kms_cursor_move(struct kg_output *out, unsigned idx, int32_t x, int32_t y)
{
	struct scanout *so = kg_kms_scanout(out, idx);

	if (!so)
		return -EINVAL;
	if (!so->pipe.cursor_plane_id)
		return -ENOTSUP;
	so->cursor_x = x;
	so->cursor_y = y;
	so->cursor_dirty = true;
	kg_kms_commit_next(so);
	return 0;
}

void kg_kms_forget(struct kg_output *out, uint32_t resource_id)
{
	struct kg_output_kms *k = kg_kms_from_output(out);

	kg_fbcache_forget(k->cache, resource_id);
	/* A copy buffer that mirrored it must be copied in full next time. */
	for (unsigned i = 0; i < k->n; i++)
		for (int b = 0; b < 2; b++)
			if (k->scanouts[i].copykey[b].resource_id == resource_id)
				memset(&k->scanouts[i].copykey[b], 0, sizeof(struct copy_key));
}

const char *kg_kms_path(struct kg_output *out, unsigned idx)
{
	struct scanout *so = kg_kms_scanout(out, idx);

	if (!so)
		return "none";
	if (so->stats.zero_copy + so->stats.copied == 0)
		return kg_fbcache_disabled(so->out->cache) ? "copy" : "zero-copy";
	return so->zero_copy_last ? "zero-copy" : "copy";
}

int kg_output_kms_get_stats(struct kg_output *out, unsigned idx, struct kg_output_kms_stats *st)
{
	struct scanout *so = kg_kms_scanout(out, idx);

	if (!so)
		return -EINVAL;
	*st = so->stats;
	return 0;
}
