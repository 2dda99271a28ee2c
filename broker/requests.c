// SPDX-License-Identifier: MIT
/*
 * What each request does. Handlers only decide and reply; sockets and
 * protocol violations are server.c's business.
 */
#include "server-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xf86drm.h>
#include <xf86drmMode.h>

#include "log.h"

/* While a new lessee holds a pipeline whose previous frame is kept, look
 * every this often whether the new lessee shows its own frame yet. */
#define SWEEP_MS 50

static struct slot *find_slot(struct kg_server *srv, const char *name)
{
	for (size_t i = 0; i < srv->n_slots; i++) {
		if (strcmp(srv->slots[i].pp->name, name) == 0)
			return &srv->slots[i];
	}
	return NULL;
}

static const struct kg_desc_connector *slot_connector(struct kg_server *srv, const struct slot *s)
{
	return &kg_device_desc(srv->dev)->connectors[s->pp->connector];
}

/* The kernel's mode, as the codec accepts it: name in ID characters, and
 * timings in order (else no mode: the lessee picks one). */
static void to_proto_mode(const drmModeModeInfo *m, struct kg_proto_mode *out)
{
	memset(out, 0, sizeof(*out));
	if (!m || m->clock == 0 || m->hdisplay == 0 || m->vdisplay == 0 ||
	    m->hsync_start < m->hdisplay || m->hsync_end < m->hsync_start ||
	    m->htotal < m->hsync_end || m->vsync_start < m->vdisplay ||
	    m->vsync_end < m->vsync_start || m->vtotal < m->vsync_end)
		return;
	out->clock = m->clock;
	out->hdisplay = m->hdisplay;
	out->hsync_start = m->hsync_start;
	out->hsync_end = m->hsync_end;
	out->htotal = m->htotal;
	out->hskew = m->hskew;
	out->vdisplay = m->vdisplay;
	out->vsync_start = m->vsync_start;
	out->vsync_end = m->vsync_end;
	out->vtotal = m->vtotal;
	out->vscan = m->vscan;
	out->vrefresh = m->vrefresh;
	out->flags = m->flags;
	out->type = m->type;
	for (size_t i = 0; i < sizeof(out->name) - 1 && m->name[i]; i++)
		out->name[i] = (m->name[i] > 0x20 && m->name[i] < 0x7f) ? m->name[i] : '_';
}

static const drmModeModeInfo *preferred_mode(const struct kg_desc_connector *conn)
{
	struct kg_mode_spec spec = { .preferred = true };
	int i = kg_plan_pick_mode(conn, &spec);

	return i < 0 ? NULL : &conn->modes[i];
}

static void fill_planes(struct kg_server *srv, const struct slot *s, uint32_t *n,
			struct kg_proto_plane *planes)
{
	const struct kg_desc *desc = kg_device_desc(srv->dev);

	*n = 0;
	for (size_t i = 0; i < s->pp->n_planes && i < KG_PROTO_MAX_PLANES; i++) {
		const struct kg_desc_plane *p = kg_desc_find_plane(desc, s->pp->plane_ids[i]);

		planes[i].id = s->pp->plane_ids[i];
		planes[i].type = p ? (uint32_t)p->type : KG_PROTO_PLANE_OVERLAY;
		(*n)++;
	}
}

/* Held by a connected client or by an orphan (kg_server_adopt). */
static bool taken(const struct slot *s)
{
	return s->lessee || s->orphan;
}

/* The lease table in systemd's fd store follows every change, so that a
 * broker restarted after a kill -9 knows which lessee is on which
 * pipeline, which stored connection holds it, and who waits. */
