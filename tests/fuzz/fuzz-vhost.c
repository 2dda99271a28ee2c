// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for kmsgate-vgpu's whole dispatch path: one kg_vgpu_vhost
 * (vhost-user server, virtqueues, the virtio-gpu device, the fence queue)
 * played by a fake front-end over a socketpair. The input is a script of
 * records, each [kind:1][fields]:
 *
 *   kind % 10
 *   0 a raw vhost-user message with fds attached
 *   1 bytes written into guest RAM (rings, descriptors, commands)
 *   2 a kick
 *   3 the standard memory table
 *   4 a ring set up at chosen addresses
 *   5 a reconnect
 *   6 a memory-table change, as a hot-plugging or hostile QEMU sends one
 *     while frames and fenced flushes wait (fuzz-vgpu.c op 7 for the device
 *     alone): the same table, another memfd, another guest address, another
 *     host address, the same addresses at another offset of the memfd, a
 *     shrunk region, two regions of two memfds
 *   7 both GPU queues set up as QEMU does (features, rings at fixed places)
 *   8 a virtio-gpu command on the control or cursor queue, as a guest driver
 *     queues it: a header with a known type, a fence when asked, the body
 *     from the input, a two-descriptor chain, a kick (or none: batched)
 *   9 flips: the output completes the oldest or every frame it holds; or
 *     its display changes (a hotplug the device passes on to QEMU)
 *
 * The guest's view of memory follows the tables the script sent, so
 * commands and rings keep working across table changes that keep them in
 * guest RAM. The output (fuzz-output.c) checks every frame against its
 * chunks and reads its pages when the frame is flipped, so a stale host
 * pointer after a table change is a crash.
 * Invariants: no crash or sanitizer report (leaks included: every command
 * is answered or dropped once), and no fd or mapping of guest RAM left
 * behind once the device is destroyed.
 */
#include <errno.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-output.h"
#include "log.h"
#include "loop.h"
#include "stats.h"
#include "vgpu-vhost.h"
#include "vhost-user-proto.h"
#include "fdcount.h"
#include "guest-ram.h"
#include "scm-send.h"

#define RAM_SIZE    0x10000u
#define UVA_BASE    0x7f0000000000ull
#define NQ	    2u
#define MAX_RECORDS 128
#define MAX_OWN_FDS 64
#define MAX_RAMS    6

/* The GPU queues' layout in guest RAM (record 7), as offsets from the start
 * of region 0: per queue a descriptor table, avail and used ring; then
 * command slots, each a command and room for its response; the rest is
 * for resource backing. */
#define GQ_NUM	     64u
#define GQ_BASE(q)   ((q)*0x1000u)
#define GQ_AVAIL     0x400u
#define GQ_USED	     0x800u
#define SLOT_BASE    0x2000u
#define SLOT_SIZE    0x1000u
#define SLOTS	     8u
#define SLOT_RESP    0x800u /* a GET_EDID response is 1056 bytes */
#define MAX_CMD_BODY (SLOT_RESP - sizeof(struct virtio_gpu_ctrl_hdr))

/* A memfd of guest RAM and our own mapping of it. */
struct ram {
	int fd;
	uint8_t *host;
	size_t size;
};

/* One region of the table the script sent last (the guest's view). */
struct region {
	uint64_t gpa, size, uva, offset;
	unsigned ram; /* index in fz.rams */
};

struct fz {
	struct kg_loop *loop;
	struct kg_vgpu_vhost *v;
	int sock;
	struct ram rams[MAX_RAMS];
	unsigned n_rams;
	struct region reg[2];
	unsigned n_reg;
	int own[MAX_OWN_FDS]; /* our ends: eventfds, socketpair halves */
	unsigned n_own;
	int kick[NQ]; /* borrowed from own[] */
	uint16_t avail_idx[NQ];
	unsigned next_slot;
	uint64_t fence_id;
	const uint8_t *p;
	size_t left;
};

static struct kg_stats *stats;
static bool verbose;

/* Mappings of guest RAM in this process (kg_test_ram_fd names its memfds):
 * one left behind keeps the guest's memory alive without any fd. */
