// SPDX-License-Identifier: MIT
/* The codec: round trips of every message type, the documented layout, and
 * every way a packet can be malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kmsgate-proto.h"
#include "samples.h"

static uint8_t buf[KG_PROTO_MAX_MSG_SIZE + 64];

static size_t encode_sample(size_t i, struct kg_proto_msg *m)
{
	ssize_t n;

	kg_sample(i, m);
	n = kg_proto_encode(m, buf, sizeof(buf));
	assert_true(n >= KG_PROTO_HEADER_SIZE);
	return (size_t)n;
}

static uint32_t get32(size_t off)
{
	return (uint32_t)buf[off] | (uint32_t)buf[off + 1] << 8 | (uint32_t)buf[off + 2] << 16 |
	       (uint32_t)buf[off + 3] << 24;
}

static void put32(size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

static void put16(size_t off, uint16_t v)
{
	buf[off] = (uint8_t)v;
	buf[off + 1] = (uint8_t)(v >> 8);
}

static int decode(size_t len)
{
	struct kg_proto_msg out;

	return kg_proto_decode(buf, len, &out);
}

static void test_roundtrip_every_sample(void **state)
{
	for (size_t i = 0; i < kg_sample_count(); i++) {
		struct kg_proto_msg in, out;
		size_t n = encode_sample(i, &in);

		assert_int_equal(get32(4), n);
		assert_int_equal(kg_proto_decode(buf, n, &out), 0);
		assert_int_equal(out.type, in.type);
		assert_int_equal(out.seq, in.seq);
		assert_memory_equal(&out, &in, sizeof(in));
	}
}

/* Every message type has a sample: a new type without one fails here. */
static void test_every_type_has_a_sample(void **state)
{
	static const uint16_t types[] = {
		KG_PROTO_MSG_HELLO,
		KG_PROTO_MSG_LIST,
		KG_PROTO_MSG_ACQUIRE,
		KG_PROTO_MSG_RELEASE,
		KG_PROTO_MSG_REVOKE,
		KG_PROTO_MSG_SERVER_HELLO,
		KG_PROTO_MSG_PIPELINE,
		KG_PROTO_MSG_LIST_END,
		KG_PROTO_MSG_LEASE,
		KG_PROTO_MSG_OK,
		KG_PROTO_MSG_ERROR,
		KG_PROTO_MSG_EV_REVOKED,
		KG_PROTO_MSG_EV_CONNECTOR_CHANGED,
		KG_PROTO_MSG_EV_PIPELINE_AVAILABLE,
	};
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		bool found = false;
		struct kg_proto_msg m;

		for (size_t i = 0; i < kg_sample_count(); i++) {
			kg_sample(i, &m);
			found |= m.type == types[t];
		}
		assert_true(found);
		assert_string_not_equal(kg_proto_type_name(types[t]), "?");
	}
	assert_string_equal(kg_proto_type_name(0x7777), "?");
}

