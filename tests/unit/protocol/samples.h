/* SPDX-License-Identifier: MIT */
/* One valid sample of every message type, for round trips and seed corpora. */
#ifndef KG_TEST_SAMPLES_H
#define KG_TEST_SAMPLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmsgate-proto.h"

/* Number of samples; kg_sample(i) fills *m with sample i (0 <= i < n). */
size_t kg_sample_count(void);
void kg_sample(size_t i, struct kg_proto_msg *m);
/* The first sample of a type (false, *m zeroed, if there is none). */
bool kg_sample_of(uint16_t type, struct kg_proto_msg *m);

#endif
