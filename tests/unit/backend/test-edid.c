// SPDX-License-Identifier: MIT
/* kg_edid_prefers: which EDIDs the KMS output replaces (pure byte logic; the
 * generator itself is checked in test-vgpu-headless.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "edid.h"

static void test_generated_edid_prefers_its_mode(void **state)
{
	uint8_t e[KG_EDID_SIZE];

	kg_edid_generate(e, 1024, 768, 60000);
	assert_true(kg_edid_prefers(e, sizeof(e), 1024, 768));
	assert_false(kg_edid_prefers(e, sizeof(e), 1920, 1080));
	assert_false(kg_edid_prefers(e, sizeof(e), 768, 1024));
	/* Sizes over 255 use the high nibbles. */
	kg_edid_generate(e, 3840, 2160, 30000);
	assert_true(kg_edid_prefers(e, sizeof(e), 3840, 2160));
	assert_false(kg_edid_prefers(e, sizeof(e), 3840 & 0xff, 2160 & 0xff));
}

static void test_short_or_missing_edid_prefers_nothing(void **state)
{
	uint8_t e[KG_EDID_SIZE];

	kg_edid_generate(e, 1024, 768, 60000);
	assert_false(kg_edid_prefers(NULL, 0, 1024, 768));
	assert_false(kg_edid_prefers(e, KG_EDID_SIZE - 1, 1024, 768));
}

static void test_display_descriptor_first_prefers_nothing(void **state)
{
	uint8_t e[KG_EDID_SIZE];

	/* A pixel clock of 0 makes the first descriptor a display descriptor:
	 * there is no preferred timing to match. */
	kg_edid_generate(e, 1024, 768, 60000);
	e[54] = 0;
	e[55] = 0;
	assert_false(kg_edid_prefers(e, sizeof(e), 1024, 768));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated_edid_prefers_its_mode),
		cmocka_unit_test(test_short_or_missing_edid_prefers_nothing),
		cmocka_unit_test(test_display_descriptor_first_prefers_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
