// SPDX-License-Identifier: MIT
#include "guest-config.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ini-text.h"

/* More guests than a host runs is a broken file, not a config. */
#define MAX_GUESTS     256
#define PIDFILE_SUFFIX "-vhost-user-gpu.pid"

/*
 * The options a section may set. Not --socket-path and --fd (how the
 * back-end is reached is its launcher's business), nor --virgl and
 * --render-node (libvirt passes them from the domain's <acceleration>).
 */
static const struct key {
	const char *name;
	bool flag; /* an option without a value: yes or no */
} keys[] = {
	{ "output" },
	{ "device" },
	{ "connector" },
	{ "broker" },
	{ "pipeline" },
	{ "headless-size" },
	{ "headless-scanouts" },
	{ "png-dir" },
	{ "stats" },
	{ "max-resource-mb" },
	{ "fifo", true },
	{ "gles", true },
	{ "log-level" },
	{ "log-file" },
	{ "pacing" },
	{ "pacing-margin" },
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

struct entry {
	unsigned key; /* index into keys[] */
	char *arg;    /* "--name=value", "--name", or NULL for a flag set to no */
};

struct kg_gcfg_guest {
	char *name; /* NULL: [defaults] */
	struct entry entries[N_KEYS];
	size_t n_entries;
	unsigned seen; /* bit per key, to refuse a key given twice */
};

struct kg_gcfg {
	struct kg_gcfg_guest defaults;
	struct kg_gcfg_guest *guests;
	size_t n_guests;
};

struct parse_ctx {
	struct kg_ini ini;
	struct kg_gcfg *cfg;
	struct kg_gcfg_guest *cur; /* NULL: outside any section */
};

static void guest_finish(struct kg_gcfg_guest *g)
{
	for (size_t i = 0; i < g->n_entries; i++)
		free(g->entries[i].arg);
	free(g->name);
}

/* "yes"/"no" and their usual spellings; -1 for anything else. */
static int parse_bool(const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcmp(v, yes[i]) == 0)
			return 1;
		if (strcmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int add_key(struct parse_ctx *ctx, struct kg_gcfg_guest *g, const char *name,
		   const char *value)
{
	struct entry *e;
	unsigned k;
	int on = 1;

	for (k = 0; k < N_KEYS && strcmp(keys[k].name, name) != 0; k++)
		;
	if (k == N_KEYS)
		return kg_ini_fail(
			&ctx->ini,
			"unknown key '%s' in section [%s] (kmsgate-vgpu.conf(5) lists them)", name,
			kg_ini_section(&ctx->ini));
	if (g->seen & (1u << k))
		return kg_ini_fail(&ctx->ini, "'%s' is set twice in section [%s]", name,
				   kg_ini_section(&ctx->ini));
	if (keys[k].flag && (on = parse_bool(value)) < 0)
		return kg_ini_fail(&ctx->ini, "%s: '%s' is not yes or no", name, value);
	if (!keys[k].flag && value[0] == '\0')
		return kg_ini_fail(&ctx->ini, "'%s' has no value", name);
	g->seen |= 1u << k;
	e = &g->entries[g->n_entries++];
	e->key = k;
	e->arg = NULL;
	if (!on)
		return 1;
	if (keys[k].flag ? asprintf(&e->arg, "--%s", name) < 0
			 : asprintf(&e->arg, "--%s=%s", name, value) < 0) {
		e->arg = NULL;
		return kg_ini_fail(&ctx->ini, "out of memory");
	}
	return 1;
}

/* "[guest NAME]": NAME is what libvirt calls the domain (any text but '/'). */
static int enter_guest(struct parse_ctx *ctx, const char *section)
{
	struct kg_gcfg *cfg = ctx->cfg;
	struct kg_gcfg_guest *grown;
	const char *name = section + strlen("guest");

	name += strspn(name, " \t");
	if (name == section + strlen("guest") || name[0] == '\0' || strchr(name, '/'))
		return kg_ini_fail(
			&ctx->ini,
			"section [%s]: a guest section is [guest NAME], NAME the libvirt "
			"domain's name",
			section);
	if (kg_gcfg_find(cfg, name))
		return kg_ini_fail(&ctx->ini, "section [guest %s] appears twice", name);
	if (cfg->n_guests >= MAX_GUESTS)
		return kg_ini_fail(&ctx->ini, "more than %d guest sections", MAX_GUESTS);
	grown = realloc(cfg->guests, (cfg->n_guests + 1) * sizeof(*grown));
	if (!grown)
		return kg_ini_fail(&ctx->ini, "out of memory");
	cfg->guests = grown;
	ctx->cur = &grown[cfg->n_guests];
	memset(ctx->cur, 0, sizeof(*ctx->cur));
	ctx->cur->name = strdup(name);
	if (!ctx->cur->name)
		return kg_ini_fail(&ctx->ini, "out of memory");
	cfg->n_guests++;
	return 1;
}

/* A new section: [defaults] or [guest NAME]. */
static int enter_section(void *user, const char *section)
{
	struct parse_ctx *ctx = user;

	ctx->cur = NULL;
	if (strcmp(section, "defaults") == 0) {
		/* inih does not report a repeated header. */
		if (ctx->cfg->defaults.name)
			return kg_ini_fail(&ctx->ini, "section [defaults] appears twice");
		ctx->cfg->defaults.name = strdup("defaults");
		ctx->cur = &ctx->cfg->defaults;
		return ctx->cur->name ? 1 : kg_ini_fail(&ctx->ini, "out of memory");
	}
	/* "guest" alone too (strchr finds the '\0'): enter_guest says what is missing. */
	if (strncmp(section, "guest", 5) == 0 && strchr(" \t", section[5]))
		return enter_guest(ctx, section);
	return kg_ini_fail(&ctx->ini, "unknown section [%s]: [defaults] or [guest NAME]", section);
}

static int on_key(void *user, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;

	return add_key(ctx, ctx->cur, name, value);
}

static const struct kg_ini_ops ini_ops = { .section = enter_section, .key = on_key };

int kg_gcfg_parse(const char *text, struct kg_gcfg **out, char *err, size_t errlen)
{
	struct parse_ctx ctx = { 0 };
	int ret;

	*out = NULL;
	ctx.cfg = calloc(1, sizeof(*ctx.cfg));
	if (!ctx.cfg) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = kg_ini_parse(&ctx.ini, text, &ini_ops, &ctx, err, errlen);
	if (ret < 0) {
		kg_gcfg_destroy(ctx.cfg);
		return ret;
	}
	*out = ctx.cfg;
	return 0;
}

/* kg_gcfg_parse for kg_ini_load, which knows nothing of struct kg_gcfg. */
static int parse_text(const char *text, void *out, char *err, size_t errlen)
{
	return kg_gcfg_parse(text, out, err, errlen);
}

int kg_gcfg_load(const char *path, struct kg_gcfg **out, char *err, size_t errlen)
{
	*out = NULL;
	return kg_ini_load(path, parse_text, out, err, errlen);
}

void kg_gcfg_destroy(struct kg_gcfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_guests; i++)
		guest_finish(&cfg->guests[i]);
	free(cfg->guests);
	guest_finish(&cfg->defaults);
	free(cfg);
}

const struct kg_gcfg_guest *kg_gcfg_find(const struct kg_gcfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_guests; i++) {
		if (strcmp(cfg->guests[i].name, name) == 0)
			return &cfg->guests[i];
	}
	return NULL;
}

