// SPDX-License-Identifier: MIT
/*
 * libkmsgate-preload.so: lets programs that know nothing of leases run on a
 * kmsgate pipeline. With LD_PRELOAD set and KMSGATE_LEASE_FD naming an
 * inherited lease fd (kmsgatectl run --preload sets both), every open() of
 * the lease's DRM device node (any path: /dev/dri/card0, by-path links...)
 * returns a new dup of the lease fd instead, so drmOpen("virtio_gpu") or
 * open("/dev/dri/card0") land on the lease. Other paths, and other DRM
 * devices, open as usual.
 *
 * DRM master: a lessee is master of its lease already, so drmSetMaster()
 * succeeds on it; drmDropMaster() fails with EINVAL on a lessee. Programs
 * that drop master when they exit or switch VT only log that, so the shim
 * makes DROP_MASTER on a lease fd succeed as a no-op.
 *
 * KMSGATE_PRELOAD_DEBUG=1 logs each redirection on stderr.
 */
/* open and open64 are both defined here: keep the headers from renaming
 * one into the other. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <drm.h>

#define EXPORT __attribute__((visibility("default")))

static int lease_fd = -1;
static dev_t lease_rdev;
static bool debug;

__attribute__((constructor)) static void preload_init(void)
{
	const char *v = getenv("KMSGATE_LEASE_FD");
	struct stat st;
	char *end;
	long fd;

	debug = getenv("KMSGATE_PRELOAD_DEBUG") != NULL;
	if (!v || !*v)
		return;
	errno = 0;
	fd = strtol(v, &end, 10);
	if (errno || *end || fd < 0 || fd > 65535 || fstat((int)fd, &st) < 0 ||
	    !S_ISCHR(st.st_mode)) {
		fprintf(stderr,
			"kmsgate-preload: KMSGATE_LEASE_FD=%s is not an open DRM device fd; "
			"not redirecting\n",
			v);
		return;
	}
	lease_fd = (int)fd;
	lease_rdev = st.st_rdev;
}

/* The lease's device, reached by any name? Only paths under /dev are
 * considered: stat() of every opened file would be slow and pointless. */
static bool is_lease_node(const char *path)
{
	struct stat st;

	if (lease_fd < 0 || !path || strncmp(path, "/dev/", 5) != 0)
		return false;
	return stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == lease_rdev;
}

static int redirect(const char *path, int flags)
{
	int fd = fcntl(lease_fd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);

	if (debug)
		fprintf(stderr, "kmsgate-preload: open(%s) -> lease fd %d (dup %d)\n", path,
			lease_fd, fd);
	return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? va_arg(ap, mode_t) : 0;
}

#define NEXT(name, type)                                     \
	static type next_##name;                             \
	if (!next_##name)                                    \
		next_##name = (type)dlsym(RTLD_NEXT, #name); \
	if (!next_##name) {                                  \
		errno = ENOSYS;                              \
		return -1;                                   \
	}

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);

/* One wrapper for each open entry point: params is its parameter list
 * (path and flags named so), args the call to the real one. Relative paths
 * (openat with a dirfd) are not redirected: DRM devices are opened by
 * absolute path in practice. */
#define REDIRECT_OR_NEXT(name, type, args)    \
	if (is_lease_node(path))              \
		return redirect(path, flags); \
	NEXT(name, type);                     \
	return next_##name args;

/* The variadic ones read a mode when flags ask for one. */
#define OPEN_WRAPPER(name, type, params, args)     \
	EXPORT int name params                     \
	{                                          \
		va_list ap;                        \
		mode_t mode;                       \
		va_start(ap, flags);               \
		mode = mode_arg(flags, ap);        \
		va_end(ap);                        \
		REDIRECT_OR_NEXT(name, type, args) \
	}

/* glibc's _FORTIFY_SOURCE entry points (no public prototypes). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

#define OPEN2_WRAPPER(name, type, params, args)    \
	EXPORT int name params                     \
	{                                          \
		REDIRECT_OR_NEXT(name, type, args) \
	}

#define OPEN_PARAMS    (const char *path, int flags, ...)
#define OPENAT_PARAMS  (int dirfd, const char *path, int flags, ...)
#define OPEN2_PARAMS   (const char *path, int flags)
#define OPENAT2_PARAMS (int dirfd, const char *path, int flags)
OPEN_WRAPPER(open, open_fn, OPEN_PARAMS, (path, flags, mode))
OPEN_WRAPPER(open64, open_fn, OPEN_PARAMS, (path, flags, mode))
OPEN_WRAPPER(openat, openat_fn, OPENAT_PARAMS, (dirfd, path, flags, mode))
OPEN_WRAPPER(openat64, openat_fn, OPENAT_PARAMS, (dirfd, path, flags, mode))
OPEN2_WRAPPER(__open_2, open2_fn, OPEN2_PARAMS, (path, flags))
OPEN2_WRAPPER(__open64_2, open2_fn, OPEN2_PARAMS, (path, flags))
OPEN2_WRAPPER(__openat_2, openat2_fn, OPENAT2_PARAMS, (dirfd, path, flags))
OPEN2_WRAPPER(__openat64_2, openat2_fn, OPENAT2_PARAMS, (dirfd, path, flags))

/* Is fd on the lease's device? */
static bool on_lease_device(int fd)
{
	struct stat st;

	return lease_fd >= 0 && fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == lease_rdev;
}

typedef int (*ioctl_fn)(int, unsigned long, ...);

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	NEXT(ioctl, ioctl_fn);
	r = next_ioctl(fd, req, arg);
	/* The kernel refuses DROP_MASTER from a lessee (EINVAL): it stays
	 * master of its lease anyway, so report what the program expects. */
	if (r < 0 && errno == EINVAL && req == DRM_IOCTL_DROP_MASTER && on_lease_device(fd)) {
		if (debug)
			fprintf(stderr, "kmsgate-preload: DROP_MASTER on the lease: ignored\n");
		return 0;
	}
	return r;
}
