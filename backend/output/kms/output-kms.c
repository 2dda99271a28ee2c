// SPDX-License-Identifier: MIT
/*
 * The KMS output. One scanout per pipeline; per scanout the frame pipeline
 * is pending (waiting for the flip in flight) → queued (committed, flip event
 * not yet seen) → current (on screen). The flip event moves queued to
 * current, releases the old current and then commits what is pending.
 */
#include "output-kms.h"

#include <drm_fourcc.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>

#include "clock.h"
#include "log.h"
#include "output-kms-private.h"

struct scanout *kg_kms_scanout(struct kg_output *out, unsigned idx)
{
	struct kg_output_kms *k = kg_kms_from_output(out);

	return idx < k->n ? &k->scanouts[idx] : NULL;
}

/* Completes a frame that will never be shown. */
void kg_kms_frame_drop(struct frame *f)
{
	struct kg_present_result res = { .shown = false,
					 .zero_copy = f->zc != NULL,
					 .bytes_copied = f->bytes_copied,
					 .commit_ns = f->commit_ns };
	kg_present_cb cb = f->cb;
	void *data = f->data;

	kg_zcfb_unref(f->zc);
	memset(f, 0, sizeof(*f));
	f->dumb = -1;
	if (cb)
		cb(data, &res);
}

/* ---- building commits ---------------------------------------------------- */

static void add_plane(struct kg_atomic *a, uint32_t plane, const struct kg_kms_plane_props *p,
		      uint32_t crtc, const struct kg_plane_setup *ps)
{
	kg_atomic_add(a, plane, p->fb_id, ps->fb_id);
	kg_atomic_add(a, plane, p->crtc_id, crtc);
	kg_atomic_add(a, plane, p->src_x, (uint64_t)ps->src_x << 16);
	kg_atomic_add(a, plane, p->src_y, (uint64_t)ps->src_y << 16);
	kg_atomic_add(a, plane, p->src_w, (uint64_t)ps->src_w << 16);
	kg_atomic_add(a, plane, p->src_h, (uint64_t)ps->src_h << 16);
	kg_atomic_add(a, plane, p->crtc_x, (uint64_t)(int64_t)ps->crtc_x);
	kg_atomic_add(a, plane, p->crtc_y, (uint64_t)(int64_t)ps->crtc_y);
	kg_atomic_add(a, plane, p->crtc_w, ps->crtc_w);
	kg_atomic_add(a, plane, p->crtc_h, ps->crtc_h);
}

void kg_kms_add_plane_off(struct kg_atomic *a, uint32_t plane, const struct kg_kms_plane_props *p)
{
	kg_atomic_add(a, plane, p->fb_id, 0);
	kg_atomic_add(a, plane, p->crtc_id, 0);
}

static void add_cursor(struct scanout *so, struct kg_atomic *a)
{
	struct kg_plane_setup ps = {
		.fb_id = so->cursor.fb_id,
		.src_w = CURSOR_SIZE,
		.src_h = CURSOR_SIZE,
		.crtc_x = so->cursor_x - so->hot_x,
		.crtc_y = so->cursor_y - so->hot_y,
		.crtc_w = CURSOR_SIZE,
		.crtc_h = CURSOR_SIZE,
	};

	if (so->cursor_visible && so->cursor.fb_id) {
		add_plane(a, so->pipe.cursor_plane_id, &so->cursor_props, so->pipe.crtc_id, &ps);
		/* Virtual drivers tell the host where the pointer is in the image. */
		if (so->cursor_props.hotspot_x && so->cursor_props.hotspot_y) {
			kg_atomic_add(a, so->pipe.cursor_plane_id, so->cursor_props.hotspot_x,
				      (uint64_t)(int64_t)so->hot_x);
			kg_atomic_add(a, so->pipe.cursor_plane_id, so->cursor_props.hotspot_y,
				      (uint64_t)(int64_t)so->hot_y);
		}
	} else
		kg_kms_add_plane_off(a, so->pipe.cursor_plane_id, &so->cursor_props);
}

