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

struct kg_fdstore {
	int listen_fd; /* the .socket unit's, until taken */
	int master_fd; /* from the store, until taken */
	int table_fd;  /* the lease table memfd (stored or ours), -1 */
	bool master_from_store;
	bool saved; /* both are in the store */
};

#ifdef HAVE_SYSTEMD
static int inherit(struct kg_fdstore *st)
{
	struct kg_fdstore_roles r;
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
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		/* Not for the broker's children (there are none today). */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (i == r.listen)
			st->listen_fd = fd;
		else if (i == r.master)
			st->master_fd = fd;
		else if (i == r.table)
			st->table_fd = fd;
	}
	st->master_from_store = st->master_fd >= 0;
	st->saved = st->master_from_store && st->table_fd >= 0;
	if (st->master_fd >= 0)
		kg_info("systemd's fd store passed a DRM master fd (%s%s)", KG_FDSTORE_MASTER,
			st->table_fd >= 0 ? " and the lease table" : "; no lease table");
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
	free(st);
}

int kg_fdstore_take_listen_fd(struct kg_fdstore *st)
{
	int fd = st->listen_fd;

	st->listen_fd = -1;
	return fd;
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

size_t kg_fdstore_adopted_leases(struct kg_fdstore *st, int master_fd, struct kg_fdstore_entry *out,
				 size_t max)
{
	static char buf[KG_FDSTORE_TABLE_MAX + 1];
	uint32_t live[KG_FDSTORE_MAX_LEASES * 2];
	ssize_t len;
	int n, n_live;

	if (st->table_fd < 0 || !st->master_from_store)
		return 0;
	len = pread(st->table_fd, buf, sizeof(buf) - 1, 0);
	n = len < 0 ? -errno : kg_fdstore_table_parse(buf, (size_t)len, out, max);
	if (n < 0) {
		errno = -n;
		kg_log_errno(KG_LOG_WARN,
			     "the stored lease table cannot be read; adopting no lease (the "
			     "kernel's lessees stay until their clients close them)");
		return 0;
	}
	n_live = live_lessees(master_fd, live, sizeof(live) / sizeof(live[0]));
	if (n_live < 0) {
		errno = -n_live;
		kg_log_errno(KG_LOG_WARN, "drmModeListLessees on the stored master fd failed; "
					  "adopting no lease");
		return 0;
	}
	kg_info("the stored lease table has %d lease(s); the kernel lists %d live lessee(s)", n,
		n_live);
	return kg_fdstore_keep_live(out, (size_t)n, live, (size_t)n_live);
}

#ifdef HAVE_SYSTEMD
static int store(const char *name, int fd)
{
	char msg[64];
	int ret;

	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	ret = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	if (ret <= 0) {
		errno = ret < 0 ? -ret : ENOTCONN;
		kg_log_errno(KG_LOG_WARN,
			     "cannot put %s in systemd's fd store; a restart of the broker will "
			     "end every lease (set FileDescriptorStoreMax= in its unit)",
			     name);
		return ret < 0 ? ret : -ENOTCONN;
	}
	return 0;
}
#endif

int kg_fdstore_save(struct kg_fdstore *st, int master_fd)
{
#ifdef HAVE_SYSTEMD
	int ret;

	if (!getenv("NOTIFY_SOCKET") || st->saved)
		return 0;
	if (st->table_fd < 0) {
		st->table_fd = memfd_create("kmsgate-lease-table", MFD_CLOEXEC);
		if (st->table_fd < 0) {
			kg_log_errno(KG_LOG_WARN, "memfd_create for the lease table failed");
			return -errno;
		}
		kg_fdstore_record(st, NULL, 0);
	}
	ret = store(KG_FDSTORE_MASTER, master_fd);
	if (ret == 0)
		ret = store(KG_FDSTORE_TABLE, st->table_fd);
	if (ret == 0) {
		st->saved = true;
		kg_info("stored the DRM master fd and the lease table in systemd's fd store: "
			"leases survive a restart of the broker");
	}
	return ret;
#else
	(void)st;
	(void)master_fd;
	return 0;
#endif
}

void kg_fdstore_record(struct kg_fdstore *st, const struct kg_fdstore_entry *e, size_t n)
{
	static char buf[KG_FDSTORE_TABLE_MAX];
	size_t len;

	if (!st || st->table_fd < 0)
		return;
	len = kg_fdstore_table_format(e, n, buf, sizeof(buf));
	/* Written at once and then cut: a reader after a kill -9 between the
	 * two sees the new text and, at worst, the old one's tail, which the
	 * parser refuses rather than misreads. */
	if (len == 0 || pwrite(st->table_fd, buf, len, 0) != (ssize_t)len ||
	    ftruncate(st->table_fd, (off_t)len) < 0)
		kg_log_errno(KG_LOG_WARN,
			     "cannot update the stored lease table; a restart would adopt "
			     "an older view of the leases");
}

void kg_fdstore_forget(struct kg_fdstore *st)
{
#ifdef HAVE_SYSTEMD
	if (!st || !st->saved || !getenv("NOTIFY_SOCKET"))
		return;
	sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" KG_FDSTORE_MASTER);
	sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" KG_FDSTORE_TABLE);
	st->saved = false;
#else
	(void)st;
#endif
}
