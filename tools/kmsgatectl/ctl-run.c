// SPDX-License-Identifier: MIT
/*
 * kmsgatectl run: acquire a pipeline, run a program on it with the lease fd
 * inherited, release when the program exits and exit with its status.
 *
 * kmsgatectl stays the lessee for the broker (its connection holds the
 * lease); the program only holds a dup of the lease fd. So the lease ends
 * when either of them ends: the program exiting makes kmsgatectl release,
 * and kmsgatectl dying closes the connection, which revokes the lease.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"

struct run {
	struct kmsgate_client *client;
	struct kmsgate_lease *lease;
	bool keep_on_revoke; /* do not SIGTERM the program when revoked */
	bool revoked;
	pid_t child;
};

static void setenv_u32(const char *name, uint32_t v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", v);
	setenv(name, buf, 1);
}

/* The documented environment of the program (tools/kmsgatectl/README.md). */
static void export_lease(const struct kmsgate_lease *l, int fd)
{
	char ids[KMSGATE_NAME_LEN * 12] = "", overlays[sizeof(ids)] = "";
	struct kmsgate_mode m;

	setenv_u32("KMSGATE_LEASE_FD", (uint32_t)fd);
	setenv("KMSGATE_PIPELINE", kmsgate_lease_name(l), 1);
	setenv_u32("KMSGATE_LESSEE_ID", kmsgate_lease_lessee_id(l));
	setenv_u32("KMSGATE_CONNECTOR_ID", kmsgate_lease_connector_id(l));
	setenv_u32("KMSGATE_CRTC_ID", kmsgate_lease_crtc_id(l));
	setenv_u32("KMSGATE_PLANE_ID", kmsgate_lease_plane_id(l, KMSGATE_PLANE_PRIMARY));
	setenv_u32("KMSGATE_CURSOR_PLANE_ID", kmsgate_lease_plane_id(l, KMSGATE_PLANE_CURSOR));
	for (size_t i = 0; i < kmsgate_lease_plane_count(l); i++) {
		const struct kmsgate_plane *p = kmsgate_lease_plane(l, i);
		char one[16];

		snprintf(one, sizeof(one), "%s%u", *ids ? "," : "", p->id);
		strcat(ids, one);
		if (p->type == KMSGATE_PLANE_OVERLAY) {
			snprintf(one, sizeof(one), "%s%u", *overlays ? "," : "", p->id);
			strcat(overlays, one);
		}
	}
	setenv("KMSGATE_PLANE_IDS", ids, 1);
	setenv("KMSGATE_OVERLAY_PLANE_IDS", overlays, 1);
	if (kmsgate_lease_mode(l, &m) == 0) {
		char mode[48];

		snprintf(mode, sizeof(mode), "%ux%u@%u", m.hdisplay, m.vdisplay, m.vrefresh);
		setenv("KMSGATE_MODE", mode, 1);
		setenv("KMSGATE_MODE_NAME", m.name, 1);
	} else {
		unsetenv("KMSGATE_MODE");
		unsetenv("KMSGATE_MODE_NAME");
	}
}

/* Where libkmsgate-preload.so is: $KMSGATE_PRELOAD, next to this program
 * (build tree), or the install directory. */
static int find_preload(char *path, size_t n)
{
	const char *env = getenv("KMSGATE_PRELOAD");
	char self[PATH_MAX - 32]; /* room for the file name in path */
	ssize_t len;

	if (env && *env) {
		snprintf(path, n, "%s", env);
		return access(path, R_OK) == 0 ? 0 : -errno;
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len > 0) {
		char *slash;

		self[len] = 0;
		slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			snprintf(path, n, "%s/libkmsgate-preload.so", self);
			if (access(path, R_OK) == 0)
				return 0;
		}
	}
	snprintf(path, n, "%s/libkmsgate-preload.so", KG_PRELOAD_DIR);
	return access(path, R_OK) == 0 ? 0 : -errno;
}

static int add_preload(void)
{
	char path[PATH_MAX + 32], *value;
	const char *old = getenv("LD_PRELOAD");
	int r = find_preload(path, sizeof(path));

	if (r < 0) {
		kg_err("run --preload: %s: %s (set KMSGATE_PRELOAD to the shim's path)", path,
		       strerror(-r));
		return r;
	}
	if (asprintf(&value, "%s%s%s", path, old && *old ? ":" : "", old ? old : "") < 0)
		return -ENOMEM;
	setenv("LD_PRELOAD", value, 1);
	free(value);
	return 0;
}

static pid_t spawn(char **cmd, const sigset_t *old_mask)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	sigprocmask(SIG_SETMASK, old_mask, NULL);
	execvp(cmd[0], cmd);
	kg_log_errno(KG_LOG_ERROR, "run: cannot execute '%s'", cmd[0]);
	_exit(errno == ENOENT ? CTL_EXIT_NOTFOUND : CTL_EXIT_NOEXEC);
}

