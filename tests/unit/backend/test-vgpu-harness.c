// SPDX-License-Identifier: MIT
#include "test-vgpu-harness.h"
#include "fdcount.h"
#include "guest-ram.h"
#include "output-join.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct harness *h_of(struct kg_output *out)
{
	return (struct harness *)out;
}

static void f_destroy(struct kg_output *out)
{
}

static unsigned f_num_scanouts(struct kg_output *out)
{
	return h_of(out)->num_scanouts;
}

static int f_get_info(struct kg_output *out, unsigned i, struct kg_scanout_info *info)
{
	struct harness *h = h_of(out);

	if (i >= h->num_scanouts)
		return -22;
	*info = (struct kg_scanout_info){
		.connected = i == 0, .width = 1024, .height = 768, .refresh_mhz = 60000
	};
	if (i == 0) {
		info->edid = h->edid;
		info->edid_len = sizeof(h->edid);
	}
	return 0;
}

static int f_present(struct kg_output *out, unsigned i, const struct kg_fb_source *fb,
		     const struct kg_rect *damage, kg_present_cb cb, void *data)
{
	struct harness *h = h_of(out);
	struct h_present *p;

	if (h->present_error)
		return h->present_error;
	if (h->n_presents >= H_MAX_PRESENTS)
		return -28;
	p = &h->presents[h->n_presents++];
	*p = (struct h_present){ .scanout = i, .fb = *fb, .cb = cb, .data = data };
	if (fb->n_chunks) /* a rendered frame has none */
		memcpy(p->chunks, fb->chunks,
		       (fb->n_chunks < 8 ? fb->n_chunks : 8) * sizeof(p->chunks[0]));
	p->damage = damage ? *damage : (struct kg_rect){ 0, 0, fb->width, fb->height };
	return 0;
}

/* Like the KMS output's frame waiting behind a flip: the newest present
 * not yet completed is taken back, its callback never runs. */
static int f_retract(struct kg_output *out, unsigned i)
{
	struct harness *h = h_of(out);

	for (unsigned k = h->n_presents; k-- > 0;) {
		struct h_present *p = &h->presents[k];

		if (p->scanout != i || p->done)
			continue;
		p->done = true;
		p->retracted = true;
		h->retracts++;
		return 0;
	}
	return -2; /* -ENOENT */
}

static int f_disable(struct kg_output *out, unsigned i)
{
	h_of(out)->disables++;
	return 0;
}

static int f_cursor_set(struct kg_output *out, unsigned i, const uint32_t *argb, int32_t hx,
			int32_t hy)
{
	struct harness *h = h_of(out);

	h->cursor_sets++;
	h->cursor_visible = argb != NULL;
	if (argb)
		memcpy(h->cursor, argb, sizeof(h->cursor));
	h->hot_x = hx;
	h->hot_y = hy;
	return 0;
}

static int f_cursor_move(struct kg_output *out, unsigned i, int32_t x, int32_t y)
{
	struct harness *h = h_of(out);

	h->cursor_moves++;
	h->cursor_x = x;
	h->cursor_y = y;
	return 0;
}

static void f_forget(struct kg_output *out, uint32_t id)
{
	h_of(out)->forgets++;
}

static const char *f_path(struct kg_output *out, unsigned i)
{
	return "zero-copy";
}

static const struct kg_output_ops fake_ops = {
	.name = "fake",
	.destroy = f_destroy,
	.num_scanouts = f_num_scanouts,
	.get_info = f_get_info,
	.present = f_present,
	.retract = f_retract,
	.disable = f_disable,
	.cursor_set = f_cursor_set,
	.cursor_move = f_cursor_move,
	.forget = f_forget,
	.path = f_path,
};

static void t_reply(void *data, void *token, const void *resp, size_t len)
{
	struct harness *h = data;
	struct h_reply *r;

	if (h->n_replies >= H_MAX_REPLIES)
		abort();
	r = &h->replies[h->n_replies++];
	r->token = (uintptr_t)token;
	r->len = len < sizeof(r->buf) ? len : sizeof(r->buf);
	if (resp)
		memcpy(r->buf, resp, r->len);
}

