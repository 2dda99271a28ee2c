// SPDX-License-Identifier: MIT
#include "server-private.h"

#include "kmsgate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static void client_destroy(struct client *c);

/* Raises the fd limit as far as allowed and returns how many clients fit. */
static size_t max_clients(void)
{
	struct rlimit rl;
	/* Room for the broker's own fds: device, epoll, leases, timers. */
	const rlim_t reserve = 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur <= reserve)
		return 16;
	if (rl.rlim_cur - reserve < KG_SERVER_MAX_CLIENTS)
		return (size_t)(rl.rlim_cur - reserve);
	return KG_SERVER_MAX_CLIENTS;
}

size_t kg_server_count_uid(const struct kg_server *srv, uid_t uid)
{
	size_t n = 0;

	for (const struct client *c = srv->clients; c; c = c->next)
		n += c->cred.uid == uid;
	return n;
}

/* A protocol violation: tell the client (seq 0 when the header is junk)
 * and drop it. */
static void violation(struct client *c, const void *buf, size_t len, uint32_t code,
		      const char *what)
{
	uint16_t type = 0;
	uint32_t seq = 0;

	kg_proto_peek_header(buf, len, &type, &seq);
	kg_info("client pid %d uid %u: %s (%s); disconnecting it", c->cred.pid, c->cred.uid, what,
		kg_proto_err_name(code));
	kg_client_send_error(c, seq, type, code, "%s", what);
	c->dead = true;
}

/* Once its HELLO is answered, a connection goes to systemd's fd store
 * (fdstore.h), then into the table: a restarted broker takes it back as
 * it was. A kill -9 before that closes it (the client's connect fails). */
static void store_client(struct client *c)
{
	struct kg_server *srv = c->srv;

	if (c->dead || !kg_fdstore_add_client(srv->store, c->fd, srv->next_conn))
		return;
	c->conn = srv->next_conn++;
	if (srv->next_conn == 0) /* after 2^32 connections: 0 means "not stored" */
		srv->next_conn = 1;
	kg_requests_record(srv);
}

static void handle_hello(struct client *c, const struct kg_proto_msg *msg)
{
	const struct kg_proto_hello *h = &msg->u.hello;
	struct kg_proto_msg reply = { .type = KG_PROTO_MSG_SERVER_HELLO, .seq = msg->seq };
	uint16_t v = h->max_version < KG_PROTO_VERSION ? h->max_version : KG_PROTO_VERSION;

	if (v < h->min_version || v < KG_PROTO_MIN_VERSION) {
		kg_client_send_error(c, msg->seq, msg->type, KG_PROTO_ERR_VERSION,
				     "this broker speaks protocol versions %d to %d",
				     KG_PROTO_MIN_VERSION, KG_PROTO_VERSION);
		return;
	}
	c->hello = true;
	c->version = v;
	memcpy(c->name, h->client_name, sizeof(c->name));
	reply.u.server_hello.version = v;
	snprintf(reply.u.server_hello.server_name, sizeof(reply.u.server_hello.server_name),
		 "kmsgate-broker");
	kg_client_send(c, &reply, -1);
	store_client(c);
}

