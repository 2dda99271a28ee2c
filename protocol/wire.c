// SPDX-License-Identifier: MIT
#include "wire.h"

#include <string.h>

#include "kmsgate-proto.h"

void kg_wire_init(struct kg_wire *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->pos = 0;
	w->error = 0;
}

void kg_wire_fail(struct kg_wire *w, int err)
{
	if (!w->error)
		w->error = err;
}

bool kg_wire_failed(const struct kg_wire *w)
{
	return w->error != 0;
}

int kg_wire_error(const struct kg_wire *w)
{
	return w->error;
}

size_t kg_wire_pos(const struct kg_wire *w)
{
	return w->pos;
}

size_t kg_wire_remaining(const struct kg_wire *w)
{
	return w->cap - w->pos;
}

/* Reserves n bytes; NULL (and the failure recorded) if they do not fit. */
static uint8_t *take(struct kg_wire *w, size_t n, int err)
{
	uint8_t *p;

	if (w->error)
		return NULL;
	if (n > w->cap - w->pos) {
		w->error = err;
		return NULL;
	}
	p = w->buf + w->pos;
	w->pos += n;
	return p;
}

void kg_wire_put_u16(struct kg_wire *w, uint16_t v)
{
	uint8_t *p = take(w, 2, KG_PROTO_ERR_TOO_BIG);

	if (!p)
		return;
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void store_u32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

void kg_wire_put_u32(struct kg_wire *w, uint32_t v)
{
	uint8_t *p = take(w, 4, KG_PROTO_ERR_TOO_BIG);

	if (p)
		store_u32(p, v);
}

void kg_wire_put_bytes_padded(struct kg_wire *w, const void *src, size_t len, size_t n)
{
	uint8_t *p;

	if (len > n) {
		kg_wire_fail(w, KG_PROTO_ERR_BAD_STRING);
		return;
	}
	p = take(w, n, KG_PROTO_ERR_TOO_BIG);
	if (!p)
		return;
	memcpy(p, src, len);
	memset(p + len, 0, n - len);
}

void kg_wire_patch_u32(struct kg_wire *w, size_t off, uint32_t v)
{
	if (off <= w->pos && w->pos - off >= 4)
		store_u32(w->buf + off, v);
}

uint16_t kg_wire_get_u16(struct kg_wire *r)
{
	const uint8_t *p = take(r, 2, KG_PROTO_ERR_TRUNCATED);

	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t kg_wire_get_u32(struct kg_wire *r)
{
	const uint8_t *p = take(r, 4, KG_PROTO_ERR_TRUNCATED);

	if (!p)
		return 0;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *kg_wire_get_bytes(struct kg_wire *r, size_t n)
{
	return (const char *)take(r, n, KG_PROTO_ERR_TRUNCATED);
}