/*
 * The one commit path: the modeset when the CRTC is not on yet, the primary
 * plane when ps is given, the cursor when it changed. test_only asks the
 * kernel without changing anything. Returns 0 or -errno.
 */
static int commit(struct scanout *so, const struct kg_plane_setup *ps, bool test_only)
{
	struct kg_atomic a;
	uint32_t flags = DRM_MODE_PAGE_FLIP_EVENT | DRM_MODE_ATOMIC_NONBLOCK;
	int ret;

	kg_atomic_begin(&a, so->out->fd);
	if (!so->active) {
		kg_atomic_add(&a, so->pipe.connector_id, so->conn_props.crtc_id, so->pipe.crtc_id);
		kg_atomic_add(&a, so->pipe.crtc_id, so->crtc_props.mode_id, so->mode_blob);
		kg_atomic_add(&a, so->pipe.crtc_id, so->crtc_props.active, 1);
		flags |= DRM_MODE_ATOMIC_ALLOW_MODESET;
	}
	if (ps)
		add_plane(&a, so->pipe.primary_plane_id, &so->primary_props, so->pipe.crtc_id, ps);
	if (so->cursor_dirty && so->pipe.cursor_plane_id)
		add_cursor(so, &a);
	ret = kg_atomic_commit(&a, flags, test_only, (void *)(uintptr_t)so->out->cookie);
	kg_atomic_finish(&a);
	return ret;
}

/* ---- zero copy ------------------------------------------------------------ */

#define MODE_W(so) ((uint32_t)(so)->pipe.mode.hdisplay)
#define MODE_H(so) ((uint32_t)(so)->pipe.mode.vdisplay)

/* Where a w×h guest image goes on this mode, decided once per size by
 * TEST_ONLY commits. Returns 0 with ps filled or -ENOTSUP (copy instead). */
static int zero_copy_layout(struct scanout *so, uint32_t fb_id, uint32_t w, uint32_t h,
			    struct kg_plane_setup *ps)
{
	if (w == so->pipe.mode.hdisplay && h == so->pipe.mode.vdisplay) {
		kg_layout_full(MODE_W(so), MODE_H(so), fb_id, w, h, ps);
		return 0;
	}
	if (so->layout_w != w || so->layout_h != h) {
		so->layout_w = w;
		so->layout_h = h;
		so->layout = LAYOUT_UNKNOWN;
		kg_layout_scale(MODE_W(so), MODE_H(so), fb_id, w, h, ps);
		if (commit(so, ps, true) == 0) {
			so->layout = LAYOUT_SCALE;
		} else {
			kg_layout_centre(MODE_W(so), MODE_H(so), fb_id, w, h, ps);
			so->layout = commit(so, ps, true) == 0 ? LAYOUT_CENTRE : LAYOUT_NONE;
		}
		kg_so_log(so, KG_LOG_INFO, "guest %ux%u on a %ux%u mode: %s", w, h,
			  so->pipe.mode.hdisplay, so->pipe.mode.vdisplay,
			  so->layout == LAYOUT_SCALE ? "scaled by the plane"
			  : so->layout == LAYOUT_CENTRE
				  ? "centred"
				  : "the plane takes neither: copied, centred");
	}
	if (so->layout == LAYOUT_SCALE)
		kg_layout_scale(MODE_W(so), MODE_H(so), fb_id, w, h, ps);
	else if (so->layout == LAYOUT_CENTRE)
		kg_layout_centre(MODE_W(so), MODE_H(so), fb_id, w, h, ps);
	else
		return -ENOTSUP;
	return 0;
}

/* ---- copy fallback ------------------------------------------------------- */

