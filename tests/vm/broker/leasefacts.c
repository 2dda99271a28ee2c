// SPDX-License-Identifier: MIT
/*
 * kg-leasefacts: what the kernel does to a DRM lessee when its lessor's fd
 * closes (tracker issue 12; docs/recovery.md). No broker: plain libdrm, one
 * process per role, fds passed by SCM_RIGHTS as systemd's fd store would.
 *
 *   kg-leasefacts close HEAD RRGGBB     (a) the lessor exits, no copy left
 *   kg-leasefacts kept HEAD RRGGBB      (b) a keeper holds a dup of the
 *       lessor's master fd while the lessor exits; then the keeper exits
 *   kg-leasefacts adopt HEAD RRGGBB     (c) a new process gets the master fd
 *       from the keeper: is it master, does it list the lessee, can it
 *       lease another head and revoke the old lessee?
 *
 * Roles: the lessor opens the virtio_gpu card (master), leases head HEAD
 * (CRTC, connector Virtual-(HEAD+1), primary plane) and sends the lease fd
 * (and for kept/adopt a dup of its master fd) to this process, then exits
 * when told. This process is the lessee: it shows RRGGBB, flips, and after
 * each step prints
 *   FACT <case>.<step> flips=<n of 10> err=<errno of the first failure>
 *        getcrtc=<errno> objects=<drmModeGetLease count>
 * The host screendumps the head at each "HOST <case>-<step>" (answer with
 * a line on stdin). After a step the lessee also tries to show ALT (the
 * inverted colour): where the lessee still works, ALT is on screen.
 *
 * Test code: errors go to stderr with what failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
#include <drm_fourcc.h>

#include "drm-util.h"

struct head {
	uint32_t crtc, conn, plane;
	drmModeModeInfo mode;
};

static const char *ename(int e)
{
	return e ? strerrorname_np(e) : "OK";
}

static int send_fds(int sock, const int *fds, int n)
{
	char byte = 'F', ctl[CMSG_SPACE(sizeof(int) * 4)] = { 0 };
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (n > 0) {
		m.msg_control = ctl;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
	}
	if (sendmsg(sock, &m, 0) != 1) {
		perror("sendmsg fds");
		return -1;
	}
	return 0;
}

/* Returns the number of fds received (0 on a plain byte), -1 on EOF/error. */
static int recv_fds(int sock, int *fds, int max)
{
	char byte, ctl[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { &byte, 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};
	struct cmsghdr *c;
	int n = 0;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			n = n > max ? max : n;
			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)n);
		}
	}
	return n;
}

static int find_head(int fd, int idx, struct head *h)
{
	drmModeResPtr res = drmModeGetResources(fd);
	drmModeConnectorPtr conn = NULL;
	int ret = -1;

	if (!res || idx >= res->count_crtcs || idx >= res->count_connectors) {
		fprintf(stderr, "no head %d on this card\n", idx);
		goto out;
	}
	h->crtc = res->crtcs[idx];
	h->conn = res->connectors[idx];
	h->plane = kg_vmt_find_plane(fd, (unsigned)idx, DRM_PLANE_TYPE_PRIMARY);
	conn = drmModeGetConnector(fd, h->conn);
	if (!h->plane || !conn || !kg_vmt_find_mode(conn, 1024, 768, &h->mode)) {
		fprintf(stderr, "head %d: no primary plane or no 1024x768 mode\n", idx);
		goto out;
	}
	ret = 0;
out:
	drmModeFreeConnector(conn);
	drmModeFreeResources(res);
	return ret;
}

static int caps(int fd)
{
	if (drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) < 0 ||
	    drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) < 0) {
		perror("client caps");
		return -1;
	}
	return 0;
}

/* Children start with only their socket (3) and stdio: an inherited lease
 * or master fd would keep the kernel's objects alive and spoil the facts. */
static void child_fds(int sock)
{
	if (sock != 3 && dup2(sock, 3) < 0)
		_exit(99);
	close_range(4, ~0U, 0);
}

/* The lessor: master of the card, leases head idx, sends the lease fd
 * (and a dup of its master fd if share), waits for a byte, exits. */
