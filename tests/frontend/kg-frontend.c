// SPDX-License-Identifier: MIT
/*
 * kg-frontend: plays QEMU's vhost-user-gpu-pci and a Linux guest's
 * virtio-gpu driver against kmsgate-vgpu's socket, so the whole back-end
 * (vhost-user, virtio-gpu device, KMS output) can be driven and measured
 * inside the board VM without a nested guest.
 *
 * Guest RAM is a sealed memfd handed over with SET_MEM_TABLE; the control
 * and cursor queues are split rings in it. Each frame is what Linux's
 * virtio-gpu driver sends for a page flip between two 2D dumb buffers whose
 * backing pages are scattered: TRANSFER_TO_HOST_2D, SET_SCANOUT, then
 * RESOURCE_FLUSH with a fence, and the guest waits for the fence.
 *
 * Prints: FENCE n t=SEC.NSEC (fence completed), a RESULT line, with
 * --screendump PIXEL lines + READY (then waits for a line on stdin).
 * With --scanouts N each frame is flipped on scanouts 0..N-1 in turn, each
 * from its own two buffers, and scanout s draws the pattern of frame
 * f + 1000 * s: every pixel differs between scanouts, so each head can be
 * checked for its own frame and not another's (SCANOUT_PIXEL lines).
 *
 *   --socket PATH       kmsgate-vgpu's socket (required)
 *   --frames N          default 120
 *   --layout L          contiguous, runs, scattered (default scattered)
 *   --damage full|band  what each frame transfers and flushes (default full)
 *   --backend-pid PID   report that process's CPU time per frame
 *   --screendump        print the expected screen and wait for the host
 *   --scanouts N        draw on scanouts 0..N-1 (default 1; all of the size
 *                       of scanout 0)
 *   --remap-every N     every N frames, send a new memory table (the same RAM
 *                       as one region, then as two, in turn) between the
 *                       fenced flush and its fence: the back-end must answer
 *                       the fence and show the frame from the new mappings
 *   --draw SPEC         a synthetic guest whose draw time follows SPEC
 *                       (fixed:MS, jitter:MS,SD, spikes:MS,LONG_MS,PROB,
 *                       steps:MS1,N1,MS2; see tests/common/drawtime.h): after
 *                       each fence (frame 0: after setup) the guest draws its
 *                       pattern, then sleeps (clock_nanosleep, TIMER_ABSTIME)
 *                       until the sampled time has passed since the fence, and
 *                       only then sends the frame's commands (transfer, scanout,
 *                       fenced flush). With --scanouts N the time is before
 *                       scanout 0's flip; the others follow at once.
 *                       Prints per frame FRAME n target_ns=T draw_ns=D
 *                       flush_ns=S fence_ns=F (CLOCK_MONOTONIC; D is achieved:
 *                       S minus the previous fence) and adds draw_target_p50_ms,
 *                       draw_p50_ms, draw_p99_ms and draw_overrun_max_ms (D - T)
 *                       to the RESULT line
 *   --seed N            the draw time generator's seed (default 1): the same
 *                       seed and SPEC give the same target draw times
 *   --frame-base N      draw the pattern of frame N + f for frame f (default 0):
 *                       two guests on two heads of one test draw frames that
 *                       differ, so a screendump tells whose frame a head shows
 *   --until PATH        (--frames runs) stop before the next frame once PATH
 *                       exists; RESULT frames= is then the frames flipped
 *   --churn             (--frames runs) before each frame, a new resource is
 *                       made (RESOURCE_CREATE_2D + ATTACH_BACKING, on scanout
 *                       0's first buffer's pages) and the previous one unref'd,
 *                       as a guest allocating buffers does: a kill of the
 *                       back-end then often lands in resource creation
 *   --fps N --seconds S a guest at N frames per second for S seconds (instead of
 *                       --frames): frame 0 sets the scanout up, then frame k goes
 *                       out at (k - 1/2)/N s after frame 0's fence (at once when
 *                       late);
 *                       N = 0 shows frame 0 and stays idle. With --backend-pid
 *                       the RESULT line has the back-end's CPU over those S s
 *                       (utime+stime of /proc/PID/stat, and run time of
 *                       /proc/PID/task/ * /schedstat) per second and per frame,
 *                       and its wake-ups (context switches) per second
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drawtime.h"
#include "fake-guest.h"
#include "vring.h"
#include "vu-client.h"

#define NBUF	     2
#define MAX_SCANOUTS 4
/* Scanout s draws frame f's pattern as frame f + s * SCANOUT_FRAME_STEP. */
#define SCANOUT_FRAME_STEP 1000u

