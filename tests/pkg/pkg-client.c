// SPDX-License-Identifier: MIT
/*
 * pkg-client: a libkmsgate client built only from what libkmsgate-dev
 * installs (kmsgate.h, kmsgate.pc, libkmsgate.so) and run against the
 * installed libkmsgate.so.0: lists the pipelines, acquires the one named on
 * the command line and releases it. Prints "PKG_CLIENT_OK NAME FD" at the
 * end; exits 1 naming the call that failed.
 */
#include <errno.h>
#include <kmsgate.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct kmsgate_client *c;
	struct kmsgate_list *list;
	struct kmsgate_lease *lease;
	int fd, ret;

	if (argc != 2) {
		fprintf(stderr, "usage: pkg-client PIPELINE\n");
		return 2;
	}
	c = kmsgate_connect(NULL, "pkg-client");
	if (!c) {
		fprintf(stderr, "pkg-client: kmsgate_connect: %s\n", strerror(errno));
		return 1;
	}
	ret = kmsgate_list(c, &list);
	if (ret < 0) {
		fprintf(stderr, "pkg-client: kmsgate_list: %s\n", strerror(-ret));
		return 1;
	}
	for (size_t i = 0; i < kmsgate_list_count(list); i++)
		printf("pkg-client: pipeline %s\n",
		       kmsgate_pipeline_name(kmsgate_list_get(list, i)));
	kmsgate_list_free(list);
	lease = kmsgate_acquire(c, argv[1], 0);
	if (!lease) {
		fprintf(stderr, "pkg-client: kmsgate_acquire %s: %s (%s)\n", argv[1],
			strerror(errno), kmsgate_last_error(c));
		return 1;
	}
	fd = kmsgate_lease_fd(lease);
	ret = kmsgate_release(c, lease);
	if (ret < 0) {
		fprintf(stderr, "pkg-client: kmsgate_release: %s\n", strerror(-ret));
		return 1;
	}
	printf("PKG_CLIENT_OK %s %d\n", argv[1], fd);
	kmsgate_close(c);
	return 0;
}
