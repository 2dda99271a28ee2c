/* SPDX-License-Identifier: MIT */
/*
 * kg_atomic: one atomic commit being built, with a sticky failure.
 *
 * Properties are added without checking each call; the first failure (no
 * memory, a missing property id) is remembered and the commit then fails as
 * a whole. Test-only and real commits go through the same function, so what
 * a TEST_ONLY commit accepted is exactly what the real one sends.
 */
#ifndef KG_KMS_ATOMIC_H
#define KG_KMS_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>
#include <xf86drmMode.h>

struct kg_atomic {
	int fd;
	drmModeAtomicReq *req;
	int error; /* first failure, as -errno; 0 while all is well */
};

void kg_atomic_begin(struct kg_atomic *a, int fd);
/* prop_id 0 (the object lacks it) makes the commit fail with -ENOTSUP. */
void kg_atomic_add(struct kg_atomic *a, uint32_t obj_id, uint32_t prop_id, uint64_t value);
/*
 * Commits with flags (DRM_MODE_ATOMIC_* and DRM_MODE_PAGE_FLIP_EVENT);
 * test_only adds DRM_MODE_ATOMIC_TEST_ONLY and drops the event. Returns 0 or
 * -errno (the sticky one first). Does not log: a refused test commit is an
 * answer, not an error; the caller decides.
 */
int kg_atomic_commit(struct kg_atomic *a, uint32_t flags, bool test_only, void *user_data);
void kg_atomic_finish(struct kg_atomic *a);

#endif
