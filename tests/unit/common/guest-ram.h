/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM for tests: a memfd of the given size, as QEMU's memfd memory
 * backend hands it to a vhost-user back-end in SET_MEM_TABLE. The unit
 * tests and the fuzz targets of the back-end build their guests on it.
 */
#ifndef KG_TEST_GUEST_RAM_H
#define KG_TEST_GUEST_RAM_H

#include <fcntl.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

/* A memfd of size bytes (close-on-exec), sealed as QEMU's memfd backend
 * seals it (seal=on), or -1 with errno set. */
static inline int kg_test_ram_fd(size_t size)
{
	int fd = memfd_create("guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd >= 0 && (ftruncate(fd, (off_t)size) < 0 ||
			fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The same without seals: what the back-end must refuse. */
static inline int kg_test_ram_fd_unsealed(size_t size)
{
	int fd = memfd_create("guest-ram", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#endif
