// SPDX-License-Identifier: MIT
/* Config parsing: every accepted key, and every error with its message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conffile.h"

static struct kg_config *parse_ok(const char *text)
{
	struct kg_config *cfg = NULL;
	char err[256] = "";
	int ret = kg_config_parse(text, &cfg, err, sizeof(err));

	if (ret != 0)
		fail_msg("unexpected error %d: %s", ret, err);
	assert_non_null(cfg);
	return cfg;
}

/* The parse must fail, and the message must contain want (and, when line
 * is not 0, start with "line <line>:"). */
static void parse_fails(const char *text, int line, const char *want)
{
	struct kg_config *cfg = (void *)1;
	char err[256] = "";
	char prefix[32];

	assert_int_equal(kg_config_parse(text, &cfg, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
	if (line) {
		snprintf(prefix, sizeof(prefix), "line %d:", line);
		if (strncmp(err, prefix, strlen(prefix)) != 0)
			fail_msg("error '%s' does not start with '%s'", err, prefix);
	}
}

static void test_full(void **state)
{
	struct kg_config *cfg = parse_ok("[broker]\n"
					 "allow-users = root, 4242\n"
					 "allow-groups = 77\n"
					 "admin-users = 5\n"
					 "admin-groups = root\n"
					 "on-release = blank\n"
					 "\n"
					 "; a comment\n"
					 "[left]\n"
					 "connector = HDMI-A-1\n"
					 "crtc = 1\n"
					 "planes = primary, cursor overlays,42\n"
					 "mode = 1920x1080@60\n"
					 "allow-users = 1001\n"
					 "on-release = keep\n"
					 "[right.2]\n"
					 "connector = Virtual-2\n");
	struct kg_config_pipeline *l = &cfg->pipelines[0], *r = &cfg->pipelines[1];

	assert_int_equal(cfg->n_pipelines, 2);
	assert_int_equal(cfg->allow.n_uids, 2);
	assert_int_equal(cfg->allow.uids[0], 0);
	assert_int_equal(cfg->allow.uids[1], 4242);
	assert_int_equal(cfg->allow.n_gids, 1);
	assert_int_equal(cfg->allow.gids[0], 77);
	assert_int_equal(cfg->admin.uids[0], 5);
	assert_int_equal(cfg->admin.gids[0], 0);
	assert_int_equal(cfg->on_release, KG_RELEASE_BLANK);

	assert_string_equal(l->name, "left");
	assert_string_equal(l->connector, "HDMI-A-1");
	assert_int_equal(l->crtc_index, 1);
	assert_int_equal(l->n_planes, 4);
	assert_int_equal(l->planes[0].kind, KG_PLANE_REF_PRIMARY);
	assert_int_equal(l->planes[1].kind, KG_PLANE_REF_CURSOR);
	assert_int_equal(l->planes[2].kind, KG_PLANE_REF_OVERLAYS);
	assert_int_equal(l->planes[3].kind, KG_PLANE_REF_ID);
	assert_int_equal(l->planes[3].id, 42);
	assert_false(l->mode.preferred);
	assert_int_equal(l->mode.width, 1920);
	assert_int_equal(l->mode.height, 1080);
	assert_int_equal(l->mode.refresh, 60);
	assert_true(l->has_acl);
	assert_int_equal(l->acl.uids[0], 1001);
	assert_int_equal(l->on_release, KG_RELEASE_KEEP);

	/* Defaults: auto CRTC, primary + cursor, preferred mode, [broker]'s
	 * on-release, no own ACL. */
	assert_string_equal(r->name, "right.2");
	assert_int_equal(r->crtc_index, -1);
	assert_int_equal(r->n_planes, 2);
	assert_true(r->mode.preferred);
	assert_false(r->has_acl);
	assert_int_equal(r->on_release, KG_RELEASE_BLANK);
	kg_config_destroy(cfg);
}

static void test_empty(void **state)
{
	struct kg_config *cfg = parse_ok("");

	assert_int_equal(cfg->n_pipelines, 0);
	assert_int_equal(cfg->on_release, KG_RELEASE_KEEP);
	kg_config_destroy(cfg);
	cfg = parse_ok("[broker]\nallow-groups = 44\n");
	assert_int_equal(cfg->n_pipelines, 0);
	assert_int_equal(cfg->allow.gids[0], 44);
	kg_config_destroy(cfg);
}

static void test_errors(void **state)
{
	parse_fails("connector = X\n", 1, "outside any section");
	parse_fails("[a]\nconnector = X\ncolour = red\n", 3, "unknown key 'colour' in section [a]");
	parse_fails("[broker]\nfoo = 1\n", 2, "unknown key 'foo' in section [broker]");
	parse_fails("[a]\nconnector = X\nconnector = Y\n", 3, "'connector' is set twice");
	parse_fails("[broker]\nallow-users=1\nallow-users=2\n", 3, "'allow-users' is set twice");
	parse_fails("[a]\nconnector = X\n[b]\nconnector = Y\n[a]\nmode = preferred\n", 6,
		    "section [a] appears twice");
	parse_fails("[a b]\nconnector = X\n", 2, "pipeline name is 1-31 characters");
	parse_fails("[a/b]\nconnector = X\n", 2, "pipeline name");
	parse_fails("[abcdefghijabcdefghijabcdefghijab]\nconnector = X\n", 2, "pipeline name");
	parse_fails("[a]\ncrtc = 1\n", 0, "section [a]: 'connector' is missing");
	parse_fails("[a]\nconnector = \n", 2, "is not a connector name");
	parse_fails("[a]\nconnector = abcdefghijabcdefghijabcdefghijabc\n", 2,
		    "is not a connector name");
	parse_fails("[a]\nconnector = X\ncrtc = one\n", 3,
		    "crtc: 'one' is not auto or a CRTC index");
	parse_fails("[a]\nconnector = X\ncrtc = -1\n", 3, "crtc: '-1'");
	parse_fails("[a]\nconnector = X\ncrtc = 32\n", 3, "crtc: '32'");
	parse_fails("[a]\nconnector = X\nplanes = cursor\n", 3, "must include primary");
	parse_fails("[a]\nconnector = X\nplanes = primary, sprite\n", 3,
		    "'sprite' is not primary, cursor, overlays or a plane id");
	parse_fails("[a]\nconnector = X\nplanes = primary, 0\n", 3, "'0' is not primary");
	parse_fails("[a]\nconnector = X\nplanes = primary, 4294967296\n", 3, "'4294967296' is not");
	parse_fails("[a]\nconnector = X\nplanes = primary, 7, 7\n", 3, "'7' is listed twice");
	parse_fails("[a]\nconnector = X\nplanes = primary primary\n", 3, "listed twice");
	parse_fails("[a]\nconnector = X\nplanes = primary 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		    3, "more than 16 entries");
	parse_fails("[a]\nconnector = X\non-release = maybe\n", 3, "'maybe' is not keep or blank");
	parse_fails("[broker]\non-release = 1\n", 2, "not keep or blank");
	parse_fails("[a]\nconnector = X\nallow-users = kg-no-such-user\n", 3,
		    "allow-users: unknown user 'kg-no-such-user'");
	parse_fails("[a]\nconnector = X\nallow-groups = kg-no-such-group\n", 3,
		    "allow-groups: unknown group 'kg-no-such-group'");
	parse_fails("[broker]\nadmin-users = kg-no-such-user\n", 2, "unknown user");
	parse_fails("[a\nconnector = X\n", 1, "syntax error");
	parse_fails("[a]\nconnector X\n", 2, "syntax error");
}

static void test_mode_errors(void **state)
{
	static const char *const bad[] = {
		"",	 "1024",   "1024x",	    "x768",	     "1024x768@", "1024x768@0",
		"0x768", "1024x0", "16385x100",	    "1024x768@1001", "1024x768x", "1024 x 768",
		"-1x5",	 "pref",   "1024x768@60Hz", "99999999999x1",
	};
	char text[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kg_mode_spec spec;

		if (kg_mode_spec_parse(bad[i], &spec))
			fail_msg("'%s' was accepted as a mode", bad[i]);
		if (bad[i][0] == '\0')
			continue;
		snprintf(text, sizeof(text), "[a]\nconnector = X\nmode = %s\n", bad[i]);
		parse_fails(text, 3, "is not preferred, WxH or WxH@Hz");
	}
}

static void test_mode_ok(void **state)
{
	struct kg_mode_spec spec;

	assert_true(kg_mode_spec_parse("preferred", &spec));
	assert_true(spec.preferred);
	assert_true(kg_mode_spec_parse("800x600", &spec));
	assert_false(spec.preferred);
	assert_int_equal(spec.width, 800);
	assert_int_equal(spec.height, 600);
	assert_int_equal(spec.refresh, 0);
	assert_true(kg_mode_spec_parse("16384x16384@1000", &spec));
	assert_int_equal(spec.refresh, 1000);
}

static void test_too_many_pipelines(void **state)
{
	size_t cap = (KG_CONFIG_MAX_PIPELINES + 2) * 32;
	char *text = malloc(cap);
	size_t off = 0;

	for (int i = 0; i <= KG_CONFIG_MAX_PIPELINES; i++)
		off += (size_t)snprintf(text + off, cap - off, "[p%d]\nconnector = C%d\n", i, i);
	parse_fails(text, 2 * KG_CONFIG_MAX_PIPELINES + 2, "more than 64 pipelines");
	free(text);
}

static void test_load(void **state)
{
	char path[] = "/tmp/kg-test-config-XXXXXX";
	struct kg_config *cfg;
	char err[512];
	int fd = mkstemp(path);
	const char text[] = "[p]\nconnector = Virtual-1\nmode = bad\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(kg_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 3: mode"));
	unlink(path);
	assert_int_equal(kg_config_load(path, &cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(kg_config_load("/tmp", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),	cmocka_unit_test(test_empty),
		cmocka_unit_test(test_errors),	cmocka_unit_test(test_mode_errors),
		cmocka_unit_test(test_mode_ok), cmocka_unit_test(test_too_many_pipelines),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
