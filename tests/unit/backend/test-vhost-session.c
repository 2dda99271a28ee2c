// SPDX-License-Identifier: MIT
/*
 * kg_vu driven by a fake front-end over a socketpair, in process: the
 * message sequence QEMU 10's vhost-user-gpu sends (hw/virtio/vhost-user.c,
 * hw/display/vhost-user-gpu.c), a memfd guest RAM with real rings, a kick
 * that the device answers, the GPU channel handshake, malformed input and
 * disconnects, with fd counts checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gpu-channel.h"
#include "loop.h"
#include "vhost-user-proto.h"
#include "vhost-user.h"
#include "iov.h"
#include "fdcount.h"
#include "guest-ram.h"
#include "scm-send.h"

#define RAM_SIZE	(1u << 20)
#define UVA_BASE	0x7f0000000000ull
#define QSIZE		64u
#define NQ		2u
#define DEV_FEATURE_BIT 1 /* VIRTIO_GPU_F_EDID */

/* Ring q lives at 0x10000 * (q + 1): desc, avail +0x1000, used +0x2000. */
#define RING_GPA(q) (0x10000ull * ((q) + 1))
#define BUF_GPA	    0x80000ull

/* ---- the device side: records what kg_vu asks of it ---- */

struct device {
	uint64_t features;
	int set_features, started, stopped, kicks, resets, gpu_sockets, handled;
	struct kg_vq *vq[NQ];
	/* The GPU channel, run as kmsgate-vgpu's binding runs it. */
	struct kg_loop *loop;
	struct kg_gpuchan *chan;
};

static int dev_get_config(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	uint32_t cfg[4] = { 0, 0, 3 /* num_scanouts */, 0 };

	if (offset > sizeof(cfg))
		return -EINVAL;
	if (len > sizeof(cfg) - offset)
		len = sizeof(cfg) - offset;
	memcpy(buf, (uint8_t *)cfg + offset, len);
	return (int)len;
}

static void dev_set_features(void *opaque, uint64_t f)
{
	struct device *d = opaque;

	d->features = f;
	d->set_features++;
}

static void dev_started(void *opaque, struct kg_vq *vq)
{
	struct device *d = opaque;

	d->vq[kg_vq_index(vq)] = vq;
	d->started++;
}

/* Answers each 4-byte command n with n + 1. */
static void dev_kick(void *opaque, struct kg_vq *vq)
{
	struct device *d = opaque;
	struct kg_vq_elem elem;

	d->kicks++;
	while (kg_vq_pop(vq, &elem) == 1) {
		uint32_t cmd = 0;

		kg_iov_to_buf(elem.out, elem.out_num, 0, &cmd, sizeof(cmd));
		cmd++;
		kg_vq_push(vq, &elem,
			   (uint32_t)kg_iov_from_buf(elem.in, elem.in_num, 0, &cmd, sizeof(cmd)));
		d->handled++;
	}
	kg_vq_notify(vq);
}

static void dev_stopped(void *opaque, struct kg_vq *vq)
{
	struct device *d = opaque;

	d->stopped++;
}

static void dev_reset(void *opaque)
{
	struct device *d = opaque;

	d->resets++;
	kg_gpuchan_destroy(d->chan);
	d->chan = NULL;
}

static void dev_gpu_socket(void *opaque, int fd)
{
	struct device *d = opaque;

	d->gpu_sockets++;
	kg_gpuchan_destroy(d->chan);
	d->chan = kg_gpuchan_create(d->loop, fd);
}

static const struct kg_vu_device_ops ops = {
	.features = 1ull << DEV_FEATURE_BIT,
	.num_queues = NQ,
	.get_config = dev_get_config,
	.set_features = dev_set_features,
	.queue_started = dev_started,
	.queue_kick = dev_kick,
	.queue_stopped = dev_stopped,
	.reset = dev_reset,
	.gpu_socket = dev_gpu_socket,
};

/* ---- the fake front-end ---- */

struct fe {
	struct kg_loop *loop;
	struct kg_vu_dev *vu;
	struct device dev;
	int sock;
	int ram;
	uint8_t *host;
	int kick[NQ], call[NQ];
	int gpu;     /* our end of the GPU channel */
	int backend; /* our end of the backend request channel */
	int base_fds;
};