/*
 * A request on a stored connection (c->conn: a restarted broker takes the
 * connection back) is recorded in the lease table before it leaves the
 * socket: read_one() only peeks it (MSG_PEEK), dispatch() writes its seq
 * and type into the table (INFLIGHT_SEQ/TYPE), then takes it off
 * (take_off()), handles it, answers, and clears the record. A restarted
 * broker finding a request recorded answers it CANCELLED only when it is
 * no longer at the head of the connection's socket (client_adopt());
 * otherwise it reads and handles it like any other. Killed (kill -9)
 *   - before the record (or during it: the table is the old one or the
 *     new one, kg_fdstore_record): nothing recorded, the request still in
 *     the socket: the next broker reads and answers it, once;
 *   - between the record and the take: recorded and at the head: the next
 *     broker handles it, once (no CANCELLED);
 *   - after the take, before the answer went out: recorded, not at the
 *     head (the socket is empty, or holds the client's next request, with
 *     another seq): CANCELLED, once;
 *   - after the answer, before the record is cleared: the same, so the
 *     client gets its answer and then a CANCELLED for a request it no
 *     longer waits for, which libkmsgate drops (docs/recovery.md).
 * No request is lost. The seq tells one request from the next (libkmsgate
 * counts them, wrapping after 2^32); a client sending the same seq and
 * type twice in a row can have the second taken for the first and then
 * lose the first's answer: its own doing.
 * Fds that come with a request are a violation; a peek copies them into
 * this process each time, so they are closed on every path (read_one(),
 * take_off(), client_adopt()).
 */

/* Takes the peeked packet off the socket. False (c dead) if it is gone. */
static bool take_off(struct client *c)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	int fd = -1;
	ssize_t n = kg_proto_recv(c->fd, buf, sizeof(buf), &fd, NULL);

	if (fd >= 0)
		close(fd);
	if (n == 0 || (n < 0 && n != -EMSGSIZE && n != -EPROTO)) {
		c->dead = true;
		return false;
	}
	return true;
}

/* peeked: the packet is still at the head of the socket (c->conn). */
static void dispatch(struct client *c, const uint8_t *buf, size_t len, bool peeked)
{
	struct kg_proto_msg msg;
	int err = kg_proto_decode(buf, len, &msg);
	/* A request past HELLO: in the table while handled (see above). */
	bool track = c->conn && !err && c->hello && kg_proto_type_is_request(msg.type) &&
		     msg.type != KG_PROTO_MSG_HELLO;

	if (track) {
		c->inflight_type = msg.type;
		c->inflight_seq = msg.seq;
		kg_requests_record(c->srv);
	}
	if (peeked && !take_off(c))
		return;
	if (err) {
		violation(c, buf, len, (uint32_t)err, "malformed message");
		return;
	}
	if (!kg_proto_type_is_request(msg.type)) {
		violation(c, buf, len, KG_PROTO_ERR_UNEXPECTED, "not a request");
		return;
	}
	if (msg.type == KG_PROTO_MSG_HELLO) {
		if (c->hello)
			violation(c, buf, len, KG_PROTO_ERR_UNEXPECTED, "HELLO sent twice");
		else
			handle_hello(c, &msg);
		return;
	}
	if (!c->hello) {
		violation(c, buf, len, KG_PROTO_ERR_UNEXPECTED, "HELLO must come first");
		return;
	}
	kg_requests_handle(c, &msg);
	if (track) {
		c->inflight_type = 0;
		c->inflight_seq = 0;
		kg_requests_record(c->srv);
	}
}

/* Reads one packet: peeks it on a stored connection (dispatch() takes it
 * off once it is recorded). Returns false when there is nothing more to
 * read now (or the client is done for). */
static bool read_one(struct client *c)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	size_t len = 0;
	int fd = -1;
	bool peeked = c->conn != 0;
	ssize_t n = peeked ? kg_proto_peek(c->fd, buf, sizeof(buf), &fd, &len)
			   : kg_proto_recv(c->fd, buf, sizeof(buf), &fd, &len);

	if (fd >= 0)
		close(fd); /* clients never legitimately send an fd (a peek's: a copy) */
	if (n == -EAGAIN)
		return false;
	if (n == 0 || (n < 0 && n != -EMSGSIZE && n != -EPROTO)) {
		c->dead = true;
		return false;
	}
	if (n > 0 && fd < 0) {
		dispatch(c, buf, (size_t)n, peeked);
		return !c->dead;
	}
	/* Off the socket before the ERROR: a close with unread data would
	 * reset the connection before the client reads it (see refuse()). */
	if (peeked && !take_off(c))
		return false;
	if (n == -EMSGSIZE)
		violation(c, buf, len, KG_PROTO_ERR_TOO_BIG, "message too big");
	else
		violation(c, buf, len, KG_PROTO_ERR_FD, "unexpected file descriptor");
	return !c->dead;
}

