// SPDX-License-Identifier: MIT
/* kg_vq on rings built by hand in a memfd "guest RAM", mapped through a real
 * kg_gmem table: normal, indirect and malformed chains, used ring updates
 * and interrupt suppression. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest-mem.h"
#include "virtqueue.h"
#include "iov.h"
#include "guest-ram.h"

#define RAM_SIZE  (1u << 20)
#define UVA_BASE  0x7f0000000000ull
#define QSIZE	  128u
#define DESC_GPA  0x1000ull
#define AVAIL_GPA 0x2000ull
#define USED_GPA  0x3000ull
#define BUF_GPA	  0x10000ull /* data buffers from here */
#define IND_GPA	  0x8000ull  /* indirect tables */

struct guest {
	int ram;
	uint8_t *host; /* the "guest's" view of its RAM */
	struct kg_gmem *gm;
	struct kg_vq *vq;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	int call;
};

static int setup(void **state)
{
	struct guest *g = calloc(1, sizeof(*g));
	const struct kg_gmem_region r = { 0, RAM_SIZE, UVA_BASE, 0 };
	int fd;

	g->ram = kg_test_ram_fd(RAM_SIZE);
	assert_true(g->ram >= 0);
	g->host = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g->ram, 0);
	assert_true(g->host != MAP_FAILED);
	g->gm = kg_gmem_create();
	fd = dup(g->ram);
	assert_int_equal(kg_gmem_set_table(g->gm, &r, 1, &fd), 0);
	g->desc = (struct vring_desc *)(g->host + DESC_GPA);
	g->avail = (struct vring_avail *)(g->host + AVAIL_GPA);
	g->used = (struct vring_used *)(g->host + USED_GPA);
	g->vq = kg_vq_create(0);
	assert_int_equal(kg_vq_set_num(g->vq, QSIZE), 0);
	assert_int_equal(kg_vq_set_addr(g->vq, UVA_BASE + DESC_GPA, UVA_BASE + AVAIL_GPA,
					UVA_BASE + USED_GPA),
			 0);
	assert_int_equal(kg_vq_set_features(g->vq, false, true), 0);
	g->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	kg_vq_set_call_fd(g->vq, dup(g->call));
	assert_int_equal(kg_vq_start(g->vq, g->gm), 0);
	*state = g;
	return 0;
}

static int teardown(void **state)
{
	struct guest *g = *state;

	kg_vq_destroy(g->vq);
	kg_gmem_destroy(g->gm);
	munmap(g->host, RAM_SIZE);
	close(g->ram);
	close(g->call);
	free(g);
	return 0;
}

