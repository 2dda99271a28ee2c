// SPDX-License-Identifier: MIT
/*
 * Sending to one client: a message, or an error. Below both the server
 * (connections) and the requests (handlers), which both send; a client that
 * cannot take a message is marked dead and reaped by the server.
 */
#include "server-private.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

int kg_client_send(struct client *c, const struct kg_proto_msg *msg, int fd)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];
	ssize_t len;
	int ret;

	if (c->dead)
		return -EPIPE;
	len = kg_proto_encode(msg, buf, sizeof(buf));
	if (len < 0) {
		/* Our own message does not encode: a broker bug, not the
		 * client's fault; say so in the log. */
		kg_err("cannot encode %s for client %d: %s", kg_proto_type_name(msg->type),
		       c->cred.pid, kg_proto_err_name((uint32_t)-len));
		return -EINVAL;
	}
	ret = kg_proto_send(c->fd, buf, (size_t)len, fd);
	if (ret < 0) {
		if (ret == -EAGAIN)
			kg_warn("client pid %d does not read its messages; disconnecting it",
				c->cred.pid);
		else
			kg_dbg("client pid %d: send failed: %s", c->cred.pid, strerror(-ret));
		c->dead = true;
	}
	return ret;
}

int kg_client_send_error(struct client *c, uint32_t seq, uint16_t req, uint32_t code,
			 const char *fmt, ...)
{
	struct kg_proto_msg msg;
	va_list ap;

	va_start(ap, fmt);
	kg_proto_error_vfill(&msg, seq, req, code, fmt, ap);
	va_end(ap);
	kg_dbg("client pid %d: %s: %s", c->cred.pid, kg_proto_err_name(code), msg.u.error.text);
	return kg_client_send(c, &msg, -1);
}
