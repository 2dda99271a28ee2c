// SPDX-License-Identifier: MIT
/*
 * The wire codec. Encoding and decoding walk the same field list through a
 * cursor that only ever moves forward within its bounds and remembers the
 * first error (a sticky failure, checked once per message), so a short or
 * hostile packet can never make it read or write out of range.
 */
#include "kmsgate-proto.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "wire.h"

/* String field kinds: what bytes may come before the NUL. */
enum str_kind {
	STR_ID,	    /* 1..N-1 chars 0x21-0x7e: names that identify something */
	STR_ID_OPT, /* same, may be empty */
	STR_TEXT,   /* 0..N-1 chars 0x20-0x7e: free text */
};

static bool str_char_ok(unsigned char c, enum str_kind kind)
{
	if (kind == STR_TEXT)
		return c >= 0x20 && c <= 0x7e;
	return c > 0x20 && c <= 0x7e;
}

/* Checks a host string of a fixed-size field: terminated within n, only
 * allowed characters, non-empty if kind says so. */
static int str_check(const char *s, size_t n, enum str_kind kind)
{
	size_t len = strnlen(s, n);

	if (len == n)
		return KG_PROTO_ERR_BAD_STRING;
	if (len == 0 && kind == STR_ID)
		return KG_PROTO_ERR_BAD_STRING;
	for (size_t i = 0; i < len; i++) {
		if (!str_char_ok((unsigned char)s[i], kind))
			return KG_PROTO_ERR_BAD_STRING;
	}
	return 0;
}

static void put_str(struct kg_wire *w, const char *s, size_t n, enum str_kind kind)
{
	int err = str_check(s, n, kind);

	if (err) {
		kg_wire_fail(w, err);
		return;
	}
	kg_wire_put_bytes_padded(w, s, strlen(s), n);
}

static void get_str(struct kg_wire *r, char *s, size_t n, enum str_kind kind)
{
	const char *raw = kg_wire_get_bytes(r, n);
	size_t len;

	if (!raw)
		return;
	/* Canonical form only: everything after the first NUL must be zero,
	 * so the same string always has the same bytes (and nothing hides). */
	len = strnlen(raw, n);
	for (size_t i = len; i < n; i++) {
		if (raw[i] != 0) {
			kg_wire_fail(r, KG_PROTO_ERR_BAD_STRING);
			return;
		}
	}
	memcpy(s, raw, n);
	if (str_check(s, n, kind))
		kg_wire_fail(r, KG_PROTO_ERR_BAD_STRING);
}

static void get_zero16(struct kg_wire *r)
{
	if (kg_wire_get_u16(r) != 0)
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
}

static void get_zero32(struct kg_wire *r)
{
	if (kg_wire_get_u32(r) != 0)
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
}

static void get_flags(struct kg_wire *r, uint32_t *flags, uint32_t allowed)
{
	*flags = kg_wire_get_u32(r);
	if (*flags & ~allowed)
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
}

static void check_flags(struct kg_wire *w, uint32_t flags, uint32_t allowed)
{
	if (flags & ~allowed)
		kg_wire_fail(w, KG_PROTO_ERR_BAD_VALUE);
}

static void check_range(struct kg_wire *w, uint32_t v, uint32_t lo, uint32_t hi)
{
	if (v < lo || v > hi)
		kg_wire_fail(w, KG_PROTO_ERR_BAD_VALUE);
}

/*
 * Modes: the drmModeModeInfo field order. A mode is either all zero or has
 * its timings in order, as the kernel's drm_mode_validate_basic() wants.
 */
static bool mode_is_zero(const struct kg_proto_mode *m)
{
	static const struct kg_proto_mode zero;

	return memcmp(m, &zero, sizeof(zero)) == 0;
}

static bool mode_ok(const struct kg_proto_mode *m)
{
	if (mode_is_zero(m))
		return true;
	if (m->clock == 0 || m->hdisplay == 0 || m->vdisplay == 0)
		return false;
	if (m->hsync_start < m->hdisplay || m->hsync_end < m->hsync_start ||
	    m->htotal < m->hsync_end)
		return false;
	if (m->vsync_start < m->vdisplay || m->vsync_end < m->vsync_start ||
	    m->vtotal < m->vsync_end)
		return false;
	return true;
}

