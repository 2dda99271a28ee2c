// SPDX-License-Identifier: MIT
/* Partitioning and validation against table-made devices. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fake-device.h"
#include "plan.h"

static struct kg_plan *build_ok(const struct kg_desc *desc, const char *text)
{
	struct kg_config *cfg = NULL;
	struct kg_plan *plan = NULL;
	char err[512] = "";

	if (text && kg_config_parse(text, &cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	if (kg_plan_build(desc, cfg, &plan, err, sizeof(err)) != 0)
		fail_msg("plan: %s", err);
	kg_config_destroy(cfg);
	return plan;
}

static void build_fails(const struct kg_desc *desc, const char *text, const char *want)
{
	struct kg_config *cfg = NULL;
	struct kg_plan *plan = (void *)1;
	char err[512] = "";

	if (kg_config_parse(text, &cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	assert_int_equal(kg_plan_build(desc, cfg, &plan, err, sizeof(err)), -EINVAL);
	assert_null(plan);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
	kg_config_destroy(cfg);
}

static void assert_planes(const struct kg_plan_pipeline *p, size_t n, const uint32_t *ids)
{
	assert_int_equal(p->n_planes, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p->plane_ids[i], ids[i]);
}

static void test_default_virtio(void **state)
{
	struct kg_desc d;
	struct kg_plan *plan;

	fake_virtio4(&d);
	plan = build_ok(&d, NULL);
	assert_int_equal(plan->n_pipelines, 4);
	for (size_t i = 0; i < 4; i++) {
		const struct kg_plan_pipeline *p = &plan->pipelines[i];
		uint32_t want[2] = { 300 + 10 * (uint32_t)i, 301 + 10 * (uint32_t)i };

		assert_string_equal(p->name, d.connectors[i].name);
		assert_int_equal(p->connector, i);
		assert_int_equal(p->crtc, i);
		assert_planes(p, 2, want);
		assert_true(p->mode.preferred);
		assert_true(kg_acl_is_empty(&p->acl));
		assert_int_equal(p->on_release, KG_RELEASE_KEEP);
	}
	kg_plan_destroy(plan);
	kg_desc_free(&d);
}

/* HDMI takes the lowest CRTC it can use (0) and the only cursor; LVDS gets
 * CRTC 1 without a cursor; DPI can only use CRTC 0, which is taken. */
static void test_default_shared(void **state)
{
	struct kg_desc d;
	struct kg_plan *plan;

	fake_rcar2(&d);
	plan = build_ok(&d, NULL);
	assert_int_equal(plan->n_pipelines, 2);
	assert_string_equal(plan->pipelines[0].name, "HDMI-A-1");
	assert_int_equal(plan->pipelines[0].crtc, 0);
	assert_planes(&plan->pipelines[0], 2, (uint32_t[]){ 300, 320 });
	assert_string_equal(plan->pipelines[1].name, "LVDS-1");
	assert_int_equal(plan->pipelines[1].crtc, 1);
	assert_planes(&plan->pipelines[1], 1, (uint32_t[]){ 301 });
	kg_plan_destroy(plan);
	kg_desc_free(&d);
}

/* The CRTC already driving a connector is kept for it. */
static void test_default_keeps_active_crtc(void **state)
{
	struct kg_desc d;
	struct kg_plan *plan;

	fake_rcar2(&d);
	d.connectors[0].cur_crtc = 1;
	plan = build_ok(&d, NULL);
	assert_int_equal(plan->n_pipelines, 2);
	assert_string_equal(plan->pipelines[0].name, "HDMI-A-1");
	assert_int_equal(plan->pipelines[0].crtc, 1);
	assert_string_equal(plan->pipelines[1].name, "DPI-1");
	assert_int_equal(plan->pipelines[1].crtc, 0);
	kg_plan_destroy(plan);
	kg_desc_free(&d);
}

/* A file with only [broker] partitions by default with its settings. */
static void test_default_with_broker_section(void **state)
{
	struct kg_desc d;
	struct kg_plan *plan;

	fake_virtio4(&d);
	plan = build_ok(&d, "[broker]\nallow-users = 1234\non-release = blank\n");
	assert_int_equal(plan->n_pipelines, 4);
	assert_int_equal(plan->pipelines[3].acl.n_uids, 1);
	assert_int_equal(plan->pipelines[3].acl.uids[0], 1234);
	assert_int_equal(plan->pipelines[3].on_release, KG_RELEASE_BLANK);
	kg_plan_destroy(plan);
	kg_desc_free(&d);
}

