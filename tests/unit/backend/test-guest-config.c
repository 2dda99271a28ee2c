// SPDX-License-Identifier: MIT
/*
 * kmsgate-vgpu's guest settings (vgpu.conf): the options each section gives,
 * every error with its line, and how a back-end libvirt started finds its
 * section: libvirt's pidfile among the open fds, names cut to 20 characters,
 * device aliases.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdcount.h"
#include "guest-config.h"

static struct kg_gcfg *parse_ok(const char *text)
{
	struct kg_gcfg *cfg = NULL;
	char err[256] = "";
	int ret = kg_gcfg_parse(text, &cfg, err, sizeof(err));

	if (ret != 0)
		fail_msg("unexpected error %d: %s", ret, err);
	assert_non_null(cfg);
	return cfg;
}

/* The parse must fail with "line <line>: ..." containing want. */
static void parse_fails(const char *text, int line, const char *want)
{
	struct kg_gcfg *cfg = (void *)1;
	char err[256] = "";
	char prefix[32];

	assert_int_equal(kg_gcfg_parse(text, &cfg, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
	snprintf(prefix, sizeof(prefix), "line %d:", line);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, prefix);
}

/* The guest's options joined by spaces. */
static void args_equal(const struct kg_gcfg *cfg, const char *guest, const char *want)
{
	const struct kg_gcfg_guest *g = guest ? kg_gcfg_find(cfg, guest) : NULL;
	const char *args[32];
	char got[512] = "";
	size_t n;

	if (guest)
		assert_non_null(g);
	n = kg_gcfg_args(cfg, g, args, 32);
	assert_true(n <= 32);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(got, " ");
		strcat(got, args[i]);
	}
	assert_string_equal(got, want);
}

static void test_sections_to_options(void **state)
{
	struct kg_gcfg *cfg = parse_ok("; libvirt guests\n"
				       "[defaults]\n"
				       "log-file = /var/log/kmsgate/vgpu.log\n"
				       "fifo = yes\n"
				       "stats = /run/kmsgate/stats.json\n"
				       "\n"
				       "[guest left-dash]\n"
				       "output = kms\n"
				       "broker = /run/kmsgate/broker.sock\n"
				       "pipeline = HDMI-A-1,DP-1\n"
				       "fifo = no\n"
				       "\n"
				       "[guest test vm]\n"
				       "output = headless\n"
				       "headless-size = 800x600\n"
				       "png-dir = /tmp/png\n"
				       "gles = on\n"
				       "log-level = debug\n");

	/* Defaults first, minus what the guest sets (fifo = no drops --fifo),
	 * then the guest's, in file order. */
	args_equal(cfg, "left-dash",
		   "--log-file=/var/log/kmsgate/vgpu.log --stats=/run/kmsgate/stats.json "
		   "--output=kms --broker=/run/kmsgate/broker.sock --pipeline=HDMI-A-1,DP-1");
	args_equal(cfg, "test vm",
		   "--log-file=/var/log/kmsgate/vgpu.log --fifo --stats=/run/kmsgate/stats.json "
		   "--output=headless --headless-size=800x600 --png-dir=/tmp/png --gles "
		   "--log-level=debug");
	args_equal(cfg, NULL,
		   "--log-file=/var/log/kmsgate/vgpu.log --fifo --stats=/run/kmsgate/stats.json");
	assert_string_equal(kg_gcfg_guest_name(kg_gcfg_find(cfg, "test vm")), "test vm");
	assert_null(kg_gcfg_find(cfg, "test"));
	kg_gcfg_destroy(cfg);

	cfg = parse_ok("");
	args_equal(cfg, NULL, "");
	kg_gcfg_destroy(cfg);
	kg_gcfg_destroy(NULL);
}