static void put_mode(struct kg_wire *w, const struct kg_proto_mode *m)
{
	if (!mode_ok(m))
		kg_wire_fail(w, KG_PROTO_ERR_BAD_VALUE);
	kg_wire_put_u32(w, m->clock);
	kg_wire_put_u16(w, m->hdisplay);
	kg_wire_put_u16(w, m->hsync_start);
	kg_wire_put_u16(w, m->hsync_end);
	kg_wire_put_u16(w, m->htotal);
	kg_wire_put_u16(w, m->hskew);
	kg_wire_put_u16(w, m->vdisplay);
	kg_wire_put_u16(w, m->vsync_start);
	kg_wire_put_u16(w, m->vsync_end);
	kg_wire_put_u16(w, m->vtotal);
	kg_wire_put_u16(w, m->vscan);
	kg_wire_put_u32(w, m->vrefresh);
	kg_wire_put_u32(w, m->flags);
	kg_wire_put_u32(w, m->type);
	put_str(w, m->name, sizeof(m->name), STR_ID_OPT);
}

static void get_mode(struct kg_wire *r, struct kg_proto_mode *m)
{
	m->clock = kg_wire_get_u32(r);
	m->hdisplay = kg_wire_get_u16(r);
	m->hsync_start = kg_wire_get_u16(r);
	m->hsync_end = kg_wire_get_u16(r);
	m->htotal = kg_wire_get_u16(r);
	m->hskew = kg_wire_get_u16(r);
	m->vdisplay = kg_wire_get_u16(r);
	m->vsync_start = kg_wire_get_u16(r);
	m->vsync_end = kg_wire_get_u16(r);
	m->vtotal = kg_wire_get_u16(r);
	m->vscan = kg_wire_get_u16(r);
	m->vrefresh = kg_wire_get_u32(r);
	m->flags = kg_wire_get_u32(r);
	m->type = kg_wire_get_u32(r);
	get_str(r, m->name, sizeof(m->name), STR_ID_OPT);
	if (!kg_wire_failed(r) && !mode_ok(m))
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
}

/* Plane lists: a u32 count, then {u32 id, u32 type} each. The count is
 * checked before anything is read, so it can never index past the array. */
static void put_planes(struct kg_wire *w, uint32_t n, const struct kg_proto_plane *p)
{
	if (n > KG_PROTO_MAX_PLANES) {
		kg_wire_fail(w, KG_PROTO_ERR_BAD_COUNT);
		return;
	}
	kg_wire_put_u32(w, n);
	for (uint32_t i = 0; i < n; i++) {
		if (p[i].id == 0)
			kg_wire_fail(w, KG_PROTO_ERR_BAD_VALUE);
		check_range(w, p[i].type, KG_PROTO_PLANE_OVERLAY, KG_PROTO_PLANE_CURSOR);
		kg_wire_put_u32(w, p[i].id);
		kg_wire_put_u32(w, p[i].type);
	}
}

static void get_planes(struct kg_wire *r, uint32_t *n, struct kg_proto_plane *p)
{
	*n = kg_wire_get_u32(r);
	if (*n > KG_PROTO_MAX_PLANES) {
		kg_wire_fail(r, KG_PROTO_ERR_BAD_COUNT);
		*n = 0;
		return;
	}
	for (uint32_t i = 0; i < *n; i++) {
		p[i].id = kg_wire_get_u32(r);
		p[i].type = kg_wire_get_u32(r);
		if (p[i].id == 0)
			kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
		check_range(r, p[i].type, KG_PROTO_PLANE_OVERLAY, KG_PROTO_PLANE_CURSOR);
	}
}

/*
 * Bodies, one pair per layout. Each put_/get_ pair lists the same fields in
 * the same order: that order *is* the layout of PROTOCOL.md.
 */
static void put_hello(struct kg_wire *w, const struct kg_proto_hello *m)
{
	if (m->min_version == 0 || m->min_version > m->max_version)
		kg_wire_fail(w, KG_PROTO_ERR_BAD_VALUE);
	kg_wire_put_u16(w, m->min_version);
	kg_wire_put_u16(w, m->max_version);
	kg_wire_put_u32(w, 0);
	put_str(w, m->client_name, sizeof(m->client_name), STR_TEXT);
}

static void get_hello(struct kg_wire *r, struct kg_proto_hello *m)
{
	m->min_version = kg_wire_get_u16(r);
	m->max_version = kg_wire_get_u16(r);
	get_zero32(r);
	get_str(r, m->client_name, sizeof(m->client_name), STR_TEXT);
	if (m->min_version == 0 || m->min_version > m->max_version)
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
}

