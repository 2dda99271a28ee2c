// SPDX-License-Identifier: MIT
/*
 * kg-frames: draws known frames into dumb buffers and page-flips them on a
 * KMS device, measuring each flip's commit → completion event latency.
 *
 * Runs inside a Linux guest (static: gcc -static ... -ldrm) on its
 * virtio-gpu card, as the guest side of kmsgate's host tests and as a user
 * tool: the summary it prints is the guest-visible flip latency.
 *
 * Frame i's pixel (x, y) is XRGB8888 with R = (x + 7i) & 255,
 * G = (y + 13i) & 255, B = (x ^ y ^ i) & 255 ("gradient"), or a solid colour
 * per frame ("solid": R = 37i, G = 255 - 11i, B = 91i, all & 255), so a
 * host can compute what the last frame must look like.
 *
 * --draw SPEC [--seed N] makes it a synthetic guest whose draw time follows
 * SPEC (fixed:MS, jitter:MS,SD, spikes:MS,LONG_MS,PROB, steps:MS1,N1,MS2; see
 * tests/common/drawtime.h): after each flip's completion event (frame 0:
 * after setup) it draws the frame, then sleeps until the sampled time has
 * passed since the event, then commits. The achieved time (event → commit)
 * is printed per frame and summarised.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <drm_fourcc.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "drawtime.h"

struct buf {
	uint32_t handle, fb_id, pitch;
	uint64_t size;
	uint32_t *map;
};

/* --prerender's most buffers. */
#define MAX_BUFS 16

struct opts {
	const char *card, *connector, *pattern;
	unsigned frames;
	unsigned prerender; /* 0: draw each frame before its flip */
	unsigned fps;	    /* 0: flip as fast as the events come */
	bool legacy, cursor, quiet, hold;
	const char *draw; /* --draw SPEC, NULL: commit right after drawing */
	uint64_t seed;
	struct kg_drawtime drawtime; /* parsed from draw and seed */
};

struct state {
	int fd;
	struct opts o;
	uint32_t conn_id, crtc_id, crtc_index, plane_id;
	drmModeModeInfo mode;
	struct buf bufs[MAX_BUFS];
	unsigned nbufs;
	bool flip_pending;
	uint64_t commit_ns, *lat_ns;
	uint64_t event_ns; /* the last flip event's arrival */
	uint64_t *draw_ns; /* --draw: achieved event → commit per frame */
	uint64_t start_ns, end_ns;
	unsigned events;
	uint32_t prop_fb, prop_crtc_id, prop_conn_crtc, prop_active, prop_mode;
	uint32_t prop_src[4], prop_dst[4];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kg-frames [options]\n"
		"Draws known frames and page-flips them; prints flip latency (commit → event).\n\n"
		"  --card PATH         DRM device (default /dev/dri/card0)\n"
		"  --connector NAME    e.g. Virtual-1 (default: the first connected one)\n"
		"  --frames N          frames to flip (default 60)\n"
		"  --pattern P         gradient (default) or solid\n"
		"  --prerender N       draw frames 0..N-1 (2..16) into N buffers once, then flip\n"
		"                      them in turn (frame i shows frame i %% N): measures the\n"
		"                      display path without the cost of drawing\n"
		"  --fps N             start a frame every 1/N s (default: as fast as flips complete)\n"
		"  --draw SPEC         draw time after each flip event before the next commit:\n"
		"                      fixed:MS, jitter:MS,SD (normal), spikes:MS,LONG_MS,PROB\n"
		"                      (LONG_MS with probability PROB), steps:MS1,N1,MS2 (MS1\n"
		"                      for N1 frames, then MS2); not with --fps\n"
		"  --seed N            seed of --draw's generator (default 1)\n"
		"  --legacy            drmModePageFlip instead of atomic commits\n"
		"  --cursor            also show a 64x64 cursor at (100, 50), hotspot (3, 4)\n"
		"  --hold              wait for a line on stdin before exiting\n"
		"  --quiet             only the summary\n"
		"  --help              this text\n\n"
		"Output: one 'frame I latency_us L' line per flip (unless --quiet; with --draw\n"
		"' target_us T draw_us D' added: asked and achieved event → commit), then\n"
		"'kg-frames: mode WxH frames N events E p50_us A p99_us B max_us C fps F',\n"
		"with --draw 'kg-frames: draw target_p50_us T p50_us A p99_us B max_us C',\n"
		"and 'RESULT ok' (or 'RESULT fail: why').\n");
}