static void t_drop(void *data, void *token)
{
	((struct harness *)data)->drops++;
}

static const struct kg_vgpu_transport transport = { t_reply, t_drop };

static int make_ram(struct harness *h)
{
	struct kg_gmem_region r[2] = {
		{ H_RAM_GPA, H_REGION_SIZE, 0x7f0000000000ull, 0 },
		{ H_RAM_GPA + H_REGION_SIZE, H_REGION_SIZE, 0x7f0000400000ull, 0 },
	};
	int fds[2];

	for (int i = 0; i < 2; i++) {
		fds[i] = kg_test_ram_fd(H_REGION_SIZE);
		if (fds[i] < 0)
			return -1;
	}
	h->gm = kg_gmem_create();
	if (!h->gm || kg_gmem_set_table(h->gm, r, 2, fds) < 0)
		return -1;
	h->ram = kg_gmem_gpa_to_va(h->gm, H_RAM_GPA, H_REGION_SIZE);
	h->ram_b = kg_gmem_gpa_to_va(h->gm, H_RAM_GPA + H_REGION_SIZE, H_REGION_SIZE);
	return h->ram && h->ram_b ? 0 : -1;
}

struct harness *h_create(bool fifo, uint32_t max_resources, uint64_t max_bytes)
{
	return h_create_on(NULL, fifo, max_resources, max_bytes);
}

static struct harness *create(struct kg_output *output, bool join, bool fifo,
			      uint32_t max_resources, uint64_t max_bytes, struct kg_virgl *virgl,
			      struct kg_loop *paced);

struct harness *h_create_on(struct kg_output *output, bool fifo, uint32_t max_resources,
			    uint64_t max_bytes)
{
	return create(output, false, fifo, max_resources, max_bytes, NULL, NULL);
}

struct harness *h_create_joined(void)
{
	return create(NULL, true, false, 0, 0, NULL, NULL);
}

struct harness *h_create_3d(struct kg_virgl *virgl)
{
	return create(NULL, false, false, 0, 0, virgl, NULL);
}

struct harness *h_create_paced(struct kg_loop *loop)
{
	return create(NULL, false, false, 0, 0, NULL, loop);
}

static struct harness *create(struct kg_output *output, bool join, bool fifo,
			      uint32_t max_resources, uint64_t max_bytes, struct kg_virgl *virgl,
			      struct kg_loop *paced)
{
	struct harness *h = calloc(1, sizeof(*h));
	struct kg_vgpu_config cfg = { 0 };

	if (!h)
		abort();
	h->fds_before = kg_test_fd_count();
	h->out.ops = &fake_ops;
	h->num_scanouts = 2;
	for (int i = 0; i < 128; i++)
		h->edid[i] = (uint8_t)(i * 7);
	if (make_ram(h) < 0)
		abort();
	cfg.output = output ? output : &h->out;
	if (join) {
		struct kg_output *member = &h->out;

		/* As kmsgate-vgpu builds it for several leased pipelines. */
		h->joined = kg_output_join(&member, 1);
		if (!h->joined)
			abort();
		cfg.output = h->joined;
	}
	h->stats = kg_stats_create();
	if (!h->stats)
		abort();
	cfg.gmem = h->gm;
	cfg.stats = h->stats;
	cfg.transport = &transport;
	cfg.transport_data = h;
	cfg.fifo = fifo;
	cfg.max_resources = max_resources;
	cfg.max_resource_bytes = max_bytes;
	cfg.virgl = virgl;
	cfg.pacing = paced ? KG_PACING_JIT : KG_PACING_FLIP;
	cfg.loop = paced;
	h->g = kg_vgpu_create(&cfg);
	if (!h->g)
		abort();
	h->next_token = 1;
	return h;
}

void h_destroy(struct harness *h)
{
	kg_vgpu_destroy(h->g);
	kg_stats_destroy(h->stats);
	if (h->joined)
		h->joined->ops->destroy(h->joined); /* the fake member's destroy is a no-op */
	kg_gmem_destroy(h->gm);
	/* Every fd the test opened (the memfds) must be gone again. */
	if (kg_test_fd_count() != h->fds_before)
		abort();
	free(h);
}