void kg_requests_record(struct kg_server *srv)
{
	static struct kg_fdstore_table t;

	if (!kg_fdstore_recording(srv->store))
		return;
	t.n_leases = t.n_clients = t.n_waits = 0;
	for (const struct client *c = srv->clients; c; c = c->next) {
		struct kg_fdstore_client *e = &t.clients[t.n_clients];

		if (!c->conn || c->dead || t.n_clients >= KG_FDSTORE_MAX_CLIENTS)
			continue;
		e->conn = c->conn;
		e->version = c->version;
		e->inflight_type = c->inflight_type;
		e->inflight_seq = c->inflight_seq;
		memcpy(e->name, c->name, sizeof(e->name));
		t.n_clients++;
	}
	for (size_t i = 0; i < srv->n_slots && t.n_leases < KG_FDSTORE_MAX_LEASES; i++) {
		const struct slot *s = &srv->slots[i];
		struct kg_fdstore_entry *e = &t.leases[t.n_leases];
		const struct waiter *w;

		e->lessee_id = s->orphan ? s->orphan : kg_lease_lessee_id(s->lease);
		if (e->lessee_id) {
			e->conn = s->lessee && !s->lessee->dead ? s->lessee->conn : 0;
			snprintf(e->pipeline, sizeof(e->pipeline), "%s", s->pp->name);
			t.n_leases++;
		}
		kg_list_for_each (w, &s->waiters, link) {
			struct kg_fdstore_wait *ew = &t.waits[t.n_waits];

			if (!w->client->conn || w->client->dead ||
			    t.n_waits >= KG_FDSTORE_MAX_WAITS)
				continue;
			ew->conn = w->client->conn;
			ew->seq = w->seq;
			snprintf(ew->pipeline, sizeof(ew->pipeline), "%s", s->pp->name);
			t.n_waits++;
		}
	}
	kg_fdstore_record(srv->store, &t);
}

static void record(struct kg_server *srv)
{
	kg_requests_record(srv);
}

static uint32_t slot_state(struct kg_server *srv, const struct slot *s)
{
	if (taken(s))
		return KG_PROTO_STATE_LEASED;
	if (slot_connector(srv, s)->status == KG_CONN_DISCONNECTED)
		return KG_PROTO_STATE_UNAVAILABLE;
	return KG_PROTO_STATE_FREE;
}

static void fill_pipeline(struct kg_server *srv, const struct slot *s, const struct client *c,
			  struct kg_proto_pipeline *p)
{
	const struct kg_desc_connector *conn = slot_connector(srv, s);
	const drmModeModeInfo *pref = preferred_mode(conn);
	drmModeModeInfo cur;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", s->pp->name);
	p->state = slot_state(srv, s);
	if (kg_acl_allows(&s->pp->acl, &c->cred))
		p->flags |= KG_PROTO_PIPE_ALLOWED;
	if (s->lessee == c)
		p->flags |= KG_PROTO_PIPE_MINE;
	snprintf(p->connector_name, sizeof(p->connector_name), "%s", conn->name);
	p->connector_id = conn->id;
	p->connector_type = conn->type;
	p->connector_status = (uint32_t)conn->status;
	p->mm_width = conn->mm_width;
	p->mm_height = conn->mm_height;
	p->crtc_id = kg_device_desc(srv->dev)->crtcs[s->pp->crtc].id;
	to_proto_mode(pref, &p->preferred_mode);
	if (p->preferred_mode.clock)
		p->flags |= KG_PROTO_PIPE_HAS_PREFERRED_MODE;
	if (kg_device_crtc_mode(srv->dev, s->pp->crtc, &cur)) {
		to_proto_mode(&cur, &p->current_mode);
		if (p->current_mode.clock)
			p->flags |= KG_PROTO_PIPE_HAS_CURRENT_MODE;
	}
	if (s->lessee) {
		p->lessee_pid = (uint32_t)s->lessee->cred.pid;
		p->lessee_uid = s->lessee->cred.uid;
		memcpy(p->lessee_name, s->lessee->name, sizeof(p->lessee_name));
	} else if (s->orphan) {
		/* Who it was died with the old broker: only the kernel's id. */
		snprintf(p->lessee_name, sizeof(p->lessee_name), "orphan:%u", s->orphan);
	}
	fill_planes(srv, s, &p->n_planes, p->planes);
}

