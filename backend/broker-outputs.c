// SPDX-License-Identifier: MIT
#include "broker-outputs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "keeper.h"
#include "kmsgate.h"
#include "log.h"
#include "loop.h"
#include "kms-pick.h"
#include "output-kms.h"
#include "output-join.h"

struct kg_broker_outputs {
	struct kmsgate_client *client;
	struct kmsgate_lease *leases[KG_MAX_SCANOUTS];
	unsigned n;
	struct kg_source *src;
	struct kg_output *out; /* borrowed: for hotplug */
};

static void on_event(const struct kmsgate_event *ev, void *data)
{
	struct kg_broker_outputs *b = data;

	switch (ev->type) {
	case KMSGATE_EVENT_REVOKED:
		kg_warn("broker: pipeline %s was revoked (reason %u); its scanout shows nothing "
			"until kmsgate-vgpu is restarted",
			ev->pipeline, ev->reason);
		break;
	case KMSGATE_EVENT_CONNECTOR_CHANGED:
		kg_info("broker: pipeline %s: connector changed (status %u)", ev->pipeline,
			ev->connector_status);
		if (b->out && b->out->changed)
			b->out->changed(b->out->changed_data);
		break;
	default:
		break;
	}
}

static void on_readable(void *data, int fd, uint32_t events)
{
	struct kg_broker_outputs *b = data;
	int ret = kmsgate_dispatch(b->client);

	if (ret < 0) {
		kg_err("broker: connection lost (%s): every lease is gone; the guest's scanouts "
		       "show nothing until kmsgate-vgpu is restarted",
		       strerror(-ret));
		kg_loop_remove(b->src);
		b->src = NULL;
	}
}

/* One KMS output on the lease's own objects, with the broker's mode. */
static struct kg_output *lease_output(struct kg_loop *loop, struct kmsgate_lease *l)
{
	struct kmsgate_mode mode;
	struct kg_kms_pipe pipe;
	int n = kg_kms_find_pipes(kmsgate_lease_fd(l), &pipe, 1);

	if (n <= 0) {
		kg_err("broker: lease of %s holds no usable pipeline (%s)", kmsgate_lease_name(l),
		       n < 0 ? strerror(-n) : "connector disconnected?");
		return NULL;
	}
	if (kmsgate_lease_mode(l, &mode) == 0)
		memcpy(&pipe.mode, &mode, sizeof(pipe.mode));
	kg_info("broker: pipeline %s: connector %u, CRTC %u, %ux%u", kmsgate_lease_name(l),
		pipe.connector_id, pipe.crtc_id, pipe.mode.hdisplay, pipe.mode.vdisplay);
	return kg_output_kms_create(loop, kmsgate_lease_fd(l), &pipe, 1);
}

/* After ending the previous process's connection, the broker may not have
 * read its hangup yet: its leases are still its for a moment. */
#define OLD_LEASE_WAIT_MS 2000
#define OLD_LEASE_POLL_MS 50

static int acquire_all(struct kg_broker_outputs *b, const char *pipelines, bool ended_old)
{
	char *list = strdup(pipelines), *save = NULL;

	if (!list)
		return -ENOMEM;
	for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		struct kmsgate_lease *l;

		if (b->n >= KG_MAX_SCANOUTS) {
			kg_err("broker: at most %d pipelines", KG_MAX_SCANOUTS);
			free(list);
			return -E2BIG;
		}
		l = kmsgate_acquire(b->client, name, 0);
		for (int t = 0; !l && errno == EBUSY && ended_old && t < OLD_LEASE_WAIT_MS;
		     t += OLD_LEASE_POLL_MS) {
			usleep(OLD_LEASE_POLL_MS * 1000);
			l = kmsgate_acquire(b->client, name, 0);
		}
		if (!l) {
			int err = errno;
			kg_err("broker: cannot acquire pipeline %s: %s (%s)", name, strerror(err),
			       kmsgate_last_error(b->client));
			free(list);
			return -err;
		}
		b->leases[b->n++] = l;
	}
	free(list);
	return b->n ? 0 : -EINVAL;
}

static void release_all(struct kg_broker_outputs *b);

/* The previous process's leases, if it kept them (keeper.h) and they are
 * still the pipelines asked for, in that order. 0, or -errno: lease afresh. */
