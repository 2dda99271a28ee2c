/* SPDX-License-Identifier: MIT */
/*
 * kg_stats: per-frame latency of the backend, written as JSON.
 *
 * Each frame carries four timestamps (CLOCK_MONOTONIC, ns): the guest's
 * flush received, the commit issued, the flip event, the guest fence
 * completed. Percentiles cover the last KG_STATS_WINDOW frames of each
 * scanout; the counters cover the whole run. Format: docs/backend.md.
 */
#ifndef KG_STATS_H
#define KG_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define KG_STATS_WINDOW 4096

struct kg_stats;

struct kg_stats_frame {
	unsigned scanout;
	bool shown;	/* false: superseded (coalesced) or dropped */
	bool coalesced; /* replaced by a newer frame before the output */
	bool zero_copy;
	const char *path;   /* the output's path name ("zero-copy", "copy") */
	uint64_t recv_ns;   /* RESOURCE_FLUSH received */
	uint64_t commit_ns; /* 0: never committed */
	uint64_t flip_ns;   /* 0: never shown */
	uint64_t fence_ns;  /* 0: the flush had no fence */
	uint64_t bytes_copied;
};

/* Returns NULL with errno set. */
struct kg_stats *kg_stats_create(void);
void kg_stats_destroy(struct kg_stats *s);

void kg_stats_add(struct kg_stats *s, const struct kg_stats_frame *f);

/* The JSON document to f. Returns 0 or -errno. */
int kg_stats_write(const struct kg_stats *s, FILE *f);
/* Same, replacing path atomically (temp file + rename). Returns 0 or -errno. */
int kg_stats_write_file(const struct kg_stats *s, const char *path);

/* Percentile p (0..100) of n samples, sorted in place: nearest rank. */
uint64_t kg_stats_percentile(uint64_t *v, unsigned n, unsigned p);

#endif
