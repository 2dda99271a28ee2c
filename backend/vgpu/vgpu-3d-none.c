// SPDX-License-Identifier: MIT
/*
 * The device built without virglrenderer (-Dvirgl=disabled): vgpu.c's
 * table has no 3D commands and no renderer can exist (g->virgl is always
 * NULL, no resource is ever a 3D one), so these hooks are never reached.
 */
#include "vgpu-private.h"

bool vgpu_3d_enabled(const struct kg_vgpu *g)
{
	return false;
}

void vgpu_3d_attach(struct kg_vgpu *g)
{
}

void vgpu_3d_detach(struct kg_vgpu *g)
{
}

bool vgpu_3d_backing_changed(struct kg_vgpu *g, struct vgpu_resource *r)
{
	return false;
}

void vgpu_3d_transfer_2d(struct kg_vgpu *g, struct vgpu_cmd *c, struct vgpu_resource *r,
			 const struct virtio_gpu_transfer_to_host_2d *cmd)
{
}

void vgpu_3d_resource_gone(struct kg_vgpu *g, struct vgpu_resource *r)
{
}

bool vgpu_3d_scanout_info(struct kg_vgpu *g, struct vgpu_resource *r, uint32_t *w, uint32_t *h,
			  const struct kg_format **fmt)
{
	return false;
}

void vgpu_3d_frame(struct kg_vgpu *g, struct vgpu_resource *r, struct vgpu_present *p)
{
}

void vgpu_3d_fence(struct kg_vgpu *g, struct vgpu_fence *f)
{
}

void vgpu_3d_reset(struct kg_vgpu *g)
{
}