/* The byte offsets PROTOCOL.md documents. */
static void test_wire_layout_matches_protocol_md(void **state)
{
	struct kg_proto_msg m;
	size_t n;

	n = encode_sample(0, &m); /* HELLO */
	assert_int_equal(n, 12 + 40);
	assert_int_equal(buf[0] | buf[1] << 8, KG_PROTO_MSG_HELLO);
	assert_int_equal(get32(8), m.seq);
	assert_int_equal(buf[12], 1);
	assert_int_equal(buf[14], 3);
	assert_string_equal((char *)buf + 12 + 8, "kmsgatectl");

	n = encode_sample(6, &m); /* PIPELINE, 3 planes */
	assert_int_equal(m.type, KG_PROTO_MSG_PIPELINE);
	assert_int_equal(n, 12 + 276 + 3 * 8);
	assert_string_equal((char *)buf + 12 + 40, "Virtual-2");
	assert_int_equal(get32(12 + 32), KG_PROTO_STATE_LEASED);
	assert_int_equal(get32(12 + 72), 42);
	assert_int_equal(get32(12 + 92), 51);
	assert_int_equal(get32(12 + 96), 65000);
	assert_int_equal(buf[12 + 96 + 4] | buf[12 + 96 + 5] << 8, 1024);
	assert_int_equal(get32(12 + 96 + 24), 60);
	assert_string_equal((char *)buf + 12 + 96 + 36, "1024x768");
	assert_int_equal(get32(12 + 232), 1234);
	assert_int_equal(get32(12 + 236), 1000);
	assert_int_equal(get32(12 + 272), 3);
	assert_int_equal(get32(12 + 276), 31);
	assert_int_equal(get32(12 + 280), KG_PROTO_PLANE_PRIMARY);

	n = encode_sample(10, &m); /* LEASE, 2 planes */
	assert_int_equal(m.type, KG_PROTO_MSG_LEASE);
	assert_int_equal(n, 12 + 116 + 2 * 8);
	assert_int_equal(get32(12 + 32), 7);
	assert_int_equal(get32(12 + 36), 37);
	assert_int_equal(get32(12 + 40), 36);
	assert_int_equal(get32(12 + 112), 2);

	n = encode_sample(13, &m); /* ERROR */
	assert_int_equal(m.type, KG_PROTO_MSG_ERROR);
	assert_int_equal(n, 12 + 136);
	assert_int_equal(get32(12), KG_PROTO_ERR_BUSY);
	assert_int_equal(buf[16], KG_PROTO_MSG_ACQUIRE);
	assert_memory_equal(buf + 20, "pipeline", 8);

	n = encode_sample(15, &m); /* EV_CONNECTOR_CHANGED */
	assert_int_equal(n, 12 + 120);
	assert_int_equal(get32(12 + 48), KG_PROTO_PIPE_HAS_PREFERRED_MODE);
}

static void test_short_header_is_truncated(void **state)
{
	struct kg_proto_msg m;

	encode_sample(1, &m);
	for (size_t len = 0; len < KG_PROTO_HEADER_SIZE; len++)
		assert_int_equal(decode(len), KG_PROTO_ERR_TRUNCATED);
}

/* Every prefix of every sample: cut (size says more) or with the size
 * patched to the cut (layout says more). Neither may decode. */
static void test_every_truncation_is_rejected(void **state)
{
	for (size_t i = 0; i < kg_sample_count(); i++) {
		struct kg_proto_msg m;
		size_t n = encode_sample(i, &m);

		for (size_t len = KG_PROTO_HEADER_SIZE; len < n; len++) {
			put32(4, (uint32_t)n);
			assert_int_equal(decode(len), KG_PROTO_ERR_TRUNCATED);
			put32(4, (uint32_t)len);
			assert_int_equal(decode(len), KG_PROTO_ERR_SIZE);
		}
	}
}

static void test_size_mismatch(void **state)
{
	struct kg_proto_msg m;
	size_t n = encode_sample(2, &m); /* ACQUIRE */

	/* Trailing bytes after the layout, size field counting them. */
	buf[n] = 0;
	put32(4, (uint32_t)n + 1);
	assert_int_equal(decode(n + 1), KG_PROTO_ERR_SIZE);
	/* Size field smaller than the packet. */
	put32(4, (uint32_t)n - 4);
	assert_int_equal(decode(n), KG_PROTO_ERR_SIZE);
	put32(4, 0);
	assert_int_equal(decode(n), KG_PROTO_ERR_SIZE);
	/* LIST has no body: any body is wrong. */
	n = encode_sample(1, &m);
	put32(4, (uint32_t)n + 4);
	assert_int_equal(decode(n + 4), KG_PROTO_ERR_SIZE);
}

static void test_oversized(void **state)
{
	struct kg_proto_msg m;
	size_t n = encode_sample(1, &m);

	assert_int_equal(decode(KG_PROTO_MAX_MSG_SIZE + 1), KG_PROTO_ERR_TOO_BIG);
	put32(4, KG_PROTO_MAX_MSG_SIZE + 1);
	assert_int_equal(decode(n), KG_PROTO_ERR_TOO_BIG);
	put32(4, UINT32_MAX);
	assert_int_equal(decode(n), KG_PROTO_ERR_TOO_BIG);
}

static void test_unknown_type(void **state)
{
	static const uint16_t bad[] = { 0, 6, 0x80, 0x87, 0xc0, 0xc4, 0x100, 0xffff };
	struct kg_proto_msg m;

	encode_sample(1, &m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put16(0, bad[i]);
		assert_int_equal(decode(KG_PROTO_HEADER_SIZE), KG_PROTO_ERR_UNKNOWN_TYPE);
	}
	m.type = 0x4242;
	assert_int_equal(kg_proto_encode(&m, buf, sizeof(buf)), -KG_PROTO_ERR_UNKNOWN_TYPE);
}

