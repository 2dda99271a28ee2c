// SPDX-License-Identifier: MIT
/* The pure part of kg_fdstore: no systemd, no DRM (see fdstore.h). */
#include "fdstore.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The lease table, version 2: a header line, then one line per record,
 * decimal numbers, names last:
 *
 *   kmsgate-leases 2
 *   c CONN VERSION INFLIGHT_SEQ INFLIGHT_TYPE NAME   a stored connection
 *   l LESSEE_ID CONN PIPELINE                        a lease (CONN 0: none)
 *   w CONN SEQ PIPELINE                              a waiting ACQUIRE
 *
 * NAME is the client's HELLO name, the rest of the line (0-31 characters
 * 0x20-0x7e, so it may be empty or hold spaces). Version 1 (kmsgate-leases
 * 1, lines "LESSEE_ID PIPELINE") is still read: a broker upgraded across a
 * crash adopts the old one's leases as orphans.
 */
#define HEADER_V1  "kmsgate-leases 1\n"
#define HEADER_V2  "kmsgate-leases 2\n"
#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

static int claim(int *slot, size_t i, const char *name, char *err, size_t errlen)
{
	if (*slot >= 0) {
		snprintf(err, errlen, "two stored fds named %s (fds %d and %zu)", name, 3 + *slot,
			 3 + i);
		return -EINVAL;
	}
	*slot = (int)i;
	return 0;
}

int kg_fdstore_classify(const char *const *names, size_t n, struct kg_fdstore_roles *out, char *err,
			size_t errlen)
{
	char pipeline[KG_CONFIG_NAME_MAX];
	uint32_t fb;

	out->listen = out->stored_listen = out->master = out->table = -1;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i] ? names[i] : "";
		int ret;

		if (strcmp(name, KG_FDSTORE_MASTER) == 0)
			ret = claim(&out->master, i, name, err, errlen);
		else if (strcmp(name, KG_FDSTORE_TABLE) == 0)
			ret = claim(&out->table, i, name, err, errlen);
		else if (strcmp(name, KG_FDSTORE_LISTEN) == 0)
			ret = claim(&out->stored_listen, i, name, err, errlen);
		else if (kg_fdstore_client_conn(name) ||
			 kg_fdstore_lessee_name(name, pipeline, &fb))
			ret = 0; /* a connection, a lease: fdstore.c collects them */
		else if (out->listen >= 0) {
			snprintf(err, errlen,
				 "systemd passed two sockets (fds %d and %zu, named %s); "
				 "kmsgate-broker.socket should have one",
				 3 + out->listen, 3 + i, name);
			ret = -EINVAL;
		} else
			ret = claim(&out->listen, i, name, err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* A decimal u32 without sign or leading zero (0 itself allowed when
 * zero_ok) at *s, followed by one space (or the end when last). */
static bool get_u32(const char **s, uint32_t *v, bool zero_ok, bool last)
{
	const char *p = *s;
	uint64_t x = 0;
	size_t n = 0;

	for (; p[n] >= '0' && p[n] <= '9'; n++) {
		x = x * 10 + (uint64_t)(p[n] - '0');
		if (x > UINT32_MAX)
			return false;
	}
	if (n == 0 || (n > 1 && p[0] == '0') || (x == 0 && !zero_ok))
		return false;
	if (last ? p[n] != '\0' : p[n] != ' ')
		return false;
	*v = (uint32_t)x;
	*s = p + n + (last ? 0 : 1);
	return true;
}

uint32_t kg_fdstore_client_conn(const char *name)
{
	const size_t pl = strlen(KG_FDSTORE_CLIENT_PREFIX);
	const char *p = name + pl;
	uint32_t v;

	if (strncmp(name, KG_FDSTORE_CLIENT_PREFIX, pl) != 0 || !get_u32(&p, &v, false, true))
		return 0;
	return v;
}

bool kg_fdstore_same_device(const struct stat *stored, const struct stat *configured)
{
	return S_ISCHR(stored->st_mode) && S_ISCHR(configured->st_mode) &&
	       stored->st_rdev == configured->st_rdev;
}

/* snprintf into buf + *off; false when it does not fit. */
static bool put(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static bool put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= len - *off)
		return false;
	*off += (size_t)w;
	return true;
}

size_t kg_fdstore_table_format(const struct kg_fdstore_table *t, char *buf, size_t len)
{
	size_t off = 0;
	bool ok = len > 0 && put(buf, len, &off, HEADER_V2);

	for (size_t i = 0; ok && i < t->n_clients; i++) {
		const struct kg_fdstore_client *c = &t->clients[i];

		ok = put(buf, len, &off, "c %u %u %u %u %s\n", c->conn, c->version, c->inflight_seq,
			 c->inflight_type, c->name);
	}
	for (size_t i = 0; ok && i < t->n_leases; i++)
		ok = put(buf, len, &off, "l %u %u %s\n", t->leases[i].lessee_id, t->leases[i].conn,
			 t->leases[i].pipeline);
	for (size_t i = 0; ok && i < t->n_waits; i++)
		ok = put(buf, len, &off, "w %u %u %s\n", t->waits[i].conn, t->waits[i].seq,
			 t->waits[i].pipeline);
	return ok ? off : 0;
}

