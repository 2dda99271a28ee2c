// SPDX-License-Identifier: MIT
/*
 * kg-wb-grab: reads back what vkms shows, through its writeback connector,
 * while kmsgate-vgpu drives the card (board VM, e2e suite).
 *
 * kmsgate-vgpu is the card's DRM master, and only the master may commit.
 * So the tool borrows kmsgate-vgpu's own open file of the card
 * (pidfd_getfd: the same file description, hence the same master and the
 * same framebuffer ids), stops kmsgate-vgpu (SIGSTOP) so that no commit of
 * its own runs meanwhile, and makes two blocking commits on that file: the
 * CRTC moves from the Virtual connector to Writeback-1 with a dumb buffer
 * as the writeback target (vkms' encoder clone masks forbid both at once),
 * then back. The plane state (kmsgate-vgpu's framebuffer) is untouched.
 * SIGCONT follows in every case. No event is asked for: events would go
 * to kmsgate-vgpu's queue. The writeback cap is set on that shared file
 * (kmsgate-vgpu's connector pick ignores writeback connectors).
 *
 * Output (stdout):
 *   WB-FRAME W H ms=T             the readback (T: commit to fence)
 *   WB-ROW Y RRGGBB...            GWxGH samples, the centre of each cell
 *   WB-DIFF N of M                pixels that differ from --compare FILE
 * Exit 0 when the readback worked (the pixels are the host's to judge).
 *
 *   kg-wb-grab --pid PID [--grid 64x48] [--save FILE] [--compare FILE]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <drm_fourcc.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "drm-util.h"

struct pipe {
	uint32_t crtc, conn, wb_conn;
	uint32_t w, h;
};

struct dumb {
	uint32_t handle, fb, pitch;
	uint64_t size;
	uint32_t *px;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* kmsgate-vgpu's open file of the vkms card, duplicated into this process. */
static int borrow_card(pid_t pid)
{
	char dir[64], path[320], target[256];
	int pidfd, found = -1;
	struct dirent *e;
	DIR *d;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		fprintf(stderr, "pidfd_open %d: %s\n", (int)pid, strerror(errno));
		return -1;
	}
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	while (d && found < 0 && (e = readdir(d))) {
		ssize_t n;
		int fd;
		drmVersionPtr v;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, "/dev/dri/card", 13) != 0)
			continue;
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(e->d_name), 0);
		if (fd < 0) {
			fprintf(stderr, "pidfd_getfd %s: %s\n", path, strerror(errno));
			continue;
		}
		v = drmGetVersion(fd);
		if (v && strcmp(v->name, "vkms") == 0)
			found = fd;
		else
			close(fd);
		drmFreeVersion(v);
	}
	if (d)
		closedir(d);
	close(pidfd);
	if (found < 0)
		fprintf(stderr, "process %d has no vkms card open\n", (int)pid);
	return found;
}

static int find_pipe(int fd, struct pipe *p)
{
	drmModeResPtr res = drmModeGetResources(fd);
	drmModeCrtcPtr crtc;

	if (!res || res->count_crtcs < 1) {
		fprintf(stderr, "vkms: no CRTC\n");
		drmModeFreeResources(res);
		return -1;
	}
	p->crtc = res->crtcs[0];
	for (int i = 0; i < res->count_connectors; i++) {
		drmModeConnectorPtr c = drmModeGetConnector(fd, res->connectors[i]);

		if (c && c->connector_type == DRM_MODE_CONNECTOR_WRITEBACK)
			p->wb_conn = c->connector_id;
		else if (c && !p->conn)
			p->conn = c->connector_id;
		drmModeFreeConnector(c);
	}
	drmModeFreeResources(res);
	crtc = drmModeGetCrtc(fd, p->crtc);
	if (crtc && crtc->mode_valid) {
		p->w = crtc->mode.hdisplay;
		p->h = crtc->mode.vdisplay;
	}
	drmModeFreeCrtc(crtc);
	if (!p->conn || !p->wb_conn || !p->w) {
		fprintf(stderr, "vkms: need an active CRTC, a connector and a writeback connector "
				"(vkms enable_writeback=1)\n");
		return -1;
	}
	return 0;
}