static int copybuf_ensure(struct scanout *so)
{
	int ret;

	if (so->copybuf[0].fb_id)
		return 0;
	for (int i = 0; i < 2; i++) {
		ret = kg_dumb_init(&so->copybuf[i], so->out->fd, so->pipe.mode.hdisplay,
				   so->pipe.mode.vdisplay, DRM_FORMAT_XRGB8888);
		if (ret < 0) {
			kg_dumb_finish(&so->copybuf[0]);
			kg_dumb_finish(&so->copybuf[1]);
			return ret;
		}
	}
	return 0;
}

struct copy_key kg_kms_copy_key_of(const struct kg_fb_source *fb)
{
	return (struct copy_key){ fb->resource_id, fb->drm_format, fb->width, fb->height,
				  fb->stride,	   fb->generation, fb->offset };
}

static bool copy_format_ok(struct scanout *so, uint32_t format)
{
	/* The copy buffers are XRGB8888: these need no conversion. */
	if (format == DRM_FORMAT_XRGB8888 || format == DRM_FORMAT_ARGB8888)
		return true;
	if (!so->copy_format_warned)
		kg_so_log(so, KG_LOG_WARN,
			  "the copy path takes XRGB8888/ARGB8888 only, not "
			  "%.4s; frames in that format are refused",
			  (const char *)&format);
	so->copy_format_warned = true;
	return false;
}

/* Copies what the back buffer lacks: this frame's damage plus whatever
 * changed while it was not the back buffer. */
static int copy_into_back(struct scanout *so, struct frame *f, struct kg_plane_setup *ps)
{
	int back = so->current_dumb == 0 ? 1 : 0;
	struct kg_dumb *d = &so->copybuf[back];
	struct copy_key key = kg_kms_copy_key_of(&f->fb);
	struct kg_region todo = so->stale[back];
	struct kg_copy_dst dst;
	uint64_t copied = 0;
	int ret;

	if (!copy_format_ok(so, f->fb.drm_format))
		return -ENOTSUP;
	ret = copybuf_ensure(so);
	if (ret < 0)
		return ret;
	if (so->copykey[back].width != key.width || so->copykey[back].height != key.height)
		memset(d->map, 0, d->size); /* the old image may show around the new one */
	if (memcmp(&so->copykey[back], &key, sizeof(key))) {
		todo.n = 0;
		kg_region_add(&todo, &(struct kg_rect){ 0, 0, f->fb.width, f->fb.height });
	} else {
		kg_region_add(&todo, &f->damage);
	}
	dst = (struct kg_copy_dst){ d->map,
				    d->width,
				    d->height,
				    d->stride,
				    ((int32_t)d->width - (int32_t)f->fb.width) / 2,
				    ((int32_t)d->height - (int32_t)f->fb.height) / 2 };
	for (unsigned i = 0; i < todo.n; i++) {
		int64_t n = kg_copy_damage(&dst, &f->fb, 4, &todo.r[i]);
		if (n < 0)
			return (int)n;
		copied += (uint64_t)n;
	}
	so->copykey[back] = key;
	so->stale[back].n = 0;
	kg_region_add(&so->stale[!back], &f->damage);
	f->bytes_copied = copied;
	f->dumb = back;
	kg_layout_full(MODE_W(so), MODE_H(so), d->fb_id, d->width, d->height, ps);
	return 0;
}

/* ---- presenting --------------------------------------------------------- */

void kg_kms_log_commit_failure(struct scanout *so, int err)
{
	/* Neither path takes the frame (the copy path said why, once): not
	 * the pipeline's fault, and not worth a line per frame. */
	if (err == -ENOTSUP && so->copy_format_warned)
		return;
	kg_so_log(so, KG_LOG_ERROR,
		  "atomic commit failed: %s (is the pipeline still "
		  "leased to us?)",
		  strerror(-err));
}