static void test_header_flags_and_seq(void **state)
{
	struct kg_proto_msg m;
	size_t n = encode_sample(2, &m);

	put16(2, 1);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);
	put16(2, 0);
	put32(8, 0); /* a request without seq */
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);
	n = encode_sample(14, &m); /* an event with a seq */
	put32(8, 5);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);
	m.seq = 5;
	assert_int_equal(kg_proto_encode(&m, buf, sizeof(buf)), -KG_PROTO_ERR_BAD_VALUE);
}

/* ACQUIRE's name field is at body offset 0, 32 bytes. */
static void test_bad_strings(void **state)
{
	struct kg_proto_msg m;
	size_t n = encode_sample(2, &m);
	uint8_t *name = buf + KG_PROTO_HEADER_SIZE;

	memset(name, 'A', 32); /* no NUL */
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_STRING);
	memset(name, 0, 32);
	memcpy(name, "ok\0junk", 7); /* bytes after the NUL */
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_STRING);
	memset(name, 0, 32); /* empty name */
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_STRING);
	memcpy(name, "a b", 3); /* space in a name */
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_STRING);
	memcpy(name, "a\nb", 3); /* control character */
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_STRING);
	memcpy(name, "a\xffz", 3); /* not ASCII */
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_STRING);
	memcpy(name, "abc", 3);
	assert_int_equal(decode(n), 0);

	/* 31 characters fit, 32 do not (host side, encoder). */
	memset(m.u.acquire.name, 'x', sizeof(m.u.acquire.name));
	assert_int_equal(kg_proto_encode(&m, buf, sizeof(buf)), -KG_PROTO_ERR_BAD_STRING);
	m.u.acquire.name[31] = 0;
	assert_true(kg_proto_encode(&m, buf, sizeof(buf)) > 0);
}

static void test_counts_over_limits(void **state)
{
	struct kg_proto_msg m;
	size_t n = encode_sample(11, &m); /* LEASE with KG_PROTO_MAX_PLANES */
	const size_t count_off = KG_PROTO_HEADER_SIZE + 112;

	assert_int_equal(get32(count_off), KG_PROTO_MAX_PLANES);
	put32(count_off, KG_PROTO_MAX_PLANES + 1);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_COUNT);
	put32(count_off, UINT32_MAX);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_COUNT);
	/* A smaller count than the planes sent: leftover bytes. */
	put32(count_off, 1);
	assert_int_equal(decode(n), KG_PROTO_ERR_SIZE);

	m.u.lease.n_planes = KG_PROTO_MAX_PLANES + 1;
	assert_int_equal(kg_proto_encode(&m, buf, sizeof(buf)), -KG_PROTO_ERR_BAD_COUNT);
}

static void test_bad_values(void **state)
{
	struct kg_proto_msg m;
	size_t n;

	n = encode_sample(2, &m); /* ACQUIRE: unknown flag, reserved */
	put32(KG_PROTO_HEADER_SIZE + 32, 0x2);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);
	put32(KG_PROTO_HEADER_SIZE + 32, 0x1);
	put32(KG_PROTO_HEADER_SIZE + 36, 1);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);

	n = encode_sample(0, &m); /* HELLO: min > max, min 0 */
	put16(KG_PROTO_HEADER_SIZE, 4);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);
	put16(KG_PROTO_HEADER_SIZE, 0);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);

	n = encode_sample(6, &m); /* PIPELINE: state, plane type, plane id, mode */
	put32(KG_PROTO_HEADER_SIZE + 32, 3);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);
	n = encode_sample(6, &m);
	put32(KG_PROTO_HEADER_SIZE + 280, 3);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);
	n = encode_sample(6, &m);
	put32(KG_PROTO_HEADER_SIZE + 276, 0);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);
	n = encode_sample(6, &m);
	put16(KG_PROTO_HEADER_SIZE + 96 + 6, 10); /* hsync_start < hdisplay */
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);

	n = encode_sample(12, &m); /* OK naming a non-request */
	put16(KG_PROTO_HEADER_SIZE, KG_PROTO_MSG_LEASE);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);
	n = encode_sample(10, &m); /* LEASE without a CRTC */
	put32(KG_PROTO_HEADER_SIZE + 40, 0);
	assert_int_equal(decode(n), KG_PROTO_ERR_BAD_VALUE);
}

