// SPDX-License-Identifier: MIT
/*
 * The headless output: frames are copied out of guest memory into a kept
 * image per scanout (this output copies by design: nothing scans the guest
 * pages out) and complete at the next tick of a simulated refresh.
 */
#include "output-headless.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "edid.h"
#include "format.h"
#include "log.h"
#include "loop.h"

struct hl_pending {
	kg_present_cb cb; /* NULL: none */
	void *data;
	struct kg_present_result res;
};

struct hl_scanout {
	uint32_t *frame; /* 0xAARRGGBB, fw x fh */
	uint32_t fw, fh;
	struct hl_pending pending;
	struct kg_headless_cursor cursor;
	uint32_t cursor_img[64 * 64];
};

struct hl_output {
	struct kg_output base;
	struct kg_loop *loop;
	struct kg_source *tick;
	bool tick_armed;
	uint64_t phase_ns; /* a past vblank of the simulated display: the grid */
	uint64_t tick_at;  /* when the armed tick is due */
	struct kg_headless_config cfg;
	uint32_t sequence;
	uint8_t edid[128];
	struct hl_scanout s[KG_MAX_SCANOUTS];
};

static struct hl_output *hl(struct kg_output *out)
{
	return (struct hl_output *)out;
}

/* Sequential reader of the linear image spread over a frame's chunks. */
struct chunk_reader {
	const struct kg_fb_source *fb;
	unsigned idx;
	uint64_t base; /* offset of chunks[idx] in the backing */
};

static bool chunk_read(struct chunk_reader *rd, uint64_t off, uint8_t *dst, size_t len)
{
	const struct kg_fb_source *fb = rd->fb;

	if (off < rd->base) {
		rd->idx = 0;
		rd->base = 0;
	}
	while (len) {
		const struct kg_backing_chunk *ch;
		uint64_t in;
		size_t n;

		while (rd->idx < fb->n_chunks && off >= rd->base + fb->chunks[rd->idx].len) {
			rd->base += fb->chunks[rd->idx].len;
			rd->idx++;
		}
		if (rd->idx >= fb->n_chunks)
			return false;
		ch = &fb->chunks[rd->idx];
		in = off - rd->base;
		n = ch->len - in < len ? (size_t)(ch->len - in) : len;
		memcpy(dst, (const uint8_t *)ch->va + in, n);
		dst += n;
		off += n;
		len -= n;
	}
	return true;
}

/* Copies rectangle d of fb into the kept frame; returns bytes copied or -errno. */
static int64_t copy_rect(struct hl_scanout *s, const struct kg_fb_source *fb,
			 const struct kg_format *fmt, const struct kg_rect *d)
{
	struct chunk_reader rd = { .fb = fb };
	uint32_t *row = malloc((size_t)d->width * 4);

	if (!row)
		return -ENOMEM;
	for (uint32_t y = 0; y < d->height; y++) {
		uint64_t off = fb->offset + (uint64_t)(d->y + y) * fb->stride + (uint64_t)d->x * 4;
		uint32_t *dst = s->frame + (size_t)(d->y + y) * s->fw + d->x;

		if (!chunk_read(&rd, off, (uint8_t *)row, (size_t)d->width * 4)) {
			free(row);
			return -EFAULT;
		}
		for (uint32_t x = 0; x < d->width; x++)
			dst[x] = kg_format_to_argb(fmt, row[x]);
	}
	free(row);
	return (int64_t)d->width * d->height * 4;
}

/* A rendered frame: the renderer reads rectangle d back into the kept
 * frame, which is then converted in place. */
static int64_t read_rect(struct hl_scanout *s, const struct kg_fb_source *fb,
			 const struct kg_format *fmt, const struct kg_rect *d)
{
	uint32_t *dst = s->frame + (size_t)d->y * s->fw + d->x;
	int ret = fb->read(fb->read_data, d, dst, s->fw * 4);

	if (ret < 0)
		return ret;
	for (uint32_t y = 0; y < d->height; y++) {
		uint32_t *row = dst + (size_t)y * s->fw;

		for (uint32_t x = 0; x < d->width; x++)
			row[x] = kg_format_to_argb(fmt, row[x]);
	}
	return (int64_t)d->width * d->height * 4;
}

