/* SPDX-License-Identifier: MIT */
/*
 * The one clock of kmsgate's timestamps. Latency figures subtract stamps
 * taken in different modules (a command's arrival in the device, the
 * output's commit, the fence), so they all come from here.
 */
#ifndef KG_CLOCK_H
#define KG_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t kg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
