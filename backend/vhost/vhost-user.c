// SPDX-License-Identifier: MIT
/*
 * kg_vu: vhost-user back-end server (docs/interop/vhost-user.rst).
 *
 * Written for kmsgate because Debian packages no C library for the back-end
 * side of vhost-user. One front-end (QEMU) at a time; after it disconnects
 * every guest resource is dropped and the socket accepts again.
 *
 * Message flow: bytes are gathered without blocking (header, then payload)
 * with the fds that come along; kg_vu_msg_check() validates the whole
 * message; one handler per request acts on it; dispatch() sends the reply
 * or the REPLY_ACK status and closes every fd the handler did not take.
 */
#include "vhost-user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "scm-fds.h"
#include "vhost-user-proto.h"

#define BIT(n) (1ull << (n))

/* What kg_vu offers besides the device's own bits. INDIRECT_DESC and
 * EVENT_IDX must work anyway: QEMU's vhost-user-gpu acks the guest's
 * features as they are (backends/vhost-user.c), offered or not. */
#define VU_TRANSPORT_FEATURES                                                           \
	(BIT(KG_VU_F_VERSION_1) | BIT(KG_VU_F_INDIRECT_DESC) | BIT(KG_VU_F_EVENT_IDX) | \
	 BIT(KG_VU_F_PROTOCOL_FEATURES))
/* CONFIG is required by QEMU's vhost-user-gpu (it registers a config
 * notifier, so vhost_user_backend_init() refuses a back-end without it). */
#define VU_PROTOCOL_FEATURES                                                   \
	(BIT(KG_VU_PROTOCOL_F_REPLY_ACK) | BIT(KG_VU_PROTOCOL_F_BACKEND_REQ) | \
	 BIT(KG_VU_PROTOCOL_F_CONFIG))

/* Handler result meaning "drop this front-end". Other negative values are
 * refusals answered through REPLY_ACK. */
#define VU_DROP (-EPROTO)

struct vu_queue {
	struct kg_vu_dev *dev;
	struct kg_vq *vq;
	int kick_fd;
	int err_fd;
	struct kg_source *kick_src;
	bool enabled; /* SET_VRING_ENABLE (or implied without protocol features) */
	bool running; /* started, watched, and the device was told */
	uint32_t kick_serial, call_serial, err_serial; /* the keeper's copies */
};

#define VU_MAX_DROPS (KG_GMEM_MAX_REGIONS + 3 * KG_VU_MAX_QUEUES + 2)

struct kg_vu_dev {
	struct kg_loop *loop;
	const struct kg_vu_device_ops *ops;
	void *opaque;
	int listen_fd;
	struct kg_source *listen_src;
	char *socket_path; /* unlinked on destroy; NULL for kg_vu_create_from_fd */

	/* The connected front-end. */
	int conn_fd;
	struct kg_source *conn_src;
	struct kg_vu_msg msg; /* being received */
	size_t msg_got;
	int fds[KG_VU_MAX_FDS]; /* received with msg; -1 once taken */
	unsigned nfds;
	bool fds_overflow; /* more fds than any message carries */

	uint64_t features;
	uint64_t protocol_features;
	struct kg_gmem *gm;
	unsigned nq;
	struct vu_queue q[KG_VU_MAX_QUEUES];
	int backend_fd; /* SET_BACKEND_REQ_FD */

	/* Surviving a restart (vhost-user.h): the serials of the keeper's
	 * copies of our fds, and those to drop once the change is saved. */
	const struct kg_vu_keeper *keeper;
	uint32_t conn_serial, backend_serial, gpu_serial;
	uint32_t region_serial[KG_GMEM_MAX_REGIONS];
	uint32_t drops[VU_MAX_DROPS];
	unsigned ndrops;
};

typedef int (*vu_handler)(struct kg_vu_dev *dev, const struct kg_vu_msg *m,
			  struct kg_vu_msg *reply);

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Takes the i-th fd of the current message out of the close list. */
static int take_fd(struct kg_vu_dev *dev, unsigned i)
{
	int fd = dev->fds[i];

	dev->fds[i] = -1;
	return fd;
}

static bool acked(const struct kg_vu_dev *dev, unsigned bit)
{
	return dev->features & BIT(bit);
}

static void reply_u64(struct kg_vu_msg *reply, uint32_t request, uint64_t v)
{
	reply->hdr.request = request;
	reply->hdr.size = sizeof(uint64_t);
	reply->payload.u64 = v;
}

/* ---- the keeper ---- */

static void save(struct kg_vu_dev *dev);

static void unkeep(struct kg_vu_dev *dev, uint32_t *slot)
{
	if (!*slot)
		return;
	if (dev->ndrops == VU_MAX_DROPS)
		save(dev); /* cannot happen with one message's fds; stay correct */
	dev->drops[dev->ndrops++] = *slot;
	*slot = 0;
}

/* Replaces the keeper's copy in *slot by one of fd (-1: none). */
static void keep_fd(struct kg_vu_dev *dev, uint32_t *slot, int fd)
{
	uint32_t old = *slot;

	*slot = 0;
	if (dev->keeper && fd >= 0)
		*slot = dev->keeper->keep(dev->keeper->data, fd);
	unkeep(dev, &old);
}