static uint64_t period_ns(const struct hl_output *h)
{
	return h->cfg.refresh_mhz ? 1000000000000ull / h->cfg.refresh_mhz : 1000000;
}

/*
 * The next vblank after now on a fixed grid, as a real display's: the tick
 * stops while nothing is pending (an idle guest costs no wake-ups) and
 * starts again in phase, so a flip always lands on the grid and jit pacing
 * (backend/vgpu/pacer.c) can aim at it. Restarting a whole period after
 * each commit instead would put every frame a period after its commit.
 */
static uint64_t next_vblank(const struct hl_output *h, uint64_t now)
{
	uint64_t p = period_ns(h);

	if (!h->phase_ns || now < h->phase_ns)
		return now + p;
	return h->phase_ns + ((now - h->phase_ns) / p + 1) * p;
}

static void arm_tick(struct hl_output *h);

static void tick_cb(void *data)
{
	struct hl_output *h = data;
	uint64_t now = kg_now_ns();
	bool any = false;

	/* The vblank is when it was due, not when the loop got to it. */
	h->phase_ns = h->tick_at ? h->tick_at : now;
	h->tick_armed = false;
	h->sequence++;
	for (unsigned i = 0; i < h->cfg.num_scanouts; i++) {
		struct hl_pending p = h->s[i].pending;

		if (!p.cb)
			continue;
		h->s[i].pending.cb = NULL;
		/* A driver's flip timestamp is the vblank's, not when its
		 * event was handled. */
		p.res.flip_ns = h->phase_ns;
		p.res.sequence = h->sequence;
		p.cb(p.data, &p.res);
	}
	for (unsigned i = 0; i < h->cfg.num_scanouts; i++)
		any |= h->s[i].pending.cb != NULL;
	if (any)
		arm_tick(h);
}

static void arm_tick(struct hl_output *h)
{
	uint64_t at;

	if (h->tick_armed)
		return;
	at = next_vblank(h, kg_now_ns());
	if (kg_loop_timer_arm_at(h->tick, at) == 0) {
		h->tick_armed = true;
		h->tick_at = at;
	}
}

static bool fb_fits(const struct kg_fb_source *fb, const struct kg_rect *d)
{
	uint64_t size = 0;

	for (unsigned i = 0; i < fb->n_chunks; i++)
		size += fb->chunks[i].len;
	return fb->width && fb->height && fb->stride >= (uint64_t)fb->width * 4 &&
	       (uint64_t)d->x + d->width <= fb->width && (uint64_t)d->y + d->height <= fb->height &&
	       fb->offset <= size &&
	       (uint64_t)(fb->height - 1) * fb->stride + (uint64_t)fb->width * 4 <=
		       size - fb->offset;
}

static int hl_present(struct kg_output *out, unsigned i, const struct kg_fb_source *fb,
		      const struct kg_rect *damage, kg_present_cb cb, void *data)
{
	struct hl_output *h = hl(out);
	const struct kg_format *fmt = kg_format_from_drm(fb->drm_format);
	struct kg_rect full = { 0, 0, fb->width, fb->height };
	struct hl_scanout *s;
	int64_t copied;

	if (i >= h->cfg.num_scanouts || !fmt)
		return -EINVAL;
	s = &h->s[i];
	if (!damage || s->fw != fb->width || s->fh != fb->height)
		damage = &full;
	if (fb->kind == KG_FB_RENDERED ? !fb->read || !kg_rect_inside(damage, fb->width, fb->height)
				       : !fb_fits(fb, damage))
		return -EINVAL;
	if (s->fw != fb->width || s->fh != fb->height) {
		uint32_t *f = calloc((size_t)fb->width * fb->height, 4);

		if (!f)
			return -ENOMEM;
		free(s->frame);
		s->frame = f;
		s->fw = fb->width;
		s->fh = fb->height;
	}
	if (s->pending.cb) {
		/* A newer frame replaces one not yet "shown". */
		struct hl_pending old = s->pending;

		s->pending.cb = NULL;
		old.res.shown = false;
		old.cb(old.data, &old.res);
	}
	s->pending.res = (struct kg_present_result){ .shown = true, .commit_ns = kg_now_ns() };
	/* The commit picks its vblank, as a display latches what was
	 * committed before it: the copy (a few ms for a 1024x768 frame of
	 * scattered pages) is this output's way of scanning out, not time
	 * the guest's frame spends before the commit. A tick with nothing
	 * pending (the copy failed) does nothing. */
	arm_tick(h);
	copied = fb->kind == KG_FB_RENDERED ? read_rect(s, fb, fmt, damage)
					    : copy_rect(s, fb, fmt, damage);
	if (copied < 0)
		return (int)copied;
	s->pending.res.bytes_copied = (uint64_t)copied;
	s->pending.cb = cb;
	s->pending.data = data;
	return 0;
}

