/* SPDX-License-Identifier: MIT */
/*
 * kg_virgl: the 3D renderer, virglrenderer on EGL (through libepoxy), set
 * up for one guest's device.
 *
 * Where it draws: a GBM device on a render node when there is one (R-Car's
 * PowerVR, any Mesa driver; the node is checked with libgbm first so that a
 * bad one gets a clear message), surfaceless EGL otherwise (Mesa's
 * llvmpipe), desktop GL or GLES (R-Car has only GLES).
 *
 * virglrenderer keeps its state in globals: one renderer per process, which
 * is what kmsgate-vgpu is (one process per guest). A second create fails
 * with EBUSY. Nothing of it is initialised unless kg_virgl_create runs
 * (kmsgate-vgpu --virgl): no EGL display, no GL context, no thread.
 *
 * Its fences are a single timeline of 32-bit ids the caller picks (in
 * increasing order); the renderer reports the newest one that retired.
 * That report comes through the poll fd (virglrenderer's sync thread
 * signals an eventfd), which the caller watches on its event loop and
 * answers with kg_virgl_dispatch: no busy polling.
 */
#ifndef KG_VIRGL_H
#define KG_VIRGL_H

#include <stdbool.h>
#include <stdint.h>

struct kg_virgl;

/* The newest fence id that retired (every older one retired too). */
typedef void (*kg_virgl_fence_cb)(void *data, uint32_t fence_id);

struct kg_virgl_config {
	const char *render_node; /* NULL: surfaceless EGL (software) */
	bool gles;		 /* GLES contexts instead of desktop GL */
};

/* Returns NULL with errno set, having logged what failed and what to do. */
struct kg_virgl *kg_virgl_create(const struct kg_virgl_config *cfg);
/* Accepts NULL. Every context and resource goes with it. */
void kg_virgl_destroy(struct kg_virgl *v);

/* Where fences are reported (one device at a time: the current guest). */
void kg_virgl_set_fence_cb(struct kg_virgl *v, kg_virgl_fence_cb cb, void *data);

/* The fd to watch for EPOLLIN; -1 when the renderer gave none (then the
 * caller polls after each command batch). */
int kg_virgl_poll_fd(const struct kg_virgl *v);
/* Reports fences that retired (calls the fence callback). */
void kg_virgl_dispatch(struct kg_virgl *v);

/* For logs: "surfaceless" or the render node, and the GL renderer string. */
const char *kg_virgl_describe(const struct kg_virgl *v);

#endif
