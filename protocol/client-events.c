// SPDX-License-Identifier: MIT
/*
 * libkmsgate: events. Lease state changes as soon as an event is read
 * (whoever reads it, client.c); the application's handler runs only from
 * kmsgate_dispatch(), never from inside another call.
 */
#include "client-private.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static void to_event(struct kmsgate_client *c, const struct kg_proto_msg *m,
		     struct kmsgate_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	switch (m->type) {
	case KG_PROTO_MSG_EV_REVOKED:
		ev->type = KMSGATE_EVENT_REVOKED;
		memcpy(ev->pipeline, m->u.revoked.name, sizeof(ev->pipeline));
		ev->reason = m->u.revoked.reason;
		ev->lease = kg_client_find_lease(c, ev->pipeline, true);
		break;
	case KG_PROTO_MSG_EV_CONNECTOR_CHANGED:
		ev->type = KMSGATE_EVENT_CONNECTOR_CHANGED;
		memcpy(ev->pipeline, m->u.connector_changed.name, sizeof(ev->pipeline));
		ev->connector_status = m->u.connector_changed.status;
		ev->mm_width = m->u.connector_changed.mm_width;
		ev->mm_height = m->u.connector_changed.mm_height;
		ev->has_preferred_mode =
			!!(m->u.connector_changed.flags & KG_PROTO_PIPE_HAS_PREFERRED_MODE);
		kg_client_mode_from_proto(&ev->preferred_mode,
					  &m->u.connector_changed.preferred_mode);
		break;
	default:
		ev->type = KMSGATE_EVENT_PIPELINE_AVAILABLE;
		memcpy(ev->pipeline, m->u.available.name, sizeof(ev->pipeline));
		break;
	}
}

/* Hands the oldest queued event to the handler. The queue is shifted first:
 * the handler may call back into the library, which may queue more. */
static void deliver_one(struct kmsgate_client *c)
{
	struct kg_proto_msg m = c->queue[0];
	struct kmsgate_event ev;

	c->queue_len--;
	memmove(c->queue, c->queue + 1, c->queue_len * sizeof(*c->queue));
	if (!c->event_fn)
		return;
	to_event(c, &m, &ev);
	c->event_fn(&ev, c->event_data);
}

void kmsgate_set_event_handler(struct kmsgate_client *c, kmsgate_event_fn fn, void *data)
{
	c->event_fn = fn;
	c->event_data = data;
}

/* Reads everything available into the queue. Returns 0 or -errno. */
static int drain_socket(struct kmsgate_client *c)
{
	struct kg_proto_msg m;
	int fd;

	while (c->queue_len < KG_CLIENT_MAX_QUEUED) {
		int r = kg_client_wait(c, 0, &m, &fd, 0);

		if (r == -ETIMEDOUT)
			return 0;
		if (r < 0)
			return r;
		/* Only a broken broker replies when nothing was asked: the
		 * wait saw seq 0 only as an ERROR announcing disconnection. */
		if (fd >= 0)
			close(fd);
		kg_client_error(c, &m);
		return -ECONNRESET;
	}
	return 0;
}

int kmsgate_dispatch(struct kmsgate_client *c)
{
	int n = 0, r = 0;

	if (!c->broken)
		r = drain_socket(c);
	while (c->queue_len > 0) {
		deliver_one(c);
		n++;
	}
	if (r < 0)
		return r;
	return c->broken ? -ECONNRESET : n;
}