/* Tries zero copy for the pending frame; falls back to copying. */
static int commit_frame(struct scanout *so)
{
	struct frame *f = &so->pending;
	struct kg_plane_setup ps;
	unsigned ranges = 0;
	int ret = -ENOTSUP;

	f->zc = kg_fbcache_get(so->out->cache, &f->fb, &ranges);
	if (ranges)
		so->stats.last_ranges = ranges;
	if (f->zc) {
		ret = zero_copy_layout(so, kg_zcfb_id(f->zc), f->fb.width, f->fb.height, &ps);
		if (ret == 0) {
			ret = commit(so, &ps, false);
			/* What the display says about this fb (layout, stride,
			 * memory it cannot scan out), not about the pipeline. */
			if (ret == -EINVAL || ret == -ERANGE || ret == -ENOSPC || ret == -EFAULT)
				kg_fbcache_refuse(so->out->cache, f->zc, ret);
		}
		if (ret < 0) {
			kg_zcfb_unref(f->zc);
			f->zc = NULL;
		}
	}
	if (ret == -EBUSY)
		return ret;
	if (!f->zc) {
		ret = copy_into_back(so, f, &ps);
		if (ret == 0)
			ret = commit(so, &ps, false);
		if (ret < 0) {
			f->dumb = -1;
			return ret;
		}
	}
	f->commit_ns = kg_now_ns();
	so->queued = *f;
	memset(f, 0, sizeof(*f));
	f->dumb = -1;
	so->in_flight = true;
	so->active = true;
	so->cursor_dirty = false;
	if (so->stats.zero_copy + so->stats.copied == 0 ||
	    so->zero_copy_last != (so->queued.zc != NULL))
		kg_so_log(so, KG_LOG_INFO, "%s path", so->queued.zc ? "zero-copy" : "copy");
	so->zero_copy_last = so->queued.zc != NULL;
	if (so->queued.zc)
		so->stats.zero_copy++;
	else
		so->stats.copied++;
	so->stats.bytes_copied += so->queued.bytes_copied;
	return 0;
}

/* After a flip (or when nothing is in flight): commit what waits. */
void kg_kms_commit_next(struct scanout *so)
{
	int ret;

	if (so->in_flight)
		return;
	if (so->pending.used) {
		ret = commit_frame(so);
		if (ret < 0) {
			kg_kms_log_commit_failure(so, ret);
			kg_kms_frame_drop(&so->pending);
		}
		return;
	}
	if (so->cursor_dirty && so->active) {
		ret = commit(so, NULL, false);
		if (ret == 0) {
			so->cursor_dirty = false;
			so->in_flight = true;
		} else if (ret != -EBUSY) {
			kg_kms_log_commit_failure(so, ret);
			so->cursor_dirty = false;
		}
	}
}

/* The pending frame goes back to the caller, as if never presented: its
 * callback does not run. It holds no fb yet (commit_frame makes one), only
 * the caller's borrowed chunks. */
static void pending_forget(struct scanout *so)
{
	memset(&so->pending, 0, sizeof(so->pending));
	so->pending.dumb = -1;
	so->stats.presented--;
}

static int kms_present(struct kg_output *out, unsigned idx, const struct kg_fb_source *fb,
		       const struct kg_rect *damage, kg_present_cb cb, void *data)
{
	struct scanout *so = kg_kms_scanout(out, idx);
	struct kg_rect full, dmg;
	int ret;

	if (!so || !fb || !fb->width || !fb->height || !kg_format_cpp(fb->drm_format))
		return -EINVAL;
	full = (struct kg_rect){ 0, 0, fb->width, fb->height };
	dmg = damage ? kg_rect_clip(damage, fb->width, fb->height) : full;
	if (so->pending.used) {
		/* The newest frame wins; the one it replaces is never shown. */
		struct copy_key a = kg_kms_copy_key_of(&so->pending.fb), b = kg_kms_copy_key_of(fb);
		if (!memcmp(&a, &b, sizeof(a))) {
			dmg = kg_rect_union(&so->pending.damage, &dmg);
		} else {
			/* Its damage is lost with it: a copy buffer that
			 * mirrors its resource is copied in full next time. */
			for (int i = 0; i < 2; i++)
				if (!memcmp(&so->copykey[i], &a, sizeof(a)))
					memset(&so->copykey[i], 0, sizeof(a));
		}
		so->stats.replaced++;
		kg_kms_frame_drop(&so->pending);
	}
	so->pending = (struct frame){
		.used = true, .fb = *fb, .damage = dmg, .cb = cb, .data = data, .dumb = -1
	};
	so->stats.presented++;
	if (so->in_flight)
		return 0;
	ret = commit_frame(so);
	if (ret < 0) {
		kg_kms_log_commit_failure(so, ret);
		pending_forget(so);
	}
	return ret;
}

