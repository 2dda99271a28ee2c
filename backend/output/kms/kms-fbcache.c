// SPDX-License-Identifier: MIT
#include "kms-fbcache.h"

#include <drm_fourcc.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "kms-dumb.h"
#include "log.h"
#include "udmabuf.h"

/* Each entry pins guest pages and a kernel fb; the guest decides how many
 * resources it shows, so keep only this many (least recently used go). */
#define FBCACHE_MAX 32

struct kg_zcfb {
	struct kg_fbcache *cache;
	struct kg_zcfb *next; /* kg_fbcache.entries while listed */
	bool listed;
	int refs;
	uint64_t last_use;
	/* key */
	uint32_t resource_id;
	uint64_t generation, offset;
	uint32_t format, width, height, stride;
	/* value */
	uint32_t fb_id;
	bool refused; /* no zero copy for this key */
	unsigned ranges;
};

struct kg_fbcache {
	int drm_fd;
	int udmabuf_fd;
	struct kg_udmabuf_limits limits;
	uint64_t page_size;
	struct kg_zcfb *entries;
	unsigned n_entries;
	uint64_t clock;
	char disabled[160]; /* empty while zero copy is possible */
};

struct kg_fbcache *kg_fbcache_create(int drm_fd)
{
	struct kg_fbcache *c = calloc(1, sizeof(*c));
	long page = sysconf(_SC_PAGESIZE);

	if (!c)
		return NULL;
	c->drm_fd = drm_fd;
	c->udmabuf_fd = -1;
	c->page_size = page > 0 ? (uint64_t)page : 4096;
	kg_udmabuf_read_limits(&c->limits);
	return c;
}

static void zcfb_free(struct kg_zcfb *f)
{
	if (f->fb_id)
		kg_kms_close_fb(f->cache->drm_fd, f->fb_id);
	free(f);
}

