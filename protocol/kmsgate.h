/* SPDX-License-Identifier: MIT */
/*
 * libkmsgate: the client library of kmsgate-broker.
 *
 * A program connects to the broker, lists the display pipelines (connector +
 * CRTC + planes) and acquires one: it gets a DRM lease fd that is DRM master
 * of exactly those objects, plus their ids and the mode to set. The lease
 * ends with kmsgate_release(), when the connection closes (also when the
 * program dies), or when the broker revokes it (an event says so).
 *
 *     struct kmsgate_client *c = kmsgate_connect(NULL, "my-app");
 *     struct kmsgate_lease *l = kmsgate_acquire(c, "HDMI-A-1", 0);
 *     int fd = kmsgate_lease_fd(l);   // drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) ...
 *     ...
 *     kmsgate_release(c, l);
 *     kmsgate_close(c);
 *
 * Threads: a client and its leases are used from one thread at a time.
 * The library never prints and never exits; errors come back as NULL with
 * errno set, or as a negative errno. Every fd it creates is O_CLOEXEC.
 * Any request may also fail with ECANCELED when the broker crashed while
 * handling it and came back with this connection (systemd's fd store,
 * docs/recovery.md): it may or may not have taken effect; the connection
 * and its leases go on, kmsgate_list() tells what is so.
 * Link with `pkg-config --cflags --libs kmsgate`. Wire protocol:
 * PROTOCOL.md in the source tree.
 */
#ifndef KMSGATE_H
#define KMSGATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The broker's default socket (its runtime directory and the socket's
 * name in it); the environment variable overrides it. */
#define KMSGATE_RUNTIME_DIR    "/run/kmsgate"
#define KMSGATE_SOCKET_NAME    "broker.sock"
#define KMSGATE_DEFAULT_SOCKET KMSGATE_RUNTIME_DIR "/" KMSGATE_SOCKET_NAME
#define KMSGATE_SOCKET_ENV     "KMSGATE_SOCKET"
#define KMSGATE_NAME_LEN       32 /* names, NUL included */

struct kmsgate_client;
struct kmsgate_list;
struct kmsgate_pipeline;
struct kmsgate_lease;

/* A display mode, laid out exactly like libdrm's drmModeModeInfo (same
 * fields, types and order), so it can be copied into one with memcpy. */
struct kmsgate_mode {
	uint32_t clock;
	uint16_t hdisplay, hsync_start, hsync_end, htotal, hskew;
	uint16_t vdisplay, vsync_start, vsync_end, vtotal, vscan;
	uint32_t vrefresh;
	uint32_t flags;
	uint32_t type;
	char name[32];
};

/* Plane types: the values of DRM_PLANE_TYPE_*. */
#define KMSGATE_PLANE_OVERLAY 0
#define KMSGATE_PLANE_PRIMARY 1
#define KMSGATE_PLANE_CURSOR  2

struct kmsgate_plane {
	uint32_t id;   /* DRM plane object id */
	uint32_t type; /* KMSGATE_PLANE_* */
};

/*
 * Connection
 */

/* Connects to the broker at path (NULL: $KMSGATE_SOCKET, else
 * KMSGATE_DEFAULT_SOCKET) and does the version handshake. client_name (NULL:
 * none) is shown to admins; it is cut to 31 characters and non-printable
 * characters become '?'. Returns the client, or NULL with errno:
 *   ENOENT, ECONNREFUSED  no broker listens there;
 *   EACCES               the socket or its directory is not accessible;
 *   EPROTONOSUPPORT      the broker speaks no common protocol version;
 *   EAGAIN               the broker refused the connection: too many
 *                        connections, in all or of this user (LIMIT);
 *   EPROTO               the broker sent something malformed;
 *   ETIMEDOUT            no answer within 10 s;
 *   ENAMETOOLONG         path too long for a UNIX socket; ENOMEM. */
struct kmsgate_client *kmsgate_connect(const char *path, const char *client_name);