static void test_config_ok(void **state)
{
	struct kg_desc d;
	struct kg_plan *plan;

	fake_rcar2(&d);
	/* b names CRTC 0 explicitly, so a's auto CRTC must avoid it; a's
	 * "overlays" takes what b did not name (312). */
	plan = build_ok(&d, "[broker]\nallow-groups = 55\n"
			    "[a]\nconnector = HDMI-A-1\nplanes = overlays primary\n"
			    "mode = 1024x768\nallow-users = 9\non-release = blank\n"
			    "[b]\nconnector = DPI-1\ncrtc = 0\nplanes = primary, 312, cursor\n");
	assert_int_equal(plan->n_pipelines, 2);
	assert_string_equal(plan->pipelines[0].name, "a");
	assert_int_equal(plan->pipelines[0].crtc, 1);
	assert_planes(&plan->pipelines[0], 4, (uint32_t[]){ 301, 310, 311, 313 });
	assert_false(plan->pipelines[0].mode.preferred);
	assert_int_equal(plan->pipelines[0].mode.width, 1024);
	assert_int_equal(plan->pipelines[0].acl.n_uids, 1);
	assert_int_equal(plan->pipelines[0].acl.n_gids, 0);
	assert_int_equal(plan->pipelines[0].on_release, KG_RELEASE_BLANK);
	assert_int_equal(plan->pipelines[1].crtc, 0);
	assert_int_equal(plan->pipelines[1].connector, 2);
	assert_planes(&plan->pipelines[1], 3, (uint32_t[]){ 300, 312, 320 });
	assert_int_equal(plan->pipelines[1].acl.n_gids, 1);
	assert_int_equal(plan->pipelines[1].acl.gids[0], 55);
	assert_int_equal(plan->pipelines[1].on_release, KG_RELEASE_KEEP);
	kg_plan_destroy(plan);
	kg_desc_free(&d);
}

static void test_config_errors(void **state)
{
	struct kg_desc d;

	fake_rcar2(&d);
	build_fails(
		&d, "[a]\nconnector = HDMI-A-2\n",
		"pipeline 'a': unknown connector 'HDMI-A-2' (this device has: HDMI-A-1, LVDS-1, DPI-1)");
	build_fails(&d, "[a]\nconnector = LVDS-1\n[b]\nconnector = LVDS-1\n",
		    "connector LVDS-1 is in two pipelines: 'a' and 'b'");
	build_fails(&d, "[a]\nconnector = HDMI-A-1\ncrtc = 2\n",
		    "pipeline 'a': CRTC 2 does not exist (this device has 2)");
	build_fails(&d, "[a]\nconnector = LVDS-1\ncrtc = 0\n",
		    "pipeline 'a': CRTC 0 cannot drive connector LVDS-1");
	build_fails(&d, "[a]\nconnector = HDMI-A-1\ncrtc = 1\n[b]\nconnector = LVDS-1\ncrtc = 1\n",
		    "CRTC 1 is in two pipelines: 'a' and 'b'");
	build_fails(&d, "[a]\nconnector = HDMI-A-1\ncrtc = 0\n[b]\nconnector = DPI-1\n",
		    "pipeline 'b': no free CRTC can drive connector DPI-1");
	build_fails(&d, "[a]\nconnector = HDMI-A-1\nplanes = primary 399\n",
		    "pipeline 'a': unknown plane id 399");
	build_fails(&d,
		    "[a]\nconnector = HDMI-A-1\nplanes = primary 311\n"
		    "[b]\nconnector = LVDS-1\nplanes = primary 311\n",
		    "plane 311 is in two pipelines: 'a' and 'b'");
	build_fails(&d, "[a]\nconnector = LVDS-1\nplanes = primary 320\n",
		    "pipeline 'a': plane 320 cannot be used on CRTC 1");
	build_fails(&d, "[a]\nconnector = LVDS-1\nplanes = primary cursor\n",
		    "pipeline 'a': no free cursor plane can be used on CRTC 1");
	build_fails(&d, "[a]\nconnector = LVDS-1\nplanes = cursor primary\n",
		    "pipeline 'a': no free cursor plane can be used on CRTC 1");
	/* Object ids of another type are not planes. */
	build_fails(&d, "[a]\nconnector = HDMI-A-1\nplanes = primary 200\n",
		    "unknown plane id 200");
	kg_desc_free(&d);
}