void kg_server_reap(struct kg_server *srv)
{
	bool again = true;

	/* Destroying one client can hand its pipeline to a waiter whose
	 * socket turns out dead too: repeat until nothing is left. */
	while (again) {
		again = false;
		for (struct client *c = srv->clients; c; c = c->next) {
			if (c->dead) {
				client_destroy(c);
				again = true;
				break;
			}
		}
	}
}

static void on_client(void *data, int fd, uint32_t events)
{
	struct client *c = data;
	struct kg_server *srv = c->srv;

	for (int i = 0; i < KG_SERVER_BATCH && !c->dead; i++) {
		if (!read_one(c))
			break;
	}
	/* Hang-up with nothing left to read: the peer is gone (kill -9). */
	if (!c->dead && (events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN))
		c->dead = true;
	if (c->dead)
		client_destroy(c);
	kg_server_reap(srv);
}

static int read_cred(struct client *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	socklen_t glen = sizeof(c->groups);

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	c->cred.pid = uc.pid;
	c->cred.uid = uc.uid;
	c->cred.gid = uc.gid;
	c->cred.groups = c->groups;
	/* A peer in more groups than we have room for (ERANGE: the kernel
	 * copied nothing) gets none of them: it can lose access through a
	 * supplementary group, never gain it from an unfilled buffer. */
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &glen) < 0 ||
	    glen > sizeof(c->groups)) {
		if (errno == ERANGE)
			kg_warn("pid %d is in more than %d groups; only its uid and primary group count",
				c->cred.pid, KG_SERVER_MAX_GROUPS);
		glen = 0;
	}
	c->cred.n_groups = glen / sizeof(gid_t);
	return 0;
}

static void client_destroy(struct client *c)
{
	struct kg_server *srv;

	if (!c)
		return;
	srv = c->srv;
	kg_requests_client_gone(c);
	kg_loop_remove(c->src);
	if (c->fd >= 0)
		close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else if (srv->clients == c)
		srv->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_clients--;
	if (c->conn) {
		kg_fdstore_remove_client(srv->store, c->conn);
		kg_requests_record(srv);
	}
	kg_dbg("client pid %d disconnected (%zu left)", c->cred.pid, srv->n_clients);
	free(c);
}

/* Says why in one ERROR and closes: for connections refused before they
 * became clients. Closing a UNIX socket with unread data (the client's
 * HELLO, sent right after connect) would make the client's next read fail
 * with ECONNRESET before it sees the ERROR: stop its sending (SHUT_RD) and
 * drop what it sent first (fds in it are closed by the kernel). */
static void refuse(int fd, uint32_t code, const char *text)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	ssize_t len = kg_proto_encode_error(buf, sizeof(buf), 0, 0, code, "%s", text);

	if (len > 0)
		kg_proto_send(fd, buf, (size_t)len, -1);
	shutdown(fd, SHUT_RD);
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	close(fd);
}

/* Watches c and puts it on the list. */
static int client_link(struct client *c)
{
	struct kg_server *srv = c->srv;

	c->src = kg_loop_add_fd(srv->loop, c->fd, EPOLLIN, on_client, c);
	if (!c->src) {
		kg_log_errno(KG_LOG_WARN, "cannot watch a client");
		return -errno;
	}
	c->next = srv->clients;
	if (c->next)
		c->next->prev = c;
	srv->clients = c;
	srv->n_clients++;
	return 0;
}

