/* SPDX-License-Identifier: MIT */
/* kg_kms_find_pipes: which pipelines a DRM fd offers (kms-pick.c). */
#ifndef KG_KMS_PICK_H
#define KG_KMS_PICK_H

#include "output-kms.h"

/*
 * Finds up to max pipelines on drm_fd (a card or a lease): each connected
 * connector (writeback ones skipped) with a free CRTC, its primary plane, a
 * cursor plane if any, and the preferred mode. Sets the client caps it needs.
 * Returns how many were found or -errno.
 */
int kg_kms_find_pipes(int drm_fd, struct kg_kms_pipe *pipes, unsigned max);

#endif
