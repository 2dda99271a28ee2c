// SPDX-License-Identifier: MIT
/*
 * kmsgate-vgpu: a vhost-user-gpu device for QEMU's stock vhost-user-gpu-pci
 * (or vhost-user-gpu on virtio-mmio) that shows the guest's scanouts on
 * KMS pipelines, zero copy, or keeps them headless as PNG.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "config.h"
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif
#include "log.h"
#include "number.h"
#include "loop.h"
#include "output-headless.h"
#include "kms-pick.h"
#include "output-kms.h"
#include "stats.h"
#include "trace.h"
#include "broker-outputs.h"
#include "vgpu-vhost.h"
#include "guest-config.h"
#include "keeper.h"
#ifdef HAVE_VIRGL
#include "virgl.h"
#endif

#define STATS_PERIOD_MS 1000

struct opts {
	const char *socket, *output, *broker, *pipelines, *device, *connectors;
	const char *png_dir, *stats, *trace;
	const char *render_node;
	const char *config, *guest, *log_file;
	bool virgl, gles;
	int fd; /* --fd: a connected front-end socket, -1: none */
	uint32_t width, height;
	unsigned scanouts;
	uint64_t max_resource_mb;
	bool fifo;
	int pacing; /* enum kg_pacing */
	uint32_t pacing_margin_us;
	int log_level;
};

struct app {
	struct opts o;
	struct kg_loop *loop;
	struct kg_output *out; /* until handed to vu */
	bool headless;
	int drm_fd;
	int sig_fd;
	struct kg_source *sig_src, *stats_timer;
	struct kg_trace *trace;
	struct kg_stats *stats;
	struct kg_broker_outputs *broker;
	struct kg_vgpu_vhost *vu;
	struct kg_keeper *keeper; /* NULL: nothing survives a restart */
	struct kg_virgl *virgl;
	struct kg_source *virgl_src;
	struct kg_gcfg *gcfg; /* the guest's settings; opts point into it */
	const char *gcfg_path, *guest_name;
	char libvirt_pidfile[4096]; /* "": not started by libvirt */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kmsgate-vgpu --socket-path PATH | --fd N [options]\n"
		"A vhost-user-gpu device for QEMU's -device vhost-user-gpu-pci: shows the guest's\n"
		"scanouts on KMS pipelines with zero copy, or keeps them in memory (headless).\n\n"
		"  --socket-path PATH       where QEMU connects (-chardev socket,path=PATH);\n"
		"                           --socket is the same\n"
		"  --fd N                   serve the front-end already connected on fd N\n"
		"                           (libvirt); exit when it disconnects\n"
		"  --print-capabilities     print what this back-end offers (JSON) and exit\n"
		"  --output kms|headless    where frames go (default: kms)\n"
		"  --device /dev/dri/cardN  KMS device to drive directly (needs DRM master)\n"
		"  --connector NAME[,...]   connectors to use, one per guest scanout (default: all\n"
		"                           connected ones)\n"
		"  --broker SOCK --pipeline NAME[,...]\n"
		"                           lease the pipelines from kmsgate-broker instead\n"
		"  --headless-size WxH      mode offered by the headless output (default 1024x768)\n"
		"  --headless-scanouts N    scanouts of the headless output (default 1)\n"
		"  --png-dir DIR            headless: write DIR/scanout-N.png on SIGUSR1 and at exit\n"
		"  --stats FILE             write frame latency statistics (JSON) every second\n"
		"                           while the guest is active, and at exit\n"
		"  --trace FILE             each frame's timeline as trace-event JSON (open it in\n"
		"                           ui.perfetto.dev or chrome://tracing)\n"
		"  --max-resource-mb N      cap on the guest's resources in total (default 1024)\n"
		"  --fifo                   show every frame in order instead of newest-wins\n"
		"  --pacing flip|jit        when a guest's frame fence is answered: on the flip\n"
		"                           event (default) or just in time for the next vblank\n"
		"  --pacing-margin MS       jit: time kept before the vblank (default 2)\n"
		"  --virgl                  3D for the guest (virgl, on virglrenderer)\n"
		"  --render-node PATH       the GPU virgl draws on (default: software rendering)\n"
		"  --gles                   virgl on GLES contexts (GPUs without desktop GL)\n"
		"  --log-level L            error, warn, info (default) or debug\n"
		"  --log-file FILE          log to FILE instead of stderr (which libvirt sends\n"
		"                           to /dev/null)\n"
		"  --guest NAME             take the settings of [guest NAME] in the config file\n"
		"                           (default: the libvirt domain that started us)\n"
		"  --config FILE            the guests' settings (default $KMSGATE_VGPU_CONFIG,\n"
		"                           else " KG_VGPU_CONF ")\n"
		"  --help                   this text\n\n"
		"Signals: SIGUSR1 writes PNGs (headless); SIGTERM/SIGINT exit cleanly.\n");
}

