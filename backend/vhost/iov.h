/* SPDX-License-Identifier: MIT */
/* kg_iov: copies between a flat buffer and an iovec array (iov.c). */
#ifndef KG_IOV_H
#define KG_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Copies up to len bytes out of / into an iovec array starting at offset.
 * Return the number of bytes copied. */
size_t kg_iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len);
size_t kg_iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf,
		       size_t len);
size_t kg_iov_size(const struct iovec *iov, unsigned n);

#endif