static void set_desc(struct vring_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	t[i] = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

/* Offers head in the next avail slot. */
static void publish(struct guest *g, uint16_t head)
{
	uint16_t idx = g->avail->idx;

	g->avail->ring[idx % QSIZE] = head;
	__atomic_store_n(&g->avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static uint64_t calls(struct guest *g)
{
	eventfd_t v = 0;

	if (eventfd_read(g->call, &v) < 0)
		return 0;
	return v;
}

static void test_pops_command_and_pushes_response(void **state)
{
	struct guest *g = *state;
	struct kg_vq_elem elem;
	char cmd[16] = "hello, device";
	char resp[8];

	memcpy(g->host + BUF_GPA, cmd, 8);
	memcpy(g->host + BUF_GPA + 0x100, cmd + 8, 8);
	set_desc(g->desc, 5, BUF_GPA, 8, VRING_DESC_F_NEXT, 9);
	set_desc(g->desc, 9, BUF_GPA + 0x100, 8, VRING_DESC_F_NEXT, 2);
	set_desc(g->desc, 2, BUF_GPA + 0x200, 64, VRING_DESC_F_WRITE, 0);
	publish(g, 5);

	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	assert_int_equal(elem.head, 5);
	assert_int_equal(elem.out_num, 2);
	assert_int_equal(elem.in_num, 1);
	assert_int_equal(kg_iov_size(elem.out, elem.out_num), 16);
	char got[16];
	assert_int_equal(kg_iov_to_buf(elem.out, elem.out_num, 0, got, sizeof(got)), 16);
	assert_memory_equal(got, cmd, 16);
	assert_int_equal(kg_iov_to_buf(elem.out, elem.out_num, 6, got, 4), 4);
	assert_memory_equal(got, cmd + 6, 4);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 0); /* empty now */

	memcpy(resp, "RESPONSE", 8);
	assert_int_equal(kg_iov_from_buf(elem.in, elem.in_num, 0, resp, 8), 8);
	kg_vq_push(g->vq, &elem, 8);
	kg_vq_notify(g->vq);
	assert_int_equal(g->used->idx, 1);
	assert_int_equal(g->used->ring[0].id, 5);
	assert_int_equal(g->used->ring[0].len, 8);
	assert_memory_equal(g->host + BUF_GPA + 0x200, "RESPONSE", 8);
	assert_int_equal(calls(g), 1);
	assert_int_equal(kg_vq_get_base(g->vq), 1);
}

static void test_written_is_clamped_to_in_buffers(void **state)
{
	struct guest *g = *state;
	struct kg_vq_elem elem;

	set_desc(g->desc, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(g->desc, 1, BUF_GPA + 0x100, 24, VRING_DESC_F_WRITE, 0);
	publish(g, 0);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	kg_vq_push(g->vq, &elem, 1000);
	assert_int_equal(g->used->ring[0].len, 24);
}

static void test_no_interrupt_flag_suppresses_call(void **state)
{
	struct guest *g = *state;
	struct kg_vq_elem elem;

	g->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	set_desc(g->desc, 0, BUF_GPA, 16, 0, 0);
	publish(g, 0);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	kg_vq_push(g->vq, &elem, 0);
	kg_vq_notify(g->vq);
	assert_int_equal(calls(g), 0);
	g->avail->flags = 0;
	kg_vq_notify(g->vq);
	assert_int_equal(calls(g), 0); /* nothing new since */
	publish(g, 0);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	kg_vq_push(g->vq, &elem, 0);
	kg_vq_notify(g->vq);
	assert_int_equal(calls(g), 1);
	kg_vq_notify(g->vq);
	assert_int_equal(calls(g), 0);
}

static void test_indirect_chain(void **state)
{
	struct guest *g = *state;
	struct vring_desc *ind = (struct vring_desc *)(g->host + IND_GPA);
	struct kg_vq_elem elem;

	set_desc(ind, 0, BUF_GPA, 24, VRING_DESC_F_NEXT, 2);
	set_desc(ind, 2, BUF_GPA + 0x100, 8, VRING_DESC_F_NEXT, 1);
	set_desc(ind, 1, BUF_GPA + 0x200, 40, VRING_DESC_F_WRITE, 0);
	set_desc(g->desc, 7, IND_GPA, 3 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	publish(g, 7);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	assert_int_equal(elem.head, 7);
	assert_int_equal(elem.out_num, 2);
	assert_int_equal(elem.in_num, 1);
	assert_int_equal(kg_iov_size(elem.in, elem.in_num), 40);
	assert_ptr_equal(elem.out[1].iov_base, kg_gmem_gpa_to_va(g->gm, BUF_GPA + 0x100, 8));
}

/* Each malformed ring must fail the pop and keep failing (queue broken). */
static void expect_malformed(struct guest *g, int err)
{
	struct kg_vq_elem elem;

	assert_int_equal(kg_vq_pop(g->vq, &elem), err);
	assert_true(kg_vq_broken(g->vq));
	assert_int_equal(kg_vq_pop(g->vq, &elem), -EIO);
	assert_int_equal(kg_vq_get_base(g->vq), 0);
}

static void test_descriptor_loop(void **state)
{
	struct guest *g = *state;

	/* Empty buffers, so only the loop check can stop the walk. */
	set_desc(g->desc, 0, BUF_GPA, 0, VRING_DESC_F_NEXT, 1);
	set_desc(g->desc, 1, BUF_GPA, 0, VRING_DESC_F_NEXT, 0);
	publish(g, 0);
	expect_malformed(g, -ELOOP);
}

static void test_long_loop_hits_the_buffer_cap(void **state)
{
	struct guest *g = *state;

	set_desc(g->desc, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(g->desc, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	publish(g, 0);
	expect_malformed(g, -E2BIG);
}

static void test_indirect_loop(void **state)
{
	struct guest *g = *state;
	struct vring_desc *ind = (struct vring_desc *)(g->host + IND_GPA);

	set_desc(ind, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(ind, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	set_desc(g->desc, 0, IND_GPA, 2 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	publish(g, 0);
	expect_malformed(g, -ELOOP);
}

static void test_head_out_of_range(void **state)
{
	struct guest *g = *state;

	publish(g, QSIZE);
	expect_malformed(g, -ERANGE);
}

static void test_next_out_of_range(void **state)
{
	struct guest *g = *state;

	set_desc(g->desc, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, QSIZE + 3);
	publish(g, 0);
	expect_malformed(g, -ERANGE);
}

static void test_buffer_outside_guest_memory(void **state)
{
	struct guest *g = *state;

	set_desc(g->desc, 0, RAM_SIZE - 4, 8, 0, 0);
	publish(g, 0);
	expect_malformed(g, -EFAULT);
}

static void test_avail_index_jump(void **state)
{
	struct guest *g = *state;

	set_desc(g->desc, 0, BUF_GPA, 8, 0, 0);
	g->avail->idx = QSIZE + 1;
	expect_malformed(g, -EINVAL);
}

static void test_read_after_write(void **state)
{
	struct guest *g = *state;

	set_desc(g->desc, 0, BUF_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(g->desc, 1, BUF_GPA, 8, 0, 0);
	publish(g, 0);
	expect_malformed(g, -EINVAL);
}

static void test_too_long_chain(void **state)
{
	struct guest *g = *state;

	for (unsigned i = 0; i < KG_VQ_MAX_SG + 1; i++)
		set_desc(g->desc, i, BUF_GPA + i * 16, 16, VRING_DESC_F_NEXT, i + 1);
	g->desc[KG_VQ_MAX_SG].flags = 0;
	publish(g, 0);
	expect_malformed(g, -E2BIG);
}

static void test_bad_indirect_length(void **state)
{
	struct guest *g = *state;

	set_desc(g->desc, 0, IND_GPA, 20, VRING_DESC_F_INDIRECT, 0);
	publish(g, 0);
	expect_malformed(g, -EINVAL);
}

static void test_nested_indirect(void **state)
{
	struct guest *g = *state;
	struct vring_desc *ind = (struct vring_desc *)(g->host + IND_GPA);

	set_desc(ind, 0, IND_GPA + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(g->desc, 0, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	publish(g, 0);
	expect_malformed(g, -EINVAL);
}

static void test_indirect_with_next(void **state)
{
	struct guest *g = *state;

	set_desc(g->desc, 0, IND_GPA, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	publish(g, 0);
	expect_malformed(g, -EINVAL);
}

static void test_indirect_table_outside_memory(void **state)
{
	struct guest *g = *state;

	set_desc(g->desc, 0, RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
	publish(g, 0);
	expect_malformed(g, -EFAULT);
}

static void test_indirect_not_negotiated(void **state)
{
	struct guest *g = *state;
	struct vring_desc *ind = (struct vring_desc *)(g->host + IND_GPA);

	assert_int_equal(kg_vq_set_features(g->vq, false, false), 0);
	set_desc(ind, 0, BUF_GPA, 8, 0, 0);
	set_desc(g->desc, 0, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	publish(g, 0);
	expect_malformed(g, -EINVAL);
}

static void test_restart_clears_broken(void **state)
{
	struct guest *g = *state;
	struct kg_vq_elem elem;

	publish(g, QSIZE);
	assert_int_equal(kg_vq_pop(g->vq, &elem), -ERANGE);
	kg_vq_stop(g->vq);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 0); /* stopped: nothing */
	/* The guest resets: fresh ring, base 0. */
	memset(g->avail, 0, 0x1000);
	assert_int_equal(kg_vq_set_base(g->vq, 0), 0);
	assert_int_equal(kg_vq_start(g->vq, g->gm), 0);
	assert_false(kg_vq_broken(g->vq));
	set_desc(g->desc, 0, BUF_GPA, 8, 0, 0);
	publish(g, 0);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
}

static void test_event_idx(void **state)
{
	struct guest *g = *state;
	struct kg_vq_elem elem;
	uint16_t *used_event = &g->avail->ring[QSIZE];
	uint16_t *avail_event = (uint16_t *)&g->used->ring[QSIZE];

	assert_int_equal(kg_vq_set_features(g->vq, true, true), 0);
	for (unsigned i = 0; i < 4; i++)
		set_desc(g->desc, i, BUF_GPA + i * 64, 64, VRING_DESC_F_WRITE, 0);
	publish(g, 0);
	publish(g, 1);
	publish(g, 2);
	publish(g, 3);
	*used_event = 0;

	/* The first completion always interrupts. */
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	kg_vq_push(g->vq, &elem, 0);
	kg_vq_notify(g->vq);
	assert_int_equal(calls(g), 1);
	/* used_event 0 was passed already: no interrupt for the second. */
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	kg_vq_push(g->vq, &elem, 0);
	kg_vq_notify(g->vq);
	assert_int_equal(calls(g), 0);
	/* The guest asks to hear when entry 2 is used. */
	*used_event = 2;
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	kg_vq_push(g->vq, &elem, 0);
	kg_vq_notify(g->vq);
	assert_int_equal(calls(g), 1);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	/* Emptying the ring tells the guest where to kick next. */
	assert_int_equal(kg_vq_pop(g->vq, &elem), 0);
	assert_int_equal(*avail_event, 4);
}

static void test_buffer_split_across_regions(void **state)
{
	struct guest *g = *state;
	/* Two GPA-adjacent regions backed by different parts of the memfd. */
	const struct kg_gmem_region r[] = {
		{ 0, 0x80000, UVA_BASE, 0 },
		{ 0x80000, 0x80000, UVA_BASE + 0x100000, 0x80000 },
	};
	int fds[2] = { dup(g->ram), dup(g->ram) };
	struct kg_vq_elem elem;

	assert_int_equal(kg_gmem_set_table(g->gm, r, 2, fds), 0);
	assert_int_equal(kg_vq_remap(g->vq), 0);
	set_desc(g->desc, 0, 0x80000 - 0x100, 0x200, 0, 0);
	publish(g, 0);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	assert_int_equal(elem.out_num, 2);
	assert_int_equal(elem.out[0].iov_len, 0x100);
	assert_int_equal(elem.out[1].iov_len, 0x100);
}

/* A response kept across a memory-table change (a fenced flush waiting for
 * its flip) is written where its guest address lives now: here the same RAM
 * sent again as two regions, mapped anew, the old mapping gone. */
static void test_kept_element_follows_the_new_table(void **state)
{
	struct guest *g = *state;
	const struct kg_gmem_region r[2] = {
		{ 0, BUF_GPA, UVA_BASE, 0 },
		{ BUF_GPA, RAM_SIZE - BUF_GPA, UVA_BASE + BUF_GPA, BUF_GPA },
	};
	int fd[2] = { dup(g->ram), dup(g->ram) };
	struct kg_vq_elem elem;
	uint64_t epoch = kg_gmem_epoch(g->gm);

	set_desc(g->desc, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(g->desc, 1, BUF_GPA + 0x200, 16, VRING_DESC_F_WRITE, 0);
	publish(g, 0);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	assert_int_equal(kg_gmem_set_table(g->gm, r, 2, fd), 0);
	assert_int_equal(kg_vq_remap(g->vq), 0);
	assert_int_not_equal(kg_gmem_epoch(g->gm), epoch);
	assert_int_equal(kg_vq_elem_refresh(g->vq, &elem), 0);
	assert_ptr_equal(elem.in[0].iov_base, kg_gmem_gpa_to_va(g->gm, BUF_GPA + 0x200, 16));
	assert_int_equal(kg_iov_from_buf(elem.in, elem.in_num, 0, "fence 7 answered", 16), 16);
	kg_vq_push(g->vq, &elem, 16);
	assert_memory_equal(g->host + BUF_GPA + 0x200, "fence 7 answered", 16);
	assert_int_equal(g->used->ring[0].len, 16);
}

/* Its buffer left guest RAM: nothing is written, the chain goes back empty. */
static void test_kept_element_outside_the_new_table(void **state)
{
	struct guest *g = *state;
	const struct kg_gmem_region r = { 0, BUF_GPA, UVA_BASE, 0 }; /* the rings only */
	int fd = dup(g->ram);
	struct kg_vq_elem elem;

	set_desc(g->desc, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(g->desc, 1, BUF_GPA + 0x200, 16, VRING_DESC_F_WRITE, 0);
	publish(g, 0);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	memset(g->host + BUF_GPA + 0x200, 0x5a, 16);
	assert_int_equal(kg_gmem_set_table(g->gm, &r, 1, &fd), 0);
	assert_int_equal(kg_vq_remap(g->vq), 0);
	assert_int_equal(kg_vq_elem_refresh(g->vq, &elem), -EFAULT);
	assert_int_equal(elem.in_num, 0);
	assert_int_equal(kg_iov_from_buf(elem.in, elem.in_num, 0, "x", 1), 0);
	kg_vq_push(g->vq, &elem, 16);
	assert_int_equal(g->used->ring[0].len, 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(g->host[BUF_GPA + 0x200 + i], 0x5a);
}

/* A guest that refills as fast as we pop gets one queue size of chains per
 * kick; then the device is sent back to the event loop through the rekick
 * eventfd. */
static void test_pop_budget_yields_to_the_loop(void **state)
{
	struct guest *g = *state;
	int rekick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct kg_vq_elem elem;
	eventfd_t v = 0;
	unsigned popped = 0;

	kg_vq_set_rekick_fd(g->vq, rekick);
	set_desc(g->desc, 0, BUF_GPA, 8, 0, 0);
	for (unsigned i = 0; i < 3 * QSIZE; i++) {
		publish(g, 0);
		if (kg_vq_pop(g->vq, &elem) != 1)
			break;
		kg_vq_push(g->vq, &elem, 0);
		popped++;
	}
	assert_int_equal(popped, QSIZE);
	assert_int_equal(eventfd_read(rekick, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 0);
	assert_int_equal(eventfd_read(rekick, &v), -1); /* written once */
	kg_vq_refill(g->vq);
	assert_int_equal(kg_vq_pop(g->vq, &elem), 1);
	kg_vq_set_rekick_fd(g->vq, -1);
	close(rekick);
}

static void test_ring_outside_memory_does_not_start(void **state)
{
	struct kg_vq *vq = kg_vq_create(1);
	struct guest *g = *state;

	assert_int_equal(kg_vq_start(vq, g->gm), -EINVAL); /* nothing set */
	assert_int_equal(kg_vq_set_num(vq, 3), -EINVAL);
	assert_int_equal(kg_vq_set_num(vq, 0), -EINVAL);
	assert_int_equal(kg_vq_set_num(vq, 65536), -EINVAL);
	assert_int_equal(kg_vq_set_num(vq, 256), 0);
	assert_int_equal(kg_vq_set_addr(vq, UVA_BASE + RAM_SIZE - 0x100, UVA_BASE + AVAIL_GPA,
					UVA_BASE + USED_GPA),
			 0);
	assert_int_equal(kg_vq_start(vq, g->gm), -EFAULT);
	assert_int_equal(kg_vq_set_addr(vq, UVA_BASE + DESC_GPA + 8, UVA_BASE + AVAIL_GPA,
					UVA_BASE + USED_GPA),
			 0);
	assert_int_equal(kg_vq_start(vq, g->gm), -EFAULT); /* misaligned */
	assert_false(kg_vq_started(vq));
	kg_vq_destroy(vq);
	kg_vq_destroy(NULL);
}

/* ---- inflight tracking: a restarted process answers what a dead one took ---- */

static struct kg_vq *second_vq(struct guest *g)
{
	struct kg_vq *vq = kg_vq_create(0);

	assert_int_equal(kg_vq_set_num(vq, QSIZE), 0);
	assert_int_equal(
		kg_vq_set_addr(vq, UVA_BASE + DESC_GPA, UVA_BASE + AVAIL_GPA, UVA_BASE + USED_GPA),
		0);
	assert_int_equal(kg_vq_set_features(vq, false, true), 0);
	return vq;
}

/* Offers head as a one-buffer chain the device writes. */
static void offer(struct guest *g, uint16_t head)
{
	set_desc(g->desc, head, BUF_GPA + head * 0x100u, 64, VRING_DESC_F_WRITE, 0);
	publish(g, head);
}

static void test_inflight_resumes_unanswered_in_pop_order(void **state)
{
	struct guest *g = *state;
	struct kg_vq_inflight *inf = calloc(1, sizeof(*inf));
	struct kg_vq_elem e5, e9, e2, e;
	struct kg_vq *vq2;

	assert_int_equal(kg_vq_track(g->vq, inf), 0);
	offer(g, 5);
	offer(g, 9);
	offer(g, 2);
	assert_int_equal(kg_vq_pop(g->vq, &e5), 1);
	assert_int_equal(kg_vq_pop(g->vq, &e9), 1);
	assert_int_equal(kg_vq_pop(g->vq, &e2), 1);
	assert_false(e5.resubmitted);
	kg_vq_push(g->vq, &e9, 0);
	/* kill -9 here: 5 and 2 were taken and not answered. */
	vq2 = second_vq(g);
	assert_int_equal(kg_vq_resume(vq2, g->gm, inf), 2);
	assert_int_equal(kg_vq_pop(vq2, &e), 1);
	assert_int_equal(e.head, 5);
	assert_true(e.resubmitted);
	kg_vq_push(vq2, &e, 0);
	assert_int_equal(kg_vq_pop(vq2, &e), 1);
	assert_int_equal(e.head, 2);
	assert_true(e.resubmitted);
	kg_vq_push(vq2, &e, 0);
	assert_int_equal(kg_vq_pop(vq2, &e), 0); /* nothing popped twice */
	assert_int_equal(g->used->idx, 3);
	assert_int_equal(g->used->ring[1].id, 5);
	assert_int_equal(g->used->ring[2].id, 2);
	for (unsigned h = 0; h < QSIZE; h++)
		assert_int_equal(inf->desc[h].inflight, 0);
	/* New work after the resubmitted is popped as usual. */
	offer(g, 7);
	assert_int_equal(kg_vq_pop(vq2, &e), 1);
	assert_int_equal(e.head, 7);
	assert_false(e.resubmitted);
	kg_vq_destroy(vq2);
	free(inf);
}

/* Killed after used->idx moved, before the record knew: answered once. */
static void test_inflight_push_interrupted_after_the_index(void **state)
{
	struct guest *g = *state;
	struct kg_vq_inflight *inf = calloc(1, sizeof(*inf));
	struct kg_vq_elem e;
	struct kg_vq *vq2;

	assert_int_equal(kg_vq_track(g->vq, inf), 0);
	offer(g, 5);
	assert_int_equal(kg_vq_pop(g->vq, &e), 1);
	kg_vq_push(g->vq, &e, 0);
	/* The record as it was between used->idx and its own update. */
	inf->desc[5].inflight = 1;
	inf->used_idx--;
	vq2 = second_vq(g);
	assert_int_equal(kg_vq_resume(vq2, g->gm, inf), 0);
	assert_int_equal(kg_vq_pop(vq2, &e), 0);
	assert_int_equal(inf->used_idx, 1);
	kg_vq_destroy(vq2);
	free(inf);
}

/* Killed before used->idx moved: the push did not happen, answer it. */
static void test_inflight_push_interrupted_before_the_index(void **state)
{
	struct guest *g = *state;
	struct kg_vq_inflight *inf = calloc(1, sizeof(*inf));
	struct kg_vq_elem e;
	struct kg_vq *vq2;

	assert_int_equal(kg_vq_track(g->vq, inf), 0);
	offer(g, 5);
	assert_int_equal(kg_vq_pop(g->vq, &e), 1);
	g->used->ring[0].id = 5; /* the entry written, the index not */
	inf->last_batch_head = 5;
	vq2 = second_vq(g);
	assert_int_equal(kg_vq_resume(vq2, g->gm, inf), 1);
	assert_int_equal(kg_vq_pop(vq2, &e), 1);
	assert_int_equal(e.head, 5);
	kg_vq_destroy(vq2);
	free(inf);
}

/* Killed between marking the head in flight and moving last_avail_idx. */
static void test_inflight_pop_interrupted(void **state)
{
	struct guest *g = *state;
	struct kg_vq_inflight *inf = calloc(1, sizeof(*inf));
	struct kg_vq_elem e;
	struct kg_vq *vq2;

	assert_int_equal(kg_vq_track(g->vq, inf), 0);
	offer(g, 5);
	offer(g, 6);
	assert_int_equal(kg_vq_pop(g->vq, &e), 1);
	inf->last_avail_idx--;
	vq2 = second_vq(g);
	assert_int_equal(kg_vq_resume(vq2, g->gm, inf), 1);
	assert_int_equal(kg_vq_pop(vq2, &e), 1);
	assert_int_equal(e.head, 5);
	assert_true(e.resubmitted);
	assert_int_equal(kg_vq_pop(vq2, &e), 1);
	assert_int_equal(e.head, 6); /* not 5 again */
	assert_false(e.resubmitted);
	assert_int_equal(kg_vq_pop(vq2, &e), 0);
	kg_vq_destroy(vq2);
	free(inf);
}

/* A record that does not fit the ring is refused; one the guest
 * contradicts (used index moved by more than one) is not trusted. */
static void test_inflight_record_is_checked(void **state)
{
	struct guest *g = *state;
	struct kg_vq_inflight *inf = calloc(1, sizeof(*inf));
	struct kg_vq_elem e;
	struct kg_vq *vq2;

	assert_int_equal(kg_vq_track(g->vq, inf), 0);
	offer(g, 5);
	assert_int_equal(kg_vq_pop(g->vq, &e), 1);
	vq2 = second_vq(g);
	inf->num = QSIZE / 2;
	assert_int_equal(kg_vq_resume(vq2, g->gm, inf), -EINVAL);
	inf->num = QSIZE;
	inf->last_batch_head = 0xffff;
	g->used->idx = 7; /* the guest wrote it */
	assert_int_equal(kg_vq_resume(vq2, g->gm, inf), 1);
	assert_int_equal(inf->used_idx, 7);
	kg_vq_destroy(vq2);
	free(inf);
}

/* A stopped queue leaves nothing to answer: the record is invalidated. */
static void test_inflight_stop_clears_the_record(void **state)
{
	struct guest *g = *state;
	struct kg_vq_inflight *inf = calloc(1, sizeof(*inf));
	struct kg_vq_elem e;

	assert_int_equal(kg_vq_track(g->vq, inf), 0);
	assert_int_equal(inf->num, QSIZE);
	offer(g, 5);
	assert_int_equal(kg_vq_pop(g->vq, &e), 1);
	kg_vq_stop(g->vq);
	assert_int_equal(inf->num, 0);
	free(inf);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pops_command_and_pushes_response),
		T(test_written_is_clamped_to_in_buffers),
		T(test_no_interrupt_flag_suppresses_call),
		T(test_indirect_chain),
		T(test_descriptor_loop),
		T(test_long_loop_hits_the_buffer_cap),
		T(test_indirect_loop),
		T(test_head_out_of_range),
		T(test_next_out_of_range),
		T(test_buffer_outside_guest_memory),
		T(test_avail_index_jump),
		T(test_read_after_write),
		T(test_too_long_chain),
		T(test_bad_indirect_length),
		T(test_nested_indirect),
		T(test_indirect_with_next),
		T(test_indirect_table_outside_memory),
		T(test_indirect_not_negotiated),
		T(test_restart_clears_broken),
		T(test_event_idx),
		T(test_buffer_split_across_regions),
		T(test_kept_element_follows_the_new_table),
		T(test_kept_element_outside_the_new_table),
		T(test_pop_budget_yields_to_the_loop),
		T(test_ring_outside_memory_does_not_start),
		T(test_inflight_resumes_unanswered_in_pop_order),
		T(test_inflight_push_interrupted_after_the_index),
		T(test_inflight_push_interrupted_before_the_index),
		T(test_inflight_pop_interrupted),
		T(test_inflight_record_is_checked),
		T(test_inflight_stop_clears_the_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
