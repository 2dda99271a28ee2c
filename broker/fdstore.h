/* SPDX-License-Identifier: MIT */
/*
 * kg_fdstore: surviving the broker's own restart through systemd's file
 * descriptor store (sd_notify(3) FDSTORE=1, sd_listen_fds_with_names(3)).
 *
 * Why it works (docs/recovery.md, tested in the VM): the kernel revokes
 * every lease when the last fd of the lessor's DRM file closes, not when
 * the lessor process dies. If systemd keeps a copy of the master fd, a
 * kill -9 of the broker leaves every lease and its frame alone, and the
 * restarted broker gets the same DRM file back, still master.
 *
 * What is stored, once, after the broker became master:
 *   "drm-master"     the DRM card fd;
 *   "lease-table"    a memfd with the table (fdstore-table.c): stored
 *                    connections, leases (lessee id, pipeline, connection),
 *                    waiters; rewritten in place on every change (the store
 *                    holds the same file, so nothing is sent again). The
 *                    lessor cannot ask the kernel which objects a lessee
 *                    holds (GET_LEASE answers only for the caller's own
 *                    lease), so this is how a restarted broker maps the
 *                    lessee ids of LIST_LESSEES back to pipelines;
 *   "kmsgate-listen" the listening socket, when the broker bound it;
 * and then, as they come:
 *   "client-N"       each connection once its HELLO is answered, removed
 *                    (FDSTOREREMOVE=1) when it closes.
 * On a clean stop (SIGTERM: every lease revoked) all are removed again
 * (FDSTOREREMOVE=1) so no stored fd keeps the card's master.
 *
 * The pure part (which inherited fd is which, the table's text, which
 * entries are still live) has no systemd or DRM calls: unit-tested in
 * tests/unit/broker/test-fdstore.c.
 */
#ifndef KG_BROKER_FDSTORE_H
#define KG_BROKER_FDSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>
#include <sys/stat.h>

#include "conffile.h"

#define KG_FDSTORE_MASTER "drm-master"
#define KG_FDSTORE_TABLE  "lease-table"
/* The listening socket the broker bound itself (not socket-activated):
 * stored so that clients connecting while it restarts wait in the backlog
 * instead of finding no socket. */
#define KG_FDSTORE_LISTEN "kmsgate-listen"
/* Client connections: "client-N", N the connection's number in the table
 * (systemd refuses ':' in FDNAME=, its separator in LISTEN_FDNAMES). */
#define KG_FDSTORE_CLIENT_PREFIX "client-"
/* The broker's copy of the active lease's fd (lease.h): "lessee-ID-PIPELINE".
 * Kept, a restarted broker can still keep a lessee's last frame when the
 * lessee goes (on-release = keep). */
#define KG_FDSTORE_LESSEE_PREFIX "lessee-"
/* ... and once revoked and kept for its frame, "frame-ID-FB-PIPELINE": FB
 * the framebuffer it showed, so that a restarted broker keeps it only while
 * that frame is on screen. */
#define KG_FDSTORE_FRAME_PREFIX "frame-"

#define KG_FDSTORE_MAX_LEASES 64 /* KG_CONFIG_MAX_PIPELINES */
/* The broker's connection cap (KG_SERVER_MAX_CLIENTS): every connection
 * that said HELLO is stored. */
#define KG_FDSTORE_MAX_CLIENTS 1100
/* KG_SERVER_MAX_WAITERS per pipeline. */
#define KG_FDSTORE_MAX_WAITS	   (KG_FDSTORE_MAX_LEASES * 32)
#define KG_FDSTORE_CLIENT_NAME_LEN 32 /* KG_PROTO_NAME_LEN */
/* The fds stored at most: master, table, listening socket, connections,
 * two lease fds per pipeline (active, kept for its frame).
 * FileDescriptorStoreMax= in kmsgate-broker.service is this. */
#define KG_FDSTORE_MAX_FDS (3 + KG_FDSTORE_MAX_CLIENTS + 2 * KG_FDSTORE_MAX_LEASES)
/* Longest lines (u32 is 10 digits, u16 5) plus the header. */
#define KG_FDSTORE_TABLE_MAX                                          \
	(32 + KG_FDSTORE_MAX_LEASES * (26 + KG_CONFIG_NAME_MAX) +     \
	 KG_FDSTORE_MAX_CLIENTS * (36 + KG_FDSTORE_CLIENT_NAME_LEN) + \
	 KG_FDSTORE_MAX_WAITS * (26 + KG_CONFIG_NAME_MAX))

