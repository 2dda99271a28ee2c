// SPDX-License-Identifier: MIT
/* Names of types and codes, for logs and for users. */
#include "kmsgate-proto.h"

#include <stddef.h>

struct name_entry {
	uint32_t value;
	const char *name;
};

static const char *lookup(const struct name_entry *t, size_t n, uint32_t value)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i].value == value)
			return t[i].name;
	}
	return "?";
}

#define LOOKUP(table, v) lookup(table, sizeof(table) / sizeof(table[0]), v)

static const struct name_entry type_names[] = {
	{ KG_PROTO_MSG_HELLO, "HELLO" },
	{ KG_PROTO_MSG_LIST, "LIST" },
	{ KG_PROTO_MSG_ACQUIRE, "ACQUIRE" },
	{ KG_PROTO_MSG_RELEASE, "RELEASE" },
	{ KG_PROTO_MSG_REVOKE, "REVOKE" },
	{ KG_PROTO_MSG_SERVER_HELLO, "SERVER_HELLO" },
	{ KG_PROTO_MSG_PIPELINE, "PIPELINE" },
	{ KG_PROTO_MSG_LIST_END, "LIST_END" },
	{ KG_PROTO_MSG_LEASE, "LEASE" },
	{ KG_PROTO_MSG_OK, "OK" },
	{ KG_PROTO_MSG_ERROR, "ERROR" },
	{ KG_PROTO_MSG_EV_REVOKED, "EV_REVOKED" },
	{ KG_PROTO_MSG_EV_CONNECTOR_CHANGED, "EV_CONNECTOR_CHANGED" },
	{ KG_PROTO_MSG_EV_PIPELINE_AVAILABLE, "EV_PIPELINE_AVAILABLE" },
};

const char *kg_proto_type_name(uint16_t type)
{
	return LOOKUP(type_names, type);
}

int kg_proto_type_has_fd(uint16_t type)
{
	return type == KG_PROTO_MSG_LEASE;
}

int kg_proto_type_is_request(uint16_t type)
{
	return type >= KG_PROTO_MSG_HELLO && type <= KG_PROTO_MSG_REVOKE;
}

int kg_proto_type_is_event(uint16_t type)
{
	return type >= KG_PROTO_MSG_EV_REVOKED && type <= KG_PROTO_MSG_EV_PIPELINE_AVAILABLE;
}

struct err_entry {
	uint32_t code;
	const char *name;
	const char *text;
};

static const struct err_entry errors[] = {
	{ KG_PROTO_OK, "OK", "success" },
	{ KG_PROTO_ERR_TRUNCATED, "ERR_TRUNCATED", "message is truncated" },
	{ KG_PROTO_ERR_SIZE, "ERR_SIZE", "message size does not match its type" },
	{ KG_PROTO_ERR_TOO_BIG, "ERR_TOO_BIG", "message is too big" },
	{ KG_PROTO_ERR_UNKNOWN_TYPE, "ERR_UNKNOWN_TYPE", "unknown message type" },
	{ KG_PROTO_ERR_BAD_STRING, "ERR_BAD_STRING", "malformed string field" },
	{ KG_PROTO_ERR_BAD_COUNT, "ERR_BAD_COUNT", "count above its limit" },
	{ KG_PROTO_ERR_BAD_VALUE, "ERR_BAD_VALUE", "field value out of range" },
	{ KG_PROTO_ERR_FD, "ERR_FD", "unexpected or missing file descriptor" },
	{ KG_PROTO_ERR_UNEXPECTED, "ERR_UNEXPECTED", "message not allowed in this state" },
	{ KG_PROTO_ERR_VERSION, "ERR_VERSION", "no common protocol version" },
	{ KG_PROTO_ERR_NOT_FOUND, "ERR_NOT_FOUND", "no pipeline of that name" },
	{ KG_PROTO_ERR_BUSY, "ERR_BUSY", "pipeline is leased to another client" },
	{ KG_PROTO_ERR_DENIED, "ERR_DENIED", "not allowed to use this pipeline" },
	{ KG_PROTO_ERR_UNAVAILABLE, "ERR_UNAVAILABLE",
	  "pipeline is unavailable (connector disconnected?)" },
	{ KG_PROTO_ERR_NOT_HELD, "ERR_NOT_HELD", "pipeline is not leased to this client" },
	{ KG_PROTO_ERR_CANCELLED, "ERR_CANCELLED", "waiting acquire was cancelled" },
	{ KG_PROTO_ERR_LIMIT, "ERR_LIMIT", "too many clients, waiters or leases" },
	{ KG_PROTO_ERR_INTERNAL, "ERR_INTERNAL", "internal broker error" },
};

static const struct err_entry *find_err(uint32_t code)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		if (errors[i].code == code)
			return &errors[i];
	}
	return NULL;
}

const char *kg_proto_err_name(uint32_t code)
{
	const struct err_entry *e = find_err(code);

	return e ? e->name : "?";
}

const char *kg_proto_err_text(uint32_t code)
{
	const struct err_entry *e = find_err(code);

	return e ? e->text : "unknown error";
}

static const struct name_entry states[] = {
	{ KG_PROTO_STATE_FREE, "free" },
	{ KG_PROTO_STATE_LEASED, "leased" },
	{ KG_PROTO_STATE_UNAVAILABLE, "unavailable" },
};

const char *kg_proto_state_name(uint32_t state)
{
	return LOOKUP(states, state);
}

static const struct name_entry plane_types[] = {
	{ KG_PROTO_PLANE_OVERLAY, "overlay" },
	{ KG_PROTO_PLANE_PRIMARY, "primary" },
	{ KG_PROTO_PLANE_CURSOR, "cursor" },
};

const char *kg_proto_plane_type_name(uint32_t type)
{
	return LOOKUP(plane_types, type);
}

static const struct name_entry reasons[] = {
	{ KG_PROTO_REVOKE_ADMIN, "admin" },
	{ KG_PROTO_REVOKE_CONNECTOR_GONE, "connector-gone" },
	{ KG_PROTO_REVOKE_SHUTDOWN, "shutdown" },
	{ KG_PROTO_REVOKE_POLICY, "policy" },
};

const char *kg_proto_revoke_reason_name(uint32_t reason)
{
	return LOOKUP(reasons, reason);
}
