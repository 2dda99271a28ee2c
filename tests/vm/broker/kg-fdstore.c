// SPDX-License-Identifier: MIT
/*
 * kg-fdstore: an EMULATION of systemd's side of its file descriptor store,
 * for the board VM, which has no systemd (real systemd as PID 1 in the VM
 * is tracker issue 12, item 3). It does only what sd_notify(3) and
 * sd_listen_fds(3) document and the broker uses; it is not systemd:
 *
 *   - a datagram socket at NOTIFY_PATH; the service gets NOTIFY_SOCKET;
 *   - "FDSTORE=1" with "FDNAME=NAME" and fds (SCM_RIGHTS): kept, in order,
 *     at most --max of them (systemd's FileDescriptorStoreMax=, default 0
 *     there: fds beyond it are closed, as systemd does);
 *     "FDSTOREREMOVE=1" with "FDNAME=NAME": every fd of that name closed;
 *   - a (re)started service gets the kept fds from fd 3 on, with
 *     LISTEN_FDS, LISTEN_FDNAMES (names joined by ':') and LISTEN_PID.
 *
 *   kg-fdstore [--max N] [--restart] NOTIFY_PATH CMD [ARGS...]
 * starts CMD and reads commands from stdin, one per line:
 *   kill9   SIGKILL the service and reap it   -> "FDSTORE KILLED signal=9"
 *   start   start it again with the kept fds  -> "FDSTORE STARTED pid=P fds=N names=A:B"
 *   stop    SIGTERM, reap                     -> "FDSTORE EXITED status=S"
 *   quit    stop if running, close the store, exit 0
 * and prints "FDSTORE STORED NAME", "FDSTORE DROPPED NAME (max N)",
 * "FDSTORE REMOVED NAME n=K", "FDSTORE READY pid=P", "FDSTORE STOPPING".
 * With --restart (systemd's Restart=always, RestartSec=0) a service that
 * dies without being told to (someone else's kill -9, a crash) is reaped
 * ("FDSTORE DIED signal=S" or "FDSTORE DIED status=S") and started again at
 * once with the kept fds, as on "start".
 * The service's own stdout/stderr are this program's.
 *
 * Test code: errors go to stderr with what failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_STORED 64

struct stored {
	int fd;
	char name[256];
};

static struct stored store[MAX_STORED];
static int n_stored, max_stored = MAX_STORED;
static pid_t service = -1;
/* --restart: a pidfd of the service (readable once it has exited), else -1. */
static int service_pidfd = -1;
static bool restart;

static void keep(int fd, const char *name)
{
	if (n_stored >= max_stored) {
		printf("FDSTORE DROPPED %s (max %d)\n", name, max_stored);
		close(fd);
		return;
	}
	store[n_stored].fd = fd;
	snprintf(store[n_stored].name, sizeof(store[n_stored].name), "%s", name);
	n_stored++;
	printf("FDSTORE STORED %s\n", name);
}

static void remove_name(const char *name)
{
	int k = 0, j = 0;

	for (int i = 0; i < n_stored; i++) {
		if (strcmp(store[i].name, name) == 0) {
			close(store[i].fd);
			k++;
		} else {
			store[j++] = store[i];
		}
	}
	n_stored = j;
	printf("FDSTORE REMOVED %s n=%d\n", name, k);
}

/* The value of KEY= on its own line of msg, or NULL. */
static const char *field(const char *msg, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);

	for (const char *l = msg; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, kl) == 0) {
			size_t vl = strcspn(l + kl, "\n");

			snprintf(out, len, "%.*s", (int)(vl < len ? vl : len - 1), l + kl);
			return out;
		}
	}
	return NULL;
}

static void on_notify(int sock)
{
	char msg[4096], ctl[CMSG_SPACE(sizeof(int) * MAX_STORED)], name[256], v[16];
	struct iovec iov = { msg, sizeof(msg) - 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};
	int fds[MAX_STORED], n_fds = 0;
	ssize_t len = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	bool fdstore;

	if (len < 0)
		return;
	msg[len] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			n_fds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)n_fds);
		}
	}
	fdstore = field(msg, "FDSTORE=", v, sizeof(v)) && strcmp(v, "1") == 0;
	if (!field(msg, "FDNAME=", name, sizeof(name)))
		snprintf(name, sizeof(name), "stored"); /* systemd's default name */
	for (int i = 0; i < n_fds; i++) {
		if (fdstore)
			keep(fds[i], name);
		else
			close(fds[i]); /* fds without FDSTORE=1: systemd closes them too */
	}
	if (field(msg, "FDSTOREREMOVE=", v, sizeof(v)) && strcmp(v, "1") == 0)
		remove_name(name);
	if (field(msg, "READY=", v, sizeof(v)) && strcmp(v, "1") == 0)
		printf("FDSTORE READY pid=%d\n", service);
	if (field(msg, "STOPPING=", v, sizeof(v)) && strcmp(v, "1") == 0)
		printf("FDSTORE STOPPING\n");
}