static void describe(const struct kg_vu_dev *dev, struct kg_vu_saved *s)
{
	memset(s, 0, sizeof(*s));
	s->features = dev->features;
	s->protocol_features = dev->protocol_features;
	s->conn = dev->conn_serial;
	s->backend = dev->backend_serial;
	s->gpu = dev->gpu_serial;
	s->nregions = kg_gmem_num_regions(dev->gm);
	for (unsigned i = 0; i < s->nregions; i++) {
		kg_gmem_get_region(dev->gm, i, &s->regions[i]);
		s->region_fd[i] = dev->region_serial[i];
	}
	s->nq = dev->nq;
	for (unsigned i = 0; i < dev->nq; i++) {
		const struct vu_queue *q = &dev->q[i];
		struct kg_vu_saved_queue *sq = &s->q[i];

		kg_vq_get_setup(q->vq, &sq->num, &sq->addr_set, &sq->desc, &sq->avail, &sq->used);
		sq->enabled = q->enabled;
		sq->base = kg_vq_get_base(q->vq);
		sq->kick = q->kick_serial;
		sq->call = q->call_serial;
		sq->err = q->err_serial;
	}
}

/* Tells the keeper how the connection is now, then lets go of the fds it
 * no longer needs (in this order: a crash in between leaves an extra
 * copy, never a description naming a copy that is gone). */
static void save(struct kg_vu_dev *dev)
{
	struct kg_vu_saved s;

	if (!dev->keeper) {
		dev->ndrops = 0;
		return;
	}
	describe(dev, &s);
	dev->keeper->save(dev->keeper->data, &s);
	for (unsigned i = 0; i < dev->ndrops; i++)
		dev->keeper->drop(dev->keeper->data, dev->drops[i]);
	dev->ndrops = 0;
}

void kg_vu_set_keeper(struct kg_vu_dev *dev, const struct kg_vu_keeper *k)
{
	dev->keeper = k;
}

/* ---- queues ---- */

static struct vu_queue *queue_at(struct kg_vu_dev *dev, uint32_t index)
{
	if (index >= dev->nq) {
		kg_warn("vhost-user: queue index %u out of range (%u queues)", index, dev->nq);
		return NULL;
	}
	return &dev->q[index];
}

static void queue_halt(struct kg_vu_dev *dev, struct vu_queue *q)
{
	if (!q->running)
		return;
	kg_loop_remove(q->kick_src);
	q->kick_src = NULL;
	kg_vq_stop(q->vq);
	kg_vq_set_rekick_fd(q->vq, -1);
	q->running = false;
	if (dev->ops->queue_stopped)
		dev->ops->queue_stopped(dev->opaque, q->vq);
}

static void on_kick(void *data, int fd, uint32_t events)
{
	struct vu_queue *q = data;
	struct kg_vu_dev *dev = q->dev;
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return; /* spurious wake-up */
	if (n != sizeof(v) || (events & (EPOLLHUP | EPOLLERR))) {
		/* Not an eventfd after all (EOF, short read, hang-up): stop
		 * watching it rather than spin on it. */
		kg_warn("vhost-user: queue %u kick fd is not a usable eventfd; queue stopped",
			kg_vq_index(q->vq));
		queue_halt(dev, q);
		return;
	}
	kg_vq_refill(q->vq);
	if (dev->ops->queue_kick)
		dev->ops->queue_kick(dev->opaque, q->vq);
}

static void track(struct kg_vu_dev *dev, struct vu_queue *q)
{
	struct kg_vq_inflight *inf;
	unsigned i = kg_vq_index(q->vq);

	if (!dev->keeper || !dev->keeper->inflight)
		return;
	inf = dev->keeper->inflight(dev->keeper->data, i);
	if (inf && kg_vq_track(q->vq, inf) < 0)
		kg_warn("vhost-user: queue %u is larger than %u entries: what it has in flight "
			"would be lost if kmsgate-vgpu restarted",
			i, KG_VQ_INFLIGHT_MAX);
}

/* Starts the ring: afresh, or (resume) from the inflight record a dead
 * process left. */
static int queue_run(struct kg_vu_dev *dev, struct vu_queue *q, struct kg_vq_inflight *resume)
{
	int ret = resume ? kg_vq_resume(q->vq, dev->gm, resume) : kg_vq_start(q->vq, dev->gm);

	if (ret < 0)
		return ret;
	if (resume && ret > 0)
		kg_info("vhost-user: queue %u: %d command(s) the previous process took and did "
			"not answer are run again",
			kg_vq_index(q->vq), ret);
	if (!resume)
		track(dev, q);
	q->kick_src = kg_loop_add_fd(dev->loop, q->kick_fd, EPOLLIN, on_kick, q);
	if (!q->kick_src) {
		ret = -errno;
		kg_log_errno(KG_LOG_WARN, "vhost-user: cannot watch the kick fd of queue %u",
			     kg_vq_index(q->vq));
		kg_vq_stop(q->vq);
		return ret;
	}
	q->running = true;
	kg_vq_set_rekick_fd(q->vq, q->kick_fd);
	if (dev->ops->queue_started)
		dev->ops->queue_started(dev->opaque, q->vq);
	/* The guest may have queued work before the kick fd was watched. */
	if (dev->ops->queue_kick)
		dev->ops->queue_kick(dev->opaque, q->vq);
	return 0;
}