/* WxH, each side 1..8192, digits only (kg_number_parse_u32). */
static int parse_size(const char *s, uint32_t *w, uint32_t *h)
{
	char buf[32];
	char *x;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	x = strchr(buf, 'x');
	if (!x)
		return -1;
	*x = '\0';
	if (!kg_number_parse_u32(buf, 8192, w) || !kg_number_parse_u32(x + 1, 8192, h) || !*w ||
	    !*h)
		return -1;
	return 0;
}

/* 1..max, digits only (kg_number_parse_u32). */
static int parse_uint(const char *s, uint32_t max, uint32_t *v)
{
	return kg_number_parse_u32(s, max, v) && *v ? 0 : -1;
}

#ifdef HAVE_VIRGL
static bool have_render_node(void)
{
	DIR *dir = opendir("/dev/dri");
	struct dirent *de;
	bool found = false;

	while (dir && !found && (de = readdir(dir)))
		found = strncmp(de->d_name, "renderD", 7) == 0;
	if (dir)
		closedir(dir);
	return found;
}
#endif

/*
 * QEMU's vhost-user back-end program conventions (docs/interop/vhost-user.rst,
 * "Backend program conventions"), which libvirt relies on to pick a back-end:
 * the device type and the optional features this build can give.
 */
static void print_capabilities(void)
{
	printf("{\n  \"type\": \"gpu\",\n  \"features\": [");
#ifdef HAVE_VIRGL
	/* libvirt gives a back-end that offers render-node a render node of
	 * its own choosing, and refuses to start the domain where there is
	 * none (virHostGetDRMRenderNode): offer it only where one exists. */
	if (have_render_node())
		printf("\n    \"render-node\",");
	printf("\n    \"virgl\"\n  ");
#endif
	printf("]\n}\n");
}

