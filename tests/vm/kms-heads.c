// SPDX-License-Identifier: MIT
/*
 * kms-heads: runs in the board VM. Enumerates the virtio-gpu device (found by
 * driver name), modesets every head at 1024x768 with the atomic API and a
 * pattern distinct per head, prints READY and keeps the heads lit until a
 * line arrives on stdin (the host screendumps them meanwhile).
 *
 * Pattern (the host's check in test-kms-heads.py computes the same):
 *   quadrant q = 2 * (y >= h/2) + (x >= w/2),
 *   colour = palette[(2 * head + q) % 8], except rows with y % 128 < 8: black.
 *
 * Options, to prove the host check fails when it should:
 *   --wrong-colour HEAD  paint quadrant 0 of HEAD in a colour off by one step
 *   --skip HEAD          leave HEAD off
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
#include <drm_fourcc.h>

#include "drm-util.h"

#define HEADS  4
#define WIDTH  1024
#define HEIGHT 768

static const uint32_t palette[8] = {
	0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0x00ffff, 0xff00ff, 0xffffff, 0x808080,
};

struct head {
	uint32_t conn, crtc, plane, fb, handle, mode_blob;
	drmModeModeInfo mode;
};

static uint32_t pattern(int head, int x, int y, int wrong)
{
	int q = 2 * (y >= HEIGHT / 2) + (x >= WIDTH / 2);

	if (y % 128 < 8)
		return 0;
	if (wrong && q == 0)
		return palette[(2 * head + 1) % 8] ^ 0x010101;
	return palette[(2 * head + q) % 8];
}

static int make_fb(int fd, struct head *h, int idx, int wrong)
{
	struct drm_mode_create_dumb create = { .width = WIDTH, .height = HEIGHT, .bpp = 32 };
	struct drm_mode_map_dumb map = { 0 };
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	uint8_t *px;

	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &create) < 0) {
		fprintf(stderr, "head %d: CREATE_DUMB: %s\n", idx, strerror(errno));
		return -1;
	}
	h->handle = create.handle;
	map.handle = create.handle;
	if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &map) < 0) {
		fprintf(stderr, "head %d: MAP_DUMB: %s\n", idx, strerror(errno));
		return -1;
	}
	px = mmap(NULL, create.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, map.offset);
	if (px == MAP_FAILED) {
		fprintf(stderr, "head %d: mmap dumb buffer: %s\n", idx, strerror(errno));
		return -1;
	}
	for (int y = 0; y < HEIGHT; y++) {
		uint32_t *row = (uint32_t *)(px + (size_t)y * create.pitch);

		for (int x = 0; x < WIDTH; x++)
			row[x] = pattern(idx, x, y, wrong);
	}
	munmap(px, create.size);
	handles[0] = create.handle;
	pitches[0] = create.pitch;
	if (drmModeAddFB2(fd, WIDTH, HEIGHT, DRM_FORMAT_XRGB8888, handles, pitches, offsets, &h->fb,
			  0) < 0) {
		fprintf(stderr, "head %d: AddFB2: %s\n", idx, strerror(errno));
		return -1;
	}
	return 0;
}

/* Head i = CRTC index i; its connector is the i-th one (Virtual-(i+1)). */
static int setup_head(int fd, drmModeRes *res, int i, struct head *h)
{
	drmModeConnectorPtr c = drmModeGetConnector(fd, res->connectors[i]);
	int ret = -1;

	if (!c) {
		fprintf(stderr, "head %d: GetConnector: %s\n", i, strerror(errno));
		return -1;
	}
	h->conn = c->connector_id;
	h->crtc = res->crtcs[i];
	h->plane = kg_vmt_find_plane(fd, i, DRM_PLANE_TYPE_PRIMARY);
	if (!h->plane) {
		fprintf(stderr, "head %d: no primary plane for CRTC index %d\n", i, i);
		goto free_conn;
	}
	if (!kg_vmt_find_mode(c, WIDTH, HEIGHT, &h->mode)) {
		fprintf(stderr, "head %d: connector %u has no %dx%d mode (forced on?)\n", i,
			h->conn, WIDTH, HEIGHT);
		goto free_conn;
	}
	if (drmModeCreatePropertyBlob(fd, &h->mode, sizeof(h->mode), &h->mode_blob) < 0) {
		fprintf(stderr, "head %d: mode blob: %s\n", i, strerror(errno));
		goto free_conn;
	}
	ret = 0;
free_conn:
	drmModeFreeConnector(c);
	return ret;
}