/* A queue runs once it has a kick fd, is enabled and guest RAM is there. */
static bool queue_wanted(const struct kg_vu_dev *dev, const struct vu_queue *q)
{
	return q->kick_fd >= 0 && q->enabled && kg_gmem_num_regions(dev->gm) > 0;
}

/* Never block the loop on a peer's fd. */
static void set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Starts or stops the queue to match kick fd, enable and memory table. */
static int queue_sync(struct kg_vu_dev *dev, struct vu_queue *q)
{
	bool want = queue_wanted(dev, q);

	if (want && !q->running)
		return queue_run(dev, q, NULL);
	if (!want)
		queue_halt(dev, q);
	return 0;
}

static void queue_reset(struct kg_vu_dev *dev, struct vu_queue *q)
{
	queue_halt(dev, q);
	close_fd(&q->kick_fd);
	close_fd(&q->err_fd);
	unkeep(dev, &q->kick_serial);
	unkeep(dev, &q->call_serial);
	unkeep(dev, &q->err_serial);
	q->enabled = false;
	kg_vq_reset(q->vq);
}

/* ---- handlers ---- */

static int h_get_features(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	reply_u64(r, m->hdr.request, VU_TRANSPORT_FEATURES | dev->ops->features);
	return 0;
}

static int h_set_features(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	uint64_t offered = VU_TRANSPORT_FEATURES | dev->ops->features;
	uint64_t f = m->payload.u64;

	if (f & ~offered)
		kg_dbg("vhost-user: front-end acked features 0x%llx beyond those offered (QEMU "
		       "forwards the guest's)",
		       (unsigned long long)(f & ~offered));
	dev->features = f;
	for (unsigned i = 0; i < dev->nq; i++) {
		struct vu_queue *q = &dev->q[i];

		/* The event fields change the ring sizes: a started ring is
		 * mapped again, and stops if it no longer fits. */
		if (kg_vq_set_features(q->vq, acked(dev, KG_VU_F_EVENT_IDX),
				       acked(dev, KG_VU_F_INDIRECT_DESC)) < 0)
			queue_halt(dev, q);
	}
	if (dev->ops->set_features)
		dev->ops->set_features(dev->opaque, f & ~BIT(KG_VU_F_PROTOCOL_FEATURES));
	return 0;
}

static int h_nop(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	return 0;
}

static int h_reset(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	for (unsigned i = 0; i < dev->nq; i++)
		queue_reset(dev, &dev->q[i]);
	if (dev->ops->reset)
		dev->ops->reset(dev->opaque);
	dev->features = 0;
	return 0;
}

static int h_set_mem_table(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	struct kg_gmem_region regions[KG_GMEM_MAX_REGIONS];
	int fds[KG_GMEM_MAX_REGIONS];
	unsigned n = m->payload.memory.nregions; /* checked: equals nfds, <= 8 */
	int ret;

	for (unsigned i = 0; i < n; i++) {
		const struct kg_vu_mem_region *w = &m->payload.memory.regions[i];

		regions[i] = (struct kg_gmem_region){ w->guest_phys_addr, w->memory_size,
						      w->userspace_addr, w->mmap_offset };
		fds[i] = take_fd(dev, i);
		kg_dbg("vhost-user: region %u: gpa 0x%llx size 0x%llx uva 0x%llx offset 0x%llx", i,
		       (unsigned long long)w->guest_phys_addr, (unsigned long long)w->memory_size,
		       (unsigned long long)w->userspace_addr, (unsigned long long)w->mmap_offset);
	}
	ret = kg_gmem_set_table(dev->gm, regions, n, fds);
	if (ret < 0) {
		kg_err("vhost-user: memory table rejected: %s", strerror(-ret));
		return ret;
	}
	/* The fds now belong to the table; the keeper takes copies. */
	for (unsigned i = 0; i < KG_GMEM_MAX_REGIONS; i++)
		keep_fd(dev, &dev->region_serial[i], i < n ? fds[i] : -1);
	/* Order matters: running rings first (the device's deferred answers
	 * go to the used rings), then the device, whose backings and owed
	 * answers follow the new table, and only then queues that start now
	 * (their first kick must not meet backings of the old table). */
	bool lost[KG_VU_MAX_QUEUES] = { false };

	for (unsigned i = 0; i < dev->nq; i++) {
		struct vu_queue *q = &dev->q[i];

		if (q->running && kg_vq_remap(q->vq) < 0) {
			queue_halt(dev, q); /* its ring left guest memory */
			lost[i] = true;
		}
	}
	if (dev->ops->mem_changed)
		dev->ops->mem_changed(dev->opaque);
	for (unsigned i = 0; i < dev->nq; i++) {
		if (!lost[i])
			queue_sync(dev, &dev->q[i]);
	}
	return 0;
}

static int h_set_vring_num(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	struct vu_queue *q = queue_at(dev, m->payload.state.index);

	return q ? kg_vq_set_num(q->vq, m->payload.state.num) : -EINVAL;
}

static int h_set_vring_addr(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	const struct kg_vu_vring_addr *a = &m->payload.addr;
	struct vu_queue *q = queue_at(dev, a->index);

	if (!q)
		return -EINVAL;
	return kg_vq_set_addr(q->vq, a->desc_user_addr, a->avail_user_addr, a->used_user_addr);
}