static int dumb_create(int fd, uint32_t w, uint32_t h, struct dumb *b)
{
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	uint64_t off;

	if (drmModeCreateDumbBuffer(fd, w, h, 32, 0, &b->handle, &b->pitch, &b->size) < 0) {
		fprintf(stderr, "dumb buffer: %s\n", strerror(errno));
		return -1;
	}
	handles[0] = b->handle;
	pitches[0] = b->pitch;
	if (drmModeAddFB2(fd, w, h, DRM_FORMAT_XRGB8888, handles, pitches, offsets, &b->fb, 0) <
		    0 ||
	    drmModeMapDumbBuffer(fd, b->handle, &off) < 0) {
		fprintf(stderr, "dumb fb/map: %s\n", strerror(errno));
		return -1;
	}
	b->px = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	if (b->px == MAP_FAILED) {
		b->px = NULL;
		fprintf(stderr, "mmap dumb: %s\n", strerror(errno));
		return -1;
	}
	memset(b->px, 0, b->size);
	return 0;
}

static void dumb_destroy(int fd, struct dumb *b)
{
	if (b->px)
		munmap(b->px, b->size);
	if (b->fb)
		drmModeRmFB(fd, b->fb);
	if (b->handle)
		drmModeDestroyDumbBuffer(fd, b->handle);
}

static int commit_route(int fd, const struct pipe *p, bool to_wb, uint32_t wb_fb, int32_t *fence)
{
	const uint32_t C = DRM_MODE_OBJECT_CONNECTOR;
	drmModeAtomicReq *req = drmModeAtomicAlloc();
	bool ok = req && kg_vmt_add(fd, req, p->conn, C, "CRTC_ID", to_wb ? 0 : p->crtc) &&
		  kg_vmt_add(fd, req, p->wb_conn, C, "CRTC_ID", to_wb ? p->crtc : 0);
	int ret = -1;

	if (ok && to_wb)
		ok = kg_vmt_add(fd, req, p->wb_conn, C, "WRITEBACK_FB_ID", wb_fb) &&
		     kg_vmt_add(fd, req, p->wb_conn, C, "WRITEBACK_OUT_FENCE_PTR",
				(uint64_t)(uintptr_t)fence);
	if (ok) {
		ret = drmModeAtomicCommit(fd, req, DRM_MODE_ATOMIC_ALLOW_MODESET, NULL);
		if (ret < 0)
			fprintf(stderr, "atomic commit (%s): %s\n",
				to_wb ? "to writeback" : "back to the connector", strerror(errno));
	}
	drmModeAtomicFree(req);
	return ret;
}

/* The two commits; the caller has stopped kmsgate-vgpu. */
static int readback(int fd, const struct pipe *p, const struct dumb *out, double *ms)
{
	int32_t fence = -1;
	struct pollfd pfd;
	double t0 = now_s();
	int ret = commit_route(fd, p, true, out->fb, &fence);

	if (ret == 0 && fence >= 0) {
		pfd = (struct pollfd){ .fd = fence, .events = POLLIN };
		if (poll(&pfd, 1, 10000) != 1) {
			fprintf(stderr, "writeback fence not signalled within 10 s\n");
			ret = -1;
		}
		*ms = (now_s() - t0) * 1000;
	} else if (ret == 0) {
		fprintf(stderr, "writeback: no out fence\n");
		ret = -1;
	}
	if (fence >= 0)
		close(fence);
	/* Back to the connector whatever happened. */
	if (commit_route(fd, p, false, 0, NULL) < 0)
		ret = -1;
	return ret;
}

