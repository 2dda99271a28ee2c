/* SPDX-License-Identifier: MIT */
/*
 * flip-probe: the benchmark's guest workload. Runs inside a Linux guest,
 * draws a distinct full frame into one of three dumb buffers, page-flips to
 * it with an event and measures commit -> flip event per frame (CLOCK_MONOTONIC
 * taken right before the flip ioctl and when the event is read).
 *
 * Interim stand-in for tests/guest/kg-frames (the project's guest frame
 * program): the benchmark harness (bench/compare/run) parses the same kind of
 * summary from either. Output, one line each:
 *   PROBE-BEGIN device=... mode=WxH frames=N
 *   PROBE-LAT <us> <us> ...          (per-frame latency, 64 per line)
 *   PROBE-END frames=N ok=N failed=N timeouts=N missed_vblanks=N elapsed_us=N
 *             p50_us=N p99_us=N max_us=N
 * A "failed" flip is one the kernel refused (the frame never showed); a
 * "timeout" is a flip whose event did not arrive within 1 s; missed_vblanks
 * counts vblank sequence gaps on devices that have a vblank (vkms).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#define PROBE_BUFS	 3
#define PROBE_MAX_FRAMES 100000

struct probe_buf {
	uint32_t handle;
	uint32_t fb;
	uint32_t pitch;
	uint64_t size;
	uint32_t *map;
};

struct probe {
	int fd;
	uint32_t crtc;
	uint32_t conn;
	drmModeModeInfo mode;
	struct probe_buf buf[PROBE_BUFS];
	bool pending;
	unsigned int last_seq;
	bool have_seq;
	unsigned int missed_vblanks;
	uint64_t t_event;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int open_card(const char *path)
{
	char name[32];

	if (path)
		return open(path, O_RDWR | O_CLOEXEC);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "/dev/dri/card%d", i);
		int fd = open(name, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		drmModeRes *res = drmModeGetResources(fd);
		bool ok = res && res->count_crtcs > 0 && res->count_connectors > 0;
		drmModeFreeResources(res);
		if (ok)
			return fd;
		close(fd);
	}
	errno = ENODEV;
	return -1;
}

static bool pick_mode(drmModeConnector *c, int w, int h, drmModeModeInfo *out)
{
	for (int i = 0; i < c->count_modes; i++) {
		if (w == 0 || (c->modes[i].hdisplay == w && c->modes[i].vdisplay == h)) {
			*out = c->modes[i];
			return true;
		}
	}
	return false;
}

/* First connected connector with a mode of w x h (any when w is 0) and a CRTC
 * its encoders can drive. */
static bool pick_output(struct probe *p, int w, int h)
{
	drmModeRes *res = drmModeGetResources(p->fd);
	bool found = false;

	if (!res)
		return false;
	for (int i = 0; i < res->count_connectors && !found; i++) {
		drmModeConnector *c = drmModeGetConnector(p->fd, res->connectors[i]);
		if (!c)
			continue;
		if (c->connection == DRM_MODE_CONNECTED && c->count_encoders > 0 &&
		    pick_mode(c, w, h, &p->mode)) {
			drmModeEncoder *e = drmModeGetEncoder(p->fd, c->encoders[0]);
			for (int k = 0; e && k < res->count_crtcs; k++) {
				if (e->possible_crtcs & (1u << k)) {
					p->crtc = res->crtcs[k];
					p->conn = c->connector_id;
					found = true;
					break;
				}
			}
			drmModeFreeEncoder(e);
		}
		drmModeFreeConnector(c);
	}
	drmModeFreeResources(res);
	return found;
}

static bool buf_create(int fd, struct probe_buf *b, uint32_t w, uint32_t h)
{
	struct drm_mode_create_dumb cd = { .width = w, .height = h, .bpp = 32 };
	struct drm_mode_map_dumb md = { 0 };

	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd))
		return false;
	b->handle = cd.handle;
	b->pitch = cd.pitch;
	b->size = cd.size;
	if (drmModeAddFB(fd, w, h, 24, 32, b->pitch, b->handle, &b->fb))
		return false;
	md.handle = b->handle;
	if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md))
		return false;
	b->map = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, md.offset);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return false;
	}
	return true;
}

static void buf_destroy(int fd, struct probe_buf *b)
{
	struct drm_mode_destroy_dumb dd = { .handle = b->handle };

	if (b->map)
		munmap(b->map, b->size);
	if (b->fb)
		drmModeRmFB(fd, b->fb);
	if (b->handle)
		drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &dd);
}

/* Frame n: a background colour from n and a vertical bar that moves, so that
 * every frame differs in every row (a full-frame update, like video). */
static void draw(struct probe_buf *b, uint32_t w, uint32_t h, unsigned int n)
{
	uint32_t bg = 0xff000000u | ((n * 37u) & 0xff) << 16 | ((n * 11u) & 0xff) << 8 | 0x40;
	uint32_t bar_x = (n * 8u) % (w > 32 ? w - 32 : 1);

	for (uint32_t y = 0; y < h; y++) {
		uint32_t *row = (uint32_t *)((char *)b->map + (size_t)y * b->pitch);
		for (uint32_t x = 0; x < w; x++)
			row[x] = (x >= bar_x && x < bar_x + 32) ? 0xffffffffu : bg;
	}
}

static void on_flip(int fd, unsigned int seq, unsigned int sec, unsigned int usec, void *data)
{
	struct probe *p = data;

	p->t_event = now_us();
	p->pending = false;
	if (seq != 0 && p->have_seq && seq > p->last_seq + 1)
		p->missed_vblanks += seq - p->last_seq - 1;
	p->last_seq = seq;
	p->have_seq = seq != 0;
}