static int h_set_vring_base(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	struct vu_queue *q = queue_at(dev, m->payload.state.index);

	if (!q || m->payload.state.num > UINT16_MAX)
		return -EINVAL;
	return kg_vq_set_base(q->vq, (uint16_t)m->payload.state.num);
}

static int h_get_vring_base(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	struct vu_queue *q = queue_at(dev, m->payload.state.index);

	/* The front-end waits for an answer we cannot give: drop it. */
	if (!q)
		return VU_DROP;
	/* GET_VRING_BASE stops the ring (vhost-user.rst, "Starting and
	 * stopping rings"). */
	queue_halt(dev, q);
	close_fd(&q->kick_fd);
	unkeep(dev, &q->kick_serial);
	r->hdr.request = m->hdr.request;
	r->hdr.size = sizeof(struct kg_vu_vring_state);
	r->payload.state.index = m->payload.state.index;
	r->payload.state.num = kg_vq_get_base(q->vq);
	return 0;
}

static int h_set_vring_kick(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	struct vu_queue *q = queue_at(dev, m->payload.u64 & KG_VU_VRING_IDX_MASK);

	if (!q)
		return -EINVAL;
	if (m->payload.u64 & KG_VU_VRING_NOFD_MASK) {
		kg_warn("vhost-user: polling a queue without kick fd is not supported");
		return -ENOTSUP;
	}
	queue_halt(dev, q);
	close_fd(&q->kick_fd);
	q->kick_fd = take_fd(dev, 0);
	keep_fd(dev, &q->kick_serial, q->kick_fd);
	set_nonblock(q->kick_fd);
	/* Without protocol features a ring is enabled as soon as it starts. */
	if (!acked(dev, KG_VU_F_PROTOCOL_FEATURES))
		q->enabled = true;
	return queue_sync(dev, q);
}

static int h_set_vring_call(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	struct vu_queue *q = queue_at(dev, m->payload.u64 & KG_VU_VRING_IDX_MASK);
	int fd;

	if (!q)
		return -EINVAL;
	fd = (m->payload.u64 & KG_VU_VRING_NOFD_MASK) ? -1 : take_fd(dev, 0);
	keep_fd(dev, &q->call_serial, fd);
	kg_vq_set_call_fd(q->vq, fd);
	return 0;
}

static int h_set_vring_err(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	struct vu_queue *q = queue_at(dev, m->payload.u64 & KG_VU_VRING_IDX_MASK);

	if (!q)
		return -EINVAL;
	close_fd(&q->err_fd);
	if (!(m->payload.u64 & KG_VU_VRING_NOFD_MASK))
		q->err_fd = take_fd(dev, 0);
	keep_fd(dev, &q->err_serial, q->err_fd);
	return 0;
}

static int h_get_protocol_features(struct kg_vu_dev *dev, const struct kg_vu_msg *m,
				   struct kg_vu_msg *r)
{
	reply_u64(r, m->hdr.request, VU_PROTOCOL_FEATURES);
	return 0;
}

static int h_set_protocol_features(struct kg_vu_dev *dev, const struct kg_vu_msg *m,
				   struct kg_vu_msg *r)
{
	uint64_t f = m->payload.u64;

	if (f & ~VU_PROTOCOL_FEATURES)
		kg_warn("vhost-user: front-end enabled protocol features 0x%llx we never offered; "
			"ignoring them",
			(unsigned long long)(f & ~VU_PROTOCOL_FEATURES));
	dev->protocol_features = f & VU_PROTOCOL_FEATURES;
	return 0;
}

static int h_get_queue_num(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	reply_u64(r, m->hdr.request, dev->nq);
	return 0;
}

static int h_set_vring_enable(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	struct vu_queue *q = queue_at(dev, m->payload.state.index);

	if (!q || m->payload.state.num > 1)
		return -EINVAL;
	q->enabled = m->payload.state.num;
	return queue_sync(dev, q);
}

static int h_set_backend_req_fd(struct kg_vu_dev *dev, const struct kg_vu_msg *m,
				struct kg_vu_msg *r)
{
	close_fd(&dev->backend_fd);
	dev->backend_fd = take_fd(dev, 0);
	keep_fd(dev, &dev->backend_serial, dev->backend_fd);
	return 0;
}

static int h_get_config(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	const struct kg_vu_config *c = &m->payload.config; /* checked: fits 256 */
	int ret = 0;

	r->hdr.request = m->hdr.request;
	r->payload.config = (struct kg_vu_config){ c->offset, c->size, c->flags, { 0 } };
	if (dev->ops->get_config && c->size)
		ret = dev->ops->get_config(dev->opaque, c->offset, r->payload.config.region,
					   c->size);
	if (ret < 0) {
		/* A reply without the region tells QEMU the read failed. */
		r->payload.config.size = 0;
		r->hdr.size = KG_VU_CONFIG_HDR_SIZE;
		return 0;
	}
	r->hdr.size = KG_VU_CONFIG_HDR_SIZE + c->size;
	return 0;
}

static int h_set_config(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	/* virtio-gpu's only writable field is events_clear, and QEMU keeps
	 * the event state itself (vhost_user_gpu_set_config()). */
	return 0;
}