static void client_add(struct kg_server *srv, int fd)
{
	struct client *c = calloc(1, sizeof(*c));

	if (!c) {
		refuse(fd, KG_PROTO_ERR_INTERNAL, "out of memory");
		return;
	}
	c->srv = srv;
	c->fd = fd;
	if (read_cred(c) < 0) {
		kg_log_errno(KG_LOG_WARN, "cannot read a client's credentials; closing it");
		goto err_client;
	}
	if (c->cred.uid != 0 &&
	    kg_server_count_uid(srv, c->cred.uid) >= KG_SERVER_MAX_CLIENTS_PER_UID) {
		kg_warn("uid %u has %d connections already; refusing pid %d", c->cred.uid,
			KG_SERVER_MAX_CLIENTS_PER_UID, c->cred.pid);
		refuse(fd, KG_PROTO_ERR_LIMIT, "too many connections from your user");
		free(c);
		return;
	}
	if (client_link(c) < 0)
		goto err_client;
	kg_dbg("client pid %d uid %u gid %u connected (%zu clients)", c->cred.pid, c->cred.uid,
	       c->cred.gid, srv->n_clients);
	return;
err_client:
	close(fd);
	free(c);
}

static void on_listen(void *data, int fd, uint32_t events)
{
	struct kg_server *srv = data;

	for (int i = 0; i < KG_SERVER_BATCH; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (cfd < 0) {
			/* EMFILE cannot happen below the client cap, but if it
			 * does, waiting beats spinning on a readable listener. */
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				kg_log_errno(KG_LOG_WARN, "accept failed");
			return;
		}
		if (srv->n_clients >= srv->max_clients) {
			refuse(cfd, KG_PROTO_ERR_LIMIT, "too many clients");
			continue;
		}
		client_add(srv, cfd);
	}
}

static int make_runtime_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		kg_log_errno(KG_LOG_ERROR, "cannot create runtime directory %s", dir);
		return -errno;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		kg_err("runtime directory %s is not a directory", dir);
		return -ENOTDIR;
	}
	return 0;
}

int kg_server_lock(const char *runtime_dir)
{
	char path[256];
	int fd;

	if (make_runtime_dir(runtime_dir) < 0)
		return -EIO;
	snprintf(path, sizeof(path), "%s/broker.lock", runtime_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		kg_log_errno(KG_LOG_ERROR, "cannot open lock file %s", path);
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		kg_log_errno(
			KG_LOG_ERROR,
			"cannot lock %s: another kmsgate-broker runs with this runtime directory (stop it, or use --runtime-dir)",
			path);
		close(fd);
		return -EBUSY;
	}
	return fd;
}

static int bind_socket(struct kg_server *srv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		kg_log_errno(KG_LOG_ERROR, "cannot create the listening socket");
		return -errno;
	}
	memcpy(addr.sun_path, srv->sock_path, strlen(srv->sock_path) + 1);
	/* We hold the lock: a socket file left here is from a dead broker. */
	unlink(srv->sock_path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    chmod(srv->sock_path, 0666) < 0 || listen(fd, 128) < 0) {
		kg_log_errno(KG_LOG_ERROR, "cannot listen on %s", srv->sock_path);
		close(fd);
		return -errno;
	}
	srv->unlink_socket = true;
	return fd;
}

static int listen_setup(struct kg_server *srv, const struct kg_server_config *cfg)
{
	if (strlen(cfg->runtime_dir) + sizeof("/" KMSGATE_SOCKET_NAME) > sizeof(srv->sock_path)) {
		kg_err("runtime directory path %s is too long for a socket path", cfg->runtime_dir);
		return -ENAMETOOLONG;
	}
	snprintf(srv->sock_path, sizeof(srv->sock_path), "%s/" KMSGATE_SOCKET_NAME,
		 cfg->runtime_dir);
	if (cfg->listen_fd >= 0) {
		int fl = fcntl(cfg->listen_fd, F_GETFL);

		srv->listen_fd = cfg->listen_fd;
		fcntl(srv->listen_fd, F_SETFL, fl | O_NONBLOCK);
		fcntl(srv->listen_fd, F_SETFD, FD_CLOEXEC);
		/* Our own from the fd store: still bound at sock_path. */
		srv->unlink_socket = cfg->listen_ours;
		return 0;
	}
	srv->listen_fd = bind_socket(srv);
	return srv->listen_fd < 0 ? srv->listen_fd : 0;
}