static uint32_t pixel(const char *pattern, unsigned i, uint32_t x, uint32_t y)
{
	if (strcmp(pattern, "solid") == 0)
		return ((37u * i) & 255) << 16 | ((255u - 11u * i) & 255) << 8 | ((91u * i) & 255);
	return ((x + 7u * i) & 255) << 16 | ((y + 13u * i) & 255) << 8 | ((x ^ y ^ i) & 255);
}

static void draw(struct state *s, struct buf *b, unsigned i)
{
	for (uint32_t y = 0; y < s->mode.vdisplay; y++) {
		uint32_t *row = (uint32_t *)((uint8_t *)b->map + (size_t)y * b->pitch);
		for (uint32_t x = 0; x < s->mode.hdisplay; x++)
			row[x] = pixel(s->o.pattern, i, x, y);
	}
}

static int create_buf(int fd, uint32_t w, uint32_t h, uint32_t format, struct buf *b)
{
	struct drm_mode_create_dumb c = { .width = w, .height = h, .bpp = 32 };
	struct drm_mode_map_dumb m = { 0 };
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };

	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &c) < 0)
		return -errno;
	b->handle = c.handle;
	b->pitch = c.pitch;
	b->size = c.size;
	m.handle = c.handle;
	if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &m) < 0)
		return -errno;
	b->map = mmap(NULL, c.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)m.offset);
	if (b->map == MAP_FAILED)
		return -errno;
	handles[0] = c.handle;
	pitches[0] = c.pitch;
	if (drmModeAddFB2(fd, w, h, format, handles, pitches, offsets, &b->fb_id, 0) < 0)
		return -errno;
	return 0;
}

static uint32_t prop_id(int fd, uint32_t obj, uint32_t type, const char *name)
{
	drmModeObjectProperties *props = drmModeObjectGetProperties(fd, obj, type);
	uint32_t id = 0;

	for (uint32_t i = 0; props && i < props->count_props && !id; i++) {
		drmModePropertyRes *p = drmModeGetProperty(fd, props->props[i]);
		if (p && strcmp(p->name, name) == 0)
			id = p->prop_id;
		drmModeFreeProperty(p);
	}
	drmModeFreeObjectProperties(props);
	return id;
}

static bool connector_matches(drmModeConnector *c, const char *want)
{
	char name[64];

	if (!want)
		return c->connection == DRM_MODE_CONNECTED && c->count_modes > 0;
	snprintf(name, sizeof(name), "%s-%u", drmModeGetConnectorTypeName(c->connector_type),
		 c->connector_type_id);
	return strcmp(name, want) == 0 && c->count_modes > 0;
}

/* The connector, its preferred mode, a CRTC it can use and that CRTC's
 * primary plane. */