static void lessor(int sock, int idx, bool share)
{
	struct head h;
	uint32_t objs[3], lessee;
	int fd = kg_vmt_open_card("virtio_gpu"), lfd, fds[2];
	char b;

	if (fd < 0 || (drmSetMaster(fd) < 0 && !drmIsMaster(fd)) || caps(fd) < 0 ||
	    find_head(fd, idx, &h) < 0)
		_exit(1);
	objs[0] = h.conn;
	objs[1] = h.crtc;
	objs[2] = h.plane;
	lfd = drmModeCreateLease(fd, objs, 3, O_CLOEXEC, &lessee);
	if (lfd < 0) {
		fprintf(stderr, "lessor: drmModeCreateLease: %s\n", strerror(-lfd));
		_exit(1);
	}
	printf("LESSOR pid=%d lessee=%u\n", getpid(), lessee);
	fflush(stdout);
	fds[0] = lfd;
	fds[1] = fd;
	if (send_fds(3, fds, share ? 2 : 1) < 0)
		_exit(1);
	close(lfd);
	(void)sock;
	if (read(3, &b, 1) < 0)
		_exit(1);
	_exit(0); /* closes the master fd: the point of the test */
}

/* The fd store's stand-in: holds what it is sent; 'g' sends a dup back,
 * 'q' or EOF exits (closing them). */
static void keeper(void)
{
	int fds[4], n = 0, r;
	char b;

	r = recv_fds(3, fds, 4);
	if (r < 0)
		_exit(1);
	n = r;
	while (read(3, &b, 1) == 1 && b == 'g')
		send_fds(3, fds, n);
	_exit(0);
}

/* The restarted process: gets the master fd, shows what it can do. */
static void adopter(int other_idx, uint32_t lessee)
{
	int fd, n;
	uint32_t objs[3], nl;
	drmModeLesseeListPtr ll;
	drmModeObjectListPtr gl;
	struct head h;
	bool listed = false;

	n = recv_fds(3, &fd, 1);
	if (n != 1)
		_exit(1);
	ll = drmModeListLessees(fd);
	for (uint32_t i = 0; ll && i < ll->count; i++)
		listed |= ll->lessees[i] == lessee;
	gl = drmModeGetLease(fd);
	printf("FACT adopt.adopter master=%d lessees=%d first=%u lists_ours=%d getlease_objects=%d\n",
	       drmIsMaster(fd), ll ? (int)ll->count : -errno, ll && ll->count ? ll->lessees[0] : 0,
	       listed, gl ? (int)gl->count : -errno);
	drmFree(ll);
	drmFree(gl);
	/* It can lease a free head as the old process could. */
	if (caps(fd) == 0 && find_head(fd, other_idx, &h) == 0) {
		int lfd;

		objs[0] = h.conn;
		objs[1] = h.crtc;
		objs[2] = h.plane;
		lfd = drmModeCreateLease(fd, objs, 3, O_CLOEXEC, &nl);
		printf("FACT adopt.newlease head=%d result=%s\n", other_idx,
		       lfd < 0 ? ename(-lfd) : "OK");
		if (lfd >= 0) {
			drmModeRevokeLease(fd, nl);
			close(lfd);
		}
	}
	/* The old lessee, by the id the kernel listed. */
	n = drmModeRevokeLease(fd, lessee);
	printf("FACT adopt.revoke result=%s\n", ename(n < 0 ? -n : 0));
	ll = drmModeListLessees(fd);
	listed = false;
	for (uint32_t i = 0; ll && i < ll->count; i++)
		listed |= ll->lessees[i] == lessee;
	printf("FACT adopt.after_revoke lists_ours=%d\n", listed);
	fflush(stdout);
	drmFree(ll);
	_exit(0);
}

static pid_t spawn(int *sock, void (*fn)(int, int, bool), int a, bool b)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		child_fds(sv[1]);
		fn(3, a, b);
		_exit(0);
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}

static void run_lessor(int s, int a, bool b)
{
	lessor(s, a, b);
}

static void run_keeper(int s, int a, bool b)
{
	(void)s, (void)a, (void)b;
	keeper();
}

static uint32_t adopt_lessee;
static void run_adopter(int s, int a, bool b)
{
	(void)s, (void)b;
	adopter(a, adopt_lessee);
}

/* --- the lessee (this process) --- */

struct fb {
	uint32_t id;
};

static bool make_fb(int fd, uint32_t rgb, struct fb *fb)
{
	struct drm_mode_create_dumb cd = { .width = 1024, .height = 768, .bpp = 32 };
	struct drm_mode_map_dumb md = { 0 };
	uint32_t h[4] = { 0 }, p[4] = { 0 }, o[4] = { 0 }, *px;

	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd) < 0)
		return false;
	md.handle = cd.handle;
	if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md) < 0)
		return false;
	px = mmap(NULL, cd.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)md.offset);
	if (px == MAP_FAILED)
		return false;
	for (uint32_t i = 0; i < cd.size / 4; i++)
		px[i] = rgb;
	munmap(px, cd.size);
	h[0] = cd.handle;
	p[0] = cd.pitch;
	return drmModeAddFB2(fd, 1024, 768, DRM_FORMAT_XRGB8888, h, p, o, &fb->id, 0) == 0;
}