static void on_event(const struct kmsgate_event *ev, void *data)
{
	struct run *run = data;

	if (ev->type != KMSGATE_EVENT_REVOKED || ev->lease != run->lease)
		return;
	run->revoked = true;
	kg_warn("run: the broker revoked the lease of %s (reason %u)%s", ev->pipeline, ev->reason,
		run->keep_on_revoke ? "" : ": stopping the program");
	if (!run->keep_on_revoke)
		kill(run->child, SIGTERM);
}

static void on_broker(struct run *run)
{
	int r = kmsgate_dispatch(run->client);

	if (r >= 0 || run->revoked)
		return;
	/* Connection gone: the broker revoked everything of ours. */
	run->revoked = true;
	kg_warn("run: lost the broker connection (%s)%s", strerror(-r),
		run->keep_on_revoke ? "" : ": stopping the program");
	if (!run->keep_on_revoke)
		kill(run->child, SIGTERM);
}

/* Waits for the program, forwarding signals and watching the broker.
 * Returns its wait status or -errno. */
static int supervise(struct run *run, int sigfd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, run->child, 0);
	int status = -1;

	if (pidfd < 0)
		return -errno;
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
			{ .fd = run->revoked ? -1 : kmsgate_get_fd(run->client), .events = POLLIN },
		};
		if (poll(pfd, 3, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si))
				kill(run->child, (int)si.ssi_signo);
		}
		if (pfd[2].revents)
			on_broker(run);
		if ((pfd[0].revents & POLLIN) &&
		    waitpid(run->child, &status, WNOHANG) == run->child)
			break;
	}
	close(pidfd);
	return status;
}

static int exit_status(int status)
{
	if (status < 0)
		return CTL_EXIT_FAIL;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return CTL_EXIT_FAIL;
}

static int parse(int argc, char **argv, uint32_t *flags, bool *preload, bool *keep)
{
	static const struct option longopts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "preload", no_argument, NULL, 'p' },
		{ "keep-on-revoke", no_argument, NULL, 'k' },
		{ 0 },
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+wpk", longopts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			*flags |= KMSGATE_ACQUIRE_WAIT;
			break;
		case 'p':
			*preload = true;
			break;
		case 'k':
			*keep = true;
			break;
		default:
			return -1;
		}
	}
	/* NAME [--] CMD... */
	if (optind >= argc)
		return -1;
	if (optind + 1 < argc && strcmp(argv[optind + 1], "--") == 0)
		return optind + 2 < argc ? optind : -1;
	return optind + 1 < argc ? optind : -1;
}

/* Runs the program with the lease; returns the exit status. */
static int run_program(struct run *run, char **cmd)
{
	sigset_t mask, old;
	int sigfd, status, fd;

	/* The program's copy: inheritable, above stdio. */
	fd = fcntl(kmsgate_lease_fd(run->lease), F_DUPFD, 3);
	if (fd < 0) {
		kg_log_errno(KG_LOG_ERROR, "run: dup of the lease fd");
		return CTL_EXIT_FAIL;
	}
	export_lease(run->lease, fd);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	run->child = sigfd < 0 ? -1 : spawn(cmd, &old);
	close(fd);
	if (run->child < 0) {
		kg_log_errno(KG_LOG_ERROR, "run: cannot start '%s'", cmd[0]);
		status = -1;
	} else {
		status = supervise(run, sigfd);
	}
	if (sigfd >= 0)
		close(sigfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return exit_status(status);
}

int ctl_run(const struct ctl_opts *o, int argc, char **argv)
{
	struct run run = { 0 };
	uint32_t flags = 0;
	bool preload = false;
	int name_idx, cmd_idx, status, r;

	name_idx = parse(argc, argv, &flags, &preload, &run.keep_on_revoke);
	if (name_idx < 0) {
		kg_err("run: usage: run [--wait] [--preload] [--keep-on-revoke] NAME -- CMD [ARG...]");
		return CTL_EXIT_USAGE;
	}
	cmd_idx = strcmp(argv[name_idx + 1], "--") == 0 ? name_idx + 2 : name_idx + 1;
	if (preload && add_preload() < 0)
		return CTL_EXIT_FAIL;
	run.client = ctl_connect(o);
	if (!run.client)
		return CTL_EXIT_FAIL;
	if (flags & KMSGATE_ACQUIRE_WAIT)
		kg_info("run: waiting for %s to be free", argv[name_idx]);
	run.lease = kmsgate_acquire(run.client, argv[name_idx], flags);
	if (!run.lease) {
		ctl_fail(run.client, argv[name_idx], errno);
		kmsgate_close(run.client);
		return CTL_EXIT_FAIL;
	}
	kg_dbg("run: leased %s (connector %u, crtc %u)", argv[name_idx],
	       kmsgate_lease_connector_id(run.lease), kmsgate_lease_crtc_id(run.lease));
	kmsgate_set_event_handler(run.client, on_event, &run);
	status = run_program(&run, argv + cmd_idx);
	if (run.revoked) {
		kmsgate_lease_destroy(run.lease);
	} else {
		r = kmsgate_release(run.client, run.lease);
		if (r < 0)
			ctl_fail(run.client, "release", -r);
	}
	kmsgate_close(run.client);
	return status;
}
