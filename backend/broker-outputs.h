/* SPDX-License-Identifier: MIT */
/*
 * kg_broker_outputs: kmsgate-vgpu's leases from kmsgate-broker (libkmsgate).
 * Acquires each named pipeline, builds one KMS output per lease (a lease
 * is its own DRM fd) and joins them, scanout i = pipeline i. Follows the
 * broker's events: hotplug → the output's changed callback; revocation is
 * logged (frames on that scanout then fail and complete unshown).
 * With a keeper (systemd's fd store), the connection and the lease fds are
 * kept, and a restarted process takes them over: the broker never sees
 * kmsgate-vgpu go, and the frame on each head stays until the next flip.
 */
#ifndef KG_BROKER_OUTPUTS_H
#define KG_BROKER_OUTPUTS_H

struct kg_keeper;
struct kg_loop;
struct kg_output;
struct kg_broker_outputs;

/* keeper NULL: nothing is kept. socket NULL: libkmsgate's default ($KMSGATE_SOCKET, else
 * /run/kmsgate/broker.sock). pipelines: "NAME[,NAME...]". On success *out
 * is the output (owned by the caller, to be destroyed before the broker
 * connection). NULL with errno set and a log line naming what failed. */
struct kg_broker_outputs *kg_broker_outputs_create(struct kg_loop *loop, const char *socket,
						   const char *pipelines, struct kg_keeper *keeper,
						   struct kg_output **out);
/* Releases the leases and disconnects. Destroy the output first. Accepts NULL. */
void kg_broker_outputs_destroy(struct kg_broker_outputs *b);

#endif
