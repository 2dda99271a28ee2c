/* SPDX-License-Identifier: MIT */
/*
 * Counting this process's open fds, to prove nothing leaked: the unit tests,
 * the fuzz targets and the VM test programs all compare a count taken before
 * with one taken after.
 */
#ifndef KG_TEST_FDCOUNT_H
#define KG_TEST_FDCOUNT_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

/* The number of open fds. Aborts when /proc/self/fd cannot be read: two
 * failed counts would compare equal and hide a leak. */
static inline int kg_test_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d) {
		perror("kg_test_fd_count: /proc/self/fd");
		abort();
	}
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the DIR's own fd */
}

#endif