/* One atomic commit; modeset the first time. Returns 0 or errno. */
static int commit(int fd, const struct head *h, uint32_t fb, bool modeset)
{
	drmModeAtomicReqPtr req = drmModeAtomicAlloc();
	uint32_t blob = 0, plane = h->plane;
	bool ok = true;
	int err = 0;

	if (modeset) {
		if (drmModeCreatePropertyBlob(fd, &h->mode, sizeof(h->mode), &blob) < 0) {
			drmModeAtomicFree(req);
			return errno;
		}
		ok &= kg_vmt_add(fd, req, h->crtc, DRM_MODE_OBJECT_CRTC, "MODE_ID", blob);
		ok &= kg_vmt_add(fd, req, h->crtc, DRM_MODE_OBJECT_CRTC, "ACTIVE", 1);
		ok &= kg_vmt_add(fd, req, h->conn, DRM_MODE_OBJECT_CONNECTOR, "CRTC_ID", h->crtc);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "CRTC_ID", h->crtc);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "SRC_W", 1024 << 16);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "SRC_H", 768 << 16);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "CRTC_W", 1024);
		ok &= kg_vmt_add(fd, req, plane, DRM_MODE_OBJECT_PLANE, "CRTC_H", 768);
	}
	/* The property ids of a revoked lessee cannot be looked up (ENOENT):
	 * FB_ID's id is cached from the first call, as a real client would. */
	static uint32_t fb_prop;
	if (!fb_prop)
		fb_prop = kg_vmt_prop_id(fd, plane, DRM_MODE_OBJECT_PLANE, "FB_ID");
	drmModeAtomicAddProperty(req, plane, fb_prop, fb);
	if (!ok)
		err = EINVAL;
	else if (drmModeAtomicCommit(fd, req,
				     modeset ? DRM_MODE_ATOMIC_ALLOW_MODESET
					     : DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT,
				     NULL) < 0)
		err = errno;
	drmModeAtomicFree(req);
	if (blob)
		drmModeDestroyPropertyBlob(fd, blob);
	return err;
}

static int flip_events;
static void on_flip(int fd, unsigned seq, unsigned sec, unsigned usec, void *data)
{
	flip_events++;
}

/* n flips alternating a and b, each waiting for its event (1 s).
 * Returns flips done; *err: errno of the first failure. */
static int flips(int fd, const struct head *h, uint32_t a, uint32_t b, int n, int *err)
{
	drmEventContext ev = { .version = 2, .page_flip_handler = on_flip };
	int done = 0;

	*err = 0;
	for (int i = 0; i < n; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		int before = flip_events;

		*err = commit(fd, h, i & 1 ? b : a, false);
		if (*err)
			break;
		if (poll(&p, 1, 1000) <= 0) {
			*err = ETIMEDOUT;
			break;
		}
		drmHandleEvent(fd, &ev);
		if (flip_events == before) {
			*err = EIO;
			break;
		}
		done++;
	}
	return done;
}

/* One flip to fb, waiting for its event (a pending one would make the
 * next commit fail with EBUSY). Returns 0 or errno. */
static int show(int fd, const struct head *h, uint32_t fb)
{
	drmEventContext ev = { .version = 2, .page_flip_handler = on_flip };
	struct pollfd p = { fd, POLLIN, 0 };
	int err = commit(fd, h, fb, false);

	if (err)
		return err;
	if (poll(&p, 1, 1000) <= 0)
		return ETIMEDOUT;
	drmHandleEvent(fd, &ev);
	return 0;
}

static void fact(const char *label, int fd, const struct head *h, const struct fb *fbs)
{
	drmModeCrtcPtr c = drmModeGetCrtc(fd, h->crtc);
	int gerr = c ? 0 : errno, err, n;
	drmModeObjectListPtr l = drmModeGetLease(fd);

	drmModeFreeCrtc(c);
	n = flips(fd, h, fbs[0].id, fbs[1].id, 10, &err);
	printf("FACT %s flips=%d err=%s getcrtc=%s objects=%d", label, n, ename(err), ename(gerr),
	       l ? (int)l->count : -errno);
	drmFree(l);
	/* The alternative colour: on screen only while the lessee still works. */
	err = show(fd, h, fbs[2].id);
	printf(" alt=%s\n", ename(err));
	fflush(stdout);
}

