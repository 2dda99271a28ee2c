// SPDX-License-Identifier: MIT
/*
 * kg_iov: copies between a flat buffer and an iovec array, for commands read
 * out of and responses written into a descriptor chain's guest buffers.
 */
#include "iov.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

size_t kg_iov_size(const struct iovec *iov, unsigned n)
{
	size_t total = 0;

	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/* Copies len bytes between buf and the iovec, starting offset bytes into
 * the iovec; to_iov says which way. Returns the bytes copied. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len,
		       bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		uint8_t *at;
		size_t chunk;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		at = (uint8_t *)iov[i].iov_base + offset;
		chunk = iov[i].iov_len - offset;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy(at, (uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done, at, chunk);
		done += chunk;
		offset = 0;
	}
	return done;
}

size_t kg_iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len)
{
	return iov_copy(iov, n, offset, buf, len, false);
}

size_t kg_iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf,
		       size_t len)
{
	/* iov_copy only reads buf when copying into the iovec. */
	return iov_copy(iov, n, offset, (void *)buf, len, true);
}