static int kms_retract(struct kg_output *out, unsigned idx)
{
	struct scanout *so = kg_kms_scanout(out, idx);

	if (!so)
		return -EINVAL;
	if (!so->pending.used)
		return so->queued.used ? -EBUSY : -ENOENT;
	pending_forget(so);
	return 0;
}

static void flip_done(struct scanout *so, unsigned seq, unsigned sec, unsigned usec)
{
	struct frame done = so->queued;
	struct kg_present_result res = {
		.shown = true,
		.zero_copy = done.zc != NULL,
		.bytes_copied = done.bytes_copied,
		.commit_ns = done.commit_ns,
		.flip_ns = (uint64_t)sec * 1000000000u + (uint64_t)usec * 1000u,
		.sequence = seq,
	};

	so->in_flight = false;
	memset(&so->queued, 0, sizeof(so->queued));
	so->queued.dumb = -1;
	if (done.used) {
		kg_zcfb_unref(so->current_zc);
		so->current_zc = done.zc; /* the reference moves */
		so->current_dumb = done.dumb;
		so->stats.shown++;
	}
	/* Commit what waits before telling the device, so that a present()
	 * from inside the callback finds the flip in flight and queues. */
	kg_kms_commit_next(so);
	if (done.used && done.cb)
		done.cb(done.data, &res);
}

/* A dead process's framebuffers go once none of them can be on screen. */
static void release_leftovers(struct kg_output_kms *k)
{
	for (unsigned i = 0; i < k->n; i++) {
		if (!k->scanouts[i].flipped)
			return;
	}
	for (unsigned i = 0; i < k->n_old_fbs; i++)
		drmModeRmFB(k->fd, k->old_fbs[i]);
	kg_dbg("kms: removed the previous process's %u framebuffer(s)", k->n_old_fbs);
	free(k->old_fbs);
	k->old_fbs = NULL;
	k->n_old_fbs = 0;
}

/* GEM handles are handed out lowest free first from 1, and the DRM API
 * has no call that lists a file's handles: the dead process's are found
 * by closing 1, 2, ... until this many in a row were not there. */
#define LEFTOVER_HANDLE_GAP 256

void kg_output_kms_take_leftovers(struct kg_output *out)
{
	struct kg_output_kms *k = kg_kms_from_output(out);
	drmModeRes *res = drmModeGetResources(k->fd);
	unsigned closed = 0, miss = 0;

	if (res && res->count_fbs > 0) {
		k->old_fbs = malloc(sizeof(*k->old_fbs) * (size_t)res->count_fbs);
		if (k->old_fbs) {
			memcpy(k->old_fbs, res->fbs, sizeof(*k->old_fbs) * (size_t)res->count_fbs);
			k->n_old_fbs = (unsigned)res->count_fbs;
		}
	}
	drmModeFreeResources(res);
	for (uint32_t h = 1; miss < LEFTOVER_HANDLE_GAP; h++) {
		struct drm_gem_close c = { .handle = h };

		if (drmIoctl(k->fd, DRM_IOCTL_GEM_CLOSE, &c) == 0) {
			closed++;
			miss = 0;
		} else {
			miss++;
		}
	}
	kg_info("kms: the previous kmsgate-vgpu's frame stays on screen until the guest's next "
		"one (%u framebuffer(s) kept until then, %u buffer handle(s) closed)",
		k->n_old_fbs, closed);
}

