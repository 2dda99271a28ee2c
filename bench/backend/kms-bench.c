// SPDX-License-Identifier: MIT
/*
 * kms-bench: frames pushed through kmsgate's KMS output by the fake guest
 * (tests/frontend), in the board VM. The guest presents, waits for the
 * frame's completion (its fence) and presents the next, as a Linux guest
 * flipping its dumb buffers does.
 *
 * Prints one line:
 *   BENCH driver= path= frames= size= damage= cpu_us_per_frame= guest_cpu_us_per_frame=
 *         cmd_to_commit_p50_us= cmd_to_commit_p99_us= bytes_per_frame= flip_ms=
 * cpu_us_per_frame is the process's user+sys (getrusage) per frame minus
 * what the fake guest spent drawing (its thread CPU time around the draws),
 * i.e. the output's own cost. cmd_to_commit is present() called → commit
 * issued (the output's commit_ns).
 *
 *   --driver NAME    vkms (default) or virtio_gpu
 *   --frames N       default 300
 *   --copy           the copy path (KG_KMS_FORCE_COPY=1)
 *   --damage full|band   full: 3 buffers flipped in turn, whole frames;
 *                    band: one buffer, an eighth of it damaged per frame
 *   --layout L       contiguous, runs, scattered (default scattered)
 *   --size WxH       guest framebuffer (default: the mode's)
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>

#include "drm-util.h"
#include "fake-guest.h"
#include "log.h"
#include "loop.h"
#include "kms-pick.h"
#include "output-kms.h"

#define NBUF 3

struct bench {
	unsigned frames;
	bool band;
	int layout;
	uint32_t w, h;
	const char *driver;
	uint64_t *lat_ns; /* command → commit, one per frame */
	uint64_t t_present, first_flip, last_flip;
	unsigned done, shown;
};

static uint64_t ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rusage_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