static int h_gpu_set_socket(struct kg_vu_dev *dev, const struct kg_vu_msg *m, struct kg_vu_msg *r)
{
	int fd = take_fd(dev, 0);

	if (!dev->ops->gpu_socket) {
		kg_warn("vhost-user: the device takes no vhost-user-gpu channel; closing it");
		close(fd);
		return -ENOTSUP;
	}
	/* QEMU closed the previous one before sending this. */
	keep_fd(dev, &dev->gpu_serial, fd);
	dev->ops->gpu_socket(dev->opaque, fd);
	return 0;
}

static const vu_handler handlers[KG_VU_REQUEST_MAX] = {
	[KG_VU_GET_FEATURES] = h_get_features,
	[KG_VU_SET_FEATURES] = h_set_features,
	[KG_VU_SET_OWNER] = h_nop,
	[KG_VU_RESET_OWNER] = h_reset,
	[KG_VU_RESET_DEVICE] = h_reset,
	[KG_VU_SET_MEM_TABLE] = h_set_mem_table,
	[KG_VU_SET_VRING_NUM] = h_set_vring_num,
	[KG_VU_SET_VRING_ADDR] = h_set_vring_addr,
	[KG_VU_SET_VRING_BASE] = h_set_vring_base,
	[KG_VU_GET_VRING_BASE] = h_get_vring_base,
	[KG_VU_SET_VRING_KICK] = h_set_vring_kick,
	[KG_VU_SET_VRING_CALL] = h_set_vring_call,
	[KG_VU_SET_VRING_ERR] = h_set_vring_err,
	[KG_VU_GET_PROTOCOL_FEATURES] = h_get_protocol_features,
	[KG_VU_SET_PROTOCOL_FEATURES] = h_set_protocol_features,
	[KG_VU_GET_QUEUE_NUM] = h_get_queue_num,
	[KG_VU_SET_VRING_ENABLE] = h_set_vring_enable,
	[KG_VU_SET_BACKEND_REQ_FD] = h_set_backend_req_fd,
	[KG_VU_GET_CONFIG] = h_get_config,
	[KG_VU_SET_CONFIG] = h_set_config,
	[KG_VU_GPU_SET_SOCKET] = h_gpu_set_socket,
};

/* ---- connection ---- */

static void close_msg_fds(struct kg_vu_dev *dev)
{
	for (unsigned i = 0; i < dev->nfds; i++)
		close_fd(&dev->fds[i]);
	dev->nfds = 0;
	dev->fds_overflow = false;
}

static int send_reply(struct kg_vu_dev *dev, struct kg_vu_msg *r)
{
	struct iovec iov[2] = { { &r->hdr, sizeof(r->hdr) }, { &r->payload, r->hdr.size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	r->hdr.flags = KG_VU_VERSION | KG_VU_FLAG_REPLY;
	/* Replies are small and the front-end waits for them: a short or
	 * blocked write means it stopped reading. */
	n = sendmsg(dev->conn_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)(sizeof(r->hdr) + r->hdr.size))
		return 0;
	return n < 0 ? -errno : -EIO;
}

static int handle(struct kg_vu_dev *dev, struct kg_vu_msg *reply)
{
	const struct kg_vu_msg *m = &dev->msg;
	uint32_t req = m->hdr.request;
	int ret = dev->fds_overflow ? -EPROTO : kg_vu_msg_check(m, dev->nfds);

	kg_dbg("vhost-user: <- %s (%u) size %u fds %u flags 0x%x", kg_vu_request_name(req), req,
	       m->hdr.size, dev->nfds, m->hdr.flags);
	if (ret == -EPROTO) {
		kg_warn("vhost-user: malformed %s (request %u, %u payload bytes, %u fds): "
			"dropping the front-end",
			kg_vu_request_name(req), req, m->hdr.size, dev->nfds);
		return VU_DROP;
	}
	if (ret == -ENOSYS || !handlers[req]) {
		kg_warn("vhost-user: unsupported request %s (%u) refused", kg_vu_request_name(req),
			req);
		return -ENOTSUP;
	}
	return handlers[req](dev, m, reply);
}

/* Returns 0, or VU_DROP when the front-end must go. */
static int dispatch(struct kg_vu_dev *dev)
{
	struct kg_vu_msg reply = { 0 };
	bool need_reply = dev->msg.hdr.flags & KG_VU_FLAG_NEED_REPLY;
	int ret = handle(dev, &reply);

	close_msg_fds(dev);
	if (ret == VU_DROP)
		return VU_DROP;
	save(dev);
	if (!reply.hdr.request && need_reply)
		reply_u64(&reply, dev->msg.hdr.request, ret < 0 ? 1 : 0);
	if (reply.hdr.request && send_reply(dev, &reply) < 0) {
		kg_warn("vhost-user: cannot send the reply to %s: dropping the front-end",
			kg_vu_request_name(dev->msg.hdr.request));
		return VU_DROP;
	}
	return 0;
}

static void collect_fds(struct kg_vu_dev *dev, struct msghdr *mh)
{
	if (mh->msg_flags & MSG_CTRUNC)
		dev->fds_overflow = true;
	if (!kg_scm_take_fds(mh, dev->fds, &dev->nfds, KG_VU_MAX_FDS))
		dev->fds_overflow = true;
}

/* One recvmsg into the message buffer. Bytes read, 0 at EOF, or -errno. */
static ssize_t recv_some(struct kg_vu_dev *dev, size_t want)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * KG_VU_MAX_FDS)];
		struct cmsghdr align;
	} ctrl;
	const size_t hdr = sizeof(dev->msg.hdr);
	struct iovec iov = { dev->msg_got < hdr
				     ? (uint8_t *)&dev->msg.hdr + dev->msg_got
				     : (uint8_t *)&dev->msg.payload + (dev->msg_got - hdr),
			     want };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctrl.buf,
			     .msg_controllen = sizeof(ctrl.buf) };
	ssize_t n = recvmsg(dev->conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	collect_fds(dev, &mh);
	return n;
}

