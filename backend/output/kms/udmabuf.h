/* SPDX-License-Identifier: MIT */
/*
 * kg_udmabuf: a guest framebuffer's backing pages → one dmabuf, zero copy.
 *
 * The guest's backing is a list of (memfd, offset, len) chunks, usually one
 * 4 KiB page each. Only the bytes the image spans are used; adjacent pieces
 * (same memfd, contiguous offsets) are merged into one udmabuf list entry, so
 * a guest buffer that happens to be physically contiguous costs one entry.
 * The plan (pure logic, unit-tested) is separate from the ioctl.
 *
 * udmabuf's module limits (list_limit entries, size_limit_mb) are checked
 * before asking the kernel, so a refusal names the knob a user can raise.
 */
#ifndef KG_UDMABUF_H
#define KG_UDMABUF_H

#include <stdint.h>

#include "output.h"

struct kg_udmabuf_range {
	int memfd; /* borrowed */
	uint64_t offset;
	uint64_t size;
};

/* What udmabuf will accept (read from /sys/module/udmabuf/parameters). */
struct kg_udmabuf_limits {
	unsigned list_limit; /* entries per UDMABUF_CREATE_LIST */
	uint64_t size_limit; /* bytes per dmabuf */
};

struct kg_udmabuf_plan {
	struct kg_udmabuf_range *ranges; /* malloc'ed; kg_udmabuf_plan_finish frees */
	unsigned n_ranges;
	uint64_t size;	    /* sum of the ranges: the dmabuf's size */
	uint64_t fb_offset; /* offset of pixel (0,0) inside the dmabuf */
	unsigned n_chunks;  /* guest chunks the image spans (before merging) */
};

/*
 * Plans the dmabuf for the image of fb (cpp bytes per pixel): the bytes from
 * pixel (0,0) to the end of the last row, taken from the chunks, page aligned
 * at both ends and merged. Returns 0, or:
 *   -EINVAL  the geometry is impossible (zero size, stride < row, overflow)
 *   -EFAULT  the chunks end before the image does
 *   -ENOTSUP a chunk boundary inside the image is not page aligned (a dmabuf
 *            is made of whole pages: the layout would not match)
 *   -EBADF   a chunk has no memfd
 *   -E2BIG   more ranges than limits->list_limit
 *   -EFBIG   larger than limits->size_limit
 * plan is filled on 0 and on -E2BIG/-EFBIG (so the caller can log the
 * figures); always call kg_udmabuf_plan_finish.
 */
int kg_udmabuf_plan(const struct kg_fb_source *fb, uint32_t cpp, uint64_t page_size,
		    const struct kg_udmabuf_limits *limits, struct kg_udmabuf_plan *plan);
void kg_udmabuf_plan_finish(struct kg_udmabuf_plan *plan);

/* Reads the module's limits; the kernel defaults (1024, 64 MiB) when the
 * parameters are not readable. */
void kg_udmabuf_read_limits(struct kg_udmabuf_limits *limits);

/* Opens /dev/udmabuf (O_CLOEXEC). Returns the fd or -errno. */
int kg_udmabuf_open(void);
/* UDMABUF_CREATE_LIST. Returns a dmabuf fd (O_CLOEXEC) or -errno. The memfds
 * must carry F_SEAL_SHRINK and not F_SEAL_WRITE. */
int kg_udmabuf_create(int udmabuf_fd, const struct kg_udmabuf_plan *plan);

#endif