static unsigned hl_num_scanouts(struct kg_output *out)
{
	return hl(out)->cfg.num_scanouts;
}

static int hl_get_info(struct kg_output *out, unsigned i, struct kg_scanout_info *info)
{
	struct hl_output *h = hl(out);

	if (i >= h->cfg.num_scanouts)
		return -EINVAL;
	*info = (struct kg_scanout_info){
		.connected = true,
		.width = h->cfg.width,
		.height = h->cfg.height,
		.refresh_mhz = h->cfg.refresh_mhz ? h->cfg.refresh_mhz : 60000,
		.width_mm = h->cfg.width * 254 / 960, /* as if 96 dpi */
		.height_mm = h->cfg.height * 254 / 960,
		.edid = h->edid,
		.edid_len = sizeof(h->edid),
	};
	return 0;
}

static int hl_disable(struct kg_output *out, unsigned i)
{
	/* The last frame stays kept: it is what a PNG at exit shows. */
	return i < hl(out)->cfg.num_scanouts ? 0 : -EINVAL;
}

static int hl_cursor_set(struct kg_output *out, unsigned i, const uint32_t *argb, int32_t hot_x,
			 int32_t hot_y)
{
	struct hl_output *h = hl(out);
	struct hl_scanout *s;

	if (i >= h->cfg.num_scanouts)
		return -EINVAL;
	s = &h->s[i];
	s->cursor.visible = argb != NULL;
	s->cursor.hot_x = hot_x;
	s->cursor.hot_y = hot_y;
	s->cursor.updates++;
	if (argb)
		memcpy(s->cursor_img, argb, sizeof(s->cursor_img));
	return 0;
}

static int hl_cursor_move(struct kg_output *out, unsigned i, int32_t x, int32_t y)
{
	struct hl_output *h = hl(out);

	if (i >= h->cfg.num_scanouts)
		return -EINVAL;
	h->s[i].cursor.x = x;
	h->s[i].cursor.y = y;
	return 0;
}

static const char *hl_path(struct kg_output *out, unsigned i)
{
	return "copy";
}

static void hl_destroy(struct kg_output *out)
{
	struct hl_output *h = hl(out);

	if (!h)
		return;
	kg_loop_remove(h->tick);
	for (unsigned i = 0; i < KG_MAX_SCANOUTS; i++)
		free(h->s[i].frame);
	free(h);
}

static const struct kg_output_ops hl_ops = {
	.name = "headless",
	.destroy = hl_destroy,
	.num_scanouts = hl_num_scanouts,
	.get_info = hl_get_info,
	.present = hl_present,
	.disable = hl_disable,
	.cursor_set = hl_cursor_set,
	.cursor_move = hl_cursor_move,
	.path = hl_path,
};

