// SPDX-License-Identifier: MIT
#include "samples.h"

#include <stdio.h>
#include <string.h>

static void mode_1024x768(struct kg_proto_mode *m)
{
	*m = (struct kg_proto_mode){
		.clock = 65000,
		.hdisplay = 1024,
		.hsync_start = 1048,
		.hsync_end = 1184,
		.htotal = 1344,
		.vdisplay = 768,
		.vsync_start = 771,
		.vsync_end = 777,
		.vtotal = 806,
		.vrefresh = 60,
		.flags = 0xa,
		.type = 0x48,
	};
	snprintf(m->name, sizeof(m->name), "1024x768");
}

static void planes(uint32_t *n, struct kg_proto_plane *p, uint32_t count)
{
	*n = count;
	for (uint32_t i = 0; i < count; i++) {
		p[i].id = 31 + i;
		p[i].type =
			i == 0 ? KG_PROTO_PLANE_PRIMARY
			       : (i == count - 1 ? KG_PROTO_PLANE_CURSOR : KG_PROTO_PLANE_OVERLAY);
	}
}

static void pipeline(struct kg_proto_pipeline *p, uint32_t nplanes)
{
	snprintf(p->name, sizeof(p->name), "Virtual-2");
	p->state = KG_PROTO_STATE_LEASED;
	p->flags = KG_PROTO_PIPE_HAS_CURRENT_MODE | KG_PROTO_PIPE_HAS_PREFERRED_MODE |
		   KG_PROTO_PIPE_ALLOWED;
	snprintf(p->connector_name, sizeof(p->connector_name), "Virtual-2");
	p->connector_id = 42;
	p->connector_type = 15; /* DRM_MODE_CONNECTOR_VIRTUAL */
	p->connector_status = KG_PROTO_CONN_CONNECTED;
	p->mm_width = 271;
	p->mm_height = 203;
	p->crtc_id = 51;
	mode_1024x768(&p->current_mode);
	mode_1024x768(&p->preferred_mode);
	p->lessee_pid = 1234;
	p->lessee_uid = 1000;
	snprintf(p->lessee_name, sizeof(p->lessee_name), "kmsgate-vgpu guest A");
	planes(&p->n_planes, p->planes, nplanes);
}

static void lease(struct kg_proto_lease *l, uint32_t nplanes)
{
	snprintf(l->name, sizeof(l->name), "Virtual-1");
	l->lessee_id = 7;
	l->connector_id = 37;
	l->crtc_id = 36;
	mode_1024x768(&l->mode);
	planes(&l->n_planes, l->planes, nplanes);
}

typedef void (*sample_fn)(struct kg_proto_msg *m);

static void s_hello(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_HELLO;
	m->u.hello.min_version = 1;
	m->u.hello.max_version = 3;
	snprintf(m->u.hello.client_name, sizeof(m->u.hello.client_name), "kmsgatectl");
}

static void s_list(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_LIST;
}

static void s_acquire(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_ACQUIRE;
	snprintf(m->u.acquire.name, sizeof(m->u.acquire.name), "HDMI-A-1");
	m->u.acquire.flags = KG_PROTO_ACQUIRE_WAIT;
}

static void s_release(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_RELEASE;
	snprintf(m->u.release.name, sizeof(m->u.release.name), "HDMI-A-1");
}

static void s_revoke(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_REVOKE;
	snprintf(m->u.revoke.name, sizeof(m->u.revoke.name), "card0-Virtual-3");
}

static void s_server_hello(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_SERVER_HELLO;
	m->u.server_hello.version = 1;
	snprintf(m->u.server_hello.server_name, sizeof(m->u.server_hello.server_name),
		 "kmsgate-broker 0.1.0");
}

static void s_pipeline(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_PIPELINE;
	pipeline(&m->u.pipeline, 3);
}

static void s_pipeline_full(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_PIPELINE;
	pipeline(&m->u.pipeline, KG_PROTO_MAX_PLANES);
}

static void s_pipeline_free(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_PIPELINE;
	snprintf(m->u.pipeline.name, sizeof(m->u.pipeline.name), "Virtual-4");
	m->u.pipeline.state = KG_PROTO_STATE_UNAVAILABLE;
	m->u.pipeline.connector_status = KG_PROTO_CONN_DISCONNECTED;
}

static void s_list_end(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_LIST_END;
	m->u.list_end.count = 4;
}

static void s_lease(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_LEASE;
	lease(&m->u.lease, 2);
}

static void s_lease_full(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_LEASE;
	lease(&m->u.lease, KG_PROTO_MAX_PLANES);
}

static void s_ok(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_OK;
	m->u.ok.request_type = KG_PROTO_MSG_RELEASE;
}

static void s_error(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_ERROR;
	m->u.error.code = KG_PROTO_ERR_BUSY;
	m->u.error.request_type = KG_PROTO_MSG_ACQUIRE;
	snprintf(m->u.error.text, sizeof(m->u.error.text),
		 "pipeline HDMI-A-1 is leased to pid 99 (kmscube)");
}

static void s_revoked(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_EV_REVOKED;
	snprintf(m->u.revoked.name, sizeof(m->u.revoked.name), "Virtual-1");
	m->u.revoked.reason = KG_PROTO_REVOKE_ADMIN;
}

static void s_conn_changed(struct kg_proto_msg *m)
{
	struct kg_proto_connector_changed *c = &m->u.connector_changed;

	m->type = KG_PROTO_MSG_EV_CONNECTOR_CHANGED;
	snprintf(c->name, sizeof(c->name), "Virtual-3");
	c->connector_id = 44;
	c->status = KG_PROTO_CONN_CONNECTED;
	c->mm_width = 300;
	c->mm_height = 200;
	c->flags = KG_PROTO_PIPE_HAS_PREFERRED_MODE;
	mode_1024x768(&c->preferred_mode);
}

static void s_available(struct kg_proto_msg *m)
{
	m->type = KG_PROTO_MSG_EV_PIPELINE_AVAILABLE;
	snprintf(m->u.available.name, sizeof(m->u.available.name), "Virtual-1");
}

static const sample_fn samples[] = {
	s_hello,    s_list,	     s_acquire,	      s_release,      s_revoke,	   s_server_hello,
	s_pipeline, s_pipeline_full, s_pipeline_free, s_list_end,     s_lease,	   s_lease_full,
	s_ok,	    s_error,	     s_revoked,	      s_conn_changed, s_available,
};

size_t kg_sample_count(void)
{
	return sizeof(samples) / sizeof(samples[0]);
}

void kg_sample(size_t i, struct kg_proto_msg *m)
{
	memset(m, 0, sizeof(*m));
	samples[i](m);
	m->seq = kg_proto_type_is_event(m->type) ? 0 : 100 + (uint32_t)i;
}

bool kg_sample_of(uint16_t type, struct kg_proto_msg *m)
{
	for (size_t i = 0; i < kg_sample_count(); i++) {
		kg_sample(i, m);
		if (m->type == type)
			return true;
	}
	memset(m, 0, sizeof(*m));
	return false;
}
