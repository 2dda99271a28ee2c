/* SPDX-License-Identifier: MIT */
/*
 * kg_output: where the guest's scanouts go. Two implementations: KMS (a
 * leased pipeline per scanout, zero copy where the driver allows) and
 * headless (frames kept in memory, written as PNG).
 *
 * The virtio-gpu device describes a scanout's framebuffer as a kg_fb_source:
 * the guest pages themselves, never a copy. An output either scans those
 * pages out directly or copies the damaged rectangles, and reports which.
 *
 * Pacing is the device's: it hands an output at most one frame per scanout
 * at a time and decides which goes next (newest wins, or FIFO); an output
 * shows what it is given and reports when. (The KMS output still replaces
 * a frame waiting behind a flip when its caller presents another, which only
 * its own tests and bench do, and counts it as "replaced".)
 */
#ifndef KG_OUTPUT_H
#define KG_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rect.h"

#define KG_MAX_SCANOUTS 16 /* VIRTIO_GPU_MAX_SCANOUTS */

struct kg_output;

/* One contiguous piece of a resource's backing in guest RAM. */
struct kg_backing_chunk {
	void *va; /* host mapping (inside guest memory) */
	uint64_t len;
	int memfd;	    /* borrowed: the region's memfd, for udmabuf */
	uint64_t fd_offset; /* where va starts inside memfd */
};

/* Where a frame's pixels are. */
enum kg_fb_kind {
	/* The guest's own pages (2D resources, guest blobs): chunks. */
	KG_FB_GUEST_PAGES = 0,
	/* An image a host renderer drew (virgl): a dmabuf when the renderer
	 * could export one, and always read() for outputs that copy. */
	KG_FB_RENDERED,
};

/* Reads rectangle r of a rendered frame into dst, rows dst_stride bytes
 * apart, in the frame's drm_format. Returns 0 or -errno. */
typedef int (*kg_fb_read_fn)(void *data, const struct kg_rect *r, void *dst, uint32_t dst_stride);

/* A frame: a linear image inside the concatenated backing (guest pages), or
 * a rendered image. */
struct kg_fb_source {
	enum kg_fb_kind kind;
	uint32_t resource_id;
	uint64_t generation; /* changes whenever the backing changes: cache key */
	uint32_t drm_format; /* DRM fourcc */
	uint32_t width, height;
	uint32_t stride; /* bytes per row in the backing or dmabuf */
	uint64_t offset; /* byte offset of pixel (0,0) in the backing or dmabuf */
	/* KG_FB_GUEST_PAGES */
	const struct kg_backing_chunk *chunks;
	unsigned n_chunks;
	/* KG_FB_RENDERED: dmabuf_fd is borrowed (-1: none exported) and, like
	 * read_data, valid until the present callback runs or retract(). The
	 * renderer's storage may order the channels otherwise than the guest
	 * sees them (virglrenderer keeps BGRX as RGBA): dmabuf_format is the
	 * dmabuf's layout, drm_format what read() gives. */
	int dmabuf_fd;
	uint32_t dmabuf_format;
	uint64_t modifier; /* DRM_FORMAT_MOD_LINEAR where the renderer cannot say */
	kg_fb_read_fn read;
	void *read_data;
};

struct kg_scanout_info {
	bool connected;
	uint32_t width, height; /* the mode the guest should use */
	uint32_t refresh_mhz;
	uint32_t width_mm, height_mm;
	const uint8_t *edid; /* NULL when the display gave none */
	size_t edid_len;
};

/* What happened to a presented frame. */
struct kg_present_result {
	bool shown;	       /* false: replaced by a newer frame or dropped */
	bool zero_copy;	       /* scanned out from the guest pages themselves */
	uint64_t bytes_copied; /* 0 on the zero-copy path */
	uint64_t commit_ns;    /* CLOCK_MONOTONIC when the commit was issued */
	uint64_t flip_ns;      /* kernel timestamp of the flip event */
	uint32_t sequence;     /* vblank sequence, 0 when the driver has none */
};

/* Called once per present(), from the event loop, when the frame is on
 * screen (the flip event) or was superseded. Completes the guest fence. */
typedef void (*kg_present_cb)(void *data, const struct kg_present_result *res);
/* The display changed (hotplug): the device re-reads get_info. */
typedef void (*kg_output_changed_cb)(void *data);

struct kg_output_ops {
	const char *name;
	void (*destroy)(struct kg_output *out);
	unsigned (*num_scanouts)(struct kg_output *out);
	int (*get_info)(struct kg_output *out, unsigned scanout, struct kg_scanout_info *info);
	/* Shows fb on scanout. damage NULL means the whole frame. Returns 0
	 * and later calls cb exactly once, or returns -errno and never calls
	 * it. The fb's chunks stay valid until cb runs or retract() takes the
	 * frame back. */
	int (*present)(struct kg_output *out, unsigned scanout, const struct kg_fb_source *fb,
		       const struct kg_rect *damage, kg_present_cb cb, void *data);
	/* Takes back the frame present() handed over if the output has not
	 * read its chunks yet (it waits behind a flip in flight): the output
	 * forgets it, its cb never runs, 0 is returned. -EBUSY when the
	 * chunks were read already (copied, or imported: the kernel holds the
	 * pages), -ENOENT when the output holds no frame of the scanout. The
	 * device calls it when guest memory is remapped. NULL: the output
	 * reads the chunks only inside present(). */
	int (*retract)(struct kg_output *out, unsigned scanout);
	/* Turns the scanout off (SET_SCANOUT with resource 0). */
	int (*disable)(struct kg_output *out, unsigned scanout);
	/* 64x64 ARGB8888 cursor image, or NULL to hide it. */
	int (*cursor_set)(struct kg_output *out, unsigned scanout, const uint32_t *argb,
			  int32_t hot_x, int32_t hot_y);
	int (*cursor_move)(struct kg_output *out, unsigned scanout, int32_t x, int32_t y);
	/* The resource is gone: forget anything cached for it (dmabuf, fb). */
	void (*forget)(struct kg_output *out, uint32_t resource_id);
	/* Which path runs on a scanout, for logs and stats: "zero-copy", "copy". */
	const char *(*path)(struct kg_output *out, unsigned scanout);
};

/* Every output starts with this; the ops table is what callers use. */
struct kg_output {
	const struct kg_output_ops *ops;
	kg_output_changed_cb changed;
	void *changed_data;
};

#endif