struct fe {
	struct kg_fe_vu vu;
	struct kg_fg_ram ram;
	struct kg_fe_vring ctrl, cursor;
	struct kg_fg_fb fb[MAX_SCANOUTS][NBUF]; /* resource id s * NBUF + b + 1 */
	unsigned n_scanouts;
	uint32_t w, h;
	uint64_t fence;
	bool remap_now; /* a new memory table goes out after the next flush */
	unsigned remaps;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Queues one command; its response is collected by wait_all(). */
static int send_cmd(struct fe *fe, const void *cmd, uint32_t len)
{
	int slot;
	void *buf = kg_fe_vring_req(&fe->ctrl, &slot);

	if (!buf || len > KG_FE_REQ_MAX)
		return -ENOSPC;
	memcpy(buf, cmd, len);
	kg_fe_vring_submit(&fe->ctrl, slot, len);
	return 0;
}

/* Waits for n responses; each must be OK. The last one's type and time are
 * returned. */
static int wait_all(struct fe *fe, unsigned n, void *last, uint32_t last_len, uint64_t *t)
{
	for (unsigned i = 0; i < n; i++) {
		const struct virtio_gpu_ctrl_hdr *r;
		uint32_t len;
		int ret = kg_fe_vring_wait(&fe->ctrl, 10000, (const void **)&r, &len);

		if (ret < 0) {
			fprintf(stderr, "kg-frontend: no response (%s)\n", strerror(-ret));
			return ret;
		}
		if (len < sizeof(*r) || (r->type != VIRTIO_GPU_RESP_OK_NODATA &&
					 r->type != VIRTIO_GPU_RESP_OK_DISPLAY_INFO)) {
			fprintf(stderr, "kg-frontend: response 0x%x\n", len >= 4 ? r->type : 0);
			return -EPROTO;
		}
		if (t)
			*t = now_ns();
		if (last && i == n - 1)
			memcpy(last, r, len < last_len ? len : last_len);
	}
	return 0;
}

static int setup_vhost(struct fe *fe, const char *socket)
{
	struct virtio_gpu_config cfg;
	int ret = kg_fe_vu_connect(&fe->vu, socket, 5000);

	if (!ret)
		ret = kg_fe_vu_negotiate(&fe->vu, 0); /* 2D only: stock QEMU offers no blob */
	if (!ret)
		ret = kg_fe_vu_set_mem(&fe->vu, fe->ram.memfd, fe->ram.size, fe->ram.map);
	if (!ret && fe->vu.protocol_features & (1ull << 9))
		ret = kg_fe_vu_get_config(&fe->vu, &cfg, sizeof(cfg));
	if (!ret)
		ret = kg_fe_vring_init(&fe->ctrl, 0, &fe->ram, &fe->vu);
	if (!ret)
		ret = kg_fe_vring_init(&fe->cursor, 1, &fe->ram, &fe->vu);
	if (ret < 0)
		fprintf(stderr, "kg-frontend: vhost-user setup on %s failed: %s\n", socket,
			strerror(-ret));
	return ret;
}

static int display_info(struct fe *fe)
{
	struct virtio_gpu_ctrl_hdr cmd = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
	struct virtio_gpu_resp_display_info info;
	int ret = send_cmd(fe, &cmd, sizeof(cmd));

	if (!ret)
		ret = wait_all(fe, 1, &info, sizeof(info), NULL);
	if (ret < 0)
		return ret;
	fe->w = info.pmodes[0].r.width;
	fe->h = info.pmodes[0].r.height;
	for (unsigned s = 0; s < fe->n_scanouts; s++) {
		const struct virtio_gpu_display_one *m = &info.pmodes[s];

		printf("display: scanout %u %ux%u enabled %u\n", s, m->r.width, m->r.height,
		       m->enabled);
		/* One resource size for all: a test asks for same-sized heads. */
		if (!m->enabled || m->r.width != fe->w || m->r.height != fe->h) {
			fprintf(stderr, "kg-frontend: scanout %u is not an enabled %ux%u head\n", s,
				fe->w, fe->h);
			return -ENODEV;
		}
	}
	return fe->w && fe->h ? 0 : -ENODEV;
}

/* RESOURCE_CREATE_2D + ATTACH_BACKING, entries merged like Linux's sg table.
 * verbose: print a line about it. */
static int create_resource(struct fe *fe, uint32_t id, const struct kg_fg_fb *fb, bool verbose)
{
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = id,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		.width = fe->w,
		.height = fe->h,
	};
	static uint8_t buf[KG_FE_REQ_MAX];
	struct virtio_gpu_resource_attach_backing *a = (void *)buf;
	struct virtio_gpu_mem_entry *e = (void *)(a + 1);
	uint32_t n = 0;
	int ret;

