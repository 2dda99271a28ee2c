// SPDX-License-Identifier: MIT
/*
 * kg-lessee: the broker's test client in the board VM, built on libkmsgate.
 *
 *   kg-lessee [--uid N] [--name S] show NAME RRGGBB
 *       acquire NAME, fill the screen with the colour, page-flip between two
 *       buffers of it until stdin says "quit" or the lease is revoked.
 *       Prints "LEASED NAME WxH" once the first frame is up, "FLIPS n" on
 *       quit, "REVOKED NAME reason" when revoked, and "FLIPPED NAME n t=MS"
 *       (CLOCK_MONOTONIC) when flip n's event arrives, for n = 10 and 130:
 *       scripts wait for the first instead of sleeping, and time 120 flips
 *       between the two.
 *       With --outlive-broker, losing the broker (kill -9) is not the end:
 *       it prints "BROKER_GONE", keeps flipping on its lease fd and prints
 *       "FLIPS_WITHOUT_BROKER 20" once 20 more flips completed (or
 *       "FLIP_FAILED errno-name" when one fails), as a client would that
 *       waits for a restarted broker (tracker issue 12).
 *       While showing, stdin "list" lists on the same connection (PIPELINE
 *       lines, then "LIST_DONE rc") and "flips" prints "FLIPS_NOW n NAME
 *       gap=MS", MS the longest time between two flip events (or since the
 *       last one) since the previous "flips"; on quit it releases and
 *       prints "RELEASE ok|errno-name".
 *   kg-lessee [--wait] acquire NAME       acquire, print LEASED (with
 *       t=MS, CLOCK_MONOTONIC) or "REFUSED errno-name text", hold until
 *       stdin closes or says quit (then release), or until the lease is
 *       revoked ("REVOKED NAME reason", exit 0).
 *   kg-lessee now                prints "NOW t=MS" (CLOCK_MONOTONIC), the
 *       clock LEASED uses: shell scripts time events against it.
 *   kg-lessee touch NAME OTHER   acquire NAME and try OTHER's CRTC and
 *       primary plane through the lease: prints "TOUCH crtc=<errno>
 *       plane=<errno>"; exits 0 only if both failed with ENOENT.
 *   kg-lessee cycles NAME N      N x (connect, acquire, fd in hand,
 *       release, close); prints "CYCLES n p50=.. p99=.. max=.. ms".
 *   kg-lessee kill9 NAME N       N x (a child holds NAME, SIGKILL it, acquire
 *       with WAIT); prints "KILL9 n p50=.. p99=.. max=.. ms".
 *   kg-lessee revoke NAME        admin revoke.
 *   kg-lessee hammer NAME        LIST, ACQUIRE NAME, RELEASE on one
 *       connection, again and again until stdin says quit (or ends): the
 *       broker always has a request to be killed in. Prints
 *       "HAMMER_CANCELLED REQ" for each ECANCELED, "HAMMER_NOT_HELD
 *       RELEASE" for a RELEASE answered NOT_HELD (it crossed a restart
 *       whose broker no longer had the lease: libkmsgate closes the lease
 *       fd before it sends RELEASE, the dead broker's copy went with it, so
 *       the kernel had dropped the lessee); after either of those on a
 *       RELEASE it asks LIST until NAME is no longer its own (5 s at most,
 *       as a client should: docs/recovery.md). "HAMMER_ERROR REQ errno-name
 *       text" for any other failure (ETIMEDOUT too: libkmsgate's 10 s) or
 *       NAME still its own (a lost connection ends the loop); "HAMMER_NOW
 *       cycles=N" on stdin "count"; at the
 *       end "HAMMER cycles=N ok=N cancelled=N not_held=N errors=N
 *       longest=MS fds_start=N fds_end=N" (longest: one request, sent to
 *       answered; fds: its own open fds with no lease held).
 *   kg-lessee kill-broker PID    SIGKILLs PID (the broker), waits for it to
 *       be gone, then connects and asks LIST: with the listening socket in
 *       the fd store this is answered by the restarted broker. Prints
 *       "RECOVERED ms=MS dead_ms=MS" (kill to LIST answered, kill to death)
 *       or "RECOVER_FAILED step errno-name".
 *   kg-lessee list               prints "PIPELINE name state= status= ...
 *       allowed=0|1" (allowed: the broker's flag for this client)
 *   kg-lessee events SECS        prints "EVENT type pipeline status=" for
 *       SECS seconds.
 *   kg-lessee hostile N          see hostile.c.
 *   kg-lessee cards              prints "CARD PATH driver=NAME
 *       connectors=A,B,..." for every /dev/dri/card*: the test's own view of
 *       which connectors belong to which driver.
 *   kg-lessee master DRIVER      holds DRM master of that driver's card (as
 *       a display server would), prints "PATH: driver DRIVER" and "MASTER
 *       DRIVER", until stdin says quit or ends.
 *   kg-lessee conns N | idle | noread MAX | version | waiters NAME N
 *       raw-protocol clients (connection caps, clients that do not read,
 *       version negotiation, the wait queue's cap): see raw.c.
 *
 * Identity: --uid N drops to uid N (gid N unless --gid G), with the
 * supplementary groups of --groups G1,G2,... (none without it). The drop
 * happens after all options are read, so their order does not matter.
 *
 * Test code: errors go to stderr with what failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
#include <drm_fourcc.h>

#include "drm-util.h"
#include "kg-lessee.h"
#include "kmsgate.h"

struct fb {
	uint32_t id, handle;
	uint32_t w, h, pitch;
	uint64_t size;
};

static const char *errname(int e)
{
	switch (e) {
	case ENOENT:
		return "ENOENT";
	case EBUSY:
		return "EBUSY";
	case EACCES:
		return "EACCES";
	case ENODEV:
		return "ENODEV";
	case EAGAIN:
		return "EAGAIN";
	case EIO:
		return "EIO";
	case ECANCELED:
		return "ECANCELED";
	case EPROTO:
		return "EPROTO";
	case ECONNRESET:
		return "ECONNRESET";
	case EINVAL:
		return "EINVAL";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case ESRCH:
		return "ESRCH";
	case 0:
		return "OK";
	default:
		return strerror(e);
	}
}

double kg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool make_fb(int fd, uint32_t w, uint32_t h, uint32_t rgb, struct fb *fb)
{
	struct drm_mode_create_dumb cd = { .width = w, .height = h, .bpp = 32 };
	struct drm_mode_map_dumb md = { 0 };
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	uint32_t *px;

	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd) < 0) {
		perror("CREATE_DUMB");
		return false;
	}
	fb->handle = cd.handle;
	fb->w = w;
	fb->h = h;
	fb->pitch = cd.pitch;
	fb->size = cd.size;
	md.handle = cd.handle;
	if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md) < 0) {
		perror("MAP_DUMB");
		return false;
	}
	px = mmap(NULL, cd.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)md.offset);
	if (px == MAP_FAILED) {
		perror("mmap dumb");
		return false;
	}
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			px[y * (cd.pitch / 4) + x] = rgb;
	munmap(px, cd.size);
	handles[0] = cd.handle;
	pitches[0] = cd.pitch;
	if (drmModeAddFB2(fd, w, h, DRM_FORMAT_XRGB8888, handles, pitches, offsets, &fb->id, 0) <
	    0) {
		perror("AddFB2");
		return false;
	}
	return true;
}

/* Finds the mode: the lease's, else the connector's first. */
static bool lease_mode(int fd, struct kmsgate_lease *l, drmModeModeInfo *mode)
{
	struct kmsgate_mode km;
	drmModeConnectorPtr conn;

	if (kmsgate_lease_mode(l, &km) == 0) {
		_Static_assert(sizeof(km) == sizeof(*mode), "mode layouts differ");
		memcpy(mode, &km, sizeof(*mode));
		return true;
	}
	conn = drmModeGetConnector(fd, kmsgate_lease_connector_id(l));
	if (!conn || conn->count_modes == 0) {
		fprintf(stderr, "no mode for the lease\n");
		drmModeFreeConnector(conn);
		return false;
	}
	*mode = conn->modes[0];
	drmModeFreeConnector(conn);
	return true;
}

