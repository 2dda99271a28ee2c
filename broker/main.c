// SPDX-License-Identifier: MIT
/*
 * kmsgate-broker: holds the DRM master of one display device and leases its
 * pipelines (connector + CRTC + planes) to clients over a UNIX socket.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "config.h" /* the build's: HAVE_SYSTEMD */
#include "conffile.h"
#include "device.h"
#include "fdstore.h"
#include "hotplug.h"
#include "kmsgate.h"
#include "log.h"
#include "loop.h"
#include "plan.h"
#include "server.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

struct options {
	const char *device;
	const char *driver;
	const char *config;
	const char *runtime_dir;
	bool check;
};

struct broker {
	struct kg_loop *loop;
	struct kg_config *cfg;
	struct kg_device *dev;
	struct kg_plan *plan;
	struct kg_server *srv;
	struct kg_hotplug *hp;
	struct kg_fdstore *store;
	int sig_fd;
	int lock_fd;
	struct kg_source *sig_src;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: kmsgate-broker [options]\n"
		     "\n"
		     "Holds the DRM master of a display device and leases its pipelines\n"
		     "(connector + CRTC + planes) to clients over a UNIX socket.\n"
		     "\n"
		     "  --device PATH       DRM card to use (e.g. /dev/dri/card0)\n"
		     "  --driver NAME       use the first card of this kernel driver\n"
		     "                      (default: rcar-du, else the first KMS card)\n"
		     "  --config FILE       pipelines and access (INI; see kmsgate.conf.example);\n"
		     "                      without it: one pipeline per connector, root only\n"
		     "  --runtime-dir DIR   where broker.sock and broker.lock live\n"
		     "                      (default " KMSGATE_RUNTIME_DIR ")\n"
		     "  --log-level LEVEL   error, warn, info (default) or debug\n"
		     "  --check             print the pipelines the config gives on this device\n"
		     "                      and exit (1 if the config does not fit it)\n"
		     "  --help              this text\n"
		     "\n"
		     "Signals: SIGTERM/SIGINT revoke every lease and exit; SIGHUP re-probes\n"
		     "connectors. Under systemd: socket activation, READY=1 notification, and\n"
		     "the DRM master fd, lease table and client connections in the fd store\n"
		     "(FileDescriptorStoreMax=), so leases and clients survive a restart of the\n"
		     "broker.\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "driver", required_argument, NULL, 'D' },
		{ "config", required_argument, NULL, 'c' },
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, level;

	o->runtime_dir = KMSGATE_RUNTIME_DIR;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			o->device = optarg;
			break;
		case 'D':
			o->driver = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'r':
			o->runtime_dir = optarg;
			break;
		case 'C':
			o->check = true;
			break;
		case 'l':
			level = kg_log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr, "kmsgate-broker: unknown log level '%s'\n", optarg);
				return 2;
			}
			kg_log_init("kmsgate-broker", (enum kg_log_level)level);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kmsgate-broker: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return 0;
}

static void log_plan(const struct kg_device *dev, const struct kg_plan *plan, bool to_stdout)
{
	const struct kg_desc *desc = kg_device_desc(dev);

	for (size_t i = 0; i < plan->n_pipelines; i++) {
		const struct kg_plan_pipeline *p = &plan->pipelines[i];
		char planes[200];
		size_t off = 0;

		planes[0] = '\0';
		for (size_t j = 0; j < p->n_planes && off < sizeof(planes); j++)
			off += (size_t)snprintf(planes + off, sizeof(planes) - off, "%s%u",
						j ? "," : "", p->plane_ids[j]);
		if (to_stdout)
			printf("%s connector=%s crtc=%zu(id %u) planes=%s on-release=%s\n", p->name,
			       desc->connectors[p->connector].name, p->crtc,
			       desc->crtcs[p->crtc].id, planes,
			       p->on_release == KG_RELEASE_KEEP ? "keep" : "blank");
		else
			kg_info("pipeline %s: connector %s, CRTC %zu (id %u), planes %s", p->name,
				desc->connectors[p->connector].name, p->crtc,
				desc->crtcs[p->crtc].id, planes);
	}
}

static void on_signal(void *data, int fd, uint32_t events)
{
	struct broker *b = data;
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		kg_info("SIGHUP: re-probing connectors");
		kg_hotplug_reprobe(b->hp);
		return;
	}
	kg_info("signal %u: revoking every lease and stopping", si.ssi_signo);
	kg_loop_quit(b->loop);
}

static int signals_setup(struct broker *b)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	b->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (b->sig_fd < 0)
		return -errno;
	b->sig_src = kg_loop_add_fd(b->loop, b->sig_fd, EPOLLIN, on_signal, b);
	return b->sig_src ? 0 : -errno;
}

/* The .socket unit's socket among the fds systemd passed (the others are
 * the fd store's, see fdstore.h), -1 without one, -2 if it is unusable. */
