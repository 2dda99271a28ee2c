/* SPDX-License-Identifier: MIT */
/* kmsgatectl's subcommands; each returns the process exit status. */
#ifndef KG_CTL_H
#define KG_CTL_H

#include "kmsgate.h"

/* Exit statuses besides the command's own (run propagates the program's). */
#define CTL_EXIT_OK	  0
#define CTL_EXIT_FAIL	  1   /* the broker refused or failed */
#define CTL_EXIT_USAGE	  2   /* bad command line */
#define CTL_EXIT_NOEXEC	  126 /* run: the program could not be executed */
#define CTL_EXIT_NOTFOUND 127 /* run: the program was not found */

struct ctl_opts {
	const char *socket; /* NULL: $KMSGATE_SOCKET or the default */
};

/* Connects or prints why not (naming the socket and what to check). */
struct kmsgate_client *ctl_connect(const struct ctl_opts *o);
/* Prints "kmsgatectl: <what>: <broker's text or strerror>". */
void ctl_fail(struct kmsgate_client *c, const char *what, int err);

int ctl_list(const struct ctl_opts *o, int argc, char **argv);
int ctl_show(const struct ctl_opts *o, int argc, char **argv);
int ctl_revoke(const struct ctl_opts *o, int argc, char **argv);
int ctl_run(const struct ctl_opts *o, int argc, char **argv);

#endif
