/* SPDX-License-Identifier: MIT */
/* A scripted broker in a thread, listening on a socket in a temp directory,
 * for testing libkmsgate against real sockets. Scripts run in the thread and
 * report failure through their return value (cmocka asserts are for the
 * main thread only). */
#ifndef KG_TEST_FAKE_SERVER_H
#define KG_TEST_FAKE_SERVER_H

#include <pthread.h>

#include "kmsgate-proto.h"

/* Returns 0 when everything the client sent was as expected; -2 also means
 * success, and that the server hangs up at once instead of waiting for the
 * client to. */
typedef int (*fake_script)(int fd, void *arg);

struct fake_server {
	char dir[64];
	char path[100];
	int listen_fd;
	pthread_t thread;
	fake_script script;
	void *arg;
	int result;
};

/* Listens and accepts one client in a thread that runs script on it. */
int fake_server_start(struct fake_server *s, fake_script script, void *arg);
/* Joins the thread, removes the socket; returns the script's result. */
int fake_server_stop(struct fake_server *s);

/* Script helpers. Receive one message of the expected type (0: any);
 * returns 0 or -1. */
int fake_recv(int fd, struct kg_proto_msg *m, uint16_t type);
/* Sends m (with seq), plus pass_fd if >= 0. Returns 0 or -1. */
int fake_send(int fd, struct kg_proto_msg *m, uint32_t seq, int pass_fd);
/* Reads HELLO and answers SERVER_HELLO version 1. */
int fake_handshake(int fd);

#endif