/* Closes the connection: the broker revokes every lease of this client.
 * Leases not yet released stay valid objects (their fds see nothing any
 * more): destroy them with kmsgate_lease_destroy(). Accepts NULL. */
void kmsgate_close(struct kmsgate_client *c);

/* The protocol version agreed with the broker, and the broker's name. */
unsigned kmsgate_version(const struct kmsgate_client *c);
const char *kmsgate_server_name(const struct kmsgate_client *c);

/* The broker's text for the last refused request (e.g. "pipeline HDMI-A-1 is
 * leased to pid 99 (kmscube)"), or "" if none. Valid until the next call. */
const char *kmsgate_last_error(const struct kmsgate_client *c);

/*
 * Pipelines
 */

#define KMSGATE_STATE_FREE	  0
#define KMSGATE_STATE_LEASED	  1
#define KMSGATE_STATE_UNAVAILABLE 2 /* e.g. connector disconnected */

#define KMSGATE_CONNECTED    1 /* drmModeConnection values */
#define KMSGATE_DISCONNECTED 2
#define KMSGATE_UNKNOWN	     3

/* Asks the broker for every pipeline. Returns 0 and *out (free it with
 * kmsgate_list_free), or -errno: -EPROTO (malformed reply), -ECONNRESET
 * (broker gone), -ETIMEDOUT, -ENOMEM. */
int kmsgate_list(struct kmsgate_client *c, struct kmsgate_list **out);
size_t kmsgate_list_count(const struct kmsgate_list *l);
/* Pipeline i (0 <= i < count), valid until kmsgate_list_free; NULL if out of
 * range. */
const struct kmsgate_pipeline *kmsgate_list_get(const struct kmsgate_list *l, size_t i);
/* Accepts NULL. */
void kmsgate_list_free(struct kmsgate_list *l);

const char *kmsgate_pipeline_name(const struct kmsgate_pipeline *p);
/* KMSGATE_STATE_* */
uint32_t kmsgate_pipeline_state(const struct kmsgate_pipeline *p);
/* 1 if this client may acquire it (allow lists), else 0. */
int kmsgate_pipeline_allowed(const struct kmsgate_pipeline *p);
/* 1 if it is leased to this connection. */
int kmsgate_pipeline_mine(const struct kmsgate_pipeline *p);
const char *kmsgate_pipeline_connector_name(const struct kmsgate_pipeline *p);
uint32_t kmsgate_pipeline_connector_id(const struct kmsgate_pipeline *p);
/* DRM_MODE_CONNECTOR_* */
uint32_t kmsgate_pipeline_connector_type(const struct kmsgate_pipeline *p);
/* KMSGATE_CONNECTED / _DISCONNECTED / _UNKNOWN */
uint32_t kmsgate_pipeline_connector_status(const struct kmsgate_pipeline *p);
/* Physical size in mm; 0 if unknown. */
void kmsgate_pipeline_size_mm(const struct kmsgate_pipeline *p, uint32_t *width, uint32_t *height);
uint32_t kmsgate_pipeline_crtc_id(const struct kmsgate_pipeline *p);
/* The mode shown now / the mode a lessee gets. Return 0 and fill *mode, or
 * -ENOENT if there is none (CRTC off / no mode known). */
int kmsgate_pipeline_current_mode(const struct kmsgate_pipeline *p, struct kmsgate_mode *mode);
int kmsgate_pipeline_preferred_mode(const struct kmsgate_pipeline *p, struct kmsgate_mode *mode);
size_t kmsgate_pipeline_plane_count(const struct kmsgate_pipeline *p);
/* Plane i, or NULL if out of range. */
const struct kmsgate_plane *kmsgate_pipeline_plane(const struct kmsgate_pipeline *p, size_t i);
/* The lessee when leased: pid and uid (0 if free), and its client name. */
pid_t kmsgate_pipeline_lessee_pid(const struct kmsgate_pipeline *p);
uid_t kmsgate_pipeline_lessee_uid(const struct kmsgate_pipeline *p);
const char *kmsgate_pipeline_lessee_name(const struct kmsgate_pipeline *p);

