/* SPDX-License-Identifier: MIT */
/*
 * Internals of the virtio-gpu device, shared by its files. Calls go one
 * way, down this list: vgpu.c (dispatch, the one place responses are
 * built), vgpu-scanout.c (scanouts, flush, frames) and vgpu-cursor.c,
 * vgpu-3d.c (3D commands on virglrenderer, when built with it),
 * vgpu-resource.c (resources and backing), vgpu-fence.c (the fence queue),
 * vgpu-cmd.c (reading commands, checking rectangles).
 */
#ifndef KG_VGPU_PRIVATE_H
#define KG_VGPU_PRIVATE_H

#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <sys/uio.h>

#include "format.h"
#include "list.h"
#include "output.h"
#include "pacer.h"
#include "vgpu.h"

#define VGPU_RES_BUCKETS 256
/* Largest 2D resource side: beyond any display (R-Car Gen3: 8190). */
#define VGPU_MAX_DIM 16384
/* Backing chunks kept over all resources: each costs host memory, so a
 * guest attaching millions of scattered pages cannot exhaust the host. */
#define VGPU_MAX_TOTAL_CHUNKS (1u << 20)
/* 3D contexts a guest may hold: one per GL process in a Linux guest. */
#define VGPU_MAX_CONTEXTS 64
/* Largest capset answered (virgl2 is 1376 bytes in virglrenderer 0.10). */
#define VGPU_MAX_CAPSET 4096

/* A resource's backing pages, merged into contiguous chunks. Shared by the
 * resource and every present that shows it, so a DETACH_BACKING or UNREF
 * during a flip never frees what the output still scans out. */
struct vgpu_backing {
	unsigned refs;
	uint64_t generation; /* unique per backing: the output's cache key */
	uint64_t epoch;	     /* kg_gmem_epoch() its host pointers belong to */
	uint64_t size;	     /* sum of the chunk lengths */
	unsigned n_chunks;
	uint64_t *chunk_gpa; /* guest address of each chunk (same allocation) */
	struct kg_backing_chunk chunks[];
};

struct vgpu_resource {
	uint32_t id;
	uint64_t serial; /* unique per resource: the guest may reuse an id */
	bool blob;
	/* A 3D resource: its image lives in virglrenderer, which reads and
	 * writes the backing through iov (guest RAM, rebuilt whenever the
	 * memory table changes). */
	bool virgl;
	struct iovec *iov;
	int dmabuf_fd; /* exported render target; -1: none (yet) */
	uint32_t dmabuf_stride, dmabuf_offset;
	uint32_t dmabuf_format;	      /* DRM fourcc of the storage's layout */
	bool export_tried;	      /* export failed once: read back from now on */
	const struct kg_format *fmt;  /* NULL for a blob until scanned out */
	uint32_t width, height;	      /* 2D: the image; blob: 0 */
	uint64_t size;		      /* what it counts against the cap */
	struct vgpu_backing *backing; /* NULL: none attached */
	struct vgpu_resource *next;   /* link in kg_vgpu.res_table bucket */
};

/* What became of one frame of a fenced command (vgpu_fence.outcomes). */
enum vgpu_frame_outcome {
	VGPU_FRAME_SHOWN = 1u << 0,
	VGPU_FRAME_REPLACED = 1u << 1, /* superseded by a newer frame */
	VGPU_FRAME_DROPPED = 1u << 2,  /* refused by the output, or dropped */
};

/* One fenced command waiting for its response to be sent (kg_vgpu.fenceq). */
struct vgpu_fence {
	struct kg_list link;	/* kg_vgpu.fenceq, in submission order */
	void *token;		/* NULL once dropped by a reset */
	unsigned presents_left; /* frames of this command not yet shown */
	bool gpu_wait;		/* the renderer's fence gpu_seq has not retired */
	uint32_t gpu_seq;
	unsigned outcomes;   /* vgpu_frame_outcome bits of its frames done so far */
	uint64_t hold_until; /* jit pacing: not answered before (ns), 0: no hold */
	unsigned paced;	     /* 1 + the scanout whose pacer it releases, 0: none */
	bool handled;	     /* the handler ran: resp is final */
	size_t resp_len;
	void *resp; /* the response, owned */
};

/* One frame for one scanout, from the flush to the output's callback. */
struct vgpu_present {
	struct kg_vgpu *g;
	unsigned scanout;
	struct vgpu_fence *fence;     /* NULL: the flush had no fence */
	struct vgpu_backing *backing; /* a reference */
	uint64_t res_serial;	      /* vgpu_resource.serial of what it shows */
	struct kg_fb_source fb;
	struct kg_rect damage;
	uint64_t recv_ns;
	struct kg_rect src;  /* a rendered frame: the scanout's rect of the resource */
	int dmabuf_fd;	     /* a rendered frame's own dup, -1: none */
	struct kg_list link; /* vgpu_scanout.queue, oldest first */
};

