/* SPDX-License-Identifier: MIT */
/*
 * kg_lease: one pipeline's DRM lease over its life: grant, revoke, and what
 * stays on screen afterwards.
 *
 * Keeping the last frame: a lessee's framebuffers belong to its DRM file,
 * and the kernel switches planes off when the last fd of that file closes.
 * The broker keeps its own copy of the lease fd after revoking (a "stale"
 * fd, which can do nothing any more), so the frame stays until the next
 * lessee shows one of its own; then the stale fd is closed. At most one
 * stale fd per pipeline is kept: the one whose frame is on screen.
 * Under systemd every lease fd the broker holds is in its fd store too
 * (lessee-ID-PIPELINE), so a restarted broker still has it: a lessee that
 * dies after the restart leaves its frame as before.
 */
#ifndef KG_BROKER_LEASE_H
#define KG_BROKER_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "plan.h"

struct kg_fdstore;
struct kg_lease;

/* pp must outlive the lease; store may be NULL. Returns NULL with errno
 * set. */
struct kg_lease *kg_lease_create(struct kg_device *dev, const struct kg_plan_pipeline *pp,
				 struct kg_fdstore *store);
/* Revokes an active lease (blanking per config) and closes every fd.
 * Accepts NULL. */
void kg_lease_destroy(struct kg_lease *lease);

/* Creates the DRM lease (connector, CRTC, planes; O_CLOEXEC). *fd stays
 * owned by the lease: send it, do not close it. Returns 0, -EBUSY if
 * already granted, or the -errno of drmModeCreateLease. */
int kg_lease_grant(struct kg_lease *lease, int *fd, uint32_t *lessee_id);

/* Puts our copy of the granted lease's fd in the fd store (lessee-ID-
 * PIPELINE), once the lease is in the stored table and its client has it:
 * stored earlier, it would outlive a kill -9 that its client never saw
 * the lease of. */
void kg_lease_keep(struct kg_lease *lease);

/* Revokes the active lease, then keeps the last frame or blanks, per the
 * pipeline's on-release. Measures and logs how long the revoke took. */
void kg_lease_revoke(struct kg_lease *lease);

/* After a restart: the kernel's lessee lessee_id, whose client came back
 * with its connection, is this pipeline's active lease again. fd: our copy
 * of its fd from the store (the lease owns it), -1 if there is none; then
 * kg_lease_revoke revokes by id and, with on-release keep, leaves the
 * frame to the lessee's own fd. */
void kg_lease_adopt(struct kg_lease *lease, uint32_t lessee_id, int fd);
/* The framebuffer the pipeline's primary plane shows, 0 if none. */
uint32_t kg_lease_plane_fb(const struct kg_lease *lease);
/* After a restart: fd (owned by the lease from here) is the stored fd of
 * a revoked lessee kept for its frame fb, which is on screen
 * (kg_fdstore_take_frame_fd picks it so); kept while it stays there. */
void kg_lease_adopt_frame(struct kg_lease *lease, int fd, uint32_t lessee_id, uint32_t fb);

/* The lessee id of the active lease, 0 when none. */
uint32_t kg_lease_lessee_id(const struct kg_lease *lease);

/* Ends a lease adopted after a restart (the broker holds no fd of it, only
 * its id): revokes it and blanks per on-release. With keep, the frame
 * stays until the lessee closes its fd (the broker has no copy to keep).
 * Returns 0 or the -errno of drmModeRevokeLease. */
int kg_lease_end_orphan(struct kg_lease *lease, uint32_t lessee_id);

/* While a new lessee holds the pipeline, closes the stale fd once the
 * primary plane shows another framebuffer. Returns true while a stale fd
 * remains to be watched. */
bool kg_lease_sweep(struct kg_lease *lease);

#endif