static void handle_list(struct client *c, const struct kg_proto_msg *req)
{
	struct kg_server *srv = c->srv;
	struct kg_proto_msg msg = { .type = KG_PROTO_MSG_PIPELINE, .seq = req->seq };

	for (size_t i = 0; i < srv->n_slots && !c->dead; i++) {
		fill_pipeline(srv, &srv->slots[i], c, &msg.u.pipeline);
		kg_client_send(c, &msg, -1);
	}
	memset(&msg, 0, sizeof(msg));
	msg.type = KG_PROTO_MSG_LIST_END;
	msg.seq = req->seq;
	msg.u.list_end.count = (uint32_t)srv->n_slots;
	kg_client_send(c, &msg, -1);
}

static void arm_sweep(struct kg_server *srv)
{
	kg_loop_timer_arm(srv->sweep_timer, SWEEP_MS, SWEEP_MS);
}

/* Leases the slot to c and sends LEASE (seq: the ACQUIRE's). Returns 0, or
 * a KG_PROTO_ERR_* code after replying with it. */
static uint32_t grant(struct slot *s, struct client *c, uint32_t seq)
{
	struct kg_server *srv = c->srv;
	struct kg_proto_msg msg = { .type = KG_PROTO_MSG_LEASE, .seq = seq };
	struct kg_proto_lease *l = &msg.u.lease;
	const struct kg_desc_connector *conn = slot_connector(srv, s);
	int mode = kg_plan_pick_mode(conn, &s->pp->mode);
	bool in_flight;
	int fd, ret;

	ret = kg_lease_grant(s->lease, &fd, &l->lessee_id);
	if (ret < 0) {
		kg_client_send_error(c, seq, KG_PROTO_MSG_ACQUIRE, KG_PROTO_ERR_INTERNAL,
				     "the kernel refused the lease: %s", strerror(-ret));
		return KG_PROTO_ERR_INTERNAL;
	}
	s->lessee = c;
	snprintf(l->name, sizeof(l->name), "%s", s->pp->name);
	l->connector_id = conn->id;
	l->crtc_id = kg_device_desc(srv->dev)->crtcs[s->pp->crtc].id;
	if (mode < 0 && conn->n_modes)
		kg_warn("pipeline %s: connector %s has no mode matching the config; the lessee picks one",
			s->pp->name, conn->name);
	to_proto_mode(mode < 0 ? NULL : &conn->modes[mode], &l->mode);
	fill_planes(srv, s, &l->n_planes, l->planes);
	kg_info("pipeline %s leased to pid %d uid %u (lessee %u)", s->pp->name, c->cred.pid,
		c->cred.uid, l->lessee_id);
	/* Recorded before it is sent: a kill -9 in between closes the only
	 * fd of the new lease (ours), so the kernel drops it and the restarted
	 * broker, which filters the table by the kernel's lessees, forgets
	 * it, and answers the ACQUIRE (in flight) with CANCELLED. */
	in_flight = c->inflight_type != 0;
	if (!in_flight) { /* a waiter's ACQUIRE, answered now */
		c->inflight_type = KG_PROTO_MSG_ACQUIRE;
		c->inflight_seq = seq;
	}
	record(srv);
	kg_client_send(c, &msg, fd);
	/* Our copy goes into the store only now: stored before the LEASE
	 * went out, a kill in between would keep alive a lease its client
	 * never got (the restart answers that ACQUIRE CANCELLED). A kill
	 * right after the send leaves the lease adopted without our copy. */
	kg_lease_keep(s->lease);
	if (!in_flight) {
		c->inflight_type = 0;
		c->inflight_seq = 0;
		record(srv);
	}
	arm_sweep(srv);
	return 0;
}

static void broadcast_available(struct kg_server *srv, const struct slot *s)
{
	struct kg_proto_msg msg = { .type = KG_PROTO_MSG_EV_PIPELINE_AVAILABLE };

	snprintf(msg.u.available.name, sizeof(msg.u.available.name), "%s", s->pp->name);
	for (struct client *c = srv->clients; c; c = c->next) {
		if (c->hello && !c->dead)
			kg_client_send(c, &msg, -1);
	}
}

/* Takes the first waiter off the slot's queue (the caller frees it). */
static struct waiter *waiter_pop(struct slot *s)
{
	struct waiter *w = kg_list_first(&s->waiters, struct waiter, link);

