// SPDX-License-Identifier: MIT
/* Which change uevents of the card make the broker re-probe its connectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "uevent.h"

static void test_hotplug_reprobes(void **state)
{
	assert_true(kg_uevent_wants_reprobe("1", NULL));
	/* A hotplug never is skipped, whatever else the event carries. */
	assert_true(kg_uevent_wants_reprobe("1", "1"));
}

static void test_lease_end_alone_does_not(void **state)
{
	assert_false(kg_uevent_wants_reprobe(NULL, "1"));
}

static void test_other_changes_reprobe(void **state)
{
	/* No property we know (e.g. RESET=1 of a wedged device), or a LEASE
	 * value the kernel does not send: re-probe, as before. */
	assert_true(kg_uevent_wants_reprobe(NULL, NULL));
	assert_true(kg_uevent_wants_reprobe(NULL, "0"));
	assert_true(kg_uevent_wants_reprobe(NULL, ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hotplug_reprobes),
		cmocka_unit_test(test_lease_end_alone_does_not),
		cmocka_unit_test(test_other_changes_reprobe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
