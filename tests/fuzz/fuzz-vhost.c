// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the vhost-user back-end: the input is a script of
 * records played by a fake front-end against kg_vu over a socketpair:
 * raw vhost-user messages with fds attached, writes into the guest RAM
 * (rings, descriptors, indirect tables), kicks, a canned memory table and
 * ring set-up (so the fuzzer reaches the virtqueue code quickly), and
 * reconnects. A small device pops, answers and pushes every chain.
 * Invariants: no crash or sanitizer report, and no fd left behind once
 * kg_vu is destroyed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "iov.h"
#include "loop.h"
#include "vhost-user-proto.h"
#include "vhost-user.h"
#include "fdcount.h"
#include "guest-ram.h"
#include "scm-send.h"

#define RAM_SIZE    0x10000u
#define UVA_BASE    0x7f0000000000ull
#define NQ	    2u
#define MAX_RECORDS 128
#define MAX_OWN_FDS 64

struct fz {
	struct kg_loop *loop;
	struct kg_vu_dev *vu;
	int sock;
	int ram;
	uint8_t *host;
	int own[MAX_OWN_FDS]; /* our ends: eventfds, socketpair halves */
	unsigned n_own;
	int kick[NQ]; /* borrowed from own[] */
	const uint8_t *p;
	size_t left;
};

static void dev_kick(void *opaque, struct kg_vq *vq)
{
	struct kg_vq_elem elem;
	int ret;

	while ((ret = kg_vq_pop(vq, &elem)) == 1) {
		uint8_t cmd[64];
		size_t n = kg_iov_to_buf(elem.out, elem.out_num, 0, cmd, sizeof(cmd));

		kg_vq_push(vq, &elem, (uint32_t)kg_iov_from_buf(elem.in, elem.in_num, 0, cmd, n));
	}
	kg_vq_notify(vq);
}

static int dev_get_config(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	memset(buf, 0x5a, len);
	return (int)len;
}

static const struct kg_vu_device_ops ops = {
	.features = 1ull << 1,
	.num_queues = NQ,
	.get_config = dev_get_config,
	.queue_kick = dev_kick,
};

static bool take(struct fz *f, void *out, size_t n)
{
	if (f->left < n)
		return false;
	memcpy(out, f->p, n);
	f->p += n;
	f->left -= n;
	return true;
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
		return f->ram;
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
	memcpy(f->host + off, data, len);
}

static void rec_kick(struct fz *f)
{
	uint8_t q = 0;

	if (!take(f, &q, 1))
		return;
	if (f->kick[q % NQ] >= 0)
		eventfd_write(f->kick[q % NQ], 1);
	pump(f);
}

static void send_simple(struct fz *f, uint32_t request, const void *payload, uint32_t size, int fd)
{
	struct kg_vu_hdr hdr = { request, KG_VU_VERSION | KG_VU_FLAG_NEED_REPLY, size };

	send_raw(f, &hdr, payload, size, &fd, fd >= 0 ? 1 : 0);
}

static void rec_mem_table(struct fz *f)
{
	struct kg_vu_memory mem = { .nregions = 1 };

	mem.regions[0] = (struct kg_vu_mem_region){ 0, RAM_SIZE, UVA_BASE, 0 };
	send_simple(f, KG_VU_SET_MEM_TABLE, &mem, 8 + 32, f->ram);
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
	if (kg_vu_serve_fd(f->vu, sv[0]) < 0) {
		close(sv[1]);
		return;
	}
	f->sock = sv[1];
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	kg_log_init("fuzz-vhost", KG_LOG_SILENT);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { .sock = -1, .ram = -1, .p = data, .left = size };
	int base = kg_test_fd_count();

	f.loop = kg_loop_create();
	f.vu = f.loop ? kg_vu_create_from_fd(f.loop, -1, &ops, NULL) : NULL;
	f.ram = kg_test_ram_fd(RAM_SIZE);
	if (!f.vu || f.ram < 0)
		abort();
	f.host = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f.ram, 0);
	if (f.host == MAP_FAILED)
		abort();
	connect_frontend(&f);

	for (int r = 0; r < MAX_RECORDS && f.left; r++) {
		uint8_t kind = 0;

		take(&f, &kind, 1);
		switch (kind % 6) {
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
		}
	}

	if (f.sock >= 0)
		close(f.sock);
	pump(&f);
	kg_vu_destroy(f.vu);
	kg_loop_destroy(f.loop);
	for (unsigned i = 0; i < f.n_own; i++)
		close(f.own[i]);
	munmap(f.host, RAM_SIZE);
	close(f.ram);
	/* kg_vu must not keep (or lose track of) any fd it was given. */
	if (kg_test_fd_count() != base)
		abort();
	return 0;
}
