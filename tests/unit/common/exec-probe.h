/* SPDX-License-Identifier: MIT */
/*
 * Whether the kernel can exec a program the build made. In the arm64 cross
 * run the tests run under qemu-user (meson's exe wrapper), and a test that
 * execs another arm64 program of the build needs the kernel to know how:
 * qemu-aarch64 registered with binfmt_misc (tools/install-deps registers
 * it). Without that, execve fails with ENOEXEC and such a test skips.
 */
#ifndef KG_TEST_EXEC_PROBE_H
#define KG_TEST_EXEC_PROBE_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Execs PATH (no arguments, empty environment, stdio on /dev/null) and
 * kills it as soon as the exec succeeded. Returns 0 when it did, else the
 * errno of the failed execve (ENOEXEC: not a format this kernel runs), or -1
 * when the probe itself failed. */
static inline int kg_test_exec_errno(const char *path)
{
	char *const argv[] = { (char *)path, NULL }, *const envp[] = { NULL };
	int p[2], err = 0, null, status;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execve(path, argv, envp);
		err = errno;
		(void)!write(p[1], &err, sizeof(err));
		_exit(127);
	}
	close(p[1]);
	/* EOF: the pipe closed on exec. Otherwise the child sent its errno. */
	do
		n = read(p[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n == 0)
		return 0;
	return n == (ssize_t)sizeof(err) ? err : -1;
}

#endif