static int find_pipe(struct state *s)
{
	drmModeRes *res = drmModeGetResources(s->fd);
	drmModePlaneRes *pres = drmModeGetPlaneResources(s->fd);
	int ret = -ENOENT;

	for (int i = 0; res && i < res->count_connectors && !s->conn_id; i++) {
		drmModeConnector *c = drmModeGetConnector(s->fd, res->connectors[i]);
		drmModeEncoder *e;

		if (c && connector_matches(c, s->o.connector)) {
			s->conn_id = c->connector_id;
			s->mode = c->modes[0];
			for (int m = 0; m < c->count_modes; m++) {
				if (c->modes[m].type & DRM_MODE_TYPE_PREFERRED) {
					s->mode = c->modes[m];
					break;
				}
			}
			e = drmModeGetEncoder(s->fd, c->encoders[0]);
			for (int k = 0; e && k < res->count_crtcs; k++) {
				if (e->possible_crtcs & (1u << k)) {
					s->crtc_id = res->crtcs[k];
					s->crtc_index = (uint32_t)k;
					break;
				}
			}
			drmModeFreeEncoder(e);
		}
		drmModeFreeConnector(c);
	}
	for (uint32_t i = 0; pres && s->crtc_id && i < pres->count_planes && !s->plane_id; i++) {
		drmModePlane *p = drmModeGetPlane(s->fd, pres->planes[i]);
		uint32_t type_prop = prop_id(s->fd, pres->planes[i], DRM_MODE_OBJECT_PLANE, "type");
		drmModeObjectProperties *props =
			drmModeObjectGetProperties(s->fd, pres->planes[i], DRM_MODE_OBJECT_PLANE);

		for (uint32_t k = 0; p && props && k < props->count_props; k++) {
			if (props->props[k] == type_prop &&
			    props->prop_values[k] == DRM_PLANE_TYPE_PRIMARY &&
			    (p->possible_crtcs & (1u << s->crtc_index)))
				s->plane_id = p->plane_id;
		}
		drmModeFreeObjectProperties(props);
		drmModeFreePlane(p);
	}
	if (s->conn_id && s->crtc_id && s->plane_id)
		ret = 0;
	drmModeFreePlaneResources(pres);
	drmModeFreeResources(res);
	return ret;
}

static void flip_handler(int fd, unsigned seq, unsigned sec, unsigned usec, unsigned crtc,
			 void *data)
{
	struct state *s = data;

	s->event_ns = now_ns();
	s->lat_ns[s->events++] = s->event_ns - s->commit_ns;
	s->flip_pending = false;
}

static int atomic_commit(struct state *s, struct buf *b, bool modeset)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();
	uint32_t flags = DRM_MODE_PAGE_FLIP_EVENT;
	uint32_t blob = 0;
	int ret;

	if (modeset) {
		if (drmModeCreatePropertyBlob(s->fd, &s->mode, sizeof(s->mode), &blob) < 0)
			return -errno;
		drmModeAtomicAddProperty(req, s->conn_id, s->prop_conn_crtc, s->crtc_id);
		drmModeAtomicAddProperty(req, s->crtc_id, s->prop_mode, blob);
		drmModeAtomicAddProperty(req, s->crtc_id, s->prop_active, 1);
		flags |= DRM_MODE_ATOMIC_ALLOW_MODESET;
	} else {
		flags |= DRM_MODE_ATOMIC_NONBLOCK;
	}
	drmModeAtomicAddProperty(req, s->plane_id, s->prop_fb, b->fb_id);
	drmModeAtomicAddProperty(req, s->plane_id, s->prop_crtc_id, s->crtc_id);
	drmModeAtomicAddProperty(req, s->plane_id, s->prop_src[0], 0);
	drmModeAtomicAddProperty(req, s->plane_id, s->prop_src[1], 0);
	drmModeAtomicAddProperty(req, s->plane_id, s->prop_src[2],
				 (uint64_t)s->mode.hdisplay << 16);
	drmModeAtomicAddProperty(req, s->plane_id, s->prop_src[3],
				 (uint64_t)s->mode.vdisplay << 16);
	drmModeAtomicAddProperty(req, s->plane_id, s->prop_dst[0], 0);
	drmModeAtomicAddProperty(req, s->plane_id, s->prop_dst[1], 0);
	drmModeAtomicAddProperty(req, s->plane_id, s->prop_dst[2], s->mode.hdisplay);
	drmModeAtomicAddProperty(req, s->plane_id, s->prop_dst[3], s->mode.vdisplay);
	s->commit_ns = now_ns();
	ret = drmModeAtomicCommit(s->fd, req, flags, s);
	ret = ret < 0 ? -errno : 0;
	drmModeAtomicFree(req);
	if (blob)
		drmModeDestroyPropertyBlob(s->fd, blob);
	return ret;
}