static void put_server_hello(struct kg_wire *w, const struct kg_proto_server_hello *m)
{
	if (m->version == 0)
		kg_wire_fail(w, KG_PROTO_ERR_BAD_VALUE);
	check_flags(w, m->features, 0);
	kg_wire_put_u16(w, m->version);
	kg_wire_put_u16(w, 0);
	kg_wire_put_u32(w, m->features);
	put_str(w, m->server_name, sizeof(m->server_name), STR_TEXT);
}

static void get_server_hello(struct kg_wire *r, struct kg_proto_server_hello *m)
{
	m->version = kg_wire_get_u16(r);
	get_zero16(r);
	get_flags(r, &m->features, 0);
	get_str(r, m->server_name, sizeof(m->server_name), STR_TEXT);
	if (m->version == 0)
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
}

static void put_acquire(struct kg_wire *w, const struct kg_proto_acquire *m)
{
	check_flags(w, m->flags, KG_PROTO_ACQUIRE_WAIT);
	put_str(w, m->name, sizeof(m->name), STR_ID);
	kg_wire_put_u32(w, m->flags);
	kg_wire_put_u32(w, 0);
}

static void get_acquire(struct kg_wire *r, struct kg_proto_acquire *m)
{
	get_str(r, m->name, sizeof(m->name), STR_ID);
	get_flags(r, &m->flags, KG_PROTO_ACQUIRE_WAIT);
	get_zero32(r);
}

static void put_name(struct kg_wire *w, const struct kg_proto_name *m)
{
	put_str(w, m->name, sizeof(m->name), STR_ID);
}

static void get_name(struct kg_wire *r, struct kg_proto_name *m)
{
	get_str(r, m->name, sizeof(m->name), STR_ID);
}

#define PIPE_FLAGS                                                           \
	(KG_PROTO_PIPE_HAS_CURRENT_MODE | KG_PROTO_PIPE_HAS_PREFERRED_MODE | \
	 KG_PROTO_PIPE_ALLOWED | KG_PROTO_PIPE_MINE)

static void put_pipeline(struct kg_wire *w, const struct kg_proto_pipeline *m)
{
	check_range(w, m->state, KG_PROTO_STATE_FREE, KG_PROTO_STATE_UNAVAILABLE);
	check_flags(w, m->flags, PIPE_FLAGS);
	check_range(w, m->connector_status, KG_PROTO_CONN_CONNECTED, KG_PROTO_CONN_UNKNOWN);
	put_str(w, m->name, sizeof(m->name), STR_ID);
	kg_wire_put_u32(w, m->state);
	kg_wire_put_u32(w, m->flags);
	put_str(w, m->connector_name, sizeof(m->connector_name), STR_ID_OPT);
	kg_wire_put_u32(w, m->connector_id);
	kg_wire_put_u32(w, m->connector_type);
	kg_wire_put_u32(w, m->connector_status);
	kg_wire_put_u32(w, m->mm_width);
	kg_wire_put_u32(w, m->mm_height);
	kg_wire_put_u32(w, m->crtc_id);
	put_mode(w, &m->current_mode);
	put_mode(w, &m->preferred_mode);
	kg_wire_put_u32(w, m->lessee_pid);
	kg_wire_put_u32(w, m->lessee_uid);
	put_str(w, m->lessee_name, sizeof(m->lessee_name), STR_TEXT);
	put_planes(w, m->n_planes, m->planes);
}

static void get_pipeline(struct kg_wire *r, struct kg_proto_pipeline *m)
{
	get_str(r, m->name, sizeof(m->name), STR_ID);
	m->state = kg_wire_get_u32(r);
	check_range(r, m->state, KG_PROTO_STATE_FREE, KG_PROTO_STATE_UNAVAILABLE);
	get_flags(r, &m->flags, PIPE_FLAGS);
	get_str(r, m->connector_name, sizeof(m->connector_name), STR_ID_OPT);
	m->connector_id = kg_wire_get_u32(r);
	m->connector_type = kg_wire_get_u32(r);
	m->connector_status = kg_wire_get_u32(r);
	check_range(r, m->connector_status, KG_PROTO_CONN_CONNECTED, KG_PROTO_CONN_UNKNOWN);
	m->mm_width = kg_wire_get_u32(r);
	m->mm_height = kg_wire_get_u32(r);
	m->crtc_id = kg_wire_get_u32(r);
	get_mode(r, &m->current_mode);
	get_mode(r, &m->preferred_mode);
	m->lessee_pid = kg_wire_get_u32(r);
	m->lessee_uid = kg_wire_get_u32(r);
	get_str(r, m->lessee_name, sizeof(m->lessee_name), STR_TEXT);
	get_planes(r, &m->n_planes, m->planes);
}