/* The only primary plane for CRTC 0 is named as an extra plane by a pipeline
 * on CRTC 1... which cannot use it, so a pipeline sharing the primary with
 * nothing left needs a device whose primaries are shared. */
static void test_no_free_primary(void **state)
{
	struct kg_desc d;

	fake_rcar2(&d);
	d.planes[1].possible_crtcs = 0x3; /* 301 usable on both, 300 only on 0 */
	build_fails(&d,
		    "[a]\nconnector = HDMI-A-1\ncrtc = 0\nplanes = primary 301\n"
		    "[b]\nconnector = LVDS-1\n",
		    "pipeline 'b': no free primary plane can be used on CRTC 1");
	kg_desc_free(&d);
}

/* Without a planes key the cursor is taken only where there is one. */
static void test_default_planes_without_cursor(void **state)
{
	struct kg_desc d;
	struct kg_plan *plan;

	fake_rcar2(&d);
	plan = build_ok(&d, "[a]\nconnector = HDMI-A-1\n[b]\nconnector = LVDS-1\n");
	assert_planes(&plan->pipelines[0], 2, (uint32_t[]){ 300, 320 });
	assert_planes(&plan->pipelines[1], 1, (uint32_t[]){ 301 });
	kg_plan_destroy(plan);
	kg_desc_free(&d);
}

static void test_pick_mode(void **state)
{
	struct kg_desc d;
	struct kg_mode_spec spec;
	struct kg_desc_connector *c;

	fake_virtio4(&d);
	c = &d.connectors[0];
	assert_true(kg_mode_spec_parse("preferred", &spec));
	assert_int_equal(kg_plan_pick_mode(c, &spec), 0);
	assert_true(kg_mode_spec_parse("1024x768", &spec));
	assert_int_equal(kg_plan_pick_mode(c, &spec), 1);
	assert_true(kg_mode_spec_parse("1024x768@75", &spec));
	assert_int_equal(kg_plan_pick_mode(c, &spec), 2);
	assert_true(kg_mode_spec_parse("1024x768@50", &spec));
	assert_int_equal(kg_plan_pick_mode(c, &spec), -1);
	assert_true(kg_mode_spec_parse("640x480", &spec));
	assert_int_equal(kg_plan_pick_mode(c, &spec), -1);
	/* No preferred flag: the first mode. No modes: nothing. */
	c->modes[0].type = DRM_MODE_TYPE_DRIVER;
	assert_true(kg_mode_spec_parse("preferred", &spec));
	assert_int_equal(kg_plan_pick_mode(c, &spec), 0);
	c->modes[2].type |= DRM_MODE_TYPE_PREFERRED;
	assert_int_equal(kg_plan_pick_mode(c, &spec), 2);
	assert_int_equal(kg_plan_pick_mode(&d.connectors[1], &spec), -1);
	kg_desc_free(&d);
}

static void test_empty_device(void **state)
{
	struct kg_desc d = { 0 };
	struct kg_plan *plan = build_ok(&d, NULL);

	assert_int_equal(plan->n_pipelines, 0);
	kg_plan_destroy(plan);
	build_fails(&d, "[a]\nconnector = X\n", "(this device has: none)");
}

static const char *example_path;

/* The example config in the tree parses and fits an R-Car-like device. */
static void test_example_config(void **state)
{
	struct kg_config *cfg;
	struct kg_desc d;
	struct kg_plan *plan;
	char err[512];

	if (kg_config_load(example_path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	fake_rcar2(&d);
	if (kg_plan_build(&d, cfg, &plan, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(plan->n_pipelines, 2);
	assert_string_equal(plan->pipelines[0].name, "cluster");
	assert_int_equal(plan->pipelines[0].crtc, 1);
	assert_string_equal(plan->pipelines[1].name, "infotainment");
	assert_planes(&plan->pipelines[1], 5, (uint32_t[]){ 300, 310, 311, 312, 313 });
	kg_plan_destroy(plan);
	kg_config_destroy(cfg);
	kg_desc_free(&d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_virtio),
		cmocka_unit_test(test_default_shared),
		cmocka_unit_test(test_default_keeps_active_crtc),
		cmocka_unit_test(test_default_with_broker_section),
		cmocka_unit_test(test_config_ok),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_no_free_primary),
		cmocka_unit_test(test_default_planes_without_cursor),
		cmocka_unit_test(test_pick_mode),
		cmocka_unit_test(test_empty_device),
		cmocka_unit_test(test_example_config),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: test-broker-plan PATH-TO-kmsgate.conf.example\n");
		return 2;
	}
	example_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
