/* SPDX-License-Identifier: MIT */
/*
 * kg_plan: the partition of a device into pipelines (connector + CRTC +
 * planes), from a config or by default, checked against a kg_desc.
 *
 * Pure logic: no libdrm calls, so every rule (and every error message) is
 * unit-tested against table-made devices.
 */
#ifndef KG_BROKER_PLAN_H
#define KG_BROKER_PLAN_H

#include "acl.h"
#include "conffile.h"
#include "desc.h"

struct kg_plan_pipeline {
	char name[KG_CONFIG_NAME_MAX];
	size_t connector; /* index into desc->connectors */
	size_t crtc;	  /* index into desc->crtcs */
	uint32_t plane_ids[KG_CONFIG_MAX_PLANES];
	size_t n_planes; /* plane_ids[0] is the primary plane */
	struct kg_mode_spec mode;
	struct kg_acl acl; /* owned copy */
	enum kg_release_action on_release;
};

struct kg_plan {
	struct kg_plan_pipeline *pipelines;
	size_t n_pipelines;
};

/* Builds the partition. cfg may be NULL (or have no pipeline sections):
 * then every connector that can get a free CRTC and primary plane becomes a
 * pipeline named after it, with primary and cursor planes. Returns 0, or
 * -EINVAL with a message in err naming the pipeline and the object (unknown
 * connector, CRTC that cannot drive the connector, plane not usable on the
 * CRTC, an object in two pipelines, nothing free), or -ENOMEM. */
int kg_plan_build(const struct kg_desc *desc, const struct kg_config *cfg, struct kg_plan **out,
		  char *err, size_t errlen);
/* Accepts NULL. */
void kg_plan_destroy(struct kg_plan *plan);

/* Picks the connector's mode for spec: index into conn->modes, or -1 if the
 * connector has no such mode (or none at all, e.g. disconnected). */
int kg_plan_pick_mode(const struct kg_desc_connector *conn, const struct kg_mode_spec *spec);

#endif