	for (unsigned i = 0; i < fb->n_chunks; i++) {
		if (n && e[n - 1].addr + e[n - 1].length == fb->chunks[i].fd_offset) {
			e[n - 1].length += (uint32_t)fb->chunks[i].len;
			continue;
		}
		if ((uint8_t *)&e[n + 1] > buf + sizeof(buf))
			return -E2BIG;
		e[n++] = (struct virtio_gpu_mem_entry){ fb->chunks[i].fd_offset,
							(uint32_t)fb->chunks[i].len, 0 };
	}
	*a = (struct virtio_gpu_resource_attach_backing){
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
		.resource_id = id,
		.nr_entries = n
	};
	if (verbose)
		printf("resource %u: %u pages, %u backing entries\n", id, fb->n_chunks, n);
	ret = send_cmd(fe, &c, sizeof(c));
	if (!ret)
		ret = send_cmd(fe, a, (uint32_t)(sizeof(*a) + n * sizeof(*e)));
	return ret ? ret : wait_all(fe, 2, NULL, 0, NULL);
}

/* One page flip: transfer, scanout, flush with a fence; waits for the fence. */
static int flip(struct fe *fe, uint32_t scanout, uint32_t id, const struct virtio_gpu_rect *r,
		bool new_fb, uint64_t *t_fence)
{
	struct virtio_gpu_transfer_to_host_2d t = {
		.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
		.r = *r,
		.offset = (uint64_t)r->y * fe->w * 4 + r->x * 4,
		.resource_id = id,
	};
	struct virtio_gpu_set_scanout s = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT,
		.r = { 0, 0, fe->w, fe->h },
		.scanout_id = scanout,
		.resource_id = id,
	};
	struct virtio_gpu_resource_flush f = {
		.hdr = { .type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
			 .flags = VIRTIO_GPU_FLAG_FENCE,
			 .fence_id = ++fe->fence },
		.r = *r,
		.resource_id = id,
	};
	unsigned n = 2;
	int ret = send_cmd(fe, &t, sizeof(t));

	if (!ret && new_fb) {
		ret = send_cmd(fe, &s, sizeof(s));
		n++;
	}
	if (!ret)
		ret = send_cmd(fe, &f, sizeof(f));
	if (!ret && fe->remap_now) {
		/* While the flush waits for its flip: its fence and frame
		 * must survive the table change. */
		ret = fe->remaps % 2
			      ? kg_fe_vu_set_mem(&fe->vu, fe->ram.memfd, fe->ram.size, fe->ram.map)
			      : kg_fe_vu_set_mem_split(&fe->vu, fe->ram.memfd, fe->ram.size,
						       fe->ram.map);
		if (ret < 0)
			fprintf(stderr, "kg-frontend: SET_MEM_TABLE refused: %s\n", strerror(-ret));
		fe->remaps++;
		fe->remap_now = false;
	}
	return ret ? ret : wait_all(fe, n, NULL, 0, t_fence);
}

/* utime and stime of pid in seconds; false when unreadable. */
static bool proc_times(int pid, double *ut_s, double *st_s)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	/* after ") ": state(3) ... utime is field 14, stime 15 */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return false;
	*ut_s = (double)ut / (double)sysconf(_SC_CLK_TCK);
	*st_s = (double)st / (double)sysconf(_SC_CLK_TCK);
	return true;
}

static double proc_cpu_s(int pid)
{
	double ut, st;

	return proc_times(pid, &ut, &st) ? ut + st : -1;
}