const char *kg_gcfg_guest_name(const struct kg_gcfg_guest *guest)
{
	return guest->name;
}

size_t kg_gcfg_args(const struct kg_gcfg *cfg, const struct kg_gcfg_guest *guest, const char **args,
		    size_t max)
{
	size_t n = 0;

	/* A key the guest sets replaces the default, even "fifo = no". */
	for (size_t i = 0; i < cfg->defaults.n_entries; i++) {
		const struct entry *e = &cfg->defaults.entries[i];

		if (!e->arg || (guest && guest->seen & (1u << e->key)))
			continue;
		if (n < max)
			args[n] = e->arg;
		n++;
	}
	for (size_t i = 0; guest && i < guest->n_entries; i++) {
		if (!guest->entries[i].arg)
			continue;
		if (n < max)
			args[n] = guest->entries[i].arg;
		n++;
	}
	return n;
}

/*
 * Where libvirt cuts a name for its file names: the first 20 bytes of an
 * ASCII name (or of one its locale cannot decode), else the first 20
 * characters (mbstowcs in a UTF-8 locale). Writes both cuts' lengths.
 */
static void libvirt_cuts(const char *name, size_t *bytes, size_t *chars)
{
	size_t len = strlen(name), n = 0, i;

	*bytes = len < KG_GCFG_LIBVIRT_SHORT_NAME ? len : KG_GCFG_LIBVIRT_SHORT_NAME;
	/* Count UTF-8 lead bytes (not 10xxxxxx) up to the 21st character. */
	for (i = 0; i < len; i++) {
		if (((unsigned char)name[i] & 0xc0) != 0x80 && n++ == KG_GCFG_LIBVIRT_SHORT_NAME)
			break;
	}
	*chars = i;
}