static void put_lease(struct kg_wire *w, const struct kg_proto_lease *m)
{
	if (m->connector_id == 0 || m->crtc_id == 0)
		kg_wire_fail(w, KG_PROTO_ERR_BAD_VALUE);
	put_str(w, m->name, sizeof(m->name), STR_ID);
	kg_wire_put_u32(w, m->lessee_id);
	kg_wire_put_u32(w, m->connector_id);
	kg_wire_put_u32(w, m->crtc_id);
	put_mode(w, &m->mode);
	put_planes(w, m->n_planes, m->planes);
}

static void get_lease(struct kg_wire *r, struct kg_proto_lease *m)
{
	get_str(r, m->name, sizeof(m->name), STR_ID);
	m->lessee_id = kg_wire_get_u32(r);
	m->connector_id = kg_wire_get_u32(r);
	m->crtc_id = kg_wire_get_u32(r);
	get_mode(r, &m->mode);
	get_planes(r, &m->n_planes, m->planes);
	if (m->connector_id == 0 || m->crtc_id == 0)
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
}

static void put_ok(struct kg_wire *w, const struct kg_proto_ok *m)
{
	if (!kg_proto_type_is_request(m->request_type))
		kg_wire_fail(w, KG_PROTO_ERR_BAD_VALUE);
	kg_wire_put_u16(w, m->request_type);
	kg_wire_put_u16(w, 0);
}

static void get_ok(struct kg_wire *r, struct kg_proto_ok *m)
{
	m->request_type = kg_wire_get_u16(r);
	get_zero16(r);
	if (!kg_proto_type_is_request(m->request_type))
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
}

static void put_error(struct kg_wire *w, const struct kg_proto_error *m)
{
	/* request_type 0: the request could not even be identified. Codes are
	 * open-ended (newer versions add some), but 0 is not an error. */
	if (m->code == 0 || (m->request_type != 0 && !kg_proto_type_is_request(m->request_type)))
		kg_wire_fail(w, KG_PROTO_ERR_BAD_VALUE);
	kg_wire_put_u32(w, m->code);
	kg_wire_put_u16(w, m->request_type);
	kg_wire_put_u16(w, 0);
	put_str(w, m->text, sizeof(m->text), STR_TEXT);
}

static void get_error(struct kg_wire *r, struct kg_proto_error *m)
{
	m->code = kg_wire_get_u32(r);
	m->request_type = kg_wire_get_u16(r);
	get_zero16(r);
	get_str(r, m->text, sizeof(m->text), STR_TEXT);
	/* Unknown codes are kept, not rejected: a newer server may add some
	 * and the client only needs to know it failed. */
	if (m->code == 0)
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
	if (m->request_type != 0 && !kg_proto_type_is_request(m->request_type))
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
}

static void put_revoked(struct kg_wire *w, const struct kg_proto_revoked *m)
{
	put_str(w, m->name, sizeof(m->name), STR_ID);
	/* Open-ended like error codes: any non-zero reason means revoked. */
	if (m->reason == 0)
		kg_wire_fail(w, KG_PROTO_ERR_BAD_VALUE);
	kg_wire_put_u32(w, m->reason);
}

static void get_revoked(struct kg_wire *r, struct kg_proto_revoked *m)
{
	get_str(r, m->name, sizeof(m->name), STR_ID);
	m->reason = kg_wire_get_u32(r);
	/* An unknown reason is still a revocation: keep it. */
	if (m->reason == 0)
		kg_wire_fail(r, KG_PROTO_ERR_BAD_VALUE);
}

static void put_conn_changed(struct kg_wire *w, const struct kg_proto_connector_changed *m)
{
	check_range(w, m->status, KG_PROTO_CONN_CONNECTED, KG_PROTO_CONN_UNKNOWN);
	check_flags(w, m->flags, KG_PROTO_PIPE_HAS_PREFERRED_MODE);
	put_str(w, m->name, sizeof(m->name), STR_ID);
	kg_wire_put_u32(w, m->connector_id);
	kg_wire_put_u32(w, m->status);
	kg_wire_put_u32(w, m->mm_width);
	kg_wire_put_u32(w, m->mm_height);
	kg_wire_put_u32(w, m->flags);
	put_mode(w, &m->preferred_mode);
}

