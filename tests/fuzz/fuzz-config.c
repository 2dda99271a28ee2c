// SPDX-License-Identifier: MIT
/*
 * Fuzz target 'config': the broker's INI parser, then the partition of two
 * table-made devices (virtio-gpu-like and R-Car-like) by whatever parsed.
 * Beyond "no crash, no leak", every accepted plan must keep the rules the
 * validator promises: each object in at most one pipeline, CRTC able to
 * drive the connector, planes usable on the CRTC, a primary plane first.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"
#include "fake-device.h"
#include "log.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_plan(const struct kg_desc *d, const struct kg_plan *plan)
{
	uint32_t used_conn = 0, used_crtc = 0;
	uint64_t used_plane = 0;

	for (size_t i = 0; i < plan->n_pipelines; i++) {
		const struct kg_plan_pipeline *p = &plan->pipelines[i];
		const struct kg_desc_connector *c = &d->connectors[p->connector];

		if (p->connector >= d->n_connectors || p->crtc >= d->n_crtcs || p->n_planes == 0 ||
		    p->n_planes > KG_CONFIG_MAX_PLANES)
			abort();
		if (used_conn & (1u << p->connector) || used_crtc & (1u << p->crtc) ||
		    !(c->possible_crtcs & (1u << p->crtc)))
			abort();
		used_conn |= 1u << p->connector;
		used_crtc |= 1u << p->crtc;
		for (size_t j = 0; j < p->n_planes; j++) {
			const struct kg_desc_plane *pl = kg_desc_find_plane(d, p->plane_ids[j]);
			size_t k;

			if (!pl || !(pl->possible_crtcs & (1u << p->crtc)))
				abort();
			if (j == 0 && pl->type != KG_PLANE_PRIMARY)
				abort();
			k = (size_t)(pl - d->planes);
			if (used_plane & (1ull << k))
				abort();
			used_plane |= 1ull << k;
		}
	}
}

static void plan_on(void (*make)(struct kg_desc *), const struct kg_config *cfg)
{
	struct kg_desc d;
	struct kg_plan *plan;
	char err[512];

	make(&d);
	if (kg_plan_build(&d, cfg, &plan, err, sizeof(err)) == 0) {
		check_plan(&d, plan);
		kg_plan_destroy(plan);
	} else if (err[0] == '\0') {
		abort(); /* every refusal must say why */
	}
	kg_desc_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kg_config *cfg;
	char err[512];
	char *text;

	/* A config file is at most 1 MiB; beyond a few KiB nothing new. */
	if (size > 16384)
		return 0;
	kg_log_init("fuzz-config", KG_LOG_SILENT);
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if (kg_config_parse(text, &cfg, err, sizeof(err)) == 0) {
		plan_on(fake_virtio4, cfg);
		plan_on(fake_rcar2, cfg);
		kg_config_destroy(cfg);
	} else if (err[0] == '\0') {
		abort();
	}
	free(text);
	return 0;
}
