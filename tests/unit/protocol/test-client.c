// SPDX-License-Identifier: MIT
/* libkmsgate against a scripted fake broker over a real socket: handshake,
 * list, acquire, release, events and the error paths, with fd leak checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake-server.h"
#include "fdcount.h"
#include "kmsgate.h"
#include "samples.h"

static int fds_before;

static int setup(void **state)
{
	fds_before = kg_test_fd_count();
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(kg_test_fd_count(), fds_before);
	return 0;
}

/* Reads one request of type and answers with an ERROR code. */
static int reply_error(int fd, uint16_t type, uint32_t code)
{
	struct kg_proto_msg m;
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	ssize_t n;

	if (fake_recv(fd, &m, type) < 0)
		return -1;
	n = kg_proto_encode_error(buf, sizeof(buf), m.seq, type, code, "refused: %s",
				  kg_proto_err_name(code));
	return n > 0 && kg_proto_send(fd, buf, (size_t)n, -1) == 0 ? 0 : -1;
}

static struct kmsgate_client *connect_to(struct fake_server *s, fake_script script, void *arg)
{
	struct kmsgate_client *c;

	assert_int_equal(fake_server_start(s, script, arg), 0);
	c = kmsgate_connect(s->path, "unit\ntest");
	assert_non_null(c);
	return c;
}

/*
 * Handshake
 */

static int script_handshake_only(int fd, void *arg)
{
	struct kg_proto_msg m;

	if (fake_recv(fd, &m, KG_PROTO_MSG_HELLO) < 0)
		return -1;
	/* The library cleans the name it was given. */
	if (strcmp(m.u.hello.client_name, "unit?test") != 0)
		return -1;
	memset(&m.u, 0, sizeof(m.u));
	m.type = KG_PROTO_MSG_SERVER_HELLO;
	m.u.server_hello.version = 1;
	snprintf(m.u.server_hello.server_name, 32, "fake broker");
	return fake_send(fd, &m, m.seq, -1);
}

static void test_handshake(void **state)
{
	struct fake_server s;
	struct kmsgate_client *c = connect_to(&s, script_handshake_only, NULL);

	assert_int_equal(kmsgate_version(c), 1);
	assert_string_equal(kmsgate_server_name(c), "fake broker");
	assert_true(fcntl(kmsgate_get_fd(c), F_GETFD) & FD_CLOEXEC);
	kmsgate_close(c);
	assert_int_equal(fake_server_stop(&s), 0);
}

static void test_handshake_env_socket(void **state)
{
	struct fake_server s;
	struct kmsgate_client *c;

	assert_int_equal(fake_server_start(&s, script_handshake_only, NULL), 0);
	setenv("KMSGATE_SOCKET", s.path, 1);
	c = kmsgate_connect(NULL, "unit\ntest");
	unsetenv("KMSGATE_SOCKET");
	assert_non_null(c);
	kmsgate_close(c);
	assert_int_equal(fake_server_stop(&s), 0);
}

static int script_version_error(int fd, void *arg)
{
	return reply_error(fd, KG_PROTO_MSG_HELLO, KG_PROTO_ERR_VERSION);
}

static void test_handshake_version_refused(void **state)
{
	struct fake_server s;

	assert_int_equal(fake_server_start(&s, script_version_error, NULL), 0);
	errno = 0;
	assert_null(kmsgate_connect(s.path, "x"));
	assert_int_equal(errno, EPROTONOSUPPORT);
	assert_int_equal(fake_server_stop(&s), 0);
}

static int script_garbage(int fd, void *arg)
{
	const char *what = arg;
	struct kg_proto_msg m;

	if (fake_recv(fd, &m, KG_PROTO_MSG_HELLO) < 0)
		return -1;
	/* A SERVER_HELLO header whose size says 32 in a 12-byte packet. */
	return write(fd, what, 12) == 12 ? 0 : -1;
}

static void test_handshake_garbage_reply(void **state)
{
	struct fake_server s;

	assert_int_equal(fake_server_start(&s, script_garbage, "\x81\0\0\0\x20\0\0\0\x01\0\0\0"),
			 0);
	errno = 0;
	assert_null(kmsgate_connect(s.path, "x"));
	assert_int_equal(errno, EPROTO);
	assert_int_equal(fake_server_stop(&s), 0);
}