	kg_list_remove(&w->link);
	s->n_waiters--;
	return w;
}

/* The slot just became free: the first waiter still around gets it, else
 * everyone hears that it is available. */
static void hand_over(struct kg_server *srv, struct slot *s)
{
	while (!kg_list_empty(&s->waiters) && !taken(s)) {
		struct waiter *w = waiter_pop(s);

		if (!w->client->dead)
			grant(s, w->client, w->seq);
		free(w);
	}
	if (!taken(s))
		broadcast_available(srv, s);
}

static void end_lease(struct kg_server *srv, struct slot *s, uint32_t reason)
{
	struct client *old = s->lessee;

	kg_lease_revoke(s->lease);
	s->lessee = NULL;
	record(srv);
	kg_info("pipeline %s: lease of pid %d ended (%s)", s->pp->name, old->cred.pid,
		reason ? kg_proto_revoke_reason_name(reason) : "released");
	if (reason && !old->dead) {
		struct kg_proto_msg ev = { .type = KG_PROTO_MSG_EV_REVOKED };

		snprintf(ev.u.revoked.name, sizeof(ev.u.revoked.name), "%s", s->pp->name);
		ev.u.revoked.reason = reason;
		kg_client_send(old, &ev, -1);
	}
}

/* revoke: false when the kernel dropped the lessee already. */
static void end_orphan(struct kg_server *srv, struct slot *s, bool revoke, const char *why)
{
	if (revoke)
		kg_lease_end_orphan(s->lease, s->orphan);
	kg_info("pipeline %s: adopted lease (lessee %u) ended: %s", s->pp->name, s->orphan, why);
	s->orphan = 0;
	record(srv);
}

static bool is_waiting(struct slot *s, const struct client *c)
{
	struct waiter *w;

	kg_list_for_each (w, &s->waiters, link) {
		if (w->client == c)
			return true;
	}
	return false;
}

static void enqueue(struct slot *s, struct client *c, uint32_t seq)
{
	struct waiter *w;

	if (is_waiting(s, c) || s->n_waiters >= KG_SERVER_MAX_WAITERS) {
		kg_client_send_error(c, seq, KG_PROTO_MSG_ACQUIRE, KG_PROTO_ERR_LIMIT,
				     is_waiting(s, c) ? "you are waiting for %s already"
						      : "too many clients wait for %s",
				     s->pp->name);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		kg_client_send_error(c, seq, KG_PROTO_MSG_ACQUIRE, KG_PROTO_ERR_INTERNAL,
				     "out of memory");
		return;
	}
	w->client = c;
	w->seq = seq;
	kg_list_append(&s->waiters, &w->link);
	s->n_waiters++;
	kg_dbg("pid %d waits for %s (%zu waiting)", c->cred.pid, s->pp->name, s->n_waiters);
}

static void handle_acquire(struct client *c, const struct kg_proto_msg *req)
{
	const struct kg_proto_acquire *a = &req->u.acquire;
	struct slot *s = find_slot(c->srv, a->name);
	uint16_t t = req->type;

	if (!s) {
		kg_client_send_error(c, req->seq, t, KG_PROTO_ERR_NOT_FOUND, "no pipeline named %s",
				     a->name);
		return;
	}
	if (!kg_acl_allows(&s->pp->acl, &c->cred)) {
		kg_info("pid %d uid %u may not acquire %s", c->cred.pid, c->cred.uid, s->pp->name);
		kg_client_send_error(
			c, req->seq, t, KG_PROTO_ERR_DENIED,
			"uid %u is not allowed to use %s (see allow-users/allow-groups)",
			c->cred.uid, s->pp->name);
		return;
	}
	if (s->lessee == c) {
		kg_client_send_error(c, req->seq, t, KG_PROTO_ERR_BUSY, "you hold %s already",
				     s->pp->name);
		return;
	}
	if (taken(s) && (a->flags & KG_PROTO_ACQUIRE_WAIT)) {
		enqueue(s, c, req->seq);
		return;
	}
	if (s->orphan) {
		kg_client_send_error(
			c, req->seq, t, KG_PROTO_ERR_BUSY,
			"%s is still leased to the client of a broker before a restart "
			"(lessee %u)",
			s->pp->name, s->orphan);
		return;
	}
	if (s->lessee) {
		kg_client_send_error(c, req->seq, t, KG_PROTO_ERR_BUSY, "%s is leased to pid %d",
				     s->pp->name, s->lessee->cred.pid);
		return;
	}
	if (slot_connector(c->srv, s)->status == KG_CONN_DISCONNECTED) {
		kg_client_send_error(c, req->seq, t, KG_PROTO_ERR_UNAVAILABLE,
				     "connector %s of %s is disconnected",
				     slot_connector(c->srv, s)->name, s->pp->name);
		return;
	}
	grant(s, c, req->seq);
}

