// SPDX-License-Identifier: MIT
#include "device.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "fdstore.h"
#include "log.h"

#define DEFAULT_DRIVER "rcar-du"
#define MAX_CARDS      16

/* Property ids looked up once at open (0: the object lacks it). */
struct obj_props {
	uint32_t a, b;
};

struct kg_device {
	int fd;
	char path[64];
	char driver[64];
	struct kg_desc desc;
	struct obj_props *crtc_props;  /* ACTIVE, MODE_ID */
	struct obj_props *conn_props;  /* CRTC_ID */
	struct obj_props *plane_props; /* FB_ID, CRTC_ID */
};

static bool driver_is(int fd, const char *name, char *out, size_t outlen)
{
	drmVersionPtr v = drmGetVersion(fd);
	bool match;

	if (!v)
		return false;
	snprintf(out, outlen, "%s", v->name ? v->name : "?");
	match = !name || (v->name && strcmp(v->name, name) == 0);
	drmFreeVersion(v);
	return match;
}

static bool can_kms(int fd)
{
	drmModeResPtr res = drmModeGetResources(fd);
	bool ok = res && res->count_crtcs > 0 && res->count_connectors > 0;

	drmModeFreeResources(res);
	return ok;
}

/* First /dev/dri/card* driven by driver (any driver if NULL) with KMS. */
static int find_card(struct kg_device *dev, const char *driver)
{
	for (int i = 0; i < MAX_CARDS; i++) {
		int fd;

		snprintf(dev->path, sizeof(dev->path), "%s/card%d", DRM_DIR_NAME, i);
		fd = open(dev->path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (driver_is(fd, driver, dev->driver, sizeof(dev->driver)) && can_kms(fd))
			return fd;
		close(fd);
	}
	return -ENODEV;
}

static int open_card(struct kg_device *dev, const char *path, const char *driver)
{
	int fd;

	if (path) {
		snprintf(dev->path, sizeof(dev->path), "%s", path);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			kg_log_errno(KG_LOG_ERROR,
				     "cannot open %s (is it a DRM card node, and are you root?)",
				     path);
			return -errno;
		}
		driver_is(fd, NULL, dev->driver, sizeof(dev->driver));
		return fd;
	}
	fd = find_card(dev, driver ? driver : DEFAULT_DRIVER);
	if (fd < 0 && !driver)
		fd = find_card(dev, NULL);
	if (fd < 0)
		kg_err("no KMS device%s%s found in %s (load its driver, or give --device PATH)",
		       driver ? " of driver " : "", driver ? driver : "", DRM_DIR_NAME);
	return fd;
}

static int become_master(struct kg_device *dev, bool master)
{
	/* The first opener is master already; this catches the case where
	 * someone else (a compositor, fbcon users do not count) holds it. */
	if (!master)
		drmDropMaster(dev->fd);
	else if (drmSetMaster(dev->fd) < 0) {
		/* drmIsMaster() is an ioctl too (EACCES when not master): the
		 * reason is SET_MASTER's errno. */
		int err = errno;

		if (!drmIsMaster(dev->fd)) {
			kg_err("cannot become DRM master of %s (%s): %s; %s", dev->path,
			       dev->driver, strerror(err),
			       err == EBUSY ? "another process is its master (a display server?): "
					      "stop it, or choose another card with --device or "
					      "--driver"
					    : "run the broker as root");
			return -err;
		}
	}
	if (drmSetClientCap(dev->fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) < 0 ||
	    drmSetClientCap(dev->fd, DRM_CLIENT_CAP_ATOMIC, 1) < 0) {
		kg_log_errno(KG_LOG_ERROR, "%s (%s) does not do atomic modesetting", dev->path,
			     dev->driver);
		return -EOPNOTSUPP;
	}
	return 0;
}

static uint32_t prop_id(int fd, uint32_t obj, uint32_t type, const char *name, uint64_t *value)
{
	drmModeObjectPropertiesPtr props = drmModeObjectGetProperties(fd, obj, type);
	uint32_t id = 0;

	for (uint32_t i = 0; props && i < props->count_props && !id; i++) {
		drmModePropertyPtr p = drmModeGetProperty(fd, props->props[i]);

		if (p && strcmp(p->name, name) == 0) {
			id = p->prop_id;
			if (value)
				*value = props->prop_values[i];
		}
		drmModeFreeProperty(p);
	}
	drmModeFreeObjectProperties(props);
	return id;
}