static int script_hangup(int fd, void *arg)
{
	struct kg_proto_msg m;

	return fake_recv(fd, &m, KG_PROTO_MSG_HELLO) == 0 ? -2 : -1;
}

static void test_handshake_hangup_and_no_broker(void **state)
{
	struct fake_server s;

	assert_int_equal(fake_server_start(&s, script_hangup, NULL), 0);
	errno = 0;
	assert_null(kmsgate_connect(s.path, "x"));
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(fake_server_stop(&s), 0);
	errno = 0;
	assert_null(kmsgate_connect("/nonexistent/kmsgate.sock", "x"));
	assert_int_equal(errno, ENOENT);
}

/* A broker at its connection cap: ERROR LIMIT with seq 0, then it closes
 * with the client's HELLO unread (the client's first read reports the
 * reset, the ERROR is queued behind it). */
static int script_refuse_limit(int fd, void *arg)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, 5000) != 1)
		return -1;
	n = kg_proto_encode_error(buf, sizeof(buf), 0, 0, KG_PROTO_ERR_LIMIT, "too many clients");
	return n > 0 && kg_proto_send(fd, buf, (size_t)n, -1) == 0 ? -2 : -1;
}

static void test_handshake_refused_limit(void **state)
{
	struct fake_server s;

	assert_int_equal(fake_server_start(&s, script_refuse_limit, NULL), 0);
	errno = 0;
	assert_null(kmsgate_connect(s.path, "x"));
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fake_server_stop(&s), 0);
}

/*
 * LIST
 */

