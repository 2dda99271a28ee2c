// SPDX-License-Identifier: MIT
/*
 * Run under libkmsgate-preload.so by test-preload. argv[1] "redirect": the
 * "lease" is /dev/null opened write-only+append by the test, so a redirected
 * open("/dev/null", O_RDONLY) shows O_WRONLY|O_APPEND. "plain": nothing may
 * be redirected. Exit 0 when every open behaved as expected, else the number
 * of the first failed check.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int redirected(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_ACCMODE) == O_WRONLY && (fl & O_APPEND);
}

int main(int argc, char **argv)
{
	int want = argc > 1 && strcmp(argv[1], "redirect") == 0;
	int fd;

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || redirected(fd) != want)
		return 1;
	if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
		return 2;
	close(fd);
	fd = openat(AT_FDCWD, "/dev/null", O_RDONLY);
	if (fd < 0 || redirected(fd) != want)
		return 3;
	if (want && (fcntl(fd, F_GETFD) & FD_CLOEXEC))
		return 4;
	close(fd);
	/* Another device is never redirected. */
	fd = open("/dev/zero", O_RDONLY);
	if (fd < 0 || redirected(fd))
		return 5;
	close(fd);
	/* Nor a regular file. */
	fd = open("/proc/self/status", O_RDONLY);
	if (fd < 0 || redirected(fd))
		return 6;
	close(fd);
	return 0;
}