static int fill_crtcs(struct kg_device *dev, drmModeResPtr res)
{
	struct kg_desc *d = &dev->desc;

	d->crtcs = calloc((size_t)res->count_crtcs, sizeof(*d->crtcs));
	dev->crtc_props = calloc((size_t)res->count_crtcs, sizeof(*dev->crtc_props));
	if (!d->crtcs || !dev->crtc_props)
		return -ENOMEM;
	d->n_crtcs = (size_t)res->count_crtcs;
	for (size_t i = 0; i < d->n_crtcs; i++) {
		d->crtcs[i].id = res->crtcs[i];
		dev->crtc_props[i].a =
			prop_id(dev->fd, res->crtcs[i], DRM_MODE_OBJECT_CRTC, "ACTIVE", NULL);
		dev->crtc_props[i].b =
			prop_id(dev->fd, res->crtcs[i], DRM_MODE_OBJECT_CRTC, "MODE_ID", NULL);
	}
	return 0;
}

/* Fills status, size and modes (the part a hotplug changes). */
static int fill_connector_state(struct kg_desc_connector *c, drmModeConnectorPtr mc)
{
	drmModeModeInfo *modes = NULL;

	if (mc->count_modes > 0) {
		modes = calloc((size_t)mc->count_modes, sizeof(*modes));
		if (!modes)
			return -ENOMEM;
		memcpy(modes, mc->modes, (size_t)mc->count_modes * sizeof(*modes));
	}
	free(c->modes);
	c->modes = modes;
	c->n_modes = (size_t)(mc->count_modes > 0 ? mc->count_modes : 0);
	c->status = (enum kg_conn_status)mc->connection;
	c->mm_width = mc->mmWidth;
	c->mm_height = mc->mmHeight;
	return 0;
}

static void fill_connector_links(struct kg_device *dev, struct kg_desc_connector *c,
				 drmModeConnectorPtr mc)
{
	const char *type = drmModeGetConnectorTypeName(mc->connector_type);

	c->id = mc->connector_id;
	c->type = mc->connector_type;
	c->type_id = mc->connector_type_id;
	snprintf(c->name, sizeof(c->name), "%s-%u", type ? type : "Unknown", mc->connector_type_id);
	c->cur_crtc = -1;
	for (int e = 0; e < mc->count_encoders; e++) {
		drmModeEncoderPtr enc = drmModeGetEncoder(dev->fd, mc->encoders[e]);

		if (!enc)
			continue;
		c->possible_crtcs |= enc->possible_crtcs;
		if (enc->encoder_id == mc->encoder_id && enc->crtc_id)
			c->cur_crtc = kg_desc_crtc_index(&dev->desc, enc->crtc_id);
		drmModeFreeEncoder(enc);
	}
}

static int fill_connectors(struct kg_device *dev, drmModeResPtr res)
{
	struct kg_desc *d = &dev->desc;

	d->connectors = calloc((size_t)res->count_connectors, sizeof(*d->connectors));
	dev->conn_props = calloc((size_t)res->count_connectors, sizeof(*dev->conn_props));
	if (!d->connectors || !dev->conn_props)
		return -ENOMEM;
	for (int i = 0; i < res->count_connectors; i++) {
		drmModeConnectorPtr mc = drmModeGetConnector(dev->fd, res->connectors[i]);
		struct kg_desc_connector *c = &d->connectors[d->n_connectors];
		int ret;

		if (!mc) {
			kg_log_errno(KG_LOG_WARN, "%s: cannot read connector %u; skipping it",
				     dev->path, res->connectors[i]);
			continue;
		}
		fill_connector_links(dev, c, mc);
		ret = fill_connector_state(c, mc);
		drmModeFreeConnector(mc);
		if (ret < 0)
			return ret;
		dev->conn_props[d->n_connectors].a =
			prop_id(dev->fd, c->id, DRM_MODE_OBJECT_CONNECTOR, "CRTC_ID", NULL);
		d->n_connectors++;
	}
	return 0;
}

