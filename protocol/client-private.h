/* SPDX-License-Identifier: MIT */
/* libkmsgate internals: the full structs behind kmsgate.h's opaque ones. */
#ifndef KG_CLIENT_PRIVATE_H
#define KG_CLIENT_PRIVATE_H

#include <stdbool.h>

#include "kmsgate-proto.h"
#include "kmsgate.h"

/* How long a request waits for its reply (not a waiting ACQUIRE). A broker
 * that does not answer in this time is treated as gone. */
#define KG_CLIENT_REPLY_TIMEOUT_MS 10000
/* Events read while a blocking call waits are kept for kmsgate_dispatch();
 * beyond this many the newest are dropped (lease state is updated anyway). */
#define KG_CLIENT_MAX_QUEUED 64

struct kmsgate_lease {
	struct kmsgate_client *client; /* NULL after kmsgate_close */
	struct kmsgate_lease *next;    /* link in kmsgate_client.leases */
	int fd;
	bool revoked;
	struct kg_proto_lease info;
	struct kmsgate_plane planes[KG_PROTO_MAX_PLANES];
};

struct kmsgate_pipeline {
	struct kg_proto_pipeline info;
	struct kmsgate_plane planes[KG_PROTO_MAX_PLANES];
};

struct kmsgate_list {
	size_t count;
	struct kmsgate_pipeline *items;
};

struct kmsgate_client {
	int fd;
	bool broken; /* the connection is unusable: every call fails */
	uint32_t next_seq;
	uint16_t version;
	char server_name[KG_PROTO_NAME_LEN];
	char last_error[KG_PROTO_TEXT_LEN];
	struct kmsgate_lease *leases; /* every lease not yet destroyed */
	kmsgate_event_fn event_fn;
	void *event_data;
	struct kg_proto_msg *queue; /* KG_CLIENT_MAX_QUEUED events, FIFO */
	size_t queue_len;
	/* Adopted (kmsgate_adopt): replies to requests an earlier process on
	 * this connection sent (after its kmsgate_save(), or while adopting
	 * it itself) are dropped, not taken for a confused broker. */
	bool adopted;
};

/* Calls go one way: client-list.c, client-lease.c, client-events.c ->
 * client.c (the connection: requests, replies, events as they are read) ->
 * client-convert.c. */

/* client.c. Sends one request (its seq is assigned here and stored in m->seq).
 * Returns 0 or -errno; marks the client broken on failure. */
int kg_client_send(struct kmsgate_client *c, struct kg_proto_msg *m);
/* Waits for the next reply to seq, handling events that come first.
 * timeout_ms -1: forever. *fd (may be NULL only for types without fd) gets
 * the fd of a LEASE. Returns 0 or -errno (-ETIMEDOUT, -ECONNRESET, -EPROTO). */
int kg_client_wait(struct kmsgate_client *c, uint32_t seq, struct kg_proto_msg *m, int *fd,
		   int timeout_ms);
/* Turns an ERROR reply into -errno and remembers its text; marks the client
 * broken for protocol-violation codes (the broker disconnects). */
int kg_client_error(struct kmsgate_client *c, const struct kg_proto_msg *m);
/* Marks the connection dead and every lease revoked. */
void kg_client_break(struct kmsgate_client *c);

/* Every event message as it is read: lease state updated, queued for
 * kmsgate_dispatch() (client-events.c). */
void kg_client_event_received(struct kmsgate_client *c, const struct kg_proto_msg *m);
/* client-lease.c. A new lease of c, first in c->leases; NULL: ENOMEM. */
struct kmsgate_lease *kg_client_lease_new(struct kmsgate_client *c,
					  const struct kg_proto_lease *info, int fd);
/* client-lease.c. RELEASE or REVOKE of pipeline name, answered OK.
 * Returns 0 or -errno. */
int kg_client_name_request(struct kmsgate_client *c, uint16_t type, const char *name);
/* The lease of pipeline name (revoked or not), or NULL. */
struct kmsgate_lease *kg_client_find_lease(struct kmsgate_client *c, const char *name,
					   bool revoked);

/* client-convert.c, below the rest. Copies a host string into a fixed
 * field, cut and made printable. */
void kg_client_copy_text(char *dst, size_t n, const char *src);
void kg_client_mode_from_proto(struct kmsgate_mode *out, const struct kg_proto_mode *in);
void kg_client_planes_from_proto(struct kmsgate_plane *out, const struct kg_proto_plane *in,
				 uint32_t n);

#endif