/* Every key a section may set, and that max caps what is stored. */
static void test_every_key(void **state)
{
	struct kg_gcfg *cfg = parse_ok("[guest g]\n"
				       "output = kms\ndevice = /dev/dri/card1\nconnector = DP-1\n"
				       "broker = /b\npipeline = p\nheadless-size = 1x1\n"
				       "headless-scanouts = 2\npng-dir = /p\nstats = /s\n"
				       "max-resource-mb = 64\nfifo = true\ngles = 1\n"
				       "log-level = warn\nlog-file = /l\n");
	const char *args[3] = { NULL, NULL, NULL };

	assert_int_equal(kg_gcfg_args(cfg, kg_gcfg_find(cfg, "g"), args, 2), 14);
	assert_string_equal(args[0], "--output=kms");
	assert_string_equal(args[1], "--device=/dev/dri/card1");
	assert_null(args[2]);
	kg_gcfg_destroy(cfg);
}

static void test_errors(void **state)
{
	parse_fails("[guest a]\noutput = kms\nsocket-path = /x\n", 3,
		    "unknown key 'socket-path' in section [guest a]");
	/* libvirt decides 3D and the render node (<acceleration>). */
	parse_fails("[guest a]\nvirgl = yes\n", 2, "unknown key 'virgl'");
	parse_fails("[guest a]\nrender-node = /dev/dri/renderD128\n", 2,
		    "unknown key 'render-node'");
	parse_fails("[guest a]\noutput = kms\noutput = headless\n", 3,
		    "'output' is set twice in section [guest a]");
	parse_fails("[guest a]\nfifo = maybe\n", 2, "fifo: 'maybe' is not yes or no");
	parse_fails("[guest a]\noutput =\n", 2, "'output' has no value");
	parse_fails("[guest a]\noutput\n", 2, "syntax error");
	parse_fails("output = kms\n", 1, "'output' is outside any section");
	parse_fails("[vm]\noutput = kms\n", 2, "unknown section [vm]: [defaults] or [guest NAME]");
	parse_fails("[guest]\noutput = kms\n", 2, "a guest section is [guest NAME]");
	parse_fails("[guest a/b]\noutput = kms\n", 2, "a guest section is [guest NAME]");
	parse_fails("[guest a]\noutput = kms\n[guest b]\noutput = kms\n[guest a]\nfifo = no\n", 6,
		    "section [guest a] appears twice");
	parse_fails("[defaults]\nfifo = no\n[guest a]\nfifo = no\n[defaults]\ngles = no\n", 6,
		    "section [defaults] appears twice");
	/* A syntax error before the handler's first complaint is the one reported. */
	parse_fails("[guest a\noutput = kms\nbogus = 1\n", 1, "syntax error");
}

static void test_too_many_guests(void **state)
{
	size_t len = 300 * 32;
	char *text = malloc(len);
	size_t off = 0;

	assert_non_null(text);
	for (int i = 0; i < 300; i++)
		off += (size_t)snprintf(text + off, len - off, "[guest g%d]\nfifo = no\n", i);
	parse_fails(text, 2 * 256 + 2, "more than 256 guest sections");
	free(text);
}