/* --fd: the socket libvirt (or a test) connected to QEMU for us. */
static int check_fd(int fd)
{
	struct stat st;
	bool open = fstat(fd, &st) == 0;

	if (!open || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "kmsgate-vgpu: --fd %d is %s, not a socket connected to QEMU\n", fd,
			open ? "something else" : "not open");
		return -1;
	}
	/* Not for the processes we start (none today, but still ours). */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum {
		O_SOCKET = 256,
		O_FD,
		O_CAPS,
		O_OUTPUT,
		O_BROKER,
		O_PIPELINE,
		O_DEVICE,
		O_CONNECTOR,
		O_SIZE,
		O_SCANOUTS,
		O_PNG,
		O_STATS,
		O_TRACE,
		O_MAXMB,
		O_FIFO,
		O_PACING,
		O_PACING_MARGIN,
		O_VIRGL,
		O_RENDER_NODE,
		O_GLES,
		O_LOG,
		O_LOG_FILE,
		O_GUEST,
		O_CONFIG,
		O_HELP
	};
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "socket-path", required_argument, NULL, O_SOCKET },
		{ "fd", required_argument, NULL, O_FD },
		{ "print-capabilities", no_argument, NULL, O_CAPS },
		{ "output", required_argument, NULL, O_OUTPUT },
		{ "broker", required_argument, NULL, O_BROKER },
		{ "pipeline", required_argument, NULL, O_PIPELINE },
		{ "device", required_argument, NULL, O_DEVICE },
		{ "connector", required_argument, NULL, O_CONNECTOR },
		{ "headless-size", required_argument, NULL, O_SIZE },
		{ "headless-scanouts", required_argument, NULL, O_SCANOUTS },
		{ "png-dir", required_argument, NULL, O_PNG },
		{ "stats", required_argument, NULL, O_STATS },
		{ "trace", required_argument, NULL, O_TRACE },
		{ "max-resource-mb", required_argument, NULL, O_MAXMB },
		{ "fifo", no_argument, NULL, O_FIFO },
		{ "pacing", required_argument, NULL, O_PACING },
		{ "pacing-margin", required_argument, NULL, O_PACING_MARGIN },
		{ "virgl", no_argument, NULL, O_VIRGL },
		{ "render-node", required_argument, NULL, O_RENDER_NODE },
		{ "gles", no_argument, NULL, O_GLES },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "log-file", required_argument, NULL, O_LOG_FILE },
		{ "guest", required_argument, NULL, O_GUEST },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 },
	};
	uint32_t v;
	int c;

	*o = (struct opts){ .output = "kms",
			    .width = 1024,
			    .height = 768,
			    .scanouts = 1,
			    .max_resource_mb = 1024,
			    .fd = -1,
			    .log_level = KG_LOG_INFO };
	optind = 0; /* a full restart: main parses again with the config's options */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_SOCKET:
			o->socket = optarg;
			break;
		case O_FD:
			if (!kg_number_parse_u32(optarg, INT32_MAX, &v) || v < 3) {
				fprintf(stderr,
					"kmsgate-vgpu: --fd wants the number of an open "
					"socket (3 or more), not '%s'\n",
					optarg);
				return -1;
			}
			o->fd = (int)v;
			break;
		case O_CAPS:
			print_capabilities();
			exit(0);
		case O_OUTPUT:
			o->output = optarg;
			break;
		case O_BROKER:
			o->broker = optarg;
			break;
		case O_PIPELINE:
			o->pipelines = optarg;
			break;
		case O_DEVICE:
			o->device = optarg;
			break;
		case O_CONNECTOR:
			o->connectors = optarg;
			break;
		case O_PNG:
			o->png_dir = optarg;
			break;
		case O_STATS:
			o->stats = optarg;
			break;
		case O_TRACE:
			o->trace = optarg;
			break;
		case O_FIFO:
			o->fifo = true;
			break;
		case O_PACING:
			o->pacing = kg_pacing_parse(optarg);
			if (o->pacing < 0) {
				fprintf(stderr,
					"kmsgate-vgpu: --pacing is flip (answer the frame's "
					"fence on the flip event) or jit (just in time for the "
					"next vblank), not '%s'\n",
					optarg);
				return -1;
			}
			break;
		case O_PACING_MARGIN:
			if (!kg_number_parse_u32(optarg, 16, &v) || !v) {
				fprintf(stderr,
					"kmsgate-vgpu: --pacing-margin wants milliseconds "
					"(1..16), not '%s'\n",
					optarg);
				return -1;
			}
			o->pacing_margin_us = v * 1000;
			break;
		case O_VIRGL:
			o->virgl = true;
			break;
		case O_RENDER_NODE:
			o->render_node = optarg;
			break;
		case O_GLES:
			o->gles = true;
			break;
		case O_SIZE:
			if (parse_size(optarg, &o->width, &o->height) < 0) {
				fprintf(stderr,
					"kmsgate-vgpu: --headless-size wants WxH (1..8192), "
					"e.g. 1024x768, not '%s'\n",
					optarg);
				return -1;
			}
			break;
		case O_SCANOUTS:
			if (parse_uint(optarg, KG_MAX_SCANOUTS, &v) < 0) {
				fprintf(stderr, "kmsgate-vgpu: --headless-scanouts wants 1..%d\n",
					KG_MAX_SCANOUTS);
				return -1;
			}
			o->scanouts = v;
			break;
		case O_MAXMB:
			if (parse_uint(optarg, 1u << 20, &v) < 0) {
				fprintf(stderr, "kmsgate-vgpu: --max-resource-mb wants a positive "
						"number of MiB\n");
				return -1;
			}
			o->max_resource_mb = v;
			break;
		case O_LOG:
			o->log_level = kg_log_level_parse(optarg);
			if (o->log_level < 0) {
				fprintf(stderr, "kmsgate-vgpu: --log-level is error, warn, info or "
						"debug\n");
				return -1;
			}
			break;
		case O_LOG_FILE:
			o->log_file = optarg;
			break;
		case O_GUEST:
			o->guest = optarg;
			break;
		case O_CONFIG:
			o->config = optarg;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
