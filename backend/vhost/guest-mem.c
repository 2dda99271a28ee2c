// SPDX-License-Identifier: MIT
/*
 * kg_gmem: guest RAM regions from VHOST_USER_SET_MEM_TABLE, mapped whole.
 *
 * QEMU resends the table each time the device starts (and when the guest's
 * memory map changes). A region identical to one already mapped (same
 * addresses, size and file) keeps its old mapping, so host pointers the
 * device holds into unchanged guest RAM stay valid across a resend.
 */
#include "guest-mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct gmem_map {
	struct kg_gmem_region r;
	int fd;
	void *base;	 /* what mmap returned (page aligned) */
	size_t base_len; /* what was mapped */
	uint8_t *host;	 /* host address of r.guest_phys_addr */
	dev_t dev;	 /* identity of the file, for reuse on resend */
	ino_t ino;
};

struct kg_gmem {
	struct gmem_map maps[KG_GMEM_MAX_REGIONS];
	unsigned n;
	/* Bumped each time a mapping goes away: a host pointer or fd taken
	 * from gm before the bump may point at memory that is gone. */
	uint64_t epoch;
};

struct kg_gmem *kg_gmem_create(void)
{
	return calloc(1, sizeof(struct kg_gmem));
}

static void map_release(struct gmem_map *m)
{
	if (m->base)
		munmap(m->base, m->base_len);
	if (m->fd >= 0)
		close(m->fd);
	m->base = NULL;
	m->fd = -1;
}

/* Releases what is still mapped; a mapping moved to a new table was
 * taken out (base NULL) and does not count as gone. */
static void release_all(struct kg_gmem *gm)
{
	bool gone = false;

	for (unsigned i = 0; i < gm->n; i++) {
		gone |= gm->maps[i].base != NULL;
		map_release(&gm->maps[i]);
	}
	gm->n = 0;
	if (gone)
		gm->epoch++;
}

void kg_gmem_clear(struct kg_gmem *gm)
{
	if (gm)
		release_all(gm);
}

uint64_t kg_gmem_epoch(const struct kg_gmem *gm)
{
	return gm ? gm->epoch : 0;
}

void kg_gmem_destroy(struct kg_gmem *gm)
{
	kg_gmem_clear(gm);
	free(gm);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Sizes, overflow and overlap: all of it before anything is mapped. */
static int check_table(const struct kg_gmem_region *regions, unsigned n, const int *fds)
{
	for (unsigned i = 0; i < n; i++) {
		const struct kg_gmem_region *r = &regions[i];

		if (fds[i] < 0 || r->memory_size == 0 || r->memory_size > SIZE_MAX)
			return -EINVAL;
		if (r->guest_phys_addr + r->memory_size < r->guest_phys_addr ||
		    r->userspace_addr + r->memory_size < r->userspace_addr ||
		    r->mmap_offset + r->memory_size < r->mmap_offset)
			return -EOVERFLOW;
		for (unsigned j = 0; j < i; j++) {
			const struct kg_gmem_region *o = &regions[j];
			if (ranges_overlap(r->guest_phys_addr, r->memory_size, o->guest_phys_addr,
					   o->memory_size) ||
			    ranges_overlap(r->userspace_addr, r->memory_size, o->userspace_addr,
					   o->memory_size))
				return -EINVAL;
		}
	}
	return 0;
}

static struct gmem_map *find_same(struct kg_gmem *gm, const struct kg_gmem_region *r,
				  const struct stat *st)
{
	for (unsigned i = 0; i < gm->n; i++) {
		struct gmem_map *m = &gm->maps[i];
		if (m->base && m->r.guest_phys_addr == r->guest_phys_addr &&
		    m->r.memory_size == r->memory_size &&
		    m->r.userspace_addr == r->userspace_addr &&
		    m->r.mmap_offset == r->mmap_offset && m->dev == st->st_dev &&
		    m->ino == st->st_ino)
			return m;
	}
	return NULL;
}

static int map_region(struct gmem_map *m, const struct kg_gmem_region *r, int fd,
		      const struct stat *st)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t skew = r->mmap_offset % (uint64_t)page;
	uint64_t end = r->mmap_offset + r->memory_size;
	int seals = fcntl(fd, F_GET_SEALS);

	/* A file QEMU may still shrink would make every later access to
	 * its tail raise SIGBUS in this process; udmabuf refuses such files
	 * for the same reason. QEMU's memfd backend seals by default. */
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		kg_err("vhost-user: memory region [0x%llx, +0x%llx) is not a memfd sealed "
		       "against shrinking (F_SEAL_SHRINK): it could be truncated under the "
		       "back-end; give QEMU -object memory-backend-memfd,share=on (seal=on is "
		       "its default)",
		       (unsigned long long)r->guest_phys_addr, (unsigned long long)r->memory_size);
		return -EPERM;
	}

	/* Mapping past the end of a memfd maps pages that SIGBUS on access. */
	if (S_ISREG(st->st_mode) && (uint64_t)st->st_size < end) {
		kg_err("vhost-user: memory region [0x%llx, +0x%llx) ends past its file (%lld "
		       "bytes): QEMU must share the whole RAM backend (memory-backend-memfd)",
		       (unsigned long long)r->guest_phys_addr, (unsigned long long)r->memory_size,
		       (long long)st->st_size);
		return -EINVAL;
	}
	if (r->memory_size + skew < r->memory_size || r->memory_size + skew > SIZE_MAX)
		return -EOVERFLOW;
	m->base_len = r->memory_size + skew;
	m->base = mmap(NULL, m->base_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       (off_t)(r->mmap_offset - skew));
	if (m->base == MAP_FAILED) {
		int err = errno;
		m->base = NULL;
		errno = err;
		kg_log_errno(KG_LOG_ERROR,
			     "vhost-user: cannot map guest memory region 0x%llx (+0x%llx); is "
			     "the RAM backend share=on",
			     (unsigned long long)r->guest_phys_addr,
			     (unsigned long long)r->memory_size);
		return -err;
	}
	m->host = (uint8_t *)m->base + skew;
	m->r = *r;
	m->fd = fd;
	m->dev = st->st_dev;
	m->ino = st->st_ino;
	return 0;
}