/* A lease: which lessee is on which pipeline, and which stored connection
 * holds it (0: none, an orphan after a restart). */
struct kg_fdstore_entry {
	uint32_t lessee_id;
	char pipeline[KG_CONFIG_NAME_MAX];
	uint32_t conn;
};

/* A stored connection, past its HELLO: what the broker knows of it that
 * the fd itself does not say (credentials are re-read with SO_PEERCRED). */
struct kg_fdstore_client {
	uint32_t conn;		/* >= 1, its fd is stored as client-N */
	uint16_t version;	/* negotiated protocol version */
	uint16_t inflight_type; /* a request read but not answered yet, 0 */
	uint32_t inflight_seq;
	char name[KG_FDSTORE_CLIENT_NAME_LEN]; /* from HELLO: 0x20-0x7e */
};

/* A waiting ACQUIRE, in queue order per pipeline. */
struct kg_fdstore_wait {
	uint32_t conn;
	uint32_t seq;
	char pipeline[KG_CONFIG_NAME_MAX];
};

/* The whole table (about 140 KiB: callers keep it static). */
struct kg_fdstore_table {
	struct kg_fdstore_entry leases[KG_FDSTORE_MAX_LEASES];
	size_t n_leases;
	struct kg_fdstore_client clients[KG_FDSTORE_MAX_CLIENTS];
	size_t n_clients;
	struct kg_fdstore_wait waits[KG_FDSTORE_MAX_WAITS];
	size_t n_waits;
	/* Not in the text: filled by kg_fdstore_adopted, the pipelines whose
	 * stored lease the kernel no longer lists (its client went while no
	 * broker ran): free now, and nobody was told. */
	char gone[KG_FDSTORE_MAX_LEASES][KG_CONFIG_NAME_MAX];
	size_t n_gone;
};

/* What each inherited fd is, by its LISTEN_FDNAMES name: indices into
 * names, -1 when absent. Any name but ours is a socket of the .socket unit
 * (systemd names those after the unit, or FileDescriptorName=). Client
 * connections (client-N) are not in here: see kg_fdstore_client_conn. */
struct kg_fdstore_roles {
	int listen;
	int stored_listen; /* our own, from the store */
	int master;
	int table;
};

/* Returns 0, or -EINVAL with err filled: more than one socket, or one of
 * our names twice. names may be NULL when n is 0. */
int kg_fdstore_classify(const char *const *names, size_t n, struct kg_fdstore_roles *out, char *err,
			size_t errlen);

/* N of a name "client-N" (N >= 1, decimal, no sign or leading 0), else 0. */
uint32_t kg_fdstore_client_conn(const char *name);
/* ID of a name "lessee-ID-PIPELINE" (*fb = 0) or "frame-ID-FB-PIPELINE"
 * (ID and FB as N above, PIPELINE a valid pipeline name, copied into
 * pipeline[KG_CONFIG_NAME_MAX]), else 0. */
uint32_t kg_fdstore_lessee_name(const char *name, char *pipeline, uint32_t *fb);

/* Both are character devices with the same device number: the stored fd
 * is the configured card. */
bool kg_fdstore_same_device(const struct stat *stored, const struct stat *configured);

/* The table's text (format "kmsgate-leases 2", see fdstore-table.c) into
 * buf. Returns its length, or 0 if buf is too small (KG_FDSTORE_TABLE_MAX
 * always fits a full table). */
size_t kg_fdstore_table_format(const struct kg_fdstore_table *t, char *buf, size_t len);
/* Parses what kg_fdstore_table_format wrote, or a version 1 table (leases
 * only, no connections), trailing NULs ignored (the memfd may be longer
 * than the text). Returns 0, or -EINVAL on anything else (a table we
 * cannot read is not trusted at all). */
int kg_fdstore_table_parse(const char *buf, size_t len, struct kg_fdstore_table *t);
/* Makes text[0..len) the table in the table file fd, so that a kill -9 at
 * any moment leaves either the old table or the new one (two slots and a
 * switch, fdstore-table.c). Returns 0 or -errno. */
int kg_fdstore_table_write(int fd, const char *text, size_t len);
/* The table's text from the table file fd into buf (at most cap bytes;
 * also the single text an older broker wrote). Returns its length, or
 * -errno (-EINVAL: a broken header). */
ssize_t kg_fdstore_table_read(int fd, char *buf, size_t cap);

