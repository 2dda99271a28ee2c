// SPDX-License-Identifier: MIT
/*
 * Validation of received vhost-user messages: the one place that decides
 * whether a message's size and fds fit its request, before a handler reads
 * a single payload field.
 */
#include <errno.h>
#include <stddef.h>

#include "vhost-user-proto.h"

static const char *const request_names[KG_VU_REQUEST_MAX] = {
	[KG_VU_GET_FEATURES] = "GET_FEATURES",
	[KG_VU_SET_FEATURES] = "SET_FEATURES",
	[KG_VU_SET_OWNER] = "SET_OWNER",
	[KG_VU_RESET_OWNER] = "RESET_OWNER",
	[KG_VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[KG_VU_SET_LOG_BASE] = "SET_LOG_BASE",
	[KG_VU_SET_LOG_FD] = "SET_LOG_FD",
	[KG_VU_SET_VRING_NUM] = "SET_VRING_NUM",
	[KG_VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[KG_VU_SET_VRING_BASE] = "SET_VRING_BASE",
	[KG_VU_GET_VRING_BASE] = "GET_VRING_BASE",
	[KG_VU_SET_VRING_KICK] = "SET_VRING_KICK",
	[KG_VU_SET_VRING_CALL] = "SET_VRING_CALL",
	[KG_VU_SET_VRING_ERR] = "SET_VRING_ERR",
	[KG_VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[KG_VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[KG_VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[KG_VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[19] = "SEND_RARP",
	[20] = "NET_SET_MTU",
	[KG_VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[22] = "IOTLB_MSG",
	[23] = "SET_VRING_ENDIAN",
	[KG_VU_GET_CONFIG] = "GET_CONFIG",
	[KG_VU_SET_CONFIG] = "SET_CONFIG",
	[31] = "GET_INFLIGHT_FD",
	[32] = "SET_INFLIGHT_FD",
	[KG_VU_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
	[KG_VU_RESET_DEVICE] = "RESET_DEVICE",
	[36] = "GET_MAX_MEM_SLOTS",
	[37] = "ADD_MEM_REG",
	[38] = "REM_MEM_REG",
	[39] = "SET_STATUS",
	[40] = "GET_STATUS",
};

const char *kg_vu_request_name(uint32_t request)
{
	if (request < KG_VU_REQUEST_MAX && request_names[request])
		return request_names[request];
	return "UNKNOWN";
}

static int expect(uint32_t size, uint32_t want_size, unsigned nfds, unsigned want_fds)
{
	return size == want_size && nfds == want_fds ? 0 : -EPROTO;
}

static int check_mem_table(const struct kg_vu_msg *msg, unsigned nfds)
{
	uint32_t n;

	if (msg->hdr.size < offsetof(struct kg_vu_memory, regions))
		return -EPROTO;
	n = msg->payload.memory.nregions;
	/* The count in the payload must agree with the size and with the
	 * fds that really arrived: trust neither alone. */
	if (n == 0 || n > KG_VU_MAX_MEM_REGIONS)
		return -EPROTO;
	return expect(msg->hdr.size,
		      offsetof(struct kg_vu_memory, regions) + n * sizeof(struct kg_vu_mem_region),
		      nfds, n);
}

static int check_vring_file(const struct kg_vu_msg *msg, unsigned nfds)
{
	uint64_t v = msg->payload.u64;

	if (msg->hdr.size != sizeof(uint64_t))
		return -EPROTO;
	if (v & ~(uint64_t)(KG_VU_VRING_IDX_MASK | KG_VU_VRING_NOFD_MASK))
		return -EPROTO;
	return nfds == ((v & KG_VU_VRING_NOFD_MASK) ? 0u : 1u) ? 0 : -EPROTO;
}

static int check_config(const struct kg_vu_msg *msg, unsigned nfds)
{
	const struct kg_vu_config *c = &msg->payload.config;

	if (nfds || msg->hdr.size < KG_VU_CONFIG_HDR_SIZE)
		return -EPROTO;
	if (c->size > KG_VU_MAX_CONFIG_SIZE || c->offset > KG_VU_MAX_CONFIG_SIZE ||
	    c->offset + c->size > KG_VU_MAX_CONFIG_SIZE)
		return -EPROTO;
	return msg->hdr.size == KG_VU_CONFIG_HDR_SIZE + c->size ? 0 : -EPROTO;
}

int kg_vu_msg_check(const struct kg_vu_msg *msg, unsigned nfds)
{
	const struct kg_vu_hdr *h = &msg->hdr;

	if ((h->flags & KG_VU_FLAG_VERSION_MASK) != KG_VU_VERSION || (h->flags & KG_VU_FLAG_REPLY))
		return -EPROTO;
	if (h->size > KG_VU_MAX_PAYLOAD || nfds > KG_VU_MAX_FDS)
		return -EPROTO;

	switch (h->request) {
	case KG_VU_GET_FEATURES:
	case KG_VU_GET_PROTOCOL_FEATURES:
	case KG_VU_GET_QUEUE_NUM:
	case KG_VU_SET_OWNER:
	case KG_VU_RESET_OWNER:
	case KG_VU_RESET_DEVICE:
		return expect(h->size, 0, nfds, 0);
	case KG_VU_SET_FEATURES:
	case KG_VU_SET_PROTOCOL_FEATURES:
		return expect(h->size, sizeof(uint64_t), nfds, 0);
	case KG_VU_SET_MEM_TABLE:
		return check_mem_table(msg, nfds);
	case KG_VU_SET_VRING_NUM:
	case KG_VU_SET_VRING_BASE:
	case KG_VU_GET_VRING_BASE:
	case KG_VU_SET_VRING_ENABLE:
		return expect(h->size, sizeof(struct kg_vu_vring_state), nfds, 0);
	case KG_VU_SET_VRING_ADDR:
		return expect(h->size, sizeof(struct kg_vu_vring_addr), nfds, 0);
	case KG_VU_SET_VRING_KICK:
	case KG_VU_SET_VRING_CALL:
	case KG_VU_SET_VRING_ERR:
		return check_vring_file(msg, nfds);
	case KG_VU_SET_BACKEND_REQ_FD:
	case KG_VU_GPU_SET_SOCKET:
		return expect(h->size, 0, nfds, 1);
	case KG_VU_GET_CONFIG:
	case KG_VU_SET_CONFIG:
		return check_config(msg, nfds);
	default:
		return -ENOSYS;
	}
}
