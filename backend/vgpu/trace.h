/* SPDX-License-Identifier: MIT */
/*
 * kg_trace: each frame's timeline as a Chrome/Perfetto trace-event JSON file
 * (the "JSON Array Format" of the Trace Event Format: ui.perfetto.dev and
 * chrome://tracing open it), so a user can look at a guest's frames in a
 * trace viewer.
 *
 * One track per scanout (tid = scanout), one slice per phase of each frame:
 * "draw" (the fence that released the guest -> its flush), "queue" (flush ->
 * commit), "scanout" (commit -> flip event), and an instant "fence" when the
 * guest's fence completed (with --pacing jit an instant "release" when the
 * held fence went); superseded and dropped frames are instants too.
 * Times are CLOCK_MONOTONIC in microseconds. The closing bracket is written
 * at exit; the format allows a file cut short without it (a killed process).
 */
#ifndef KG_TRACE_H
#define KG_TRACE_H

#include "stats.h"

struct kg_trace;

/* Creates (truncates) path. NULL with errno set. */
struct kg_trace *kg_trace_open(const char *path);
/* Ends the array and closes the file. Accepts NULL. */
void kg_trace_close(struct kg_trace *t);
/* One finished frame (shown, superseded or dropped); t may be NULL. */
void kg_trace_frame(struct kg_trace *t, const struct kg_stats_frame *f);
/* Jit pacing released the guest of scanout at t_ns, later than the frame's
 * fence time: an instant "release", and the next "draw" starts there. */
void kg_trace_released(struct kg_trace *t, unsigned scanout, uint64_t t_ns);
/* Pushes what was written to the file (the stats timer calls it). */
void kg_trace_flush(struct kg_trace *t);

#endif