static int slots_create(struct kg_server *srv)
{
	srv->slots = calloc(srv->plan->n_pipelines + 1, sizeof(*srv->slots));
	if (!srv->slots)
		return -ENOMEM;
	for (size_t i = 0; i < srv->plan->n_pipelines; i++) {
		struct slot *s = &srv->slots[i];

		s->pp = &srv->plan->pipelines[i];
		kg_list_init(&s->waiters);
		s->lease = kg_lease_create(srv->dev, s->pp, srv->store);
		if (!s->lease)
			return -ENOMEM;
		srv->n_slots++;
	}
	return 0;
}

struct kg_server *kg_server_create(const struct kg_server_config *cfg)
{
	struct kg_server *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		close(cfg->lock_fd);
		return NULL;
	}
	srv->loop = cfg->loop;
	srv->dev = cfg->dev;
	srv->plan = cfg->plan;
	srv->admin = cfg->admin;
	srv->store = cfg->store;
	srv->lock_fd = cfg->lock_fd;
	srv->listen_fd = -1;
	srv->next_conn = 1;
	srv->max_clients = max_clients();
	if (slots_create(srv) < 0)
		goto err_srv;
	if (listen_setup(srv, cfg) < 0)
		goto err_srv;
	srv->listen_src = kg_loop_add_fd(srv->loop, srv->listen_fd, EPOLLIN, on_listen, srv);
	srv->sweep_timer = kg_loop_add_timer(srv->loop, 0, 0, kg_requests_sweep, srv);
	if (!srv->listen_src || !srv->sweep_timer) {
		kg_log_errno(KG_LOG_ERROR, "cannot watch the listening socket");
		goto err_srv;
	}
	if (srv->unlink_socket)
		kg_info("listening on %s%s (max %zu clients)", srv->sock_path,
			cfg->listen_fd >= 0 ? ", the socket from the fd store" : "",
			srv->max_clients);
	else /* its path is the .socket unit's, which may not be sock_path */
		kg_info("listening on the socket systemd passed (max %zu clients)",
			srv->max_clients);
	return srv;
err_srv:
	kg_server_destroy(srv);
	return NULL;
}

void kg_server_destroy(struct kg_server *srv)
{
	if (!srv)
		return;
	if (srv->slots)
		kg_requests_shutdown(srv);
	while (srv->clients)
		client_destroy(srv->clients);
	for (size_t i = 0; i < srv->n_slots; i++)
		kg_lease_destroy(srv->slots[i].lease);
	free(srv->slots);
	kg_loop_remove(srv->listen_src);
	kg_loop_remove(srv->sweep_timer);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->unlink_socket)
		unlink(srv->sock_path);
	if (srv->lock_fd >= 0)
		close(srv->lock_fd);
	free(srv);
}

int kg_server_listen_fd(const struct kg_server *srv)
{
	return srv->listen_fd;
}

/* A request the old broker had read but not answered: answered now, so
 * that the client does not wait for a reply that will never come. Whether
 * it took effect is not known (LIST tells). */
static void answer_lost_request(struct client *c, uint16_t type, uint32_t seq)
{
	kg_info("client pid %d: its %s (seq %u) was being handled when the broker died; "
		"answering CANCELLED",
		c->cred.pid, kg_proto_type_name(type), seq);
	kg_client_send_error(c, seq, type, KG_PROTO_ERR_CANCELLED,
			     "the broker restarted while handling this request; it may or may "
			     "not have taken effect (LIST tells)");
}

/* The request the old broker recorded is still the first one in the
 * socket: it was killed before taking it off (see dispatch()), and the
 * loop reads it as usual. */