static void send_ok(struct client *c, const struct kg_proto_msg *req)
{
	struct kg_proto_msg msg = { .type = KG_PROTO_MSG_OK, .seq = req->seq };

	msg.u.ok.request_type = req->type;
	kg_client_send(c, &msg, -1);
}

static void handle_release(struct client *c, const struct kg_proto_msg *req)
{
	struct slot *s = find_slot(c->srv, req->u.release.name);

	if (!s) {
		kg_client_send_error(c, req->seq, req->type, KG_PROTO_ERR_NOT_FOUND,
				     "no pipeline named %s", req->u.release.name);
		return;
	}
	if (s->lessee != c) {
		kg_client_send_error(c, req->seq, req->type, KG_PROTO_ERR_NOT_HELD,
				     "you do not hold %s", s->pp->name);
		return;
	}
	end_lease(c->srv, s, 0);
	send_ok(c, req);
	hand_over(c->srv, s);
}

static bool is_admin(const struct kg_server *srv, const struct client *c)
{
	/* An empty admin list means root only, as for allow lists. */
	return kg_acl_allows(srv->admin, &c->cred);
}

static void handle_revoke(struct client *c, const struct kg_proto_msg *req)
{
	struct kg_server *srv = c->srv;
	struct slot *s = find_slot(srv, req->u.revoke.name);

	if (!is_admin(srv, c)) {
		kg_client_send_error(c, req->seq, req->type, KG_PROTO_ERR_DENIED,
				     "revoking needs root or admin-users/admin-groups");
		return;
	}
	if (!s) {
		kg_client_send_error(c, req->seq, req->type, KG_PROTO_ERR_NOT_FOUND,
				     "no pipeline named %s", req->u.revoke.name);
		return;
	}
	if (!taken(s)) {
		kg_client_send_error(c, req->seq, req->type, KG_PROTO_ERR_NOT_HELD,
				     "%s is not leased", s->pp->name);
		return;
	}
	kg_info("pid %d uid %u revokes %s", c->cred.pid, c->cred.uid, s->pp->name);
	if (s->orphan)
		end_orphan(srv, s, true, "revoked by an admin");
	else
		end_lease(srv, s, KG_PROTO_REVOKE_ADMIN);
	send_ok(c, req);
	hand_over(srv, s);
}

void kg_requests_handle(struct client *c, const struct kg_proto_msg *msg)
{
	switch (msg->type) {
	case KG_PROTO_MSG_LIST:
		handle_list(c, msg);
		break;
	case KG_PROTO_MSG_ACQUIRE:
		handle_acquire(c, msg);
		break;
	case KG_PROTO_MSG_RELEASE:
		handle_release(c, msg);
		break;
	case KG_PROTO_MSG_REVOKE:
		handle_revoke(c, msg);
		break;
	default:
		kg_client_send_error(c, msg->seq, msg->type, KG_PROTO_ERR_UNEXPECTED,
				     "unexpected %s", kg_proto_type_name(msg->type));
		c->dead = true;
		break;
	}
}

static void drop_waits(struct slot *s, struct client *c)
{
	struct waiter *w, *tmp;

	kg_list_for_each_safe (w, tmp, &s->waiters, link) {
		if (w->client != c)
			continue;
		kg_list_remove(&w->link);
		s->n_waiters--;
		free(w);
	}
}