/*
 * Leases
 */

/* If the pipeline is leased, wait until it is free instead of failing. */
#define KMSGATE_ACQUIRE_WAIT 0x1u

/* Acquires the pipeline called name. Blocks until the broker answers (with
 * KMSGATE_ACQUIRE_WAIT, until the pipeline is free: possibly forever).
 * Events that arrive meanwhile are queued for kmsgate_dispatch(). Returns the
 * lease, or NULL with errno:
 *   ENOENT           no pipeline of that name;
 *   EBUSY            leased to another client (without WAIT), or held by
 *                    this client already;
 *   EACCES           this user may not use it;
 *   ENODEV           the pipeline is unavailable (connector disconnected);
 *   ECANCELED        the wait ended without a lease (broker stopping);
 *   EAGAIN           already waiting for it, or too many waiters;
 *   EIO              the broker failed to create the lease;
 *   EINVAL           name is empty, too long or not printable;
 *   EPROTO, ECONNRESET, ETIMEDOUT (not with WAIT), ENOMEM.
 * kmsgate_last_error() has the broker's explanation. */
struct kmsgate_lease *kmsgate_acquire(struct kmsgate_client *c, const char *name, uint32_t flags);

/* The lease fd: a DRM device fd, master of the leased objects only. Owned by
 * the lease (closed by release/destroy); O_CLOEXEC: dup it to hand it on. */
int kmsgate_lease_fd(const struct kmsgate_lease *l);
const char *kmsgate_lease_name(const struct kmsgate_lease *l);
uint32_t kmsgate_lease_lessee_id(const struct kmsgate_lease *l);
uint32_t kmsgate_lease_connector_id(const struct kmsgate_lease *l);
uint32_t kmsgate_lease_crtc_id(const struct kmsgate_lease *l);
/* The mode to set. Returns 0, or -ENOENT if the broker left the choice to the
 * lessee. */
int kmsgate_lease_mode(const struct kmsgate_lease *l, struct kmsgate_mode *mode);
size_t kmsgate_lease_plane_count(const struct kmsgate_lease *l);
/* Plane i, or NULL if out of range. */
const struct kmsgate_plane *kmsgate_lease_plane(const struct kmsgate_lease *l, size_t i);
/* The id of the first leased plane of a type (KMSGATE_PLANE_*), 0 if none. */
uint32_t kmsgate_lease_plane_id(const struct kmsgate_lease *l, uint32_t type);
/* 1 once the broker revoked it (seen by kmsgate_dispatch or a blocking call),
 * or the connection was lost. */
int kmsgate_lease_revoked(const struct kmsgate_lease *l);

/* Gives the lease back: the broker revokes it. Closes the fd and frees l in
 * every case. Returns 0, or -errno: -ENOENT (the broker no longer counted it
 * as ours, e.g. already revoked), -EPROTO, -ECONNRESET, -ETIMEDOUT. */
int kmsgate_release(struct kmsgate_client *c, struct kmsgate_lease *l);
/* Frees a lease without telling the broker (after it was revoked, or after
 * kmsgate_close). Closes its fd. Accepts NULL. */
void kmsgate_lease_destroy(struct kmsgate_lease *l);

/* Admin: revokes whoever holds the pipeline. Returns 0, or -errno: -EACCES
 * (not an admin), -ENOENT, -EPROTO, -ECONNRESET, -ETIMEDOUT. */
int kmsgate_revoke(struct kmsgate_client *c, const char *name);

/*
 * Events
 */

#define KMSGATE_EVENT_REVOKED		 1 /* one of our leases was revoked */
#define KMSGATE_EVENT_CONNECTOR_CHANGED	 2 /* hotplug on a pipeline's connector */
#define KMSGATE_EVENT_PIPELINE_AVAILABLE 3 /* a pipeline became free */

