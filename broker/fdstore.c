// SPDX-License-Identifier: MIT
/* The systemd side of kg_fdstore (see fdstore.h). */
#include "fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "config.h" /* HAVE_SYSTEMD */
#include "log.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

struct stored_client {
	uint32_t conn;
	int fd; /* until taken */
};

struct stored_lessee {
	uint32_t id;
	uint32_t fb; /* 0: lessee-ID-PIPELINE, else frame-ID-FB-PIPELINE */
	char pipeline[KG_CONFIG_NAME_MAX];
	int fd; /* until taken */
};

struct kg_fdstore {
	int listen_fd;	   /* the .socket unit's or our stored one, until taken */
	int master_fd;	   /* from the store, until taken */
	int table_fd;	   /* the lease table memfd (stored or ours), -1 */
	bool listen_ours;  /* listen_fd is KG_FDSTORE_LISTEN */
	bool listen_saved; /* our listening socket is in the store */
	bool master_from_store;
	bool saved;		       /* master and table are in the store */
	struct stored_client *clients; /* inherited connections */
	size_t n_clients;
	struct stored_lessee *lessees; /* inherited lease fds */
	size_t n_lessees;
};

#ifdef HAVE_SYSTEMD
/* Our own listening socket from the store, unless the .socket unit passed
 * one (then that one serves and ours is dropped). */
static void take_stored_listen(struct kg_fdstore *st, int fd)
{
	if (st->listen_fd >= 0) {
		kg_info("a socket unit passed a socket: dropping the stored %s", KG_FDSTORE_LISTEN);
		close(fd);
		sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" KG_FDSTORE_LISTEN);
		return;
	}
	st->listen_fd = fd;
	st->listen_ours = st->listen_saved = true;
}

static int inherit(struct kg_fdstore *st)
{
	struct kg_fdstore_roles r = { -1, -1, -1, -1 };
	char **names = NULL, err[256];
	int n = sd_listen_fds_with_names(1, &names), ret = 0;

	if (n < 0) {
		errno = -n;
		kg_log_errno(KG_LOG_ERROR, "cannot read the fds systemd passed (LISTEN_FDS)");
		return n;
	}
	if (n > 0 &&
	    kg_fdstore_classify((const char *const *)names, (size_t)n, &r, err, sizeof(err)) < 0) {
		kg_err("%s", err);
		ret = -EINVAL;
		goto out;
	}
	if (n > 0) {
		st->clients = calloc((size_t)n, sizeof(*st->clients));
		st->lessees = calloc((size_t)n, sizeof(*st->lessees));
		if (!st->clients || !st->lessees) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		uint32_t conn = kg_fdstore_client_conn(names[i] ? names[i] : "");
		struct stored_lessee *l = &st->lessees[st->n_lessees];

		/* Not for the broker's children (there are none today). */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (i == r.listen)
			st->listen_fd = fd;
		else if (i == r.master)
			st->master_fd = fd;
		else if (i == r.table)
			st->table_fd = fd;
		else if (conn)
			st->clients[st->n_clients++] = (struct stored_client){ conn, fd };
		else if ((l->id = kg_fdstore_lessee_name(names[i] ? names[i] : "", l->pipeline,
							 &l->fb))) {
			l->fd = fd;
			st->n_lessees++;
		}
	}
	if (r.stored_listen >= 0)
		take_stored_listen(st, SD_LISTEN_FDS_START + r.stored_listen);
	st->master_from_store = st->master_fd >= 0;
	st->saved = st->master_from_store && st->table_fd >= 0;
	if (st->master_fd >= 0)
		kg_info("systemd's fd store passed a DRM master fd (%s%s), %zu connection(s)%s",
			KG_FDSTORE_MASTER,
			st->table_fd >= 0 ? " and the lease table" : "; no lease table",
			st->n_clients, st->listen_ours ? " and the listening socket" : "");
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}
#endif

struct kg_fdstore *kg_fdstore_open(void)
{
	struct kg_fdstore *st = calloc(1, sizeof(*st));

	if (!st) {
		kg_log_errno(KG_LOG_ERROR, "out of memory");
		return NULL;
	}
	st->listen_fd = st->master_fd = st->table_fd = -1;
#ifdef HAVE_SYSTEMD
	if (inherit(st) < 0) {
		kg_fdstore_destroy(st);
		return NULL;
	}
#endif
	return st;
}

