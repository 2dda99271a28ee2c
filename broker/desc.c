// SPDX-License-Identifier: MIT
#include "desc.h"

#include <stdlib.h>
#include <string.h>

void kg_desc_free(struct kg_desc *desc)
{
	if (!desc)
		return;
	for (size_t i = 0; desc->connectors && i < desc->n_connectors; i++)
		free(desc->connectors[i].modes);
	free(desc->connectors);
	free(desc->crtcs);
	free(desc->planes);
	memset(desc, 0, sizeof(*desc));
}

const struct kg_desc_connector *kg_desc_find_connector(const struct kg_desc *desc, const char *name)
{
	for (size_t i = 0; i < desc->n_connectors; i++) {
		if (strcmp(desc->connectors[i].name, name) == 0)
			return &desc->connectors[i];
	}
	return NULL;
}

int kg_desc_crtc_index(const struct kg_desc *desc, uint32_t crtc_id)
{
	for (size_t i = 0; i < desc->n_crtcs; i++) {
		if (desc->crtcs[i].id == crtc_id)
			return (int)i;
	}
	return -1;
}

const struct kg_desc_plane *kg_desc_find_plane(const struct kg_desc *desc, uint32_t plane_id)
{
	for (size_t i = 0; i < desc->n_planes; i++) {
		if (desc->planes[i].id == plane_id)
			return &desc->planes[i];
	}
	return NULL;
}
