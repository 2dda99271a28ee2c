// SPDX-License-Identifier: MIT
/*
 * kmsgatectl: look at and use kmsgate-broker's pipelines from a shell.
 *
 *   kmsgatectl [--socket PATH] list [--json]
 *   kmsgatectl [--socket PATH] show NAME
 *   kmsgatectl [--socket PATH] revoke NAME
 *   kmsgatectl [--socket PATH] run [--wait] [--preload] [--keep-on-revoke] NAME -- CMD [ARG...]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kmsgatectl [--socket PATH] [--verbose] COMMAND\n"
		"\n"
		"Commands:\n"
		"  list [--json]        every pipeline: state, connector, mode, planes, lessee\n"
		"  show NAME            one pipeline in detail\n"
		"  revoke NAME          take a pipeline's lease away (admin)\n"
		"  run [--wait] [--preload] [--keep-on-revoke] NAME -- CMD [ARG...]\n"
		"                       acquire NAME, run CMD on it, release when CMD exits;\n"
		"                       CMD gets the lease fd in $KMSGATE_LEASE_FD (see README)\n"
		"\n"
		"Options:\n"
		"  --socket PATH        broker socket (default: $KMSGATE_SOCKET, else %s)\n"
		"  --verbose            debug messages on stderr\n"
		"  --help, --version\n",
		KMSGATE_DEFAULT_SOCKET);
}

struct kmsgate_client *ctl_connect(const struct ctl_opts *o)
{
	struct kmsgate_client *c = kmsgate_connect(o->socket, "kmsgatectl");
	const char *path = o->socket;

	if (c)
		return c;
	if (!path)
		path = getenv(KMSGATE_SOCKET_ENV);
	if (!path || !*path)
		path = KMSGATE_DEFAULT_SOCKET;
	if (errno == ENOENT || errno == ECONNREFUSED)
		kg_err("cannot connect to the broker at %s: %s (is kmsgate-broker running? "
		       "--socket or $KMSGATE_SOCKET select another one)",
		       path, strerror(errno));
	else if (errno == EACCES)
		kg_err("cannot connect to the broker at %s: %s (ask an admin for access to the "
		       "socket's group)",
		       path, strerror(errno));
	else
		kg_log_errno(KG_LOG_ERROR, "cannot talk to the broker at %s", path);
	return NULL;
}

void ctl_fail(struct kmsgate_client *c, const char *what, int err)
{
	const char *text = c ? kmsgate_last_error(c) : "";

	if (*text && err != ECONNRESET && err != EPROTO && err != ETIMEDOUT)
		kg_err("%s: %s", what, text);
	else
		kg_err("%s: %s", what, strerror(err));
}

struct command {
	const char *name;
	int (*fn)(const struct ctl_opts *o, int argc, char **argv);
};

static const struct command commands[] = {
	{ "list", ctl_list },
	{ "show", ctl_show },
	{ "revoke", ctl_revoke },
	{ "run", ctl_run },
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct ctl_opts o = { 0 };
	int opt;

	kg_log_init("kmsgatectl", KG_LOG_WARN);
	/* '+': stop at the command, whose options are its own. */
	while ((opt = getopt_long(argc, argv, "+s:vhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			o.socket = optarg;
			break;
		case 'v':
			kg_log_init("kmsgatectl", KG_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("kmsgatectl %s\n", KMSGATE_VERSION);
			return CTL_EXIT_OK;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0)
			return commands[i].fn(&o, argc - optind, argv + optind);
	}
	kg_err("unknown command '%s' (try --help)", argv[optind]);
	return CTL_EXIT_USAGE;
}