uintptr_t h_submit(struct harness *h, const void *cmd, size_t len)
{
	uintptr_t token = h->next_token++;

	kg_vgpu_submit(h->g, KG_VGPU_QUEUE_CONTROL, cmd, len, (void *)token);
	return token;
}

void h_submit_cursor(struct harness *h, const void *cmd, size_t len)
{
	kg_vgpu_submit(h->g, KG_VGPU_QUEUE_CURSOR, cmd, len, (void *)h->next_token++);
}

const struct h_reply *h_reply_of(struct harness *h, uintptr_t token)
{
	for (unsigned i = 0; i < h->n_replies; i++) {
		if (h->replies[i].token == token)
			return &h->replies[i];
	}
	return NULL;
}

uint32_t h_resp_type(struct harness *h, uintptr_t token)
{
	const struct h_reply *r = h_reply_of(h, token);
	struct virtio_gpu_ctrl_hdr hdr;

	if (!r || r->len < sizeof(hdr))
		return 0;
	memcpy(&hdr, r->buf, sizeof(hdr));
	return hdr.type;
}

void h_complete(struct harness *h, unsigned i, bool shown)
{
	h_complete_at(h, i, shown, 2);
}

void h_complete_at(struct harness *h, unsigned i, bool shown, uint64_t flip_ns)
{
	struct kg_present_result res = {
		.shown = shown, .zero_copy = true, .commit_ns = 1, .flip_ns = flip_ns
	};

	if (i >= h->n_presents || h->presents[i].done)
		abort();
	h->presents[i].done = true;
	h->presents[i].cb(h->presents[i].data, &res);
}

static struct virtio_gpu_ctrl_hdr hdr(uint32_t type)
{
	return (struct virtio_gpu_ctrl_hdr){ .type = type };
}

uint32_t h_create_2d(struct harness *h, uint32_t id, uint32_t fmt, uint32_t w, uint32_t hgt)
{
	struct virtio_gpu_resource_create_2d c = { hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D), id, fmt,
						   w, hgt };

	return h_resp_type(h, h_submit(h, &c, sizeof(c)));
}

uint32_t h_attach(struct harness *h, uint32_t id, const struct virtio_gpu_mem_entry *e, uint32_t n)
{
	struct virtio_gpu_resource_attach_backing c = { hdr(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING),
							id, n };
	size_t len = sizeof(c) + n * sizeof(*e);
	uint8_t *buf = malloc(len);
	uint32_t type;

	memcpy(buf, &c, sizeof(c));
	memcpy(buf + sizeof(c), e, n * sizeof(*e));
	type = h_resp_type(h, h_submit(h, buf, len));
	free(buf);
	return type;
}

uint32_t h_attach1(struct harness *h, uint32_t id, uint64_t gpa, uint32_t len)
{
	struct virtio_gpu_mem_entry e = { gpa, len, 0 };

	return h_attach(h, id, &e, 1);
}

uint32_t h_set_scanout(struct harness *h, uint32_t scanout, uint32_t id, uint32_t x, uint32_t y,
		       uint32_t w, uint32_t hgt)
{
	struct virtio_gpu_set_scanout c = {
		hdr(VIRTIO_GPU_CMD_SET_SCANOUT), { x, y, w, hgt }, scanout, id
	};

	return h_resp_type(h, h_submit(h, &c, sizeof(c)));
}

uintptr_t h_flush(struct harness *h, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t hgt,
		  uint64_t fence_id)
{
	struct virtio_gpu_resource_flush c = { hdr(VIRTIO_GPU_CMD_RESOURCE_FLUSH),
					       { x, y, w, hgt },
					       id };

	if (fence_id) {
		c.hdr.flags = VIRTIO_GPU_FLAG_FENCE;
		c.hdr.fence_id = fence_id;
	}
	return h_submit(h, &c, sizeof(c));
}

uint32_t h_simple(struct harness *h, uint32_t type, uint32_t resource_id)
{
	struct virtio_gpu_resource_unref c = { hdr(type), resource_id };

	return h_resp_type(h, h_submit(h, &c, sizeof(c)));
}