static int listen_fd_from_systemd(struct kg_fdstore *store, bool *ours)
{
	int fd = store ? kg_fdstore_take_listen_fd(store, ours) : -1;

#ifdef HAVE_SYSTEMD
	if (fd >= 0) {
		if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
			kg_err("the socket systemd passed is not a listening SOCK_SEQPACKET UNIX socket (fix ListenSequentialPacket= in the .socket unit)");
			close(fd);
			return -2;
		}
		kg_info(*ours ? "using the listening socket from systemd's fd store"
			      : "using the socket passed by systemd");
	}
#endif
	return fd;
}

static void notify(const char *state)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

static int load_plan(struct broker *b, const struct options *o)
{
	char err[512];
	int master_fd;

	if (o->config && kg_config_load(o->config, &b->cfg, err, sizeof(err)) < 0) {
		kg_err("config: %s", err);
		return -1;
	}
	/* A restart with the master fd in systemd's fd store: the same DRM
	 * file, still master, its leases alive (fdstore.h). */
	master_fd = b->store ? kg_fdstore_take_master_fd(b->store) : -1;
	if (master_fd >= 0) {
		if (kg_device_adopt(master_fd, o->device, o->driver, &b->dev) < 0)
			return -1;
	} else if (kg_device_open(o->device, o->driver, !o->check, &b->dev) < 0)
		return -1;
	if (kg_plan_build(kg_device_desc(b->dev), b->cfg, &b->plan, err, sizeof(err)) < 0) {
		kg_err("%s%sconfig does not fit %s: %s", o->config ? o->config : "",
		       o->config ? ": " : "default ", kg_device_path(b->dev), err);
		return -1;
	}
	return 0;
}

static int serve(struct broker *b, const struct options *o)
{
	static const struct kg_acl no_admins;
	struct kg_server_config sc = {
		.loop = b->loop,
		.dev = b->dev,
		.plan = b->plan,
		.admin = b->cfg ? &b->cfg->admin : &no_admins,
		.runtime_dir = o->runtime_dir,
		.lock_fd = b->lock_fd,
	};

	static struct kg_fdstore_table adopted;

	sc.store = b->store;
	sc.listen_fd = listen_fd_from_systemd(b->store, &sc.listen_ours);
	if (sc.listen_fd == -2)
		return -1;
	b->lock_fd = -1; /* the server's now, whatever happens */
	b->srv = kg_server_create(&sc);
	if (!b->srv)
		return -1;
	/* The master fd first: a connection is stored only once it is. */
	kg_fdstore_save(b->store, kg_device_fd(b->dev),
			sc.listen_fd < 0 || sc.listen_ours ? kg_server_listen_fd(b->srv) : -1);
	if (b->store)
		kg_fdstore_adopted(b->store, kg_device_fd(b->dev), &adopted);
	kg_server_adopt(b->srv, &adopted);
	b->hp = kg_hotplug_create(b->loop, b->dev, b->srv);
	notify("READY=1");
	kg_info("ready: %zu pipelines", b->plan->n_pipelines);
	if (kg_loop_run(b->loop) < 0) {
		kg_log_errno(KG_LOG_ERROR, "event loop failed");
		return -1;
	}
	notify("STOPPING=1");
	return 0;
}

static void broker_finish(struct broker *b)
{
	kg_hotplug_destroy(b->hp);
	kg_server_destroy(b->srv); /* revokes every lease */
	/* Nothing is leased now: the store must not keep the card's master. */
	kg_fdstore_forget(b->store);
	kg_fdstore_destroy(b->store);
	kg_loop_remove(b->sig_src);
	if (b->sig_fd >= 0)
		close(b->sig_fd);
	kg_plan_destroy(b->plan);
	kg_device_destroy(b->dev);
	kg_config_destroy(b->cfg);
	kg_loop_destroy(b->loop);
	if (b->lock_fd >= 0)
		close(b->lock_fd);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct broker b = { .sig_fd = -1, .lock_fd = -1 };
	int ret = 1;

	kg_log_init("kmsgate-broker", KG_LOG_INFO);
	if (parse_args(argc, argv, &o))
		return 2;
	b.loop = kg_loop_create();
	if (!b.loop) {
		kg_log_errno(KG_LOG_ERROR, "cannot create the event loop");
		return 1;
	}
	/* The lock first: a second broker must not even try the device. */
	if (!o.check) {
		b.lock_fd = kg_server_lock(o.runtime_dir);
		if (b.lock_fd < 0)
			goto out;
		b.store = kg_fdstore_open();
		if (!b.store)
			goto out;
	}
	if (load_plan(&b, &o) < 0)
		goto out;
	log_plan(b.dev, b.plan, o.check);
	if (o.check) {
		ret = 0;
		goto out;
	}
	if (signals_setup(&b) < 0) {
		kg_log_errno(KG_LOG_ERROR, "cannot set up signal handling");
		goto out;
	}
	ret = serve(&b, &o) < 0 ? 1 : 0;
out:
	broker_finish(&b);
	return ret;
}
