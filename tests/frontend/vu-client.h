/* SPDX-License-Identifier: MIT */
/*
 * kg_fe_vu: the front-end (QEMU's) side of a vhost-user socket, as much as a
 * test needs to drive kmsgate-vgpu the way QEMU's vhost-user-gpu-pci does:
 * feature and protocol-feature negotiation, config, memory table, vrings.
 * Blocking, single-threaded; every reply is checked.
 */
#ifndef KG_FE_VU_H
#define KG_FE_VU_H

#include <stdbool.h>
#include <stdint.h>

struct kg_fe_vu {
	int sock;
	uint64_t features;	    /* what the back-end offered */
	uint64_t protocol_features; /* what both sides use */
	bool reply_ack;
};

/* Connects, retrying for up to timeout_ms while the back-end starts.
 * Returns 0 or -errno. */
int kg_fe_vu_connect(struct kg_fe_vu *vu, const char *path, int timeout_ms);
void kg_fe_vu_close(struct kg_fe_vu *vu);

/*
 * Sends request with payload and fds. When reply is given, reads the
 * back-end's reply of exactly reply_size bytes; otherwise, with REPLY_ACK
 * negotiated, asks for and checks the ack. Returns 0 or -errno (-EPROTO for
 * a malformed or refused reply).
 */
int kg_fe_vu_request(struct kg_fe_vu *vu, uint32_t request, const void *payload, uint32_t size,
		     const int *fds, unsigned nfds, void *reply, uint32_t reply_size);

/* GET_FEATURES, protocol features (REPLY_ACK and CONFIG when offered),
 * SET_OWNER, SET_FEATURES(features & want). Returns 0 or -errno. */
int kg_fe_vu_negotiate(struct kg_fe_vu *vu, uint64_t want);

/* One memory region, gpa 0, from our mapping of memfd. */
int kg_fe_vu_set_mem(struct kg_fe_vu *vu, int memfd, uint64_t size, void *uva);

/* The same RAM as two regions (halves at their own offsets): the back-end
 * must map it anew and drop the old mapping, as after a memory hotplug. */
int kg_fe_vu_set_mem_split(struct kg_fe_vu *vu, int memfd, uint64_t size, void *uva);

/* GET_CONFIG: the device's config space (offset 0, len bytes). */
int kg_fe_vu_get_config(struct kg_fe_vu *vu, void *buf, uint32_t len);

#endif
