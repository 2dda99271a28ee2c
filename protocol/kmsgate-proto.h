/* SPDX-License-Identifier: MIT */
/*
 * kmsgate-proto: the broker's wire protocol as C, its codec and the socket
 * helpers both sides use.
 *
 * This is the interface kmsgate-broker (server side) and libkmsgate (client
 * side) share; protocol/PROTOCOL.md is the prose version and must match it.
 *
 * The wire format is fixed-width little-endian fields only. The structs below
 * are *host* structs (decoded form); they are never copied to the wire as is.
 * kg_proto_encode() writes the documented layout byte by byte and
 * kg_proto_decode() reads it back, rejecting anything that is not exactly a
 * well-formed message: wrong size, unterminated or unclean strings, counts
 * over the limits, non-zero reserved fields, unknown types or flags.
 *
 * Framing: one message per SOCK_SEQPACKET packet, header then body:
 *   offset 0  u16 type    KG_PROTO_MSG_*
 *   offset 2  u16 flags   0 in version 1 (any other value is rejected)
 *   offset 4  u32 size    whole packet in bytes, header included
 *   offset 8  u32 seq     request: chosen by the client (non-zero);
 *                         reply: the seq of the request it answers;
 *                         event: 0
 */
#ifndef KMSGATE_PROTO_H
#define KMSGATE_PROTO_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KG_PROTO_VERSION     1 /* the newest version this code speaks */
#define KG_PROTO_MIN_VERSION 1 /* the oldest version this code speaks */

/* Limits. Every one is a cap on what a peer controls. */
#define KG_PROTO_HEADER_SIZE   12
#define KG_PROTO_MAX_MSG_SIZE  1024 /* no valid message is larger: bounds every buffer */
#define KG_PROTO_NAME_LEN      32   /* pipeline, connector, client names, NUL included */
#define KG_PROTO_TEXT_LEN      128  /* error text, NUL included */
#define KG_PROTO_MODE_NAME_LEN 32   /* = DRM_DISPLAY_MODE_LEN */
#define KG_PROTO_MAX_PLANES    16   /* planes in one pipeline */
#define KG_PROTO_MAX_FDS       1    /* fds in one packet */

/* Message types. 0x00xx: requests (client -> server), 0x008x: replies,
 * 0x00cx: events (server -> client, seq 0). */
#define KG_PROTO_MSG_HELLO		   0x0001 /* request: version range + client name */
#define KG_PROTO_MSG_LIST		   0x0002 /* request: no body */
#define KG_PROTO_MSG_ACQUIRE		   0x0003 /* request: name + flags */
#define KG_PROTO_MSG_RELEASE		   0x0004 /* request: name */
#define KG_PROTO_MSG_REVOKE		   0x0005 /* request (admin): name */
#define KG_PROTO_MSG_SERVER_HELLO	   0x0081 /* reply to HELLO */
#define KG_PROTO_MSG_PIPELINE		   0x0082 /* reply to LIST, one per pipeline */
#define KG_PROTO_MSG_LIST_END		   0x0083 /* reply to LIST, last */
#define KG_PROTO_MSG_LEASE		   0x0084 /* reply to ACQUIRE, carries the lease fd */
#define KG_PROTO_MSG_OK			   0x0085 /* reply to RELEASE, REVOKE */
#define KG_PROTO_MSG_ERROR		   0x0086 /* reply to any request, or seq 0 before disconnect */
#define KG_PROTO_MSG_EV_REVOKED		   0x00c1 /* event: your lease was revoked */
#define KG_PROTO_MSG_EV_CONNECTOR_CHANGED  0x00c2 /* event: hotplug on a pipeline's connector */
#define KG_PROTO_MSG_EV_PIPELINE_AVAILABLE 0x00c3 /* event: a pipeline became free */

/*
 * Error codes: the code field of an ERROR message and the return value of
 * kg_proto_decode()/kg_proto_encode() (which return 0 on success). 1-15 are
 * protocol violations: the server replies ERROR and disconnects. 16 and up
 * are refusals of a well-formed request: the connection stays usable.
 */
