/* SPDX-License-Identifier: MIT */
/*
 * kg_gpuchan: the back-end's end of the vhost-user-gpu channel, the socket
 * QEMU hands over with VHOST_USER_GPU_SET_SOCKET when the guest driver
 * becomes ready (docs/interop/vhost-user-gpu.rst).
 *
 * On it the back-end sends display requests to QEMU (scanouts, pixels,
 * dmabufs, cursor) and QEMU replies. kmsgate shows the guest on a real
 * display and sends QEMU no pixels: the channel only negotiates protocol
 * features, drains whatever QEMU sends (closing any fd), and stays open
 * until QEMU closes it. QEMU 10's front-end needs no message on it for the
 * guest to boot (hw/display/vhost-user-gpu.c only reacts to requests).
 */
#ifndef KG_GPU_CHANNEL_H
#define KG_GPU_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

struct kg_loop;
struct kg_gpuchan;

/* Takes ownership of fd on every path; asks QEMU for its protocol
 * features. NULL with errno set. */
struct kg_gpuchan *kg_gpuchan_create(struct kg_loop *loop, int fd);
/* Closes the socket. Accepts NULL. */
void kg_gpuchan_destroy(struct kg_gpuchan *ch);
/* False once QEMU closed the socket or broke the protocol. */
bool kg_gpuchan_is_open(const struct kg_gpuchan *ch);
/* QEMU's answer to GET_PROTOCOL_FEATURES; false until it came. */
bool kg_gpuchan_protocol_features(const struct kg_gpuchan *ch, uint64_t *features);

#endif