static bool commit_plane(int fd, struct kmsgate_lease *l, const drmModeModeInfo *mode,
			 const struct fb *fb, bool modeset, void *data)
{
	uint32_t crtc = kmsgate_lease_crtc_id(l), conn = kmsgate_lease_connector_id(l);
	uint32_t plane = kmsgate_lease_plane_id(l, KMSGATE_PLANE_PRIMARY);
	drmModeAtomicReqPtr req = drmModeAtomicAlloc();
	uint32_t blob = 0;
	uint32_t flags = modeset ? DRM_MODE_ATOMIC_ALLOW_MODESET
				 : DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT;
	bool ok = true;
	int ret;

	if (modeset) {
		if (drmModeCreatePropertyBlob(fd, mode, sizeof(*mode), &blob) < 0) {
			perror("CreatePropertyBlob");
			return false;
		}
		ok &= kg_vmt_add(fd, req, crtc, DRM_MODE_OBJECT_CRTC, "MODE_ID", blob);
		ok &= kg_vmt_add(fd, req, crtc, DRM_MODE_OBJECT_CRTC, "ACTIVE", 1);
		ok &= kg_vmt_add(fd, req, conn, DRM_MODE_OBJECT_CONNECTOR, "CRTC_ID", crtc);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "CRTC_ID", crtc);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "SRC_X", 0);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "SRC_Y", 0);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "SRC_W",
				 (uint64_t)fb->w << 16);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "SRC_H",
				 (uint64_t)fb->h << 16);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "CRTC_X", 0);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "CRTC_Y", 0);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "CRTC_W", fb->w);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "CRTC_H", fb->h);
	}
	ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "FB_ID", fb->id);
	ret = ok ? drmModeAtomicCommit(fd, req, flags, data) : -1;
	if (ok && ret < 0)
		fprintf(stderr, "atomic commit (%s): %s\n", modeset ? "modeset" : "flip",
			strerror(errno));
	drmModeAtomicFree(req);
	if (blob)
		drmModeDestroyPropertyBlob(fd, blob);
	return ok && ret == 0;
}