/* Fills next[i] from an identical old mapping (moved out of gm) or a new
 * mmap. On failure the caller releases what next[] holds. */
static int build_table(struct kg_gmem *gm, struct gmem_map *next,
		       const struct kg_gmem_region *regions, unsigned n, const int *fds,
		       bool *fd_used)
{
	for (unsigned i = 0; i < n; i++) {
		struct stat st;
		struct gmem_map *old;
		int ret;

		if (fstat(fds[i], &st) < 0)
			return -errno;
		old = find_same(gm, &regions[i], &st);
		if (old) {
			next[i] = *old;
			old->base = NULL; /* moved: gm no longer owns it */
			old->fd = -1;
			continue;
		}
		ret = map_region(&next[i], &regions[i], fds[i], &st);
		if (ret < 0)
			return ret;
		fd_used[i] = true;
	}
	return 0;
}

int kg_gmem_set_table(struct kg_gmem *gm, const struct kg_gmem_region *regions, unsigned n,
		      const int *fds)
{
	struct gmem_map next[KG_GMEM_MAX_REGIONS];
	bool fd_used[KG_GMEM_MAX_REGIONS] = { false };
	struct kg_gmem backup;
	int ret;

	if (n > KG_GMEM_MAX_REGIONS) {
		ret = -E2BIG;
		goto close_fds;
	}
	ret = check_table(regions, n, fds);
	if (ret < 0)
		goto close_fds;
	for (unsigned i = 0; i < KG_GMEM_MAX_REGIONS; i++)
		next[i] = (struct gmem_map){ .fd = -1 };
	backup = *gm;
	ret = build_table(gm, next, regions, n, fds, fd_used);
	if (ret < 0)
		goto restore;
	/* Old regions that were not moved over are gone from the guest. */
	release_all(gm);
	for (unsigned i = 0; i < n; i++) {
		gm->maps[i] = next[i];
		if (!fd_used[i])
			close(fds[i]);
	}
	gm->n = n;
	return 0;

restore:
	/* New mappings go; moved ones return to gm with the backup. */
	for (unsigned i = 0; i < n; i++) {
		if (fd_used[i])
			map_release(&next[i]);
		else
			close(fds[i]);
	}
	*gm = backup;
	return ret;
close_fds:
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ret;
}

static const struct gmem_map *find_gpa(const struct kg_gmem *gm, uint64_t gpa)
{
	for (unsigned i = 0; i < gm->n; i++) {
		const struct gmem_map *m = &gm->maps[i];
		if (gpa >= m->r.guest_phys_addr && gpa - m->r.guest_phys_addr < m->r.memory_size)
			return m;
	}
	return NULL;
}

void *kg_gmem_gpa_map(const struct kg_gmem *gm, uint64_t gpa, uint64_t len, uint64_t *contig)
{
	const struct gmem_map *m;
	uint64_t off, left;

	if (!gm || len == 0)
		return NULL;
	m = find_gpa(gm, gpa);
	if (!m)
		return NULL;
	off = gpa - m->r.guest_phys_addr;
	left = m->r.memory_size - off;
	*contig = len < left ? len : left;
	return m->host + off;
}

void *kg_gmem_uva_to_va(const struct kg_gmem *gm, uint64_t uva, uint64_t len)
{
	if (!gm || len == 0)
		return NULL;
	for (unsigned i = 0; i < gm->n; i++) {
		const struct gmem_map *m = &gm->maps[i];
		uint64_t off = uva - m->r.userspace_addr;

		if (uva >= m->r.userspace_addr && off < m->r.memory_size &&
		    len <= m->r.memory_size - off)
			return m->host + off;
	}
	return NULL;
}

bool kg_gmem_lookup(const struct kg_gmem *gm, uint64_t gpa, uint64_t len, struct kg_gmem_span *span)
{
	const struct gmem_map *m;
	uint64_t off;

	if (!gm || len == 0)
		return false;
	m = find_gpa(gm, gpa);
	if (!m)
		return false;
	off = gpa - m->r.guest_phys_addr;
	if (len > m->r.memory_size - off)
		return false;
	*span = (struct kg_gmem_span){ .va = m->host + off,
				       .fd = m->fd,
				       .fd_offset = m->r.mmap_offset + off };
	return true;
}

void *kg_gmem_gpa_to_va(const struct kg_gmem *gm, uint64_t gpa, uint64_t len)
{
	struct kg_gmem_span sp;

	return kg_gmem_lookup(gm, gpa, len, &sp) ? sp.va : NULL;
}

unsigned kg_gmem_num_regions(const struct kg_gmem *gm)
{
	return gm ? gm->n : 0;
}

bool kg_gmem_get_region(const struct kg_gmem *gm, unsigned i, struct kg_gmem_region *r)
{
	if (!gm || i >= gm->n)
		return false;
	*r = gm->maps[i].r;
	return true;
}
