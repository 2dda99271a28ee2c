// SPDX-License-Identifier: MIT
#include "kms-dumb.h"

#include <drm_fourcc.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "log.h"

#ifndef DRM_IOCTL_MODE_CLOSEFB /* libdrm < 2.4.121 */
struct drm_mode_closefb {
	uint32_t fb_id;
	uint32_t pad;
};
#define DRM_IOCTL_MODE_CLOSEFB DRM_IOWR(0xD0, struct drm_mode_closefb)
#endif

void kg_kms_close_fb(int fd, uint32_t fb_id)
{
	struct drm_mode_closefb c = { .fb_id = fb_id };

	if (drmIoctl(fd, DRM_IOCTL_MODE_CLOSEFB, &c) < 0 && (errno == ENOTTY || errno == EINVAL))
		drmModeRmFB(fd, fb_id);
}

uint32_t kg_format_cpp(uint32_t f)
{
	switch (f) {
	case DRM_FORMAT_XRGB8888:
	case DRM_FORMAT_ARGB8888:
	case DRM_FORMAT_XBGR8888:
	case DRM_FORMAT_ABGR8888:
	case DRM_FORMAT_RGBX8888:
	case DRM_FORMAT_RGBA8888:
	case DRM_FORMAT_BGRX8888:
	case DRM_FORMAT_BGRA8888:
		return 4;
	case DRM_FORMAT_RGB565:
		return 2;
	default:
		return 0;
	}
}

static int dumb_create(struct kg_dumb *d, uint32_t cpp)
{
	struct drm_mode_create_dumb create = { .width = d->width,
					       .height = d->height,
					       .bpp = cpp * 8 };
	struct drm_mode_map_dumb map = { 0 };
	void *p;

	if (drmIoctl(d->fd, DRM_IOCTL_MODE_CREATE_DUMB, &create) < 0) {
		kg_log_errno(KG_LOG_ERROR, "kms: creating a %ux%u dumb buffer failed", d->width,
			     d->height);
		return -errno;
	}
	d->handle = create.handle;
	d->stride = create.pitch;
	d->size = create.size;
	map.handle = d->handle;
	if (drmIoctl(d->fd, DRM_IOCTL_MODE_MAP_DUMB, &map) < 0) {
		kg_log_errno(KG_LOG_ERROR, "kms: mapping a dumb buffer failed");
		return -errno;
	}
	p = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, map.offset);
	if (p == MAP_FAILED) {
		kg_log_errno(KG_LOG_ERROR, "kms: mmap of a dumb buffer (%llu bytes) failed",
			     (unsigned long long)d->size);
		return -errno;
	}
	d->map = p;
	memset(d->map, 0, d->size);
	return 0;
}

int kg_dumb_init(struct kg_dumb *d, int fd, uint32_t width, uint32_t height, uint32_t format)
{
	uint32_t cpp = kg_format_cpp(format);
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = fd;
	d->width = width;
	d->height = height;
	d->format = format;
	if (!cpp || !width || !height)
		return -EINVAL;
	ret = dumb_create(d, cpp);
	if (ret < 0)
		goto err_dumb;
	handles[0] = d->handle;
	pitches[0] = d->stride;
	if (drmModeAddFB2(fd, width, height, format, handles, pitches, offsets, &d->fb_id, 0) < 0) {
		ret = -errno;
		kg_log_errno(KG_LOG_ERROR, "kms: AddFB2 of a %ux%u dumb buffer failed", width,
			     height);
		goto err_dumb;
	}
	return 0;

err_dumb:
	kg_dumb_finish(d);
	return ret;
}

void kg_dumb_finish(struct kg_dumb *d)
{
	if (d->fb_id)
		kg_kms_close_fb(d->fd, d->fb_id);
	if (d->map)
		munmap(d->map, d->size);
	if (d->handle) {
		struct drm_mode_destroy_dumb destroy = { .handle = d->handle };
		drmIoctl(d->fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
	}
	memset(d, 0, sizeof(*d));
	d->fd = -1;
}
