/* SPDX-License-Identifier: MIT */
/*
 * kg_gmem: guest RAM as QEMU shares it with VHOST_USER_SET_MEM_TABLE.
 *
 * Every region is a memfd (the same memory QEMU gives KVM), mapped here
 * whole. All translation is bounds-checked: a range is returned only when it
 * lies entirely inside one region, so nothing outside guest memory is ever
 * reached through a guest-supplied address.
 */
#ifndef KG_GUEST_MEM_H
#define KG_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define KG_GMEM_MAX_REGIONS 8 /* VHOST_MEMORY_BASELINE_NREGIONS */

struct kg_gmem;

/* One region as SET_MEM_TABLE describes it (fields as on the wire). */
struct kg_gmem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr; /* QEMU's virtual address: rings are given in these */
	uint64_t mmap_offset;	 /* where the region starts inside its fd */
};

struct kg_gmem *kg_gmem_create(void);
/* Unmaps and closes everything. Accepts NULL. */
void kg_gmem_destroy(struct kg_gmem *gm);

/*
 * Replaces the whole table. Takes ownership of all n fds on every path (they
 * are closed on failure). Overlapping regions, zero sizes, address overflow,
 * a file not sealed with F_SEAL_SHRINK (QEMU could truncate it: SIGBUS) or
 * an mmap failure reject the table and leave the old one in place.
 * Returns 0 or -errno.
 */
int kg_gmem_set_table(struct kg_gmem *gm, const struct kg_gmem_region *regions, unsigned n,
		      const int *fds);
/* Unmaps everything (frontend disconnect or reset). */
void kg_gmem_clear(struct kg_gmem *gm);

/* Host pointer for guest physical [gpa, gpa + len), or NULL unless the whole
 * range is inside one region (len 0 is refused). */
void *kg_gmem_gpa_to_va(const struct kg_gmem *gm, uint64_t gpa, uint64_t len);
/* Same for QEMU's user addresses (vring addresses come as these). */
void *kg_gmem_uva_to_va(const struct kg_gmem *gm, uint64_t uva, uint64_t len);
/* Where guest physical [gpa, gpa + len) lies on the host. */
struct kg_gmem_span {
	void *va;	    /* host pointer */
	int fd;		    /* the region's memfd, borrowed (owned by gm), for udmabuf */
	uint64_t fd_offset; /* where va starts inside fd */
};
/* Fills span unless the range is not entirely inside one region (or len
 * is 0). What it returns stays valid while kg_gmem_epoch() is unchanged. */
bool kg_gmem_lookup(const struct kg_gmem *gm, uint64_t gpa, uint64_t len,
		    struct kg_gmem_span *span);
/*
 * Counts the table changes that unmapped something. Every host pointer
 * and fd handed out before the count moved may point at memory that is no
 * longer the guest's: whoever keeps one checks the epoch before use and
 * translates the guest address again when it changed.
 */
uint64_t kg_gmem_epoch(const struct kg_gmem *gm);
/*
 * Host pointer for guest physical gpa and, in *contig, how many of the len
 * bytes from there on lie in the same region (1..len). NULL when gpa is in
 * no region or len is 0. For buffers that may span adjacent regions.
 */
void *kg_gmem_gpa_map(const struct kg_gmem *gm, uint64_t gpa, uint64_t len, uint64_t *contig);
unsigned kg_gmem_num_regions(const struct kg_gmem *gm);
/* Region i as the table gave it; false when there is none. */
bool kg_gmem_get_region(const struct kg_gmem *gm, unsigned i, struct kg_gmem_region *r);

#endif