struct vgpu_scanout {
	uint32_t resource_id; /* 0: disabled */
	bool virgl;	      /* it shows a 3D resource */
	uint64_t period_ns;   /* the display's refresh period (stats), 0: unknown */
	struct kg_rect r;     /* the part of the resource shown */
	const struct kg_format *fmt;
	uint32_t stride;
	uint64_t offset;	       /* byte offset of (r.x, r.y) in the backing */
	struct vgpu_present *inflight; /* handed to the output */
	struct kg_list queue;	       /* vgpu_present.link: waiting behind it (1 unless FIFO) */
	unsigned queued;
	struct kg_pacer *pacer; /* when its guest is released to draw */
	bool told_unfenced;	/* logged once: jit cannot pace unfenced flips */
};

struct kg_vgpu {
	struct kg_output *out;
	const struct kg_gmem *gmem;
	struct kg_stats *stats;
	struct kg_trace *trace;
	const struct kg_vgpu_transport *tp;
	void *tp_data;
	uint64_t max_resource_bytes;
	uint32_t max_resources, max_backing_entries;
	bool fifo;
	struct kg_virgl *virgl;	      /* NULL: no 3D (nothing of virgl is used) */
	int pacing;		      /* enum kg_pacing */
	struct kg_source *pace_timer; /* jit: the held fence's release, NULL: none */
	uint64_t pace_timer_at;	      /* when it is armed for, 0: disarmed */

	uint64_t features;
	uint32_t events_read;
	unsigned num_scanouts;

	struct vgpu_resource *res_table[VGPU_RES_BUCKETS];
	uint64_t next_generation;
	uint64_t total_chunks; /* over all backings: host memory the guest costs */
	struct vgpu_scanout scanouts[KG_MAX_SCANOUTS];
	struct kg_list fenceq;		      /* vgpu_fence.link */
	uint32_t gpu_seq;		      /* the renderer's last fence id handed out */
	uint32_t contexts[VGPU_MAX_CONTEXTS]; /* 3D context ids, 0: free */

	struct kg_vgpu_counters cnt;

	/* Surviving a restart (vgpu-journal.c): NULL when not kept. */
	void *journal;
	size_t journal_size;
	unsigned journal_appends; /* entries since it was last written afresh */
	bool restoring;		  /* replaying it: the output is not touched */
};

/* The decoded command being handled: handlers read it and set resp. */
struct vgpu_cmd {
	const uint8_t *buf;
	size_t len;
	struct virtio_gpu_ctrl_hdr hdr;
	uint64_t recv_ns;
	uint32_t error; /* VIRTIO_GPU_RESP_ERR_* or 0 */
	/* A response with a payload (display info, EDID): the handler fills
	 * resp_buf and sets resp_len; 0 means OK_NODATA. */
	union {
		struct virtio_gpu_ctrl_hdr hdr;
		struct virtio_gpu_resp_display_info info;
		struct virtio_gpu_resp_edid edid;
		struct virtio_gpu_resp_capset_info capset_info;
		uint8_t capset[sizeof(struct virtio_gpu_ctrl_hdr) + VGPU_MAX_CAPSET];
	} resp_buf;
	size_t resp_len;
	struct vgpu_fence *fence; /* set when the command carries a fence */
	bool gpu;		  /* a 3D command: its fence waits for the renderer */
};

/* vgpu-journal.c: after a command ran (successful state changes only). */
void vgpu_journal_note(struct kg_vgpu *g, const struct vgpu_cmd *c);
/* The device was reset: nothing to restore. */
void vgpu_journal_clear(struct kg_vgpu *g);

/* vgpu-cmd.c. Copies exactly sizeof(*dst) bytes of the command; a short
 * one is an error. */
bool vgpu_cmd_get(struct vgpu_cmd *c, void *dst, size_t size);
/* x/y/width/height inside (w, h), overflow-safe; empty rects are refused. */
bool vgpu_rect_inside(const struct virtio_gpu_rect *r, uint32_t w, uint32_t h);

/* vgpu-resource.c */
struct vgpu_resource *vgpu_res_find(struct kg_vgpu *g, uint32_t id);
void vgpu_res_destroy_all(struct kg_vgpu *g);
void vgpu_backing_unref(struct vgpu_backing *b);
struct vgpu_backing *vgpu_backing_ref(struct vgpu_backing *b);
/* False if the memory table unmapped something since the backing was made:
 * its host pointers and memfds may be stale. */
bool vgpu_backing_valid(const struct kg_vgpu *g, const struct vgpu_backing *b);
/* After a memory-table change: every resource's backing is translated
 * again from its guest addresses (a new backing, new generation); one no
 * longer in guest RAM is dropped. Stale backings live on only in frames. */
void vgpu_res_remap_all(struct kg_vgpu *g);
/* Reads len bytes at off of the backing; false if it is not all there. */
bool vgpu_backing_read(const struct vgpu_backing *b, uint64_t off, void *dst, size_t len);
void vgpu_cmd_create_2d(struct kg_vgpu *g, struct vgpu_cmd *c);
/* A new resource counted against the caps, or NULL with c->error set. */
struct vgpu_resource *vgpu_res_new(struct kg_vgpu *g, struct vgpu_cmd *c, uint32_t id,
				   uint64_t size);