/* Waits up to 1 s for the pending flip's event; false on timeout. */
static bool wait_flip(struct probe *p)
{
	drmEventContext ev = { .version = 2, .page_flip_handler = on_flip };
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	uint64_t deadline = now_us() + 1000000u;

	while (p->pending) {
		uint64_t t = now_us();
		if (t >= deadline)
			return false;
		int r = poll(&pfd, 1, (int)((deadline - t) / 1000u) + 1);
		if (r < 0 && errno != EINTR)
			return false;
		if (r > 0)
			drmHandleEvent(p->fd, &ev);
	}
	return true;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t pct(const uint32_t *sorted, unsigned int n, unsigned int p)
{
	if (n == 0)
		return 0;
	/* Nearest rank: the smallest value with at least p% at or below it. */
	unsigned int rank = (p * n + 99) / 100;
	return sorted[rank ? rank - 1 : 0];
}

static void report(struct probe *p, uint32_t *lat, unsigned int ok, unsigned int frames,
		   unsigned int failed, unsigned int timeouts, uint64_t elapsed)
{
	for (unsigned int i = 0; i < ok; i++)
		printf("%s%" PRIu32 "%s", i % 64 ? " " : "PROBE-LAT ", lat[i],
		       (i % 64 == 63 || i + 1 == ok) ? "\n" : "");
	qsort(lat, ok, sizeof(*lat), cmp_u32);
	printf("PROBE-END frames=%u ok=%u failed=%u timeouts=%u missed_vblanks=%u "
	       "elapsed_us=%" PRIu64 " p50_us=%" PRIu32 " p99_us=%" PRIu32 " max_us=%" PRIu32 "\n",
	       frames, ok, failed, timeouts, p->missed_vblanks, elapsed, pct(lat, ok, 50),
	       pct(lat, ok, 99), ok ? lat[ok - 1] : 0);
	fflush(stdout);
}

static int run(struct probe *p, unsigned int frames)
{
	uint32_t w = p->mode.hdisplay, h = p->mode.vdisplay;
	uint32_t *lat = calloc(frames, sizeof(*lat));
	unsigned int ok = 0, failed = 0, timeouts = 0;

	if (!lat)
		return 1;
	draw(&p->buf[0], w, h, 0);
	if (drmModeSetCrtc(p->fd, p->crtc, p->buf[0].fb, 0, 0, &p->conn, 1, &p->mode)) {
		fprintf(stderr, "flip-probe: SetCrtc %ux%u: %s\n", w, h, strerror(errno));
		free(lat);
		return 1;
	}
	printf("PROBE-BEGIN mode=%ux%u frames=%u\n", w, h, frames);
	fflush(stdout);
	uint64_t t0 = now_us();
	for (unsigned int n = 1; n <= frames; n++) {
		struct probe_buf *b = &p->buf[n % PROBE_BUFS];
		draw(b, w, h, n);
		uint64_t tc = now_us();
		p->pending = true;
		if (drmModePageFlip(p->fd, p->crtc, b->fb, DRM_MODE_PAGE_FLIP_EVENT, p)) {
			p->pending = false;
			failed++;
			continue;
		}
		if (!wait_flip(p)) {
			timeouts++;
			break; /* the event may still come: stop rather than queue on top */
		}
		lat[ok++] = (uint32_t)(p->t_event - tc);
	}
	report(p, lat, ok, frames, failed, timeouts, now_us() - t0);
	free(lat);
	return failed || timeouts ? 2 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: flip-probe [-d /dev/dri/cardN] [-n FRAMES] [-m WxH]\n"
		   "Flips FRAMES (default 300) distinct full frames on the first connected\n"
		   "output and prints commit -> flip-event latency per frame and a summary.\n"
		   "Exit status: 0 all flips shown, 1 setup failed, 2 some flips failed.\n");
}

int main(int argc, char **argv)
{
	struct probe p = { .fd = -1 };
	const char *dev = NULL;
	unsigned int frames = 300;
	int w = 0, h = 0, ret = 1, opt;

	while ((opt = getopt(argc, argv, "d:n:m:h")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 'n':
			frames = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			if (sscanf(optarg, "%dx%d", &w, &h) != 2 || w <= 0 || h <= 0) {
				usage(stderr);
				return 1;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (frames == 0 || frames > PROBE_MAX_FRAMES) {
		fprintf(stderr, "flip-probe: -n must be 1..%d\n", PROBE_MAX_FRAMES);
		return 1;
	}
	p.fd = open_card(dev);
	if (p.fd < 0) {
		fprintf(stderr, "flip-probe: no KMS device (%s): %s\n",
			dev ? dev : "/dev/dri/card*", strerror(errno));
		return 1;
	}
	if (!pick_output(&p, w, h)) {
		fprintf(stderr, "flip-probe: no connected output with mode %dx%d\n", w, h);
		goto out_fd;
	}
	for (int i = 0; i < PROBE_BUFS; i++) {
		if (!buf_create(p.fd, &p.buf[i], p.mode.hdisplay, p.mode.vdisplay)) {
			fprintf(stderr, "flip-probe: dumb buffer %d: %s\n", i, strerror(errno));
			goto out_bufs;
		}
	}
	ret = run(&p, frames);
out_bufs:
	for (int i = 0; i < PROBE_BUFS; i++)
		buf_destroy(p.fd, &p.buf[i]);
out_fd:
	close(p.fd);
	return ret;
}