void kg_fdstore_destroy(struct kg_fdstore *st)
{
	if (!st)
		return;
	if (st->listen_fd >= 0)
		close(st->listen_fd);
	if (st->master_fd >= 0)
		close(st->master_fd);
	if (st->table_fd >= 0)
		close(st->table_fd);
	for (size_t i = 0; i < st->n_clients; i++) {
		if (st->clients[i].fd >= 0)
			close(st->clients[i].fd);
	}
	for (size_t i = 0; i < st->n_lessees; i++) {
		if (st->lessees[i].fd >= 0)
			close(st->lessees[i].fd);
	}
	free(st->clients);
	free(st->lessees);
	free(st);
}

int kg_fdstore_take_listen_fd(struct kg_fdstore *st, bool *ours)
{
	int fd = st->listen_fd;

	st->listen_fd = -1;
	*ours = st->listen_ours;
	return fd;
}

int kg_fdstore_take_client_fd(struct kg_fdstore *st, uint32_t conn)
{
	for (size_t i = 0; i < st->n_clients; i++) {
		int fd = st->clients[i].fd;

		if (st->clients[i].conn == conn && fd >= 0) {
			st->clients[i].fd = -1;
			return fd;
		}
	}
	return -1;
}

int kg_fdstore_take_lessee_fd(struct kg_fdstore *st, uint32_t lessee_id, const char *pipeline)
{
	for (size_t i = 0; st && i < st->n_lessees; i++) {
		int fd = st->lessees[i].fd;

		/* The kernel hands lessee ids out lowest free first: a leftover
		 * of the same id on another pipeline is not this one. */
		if (st->lessees[i].id == lessee_id && !st->lessees[i].fb && fd >= 0 &&
		    strcmp(st->lessees[i].pipeline, pipeline) == 0) {
			st->lessees[i].fd = -1;
			return fd;
		}
	}
	return -1;
}

int kg_fdstore_take_frame_fd(struct kg_fdstore *st, const char *pipeline, uint32_t fb,
			     uint32_t *lessee_id)
{
	for (size_t i = 0; st && fb && i < st->n_lessees; i++) {
		struct stored_lessee *l = &st->lessees[i];
		int fd = l->fd;

		if (fd >= 0 && l->fb == fb && strcmp(l->pipeline, pipeline) == 0) {
			*lessee_id = l->id;
			l->fd = -1;
			return fd;
		}
	}
	return -1;
}

void kg_fdstore_drop_unclaimed(struct kg_fdstore *st)
{
	for (size_t i = 0; st && i < st->n_clients; i++) {
		if (st->clients[i].fd < 0)
			continue;
		kg_info("stored connection %s%u is not in the lease table: closing it",
			KG_FDSTORE_CLIENT_PREFIX, st->clients[i].conn);
		close(st->clients[i].fd);
		st->clients[i].fd = -1;
		kg_fdstore_remove_client(st, st->clients[i].conn);
	}
	for (size_t i = 0; st && i < st->n_lessees; i++) {
		if (st->lessees[i].fd < 0)
			continue;
		kg_dbg("stored lease fd of lessee %u (pipeline %s) not taken: closing it",
		       st->lessees[i].id, st->lessees[i].pipeline);
		close(st->lessees[i].fd);
		st->lessees[i].fd = -1;
		kg_fdstore_remove_lessee(st, st->lessees[i].id, st->lessees[i].fb,
					 st->lessees[i].pipeline);
	}
}

int kg_fdstore_take_master_fd(struct kg_fdstore *st)
{
	int fd = st->master_fd;

	st->master_fd = -1;
	return fd;
}

/* The kernel's live lessees of master_fd; -errno on failure. */
static int live_lessees(int master_fd, uint32_t *ids, size_t max)
{
	drmModeLesseeListPtr ll = drmModeListLessees(master_fd);
	size_t n = 0;

	if (!ll)
		return -errno;
	for (; n < ll->count && n < max; n++)
		ids[n] = ll->lessees[n];
	drmFree(ll);
	return (int)n;
}

/* The pipelines of leases whose lessee the kernel does not list. */
static void note_gone(struct kg_fdstore_table *t, const uint32_t *live, size_t n_live)
{
	for (size_t i = 0; i < t->n_leases; i++) {
		bool is_live = false;

		for (size_t j = 0; j < n_live; j++)
			is_live |= live[j] == t->leases[i].lessee_id;
		if (!is_live && t->n_gone < KG_FDSTORE_MAX_LEASES)
			memcpy(t->gone[t->n_gone++], t->leases[i].pipeline, KG_CONFIG_NAME_MAX);
	}
}

