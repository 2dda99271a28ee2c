// SPDX-License-Identifier: MIT
#include "lease.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <xf86drmMode.h>

#include "fdstore.h"
#include "log.h"

struct kg_lease {
	struct kg_device *dev;
	const struct kg_plan_pipeline *pp;
	struct kg_fdstore *store; /* our lease fds are kept there too */
	int fd;			  /* the active lease, -1 */
	uint32_t lessee_id;
	/* Active, taken back after a restart with its client: the broker has
	 * no fd of it (its copy died with the old broker), only the id. */
	bool adopted;
	int stale_fd;	   /* a revoked lease kept for its frame, -1 */
	uint32_t stale_id; /* its lessee id */
	uint32_t stale_fb; /* the framebuffer it shows */
};

struct kg_lease *kg_lease_create(struct kg_device *dev, const struct kg_plan_pipeline *pp,
				 struct kg_fdstore *store)
{
	struct kg_lease *lease = calloc(1, sizeof(*lease));

	if (!lease)
		return NULL;
	lease->dev = dev;
	lease->pp = pp;
	lease->store = store;
	lease->fd = -1;
	lease->stale_fd = -1;
	return lease;
}

/* Our copy of lessee id's fd goes, and the store's with it (fb: as
 * kg_fdstore_remove_lessee). */
static void close_lessee(struct kg_lease *lease, int fd, uint32_t id, uint32_t fb)
{
	close(fd);
	kg_fdstore_remove_lessee(lease->store, id, fb, lease->pp->name);
}

static void close_stale(struct kg_lease *lease)
{
	if (lease->stale_fd >= 0)
		close_lessee(lease, lease->stale_fd, lease->stale_id, lease->stale_fb);
	lease->stale_fd = -1;
	lease->stale_fb = 0;
}

void kg_lease_destroy(struct kg_lease *lease)
{
	if (!lease)
		return;
	if (lease->fd >= 0 || lease->adopted)
		kg_lease_revoke(lease);
	close_stale(lease);
	free(lease);
}

int kg_lease_grant(struct kg_lease *lease, int *fd, uint32_t *lessee_id)
{
	const struct kg_desc *desc = kg_device_desc(lease->dev);
	const struct kg_plan_pipeline *pp = lease->pp;
	uint32_t objs[2 + KG_CONFIG_MAX_PLANES];
	size_t n = 0;
	int ret;

	if (lease->fd >= 0 || lease->adopted)
		return -EBUSY;
	objs[n++] = desc->connectors[pp->connector].id;
	objs[n++] = desc->crtcs[pp->crtc].id;
	for (size_t i = 0; i < pp->n_planes; i++)
		objs[n++] = pp->plane_ids[i];
	ret = drmModeCreateLease(kg_device_fd(lease->dev), objs, (int)n, O_CLOEXEC,
				 &lease->lessee_id);
	if (ret < 0) {
		errno = -ret;
		kg_log_errno(KG_LOG_ERROR, "pipeline %s: drmModeCreateLease failed", pp->name);
		return ret;
	}
	lease->fd = ret;
	*fd = ret;
	*lessee_id = lease->lessee_id;
	return 0;
}