static void pump(struct fe *f)
{
	for (int i = 0; i < 16; i++)
		if (kg_loop_dispatch(f->loop, 0) <= 0)
			return;
}

static void send_msg(int sock, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
		     const int *fds, unsigned nfds)
{
	uint8_t buf[sizeof(struct kg_vu_hdr) + KG_VU_MAX_PAYLOAD + 64];
	struct kg_vu_hdr hdr = { request, KG_VU_VERSION | flags, size };
	struct kg_test_scm_buf ctrl;
	struct iovec iov = { buf, sizeof(hdr) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(size <= sizeof(buf) - sizeof(hdr));
	memcpy(buf, &hdr, sizeof(hdr));
	if (size)
		memcpy(buf + sizeof(hdr), payload, size);
	assert_true(kg_test_scm_attach(&mh, &ctrl, fds, nfds));
	assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)(sizeof(hdr) + size));
}

/* Reads one reply (nonblocking); returns its payload size, -1 if none. */
static int read_reply(int sock, uint32_t request, void *payload, size_t max)
{
	struct kg_vu_hdr hdr;
	ssize_t n = recv(sock, &hdr, sizeof(hdr), MSG_DONTWAIT);

	if (n != sizeof(hdr))
		return -1;
	assert_int_equal(hdr.request, request);
	assert_int_equal(hdr.flags, KG_VU_VERSION | KG_VU_FLAG_REPLY);
	assert_true(hdr.size <= max);
	if (hdr.size)
		assert_int_equal(recv(sock, payload, hdr.size, MSG_DONTWAIT), hdr.size);
	return (int)hdr.size;
}

/* Sends, lets kg_vu run, returns the reply size (-1: no reply). */
static int call(struct fe *f, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
		const int *fds, unsigned nfds, void *reply, size_t max)
{
	send_msg(f->sock, request, flags, payload, size, fds, nfds);
	pump(f);
	return read_reply(f->sock, request, reply, max);
}

static uint64_t get_u64(struct fe *f, uint32_t request)
{
	uint64_t v = 0;

	assert_int_equal(call(f, request, 0, NULL, 0, NULL, 0, &v, sizeof(v)), 8);
	return v;
}

static void set_u64(struct fe *f, uint32_t request, uint64_t v)
{
	assert_int_equal(call(f, request, 0, &v, 8, NULL, 0, NULL, 0), -1);
}

/* With REPLY_ACK: the status the back-end acknowledged. */
static uint64_t acked_call(struct fe *f, uint32_t request, const void *payload, uint32_t size,
			   const int *fds, unsigned nfds)
{
	uint64_t status = 99;

	assert_int_equal(call(f, request, KG_VU_FLAG_NEED_REPLY, payload, size, fds, nfds, &status,
			      sizeof(status)),
			 8);
	return status;
}

static int fe_setup(void **state)
{
	struct fe *f = calloc(1, sizeof(*f));
	int sv[2];

	f->loop = kg_loop_create();
	f->dev.loop = f->loop;
	f->vu = kg_vu_create_from_fd(f->loop, -1, &ops, &f->dev);
	assert_non_null(f->vu);
	f->base_fds = kg_test_fd_count();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(kg_vu_serve_fd(f->vu, sv[0]), 0);
	f->sock = sv[1];
	f->ram = kg_test_ram_fd(RAM_SIZE);
	assert_true(f->ram >= 0);
	f->host = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->ram, 0);
	assert_true(f->host != MAP_FAILED);
	for (unsigned q = 0; q < NQ; q++) {
		f->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		f->call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	f->gpu = -1;
	f->backend = -1;
	*state = f;
	return 0;
}

static void fe_close_own_fds(struct fe *f)
{
	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
	if (f->gpu >= 0)
		close(f->gpu);
	f->gpu = -1;
	if (f->backend >= 0)
		close(f->backend);
	f->backend = -1;
	if (f->ram >= 0) {
		munmap(f->host, RAM_SIZE);
		close(f->ram);
	}
	f->ram = -1;
	for (unsigned q = 0; q < NQ; q++) {
		if (f->kick[q] >= 0)
			close(f->kick[q]);
		if (f->call[q] >= 0)
			close(f->call[q]);
		f->kick[q] = f->call[q] = -1;
	}
}

