/* SPDX-License-Identifier: MIT */
/*
 * kg_fbcache: zero-copy framebuffers for guest resources.
 *
 * guest chunks → udmabuf (merged ranges) → PRIME import → AddFB2WithModifiers
 * (LINEAR), cached per (resource, generation, layout). Entries are reference
 * counted: a framebuffer the display still scans out outlives forget(), since
 * removing an fb that is on screen would turn the plane off.
 *
 * A refusal is cached too (and logged once per resource, naming the step and
 * errno); a refusal that no resource can escape (no /dev/udmabuf, a driver
 * whose PRIME import returns ENODEV) turns zero copy off for the device.
 */
#ifndef KG_KMS_FBCACHE_H
#define KG_KMS_FBCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "output.h"

struct kg_fbcache;
struct kg_zcfb; /* one imported framebuffer */

struct kg_fbcache *kg_fbcache_create(int drm_fd);
/* Frees every entry (the display must no longer scan them out). Accepts NULL. */
void kg_fbcache_destroy(struct kg_fbcache *c);

/*
 * The framebuffer for fb, imported on first use. Returns a new reference, or
 * NULL when this fb cannot be scanned out zero copy (the caller copies).
 * *ranges is set to the udmabuf entries it needed (0 if refused before that).
 */
struct kg_zcfb *kg_fbcache_get(struct kg_fbcache *c, const struct kg_fb_source *fb,
			       unsigned *ranges);
struct kg_zcfb *kg_zcfb_ref(struct kg_zcfb *f);
void kg_zcfb_unref(struct kg_zcfb *f); /* accepts NULL */
uint32_t kg_zcfb_id(const struct kg_zcfb *f);
/* The display refused this fb in a commit: never offer it again. */
void kg_fbcache_refuse(struct kg_fbcache *c, struct kg_zcfb *f, int err);

/* Drops the cache's references to the resource's entries. */
void kg_fbcache_forget(struct kg_fbcache *c, uint32_t resource_id);
/* Why zero copy is off for the whole device, or NULL while it is possible. */
const char *kg_fbcache_disabled(const struct kg_fbcache *c);
/* Disable zero copy on purpose (benchmarks of the copy path). */
void kg_fbcache_force_off(struct kg_fbcache *c, const char *why);

#endif
