// SPDX-License-Identifier: MIT
#include "conffile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini-text.h"
#include "number.h"

enum pipeline_key {
	KEY_CONNECTOR = 1 << 0,
	KEY_CRTC = 1 << 1,
	KEY_PLANES = 1 << 2,
	KEY_MODE = 1 << 3,
	KEY_ALLOW_USERS = 1 << 4,
	KEY_ALLOW_GROUPS = 1 << 5,
	KEY_ON_RELEASE = 1 << 6,
	KEY_ADMIN_USERS = 1 << 7,
	KEY_ADMIN_GROUPS = 1 << 8,
};

struct parse_ctx {
	struct kg_ini ini;
	struct kg_config *cfg;
	struct kg_config_pipeline *cur; /* NULL while in [broker] */
};

static bool name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= KG_CONFIG_NAME_MAX)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       len;
}

bool kg_mode_spec_parse(const char *s, struct kg_mode_spec *spec)
{
	char w[12], h[12], r[12] = "";
	int n = 0;

	memset(spec, 0, sizeof(*spec));
	if (strcmp(s, "preferred") == 0) {
		spec->preferred = true;
		return true;
	}
	if (sscanf(s, "%11[0-9]x%11[0-9]%n", w, h, &n) != 2)
		return false;
	if (s[n] == '@' && sscanf(s + n + 1, "%11[0-9]", r) == 1)
		n += 1 + (int)strlen(r);
	if (s[n] != '\0')
		return false;
	/* 16384 is above every KMS limit; anything bigger is a typo. */
	if (!kg_number_parse_u32(w, 16384, &spec->width) ||
	    !kg_number_parse_u32(h, 16384, &spec->height) || spec->width == 0 || spec->height == 0)
		return false;
	if (r[0] && (!kg_number_parse_u32(r, 1000, &spec->refresh) || spec->refresh == 0))
		return false;
	return true;
}

static int parse_plane_token(struct parse_ctx *ctx, struct kg_config_pipeline *p, const char *tok)
{
	struct kg_plane_ref ref = { 0 };

	if (strcmp(tok, "primary") == 0)
		ref.kind = KG_PLANE_REF_PRIMARY;
	else if (strcmp(tok, "cursor") == 0)
		ref.kind = KG_PLANE_REF_CURSOR;
	else if (strcmp(tok, "overlays") == 0)
		ref.kind = KG_PLANE_REF_OVERLAYS;
	else if (kg_number_parse_u32(tok, UINT32_MAX - 1, &ref.id) && ref.id != 0)
		ref.kind = KG_PLANE_REF_ID;
	else
		return kg_ini_fail(&ctx->ini,
				   "planes: '%s' is not primary, cursor, overlays or a plane id",
				   tok);
	for (size_t i = 0; i < p->n_planes; i++) {
		if (p->planes[i].kind == ref.kind && p->planes[i].id == ref.id)
			return kg_ini_fail(&ctx->ini, "planes: '%s' is listed twice", tok);
	}
	if (p->n_planes >= KG_CONFIG_MAX_PLANES)
		return kg_ini_fail(&ctx->ini, "planes: more than %d entries", KG_CONFIG_MAX_PLANES);
	p->planes[p->n_planes++] = ref;
	return 1;
}

static int parse_planes(struct parse_ctx *ctx, struct kg_config_pipeline *p, const char *value)
{
	const char *s = value;
	bool primary = false;

	while (*s) {
		char tok[16];
		size_t len = strcspn(s, ", \t");

		if (len == 0) {
			s++;
			continue;
		}
		if (len >= sizeof(tok))
			return kg_ini_fail(
				&ctx->ini,
				"planes: '%s' is not primary, cursor, overlays or a plane id",
				value);
		memcpy(tok, s, len);
		tok[len] = '\0';
		s += len;
		if (!parse_plane_token(ctx, p, tok))
			return 0;
		primary |= strcmp(tok, "primary") == 0;
	}
	/* The lessee needs a primary plane to show anything, and the kernel
	 * refuses a lease without a plane. */
	if (!primary)
		return kg_ini_fail(&ctx->ini, "planes: '%s' must include primary", value);
	return 1;
}