static int fe_teardown(void **state)
{
	struct fe *f = *state;

	fe_close_own_fds(f);
	kg_vu_destroy(f->vu);
	kg_loop_destroy(f->loop);
	free(f);
	return 0;
}

/* vhost_user_backend_init() + vhost_dev_init(): what QEMU sends when the
 * device is realized. */
static void qemu_init(struct fe *f)
{
	int sv[2];
	uint64_t features = get_u64(f, KG_VU_GET_FEATURES);
	uint64_t proto;

	assert_true(features & (1ull << KG_VU_F_PROTOCOL_FEATURES));
	assert_true(features & (1ull << KG_VU_F_VERSION_1));
	assert_true(features & (1ull << DEV_FEATURE_BIT));
	proto = get_u64(f, KG_VU_GET_PROTOCOL_FEATURES);
	/* vhost-user-gpu cannot work without CONFIG; kmsgate wants REPLY_ACK. */
	assert_true(proto & (1ull << KG_VU_PROTOCOL_F_CONFIG));
	assert_true(proto & (1ull << KG_VU_PROTOCOL_F_REPLY_ACK));
	assert_false(proto & (1ull << KG_VU_PROTOCOL_F_MQ));
	set_u64(f, KG_VU_SET_PROTOCOL_FEATURES, proto);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(acked_call(f, KG_VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1), 0);
	close(sv[1]);
	f->backend = sv[0];
	assert_int_equal(call(f, KG_VU_SET_OWNER, 0, NULL, 0, NULL, 0, NULL, 0), -1);
	assert_int_equal(get_u64(f, KG_VU_GET_FEATURES), features);
	for (unsigned q = 0; q < NQ; q++) {
		uint64_t idx = q;
		assert_int_equal(call(f, KG_VU_SET_VRING_CALL, 0, &idx, 8, &f->call[q], 1, NULL, 0),
				 -1);
	}
}

static void qemu_get_config(struct fe *f)
{
	struct kg_vu_config cfg = { .offset = 0, .size = 16 };
	struct kg_vu_config reply;
	uint32_t num_scanouts;

	assert_int_equal(call(f, KG_VU_GET_CONFIG, 0, &cfg, KG_VU_CONFIG_HDR_SIZE + 16, NULL, 0,
			      &reply, sizeof(reply)),
			 KG_VU_CONFIG_HDR_SIZE + 16);
	assert_int_equal(reply.size, 16);
	memcpy(&num_scanouts, reply.region + 8, 4);
	assert_int_equal(num_scanouts, 3);
}

/* vhost_user_gpu_do_set_socket(): the back-end starts the GPU protocol. */
static void qemu_set_gpu_socket(struct fe *f)
{
	int sv[2];
	struct kg_vugpu_hdr hdr;
	uint8_t reply[sizeof(hdr) + 8];
	uint64_t features = (1 << KG_VUGPU_PROTOCOL_F_EDID) | (1 << KG_VUGPU_PROTOCOL_F_DMABUF2);
	uint64_t set = 99;

	if (f->gpu >= 0)
		close(f->gpu); /* QEMU closes the old channel before a new start */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(call(f, KG_VU_GPU_SET_SOCKET, 0, NULL, 0, &sv[1], 1, NULL, 0), -1);
	close(sv[1]);
	f->gpu = sv[0];
	assert_int_equal(recv(f->gpu, &hdr, sizeof(hdr), MSG_DONTWAIT), sizeof(hdr));
	assert_int_equal(hdr.request, KG_VUGPU_GET_PROTOCOL_FEATURES);
	assert_int_equal(hdr.size, 0);
	hdr = (struct kg_vugpu_hdr){ KG_VUGPU_GET_PROTOCOL_FEATURES, KG_VUGPU_FLAG_REPLY, 8 };
	memcpy(reply, &hdr, sizeof(hdr));
	memcpy(reply + sizeof(hdr), &features, 8);
	assert_int_equal(send(f->gpu, reply, sizeof(reply), 0), sizeof(reply));
	pump(f);
	assert_int_equal(recv(f->gpu, &hdr, sizeof(hdr), MSG_DONTWAIT), sizeof(hdr));
	assert_int_equal(hdr.request, KG_VUGPU_SET_PROTOCOL_FEATURES);
	assert_int_equal(hdr.size, 8);
	assert_int_equal(recv(f->gpu, &set, 8, MSG_DONTWAIT), 8);
	assert_int_equal(set, 0); /* kmsgate uses none of them */
	uint64_t got = 0;
	assert_true(kg_gpuchan_protocol_features(f->dev.chan, &got));
	assert_int_equal(got, features);
}

