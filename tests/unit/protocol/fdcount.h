/* SPDX-License-Identifier: MIT */
/* Counting this process's open fds, to prove nothing leaked. */
#ifndef KG_TEST_FDCOUNT_H
#define KG_TEST_FDCOUNT_H

#include <dirent.h>

static inline int kg_test_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n; /* includes ".", ".." and the DIR's own fd: constant offset */
}

#endif