static int adopt(struct kg_broker_outputs *b, struct kg_keeper *keeper, const char *pipelines)
{
	struct kg_keeper_broker kept;
	char *want, *save = NULL, *name;
	unsigned i = 0;
	int ret = kg_keeper_take_broker(keeper, &kept);

	if (ret < 0)
		return ret;
	b->client = kmsgate_adopt(kept.sock, kept.state, kept.size, kept.leases, b->leases, kept.n);
	if (!b->client) {
		kg_log_errno(KG_LOG_WARN, "broker: cannot take over the previous kmsgate-vgpu's "
					  "connection; leasing the pipelines again");
		kg_keeper_forget_broker(keeper);
		return -ESTALE;
	}
	b->n = kept.n;
	want = strdup(pipelines);
	for (name = want ? strtok_r(want, ",", &save) : NULL; name;
	     name = strtok_r(NULL, ",", &save), i++) {
		if (i >= b->n || strcmp(name, kmsgate_lease_name(b->leases[i])) ||
		    kmsgate_lease_revoked(b->leases[i]))
			break;
	}
	if (!want || name || i != b->n) {
		free(want);
		kg_warn("broker: the previous kmsgate-vgpu's leases are not --pipeline %s any more "
			"(revoked meanwhile, or another list): leasing again",
			pipelines);
		release_all(b);
		kg_keeper_forget_broker(keeper);
		return -ESTALE;
	}
	free(want);
	kg_info("broker: took over the previous kmsgate-vgpu's connection and its %u lease(s)",
		b->n);
	return 0;
}

/* Kept for the next process, if there is a keeper. */
static void keep(struct kg_broker_outputs *b, struct kg_keeper *keeper)
{
	static uint8_t state[KG_KEEPER_BROKER_STATE];
	struct kg_keeper_broker kept = { .sock = kmsgate_get_fd(b->client),
					 .n = b->n,
					 .state = state };
	long size = kmsgate_save(b->client, state, sizeof(state));
	int ret = size < 0 ? (int)size : size > (long)sizeof(state) ? -E2BIG : 0;

	for (unsigned i = 0; i < b->n; i++)
		kept.leases[i] = kmsgate_lease_fd(b->leases[i]);
	kept.size = size > 0 ? (size_t)size : 0;
	if (ret == 0)
		ret = kg_keeper_keep_broker(keeper, &kept);
	if (ret < 0)
		kg_warn("broker: cannot keep the leases across a restart (%s): if kmsgate-vgpu "
			"dies, the broker ends them",
			strerror(-ret));
}

static struct kg_output *make_output(struct kg_broker_outputs *b, struct kg_loop *loop,
				     bool adopted)
{
	struct kg_output *outs[KG_MAX_SCANOUTS], *joined;
	unsigned n = 0;

	for (; n < b->n; n++) {
		outs[n] = lease_output(loop, b->leases[n]);
		if (!outs[n])
			goto destroy;
		/* The previous process's frame is on this lease's CRTC. */
		if (adopted)
			kg_output_kms_take_leftovers(outs[n]);
	}
	if (n == 1)
		return outs[0];
	joined = kg_output_join(outs, n);
	if (joined)
		return joined;
destroy:
	while (n--)
		outs[n]->ops->destroy(outs[n]);
	return NULL;
}

struct kg_broker_outputs *kg_broker_outputs_create(struct kg_loop *loop, const char *socket,
						   const char *pipelines, struct kg_keeper *keeper,
						   struct kg_output **out)
{
	struct kg_broker_outputs *b = calloc(1, sizeof(*b));
	bool adopted, ended_old;
	int err;

	if (!b)
		return NULL;
	err = keeper ? adopt(b, keeper, pipelines) : -ENOENT;
	adopted = err == 0;
	ended_old = err == -ESTALE;
	if (adopted)
		goto leased;
	b->client = kmsgate_connect(socket, "kmsgate-vgpu");
	if (!b->client) {
		err = errno;
		kg_err("broker: cannot connect to %s: %s; is kmsgate-broker running?",
		       socket ? socket : "the default socket", strerror(err));
		goto fail;
	}
	err = -acquire_all(b, pipelines, ended_old);
	if (err)
		goto fail;
	if (keeper)
		keep(b, keeper);
leased:
	kmsgate_set_event_handler(b->client, on_event, b);
	b->src = kg_loop_add_fd(loop, kmsgate_get_fd(b->client), EPOLLIN, on_readable, b);
	*out = b->src ? make_output(b, loop, adopted) : NULL;
	if (!*out) {
		err = errno ? errno : EINVAL;
		goto fail;
	}
	b->out = *out;
	return b;

fail:
	kg_broker_outputs_destroy(b);
	errno = err;
	return NULL;
}

static void release_all(struct kg_broker_outputs *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		if (kmsgate_lease_revoked(b->leases[i]))
			kmsgate_lease_destroy(b->leases[i]);
		else
			kmsgate_release(b->client, b->leases[i]);
	}
	b->n = 0;
	kmsgate_close(b->client);
	b->client = NULL;
}

void kg_broker_outputs_destroy(struct kg_broker_outputs *b)
{
	if (!b)
		return;
	kg_loop_remove(b->src);
	release_all(b);
	free(b);
}
