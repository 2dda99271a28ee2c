// SPDX-License-Identifier: MIT
/*
 * kms-output-vm: runs in the board VM. Plays the guest (tests/frontend's
 * fake guest: framebuffers in scattered pages of a sealed memfd) and pushes
 * frames through kmsgate's KMS output on a real card, waiting for each
 * frame's completion the way a Linux guest waits for its fence.
 *
 * Prints for the host script (tests/vm/backend/test-kms-output.py):
 *   FLIP seq=N t=SEC.USEC commit=SEC.NSEC   one per frame shown
 *   RESULT key=value ...                    path, counters, bytes, ranges
 *   WRITEBACK pixels=N mismatches=M         --writeback (vkms)
 *   PIXEL x y rrggbb                        --screendump: expected screen
 *   READY                                   --screendump: waits for a line
 *   FDS before=A after=B
 *
 *   --driver NAME    vkms (default) or virtio_gpu
 *   --frames N       frames to show (default 120)
 *   --layout L       contiguous, runs, scattered (default scattered)
 *   --size WxH       guest framebuffer size (default: the mode's)
 *   --damage         one guest buffer, each frame redraws a band only
 *   --coalesce       every 10th frame, three presents back to back
 *   --list-limit N   write udmabuf's list_limit first (root)
 *   --force-copy     KG_KMS_FORCE_COPY=1: the copy path on any driver
 *   --cursor         after the last frame, a 64x64 opaque cursor (hot spot
 *                    3,5) moved to 200,150: the check includes its pixels
 *   --forget         the guest drops all resources, then shows one again
 *                    under a new generation (re-imported)
 *   --after-destroy  destroy the output before the writeback/screendump
 *                    check: the last frame must stay on screen
 *   --scribble       after the last frame, the guest overwrites its buffer
 *                    without presenting: the screen follows only when it
 *                    scans the guest pages out (zero copy); expected pixels
 *                    are taken from the guest's memory either way
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
#include <drm_fourcc.h>

#include "drm-util.h"
#include "fake-guest.h"
#include "log.h"
#include "loop.h"
#include "kms-pick.h"
#include "output-kms.h"
#include "fdcount.h"

#define NBUF 4

struct opts {
	const char *driver;
	unsigned frames;
	int layout;
	uint32_t w, h;
	bool damage, coalesce, writeback, screendump, scribble, cursor, after_destroy, forget;
	long list_limit;
};

struct waiter {
	unsigned done, shown, not_shown;
};

static void on_present(void *data, const struct kg_present_result *r)
{
	struct waiter *w = data;

	w->done++;
	if (!r->shown) {
		w->not_shown++;
		return;
	}
	w->shown++;
	printf("FLIP seq=%u t=%llu.%06llu commit=%llu.%09llu\n", r->sequence,
	       (unsigned long long)(r->flip_ns / 1000000000u),
	       (unsigned long long)(r->flip_ns % 1000000000u / 1000u),
	       (unsigned long long)(r->commit_ns / 1000000000u),
	       (unsigned long long)(r->commit_ns % 1000000000u));
}

static int wait_done(struct kg_loop *loop, struct waiter *w, unsigned target)
{
	while (w->done < target)
		if (kg_loop_dispatch(loop, 10000) <= 0) {
			fprintf(stderr, "no completion within 10 s (%u of %u)\n", w->done, target);
			return -1;
		}
	return 0;
}

static void write_list_limit(long v)
{
	FILE *f = fopen("/sys/module/udmabuf/parameters/list_limit", "we");

	if (!f || fprintf(f, "%ld\n", v) < 0)
		perror("list_limit");
	if (f)
		fclose(f);
}

#define CUR_X 200
#define CUR_Y 150
#define HOT_X 3
#define HOT_Y 5
static bool cursor_on;

static uint32_t cursor_px(uint32_t x, uint32_t y)
{
	return 0xff000000u | ((x * 4) << 16) | ((y * 4) << 8) | 0x5a;
}

/* What the screen must show at (x, y): the cursor when it covers the point,
 * else the guest fb (centred, 1:1). */