static void unlist(struct kg_fbcache *c, struct kg_zcfb *f)
{
	for (struct kg_zcfb **p = &c->entries; *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	f->listed = false;
	f->next = NULL;
	c->n_entries--;
}

void kg_fbcache_destroy(struct kg_fbcache *c)
{
	if (!c)
		return;
	while (c->entries) {
		struct kg_zcfb *f = c->entries;
		unlist(c, f);
		if (--f->refs == 0)
			zcfb_free(f);
		else
			f->cache = NULL; /* should not happen: the output drops its refs first */
	}
	if (c->udmabuf_fd >= 0)
		close(c->udmabuf_fd);
	free(c);
}

struct kg_zcfb *kg_zcfb_ref(struct kg_zcfb *f)
{
	f->refs++;
	return f;
}

void kg_zcfb_unref(struct kg_zcfb *f)
{
	if (f && --f->refs == 0 && f->cache)
		zcfb_free(f);
}

uint32_t kg_zcfb_id(const struct kg_zcfb *f)
{
	return f->fb_id;
}

/* The layout the plane scans out: a rendered frame's dmabuf may order its
 * channels otherwise than the guest's format. */
static uint32_t scanout_format(const struct kg_fb_source *fb)
{
	return fb->kind == KG_FB_RENDERED ? fb->dmabuf_format : fb->drm_format;
}

static bool same_key(const struct kg_zcfb *f, const struct kg_fb_source *fb)
{
	return f->resource_id == fb->resource_id && f->generation == fb->generation &&
	       f->offset == fb->offset && f->format == scanout_format(fb) &&
	       f->width == fb->width && f->height == fb->height && f->stride == fb->stride;
}

static bool resource_refused_before(const struct kg_fbcache *c, uint32_t resource_id)
{
	for (const struct kg_zcfb *f = c->entries; f; f = f->next)
		if (f->resource_id == resource_id && f->refused)
			return true;
	return false;
}

static void evict_one(struct kg_fbcache *c)
{
	struct kg_zcfb *old = NULL;

	for (struct kg_zcfb *f = c->entries; f; f = f->next)
		if (f->refs == 1 && (!old || f->last_use < old->last_use))
			old = f;
	if (old) {
		unlist(c, old);
		kg_zcfb_unref(old);
	}
}

static void refuse(struct kg_fbcache *c, struct kg_zcfb *f, const char *step, int err)
{
	if (!resource_refused_before(c, f->resource_id))
		kg_warn("kms: resource %u: zero copy refused at %s: %s; copying its frames instead",
			f->resource_id, step, strerror(-err));
	f->refused = true;
}

static void disable(struct kg_fbcache *c, const char *step, int err)
{
	snprintf(c->disabled, sizeof(c->disabled), "%s: %s", step, strerror(-err));
	kg_warn("kms: zero copy is off for this device (%s); every frame is copied", c->disabled);
}

static int plan_for(struct kg_fbcache *c, const struct kg_fb_source *fb,
		    struct kg_udmabuf_plan *plan)
{
	int ret =
		kg_udmabuf_plan(fb, kg_format_cpp(fb->drm_format), c->page_size, &c->limits, plan);

	if (ret == -E2BIG && !resource_refused_before(c, fb->resource_id))
		kg_warn("kms: resource %u needs %u udmabuf ranges (%u guest chunks), more than "
			"udmabuf's list_limit %u: raise /sys/module/udmabuf/parameters/list_limit",
			fb->resource_id, plan->n_ranges, plan->n_chunks, c->limits.list_limit);
	else if (ret == -EFBIG && !resource_refused_before(c, fb->resource_id))
		kg_warn("kms: resource %u needs a %llu MiB udmabuf, more than udmabuf's "
			"size_limit_mb %llu: raise /sys/module/udmabuf/parameters/size_limit_mb",
			fb->resource_id, (unsigned long long)(plan->size >> 20),
			(unsigned long long)(c->limits.size_limit >> 20));
	return ret;
}

static int add_fb(struct kg_fbcache *c, struct kg_zcfb *f, uint32_t handle, uint64_t fb_offset,
		  uint64_t modifier)
{
	uint32_t handles[4] = { handle }, pitches[4] = { f->stride };
	uint32_t offsets[4] = { (uint32_t)fb_offset };
	uint64_t mods[4] = { modifier };

	if (!drmModeAddFB2WithModifiers(c->drm_fd, f->width, f->height, f->format, handles, pitches,
					offsets, mods, &f->fb_id, DRM_MODE_FB_MODIFIERS))
		return 0;
	/* Drivers without modifier support take the implicit (linear) layout. */
	if (modifier == DRM_FORMAT_MOD_LINEAR &&
	    !drmModeAddFB2(c->drm_fd, f->width, f->height, f->format, handles, pitches, offsets,
			   &f->fb_id, 0))
		return 0;
	f->fb_id = 0;
	return -errno;
}

/* A renderer's dmabuf → handle → fb. Returns 0 or -errno having logged. */
static int import_rendered(struct kg_fbcache *c, struct kg_zcfb *f, const struct kg_fb_source *fb)
{
	uint32_t handle = 0;
	int ret;

	if (drmPrimeFDToHandle(c->drm_fd, fb->dmabuf_fd, &handle) < 0) {
		ret = -errno;
		if (ret == -ENODEV || ret == -EOPNOTSUPP || ret == -ENOSYS)
			disable(c, "PRIME import (drmPrimeFDToHandle)", ret);
		else
			refuse(c, f, "PRIME import of the rendered dmabuf", ret);
		return ret;
	}
	ret = add_fb(c, f, handle, fb->offset, fb->modifier);
	if (ret < 0)
		refuse(c, f, "AddFB2 of the rendered dmabuf", ret);
	else
		kg_info("kms: resource %u (%ux%u): zero copy, the renderer's dmabuf scanned out",
			f->resource_id, f->width, f->height);
	drmCloseBufferHandle(c->drm_fd, handle);
	return ret;
}

/* udmabuf → handle → fb. Returns 0 or -errno having logged the step. */
static int import(struct kg_fbcache *c, struct kg_zcfb *f, const struct kg_fb_source *fb)
{
	struct kg_udmabuf_plan plan;
	uint32_t handle = 0;
	int dmabuf, ret;

	if (fb->kind == KG_FB_RENDERED)
		return import_rendered(c, f, fb);

	ret = plan_for(c, fb, &plan);
	f->ranges = plan.n_ranges;
	if (ret < 0) {
		refuse(c, f, "udmabuf layout", ret);
		goto out_plan;
	}
	dmabuf = kg_udmabuf_create(c->udmabuf_fd, &plan);
	if (dmabuf < 0) {
		ret = dmabuf;
		refuse(c, f, "UDMABUF_CREATE_LIST", ret);
		goto out_plan;
	}
	if (drmPrimeFDToHandle(c->drm_fd, dmabuf, &handle) < 0) {
		ret = -errno;
		/* virtio-gpu's import always says ENODEV: no resource can pass. */
		if (ret == -ENODEV || ret == -EOPNOTSUPP || ret == -ENOSYS)
			disable(c, "PRIME import (drmPrimeFDToHandle)", ret);
		else
			refuse(c, f, "PRIME import", ret);
		goto out_dmabuf;
	}
	ret = add_fb(c, f, handle, plan.fb_offset, DRM_FORMAT_MOD_LINEAR);
	if (ret < 0)
		refuse(c, f, "AddFB2", ret);
	else
		kg_info("kms: resource %u (%ux%u): zero copy, %u guest chunks in %u udmabuf "
			"range(s)",
			f->resource_id, f->width, f->height, plan.n_chunks, plan.n_ranges);
	/* The fb keeps the GEM object alive; the handle is not needed. */
	drmCloseBufferHandle(c->drm_fd, handle);
out_dmabuf:
	close(dmabuf);
out_plan:
	kg_udmabuf_plan_finish(&plan);
	return ret;
}

static bool ensure_udmabuf(struct kg_fbcache *c)
{
	if (c->udmabuf_fd >= 0)
		return true;
	c->udmabuf_fd = kg_udmabuf_open();
	if (c->udmabuf_fd >= 0)
		return true;
	disable(c, "open /dev/udmabuf (CONFIG_UDMABUF, permissions)", c->udmabuf_fd);
	c->udmabuf_fd = -1;
	return false;
}

static struct kg_zcfb *lookup(struct kg_fbcache *c, const struct kg_fb_source *fb)
{
	for (struct kg_zcfb *f = c->entries; f; f = f->next)
		if (same_key(f, fb))
			return f;
	return NULL;
}

struct kg_zcfb *kg_fbcache_get(struct kg_fbcache *c, const struct kg_fb_source *fb,
			       unsigned *ranges)
{
	struct kg_zcfb *f;

	*ranges = 0;
	if (c->disabled[0] || !kg_format_cpp(scanout_format(fb)))
		return NULL;
	/* A rendered frame the renderer could not export is read back. */
	if (fb->kind == KG_FB_RENDERED && fb->dmabuf_fd < 0)
		return NULL;
	f = lookup(c, fb);
	if (!f) {
		if (fb->kind == KG_FB_GUEST_PAGES && !ensure_udmabuf(c))
			return NULL;
		if (c->n_entries >= FBCACHE_MAX)
			evict_one(c);
		f = calloc(1, sizeof(*f));
		if (!f)
			return NULL;
		*f = (struct kg_zcfb){ .cache = c,
				       .refs = 1,
				       .listed = true,
				       .resource_id = fb->resource_id,
				       .generation = fb->generation,
				       .offset = fb->offset,
				       .format = scanout_format(fb),
				       .width = fb->width,
				       .height = fb->height,
				       .stride = fb->stride };
		import(c, f, fb);
		f->next = c->entries;
		c->entries = f;
		c->n_entries++;
	}
	f->last_use = ++c->clock;
	*ranges = f->ranges;
	return f->refused || !f->fb_id ? NULL : kg_zcfb_ref(f);
}

void kg_fbcache_refuse(struct kg_fbcache *c, struct kg_zcfb *f, int err)
{
	/* The kernel fb goes with the last reference; lookups see the refusal. */
	if (!f->refused)
		refuse(c, f, "the atomic commit", err);
}

void kg_fbcache_forget(struct kg_fbcache *c, uint32_t resource_id)
{
	struct kg_zcfb *f = c->entries, *next;

	for (; f; f = next) {
		next = f->next;
		if (f->resource_id == resource_id) {
			unlist(c, f);
			kg_zcfb_unref(f);
		}
	}
}

const char *kg_fbcache_disabled(const struct kg_fbcache *c)
{
	return c->disabled[0] ? c->disabled : NULL;
}

void kg_fbcache_force_off(struct kg_fbcache *c, const char *why)
{
	snprintf(c->disabled, sizeof(c->disabled), "%s", why);
}