static bool still_at_head(struct client *c, uint16_t type, uint32_t seq)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	uint16_t head_type;
	uint32_t head_seq;
	int fd = -1;
	ssize_t n = kg_proto_peek(c->fd, buf, sizeof(buf), &fd, NULL);

	if (fd >= 0)
		close(fd); /* a copy; dispatch() would refuse that packet anyway */
	if (n <= 0 || fd >= 0 || kg_proto_peek_header(buf, (size_t)n, &head_type, &head_seq) != 0 ||
	    head_type != type || head_seq != seq)
		return false;
	kg_info("client pid %d: its %s (seq %u) was being read when the broker died; it is still "
		"in the socket and is handled now",
		c->cred.pid, kg_proto_type_name(type), seq);
	return true;
}

/* The table (fdstore.h) must hold everything the server can have. */
_Static_assert(KG_FDSTORE_MAX_CLIENTS >= KG_SERVER_MAX_CLIENTS, "table too small: clients");
_Static_assert(KG_FDSTORE_MAX_LEASES >= KG_CONFIG_MAX_PIPELINES, "table too small: leases");
_Static_assert(KG_FDSTORE_MAX_WAITS >= KG_CONFIG_MAX_PIPELINES * KG_SERVER_MAX_WAITERS,
	       "table too small: waiters");
_Static_assert(KG_FDSTORE_CLIENT_NAME_LEN == KG_PROTO_NAME_LEN, "client name sizes differ");

/* A stored connection as a client again, as the table describes it. */
static struct client *client_adopt(struct kg_server *srv, const struct kg_fdstore_client *e)
{
	int fd = kg_fdstore_take_client_fd(srv->store, e->conn);
	struct client *c;

	if (fd < 0) {
		kg_warn("connection %s%u of the lease table is not in the fd store; its leases "
			"become orphans",
			KG_FDSTORE_CLIENT_PREFIX, e->conn);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto err_fd;
	c->srv = srv;
	c->fd = fd;
	c->hello = true;
	c->version = e->version;
	c->conn = e->conn;
	memcpy(c->name, e->name, sizeof(c->name));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (read_cred(c) < 0 || client_link(c) < 0) {
		kg_log_errno(KG_LOG_WARN, "cannot take back connection %s%u",
			     KG_FDSTORE_CLIENT_PREFIX, e->conn);
		free(c);
		goto err_fd;
	}
	kg_info("took back connection %s%u from the fd store: pid %d uid %u \"%s\"",
		KG_FDSTORE_CLIENT_PREFIX, e->conn, c->cred.pid, c->cred.uid, c->name);
	if (e->inflight_type && !still_at_head(c, e->inflight_type, e->inflight_seq))
		answer_lost_request(c, e->inflight_type, e->inflight_seq);
	return c;
err_fd:
	close(fd);
	kg_fdstore_remove_client(srv->store, e->conn);
	return NULL;
}

void kg_server_adopt(struct kg_server *srv, const struct kg_fdstore_table *t)
{
	for (size_t i = 0; i < t->n_clients; i++) {
		if (t->clients[i].conn >= srv->next_conn)
			srv->next_conn = t->clients[i].conn + 1;
		client_adopt(srv, &t->clients[i]);
	}
	kg_requests_adopt(srv, t);
	/* After the leases took their fds. */
	kg_fdstore_drop_unclaimed(srv->store);
	/* A connection whose client died meanwhile reads EOF on the first
	 * turn of the loop and goes as usual, ending its lease. */
	kg_server_reap(srv);
}

void kg_server_connectors_changed(struct kg_server *srv, const bool *changed)
{
	const struct kg_desc *desc = kg_device_desc(srv->dev);

	for (size_t i = 0; i < desc->n_connectors; i++) {
		if (changed[i])
			kg_requests_connector_changed(srv, i);
	}
	kg_server_reap(srv);
}