static int commit(struct state *s, struct buf *b, bool first)
{
	int ret;

	if (!s->o.legacy)
		return atomic_commit(s, b, first);
	s->commit_ns = now_ns();
	if (first) {
		/* The modeset itself sends no event: count it as a flip of 0. */
		ret = drmModeSetCrtc(s->fd, s->crtc_id, b->fb_id, 0, 0, &s->conn_id, 1, &s->mode);
		if (ret < 0)
			return -errno;
		s->commit_ns = now_ns();
	}
	ret = drmModePageFlip(s->fd, s->crtc_id, b->fb_id, DRM_MODE_PAGE_FLIP_EVENT, s);
	return ret < 0 ? -errno : 0;
}

static int wait_event(struct state *s)
{
	drmEventContext ev = { .version = 3, .page_flip_handler2 = flip_handler };
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };

	while (s->flip_pending) {
		int n = poll(&pfd, 1, 5000);

		if (n == 0)
			return -ETIMEDOUT;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && drmHandleEvent(s->fd, &ev) < 0)
			return -EIO;
	}
	return 0;
}

static void show_cursor(struct state *s)
{
	struct drm_mode_create_dumb c = { .width = 64, .height = 64, .bpp = 32 };
	struct drm_mode_map_dumb m = { 0 };
	uint32_t *px;

	if (drmIoctl(s->fd, DRM_IOCTL_MODE_CREATE_DUMB, &c) < 0)
		goto fail;
	m.handle = c.handle;
	if (drmIoctl(s->fd, DRM_IOCTL_MODE_MAP_DUMB, &m) < 0)
		goto fail;
	px = mmap(NULL, c.size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, (off_t)m.offset);
	if (px == MAP_FAILED)
		goto fail;
	/* Opaque white square on the upper left, transparent elsewhere. */
	for (uint32_t y = 0; y < 64; y++)
		for (uint32_t x = 0; x < 64; x++)
			px[y * (c.pitch / 4) + x] = x < 32 && y < 32 ? 0xffffffffu : 0;
	if (drmModeSetCursor2(s->fd, s->crtc_id, c.handle, 64, 64, 3, 4) < 0 ||
	    drmModeMoveCursor(s->fd, s->crtc_id, 100, 50) < 0)
		goto fail;
	printf("cursor shown at 100,50 hot 3,4\n");
	return;
fail:
	printf("cursor failed: %s\n", strerror(errno));
}

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = { (time_t)(t_ns / 1000000000ull), (long)(t_ns % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void summary(struct state *s)
{
	uint64_t *v = calloc(s->events + 1, sizeof(*v));
	unsigned n = s->events;

	memcpy(v, s->lat_ns, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("kg-frames: mode %ux%u frames %u events %u p50_us %.1f p99_us %.1f max_us %.1f "
	       "fps %.1f\n",
	       s->mode.hdisplay, s->mode.vdisplay, s->o.frames, n,
	       n ? v[(n - 1) * 50 / 100] / 1e3 : 0.0, n ? v[(n * 99 + 99) / 100 - 1] / 1e3 : 0.0,
	       n ? v[n - 1] / 1e3 : 0.0,
	       s->end_ns > s->start_ns ? n * 1e9 / (double)(s->end_ns - s->start_ns) : 0.0);
	free(v);
}

/* --draw's line: the targets of frames 0..n-1 again (a fresh generator of
 * the same seed), and the achieved times. */
static void draw_summary(struct state *s, unsigned n)
{
	uint64_t *t = calloc(n + 1, sizeof(*t));
	struct kg_drawtime dt = s->o.drawtime;

	if (!t)
		return;
	for (unsigned i = 0; i < n; i++)
		t[i] = kg_drawtime_next(&dt);
	qsort(t, n, sizeof(*t), cmp_u64);
	qsort(s->draw_ns, n, sizeof(*s->draw_ns), cmp_u64);
	printf("kg-frames: draw target_p50_us %.1f p50_us %.1f p99_us %.1f max_us %.1f\n",
	       n ? t[(n - 1) * 50 / 100] / 1e3 : 0.0,
	       n ? s->draw_ns[(n - 1) * 50 / 100] / 1e3 : 0.0,
	       n ? s->draw_ns[(n * 99 + 99) / 100 - 1] / 1e3 : 0.0,
	       n ? s->draw_ns[n - 1] / 1e3 : 0.0);
	free(t);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "card", required_argument, NULL, 'c' },
		{ "connector", required_argument, NULL, 'C' },
		{ "frames", required_argument, NULL, 'n' },
		{ "pattern", required_argument, NULL, 'p' },
		{ "prerender", required_argument, NULL, 'r' },
		{ "legacy", no_argument, NULL, 'l' },
		{ "cursor", no_argument, NULL, 'u' },
		{ "fps", required_argument, NULL, 'f' },
		{ "draw", required_argument, NULL, 'D' },
		{ "seed", required_argument, NULL, 'e' },
		{ "hold", no_argument, NULL, 'H' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char err[160], *end;
	int c;

	*o = (struct opts){
		.card = "/dev/dri/card0", .pattern = "gradient", .frames = 60, .seed = 1
	};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->card = optarg;
			break;
		case 'C':
			o->connector = optarg;
			break;
		case 'n':
			o->frames = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			o->pattern = optarg;
			break;
		case 'r':
			o->prerender = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'f':
			o->fps = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'D':
			o->draw = optarg;
			break;
		case 'e':
			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end) {
				fprintf(stderr, "kg-frames: --seed %s is not a number\n", optarg);
				return -1;
			}
			break;
		case 'l':
			o->legacy = true;
			break;
		case 'u':
			o->cursor = true;
			break;
		case 'H':
			o->hold = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!o->frames || o->frames > 1000000 ||
	    (o->prerender && (o->prerender < 2 || o->prerender > MAX_BUFS)) ||
	    (strcmp(o->pattern, "gradient") && strcmp(o->pattern, "solid"))) {
		usage(stderr);
		return -1;
	}
	if (o->draw && o->fps) {
		fprintf(stderr, "kg-frames: --draw and --fps both set when a frame starts: "
				"give one\n");
		return -1;
	}
	if (o->draw && kg_drawtime_parse(&o->drawtime, o->draw, o->seed, err, sizeof(err)) < 0) {
		fprintf(stderr, "kg-frames: %s\n", err);
		return -1;
	}
	return 0;
}

static int setup(struct state *s)
{
	static const char *const src[4] = { "SRC_X", "SRC_Y", "SRC_W", "SRC_H" };
	static const char *const dst[4] = { "CRTC_X", "CRTC_Y", "CRTC_W", "CRTC_H" };
	int ret;

	s->fd = open(s->o.card, O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	drmSetClientCap(s->fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1);
	if (!s->o.legacy && drmSetClientCap(s->fd, DRM_CLIENT_CAP_ATOMIC, 1) < 0)
		return -errno;
	ret = find_pipe(s);
	if (ret < 0)
		return ret;
	s->prop_fb = prop_id(s->fd, s->plane_id, DRM_MODE_OBJECT_PLANE, "FB_ID");
	s->prop_crtc_id = prop_id(s->fd, s->plane_id, DRM_MODE_OBJECT_PLANE, "CRTC_ID");
	for (int i = 0; i < 4; i++) {
		s->prop_src[i] = prop_id(s->fd, s->plane_id, DRM_MODE_OBJECT_PLANE, src[i]);
		s->prop_dst[i] = prop_id(s->fd, s->plane_id, DRM_MODE_OBJECT_PLANE, dst[i]);
	}
	s->prop_conn_crtc = prop_id(s->fd, s->conn_id, DRM_MODE_OBJECT_CONNECTOR, "CRTC_ID");
	s->prop_active = prop_id(s->fd, s->crtc_id, DRM_MODE_OBJECT_CRTC, "ACTIVE");
	s->prop_mode = prop_id(s->fd, s->crtc_id, DRM_MODE_OBJECT_CRTC, "MODE_ID");
	s->nbufs = s->o.prerender ? s->o.prerender : 2;
	for (unsigned i = 0; i < s->nbufs; i++) {
		ret = create_buf(s->fd, s->mode.hdisplay, s->mode.vdisplay, DRM_FORMAT_XRGB8888,
				 &s->bufs[i]);
		if (ret < 0)
			return ret;
		if (s->o.prerender)
			draw(s, &s->bufs[i], i);
	}
	s->lat_ns = calloc(s->o.frames, sizeof(*s->lat_ns));
	s->draw_ns = calloc(s->o.frames, sizeof(*s->draw_ns));
	return s->lat_ns && s->draw_ns ? 0 : -ENOMEM;
}

int main(int argc, char **argv)
{
	struct state s = { .fd = -1 };
	struct kg_drawtime dt;
	int ret;

	if (parse(argc, argv, &s.o) < 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = setup(&s);
	if (ret < 0) {
		printf("RESULT fail: cannot set up %s (connector %s): %s\n", s.o.card,
		       s.o.connector ? s.o.connector : "any", strerror(-ret));
		return 1;
	}
	printf("kg-frames: %s connector %u crtc %u plane %u mode %ux%u\n", s.o.card, s.conn_id,
	       s.crtc_id, s.plane_id, s.mode.hdisplay, s.mode.vdisplay);
	if (s.o.cursor)
		show_cursor(&s);
	dt = s.o.drawtime; /* o's copy stays fresh for draw_summary() */
	s.start_ns = s.event_ns = now_ns();
	for (unsigned i = 0; i < s.o.frames; i++) {
		struct buf *b = &s.bufs[i % s.nbufs];
		uint64_t target = s.o.draw ? kg_drawtime_next(&dt) : 0;

		if (s.o.fps) {
			/* Paced like an application rendering at fps. */
			uint64_t due = s.start_ns + (uint64_t)i * 1000000000ull / s.o.fps;
			struct timespec ts = { (time_t)(due / 1000000000ull),
					       (long)(due % 1000000000ull) };
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
		if (!s.o.prerender)
			draw(&s, b, i);
		if (s.o.draw)
			sleep_until(s.event_ns + target);
		s.draw_ns[i] = now_ns() - s.event_ns;
		s.flip_pending = true;
		ret = commit(&s, b, i == 0);
		if (ret == 0)
			ret = wait_event(&s);
		if (ret < 0) {
			printf("RESULT fail: frame %u: %s\n", i, strerror(-ret));
			return 1;
		}
		if (!s.o.quiet && s.o.draw)
			printf("frame %u latency_us %.1f target_us %.1f draw_us %.1f\n", i,
			       s.lat_ns[s.events - 1] / 1e3, target / 1e3, s.draw_ns[i] / 1e3);
		else if (!s.o.quiet)
			printf("frame %u latency_us %.1f\n", i, s.lat_ns[s.events - 1] / 1e3);
	}
	s.end_ns = now_ns();
	summary(&s);
	if (s.o.draw)
		draw_summary(&s, s.o.frames);
	printf("RESULT %s\n", s.events == s.o.frames ? "ok" : "fail: events missing");
	if (s.o.hold) {
		char line[16];
		if (!fgets(line, sizeof(line), stdin))
			line[0] = 0;
	}
	/* The fd is left to close at exit: the last frame stays on screen. */
	return s.events == s.o.frames ? 0 : 1;
}