static int stop_process(pid_t pid)
{
	char path[64], buf[512], *s;
	FILE *f;

	if (kill(pid, SIGSTOP) < 0) {
		fprintf(stderr, "SIGSTOP %d: %s\n", (int)pid, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 500; i++) {
		f = fopen(path, "r");
		if (!f)
			return -1;
		s = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		if (s && (s[2] == 'T' || s[2] == 't'))
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "process %d did not stop\n", (int)pid);
	return -1;
}

static void print_grid(const struct dumb *b, const struct pipe *p, unsigned gw, unsigned gh)
{
	for (unsigned gy = 0; gy < gh; gy++) {
		unsigned y = (2 * gy + 1) * p->h / (2 * gh);

		printf("WB-ROW %u ", gy);
		for (unsigned gx = 0; gx < gw; gx++) {
			unsigned x = (2 * gx + 1) * p->w / (2 * gw);

			printf("%06x", b->px[y * (b->pitch / 4) + x] & 0xffffff);
		}
		printf("\n");
	}
}

static int compare(const char *path, const struct dumb *b, const struct pipe *p)
{
	size_t row = (size_t)p->w * 4, differ = 0;
	uint32_t *line = malloc(row);
	FILE *f = fopen(path, "rb");

	if (!f || !line) {
		fprintf(stderr, "--compare %s: %s\n", path, strerror(errno));
		free(line);
		if (f)
			fclose(f);
		return -1;
	}
	for (uint32_t y = 0; y < p->h; y++) {
		if (fread(line, 1, row, f) != row) {
			fprintf(stderr, "--compare %s: short file\n", path);
			break;
		}
		for (uint32_t x = 0; x < p->w; x++)
			differ +=
				(line[x] & 0xffffff) != (b->px[y * (b->pitch / 4) + x] & 0xffffff);
	}
	fclose(f);
	free(line);
	printf("WB-DIFF %zu of %u\n", differ, p->w * p->h);
	return 0;
}

static int save(const char *path, const struct dumb *b, const struct pipe *p)
{
	FILE *f = fopen(path, "wb");
	int ret = 0;

	if (!f)
		return -1;
	for (uint32_t y = 0; y < p->h && !ret; y++)
		if (fwrite((const char *)b->px + (size_t)y * b->pitch, 1, (size_t)p->w * 4, f) !=
		    (size_t)p->w * 4)
			ret = -1;
	if (fclose(f))
		ret = -1;
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "pid", 1, 0, 'p' },
					      { "grid", 1, 0, 'g' },
					      { "save", 1, 0, 's' },
					      { "compare", 1, 0, 'c' },
					      { 0, 0, 0, 0 } };
	const char *save_path = NULL, *cmp_path = NULL;
	unsigned gw = 64, gh = 48;
	struct pipe p = { 0 };
	struct dumb out = { 0 };
	pid_t pid = 0;
	double ms = 0;
	int c, fd, ret = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pid = atoi(optarg);
			break;
		case 'g':
			if (sscanf(optarg, "%ux%u", &gw, &gh) != 2 || !gw || !gh)
				return 2;
			break;
		case 's':
			save_path = optarg;
			break;
		case 'c':
			cmp_path = optarg;
			break;
		default:
			fprintf(stderr, "usage: kg-wb-grab --pid PID [--grid WxH] [--save FILE] "
					"[--compare FILE]\n");
			return 2;
		}
	}
	if (pid <= 0) {
		fprintf(stderr, "kg-wb-grab: --pid of kmsgate-vgpu is required\n");
		return 2;
	}
	fd = borrow_card(pid);
	if (fd < 0)
		return 1;
	if (drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) < 0 ||
	    drmSetClientCap(fd, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, 1) < 0) {
		fprintf(stderr, "client caps (atomic, writeback): %s\n", strerror(errno));
		goto out_fd;
	}
	if (find_pipe(fd, &p) < 0 || p.w > 8192 || p.h > 8192 || gw > p.w || gh > p.h ||
	    dumb_create(fd, p.w, p.h, &out) < 0)
		goto out_dumb;
	if (stop_process(pid) == 0) {
		ret = readback(fd, &p, &out, &ms) < 0;
	}
	kill(pid, SIGCONT);
	if (ret)
		goto out_dumb;
	printf("WB-FRAME %u %u ms=%.1f\n", p.w, p.h, ms);
	print_grid(&out, &p, gw, gh);
	if (cmp_path && compare(cmp_path, &out, &p) < 0)
		ret = 1;
	if (save_path && save(save_path, &out, &p) < 0) {
		fprintf(stderr, "--save %s: %s\n", save_path, strerror(errno));
		ret = 1;
	}
	fflush(stdout);
out_dumb:
	dumb_destroy(fd, &out);
out_fd:
	close(fd);
	return ret;
}
