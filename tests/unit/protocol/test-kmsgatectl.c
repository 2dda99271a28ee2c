// SPDX-License-Identifier: MIT
/* The kmsgatectl binary against a scripted fake broker: run's environment,
 * exit status and release, revoke while running, refusals, list --json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

#include "fake-server.h"
#include "samples.h"

/* Runs kmsgatectl --socket PATH args...; its stdout+stderr go to out.
 * Returns the exit status (or 1000 + signal). */
static int run_ctl(const char *sock, const char *const *args, char *out, size_t n)
{
	const char *argv[32] = { "kmsgatectl", "--socket", sock };
	int p[2], status;
	size_t len = 0, i;
	ssize_t r;
	pid_t pid;

	for (i = 0; args[i] && i < 28; i++)
		argv[3 + i] = args[i];
	argv[3 + i] = NULL;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(getenv("KG_KMSGATECTL"), (char **)argv);
		_exit(99);
	}
	close(p[1]);
	while (len + 1 < n && (r = read(p[0], out + len, n - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = 0;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

struct run_script {
	bool revoke;   /* send EV_REVOKED after the lease */
	bool refuse;   /* answer ACQUIRE with ERROR BUSY */
	bool released; /* out: a RELEASE came */
};

static int script_run(int fd, void *arg)
{
	struct run_script *rs = arg;
	struct kg_proto_msg m, r;
	int p[2], ret;

	if (fake_handshake(fd) < 0 || fake_recv(fd, &m, KG_PROTO_MSG_ACQUIRE) < 0)
		return -1;
	if (rs->refuse) {
		uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
		ssize_t n = kg_proto_encode_error(buf, sizeof(buf), m.seq, KG_PROTO_MSG_ACQUIRE,
						  KG_PROTO_ERR_BUSY, "%s is leased to pid 42",
						  m.u.acquire.name);
		return n > 0 && kg_proto_send(fd, buf, (size_t)n, -1) == 0 ? 0 : -1;
	}
	kg_sample_of(KG_PROTO_MSG_LEASE, &r);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	ret = fake_send(fd, &r, m.seq, p[0]);
	close(p[0]);
	close(p[1]);
	if (ret < 0)
		return -1;
	if (rs->revoke) {
		usleep(100000);
		kg_sample_of(KG_PROTO_MSG_EV_REVOKED, &r);
		return fake_send(fd, &r, 0, -1);
	}
	if (fake_recv(fd, &m, KG_PROTO_MSG_RELEASE) < 0)
		return -1;
	rs->released = true;
	memset(&r, 0, sizeof(r));
	r.type = KG_PROTO_MSG_OK;
	r.u.ok.request_type = KG_PROTO_MSG_RELEASE;
	return fake_send(fd, &r, m.seq, -1);
}

static void test_run_environment_status_and_release(void **state)
{
	/* The sample LEASE: connector 37, crtc 36, planes 31 (primary) and 32
	 * (cursor), 1024x768@60; its fd is a pipe. */
	static const char *check =
		"test \"$KMSGATE_PIPELINE\" = Virtual-1 && test \"$KMSGATE_CONNECTOR_ID\" = 37 && "
		"test \"$KMSGATE_CRTC_ID\" = 36 && test \"$KMSGATE_PLANE_ID\" = 31 && "
		"test \"$KMSGATE_CURSOR_PLANE_ID\" = 32 && test \"$KMSGATE_PLANE_IDS\" = 31,32 && "
		"test \"$KMSGATE_LESSEE_ID\" = 7 && test \"$KMSGATE_MODE\" = 1024x768@60 && "
		"test \"$KMSGATE_MODE_NAME\" = 1024x768 && "
		"readlink /proc/self/fd/$KMSGATE_LEASE_FD | grep -q '^pipe:' && exit 7";
	const char *args[] = { "run", "Virtual-1", "--", "sh", "-c", check, NULL };
	struct run_script rs = { 0 };
	struct fake_server s;
	char out[4096];

	assert_int_equal(fake_server_start(&s, script_run, &rs), 0);
	assert_int_equal(run_ctl(s.path, args, out, sizeof(out)), 7);
	assert_int_equal(fake_server_stop(&s), 0);
	assert_true(rs.released);
}

static void test_run_missing_program(void **state)
{
	const char *args[] = { "run", "Virtual-1", "--", "/nonexistent/program", NULL };
	struct run_script rs = { 0 };
	struct fake_server s;
	char out[4096];

	assert_int_equal(fake_server_start(&s, script_run, &rs), 0);
	assert_int_equal(run_ctl(s.path, args, out, sizeof(out)), 127);
	assert_int_equal(fake_server_stop(&s), 0);
	assert_true(rs.released);
}

static void test_run_revoked_stops_program(void **state)
{
	const char *args[] = { "run", "Virtual-1", "--", "sleep", "20", NULL };
	struct run_script rs = { .revoke = true };
	struct fake_server s;
	char out[4096];

	assert_int_equal(fake_server_start(&s, script_run, &rs), 0);
	assert_int_equal(run_ctl(s.path, args, out, sizeof(out)), 128 + 15);
	assert_int_equal(fake_server_stop(&s), 0);
	assert_false(rs.released);
	assert_non_null(strstr(out, "revoked"));
}

static void test_run_refused(void **state)
{
	const char *args[] = { "run", "Virtual-1", "--", "true", NULL };
	struct run_script rs = { .refuse = true };
	struct fake_server s;
	char out[4096];

	assert_int_equal(fake_server_start(&s, script_run, &rs), 0);
	assert_int_equal(run_ctl(s.path, args, out, sizeof(out)), 1);
	assert_int_equal(fake_server_stop(&s), 0);
	assert_non_null(strstr(out, "Virtual-1 is leased to pid 42"));
}

static void test_usage_errors(void **state)
{
	const char *no_cmd[] = { "run", "Virtual-1", "--", NULL };
	const char *unknown[] = { "frobnicate", NULL };
	char out[4096];

	assert_int_equal(run_ctl("/nonexistent", no_cmd, out, sizeof(out)), 2);
	assert_int_equal(run_ctl("/nonexistent", unknown, out, sizeof(out)), 2);
	const char *list[] = { "list", NULL };
	assert_int_equal(run_ctl("/nonexistent/sock", list, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "/nonexistent/sock"));
}

static int script_list(int fd, void *arg)
{
	struct kg_proto_msg m, r;

	if (fake_handshake(fd) < 0 || fake_recv(fd, &m, KG_PROTO_MSG_LIST) < 0)
		return -1;
	kg_sample_of(KG_PROTO_MSG_PIPELINE, &r);
	snprintf(r.u.pipeline.lessee_name, 32, "say \"hi\"");
	if (fake_send(fd, &r, m.seq, -1) < 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.type = KG_PROTO_MSG_LIST_END;
	r.u.list_end.count = 1;
	return fake_send(fd, &r, m.seq, -1);
}

static void test_list_json_and_table(void **state)
{
	const char *json[] = { "list", "--json", NULL };
	const char *table[] = { "list", NULL };
	struct fake_server s;
	char out[8192];

	assert_int_equal(fake_server_start(&s, script_list, NULL), 0);
	assert_int_equal(run_ctl(s.path, json, out, sizeof(out)), 0);
	assert_int_equal(fake_server_stop(&s), 0);
	assert_non_null(strstr(out, "\"name\": \"Virtual-2\", \"state\": \"leased\""));
	assert_non_null(strstr(out, "\"type_name\": \"Virtual\""));
	assert_non_null(strstr(out, "\"lessee\": {\"pid\": 1234, \"uid\": 1000, "
				    "\"name\": \"say \\\"hi\\\"\"}"));
	assert_non_null(strstr(out, "{\"id\": 31, \"type\": \"primary\"}"));
	assert_non_null(strstr(out, "\"hdisplay\": 1024"));

	assert_int_equal(fake_server_start(&s, script_list, NULL), 0);
	assert_int_equal(run_ctl(s.path, table, out, sizeof(out)), 0);
	assert_int_equal(fake_server_stop(&s), 0);
	assert_non_null(strstr(out, "Virtual-2"));
	assert_non_null(strstr(out, "1024x768@60"));
	assert_non_null(strstr(out, "1P+1O+1C"));
}

int main(void)
{
	int err;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_environment_status_and_release),
		cmocka_unit_test(test_run_missing_program),
		cmocka_unit_test(test_run_revoked_stops_program),
		cmocka_unit_test(test_run_refused),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_list_json_and_table),
	};
	if (!getenv("KG_KMSGATECTL")) {
		fprintf(stderr, "KG_KMSGATECTL must be set (meson test does)\n");
		return 1;
	}
	/* In the arm64 cross run this test runs under qemu-user and execs arm64
	 * programs of the build: the kernel runs them only when qemu-aarch64 is
	 * registered with binfmt_misc (tools/install-deps). Meson counts 77 as
	 * skipped, and tests/run fails on a skip it does not expect. */
	err = kg_test_exec_errno(getenv("KG_KMSGATECTL"));
	if (err == ENOEXEC) {
		fprintf(stderr,
			"skipped: the kernel cannot exec %s (ENOEXEC): register qemu-aarch64 "
			"with binfmt_misc (tools/install-deps)\n",
			getenv("KG_KMSGATECTL"));
		return 77;
	}
	if (err) {
		fprintf(stderr, "cannot exec %s: %s\n", getenv("KG_KMSGATECTL"),
			err > 0 ? strerror(err) : "probe failed");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