void kg_requests_client_gone(struct client *c)
{
	struct kg_server *srv = c->srv;

	for (size_t i = 0; i < srv->n_slots; i++)
		drop_waits(&srv->slots[i], c);
	c->dead = true; /* no events to it from here on */
	for (size_t i = 0; i < srv->n_slots; i++) {
		struct slot *s = &srv->slots[i];

		if (s->lessee != c)
			continue;
		end_lease(srv, s, 0);
		hand_over(srv, s);
	}
}

void kg_requests_shutdown(struct kg_server *srv)
{
	for (size_t i = 0; i < srv->n_slots; i++) {
		struct slot *s = &srv->slots[i];

		while (!kg_list_empty(&s->waiters)) {
			struct waiter *w = waiter_pop(s);

			kg_client_send_error(w->client, w->seq, KG_PROTO_MSG_ACQUIRE,
					     KG_PROTO_ERR_CANCELLED, "the broker is stopping");
			free(w);
		}
		if (s->lessee)
			end_lease(srv, s, KG_PROTO_REVOKE_SHUTDOWN);
		if (s->orphan)
			end_orphan(srv, s, true, "the broker stops");
	}
}

/* An orphan ends when the kernel no longer lists its lessee: the client's
 * last fd of it closed (the broker holds none). */
static bool sweep_orphans(struct kg_server *srv)
{
	drmModeLesseeListPtr ll = NULL;
	bool more = false;

	for (size_t i = 0; i < srv->n_slots; i++) {
		struct slot *s = &srv->slots[i];
		bool live = false;

		if (!s->orphan)
			continue;
		if (!ll)
			ll = drmModeListLessees(kg_device_fd(srv->dev));
		if (!ll)
			return true; /* try again on the next tick */
		for (uint32_t j = 0; j < ll->count; j++)
			live |= ll->lessees[j] == s->orphan;
		if (live) {
			more = true;
			continue;
		}
		end_orphan(srv, s, false, "its lessee is gone");
		hand_over(srv, s);
	}
	drmFree(ll);
	return more;
}

void kg_requests_sweep(void *data)
{
	struct kg_server *srv = data;
	bool more = false;

	for (size_t i = 0; i < srv->n_slots; i++) {
		struct slot *s = &srv->slots[i];

		if (s->lessee)
			more |= kg_lease_sweep(s->lease);
	}
	more |= sweep_orphans(srv);
	kg_server_reap(srv);
	if (!more)
		kg_loop_timer_arm(srv->sweep_timer, 0, 0);
}

static struct client *find_conn(struct kg_server *srv, uint32_t conn)
{
	for (struct client *c = srv->clients; conn && c; c = c->next) {
		if (c->conn == conn)
			return c;
	}
	return NULL;
}

/* A live lease of the table: back to its connection, else an orphan. */
static void adopt_lease(struct kg_server *srv, const struct kg_fdstore_entry *e)
{
	struct slot *s = find_slot(srv, e->pipeline);
	struct client *c = find_conn(srv, e->conn);

	if (!s || taken(s)) {
		kg_warn("lessee %u of the stored lease table: %s; leaving it to the kernel "
			"(it ends when its client closes it)",
			e->lessee_id,
			!s ? "no such pipeline in this config" : "its pipeline is adopted already");
		return;
	}
	if (c) {
		kg_lease_adopt(s->lease, e->lessee_id,
			       kg_fdstore_take_lessee_fd(srv->store, e->lessee_id, s->pp->name));
		s->lessee = c;
		kg_info("pipeline %s: adopted the kernel's lease (lessee %u) with its client's "
			"connection %s%u (pid %d): leased as before",
			s->pp->name, e->lessee_id, KG_FDSTORE_CLIENT_PREFIX, c->conn, c->cred.pid);
		return;
	}
	s->orphan = e->lessee_id;
	kg_info("pipeline %s: adopted the kernel's lease (lessee %u): orphaned, waiting "
		"for its client; it ends when the client closes it, an admin revokes it "
		"or the broker stops",
		s->pp->name, s->orphan);
}

