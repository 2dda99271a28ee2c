// SPDX-License-Identifier: MIT
/* kg_gpuchan against a fake QEMU end of the vhost-user-gpu socket: the
 * protocol feature handshake, messages kmsgate does not ask for (with fds,
 * long payloads, split writes) drained and their fds closed, and QEMU
 * closing the socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gpu-channel.h"
#include "loop.h"
#include "vhost-user-proto.h"
#include "fdcount.h"
#include "scm-send.h"

static void pump(struct kg_loop *loop)
{
	for (int i = 0; i < 16; i++)
		if (kg_loop_dispatch(loop, 0) <= 0)
			return;
}

static void qemu_send(int sock, uint32_t request, const void *payload, uint32_t size, int fd)
{
	struct kg_vugpu_hdr hdr = { request, KG_VUGPU_FLAG_REPLY, size };
	uint8_t buf[2048];
	struct kg_test_scm_buf ctrl;
	struct iovec iov = { buf, sizeof(hdr) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(size <= sizeof(buf) - sizeof(hdr));
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), payload, size);
	assert_true(kg_test_scm_attach(&mh, &ctrl, &fd, fd >= 0 ? 1 : 0));
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)iov.iov_len);
}

static void expect_request(int sock, uint32_t request, uint32_t size, void *payload)
{
	struct kg_vugpu_hdr hdr;

	assert_int_equal(recv(sock, &hdr, sizeof(hdr), MSG_DONTWAIT), sizeof(hdr));
	assert_int_equal(hdr.request, request);
	assert_int_equal(hdr.size, size);
	if (size)
		assert_int_equal(recv(sock, payload, size, MSG_DONTWAIT), size);
}

static void test_handshake_and_draining(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	int base = kg_test_fd_count();
	int sv[2];
	struct kg_gpuchan *ch;
	uint8_t big[1500];
	uint64_t features = 3, set = 99, got = 0;
	int efd;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ch = kg_gpuchan_create(loop, sv[0]);
	assert_non_null(ch);
	expect_request(sv[1], KG_VUGPU_GET_PROTOCOL_FEATURES, 0, NULL);
	assert_false(kg_gpuchan_protocol_features(ch, &got));

	/* Something kmsgate never asked for, with an fd and a long payload. */
	memset(big, 0xee, sizeof(big));
	efd = eventfd(0, EFD_CLOEXEC);
	qemu_send(sv[1], KG_VUGPU_GET_EDID, big, sizeof(big), efd);
	close(efd);
	pump(loop);
	/* The reply it waits for, split in two writes. */
	struct kg_vugpu_hdr hdr = { KG_VUGPU_GET_PROTOCOL_FEATURES, KG_VUGPU_FLAG_REPLY, 8 };
	assert_int_equal(send(sv[1], &hdr, 5, 0), 5);
	pump(loop);
	assert_int_equal(send(sv[1], (uint8_t *)&hdr + 5, sizeof(hdr) - 5, 0),
			 (ssize_t)sizeof(hdr) - 5);
	assert_int_equal(send(sv[1], &features, 8, 0), 8);
	pump(loop);
	assert_true(kg_gpuchan_protocol_features(ch, &got));
	assert_int_equal(got, 3);
	expect_request(sv[1], KG_VUGPU_SET_PROTOCOL_FEATURES, 8, &set);
	assert_int_equal(set, 0);
	assert_true(kg_gpuchan_is_open(ch));
	/* The unexpected fd was closed: only our socket end is extra. */
	assert_int_equal(kg_test_fd_count(), base + 2);

	close(sv[1]); /* QEMU closes the channel (guest driver reset) */
	pump(loop);
	assert_false(kg_gpuchan_is_open(ch));
	kg_gpuchan_destroy(ch);
	kg_gpuchan_destroy(NULL);
	assert_int_equal(kg_test_fd_count(), base);
	kg_loop_destroy(loop);
}

static void test_create_fails_cleanly_on_a_dead_socket(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	int base = kg_test_fd_count();
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	assert_null(kg_gpuchan_create(loop, sv[0])); /* EPIPE: fd closed too */
	assert_int_equal(kg_test_fd_count(), base);
	kg_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_draining),
		cmocka_unit_test(test_create_fails_cleanly_on_a_dead_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