/*
 * The table file: two slots and a switch, so that no kill -9 can leave a
 * torn table, however long (a pwrite may be cut short by SIGKILL between
 * pages; a table of some 50 connections is longer than a page):
 *
 *   offset 0          AB_MAGIC, then at AB_ACTIVE the active slot (u32)
 *   AB_SLOT * (1 + i) slot i: the text, NUL-terminated
 *
 * A new text goes into the inactive slot; one 4-byte pwrite of the switch
 * (it cannot be cut) makes it the table. The slots start past the longest
 * single text of older brokers, which wrote it at offset 0: their file is
 * read as it is, and turned into this layout by the first write, whose
 * header pwrite (within one page) is again the commit point.
 */
#define AB_MAGIC  "kmsgate-leases ab\n"
#define AB_ACTIVE 32
#define AB_SLOT	  ((((off_t)KG_FDSTORE_TABLE_MAX + 1) + 4095) / 4096 * 4096)

/* The active slot of an A/B file: 0 or 1; -1 not one (empty, or a single
 * text of an older broker); -EINVAL a broken header. */
static int active_slot(int fd)
{
	char head[AB_ACTIVE + sizeof(uint32_t)];
	uint32_t active;
	ssize_t n = pread(fd, head, sizeof(head), 0);

	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(head) || memcmp(head, AB_MAGIC, strlen(AB_MAGIC)))
		return -1;
	memcpy(&active, head + AB_ACTIVE, sizeof(active));
	return active <= 1 ? (int)active : -EINVAL;
}

int kg_fdstore_table_write(int fd, const char *text, size_t len)
{
	char head[AB_ACTIVE + sizeof(uint32_t)] = AB_MAGIC;
	int active = active_slot(fd);
	uint32_t next = active == 0;
	ssize_t w;

	if (active < -1)
		return active;
	/* The text and its NUL, in the slot no reader looks at. */
	w = pwrite(fd, text, len, AB_SLOT * (1 + next));
	if (w < 0)
		return -errno;
	if ((size_t)w != len)
		return -EIO;
	w = pwrite(fd, "", 1, AB_SLOT * (1 + next) + (off_t)len);
	if (w < 0)
		return -errno;
	if (w != 1)
		return -EIO;
	/* The commit: the switch alone, or the whole header the first time. */
	memcpy(head + AB_ACTIVE, &next, sizeof(next));
	if (active >= 0)
		w = pwrite(fd, &next, sizeof(next), AB_ACTIVE);
	else
		w = pwrite(fd, head, sizeof(head), 0);
	if (w < 0)
		return -errno;
	return w == (active >= 0 ? (ssize_t)sizeof(next) : (ssize_t)sizeof(head)) ? 0 : -EIO;
}

ssize_t kg_fdstore_table_read(int fd, char *buf, size_t cap)
{
	int active = active_slot(fd);
	ssize_t n;

	if (active < -1)
		return active;
	n = pread(fd, buf, cap, active < 0 ? 0 : AB_SLOT * (1 + active));
	if (n < 0)
		return -errno;
	/* A slot's text ends at its NUL; an older broker's file may have
	 * NULs after its text too, which the parser skips. */
	return active < 0 ? n : (ssize_t)strnlen(buf, (size_t)n);
}

static bool get_pipeline(const char *s, char *out)
{
	size_t n = strlen(s);

	if (n == 0 || n >= KG_CONFIG_NAME_MAX || strspn(s, NAME_CHARS) != n)
		return false;
	memcpy(out, s, n + 1);
	return true;
}

static bool get_client_name(const char *s, char *out)
{
	size_t n = strlen(s);

	if (n >= KG_FDSTORE_CLIENT_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	}
	memcpy(out, s, n + 1);
	return true;
}

static bool parse_client(const char *s, struct kg_fdstore_table *t)
{
	struct kg_fdstore_client *c = &t->clients[t->n_clients];
	uint32_t version, type;

	if (t->n_clients >= KG_FDSTORE_MAX_CLIENTS)
		return false;
	memset(c, 0, sizeof(*c));
	if (!get_u32(&s, &c->conn, false, false) || !get_u32(&s, &version, false, false) ||
	    !get_u32(&s, &c->inflight_seq, true, false) || !get_u32(&s, &type, true, false) ||
	    version > UINT16_MAX || type > UINT16_MAX || !get_client_name(s, c->name))
		return false;
	for (size_t i = 0; i < t->n_clients; i++) {
		if (t->clients[i].conn == c->conn)
			return false; /* one connection, one line */
	}
	c->version = (uint16_t)version;
	c->inflight_type = (uint16_t)type;
	t->n_clients++;
	return true;
}