/* A waiting ACQUIRE of a stored connection queues again, in order. */
static void adopt_wait(struct kg_server *srv, const struct kg_fdstore_wait *e)
{
	struct slot *s = find_slot(srv, e->pipeline);
	struct client *c = find_conn(srv, e->conn);
	struct waiter *w;

	if (!s || !c || is_waiting(s, c) || s->n_waiters >= KG_SERVER_MAX_WAITERS)
		return;
	w = calloc(1, sizeof(*w));
	if (!w) {
		kg_client_send_error(c, e->seq, KG_PROTO_MSG_ACQUIRE, KG_PROTO_ERR_CANCELLED,
				     "out of memory after a restart of the broker");
		return;
	}
	w->client = c;
	w->seq = e->seq;
	kg_list_append(&s->waiters, &w->link);
	s->n_waiters++;
	kg_dbg("pid %d waits again for %s (%zu waiting)", c->cred.pid, s->pp->name, s->n_waiters);
}

void kg_requests_adopt(struct kg_server *srv, const struct kg_fdstore_table *t)
{
	for (size_t i = 0; i < t->n_leases; i++)
		adopt_lease(srv, &t->leases[i]);
	for (size_t i = 0; i < t->n_waits; i++)
		adopt_wait(srv, &t->waits[i]);
	/* A revoked lessee's frame the previous broker kept (on-release
	 * keep): kept on. Not beside an orphan, whose own frame is up. */
	for (size_t i = 0; i < srv->n_slots; i++) {
		struct slot *s = &srv->slots[i];
		uint32_t id, fb = kg_lease_plane_fb(s->lease);
		int fd =
			s->orphan ? -1 : kg_fdstore_take_frame_fd(srv->store, s->pp->name, fb, &id);

		if (fd >= 0)
			kg_lease_adopt_frame(s->lease, fd, id, fb);
	}
	/* A pipeline whose lessee went while the broker was down is free now:
	 * its first waiter gets it, else everyone hears it is available. */
	for (size_t i = 0; i < t->n_gone; i++) {
		struct slot *s = find_slot(srv, t->gone[i]);

		if (s && !taken(s)) {
			kg_info("pipeline %s: its lessee went while no broker ran; it is free",
				s->pp->name);
			hand_over(srv, s);
		}
	}
	/* Waiters for a pipeline that was free already (it came free after
	 * the table was written). */
	for (size_t i = 0; i < srv->n_slots; i++) {
		if (!taken(&srv->slots[i]) && !kg_list_empty(&srv->slots[i].waiters))
			hand_over(srv, &srv->slots[i]);
	}
	record(srv);
	arm_sweep(srv);
}

void kg_requests_connector_changed(struct kg_server *srv, size_t connector)
{
	const struct kg_desc_connector *conn = &kg_device_desc(srv->dev)->connectors[connector];
	struct kg_proto_msg msg = { .type = KG_PROTO_MSG_EV_CONNECTOR_CHANGED };
	struct kg_proto_connector_changed *ev = &msg.u.connector_changed;

	for (size_t i = 0; i < srv->n_slots; i++) {
		struct slot *s = &srv->slots[i];

		if (s->pp->connector != connector)
			continue;
		kg_info("pipeline %s: connector %s is now %s", s->pp->name, conn->name,
			conn->status == KG_CONN_CONNECTED ? "connected" : "disconnected");
		snprintf(ev->name, sizeof(ev->name), "%s", s->pp->name);
		ev->connector_id = conn->id;
		ev->status = (uint32_t)conn->status;
		ev->mm_width = conn->mm_width;
		ev->mm_height = conn->mm_height;
		to_proto_mode(preferred_mode(conn), &ev->preferred_mode);
		ev->flags = ev->preferred_mode.clock ? KG_PROTO_PIPE_HAS_PREFERRED_MODE : 0;
		for (struct client *c = srv->clients; c; c = c->next) {
			if (c->hello && !c->dead)
				kg_client_send(c, &msg, -1);
		}
	}
}
