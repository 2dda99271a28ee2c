// SPDX-License-Identifier: MIT
/* kg_vu_msg_check on hand-built messages: sizes, counts inside payloads and
 * fd counts, for every request kmsgate serves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "vhost-user-proto.h"

static struct kg_vu_msg msg(uint32_t request, uint32_t size)
{
	struct kg_vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = request;
	m.hdr.flags = KG_VU_VERSION;
	m.hdr.size = size;
	return m;
}

static void test_header_flags(void **state)
{
	struct kg_vu_msg m = msg(KG_VU_GET_FEATURES, 0);

	assert_int_equal(kg_vu_msg_check(&m, 0), 0);
	m.hdr.flags = KG_VU_VERSION | KG_VU_FLAG_NEED_REPLY;
	assert_int_equal(kg_vu_msg_check(&m, 0), 0);
	m.hdr.flags = 0; /* version 0 */
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
	m.hdr.flags = 2;
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
	m.hdr.flags = KG_VU_VERSION | KG_VU_FLAG_REPLY; /* a reply is no request */
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
}

static void test_fixed_sizes(void **state)
{
	static const struct {
		uint32_t request, size;
	} cases[] = {
		{ KG_VU_GET_FEATURES, 0 },
		{ KG_VU_SET_FEATURES, 8 },
		{ KG_VU_SET_OWNER, 0 },
		{ KG_VU_RESET_OWNER, 0 },
		{ KG_VU_GET_PROTOCOL_FEATURES, 0 },
		{ KG_VU_SET_PROTOCOL_FEATURES, 8 },
		{ KG_VU_GET_QUEUE_NUM, 0 },
		{ KG_VU_SET_VRING_NUM, 8 },
		{ KG_VU_SET_VRING_BASE, 8 },
		{ KG_VU_GET_VRING_BASE, 8 },
		{ KG_VU_SET_VRING_ENABLE, 8 },
		{ KG_VU_SET_VRING_ADDR, 40 },
		{ KG_VU_RESET_DEVICE, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kg_vu_msg m = msg(cases[i].request, cases[i].size);

		assert_int_equal(kg_vu_msg_check(&m, 0), 0);
		/* An fd where none belongs. */
		assert_int_equal(kg_vu_msg_check(&m, 1), -EPROTO);
		m.hdr.size = cases[i].size + 1;
		assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
		if (cases[i].size) {
			m.hdr.size = cases[i].size - 1;
			assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
		}
	}
}

static void test_mem_table(void **state)
{
	struct kg_vu_msg m = msg(KG_VU_SET_MEM_TABLE, 8 + 2 * 32);

	m.payload.memory.nregions = 2;
	assert_int_equal(kg_vu_msg_check(&m, 2), 0);
	/* nregions must match the fds that arrived, both ways. */
	assert_int_equal(kg_vu_msg_check(&m, 1), -EPROTO);
	assert_int_equal(kg_vu_msg_check(&m, 3), -EPROTO);
	/* ... and the size. */
	m.hdr.size = 8 + 3 * 32;
	assert_int_equal(kg_vu_msg_check(&m, 2), -EPROTO);
	m.payload.memory.nregions = 0;
	m.hdr.size = 8;
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
	m.payload.memory.nregions = 9;
	m.hdr.size = 8 + 9 * 32;
	assert_int_equal(kg_vu_msg_check(&m, 8), -EPROTO);
	m.hdr.size = 4;
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
	m.payload.memory.nregions = 8;
	m.hdr.size = 8 + 8 * 32;
	assert_int_equal(kg_vu_msg_check(&m, 8), 0);
	assert_int_equal(kg_vu_msg_check(&m, 9), -EPROTO);
}

static void test_vring_files(void **state)
{
	const uint32_t reqs[] = { KG_VU_SET_VRING_KICK, KG_VU_SET_VRING_CALL, KG_VU_SET_VRING_ERR };

	for (size_t i = 0; i < 3; i++) {
		struct kg_vu_msg m = msg(reqs[i], 8);

		m.payload.u64 = 1;
		assert_int_equal(kg_vu_msg_check(&m, 1), 0);
		assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
		m.payload.u64 = 1 | KG_VU_VRING_NOFD_MASK;
		assert_int_equal(kg_vu_msg_check(&m, 0), 0);
		assert_int_equal(kg_vu_msg_check(&m, 1), -EPROTO);
		m.payload.u64 = 1ull << 20; /* unknown bits */
		assert_int_equal(kg_vu_msg_check(&m, 1), -EPROTO);
		m.payload.u64 = 0;
		m.hdr.size = 4;
		assert_int_equal(kg_vu_msg_check(&m, 1), -EPROTO);
	}
}

static void test_socket_fds(void **state)
{
	struct kg_vu_msg m = msg(KG_VU_GPU_SET_SOCKET, 0);

	assert_int_equal(kg_vu_msg_check(&m, 1), 0);
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
	assert_int_equal(kg_vu_msg_check(&m, 2), -EPROTO);
	m = msg(KG_VU_SET_BACKEND_REQ_FD, 0);
	assert_int_equal(kg_vu_msg_check(&m, 1), 0);
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
	m.hdr.size = 8;
	assert_int_equal(kg_vu_msg_check(&m, 1), -EPROTO);
}

static void test_config(void **state)
{
	struct kg_vu_msg m = msg(KG_VU_GET_CONFIG, 12 + 16);

	m.payload.config.size = 16;
	assert_int_equal(kg_vu_msg_check(&m, 0), 0);
	m.payload.config.size = 17;
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
	m.payload.config.size = 256;
	m.hdr.size = 12 + 256;
	assert_int_equal(kg_vu_msg_check(&m, 0), 0);
	m.payload.config.offset = 1; /* offset + size past 256 */
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
	m.payload.config.offset = 0xffffff00u;
	m.payload.config.size = 0x100;
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
	m = msg(KG_VU_SET_CONFIG, 8);
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
}

static void test_unknown_and_oversized(void **state)
{
	struct kg_vu_msg m = msg(KG_VU_SET_LOG_BASE, 16);

	assert_int_equal(kg_vu_msg_check(&m, 1), -ENOSYS);
	m = msg(1000, 0);
	assert_int_equal(kg_vu_msg_check(&m, 0), -ENOSYS);
	m.hdr.size = KG_VU_MAX_PAYLOAD + 1;
	assert_int_equal(kg_vu_msg_check(&m, 0), -EPROTO);
	m = msg(1000, 0);
	assert_int_equal(kg_vu_msg_check(&m, KG_VU_MAX_FDS + 1), -EPROTO);
	assert_string_equal(kg_vu_request_name(KG_VU_GPU_SET_SOCKET), "GPU_SET_SOCKET");
	assert_string_equal(kg_vu_request_name(1000), "UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_flags),
		cmocka_unit_test(test_fixed_sizes),
		cmocka_unit_test(test_mem_table),
		cmocka_unit_test(test_vring_files),
		cmocka_unit_test(test_socket_fds),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_unknown_and_oversized),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