static int fill_planes(struct kg_device *dev)
{
	struct kg_desc *d = &dev->desc;
	drmModePlaneResPtr pres = drmModeGetPlaneResources(dev->fd);
	int ret = -ENOMEM;

	if (!pres)
		return -errno;
	d->planes = calloc(pres->count_planes + 1, sizeof(*d->planes));
	dev->plane_props = calloc(pres->count_planes + 1, sizeof(*dev->plane_props));
	if (!d->planes || !dev->plane_props)
		goto out_pres;
	for (uint32_t i = 0; i < pres->count_planes; i++) {
		drmModePlanePtr p = drmModeGetPlane(dev->fd, pres->planes[i]);
		struct kg_desc_plane *dp = &d->planes[d->n_planes];
		uint64_t type = KG_PLANE_OVERLAY;

		if (!p)
			continue;
		dp->id = p->plane_id;
		dp->possible_crtcs = p->possible_crtcs;
		drmModeFreePlane(p);
		prop_id(dev->fd, dp->id, DRM_MODE_OBJECT_PLANE, "type", &type);
		dp->type = (enum kg_plane_type)type;
		dev->plane_props[d->n_planes].a =
			prop_id(dev->fd, dp->id, DRM_MODE_OBJECT_PLANE, "FB_ID", NULL);
		dev->plane_props[d->n_planes].b =
			prop_id(dev->fd, dp->id, DRM_MODE_OBJECT_PLANE, "CRTC_ID", NULL);
		kg_dbg("plane %u: type %d, possible CRTCs 0x%x", dp->id, (int)dp->type,
		       dp->possible_crtcs);
		d->n_planes++;
	}
	ret = 0;
out_pres:
	drmModeFreePlaneResources(pres);
	return ret;
}

static int describe(struct kg_device *dev)
{
	drmModeResPtr res = drmModeGetResources(dev->fd);
	int ret;

	if (!res) {
		kg_log_errno(KG_LOG_ERROR, "%s: cannot read KMS resources", dev->path);
		return -EIO;
	}
	ret = fill_crtcs(dev, res);
	if (ret == 0)
		ret = fill_connectors(dev, res);
	drmModeFreeResources(res);
	if (ret == 0)
		ret = fill_planes(dev);
	if (ret < 0)
		kg_err("%s: cannot describe the device: %s", dev->path, strerror(-ret));
	return ret;
}

int kg_device_open(const char *path, const char *driver, bool master, struct kg_device **out)
{
	struct kg_device *dev = calloc(1, sizeof(*dev));
	int ret;

	*out = NULL;
	if (!dev)
		return -ENOMEM;
	dev->fd = open_card(dev, path, driver);
	if (dev->fd < 0) {
		ret = dev->fd;
		goto err_dev;
	}
	ret = become_master(dev, master);
	if (ret < 0)
		goto err_dev;
	ret = describe(dev);
	if (ret < 0)
		goto err_dev;
	kg_info("%s (%s): %zu connectors, %zu CRTCs, %zu planes", dev->path, dev->driver,
		dev->desc.n_connectors, dev->desc.n_crtcs, dev->desc.n_planes);
	*out = dev;
	return 0;
err_dev:
	kg_device_destroy(dev);
	return ret;
}

/* The stored fd must be the card this broker is configured for: the same
 * device node as --device, else a card of --driver. Without either, any
 * KMS card: the previous broker made the default choice itself. */
static int check_adopted(struct kg_device *dev, const char *path, const char *driver)
{
	struct stat fst, pst;
	bool match;

	if (fstat(dev->fd, &fst) < 0)
		return -errno;
	match = driver_is(dev->fd, driver, dev->driver, sizeof(dev->driver)) && can_kms(dev->fd);
	if (path) {
		if (stat(path, &pst) < 0) {
			kg_log_errno(KG_LOG_ERROR, "cannot stat %s", path);
			return -errno;
		}
		match = kg_fdstore_same_device(&fst, &pst);
	}
	if (!match) {
		kg_err("the DRM fd in systemd's fd store is %s (%s, device %u:%u), not the "
		       "configured %s; not adopting it (its leases end when systemd drops it: "
		       "systemctl stop kmsgate-broker, then start it)",
		       dev->path, dev->driver, major(fst.st_rdev), minor(fst.st_rdev),
		       path	? path
		       : driver ? driver
				: "KMS card");
		return -ENODEV;
	}
	return 0;
}

int kg_device_adopt(int fd, const char *path, const char *driver, struct kg_device **out)
{
	struct kg_device *dev = calloc(1, sizeof(*dev));
	char *name;
	int ret;

	*out = NULL;
	if (!dev) {
		close(fd);
		return -ENOMEM;
	}
	dev->fd = fd;
	name = drmGetDeviceNameFromFd2(fd);
	snprintf(dev->path, sizeof(dev->path), "%s", name ? name : "(stored fd)");
	free(name);
	ret = check_adopted(dev, path, driver);
	if (ret < 0)
		goto err_dev;
	/* Still master: the store kept the DRM file open (SET_MASTER on the
	 * current master is a no-op; it fails if someone took over). */
	ret = become_master(dev, true);
	if (ret < 0)
		goto err_dev;
	ret = describe(dev);
	if (ret < 0)
		goto err_dev;
	kg_info("%s (%s): adopted from systemd's fd store, still DRM master: %zu connectors, "
		"%zu CRTCs, %zu planes",
		dev->path, dev->driver, dev->desc.n_connectors, dev->desc.n_crtcs,
		dev->desc.n_planes);
	*out = dev;
	return 0;
err_dev:
	kg_device_destroy(dev);
	return ret;
}