static int script_list(int fd, void *arg)
{
	int count_delta = arg ? *(int *)arg : 0;
	struct kg_proto_msg m, r;

	if (fake_handshake(fd) < 0 || fake_recv(fd, &m, KG_PROTO_MSG_LIST) < 0)
		return -1;
	kg_sample_of(KG_PROTO_MSG_PIPELINE, &r);
	if (fake_send(fd, &r, m.seq, -1) < 0)
		return -1;
	/* An event in the middle of the reply. */
	kg_sample_of(KG_PROTO_MSG_EV_PIPELINE_AVAILABLE, &r);
	if (fake_send(fd, &r, 0, -1) < 0)
		return -1;
	kg_sample_of(KG_PROTO_MSG_PIPELINE, &r);
	snprintf(r.u.pipeline.name, 32, "second");
	r.u.pipeline.flags = 0;
	if (fake_send(fd, &r, m.seq, -1) < 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.type = KG_PROTO_MSG_LIST_END;
	r.u.list_end.count = (uint32_t)(2 + count_delta);
	return fake_send(fd, &r, m.seq, -1);
}

static void on_event(const struct kmsgate_event *ev, void *data)
{
	struct kmsgate_event *last = data;

	*last = *ev;
}

static void test_list(void **state)
{
	struct fake_server s;
	struct kmsgate_client *c = connect_to(&s, script_list, NULL);
	struct kmsgate_event ev = { 0 };
	struct kmsgate_list *l;
	const struct kmsgate_pipeline *p;
	struct kmsgate_mode mode;
	uint32_t w, h;

	kmsgate_set_event_handler(c, on_event, &ev);
	assert_int_equal(kmsgate_list(c, &l), 0);
	assert_int_equal(kmsgate_list_count(l), 2);
	p = kmsgate_list_get(l, 0);
	assert_string_equal(kmsgate_pipeline_name(p), "Virtual-2");
	assert_int_equal(kmsgate_pipeline_state(p), KMSGATE_STATE_LEASED);
	assert_true(kmsgate_pipeline_allowed(p));
	assert_false(kmsgate_pipeline_mine(p));
	assert_string_equal(kmsgate_pipeline_connector_name(p), "Virtual-2");
	assert_int_equal(kmsgate_pipeline_connector_id(p), 42);
	assert_int_equal(kmsgate_pipeline_connector_type(p), 15);
	assert_int_equal(kmsgate_pipeline_connector_status(p), KMSGATE_CONNECTED);
	kmsgate_pipeline_size_mm(p, &w, &h);
	assert_int_equal(w, 271);
	assert_int_equal(h, 203);
	assert_int_equal(kmsgate_pipeline_crtc_id(p), 51);
	assert_int_equal(kmsgate_pipeline_current_mode(p, &mode), 0);
	assert_int_equal(mode.hdisplay, 1024);
	assert_string_equal(mode.name, "1024x768");
	assert_int_equal(kmsgate_pipeline_preferred_mode(p, &mode), 0);
	assert_int_equal(kmsgate_pipeline_plane_count(p), 3);
	assert_int_equal(kmsgate_pipeline_plane(p, 0)->type, KMSGATE_PLANE_PRIMARY);
	assert_null(kmsgate_pipeline_plane(p, 3));
	assert_int_equal(kmsgate_pipeline_lessee_pid(p), 1234);
	assert_int_equal(kmsgate_pipeline_lessee_uid(p), 1000);
	assert_string_equal(kmsgate_pipeline_lessee_name(p), "kmsgate-vgpu guest A");
	p = kmsgate_list_get(l, 1);
	assert_string_equal(kmsgate_pipeline_name(p), "second");
	assert_int_equal(kmsgate_pipeline_current_mode(p, &mode), -ENOENT);
	assert_false(kmsgate_pipeline_allowed(p));
	assert_null(kmsgate_list_get(l, 2));
	kmsgate_list_free(l);
	/* The event that came during LIST waits for dispatch. */
	assert_int_equal(ev.type, 0);
	assert_int_equal(kmsgate_dispatch(c), 1);
	assert_int_equal(ev.type, KMSGATE_EVENT_PIPELINE_AVAILABLE);
	assert_string_equal(ev.pipeline, "Virtual-1");
	kmsgate_close(c);
	assert_int_equal(fake_server_stop(&s), 0);
}

/* A broker that answers LIST with a LEASE (and its fd): the fd must not
 * leak (the teardown counts fds) and the client gives up. */
static int script_list_gets_lease(int fd, void *arg)
{
	struct kg_proto_msg m, r;
	int p[2], ret;

	if (fake_handshake(fd) < 0 || fake_recv(fd, &m, KG_PROTO_MSG_LIST) < 0)
		return -1;
	kg_sample_of(KG_PROTO_MSG_LEASE, &r);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	ret = fake_send(fd, &r, m.seq, p[0]);
	close(p[0]);
	close(p[1]);
	return ret;
}

static void test_list_answered_with_lease_fd_does_not_leak(void **state)
{
	struct fake_server s;
	struct kmsgate_client *c = connect_to(&s, script_list_gets_lease, NULL);
	struct kmsgate_list *l;

	assert_int_equal(kmsgate_list(c, &l), -EPROTO);
	kmsgate_close(c);
	assert_int_equal(fake_server_stop(&s), 0);
}

static void test_list_count_mismatch_is_protocol_error(void **state)
{
	struct fake_server s;
	int delta = 1;
	struct kmsgate_client *c = connect_to(&s, script_list, &delta);
	struct kmsgate_list *l;

	assert_int_equal(kmsgate_list(c, &l), -EPROTO);
	assert_null(l);
	/* The connection is given up. */
	assert_int_equal(kmsgate_list(c, &l), -ECONNRESET);
	kmsgate_close(c);
	assert_int_equal(fake_server_stop(&s), 0);
}

/*
 * ACQUIRE / RELEASE / events
 */

struct acquire_script {
	uint32_t expect_flags;
	bool no_fd;
	bool revoke_after;
	bool wait_first;
};

/* Reads a RELEASE of pipeline name and answers OK. */
static int answer_release(int fd, const char *name)
{
	struct kg_proto_msg m, r = { .type = KG_PROTO_MSG_OK };

	if (fake_recv(fd, &m, KG_PROTO_MSG_RELEASE) < 0 || strcmp(m.u.release.name, name))
		return -1;
	r.u.ok.request_type = KG_PROTO_MSG_RELEASE;
	return fake_send(fd, &r, m.seq, -1);
}

/* The sample LEASE (its name: name unless NULL), with a pipe end as its
 * fd unless no_fd. */
static int send_named_lease(int fd, uint32_t seq, const char *name, bool no_fd)
{
	struct kg_proto_msg r;
	int p[2], ret;

	kg_sample_of(KG_PROTO_MSG_LEASE, &r);
	if (name)
		snprintf(r.u.lease.name, sizeof(r.u.lease.name), "%s", name);
	if (no_fd)
		return fake_send(fd, &r, seq, -1);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	ret = fake_send(fd, &r, seq, p[0]);
	close(p[0]);
	close(p[1]);
	return ret;
}

static int send_lease(int fd, uint32_t seq, bool no_fd)
{
	return send_named_lease(fd, seq, NULL, no_fd);
}

static int script_acquire(int fd, void *arg)
{
	struct acquire_script *a = arg;
	struct kg_proto_msg m, r;

	if (fake_handshake(fd) < 0 || fake_recv(fd, &m, KG_PROTO_MSG_ACQUIRE) < 0)
		return -1;
	if (strcmp(m.u.acquire.name, "Virtual-1") != 0 || m.u.acquire.flags != a->expect_flags)
		return -1;
	if (a->wait_first) {
		usleep(50000);
		kg_sample_of(KG_PROTO_MSG_EV_PIPELINE_AVAILABLE, &r);
		if (fake_send(fd, &r, 0, -1) < 0)
			return -1;
	}
	if (send_lease(fd, m.seq, a->no_fd) < 0)
		return -1;
	if (a->no_fd)
		return 0;
	if (a->revoke_after) {
		kg_sample_of(KG_PROTO_MSG_EV_CONNECTOR_CHANGED, &r);
		if (fake_send(fd, &r, 0, -1) < 0)
			return -1;
		kg_sample_of(KG_PROTO_MSG_EV_REVOKED, &r);
		return fake_send(fd, &r, 0, -1) == 0 ? -2 : -1;
	}
	return answer_release(fd, "Virtual-1");
}

static void test_acquire_and_release(void **state)
{
	struct acquire_script a = { 0 };
	struct fake_server s;
	struct kmsgate_client *c = connect_to(&s, script_acquire, &a);
	struct kmsgate_lease *l = kmsgate_acquire(c, "Virtual-1", 0);
	struct kmsgate_mode mode;
	int lease_fd;

	assert_non_null(l);
	assert_true(kmsgate_lease_fd(l) >= 0);
	assert_true(fcntl(kmsgate_lease_fd(l), F_GETFD) & FD_CLOEXEC);
	assert_string_equal(kmsgate_lease_name(l), "Virtual-1");
	assert_int_equal(kmsgate_lease_lessee_id(l), 7);
	assert_int_equal(kmsgate_lease_connector_id(l), 37);
	assert_int_equal(kmsgate_lease_crtc_id(l), 36);
	assert_int_equal(kmsgate_lease_mode(l, &mode), 0);
	assert_int_equal(mode.vdisplay, 768);
	assert_int_equal(mode.clock, 65000);
	assert_int_equal(kmsgate_lease_plane_count(l), 2);
	assert_int_equal(kmsgate_lease_plane_id(l, KMSGATE_PLANE_PRIMARY), 31);
	assert_int_equal(kmsgate_lease_plane_id(l, KMSGATE_PLANE_CURSOR), 32);
	assert_int_equal(kmsgate_lease_plane_id(l, KMSGATE_PLANE_OVERLAY), 0);
	assert_false(kmsgate_lease_revoked(l));
	lease_fd = kmsgate_lease_fd(l);
	assert_int_equal(kmsgate_release(c, l), 0);
	/* The lease fd is closed (and nothing else opened it again since). */
	assert_int_equal(fcntl(lease_fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	kmsgate_close(c);
	assert_int_equal(fake_server_stop(&s), 0);
}

static void test_acquire_wait_gets_lease_after_event(void **state)
{
	struct acquire_script a = { .expect_flags = KMSGATE_ACQUIRE_WAIT, .wait_first = true };
	struct fake_server s;
	struct kmsgate_client *c = connect_to(&s, script_acquire, &a);
	struct kmsgate_event ev = { 0 };
	struct kmsgate_lease *l;

	kmsgate_set_event_handler(c, on_event, &ev);
	l = kmsgate_acquire(c, "Virtual-1", KMSGATE_ACQUIRE_WAIT);
	assert_non_null(l);
	assert_int_equal(kmsgate_dispatch(c), 1);
	assert_int_equal(ev.type, KMSGATE_EVENT_PIPELINE_AVAILABLE);
	assert_int_equal(kmsgate_release(c, l), 0);
	kmsgate_close(c);
	assert_int_equal(fake_server_stop(&s), 0);
}

static void test_acquire_lease_without_fd_is_protocol_error(void **state)
{
	struct acquire_script a = { .no_fd = true };
	struct fake_server s;
	struct kmsgate_client *c = connect_to(&s, script_acquire, &a);

	errno = 0;
	assert_null(kmsgate_acquire(c, "Virtual-1", 0));
	assert_int_equal(errno, EPROTO);
	kmsgate_close(c);
	assert_int_equal(fake_server_stop(&s), 0);
}

struct recorder {
	int n;
	struct kmsgate_event ev[4];
};

static void record_event(const struct kmsgate_event *ev, void *data)
{
	struct recorder *r = data;

	if (r->n < 4)
		r->ev[r->n++] = *ev;
}

static void test_revoked_event(void **state)
{
	struct recorder rec = { 0 };
	struct acquire_script a = { .revoke_after = true };
	struct fake_server s;
	struct kmsgate_client *c = connect_to(&s, script_acquire, &a);
	struct kmsgate_event ev = { 0 };
	struct kmsgate_lease *l;
	int n = 0;

	kmsgate_set_event_handler(c, on_event, &ev);
	l = kmsgate_acquire(c, "Virtual-1", 0);
	assert_non_null(l);
	/* The fake sends EV_CONNECTOR_CHANGED, EV_REVOKED, then hangs up. */
	kmsgate_set_event_handler(c, record_event, &rec);
	while (rec.n < 2 && n >= 0) {
		n = kmsgate_dispatch(c);
		usleep(1000);
	}
	assert_int_equal(rec.n, 2);
	assert_int_equal(rec.ev[0].type, KMSGATE_EVENT_CONNECTOR_CHANGED);
	assert_string_equal(rec.ev[0].pipeline, "Virtual-3");
	assert_int_equal(rec.ev[0].connector_status, KMSGATE_CONNECTED);
	assert_int_equal(rec.ev[0].mm_width, 300);
	assert_true(rec.ev[0].has_preferred_mode);
	assert_int_equal(rec.ev[0].preferred_mode.hdisplay, 1024);
	assert_null(rec.ev[0].lease);
	ev = rec.ev[1];
	assert_int_equal(ev.type, KMSGATE_EVENT_REVOKED);
	assert_int_equal(ev.reason, KMSGATE_REVOKE_ADMIN);
	assert_ptr_equal(ev.lease, l);
	assert_true(kmsgate_lease_revoked(l));
	assert_int_equal(fake_server_stop(&s), 0);
	/* Broker gone: dispatch says so, further calls fail. */
	while ((n = kmsgate_dispatch(c)) >= 0)
		usleep(1000);
	assert_int_equal(n, -ECONNRESET);
	assert_int_equal(kmsgate_revoke(c, "Virtual-1"), -ECONNRESET);
	kmsgate_lease_destroy(l);
	kmsgate_close(c);
}

struct refusal {
	uint16_t type;
	uint32_t code;
};

static int script_refuse(int fd, void *arg)
{
	struct refusal *r = arg;

	if (fake_handshake(fd) < 0)
		return -1;
	return reply_error(fd, r->type, r->code);
}

static void test_acquire_refusals(void **state)
{
	static const struct {
		uint32_t code;
		int err;
	} cases[] = {
		{ KG_PROTO_ERR_BUSY, EBUSY },	       { KG_PROTO_ERR_NOT_FOUND, ENOENT },
		{ KG_PROTO_ERR_DENIED, EACCES },       { KG_PROTO_ERR_UNAVAILABLE, ENODEV },
		{ KG_PROTO_ERR_LIMIT, EAGAIN },	       { KG_PROTO_ERR_INTERNAL, EIO },
		{ KG_PROTO_ERR_CANCELLED, ECANCELED }, { KG_PROTO_ERR_BAD_STRING, EPROTO },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct refusal r = { KG_PROTO_MSG_ACQUIRE, cases[i].code };
		struct fake_server s;
		struct kmsgate_client *c = connect_to(&s, script_refuse, &r);

		errno = 0;
		assert_null(kmsgate_acquire(c, "Virtual-1", 0));
		assert_int_equal(errno, cases[i].err);
		assert_non_null(strstr(kmsgate_last_error(c), kg_proto_err_name(cases[i].code)));
		kmsgate_close(c);
		assert_int_equal(fake_server_stop(&s), 0);
	}
}

static void test_revoke_denied(void **state)
{
	struct refusal r = { KG_PROTO_MSG_REVOKE, KG_PROTO_ERR_DENIED };
	struct fake_server s;
	struct kmsgate_client *c = connect_to(&s, script_refuse, &r);

	assert_int_equal(kmsgate_revoke(c, "Virtual-1"), -EACCES);
	kmsgate_close(c);
	assert_int_equal(fake_server_stop(&s), 0);
}

static void test_bad_names_are_not_sent(void **state)
{
	struct fake_server s;
	struct kmsgate_client *c = connect_to(&s, script_handshake_only, NULL);
	char longname[64];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	errno = 0;
	assert_null(kmsgate_acquire(c, "", 0));
	assert_int_equal(errno, EINVAL);
	assert_null(kmsgate_acquire(c, longname, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(kmsgate_acquire(c, "with space", 0));
	assert_int_equal(errno, EINVAL);
	assert_null(kmsgate_acquire(c, "ok", 0x80));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(kmsgate_revoke(c, NULL), -EINVAL);
	kmsgate_close(c);
	assert_int_equal(fake_server_stop(&s), 0);
}

/*
 * Handing the connection on (kmsgate_save, kmsgate_adopt)
 */

static int send_pipeline(int fd, uint32_t seq, const char *name, bool mine)
{
	struct kg_proto_msg r;

	kg_sample_of(KG_PROTO_MSG_PIPELINE, &r);
	snprintf(r.u.pipeline.name, sizeof(r.u.pipeline.name), "%s", name);
	r.u.pipeline.flags = KG_PROTO_PIPE_ALLOWED | (mine ? KG_PROTO_PIPE_MINE : 0);
	return fake_send(fd, &r, seq, -1);
}

/* Two leases; the first process dies after a request it sent after its
 * save; the broker revoked "second" meanwhile and lists "granted-late" as
 * this connection's (granted after the save). The adopter gets the stale
 * reply dropped, "second" revoked, gives "granted-late" back, and releases
 * "Virtual-1" over the same connection. */
static int script_adopt(int fd, void *arg)
{
	struct kg_proto_msg m, r;
	uint32_t last;

	if (fake_handshake(fd) < 0 || fake_recv(fd, &m, KG_PROTO_MSG_ACQUIRE) < 0 ||
	    send_named_lease(fd, m.seq, "Virtual-1", false) < 0 ||
	    fake_recv(fd, &m, KG_PROTO_MSG_ACQUIRE) < 0 ||
	    send_named_lease(fd, m.seq, "second", false) < 0 ||
	    fake_recv(fd, &m, KG_PROTO_MSG_LIST) < 0)
		return -1;
	/* The LIST the dead process sent after saving: its reply is stale. */
	last = m.seq;
	if (send_pipeline(fd, last, "Virtual-1", true) < 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.type = KG_PROTO_MSG_LIST_END;
	r.u.list_end.count = 1;
	if (fake_send(fd, &r, last, -1) < 0)
		return -1;
	kg_sample_of(KG_PROTO_MSG_EV_REVOKED, &r);
	snprintf(r.u.revoked.name, sizeof(r.u.revoked.name), "second");
	if (fake_send(fd, &r, 0, -1) < 0)
		return -1;
	/* The adopter's check. */
	if (fake_recv(fd, &m, KG_PROTO_MSG_LIST) < 0 || m.seq == last ||
	    send_pipeline(fd, m.seq, "Virtual-1", true) < 0 ||
	    send_pipeline(fd, m.seq, "second", false) < 0 ||
	    send_pipeline(fd, m.seq, "granted-late", true) < 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.type = KG_PROTO_MSG_LIST_END;
	r.u.list_end.count = 3;
	if (fake_send(fd, &r, m.seq, -1) < 0)
		return -1;
	/* Leased to this connection after the save: nobody has its fd. */
	if (answer_release(fd, "granted-late") < 0)
		return -1;
	return answer_release(fd, "Virtual-1");
}

static void test_adopt_takes_connection_and_leases(void **state)
{
	struct fake_server s;
	struct kmsgate_client *c = connect_to(&s, script_adopt, NULL), *c2;
	struct kmsgate_lease *l[2], *got[2];
	struct kmsgate_event ev = { 0 };
	uint8_t saved[4096];
	int fds[3];
	long n;

	l[0] = kmsgate_acquire(c, "Virtual-1", 0);
	l[1] = kmsgate_acquire(c, "second", 0);
	assert_non_null(l[0]);
	assert_non_null(l[1]);
	/* Too small a buffer: the size is told, nothing written. */
	n = kmsgate_save(c, saved, 8);
	assert_true(n > 8);
	assert_int_equal(kmsgate_save(c, saved, sizeof(saved)), n);
	/* What the fd store keeps; then the process "dies" after one more
	 * request (its copies close, the store's stay). */
	fds[0] = dup(kmsgate_get_fd(c));
	fds[1] = dup(kmsgate_lease_fd(l[0]));
	fds[2] = dup(kmsgate_lease_fd(l[1]));
	{
		uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
		ssize_t len = kg_proto_encode(
			&(struct kg_proto_msg){ .type = KG_PROTO_MSG_LIST, .seq = 4 }, buf,
			sizeof(buf));

		assert_true(len > 0);
		assert_int_equal(kg_proto_send(fds[0], buf, (size_t)len, -1), 0);
	}
	kmsgate_close(c);
	kmsgate_lease_destroy(l[0]);
	kmsgate_lease_destroy(l[1]);

	c2 = kmsgate_adopt(fds[0], saved, (size_t)n, &fds[1], got, 2);
	assert_non_null(c2);
	assert_string_equal(kmsgate_server_name(c2), "fake");
	assert_int_equal(kmsgate_get_fd(c2), fds[0]);
	assert_string_equal(kmsgate_lease_name(got[0]), "Virtual-1");
	assert_int_equal(kmsgate_lease_fd(got[0]), fds[1]);
	assert_int_equal(kmsgate_lease_crtc_id(got[0]), 36);
	assert_false(kmsgate_lease_revoked(got[0]));
	assert_string_equal(kmsgate_lease_name(got[1]), "second");
	assert_true(kmsgate_lease_revoked(got[1]));
	/* The REVOKED event that came meanwhile is dispatched as usual. */
	kmsgate_set_event_handler(c2, on_event, &ev);
	assert_int_equal(kmsgate_dispatch(c2), 1);
	assert_int_equal(ev.type, KMSGATE_EVENT_REVOKED);
	assert_int_equal(kmsgate_release(c2, got[0]), 0);
	kmsgate_lease_destroy(got[1]);
	kmsgate_close(c2);
	assert_int_equal(fake_server_stop(&s), 0);
}

/* A state of another layout or another lease count is refused, and every fd
 * given is closed (the teardown counts them). */
static void test_adopt_refuses_foreign_state(void **state)
{
	uint8_t junk[256];
	struct kmsgate_lease *got[1];
	int sp[2], p[2];

	memset(junk, 0x5a, sizeof(junk));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		close(sp[1]);
		close(p[1]);
		errno = 0;
		assert_null(kmsgate_adopt(sp[0], junk, i ? 4 : sizeof(junk), &p[0], got, 1));
		assert_int_equal(errno, EINVAL);
		assert_int_equal(fcntl(sp[0], F_GETFD), -1);
		assert_int_equal(fcntl(p[0], F_GETFD), -1);
	}
}

/* A failed adoption ends the connection in every copy (as the one in the
 * fd store), so that the broker ends its leases at once. */
static void test_adopt_failure_shuts_the_connection(void **state)
{
	uint8_t junk[256] = { 0 };
	struct kmsgate_lease *got[1];
	int sp[2], p[2], store_copy;
	char c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	store_copy = dup(sp[0]);
	assert_null(kmsgate_adopt(sp[0], junk, sizeof(junk), &p[0], got, 1));
	assert_int_equal(errno, EINVAL);
	/* The broker's end reads EOF although a copy is still open. */
	assert_int_equal(recv(sp[1], &c, 1, MSG_DONTWAIT), 0);
	close(store_copy);
	close(sp[1]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_handshake),
		T(test_handshake_env_socket),
		T(test_handshake_version_refused),
		T(test_handshake_garbage_reply),
		T(test_handshake_hangup_and_no_broker),
		T(test_handshake_refused_limit),
		T(test_list),
		T(test_list_count_mismatch_is_protocol_error),
		T(test_list_answered_with_lease_fd_does_not_leak),
		T(test_acquire_and_release),
		T(test_acquire_wait_gets_lease_after_event),
		T(test_acquire_lease_without_fd_is_protocol_error),
		T(test_revoked_event),
		T(test_acquire_refusals),
		T(test_revoke_denied),
		T(test_bad_names_are_not_sent),
		T(test_adopt_takes_connection_and_leases),
		T(test_adopt_refuses_foreign_state),
		T(test_adopt_failure_shuts_the_connection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