#ifndef HAVE_VIRGL
	if (o->virgl) {
		fprintf(stderr, "kmsgate-vgpu: --virgl: this kmsgate-vgpu was built without "
				"virglrenderer (meson -Dvirgl=enabled needs libvirglrenderer-dev, "
				"libepoxy-dev, libgbm-dev)\n");
		return -1;
	}
#endif
	if (optind < argc || !o->socket == (o->fd < 0)) {
		fprintf(stderr, "kmsgate-vgpu: %s\n",
			optind < argc ? "unexpected argument"
			: o->socket   ? "--socket-path and --fd exclude each other"
				      : "--socket-path PATH or --fd N is required");
		usage(stderr);
		return -1;
	}
	return o->fd < 0 ? 0 : check_fd(o->fd);
}

/* stderr is /dev/null: how libvirt starts a back-end (virExec). */
static bool stderr_is_null(void)
{
	struct stat st;

	return fstat(STDERR_FILENO, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

/* Before the log exists: stderr, and syslog where stderr goes nowhere. */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (stderr_is_null()) {
		openlog("kmsgate-vgpu", LOG_PID, LOG_DAEMON);
		vsyslog(LOG_ERR, fmt, ap);
		closelog();
	} else {
		fputs("kmsgate-vgpu: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

/* --log-file: the log's stderr, opened before anything logs. */
static int open_log_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
		report("cannot open the log file %s: %s (does its directory exist, and may "
		       "this user write there?)",
		       path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* The guest's section: --guest, else the libvirt domain that started us. */
static int find_guest(struct app *a, const struct kg_gcfg_guest **g, char *err, size_t len)
{
	char stem[256];
	int ret;

	if (a->o.guest) {
		*g = kg_gcfg_find(a->gcfg, a->o.guest);
		if (!*g)
			snprintf(err, len, "no section [guest %s]", a->o.guest);
		return *g ? 0 : -1;
	}
	ret = kg_gcfg_libvirt_stem("/proc/self/fd", stem, sizeof(stem), a->libvirt_pidfile,
				   sizeof(a->libvirt_pidfile));
	if (ret == 0)
		ret = kg_gcfg_find_libvirt(a->gcfg, stem, g, err, len);
	else
		snprintf(err, len, "libvirt's pidfile is %s among the open fds",
			 ret == -E2BIG ? "not the only one" : "not");
	return ret < 0 ? -1 : 0;
}

/* The options of guest's section (or [defaults]' alone), then the command line's. */
static int parse_with_config(int argc, char **argv, struct app *a,
			     const struct kg_gcfg_guest *guest)
{
	size_t n = kg_gcfg_args(a->gcfg, guest, NULL, 0);
	const char **args = calloc(n + (size_t)argc + 1, sizeof(*args));
	int ret;

	if (!args) {
		report("out of memory");
		return -1;
	}
	args[0] = argv[0];
	kg_gcfg_args(a->gcfg, guest, args + 1, n);
	memcpy(args + 1 + n, argv + 1, (size_t)(argc - 1) * sizeof(*args));
	ret = parse_opts((int)n + argc, (char **)args, &a->o);
	free(args); /* the options point into the config and argv, not into args */
	return ret;
}

/*
 * libvirt starts a back-end with --fd (and --virgl, --render-node) only;
 * where the guest's frames go comes from its section of the config file. The
 * file's settings go before the command line's, which win. Not started by
 * libvirt and no --guest: no file is read.
 */
static int apply_guest_config(int argc, char **argv, struct app *a)
{
	const char *path = a->o.config ? a->o.config : getenv("KMSGATE_VGPU_CONFIG");
	const struct kg_gcfg_guest *g;
	char err[512];
	int ret;

	if (!path || !*path)
		path = KG_VGPU_CONF;
	if (!a->o.guest &&
	    kg_gcfg_libvirt_stem("/proc/self/fd", err, sizeof(err), NULL, 0) == -ENOENT) {
		if (!a->o.config)
			return 0;
		report("--config %s needs --guest NAME (or a start by libvirt)", path);
		return -1;
	}
	ret = kg_gcfg_load(path, &a->gcfg, err, sizeof(err));
	if (ret < 0) {
		report("%s%s", err,
		       ret == -ENOENT ? "; it gives each guest its output ([guest NAME], "
					"kmsgate-vgpu.conf(5))"
				      : "");
		return -1;
	}
	if (find_guest(a, &g, err, sizeof(err)) < 0) {
		/* Into [defaults]' log-file, if any: libvirt's stderr is /dev/null. */
		if (parse_with_config(argc, argv, a, NULL) == 0 && a->o.log_file)
			open_log_file(a->o.log_file);
		report("%s: %s: add a section [guest NAME] for the libvirt domain NAME, with "
		       "output = kms, broker = SOCKET, pipeline = NAME (or output = headless); see "
		       "kmsgate-vgpu.conf(5)",
		       path, err);
		return -1;
	}
	ret = parse_with_config(argc, argv, a, g);
	if (ret < 0)
		report("see [guest %s] in %s (its settings go before the command line's)",
		       kg_gcfg_guest_name(g), path);
	a->gcfg_path = path;
	a->guest_name = kg_gcfg_guest_name(g);
	return ret;
}

/* "HDMI-A-1": the kernel's name of a connector. */
static void connector_name(int fd, uint32_t id, char *buf, size_t len)
{
	drmModeConnector *c = drmModeGetConnector(fd, id);
	const char *type = c ? drmModeGetConnectorTypeName(c->connector_type) : NULL;

	snprintf(buf, len, "%s-%u", type ? type : "Unknown", c ? c->connector_type_id : 0);
	drmModeFreeConnector(c);
}

static bool name_listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

static struct kg_output *open_kms(struct app *a)
{
	struct kg_kms_pipe all[KG_MAX_SCANOUTS], use[KG_MAX_SCANOUTS];
	struct kg_output *out = NULL;
	unsigned n_use = 0;
	bool adopted;
	int n;

	if (a->o.broker || a->o.pipelines) {

		if (!a->o.pipelines) {
			kg_err("--broker needs --pipeline NAME[,NAME...] (kmsgatectl list shows them)");
			return NULL;
		}
		a->broker = kg_broker_outputs_create(a->loop, a->o.broker, a->o.pipelines,
						     a->keeper, &out);
		return a->broker ? out : NULL;
	}
	if (!a->o.device) {
		kg_err("--output kms needs --device /dev/dri/cardN (or --output headless)");
		return NULL;
	}
	/* The card the previous process had: its frame is still on screen. */
	a->drm_fd = a->keeper ? kg_keeper_take_device(a->keeper, a->o.device) : -1;
	adopted = a->drm_fd >= 0;
	if (!adopted)
		a->drm_fd = open(a->o.device, O_RDWR | O_CLOEXEC);
	if (a->drm_fd < 0) {
		kg_log_errno(KG_LOG_ERROR,
			     "cannot open %s (is it a DRM card and are you in the "
			     "video group?)",
			     a->o.device);
		return NULL;
	}
	n = kg_kms_find_pipes(a->drm_fd, all, KG_MAX_SCANOUTS);
	if (n < 0) {
		kg_err("%s: no usable pipeline: %s", a->o.device, strerror(-n));
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		char name[64];

		connector_name(a->drm_fd, all[i].connector_id, name, sizeof(name));
		if (a->o.connectors && !name_listed(a->o.connectors, name))
			continue;
		kg_info("scanout %u: connector %s, CRTC %u, %ux%u", n_use, name, all[i].crtc_id,
			all[i].mode.hdisplay, all[i].mode.vdisplay);
		use[n_use++] = all[i];
	}
	if (!n_use) {
		kg_err("%s: none of the connected connectors matches --connector %s", a->o.device,
		       a->o.connectors ? a->o.connectors : "(any)");
		return NULL;
	}
	out = kg_output_kms_create(a->loop, a->drm_fd, use, n_use);
	if (out && adopted)
		kg_output_kms_take_leftovers(out);
	else if (out && a->keeper)
		kg_keeper_keep_device(a->keeper, a->drm_fd);
	return out;
}

static struct kg_output *open_output(struct app *a)
{
	if (strcmp(a->o.output, "headless") == 0) {
		struct kg_headless_config hc = { a->o.scanouts, a->o.width, a->o.height, 60000 };
		struct kg_output *out = kg_output_headless_create(a->loop, &hc);

		if (!out)
			kg_log_errno(KG_LOG_ERROR, "cannot create the headless output");
		a->headless = out != NULL;
		return out;
	}
	if (strcmp(a->o.output, "kms") == 0)
		return open_kms(a);
	kg_err("--output is kms or headless, not '%s'", a->o.output);
	return NULL;
}

static void write_pngs(struct app *a, struct kg_output *out)
{
	int n;

	if (!a->headless || !a->o.png_dir)
		return;
	n = kg_output_headless_write_png(out, a->o.png_dir);
	if (n >= 0)
		kg_info("wrote %d PNG file(s) to %s", n, a->o.png_dir);
}

static void write_stats(struct app *a)
{
	int ret;

	if (!a->stats)
		return;
	ret = kg_stats_write_file(a->stats, a->o.stats);
	if (ret < 0)
		kg_warn("cannot write the statistics to %s: %s", a->o.stats, strerror(-ret));
}

static void on_stats_timer(void *data)
{
	struct app *a = data;

	write_stats(a);
	kg_trace_flush(a->trace);
}

static void on_signal(void *data, int fd, uint32_t events)
{
	struct app *a = data;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			write_pngs(a, a->out);
		} else {
			kg_info("signal %u: exiting", si.ssi_signo);
			kg_loop_quit(a->loop);
		}
	}
}

static int setup_signals(struct app *a)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	a->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (a->sig_fd < 0)
		return -errno;
	a->sig_src = kg_loop_add_fd(a->loop, a->sig_fd, EPOLLIN, on_signal, a);
	return a->sig_src ? 0 : -errno;
}

#ifdef HAVE_VIRGL
static void on_virgl(void *data, int fd, uint32_t events)
{
	struct app *a = data;

	kg_virgl_dispatch(a->virgl);
}

static void on_virgl_timer(void *data)
{
	struct app *a = data;

	kg_virgl_dispatch(a->virgl);
}

/* The renderer, and its fence reports on the loop. */
static int start_virgl(struct app *a)
{
	struct kg_virgl_config cfg = { .render_node = a->o.render_node, .gles = a->o.gles };
	int fd;

	a->virgl = kg_virgl_create(&cfg);
	if (!a->virgl)
		return -1; /* it said why */
	fd = kg_virgl_poll_fd(a->virgl);
	/* Without virglrenderer's sync thread (no eventfd) nothing signals a
	 * retired fence: look every millisecond, as QEMU does on a timer. */
	a->virgl_src = fd >= 0 ? kg_loop_add_fd(a->loop, fd, EPOLLIN, on_virgl, a)
			       : kg_loop_add_timer(a->loop, 1, 1, on_virgl_timer, a);
	if (!a->virgl_src) {
		kg_log_errno(KG_LOG_ERROR, "virgl: cannot watch the renderer's fences");
		return -1;
	}
	return 0;
}
#endif

/* --fd: nobody else can connect, so the back-end's job is done. */
static void on_front_end_gone(void *data)
{
	struct app *a = data;

	kg_info("the front-end on --fd disconnected: exiting");
	kg_loop_quit(a->loop);
}

/* Under systemd, what survives our own restart (keeper.h); the front-end
 * a dead kmsgate-vgpu left is served again. Not for --fd: libvirt starts
 * its back-ends itself, without an fd store. */
static int keep(struct app *a)
{
	const struct kg_vu_saved *saved;
	void *journal;
	size_t size;
	int ret;

	if (a->o.virgl) {
		if (getenv("NOTIFY_SOCKET"))
			kg_info("--virgl: a restart of kmsgate-vgpu loses the guest's display "
				"(virglrenderer's state cannot be kept)");
		return 0;
	}
	if (!a->keeper)
		return 0;
	journal = kg_keeper_journal(a->keeper, &size);
	saved = kg_keeper_saved(a->keeper);
	ret = kg_vgpu_vhost_keep(a->vu, kg_keeper_ops(a->keeper), journal, size, saved,
				 kg_keeper_fd_of);
	if (ret < 0 && !saved) {
		errno = -ret;
		kg_log_errno(KG_LOG_ERROR, "cannot keep the device's state");
		return -1;
	}
	if (ret < 0)
		kg_err("the front-end of the previous kmsgate-vgpu cannot be served again (%s): "
		       "its guest has no display until QEMU restarts",
		       strerror(-ret));
	else if (saved)
		kg_info("serving the front-end of the previous kmsgate-vgpu again");
	kg_keeper_drop_unclaimed(a->keeper);
	return 0;
}

static int start(struct app *a)
{
	struct kg_vgpu_vhost_config vc = { .socket_path = a->o.socket };

	if (setup_signals(a) < 0) {
		kg_log_errno(KG_LOG_ERROR, "cannot set up signal handling");
		return -1;
	}
	if (a->o.stats || a->o.trace) {
		a->stats = a->o.stats ? kg_stats_create() : NULL;
		/* Every second while anything happens; a still guest sleeps
		 * (the file is written at exit too). */
		a->stats_timer = a->stats || !a->o.stats
					 ? kg_loop_add_busy_timer(a->loop, STATS_PERIOD_MS,
								  on_stats_timer, a)
					 : NULL;
		if (!a->stats_timer) {
			kg_log_errno(KG_LOG_ERROR, "cannot set up the statistics");
			return -1;
		}
	}
	if (a->o.trace) {
		a->trace = kg_trace_open(a->o.trace);
		if (!a->trace) {
			kg_log_errno(KG_LOG_ERROR,
				     "cannot create the trace file %s (does its directory exist?)",
				     a->o.trace);
			return -1;
		}
	}
#ifdef HAVE_VIRGL
	if (a->o.virgl && start_virgl(a) < 0)
		return -1;
#endif
	/* libvirt passes its render node to every back-end that offers one,
	 * 3D or not. */
	if (!a->o.virgl && (a->o.render_node || a->o.gles))
		kg_info("no --virgl: --render-node and --gles do not apply");
	/* Before the output: a KMS device may be the previous process's. */
	if (!a->o.virgl && a->o.fd < 0)
		a->keeper = kg_keeper_open();
	a->out = open_output(a);
	if (!a->out)
		return -1;
	vc.vgpu.virgl = a->virgl;
	vc.vgpu.output = a->out;
	vc.vgpu.stats = a->stats;
	vc.vgpu.trace = a->trace;
	vc.vgpu.max_resource_bytes = a->o.max_resource_mb << 20;
	vc.vgpu.fifo = a->o.fifo;
	vc.vgpu.pacing = a->o.pacing;
	vc.vgpu.pacing_margin_ns = (uint64_t)a->o.pacing_margin_us * 1000;
	vc.vgpu.loop = a->loop;
	if (a->o.pacing == KG_PACING_JIT)
		kg_info("pacing: just in time, %u ms before each vblank (--pacing jit)",
			a->o.pacing_margin_us ? a->o.pacing_margin_us / 1000
					      : (unsigned)(KG_PACER_DEFAULT_MARGIN_NS / 1000000));
	if (a->o.fd >= 0) {
		vc.disconnected = on_front_end_gone;
		vc.disconnected_data = a;
	}
	a->vu = kg_vgpu_vhost_create(a->loop, &vc);
	if (!a->vu)
		return -1;
	if (a->o.fd >= 0) {
		int fd = a->o.fd;

		a->o.fd = -1; /* the device owns it now, on every path */
		if (kg_vgpu_vhost_serve_fd(a->vu, fd) < 0) {
			kg_log_errno(KG_LOG_ERROR, "cannot serve the front-end on --fd %d", fd);
			return -1;
		}
	}
	if (a->o.fd < 0 && keep(a) < 0)
		return -1;
	kg_info("serving vhost-user-gpu on %s (%s output, %u scanout(s))",
		a->o.socket ? a->o.socket : "the --fd socket", a->out->ops->name,
		a->out->ops->num_scanouts(a->out));
#ifdef HAVE_SYSTEMD
	/* Under systemd (kmsgate-vgpu@.service, Type=notify): QEMU's unit
	 * may start now, the socket listens. A no-op elsewhere. */
	sd_notify(0, "READY=1");
#endif
	return 0;
}

static void stop(struct app *a)
{
	if (a->out)
		write_pngs(a, a->out);
	write_stats(a);
	if (a->vu)
		kg_vgpu_vhost_destroy(a->vu); /* also the output */
	else if (a->out)
		a->out->ops->destroy(a->out);
	/* A clean stop: nothing is left for a next process to adopt. */
	kg_keeper_forget(a->keeper);
	kg_keeper_destroy(a->keeper);
	kg_broker_outputs_destroy(a->broker); /* after the output on its leases */
#ifdef HAVE_VIRGL
	kg_loop_remove(a->virgl_src);
	kg_virgl_destroy(a->virgl); /* after the device that used it */
#endif
	kg_loop_remove(a->stats_timer);
	kg_trace_close(a->trace); /* after the device: its last frames are in */
	kg_loop_remove(a->sig_src);
	if (a->sig_fd >= 0)
		close(a->sig_fd);
	if (a->drm_fd >= 0)
		close(a->drm_fd);
	kg_stats_destroy(a->stats);
	kg_loop_destroy(a->loop);
	kg_gcfg_destroy(a->gcfg);
}

int main(int argc, char **argv)
{
	struct app a = { .drm_fd = -1, .sig_fd = -1 };
	bool started;
	int ret = 1;

	if (parse_opts(argc, argv, &a.o) < 0)
		return 2;
	if (apply_guest_config(argc, argv, &a) < 0 ||
	    (a.o.log_file && open_log_file(a.o.log_file) < 0)) {
		kg_gcfg_destroy(a.gcfg);
		return 2;
	}
	kg_log_init("kmsgate-vgpu", (enum kg_log_level)a.o.log_level);
	if (a.gcfg)
		kg_info("guest %s: settings from %s%s%s", a.guest_name, a.gcfg_path,
			a.libvirt_pidfile[0] ? ", found by libvirt's pidfile " : "",
			a.libvirt_pidfile);
	a.loop = kg_loop_create();
	if (!a.loop) {
		kg_log_errno(KG_LOG_ERROR, "cannot create the event loop");
		return 1;
	}
	started = start(&a) == 0;
	if (!started && a.keeper) {
		/* As if killed: a clean stop would end the guest's connection
		 * and leases, which the fd store still keeps for systemd's next
		 * start (a broker busy for a moment, a device slow to come). */
		kg_err("start failed: exiting without a clean stop, so that the next start "
		       "serves the same guest from systemd's fd store");
		return 1;
	}
	if (started && kg_loop_run(a.loop) == 0)
		ret = 0;
	stop(&a);
	return ret;
}