static void hostwait(const char *what)
{
	char line[64];

	printf("HOST %s\n", what);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		exit(99);
}

/* A fresh open of the card after the lessor is gone: master? lessees? */
static void new_opener(const char *label)
{
	int fd = kg_vmt_open_card("virtio_gpu");
	drmModeLesseeListPtr ll;

	if (fd < 0)
		return;
	ll = drmModeListLessees(fd);
	printf("FACT %s master=%d lessees=%d\n", label, drmIsMaster(fd),
	       ll ? (int)ll->count : -errno);
	drmFree(ll);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *mode = argc == 4 ? argv[1] : "";
	int idx = argc == 4 ? atoi(argv[2]) : 0, ls, ks = -1, as, fds[2], n, st;
	uint32_t rgb = argc == 4 ? (uint32_t)strtoul(argv[3], NULL, 16) : 0;
	bool share = strcmp(mode, "kept") == 0 || strcmp(mode, "adopt") == 0;
	char label[64];
	struct fb fbs[3];
	struct head h;
	pid_t lp, kp = -1, ap;
	int lfd;

	if (!share && strcmp(mode, "close") != 0) {
		fprintf(stderr, "usage: kg-leasefacts close|kept|adopt HEAD RRGGBB\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lp = spawn(&ls, run_lessor, idx, share);
	n = recv_fds(ls, fds, 2);
	if (n != (share ? 2 : 1)) {
		fprintf(stderr, "no lease fd from the lessor\n");
		return 1;
	}
	lfd = fds[0];
	if (share) {
		/* The fd store: the keeper takes the master copy; ours goes. */
		kp = spawn(&ks, run_keeper, 0, false);
		send_fds(ks, &fds[1], 1);
		close(fds[1]);
	}
	/* The lessee sees only its own objects: its CRTC is index 0. */
	if (caps(lfd) < 0 || find_head(lfd, 0, &h) < 0 || !make_fb(lfd, rgb, &fbs[0]) ||
	    !make_fb(lfd, rgb, &fbs[1]) || !make_fb(lfd, rgb ^ 0xffffff, &fbs[2]) ||
	    commit(lfd, &h, fbs[0].id, true)) {
		fprintf(stderr, "lessee: cannot show %06x on head %d\n", rgb, idx);
		return 1;
	}
	snprintf(label, sizeof(label), "%s.lessor_alive", mode);
	fact(label, lfd, &h, fbs);
	show(lfd, &h, fbs[0].id); /* back to RRGGBB */
	usleep(100000);
	write(ls, "x", 1);
	waitpid(lp, &st, 0);
	printf("LESSOR_EXITED status=%d\n", WEXITSTATUS(st));
	snprintf(label, sizeof(label), "%s.lessor_exited", mode);
	fact(label, lfd, &h, fbs);
	snprintf(label, sizeof(label), "%s.new_opener", mode);
	new_opener(label);
	snprintf(label, sizeof(label), "%s-lessor-exited", mode);
	hostwait(label);
	if (strcmp(mode, "adopt") == 0) {
		/* The restarted process gets the master fd out of the store. */
		adopt_lessee = 0;
		{
			drmModeLesseeListPtr ll;
			int mfd;

			write(ks, "g", 1);
			if (recv_fds(ks, &mfd, 1) != 1)
				return 1;
			ll = drmModeListLessees(mfd);
			if (ll && ll->count == 1)
				adopt_lessee = ll->lessees[0];
			drmFree(ll);
			ap = spawn(&as, run_adopter, (idx + 1) % 4, false);
			send_fds(as, &mfd, 1);
			close(mfd);
		}
		waitpid(ap, &st, 0);
		fact("adopt.revoked", lfd, &h, fbs);
		hostwait("adopt-revoked");
	}
	if (share) {
		write(ks, "q", 1);
		waitpid(kp, &st, 0);
		fact(strcmp(mode, "kept") == 0 ? "kept.keeper_exited" : "adopt.keeper_exited", lfd,
		     &h, fbs);
		new_opener(strcmp(mode, "kept") == 0 ? "kept.new_opener_after_keeper"
						     : "adopt.new_opener_after_keeper");
		snprintf(label, sizeof(label), "%s-keeper-exited", mode);
		hostwait(label);
	}
	close(lfd);
	usleep(200000);
	snprintf(label, sizeof(label), "%s-lessee-closed", mode);
	hostwait(label);
	printf("LEASEFACTS_DONE %s\n", mode);
	return 0;
}