static bool expected_px(const struct kg_fg_fb *fb, const drmModeModeInfo *m, uint32_t x, uint32_t y,
			uint32_t *v)
{
	if (cursor_on && x >= CUR_X - HOT_X && x < CUR_X - HOT_X + 64 && y >= CUR_Y - HOT_Y &&
	    y < CUR_Y - HOT_Y + 64) {
		*v = cursor_px(x - (CUR_X - HOT_X), y - (CUR_Y - HOT_Y)) & 0xffffff;
		return true;
	}
	int64_t gx = (int64_t)x - ((int64_t)m->hdisplay - fb->src.width) / 2;
	int64_t gy = (int64_t)y - ((int64_t)m->vdisplay - fb->src.height) / 2;

	if (gx < 0 || gy < 0 || gx >= fb->src.width || gy >= fb->src.height) {
		*v = 0;
		return false;
	}
	*v = kg_fg_pixel(fb, (uint32_t)gx, (uint32_t)gy) & 0xffffff;
	return true;
}

static int present(struct kg_output *out, struct kg_fg_fb *fb, const struct kg_rect *dmg,
		   struct waiter *w)
{
	int ret = out->ops->present(out, 0, &fb->src, dmg, on_present, w);

	if (ret < 0)
		fprintf(stderr, "present: %s\n", strerror(-ret));
	return ret;
}

/* Frame f: which buffer, what damage. */
static int run_frames(const struct opts *o, struct kg_loop *loop, struct kg_output *out,
		      struct kg_fg_fb *bufs, struct waiter *w, unsigned *last)
{
	unsigned asked = 0;

	for (unsigned f = 0; f < o->frames; f++) {
		unsigned n = o->coalesce && f % 10 == 5 ? 3 : 1;

		for (unsigned k = 0; k < n; k++) {
			/* Never the buffer on screen: with 4 buffers, up to three
			 * presents back to back stay off it. */
			unsigned idx = o->damage ? 0 : asked % NBUF;
			struct kg_fg_fb *fb = &bufs[idx];
			uint32_t band = fb->src.height / 8;
			struct kg_rect r = { 0, (f % 8) * band, fb->src.width, band };
			const struct kg_rect *dmg = o->damage && f > 0 ? &r : NULL;

			/* A full draw the first time a buffer is used, then a band
			 * per frame: the fake guest must not be what misses vblanks
			 * (a full redraw takes longer than a frame under TCG). */
			const struct kg_rect *draw = o->damage ? dmg : asked < NBUF ? NULL : &r;

			kg_fg_draw(fb, f * 3 + k, draw);
			if (present(out, fb, dmg, w) < 0)
				return -1;
			asked++;
			*last = idx;
		}
		if (wait_done(loop, w, asked) < 0)
			return -1;
	}
	return 0;
}

static int show_cursor(struct kg_loop *loop, struct kg_output *out, bool writeback)
{
	static uint32_t img[64 * 64];
	int ret;

	for (uint32_t y = 0; y < 64; y++)
		for (uint32_t x = 0; x < 64; x++)
			img[y * 64 + x] = cursor_px(x, y);
	ret = out->ops->cursor_set(out, 0, img, HOT_X, HOT_Y);
	if (ret == 0)
		ret = out->ops->cursor_move(out, 0, CUR_X, CUR_Y);
	if (ret < 0) {
		fprintf(stderr, "cursor: %s\n", strerror(-ret));
		return -1;
	}
	/* The cursor commits complete on their own flip events. */
	for (int i = 0; i < 10; i++)
		kg_loop_dispatch(loop, 20);
	/* Writeback composes the cursor plane; QEMU's screendump does not
	 * (its UI draws the cursor apart), so only writeback checks it. */
	cursor_on = writeback;
	return 0;
}

/* The guest drops every resource (forget) while one is on screen, then shows
 * a buffer again under a new generation: the fb on screen must survive, the
 * new one be imported afresh. */