struct kg_output *kg_output_headless_create(struct kg_loop *loop,
					    const struct kg_headless_config *cfg)
{
	struct hl_output *h;

	if (!loop || !cfg || !cfg->num_scanouts || cfg->num_scanouts > KG_MAX_SCANOUTS ||
	    !cfg->width || !cfg->height || cfg->width > 8192 || cfg->height > 8192) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->base.ops = &hl_ops;
	h->loop = loop;
	h->cfg = *cfg;
	kg_edid_generate(h->edid, cfg->width, cfg->height,
			 cfg->refresh_mhz ? cfg->refresh_mhz : 60000);
	h->tick = kg_loop_add_timer(loop, 0, 0, tick_cb, h);
	if (!h->tick) {
		int err = errno;
		free(h);
		errno = err;
		return NULL;
	}
	return &h->base;
}

const uint32_t *kg_output_headless_frame(struct kg_output *out, unsigned i, uint32_t *width,
					 uint32_t *height)
{
	struct hl_output *h = hl(out);

	if (i >= h->cfg.num_scanouts || !h->s[i].frame)
		return NULL;
	*width = h->s[i].fw;
	*height = h->s[i].fh;
	return h->s[i].frame;
}

void kg_output_headless_cursor(struct kg_output *out, unsigned i, struct kg_headless_cursor *cur,
			       uint32_t *argb)
{
	struct hl_output *h = hl(out);

	if (i >= h->cfg.num_scanouts) {
		memset(cur, 0, sizeof(*cur));
		return;
	}
	*cur = h->s[i].cursor;
	if (argb)
		memcpy(argb, h->s[i].cursor_img, sizeof(h->s[i].cursor_img));
}

/* libpng reports errors by longjmp: nothing here changes after setjmp
 * except through pointers, so no local is clobbered. */
static int png_encode(FILE *f, const uint32_t *frame, uint32_t w, uint32_t h, uint8_t *row)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;

	if (!info) {
		png_destroy_write_struct(png ? &png : NULL, NULL);
		return -ENOMEM;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -EIO;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (uint32_t y = 0; y < h; y++) {
		for (uint32_t x = 0; x < w; x++) {
			uint32_t p = frame[(size_t)y * w + x];
			row[x * 3] = p >> 16 & 0xff;
			row[x * 3 + 1] = p >> 8 & 0xff;
			row[x * 3 + 2] = p & 0xff;
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

static int write_png_file(const char *path, const uint32_t *frame, uint32_t w, uint32_t h)
{
	uint8_t *row = malloc((size_t)w * 3);
	FILE *f;
	int fd, ret;

	if (!row)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto free_row;
	}
	f = fdopen(fd, "wb");
	if (!f) {
		ret = -errno;
		close(fd);
		goto free_row;
	}
	ret = png_encode(f, frame, w, h, row);
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
free_row:
	free(row);
	return ret;
}

int kg_output_headless_write_png(struct kg_output *out, const char *dir)
{
	struct hl_output *h = hl(out);
	int written = 0;

	for (unsigned i = 0; i < h->cfg.num_scanouts; i++) {
		char tmp[4096], path[4096];
		int ret;

		if (!h->s[i].frame)
			continue;
		snprintf(path, sizeof(path), "%s/scanout-%u.png", dir, i);
		snprintf(tmp, sizeof(tmp), "%s/.scanout-%u.png.tmp", dir, i);
		ret = write_png_file(tmp, h->s[i].frame, h->s[i].fw, h->s[i].fh);
		if (ret == 0 && rename(tmp, path) < 0)
			ret = -errno;
		if (ret < 0) {
			kg_err("headless: cannot write %s: %s; check that --png-dir exists and is "
			       "writable",
			       path, strerror(-ret));
			unlink(tmp);
			return ret;
		}
		written++;
	}
	for (unsigned i = 0; i < h->cfg.num_scanouts; i++) {
		const struct hl_scanout *s = &h->s[i];

		if (s->cursor.updates)
			kg_info("headless: cursor scanout %u: visible %d at %d,%d hot %d,%d image "
				"%08x %08x",
				i, s->cursor.visible, s->cursor.x, s->cursor.y, s->cursor.hot_x,
				s->cursor.hot_y, s->cursor_img[0], s->cursor_img[64 * 64 - 1]);
	}
	return written;
}