/* Gathers the current message. 1 when complete, 0 when more bytes are
 * needed later, negative when the front-end must be dropped. */
static int receive(struct kg_vu_dev *dev)
{
	const size_t hdr = sizeof(struct kg_vu_hdr);

	for (;;) {
		size_t total = hdr;
		ssize_t n;

		if (dev->msg_got >= hdr) {
			if (dev->msg.hdr.size > KG_VU_MAX_PAYLOAD) {
				kg_warn("vhost-user: %s with %u payload bytes (at most %zu): "
					"dropping the front-end",
					kg_vu_request_name(dev->msg.hdr.request), dev->msg.hdr.size,
					KG_VU_MAX_PAYLOAD);
				return -EPROTO;
			}
			total += dev->msg.hdr.size;
		}
		if (dev->msg_got == total && dev->msg_got >= hdr)
			return 1;
		n = recv_some(dev, total - dev->msg_got);
		if (n == -EAGAIN || n == -EINTR)
			return 0;
		if (n == 0) {
			kg_info("vhost-user: front-end disconnected");
			return -ECONNRESET;
		}
		if (n < 0) {
			kg_warn("vhost-user: reading from the front-end failed: %s",
				strerror((int)-n));
			return (int)n;
		}
		dev->msg_got += (size_t)n;
	}
}

static void conn_drop(struct kg_vu_dev *dev)
{
	if (dev->conn_fd < 0)
		return;
	for (unsigned i = 0; i < dev->nq; i++)
		queue_reset(dev, &dev->q[i]);
	/* Device state goes before the memory it points into. */
	if (dev->ops->reset)
		dev->ops->reset(dev->opaque);
	kg_gmem_clear(dev->gm);
	close_fd(&dev->backend_fd);
	close_msg_fds(dev);
	unkeep(dev, &dev->backend_serial);
	unkeep(dev, &dev->gpu_serial);
	unkeep(dev, &dev->conn_serial);
	for (unsigned i = 0; i < KG_GMEM_MAX_REGIONS; i++)
		unkeep(dev, &dev->region_serial[i]);
	dev->msg_got = 0;
	dev->features = 0;
	dev->protocol_features = 0;
	kg_loop_remove(dev->conn_src);
	dev->conn_src = NULL;
	close_fd(&dev->conn_fd);
	save(dev);
	if (dev->ops->disconnected)
		dev->ops->disconnected(dev->opaque);
}

/* Messages handled per wakeup: a front-end that writes as fast as we read
 * must not keep the loop from the guest's queues and the display. The
 * socket is level-triggered, so what is left wakes us again. */
#define VU_MSGS_PER_WAKEUP 32

static void on_conn(void *data, int fd, uint32_t events)
{
	struct kg_vu_dev *dev = data;

	for (unsigned handled = 0; handled < VU_MSGS_PER_WAKEUP; handled++) {
		int ret = receive(dev);

		if (ret == 0)
			return;
		if (ret < 0 || dispatch(dev) < 0) {
			conn_drop(dev);
			return;
		}
		dev->msg_got = 0;
		memset(&dev->msg, 0, sizeof(dev->msg));
	}
}

static void log_peer(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		kg_info("vhost-user: front-end connected (pid %d, uid %u)", (int)cred.pid,
			(unsigned)cred.uid);
	else
		kg_info("vhost-user: front-end connected");
}