static int parse_release(struct parse_ctx *ctx, const char *value, enum kg_release_action *out)
{
	if (strcmp(value, "keep") == 0)
		*out = KG_RELEASE_KEEP;
	else if (strcmp(value, "blank") == 0)
		*out = KG_RELEASE_BLANK;
	else
		return kg_ini_fail(&ctx->ini, "on-release: '%s' is not keep or blank", value);
	return 1;
}

static int parse_acl(struct parse_ctx *ctx, struct kg_acl *acl, const char *value, bool groups)
{
	char msg[160];
	int ret;

	ret = groups ? kg_acl_add_groups(acl, value, msg, sizeof(msg))
		     : kg_acl_add_users(acl, value, msg, sizeof(msg));
	if (ret < 0)
		return kg_ini_fail(&ctx->ini, "%s: %s", groups ? "allow-groups" : "allow-users",
				   msg);
	return 1;
}

static int mark_seen(struct parse_ctx *ctx, unsigned *seen, unsigned key, const char *name)
{
	if (*seen & key)
		return kg_ini_fail(&ctx->ini, "'%s' is set twice in section [%s]", name,
				   kg_ini_section(&ctx->ini));
	*seen |= key;
	return 1;
}

static int pipeline_key(struct parse_ctx *ctx, struct kg_config_pipeline *p, const char *name,
			const char *value)
{
	if (strcmp(name, "connector") == 0) {
		if (!mark_seen(ctx, &p->seen, KEY_CONNECTOR, name))
			return 0;
		if (value[0] == '\0' || strlen(value) >= sizeof(p->connector))
			return kg_ini_fail(&ctx->ini, "connector: '%s' is not a connector name",
					   value);
		strcpy(p->connector, value);
		return 1;
	}
	if (strcmp(name, "crtc") == 0) {
		uint32_t idx;

		if (!mark_seen(ctx, &p->seen, KEY_CRTC, name))
			return 0;
		if (strcmp(value, "auto") == 0)
			p->crtc_index = -1;
		else if (kg_number_parse_u32(value, 31, &idx))
			p->crtc_index = (int)idx;
		else
			return kg_ini_fail(&ctx->ini,
					   "crtc: '%s' is not auto or a CRTC index (0-31)", value);
		return 1;
	}
	if (strcmp(name, "planes") == 0) {
		if (!mark_seen(ctx, &p->seen, KEY_PLANES, name))
			return 0;
		p->n_planes = 0;
		p->planes_given = true;
		return parse_planes(ctx, p, value);
	}
	if (strcmp(name, "mode") == 0) {
		if (!mark_seen(ctx, &p->seen, KEY_MODE, name))
			return 0;
		if (!kg_mode_spec_parse(value, &p->mode))
			return kg_ini_fail(&ctx->ini, "mode: '%s' is not preferred, WxH or WxH@Hz",
					   value);
		return 1;
	}
	if (strcmp(name, "allow-users") == 0 || strcmp(name, "allow-groups") == 0) {
		bool groups = name[6] == 'g';

		if (!mark_seen(ctx, &p->seen, groups ? KEY_ALLOW_GROUPS : KEY_ALLOW_USERS, name))
			return 0;
		p->has_acl = true;
		return parse_acl(ctx, &p->acl, value, groups);
	}
	if (strcmp(name, "on-release") == 0) {
		if (!mark_seen(ctx, &p->seen, KEY_ON_RELEASE, name))
			return 0;
		p->has_on_release = true;
		return parse_release(ctx, value, &p->on_release);
	}
	return kg_ini_fail(&ctx->ini, "unknown key '%s' in section [%s]", name,
			   kg_ini_section(&ctx->ini));
}

static int broker_key(struct parse_ctx *ctx, const char *name, const char *value)
{
	struct kg_config *cfg = ctx->cfg;
	static const struct {
		const char *name;
		unsigned key;
		bool admin, groups;
	} acls[] = {
		{ "allow-users", KEY_ALLOW_USERS, false, false },
		{ "allow-groups", KEY_ALLOW_GROUPS, false, true },
		{ "admin-users", KEY_ADMIN_USERS, true, false },
		{ "admin-groups", KEY_ADMIN_GROUPS, true, true },
	};

	for (size_t i = 0; i < sizeof(acls) / sizeof(acls[0]); i++) {
		if (strcmp(name, acls[i].name) != 0)
			continue;
		if (!mark_seen(ctx, &cfg->broker_seen, acls[i].key, name))
			return 0;
		return parse_acl(ctx, acls[i].admin ? &cfg->admin : &cfg->allow, value,
				 acls[i].groups);
	}
	if (strcmp(name, "on-release") == 0) {
		if (!mark_seen(ctx, &cfg->broker_seen, KEY_ON_RELEASE, name))
			return 0;
		return parse_release(ctx, value, &cfg->on_release);
	}
	return kg_ini_fail(&ctx->ini, "unknown key '%s' in section [%s]", name, "broker");
}