#define KG_PROTO_OK		  0
#define KG_PROTO_ERR_TRUNCATED	  1  /* shorter than a header, or than its size field says */
#define KG_PROTO_ERR_SIZE	  2  /* size field does not match the packet or the type's layout */
#define KG_PROTO_ERR_TOO_BIG	  3  /* larger than KG_PROTO_MAX_MSG_SIZE (or the buffer) */
#define KG_PROTO_ERR_UNKNOWN_TYPE 4  /* type not defined in the negotiated version */
#define KG_PROTO_ERR_BAD_STRING	  5  /* no NUL, junk after the NUL, bad characters, empty name */
#define KG_PROTO_ERR_BAD_COUNT	  6  /* a count above its limit */
#define KG_PROTO_ERR_BAD_VALUE	  7  /* reserved field/flags not 0, value out of its range */
#define KG_PROTO_ERR_FD		  8  /* fd where none belongs, or missing where one must be */
#define KG_PROTO_ERR_UNEXPECTED	  9  /* valid message, wrong direction or connection state */
#define KG_PROTO_ERR_VERSION	  16 /* no common protocol version */
#define KG_PROTO_ERR_NOT_FOUND	  17 /* no pipeline of that name */
#define KG_PROTO_ERR_BUSY	  18 /* pipeline leased to another client */
#define KG_PROTO_ERR_DENIED	  19 /* the peer's uid/gid is not allowed */
#define KG_PROTO_ERR_UNAVAILABLE  20 /* connector disconnected or pipeline unusable */
#define KG_PROTO_ERR_NOT_HELD	  21 /* release of a pipeline this client does not hold */
#define KG_PROTO_ERR_CANCELLED	  22 /* a waiting ACQUIRE ended without a lease */
#define KG_PROTO_ERR_LIMIT	  23 /* too many clients, waiters or leases */
#define KG_PROTO_ERR_INTERNAL	  24 /* the server failed (e.g. drmModeCreateLease) */

/* ACQUIRE flags */
#define KG_PROTO_ACQUIRE_WAIT 0x1u /* if leased, wait until free instead of failing BUSY */

/* PIPELINE state */
#define KG_PROTO_STATE_FREE	   0
#define KG_PROTO_STATE_LEASED	   1
#define KG_PROTO_STATE_UNAVAILABLE 2 /* e.g. connector disconnected */

/* PIPELINE and EV_CONNECTOR_CHANGED flags */
#define KG_PROTO_PIPE_HAS_CURRENT_MODE	 0x1u /* current_mode is valid (CRTC active) */
#define KG_PROTO_PIPE_HAS_PREFERRED_MODE 0x2u /* preferred_mode is valid */
#define KG_PROTO_PIPE_ALLOWED		 0x4u /* this client may acquire it (allow lists) */
#define KG_PROTO_PIPE_MINE		 0x8u /* leased to this connection */

/* Connector status: the values of DRM's drmModeConnection. */
#define KG_PROTO_CONN_CONNECTED	   1
#define KG_PROTO_CONN_DISCONNECTED 2
#define KG_PROTO_CONN_UNKNOWN	   3

/* Plane types: the values of DRM_PLANE_TYPE_*. */
#define KG_PROTO_PLANE_OVERLAY 0
#define KG_PROTO_PLANE_PRIMARY 1
#define KG_PROTO_PLANE_CURSOR  2

/* EV_REVOKED reasons */
#define KG_PROTO_REVOKE_ADMIN	       1 /* an admin ran REVOKE */
#define KG_PROTO_REVOKE_CONNECTOR_GONE 2 /* the connector was unplugged */
#define KG_PROTO_REVOKE_SHUTDOWN       3 /* the broker is stopping */
#define KG_PROTO_REVOKE_POLICY	       4 /* configuration or permissions changed */

/* A display mode: the fields of drmModeModeInfo in its order, 68 bytes on the
 * wire. All zero means "no mode". */
struct kg_proto_mode {
	uint32_t clock;
	uint16_t hdisplay, hsync_start, hsync_end, htotal, hskew;
	uint16_t vdisplay, vsync_start, vsync_end, vtotal, vscan;
	uint32_t vrefresh;
	uint32_t flags;
	uint32_t type;
	char name[KG_PROTO_MODE_NAME_LEN];
};
#define KG_PROTO_MODE_WIRE_SIZE 68

struct kg_proto_plane {
	uint32_t id;
	uint32_t type; /* KG_PROTO_PLANE_* */
};

/* HELLO body, 40 bytes: u16 min_version, u16 max_version, u32 reserved = 0,
 * char client_name[32] (text, may be empty). */
struct kg_proto_hello {
	uint16_t min_version;
	uint16_t max_version;
	char client_name[KG_PROTO_NAME_LEN];
};

/* SERVER_HELLO body, 40 bytes: u16 version (chosen), u16 reserved = 0,
 * u32 features (0 in version 1), char server_name[32] (text). */
