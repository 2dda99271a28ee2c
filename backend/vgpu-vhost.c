// SPDX-License-Identifier: MIT
#include "vgpu-vhost.h"

#include <errno.h>
#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gpu-channel.h"
#include "log.h"
#include "iov.h"
#include "output.h"
#include "vhost-user.h"

/* Largest command accepted: the header plus KG_VGPU_DEFAULT_MAX_BACKING_ENTRIES
 * entries. Anything bigger is refused as a short (malformed) command. */
#define VU_MAX_CMD (sizeof(struct virtio_gpu_resource_create_blob) + (65536u * 16u))

/* One popped chain, waiting for its response (the transport token). */
struct vu_req {
	struct kg_vq *vq;
	struct kg_vq_elem elem;
};

struct kg_vgpu_vhost {
	struct kg_vu_dev *dev;
	struct kg_vgpu *g;
	struct kg_loop *loop;
	/* The vhost-user-gpu channel QEMU hands over at each DRIVER_OK. kmsgate
	 * sends QEMU no pixels over it: it only answers the protocol. */
	struct kg_gpuchan *gpu_chan;
	struct kg_output *out; /* owned once create succeeded */
	struct kg_vu_device_ops ops;
	uint8_t *cmd_buf;     /* VU_MAX_CMD bytes: the command, out of guest reach */
	struct vu_req *spare; /* a popped-into element not yet used */
	/* While a kick is processed, answers collect here and the guest is
	 * interrupted once at the end instead of once per command. */
	struct kg_vq *kick_vq;
	bool notify_pending;
	void (*disconnected)(void *data);
	void *disconnected_data;
	/* Surviving a restart: the device's journal (kg_vgpu_keep_journal). */
	void *journal;
	size_t journal_size;
};

static void t_reply(void *data, void *token, const void *resp, size_t len)
{
	struct kg_vgpu_vhost *v = data;
	struct vu_req *req = token;
	size_t written = 0;

	if (kg_vq_elem_refresh(req->vq, &req->elem) < 0)
		kg_warn("vgpu: a response buffer of queue %u left guest RAM with a memory-table "
			"change; the command is returned unanswered",
			kg_vq_index(req->vq));
	if (len)
		written = kg_iov_from_buf(req->elem.in, req->elem.in_num, 0, resp, len);
	kg_vq_push(req->vq, &req->elem, (uint32_t)written);
	if (req->vq == v->kick_vq)
		v->notify_pending = true;
	else
		kg_vq_notify(req->vq);
	free(req);
}

static void t_drop(void *data, void *token)
{
	free(token);
}

static const struct kg_vgpu_transport vu_transport = { t_reply, t_drop };

static int d_get_config(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	struct kg_vgpu_vhost *v = opaque;

	return kg_vgpu_get_config(v->g, offset, buf, len);
}

static void d_set_features(void *opaque, uint64_t features)
{
	struct kg_vgpu_vhost *v = opaque;

	kg_vgpu_set_features(v->g, features);
}

/* Takes one chain off the queue and hands its command to the device.
 * Returns false when the queue is empty or broken. */
static bool process_one(struct kg_vgpu_vhost *v, struct kg_vq *vq)
{
	struct vu_req *req = v->spare ? v->spare : malloc(sizeof(*req));
	size_t len;
	int ret;

	v->spare = NULL;
	if (!req) {
		kg_err("vgpu: out of memory for a command; the queue waits for the next kick");
		return false;
	}
	ret = kg_vq_pop(vq, &req->elem);
	if (ret <= 0) {
		v->spare = req;
		if (ret < 0)
			kg_warn("vgpu: queue %u is malformed (%s); it stays stopped until the "
				"guest resets the device",
				kg_vq_index(vq), strerror(-ret));
		return false;
	}
	req->vq = vq;
	len = kg_iov_size(req->elem.out, req->elem.out_num);
	if (len > VU_MAX_CMD)
		len = 0; /* answered as malformed */
	len = kg_iov_to_buf(req->elem.out, req->elem.out_num, 0, v->cmd_buf, len);
	(req->elem.resubmitted ? kg_vgpu_resubmit : kg_vgpu_submit)(
		v->g, kg_vq_index(vq) == 1 ? KG_VGPU_QUEUE_CURSOR : KG_VGPU_QUEUE_CONTROL,
		v->cmd_buf, len, req);
	return true;
}

static void d_queue_kick(void *opaque, struct kg_vq *vq)
{
	struct kg_vgpu_vhost *v = opaque;

	v->kick_vq = vq;
	v->notify_pending = false;
	while (process_one(v, vq))
		;
	v->kick_vq = NULL;
	if (v->notify_pending)
		kg_vq_notify(vq);
}

static void d_queue_stopped(void *opaque, struct kg_vq *vq)
{
	struct kg_vgpu_vhost *v = opaque;

	/* Elements of a stopped control queue can no longer be answered;
	 * the guest driver starts over after a device stop. */
	if (kg_vq_index(vq) == 0)
		kg_vgpu_reset(v->g);
}

static void d_gpu_socket(void *opaque, int fd)
{
	struct kg_vgpu_vhost *v = opaque;

	kg_gpuchan_destroy(v->gpu_chan);
	v->gpu_chan = kg_gpuchan_create(v->loop, fd);
	if (!v->gpu_chan)
		kg_log_errno(KG_LOG_WARN, "vgpu: cannot run the vhost-user-gpu channel QEMU sent");
}