static int serve(struct kg_vu_dev *dev, int fd)
{
	int flags;

	if (dev->conn_fd >= 0) {
		close(fd);
		return -EBUSY;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		goto err;
	dev->conn_src = kg_loop_add_fd(dev->loop, fd, EPOLLIN, on_conn, dev);
	if (!dev->conn_src)
		goto err;
	dev->conn_fd = fd;
	dev->msg_got = 0;
	memset(&dev->msg, 0, sizeof(dev->msg));
	log_peer(fd);
	return 0;
err:;
	int err = errno;
	close(fd);
	return -err;
}

static void on_listen(void *data, int fd, uint32_t events)
{
	struct kg_vu_dev *dev = data;
	int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (conn < 0) {
		if (errno != EAGAIN && errno != EINTR)
			kg_log_errno(KG_LOG_WARN, "vhost-user: accept failed");
		return;
	}
	if (dev->conn_fd >= 0) {
		/* Refuse at once rather than leave a second QEMU hanging in
		 * its first read. */
		kg_warn("vhost-user: a front-end is already connected; refusing another one "
			"(one kmsgate-vgpu per guest)");
		close(conn);
		return;
	}
	if (kg_vu_serve_fd(dev, conn) < 0)
		kg_log_errno(KG_LOG_WARN, "vhost-user: cannot serve the new front-end");
}

int kg_vu_serve_fd(struct kg_vu_dev *dev, int fd)
{
	int ret = serve(dev, fd);

	if (ret < 0)
		return ret;
	keep_fd(dev, &dev->conn_serial, dev->conn_fd);
	save(dev);
	return 0;
}

/* ---- adopting a dead process's connection ---- */

struct adopt_fds {
	int (*fd_of)(void *data, uint32_t serial);
	void *data;
};

static int adopt_fd(const struct adopt_fds *a, uint32_t serial)
{
	return serial ? a->fd_of(a->data, serial) : -1;
}

static int adopt_memory(struct kg_vu_dev *dev, const struct kg_vu_saved *s,
			const struct adopt_fds *a)
{
	int fds[KG_GMEM_MAX_REGIONS];

	if (s->nregions > KG_GMEM_MAX_REGIONS)
		return -EINVAL;
	for (unsigned i = 0; i < s->nregions; i++) {
		fds[i] = adopt_fd(a, s->region_fd[i]);
		if (fds[i] < 0) {
			for (unsigned j = 0; j < i; j++)
				close(fds[j]);
			return -ENOENT;
		}
	}
	if (s->nregions == 0)
		return 0;
	memcpy(dev->region_serial, s->region_fd, sizeof(dev->region_serial));
	return kg_gmem_set_table(dev->gm, s->regions, s->nregions, fds);
}

/* A queue's setup as SET_VRING_* gave it; not started yet. */
static int adopt_queue(struct kg_vu_dev *dev, struct vu_queue *q,
		       const struct kg_vu_saved_queue *sq, const struct adopt_fds *a)
{
	int ret = 0;

	q->kick_serial = sq->kick;
	q->call_serial = sq->call;
	q->err_serial = sq->err;
	q->kick_fd = adopt_fd(a, sq->kick);
	q->err_fd = adopt_fd(a, sq->err);
	kg_vq_set_call_fd(q->vq, adopt_fd(a, sq->call));
	if (q->kick_fd >= 0)
		set_nonblock(q->kick_fd);
	q->enabled = sq->enabled;
	if (sq->num)
		ret = kg_vq_set_num(q->vq, sq->num);
	if (!ret && sq->addr_set)
		ret = kg_vq_set_addr(q->vq, sq->desc, sq->avail, sq->used);
	if (!ret && sq->base <= UINT16_MAX)
		ret = kg_vq_set_base(q->vq, (uint16_t)sq->base);
	if (!ret)
		ret = kg_vq_set_features(q->vq, acked(dev, KG_VU_F_EVENT_IDX),
					 acked(dev, KG_VU_F_INDIRECT_DESC));
	return ret;
}

/* Starts the queues that ran, each from its inflight record (a queue
 * without one starts afresh, and queue_run() begins recording it). */
static int adopt_start(struct kg_vu_dev *dev)
{
	for (unsigned i = 0; i < dev->nq; i++) {
		struct vu_queue *q = &dev->q[i];
		struct kg_vq_inflight *inf = NULL;
		int ret;

		if (!queue_wanted(dev, q))
			continue;
		if (dev->keeper && dev->keeper->inflight)
			inf = dev->keeper->inflight(dev->keeper->data, i);
		/* No valid record: nothing was in flight, or it was not kept. */
		if (inf && !inf->num)
			inf = NULL;
		ret = queue_run(dev, q, inf);
		if (ret < 0) {
			kg_warn("vhost-user: queue %u cannot be resumed: %s", i, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int kg_vu_adopt(struct kg_vu_dev *dev, const struct kg_vu_saved *s,
		int (*fd_of)(void *data, uint32_t serial), void *data)
{
	struct adopt_fds a = { fd_of, data };
	int conn, ret;

	if (s->nq != dev->nq)
		return -EINVAL;
	conn = adopt_fd(&a, s->conn);
	if (conn < 0)
		return -ENOENT;
	ret = serve(dev, conn);
	if (ret < 0)
		return ret;
	dev->conn_serial = s->conn;
	dev->features = s->features;
	dev->protocol_features = s->protocol_features & VU_PROTOCOL_FEATURES;
	dev->backend_serial = s->backend;
	dev->backend_fd = adopt_fd(&a, s->backend);
	ret = adopt_memory(dev, s, &a);
	for (unsigned i = 0; !ret && i < dev->nq; i++)
		ret = adopt_queue(dev, &dev->q[i], &s->q[i], &a);
	if (ret < 0)
		goto fail;
	if (dev->ops->set_features)
		dev->ops->set_features(dev->opaque,
				       dev->features & ~BIT(KG_VU_F_PROTOCOL_FEATURES));
	dev->gpu_serial = s->gpu;
	if (s->gpu && dev->ops->gpu_socket) {
		int fd = adopt_fd(&a, s->gpu);

		if (fd >= 0)
			dev->ops->gpu_socket(dev->opaque, fd);
	}
	if (dev->ops->resumed)
		dev->ops->resumed(dev->opaque);
	ret = adopt_start(dev);
	if (ret < 0)
		goto fail;
	save(dev);
	return 0;
fail:
	kg_warn("vhost-user: the saved connection cannot be served again: %s", strerror(-ret));
	conn_drop(dev);
	return ret;
}

/* ---- life cycle ---- */

void kg_vu_destroy(struct kg_vu_dev *dev)
{
	if (!dev)
		return;
	conn_drop(dev);
	kg_loop_remove(dev->listen_src);
	close_fd(&dev->listen_fd);
	if (dev->socket_path)
		unlink(dev->socket_path);
	free(dev->socket_path);
	for (unsigned i = 0; i < dev->nq; i++)
		kg_vq_destroy(dev->q[i].vq);
	kg_gmem_destroy(dev->gm);
	free(dev);
}

static struct kg_vu_dev *dev_alloc(struct kg_loop *loop, const struct kg_vu_device_ops *ops,
				   void *opaque)
{
	struct kg_vu_dev *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	dev->loop = loop;
	dev->ops = ops;
	dev->opaque = opaque;
	dev->listen_fd = -1;
	dev->conn_fd = -1;
	dev->backend_fd = -1;
	dev->nq = ops->num_queues;
	for (unsigned i = 0; i < KG_VU_MAX_FDS; i++)
		dev->fds[i] = -1;
	dev->gm = kg_gmem_create();
	if (!dev->gm)
		goto err;
	for (unsigned i = 0; i < dev->nq; i++) {
		struct vu_queue *q = &dev->q[i];

		*q = (struct vu_queue){ .dev = dev, .kick_fd = -1, .err_fd = -1 };
		q->vq = kg_vq_create(i);
		if (!q->vq)
			goto err;
	}
	return dev;
err:
	kg_vu_destroy(dev);
	errno = ENOMEM;
	return NULL;
}

struct kg_vu_dev *kg_vu_create_from_fd(struct kg_loop *loop, int listen_fd,
				       const struct kg_vu_device_ops *ops, void *opaque)
{
	struct kg_vu_dev *dev;

	if (!ops || ops->num_queues == 0 || ops->num_queues > KG_VU_MAX_QUEUES) {
		errno = EINVAL;
		goto close_listen;
	}
	dev = dev_alloc(loop, ops, opaque);
	if (!dev)
		goto close_listen;
	dev->listen_fd = listen_fd;
	if (listen_fd >= 0) {
		dev->listen_src = kg_loop_add_fd(loop, listen_fd, EPOLLIN, on_listen, dev);
		if (!dev->listen_src) {
			int err = errno;
			kg_vu_destroy(dev);
			errno = err;
			return NULL;
		}
	}
	return dev;

close_listen:
	if (listen_fd >= 0) {
		int err = errno;
		close(listen_fd);
		errno = err;
	}
	return NULL;
}

/* A socket file nobody listens on is left from a crash: remove it. A live
 * one means another kmsgate-vgpu serves that path. */
static int clear_stale_socket(const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, ret;

	if (lstat(addr->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	close(fd);
	if (ret == 0)
		return -EADDRINUSE;
	return unlink(addr->sun_path) < 0 ? -errno : 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	ret = clear_stale_socket(&addr);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

struct kg_vu_dev *kg_vu_create(struct kg_loop *loop, const char *socket_path,
			       const struct kg_vu_device_ops *ops, void *opaque)
{
	struct kg_vu_dev *dev;
	int fd = listen_on(socket_path);

	if (fd < 0) {
		kg_err("vhost-user: cannot listen on %s: %s%s", socket_path, strerror(-fd),
		       fd == -EADDRINUSE ? " (another back-end serves it)"
		       : fd == -EEXIST	 ? " (a file that is not a socket is in the way)"
					 : "");
		errno = -fd;
		return NULL;
	}
	dev = kg_vu_create_from_fd(loop, fd, ops, opaque);
	if (!dev) {
		int err = errno;
		unlink(socket_path);
		errno = err;
		return NULL;
	}
	dev->socket_path = strdup(socket_path);
	kg_info("vhost-user: listening on %s", socket_path);
	return dev;
}

const struct kg_gmem *kg_vu_gmem(const struct kg_vu_dev *dev)
{
	return dev->gm;
}

bool kg_vu_connected(const struct kg_vu_dev *dev)
{
	return dev->conn_fd >= 0;
}

int kg_vu_config_changed(struct kg_vu_dev *dev)
{
	struct kg_vu_hdr hdr = { .request = KG_VU_BACKEND_CONFIG_CHANGE_MSG,
				 .flags = KG_VU_VERSION };
	int ret;

	if (!(dev->protocol_features & BIT(KG_VU_PROTOCOL_F_BACKEND_REQ)) || dev->backend_fd < 0)
		return -ENOTSUP;
	/* No NEED_REPLY: waiting for QEMU here would stall every guest
	 * queue of this loop. */
	ret = send(dev->backend_fd, &hdr, sizeof(hdr), MSG_NOSIGNAL | MSG_DONTWAIT);
	ret = ret == (int)sizeof(hdr) ? 0 : ret < 0 ? -errno : -EIO;
	if (ret < 0) {
		kg_warn("vhost-user: cannot send CONFIG_CHANGE to QEMU: %s", strerror(-ret));
		close_fd(&dev->backend_fd);
	}
	return ret;
}