static void qemu_set_mem_table(struct fe *f)
{
	struct kg_vu_memory mem = { .nregions = 1 };
	int fd = f->ram;

	mem.regions[0] = (struct kg_vu_mem_region){ 0, RAM_SIZE, UVA_BASE, 0 };
	assert_int_equal(acked_call(f, KG_VU_SET_MEM_TABLE, &mem, 8 + 32, &fd, 1), 0);
}

static void qemu_start_queue(struct fe *f, unsigned q)
{
	struct kg_vu_vring_state num = { q, QSIZE }, base = { q, 0 };
	struct kg_vu_vring_addr addr = {
		.index = q,
		.desc_user_addr = UVA_BASE + RING_GPA(q),
		.avail_user_addr = UVA_BASE + RING_GPA(q) + 0x1000,
		.used_user_addr = UVA_BASE + RING_GPA(q) + 0x2000,
	};
	uint64_t idx = q;

	assert_int_equal(call(f, KG_VU_SET_VRING_NUM, 0, &num, 8, NULL, 0, NULL, 0), -1);
	assert_int_equal(call(f, KG_VU_SET_VRING_BASE, 0, &base, 8, NULL, 0, NULL, 0), -1);
	assert_int_equal(call(f, KG_VU_SET_VRING_ADDR, 0, &addr, 40, NULL, 0, NULL, 0), -1);
	assert_int_equal(call(f, KG_VU_SET_VRING_KICK, 0, &idx, 8, &f->kick[q], 1, NULL, 0), -1);
	assert_int_equal(call(f, KG_VU_SET_VRING_CALL, 0, &idx, 8, &f->call[q], 1, NULL, 0), -1);
}

static uint64_t enable_queue(struct fe *f, unsigned q, unsigned on)
{
	struct kg_vu_vring_state st = { q, on };

	return acked_call(f, KG_VU_SET_VRING_ENABLE, &st, 8, NULL, 0);
}

/* vhost_user_gpu_set_status(DRIVER_OK) -> vhost_dev_start(). */
static void qemu_start(struct fe *f)
{
	uint64_t guest = (1ull << KG_VU_F_VERSION_1) | (1ull << KG_VU_F_EVENT_IDX) |
			 (1ull << KG_VU_F_INDIRECT_DESC) | (1ull << DEV_FEATURE_BIT);

	qemu_set_gpu_socket(f);
	set_u64(f, KG_VU_SET_FEATURES, guest | (1ull << KG_VU_F_PROTOCOL_FEATURES));
	assert_int_equal(f->dev.features, guest);
	int started = f->dev.started;

	qemu_set_mem_table(f);
	for (unsigned q = 0; q < NQ; q++)
		qemu_start_queue(f, q);
	/* Rings stay disabled until SET_VRING_ENABLE with protocol features. */
	assert_int_equal(f->dev.started, started);
	for (unsigned q = 0; q < NQ; q++)
		assert_int_equal(enable_queue(f, q, 1), 0);
	assert_int_equal(f->dev.started, started + (int)NQ);
}

