// SPDX-License-Identifier: MIT
/*
 * Run by `kmsgatectl run --preload` in the VM: what an unmodified program
 * sees when it opens /dev/dri/card0 on a lease.
 *  - the open lands on the lease: the resources list exactly the leased
 *    connector and CRTC ($KMSGATE_CONNECTOR_ID, $KMSGATE_CRTC_ID);
 *  - drmSetMaster() succeeds (a lessee is master of its lease);
 *  - the kernel refuses DROP_MASTER from a lessee (EINVAL, seen through a raw
 *    syscall the shim cannot intercept), and drmDropMaster() succeeds through
 *    the shim.
 * Prints one line per check and exits 0 only if all hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

static int failures;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", ok ? "OK" : "FAILED", what);
	failures += !ok;
}

static unsigned env_u32(const char *name)
{
	const char *v = getenv(name);

	return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

int main(void)
{
	int fd = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	drmModeRes *res;

	check(fd >= 0, "open /dev/dri/card0");
	if (fd < 0)
		return 1;
	res = drmModeGetResources(fd);
	check(res && res->count_crtcs == 1 && res->crtcs[0] == env_u32("KMSGATE_CRTC_ID"),
	      "only the leased CRTC is visible");
	check(res && res->count_connectors == 1 &&
		      res->connectors[0] == env_u32("KMSGATE_CONNECTOR_ID"),
	      "only the leased connector is visible");
	drmModeFreeResources(res);
	check(drmSetMaster(fd) == 0, "drmSetMaster on the lease succeeds");
	errno = 0;
	check(syscall(SYS_ioctl, fd, DRM_IOCTL_DROP_MASTER, NULL) == -1 && errno == EINVAL,
	      "the kernel refuses DROP_MASTER from a lessee with EINVAL");
	check(drmDropMaster(fd) == 0, "drmDropMaster through the shim succeeds");
	close(fd);
	return failures ? 1 : 0;
}