static unsigned ram_mappings(void)
{
	FILE *maps = fopen("/proc/self/maps", "re");
	char line[512];
	unsigned n = 0;

	if (!maps)
		abort();
	while (fgets(line, sizeof(line), maps))
		n += strstr(line, "/memfd:guest-ram") != NULL;
	fclose(maps);
	return n;
}

static bool take(struct fz *f, void *out, size_t n)
{
	if (f->left < n)
		return false;
	memcpy(out, f->p, n);
	f->p += n;
	f->left -= n;
	return true;
}

static uint8_t take_u8(struct fz *f)
{
	uint8_t v = 0;

	take(f, &v, 1);
	return v;
}

static int own_fd(struct fz *f, int fd)
{
	if (fd < 0)
		return -1;
	if (f->n_own == MAX_OWN_FDS) {
		close(fd);
		return -1;
	}
	f->own[f->n_own++] = fd;
	return fd;
}

/* A new memfd of size bytes, mapped; -1 when the pool is full. */
static int ram_new(struct fz *f, size_t size)
{
	struct ram *r;

	if (f->n_rams == MAX_RAMS)
		return -1;
	r = &f->rams[f->n_rams];
	r->fd = kg_test_ram_fd(size);
	if (r->fd < 0)
		abort();
	r->host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->host == MAP_FAILED)
		abort();
	r->size = size;
	return (int)f->n_rams++;
}

/* Our pointer to len bytes at guest address gpa, NULL when they are not all
 * in one region of the current table. */
static uint8_t *gpa_ptr(struct fz *f, uint64_t gpa, size_t len)
{
	for (unsigned i = 0; i < f->n_reg; i++) {
		const struct region *r = &f->reg[i];

		if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len)
			return f->rams[r->ram].host + r->offset + (gpa - r->gpa);
	}
	return NULL;
}

static void gpa_write(struct fz *f, uint64_t gpa, const void *src, size_t len)
{
	uint8_t *p = gpa_ptr(f, gpa, len);

	if (p)
		memcpy(p, src, len);
}

/* The standard table: region 0 of rams[0] (twice RAM_SIZE, so that a
 * change can map its other half at the same addresses). */
static void table_standard(struct fz *f)
{
	f->n_reg = 1;
	f->reg[0] = (struct region){ 0, RAM_SIZE, UVA_BASE, 0, 0 };
}

