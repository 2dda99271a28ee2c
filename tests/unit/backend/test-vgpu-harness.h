/* SPDX-License-Identifier: MIT */
/*
 * Test harness for the virtio-gpu device: a memfd guest RAM (two regions of
 * separate memfds, adjacent in guest physical space), a fake output that
 * holds presents until the test completes them, and a transport that
 * records every response.
 */
#ifndef TEST_VGPU_HARNESS_H
#define TEST_VGPU_HARNESS_H

#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest-mem.h"
#include "loop.h"
#include "output.h"
#include "stats.h"
#include "vgpu.h"

#define H_REGION_SIZE  (4u << 20)
#define H_RAM_GPA      0x100000ull /* region A: [1 MiB, 5 MiB), B: [5 MiB, 9 MiB) */
#define H_MAX_REPLIES  64
#define H_MAX_PRESENTS 32

struct h_reply {
	uintptr_t token;
	size_t len;
	uint8_t buf[sizeof(struct virtio_gpu_ctrl_hdr) + 4096]; /* the largest: a capset */
};

struct h_present {
	unsigned scanout;
	struct kg_fb_source fb;
	struct kg_backing_chunk chunks[8]; /* the first chunks, copied */
	struct kg_rect damage;
	kg_present_cb cb;
	void *data;
	bool done;
	bool retracted; /* taken back by the device (output.h retract) */
};

struct harness {
	struct kg_output out;
	unsigned num_scanouts;
	int present_error; /* returned by present when nonzero */
	struct h_present presents[H_MAX_PRESENTS];
	unsigned n_presents;
	unsigned disables, forgets, cursor_sets, cursor_moves, retracts;
	uint32_t cursor[64 * 64];
	bool cursor_visible;
	int32_t cursor_x, cursor_y, hot_x, hot_y;
	uint8_t edid[128];

	struct kg_output *joined; /* h_create_joined: the fake output behind a join */
	struct kg_gmem *gm;
	uint8_t *ram; /* host view of guest RAM: region A then B (2 mappings) */
	uint8_t *ram_b;
	struct kg_vgpu *g;
	struct kg_stats *stats; /* the device's statistics */
	struct h_reply replies[H_MAX_REPLIES];
	unsigned n_replies, drops;
	uintptr_t next_token;
	int fds_before;
};

/* Sets up everything; fifo selects FIFO presents. */
struct harness *h_create(bool fifo, uint32_t max_resources, uint64_t max_bytes);
/* The same on another output (NULL: the fake one); the test destroys it,
 * before h_destroy. */
struct harness *h_create_on(struct kg_output *output, bool fifo, uint32_t max_resources,
			    uint64_t max_bytes);
/* The fake output behind kg_output_join (kmsgate-vgpu with several
 * pipelines): the device sees only the join. */
struct harness *h_create_joined(void);
/* A device with --pacing jit, its release timer on loop (60 Hz display). */
struct harness *h_create_paced(struct kg_loop *loop);
/* A device with the 3D renderer virgl (created once per process). */
struct harness *h_create_3d(struct kg_virgl *virgl);
void h_destroy(struct harness *h);

/* Submits a control command; returns its token. */
uintptr_t h_submit(struct harness *h, const void *cmd, size_t len);
void h_submit_cursor(struct harness *h, const void *cmd, size_t len);
/* The type of the response to token, or 0 if none was sent (yet). */
uint32_t h_resp_type(struct harness *h, uintptr_t token);
const struct h_reply *h_reply_of(struct harness *h, uintptr_t token);
/* Completes present i as shown (or superseded). */
void h_complete(struct harness *h, unsigned i, bool shown);
/* The same, its flip event at flip_ns (CLOCK_MONOTONIC). */
void h_complete_at(struct harness *h, unsigned i, bool shown, uint64_t flip_ns);

/* Command builders; each returns the response type (0: deferred). */
uint32_t h_create_2d(struct harness *h, uint32_t id, uint32_t fmt, uint32_t w, uint32_t hgt);
uint32_t h_attach(struct harness *h, uint32_t id, const struct virtio_gpu_mem_entry *e, uint32_t n);
/* Attaches one entry of len bytes at guest address gpa. */
uint32_t h_attach1(struct harness *h, uint32_t id, uint64_t gpa, uint32_t len);
uint32_t h_set_scanout(struct harness *h, uint32_t scanout, uint32_t id, uint32_t x, uint32_t y,
		       uint32_t w, uint32_t hgt);
/* A flush; with fence_id != 0 it carries a fence. Returns its token. */
uintptr_t h_flush(struct harness *h, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t hgt,
		  uint64_t fence_id);
uint32_t h_simple(struct harness *h, uint32_t type, uint32_t resource_id);

#endif