/* In the child: the kept fds at 3.., without FD_CLOEXEC, and LISTEN_*. */
static void exec_service(const char *notify, char **argv)
{
	char names[MAX_STORED * 257] = "", num[32];
	int high[MAX_STORED];

	/* Above every target first, so that no dup2 overwrites a source. */
	for (int i = 0; i < n_stored; i++) {
		high[i] = fcntl(store[i].fd, F_DUPFD, 3 + MAX_STORED + 16);
		if (high[i] < 0)
			_exit(127);
	}
	for (int i = 0; i < n_stored; i++) {
		if (dup2(high[i], 3 + i) < 0)
			_exit(127);
		close(high[i]);
		strcat(names, i ? ":" : "");
		strcat(names, store[i].name);
	}
	setenv("NOTIFY_SOCKET", notify, 1);
	if (n_stored) {
		snprintf(num, sizeof(num), "%d", n_stored);
		setenv("LISTEN_FDS", num, 1);
		setenv("LISTEN_FDNAMES", names, 1);
		snprintf(num, sizeof(num), "%d", getpid());
		setenv("LISTEN_PID", num, 1);
	} else {
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		unsetenv("LISTEN_PID");
	}
	execvp(argv[0], argv);
	fprintf(stderr, "kg-fdstore: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void start(const char *notify, char **argv)
{
	char names[MAX_STORED * 257] = "";

	for (int i = 0; i < n_stored; i++) {
		strcat(names, i ? ":" : "");
		strcat(names, store[i].name);
	}
	fflush(stdout);
	service = fork();
	if (service == 0)
		exec_service(notify, argv);
	if (restart) {
		service_pidfd = (int)syscall(SYS_pidfd_open, service, 0);
		if (service_pidfd < 0)
			fprintf(stderr, "kg-fdstore: pidfd_open: %s\n", strerror(errno));
	}
	printf("FDSTORE STARTED pid=%d fds=%d names=%s\n", service, n_stored, names);
}

static void reap(const char *what)
{
	int st;

	if (service_pidfd >= 0)
		close(service_pidfd);
	service_pidfd = -1;
	if (service < 0 || waitpid(service, &st, 0) < 0)
		return;
	if (WIFSIGNALED(st))
		printf("FDSTORE %s signal=%d\n", what, WTERMSIG(st));
	else
		printf("FDSTORE %s status=%d\n", what, WEXITSTATUS(st));
	service = -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int i = 1, sock;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Commands are read with fgets() when poll() says stdin is readable:
	 * a buffered stdin would take "kill9\nstart\n" written at once into
	 * its buffer, and "start" would wait there, unseen by poll(). */
	setvbuf(stdin, NULL, _IONBF, 0);
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--max") == 0)
			max_stored = atoi(argv[++i]);
		else if (strcmp(argv[i], "--restart") == 0)
			restart = true;
		else
			break;
	}
	if (argc - i < 2 || strlen(argv[i]) >= sizeof(a.sun_path)) {
		fprintf(stderr,
			"usage: kg-fdstore [--max N] [--restart] NOTIFY_PATH CMD [ARGS...]\n");
		return 2;
	}
	strcpy(a.sun_path, argv[i]);
	unlink(a.sun_path);
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || bind(sock, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "kg-fdstore: cannot bind %s: %s\n", a.sun_path, strerror(errno));
		return 1;
	}
	start(argv[i], argv + i + 1);
	for (;;) {
		struct pollfd p[3] = { { sock, POLLIN, 0 },
				       { 0, POLLIN, 0 },
				       { service_pidfd, POLLIN, 0 } };
		char line[64];

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents)
			on_notify(sock);
		if (p[2].revents) {
			/* What it sent before it died (a last FDSTORE=1) comes first. */
			while (poll(p, 1, 0) > 0)
				on_notify(sock);
			reap("DIED");
			start(argv[i], argv + i + 1);
		}
		if (!p[1].revents)
			continue;
		if (!fgets(line, sizeof(line), stdin) || strncmp(line, "quit", 4) == 0)
			break;
		if (strncmp(line, "kill9", 5) == 0 && service > 0) {
			kill(service, SIGKILL);
			reap("KILLED");
		} else if (strncmp(line, "stop", 4) == 0 && service > 0) {
			int st = 0;

			kill(service, SIGTERM);
			/* What it says while stopping (FDSTOREREMOVE) comes first. */
			while (waitpid(service, &st, WNOHANG) == 0) {
				struct pollfd q = { sock, POLLIN, 0 };

				if (poll(&q, 1, 50) > 0)
					on_notify(sock);
			}
			while (poll(p, 1, 0) > 0)
				on_notify(sock);
			printf("FDSTORE EXITED status=%d\n",
			       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			service = -1;
			if (service_pidfd >= 0)
				close(service_pidfd);
			service_pidfd = -1;
		} else if (strncmp(line, "start", 5) == 0 && service < 0) {
			start(argv[i], argv + i + 1);
		}
	}
	if (service > 0) {
		kill(service, SIGTERM);
		reap("EXITED");
	}
	for (int k = 0; k < n_stored; k++)
		close(store[k].fd);
	unlink(a.sun_path);
	return 0;
}