/* Frees resource id (frames still showing it keep its backing); false when
 * there is none. The caller disables the scanouts showing it first. */
bool vgpu_res_unref(struct kg_vgpu *g, uint32_t id);
void vgpu_cmd_attach_backing(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_detach_backing(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_transfer_2d(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_create_blob(struct kg_vgpu *g, struct vgpu_cmd *c);

/* vgpu-scanout.c */
void vgpu_cmd_display_info(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_get_edid(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_set_scanout(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_set_scanout_blob(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_flush(struct kg_vgpu *g, struct vgpu_cmd *c);
/* The resource goes away: scanouts showing it are disabled. */
void vgpu_scanouts_drop_resource(struct kg_vgpu *g, uint32_t id);
void vgpu_scanouts_reset(struct kg_vgpu *g);
/* After vgpu_res_remap_all: frames on stale backings are moved to their
 * resource's new backing, or dropped when it has none. */
void vgpu_scanouts_remap(struct kg_vgpu *g);
/* Frees every frame, including those with the output, without calling the
 * output (it is gone): only for kg_vgpu_destroy. */
void vgpu_scanouts_release(struct kg_vgpu *g);

/* vgpu-3d.c: the 3D commands (VIRTIO_GPU_F_VIRGL), on virglrenderer. */
bool vgpu_3d_enabled(const struct kg_vgpu *g);
/* The device takes the renderer's fence reports (one device at a time). */
void vgpu_3d_attach(struct kg_vgpu *g);
void vgpu_3d_detach(struct kg_vgpu *g);
void vgpu_cmd_get_capset_info(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_get_capset(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_ctx_create(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_ctx_destroy(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_ctx_attach(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_ctx_detach(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_create_3d(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_transfer_to_host_3d(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_transfer_from_host_3d(struct kg_vgpu *g, struct vgpu_cmd *c);
void vgpu_cmd_submit_3d(struct kg_vgpu *g, struct vgpu_cmd *c);
/* A 3D resource's backing changed (attached, detached, remapped): the
 * renderer's iov follows. False when the renderer refused it. */
bool vgpu_3d_backing_changed(struct kg_vgpu *g, struct vgpu_resource *r);
/* TRANSFER_TO_HOST_2D on a 3D resource: the renderer takes the rectangle. */
void vgpu_3d_transfer_2d(struct kg_vgpu *g, struct vgpu_cmd *c, struct vgpu_resource *r,
			 const struct virtio_gpu_transfer_to_host_2d *cmd);
/* A 3D resource goes: the renderer's goes too. */
void vgpu_3d_resource_gone(struct kg_vgpu *g, struct vgpu_resource *r);
/* Scanning a 3D resource out: its size and format (false: not scanout-able)
 * and a frame that reads it (the dmabuf when the renderer exports one). */
bool vgpu_3d_scanout_info(struct kg_vgpu *g, struct vgpu_resource *r, uint32_t *w, uint32_t *h,
			  const struct kg_format **fmt);
void vgpu_3d_frame(struct kg_vgpu *g, struct vgpu_resource *r, struct vgpu_present *p);
/* A 3D command's fence: the renderer reports it when the GPU is done. */
void vgpu_3d_fence(struct kg_vgpu *g, struct vgpu_fence *f);
/* Reset: every context goes. */
void vgpu_3d_reset(struct kg_vgpu *g);

/* vgpu-cursor.c */
void vgpu_cursor_process(struct kg_vgpu *g, const void *cmd, size_t len);

/* vgpu-fence.c: the fence queue. */
/* A fenced command joins the queue (NULL when out of memory: it is then
 * answered unfenced, at once). */
struct vgpu_fence *vgpu_fence_new(struct kg_vgpu *g, void *token);
/* The handler ran: resp is final; sent once its frames are shown and every
 * older fence went out. */
void vgpu_fence_respond(struct kg_vgpu *g, struct vgpu_fence *f, const void *resp, size_t len);
/* A fenced command's frame is done (shown, superseded or failed). */
void vgpu_fence_present_done(struct kg_vgpu *g, struct vgpu_fence *f,
			     enum vgpu_frame_outcome outcome);
/* Sends every complete response at the head of the queue. */
void vgpu_fences_run(struct kg_vgpu *g);
/* The jit release timer fired (kg_loop timer callback). */
void vgpu_fences_timer(void *data);
/* Reset: every queued command is dropped through the transport, never
 * answered (its frames may still come back from the output). */
void vgpu_fences_drop(struct kg_vgpu *g);
/* The renderer retired every fence up to seq. */
void vgpu_fences_gpu_done(struct kg_vgpu *g, uint32_t seq);
/* Destroy: frees the queue. */
void vgpu_fences_free(struct kg_vgpu *g);

#endif
