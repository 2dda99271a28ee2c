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
 *   "drm-master"   the DRM card fd;
 *   "lease-table"  a memfd with one line per lease, "LESSEE_ID PIPELINE",
 *                  rewritten in place on every grant and end (the store
 *                  holds the same file, so nothing is sent again). The
 *                  lessor cannot ask the kernel which objects a lessee
 *                  holds (GET_LEASE answers only for the caller's own
 *                  lease), so this is how a restarted broker maps the
 *                  lessee ids of LIST_LESSEES back to pipelines.
 * On a clean stop (SIGTERM: every lease revoked) both are removed again
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
#include <stdint.h>
#include <sys/stat.h>

#include "conffile.h"

#define KG_FDSTORE_MASTER     "drm-master"
#define KG_FDSTORE_TABLE      "lease-table"
#define KG_FDSTORE_MAX_LEASES 64
/* Lines "4294967295 " + name + "\n", plus the header. */
#define KG_FDSTORE_TABLE_MAX (32 + KG_FDSTORE_MAX_LEASES * (12 + KG_CONFIG_NAME_MAX))

struct kg_fdstore_entry {
	uint32_t lessee_id;
	char pipeline[KG_CONFIG_NAME_MAX];
};

/* What each inherited fd is, by its LISTEN_FDNAMES name: indices into
 * names, -1 when absent. Any name but ours is a socket of the .socket unit
 * (systemd names those after the unit, or FileDescriptorName=). */
struct kg_fdstore_roles {
	int listen;
	int master;
	int table;
};

/* Returns 0, or -EINVAL with err filled: more than one socket, or one of
 * our names twice. names may be NULL when n is 0. */
int kg_fdstore_classify(const char *const *names, size_t n, struct kg_fdstore_roles *out, char *err,
			size_t errlen);

/* Both are character devices with the same device number: the stored fd
 * is the configured card. */
bool kg_fdstore_same_device(const struct stat *stored, const struct stat *configured);

/* The table's text into buf. Returns its length, or 0 if buf is too small
 * (KG_FDSTORE_TABLE_MAX always fits KG_FDSTORE_MAX_LEASES entries). */
size_t kg_fdstore_table_format(const struct kg_fdstore_entry *e, size_t n, char *buf, size_t len);
/* Parses what kg_fdstore_table_format wrote (trailing NULs ignored: the
 * memfd may be longer than the text). Returns the number of entries, or
 * -EINVAL on anything else (a table we cannot read is not trusted at all). */
int kg_fdstore_table_parse(const char *buf, size_t len, struct kg_fdstore_entry *out, size_t max);

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

/* The .socket unit's socket, or -1 (the broker binds its own). */
int kg_fdstore_take_listen_fd(struct kg_fdstore *st);
/* The stored DRM master fd (the caller owns it from here), or -1. */
int kg_fdstore_take_master_fd(struct kg_fdstore *st);

/* The lease table stored by the previous broker, checked against the
 * kernel's live lessees (from the master fd). Returns how many entries
 * are in out, 0 if there is no table. */
size_t kg_fdstore_adopted_leases(struct kg_fdstore *st, int master_fd, struct kg_fdstore_entry *out,
				 size_t max);

/* Under systemd (NOTIFY_SOCKET set): stores master_fd and the lease table
 * unless they came from the store. Returns 0 (also when there is no
 * systemd), or -errno after logging. */
int kg_fdstore_save(struct kg_fdstore *st, int master_fd);
/* Rewrites the stored lease table. Accepts NULL and works without one. */
void kg_fdstore_record(struct kg_fdstore *st, const struct kg_fdstore_entry *e, size_t n);
/* Clean stop: asks systemd to drop both fds. */
void kg_fdstore_forget(struct kg_fdstore *st);

#endif
