// SPDX-License-Identifier: MIT
/* The pure part of kg_fdstore: no systemd, no DRM (see fdstore.h). */
#include "fdstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_HEADER "kmsgate-leases 1\n"

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
	out->listen = out->master = out->table = -1;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i] ? names[i] : "";
		int ret;

		if (strcmp(name, KG_FDSTORE_MASTER) == 0)
			ret = claim(&out->master, i, name, err, errlen);
		else if (strcmp(name, KG_FDSTORE_TABLE) == 0)
			ret = claim(&out->table, i, name, err, errlen);
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

bool kg_fdstore_same_device(const struct stat *stored, const struct stat *configured)
{
	return S_ISCHR(stored->st_mode) && S_ISCHR(configured->st_mode) &&
	       stored->st_rdev == configured->st_rdev;
}

size_t kg_fdstore_table_format(const struct kg_fdstore_entry *e, size_t n, char *buf, size_t len)
{
	size_t off = 0;
	int w;

	w = snprintf(buf, len, TABLE_HEADER);
	if (w < 0 || (size_t)w >= len)
		return 0;
	off = (size_t)w;
	for (size_t i = 0; i < n; i++) {
		w = snprintf(buf + off, len - off, "%u %s\n", e[i].lessee_id, e[i].pipeline);
		if (w < 0 || (size_t)w >= len - off)
			return 0;
		off += (size_t)w;
	}
	return off;
}

/* One "ID NAME" line (without its newline) into *e. */
static int parse_line(const char *s, size_t len, struct kg_fdstore_entry *e)
{
	char line[16 + KG_CONFIG_NAME_MAX], *end;
	const char *name;
	unsigned long id;
	size_t nlen;

	if (len == 0 || len >= sizeof(line))
		return -EINVAL;
	memcpy(line, s, len);
	line[len] = '\0';
	if (line[0] < '0' || line[0] > '9')
		return -EINVAL;
	errno = 0;
	id = strtoul(line, &end, 10);
	if (errno || id == 0 || id > UINT32_MAX || *end != ' ')
		return -EINVAL;
	name = end + 1;
	nlen = strlen(name);
	if (nlen == 0 || nlen >= sizeof(e->pipeline) ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
		    nlen)
		return -EINVAL;
	e->lessee_id = (uint32_t)id;
	memcpy(e->pipeline, name, nlen + 1);
	return 0;
}

int kg_fdstore_table_parse(const char *buf, size_t len, struct kg_fdstore_entry *out, size_t max)
{
	size_t hl = strlen(TABLE_HEADER), off;
	int n = 0;

	while (len > 0 && buf[len - 1] == '\0')
		len--;
	if (len < hl || memcmp(buf, TABLE_HEADER, hl) != 0)
		return -EINVAL;
	for (off = hl; off < len;) {
		const char *nl = memchr(buf + off, '\n', len - off);

		if (!nl || (size_t)n >= max)
			return -EINVAL;
		if (parse_line(buf + off, (size_t)(nl - (buf + off)), &out[n]) < 0)
			return -EINVAL;
		n++;
		off = (size_t)(nl - buf) + 1;
	}
	return n;
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
