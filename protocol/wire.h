/* SPDX-License-Identifier: MIT */
/*
 * kg_wire: a bounded little-endian cursor over a byte buffer, the only code
 * that touches wire bytes. The first failure sticks: later puts and gets do
 * nothing (gets return 0), so a codec checks once at the end.
 */
#ifndef KG_WIRE_H
#define KG_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kg_wire {
	uint8_t *buf;
	size_t cap;
	size_t pos;
	int error; /* first KG_PROTO_ERR_*, 0 while fine */
};

void kg_wire_init(struct kg_wire *w, void *buf, size_t cap);
/* Records err unless an earlier failure is already recorded. */
void kg_wire_fail(struct kg_wire *w, int err);
bool kg_wire_failed(const struct kg_wire *w);
int kg_wire_error(const struct kg_wire *w);
size_t kg_wire_pos(const struct kg_wire *w);
size_t kg_wire_remaining(const struct kg_wire *w);

/* Writing past cap fails with KG_PROTO_ERR_TOO_BIG. */
void kg_wire_put_u16(struct kg_wire *w, uint16_t v);
void kg_wire_put_u32(struct kg_wire *w, uint32_t v);
/* Writes len bytes of src and zeroes up to n (len <= n). */
void kg_wire_put_bytes_padded(struct kg_wire *w, const void *src, size_t len, size_t n);
/* Overwrites an already written u32 at offset off. */
void kg_wire_patch_u32(struct kg_wire *w, size_t off, uint32_t v);

/* Reading past cap fails with KG_PROTO_ERR_TRUNCATED. */
uint16_t kg_wire_get_u16(struct kg_wire *r);
uint32_t kg_wire_get_u32(struct kg_wire *r);
/* Returns a pointer to the next n bytes and skips them, or NULL. */
const char *kg_wire_get_bytes(struct kg_wire *r, size_t n);

#endif
