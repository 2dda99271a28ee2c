// SPDX-License-Identifier: MIT
#include "fuzz-output.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

#define MAX_HELD 64

struct held {
	unsigned scanout;
	struct kg_fb_source fb; /* chunks borrowed until cb or retract */
	kg_present_cb cb;
	void *data;
};

static struct {
	struct kg_output out;
	struct held held[MAX_HELD]; /* oldest first */
	unsigned n_held;
} O;

static volatile uint8_t sink;

/* Reads the first and last byte of every chunk: one outside the memory the
 * device still maps faults. */
static void touch(const struct kg_fb_source *fb)
{
	if (fb->kind == KG_FB_RENDERED) {
		/* The renderer reads the whole frame back, as the headless
		 * output and the KMS copy path do. */
		struct kg_rect r = { 0, 0, fb->width, fb->height };
		uint8_t *buf = malloc((size_t)fb->width * fb->height * 4);

		if (!buf)
			abort();
		fb->read(fb->read_data, &r, buf, fb->width * 4);
		sink ^= buf[0];
		free(buf);
		return;
	}
	for (unsigned k = 0; k < fb->n_chunks; k++) {
		sink ^= ((const uint8_t *)fb->chunks[k].va)[0];
		sink ^= ((const uint8_t *)fb->chunks[k].va)[fb->chunks[k].len - 1];
	}
}

static unsigned f_num_scanouts(struct kg_output *out)
{
	return 2;
}

static int f_get_info(struct kg_output *out, unsigned i, struct kg_scanout_info *info)
{
	static const uint8_t edid[128] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };

	if (i >= 2)
		abort(); /* the device must check scanout ids itself */
	*info = (struct kg_scanout_info){ .connected = true,
					  .width = 640,
					  .height = 480,
					  .edid = edid,
					  .edid_len = sizeof(edid) };
	return 0;
}

static int f_present(struct kg_output *out, unsigned i, const struct kg_fb_source *fb,
		     const struct kg_rect *d, kg_present_cb cb, void *data)
{
	uint64_t size = 0;

	if (fb->kind == KG_FB_RENDERED) {
		if (i >= 2 || !fb->read || !fb->width || !fb->height)
			abort();
		goto checked;
	}
	if (i >= 2 || !fb->n_chunks || !fb->width || !fb->height)
		abort();
	for (unsigned k = 0; k < fb->n_chunks; k++)
		size += fb->chunks[k].len;
	if (fb->offset > size ||
	    (uint64_t)(fb->height - 1) * fb->stride + (uint64_t)fb->width * 4 > size - fb->offset)
		abort();
checked:
	touch(fb);
	if (d && ((uint64_t)d->x + d->width > fb->width || (uint64_t)d->y + d->height > fb->height))
		abort();
	if (O.n_held >= MAX_HELD)
		return -16; /* -EBUSY */
	O.held[O.n_held++] = (struct held){ i, *fb, cb, data };
	return 0;
}

static int f_retract(struct kg_output *out, unsigned i)
{
	for (unsigned k = O.n_held; k-- > 0;) {
		if (O.held[k].scanout != i)
			continue;
		memmove(&O.held[k], &O.held[k + 1], (O.n_held - k - 1) * sizeof(O.held[0]));
		O.n_held--;
		return 0;
	}
	return -2; /* -ENOENT */
}

static int f_ok(struct kg_output *out, unsigned i)
{
	if (i >= 2)
		abort();
	return 0;
}

static void complete_at(unsigned k, bool shown, bool read);

/* As the KMS output does: the frame waiting for the screen is dropped,
 * its callback runs at once (from inside the device's call). */
static int f_disable(struct kg_output *out, unsigned i)
{
	unsigned n = 0;

	if (f_ok(out, i) < 0)
		return -22;
	for (unsigned k = 0; k < O.n_held; k++)
		n += O.held[k].scanout == i;
	/* Only those held now: a callback may hand over a new frame. */
	while (n--) {
		for (unsigned k = 0; k < O.n_held; k++) {
			if (O.held[k].scanout == i) {
				complete_at(k, false, false);
				break;
			}
		}
	}
	return 0;
}

static int f_cursor_set(struct kg_output *out, unsigned i, const uint32_t *argb, int32_t hx,
			int32_t hy)
{
	return f_ok(out, i);
}

static int f_cursor_move(struct kg_output *out, unsigned i, int32_t x, int32_t y)
{
	return f_ok(out, i);
}

static void f_forget(struct kg_output *out, uint32_t id)
{
}

static void f_destroy(struct kg_output *out)
{
	/* Torn down: what it holds is dropped, not read (the device's guest
	 * memory may be gone already). */
	while (O.n_held)
		complete_at(O.n_held - 1, false, false);
}

static const struct kg_output_ops fops = {
	.name = "fuzz",
	.destroy = f_destroy,
	.num_scanouts = f_num_scanouts,
	.get_info = f_get_info,
	.present = f_present,
	.retract = f_retract,
	.disable = f_disable,
	.cursor_set = f_cursor_set,
	.cursor_move = f_cursor_move,
	.forget = f_forget,
};

struct kg_output *fz_output(void)
{
	O.out.ops = &fops;
	return &O.out;
}

static void complete_at(unsigned k, bool shown, bool read)
{
	struct held h = O.held[k];
	struct kg_present_result res = { .shown = shown, .commit_ns = 1, .flip_ns = 2 };

	memmove(&O.held[k], &O.held[k + 1], (O.n_held - k - 1) * sizeof(O.held[0]));
	O.n_held--;
	if (read)
		touch(&h.fb); /* now, as a commit behind a flip does */
	h.cb(h.data, &res);
}

void fz_output_complete(bool shown)
{
	/* The callback may hand over the next frame: it joins the list. */
	while (O.n_held)
		complete_at(O.n_held - 1, shown, true);
}

bool fz_output_complete_one(bool shown)
{
	if (!O.n_held)
		return false;
	complete_at(0, shown, true);
	return true;
}

void fz_output_hotplug(void)
{
	if (O.out.changed)
		O.out.changed(O.out.changed_data);
}