/* The guest driver's side: one command in queue q, then a kick. */
static void guest_submit(struct fe *f, unsigned q, uint32_t cmd)
{
	uint8_t *ring = f->host + RING_GPA(q);
	struct vring_desc *desc = (struct vring_desc *)ring;
	struct vring_avail *avail = (struct vring_avail *)(ring + 0x1000);
	uint16_t idx = avail->idx;
	uint16_t d = (uint16_t)((idx * 2) % QSIZE);

	memcpy(f->host + BUF_GPA + d * 16, &cmd, 4);
	desc[d] = (struct vring_desc){ BUF_GPA + d * 16, 4, VRING_DESC_F_NEXT, (uint16_t)(d + 1) };
	desc[d + 1] = (struct vring_desc){ BUF_GPA + d * 16 + 8, 4, VRING_DESC_F_WRITE, 0 };
	avail->ring[idx % QSIZE] = d;
	/* used_event: interrupt me for every completion. */
	avail->ring[QSIZE] = idx;
	__atomic_store_n(&avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
	assert_int_equal(eventfd_write(f->kick[q], 1), 0);
}

static uint32_t guest_response(struct fe *f, unsigned q, uint16_t used_slot)
{
	struct vring_used *used = (struct vring_used *)(f->host + RING_GPA(q) + 0x2000);
	uint32_t resp;

	assert_int_equal(used->ring[used_slot].len, 4);
	memcpy(&resp, f->host + BUF_GPA + used->ring[used_slot].id * 16 + 8, 4);
	return resp;
}

static void test_qemu_sequence(void **state)
{
	struct fe *f = *state;
	struct vring_used *used = (struct vring_used *)(f->host + RING_GPA(0) + 0x2000);
	struct kg_vu_vring_state st = { 0, 0 };
	eventfd_t calls = 0;

	qemu_init(f);
	qemu_get_config(f);
	qemu_start(f);

	guest_submit(f, 0, 41);
	pump(f);
	assert_int_equal(f->dev.handled, 1);
	assert_int_equal(used->idx, 1);
	assert_int_equal(guest_response(f, 0, 0), 42);
	assert_int_equal(eventfd_read(f->call[0], &calls), 0);
	assert_int_equal(calls, 1);
	guest_submit(f, 0, 99);
	pump(f);
	assert_int_equal(guest_response(f, 0, 1), 100);

	/* vhost_dev_stop(): disable, then GET_VRING_BASE stops each ring. */
	for (unsigned q = 0; q < NQ; q++)
		assert_int_equal(enable_queue(f, q, 0), 0);
	assert_int_equal(f->dev.stopped, NQ);
	assert_int_equal(call(f, KG_VU_GET_VRING_BASE, 0, &st, 8, NULL, 0, &st, sizeof(st)), 8);
	assert_int_equal(st.index, 0);
	assert_int_equal(st.num, 2);
	/* A kick on a stopped ring is not served. */
	guest_submit(f, 0, 7);
	pump(f);
	assert_int_equal(f->dev.handled, 2);

	/* QEMU goes away: everything it gave us is closed. */
	fe_close_own_fds(f);
	pump(f);
	assert_false(kg_vu_connected(f->vu));
	assert_int_equal(f->dev.resets, 1);
	assert_int_equal(kg_test_fd_count(), f->base_fds);
}

static void test_restart_after_reset(void **state)
{
	struct fe *f = *state;

	qemu_init(f);
	qemu_start(f);
	guest_submit(f, 1, 1);
	pump(f);
	assert_int_equal(f->dev.handled, 1);
	/* Guest reboot: QEMU stops and starts the device again, resending
	 * the memory table and the rings. */
	for (unsigned q = 0; q < NQ; q++) {
		struct kg_vu_vring_state st = { q, 0 };
		assert_int_equal(enable_queue(f, q, 0), 0);
		assert_int_equal(call(f, KG_VU_GET_VRING_BASE, 0, &st, 8, NULL, 0, &st, sizeof(st)),
				 8);
	}
	memset(f->host + RING_GPA(0), 0, 0x20000);
	qemu_start(f);
	assert_int_equal(f->dev.started, 2 * NQ);
	guest_submit(f, 1, 5);
	pump(f);
	assert_int_equal(f->dev.handled, 2);
	assert_int_equal(guest_response(f, 1, 0), 6);
}

static void expect_dropped(struct fe *f)
{
	char c;

	pump(f);
	assert_int_equal(recv(f->sock, &c, 1, MSG_DONTWAIT), 0); /* EOF */
	assert_false(kg_vu_connected(f->vu));
}

static void test_mem_table_fd_count_mismatch_drops(void **state)
{
	struct fe *f = *state;
	struct kg_vu_memory mem = { .nregions = 2 };
	int fd = f->ram;
	uint64_t v;
	int sv[2];

	qemu_init(f);
	mem.regions[0] = (struct kg_vu_mem_region){ 0, 0x1000, UVA_BASE, 0 };
	mem.regions[1] = (struct kg_vu_mem_region){ 0x1000, 0x1000, UVA_BASE + 0x1000, 0x1000 };
	send_msg(f->sock, KG_VU_SET_MEM_TABLE, KG_VU_FLAG_NEED_REPLY, &mem, 8 + 64, &fd, 1);
	expect_dropped(f);
	assert_int_equal(f->dev.resets, 1);
	close(f->sock);
	close(f->backend);
	f->backend = -1;
	/* Served again on a new connection. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(kg_vu_serve_fd(f->vu, sv[0]), 0);
	f->sock = sv[1];
	v = get_u64(f, KG_VU_GET_FEATURES);
	assert_true(v & (1ull << KG_VU_F_VERSION_1));
	fe_close_own_fds(f);
	pump(f);
	assert_int_equal(kg_test_fd_count(), f->base_fds);
}

static void test_oversized_and_truncated_messages(void **state)
{
	struct fe *f = *state;
	struct kg_vu_hdr hdr = { KG_VU_SET_FEATURES, KG_VU_VERSION, 100000 };

	/* A size larger than any payload: dropped without reading it. */
	assert_int_equal(send(f->sock, &hdr, sizeof(hdr), 0), sizeof(hdr));
	expect_dropped(f);
	fe_close_own_fds(f);
	pump(f);
	assert_int_equal(kg_test_fd_count(), f->base_fds);
}

static void test_partial_message_waits(void **state)
{
	struct fe *f = *state;
	uint8_t buf[sizeof(struct kg_vu_hdr)];
	struct kg_vu_hdr hdr = { KG_VU_GET_FEATURES, KG_VU_VERSION, 0 };
	uint64_t v;

	memcpy(buf, &hdr, sizeof(hdr));
	assert_int_equal(send(f->sock, buf, 5, 0), 5);
	pump(f);
	assert_true(kg_vu_connected(f->vu));
	assert_int_equal(read_reply(f->sock, KG_VU_GET_FEATURES, &v, 8), -1);
	assert_int_equal(send(f->sock, buf + 5, sizeof(buf) - 5, 0), (ssize_t)sizeof(buf) - 5);
	pump(f);
	assert_int_equal(read_reply(f->sock, KG_VU_GET_FEATURES, &v, 8), 8);
}

static void test_unknown_request_is_refused_not_fatal(void **state)
{
	struct fe *f = *state;
	uint64_t log[2] = { 4096, 0 };
	int fd = eventfd(0, EFD_CLOEXEC);
	uint64_t status;

	qemu_init(f);
	/* SET_LOG_BASE with a fd: refused (REPLY_ACK 1), fd closed. */
	status = acked_call(f, KG_VU_SET_LOG_BASE, log, sizeof(log), &fd, 1);
	assert_int_equal(status, 1);
	close(fd);
	assert_true(kg_vu_connected(f->vu));
	/* A bad queue index is refused too. */
	struct kg_vu_vring_state st = { 7, 1 };
	assert_int_equal(acked_call(f, KG_VU_SET_VRING_ENABLE, &st, 8, NULL, 0), 1);
	assert_true(get_u64(f, KG_VU_GET_FEATURES) & (1ull << KG_VU_F_VERSION_1));
	/* ... but a GET_VRING_BASE we cannot answer drops the front-end. */
	send_msg(f->sock, KG_VU_GET_VRING_BASE, 0, &st, 8, NULL, 0);
	expect_dropped(f);
}

static void test_ring_outside_memory_is_refused(void **state)
{
	struct fe *f = *state;
	struct kg_vu_vring_state num = { 0, QSIZE };
	struct kg_vu_vring_addr addr = { .index = 0,
					 .desc_user_addr = UVA_BASE + RAM_SIZE - 16,
					 .avail_user_addr = UVA_BASE + 0x1000,
					 .used_user_addr = UVA_BASE + 0x2000 };
	uint64_t idx = 0,
		 features = (1ull << KG_VU_F_VERSION_1) | (1ull << KG_VU_F_PROTOCOL_FEATURES);

	qemu_init(f);
	set_u64(f, KG_VU_SET_FEATURES, features);
	qemu_set_mem_table(f);
	assert_int_equal(call(f, KG_VU_SET_VRING_NUM, 0, &num, 8, NULL, 0, NULL, 0), -1);
	assert_int_equal(call(f, KG_VU_SET_VRING_ADDR, 0, &addr, 40, NULL, 0, NULL, 0), -1);
	assert_int_equal(call(f, KG_VU_SET_VRING_KICK, 0, &idx, 8, &f->kick[0], 1, NULL, 0), -1);
	assert_int_equal(enable_queue(f, 0, 1), 1);
	assert_int_equal(f->dev.started, 0);
	assert_true(kg_vu_connected(f->vu));
}

/* A kick "eventfd" that is really a pipe hitting EOF must stop the queue,
 * not spin the loop. */
static void test_kick_fd_that_hangs_up_stops_the_queue(void **state)
{
	struct fe *f = *state;
	int p[2];
	uint64_t idx = 0;

	qemu_init(f);
	qemu_start(f);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(call(f, KG_VU_SET_VRING_KICK, 0, &idx, 8, &p[0], 1, NULL, 0), -1);
	close(p[0]);
	assert_int_equal(enable_queue(f, 0, 1), 0);
	int stopped = f->dev.stopped;
	close(p[1]); /* EOF on the kick fd */
	pump(f);
	assert_int_equal(f->dev.stopped, stopped + 1);
	pump(f);
	assert_int_equal(kg_loop_dispatch(f->loop, 0), 0); /* nothing left firing */
	assert_true(kg_vu_connected(f->vu));
}

static void test_config_changed_uses_backend_channel(void **state)
{
	struct fe *f = *state;
	struct kg_vu_hdr hdr;

	assert_int_equal(kg_vu_config_changed(f->vu), -ENOTSUP);
	qemu_init(f);
	assert_int_equal(kg_vu_config_changed(f->vu), 0);
	assert_int_equal(recv(f->backend, &hdr, sizeof(hdr), MSG_DONTWAIT), sizeof(hdr));
	assert_int_equal(hdr.request, KG_VU_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(hdr.flags, KG_VU_VERSION);
	assert_int_equal(hdr.size, 0);
}

/* ---- the listening socket ---- */

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void test_listen_one_at_a_time(void **state)
{
	char dir[] = "/tmp/kg-vu-XXXXXX";
	char path[64];
	struct kg_loop *loop = kg_loop_create();
	struct device dev = { 0 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int stale, c1, c2, c3, base;
	struct kg_vu_dev *vu;
	char ch;
	uint64_t v;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vgpu.sock", dir);
	/* A socket file left by a crashed back-end is replaced. */
	stale = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	assert_int_equal(bind(stale, (struct sockaddr *)&a, sizeof(a)), 0);
	close(stale);
	base = kg_test_fd_count();
	vu = kg_vu_create(loop, path, &ops, &dev);
	assert_non_null(vu);

	c1 = connect_to(path);
	kg_loop_dispatch(loop, 100);
	assert_true(kg_vu_connected(vu));
	c2 = connect_to(path);
	kg_loop_dispatch(loop, 100);
	assert_int_equal(recv(c2, &ch, 1, 0), 0); /* refused: EOF */
	close(c2);

	send_msg(c1, KG_VU_GET_FEATURES, 0, NULL, 0, NULL, 0);
	kg_loop_dispatch(loop, 100);
	assert_int_equal(read_reply(c1, KG_VU_GET_FEATURES, &v, 8), 8);
	close(c1);
	kg_loop_dispatch(loop, 100);
	assert_false(kg_vu_connected(vu));
	assert_int_equal(dev.resets, 1);

	c3 = connect_to(path); /* QEMU reconnecting */
	kg_loop_dispatch(loop, 100);
	assert_true(kg_vu_connected(vu));
	close(c3);
	kg_vu_destroy(vu);
	kg_loop_destroy(loop);
	assert_int_equal(kg_test_fd_count(), base - 1); /* the loop's epoll fd */
	assert_int_equal(access(path, F_OK), -1);
	rmdir(dir);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fe_setup, fe_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_qemu_sequence),
		T(test_restart_after_reset),
		T(test_mem_table_fd_count_mismatch_drops),
		T(test_oversized_and_truncated_messages),
		T(test_partial_message_waits),
		T(test_unknown_request_is_refused_not_fatal),
		T(test_ring_outside_memory_is_refused),
		T(test_kick_fd_that_hangs_up_stops_the_queue),
		T(test_config_changed_uses_backend_channel),
		cmocka_unit_test(test_listen_one_at_a_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
