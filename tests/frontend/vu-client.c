// SPDX-License-Identifier: MIT
#include "vu-client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vhost-user-proto.h"
#include "scm-send.h"

#define BIT(n) (1ull << (n))

int kg_fe_vu_connect(struct kg_fe_vu *vu, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(vu, 0, sizeof(*vu));
	vu->sock = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	for (int waited = 0;; waited += 50) {
		vu->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (vu->sock < 0)
			return -errno;
		if (connect(vu->sock, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		close(vu->sock);
		vu->sock = -1;
		if (waited >= timeout_ms)
			return -errno;
		nanosleep(&(struct timespec){ 0, 50 * 1000000 }, NULL);
	}
}

void kg_fe_vu_close(struct kg_fe_vu *vu)
{
	if (vu->sock >= 0)
		close(vu->sock);
	vu->sock = -1;
}

static int send_msg(struct kg_fe_vu *vu, const struct kg_vu_hdr *hdr, const void *payload,
		    const int *fds, unsigned nfds)
{
	struct kg_test_scm_buf ctrl;
	struct iovec iov[2] = { { (void *)hdr, sizeof(*hdr) }, { (void *)payload, hdr->size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = hdr->size ? 2 : 1 };
	ssize_t n;

	if (nfds > KG_VU_MAX_FDS || !kg_test_scm_attach(&mh, &ctrl, fds, nfds))
		return -EINVAL;
	n = sendmsg(vu->sock, &mh, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(*hdr) + hdr->size ? 0 : -EIO;
}

static int read_full(int fd, void *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (poll(&p, 1, 10000) <= 0)
			return -ETIMEDOUT;
		n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

static int recv_reply(struct kg_fe_vu *vu, uint32_t request, void *buf, uint32_t size)
{
	struct kg_vu_hdr hdr;
	int ret = read_full(vu->sock, &hdr, sizeof(hdr));

	if (ret < 0)
		return ret;
	if (hdr.request != request || !(hdr.flags & KG_VU_FLAG_REPLY) || hdr.size != size)
		return -EPROTO;
	return read_full(vu->sock, buf, size);
}

int kg_fe_vu_request(struct kg_fe_vu *vu, uint32_t request, const void *payload, uint32_t size,
		     const int *fds, unsigned nfds, void *reply, uint32_t reply_size)
{
	struct kg_vu_hdr hdr = { request, KG_VU_VERSION, size };
	bool ack = !reply && vu->reply_ack;
	uint64_t status = 0;
	int ret;

	if (ack)
		hdr.flags |= KG_VU_FLAG_NEED_REPLY;
	ret = send_msg(vu, &hdr, payload, fds, nfds);
	if (ret < 0)
		return ret;
	if (reply)
		return recv_reply(vu, request, reply, reply_size);
	if (!ack)
		return 0;
	ret = recv_reply(vu, request, &status, sizeof(status));
	return ret < 0 ? ret : status ? -EPROTO : 0;
}

int kg_fe_vu_negotiate(struct kg_fe_vu *vu, uint64_t want)
{
	uint64_t f, pf = 0;
	int ret;

	ret = kg_fe_vu_request(vu, KG_VU_GET_FEATURES, NULL, 0, NULL, 0, &vu->features, 8);
	if (ret < 0)
		return ret;
	if (vu->features & BIT(KG_VU_F_PROTOCOL_FEATURES)) {
		ret = kg_fe_vu_request(vu, KG_VU_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0, &pf, 8);
		if (ret < 0)
			return ret;
		pf &= BIT(KG_VU_PROTOCOL_F_REPLY_ACK) | BIT(KG_VU_PROTOCOL_F_CONFIG);
		ret = kg_fe_vu_request(vu, KG_VU_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0, NULL, 0);
		if (ret < 0)
			return ret;
		vu->protocol_features = pf;
		vu->reply_ack = pf & BIT(KG_VU_PROTOCOL_F_REPLY_ACK);
	}
	ret = kg_fe_vu_request(vu, KG_VU_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
	if (ret < 0)
		return ret;
	f = vu->features & (want | BIT(KG_VU_F_VERSION_1) | BIT(KG_VU_F_PROTOCOL_FEATURES));
	return kg_fe_vu_request(vu, KG_VU_SET_FEATURES, &f, 8, NULL, 0, NULL, 0);
}

int kg_fe_vu_set_mem(struct kg_fe_vu *vu, int memfd, uint64_t size, void *uva)
{
	struct kg_vu_memory m = { .nregions = 1 };

	m.regions[0] = (struct kg_vu_mem_region){ 0, size, (uint64_t)(uintptr_t)uva, 0 };
	/* On the wire: nregions, padding, then only the regions sent. */
	return kg_fe_vu_request(vu, KG_VU_SET_MEM_TABLE, &m, 8 + sizeof(struct kg_vu_mem_region),
				&memfd, 1, NULL, 0);
}

int kg_fe_vu_set_mem_split(struct kg_fe_vu *vu, int memfd, uint64_t size, void *uva)
{
	struct kg_vu_memory m = { .nregions = 2 };
	uint64_t half = size / 2;
	int fds[2] = { memfd, memfd };

	m.regions[0] = (struct kg_vu_mem_region){ 0, half, (uint64_t)(uintptr_t)uva, 0 };
	m.regions[1] = (struct kg_vu_mem_region){ half, size - half,
						  (uint64_t)(uintptr_t)uva + half, half };
	return kg_fe_vu_request(vu, KG_VU_SET_MEM_TABLE, &m,
				8 + 2 * sizeof(struct kg_vu_mem_region), fds, 2, NULL, 0);
}

int kg_fe_vu_get_config(struct kg_fe_vu *vu, void *buf, uint32_t len)
{
	struct kg_vu_config c = { .offset = 0, .size = len };
	int ret;

	if (len > KG_VU_MAX_CONFIG_SIZE)
		return -EINVAL;
	ret = kg_fe_vu_request(vu, KG_VU_GET_CONFIG, &c, KG_VU_CONFIG_HDR_SIZE + len, NULL, 0, &c,
			       KG_VU_CONFIG_HDR_SIZE + len);
	if (ret == 0)
		memcpy(buf, c.region, len);
	return ret;
}
