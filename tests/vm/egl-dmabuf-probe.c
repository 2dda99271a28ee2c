// SPDX-License-Identifier: MIT
// egl-dmabuf-probe: can this machine's EGL export a GL texture as a dmabuf
// (EGL_MESA_image_dma_buf_export), as virglrenderer's get_fd_for_texture
// needs? Creates a context on the surfaceless platform (default) or on GBM
// over a DRM device, uploads a 64x64 RGBA texture, makes an EGLImage of it,
// exports it and reads the first pixel back through mmap of the dmabuf.
//
// Not part of the build (it needs EGL/GLES/GBM headers only; see
// docs/test-rig.md, "3D"):
//   cc -O2 -o egl-dmabuf-probe tests/vm/egl-dmabuf-probe.c -lEGL -lGLESv2 -lgbm
// Usage: egl-dmabuf-probe [--gbm DEVICE]
// Prints "RESULT export ok ..." and exits 0, or "RESULT ... failed: ..." and 1.
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <fcntl.h>
#include <gbm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define W 64
#define H 64

static int fail(const char *what)
{
	printf("RESULT %s failed: EGL error 0x%x\n", what, eglGetError());
	return 1;
}

int main(int argc, char **argv)
{
	const char *gbm_dev = argc == 3 && !strcmp(argv[1], "--gbm") ? argv[2] : NULL;
	EGLDisplay dpy;

	if (gbm_dev) {
		int fd = open(gbm_dev, O_RDWR | O_CLOEXEC);
		struct gbm_device *gbm = fd < 0 ? NULL : gbm_create_device(fd);

		if (!gbm) {
			printf("RESULT gbm_create_device(%s) failed\n", gbm_dev);
			return 1;
		}
		printf("gbm backend: %s\n", gbm_device_get_backend_name(gbm));
		dpy = eglGetPlatformDisplay(EGL_PLATFORM_GBM_KHR, gbm, NULL);
	} else {
		dpy = eglGetPlatformDisplay(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY,
					    NULL);
	}
	if (dpy == EGL_NO_DISPLAY || !eglInitialize(dpy, NULL, NULL))
		return fail("eglInitialize");
	const char *ext = eglQueryString(dpy, EGL_EXTENSIONS);
	printf("EGL %s %s, platform %s\n", eglQueryString(dpy, EGL_VENDOR),
	       eglQueryString(dpy, EGL_VERSION), gbm_dev ? "gbm" : "surfaceless");
	int has_export = strstr(ext, "EGL_MESA_image_dma_buf_export") != NULL;
	printf("EGL_MESA_image_dma_buf_export: %s\n", has_export ? "yes" : "no");
	if (!eglBindAPI(EGL_OPENGL_ES_API))
		return fail("eglBindAPI");
	static const EGLint ctx_attr[] = { EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE };
	EGLContext ctx = eglCreateContext(dpy, EGL_NO_CONFIG_KHR, EGL_NO_CONTEXT, ctx_attr);
	if (ctx == EGL_NO_CONTEXT || !eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx))
		return fail("eglCreateContext/eglMakeCurrent");
	printf("GL_RENDERER %s\nGL_VERSION %s\n", glGetString(GL_RENDERER),
	       glGetString(GL_VERSION));

	static uint8_t px[W * H * 4];
	for (int i = 0; i < W * H; i++)
		memcpy(px + 4 * i, (uint8_t[]){ 0x12, 0x34, 0x56, 0xff }, 4);
	GLuint tex;
	glGenTextures(1, &tex);
	glBindTexture(GL_TEXTURE_2D, tex);
	glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
	glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, W, H, 0, GL_RGBA, GL_UNSIGNED_BYTE, px);
	glFinish();

	PFNEGLCREATEIMAGEKHRPROC create_image =
		(PFNEGLCREATEIMAGEKHRPROC)eglGetProcAddress("eglCreateImageKHR");
	PFNEGLEXPORTDMABUFIMAGEQUERYMESAPROC query =
		(PFNEGLEXPORTDMABUFIMAGEQUERYMESAPROC)eglGetProcAddress(
			"eglExportDMABUFImageQueryMESA");
	PFNEGLEXPORTDMABUFIMAGEMESAPROC export =
		(PFNEGLEXPORTDMABUFIMAGEMESAPROC)eglGetProcAddress("eglExportDMABUFImageMESA");
	if (!create_image || !query || !export || !has_export) {
		printf("RESULT export failed: extension functions missing\n");
		return 1;
	}
	static const EGLint img_attr[] = { EGL_GL_TEXTURE_LEVEL_KHR, 0, EGL_NONE };
	EGLImageKHR img = create_image(dpy, ctx, EGL_GL_TEXTURE_2D_KHR,
				       (EGLClientBuffer)(uintptr_t)tex, img_attr);
	if (img == EGL_NO_IMAGE_KHR)
		return fail("eglCreateImage");
	int fourcc = 0, planes = 0;
	EGLuint64KHR modifier = 0;
	if (!query(dpy, img, &fourcc, &planes, &modifier))
		return fail("eglExportDMABUFImageQueryMESA");
	int fds[4] = { -1, -1, -1, -1 };
	EGLint strides[4] = { 0 }, offsets[4] = { 0 };
	if (!export(dpy, img, fds, strides, offsets))
		return fail("export (eglExportDMABUFImageMESA)");
	printf("exported: fourcc %.4s planes %d modifier 0x%llx fd %d stride %d offset %d\n",
	       (char *)&fourcc, planes, (unsigned long long)modifier, fds[0], strides[0],
	       offsets[0]);
	if (fds[0] < 0) {
		printf("RESULT export failed: no fd\n");
		return 1;
	}
	size_t len = (size_t)strides[0] * H + (size_t)offsets[0];
	uint8_t *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fds[0], 0);
	if (map == MAP_FAILED) {
		printf("RESULT export ok, mmap of the dmabuf failed: %m\n");
		return 1;
	}
	const uint8_t *p = map + offsets[0];
	printf("first pixel bytes %02x %02x %02x %02x (uploaded 12 34 56 ff)\n", p[0], p[1], p[2],
	       p[3]);
	printf("RESULT export ok fourcc %.4s stride %d\n", (char *)&fourcc, strides[0]);
	return 0;
}