struct kg_proto_server_hello {
	uint16_t version;
	uint32_t features;
	char server_name[KG_PROTO_NAME_LEN];
};

/* ACQUIRE body, 40 bytes: char name[32], u32 flags (KG_PROTO_ACQUIRE_*),
 * u32 reserved = 0. */
struct kg_proto_acquire {
	char name[KG_PROTO_NAME_LEN];
	uint32_t flags;
};

/* RELEASE, REVOKE and EV_PIPELINE_AVAILABLE body, 32 bytes: char name[32]. */
struct kg_proto_name {
	char name[KG_PROTO_NAME_LEN];
};

/* PIPELINE body, 276 + 8 * n_planes bytes; offsets in PROTOCOL.md. */
struct kg_proto_pipeline {
	char name[KG_PROTO_NAME_LEN];
	uint32_t state; /* KG_PROTO_STATE_* */
	uint32_t flags; /* KG_PROTO_PIPE_* */
	char connector_name[KG_PROTO_NAME_LEN];
	uint32_t connector_id;
	uint32_t connector_type;   /* DRM_MODE_CONNECTOR_* */
	uint32_t connector_status; /* KG_PROTO_CONN_* */
	uint32_t mm_width, mm_height;
	uint32_t crtc_id;
	struct kg_proto_mode current_mode;
	struct kg_proto_mode preferred_mode;
	uint32_t lessee_pid; /* 0 unless LEASED */
	uint32_t lessee_uid;
	char lessee_name[KG_PROTO_NAME_LEN]; /* the lessee's HELLO client_name */
	uint32_t n_planes;
	struct kg_proto_plane planes[KG_PROTO_MAX_PLANES];
};

/* LIST_END body, 4 bytes: u32 count (PIPELINE messages sent before it). */
struct kg_proto_list_end {
	uint32_t count;
};

/* LEASE body, 116 + 8 * n_planes bytes, and exactly one fd (SCM_RIGHTS): the
 * DRM lease. char name[32], u32 lessee_id, u32 connector_id, u32 crtc_id,
 * mode (68), u32 n_planes, planes. */
struct kg_proto_lease {
	char name[KG_PROTO_NAME_LEN];
	uint32_t lessee_id;
	uint32_t connector_id;
	uint32_t crtc_id;
	struct kg_proto_mode mode; /* the mode to set; all zero: pick one yourself */
	uint32_t n_planes;
	struct kg_proto_plane planes[KG_PROTO_MAX_PLANES];
};

/* OK body, 4 bytes: u16 request_type, u16 reserved = 0. */
struct kg_proto_ok {
	uint16_t request_type;
};

/* ERROR body, 136 bytes: u32 code, u16 request_type (0 if unknown),
 * u16 reserved = 0, char text[128] (text). */
struct kg_proto_error {
	uint32_t code; /* KG_PROTO_ERR_* */
	uint16_t request_type;
	char text[KG_PROTO_TEXT_LEN];
};

/* EV_REVOKED body, 36 bytes: char name[32], u32 reason (KG_PROTO_REVOKE_*). */
struct kg_proto_revoked {
	char name[KG_PROTO_NAME_LEN];
	uint32_t reason;
};

/* EV_CONNECTOR_CHANGED body, 120 bytes: char name[32], u32 connector_id,
 * u32 status, u32 mm_width, u32 mm_height, u32 flags
 * (KG_PROTO_PIPE_HAS_PREFERRED_MODE only), preferred_mode (68). */
struct kg_proto_connector_changed {
	char name[KG_PROTO_NAME_LEN];
	uint32_t connector_id;
	uint32_t status; /* KG_PROTO_CONN_* */
	uint32_t mm_width, mm_height;
	uint32_t flags;
	struct kg_proto_mode preferred_mode;
};

/* One decoded message. Which union member is valid follows from type. */
struct kg_proto_msg {
	uint16_t type;
	uint32_t seq;
	union {
		struct kg_proto_hello hello;
		struct kg_proto_server_hello server_hello;
		struct kg_proto_acquire acquire;
		struct kg_proto_name release;
		struct kg_proto_name revoke;
		struct kg_proto_pipeline pipeline;
		struct kg_proto_list_end list_end;
		struct kg_proto_lease lease;
		struct kg_proto_ok ok;
		struct kg_proto_error error;
		struct kg_proto_revoked revoked;
		struct kg_proto_connector_changed connector_changed;
		struct kg_proto_name available;
	} u;
};

