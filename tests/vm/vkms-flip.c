// SPDX-License-Identifier: MIT
/*
 * vkms-flip: runs in the board VM on vkms (found by driver name). Proves the
 * zero-copy path kmsgate relies on: memfd -> UDMABUF_CREATE -> PRIME import ->
 * AddFB2, page-flipped with atomic commits, and the frame read back through
 * the writeback connector, pixel-exact.
 *
 * Prints one "FLIP n=K seq=N t=SEC.USEC commit=SEC.NSEC" line per flip event
 * (K: the number of the commit, t: the vblank time, commit: when the commit
 * was made, both CLOCK_MONOTONIC); the host checks them with
 * kgvm.check_flips (~16.7 ms period, sequence +1, no flip missed). Then
 * "WRITEBACK pixels=N mismatches=M" and "FDS before=A after=B".
 * Exit 0 only when writeback matched and no fd leaked.
 *
 *   --seconds S      flip for S seconds (default 2)
 *   --hide-event N   do not report the N-th flip event, as if it had been
 *                    lost (the host must notice)
 *   --modesets N     then turn the CRTC off and on N times, one flip between
 *                    (vblank running), and print "MODESETS n=N in S s": each
 *                    turn-off cancels vkms' vblank timer while it may be
 *                    firing on the other vCPU, where 6.12's vkms froze the
 *                    VM (tests/vm/vkms-patches/0002)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/udmabuf.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
#include <drm_fourcc.h>

#include "drm-util.h"

#define WIDTH  1024
#define HEIGHT 768

struct ubuf {
	int memfd, dmabuf;
	uint32_t handle, fb;
	uint32_t *px;
	size_t size;
};

struct pipe {
	uint32_t crtc, conn, wb_conn, plane, mode_blob;
};

struct flips {
	unsigned int count, commits, hide;
	bool quiet; /* the modeset storm's flips are not reported */
	struct timespec commit_time;
	int pending;
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the DIR's own fd */
}

static uint32_t pattern(int seed, int x, int y)
{
	return ((uint32_t)x * 0x010203u * (uint32_t)seed + (uint32_t)y * 0x030107u) & 0xffffff;
}

static void ubuf_destroy(int fd, struct ubuf *b)
{
	if (b->fb)
		drmModeRmFB(fd, b->fb);
	if (b->handle)
		drmCloseBufferHandle(fd, b->handle);
	if (b->px && b->px != MAP_FAILED)
		munmap(b->px, b->size);
	if (b->dmabuf >= 0)
		close(b->dmabuf);
	if (b->memfd >= 0)
		close(b->memfd);
	*b = (struct ubuf){ .memfd = -1, .dmabuf = -1 };
}

static int udmabuf_from_memfd(int memfd, size_t size)
{
	struct udmabuf_create create = {
		.memfd = (uint32_t)memfd, .flags = UDMABUF_FLAGS_CLOEXEC, .offset = 0, .size = size
	};
	int dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	int buf;

	if (dev < 0) {
		fprintf(stderr, "open /dev/udmabuf: %s (kernel without CONFIG_UDMABUF?)\n",
			strerror(errno));
		return -1;
	}
	buf = ioctl(dev, UDMABUF_CREATE, &create);
	if (buf < 0)
		fprintf(stderr, "UDMABUF_CREATE: %s\n", strerror(errno));
	close(dev);
	return buf;
}