/*
 * The output whose DRM fd is being read. A flip event carries the value
 * its commit passed, and the DRM file may be a dead process's (kept in
 * systemd's fd store, kg_output_kms_take_leftovers): its last events come
 * to us with values that are pointers in that process. So the value is a
 * cookie, checked, and the output comes from here (one thread; set around
 * each drmHandleEvent()).
 */
static struct kg_output_kms *reading;

static void on_page_flip(int fd, unsigned seq, unsigned sec, unsigned usec, unsigned crtc_id,
			 void *data)
{
	struct kg_output_kms *k = reading;

	if (!k || (uintptr_t)data != k->cookie) {
		kg_dbg("kms: a flip event of the previous process (CRTC %u) ignored", crtc_id);
		return;
	}

	for (unsigned i = 0; i < k->n; i++) {
		if (k->scanouts[i].pipe.crtc_id == crtc_id && k->scanouts[i].in_flight) {
			k->scanouts[i].flipped = true;
			if (k->old_fbs)
				release_leftovers(k);
			flip_done(&k->scanouts[i], seq, sec, usec);
			return;
		}
	}
}

static int handle_events(struct kg_output_kms *k)
{
	drmEventContext ctx = { .version = 3, .page_flip_handler2 = on_page_flip };
	int ret;

	reading = k;
	ret = drmHandleEvent(k->fd, &ctx);
	reading = NULL;
	return ret;
}

static void on_drm_readable(void *data, int fd, uint32_t events)
{
	if (handle_events(data) < 0)
		kg_log_errno(KG_LOG_WARN, "kms: reading DRM events failed");
}

/* ---- the other ops ------------------------------------------------------- */

static unsigned kms_num_scanouts(struct kg_output *out)
{
	return kg_kms_from_output(out)->n;
}

/* ---- create / destroy ----------------------------------------------------- */

/* Waits (bounded) for flips in flight, so no event names freed memory. */
static void drain(struct kg_output_kms *k)
{
	uint64_t deadline = kg_now_ns() + DRAIN_MS * 1000000ull;

	for (;;) {
		bool busy = false;
		struct pollfd pfd = { .fd = k->fd, .events = POLLIN };

		for (unsigned i = 0; i < k->n; i++)
			busy |= k->scanouts[i].in_flight;
		if (!busy || kg_now_ns() > deadline)
			return;
		if (poll(&pfd, 1, DRAIN_MS) > 0)
			handle_events(k);
	}
}

static void scanout_finish(struct scanout *so)
{
	if (so->pending.used)
		kg_kms_frame_drop(&so->pending);
	if (so->queued.used)
		kg_kms_frame_drop(&so->queued);
	kg_zcfb_unref(so->current_zc);
	so->current_zc = NULL;
	kg_dumb_finish(&so->copybuf[0]);
	kg_dumb_finish(&so->copybuf[1]);
	kg_dumb_finish(&so->cursor);
	if (so->mode_blob)
		drmModeDestroyPropertyBlob(so->out->fd, so->mode_blob);
	free(so->edid);
}

static void kms_destroy(struct kg_output *out)
{
	struct kg_output_kms *k = kg_kms_from_output(out);

	if (!k)
		return;
	kg_loop_remove(k->src);
	if (k->fd >= 0)
		drain(k);
	/* Pending frames are completed (as not shown) before anything goes. */
	for (unsigned i = 0; i < k->n; i++)
		scanout_finish(&k->scanouts[i]);
	kg_fbcache_destroy(k->cache);
	free(k->old_fbs); /* they go with the DRM file */
	free(k);
}

