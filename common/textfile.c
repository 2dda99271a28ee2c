// SPDX-License-Identifier: MIT
#include "textfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kg_textfile_read(const char *path, size_t max, char **text, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		snprintf(err, errlen, "%s is not a regular file of at most %zu KiB", path,
			 max >> 10);
		ret = -EINVAL;
		goto err_fd;
	}
	*text = malloc((size_t)st.st_size + 1);
	if (!*text) {
		snprintf(err, errlen, "out of memory reading %s", path);
		ret = -ENOMEM;
		goto err_fd;
	}
	n = read(fd, *text, (size_t)st.st_size);
	if (n < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		free(*text);
		*text = NULL;
		goto err_fd;
	}
	(*text)[n] = '\0';
	close(fd);
	return 0;
err_fd:
	close(fd);
	return ret;
}