static bool outlive_broker;
static int cmd_list(struct kmsgate_client *c);

struct show {
	struct kmsgate_lease *lease;
	const char *name;
	bool broker_gone;
	unsigned flips_at_loss;
	bool revoked;
	bool flip_pending;
	unsigned flips;
	double last_flip, gap_max; /* ms: the last flip event, the longest gap */
};

static void on_event(const struct kmsgate_event *ev, void *data)
{
	struct show *s = data;

	if (ev->type == KMSGATE_EVENT_REVOKED && ev->lease == s->lease) {
		printf("REVOKED %s %u\n", ev->pipeline, ev->reason);
		fflush(stdout);
		s->revoked = true;
	}
}

static void on_flip(int fd, unsigned seq, unsigned sec, unsigned usec, void *data)
{
	struct show *s = data;

	double now = kg_now_ms();

	s->flip_pending = false;
	s->flips++;
	if (s->last_flip > 0 && now - s->last_flip > s->gap_max)
		s->gap_max = now - s->last_flip;
	s->last_flip = now;
	if (s->flips == 10 || s->flips == 130)
		printf("FLIPPED %s %u t=%.3f\n", s->name, s->flips, kg_now_ms());
}

static int setup_lease_fd(int fd)
{
	if (drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) < 0 ||
	    drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) < 0) {
		perror("client caps on the lease fd");
		return -1;
	}
	return 0;
}

/* Reads stdin; true when it says quit or ends. */
static bool stdin_quit(void)
{
	char line[64];

	if (!fgets(line, sizeof(line), stdin))
		return true;
	return strncmp(line, "quit", 4) == 0;
}

/* A line of stdin while showing: "quit" (or its end) stops; "list" asks
 * the broker on the same connection and prints the PIPELINE lines and
 * "LIST_DONE rc"; "flips" prints "FLIPS_NOW n". */
static bool show_command(struct kmsgate_client *c, struct show *s)
{
	char line[64];

	if (!fgets(line, sizeof(line), stdin) || strncmp(line, "quit", 4) == 0)
		return true;
	if (strncmp(line, "list", 4) == 0)
		printf("LIST_DONE %d\n", s->broker_gone ? -1 : cmd_list(c));
	else if (strncmp(line, "flips", 5) == 0) {
		double since = s->last_flip > 0 ? kg_now_ms() - s->last_flip : 0;

		printf("FLIPS_NOW %u %s gap=%.1f\n", s->flips, s->name,
		       since > s->gap_max ? since : s->gap_max);
		s->gap_max = 0;
	}
	fflush(stdout);
	return false;
}

static int show_loop(struct kmsgate_client *c, struct show *s, int fd, const drmModeModeInfo *mode,
		     struct fb *fbs)
{
	drmEventContext evctx = { .version = 2, .page_flip_handler = on_flip };
	unsigned cur = 0;

	while (!s->revoked) {
		struct pollfd p[3] = { { s->broker_gone ? -1 : kmsgate_get_fd(c), POLLIN, 0 },
				       { fd, POLLIN, 0 },
				       { 0, POLLIN, 0 } };

		if (!s->flip_pending) {
			cur ^= 1;
			s->flip_pending = commit_plane(fd, s->lease, mode, &fbs[cur], false, s);
			if (!s->flip_pending && s->broker_gone) {
				printf("FLIP_FAILED %s\n", errname(errno));
				return 1;
			}
		}
		if (s->broker_gone && s->flips == s->flips_at_loss + 20)
			printf("FLIPS_WITHOUT_BROKER 20\n");
		if (poll(p, 3, s->flip_pending ? 100 : 20) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents && kmsgate_dispatch(c) < 0) {
			if (outlive_broker && !s->revoked) {
				printf("BROKER_GONE flips=%u\n", s->flips);
				s->broker_gone = true;
				s->flips_at_loss = s->flips;
			} else
				s->revoked = true;
		}
		if (p[1].revents)
			drmHandleEvent(fd, &evctx);
		if (p[2].revents && show_command(c, s))
			break;
	}
	printf("FLIPS %u\n", s->flips);
	return 0;
}