static void on_present(void *data, const struct kg_present_result *r)
{
	struct bench *b = data;

	if (r->commit_ns)
		b->lat_ns[b->done] = r->commit_ns - b->t_present;
	b->done++;
	if (r->shown) {
		if (!b->shown)
			b->first_flip = r->flip_ns;
		b->last_flip = r->flip_ns;
		b->shown++;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, unsigned n, unsigned p)
{
	unsigned i = (unsigned)(((uint64_t)n * p + 99) / 100);

	return n ? v[i ? i - 1 : 0] : 0;
}

static int push(struct bench *b, struct kg_loop *loop, struct kg_output *out, struct kg_fg_fb *bufs,
		uint64_t *guest_cpu)
{
	for (unsigned f = 0; f < b->frames; f++) {
		/* band: one buffer updated in place (a 2D guest flushing a
		 * rectangle); full: buffers flipped in turn. */
		struct kg_fg_fb *fb = &bufs[b->band ? 0 : f % NBUF];
		uint32_t band = fb->src.height / 8;
		struct kg_rect r = { 0, (f % 8) * band, fb->src.width, band };
		const struct kg_rect *dmg = b->band ? &r : NULL;
		uint64_t t0 = ns(CLOCK_THREAD_CPUTIME_ID);
		int ret;

		/* Each buffer is drawn whole once, then an eighth per frame: the
		 * fake guest's drawing is not what is measured. */
		kg_fg_draw(fb, f, f < NBUF ? NULL : &r);
		*guest_cpu += ns(CLOCK_THREAD_CPUTIME_ID) - t0;
		b->t_present = ns(CLOCK_MONOTONIC);
		ret = out->ops->present(out, 0, &fb->src, dmg, on_present, b);
		if (ret < 0) {
			fprintf(stderr, "present: %s\n", strerror(-ret));
			return -1;
		}
		/* 10 s: a loaded TCG host can stall the VM for seconds. */
		while (b->done < f + 1)
			if (kg_loop_dispatch(loop, 10000) <= 0) {
				fprintf(stderr, "frame %u: no completion within 10 s\n", f);
				return -1;
			}
	}
	return 0;
}

static void report(struct bench *b, struct kg_output *out, uint64_t cpu, uint64_t guest_cpu,
		   const struct kg_fg_fb *fb)
{
	struct kg_output_kms_stats st;

	kg_output_kms_get_stats(out, 0, &st);
	qsort(b->lat_ns, b->frames, sizeof(*b->lat_ns), cmp_u64);
	printf("BENCH driver=%s path=%s frames=%u size=%ux%u damage=%s udmabuf_ranges=%u "
	       "cpu_us_per_frame=%.1f guest_cpu_us_per_frame=%.1f cmd_to_commit_p50_us=%.1f "
	       "cmd_to_commit_p99_us=%.1f bytes_per_frame=%llu flip_ms=%.3f\n",
	       b->driver, out->ops->path(out, 0), b->frames, fb->src.width, fb->src.height,
	       b->band ? "band" : "full", st.last_ranges,
	       (double)(cpu - guest_cpu) / b->frames / 1e3, (double)guest_cpu / b->frames / 1e3,
	       pct(b->lat_ns, b->frames, 50) / 1e3, pct(b->lat_ns, b->frames, 99) / 1e3,
	       (unsigned long long)(st.bytes_copied /
				    (st.zero_copy + st.copied ? st.zero_copy + st.copied : 1)),
	       b->shown > 1 ? (double)(b->last_flip - b->first_flip) / (b->shown - 1) / 1e6 : 0);
}

static int run(struct bench *b, int fd, struct kg_loop *loop)
{
	struct kg_kms_pipe pipe;
	struct kg_output *out = NULL;
	struct kg_fg_ram ram = { .memfd = -1 };
	struct kg_fg_fb bufs[NBUF] = { 0 };
	uint64_t cpu0, guest_cpu = 0;
	int ret = -1;

	if (kg_kms_find_pipes(fd, &pipe, 1) != 1)
		return -1;
	if (!b->w) {
		b->w = pipe.mode.hdisplay;
		b->h = pipe.mode.vdisplay;
	}
	if (kg_fg_ram_init(&ram, (uint64_t)b->w * b->h * 4 * NBUF * 2 + (16 << 20), 99) < 0)
		goto out;
	for (unsigned i = 0; i < NBUF; i++)
		if (kg_fg_fb_init(&bufs[i], &ram, b->layout, i + 1, b->w, b->h) < 0)
			goto out;
	out = kg_output_kms_create(loop, fd, &pipe, 1);
	if (!out)
		goto out;
	cpu0 = rusage_ns();
	if (push(b, loop, out, bufs, &guest_cpu) == 0) {
		report(b, out, rusage_ns() - cpu0, guest_cpu, &bufs[0]);
		ret = 0;
	}
out:
	if (out)
		out->ops->destroy(out);
	for (unsigned i = 0; i < NBUF; i++)
		kg_fg_fb_finish(&bufs[i]);
	kg_fg_ram_finish(&ram);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "driver", 1, 0, 'd' },
		{ "frames", 1, 0, 'n' },
		{ "copy", 0, 0, 'c' },
		{ "damage", 1, 0, 'D' },
		{ "layout", 1, 0, 'l' },
		{ "size", 1, 0, 's' },
		{ 0 },
	};
	struct bench b = { .frames = 300, .layout = KG_FG_SCATTERED, .driver = "vkms" };
	struct kg_loop *loop;
	int c, fd, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	kg_log_init("kms-bench", KG_LOG_WARN);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			b.driver = optarg;
			break;
		case 'n':
			b.frames = (unsigned)atoi(optarg);
			break;
		case 'c':
			setenv("KG_KMS_FORCE_COPY", "1", 1);
			break;
		case 'D':
			b.band = !strcmp(optarg, "band");
			break;
		case 'l':
			b.layout = kg_fg_layout_parse(optarg);
			break;
		case 's':
			if (sscanf(optarg, "%ux%u", &b.w, &b.h) != 2)
				return 2;
			break;
		default:
			fprintf(stderr, "usage: kms-bench [--driver D] [--frames N] [--copy] "
					"[--damage full|band] [--layout L] [--size WxH]\n");
			return 2;
		}
	}
	if (b.layout < 0 || !b.frames)
		return 2;
	b.lat_ns = calloc(b.frames, sizeof(*b.lat_ns));
	loop = kg_loop_create();
	fd = kg_vmt_open_card(b.driver);
	if (!b.lat_ns || !loop || fd < 0)
		return 1;
	ret = run(&b, fd, loop);
	close(fd);
	kg_loop_destroy(loop);
	free(b.lat_ns);
	return ret ? 1 : 0;
}