static bool parse_lease(const char *s, bool v1, struct kg_fdstore_table *t)
{
	struct kg_fdstore_entry *e = &t->leases[t->n_leases];

	if (t->n_leases >= KG_FDSTORE_MAX_LEASES)
		return false;
	memset(e, 0, sizeof(*e));
	if (!get_u32(&s, &e->lessee_id, false, false) ||
	    (!v1 && !get_u32(&s, &e->conn, true, false)) || !get_pipeline(s, e->pipeline))
		return false;
	t->n_leases++;
	return true;
}

static bool parse_wait(const char *s, struct kg_fdstore_table *t)
{
	struct kg_fdstore_wait *w = &t->waits[t->n_waits];

	if (t->n_waits >= KG_FDSTORE_MAX_WAITS)
		return false;
	memset(w, 0, sizeof(*w));
	if (!get_u32(&s, &w->conn, false, false) || !get_u32(&s, &w->seq, true, false) ||
	    !get_pipeline(s, w->pipeline))
		return false;
	t->n_waits++;
	return true;
}

/* One line, without its newline, NUL-terminated. */
static bool parse_line(const char *line, bool v1, struct kg_fdstore_table *t)
{
	if (v1)
		return parse_lease(line, true, t);
	if (line[0] == '\0' || line[1] != ' ')
		return false;
	switch (line[0]) {
	case 'c':
		return parse_client(line + 2, t);
	case 'l':
		return parse_lease(line + 2, false, t);
	case 'w':
		return parse_wait(line + 2, t);
	default:
		return false;
	}
}

int kg_fdstore_table_parse(const char *buf, size_t len, struct kg_fdstore_table *t)
{
	size_t hl = strlen(HEADER_V2), off;
	bool v1;

	t->n_leases = t->n_clients = t->n_waits = t->n_gone = 0;
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	if (len < hl || (memcmp(buf, HEADER_V1, hl) != 0 && memcmp(buf, HEADER_V2, hl) != 0))
		return -EINVAL;
	v1 = memcmp(buf, HEADER_V1, hl) == 0;
	for (off = hl; off < len;) {
		const char *nl = memchr(buf + off, '\n', len - off);
		char line[64 + KG_CONFIG_NAME_MAX + KG_FDSTORE_CLIENT_NAME_LEN];
		size_t ll;

		if (!nl)
			return -EINVAL;
		ll = (size_t)(nl - (buf + off));
		if (ll >= sizeof(line) || memchr(buf + off, '\0', ll))
			return -EINVAL;
		memcpy(line, buf + off, ll);
		line[ll] = '\0';
		if (!parse_line(line, v1, t))
			return -EINVAL;
		off += ll + 1;
	}
	return 0;
}

size_t kg_fdstore_keep_live(struct kg_fdstore_entry *e, size_t n, const uint32_t *live,
			    size_t n_live)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		bool is_live = false, dup = false;

		for (size_t j = 0; j < n_live; j++)
			is_live |= live[j] == e[i].lessee_id;
		for (size_t j = 0; j < kept; j++)
			dup |= e[j].lessee_id == e[i].lessee_id;
		if (is_live && !dup)
			e[kept++] = e[i];
	}
	return kept;
}

/* A decimal u32 >= 1 without leading zero, then '-', at *s. */
static bool get_id_dash(const char **s, uint32_t *v)
{
	const char *dash = strchr(*s, '-'), *p;
	char num[11];
	size_t n = dash ? (size_t)(dash - *s) : sizeof(num);

	if (n >= sizeof(num))
		return false;
	memcpy(num, *s, n);
	num[n] = '\0';
	p = num;
	if (!get_u32(&p, v, false, true))
		return false;
	*s = dash + 1;
	return true;
}

uint32_t kg_fdstore_lessee_name(const char *name, char *pipeline, uint32_t *fb)
{
	const size_t ll = strlen(KG_FDSTORE_LESSEE_PREFIX), fl = strlen(KG_FDSTORE_FRAME_PREFIX);
	const char *p;
	uint32_t id;

	*fb = 0;
	if (strncmp(name, KG_FDSTORE_LESSEE_PREFIX, ll) == 0)
		p = name + ll;
	else if (strncmp(name, KG_FDSTORE_FRAME_PREFIX, fl) == 0)
		p = name + fl;
	else
		return 0;
	if (!get_id_dash(&p, &id) || (name[0] == 'f' && !get_id_dash(&p, fb)) ||
	    !get_pipeline(p, pipeline))
		return 0;
	return id;
}