/* libvirt's device aliases: "video0" from libvirt, "ua-..." from the user. */
static bool alias_valid(const char *a)
{
	if (strncmp(a, "ua-", 3) == 0)
		return a[3] != '\0';
	return strncmp(a, "video", 5) == 0 && a[5] && strspn(a + 5, "0123456789") == strlen(a + 5);
}

static bool stem_matches(const char *rest, const char *name, size_t cut)
{
	return strncmp(rest, name, cut) == 0 && rest[cut] == '-' && alias_valid(rest + cut + 1);
}

int kg_gcfg_find_libvirt(const struct kg_gcfg *cfg, const char *stem,
			 const struct kg_gcfg_guest **out, char *err, size_t errlen)
{
	const struct kg_gcfg_guest *found = NULL;
	size_t id_len = strspn(stem, "0123456789");
	const char *rest = stem + id_len + 1;

	*out = NULL;
	/* "<id>-": the domain's id (libvirt prints -1 for an inactive one). */
	if (id_len == 0 || stem[id_len] != '-') {
		snprintf(err, errlen, "'%s' is not libvirt's <id>-<name>-<alias>", stem);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_guests; i++) {
		const struct kg_gcfg_guest *g = &cfg->guests[i];
		size_t bytes, chars;

		libvirt_cuts(g->name, &bytes, &chars);
		if (!stem_matches(rest, g->name, bytes) && !stem_matches(rest, g->name, chars))
			continue;
		if (found) {
			snprintf(err, errlen,
				 "both [guest %s] and [guest %s] match '%s' (libvirt names the "
				 "guest by its first %d characters only): rename one domain",
				 found->name, g->name, stem, KG_GCFG_LIBVIRT_SHORT_NAME);
			return -EINVAL;
		}
		found = g;
	}
	if (!found) {
		snprintf(err, errlen, "no [guest NAME] section matches libvirt's '%s'", stem);
		return -ENOENT;
	}
	*out = found;
	return 0;
}

int kg_gcfg_libvirt_stem(const char *fd_dir, char *stem, size_t len, char *path, size_t path_len)
{
	struct dirent *de;
	DIR *dir;
	int found = 0;

	dir = opendir(fd_dir);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char link[4096], target[4096];
		const char *base;
		ssize_t n;
		size_t blen, slen = strlen(PIDFILE_SUFFIX);

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", fd_dir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue; /* not a link, or the opendir's own fd already gone */
		target[n] = '\0';
		base = strrchr(target, '/');
		base = base ? base + 1 : target;
		blen = strlen(base);
		if (target[0] != '/' || blen <= slen || strcmp(base + blen - slen, PIDFILE_SUFFIX))
			continue;
		if (found++) {
			closedir(dir);
			return -E2BIG;
		}
		snprintf(stem, len, "%.*s", (int)(blen - slen), base);
		if (path)
			snprintf(path, path_len, "%s", target);
	}
	closedir(dir);
	return found ? 0 : -ENOENT;
}