/* Keeps, in order, the entries whose lessee the kernel still lists (live),
 * each id once. Returns how many were kept. */
size_t kg_fdstore_keep_live(struct kg_fdstore_entry *e, size_t n, const uint32_t *live,
			    size_t n_live);

/* --- the systemd side (fdstore.c) --- */

struct kg_fdstore;

/* Reads what systemd passed (sd_listen_fds_with_names). Returns NULL after
 * logging when the fds make no sense (see kg_fdstore_classify); without
 * systemd, an empty store. */
struct kg_fdstore *kg_fdstore_open(void);
/* Closes what was not taken. Accepts NULL. */
void kg_fdstore_destroy(struct kg_fdstore *st);

/* The .socket unit's socket, or the broker's own from the store (*ours
 * true: the broker bound it and unlinks its path on a clean stop), or -1
 * (the broker binds its own). */
int kg_fdstore_take_listen_fd(struct kg_fdstore *st, bool *ours);
/* The stored DRM master fd (the caller owns it from here), or -1. */
int kg_fdstore_take_master_fd(struct kg_fdstore *st);
/* The stored connection client-N (the caller owns it from here), or -1. */
int kg_fdstore_take_client_fd(struct kg_fdstore *st, uint32_t conn);
/* The stored lease fd of lessee id on pipeline (the caller owns it from
 * here), or -1. */
int kg_fdstore_take_lessee_fd(struct kg_fdstore *st, uint32_t lessee_id, const char *pipeline);
/* The stored fd of a revoked lease of pipeline kept for framebuffer fb (the
 * one on screen now) and its lessee id (the caller owns the fd from here),
 * or -1. */
int kg_fdstore_take_frame_fd(struct kg_fdstore *st, const char *pipeline, uint32_t fb,
			     uint32_t *lessee_id);
/* After adoption: closes the stored connections and lease fds nobody took
 * (not in the table: the broker died between storing the fd and writing
 * the table; an orphan's, which must end when its client closes it) and
 * asks systemd to drop them. */
void kg_fdstore_drop_unclaimed(struct kg_fdstore *st);

/* The table stored by the previous broker, its leases checked against the
 * kernel's live lessees (from the master fd). Returns false (t empty) if
 * there is none or it cannot be read. */
bool kg_fdstore_adopted(struct kg_fdstore *st, int master_fd, struct kg_fdstore_table *t);

/* Under systemd (NOTIFY_SOCKET set): stores master_fd, the lease table and
 * listen_fd (the broker's own socket, -1 for none) unless they came from
 * the store. Returns 0 (also when there is no systemd), or -errno after
 * logging. */
int kg_fdstore_save(struct kg_fdstore *st, int master_fd, int listen_fd);
/* Stores a connection as client-N, after its HELLO (once the master is
 * stored). Returns true if it was sent to systemd. Accepts NULL. */
bool kg_fdstore_add_client(struct kg_fdstore *st, int fd, uint32_t conn);
/* The connection is closing: asks systemd to drop client-N. */
void kg_fdstore_remove_client(struct kg_fdstore *st, uint32_t conn);
/* Stores the broker's copy of a lease fd as lessee-ID-PIPELINE (once the
 * master is stored). Accepts NULL. */
void kg_fdstore_add_lessee(struct kg_fdstore *st, int fd, uint32_t lessee_id, const char *pipeline);
/* The lease was revoked, its fd kept for framebuffer fb: stored as
 * frame-ID-FB-PIPELINE, then lessee-ID-PIPELINE removed. */
void kg_fdstore_keep_frame(struct kg_fdstore *st, int fd, uint32_t lessee_id, uint32_t fb,
			   const char *pipeline);
/* The broker closes its copy: asks systemd to drop it too (fb: 0 for
 * lessee-ID-PIPELINE, else the frame-ID-FB-PIPELINE of kg_fdstore_keep_frame). */
void kg_fdstore_remove_lessee(struct kg_fdstore *st, uint32_t lessee_id, uint32_t fb,
			      const char *pipeline);
/* There is a table to write (under systemd's fd store). Accepts NULL. */
bool kg_fdstore_recording(const struct kg_fdstore *st);
/* Rewrites the stored table. Accepts NULL and works without one. */
void kg_fdstore_record(struct kg_fdstore *st, const struct kg_fdstore_table *t);
/* Clean stop: asks systemd to drop the master, the table and the
 * listening socket (connections are removed as they close). */
void kg_fdstore_forget(struct kg_fdstore *st);

#endif