static int forget_and_reshow(const struct opts *o, struct kg_loop *loop, struct kg_output *out,
			     struct kg_fg_fb *bufs, struct waiter *w, unsigned *last)
{
	unsigned next = (*last + 1) % NBUF, target = w->done + 1;

	for (unsigned i = 0; i < NBUF; i++)
		out->ops->forget(out, bufs[i].src.resource_id);
	bufs[next].src.generation++;
	kg_fg_draw(&bufs[next], 0xf00d, NULL);
	if (present(out, &bufs[next], NULL, w) < 0 || wait_done(loop, w, target) < 0)
		return -1;
	*last = next;
	printf("forgot %u resources, showed resource %u again\n", NBUF, bufs[next].src.resource_id);
	return 0;
}

static int writeback_check(int fd, const struct kg_kms_pipe *p, const struct kg_fg_fb *fb)
{
	uint32_t wb = 0, handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 }, fb_id = 0;
	struct drm_mode_create_dumb cd = { .width = p->mode.hdisplay,
					   .height = p->mode.vdisplay,
					   .bpp = 32 };
	struct drm_mode_map_dumb md = { 0 };
	drmModeRes *res = drmModeGetResources(fd);
	drmModeAtomicReq *req = drmModeAtomicAlloc();
	const uint32_t C = DRM_MODE_OBJECT_CONNECTOR;
	int32_t fence = -1;
	uint32_t *map = MAP_FAILED;
	size_t bad = 0, n = 0;
	int ret = -1;

	for (int i = 0; res && i < res->count_connectors && !wb; i++) {
		drmModeConnector *c = drmModeGetConnector(fd, res->connectors[i]);
		if (c && c->connector_type == DRM_MODE_CONNECTOR_WRITEBACK)
			wb = c->connector_id;
		drmModeFreeConnector(c);
	}
	drmModeFreeResources(res);
	if (!wb || drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd) < 0) {
		fprintf(stderr, "writeback: no writeback connector or dumb buffer\n");
		goto out;
	}
	handles[0] = cd.handle;
	pitches[0] = cd.pitch;
	md.handle = cd.handle;
	if (drmModeAddFB2(fd, cd.width, cd.height, DRM_FORMAT_XRGB8888, handles, pitches, offsets,
			  &fb_id, 0) < 0 ||
	    drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md) < 0)
		goto out;
	map = mmap(NULL, cd.size, PROT_READ, MAP_SHARED, fd, md.offset);
	/* The real connector cannot share the CRTC with writeback on vkms
	 * (encoder clone masks): detach it in the same commit. */
	if (map == MAP_FAILED || !req || !kg_vmt_add(fd, req, p->connector_id, C, "CRTC_ID", 0) ||
	    !kg_vmt_add(fd, req, wb, C, "CRTC_ID", p->crtc_id) ||
	    !kg_vmt_add(fd, req, wb, C, "WRITEBACK_FB_ID", fb_id) ||
	    !kg_vmt_add(fd, req, wb, C, "WRITEBACK_OUT_FENCE_PTR", (uint64_t)(uintptr_t)&fence) ||
	    drmModeAtomicCommit(fd, req, DRM_MODE_ATOMIC_ALLOW_MODESET, NULL) < 0) {
		fprintf(stderr, "writeback commit: %s\n", strerror(errno));
		goto out;
	}
	if (fence >= 0) {
		struct pollfd pfd = { .fd = fence, .events = POLLIN };
		poll(&pfd, 1, 5000);
		close(fence);
	}
	for (uint32_t y = 0; y < cd.height; y++) {
		for (uint32_t x = 0; x < cd.width; x++, n++) {
			uint32_t want, got = map[(size_t)y * (cd.pitch / 4) + x] & 0xffffff;
			expected_px(fb, &p->mode, x, y, &want);
			if (got != want && bad++ < 5)
				fprintf(stderr, "writeback (%u,%u) %06x, expected %06x\n", x, y,
					got, want);
		}
	}
	printf("WRITEBACK pixels=%zu mismatches=%zu\n", n, bad);
	ret = bad ? -1 : 0;
