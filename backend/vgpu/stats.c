// SPDX-License-Identifier: MIT
/*
 * Frame latency statistics. Intervals per frame: flush received → commit
 * issued ("commit"), commit → flip event ("flip"), flip → fence completed
 * ("fence"), and flush received → fence completed ("total").
 */
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"

enum {
	IV_COMMIT,
	IV_FLIP,
	IV_FENCE,
	IV_TOTAL,
	IV_DRAW,
	IV_GLASS,
	IV_COUNT
};

static const char *const iv_names[IV_COUNT] = { "recv_to_commit", "commit_to_flip",
						"flip_to_fence",  "recv_to_fence",
						"draw",		  "release_to_glass" };

struct stats_window {
	uint64_t v[KG_STATS_WINDOW]; /* ns, a ring of the last samples */
	unsigned n, next;
};

struct stats_scanout {
	bool used;
	char path[32];
	uint64_t frames, shown, coalesced, dropped, zero_copy;
	uint64_t bytes_copied;
	uint64_t release_ns;   /* the last shown frame's fence: the guest drew since */
	uint64_t last_flip_ns; /* the last shown frame's flip: the vblank phase */
	uint64_t missed, missed_vblanks;
	struct stats_window iv[IV_COUNT];
	const char *pacing; /* a static name, NULL: not paced yet */
	struct kg_pacer_state pacer;
	bool unfenced; /* jit asked for, but the guest's flushes carry no fence */
};

static const char *const fence_names[KG_STATS_FENCE_COUNT] = { "flip", "replaced", "dropped",
							       "other" };

struct kg_stats {
	struct stats_scanout s[KG_MAX_SCANOUTS];
	/* Per device, not per scanout: a fence may cover frames of several
	 * scanouts, or none. */
	uint64_t fences[KG_STATS_FENCE_COUNT];
};

struct kg_stats *kg_stats_create(void)
{
	return calloc(1, sizeof(struct kg_stats));
}

void kg_stats_destroy(struct kg_stats *s)
{
	free(s);
}

static void window_add(struct stats_window *w, uint64_t from, uint64_t to)
{
	if (!from || !to || to < from)
		return;
	w->v[w->next] = to - from;
	w->next = (w->next + 1) % KG_STATS_WINDOW;
	if (w->n < KG_STATS_WINDOW)
		w->n++;
}

/*
 * A shown frame of a paced guest, measured from the fence that released the
 * guest to draw it (the previous shown frame's). It was drawn for the first
 * vblank after that release; vblanks come at the previous flip event plus
 * whole periods. Missed: shown one or more periods after that vblank.
 */
static void add_pacing(struct stats_scanout *s, const struct kg_stats_frame *f)
{
	uint64_t release = s->release_ns, last_flip = s->last_flip_ns, p = f->period_ns;

	s->release_ns = f->fence_ns; /* 0 (unfenced): the next frame is not paced */
	s->last_flip_ns = f->flip_ns;
	if (!release || !last_flip || f->recv_ns < release || f->flip_ns < release)
		return;
	window_add(&s->iv[IV_DRAW], release, f->recv_ns);
	window_add(&s->iv[IV_GLASS], release, f->flip_ns);
	if (p && f->flip_ns > last_flip) {
		/* The first vblank after the release (a fence that completes
		 * on a flip event releases just after that vblank). */
		uint64_t k = release > last_flip ? (release - last_flip + p - 1) / p : 1;
		uint64_t target = last_flip + (k ? k : 1) * p;

		if (f->flip_ns > target + p / 2) {
			s->missed++;
			s->missed_vblanks += (f->flip_ns - target + p / 2) / p;
		}
	}
}

void kg_stats_add(struct kg_stats *st, const struct kg_stats_frame *f)
{
	struct stats_scanout *s;

	if (!st || f->scanout >= KG_MAX_SCANOUTS)
		return;
	s = &st->s[f->scanout];
	s->used = true;
	if (f->path)
		snprintf(s->path, sizeof(s->path), "%s", f->path);
	s->frames++;
	if (f->coalesced)
		s->coalesced++;
	else if (!f->shown)
		s->dropped++;
	if (!f->shown)
		return;
	s->shown++;
	s->zero_copy += f->zero_copy;
	s->bytes_copied += f->bytes_copied;
	window_add(&s->iv[IV_COMMIT], f->recv_ns, f->commit_ns);
	window_add(&s->iv[IV_FLIP], f->commit_ns, f->flip_ns);
	window_add(&s->iv[IV_FENCE], f->flip_ns, f->fence_ns);
	window_add(&s->iv[IV_TOTAL], f->recv_ns, f->fence_ns);
	add_pacing(s, f);
}

void kg_stats_released(struct kg_stats *st, unsigned scanout, uint64_t t_ns)
{
	/* Only after a shown frame set it: the release it stands for. */
	if (st && scanout < KG_MAX_SCANOUTS && st->s[scanout].release_ns)
		st->s[scanout].release_ns = t_ns;
}

void kg_stats_set_pacing(struct kg_stats *st, unsigned scanout, const char *mode,
			 const struct kg_pacer_state *p)
{
	if (!st || scanout >= KG_MAX_SCANOUTS)
		return;
	st->s[scanout].pacing = mode;
	st->s[scanout].pacer = *p;
}