static void get_conn_changed(struct kg_wire *r, struct kg_proto_connector_changed *m)
{
	get_str(r, m->name, sizeof(m->name), STR_ID);
	m->connector_id = kg_wire_get_u32(r);
	m->status = kg_wire_get_u32(r);
	check_range(r, m->status, KG_PROTO_CONN_CONNECTED, KG_PROTO_CONN_UNKNOWN);
	m->mm_width = kg_wire_get_u32(r);
	m->mm_height = kg_wire_get_u32(r);
	get_flags(r, &m->flags, KG_PROTO_PIPE_HAS_PREFERRED_MODE);
	get_mode(r, &m->preferred_mode);
}

static int put_body(struct kg_wire *w, const struct kg_proto_msg *m)
{
	switch (m->type) {
	case KG_PROTO_MSG_HELLO:
		put_hello(w, &m->u.hello);
		break;
	case KG_PROTO_MSG_LIST:
		break;
	case KG_PROTO_MSG_ACQUIRE:
		put_acquire(w, &m->u.acquire);
		break;
	case KG_PROTO_MSG_RELEASE:
		put_name(w, &m->u.release);
		break;
	case KG_PROTO_MSG_REVOKE:
		put_name(w, &m->u.revoke);
		break;
	case KG_PROTO_MSG_SERVER_HELLO:
		put_server_hello(w, &m->u.server_hello);
		break;
	case KG_PROTO_MSG_PIPELINE:
		put_pipeline(w, &m->u.pipeline);
		break;
	case KG_PROTO_MSG_LIST_END:
		kg_wire_put_u32(w, m->u.list_end.count);
		break;
	case KG_PROTO_MSG_LEASE:
		put_lease(w, &m->u.lease);
		break;
	case KG_PROTO_MSG_OK:
		put_ok(w, &m->u.ok);
		break;
	case KG_PROTO_MSG_ERROR:
		put_error(w, &m->u.error);
		break;
	case KG_PROTO_MSG_EV_REVOKED:
		put_revoked(w, &m->u.revoked);
		break;
	case KG_PROTO_MSG_EV_CONNECTOR_CHANGED:
		put_conn_changed(w, &m->u.connector_changed);
		break;
	case KG_PROTO_MSG_EV_PIPELINE_AVAILABLE:
		put_name(w, &m->u.available);
		break;
	default:
		return KG_PROTO_ERR_UNKNOWN_TYPE;
	}
	return 0;
}

static int get_body(struct kg_wire *r, struct kg_proto_msg *m)
{
	switch (m->type) {
	case KG_PROTO_MSG_HELLO:
		get_hello(r, &m->u.hello);
		break;
	case KG_PROTO_MSG_LIST:
		break;
	case KG_PROTO_MSG_ACQUIRE:
		get_acquire(r, &m->u.acquire);
		break;
	case KG_PROTO_MSG_RELEASE:
		get_name(r, &m->u.release);
		break;
	case KG_PROTO_MSG_REVOKE:
		get_name(r, &m->u.revoke);
		break;
	case KG_PROTO_MSG_SERVER_HELLO:
		get_server_hello(r, &m->u.server_hello);
		break;
	case KG_PROTO_MSG_PIPELINE:
		get_pipeline(r, &m->u.pipeline);
		break;
	case KG_PROTO_MSG_LIST_END:
		m->u.list_end.count = kg_wire_get_u32(r);
		break;
	case KG_PROTO_MSG_LEASE:
		get_lease(r, &m->u.lease);
		break;
	case KG_PROTO_MSG_OK:
		get_ok(r, &m->u.ok);
		break;
	case KG_PROTO_MSG_ERROR:
		get_error(r, &m->u.error);
		break;
	case KG_PROTO_MSG_EV_REVOKED:
		get_revoked(r, &m->u.revoked);
		break;
	case KG_PROTO_MSG_EV_CONNECTOR_CHANGED:
		get_conn_changed(r, &m->u.connector_changed);
		break;
	case KG_PROTO_MSG_EV_PIPELINE_AVAILABLE:
		get_name(r, &m->u.available);
		break;
	default:
		return KG_PROTO_ERR_UNKNOWN_TYPE;
	}
	return 0;
}

static bool seq_ok(uint16_t type, uint32_t seq)
{
	/* Requests and replies are matched by a non-zero seq; events carry
	 * none. ERROR may have seq 0 (a packet too broken to have one). */
	if (kg_proto_type_is_event(type))
		return seq == 0;
	if (type == KG_PROTO_MSG_ERROR)
		return true;
	return seq != 0;
}