static void pump(struct fz *f)
{
	uint8_t sink[512];

	for (int i = 0; i < 64; i++)
		if (kg_loop_dispatch(f->loop, 0) <= 0)
			break;
	/* Replies and GPU channel requests are read and dropped. */
	while (f->sock >= 0 && recv(f->sock, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}

static void send_raw(struct fz *f, const struct kg_vu_hdr *hdr, const void *payload, size_t size,
		     const int *fds, unsigned nfds)
{
	struct kg_test_scm_buf ctrl;
	struct iovec iov[2] = { { (void *)hdr, sizeof(*hdr) }, { (void *)payload, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	if (f->sock < 0 || !kg_test_scm_attach(&mh, &ctrl, fds, nfds))
		return;
	if (sendmsg(f->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return;
	pump(f);
}

/* An fd of the kind the request would carry. Ours stays open (and is
 * closed at the end); kg_vu gets a duplicate through SCM_RIGHTS. */
static int make_fd(struct fz *f, uint32_t request, uint64_t u64)
{
	int sv[2];

	switch (request) {
	case KG_VU_SET_MEM_TABLE:
		return f->rams[0].fd;
	case KG_VU_GPU_SET_SOCKET:
	case KG_VU_SET_BACKEND_REQ_FD:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
			return -1;
		own_fd(f, sv[0]);
		return own_fd(f, sv[1]);
	default: {
		int fd = own_fd(f, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));

		if (request == KG_VU_SET_VRING_KICK && (u64 & 0xff) < NQ && fd >= 0)
			f->kick[u64 & 0xff] = fd;
		return fd;
	}
	}
}

static void rec_message(struct fz *f)
{
	uint8_t nfds = 0;
	uint16_t size = 0;
	struct kg_vu_hdr hdr;
	uint8_t payload[KG_VU_MAX_PAYLOAD + 16] = { 0 };
	int fds[16];
	uint64_t u64 = 0;

	if (!take(f, &nfds, 1) || !take(f, &hdr.request, 4) || !take(f, &hdr.flags, 4) ||
	    !take(f, &size, 2))
		return;
	size %= sizeof(payload) + 1;
	if (size > f->left)
		size = (uint16_t)f->left;
	take(f, payload, size);
	hdr.size = size;
	/* Mostly well-formed headers, sometimes a lying size. */
	if (hdr.flags & 0x80000000u)
		take(f, &hdr.size, 4);
	memcpy(&u64, payload, sizeof(u64));
	nfds %= 10;
	for (unsigned i = 0; i < nfds; i++) {
		fds[i] = make_fd(f, hdr.request, u64);
		if (fds[i] < 0)
			nfds = i;
	}
	send_raw(f, &hdr, payload, size, fds, nfds);
}

/* Bytes at guest address off of region 0's start, as a guest writes them. */
static void rec_ram_write(struct fz *f)
{
	uint16_t off = 0;
	uint8_t len = 0, data[256];

	if (!take(f, &off, 2) || !take(f, &len, 1))
		return;
	if (len > f->left)
		len = (uint8_t)f->left;
	take(f, data, len);
	off %= RAM_SIZE;
	if (len > RAM_SIZE - off)
		len = (uint8_t)(RAM_SIZE - off);
	gpa_write(f, f->reg[0].gpa + off, data, len);
}

static void kick(struct fz *f, unsigned q)
{
	if (f->kick[q % NQ] >= 0)
		eventfd_write(f->kick[q % NQ], 1);
	pump(f);
}

static void rec_kick(struct fz *f)
{
	kick(f, take_u8(f));
}

static void send_simple(struct fz *f, uint32_t request, const void *payload, uint32_t size, int fd)
{
	struct kg_vu_hdr hdr = { request, KG_VU_VERSION | KG_VU_FLAG_NEED_REPLY, size };

	send_raw(f, &hdr, payload, size, &fd, fd >= 0 ? 1 : 0);
}

/* SET_MEM_TABLE with the guest's view f->reg. */
static void send_table(struct fz *f)
{
	struct kg_vu_memory mem = { .nregions = f->n_reg };
	struct kg_vu_hdr hdr = { KG_VU_SET_MEM_TABLE, KG_VU_VERSION | KG_VU_FLAG_NEED_REPLY,
				 8 + 32 * f->n_reg };
	int fds[2];

	for (unsigned i = 0; i < f->n_reg; i++) {
		const struct region *r = &f->reg[i];

		mem.regions[i] = (struct kg_vu_mem_region){ r->gpa, r->size, r->uva, r->offset };
		fds[i] = f->rams[r->ram].fd;
	}
	send_raw(f, &hdr, &mem, hdr.size, fds, f->n_reg);
}

static void rec_mem_table(struct fz *f)
{
	table_standard(f);
	send_table(f);
}

/* A copy of region 0's bytes in a new memfd (QEMU hands the same RAM over
 * in a new file); -1 when the pool is full. */
static int ram_copy_of_region0(struct fz *f, size_t size)
{
	int i = ram_new(f, size);
	const struct region *r = &f->reg[0];

	if (i >= 0)
		memcpy(f->rams[i].host, f->rams[r->ram].host + r->offset,
		       r->size < size ? r->size : size);
	return i;
}

static void rec_table_change(struct fz *f)
{
	uint8_t what = take_u8(f), arg = take_u8(f);
	struct region *r0 = &f->reg[0];
	int i;

	switch (what % 8) {
	case 0: /* the same table again: nothing unmapped */
		break;
	case 1: /* the same RAM in another memfd */
		i = ram_copy_of_region0(f, RAM_SIZE);
		if (i >= 0)
			*r0 = (struct region){ r0->gpa, RAM_SIZE, r0->uva, 0, (unsigned)i };
		f->n_reg = 1;
		break;
	case 2: /* moved in guest physical space */
		r0->gpa = (r0->gpa + RAM_SIZE) % (4 * RAM_SIZE);
		f->n_reg = 1;
		break;
	case 3: /* moved in QEMU's address space (rings are found by it) */
		r0->uva += 0x1000000;
		f->n_reg = 1;
		break;
	case 4: /* same addresses, the other half of the memfd */
		if (r0->ram == 0 && r0->size <= RAM_SIZE)
			r0->offset ^= RAM_SIZE;
		f->n_reg = 1;
		break;
	case 5: /* shrunk (or grown back) */
		r0->size = (arg % 16 + 1) * 4096u;
		if (r0->size > f->rams[r0->ram].size - r0->offset)
			r0->size = f->rams[r0->ram].size - r0->offset;
		f->n_reg = 1;
		break;
	case 6: /* split: the upper half comes from another memfd */
		i = ram_copy_of_region0(f, RAM_SIZE);
		if (i < 0 || r0->size < 2 * 4096u)
			break;
		r0->size /= 2;
		f->reg[1] = (struct region){ r0->gpa + r0->size, r0->size, r0->uva + r0->size,
					     r0->size, (unsigned)i };
		f->n_reg = 2;
		break;
	default: /* back to the standard table */
		table_standard(f);
		break;
	}
	send_table(f);
}

/* SET_VRING_NUM/ADDR/BASE/KICK/ENABLE for a queue, sizes and addresses
 * from the input (addresses inside the RAM, so rings usually map). */
static void rec_ring(struct fz *f)
{
	uint8_t q = 0, lognum = 0;
	uint16_t d = 0, a = 0, u = 0, base = 0;
	struct kg_vu_vring_state st;
	struct kg_vu_vring_addr addr = { 0 };
	uint64_t idx;

	if (!take(f, &q, 1) || !take(f, &lognum, 1) || !take(f, &d, 2) || !take(f, &a, 2) ||
	    !take(f, &u, 2) || !take(f, &base, 2))
		return;
	q %= NQ;
	st = (struct kg_vu_vring_state){ q, 1u << (lognum % 9) };
	send_simple(f, KG_VU_SET_VRING_NUM, &st, 8, -1);
	addr = (struct kg_vu_vring_addr){ .index = q,
					  .desc_user_addr = UVA_BASE + (d % RAM_SIZE),
					  .avail_user_addr = UVA_BASE + (a % RAM_SIZE),
					  .used_user_addr = UVA_BASE + (u % RAM_SIZE) };
	send_simple(f, KG_VU_SET_VRING_ADDR, &addr, sizeof(addr), -1);
	st = (struct kg_vu_vring_state){ q, base };
	send_simple(f, KG_VU_SET_VRING_BASE, &st, 8, -1);
	idx = q;
	send_simple(f, KG_VU_SET_VRING_KICK, &idx, 8, make_fd(f, KG_VU_SET_VRING_KICK, idx));
	send_simple(f, KG_VU_SET_VRING_CALL, &idx, 8, make_fd(f, KG_VU_SET_VRING_CALL, idx));
	st = (struct kg_vu_vring_state){ q, 1 };
	send_simple(f, KG_VU_SET_VRING_ENABLE, &st, 8, -1);
}

/* What QEMU does when the guest driver starts the device: features, then
 * both rings at the fixed layout of region 0 (resumed where the script's
 * avail index is), kick and call fds, enabled. The first byte picks the
 * features (EVENT_IDX, INDIRECT_DESC, EDID, RESOURCE_BLOB). */
static void rec_gpu_setup(struct fz *f)
{
	uint8_t feat = take_u8(f);
	uint64_t features = 1ull << KG_VU_F_VERSION_1;

	if (feat & 1)
		features |= 1ull << KG_VU_F_EVENT_IDX;
	if (feat & 2)
		features |= 1ull << KG_VU_F_INDIRECT_DESC;
	if (feat & 4)
		features |= 1ull << VIRTIO_GPU_F_EDID;
	if (feat & 8)
		features |= 1ull << VIRTIO_GPU_F_RESOURCE_BLOB;
	send_simple(f, KG_VU_SET_FEATURES, &features, 8, -1);
	if (feat & 0x10)
		send_table(f);
	for (unsigned q = 0; q < NQ; q++) {
		const struct region *r = &f->reg[0];
		struct kg_vu_vring_state st = { q, GQ_NUM };
		struct kg_vu_vring_addr addr = { .index = q,
						 .desc_user_addr = r->uva + GQ_BASE(q),
						 .avail_user_addr = r->uva + GQ_BASE(q) + GQ_AVAIL,
						 .used_user_addr = r->uva + GQ_BASE(q) + GQ_USED };
		uint16_t avail[2] = { 0, f->avail_idx[q] };
		uint64_t idx = q;

		gpa_write(f, r->gpa + GQ_BASE(q) + GQ_AVAIL, avail, sizeof(avail));
		send_simple(f, KG_VU_SET_VRING_NUM, &st, 8, -1);
		send_simple(f, KG_VU_SET_VRING_ADDR, &addr, sizeof(addr), -1);
		st = (struct kg_vu_vring_state){ q, f->avail_idx[q] };
		send_simple(f, KG_VU_SET_VRING_BASE, &st, 8, -1);
		send_simple(f, KG_VU_SET_VRING_KICK, &idx, 8,
			    make_fd(f, KG_VU_SET_VRING_KICK, idx));
		send_simple(f, KG_VU_SET_VRING_CALL, &idx, 8,
			    make_fd(f, KG_VU_SET_VRING_CALL, idx));
		send_simple(f, KG_VU_SET_VRING_ERR, &idx, 8, make_fd(f, KG_VU_SET_VRING_ERR, idx));
		st = (struct kg_vu_vring_state){ q, 1 };
		send_simple(f, KG_VU_SET_VRING_ENABLE, &st, 8, -1);
	}
}

static const uint32_t control_types[] = {
	VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
	VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
	VIRTIO_GPU_CMD_RESOURCE_UNREF,
	VIRTIO_GPU_CMD_SET_SCANOUT,
	VIRTIO_GPU_CMD_RESOURCE_FLUSH,
	VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
	VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
	VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
	VIRTIO_GPU_CMD_GET_EDID,
	VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
	VIRTIO_GPU_CMD_SET_SCANOUT_BLOB,
	VIRTIO_GPU_CMD_GET_CAPSET_INFO,
};
static const uint32_t cursor_types[] = { VIRTIO_GPU_CMD_UPDATE_CURSOR, VIRTIO_GPU_CMD_MOVE_CURSOR };

/* [how:1][type:1][len:2][body]. how: bit 0 the cursor queue, bit 1 fenced,
 * bit 2 not kicked yet (the guest batches), bit 3 no header built (the
 * body is the whole command). A command and its response buffer take the
 * next slot; the chain goes into the queue's avail ring. */
static void rec_gpu_cmd(struct fz *f)
{
	uint8_t how = take_u8(f), type = take_u8(f);
	uint16_t len = 0;
	unsigned q = how & 1, slot = f->next_slot++ % SLOTS;
	uint64_t base = f->reg[0].gpa, cmd = base + SLOT_BASE + slot * SLOT_SIZE;
	struct virtio_gpu_ctrl_hdr hdr = { 0 };
	struct vring_desc desc[2];
	uint8_t body[SLOT_RESP];
	size_t hdr_len = how & 8 ? 0 : sizeof(hdr);
	uint16_t head = (uint16_t)(2 * slot), idx;

	take(f, &len, 2);
	len %= MAX_CMD_BODY + 1;
	if (len > f->left)
		len = (uint16_t)f->left;
	take(f, body, len);
	hdr.type = q ? cursor_types[type % 2] : control_types[type % 12];
	if (how & 2) {
		hdr.flags = VIRTIO_GPU_FLAG_FENCE;
		hdr.fence_id = ++f->fence_id;
	}
	gpa_write(f, cmd, &hdr, hdr_len);
	gpa_write(f, cmd + hdr_len, body, len);
	desc[0] = (struct vring_desc){ cmd, (uint32_t)(hdr_len + len), VRING_DESC_F_NEXT,
				       (uint16_t)(head + 1) };
	desc[1] = (struct vring_desc){ cmd + SLOT_RESP, SLOT_SIZE - SLOT_RESP, VRING_DESC_F_WRITE,
				       0 };
	gpa_write(f, base + GQ_BASE(q) + head * sizeof(desc[0]), desc, sizeof(desc));
	gpa_write(f, base + GQ_BASE(q) + GQ_AVAIL + 4 + 2 * (f->avail_idx[q] % GQ_NUM), &head, 2);
	idx = ++f->avail_idx[q];
	gpa_write(f, base + GQ_BASE(q) + GQ_AVAIL + 2, &idx, 2);
	if (!(how & 4))
		kick(f, q);
}

/* The output's flip events: bit 0 shown or not, bit 1 every frame held
 * (else the oldest, one flip); bit 2 a hotplug instead. */
static void rec_flips(struct fz *f)
{
	uint8_t how = take_u8(f);

	if (how & 4)
		fz_output_hotplug();
	else if (how & 2)
		fz_output_complete(how & 1);
	else
		fz_output_complete_one(how & 1);
	pump(f);
}

static void connect_frontend(struct fz *f)
{
	int sv[2];

	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
	for (unsigned q = 0; q < NQ; q++)
		f->kick[q] = -1;
	pump(f); /* lets kg_vu see the disconnect */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	if (kg_vgpu_vhost_serve_fd(f->v, sv[0]) < 0) {
		close(sv[1]);
		return;
	}
	f->sock = sv[1];
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* KG_FUZZ_LOG=1: the device's debug log and, after each input, its
	 * statistics (frames, fences), to see what a seed reaches. */
	verbose = getenv("KG_FUZZ_LOG") != NULL;
	kg_log_init("fuzz-vhost", verbose ? KG_LOG_DEBUG : KG_LOG_SILENT);
	stats = kg_stats_create();
	if (!stats)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { .sock = -1, .p = data, .left = size };
	struct kg_vgpu_vhost_config cfg = {
		.vgpu = { .output = fz_output(),
			  .stats = stats,
			  .max_resources = 64,
			  .max_resource_bytes = 8u << 20,
			  .fifo = (int)(size & 1) },
	};
	int base = kg_test_fd_count();

	f.loop = kg_loop_create();
	f.v = f.loop ? kg_vgpu_vhost_create(f.loop, &cfg) : NULL;
	if (!f.v || ram_new(&f, 2 * RAM_SIZE) != 0)
		abort();
	table_standard(&f);
	connect_frontend(&f);

	for (int r = 0; r < MAX_RECORDS && f.left; r++) {
		switch (take_u8(&f) % 10) {
		case 0:
			rec_message(&f);
			break;
		case 1:
			rec_ram_write(&f);
			break;
		case 2:
			rec_kick(&f);
			break;
		case 3:
			rec_mem_table(&f);
			break;
		case 4:
			rec_ring(&f);
			break;
		case 5:
			connect_frontend(&f);
			break;
		case 6:
			rec_table_change(&f);
			break;
		case 7:
			rec_gpu_setup(&f);
			break;
		case 8:
			rec_gpu_cmd(&f);
			break;
		default:
			rec_flips(&f);
			break;
		}
	}

	if (f.sock >= 0)
		close(f.sock);
	pump(&f);
	/* The output goes with the device, dropping what it still holds. */
	kg_vgpu_vhost_destroy(f.v);
	kg_loop_destroy(f.loop);
	if (verbose)
		kg_stats_write(stats, stderr);
	for (unsigned i = 0; i < f.n_own; i++)
		close(f.own[i]);
	for (unsigned i = 0; i < f.n_rams; i++) {
		munmap(f.rams[i].host, f.rams[i].size);
		close(f.rams[i].fd);
	}
	/* Nothing may keep (or lose track of) an fd it was given, nor a
	 * mapping of guest RAM. */
	if (kg_test_fd_count() != base || ram_mappings() != 0)
		abort();
	return 0;
}