static struct kg_config_pipeline *find_pipeline(struct kg_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_pipelines; i++) {
		if (strcmp(cfg->pipelines[i].name, name) == 0)
			return &cfg->pipelines[i];
	}
	return NULL;
}

/* A new section: [broker] or a pipeline's. */
static int enter_section(void *user, const char *section)
{
	struct parse_ctx *ctx = user;
	struct kg_config *cfg = ctx->cfg;
	struct kg_config_pipeline *grown;

	ctx->cur = NULL;
	if (strcmp(section, "broker") == 0)
		return 1;
	if (!name_valid(section))
		return kg_ini_fail(
			&ctx->ini,
			"section [%s]: a pipeline name is 1-31 characters of A-Z a-z 0-9 . _ -",
			section);
	/* inih does not report a repeated header; a section that comes back
	 * after another one is a repeat. */
	if (find_pipeline(cfg, section))
		return kg_ini_fail(&ctx->ini, "section [%s] appears twice", section);
	if (cfg->n_pipelines >= KG_CONFIG_MAX_PIPELINES)
		return kg_ini_fail(&ctx->ini, "more than %d pipelines", KG_CONFIG_MAX_PIPELINES);
	grown = realloc(cfg->pipelines, (cfg->n_pipelines + 1) * sizeof(*grown));
	if (!grown)
		return kg_ini_fail(&ctx->ini, "out of memory");
	cfg->pipelines = grown;
	ctx->cur = &grown[cfg->n_pipelines++];
	memset(ctx->cur, 0, sizeof(*ctx->cur));
	strcpy(ctx->cur->name, section);
	ctx->cur->crtc_index = -1;
	ctx->cur->mode.preferred = true;
	ctx->cur->planes[0].kind = KG_PLANE_REF_PRIMARY;
	ctx->cur->planes[1].kind = KG_PLANE_REF_CURSOR;
	ctx->cur->n_planes = 2;
	return 1;
}

static int on_key(void *user, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;

	if (ctx->cur)
		return pipeline_key(ctx, ctx->cur, name, value);
	return broker_key(ctx, name, value);
}

static const struct kg_ini_ops ini_ops = { .section = enter_section, .key = on_key };

static int check_pipelines(struct kg_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->n_pipelines; i++) {
		struct kg_config_pipeline *p = &cfg->pipelines[i];

		if (!(p->seen & KEY_CONNECTOR)) {
			snprintf(err, errlen, "section [%s]: 'connector' is missing", p->name);
			return -EINVAL;
		}
		if (!p->has_on_release)
			p->on_release = cfg->on_release;
	}
	return 0;
}

int kg_config_parse(const char *text, struct kg_config **out, char *err, size_t errlen)
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
	if (ret < 0)
		goto err_cfg;
	ret = check_pipelines(ctx.cfg, err, errlen);
	if (ret < 0)
		goto err_cfg;
	*out = ctx.cfg;
	return 0;
err_cfg:
	kg_config_destroy(ctx.cfg);
	return ret;
}

/* kg_config_parse for kg_ini_load, which knows nothing of struct kg_config. */
static int parse_text(const char *text, void *out, char *err, size_t errlen)
{
	return kg_config_parse(text, out, err, errlen);
}

int kg_config_load(const char *path, struct kg_config **out, char *err, size_t errlen)
{
	*out = NULL;
	return kg_ini_load(path, parse_text, out, err, errlen);
}

void kg_config_destroy(struct kg_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_pipelines; i++)
		kg_acl_finish(&cfg->pipelines[i].acl);
	free(cfg->pipelines);
	kg_acl_finish(&cfg->allow);
	kg_acl_finish(&cfg->admin);
	free(cfg);
}