static int cmd_show(struct kmsgate_client *c, const char *name, const char *colour)
{
	struct show s = { .name = name };
	drmModeModeInfo mode;
	struct fb fbs[2];
	uint32_t rgb = (uint32_t)strtoul(colour, NULL, 16);
	int fd, ret;

	s.lease = kmsgate_acquire(c, name, 0);
	if (!s.lease) {
		printf("REFUSED %s %s\n", errname(errno), kmsgate_last_error(c));
		return 1;
	}
	kmsgate_set_event_handler(c, on_event, &s);
	fd = kmsgate_lease_fd(s.lease);
	if (setup_lease_fd(fd) < 0 || !lease_mode(fd, s.lease, &mode) ||
	    !make_fb(fd, mode.hdisplay, mode.vdisplay, rgb, &fbs[0]) ||
	    !make_fb(fd, mode.hdisplay, mode.vdisplay, rgb, &fbs[1]) ||
	    !commit_plane(fd, s.lease, &mode, &fbs[0], true, NULL))
		return 1;
	printf("LEASED %s %ux%u\n", name, mode.hdisplay, mode.vdisplay);
	fflush(stdout);
	ret = show_loop(c, &s, fd, &mode, fbs);
	if (s.revoked) {
		kmsgate_lease_destroy(s.lease);
	} else {
		int r = kmsgate_release(c, s.lease);

		printf("RELEASE %s\n", r == 0 ? "ok" : errname(-r));
	}
	return ret;
}

static int cmd_acquire(struct kmsgate_client *c, const char *name, uint32_t flags)
{
	struct kmsgate_lease *l = kmsgate_acquire(c, name, flags);
	struct show s = { 0 };

	if (!l) {
		printf("REFUSED %s %s\n", errname(errno), kmsgate_last_error(c));
		return 1;
	}
	printf("LEASED %s lessee=%u t=%.3f\n", name, kmsgate_lease_lessee_id(l), kg_now_ms());
	fflush(stdout);
	s.lease = l;
	kmsgate_set_event_handler(c, on_event, &s);
	while (!s.revoked) {
		struct pollfd p[2] = { { kmsgate_get_fd(c), POLLIN, 0 }, { 0, POLLIN, 0 } };

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents && kmsgate_dispatch(c) < 0)
			return 1; /* the broker went away without a word */
		if (!s.revoked && p[1].revents && stdin_quit())
			return kmsgate_release(c, l) == 0 ? 0 : 1;
	}
	kmsgate_lease_destroy(l);
	return 0;
}

/* The CRTC and primary plane of another pipeline, from LIST. */
static bool other_ids(struct kmsgate_client *c, const char *other, uint32_t *crtc, uint32_t *plane)
{
	struct kmsgate_list *list;
	bool found = false;

	if (kmsgate_list(c, &list) < 0) {
		perror("kmsgate_list");
		return false;
	}
	for (size_t i = 0; i < kmsgate_list_count(list); i++) {
		const struct kmsgate_pipeline *p = kmsgate_list_get(list, i);

		if (strcmp(kmsgate_pipeline_name(p), other) != 0)
			continue;
		*crtc = kmsgate_pipeline_crtc_id(p);
		for (size_t j = 0; j < kmsgate_pipeline_plane_count(p); j++) {
			if (kmsgate_pipeline_plane(p, j)->type == KMSGATE_PLANE_PRIMARY)
				*plane = kmsgate_pipeline_plane(p, j)->id;
		}
		found = true;
	}
	kmsgate_list_free(list);
	return found;
}

