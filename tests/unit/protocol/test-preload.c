// SPDX-License-Identifier: MIT
/* libkmsgate-preload.so redirects opens of the lease's device node, and only
 * those. /dev/null stands in for the DRM device: the shim matches by device
 * number, so the logic is the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec-probe.h"

/* Runs the probe with LD_PRELOAD and KMSGATE_LEASE_FD=lease_env; returns its
 * exit status. */
static int run_probe(const char *lease_env, const char *expect)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		/* In a sanitizer build the shim carries ASan too, and ASan insists
		 * on coming first; the order does not matter for this probe. */
		setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1);
		setenv("LD_PRELOAD", getenv("KG_PRELOAD_SO"), 1);
		if (lease_env)
			setenv("KMSGATE_LEASE_FD", lease_env, 1);
		else
			unsetenv("KMSGATE_LEASE_FD");
		execl(getenv("KG_PROBE"), "preload-probe", expect, (char *)NULL);
		_exit(99);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_redirects_the_lease_device(void **state)
{
	int fd = open("/dev/null", O_WRONLY | O_APPEND); /* inherited: no CLOEXEC */
	char num[16];

	assert_true(fd >= 0);
	snprintf(num, sizeof(num), "%d", fd);
	assert_int_equal(run_probe(num, "redirect"), 0);
	close(fd);
}

static void test_without_lease_nothing_changes(void **state)
{
	assert_int_equal(run_probe(NULL, "plain"), 0);
}

static void test_bad_lease_fd_is_ignored(void **state)
{
	int fd = open("/proc/self/status", O_RDONLY); /* not a device */
	char num[16];

	assert_true(fd >= 0);
	snprintf(num, sizeof(num), "%d", fd);
	assert_int_equal(run_probe(num, "plain"), 0);
	close(fd);
	assert_int_equal(run_probe("12abc", "plain"), 0);
	assert_int_equal(run_probe("999", "plain"), 0); /* not open */
}

/* The probe must be able to see a failure: without the shim it fails. */
static void test_probe_detects_missing_redirect(void **state)
{
	int fd = open("/dev/null", O_WRONLY | O_APPEND);
	char num[16];

	snprintf(num, sizeof(num), "%d", fd);
	setenv("KG_PRELOAD_SO_SAVED", getenv("KG_PRELOAD_SO"), 1);
	setenv("KG_PRELOAD_SO", "", 1);
	assert_int_equal(run_probe(num, "redirect"), 1);
	setenv("KG_PRELOAD_SO", getenv("KG_PRELOAD_SO_SAVED"), 1);
	close(fd);
}

int main(void)
{
	int err;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redirects_the_lease_device),
		cmocka_unit_test(test_without_lease_nothing_changes),
		cmocka_unit_test(test_bad_lease_fd_is_ignored),
		cmocka_unit_test(test_probe_detects_missing_redirect),
	};
	if (!getenv("KG_PRELOAD_SO") || !getenv("KG_PROBE")) {
		fprintf(stderr, "KG_PRELOAD_SO and KG_PROBE must be set (meson test does)\n");
		return 1;
	}
	/* In the arm64 cross run this test runs under qemu-user and execs arm64
	 * programs of the build: the kernel runs them only when qemu-aarch64 is
	 * registered with binfmt_misc (tools/install-deps). Meson counts 77 as
	 * skipped, and tests/run fails on a skip it does not expect. */
	err = kg_test_exec_errno(getenv("KG_PROBE"));
	if (err == ENOEXEC) {
		fprintf(stderr,
			"skipped: the kernel cannot exec %s (ENOEXEC): register qemu-aarch64 "
			"with binfmt_misc (tools/install-deps)\n",
			getenv("KG_PROBE"));
		return 77;
	}
	if (err) {
		fprintf(stderr, "cannot exec %s: %s\n", getenv("KG_PROBE"),
			err > 0 ? strerror(err) : "probe failed");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
