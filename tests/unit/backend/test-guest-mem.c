// SPDX-License-Identifier: MIT
/* kg_gmem on real memfds: translation bounds, table validation, fd
 * ownership and mapping reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest-mem.h"
#include "fdcount.h"
#include "guest-ram.h"

#define RAM_SIZE (1u << 20)
#define UVA_BASE 0x7f0000000000ull

static int ram_fd(size_t size)
{
	int fd = kg_test_ram_fd(size);

	assert_true(fd >= 0);
	return fd;
}

/* Two regions of one memfd, as QEMU sends them for a PC: low RAM and the
 * rest after a hole. */
static const struct kg_gmem_region two_regions[] = {
	{ .guest_phys_addr = 0,
	  .memory_size = 0x40000,
	  .userspace_addr = UVA_BASE,
	  .mmap_offset = 0 },
	{ .guest_phys_addr = 0x100000,
	  .memory_size = 0x80000,
	  .userspace_addr = UVA_BASE + 0x40000,
	  .mmap_offset = 0x40000 },
};

static struct kg_gmem *gmem_with_two_regions(int ram)
{
	struct kg_gmem *gm = kg_gmem_create();
	int fds[2] = { dup(ram), dup(ram) };

	assert_non_null(gm);
	assert_int_equal(kg_gmem_set_table(gm, two_regions, 2, fds), 0);
	return gm;
}

static void test_translates_inside_regions_only(void **state)
{
	int base_fds = kg_test_fd_count();
	int ram = ram_fd(RAM_SIZE);
	uint8_t *host = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram, 0);
	struct kg_gmem *gm = gmem_with_two_regions(ram);
	uint8_t *p;

	assert_true(host != MAP_FAILED);
	host[0x40000 + 0x10] = 0xab; /* gpa 0x100010 lives at fd offset 0x40010 */
	p = kg_gmem_gpa_to_va(gm, 0x100010, 1);
	assert_non_null(p);
	assert_int_equal(*p, 0xab);
	/* Same byte through QEMU's address. */
	assert_ptr_equal(kg_gmem_uva_to_va(gm, UVA_BASE + 0x40010, 1), p);

	assert_non_null(kg_gmem_gpa_to_va(gm, 0x3ffff, 1));    /* last byte */
	assert_null(kg_gmem_gpa_to_va(gm, 0x3ffff, 2));	       /* crosses the end */
	assert_null(kg_gmem_gpa_to_va(gm, 0x40000, 1));	       /* in the hole */
	assert_null(kg_gmem_gpa_to_va(gm, 0x0, 0));	       /* empty */
	assert_null(kg_gmem_gpa_to_va(gm, UINT64_MAX, 2));     /* wraps */
	assert_null(kg_gmem_gpa_to_va(gm, 0x100000, 0x80001)); /* one past */
	assert_null(kg_gmem_uva_to_va(gm, UVA_BASE - 1, 1));
	assert_null(kg_gmem_uva_to_va(gm, UVA_BASE + 0xc0000, 1));

	munmap(host, RAM_SIZE);
	close(ram);
	kg_gmem_destroy(gm);
	assert_int_equal(kg_test_fd_count(), base_fds);
}

static void test_partial_map_and_fd_offset(void **state)
{
	int ram = ram_fd(RAM_SIZE);
	struct kg_gmem *gm = gmem_with_two_regions(ram);
	uint64_t contig = 0;
	struct kg_gmem_span sp;

	assert_non_null(kg_gmem_gpa_map(gm, 0x3f000, 0x2000, &contig));
	assert_int_equal(contig, 0x1000);
	assert_null(kg_gmem_gpa_map(gm, 0x50000, 0x10, &contig));

	assert_true(kg_gmem_lookup(gm, 0x100000 + 0x2000, 0x1000, &sp));
	assert_true(sp.fd >= 0);
	assert_int_equal(sp.fd_offset, 0x40000 + 0x2000);
	assert_ptr_equal(sp.va, kg_gmem_gpa_to_va(gm, 0x100000 + 0x2000, 0x1000));
	assert_false(kg_gmem_lookup(gm, 0x3f000, 0x2000, &sp));
	close(ram);
	kg_gmem_destroy(gm);
}

static void expect_rejected(const struct kg_gmem_region *r, unsigned n)
{
	int base_fds = kg_test_fd_count();
	int ram = ram_fd(RAM_SIZE);
	struct kg_gmem *gm = gmem_with_two_regions(ram);
	void *before = kg_gmem_gpa_to_va(gm, 0x100000, 1);
	int fds[KG_GMEM_MAX_REGIONS];

	for (unsigned i = 0; i < n; i++)
		fds[i] = dup(ram);
	assert_true(kg_gmem_set_table(gm, r, n, fds) < 0);
	/* The old table is intact. */
	assert_ptr_equal(kg_gmem_gpa_to_va(gm, 0x100000, 1), before);
	close(ram);
	kg_gmem_destroy(gm);
	/* Every fd passed in was closed. */
	assert_int_equal(kg_test_fd_count(), base_fds);
}

