// SPDX-License-Identifier: MIT
#include "gpu-channel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "scm-fds.h"
#include "vhost-user-proto.h"

/* Features kmsgate uses on the channel: none (no EDID or dmabuf from QEMU). */
#define GPUCHAN_OUR_FEATURES 0ull

struct kg_gpuchan {
	struct kg_loop *loop;
	int fd;
	struct kg_source *src;
	bool features_known;
	uint64_t features;
	/* Receive state: header, then the payload (what fits is kept, the
	 * rest of a long one is read and dropped). */
	struct kg_vugpu_hdr hdr;
	size_t hdr_got;
	uint32_t payload_got;
	uint8_t payload[sizeof(uint64_t)];
};

static void close_channel(struct kg_gpuchan *ch)
{
	kg_loop_remove(ch->src);
	ch->src = NULL;
	if (ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
}

static int send_msg(struct kg_gpuchan *ch, uint32_t request, const void *payload, uint32_t size)
{
	uint8_t buf[sizeof(struct kg_vugpu_hdr) + sizeof(uint64_t)];
	struct kg_vugpu_hdr hdr = { .request = request, .size = size };
	ssize_t n;

	if (size > sizeof(uint64_t))
		return -EINVAL;
	memcpy(buf, &hdr, sizeof(hdr));
	if (size)
		memcpy(buf + sizeof(hdr), payload, size);
	/* Tiny messages into an idle socket: a short write means QEMU stopped
	 * reading, and the channel is of no use any more. */
	n = send(ch->fd, buf, sizeof(hdr) + size, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)(sizeof(hdr) + size))
		return n < 0 ? -errno : -EIO;
	return 0;
}

static void handle_reply(struct kg_gpuchan *ch)
{
	uint64_t features = 0;

	if (ch->hdr.request != KG_VUGPU_GET_PROTOCOL_FEATURES) {
		kg_dbg("vhost-user-gpu channel: ignoring message %u (%u bytes) from QEMU",
		       ch->hdr.request, ch->hdr.size);
		return;
	}
	if (ch->hdr.size != sizeof(uint64_t)) {
		kg_warn("vhost-user-gpu channel: protocol features reply of %u bytes ignored",
			ch->hdr.size);
		return;
	}
	memcpy(&features, ch->payload, sizeof(features));
	ch->features = features;
	ch->features_known = true;
	features &= GPUCHAN_OUR_FEATURES;
	kg_dbg("vhost-user-gpu channel: QEMU offers protocol features 0x%llx",
	       (unsigned long long)ch->features);
	if (send_msg(ch, KG_VUGPU_SET_PROTOCOL_FEATURES, &features, sizeof(features)) < 0)
		kg_warn("vhost-user-gpu channel: cannot send SET_PROTOCOL_FEATURES");
}

/* Reads once into the header or the payload. Returns bytes read, 0 at
 * EOF, -errno. */
static ssize_t read_some(struct kg_gpuchan *ch)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * KG_VU_MAX_FDS)];
		struct cmsghdr align;
	} ctrl;
	uint8_t sink[256];
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (ch->hdr_got < sizeof(ch->hdr)) {
		iov.iov_base = (uint8_t *)&ch->hdr + ch->hdr_got;
		iov.iov_len = sizeof(ch->hdr) - ch->hdr_got;
	} else if (ch->payload_got < sizeof(ch->payload)) {
		iov.iov_base = ch->payload + ch->payload_got;
		iov.iov_len = sizeof(ch->payload) - ch->payload_got;
	} else {
		iov.iov_base = sink;
		iov.iov_len = sizeof(sink);
	}
	if (ch->hdr_got == sizeof(ch->hdr) && iov.iov_len > ch->hdr.size - ch->payload_got)
		iov.iov_len = ch->hdr.size - ch->payload_got;
	mh.msg_control = ctrl.buf;
	mh.msg_controllen = sizeof(ctrl.buf);
	n = recvmsg(ch->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	/* kmsgate asks QEMU for no fd: whatever comes is closed. */
	kg_scm_take_fds(&mh, NULL, &(unsigned){ 0 }, 0);
	return n;
}

/* Reads per wakeup, for the reason of vhost-user.c's VU_MSGS_PER_WAKEUP
 * (and a reply with a 4 GiB payload is read into the sink in many reads);
 * the level-triggered fd brings us back for the rest. */
#define GPUCHAN_READS_PER_WAKEUP 64

/* Returns false when the channel must close. */
static bool receive(struct kg_gpuchan *ch)
{
	for (unsigned reads = 0; reads < GPUCHAN_READS_PER_WAKEUP; reads++) {
		ssize_t n = read_some(ch);

		if (n == -EAGAIN || n == -EINTR)
			return true;
		if (n <= 0)
			return false;
		if (ch->hdr_got < sizeof(ch->hdr)) {
			ch->hdr_got += (size_t)n;
			ch->payload_got = 0;
		} else {
			ch->payload_got += (uint32_t)n;
		}
		if (ch->hdr_got == sizeof(ch->hdr) && ch->payload_got == ch->hdr.size) {
			handle_reply(ch);
			ch->hdr_got = 0;
			ch->payload_got = 0;
		}
	}
	return true;
}

static void on_readable(void *data, int fd, uint32_t events)
{
	struct kg_gpuchan *ch = data;

	if (receive(ch) && !(events & (EPOLLHUP | EPOLLERR)))
		return;
	kg_info("vhost-user-gpu channel closed by QEMU");
	close_channel(ch);
}

struct kg_gpuchan *kg_gpuchan_create(struct kg_loop *loop, int fd)
{
	struct kg_gpuchan *ch = calloc(1, sizeof(*ch));
	int err;

	if (!ch) {
		err = errno;
		goto close_fd;
	}
	ch->loop = loop;
	ch->fd = fd;
	ch->src = kg_loop_add_fd(loop, fd, EPOLLIN, on_readable, ch);
	if (!ch->src) {
		err = errno;
		goto free_ch;
	}
	err = -send_msg(ch, KG_VUGPU_GET_PROTOCOL_FEATURES, NULL, 0);
	if (err) {
		kg_warn("vhost-user-gpu channel: cannot ask QEMU for protocol features: %s",
			strerror(err));
		goto remove_src;
	}
	return ch;

remove_src:
	kg_loop_remove(ch->src);
free_ch:
	free(ch);
close_fd:
	close(fd);
	errno = err;
	return NULL;
}

void kg_gpuchan_destroy(struct kg_gpuchan *ch)
{
	if (!ch)
		return;
	close_channel(ch);
	free(ch);
}

bool kg_gpuchan_is_open(const struct kg_gpuchan *ch)
{
	return ch && ch->fd >= 0;
}

bool kg_gpuchan_protocol_features(const struct kg_gpuchan *ch, uint64_t *features)
{
	if (!ch || !ch->features_known)
		return false;
	*features = ch->features;
	return true;
}
