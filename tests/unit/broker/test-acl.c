// SPDX-License-Identifier: MIT
/* Access decisions from peer credentials. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"

static bool allows(const struct kg_acl *acl, uid_t uid, gid_t gid, const gid_t *groups, size_t n)
{
	struct kg_cred cred = { .pid = 1, .uid = uid, .gid = gid, .groups = groups, .n_groups = n };

	return kg_acl_allows(acl, &cred);
}

static void test_empty_is_root_only(void **state)
{
	struct kg_acl acl = { 0 };

	assert_true(allows(&acl, 0, 0, NULL, 0));
	assert_true(allows(&acl, 0, 1000, NULL, 0));
	assert_false(allows(&acl, 1000, 0, NULL, 0));
	assert_false(allows(&acl, 1000, 1000, (gid_t[]){ 0 }, 1));
}

static void test_users_and_groups(void **state)
{
	struct kg_acl acl = { 0 };
	char err[128];

	assert_int_equal(kg_acl_add_users(&acl, "1000, 1001", err, sizeof(err)), 0);
	assert_int_equal(kg_acl_add_groups(&acl, "44\t45", err, sizeof(err)), 0);
	assert_true(allows(&acl, 1000, 5, NULL, 0));
	assert_true(allows(&acl, 1001, 5, NULL, 0));
	assert_false(allows(&acl, 1002, 5, NULL, 0));
	/* primary group */
	assert_true(allows(&acl, 2000, 45, NULL, 0));
	/* supplementary group */
	assert_true(allows(&acl, 2000, 5, (gid_t[]){ 7, 44 }, 2));
	assert_false(allows(&acl, 2000, 5, (gid_t[]){ 7, 46 }, 2));
	/* a uid equal to a listed gid is not a match */
	assert_false(allows(&acl, 44, 5, NULL, 0));
	kg_acl_finish(&acl);
	assert_int_equal(acl.n_uids, 0);
	kg_acl_finish(NULL);
}

static void test_names(void **state)
{
	struct kg_acl acl = { 0 };
	char err[128];

	assert_int_equal(kg_acl_add_users(&acl, "root", err, sizeof(err)), 0);
	assert_int_equal(kg_acl_add_groups(&acl, "root", err, sizeof(err)), 0);
	assert_int_equal(acl.uids[0], 0);
	assert_int_equal(acl.gids[0], 0);
	/* duplicates are dropped */
	assert_int_equal(kg_acl_add_users(&acl, "0 root", err, sizeof(err)), 0);
	assert_int_equal(acl.n_uids, 1);
	kg_acl_finish(&acl);
}

static void test_errors(void **state)
{
	struct kg_acl acl = { 0 };
	char err[128];
	char many[256 * 5 + 16] = "";

	assert_int_equal(kg_acl_add_users(&acl, "kg-nobody-here", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown user 'kg-nobody-here'"));
	assert_int_equal(kg_acl_add_groups(&acl, "kg-nogroup", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown group 'kg-nogroup'"));
	/* (uid_t)-1 means "no uid" to the kernel: never a valid entry. */
	assert_int_equal(kg_acl_add_users(&acl, "4294967295", err, sizeof(err)), -EINVAL);
	assert_int_equal(kg_acl_add_users(&acl, "99999999999999999999", err, sizeof(err)), -EINVAL);
	memset(many, 'a', 70);
	assert_int_equal(kg_acl_add_users(&acl, many, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too long"));
	many[0] = '\0';
	for (int i = 1; i <= 257; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%d ", i);
	assert_int_equal(kg_acl_add_users(&acl, many, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too many users"));
	kg_acl_finish(&acl);
}

static void test_copy(void **state)
{
	struct kg_acl a = { 0 }, b;
	char err[128];

	assert_int_equal(kg_acl_add_users(&a, "5 6", err, sizeof(err)), 0);
	assert_int_equal(kg_acl_copy(&b, &a), 0);
	kg_acl_finish(&a);
	assert_int_equal(b.n_uids, 2);
	assert_int_equal(b.uids[1], 6);
	assert_false(kg_acl_is_empty(&b));
	kg_acl_finish(&b);
	assert_true(kg_acl_is_empty(&b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_root_only),
		cmocka_unit_test(test_users_and_groups),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