static void test_rejects_bad_tables(void **state)
{
	const struct kg_gmem_region overlap[] = {
		{ 0, 0x10000, UVA_BASE, 0 },
		{ 0x8000, 0x10000, UVA_BASE + 0x100000, 0 },
	};
	const struct kg_gmem_region uva_overlap[] = {
		{ 0, 0x10000, UVA_BASE, 0 },
		{ 0x100000, 0x10000, UVA_BASE + 0x8000, 0 },
	};
	const struct kg_gmem_region zero[] = { { 0, 0, UVA_BASE, 0 } };
	const struct kg_gmem_region wraps[] = { { UINT64_MAX - 0xfff, 0x2000, UVA_BASE, 0 } };
	const struct kg_gmem_region past_file[] = { { 0, RAM_SIZE, UVA_BASE, 0x1000 } };
	const struct kg_gmem_region ok_then_bad[] = {
		{ 0x200000, 0x1000, UVA_BASE + 0x200000, 0 },
		{ 0x300000, RAM_SIZE * 2, UVA_BASE + 0x300000, 0 },
	};

	expect_rejected(overlap, 2);
	expect_rejected(uva_overlap, 2);
	expect_rejected(zero, 1);
	expect_rejected(wraps, 1);
	expect_rejected(past_file, 1);
	expect_rejected(ok_then_bad, 2);
}

static void test_too_many_regions_closes_fds(void **state)
{
	int base_fds = kg_test_fd_count();
	struct kg_gmem_region r[KG_GMEM_MAX_REGIONS + 1];
	int fds[KG_GMEM_MAX_REGIONS + 1];
	struct kg_gmem *gm = kg_gmem_create();

	for (unsigned i = 0; i <= KG_GMEM_MAX_REGIONS; i++) {
		r[i] = (struct kg_gmem_region){ i * 0x10000ull, 0x1000, UVA_BASE + i * 0x10000ull,
						0 };
		fds[i] = ram_fd(0x1000);
	}
	assert_int_equal(kg_gmem_set_table(gm, r, KG_GMEM_MAX_REGIONS + 1, fds), -E2BIG);
	kg_gmem_destroy(gm);
	assert_int_equal(kg_test_fd_count(), base_fds);
}

static void test_identical_resend_keeps_mapping(void **state)
{
	int base_fds = kg_test_fd_count();
	int ram = ram_fd(RAM_SIZE);
	struct kg_gmem *gm = gmem_with_two_regions(ram);
	void *p1 = kg_gmem_gpa_to_va(gm, 0x100000, 0x1000);
	int fds[2] = { dup(ram), dup(ram) };
	const struct kg_gmem_region moved[] = { { 0x100000, 0x1000, UVA_BASE + 0x900000, 0 } };
	int fd1[1];

	uint64_t epoch = kg_gmem_epoch(gm);

	assert_int_equal(kg_gmem_set_table(gm, two_regions, 2, fds), 0);
	assert_ptr_equal(kg_gmem_gpa_to_va(gm, 0x100000, 0x1000), p1);
	/* Nothing was unmapped: pointers taken before stay good. */
	assert_int_equal(kg_gmem_epoch(gm), epoch);
	/* A changed table drops what is gone, and says so. */
	fd1[0] = dup(ram);
	assert_int_equal(kg_gmem_set_table(gm, moved, 1, fd1), 0);
	assert_int_equal(kg_gmem_epoch(gm), epoch + 1);
	assert_int_equal(kg_gmem_num_regions(gm), 1);
	assert_null(kg_gmem_gpa_to_va(gm, 0x0, 1));
	assert_null(kg_gmem_gpa_to_va(gm, 0x100000, 0x1001));
	kg_gmem_clear(gm);
	assert_int_equal(kg_gmem_epoch(gm), epoch + 2);
	assert_null(kg_gmem_gpa_to_va(gm, 0x100000, 1));
	close(ram);
	kg_gmem_destroy(gm);
	kg_gmem_destroy(NULL);
	assert_int_equal(kg_test_fd_count(), base_fds);
}

/* A memfd QEMU could still shrink (no F_SEAL_SHRINK) would SIGBUS us on
 * the next ring read after it did: refused, the old table stays. */
static void test_unsealed_memfd_is_refused(void **state)
{
	int base_fds = kg_test_fd_count();
	int ram = ram_fd(RAM_SIZE);
	struct kg_gmem *gm = gmem_with_two_regions(ram);
	const struct kg_gmem_region r = { 0, 0x1000, UVA_BASE, 0 };
	int fd = kg_test_ram_fd_unsealed(0x1000);
	void *before = kg_gmem_gpa_to_va(gm, 0x100000, 0x1000);
	uint64_t epoch = kg_gmem_epoch(gm);

	assert_true(fd >= 0);
	assert_int_equal(kg_gmem_set_table(gm, &r, 1, &fd), -EPERM);
	assert_ptr_equal(kg_gmem_gpa_to_va(gm, 0x100000, 0x1000), before);
	assert_int_equal(kg_gmem_epoch(gm), epoch);
	/* A plain file (no seals to ask for, or none set): refused too. */
	fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 0x1000), 0);
	assert_int_equal(kg_gmem_set_table(gm, &r, 1, &fd), -EPERM);
	/* The same region on the sealed memfd is taken. */
	fd = dup(ram);
	assert_int_equal(kg_gmem_set_table(gm, &r, 1, &fd), 0);
	close(ram);
	kg_gmem_destroy(gm);
	assert_int_equal(kg_test_fd_count(), base_fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translates_inside_regions_only),
		cmocka_unit_test(test_partial_map_and_fd_offset),
		cmocka_unit_test(test_rejects_bad_tables),
		cmocka_unit_test(test_too_many_regions_closes_fds),
		cmocka_unit_test(test_identical_resend_keeps_mapping),
		cmocka_unit_test(test_unsealed_memfd_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
