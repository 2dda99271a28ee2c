/* SPDX-License-Identifier: MIT */
/* Shared by server.c (sockets, clients) and requests.c (what requests do). */
#ifndef KG_BROKER_SERVER_PRIVATE_H
#define KG_BROKER_SERVER_PRIVATE_H

#include <stdint.h>
#include <sys/types.h>

#include "kmsgate-proto.h"
#include "list.h"
#include "fdstore.h"
#include "lease.h"
#include "server.h"

/* Caps on what clients control, each against a resource-exhaustion threat:
 * connections (fds, memory), waiters per pipeline and per client. The fd
 * limit is raised to fit MAX_CLIENTS plus the broker's own fds. */
#define KG_SERVER_MAX_CLIENTS	      1100
#define KG_SERVER_MAX_CLIENTS_PER_UID 64 /* non-root users */
#define KG_SERVER_MAX_WAITERS	      32 /* per pipeline */
#define KG_SERVER_MAX_GROUPS	      64 /* supplementary groups read per client */
/* Messages handled per wakeup of one client, so one busy client cannot
 * starve the others. */
#define KG_SERVER_BATCH 16

struct client {
	struct kg_server *srv;
	int fd;
	struct kg_source *src;
	struct kg_cred cred;
	gid_t groups[KG_SERVER_MAX_GROUPS];
	bool hello;
	bool dead; /* disconnect once the current dispatch returns */
	char name[KG_PROTO_NAME_LEN];
	uint16_t version; /* negotiated in HELLO */
	/* In systemd's fd store as client-<conn> (fdstore.h), 0 if not. */
	uint32_t conn;
	/* The request being handled, so that a broker restarted after a
	 * kill -9 in its middle can answer it (with CANCELLED); 0 if none. */
	uint16_t inflight_type;
	uint32_t inflight_seq;
	struct client *prev, *next; /* kg_server.clients */
};

struct waiter {
	struct client *client;
	uint32_t seq;
	struct kg_list link; /* slot.waiters, FIFO */
};

/* A pipeline at run time: its lease and who holds or waits for it. */
struct slot {
	const struct kg_plan_pipeline *pp;
	struct kg_lease *lease;
	struct client *lessee;
	struct kg_list waiters; /* waiter.link, oldest first */
	size_t n_waiters;
	/* A lease adopted after a restart (fdstore.h) whose client has not
	 * come back: its lessee id, 0 if none. Taken like a lessee's. */
	uint32_t orphan;
};

struct kg_server {
	struct kg_loop *loop;
	struct kg_device *dev;
	const struct kg_plan *plan;
	const struct kg_acl *admin;
	struct kg_fdstore *store; /* may be NULL */
	struct slot *slots;
	size_t n_slots;
	char sock_path[108];
	int lock_fd;
	int listen_fd;
	bool unlink_socket; /* we bound it (not systemd) */
	struct kg_source *listen_src;
	struct kg_source *sweep_timer;
	struct client *clients;
	size_t n_clients;
	size_t max_clients; /* KG_SERVER_MAX_CLIENTS, or less if the fd limit is lower */
	uint32_t next_conn; /* the next stored connection's number, from 1 */
};

/* Calls go one way: server.c (connections, dispatch) -> requests.c
 * (handlers) -> client-send.c. */

/* client-send.c */
/* Sends one message (fd >= 0: attached). A client that cannot take it
 * (full buffer: it does not read) is marked dead. Returns 0 or -errno. */
int kg_client_send(struct client *c, const struct kg_proto_msg *msg, int fd);
int kg_client_send_error(struct client *c, uint32_t seq, uint16_t req, uint32_t code,
			 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* server.c */
/* Destroys every client marked dead; call after anything that sends. */
void kg_server_reap(struct kg_server *srv);
size_t kg_server_count_uid(const struct kg_server *srv, uid_t uid);

/* requests.c */
/* Handles one decoded request of a client that said HELLO. */
void kg_requests_handle(struct client *c, const struct kg_proto_msg *msg);
/* A client is going away: revoke its leases, drop its waits. */
void kg_requests_client_gone(struct client *c);
/* Shutdown: revoke every lease with EV_REVOKED(shutdown), cancel waiters. */
void kg_requests_shutdown(struct kg_server *srv);
void kg_requests_sweep(void *data);
/* After a restart (the adopted connections are in srv->clients): the
 * leases the kernel still holds go back to their connection, or become
 * orphans when it was not stored; waiters queue again. */
void kg_requests_adopt(struct kg_server *srv, const struct kg_fdstore_table *t);
/* Writes the table to systemd's fd store (fdstore.h): leases, stored
 * connections, waiters. */
void kg_requests_record(struct kg_server *srv);
/* Tells every client; the caller reaps those that could not take it. */
void kg_requests_connector_changed(struct kg_server *srv, size_t connector);

#endif