bool kg_fdstore_adopted(struct kg_fdstore *st, int master_fd, struct kg_fdstore_table *t)
{
	static char buf[KG_FDSTORE_TABLE_MAX + 1];
	uint32_t live[KG_FDSTORE_MAX_LEASES * 2];
	ssize_t len;
	int ret, n_live;

	t->n_leases = t->n_clients = t->n_waits = t->n_gone = 0;
	if (st->table_fd < 0 || !st->master_from_store)
		return false;
	len = kg_fdstore_table_read(st->table_fd, buf, sizeof(buf) - 1);
	ret = len < 0 ? (int)len : kg_fdstore_table_parse(buf, (size_t)len, t);
	if (ret < 0) {
		errno = -ret;
		kg_log_errno(
			KG_LOG_WARN,
			"the stored lease table cannot be read; adopting no lease and no "
			"connection (the kernel's lessees stay until their clients close them)");
		t->n_leases = t->n_clients = t->n_waits = 0;
		return false;
	}
	n_live = live_lessees(master_fd, live, sizeof(live) / sizeof(live[0]));
	if (n_live < 0) {
		errno = -n_live;
		kg_log_errno(KG_LOG_WARN, "drmModeListLessees on the stored master fd failed; "
					  "adopting no lease");
		t->n_leases = 0; /* nothing known about them: not "gone" either */
		n_live = 0;
	}
	kg_info("the stored lease table has %zu lease(s), %zu connection(s), %zu waiter(s); the "
		"kernel lists %d live lessee(s)",
		t->n_leases, t->n_clients, t->n_waits, n_live);
	note_gone(t, live, (size_t)n_live);
	t->n_leases = kg_fdstore_keep_live(t->leases, t->n_leases, live, (size_t)n_live);
	return true;
}

#ifdef HAVE_SYSTEMD
/* lost: what a restart then loses. */
static int store(const char *name, int fd, const char *lost)
{
	char msg[64 + KG_CONFIG_NAME_MAX];
	int ret;

	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	ret = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	if (ret <= 0) {
		errno = ret < 0 ? -ret : ENOTCONN;
		kg_log_errno(KG_LOG_WARN,
			     "cannot put %s in systemd's fd store; a restart of the broker will "
			     "%s (set FileDescriptorStoreMax= in its unit)",
			     name, lost);
		return ret < 0 ? ret : -ENOTCONN;
	}
	return 0;
}
#endif

int kg_fdstore_save(struct kg_fdstore *st, int master_fd, int listen_fd)
{
#ifdef HAVE_SYSTEMD
	int ret = 0;

	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	if (!st->saved && st->table_fd < 0) {
		st->table_fd = memfd_create("kmsgate-lease-table", MFD_CLOEXEC);
		if (st->table_fd < 0) {
			kg_log_errno(KG_LOG_WARN, "memfd_create for the lease table failed");
			return -errno;
		}
		kg_fdstore_record(st, NULL);
	}
	if (!st->saved) {
		ret = store(KG_FDSTORE_MASTER, master_fd, "end every lease");
		if (ret == 0)
			ret = store(KG_FDSTORE_TABLE, st->table_fd, "end every lease");
		if (ret == 0) {
			st->saved = true;
			kg_info("stored the DRM master fd and the lease table in systemd's fd "
				"store: leases survive a restart of the broker");
		}
	}
	if (ret == 0 && listen_fd >= 0 && !st->listen_saved) {
		ret = store(KG_FDSTORE_LISTEN, listen_fd,
			    "refuse connections until the new broker listens");
		st->listen_saved = ret == 0;
	}
	return ret;
#else
	(void)st;
	(void)master_fd;
	(void)listen_fd;
	return 0;
#endif
}

bool kg_fdstore_add_client(struct kg_fdstore *st, int fd, uint32_t conn)
{
#ifdef HAVE_SYSTEMD
	char name[32];

	if (!st || !st->saved || !getenv("NOTIFY_SOCKET"))
		return false;
	snprintf(name, sizeof(name), KG_FDSTORE_CLIENT_PREFIX "%u", conn);
	return store(name, fd, "close this connection (its lease becomes an orphan)") == 0;
#else
	(void)st;
	(void)fd;
	(void)conn;
	return false;
#endif
}