void kg_lease_keep(struct kg_lease *lease)
{
	if (lease->fd >= 0)
		kg_fdstore_add_lessee(lease->store, lease->fd, lease->lessee_id, lease->pp->name);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* After a revoke in keep mode: keep this lease's fd only if its frame
 * (or nobody else's) is on screen. */
static void keep_frame(struct kg_lease *lease, int fd, uint32_t id)
{
	uint32_t fb = kg_device_plane_fb(lease->dev, lease->pp->plane_ids[0]);

	if (lease->stale_fd >= 0 && lease->stale_fb == fb && fb != 0) {
		/* The older lessee's frame is still up: the one just revoked
		 * never showed one. */
		close_lessee(lease, fd, id, 0);
		return;
	}
	close_stale(lease);
	if (fb == 0) {
		close_lessee(lease, fd, id, 0); /* nothing on screen to keep */
		return;
	}
	lease->stale_fd = fd;
	lease->stale_id = id;
	lease->stale_fb = fb;
	kg_fdstore_keep_frame(lease->store, fd, id, fb, lease->pp->name);
}

static void blank(struct kg_lease *lease, int fd, uint32_t id)
{
	const struct kg_plan_pipeline *pp = lease->pp;

	kg_device_blank(lease->dev, pp->crtc, pp->connector, pp->plane_ids, pp->n_planes);
	close_lessee(lease, fd, id, 0);
	close_stale(lease);
}

void kg_lease_adopt(struct kg_lease *lease, uint32_t lessee_id, int fd)
{
	lease->lessee_id = lessee_id;
	/* With our copy of its fd back it is a lease like any other. */
	if (fd >= 0)
		lease->fd = fd;
	else
		lease->adopted = true;
}

uint32_t kg_lease_plane_fb(const struct kg_lease *lease)
{
	return kg_device_plane_fb(lease->dev, lease->pp->plane_ids[0]);
}

void kg_lease_adopt_frame(struct kg_lease *lease, int fd, uint32_t lessee_id, uint32_t fb)
{
	close_stale(lease);
	lease->stale_fd = fd;
	lease->stale_id = lessee_id;
	lease->stale_fb = fb;
}

void kg_lease_revoke(struct kg_lease *lease)
{
	int fd = lease->fd;
	double t0 = now_ms();

	if (lease->adopted) {
		/* No fd to keep for its frame: with keep, the frame stays until
		 * the lessee closes its own fd. */
		lease->adopted = false;
		kg_lease_end_orphan(lease, lease->lessee_id);
		kg_dbg("pipeline %s: adopted lessee %u revoked in %.3f ms", lease->pp->name,
		       lease->lessee_id, now_ms() - t0);
		return;
	}
	if (fd < 0)
		return;
	if (drmModeRevokeLease(kg_device_fd(lease->dev), lease->lessee_id) < 0)
		kg_log_errno(KG_LOG_WARN, "pipeline %s: drmModeRevokeLease(%u) failed",
			     lease->pp->name, lease->lessee_id);
	lease->fd = -1;
	if (lease->pp->on_release == KG_RELEASE_BLANK)
		blank(lease, fd, lease->lessee_id);
	else
		keep_frame(lease, fd, lease->lessee_id);
	kg_dbg("pipeline %s: lessee %u revoked in %.3f ms (%s)", lease->pp->name, lease->lessee_id,
	       now_ms() - t0, lease->pp->on_release == KG_RELEASE_BLANK ? "blanked" : "frame kept");
}

uint32_t kg_lease_lessee_id(const struct kg_lease *lease)
{
	return lease->fd >= 0 || lease->adopted ? lease->lessee_id : 0;
}

int kg_lease_end_orphan(struct kg_lease *lease, uint32_t lessee_id)
{
	const struct kg_plan_pipeline *pp = lease->pp;
	int ret = drmModeRevokeLease(kg_device_fd(lease->dev), lessee_id);

	if (ret < 0) {
		errno = -ret;
		kg_log_errno(KG_LOG_WARN,
			     "pipeline %s: drmModeRevokeLease(%u) of the adopted lease failed",
			     pp->name, lessee_id);
	}
	if (pp->on_release == KG_RELEASE_BLANK)
		kg_device_blank(lease->dev, pp->crtc, pp->connector, pp->plane_ids, pp->n_planes);
	return ret;
}

bool kg_lease_sweep(struct kg_lease *lease)
{
	if (lease->stale_fd < 0)
		return false;
	if (kg_device_plane_fb(lease->dev, lease->pp->plane_ids[0]) != lease->stale_fb) {
		kg_dbg("pipeline %s: the new lessee shows its own frame; closing the kept one",
		       lease->pp->name);
		close_stale(lease);
		return false;
	}
	return true;
}
