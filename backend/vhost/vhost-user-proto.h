/* SPDX-License-Identifier: MIT */
/*
 * Wire definitions of the vhost-user protocol (QEMU docs/interop/vhost-user.rst)
 * and of the vhost-user-gpu channel (docs/interop/vhost-user-gpu.rst), as
 * QEMU 10 numbers them, plus the one validator every received message goes
 * through before any handler looks at it.
 *
 * Fixed-width fields only: nothing here is a C enum on the wire.
 */
#ifndef KG_VHOST_USER_PROTO_H
#define KG_VHOST_USER_PROTO_H

#include <stdint.h>

/* Requests, front-end -> back-end. */
#define KG_VU_GET_FEATURES	    1
#define KG_VU_SET_FEATURES	    2
#define KG_VU_SET_OWNER		    3
#define KG_VU_RESET_OWNER	    4
#define KG_VU_SET_MEM_TABLE	    5
#define KG_VU_SET_LOG_BASE	    6
#define KG_VU_SET_LOG_FD	    7
#define KG_VU_SET_VRING_NUM	    8
#define KG_VU_SET_VRING_ADDR	    9
#define KG_VU_SET_VRING_BASE	    10
#define KG_VU_GET_VRING_BASE	    11
#define KG_VU_SET_VRING_KICK	    12
#define KG_VU_SET_VRING_CALL	    13
#define KG_VU_SET_VRING_ERR	    14
#define KG_VU_GET_PROTOCOL_FEATURES 15
#define KG_VU_SET_PROTOCOL_FEATURES 16
#define KG_VU_GET_QUEUE_NUM	    17
#define KG_VU_SET_VRING_ENABLE	    18
#define KG_VU_SET_BACKEND_REQ_FD    21
#define KG_VU_GET_CONFIG	    24
#define KG_VU_SET_CONFIG	    25
#define KG_VU_GPU_SET_SOCKET	    33 /* QEMU hw/virtio/vhost-user.c: VHOST_USER_GPU_SET_SOCKET */
#define KG_VU_RESET_DEVICE	    34
#define KG_VU_REQUEST_MAX	    44

/* Requests, back-end -> front-end (on the SET_BACKEND_REQ_FD socket). */
#define KG_VU_BACKEND_CONFIG_CHANGE_MSG 2

/* Header flags. */
#define KG_VU_FLAG_VERSION_MASK 0x3u
#define KG_VU_VERSION		0x1u
#define KG_VU_FLAG_REPLY	(1u << 2)
#define KG_VU_FLAG_NEED_REPLY	(1u << 3)

/* Virtio / vhost-user feature bits (GET_FEATURES). */
#define KG_VU_F_INDIRECT_DESC	  28
#define KG_VU_F_EVENT_IDX	  29
#define KG_VU_F_PROTOCOL_FEATURES 30
#define KG_VU_F_VERSION_1	  32

/* Protocol feature bits (GET_PROTOCOL_FEATURES). */
#define KG_VU_PROTOCOL_F_MQ	      0
#define KG_VU_PROTOCOL_F_REPLY_ACK    3
#define KG_VU_PROTOCOL_F_BACKEND_REQ  5
#define KG_VU_PROTOCOL_F_CONFIG	      9
#define KG_VU_PROTOCOL_F_RESET_DEVICE 13

/* SET_VRING_KICK/CALL/ERR payload: queue index and "no fd" flag. */
#define KG_VU_VRING_IDX_MASK  0xffu
#define KG_VU_VRING_NOFD_MASK (1u << 8)

#define KG_VU_MAX_MEM_REGIONS 8	  /* VHOST_MEMORY_BASELINE_NREGIONS */
#define KG_VU_MAX_CONFIG_SIZE 256 /* VHOST_USER_MAX_CONFIG_SIZE */
#define KG_VU_MAX_FDS	      8	  /* most fds any one message carries */

struct kg_vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes that follow */
} __attribute__((packed));

struct kg_vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct kg_vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct kg_vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct kg_vu_memory {
	uint32_t nregions;
	uint32_t padding;
	struct kg_vu_mem_region regions[KG_VU_MAX_MEM_REGIONS];
};

#define KG_VU_CONFIG_HDR_SIZE 12
struct kg_vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[KG_VU_MAX_CONFIG_SIZE];
};

union kg_vu_payload {
	uint64_t u64;
	struct kg_vu_vring_state state;
	struct kg_vu_vring_addr addr;
	struct kg_vu_memory memory;
	struct kg_vu_config config;
};

/* The largest payload kmsgate accepts: anything bigger is malformed. */
#define KG_VU_MAX_PAYLOAD sizeof(union kg_vu_payload)

/* Not the wire layout: on the wire the payload follows the 12-byte header
 * directly; here it is kept 8-byte aligned (received and sent as two
 * pieces). */
struct kg_vu_msg {
	struct kg_vu_hdr hdr;
	union kg_vu_payload payload;
};

/*
 * Checks a complete message (header, hdr->size payload bytes, nfds fds
 * received with it) against what its request requires: payload size, counts
 * inside the payload, fd count, header version. Returns 0 when it fits,
 * -ENOSYS for a request kmsgate does not know (the caller answers it with an
 * error and goes on), -EPROTO for a malformed message (the caller drops the
 * front-end). Pure: no fd is touched.
 */
int kg_vu_msg_check(const struct kg_vu_msg *msg, unsigned nfds);
/* Request name for logs ("SET_MEM_TABLE"), "UNKNOWN" if none. */
const char *kg_vu_request_name(uint32_t request);

/* vhost-user-gpu channel (the VHOST_USER_GPU_SET_SOCKET socket). The
 * back-end sends requests, QEMU replies. */
#define KG_VUGPU_GET_PROTOCOL_FEATURES 1
#define KG_VUGPU_SET_PROTOCOL_FEATURES 2
#define KG_VUGPU_GET_DISPLAY_INFO      3
#define KG_VUGPU_CURSOR_POS	       4
#define KG_VUGPU_CURSOR_POS_HIDE       5
#define KG_VUGPU_CURSOR_UPDATE	       6
#define KG_VUGPU_SCANOUT	       7
#define KG_VUGPU_UPDATE		       8
#define KG_VUGPU_DMABUF_SCANOUT	       9
#define KG_VUGPU_DMABUF_UPDATE	       10
#define KG_VUGPU_GET_EDID	       11
#define KG_VUGPU_DMABUF_SCANOUT2       12

#define KG_VUGPU_FLAG_REPLY	    (1u << 2)
#define KG_VUGPU_PROTOCOL_F_EDID    0
#define KG_VUGPU_PROTOCOL_F_DMABUF2 1

struct kg_vugpu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct kg_vugpu_scanout {
	uint32_t scanout_id;
	uint32_t width;
	uint32_t height;
} __attribute__((packed));

#endif