void kg_fdstore_remove_client(struct kg_fdstore *st, uint32_t conn)
{
#ifdef HAVE_SYSTEMD
	char msg[64];

	if (!st || !getenv("NOTIFY_SOCKET"))
		return;
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=" KG_FDSTORE_CLIENT_PREFIX "%u", conn);
	sd_notify(0, msg);
#else
	(void)st;
	(void)conn;
#endif
}

void kg_fdstore_add_lessee(struct kg_fdstore *st, int fd, uint32_t lessee_id, const char *pipeline)
{
#ifdef HAVE_SYSTEMD
	char name[32 + KG_CONFIG_NAME_MAX];

	if (!st || !st->saved || !getenv("NOTIFY_SOCKET"))
		return;
	snprintf(name, sizeof(name), KG_FDSTORE_LESSEE_PREFIX "%u-%s", lessee_id, pipeline);
	store(name, fd, "not keep this lessee's last frame if it dies meanwhile");
#else
	(void)st;
	(void)fd;
	(void)lessee_id;
	(void)pipeline;
#endif
}

void kg_fdstore_keep_frame(struct kg_fdstore *st, int fd, uint32_t lessee_id, uint32_t fb,
			   const char *pipeline)
{
#ifdef HAVE_SYSTEMD
	char name[48 + KG_CONFIG_NAME_MAX];

	if (!st || !st->saved || !getenv("NOTIFY_SOCKET"))
		return;
	/* Both names a moment (a restart then drops the lessee- one), never
	 * neither. */
	snprintf(name, sizeof(name), KG_FDSTORE_FRAME_PREFIX "%u-%u-%s", lessee_id, fb, pipeline);
	store(name, fd, "not keep this frame");
	kg_fdstore_remove_lessee(st, lessee_id, 0, pipeline);
#else
	(void)st;
	(void)fd;
	(void)lessee_id;
	(void)fb;
	(void)pipeline;
#endif
}

void kg_fdstore_remove_lessee(struct kg_fdstore *st, uint32_t lessee_id, uint32_t fb,
			      const char *pipeline)
{
#ifdef HAVE_SYSTEMD
	char msg[64 + KG_CONFIG_NAME_MAX];

	if (!st || !getenv("NOTIFY_SOCKET"))
		return;
	if (fb)
		snprintf(msg, sizeof(msg),
			 "FDSTOREREMOVE=1\nFDNAME=" KG_FDSTORE_FRAME_PREFIX "%u-%u-%s", lessee_id,
			 fb, pipeline);
	else
		snprintf(msg, sizeof(msg),
			 "FDSTOREREMOVE=1\nFDNAME=" KG_FDSTORE_LESSEE_PREFIX "%u-%s", lessee_id,
			 pipeline);
	sd_notify(0, msg);
#else
	(void)st;
	(void)lessee_id;
	(void)fb;
	(void)pipeline;
#endif
}

bool kg_fdstore_recording(const struct kg_fdstore *st)
{
	return st && st->table_fd >= 0;
}

void kg_fdstore_record(struct kg_fdstore *st, const struct kg_fdstore_table *t)
{
	static const struct kg_fdstore_table empty;
	static char buf[KG_FDSTORE_TABLE_MAX];
	size_t len;
	int ret;

	if (!st || st->table_fd < 0)
		return;
	len = kg_fdstore_table_format(t ? t : &empty, buf, sizeof(buf));
	ret = len == 0 ? -ENOSPC : kg_fdstore_table_write(st->table_fd, buf, len);
	if (ret < 0) {
		errno = -ret;
		kg_log_errno(KG_LOG_WARN,
			     "cannot update the stored lease table; a restart would adopt "
			     "an older view of the leases");
	}
}

void kg_fdstore_forget(struct kg_fdstore *st)
{
#ifdef HAVE_SYSTEMD
	if (!st || !getenv("NOTIFY_SOCKET"))
		return;
	if (st->saved) {
		sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" KG_FDSTORE_MASTER);
		sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" KG_FDSTORE_TABLE);
	}
	if (st->listen_saved)
		sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" KG_FDSTORE_LISTEN);
	st->saved = st->listen_saved = false;
#else
	(void)st;
#endif
}