/* What a process has used so far, summed over its threads. */
struct proc_use {
	double ut_s, st_s;    /* utime, stime: /proc/PID/stat (clock ticks) */
	uint64_t run_ns;      /* time on a CPU, /proc/PID/task/ * /schedstat */
	uint64_t vcsw, nvcsw; /* (non)voluntary context switches */
	bool ok;
};

static void task_use(int pid, const char *tid, struct proc_use *u)
{
	char path[300], line[128];
	unsigned long long run, v;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", pid, tid);
	f = fopen(path, "re");
	if (f && fscanf(f, "%llu", &run) == 1)
		u->run_ns += run;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/task/%s/status", pid, tid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1)
			u->vcsw += v;
		else if (sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
			u->nvcsw += v;
	}
	if (f)
		fclose(f);
}

static struct proc_use proc_use(int pid)
{
	struct proc_use u = { 0 };
	char path[64];
	struct dirent *de;
	bool ok = proc_times(pid, &u.ut_s, &u.st_s);
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			task_use(pid, de->d_name, &u);
	if (d)
		closedir(d);
	u.ok = ok && d;
	return u;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct opts {
	const char *socket;
	unsigned frames;
	int layout;
	bool band, screendump;
	int backend_pid;
	unsigned remap_every;
	unsigned scanouts;
	const char *draw; /* --draw SPEC, NULL: no draw time */
	uint64_t seed;
	struct kg_drawtime drawtime; /* parsed from draw and seed */
	int fps;		     /* --fps N, -1: not given (--frames runs) */
	double seconds;		     /* --seconds S */
	unsigned frame_base;	     /* --frame-base N */
	bool churn;		     /* --churn */
	const char *until;	     /* --until PATH, NULL: --frames only */
};

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = { (time_t)(t_ns / 1000000000u), (long)(t_ns % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Frame f into buffer b of every scanout, each flipped and fenced in turn;
 * scanout 0's commands go out at draw_end at the earliest (0: at once), and
 * when is t_sent; t is when the last fence came back. */
static int flip_scanouts(struct fe *fe, const struct opts *o, unsigned f, unsigned b,
			 uint64_t draw_end, uint64_t *t_sent, uint64_t *t)
{
	uint32_t band = fe->h / 8;
	struct virtio_gpu_rect full = { 0, 0, fe->w, fe->h };
	struct virtio_gpu_rect r = { 0, (f % 8) * band, fe->w, band };
	struct kg_rect kr = { r.x, r.y, r.width, r.height };

	for (unsigned s = 0; s < fe->n_scanouts; s++) {
		/* Whole buffers once; then an eighth per frame (the guest's own
		 * drawing is not what is measured). */
		kg_fg_draw(&fe->fb[s][b], o->frame_base + f + s * SCANOUT_FRAME_STEP,
			   f < NBUF && !(o->band && f) ? NULL : &kr);
		/* One new memory table per frame, with the first flush. */
		fe->remap_now = !s && o->remap_every && f % o->remap_every == o->remap_every - 1;
		if (!s) {
			if (draw_end)
				sleep_until(draw_end);
			*t_sent = now_ns();
		}
		if (flip(fe, s, s * NBUF + b + 1, o->band && f > 0 ? &r : &full, !o->band || f == 0,
			 t) < 0)
			return -1;
	}
	return 0;
}

/* --churn ids: one per frame, above the buffers' (1..). */
#define CHURN_ID 0x10000u

/* --churn: frame f's resource is made, frame f - 1's dropped. */
static int churn(struct fe *fe, unsigned f)
{
	struct virtio_gpu_resource_unref u = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
		.resource_id = CHURN_ID + f - 1,
	};
	int ret = create_resource(fe, CHURN_ID + f, &fe->fb[0][0], false);

	if (!ret && f)
		ret = send_cmd(fe, &u, sizeof(u));
	if (!ret && f)
		ret = wait_all(fe, 1, NULL, 0, NULL);
	if (ret < 0)
		fprintf(stderr, "kg-frontend: --churn, frame %u: %s\n", f, strerror(-ret));
	return ret;
}

/* Per-frame draw times of --draw: what was asked and what was achieved. */
struct draw_log {
	uint64_t *target, *achieved;
	int64_t overrun_max;
	unsigned n;
};

/* FRAME line of frame f, whose draw started at the fence at base. */
static void draw_log_add(struct draw_log *dl, unsigned f, uint64_t base, uint64_t target,
			 uint64_t t_sent, uint64_t t_fence)
{
	int64_t over = (int64_t)(t_sent - base) - (int64_t)target;

	dl->target[dl->n] = target;
	dl->achieved[dl->n] = t_sent - base;
	if (!dl->n || over > dl->overrun_max)
		dl->overrun_max = over;
	dl->n++;
	printf("FRAME %u target_ns=%llu draw_ns=%llu flush_ns=%llu fence_ns=%llu\n", f,
	       (unsigned long long)target, (unsigned long long)(t_sent - base),
	       (unsigned long long)t_sent, (unsigned long long)t_fence);
}

/* The RESULT line's draw fields (sorts the log). */
static void draw_log_print(struct draw_log *dl)
{
	unsigned n = dl->n;

	qsort(dl->target, n, sizeof(*dl->target), cmp_u64);
	qsort(dl->achieved, n, sizeof(*dl->achieved), cmp_u64);
	printf(" draw_target_p50_ms=%.3f draw_p50_ms=%.3f draw_p99_ms=%.3f "
	       "draw_overrun_max_ms=%.3f",
	       n ? dl->target[n / 2] / 1e6 : 0, n ? dl->achieved[n / 2] / 1e6 : 0,
	       n ? dl->achieved[n * 99 / 100] / 1e6 : 0, dl->overrun_max / 1e6);
}

static int run_frames(struct fe *fe, const struct opts *o, unsigned *last)
{
	uint64_t *iv = calloc(o->frames, sizeof(*iv)), prev = 0, base = now_ns();
	struct draw_log dl = { calloc(o->frames, sizeof(uint64_t)),
			       calloc(o->frames, sizeof(uint64_t)) };
	struct kg_drawtime dt = o->drawtime;
	double cpu0 = o->backend_pid ? proc_cpu_s(o->backend_pid) : -1, cpu1;
	unsigned n_iv = 0, f;
	int ret = -ENOMEM;

	if (!iv || !dl.target || !dl.achieved)
		goto out_free;
	for (f = 0; f < o->frames && !(o->until && access(o->until, F_OK) == 0); f++) {
		/* full: page flips between the two buffers; band: one buffer
		 * updated in place (a 2D guest flushing what it drew). */
		unsigned b = o->band ? 0 : f % NBUF;
		uint64_t target = o->draw ? kg_drawtime_next(&dt) : 0, t = 0, t_sent = 0;

		ret = o->churn ? churn(fe, f) : 0;
		if (ret == 0)
			ret = flip_scanouts(fe, o, f, b, o->draw ? base + target : 0, &t_sent, &t);
		if (ret < 0)
			goto out_free;
		printf("FENCE %u t=%llu.%09llu\n", f, (unsigned long long)(t / 1000000000u),
		       (unsigned long long)(t % 1000000000u));
		if (o->draw)
			draw_log_add(&dl, f, base, target, t_sent, t);
		if (prev)
			iv[n_iv++] = t - prev;
		prev = base = t;
		*last = b;
	}
	cpu1 = o->backend_pid ? proc_cpu_s(o->backend_pid) : -1;
	qsort(iv, n_iv, sizeof(*iv), cmp_u64);
	printf("RESULT frames=%u remaps=%u fence_interval_p50_ms=%.3f fence_interval_p99_ms=%.3f "
	       "backend_cpu_ms_per_frame=%.3f",
	       f, fe->remaps, n_iv ? iv[n_iv / 2] / 1e6 : 0, n_iv ? iv[n_iv * 99 / 100] / 1e6 : 0,
	       cpu0 >= 0 && cpu1 >= 0 && f ? (cpu1 - cpu0) * 1e3 / f : -1.0);
	if (o->draw)
		draw_log_print(&dl);
	printf("\n");
	ret = 0;
out_free:
	free(dl.achieved);
	free(dl.target);
	free(iv);
	return ret;
}

/* RESULT fields of the back-end's use between a and b, over secs s and n frames. */
static void print_use(const struct proc_use *a, const struct proc_use *b, double secs, unsigned n)
{
	double ut_ms = (b->ut_s - a->ut_s) * 1e3, st_ms = (b->st_s - a->st_s) * 1e3;
	double cpu_ms = ut_ms + st_ms, run_ms = (double)(b->run_ns - a->run_ns) / 1e6;

	if (!a->ok || !b->ok)
		return;
	printf(" backend_cpu_ms_per_s=%.3f backend_utime_ms_per_s=%.3f "
	       "backend_stime_ms_per_s=%.3f backend_run_ms_per_s=%.3f "
	       "backend_wakeups_per_s=%.2f backend_nvcsw_per_s=%.2f "
	       "backend_cpu_ms_per_frame=%.3f backend_run_ms_per_frame=%.3f",
	       cpu_ms / secs, ut_ms / secs, st_ms / secs, run_ms / secs,
	       (double)(b->vcsw - a->vcsw) / secs, (double)(b->nvcsw - a->nvcsw) / secs,
	       n ? cpu_ms / n : -1.0, n ? run_ms / n : -1.0);
}

/*
 * --fps N --seconds S: frame 0 sets the scanout up and is shown; then for S
 * seconds frame k goes out at (k - 1/2)/N s after frame 0's fence (at once
 * when the previous fence came later), none with N = 0. The back-end's use is
 * sampled at the start and the end of those S seconds.
 */
static int run_paced(struct fe *fe, const struct opts *o, unsigned *last)
{
	uint64_t t0 = 0, t_sent, t, end, period = o->fps ? 1000000000ull / (unsigned)o->fps : 0;
	struct proc_use u0 = { 0 }, u1 = { 0 };
	unsigned f = 0;

	if (flip_scanouts(fe, o, f, 0, 0, &t_sent, &t0) < 0)
		return -1;
	*last = 0;
	if (o->backend_pid)
		u0 = proc_use(o->backend_pid);
	end = t0 + (uint64_t)(o->seconds * 1e9);
	/* Frame k at (k - 1/2) periods: N * S frames in the S seconds. */
	while (period && t0 + f * period + period / 2 < end) {
		unsigned b;

		f++;
		b = o->band ? 0 : f % NBUF;
		if (flip_scanouts(fe, o, f, b, t0 + f * period - period / 2, &t_sent, &t) < 0)
			return -1;
		*last = b;
	}
	if (now_ns() < end)
		sleep_until(end);
	t = now_ns();
	if (o->backend_pid)
		u1 = proc_use(o->backend_pid);
	printf("RESULT fps_target=%d seconds=%.3f frames=%u fps=%.2f", o->fps, (t - t0) / 1e9, f,
	       f / ((t - t0) / 1e9));
	if (o->backend_pid)
		print_use(&u0, &u1, (t - t0) / 1e9, f);
	printf("\n");
	return 0;
}

/* PIXEL lines: scanout 0; SCANOUT_PIXEL s ...: every scanout (--scanouts). */
static void print_pixels(const struct fe *fe, const struct opts *o, unsigned b)
{
	for (unsigned s = 0; s < fe->n_scanouts; s++) {
		for (uint32_t gy = 0; gy < 16; gy++) {
			for (uint32_t gx = 0; gx < 16; gx++) {
				uint32_t x = gx * (fe->w - 1) / 15, y = gy * (fe->h - 1) / 15;
				uint32_t v = kg_fg_pixel(&fe->fb[s][b], x, y) & 0xffffff;

				if (!s)
					printf("PIXEL %u %u %06x\n", x, y, v);
				if (o->scanouts > 1)
					printf("SCANOUT_PIXEL %u %u %u %06x\n", s, x, y, v);
			}
		}
	}
	printf("READY\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "socket", 1, 0, 's' },      { "frames", 1, 0, 'n' },
		{ "layout", 1, 0, 'l' },      { "damage", 1, 0, 'd' },
		{ "backend-pid", 1, 0, 'p' }, { "screendump", 0, 0, 'S' },
		{ "remap-every", 1, 0, 'r' }, { "scanouts", 1, 0, 'o' },
		{ "draw", 1, 0, 'D' },	      { "seed", 1, 0, 'e' },
		{ "fps", 1, 0, 'F' },	      { "seconds", 1, 0, 'T' },
		{ "frame-base", 1, 0, 'b' },  { "churn", 0, 0, 'C' },
		{ "until", 1, 0, 'u' },	      { 0 },
	};
	char err[160], *end;
	int c;

	*o = (struct opts){
		.frames = 120, .layout = KG_FG_SCATTERED, .scanouts = 1, .seed = 1, .fps = -1
	};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 's')
			o->socket = optarg;
		else if (c == 'n')
			o->frames = (unsigned)atoi(optarg);
		else if (c == 'l')
			o->layout = kg_fg_layout_parse(optarg);
		else if (c == 'd')
			o->band = !strcmp(optarg, "band");
		else if (c == 'p')
			o->backend_pid = atoi(optarg);
		else if (c == 'S')
			o->screendump = true;
		else if (c == 'r')
			o->remap_every = (unsigned)atoi(optarg);
		else if (c == 'o')
			o->scanouts = (unsigned)atoi(optarg);
		else if (c == 'D')
			o->draw = optarg;
		else if (c == 'F')
			o->fps = (int)strtol(optarg, &end, 10);
		else if (c == 'T')
			o->seconds = strtod(optarg, &end);
		else if (c == 'b')
			o->frame_base = (unsigned)strtoul(optarg, &end, 0);
		else if (c == 'C')
			o->churn = true;
		else if (c == 'u')
			o->until = optarg;
		else if (c == 'e') {
			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end) {
				fprintf(stderr, "kg-frontend: --seed %s is not a number\n", optarg);
				return -1;
			}
		} else
			return -1;
	}
	if (o->draw && kg_drawtime_parse(&o->drawtime, o->draw, o->seed, err, sizeof(err)) < 0) {
		fprintf(stderr, "kg-frontend: %s\n", err);
		return -1;
	}
	if (!o->socket || o->layout < 0 || !o->frames || !o->scanouts || o->scanouts > MAX_SCANOUTS)
		return -1;
	if ((o->fps >= 0) != (o->seconds > 0) || o->fps > 1000 || o->seconds > 3600 ||
	    (o->fps >= 0 && (o->draw || o->remap_every || o->churn))) {
		fprintf(stderr, "kg-frontend: --fps N (0..1000) and --seconds S (0..3600) go "
				"together, without --draw, --remap-every and --churn\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fe fe = { .vu.sock = -1 };
	struct opts o;
	unsigned last = 0;
	int ret = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr,
			"usage: kg-frontend --socket PATH [--frames N] [--layout L] "
			"[--damage full|band] [--backend-pid PID] [--screendump] "
			"[--remap-every N] [--scanouts N] [--draw SPEC] [--seed N]\n"
			"       [--fps N --seconds S] [--frame-base N] [--until PATH] [--churn]\n"
			"  SPEC: fixed:MS, jitter:MS,SD, spikes:MS,LONG_MS,PROB or "
			"steps:MS1,N1,MS2\n");
		return 2;
	}
	fe.n_scanouts = o.scanouts;
	if (kg_fg_ram_init(&fe.ram, 256ull << 20, 4321) < 0 || setup_vhost(&fe, o.socket) < 0 ||
	    display_info(&fe) < 0)
		goto out;
	for (unsigned i = 0; i < fe.n_scanouts * NBUF; i++) {
		struct kg_fg_fb *fb = &fe.fb[i / NBUF][i % NBUF];

		if (kg_fg_fb_init(fb, &fe.ram, o.layout, i + 1, fe.w, fe.h) < 0 ||
		    create_resource(&fe, i + 1, fb, true) < 0)
			goto out;
	}
	if ((o.fps >= 0 ? run_paced(&fe, &o, &last) : run_frames(&fe, &o, &last)) < 0)
		goto out;
	if (o.screendump) {
		char line[64];
		print_pixels(&fe, &o, last);
		if (!fgets(line, sizeof(line), stdin))
			fprintf(stderr, "kg-frontend: stdin closed\n");
	}
	ret = 0;
out:
	kg_fe_vu_close(&fe.vu);
	kg_fe_vring_finish(&fe.ctrl);
	kg_fe_vring_finish(&fe.cursor);
	for (unsigned i = 0; i < MAX_SCANOUTS * NBUF; i++)
		kg_fg_fb_finish(&fe.fb[i / NBUF][i % NBUF]);
	kg_fg_ram_finish(&fe.ram);
	return ret;
}