static bool add_head(int fd, drmModeAtomicReq *req, struct head *h)
{
	const uint32_t C = DRM_MODE_OBJECT_CONNECTOR, R = DRM_MODE_OBJECT_CRTC,
		       P = DRM_MODE_OBJECT_PLANE;

	return kg_vmt_add(fd, req, h->conn, C, "CRTC_ID", h->crtc) &&
	       kg_vmt_add(fd, req, h->crtc, R, "MODE_ID", h->mode_blob) &&
	       kg_vmt_add(fd, req, h->crtc, R, "ACTIVE", 1) &&
	       kg_vmt_add(fd, req, h->plane, P, "FB_ID", h->fb) &&
	       kg_vmt_add(fd, req, h->plane, P, "CRTC_ID", h->crtc) &&
	       kg_vmt_add(fd, req, h->plane, P, "SRC_X", 0) &&
	       kg_vmt_add(fd, req, h->plane, P, "SRC_Y", 0) &&
	       kg_vmt_add(fd, req, h->plane, P, "SRC_W", (uint64_t)WIDTH << 16) &&
	       kg_vmt_add(fd, req, h->plane, P, "SRC_H", (uint64_t)HEIGHT << 16) &&
	       kg_vmt_add(fd, req, h->plane, P, "CRTC_X", 0) &&
	       kg_vmt_add(fd, req, h->plane, P, "CRTC_Y", 0) &&
	       kg_vmt_add(fd, req, h->plane, P, "CRTC_W", WIDTH) &&
	       kg_vmt_add(fd, req, h->plane, P, "CRTC_H", HEIGHT);
}

static int modeset(int fd, struct head *heads, int skip)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();
	int ret = -1;

	if (!req)
		return -1;
	for (int i = 0; i < HEADS; i++) {
		if (i != skip && !add_head(fd, req, &heads[i]))
			goto free_req;
	}
	if (drmModeAtomicCommit(fd, req, DRM_MODE_ATOMIC_ALLOW_MODESET, NULL) < 0) {
		fprintf(stderr, "atomic modeset of %d heads: %s\n", HEADS, strerror(errno));
		goto free_req;
	}
	ret = 0;
free_req:
	drmModeAtomicFree(req);
	return ret;
}

static int parse_head(const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*end || v < 0 || v >= HEADS) {
		fprintf(stderr, "bad head '%s' (0..%d)\n", arg, HEADS - 1);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "wrong-colour", required_argument, NULL, 'w' },
		{ "skip", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct head heads[HEADS] = { 0 };
	int wrong = -1, skip = -1, opt, fd, ret = 1;
	drmModeResPtr res;
	char line[64];

	while ((opt = getopt_long(argc, argv, "w:s:", longopts, NULL)) != -1) {
		if (opt == 'w')
			wrong = parse_head(optarg);
		else if (opt == 's')
			skip = parse_head(optarg);
		else
			return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = kg_vmt_open_card("virtio_gpu");
	if (fd < 0)
		return 1;
	if (drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) < 0 ||
	    drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) < 0) {
		fprintf(stderr, "atomic client caps: %s\n", strerror(errno));
		goto close_fd;
	}
	kg_vmt_print_resources(fd);
	res = drmModeGetResources(fd);
	if (!res || res->count_crtcs < HEADS || res->count_connectors < HEADS) {
		fprintf(stderr, "need %d CRTCs and connectors, have %d and %d\n", HEADS,
			res ? res->count_crtcs : 0, res ? res->count_connectors : 0);
		goto free_res;
	}
	for (int i = 0; i < HEADS; i++) {
		if (setup_head(fd, res, i, &heads[i]) < 0 ||
		    make_fb(fd, &heads[i], i, i == wrong) < 0)
			goto free_res;
		printf("head %d: connector %u crtc %u plane %u fb %u mode %s%s\n", i, heads[i].conn,
		       heads[i].crtc, heads[i].plane, heads[i].fb, heads[i].mode.name,
		       i == skip ? " (left off)" : "");
	}
	if (modeset(fd, heads, skip) < 0)
		goto free_res;
	printf("READY\n");
	/* Keep the heads lit until the host has looked (or stdin closes). */
	if (!fgets(line, sizeof(line), stdin))
		fprintf(stderr, "stdin closed before the host answered\n");
	ret = 0;
free_res:
	drmModeFreeResources(res);
close_fd:
	close(fd);
	return ret;
}
