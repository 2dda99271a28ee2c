// SPDX-License-Identifier: MIT
#include "kms-atomic.h"

#include <errno.h>
#include <xf86drm.h>

void kg_atomic_begin(struct kg_atomic *a, int fd)
{
	a->fd = fd;
	a->req = drmModeAtomicAlloc();
	a->error = a->req ? 0 : -ENOMEM;
}

void kg_atomic_add(struct kg_atomic *a, uint32_t obj_id, uint32_t prop_id, uint64_t value)
{
	if (a->error)
		return;
	if (!prop_id || !obj_id) {
		a->error = -ENOTSUP;
		return;
	}
	if (drmModeAtomicAddProperty(a->req, obj_id, prop_id, value) < 0)
		a->error = -ENOMEM;
}

int kg_atomic_commit(struct kg_atomic *a, uint32_t flags, bool test_only, void *user_data)
{
	if (a->error)
		return a->error;
	if (test_only) {
		flags &= ~(uint32_t)(DRM_MODE_PAGE_FLIP_EVENT | DRM_MODE_ATOMIC_NONBLOCK);
		flags |= DRM_MODE_ATOMIC_TEST_ONLY;
	}
	if (drmModeAtomicCommit(a->fd, a->req, flags, user_data) < 0)
		return -errno;
	return 0;
}

void kg_atomic_finish(struct kg_atomic *a)
{
	drmModeAtomicFree(a->req);
	a->req = NULL;
}