void kg_device_destroy(struct kg_device *dev)
{
	if (!dev)
		return;
	kg_desc_free(&dev->desc);
	free(dev->crtc_props);
	free(dev->conn_props);
	free(dev->plane_props);
	if (dev->fd >= 0)
		close(dev->fd);
	free(dev);
}

int kg_device_fd(const struct kg_device *dev)
{
	return dev->fd;
}

const char *kg_device_path(const struct kg_device *dev)
{
	return dev->path;
}

const struct kg_desc *kg_device_desc(const struct kg_device *dev)
{
	return &dev->desc;
}

static bool same_state(const struct kg_desc_connector *c, drmModeConnectorPtr mc)
{
	return c->status == (enum kg_conn_status)mc->connection && c->mm_width == mc->mmWidth &&
	       c->mm_height == mc->mmHeight && c->n_modes == (size_t)mc->count_modes &&
	       (c->n_modes == 0 ||
		memcmp(c->modes, mc->modes, c->n_modes * sizeof(*c->modes)) == 0);
}

int kg_device_reprobe(struct kg_device *dev, bool *changed)
{
	int n = 0;

	for (size_t i = 0; i < dev->desc.n_connectors; i++) {
		struct kg_desc_connector *c = &dev->desc.connectors[i];
		drmModeConnectorPtr mc = drmModeGetConnector(dev->fd, c->id);
		int ret = 0;

		changed[i] = false;
		if (!mc) {
			kg_log_errno(KG_LOG_WARN, "%s: cannot probe connector %s", dev->path,
				     c->name);
			continue;
		}
		if (!same_state(c, mc)) {
			ret = fill_connector_state(c, mc);
			changed[i] = ret == 0;
			n += ret == 0;
		}
		drmModeFreeConnector(mc);
		if (ret < 0)
			return ret;
	}
	return n;
}

static int plane_index(const struct kg_device *dev, uint32_t id)
{
	const struct kg_desc_plane *p = kg_desc_find_plane(&dev->desc, id);

	return p ? (int)(p - dev->desc.planes) : -1;
}

int kg_device_blank(struct kg_device *dev, size_t crtc, size_t connector, const uint32_t *planes,
		    size_t n_planes)
{
	drmModeAtomicReqPtr req = drmModeAtomicAlloc();
	uint32_t crtc_id = dev->desc.crtcs[crtc].id;
	uint32_t conn_id = dev->desc.connectors[connector].id;
	int ret = 0;

	if (!req)
		return -ENOMEM;
	for (size_t i = 0; i < n_planes; i++) {
		int pi = plane_index(dev, planes[i]);

		if (pi < 0)
			continue;
		ret |= drmModeAtomicAddProperty(req, planes[i], dev->plane_props[pi].a, 0) < 0;
		ret |= drmModeAtomicAddProperty(req, planes[i], dev->plane_props[pi].b, 0) < 0;
	}
	ret |= drmModeAtomicAddProperty(req, conn_id, dev->conn_props[connector].a, 0) < 0;
	ret |= drmModeAtomicAddProperty(req, crtc_id, dev->crtc_props[crtc].b, 0) < 0;
	ret |= drmModeAtomicAddProperty(req, crtc_id, dev->crtc_props[crtc].a, 0) < 0;
	if (ret) {
		drmModeAtomicFree(req);
		return -ENOMEM;
	}
	ret = drmModeAtomicCommit(dev->fd, req, DRM_MODE_ATOMIC_ALLOW_MODESET, NULL);
	if (ret < 0) {
		ret = -errno;
		kg_log_errno(KG_LOG_WARN, "%s: cannot blank CRTC %u", dev->path, crtc_id);
	}
	drmModeAtomicFree(req);
	return ret;
}

uint32_t kg_device_plane_fb(struct kg_device *dev, uint32_t plane_id)
{
	drmModePlanePtr p = drmModeGetPlane(dev->fd, plane_id);
	uint32_t fb = p ? p->fb_id : 0;

	drmModeFreePlane(p);
	return fb;
}

bool kg_device_crtc_mode(struct kg_device *dev, size_t crtc, drmModeModeInfo *mode)
{
	drmModeCrtcPtr c = drmModeGetCrtc(dev->fd, dev->desc.crtcs[crtc].id);
	bool on = c && c->mode_valid;

	if (on)
		*mode = c->mode;
	drmModeFreeCrtc(c);
	return on;
}