static int cmd_touch(struct kmsgate_client *c, const char *name, const char *other)
{
	struct kmsgate_lease *l;
	uint32_t crtc = 0, plane = 0;
	drmModeCrtcPtr cr;
	drmModeAtomicReqPtr req;
	int fd, crtc_err, plane_err, ret;

	if (!other_ids(c, other, &crtc, &plane) || !crtc || !plane) {
		fprintf(stderr, "no pipeline %s with a CRTC and primary plane\n", other);
		return 2;
	}
	l = kmsgate_acquire(c, name, 0);
	if (!l) {
		printf("REFUSED %s %s\n", errname(errno), kmsgate_last_error(c));
		return 2;
	}
	fd = kmsgate_lease_fd(l);
	setup_lease_fd(fd);
	cr = drmModeGetCrtc(fd, crtc);
	crtc_err = cr ? 0 : errno;
	drmModeFreeCrtc(cr);
	/* Switching the other pipeline's primary plane off: the property id
	 * is looked up on our own plane (same driver, same property). */
	req = drmModeAtomicAlloc();
	drmModeAtomicAddProperty(req, plane,
				 kg_vmt_prop_id(fd,
						kmsgate_lease_plane_id(l, KMSGATE_PLANE_PRIMARY),
						DRM_MODE_OBJECT_PLANE, "FB_ID"),
				 0);
	ret = drmModeAtomicCommit(fd, req, DRM_MODE_ATOMIC_TEST_ONLY, NULL);
	plane_err = ret < 0 ? errno : 0;
	drmModeAtomicFree(req);
	printf("TOUCH crtc=%s plane=%s\n", errname(crtc_err), errname(plane_err));
	kmsgate_release(c, l);
	return crtc_err == ENOENT && plane_err == ENOENT ? 0 : 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p)
{
	int i = (int)(p / 100.0 * (n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

static int cmd_cycles(const char *sock, const char *name, int n)
{
	double *t = calloc((size_t)n, sizeof(*t));
	int done = 0;

	for (int i = 0; i < n; i++) {
		double t0 = kg_now_ms();
		struct kmsgate_client *c = kmsgate_connect(sock, "kg-cycles");
		struct kmsgate_lease *l = c ? kmsgate_acquire(c, name, 0) : NULL;

		if (!l || kmsgate_lease_fd(l) < 0) {
			fprintf(stderr, "cycle %d: %s (%s)\n", i, strerror(errno),
				c ? kmsgate_last_error(c) : "connect");
			kmsgate_close(c);
			break;
		}
		t[done++] = kg_now_ms() - t0;
		if (kmsgate_release(c, l) < 0) {
			fprintf(stderr, "cycle %d: release failed\n", i);
			kmsgate_close(c);
			break;
		}
		kmsgate_close(c);
	}
	qsort(t, (size_t)done, sizeof(*t), cmp_double);
	if (done)
		printf("CYCLES %d p50=%.3f p99=%.3f max=%.3f ms\n", done, pct(t, done, 50),
		       pct(t, done, 99), t[done - 1]);
	free(t);
	return done == n ? 0 : 1;
}

/* A child takes the lease and holds it; the parent kills it with SIGKILL and
 * asks for the pipeline with WAIT: the time until the lease is in hand is
 * the broker's revoke-on-death latency plus one grant. */
static int kill9_once(const char *sock, const char *name, double *ms)
{
	struct kmsgate_client *c;
	struct kmsgate_lease *l;
	int pipefd[2];
	char ok;
	pid_t pid;
	double t0;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct kmsgate_client *cc = kmsgate_connect(sock, "kg-victim");

		if (cc && kmsgate_acquire(cc, name, 0))
			write(pipefd[1], "L", 1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	ok = 0;
	read(pipefd[0], &ok, 1);
	close(pipefd[0]);
	c = kmsgate_connect(sock, "kg-next");
	if (ok != 'L' || !c) {
		fprintf(stderr, "kill9: the victim did not get %s\n", name);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		kmsgate_close(c);
		return -1;
	}
	t0 = kg_now_ms();
	kill(pid, SIGKILL);
	l = kmsgate_acquire(c, name, KMSGATE_ACQUIRE_WAIT);
	*ms = kg_now_ms() - t0;
	waitpid(pid, NULL, 0);
	if (!l) {
		fprintf(stderr, "kill9: next acquire failed: %s\n", kmsgate_last_error(c));
		kmsgate_close(c);
		return -1;
	}
	kmsgate_release(c, l);
	kmsgate_close(c);
	return 0;
}

static int cmd_kill9(const char *sock, const char *name, int n)
{
	double *t = calloc((size_t)n, sizeof(*t));
	int done = 0;

	while (done < n && kill9_once(sock, name, &t[done]) == 0)
		done++;
	qsort(t, (size_t)done, sizeof(*t), cmp_double);
	if (done)
		printf("KILL9 %d p50=%.3f p99=%.3f max=%.3f ms\n", done, pct(t, done, 50),
		       pct(t, done, 99), t[done - 1]);
	free(t);
	return done == n ? 0 : 1;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

struct hammer {
	struct kmsgate_client *c;
	unsigned long ok, cancelled, not_held, errors;
	bool lost; /* the connection: ECONNRESET or EPROTO */
	double longest;
};

/* Counts the answer to one request sent at t0 (err: 0 or an errno); true
 * when it succeeded. */
static bool hammered(struct hammer *h, const char *req, int err, double t0)
{
	double ms = kg_now_ms() - t0;

	if (ms > h->longest)
		h->longest = ms;
	if (err == 0) {
		h->ok++;
		return true;
	}
	if (err == ECANCELED) {
		h->cancelled++;
		printf("HAMMER_CANCELLED %s\n", req);
	} else if (err == ENOENT && strcmp(req, "RELEASE") == 0) {
		h->not_held++;
		printf("HAMMER_NOT_HELD %s\n", req);
	} else {
		h->errors++;
		h->lost |= err == ECONNRESET || err == EPROTO;
		printf("HAMMER_ERROR %s %s %s\n", req, errname(err),
		       h->lost		  ? "(connection lost: stopping)"
		       : err == ETIMEDOUT ? "(no answer within libkmsgate's 10 s)"
					  : kmsgate_last_error(h->c));
	}
	return false;
}

/* LIST; *mine: name is leased to this client. */
static bool hammer_list(struct hammer *h, const char *name, bool *mine)
{
	struct kmsgate_list *list;
	double t0 = kg_now_ms();
	int r = kmsgate_list(h->c, &list);

	*mine = false;
	if (!hammered(h, "LIST", -r, t0))
		return false;
	for (size_t i = 0; i < kmsgate_list_count(list); i++) {
		const struct kmsgate_pipeline *p = kmsgate_list_get(list, i);

		if (strcmp(kmsgate_pipeline_name(p), name) == 0 && kmsgate_pipeline_mine(p))
			*mine = true;
	}
	kmsgate_list_free(list);
	return true;
}

static int cmd_hammer(struct kmsgate_client *c, const char *name)
{
	struct hammer h = { .c = c };
	int fds_start = count_fds();
	unsigned long cycles = 0;

	for (;;) {
		struct pollfd in = { 0, POLLIN, 0 };
		struct kmsgate_lease *l;
		double t0;
		bool mine;

		hammer_list(&h, name, &mine);
		t0 = kg_now_ms();
		l = kmsgate_acquire(c, name, 0);
		if (hammered(&h, "ACQUIRE", l ? 0 : errno, t0)) {
			int r;

			bool gone = false;

			t0 = kg_now_ms();
			r = kmsgate_release(c, l);
			/* Cancelled or not held: maybe released, maybe not; LIST
			 * tells, and the broker ends it once the kernel drops the
			 * lessee (our fd is closed). At most 5 s. */
			if (!hammered(&h, "RELEASE", -r, t0) && (r == -ECANCELED || r == -ENOENT)) {
				for (int i = 0; i < 100 && !gone; i++) {
					gone = hammer_list(&h, name, &mine) && !mine;
					if (!gone)
						usleep(50 * 1000);
				}
				if (!gone) {
					h.errors++;
					printf("HAMMER_ERROR RELEASE %s still ours after 5 s\n",
					       name);
				}
			}
		}
		kmsgate_dispatch(c); /* the PIPELINE_AVAILABLE events of our releases */
		cycles++;
		if (h.lost)
			break;
		if (poll(&in, 1, 0) > 0) {
			char line[64];

			if (!fgets(line, sizeof(line), stdin) || strncmp(line, "quit", 4) == 0)
				break;
			if (strncmp(line, "count", 5) == 0)
				printf("HAMMER_NOW cycles=%lu\n", cycles);
		}
	}
	printf("HAMMER cycles=%lu ok=%lu cancelled=%lu not_held=%lu errors=%lu longest=%.1f "
	       "fds_start=%d fds_end=%d\n",
	       cycles, h.ok, h.cancelled, h.not_held, h.errors, h.longest, fds_start, count_fds());
	return h.errors ? 1 : 0;
}

static int cmd_kill_broker(const char *sock, pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = { pidfd, POLLIN, 0 };
	struct kmsgate_client *c;
	struct kmsgate_list *list;
	double t0 = kg_now_ms(), dead;
	int r;

	if (pidfd < 0 || kill(pid, SIGKILL) < 0) {
		printf("RECOVER_FAILED kill %s\n", errname(errno));
		return 1;
	}
	/* Gone (a zombie), so it cannot answer the LIST below itself. */
	if (poll(&p, 1, 10000) != 1) {
		printf("RECOVER_FAILED death ETIMEDOUT\n");
		return 1;
	}
	close(pidfd);
	dead = kg_now_ms();
	c = kmsgate_connect(sock, "kg-recover");
	if (!c) {
		printf("RECOVER_FAILED connect %s\n", errname(errno));
		return 1;
	}
	r = kmsgate_list(c, &list);
	if (r < 0) {
		printf("RECOVER_FAILED list %s\n", errname(-r));
		kmsgate_close(c);
		return 1;
	}
	printf("RECOVERED ms=%.3f dead_ms=%.3f\n", kg_now_ms() - t0, dead - t0);
	kmsgate_list_free(list);
	kmsgate_close(c);
	return 0;
}

static int cmd_list(struct kmsgate_client *c)
{
	struct kmsgate_list *list;

	if (kmsgate_list(c, &list) < 0) {
		perror("kmsgate_list");
		return 1;
	}
	for (size_t i = 0; i < kmsgate_list_count(list); i++) {
		const struct kmsgate_pipeline *p = kmsgate_list_get(list, i);

		struct kmsgate_mode m = { 0 };
		int cur = kmsgate_pipeline_current_mode(p, &m);

		printf("PIPELINE %s state=%u status=%u connector=%s planes=%zu current=%s allowed=%d "
		       "mine=%d lessee=%s\n",
		       kmsgate_pipeline_name(p), kmsgate_pipeline_state(p),
		       kmsgate_pipeline_connector_status(p), kmsgate_pipeline_connector_name(p),
		       kmsgate_pipeline_plane_count(p), cur == 0 ? m.name : "none",
		       kmsgate_pipeline_allowed(p), kmsgate_pipeline_mine(p),
		       *kmsgate_pipeline_lessee_name(p) ? kmsgate_pipeline_lessee_name(p) : "-");
	}
	kmsgate_list_free(list);
	return 0;
}

/* "Virtual-1": the kernel's connector name, as the broker builds it. */
static void connector_name(int fd, uint32_t id, char *buf, size_t len)
{
	drmModeConnectorPtr c = drmModeGetConnector(fd, id);
	const char *type = c ? drmModeGetConnectorTypeName(c->connector_type) : NULL;

	snprintf(buf, len, "%s-%u", type ? type : "Unknown", c ? c->connector_type_id : 0);
	drmModeFreeConnector(c);
}

static int cmd_cards(void)
{
	for (int i = 0; i < 16; i++) {
		char path[32], name[64];
		drmVersionPtr v;
		drmModeResPtr res;
		int fd;

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		v = drmGetVersion(fd);
		res = drmModeGetResources(fd);
		printf("CARD %s driver=%s connectors=", path, v && v->name ? v->name : "?");
		for (int j = 0; res && j < res->count_connectors; j++) {
			connector_name(fd, res->connectors[j], name, sizeof(name));
			printf("%s%s", j ? "," : "", name);
		}
		printf("\n");
		drmModeFreeResources(res);
		drmFreeVersion(v);
		close(fd);
	}
	return 0;
}

static int cmd_master(const char *driver)
{
	int fd = kg_vmt_open_card(driver);

	if (fd < 0)
		return 1;
	/* The first opener is master already; SET_MASTER makes sure. */
	if (drmSetMaster(fd) < 0 && !drmIsMaster(fd)) {
		perror("drmSetMaster");
		close(fd);
		return 1;
	}
	printf("MASTER %s\n", driver);
	while (!stdin_quit())
		;
	close(fd);
	return 0;
}

static void print_event(const struct kmsgate_event *ev, void *data)
{
	static const char *const names[] = { "?", "REVOKED", "CONNECTOR_CHANGED",
					     "PIPELINE_AVAILABLE" };

	printf("EVENT %s %s status=%u\n", names[ev->type < 4 ? ev->type : 0], ev->pipeline,
	       ev->connector_status);
}

/* Prints every event for secs seconds (READY when listening). */
static int cmd_events(struct kmsgate_client *c, int secs)
{
	double end = kg_now_ms() + secs * 1000.0;

	kmsgate_set_event_handler(c, print_event, NULL);
	printf("EVENTS READY\n");
	while (kg_now_ms() < end) {
		struct pollfd p = { kmsgate_get_fd(c), POLLIN, 0 };

		if (poll(&p, 1, 100) > 0 && kmsgate_dispatch(c) < 0)
			return 1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kg-lessee [--uid N [--gid G] [--groups G1,G2...]] [--name S] "
		"[--socket P] [--wait] [--outlive-broker] "
		"show NAME RRGGBB | acquire NAME | touch NAME OTHER | cycles NAME N | "
		"revoke NAME | hammer NAME | kill-broker PID | hostile N | cards | master DRIVER | conns N | idle | noread MAX | version | "
		"waiters NAME N\n");
}

/* Who to become: uid (-1: stay root), gid (-1: same as uid), groups. */
struct identity {
	long uid, gid;
	gid_t groups[128];
	size_t n_groups;
};

static int parse_groups(const char *list, struct identity *id)
{
	const char *p = list;

	while (*p) {
		char *end;
		unsigned long g = strtoul(p, &end, 10);

		if (end == p || (*end && *end != ',') || id->n_groups >= 128)
			return -1;
		id->groups[id->n_groups++] = (gid_t)g;
		p = *end ? end + 1 : end;
	}
	return 0;
}

static int drop_to(const struct identity *id)
{
	uid_t u = (uid_t)id->uid;
	gid_t g = id->gid >= 0 ? (gid_t)id->gid : (gid_t)id->uid;

	if (setgroups(id->n_groups, id->groups) < 0 || setresgid(g, g, g) < 0 ||
	    setresuid(u, u, u) < 0) {
		perror("dropping privileges");
		return -1;
	}
	return 0;
}

static int run(const char *sock, const char *name, uint32_t flags, int argc, char **argv)
{
	const char *raw = sock ? sock : KMSGATE_DEFAULT_SOCKET;
	struct kmsgate_client *c;
	int ret = 2;

	if (strcmp(argv[0], "now") == 0 && argc == 1) {
		printf("NOW t=%.3f\n", kg_now_ms());
		return 0;
	}
	if (strcmp(argv[0], "cards") == 0 && argc == 1)
		return cmd_cards();
	if (strcmp(argv[0], "master") == 0 && argc == 2)
		return cmd_master(argv[1]);
	if (strcmp(argv[0], "cycles") == 0 && argc == 3)
		return cmd_cycles(sock, argv[1], atoi(argv[2]));
	if (strcmp(argv[0], "kill9") == 0 && argc == 3)
		return cmd_kill9(sock, argv[1], atoi(argv[2]));
	if (strcmp(argv[0], "kill-broker") == 0 && argc == 2)
		return cmd_kill_broker(sock, (pid_t)atoi(argv[1]));
	if (strcmp(argv[0], "hostile") == 0 && argc == 2)
		return kg_hostile(raw, atoi(argv[1]));
	if (strcmp(argv[0], "conns") == 0 && argc == 2)
		return kg_raw_conns(raw, atoi(argv[1]));
	if (strcmp(argv[0], "idle") == 0 && argc == 1)
		return kg_raw_idle(raw);
	if (strcmp(argv[0], "noread") == 0 && argc == 2)
		return kg_raw_noread(raw, atoi(argv[1]));
	if (strcmp(argv[0], "version") == 0 && argc == 1)
		return kg_raw_version(raw);
	if (strcmp(argv[0], "waiters") == 0 && argc == 3)
		return kg_raw_waiters(raw, argv[1], atoi(argv[2]));
	c = kmsgate_connect(sock, name);
	if (!c) {
		printf("REFUSED %s connect\n", errname(errno));
		return 1;
	}
	if (strcmp(argv[0], "show") == 0 && argc == 3)
		ret = cmd_show(c, argv[1], argv[2]);
	else if (strcmp(argv[0], "acquire") == 0 && argc == 2)
		ret = cmd_acquire(c, argv[1], flags);
	else if (strcmp(argv[0], "list") == 0 && argc == 1)
		ret = cmd_list(c);
	else if (strcmp(argv[0], "hammer") == 0 && argc == 2)
		ret = cmd_hammer(c, argv[1]);
	else if (strcmp(argv[0], "events") == 0 && argc == 2)
		ret = cmd_events(c, atoi(argv[1]));
	else if (strcmp(argv[0], "touch") == 0 && argc == 3)
		ret = cmd_touch(c, argv[1], argv[2]);
	else if (strcmp(argv[0], "revoke") == 0 && argc == 2) {
		ret = kmsgate_revoke(c, argv[1]);
		printf("REVOKE %s %s\n", argv[1], errname(-ret));
		ret = ret ? 1 : 0;
	} else
		usage();
	kmsgate_close(c);
	return ret;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *name = "kg-lessee";
	struct identity id = { .uid = -1, .gid = -1 };
	uint32_t flags = 0;
	int i = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Commands on stdin are read when poll() says fd 0 is readable: a
	 * buffered fgets could take the next line too, and poll would not
	 * tell about it until more came. */
	setvbuf(stdin, NULL, _IONBF, 0);
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--uid") == 0 && i + 1 < argc) {
			id.uid = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--gid") == 0 && i + 1 < argc) {
			id.gid = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--groups") == 0 && i + 1 < argc) {
			if (parse_groups(argv[++i], &id) < 0) {
				usage();
				return 2;
			}
		} else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			sock = argv[++i];
		} else if (strcmp(argv[i], "--outlive-broker") == 0) {
			outlive_broker = true;
		} else if (strcmp(argv[i], "--wait") == 0) {
			flags |= KMSGATE_ACQUIRE_WAIT;
		} else {
			usage();
			return 2;
		}
	}
	if (i >= argc || (id.uid < 0 && (id.gid >= 0 || id.n_groups))) {
		usage();
		return 2;
	}
	if (id.uid >= 0 && drop_to(&id) < 0)
		return 2;
	return run(sock, name, flags, argc - i, argv + i);
}
