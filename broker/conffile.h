/* SPDX-License-Identifier: MIT */
/*
 * kg_config: the broker's INI configuration, parsed (libinih) but not yet
 * checked against a device; pipeline.c does that.
 *
 *   [broker]                      ; optional: defaults for every pipeline
 *   allow-users = alice, 1001     ; who may acquire (root always may)
 *   allow-groups = video
 *   admin-users = ops             ; who may revoke others' leases (and root)
 *   admin-groups = wheel
 *   on-release = keep             ; keep | blank
 *
 *   [left]                        ; one section per pipeline: its name
 *   connector = HDMI-A-1          ; required
 *   crtc = auto                   ; auto | CRTC index
 *   planes = primary, cursor, 42  ; primary (required), cursor, overlays
 *                                 ; (all free ones), or plane object ids
 *   mode = 1920x1080@60           ; preferred | WxH | WxH@Hz
 *   allow-users = alice           ; replaces [broker]'s lists for this one
 *   allow-groups = video
 *   on-release = blank
 *
 * A file with no pipeline section gets the default partition (one pipeline
 * per connector) with [broker]'s settings.
 */
#ifndef KG_BROKER_CONFFILE_H
#define KG_BROKER_CONFFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"

/* Pipeline names travel in protocol messages: keep them short and plain
 * ([A-Za-z0-9._-], at most KG_CONFIG_NAME_MAX - 1 characters). */
#define KG_CONFIG_NAME_MAX   32
#define KG_CONFIG_MAX_PLANES 16
/* A cap on sections: more pipelines than any display controller has CRTCs
 * is a broken file, not a config. */
#define KG_CONFIG_MAX_PIPELINES 64

enum kg_release_action {
	KG_RELEASE_KEEP = 0, /* the last frame stays on screen */
	KG_RELEASE_BLANK,    /* CRTC and planes are switched off */
};

struct kg_mode_spec {
	bool preferred;		/* true: the connector's preferred mode */
	uint32_t width, height; /* else this size ... */
	uint32_t refresh;	/* ... at this rate in Hz (0: any) */
};

enum kg_plane_ref_kind {
	KG_PLANE_REF_PRIMARY,
	KG_PLANE_REF_CURSOR,
	KG_PLANE_REF_OVERLAYS, /* every overlay usable on the CRTC nobody else has */
	KG_PLANE_REF_ID,
};

struct kg_plane_ref {
	enum kg_plane_ref_kind kind;
	uint32_t id; /* KG_PLANE_REF_ID only */
};

struct kg_config_pipeline {
	char name[KG_CONFIG_NAME_MAX];
	char connector[32];
	int crtc_index; /* -1: auto */
	struct kg_plane_ref planes[KG_CONFIG_MAX_PLANES];
	size_t n_planes;
	bool planes_given; /* else the default: primary, and cursor if there is one */
	struct kg_mode_spec mode;
	struct kg_acl acl;
	bool has_acl; /* allow-users or allow-groups given */
	enum kg_release_action on_release;
	bool has_on_release;
	unsigned seen; /* bit per key, to refuse a key given twice */
};

struct kg_config {
	struct kg_config_pipeline *pipelines;
	size_t n_pipelines;
	struct kg_acl allow; /* [broker] defaults */
	struct kg_acl admin;
	enum kg_release_action on_release;
	unsigned broker_seen;
};

/* Parses INI text. Returns 0 and a config, or -EINVAL with "line N: what"
 * in err (the first error found), or -ENOMEM. */
int kg_config_parse(const char *text, struct kg_config **out, char *err, size_t errlen);
/* Reads and parses a file (at most 1 MiB). Errors as above, plus -errno
 * from opening or reading it. */
int kg_config_load(const char *path, struct kg_config **out, char *err, size_t errlen);
/* Accepts NULL. */
void kg_config_destroy(struct kg_config *cfg);

/* "preferred", "WxH" or "WxH@Hz"; returns false for anything else. */
bool kg_mode_spec_parse(const char *s, struct kg_mode_spec *spec);

#endif