static void test_encode_buffer_too_small(void **state)
{
	struct kg_proto_msg m;
	size_t n = encode_sample(7, &m);

	for (size_t cap = 0; cap < n; cap += 7)
		assert_int_equal(kg_proto_encode(&m, buf, cap), -KG_PROTO_ERR_TOO_BIG);
	assert_int_equal(kg_proto_encode(&m, buf, n), (ssize_t)n);
}

static void test_encode_error_cleans_text(void **state)
{
	struct kg_proto_msg out;
	char longtext[400];
	ssize_t n;

	memset(longtext, 'y', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = 0;
	n = kg_proto_encode_error(buf, sizeof(buf), 9, KG_PROTO_MSG_ACQUIRE, KG_PROTO_ERR_NOT_FOUND,
				  "no pipeline \"%s\"\n%s", "bad\x01name", longtext);
	assert_true(n > 0);
	assert_int_equal(kg_proto_decode(buf, (size_t)n, &out), 0);
	assert_int_equal(out.seq, 9);
	assert_int_equal(out.u.error.code, KG_PROTO_ERR_NOT_FOUND);
	assert_int_equal(strlen(out.u.error.text), KG_PROTO_TEXT_LEN - 1);
	assert_memory_equal(out.u.error.text, "no pipeline \"bad?name\"?yyy", 26);
	/* A request type that is not a request becomes 0 (unknown). */
	n = kg_proto_encode_error(buf, sizeof(buf), 0, 0x4444, KG_PROTO_ERR_UNKNOWN_TYPE, "x");
	assert_int_equal(kg_proto_decode(buf, (size_t)n, &out), 0);
	assert_int_equal(out.u.error.request_type, 0);
}

static void test_peek_header(void **state)
{
	struct kg_proto_msg m;
	uint16_t type;
	uint32_t seq;

	encode_sample(3, &m);
	assert_int_equal(kg_proto_peek_header(buf, 11, &type, &seq), KG_PROTO_ERR_TRUNCATED);
	assert_int_equal(kg_proto_peek_header(buf, 12, &type, &seq), 0);
	assert_int_equal(type, KG_PROTO_MSG_RELEASE);
	assert_int_equal(seq, m.seq);
}

static void test_names(void **state)
{
	assert_string_equal(kg_proto_err_name(KG_PROTO_ERR_BUSY), "ERR_BUSY");
	assert_string_equal(kg_proto_err_name(999), "?");
	assert_string_equal(kg_proto_err_text(999), "unknown error");
	assert_string_equal(kg_proto_state_name(KG_PROTO_STATE_LEASED), "leased");
	assert_string_equal(kg_proto_plane_type_name(KG_PROTO_PLANE_CURSOR), "cursor");
	assert_string_equal(kg_proto_revoke_reason_name(KG_PROTO_REVOKE_SHUTDOWN), "shutdown");
	assert_true(kg_proto_type_has_fd(KG_PROTO_MSG_LEASE));
	assert_false(kg_proto_type_has_fd(KG_PROTO_MSG_ACQUIRE));
	assert_true(kg_proto_type_is_request(KG_PROTO_MSG_REVOKE));
	assert_false(kg_proto_type_is_request(KG_PROTO_MSG_OK));
	assert_true(kg_proto_type_is_event(KG_PROTO_MSG_EV_REVOKED));
}

/* Guard: these tests rely on assert(); they must never be built without it. */
static void test_asserts_enabled(void **state)
{
#ifdef NDEBUG
	fail_msg("built with NDEBUG");
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_asserts_enabled),
		cmocka_unit_test(test_roundtrip_every_sample),
		cmocka_unit_test(test_every_type_has_a_sample),
		cmocka_unit_test(test_wire_layout_matches_protocol_md),
		cmocka_unit_test(test_short_header_is_truncated),
		cmocka_unit_test(test_every_truncation_is_rejected),
		cmocka_unit_test(test_size_mismatch),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_header_flags_and_seq),
		cmocka_unit_test(test_bad_strings),
		cmocka_unit_test(test_counts_over_limits),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_encode_buffer_too_small),
		cmocka_unit_test(test_encode_error_cleans_text),
		cmocka_unit_test(test_peek_header),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