/* A framebuffer whose memory is a memfd the CPU writes and the display reads. */
static int ubuf_create(int fd, struct ubuf *b, int seed)
{
	uint32_t handles[4] = { 0 }, pitches[4] = { WIDTH * 4 }, offsets[4] = { 0 };

	*b = (struct ubuf){ .memfd = -1, .dmabuf = -1, .size = (size_t)WIDTH * HEIGHT * 4 };
	b->memfd = memfd_create("vkms-flip", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (b->memfd < 0 || ftruncate(b->memfd, (off_t)b->size) < 0 ||
	    fcntl(b->memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		fprintf(stderr, "memfd (create, size, seal): %s\n", strerror(errno));
		goto fail;
	}
	b->px = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, b->memfd, 0);
	if (b->px == MAP_FAILED) {
		fprintf(stderr, "mmap memfd: %s\n", strerror(errno));
		goto fail;
	}
	for (int y = 0; y < HEIGHT; y++)
		for (int x = 0; x < WIDTH; x++)
			b->px[y * WIDTH + x] = seed ? pattern(seed, x, y) : 0xdeadbeef;
	b->dmabuf = udmabuf_from_memfd(b->memfd, b->size);
	if (b->dmabuf < 0)
		goto fail;
	if (drmPrimeFDToHandle(fd, b->dmabuf, &b->handle) < 0) {
		fprintf(stderr, "drmPrimeFDToHandle(udmabuf): %s\n", strerror(errno));
		goto fail;
	}
	handles[0] = b->handle;
	if (drmModeAddFB2(fd, WIDTH, HEIGHT, DRM_FORMAT_XRGB8888, handles, pitches, offsets, &b->fb,
			  0) < 0) {
		fprintf(stderr, "AddFB2 on udmabuf: %s\n", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	ubuf_destroy(fd, b);
	return -1;
}

static int find_pipe(int fd, struct pipe *p)
{
	drmModeResPtr res = drmModeGetResources(fd);
	drmModeConnectorPtr real = NULL;
	drmModeModeInfo mode;
	int ret = -1;

	if (!res || res->count_crtcs < 1) {
		fprintf(stderr, "vkms: no CRTC\n");
		goto free_res;
	}
	p->crtc = res->crtcs[0];
	for (int i = 0; i < res->count_connectors; i++) {
		drmModeConnectorPtr c = drmModeGetConnector(fd, res->connectors[i]);

		if (c && c->connector_type == DRM_MODE_CONNECTOR_WRITEBACK) {
			p->wb_conn = c->connector_id;
		} else if (c && !real) {
			real = c;
			continue;
		}
		drmModeFreeConnector(c);
	}
	p->plane = kg_vmt_find_plane(fd, 0, DRM_PLANE_TYPE_PRIMARY);
	if (!real || !p->wb_conn || !p->plane) {
		fprintf(stderr, "vkms: need a connector, a writeback connector and a primary plane "
				"(loaded with enable_writeback=1?)\n");
		goto free_conn;
	}
	p->conn = real->connector_id;
	if (!kg_vmt_find_mode(real, WIDTH, HEIGHT, &mode) ||
	    drmModeCreatePropertyBlob(fd, &mode, sizeof(mode), &p->mode_blob) < 0) {
		fprintf(stderr, "vkms: no %dx%d mode or blob\n", WIDTH, HEIGHT);
		goto free_conn;
	}
	printf("pipe: crtc %u connector %u writeback %u plane %u mode %s@%u\n", p->crtc, p->conn,
	       p->wb_conn, p->plane, mode.name, mode.vrefresh);
	ret = 0;
free_conn:
	drmModeFreeConnector(real);
free_res:
	drmModeFreeResources(res);
	return ret;
}

static bool add_plane(int fd, drmModeAtomicReq *req, const struct pipe *p, uint32_t fb)
{
	const uint32_t P = DRM_MODE_OBJECT_PLANE;

	return kg_vmt_add(fd, req, p->plane, P, "FB_ID", fb) &&
	       kg_vmt_add(fd, req, p->plane, P, "CRTC_ID", p->crtc) &&
	       kg_vmt_add(fd, req, p->plane, P, "SRC_X", 0) &&
	       kg_vmt_add(fd, req, p->plane, P, "SRC_Y", 0) &&
	       kg_vmt_add(fd, req, p->plane, P, "SRC_W", (uint64_t)WIDTH << 16) &&
	       kg_vmt_add(fd, req, p->plane, P, "SRC_H", (uint64_t)HEIGHT << 16) &&
	       kg_vmt_add(fd, req, p->plane, P, "CRTC_X", 0) &&
	       kg_vmt_add(fd, req, p->plane, P, "CRTC_Y", 0) &&
	       kg_vmt_add(fd, req, p->plane, P, "CRTC_W", WIDTH) &&
	       kg_vmt_add(fd, req, p->plane, P, "CRTC_H", HEIGHT);
}

static int commit(int fd, drmModeAtomicReq *req, uint32_t flags, void *data, const char *what)
{
	int ret = drmModeAtomicCommit(fd, req, flags, data);

	if (ret < 0)
		fprintf(stderr, "atomic commit (%s): %s\n", what, strerror(errno));
	drmModeAtomicFree(req);
	return ret;
}

static int modeset(int fd, const struct pipe *p, uint32_t fb)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();

	if (!req || !kg_vmt_add(fd, req, p->conn, DRM_MODE_OBJECT_CONNECTOR, "CRTC_ID", p->crtc) ||
	    !kg_vmt_add(fd, req, p->crtc, DRM_MODE_OBJECT_CRTC, "MODE_ID", p->mode_blob) ||
	    !kg_vmt_add(fd, req, p->crtc, DRM_MODE_OBJECT_CRTC, "ACTIVE", 1) ||
	    !add_plane(fd, req, p, fb)) {
		drmModeAtomicFree(req);
		return -1;
	}
	return commit(fd, req, DRM_MODE_ATOMIC_ALLOW_MODESET, NULL, "modeset");
}

static int flip(int fd, const struct pipe *p, uint32_t fb, struct flips *f)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();

	if (!req || !kg_vmt_add(fd, req, p->plane, DRM_MODE_OBJECT_PLANE, "FB_ID", fb)) {
		drmModeAtomicFree(req);
		return -1;
	}
	f->pending = 1;
	f->commits++;
	clock_gettime(CLOCK_MONOTONIC, &f->commit_time);
	return commit(fd, req, DRM_MODE_PAGE_FLIP_EVENT | DRM_MODE_ATOMIC_NONBLOCK, f, "flip");
}

static void on_flip(int fd, unsigned int seq, unsigned int sec, unsigned int usec,
		    unsigned int crtc, void *data)
{
	struct flips *f = data;

	f->pending = 0;
	if (f->quiet)
		return;
	f->count++;
	if (f->count == f->hide) {
		printf("hiding the event of commit %u\n", f->commits);
		return;
	}
	printf("FLIP n=%u seq=%u t=%u.%06u commit=%lld.%09ld crtc=%u\n", f->commits, seq, sec, usec,
	       (long long)f->commit_time.tv_sec, f->commit_time.tv_nsec, crtc);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int wait_event(int fd, drmEventContext *ev, struct flips *f)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (f->pending) {
		int n = poll(&pfd, 1, 1000);

		if (n <= 0) {
			fprintf(stderr, "no flip event within 1 s (%s)\n",
				n ? strerror(errno) : "timeout");
			return -1;
		}
		if (drmHandleEvent(fd, ev) < 0) {
			fprintf(stderr, "drmHandleEvent: %s\n", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int flip_loop(int fd, const struct pipe *p, struct ubuf *bufs, double seconds,
		     struct flips *f, int *shown)
{
	drmEventContext ev = { .version = 3, .page_flip_handler2 = on_flip };
	double end = now_s() + seconds;

	while (now_s() < end) {
		int next = !*shown;

		if (flip(fd, p, bufs[next].fb, f) < 0 || wait_event(fd, &ev, f) < 0)
			return -1;
		*shown = next;
	}
	printf("flips: %u in %.1f s\n", f->count, seconds);
	return 0;
}

static int crtc_off(int fd, const struct pipe *p)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();

	if (!req || !kg_vmt_add(fd, req, p->conn, DRM_MODE_OBJECT_CONNECTOR, "CRTC_ID", 0) ||
	    !kg_vmt_add(fd, req, p->crtc, DRM_MODE_OBJECT_CRTC, "MODE_ID", 0) ||
	    !kg_vmt_add(fd, req, p->crtc, DRM_MODE_OBJECT_CRTC, "ACTIVE", 0) ||
	    !kg_vmt_add(fd, req, p->plane, DRM_MODE_OBJECT_PLANE, "FB_ID", 0) ||
	    !kg_vmt_add(fd, req, p->plane, DRM_MODE_OBJECT_PLANE, "CRTC_ID", 0)) {
		drmModeAtomicFree(req);
		return -1;
	}
	return commit(fd, req, DRM_MODE_ATOMIC_ALLOW_MODESET, NULL, "CRTC off");
}

/* Off, on, one flip (so the vblank timer runs when the next off comes). */
static int modeset_storm(int fd, const struct pipe *p, struct ubuf *bufs, unsigned int n,
			 struct flips *f, int *shown)
{
	drmEventContext ev = { .version = 3, .page_flip_handler2 = on_flip };
	double t0 = now_s();

	f->quiet = true;
	for (unsigned int i = 0; i < n; i++) {
		int next = !*shown;

		if (crtc_off(fd, p) < 0 || modeset(fd, p, bufs[*shown].fb) < 0 ||
		    flip(fd, p, bufs[next].fb, f) < 0 || wait_event(fd, &ev, f) < 0) {
			fprintf(stderr, "modeset %u of %u failed\n", i + 1, n);
			return -1;
		}
		*shown = next;
	}
	f->quiet = false;
	printf("MODESETS n=%u in %.1f s\n", n, now_s() - t0);
	return 0;
}

/* Writeback cannot share the CRTC with the real connector (clone masks):
 * detach it and let the writeback connector take the CRTC in one commit. */
static int writeback(int fd, const struct pipe *p, const struct ubuf *out)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();
	const uint32_t C = DRM_MODE_OBJECT_CONNECTOR;
	int32_t fence = -1;
	struct pollfd pfd;
	int ret;

	if (!req || !kg_vmt_add(fd, req, p->conn, C, "CRTC_ID", 0) ||
	    !kg_vmt_add(fd, req, p->wb_conn, C, "CRTC_ID", p->crtc) ||
	    !kg_vmt_add(fd, req, p->wb_conn, C, "WRITEBACK_FB_ID", out->fb) ||
	    !kg_vmt_add(fd, req, p->wb_conn, C, "WRITEBACK_OUT_FENCE_PTR",
			(uint64_t)(uintptr_t)&fence)) {
		drmModeAtomicFree(req);
		return -1;
	}
	double t0 = now_s();
	if (commit(fd, req, DRM_MODE_ATOMIC_ALLOW_MODESET, NULL, "writeback") < 0)
		return -1;
	if (fence < 0) {
		fprintf(stderr, "writeback: no out fence\n");
		return -1;
	}
	pfd = (struct pollfd){ .fd = fence, .events = POLLIN };
	ret = poll(&pfd, 1, 5000);
	close(fence);
	if (ret != 1) {
		fprintf(stderr, "writeback fence not signalled within 5 s\n");
		return -1;
	}
	printf("writeback done in %.1f ms\n", (now_s() - t0) * 1000);
	return 0;
}

static size_t compare(const struct ubuf *got, const struct ubuf *want)
{
	size_t bad = 0;

	for (size_t i = 0; i < (size_t)WIDTH * HEIGHT; i++) {
		if ((got->px[i] & 0xffffff) == (want->px[i] & 0xffffff))
			continue;
		if (bad++ < 5)
			fprintf(stderr, "writeback pixel (%zu,%zu) %06x, expected %06x\n",
				i % WIDTH, i / WIDTH, got->px[i] & 0xffffff,
				want->px[i] & 0xffffff);
	}
	return bad;
}

static int run(int fd, double seconds, unsigned int hide, unsigned int modesets)
{
	struct ubuf bufs[2] = { { .memfd = -1, .dmabuf = -1 }, { .memfd = -1, .dmabuf = -1 } };
	struct ubuf out = { .memfd = -1, .dmabuf = -1 };
	struct flips f = { .hide = hide };
	struct pipe p = { 0 };
	int shown = 0, ret = -1;
	size_t bad;

	if (find_pipe(fd, &p) < 0)
		return -1;
	if (ubuf_create(fd, &bufs[0], 1) < 0 || ubuf_create(fd, &bufs[1], 2) < 0 ||
	    ubuf_create(fd, &out, 0) < 0)
		goto destroy;
	printf("udmabuf framebuffers: %u %u, writeback target %u\n", bufs[0].fb, bufs[1].fb,
	       out.fb);
	if (modeset(fd, &p, bufs[0].fb) < 0 || flip_loop(fd, &p, bufs, seconds, &f, &shown) < 0 ||
	    (modesets && modeset_storm(fd, &p, bufs, modesets, &f, &shown) < 0) ||
	    writeback(fd, &p, &out) < 0)
		goto destroy;
	bad = compare(&out, &bufs[shown]);
	printf("WRITEBACK pixels=%d mismatches=%zu (frame of fb %u)\n", WIDTH * HEIGHT, bad,
	       bufs[shown].fb);
	ret = bad ? -1 : 0;
destroy:
	ubuf_destroy(fd, &out);
	ubuf_destroy(fd, &bufs[1]);
	ubuf_destroy(fd, &bufs[0]);
	if (p.mode_blob)
		drmModeDestroyPropertyBlob(fd, p.mode_blob);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "hide-event", required_argument, NULL, 'e' },
		{ "modesets", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	double seconds = 2;
	unsigned int hide = 0, modesets = 0;
	int opt, fd, before, after, ret;

	while ((opt = getopt_long(argc, argv, "s:e:m:", longopts, NULL)) != -1) {
		if (opt == 's')
			seconds = atof(optarg);
		else if (opt == 'e')
			hide = (unsigned int)strtoul(optarg, NULL, 10);
		else if (opt == 'm')
			modesets = (unsigned int)strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	before = count_fds();
	fd = kg_vmt_open_card("vkms");
	if (fd < 0)
		return 1;
	if (drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) < 0 ||
	    drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) < 0 ||
	    drmSetClientCap(fd, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, 1) < 0) {
		fprintf(stderr, "client caps (atomic, writeback): %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	kg_vmt_print_resources(fd);
	ret = run(fd, seconds, hide, modesets);
	close(fd);
	after = count_fds();
	printf("FDS before=%d after=%d\n", before, after);
	if (before != after) {
		fprintf(stderr, "fd leak: %d fds before, %d after\n", before, after);
		ret = -1;
	}
	return ret < 0 ? 1 : 0;
}