/*
 * Codec
 */

/* Writes msg in wire form into buf. Validates msg as strictly as the decoder
 * would (so nothing undecodable is ever sent). Strings are copied up to their
 * NUL and zero-padded. Returns the number of bytes written (> 0), or
 * -KG_PROTO_ERR_* (-KG_PROTO_ERR_TOO_BIG if cap is too small). */
ssize_t kg_proto_encode(const struct kg_proto_msg *msg, void *buf, size_t cap);

/* Decodes exactly one message of len bytes. Returns 0 and fills *out, or a
 * KG_PROTO_ERR_* code (> 0) and leaves *out unspecified. Never reads beyond
 * buf + len. */
int kg_proto_decode(const void *buf, size_t len, struct kg_proto_msg *out);

/* Reads the header fields of a (possibly malformed) packet, e.g. to put the
 * request's seq and type into an ERROR reply. Returns 0, or
 * KG_PROTO_ERR_TRUNCATED if len < KG_PROTO_HEADER_SIZE. */
int kg_proto_peek_header(const void *buf, size_t len, uint16_t *type, uint32_t *seq);

/* Fills m as an ERROR answering request_type (0 when it is no request) with
 * seq: the text printf-style, cut to fit, anything not printable made '?'
 * (it may quote peer input, and must encode). */
void kg_proto_error_vfill(struct kg_proto_msg *m, uint32_t seq, uint16_t request_type,
			  uint32_t code, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/* Convenience: encodes an ERROR (kg_proto_error_vfill). Returns the size or
 * -KG_PROTO_ERR_*. */
ssize_t kg_proto_encode_error(void *buf, size_t cap, uint32_t seq, uint16_t request_type,
			      uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* 1 if messages of this type carry exactly one fd, else 0. */
int kg_proto_type_has_fd(uint16_t type);
/* 1 for types a client sends (requests), 0 for server messages and unknown. */
int kg_proto_type_is_request(uint16_t type);
/* 1 for event types (seq 0, unsolicited). */
int kg_proto_type_is_event(uint16_t type);

/* Names for logs: "HELLO", "ERR_BUSY"...; "?" if unknown. Never NULL. */
const char *kg_proto_type_name(uint16_t type);
const char *kg_proto_err_name(uint32_t code);
/* A sentence for users, e.g. "pipeline is leased to another client". */
const char *kg_proto_err_text(uint32_t code);
const char *kg_proto_state_name(uint32_t state);
const char *kg_proto_plane_type_name(uint32_t type);
const char *kg_proto_revoke_reason_name(uint32_t reason);

/*
 * Socket helpers (SOCK_SEQPACKET, one message per packet)
 */

/* Sends len bytes as one packet with MSG_NOSIGNAL, plus fd by SCM_RIGHTS if
 * fd >= 0 (the caller keeps its fd). Returns 0 or -errno (-EAGAIN on a full
 * non-blocking socket, -EPIPE if the peer is gone, -EMSGSIZE if the packet
 * was cut). */
int kg_proto_send(int sock, const void *buf, size_t len, int fd);

/* Receives one packet into buf (cap should be KG_PROTO_MAX_MSG_SIZE) with
 * MSG_CMSG_CLOEXEC. *fd is set to -1, or to the received fd when the packet's
 * type carries one (kg_proto_type_has_fd) and exactly one arrived; every other
 * received fd is closed here, whatever the outcome. Returns:
 *   > 0        the packet length (not yet decoded: call kg_proto_decode);
 *   0          end of stream (the peer closed; an empty packet reads the same);
 *   -EMSGSIZE  the packet or its control data was cut (MSG_TRUNC/MSG_CTRUNC);
 *              buf holds the first cap bytes, no fd is returned;
 *   -EPROTO    fd(s) on a type that carries none, or none/several on one
 *              that needs one (all closed); buf holds the packet;
 *   -errno     recvmsg failed (-EAGAIN on an empty non-blocking socket).
 * *len_out (if not NULL) gets the bytes stored in buf in every case. */
ssize_t kg_proto_recv(int sock, void *buf, size_t cap, int *fd, size_t *len_out);
/* kg_proto_recv with MSG_PEEK: the same answers, but the packet stays at
 * the head of the socket (the next recv or peek gets it again). Each peek
 * duplicates the packet's fds into this process: *fd is the caller's to
 * close as after kg_proto_recv, every other one is closed here. */
ssize_t kg_proto_peek(int sock, void *buf, size_t cap, int *fd, size_t *len_out);

#endif
