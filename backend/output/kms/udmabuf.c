// SPDX-License-Identifier: MIT
#include "udmabuf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/udmabuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

#define UDMABUF_DEFAULT_LIST_LIMIT 1024
#define UDMABUF_DEFAULT_SIZE_MB	   64

static int plan_push(struct kg_udmabuf_plan *plan, unsigned *cap, int memfd, uint64_t off,
		     uint64_t len)
{
	struct kg_udmabuf_range *last = plan->n_ranges ? &plan->ranges[plan->n_ranges - 1] : NULL;
	struct kg_udmabuf_range *grown;

	/* Adjacent in the same memfd: the guest happened to be contiguous. */
	if (last && last->memfd == memfd && last->offset + last->size == off) {
		last->size += len;
		return 0;
	}
	if (plan->n_ranges == *cap) {
		unsigned ncap = *cap ? *cap * 2 : 16;
		grown = realloc(plan->ranges, ncap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		plan->ranges = grown;
		*cap = ncap;
	}
	plan->ranges[plan->n_ranges++] = (struct kg_udmabuf_range){ memfd, off, len };
	return 0;
}

/* Bytes from pixel (0,0) to the end of the last row, or 0 when impossible. */
static uint64_t image_span(const struct kg_fb_source *fb, uint32_t cpp)
{
	uint64_t row = (uint64_t)fb->width * cpp;

	if (!fb->width || !fb->height || !cpp || fb->stride < row)
		return 0;
	return (uint64_t)(fb->height - 1) * fb->stride + row;
}

/* Whole pages only: every boundary between ranges must fall on a page, the
 * outer ends are widened to pages (fb_offset absorbs the start). */
static int plan_align(struct kg_udmabuf_plan *plan, uint64_t page_size)
{
	struct kg_udmabuf_range *r;
	uint64_t head, tail;

	for (unsigned i = 0; i < plan->n_ranges; i++) {
		r = &plan->ranges[i];
		if (i > 0 && r->offset % page_size)
			return -ENOTSUP;
		if (i + 1 < plan->n_ranges && (r->offset + r->size) % page_size)
			return -ENOTSUP;
	}
	r = &plan->ranges[0];
	head = r->offset % page_size;
	r->offset -= head;
	r->size += head;
	plan->fb_offset = head;
	r = &plan->ranges[plan->n_ranges - 1];
	tail = (r->offset + r->size) % page_size;
	if (tail)
		r->size += page_size - tail;
	plan->size = 0;
	for (unsigned i = 0; i < plan->n_ranges; i++)
		plan->size += plan->ranges[i].size;
	return 0;
}

static int plan_collect(const struct kg_fb_source *fb, uint64_t start, uint64_t end,
			struct kg_udmabuf_plan *plan)
{
	unsigned cap = 0;
	uint64_t pos = 0;

	for (unsigned i = 0; i < fb->n_chunks && pos < end; i++) {
		const struct kg_backing_chunk *c = &fb->chunks[i];
		uint64_t s, e;
		int ret;

		if (c->len > UINT64_MAX - pos)
			return -EINVAL;
		s = start > pos ? start : pos;
		e = end < pos + c->len ? end : pos + c->len;
		if (s < e) {
			if (c->memfd < 0)
				return -EBADF;
			if (c->fd_offset > UINT64_MAX - c->len)
				return -EINVAL;
			ret = plan_push(plan, &cap, c->memfd, c->fd_offset + (s - pos), e - s);
			if (ret < 0)
				return ret;
			plan->n_chunks++;
		}
		pos += c->len;
	}
	return pos < end ? -EFAULT : 0;
}

int kg_udmabuf_plan(const struct kg_fb_source *fb, uint32_t cpp, uint64_t page_size,
		    const struct kg_udmabuf_limits *limits, struct kg_udmabuf_plan *plan)
{
	uint64_t span = image_span(fb, cpp);
	int ret;

	memset(plan, 0, sizeof(*plan));
	if (!span || !page_size || fb->offset > UINT64_MAX - span)
		return -EINVAL;
	ret = plan_collect(fb, fb->offset, fb->offset + span, plan);
	if (ret < 0)
		return ret;
	ret = plan_align(plan, page_size);
	if (ret < 0)
		return ret;
	if (plan->n_ranges > limits->list_limit)
		return -E2BIG;
	if (plan->size > limits->size_limit)
		return -EFBIG;
	return 0;
}

void kg_udmabuf_plan_finish(struct kg_udmabuf_plan *plan)
{
	free(plan->ranges);
	memset(plan, 0, sizeof(*plan));
}

static unsigned long read_param(const char *name, unsigned long fallback)
{
	char path[128];
	unsigned long v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/udmabuf/parameters/%s", name);
	f = fopen(path, "re");
	if (!f)
		return fallback;
	if (fscanf(f, "%lu", &v) != 1 || v == 0)
		v = fallback;
	fclose(f);
	return v;
}

void kg_udmabuf_read_limits(struct kg_udmabuf_limits *limits)
{
	limits->list_limit = read_param("list_limit", UDMABUF_DEFAULT_LIST_LIMIT);
	limits->size_limit = (uint64_t)read_param("size_limit_mb", UDMABUF_DEFAULT_SIZE_MB) << 20;
}

int kg_udmabuf_open(void)
{
	int fd = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int kg_udmabuf_create(int udmabuf_fd, const struct kg_udmabuf_plan *plan)
{
	struct udmabuf_create_list *list;
	int fd;

	if (!plan->n_ranges)
		return -EINVAL;
	list = calloc(1, sizeof(*list) + plan->n_ranges * sizeof(list->list[0]));
	if (!list)
		return -ENOMEM;
	list->flags = UDMABUF_FLAGS_CLOEXEC;
	list->count = plan->n_ranges;
	for (unsigned i = 0; i < plan->n_ranges; i++) {
		list->list[i].memfd = plan->ranges[i].memfd;
		list->list[i].offset = plan->ranges[i].offset;
		list->list[i].size = plan->ranges[i].size;
	}
	fd = ioctl(udmabuf_fd, UDMABUF_CREATE_LIST, list);
	if (fd < 0)
		fd = -errno;
	free(list);
	return fd;
}