out:
	drmModeAtomicFree(req);
	if (map != MAP_FAILED)
		munmap(map, cd.size);
	if (fb_id)
		drmModeRmFB(fd, fb_id);
	if (cd.handle) {
		struct drm_mode_destroy_dumb dd = { .handle = cd.handle };
		drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &dd);
	}
	return ret;
}

/* Sample points for the host's screendump: edges, corners, a grid. */
static void print_pixels(const struct kg_kms_pipe *p, const struct kg_fg_fb *fb)
{
	uint32_t mw = p->mode.hdisplay, mh = p->mode.vdisplay;

	for (uint32_t gy = 0; gy < 16; gy++) {
		for (uint32_t gx = 0; gx < 16; gx++) {
			uint32_t x = gx * (mw - 1) / 15, y = gy * (mh - 1) / 15, v;
			expected_px(fb, &p->mode, x, y, &v);
			printf("PIXEL %u %u %06x\n", x, y, v);
		}
	}
}

static void print_result(struct kg_output *out, const struct opts *o, const struct waiter *w,
			 const struct kg_fg_fb *fb)
{
	struct kg_output_kms_stats st;

	kg_output_kms_get_stats(out, 0, &st);
	printf("RESULT path=%s presented=%llu shown=%llu replaced=%llu zero_copy=%llu "
	       "copied=%llu bytes_copied=%llu not_shown_cb=%u\n",
	       out->ops->path(out, 0), (unsigned long long)st.presented,
	       (unsigned long long)st.shown, (unsigned long long)st.replaced,
	       (unsigned long long)st.zero_copy, (unsigned long long)st.copied,
	       (unsigned long long)st.bytes_copied, w->not_shown);
	printf("RANGES size=%ux%u pages=%u page_runs=%u udmabuf_ranges=%u\n", fb->src.width,
	       fb->src.height, fb->n_chunks, kg_fg_runs(fb), st.last_ranges);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "driver", 1, 0, 'd' },
		{ "frames", 1, 0, 'n' },
		{ "layout", 1, 0, 'l' },
		{ "size", 1, 0, 's' },
		{ "damage", 0, 0, 'D' },
		{ "coalesce", 0, 0, 'c' },
		{ "writeback", 0, 0, 'w' },
		{ "screendump", 0, 0, 'S' },
		{ "list-limit", 1, 0, 'L' },
		{ "force-copy", 0, 0, 'F' },
		{ "scribble", 0, 0, 'x' },
		{ "cursor", 0, 0, 'C' },
		{ "after-destroy", 0, 0, 'A' },
		{ "forget", 0, 0, 'G' },
		{ 0 },
	};
	int c;

	*o = (struct opts){ .driver = "vkms", .frames = 120, .layout = KG_FG_SCATTERED };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->driver = optarg;
			break;
		case 'n':
			o->frames = (unsigned)atoi(optarg);
			break;
		case 'l':
			o->layout = kg_fg_layout_parse(optarg);
			break;
		case 's':
			if (sscanf(optarg, "%ux%u", &o->w, &o->h) != 2)
				return -1;
			break;
		case 'D':
			o->damage = true;
			break;
		case 'c':
			o->coalesce = true;
			break;
		case 'w':
			o->writeback = true;
			break;
		case 'S':
			o->screendump = true;
			break;
		case 'L':
			o->list_limit = atol(optarg);
			break;
		case 'F':
			setenv("KG_KMS_FORCE_COPY", "1", 1);
			break;
		case 'x':
			o->scribble = true;
			break;
		case 'C':
			o->cursor = true;
			break;
		case 'A':
			o->after_destroy = true;
			break;
		case 'G':
			o->forget = true;
			break;
		default:
			return -1;
		}
	}
	return o->layout < 0 || !o->frames ? -1 : 0;
}

