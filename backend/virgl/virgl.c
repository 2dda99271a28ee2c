// SPDX-License-Identifier: MIT
#include "virgl.h"

#include <epoxy/gl.h>
#include <errno.h>
#include <fcntl.h>
#include <gbm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <virgl/virglrenderer.h>

#include "log.h"

struct kg_virgl {
	int drm_fd; /* the render node, -1: surfaceless */
	kg_virgl_fence_cb fence_cb;
	void *fence_data;
	char desc[256];
};

/* virglrenderer's globals allow one renderer per process. */
static struct kg_virgl *the_renderer;

static void cb_write_fence(void *cookie, uint32_t fence)
{
	struct kg_virgl *v = cookie;

	if (v->fence_cb)
		v->fence_cb(v->fence_data, fence);
}

/* virglrenderer takes the fd: it closes it with its GBM device. */
static int cb_get_drm_fd(void *cookie)
{
	struct kg_virgl *v = cookie;

	return v->drm_fd >= 0 ? fcntl(v->drm_fd, F_DUPFD_CLOEXEC, 0) : -1;
}

static struct virgl_renderer_callbacks callbacks = {
	.version = 2,
	.write_fence = cb_write_fence,
	.get_drm_fd = cb_get_drm_fd,
};

/* virglrenderer prints its errors (shader compile failures, guest protocol
 * errors) through this: they are the guest's doing, so debug level. */
static void virgl_log(const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	if (kg_log_get_level() < KG_LOG_DEBUG)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	kg_dbg("virglrenderer: %s", buf);
}

/* Checks that the render node is one GBM can drive before virglrenderer
 * gets it (virglrenderer only says "init failed"). */
static int open_render_node(struct kg_virgl *v, const char *path)
{
	struct gbm_device *gbm;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;

		kg_err("virgl: cannot open render node %s: %s (is the GPU driver loaded, and may "
		       "this user open it? --render-node names another; without it, software "
		       "rendering is used)",
		       path, strerror(err));
		return -err;
	}
	gbm = gbm_create_device(fd);
	if (!gbm) {
		kg_err("virgl: %s is not a device GBM can use (gbm_create_device failed): "
		       "name the GPU's render node with --render-node",
		       path);
		close(fd);
		return -ENODEV;
	}
	snprintf(v->desc, sizeof(v->desc), "render node %s (GBM %s)", path,
		 gbm_device_get_backend_name(gbm));
	gbm_device_destroy(gbm);
	v->drm_fd = fd;
	return 0;
}

struct kg_virgl *kg_virgl_create(const struct kg_virgl_config *cfg)
{
	int flags = VIRGL_RENDERER_USE_EGL | VIRGL_RENDERER_THREAD_SYNC;
	struct kg_virgl *v;
	const char *gl;
	int ret;

	if (the_renderer) {
		errno = EBUSY;
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->drm_fd = -1;
	if (cfg->render_node) {
		ret = open_render_node(v, cfg->render_node);
		if (ret < 0)
			goto fail;
	} else {
		flags |= VIRGL_RENDERER_USE_SURFACELESS;
		snprintf(v->desc, sizeof(v->desc), "surfaceless EGL");
	}
	if (cfg->gles)
		flags |= VIRGL_RENDERER_USE_GLES;
	virgl_set_debug_callback(virgl_log);
	ret = virgl_renderer_init(v, flags, &callbacks);
	if (ret) {
		kg_err("virgl: virglrenderer did not start on %s with %s (%d): the EGL driver "
		       "lacks what it needs (EGL_KHR_surfaceless_context, "
		       "EGL_KHR_create_context, GL 3.3 or GLES 3.0); try %s, or run without "
		       "--virgl",
		       v->desc, cfg->gles ? "GLES" : "desktop GL", ret,
		       cfg->gles ? "without --gles" : "--gles");
		ret = -ENODEV;
		goto fail;
	}
	/* virglrenderer left its own context current on this thread. */
	gl = (const char *)glGetString(GL_RENDERER);
	snprintf(v->desc + strlen(v->desc), sizeof(v->desc) - strlen(v->desc), ", %s %s",
		 cfg->gles ? "GLES" : "GL", gl ? gl : "(unknown renderer)");
	kg_info("virgl: 3D on %s", v->desc);
	the_renderer = v;
	return v;

fail:
	if (v->drm_fd >= 0)
		close(v->drm_fd);
	free(v);
	errno = -ret;
	return NULL;
}

void kg_virgl_destroy(struct kg_virgl *v)
{
	if (!v)
		return;
	virgl_renderer_cleanup(v);
	if (v->drm_fd >= 0)
		close(v->drm_fd);
	the_renderer = NULL;
	free(v);
}

void kg_virgl_set_fence_cb(struct kg_virgl *v, kg_virgl_fence_cb cb, void *data)
{
	v->fence_cb = cb;
	v->fence_data = data;
}

int kg_virgl_poll_fd(const struct kg_virgl *v)
{
	return virgl_renderer_get_poll_fd();
}

void kg_virgl_dispatch(struct kg_virgl *v)
{
	virgl_renderer_poll();
}

const char *kg_virgl_describe(const struct kg_virgl *v)
{
	return v->desc;
}