void kg_stats_set_unfenced(struct kg_stats *st, unsigned scanout)
{
	if (st && scanout < KG_MAX_SCANOUTS)
		st->s[scanout].unfenced = true;
}

void kg_stats_add_fence(struct kg_stats *st, enum kg_stats_fence kind)
{
	if (st && kind < KG_STATS_FENCE_COUNT)
		st->fences[kind]++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile p of n sorted samples: nearest rank, ceil(p/100 * n), 1-based. */
static uint64_t sorted_rank(const uint64_t *v, unsigned n, unsigned p)
{
	unsigned rank = (unsigned)(((uint64_t)p * n + 99) / 100);

	return v[(rank < 1 ? 1 : rank) - 1];
}

uint64_t kg_stats_percentile(uint64_t *v, unsigned n, unsigned p)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return sorted_rank(v, n, p);
}

/* v: scratch room for a window's samples (one buffer for the whole
 * document; sorted once per interval, every percentile read from it). */
static void write_interval(FILE *f, const char *name, const struct stats_window *w, uint64_t *v,
			   bool last)
{
	unsigned n = w->n;

	fprintf(f, "        \"%s\": {\"samples\": %u", name, n);
	if (v && n) {
		memcpy(v, w->v, n * sizeof(*v));
		qsort(v, n, sizeof(*v), cmp_u64);
		fprintf(f,
			", \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f",
			sorted_rank(v, n, 50) / 1e3, sorted_rank(v, n, 90) / 1e3,
			sorted_rank(v, n, 99) / 1e3, v[n - 1] / 1e3);
	}
	fprintf(f, "}%s\n", last ? "" : ",");
}

static void write_scanout(FILE *f, unsigned i, const struct stats_scanout *s, uint64_t *v,
			  bool last)
{
	fprintf(f, "    {\n      \"scanout\": %u,\n      \"path\": \"%s\",\n", i,
		s->path[0] ? s->path : "none");
	fprintf(f,
		"      \"frames\": %llu, \"shown\": %llu, \"coalesced\": %llu, \"dropped\": %llu,\n",
		(unsigned long long)s->frames, (unsigned long long)s->shown,
		(unsigned long long)s->coalesced, (unsigned long long)s->dropped);
	fprintf(f, "      \"missed\": %llu, \"missed_vblanks\": %llu,\n",
		(unsigned long long)s->missed, (unsigned long long)s->missed_vblanks);
	fprintf(f,
		"      \"bytes_copied\": %llu, \"bytes_copied_per_frame\": %.1f, "
		"\"zero_copy_ratio\": %.3f,\n",
		(unsigned long long)s->bytes_copied,
		s->shown ? (double)s->bytes_copied / (double)s->shown : 0.0,
		s->shown ? (double)s->zero_copy / (double)s->shown : 0.0);
	if (s->pacing || s->unfenced)
		fprintf(f,
			"      \"pacing\": {\"mode\": \"%s\", \"unfenced\": %s, \"active\": %s, "
			"\"predict_us\": %.1f, \"slack_us\": %.1f, \"jit_releases\": %llu, "
			"\"flip_releases\": %llu, "
			"\"misses\": %llu, \"fallbacks\": %llu},\n",
			s->pacing ? s->pacing : "jit", s->unfenced ? "true" : "false",
			s->pacer.active ? "true" : "false", s->pacer.predict_ns / 1e3,
			s->pacer.slack_ns / 1e3, (unsigned long long)s->pacer.jit_releases,
			(unsigned long long)s->pacer.flip_releases,
			(unsigned long long)s->pacer.misses,
			(unsigned long long)s->pacer.fallbacks);
	fprintf(f, "      \"intervals\": {\n");
	for (int k = 0; k < IV_COUNT; k++)
		write_interval(f, iv_names[k], &s->iv[k], v, k == IV_COUNT - 1);
	fprintf(f, "      }\n    }%s\n", last ? "" : ",");
}

int kg_stats_write(const struct kg_stats *st, FILE *f)
{
	uint64_t *v;
	unsigned last = 0;
	bool any = false;

	for (unsigned i = 0; i < KG_MAX_SCANOUTS; i++) {
		if (st->s[i].used) {
			last = i;
			any = true;
		}
	}
	fprintf(f, "{\n  \"version\": 1,\n  \"window\": %u,\n  \"fences\": {", KG_STATS_WINDOW);
	for (int k = 0; k < KG_STATS_FENCE_COUNT; k++)
		fprintf(f, "%s\"%s\": %llu", k ? ", " : "", fence_names[k],
			(unsigned long long)st->fences[k]);
	fprintf(f, "},\n  \"scanouts\": [\n");
	/* Without it (out of memory) the counts are still written. */
	v = malloc(KG_STATS_WINDOW * sizeof(*v));
	for (unsigned i = 0; any && i <= last; i++) {
		if (st->s[i].used)
			write_scanout(f, i, &st->s[i], v, i == last);
	}
	free(v);
	fprintf(f, "  ]\n}\n");
	return ferror(f) ? -EIO : 0;
}

int kg_stats_write_file(const struct kg_stats *st, const char *path)
{
	char tmp[4096];
	FILE *f;
	int fd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		ret = -errno;
		close(fd);
		unlink(tmp);
		return ret;
	}
	ret = kg_stats_write(st, f);
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}
