/* SPDX-License-Identifier: MIT */
/*
 * kg_vgpu: the virtio-gpu device model (2D, guest blobs, cursor, fences).
 *
 * It knows nothing of vhost-user or virtqueues: a transport hands it each
 * command as bytes (already copied out of guest memory, so the guest cannot
 * change a command after it was validated) and gets the response back
 * through kg_vgpu_transport.reply, exactly once per command. Responses to
 * fenced commands that show a frame are deferred until the output reports
 * that frame on screen; fenced responses always leave in submission order,
 * because a Linux guest treats fence N as "everything up to N is done".
 *
 * Everything in a command is hostile input: sizes, ids, rectangles, backing
 * entries, formats. A bad command gets a VIRTIO_GPU_RESP_ERR_* response and
 * the device keeps serving.
 */
#ifndef KG_VGPU_H
#define KG_VGPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kg_gmem;
struct kg_loop;
struct kg_output;
struct kg_stats;
struct kg_trace;
struct kg_vgpu;
struct kg_virgl;

enum kg_vgpu_queue {
	KG_VGPU_QUEUE_CONTROL = 0,
	KG_VGPU_QUEUE_CURSOR = 1,
};

struct kg_vgpu_transport {
	/* Sends resp (len bytes) as the answer to the command submitted with
	 * token. Called exactly once per submitted command, unless the
	 * command is dropped (reset/queue stop), then drop is called. */
	void (*reply)(void *data, void *token, const void *resp, size_t len);
	/* The command will never be answered (device reset): free token. */
	void (*drop)(void *data, void *token);
};

struct kg_vgpu_config {
	struct kg_output *output;   /* borrowed; must outlive the device */
	const struct kg_gmem *gmem; /* borrowed guest RAM (may be empty) */
	struct kg_stats *stats;	    /* borrowed, NULL: no statistics */
	struct kg_trace *trace;	    /* borrowed, NULL: no frame trace file */
	const struct kg_vgpu_transport *transport;
	void *transport_data;
	/* Caps on what the guest may make us keep (0: the defaults). */
	uint64_t max_resource_bytes; /* sum of all resources' sizes */
	uint32_t max_resources;
	uint32_t max_backing_entries; /* per ATTACH_BACKING / CREATE_BLOB */
	/* Present every flushed frame in order instead of newest-wins. */
	int fifo;
	/* The 3D renderer (borrowed): the device offers VIRTIO_GPU_F_VIRGL.
	 * NULL: 2D only. */
	struct kg_virgl *virgl;
	/* When a paced guest's fence is answered (pacer.h enum kg_pacing,
	 * every scanout): 0 on the flip event; jit needs loop (borrowed) for
	 * its release timer. pacing_margin_ns 0: the default. */
	int pacing;
	uint64_t pacing_margin_ns;
	struct kg_loop *loop;
};

#define KG_VGPU_DEFAULT_MAX_RESOURCE_BYTES  (1024ull << 20)
#define KG_VGPU_DEFAULT_MAX_RESOURCES	    4096
#define KG_VGPU_DEFAULT_MAX_BACKING_ENTRIES 65536
/* Frames a scanout may queue behind the one on screen in FIFO mode. */
#define KG_VGPU_FIFO_DEPTH 8

/* Returns NULL with errno set. */
struct kg_vgpu *kg_vgpu_create(const struct kg_vgpu_config *cfg);
/* Drops every pending command (transport drop) and resource, and frees the
 * frames the output still holds without calling the output: destroy the
 * output first (it may complete its frames into the device while it goes).
 * Accepts NULL. */
void kg_vgpu_destroy(struct kg_vgpu *g);

/* Feature bits a device made with cfg offers (VIRTIO_GPU_F_EDID,
 * _RESOURCE_BLOB, and _VIRGL with a renderer); cfg may be NULL (2D). The
 * transport needs them before the device exists. */
uint64_t kg_vgpu_offered_features(const struct kg_vgpu_config *cfg);
/* What the driver accepted. */
void kg_vgpu_set_features(struct kg_vgpu *g, uint64_t features);
/* struct virtio_gpu_config at offset; returns bytes written or -EINVAL. */
int kg_vgpu_get_config(struct kg_vgpu *g, uint32_t offset, void *buf, uint32_t len);

/* Processes one command of queue q: cmd/len are the bytes the guest put in
 * the descriptor chain's device-readable buffers. The transport truncates a
 * response to the room the guest gave for it. */
void kg_vgpu_submit(struct kg_vgpu *g, enum kg_vgpu_queue q, const void *cmd, size_t len,
		    void *token);

/*
 * A command a dead kmsgate-vgpu had taken and not answered (the transport's
 * inflight record, virtqueue.h), run again: it may have taken effect
 * already, so a create of a resource that exists, an attach to one that has
 * a backing, a detach from one that has none and an unref of one that does
 * not exist are answered OK without acting. Other commands run as usual
 * (they change nothing, or setting the same thing twice is harmless).
 */
void kg_vgpu_resubmit(struct kg_vgpu *g, enum kg_vgpu_queue q, const void *cmd, size_t len,
		      void *token);

/*
 * Surviving a restart (vgpu-journal.c, docs/reliability.md): the device
 * keeps its resources, backings and scanouts as a journal of the commands
 * that made them in area (size bytes, at least KG_VGPU_JOURNAL_MIN), memory
 * that outlives the process. restore: area holds the journal of a dead
 * process, which is run again now (guest memory must be mapped; the output
 * is not touched: what it shows stays until the guest's next flush).
 * Returns the number of commands run again (0 when not restoring), or
 * -ENOTSUP (3D: virglrenderer's state cannot be kept), -EINVAL (too small),
 * -EBADMSG (a corrupt journal), -ENODATA (the state had outgrown it), with
 * the device as new in the last two cases.
 */
#define KG_VGPU_JOURNAL_MIN (64u << 10)
int kg_vgpu_keep_journal(struct kg_vgpu *g, void *area, size_t size, bool restore);

/* Drops all guest state: resources, scanouts, pending responses (dropped
 * through the transport, never answered). For a front-end reset. */
void kg_vgpu_reset(struct kg_vgpu *g);

/*
 * The memory table changed (the transport's SET_MEM_TABLE). Nothing the
 * device keeps may point into memory that is gone: resources' backings are
 * translated again from their guest addresses, frames not yet read by the
 * output move to them (or are dropped when their pages left guest RAM).
 * Responses still owed are the transport's: it keeps them as guest
 * addresses. A no-op when nothing was unmapped.
 */
void kg_vgpu_mem_changed(struct kg_vgpu *g);

/* The output's displays changed: sets VIRTIO_GPU_EVENT_DISPLAY in the
 * config's events_read. The transport tells the front-end. */
void kg_vgpu_display_changed(struct kg_vgpu *g);

struct kg_vgpu_counters {
	uint64_t commands, errors;
	uint64_t frames_presented, frames_shown, frames_coalesced;
	/* Fenced commands answered, by what completed them (stats.h
	 * kg_stats_fence): a flip of one of their frames, a newer frame that
	 * replaced theirs, a refused or dropped frame, or no frame at all. */
	uint64_t fences_flip, fences_replaced, fences_dropped, fences_other;
	uint32_t resources;
	uint64_t resource_bytes;
};
void kg_vgpu_get_counters(const struct kg_vgpu *g, struct kg_vgpu_counters *c);

#endif
