// SPDX-License-Identifier: MIT
#include "output-join.h"

#include <errno.h>
#include <stdlib.h>

struct join {
	struct kg_output base;
	unsigned n;
	struct kg_output **outs;
	unsigned total;
	/* Per joined scanout: which output and its index there. */
	struct {
		struct kg_output *out;
		unsigned index;
	} map[KG_MAX_SCANOUTS];
};

static struct join *jn(struct kg_output *out)
{
	return (struct join *)out;
}

static void j_destroy(struct kg_output *out)
{
	struct join *j = jn(out);

	for (unsigned i = 0; i < j->n; i++)
		j->outs[i]->ops->destroy(j->outs[i]);
	free(j->outs);
	free(j);
}

static unsigned j_num_scanouts(struct kg_output *out)
{
	return jn(out)->total;
}

#define MAP_OR_FAIL(j, i)               \
	do {                            \
		if ((i) >= (j)->total)  \
			return -EINVAL; \
	} while (0)

static int j_get_info(struct kg_output *out, unsigned i, struct kg_scanout_info *info)
{
	struct join *j = jn(out);

	MAP_OR_FAIL(j, i);
	return j->map[i].out->ops->get_info(j->map[i].out, j->map[i].index, info);
}

static int j_present(struct kg_output *out, unsigned i, const struct kg_fb_source *fb,
		     const struct kg_rect *damage, kg_present_cb cb, void *data)
{
	struct join *j = jn(out);

	MAP_OR_FAIL(j, i);
	return j->map[i].out->ops->present(j->map[i].out, j->map[i].index, fb, damage, cb, data);
}

/* A member without retract reads its chunks only inside present(): the
 * frame is with it already (output.h). */
static int j_retract(struct kg_output *out, unsigned i)
{
	struct join *j = jn(out);
	struct kg_output *o;

	MAP_OR_FAIL(j, i);
	o = j->map[i].out;
	return o->ops->retract ? o->ops->retract(o, j->map[i].index) : -EBUSY;
}

static int j_disable(struct kg_output *out, unsigned i)
{
	struct join *j = jn(out);

	MAP_OR_FAIL(j, i);
	return j->map[i].out->ops->disable(j->map[i].out, j->map[i].index);
}

static int j_cursor_set(struct kg_output *out, unsigned i, const uint32_t *argb, int32_t hx,
			int32_t hy)
{
	struct join *j = jn(out);
	struct kg_output *o;

	MAP_OR_FAIL(j, i);
	o = j->map[i].out;
	return o->ops->cursor_set ? o->ops->cursor_set(o, j->map[i].index, argb, hx, hy) : -ENOTSUP;
}

static int j_cursor_move(struct kg_output *out, unsigned i, int32_t x, int32_t y)
{
	struct join *j = jn(out);
	struct kg_output *o;

	MAP_OR_FAIL(j, i);
	o = j->map[i].out;
	return o->ops->cursor_move ? o->ops->cursor_move(o, j->map[i].index, x, y) : -ENOTSUP;
}

static void j_forget(struct kg_output *out, uint32_t resource_id)
{
	struct join *j = jn(out);

	for (unsigned i = 0; i < j->n; i++) {
		if (j->outs[i]->ops->forget)
			j->outs[i]->ops->forget(j->outs[i], resource_id);
	}
}

static const char *j_path(struct kg_output *out, unsigned i)
{
	struct join *j = jn(out);
	struct kg_output *o;

	if (i >= j->total)
		return "none";
	o = j->map[i].out;
	return o->ops->path ? o->ops->path(o, j->map[i].index) : "unknown";
}

static const struct kg_output_ops join_ops = {
	.name = "joined",
	.destroy = j_destroy,
	.num_scanouts = j_num_scanouts,
	.get_info = j_get_info,
	.present = j_present,
	.retract = j_retract,
	.disable = j_disable,
	.cursor_set = j_cursor_set,
	.cursor_move = j_cursor_move,
	.forget = j_forget,
	.path = j_path,
};

/* A member output's hotplug is the joined output's. */
static void member_changed(void *data)
{
	struct join *j = data;

	if (j->base.changed)
		j->base.changed(j->base.changed_data);
}

struct kg_output *kg_output_join(struct kg_output **outs, unsigned n)
{
	struct join *j;

	if (!n) {
		errno = EINVAL;
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->outs = calloc(n, sizeof(*outs)))) {
		free(j);
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned k = 0; k < n; k++) {
		unsigned m = outs[k]->ops->num_scanouts(outs[k]);

		for (unsigned s = 0; s < m && j->total < KG_MAX_SCANOUTS; s++) {
			j->map[j->total].out = outs[k];
			j->map[j->total].index = s;
			j->total++;
		}
	}
	for (unsigned k = 0; k < n; k++) {
		j->outs[k] = outs[k];
		outs[k]->changed = member_changed;
		outs[k]->changed_data = j;
	}
	j->n = n;
	j->base.ops = &join_ops;
	return &j->base;
}