static void d_mem_changed(void *opaque)
{
	struct kg_vgpu_vhost *v = opaque;

	kg_vgpu_mem_changed(v->g);
}

static void d_reset(void *opaque)
{
	struct kg_vgpu_vhost *v = opaque;

	kg_vgpu_reset(v->g);
	/* Front-end gone or device reset: QEMU sends a new channel with the
	 * next DRIVER_OK (it closed this one when the device stopped). */
	kg_gpuchan_destroy(v->gpu_chan);
	v->gpu_chan = NULL;
}

/* A dead process's connection is ours again: its resources and scanouts
 * come back from the journal before any queue runs. */
static void d_resumed(void *opaque)
{
	struct kg_vgpu_vhost *v = opaque;
	int n;

	if (!v->journal)
		return;
	n = kg_vgpu_keep_journal(v->g, v->journal, v->journal_size, true);
	if (n >= 0) {
		kg_info("vgpu: the guest's resources and scanouts are back (%d kept command(s) run "
			"again)",
			n);
		return;
	}
	kg_err("vgpu: the kept device state cannot be restored (%s): the guest's display is "
	       "lost until it resets its device (reboot, or reload of its virtio-gpu driver)",
	       n == -ENODATA ? "it had outgrown its journal" : strerror(-n));
	kg_vgpu_keep_journal(v->g, v->journal, v->journal_size, false);
}

static void d_disconnected(void *opaque)
{
	struct kg_vgpu_vhost *v = opaque;

	if (v->disconnected)
		v->disconnected(v->disconnected_data);
}

static void on_output_changed(void *data)
{
	struct kg_vgpu_vhost *v = data;
	int ret;

	kg_vgpu_display_changed(v->g);
	ret = kg_vu_config_changed(v->dev);
	if (ret < 0)
		kg_info("vgpu: display changed, but the front-end cannot be told (%s); the guest "
			"sees it at its next GET_DISPLAY_INFO",
			strerror(-ret));
}

struct kg_vgpu_vhost *kg_vgpu_vhost_create(struct kg_loop *loop,
					   const struct kg_vgpu_vhost_config *cfg)
{
	struct kg_vgpu_vhost *v = calloc(1, sizeof(*v));
	struct kg_vgpu_config gc;
	int err;

	if (!v)
		return NULL;
	v->cmd_buf = malloc(VU_MAX_CMD);
	if (!v->cmd_buf)
		goto fail;
	v->ops = (struct kg_vu_device_ops){
		.features = kg_vgpu_offered_features(&cfg->vgpu),
		.num_queues = 2,
		.get_config = d_get_config,
		.set_features = d_set_features,
		.queue_kick = d_queue_kick,
		.queue_stopped = d_queue_stopped,
		.mem_changed = d_mem_changed,
		.gpu_socket = d_gpu_socket,
		.reset = d_reset,
		.disconnected = d_disconnected,
		.resumed = d_resumed,
	};
	v->disconnected = cfg->disconnected;
	v->disconnected_data = cfg->disconnected_data;
	v->loop = loop;
	v->dev = cfg->socket_path ? kg_vu_create(loop, cfg->socket_path, &v->ops, v)
				  : kg_vu_create_from_fd(loop, -1, &v->ops, v);
	if (!v->dev)
		goto fail; /* kg_vu said why */
	gc = cfg->vgpu;
	gc.gmem = kg_vu_gmem(v->dev);
	gc.transport = &vu_transport;
	gc.transport_data = v;
	v->g = kg_vgpu_create(&gc);
	if (!v->g)
		goto fail;
	v->out = cfg->vgpu.output;
	v->out->changed = on_output_changed;
	v->out->changed_data = v;
	return v;

fail:
	err = errno;
	kg_vgpu_vhost_destroy(v);
	errno = err;
	return NULL;
}

int kg_vgpu_vhost_keep(struct kg_vgpu_vhost *v, const struct kg_vu_keeper *k, void *journal,
		       size_t size, const struct kg_vu_saved *adopt,
		       int (*fd_of)(void *data, uint32_t serial))
{
	/* Adopting, the journal is the dead process's: d_resumed() runs it. */
	if (!adopt) {
		int ret = kg_vgpu_keep_journal(v->g, journal, size, false);

		if (ret < 0)
			return ret;
	}
	v->journal = journal;
	v->journal_size = size;
	kg_vu_set_keeper(v->dev, k);
	return adopt ? kg_vu_adopt(v->dev, adopt, fd_of, k->data) : 0;
}

int kg_vgpu_vhost_serve_fd(struct kg_vgpu_vhost *v, int fd)
{
	return kg_vu_serve_fd(v->dev, fd);
}

void kg_vgpu_vhost_destroy(struct kg_vgpu_vhost *v)
{
	if (!v)
		return;
	/* The front-end goes first: its reset drops the device's guest state
	 * (and disables the scanouts through the output). The output then
	 * completes the frames it still holds into the device. */
	kg_vu_destroy(v->dev);
	kg_gpuchan_destroy(v->gpu_chan);
	if (v->out)
		v->out->ops->destroy(v->out);
	kg_vgpu_destroy(v->g);
	free(v->spare);
	free(v->cmd_buf);
	free(v);
}