static int run(const struct opts *o, int fd, struct kg_loop *loop)
{
	struct kg_kms_pipe pipe;
	struct kg_output *out = NULL;
	struct kg_fg_ram ram = { .memfd = -1 };
	struct kg_fg_fb bufs[NBUF] = { 0 };
	struct waiter w = { 0 };
	unsigned last = 0;
	int ret = -1;

	if (kg_kms_find_pipes(fd, &pipe, 1) != 1) {
		fprintf(stderr, "no connected pipeline on the %s card\n", o->driver);
		return -1;
	}
	printf("pipe: connector %u crtc %u primary %u cursor %u mode %ux%u@%u\n", pipe.connector_id,
	       pipe.crtc_id, pipe.primary_plane_id, pipe.cursor_plane_id, pipe.mode.hdisplay,
	       pipe.mode.vdisplay, pipe.mode.vrefresh);
	uint32_t w_ = o->w ? o->w : pipe.mode.hdisplay, h_ = o->h ? o->h : pipe.mode.vdisplay;
	if (kg_fg_ram_init(&ram, (uint64_t)w_ * h_ * 4 * NBUF * 2 + (16 << 20), 1234) < 0)
		goto out;
	for (unsigned i = 0; i < NBUF; i++)
		if (kg_fg_fb_init(&bufs[i], &ram, o->layout, i + 1, w_, h_) < 0)
			goto out;
	out = kg_output_kms_create(loop, fd, &pipe, 1);
	if (!out)
		goto out;
	if (run_frames(o, loop, out, bufs, &w, &last) < 0)
		goto out;
	if (o->forget && forget_and_reshow(o, loop, out, bufs, &w, &last) < 0)
		goto out;
	print_result(out, o, &w, &bufs[last]);
	if (o->cursor && show_cursor(loop, out, o->writeback) < 0)
		goto out;
	if (o->scribble)
		kg_fg_draw(&bufs[last], 0xdead, NULL);
	ret = 0;
	if (o->after_destroy) {
		/* The output is gone; its last frame must still be on screen
		 * (the guest pages stay referenced by the plane). */
		out->ops->destroy(out);
		out = NULL;
		printf("output destroyed\n");
	}
	if (o->writeback && writeback_check(fd, &pipe, &bufs[last]) < 0)
		ret = -1;
	if (o->screendump) {
		char line[64];
		print_pixels(&pipe, &bufs[last]);
		printf("READY\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			fprintf(stderr, "stdin closed before the host answered\n");
	}
out:
	if (out)
		out->ops->destroy(out);
	for (unsigned i = 0; i < NBUF; i++)
		kg_fg_fb_finish(&bufs[i]);
	kg_fg_ram_finish(&ram);
	return ret;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct kg_loop *loop;
	int before, after, fd, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	kg_log_init("kms-output-vm", KG_LOG_INFO);
	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr,
			"usage: kms-output-vm [--driver vkms|virtio_gpu] [--frames N] "
			"[--layout contiguous|runs|scattered] [--size WxH] [--damage] "
			"[--coalesce] [--writeback] [--screendump] [--list-limit N] "
			"[--force-copy] [--scribble] [--cursor] [--after-destroy] [--forget]\n");
		return 2;
	}
	if (o.list_limit)
		write_list_limit(o.list_limit);
	before = kg_test_fd_count();
	loop = kg_loop_create();
	fd = kg_vmt_open_card(o.driver);
	if (!loop || fd < 0)
		return 1;
	/* Writeback connectors show only to atomic clients that ask. */
	if (o.writeback && (drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) < 0 ||
			    drmSetClientCap(fd, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, 1) < 0))
		perror("writeback client cap");
	ret = run(&o, fd, loop);
	close(fd);
	kg_loop_destroy(loop);
	after = kg_test_fd_count();
	printf("FDS before=%d after=%d\n", before, after);
	return ret == 0 && before == after ? 0 : 1;
}