/* kg_gcfg_find_libvirt must pick g, or fail with ret and a message containing want. */
static void libvirt_finds(const struct kg_gcfg *cfg, const char *stem, const char *want_guest,
			  int ret, const char *want)
{
	const struct kg_gcfg_guest *g = (void *)1;
	char err[512] = "";

	int got = kg_gcfg_find_libvirt(cfg, stem, &g, err, sizeof(err));

	if (got != ret)
		fail_msg("'%s': %d, not %d (%s)", stem, got, ret, err);
	if (ret == 0) {
		assert_non_null(g);
		assert_string_equal(kg_gcfg_guest_name(g), want_guest);
		return;
	}
	assert_null(g);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_libvirt_names(void **state)
{
	struct kg_gcfg *cfg =
		parse_ok("[guest a]\nfifo = no\n"
			 "[guest a-b]\nfifo = no\n"
			 "[guest guest-with-a-long-name]\nfifo = no\n"
			 "[guest aaaaaaaaaaaaaaaaaaaa-1]\nfifo = no\n"
			 "[guest aaaaaaaaaaaaaaaaaaaa-2]\nfifo = no\n"
			 "[guest h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9"
			 "h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9-end]\nfifo = no\n");

	libvirt_finds(cfg, "1-a-video0", "a", 0, NULL);
	/* Both "a" (alias "b-video0") and "a-b" start the stem: only "a-b" leaves
	 * an alias libvirt gives (videoN, or ua-... from the user). */
	libvirt_finds(cfg, "12-a-b-video1", "a-b", 0, NULL);
	libvirt_finds(cfg, "3-a-ua-my-gpu", "a", 0, NULL);
	/* libvirt cut the name to 20 characters. */
	libvirt_finds(cfg, "4-guest-with-a-long-na-video0", "guest-with-a-long-name", 0, NULL);
	/* 20 characters, not bytes, of a name with multibyte characters (libvirt
	 * in a UTF-8 locale), and 20 bytes (a locale that cannot decode it). */
	libvirt_finds(cfg,
		      "5-h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9"
		      "h\xc3\xa9h\xc3\xa9h\xc3\xa9-video0",
		      "h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h"
		      "\xc3\xa9h\xc3\xa9-end",
		      0, NULL);
	libvirt_finds(cfg, "5-h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3-video0",
		      "h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h\xc3\xa9h"
		      "\xc3\xa9h\xc3\xa9-end",
		      0, NULL);
	libvirt_finds(
		cfg, "6-aaaaaaaaaaaaaaaaaaaa-video0", NULL, -EINVAL,
		"both [guest aaaaaaaaaaaaaaaaaaaa-1] and [guest aaaaaaaaaaaaaaaaaaaa-2] match");
	libvirt_finds(cfg, "7-b-video0", NULL, -ENOENT, "no [guest NAME] section matches");
	libvirt_finds(cfg, "7-a-b", NULL, -ENOENT, "no [guest NAME] section matches");
	libvirt_finds(cfg, "7-a-video", NULL, -ENOENT, "no [guest NAME] section matches");
	libvirt_finds(cfg, "a-video0", NULL, -EINVAL, "is not libvirt's <id>-<name>-<alias>");
	kg_gcfg_destroy(cfg);
}

/* The pidfile libvirt leaves open in the back-end names the domain. */
static void test_libvirt_pidfile(void **state)
{
	char dir[] = "/tmp/kg-test-gcfg-XXXXXX";
	char p1[128], p2[128], stem[64], path[256];
	int fds0 = kg_test_fd_count();
	int fd1, fd2;

	assert_non_null(mkdtemp(dir));
	snprintf(p1, sizeof(p1), "%s/2-kg-libvirt-video0-vhost-user-gpu.pid", dir);
	snprintf(p2, sizeof(p2), "%s/3-other-video0-vhost-user-gpu.pid", dir);
	assert_int_equal(kg_gcfg_libvirt_stem("/proc/self/fd", stem, sizeof(stem), NULL, 0),
			 -ENOENT);
	/* Write-only, as libvirt opens it. */
	fd1 = open(p1, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd1 >= 0);
	assert_int_equal(
		kg_gcfg_libvirt_stem("/proc/self/fd", stem, sizeof(stem), path, sizeof(path)), 0);
	assert_string_equal(stem, "2-kg-libvirt-video0");
	assert_string_equal(path, p1);
	fd2 = open(p2, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd2 >= 0);
	assert_int_equal(kg_gcfg_libvirt_stem("/proc/self/fd", stem, sizeof(stem), NULL, 0),
			 -E2BIG);
	assert_int_equal(kg_gcfg_libvirt_stem("/nonexistent", stem, sizeof(stem), NULL, 0),
			 -ENOENT);
	close(fd1);
	close(fd2);
	unlink(p1);
	unlink(p2);
	rmdir(dir);
	assert_int_equal(kg_test_fd_count(), fds0);
}

static void test_load(void **state)
{
	char path[] = "/tmp/kg-test-gcfg-XXXXXX";
	struct kg_gcfg *cfg = (void *)1;
	char err[512] = "";
	int fds0 = kg_test_fd_count();
	int fd = mkstemp(path);
	const char text[] = "[guest x]\noutput = headless\nbogus = 1\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(kg_gcfg_load(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 3: unknown key 'bogus'"));
	unlink(path);
	assert_int_equal(kg_gcfg_load(path, &cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(kg_gcfg_load("/tmp", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(kg_test_fd_count(), fds0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sections_to_options),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_too_many_guests),
		cmocka_unit_test(test_libvirt_names),
		cmocka_unit_test(test_libvirt_pidfile),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
