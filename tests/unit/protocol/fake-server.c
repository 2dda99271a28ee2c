// SPDX-License-Identifier: MIT
#include "fake-server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void *run(void *data)
{
	struct fake_server *s = data;
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		s->result = -1;
		return NULL;
	}
	s->result = s->script(fd, s->arg);
	/* Like a broker, keep the connection until the client hangs up (a
	 * script that wants to hang up first closes fd itself: -1 here). */
	if (s->result != -2) {
		char c;
		while (read(fd, &c, 1) > 0)
			;
	}
	close(fd);
	if (s->result == -2)
		s->result = 0;
	return NULL;
}

int fake_server_start(struct fake_server *s, fake_script script, void *arg)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/kg-test-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->path, sizeof(s->path), "%.60s/broker.sock", s->dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", s->path);
	s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return -1;
	if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(s->listen_fd, 4) < 0)
		return -1;
	s->script = script;
	s->arg = arg;
	return pthread_create(&s->thread, NULL, run, s) == 0 ? 0 : -1;
}

int fake_server_stop(struct fake_server *s)
{
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	unlink(s->path);
	rmdir(s->dir);
	return s->result;
}

int fake_recv(int fd, struct kg_proto_msg *m, uint16_t type)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	int pass;
	ssize_t n = kg_proto_recv(fd, buf, sizeof(buf), &pass, NULL);

	if (pass >= 0)
		close(pass);
	if (n <= 0 || kg_proto_decode(buf, (size_t)n, m) != 0)
		return -1;
	if (type && m->type != type)
		return -1;
	return 0;
}

int fake_send(int fd, struct kg_proto_msg *m, uint32_t seq, int pass_fd)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	ssize_t n;

	m->seq = seq;
	n = kg_proto_encode(m, buf, sizeof(buf));
	if (n < 0)
		return -1;
	return kg_proto_send(fd, buf, (size_t)n, pass_fd) == 0 ? 0 : -1;
}

int fake_handshake(int fd)
{
	struct kg_proto_msg m;

	if (fake_recv(fd, &m, KG_PROTO_MSG_HELLO) < 0)
		return -1;
	if (m.u.hello.min_version > 1 || m.u.hello.max_version < 1)
		return -1;
	uint32_t seq = m.seq;
	memset(&m, 0, sizeof(m));
	m.type = KG_PROTO_MSG_SERVER_HELLO;
	m.u.server_hello.version = 1;
	snprintf(m.u.server_hello.server_name, sizeof(m.u.server_hello.server_name), "fake");
	return fake_send(fd, &m, seq, -1);
}