static const struct kg_output_ops kms_ops = {
	.name = "kms",
	.destroy = kms_destroy,
	.num_scanouts = kms_num_scanouts,
	.get_info = kg_kms_get_info,
	.present = kms_present,
	.retract = kms_retract,
	.disable = kg_kms_disable,
	.cursor_set = kg_kms_cursor_set,
	.cursor_move = kg_kms_cursor_move,
	.forget = kg_kms_forget,
	.path = kg_kms_path,
};

static int scanout_init(struct kg_output_kms *k, unsigned i, const struct kg_kms_pipe *pipe)
{
	struct scanout *so = &k->scanouts[i];
	int ret;

	so->out = k;
	so->index = i;
	so->pipe = *pipe;
	so->current_dumb = -1;
	so->pending.dumb = so->queued.dumb = -1;
	so->cursor.fd = so->copybuf[0].fd = so->copybuf[1].fd = -1;
	ret = kg_kms_props_conn(k->fd, pipe->connector_id, &so->conn_props);
	if (ret == 0)
		ret = kg_kms_props_crtc(k->fd, pipe->crtc_id, &so->crtc_props);
	if (ret == 0)
		ret = kg_kms_props_plane(k->fd, pipe->primary_plane_id, &so->primary_props);
	if (ret == 0 && pipe->cursor_plane_id &&
	    kg_kms_props_plane(k->fd, pipe->cursor_plane_id, &so->cursor_props) < 0)
		so->pipe.cursor_plane_id = 0; /* no usable cursor plane: no cursor */
	if (ret < 0) {
		kg_so_log(so, KG_LOG_ERROR,
			  "reading the properties of the connector, CRTC or plane %u failed: %s "
			  "(are they in the lease?)",
			  pipe->primary_plane_id, strerror(-ret));
		return ret;
	}
	if (drmModeCreatePropertyBlob(k->fd, &pipe->mode, sizeof(pipe->mode), &so->mode_blob)) {
		ret = -errno;
		kg_so_log(so, KG_LOG_ERROR, "creating the mode blob failed: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

static int set_caps(int fd)
{
	int ret = kg_kms_set_client_caps(fd);

	if (ret < 0)
		kg_err("kms: the device does not do atomic modesetting: %s", strerror(-ret));
	return ret;
}

struct kg_output *kg_output_kms_create(struct kg_loop *loop, int drm_fd,
				       const struct kg_kms_pipe *pipes, unsigned n)
{
	struct kg_output_kms *k;
	const char *force = getenv("KG_KMS_FORCE_COPY");
	int ret = -EINVAL;

	if (!loop || drm_fd < 0 || !pipes || n == 0 || n > KG_MAX_SCANOUTS)
		goto err;
	ret = set_caps(drm_fd);
	if (ret < 0)
		goto err;
	ret = -ENOMEM;
	k = calloc(1, sizeof(*k));
	if (!k)
		goto err;
	k->base.ops = &kms_ops;
	k->loop = loop;
	k->fd = drm_fd;
	/* Never a value a previous process on the same DRM file used. */
	k->cookie = ((uintptr_t)k ^ ((uintptr_t)getpid() << 20) ^ (uintptr_t)kg_now_ns()) | 1;
	k->cache = kg_fbcache_create(drm_fd);
	if (!k->cache)
		goto err_output;
	if (force && force[0] == '1')
		kg_fbcache_force_off(k->cache, "KG_KMS_FORCE_COPY=1");
	for (unsigned i = 0; i < n; i++) {
		k->n = i + 1; /* destroy finishes what was started */
		ret = scanout_init(k, i, &pipes[i]);
		if (ret < 0)
			goto err_output;
	}
	k->src = kg_loop_add_fd(loop, drm_fd, EPOLLIN, on_drm_readable, k);
	if (!k->src) {
		ret = -errno;
		kg_log_errno(KG_LOG_ERROR, "kms: watching the DRM fd failed");
		goto err_output;
	}
	return &k->base;

err_output:
	kms_destroy(&k->base);
err:
	errno = -ret;
	return NULL;
}
