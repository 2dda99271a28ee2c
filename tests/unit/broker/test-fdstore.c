// SPDX-License-Identifier: MIT
/* kg_fdstore's pure part: which inherited fd is which, the lease table's
 * text, and which stored leases the kernel still lists. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <cmocka.h>

#include "fdstore.h"

static void test_classify_socket_and_store(void **state)
{
	const char *names[] = { "kmsgate-broker.socket", "drm-master", "lease-table" };
	struct kg_fdstore_roles r;
	char err[256];

	assert_int_equal(kg_fdstore_classify(names, 3, &r, err, sizeof(err)), 0);
	assert_int_equal(r.listen, 0);
	assert_int_equal(r.master, 1);
	assert_int_equal(r.table, 2);
	/* The store's fds may come first, and a socket may be unnamed. */
	const char *names2[] = { "lease-table", "drm-master", "unknown" };
	assert_int_equal(kg_fdstore_classify(names2, 3, &r, err, sizeof(err)), 0);
	assert_int_equal(r.listen, 2);
	assert_int_equal(r.master, 1);
	assert_int_equal(r.table, 0);
}

static void test_classify_nothing_or_socket_only(void **state)
{
	const char *names[] = { "kmsgate-broker.socket" };
	struct kg_fdstore_roles r;
	char err[256];

	assert_int_equal(kg_fdstore_classify(NULL, 0, &r, err, sizeof(err)), 0);
	assert_int_equal(r.listen, -1);
	assert_int_equal(r.master, -1);
	assert_int_equal(r.table, -1);
	assert_int_equal(kg_fdstore_classify(names, 1, &r, err, sizeof(err)), 0);
	assert_int_equal(r.listen, 0);
	assert_int_equal(r.master, -1);
}

static void test_classify_refuses_two_sockets_or_two_masters(void **state)
{
	const char *socks[] = { "a.socket", "drm-master", "b.socket" };
	const char *masters[] = { "drm-master", "drm-master" };
	struct kg_fdstore_roles r;
	char err[256];

	assert_int_equal(kg_fdstore_classify(socks, 3, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "two sockets (fds 3 and 5"));
	assert_int_equal(kg_fdstore_classify(masters, 2, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "two stored fds named drm-master"));
}

static void test_same_device(void **state)
{
	struct stat card = { .st_mode = S_IFCHR | 0660, .st_rdev = makedev(226, 0) };
	struct stat other = card, file = card;

	assert_true(kg_fdstore_same_device(&card, &card));
	other.st_rdev = makedev(226, 1);
	assert_false(kg_fdstore_same_device(&card, &other));
	file.st_mode = S_IFREG | 0644; /* a regular file's st_rdev means nothing */
	assert_false(kg_fdstore_same_device(&file, &card));
	assert_false(kg_fdstore_same_device(&card, &file));
}

static void test_table_round_trip(void **state)
{
	struct kg_fdstore_entry in[] = { { 42, "head0" }, { 4294967295u, "HDMI-A.1_x" } };
	struct kg_fdstore_entry out[4];
	char buf[KG_FDSTORE_TABLE_MAX + 8];
	size_t len = kg_fdstore_table_format(in, 2, buf, sizeof(buf));

	assert_string_equal(buf, "kmsgate-leases 1\n42 head0\n4294967295 HDMI-A.1_x\n");
	/* The memfd may be longer than the text: NULs after it are ignored. */
	memset(buf + len, 0, 8);
	assert_int_equal(kg_fdstore_table_parse(buf, len + 8, out, 4), 2);
	assert_int_equal(out[0].lessee_id, 42);
	assert_string_equal(out[0].pipeline, "head0");
	assert_int_equal(out[1].lessee_id, 4294967295u);
	assert_string_equal(out[1].pipeline, "HDMI-A.1_x");
	/* An empty table is a table. */
	len = kg_fdstore_table_format(NULL, 0, buf, sizeof(buf));
	assert_int_equal(kg_fdstore_table_parse(buf, len, out, 4), 0);
}

static void test_table_max_fits(void **state)
{
	static struct kg_fdstore_entry e[KG_FDSTORE_MAX_LEASES];
	static char buf[KG_FDSTORE_TABLE_MAX];

	for (size_t i = 0; i < KG_FDSTORE_MAX_LEASES; i++) {
		e[i].lessee_id = 4294967295u;
		memset(e[i].pipeline, 'x', KG_CONFIG_NAME_MAX - 1);
	}
	assert_true(kg_fdstore_table_format(e, KG_FDSTORE_MAX_LEASES, buf, sizeof(buf)) > 0);
	assert_int_equal(kg_fdstore_table_format(e, 2, buf, 40), 0); /* too small */
}

static void test_table_refuses_what_it_did_not_write(void **state)
{
	static const char *const bad[] = {
		"",
		"kmsgate-leases 2\n1 head0\n",	    /* another version */
		"kmsgate-leases 1\n1 head0",	    /* cut line */
		"kmsgate-leases 1\n0 head0\n",	    /* lessee ids start at 1 */
		"kmsgate-leases 1\n4294967296 a\n", /* > u32 */
		"kmsgate-leases 1\n-1 a\n",
		"kmsgate-leases 1\n1 \n",
		"kmsgate-leases 1\n1 a b\n",	    /* not a pipeline name */
		"kmsgate-leases 1\n1 head0\nad0\n", /* an older, longer text's tail */
		"kmsgate-leases 1\n1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", /* too long */
	};
	struct kg_fdstore_entry out[4];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(kg_fdstore_table_parse(bad[i], strlen(bad[i]), out, 4), -EINVAL);
	}
	/* More entries than the caller has room for. */
	assert_int_equal(kg_fdstore_table_parse("kmsgate-leases 1\n1 a\n2 b\n", 25, out, 1),
			 -EINVAL);
}

static void test_keep_live(void **state)
{
	struct kg_fdstore_entry e[] = { { 5, "a" }, { 6, "b" }, { 7, "c" }, { 5, "d" } };
	uint32_t live[] = { 7, 5, 99 };

	/* 6 is gone (its client closed it); 5 twice is kept once; 99 is a
	 * lessee the table does not know (left to the kernel). */
	assert_int_equal(kg_fdstore_keep_live(e, 4, live, 3), 2);
	assert_int_equal(e[0].lessee_id, 5);
	assert_string_equal(e[0].pipeline, "a");
	assert_int_equal(e[1].lessee_id, 7);
	assert_string_equal(e[1].pipeline, "c");
	assert_int_equal(kg_fdstore_keep_live(e, 2, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_socket_and_store),
		cmocka_unit_test(test_classify_nothing_or_socket_only),
		cmocka_unit_test(test_classify_refuses_two_sockets_or_two_masters),
		cmocka_unit_test(test_same_device),
		cmocka_unit_test(test_table_round_trip),
		cmocka_unit_test(test_table_max_fits),
		cmocka_unit_test(test_table_refuses_what_it_did_not_write),
		cmocka_unit_test(test_keep_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
