/* SPDX-License-Identifier: MIT */
/*
 * kg_server: the broker's socket. Clients connect to a SOCK_SEQPACKET
 * socket in the runtime directory, say HELLO, then LIST, ACQUIRE (the lease
 * fd comes back by SCM_RIGHTS), RELEASE and, for admins, REVOKE. Every
 * client is untrusted: credentials come from the kernel (SO_PEERCRED,
 * SO_PEERGROUPS), every packet is decoded strictly, and a client that breaks
 * the protocol is told why and disconnected without disturbing anyone else.
 *
 * Runtime directory (default /run/kmsgate): created 0755 if missing;
 * broker.lock (flock: one broker per directory) and broker.sock, mode 0666:
 * anyone may connect, the allow lists decide who may acquire what.
 */
#ifndef KG_BROKER_SERVER_H
#define KG_BROKER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "acl.h"
#include "device.h"
#include "fdstore.h"
#include "loop.h"
#include "plan.h"

struct kg_server;

struct kg_server_config {
	struct kg_loop *loop;
	struct kg_device *dev;
	const struct kg_plan *plan; /* must outlive the server */
	const struct kg_acl *admin; /* who may REVOKE besides root */
	const char *runtime_dir;
	int lock_fd;		  /* from kg_server_lock(); the server owns it from here */
	int listen_fd;		  /* a listening socket from systemd, or -1 to bind one */
	bool listen_ours;	  /* listen_fd is the broker's own from the fd store */
	struct kg_fdstore *store; /* the lease table goes there; may be NULL */
};

/* Creates the runtime directory (0755) if needed and takes its lock, so
 * that a second broker stops before touching the device. Returns the lock
 * fd, or -errno after logging (-EBUSY: another broker holds it). */
int kg_server_lock(const char *runtime_dir);

/* Binds (or adopts listen_fd) and starts serving. Returns
 * NULL on failure, after logging what failed and what to do. */
struct kg_server *kg_server_create(const struct kg_server_config *cfg);
/* Revokes every lease (telling lessees: shutdown), cancels waiters, closes
 * every client, removes the socket, releases the lock. Accepts NULL. */
void kg_server_destroy(struct kg_server *srv);

/* The listening socket (for the fd store). */
int kg_server_listen_fd(const struct kg_server *srv);

/* After a restart with the master fd from systemd's fd store: the stored
 * connections of t become clients again, as they were (HELLO done, name,
 * version, leases, places in wait queues); a request the old broker was
 * handling is answered with CANCELLED. A lease the kernel still holds
 * whose connection was not stored becomes "orphaned, waiting for its
 * client": LIST shows it leased, nobody can acquire it; it ends when the
 * kernel drops the lessee (its last fd closed), an admin revokes it, or
 * the broker stops. */
void kg_server_adopt(struct kg_server *srv, const struct kg_fdstore_table *t);

/* After a hotplug re-probe: changed[i] per desc connector. Sends
 * EV_CONNECTOR_CHANGED for the pipelines on changed connectors. */
void kg_server_connectors_changed(struct kg_server *srv, const bool *changed);

#endif
