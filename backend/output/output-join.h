/* SPDX-License-Identifier: MIT */
/*
 * kg_output_join: several outputs as one, their scanouts one after the
 * other (output 0's scanouts first). kmsgate-vgpu uses it for one KMS
 * output per leased pipeline: each lease is its own DRM fd.
 */
#ifndef KG_OUTPUT_JOIN_H
#define KG_OUTPUT_JOIN_H

#include "output.h"

/* Takes ownership of the n outputs on success (they are destroyed with the
 * joined one), none on failure. NULL with errno set. */
struct kg_output *kg_output_join(struct kg_output **outs, unsigned n);

#endif