/* Revoke reasons */
#define KMSGATE_REVOKE_ADMIN	      1
#define KMSGATE_REVOKE_CONNECTOR_GONE 2
#define KMSGATE_REVOKE_SHUTDOWN	      3
#define KMSGATE_REVOKE_POLICY	      4

/* What the handler gets; valid during the call only. */
struct kmsgate_event {
	uint32_t type;			 /* KMSGATE_EVENT_* */
	char pipeline[KMSGATE_NAME_LEN]; /* the pipeline it is about */
	struct kmsgate_lease *lease;	 /* REVOKED: our lease (now revoked), else NULL */
	uint32_t reason;		 /* REVOKED: KMSGATE_REVOKE_* (or a newer one) */
	uint32_t connector_status;	 /* CONNECTOR_CHANGED: KMSGATE_CONNECTED... */
	uint32_t mm_width, mm_height;	 /* CONNECTOR_CHANGED */
	int has_preferred_mode;		 /* CONNECTOR_CHANGED */
	struct kmsgate_mode preferred_mode;
};

typedef void (*kmsgate_event_fn)(const struct kmsgate_event *ev, void *data);

/* Sets the event handler (NULL: events are dropped after updating lease
 * state). */
void kmsgate_set_event_handler(struct kmsgate_client *c, kmsgate_event_fn fn, void *data);

/* The fd to watch for POLLIN; call kmsgate_dispatch() when it is readable.
 * Owned by the client. */
int kmsgate_get_fd(const struct kmsgate_client *c);

/* Reads what the broker sent without blocking and calls the handler once per
 * event (queued ones first). Returns the number of events handled (>= 0), or
 * -errno: -ECONNRESET (the broker closed the connection: every lease is
 * marked revoked), -EPROTO (it sent garbage: the connection is closed). */
int kmsgate_dispatch(struct kmsgate_client *c);

/*
 * Handing a connection on to the next process (symbol version KMSGATE_0.2)
 *
 * A daemon restarted by systemd keeps its connection and its leases across
 * its own death: it puts the connection's fd (kmsgate_get_fd) and every
 * lease fd in systemd's file descriptor store, and the state that
 * kmsgate_save() writes in a file of its own (a memfd in the store). The
 * next process gives them to kmsgate_adopt(): the broker never sees the
 * connection close, so it revokes nothing, and the lessee's frame stays on
 * screen while no process holds it. Save after every ACQUIRE and RELEASE.
 */

/* Writes the connection's state (protocol version, broker name, request
 * numbering, each lease's description in the order acquired, revoked ones
 * too) into buf. Returns its size; when that is larger than size nothing
 * was written. -ECONNRESET: the connection is dead, nothing to hand on. */
long kmsgate_save(const struct kmsgate_client *c, void *buf, size_t size);

/* Takes over a connection: fd is its socket, state what kmsgate_save()
 * wrote, lease_fds[i] the fd of the saved state's i-th lease (n_leases of
 * them). Asks the broker which pipelines are still leased to this
 * connection: a lease that no longer is (revoked meanwhile) comes back
 * revoked; a pipeline leased to it that the state does not have (granted
 * after the save) is released. Replies to requests of earlier processes
 * are dropped. Takes fd and every lease fd on every path; on failure the
 * connection is shut down (every copy of it: the broker ends its leases).
 * The same state may be adopted again by the next process. Returns the
 * client and leases[i] (its leases, in the saved order), or NULL with
 * errno:
 *   EINVAL     state is not a state of this library, or n_leases is not
 *              its number of leases;
 *   EBADF      a lease fd is negative;
 *   ECONNRESET, EPROTO, ETIMEDOUT, ECANCELED  the broker did not answer
 *              the check (ECANCELED: it restarted twice meanwhile); ENOMEM. */
struct kmsgate_client *kmsgate_adopt(int fd, const void *state, size_t size, const int *lease_fds,
				     struct kmsgate_lease **leases, size_t n_leases);

/* The broker's error code as an errno value, as used above. */
int kmsgate_error_to_errno(uint32_t code);

#ifdef __cplusplus
}
#endif

#endif