ssize_t kg_proto_encode(const struct kg_proto_msg *msg, void *buf, size_t cap)
{
	struct kg_wire w;
	int err;

	if (cap > KG_PROTO_MAX_MSG_SIZE)
		cap = KG_PROTO_MAX_MSG_SIZE;
	kg_wire_init(&w, buf, cap);
	if (!seq_ok(msg->type, msg->seq))
		return -KG_PROTO_ERR_BAD_VALUE;
	kg_wire_put_u16(&w, msg->type);
	kg_wire_put_u16(&w, 0);
	kg_wire_put_u32(&w, 0); /* size, patched below */
	kg_wire_put_u32(&w, msg->seq);
	err = put_body(&w, msg);
	if (err)
		return -err;
	if (kg_wire_failed(&w))
		return -kg_wire_error(&w);
	kg_wire_patch_u32(&w, 4, (uint32_t)kg_wire_pos(&w));
	return (ssize_t)kg_wire_pos(&w);
}

int kg_proto_peek_header(const void *buf, size_t len, uint16_t *type, uint32_t *seq)
{
	struct kg_wire r;

	if (len < KG_PROTO_HEADER_SIZE)
		return KG_PROTO_ERR_TRUNCATED;
	kg_wire_init(&r, (void *)buf, len);
	*type = kg_wire_get_u16(&r);
	kg_wire_get_u16(&r);
	kg_wire_get_u32(&r);
	*seq = kg_wire_get_u32(&r);
	return 0;
}

int kg_proto_decode(const void *buf, size_t len, struct kg_proto_msg *out)
{
	struct kg_wire r;
	uint32_t size;
	int err;

	if (len > KG_PROTO_MAX_MSG_SIZE)
		return KG_PROTO_ERR_TOO_BIG;
	if (len < KG_PROTO_HEADER_SIZE)
		return KG_PROTO_ERR_TRUNCATED;
	memset(out, 0, sizeof(*out));
	kg_wire_init(&r, (void *)buf, len);
	out->type = kg_wire_get_u16(&r);
	if (kg_wire_get_u16(&r) != 0)
		return KG_PROTO_ERR_BAD_VALUE;
	size = kg_wire_get_u32(&r);
	out->seq = kg_wire_get_u32(&r);
	if (size > KG_PROTO_MAX_MSG_SIZE)
		return KG_PROTO_ERR_TOO_BIG;
	if (size > len)
		return KG_PROTO_ERR_TRUNCATED;
	if (size != len)
		return KG_PROTO_ERR_SIZE;
	err = get_body(&r, out);
	if (err)
		return err;
	/* Running out of bytes mid-body means the packet is shorter than its
	 * type's layout: a size error, like bytes left over after it. */
	if (kg_wire_failed(&r))
		return kg_wire_error(&r) == KG_PROTO_ERR_TRUNCATED ? KG_PROTO_ERR_SIZE
								   : kg_wire_error(&r);
	if (kg_wire_remaining(&r) != 0)
		return KG_PROTO_ERR_SIZE;
	if (!seq_ok(out->type, out->seq))
		return KG_PROTO_ERR_BAD_VALUE;
	return 0;
}

void kg_proto_error_vfill(struct kg_proto_msg *m, uint32_t seq, uint16_t request_type,
			  uint32_t code, const char *fmt, va_list ap)
{
	*m = (struct kg_proto_msg){ .type = KG_PROTO_MSG_ERROR, .seq = seq };
	m->u.error.code = code;
	m->u.error.request_type = kg_proto_type_is_request(request_type) ? request_type : 0;
	vsnprintf(m->u.error.text, sizeof(m->u.error.text), fmt, ap);
	/* The text may quote peer input: keep it printable so it encodes. */
	for (char *c = m->u.error.text; *c; c++) {
		if (!str_char_ok((unsigned char)*c, STR_TEXT))
			*c = '?';
	}
}

ssize_t kg_proto_encode_error(void *buf, size_t cap, uint32_t seq, uint16_t request_type,
			      uint32_t code, const char *fmt, ...)
{
	struct kg_proto_msg m;
	va_list ap;

	va_start(ap, fmt);
	kg_proto_error_vfill(&m, seq, request_type, code, fmt, ap);
	va_end(ap);
	return kg_proto_encode(&m, buf, cap);
}
