// SPDX-License-Identifier: MIT
/*
 * The jit pacer's predictor and release times: hand-made cases, then a
 * simulated paced guest on a 60 Hz vblank grid whose draw times follow a
 * recorded-like sequence (fixed seed), where the right answer is known:
 * release-to-glass near draw + margin, misses within the goal; and the
 * draw times a real guest recorded (the file given as the first argument,
 * pacer-draws-guest.txt) replayed on the same grid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pacer.h"

#define MS     1000000ull
#define PERIOD 16666667ull
#define MARGIN (2 * MS)
#define T0     (1000 * MS)
/* The rig's commit path: a flush received this long before a vblank still
 * makes it (vkms under TCG commits in well under a millisecond). */
#define COMMIT_NS (1 * MS)

/* The first vblank at or after t. */
static uint64_t vblank_after(uint64_t t)
{
	return t <= T0 ? T0 : T0 + (t - T0 + PERIOD - 1) / PERIOD * PERIOD;
}

struct sim {
	struct kg_pacer *p;
	uint64_t commit_ns; /* the output's path before a vblank (COMMIT_NS) */
	uint64_t flip;	    /* the last frame's vblank */
	uint64_t release;   /* when the guest was released */
	uint64_t glass[4096];
	unsigned n, late;
};

/* One paced frame: shown at s->flip, the guest released when the pacer
 * says, draws for draw_ns, its flush makes the first vblank it can. */
static void sim_frame(struct sim *s, uint64_t draw_ns)
{
	uint64_t rel = kg_pacer_shown(s->p, s->flip, PERIOD), flush, flip;

	assert_true(rel >= s->flip);
	assert_true(rel < s->flip + PERIOD);
	kg_pacer_released(s->p, rel);
	flush = rel + draw_ns;
	kg_pacer_frame(s->p, flush);
	flip = vblank_after(flush + s->commit_ns);
	/* It was drawn for the first vblank after its release. */
	if (flip > vblank_after(rel + 1))
		s->late++;
	if (s->n < 4096)
		s->glass[s->n++] = flip - rel;
	s->flip = flip;
}

static uint64_t median(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
}

static struct sim *sim_new(enum kg_pacing mode)
{
	struct sim *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->p = kg_pacer_create(mode, MARGIN);
	assert_non_null(s->p);
	s->flip = T0;
	s->commit_ns = COMMIT_NS;
	return s;
}

static void sim_free(struct sim *s)
{
	kg_pacer_destroy(s->p);
	free(s);
}

static void test_flip_mode_releases_on_the_flip(void **state)
{
	struct sim *s = sim_new(KG_PACING_FLIP);

	for (int i = 0; i < 100; i++) {
		uint64_t flip = s->flip;

		sim_frame(s, 2 * MS);
		assert_int_equal(s->glass[i], PERIOD); /* a whole refresh */
		(void)flip;
	}
	assert_int_equal(s->late, 0);
	sim_free(s);
}

static void test_jit_after_warmup_releases_just_in_time(void **state)
{
	struct sim *s = sim_new(KG_PACING_JIT);
	struct kg_pacer_state st;

	for (int i = 0; i < KG_PACER_WARMUP; i++)
		sim_frame(s, 2 * MS);
	for (int i = 0; i < KG_PACER_WARMUP; i++)
		assert_int_equal(s->glass[i], PERIOD); /* warm-up: plain */
	assert_int_equal(kg_pacer_shown(s->p, s->flip, PERIOD), s->flip + PERIOD - 2 * MS - MARGIN);
	kg_pacer_released(s->p, s->flip + PERIOD - 2 * MS - MARGIN);
	kg_pacer_get_state(s->p, &st);
	assert_true(st.active);
	assert_int_equal(st.predict_ns, 2 * MS);
	assert_int_equal(st.jit_releases, 1);
	sim_free(s);
}

static void test_jump_past_prediction_recovers(void **state)
{
	struct sim *s = sim_new(KG_PACING_JIT);
	struct kg_pacer_state st;
	unsigned late_before;

	for (int i = 0; i < 40; i++)
		sim_frame(s, 2 * MS);
	assert_int_equal(s->late, 0);
	late_before = s->late;
	/* The draw time jumps to 9 ms: late at once, then never again. */
	for (int i = 0; i < 40; i++)
		sim_frame(s, 9 * MS);
	assert_int_equal(s->late - late_before, 1);
	kg_pacer_get_state(s->p, &st);
	assert_int_equal(st.misses, 1);
	assert_true(st.active);
	assert_true(st.predict_ns >= 9 * MS);
	/* And it comes down slowly when the guest is fast again. */
	sim_frame(s, 2 * MS);
	kg_pacer_get_state(s->p, &st);
	assert_true(st.predict_ns > 8 * MS);
	for (int i = 0; i < 100; i++)
		sim_frame(s, 2 * MS);
	kg_pacer_get_state(s->p, &st);
	assert_true(st.predict_ns < 3 * MS);
	sim_free(s);
}

static void test_erratic_guest_falls_back(void **state)
{
	struct sim *s = sim_new(KG_PACING_JIT);
	struct kg_pacer_state st;

	/* 1 ms and 12 ms in turn: a spread of 11 ms, more than a third of
	 * a refresh. */
	for (int i = 0; i < 40; i++)
		sim_frame(s, (i % 2 ? 12 : 1) * MS);
	kg_pacer_get_state(s->p, &st);
	assert_int_equal(st.fallbacks, 1);
	assert_false(st.active);
	/* Plain pacing for the back-off. */
	for (int i = 0; i < 40; i++) {
		assert_int_equal(kg_pacer_shown(s->p, s->flip, PERIOD), s->flip);
		kg_pacer_released(s->p, s->flip);
		kg_pacer_frame(s->p, s->flip + 5 * MS);
		s->flip += PERIOD;
	}
	sim_free(s);
}

static void test_long_draw_is_clamped_to_plain(void **state)
{
	struct sim *s = sim_new(KG_PACING_JIT);

	/* 15 ms + 2 ms margin > one refresh: nothing to gain. */
	for (int i = 0; i < 30; i++)
		sim_frame(s, 15 * MS);
	assert_int_equal(kg_pacer_shown(s->p, s->flip, PERIOD), s->flip);
	assert_int_equal(kg_pacer_shown(s->p, s->flip, 0), s->flip); /* period unknown */
	sim_free(s);
}

/* splitmix64: the same sequence on every libc (tests/common/drawtime.c
 * does the same for the test guests). */
static uint64_t rnd(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Draw times like kg-frontend --draw jitter:MS,SD: 12 uniforms, clamped. */
static uint64_t jitter(uint64_t *x, double ms, double sd)
{
	double u = 0;

	for (int i = 0; i < 12; i++)
		u += (double)(rnd(x) >> 11) / 9007199254740992.0;
	u = ms + (u - 6) * sd;
	return u > 0 ? (uint64_t)(u * 1e6) : 0;
}

/* The goal on a steady guest: release-to-glass p50 within draw +
 * 3 ms, at most 1 late frame per 1000. */
static void run_steady(double ms, double sd)
{
	struct sim *plain = sim_new(KG_PACING_FLIP), *jit = sim_new(KG_PACING_JIT);
	uint64_t x1 = 42, x2 = 42, p50_plain, p50_jit;

	for (int i = 0; i < 1000; i++) {
		sim_frame(plain, jitter(&x1, ms, sd));
		sim_frame(jit, jitter(&x2, ms, sd));
	}
	p50_plain = median(plain->glass + 100, plain->n - 100);
	p50_jit = median(jit->glass + 100, jit->n - 100);
	print_message("draw %.0f±%.1f ms: release-to-glass p50 plain %.2f ms, jit %.2f ms; "
		      "late plain %u, jit %u of 1000\n",
		      ms, sd, p50_plain / 1e6, p50_jit / 1e6, plain->late, jit->late);
	assert_true(p50_jit <= (uint64_t)(ms * 1e6) + 3 * MS);
	assert_true(p50_jit < p50_plain);
	assert_true(jit->late <= 1);
	sim_free(plain);
	sim_free(jit);
}

static void test_steady_2ms(void **state)
{
	run_steady(2, 0.3);
}

static void test_steady_5ms(void **state)
{
	run_steady(5, 0.5);
}

static void test_steady_10ms(void **state)
{
	run_steady(10, 0.5);
}

/* An output whose path before the vblank is longer than the margin (3 ms
 * against 2: a copying output): without slack nearly every frame would be
 * late; the misses add slack, and it wears down to a miss about every 90
 * frames (derived), at most 15 in the next 900 frames, still jit. */
static void test_thin_margin_learns_slack(void **state)
{
	struct sim *s = sim_new(KG_PACING_JIT);
	struct kg_pacer_state st;
	unsigned late;

	s->commit_ns = 3 * MS;
	for (int i = 0; i < 100; i++)
		sim_frame(s, 2 * MS);
	late = s->late;
	kg_pacer_get_state(s->p, &st);
	print_message("late %u of 100, slack %.2f ms, misses %llu\n", late, st.slack_ns / 1e6,
		      (unsigned long long)st.misses);
	assert_true(late >= 1 && late <= 3);
	assert_true(st.slack_ns > MS / 2); /* learned, and wearing off */
	assert_int_equal(st.fallbacks, 0);
	for (int i = 0; i < 900; i++)
		sim_frame(s, 2 * MS);
	print_message("then late %u of 900\n", s->late - late);
	assert_true(s->late - late <= 15);
	kg_pacer_get_state(s->p, &st);
	assert_true(st.active);
	sim_free(s);
}

/* The recorded draw times (µs): the file named on the command line. */
static const char *recorded_path;

static unsigned load_draws(const char *path, uint64_t *ns, unsigned max)
{
	char line[512];
	unsigned n = 0;
	FILE *f = fopen(path, "re");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		if (line[0] == '#')
			continue;
		for (;;) {
			unsigned long v = strtoul(p, &end, 10);

			if (end == p)
				break;
			assert_true(n < max);
			ns[n++] = (uint64_t)v * 1000;
			p = end;
		}
		/* Only numbers and blanks on a data line. */
		assert_true(strspn(p, " \t\r\n") == strlen(p));
	}
	fclose(f);
	return n;
}

/*
 * A real guest's draw times (pacer-draws-guest.txt: 499 frames of the host
 * suite's TCG Linux guest, kg-frames --draw fixed:2, p50 3.44 ms, p99 12.85
 * ms, a few spikes of 7-14 ms) replayed through the pacer on the 60 Hz grid,
 * flip pacing against jit (margin 2 ms, commit path 1 ms), release-to-glass
 * over the frames after the first 20 (warm-up). Measured (this test's
 * output, 2026-12-05): flip p50 16.67 ms, 0 late; jit p50 7.69 ms, 4 late
 * of 499 (spikes the p90 prediction could not foresee), 449 jit releases,
 * 50 on the flip (the warm-up and after misses), no fallback. Bounds: jit
 * p50 at most 10 ms and at least 6 ms under flip's; at most 8 late (2x
 * the 4 measured); at least 400 jit releases; flip never late.
 */
static void test_recorded_guest(void **state)
{
	static uint64_t draws[4096];
	struct sim *plain = sim_new(KG_PACING_FLIP), *jit = sim_new(KG_PACING_JIT);
	struct kg_pacer_state st;
	uint64_t p50_plain, p50_jit;
	unsigned n;

	if (!recorded_path)
		fail_msg("usage: test-pacer RECORDED-DRAWS-FILE (pacer-draws-guest.txt)");
	n = load_draws(recorded_path, draws, 4096);
	assert_true(n >= 400);
	for (unsigned i = 0; i < n; i++) {
		sim_frame(plain, draws[i]);
		sim_frame(jit, draws[i]);
	}
	p50_plain = median(plain->glass + 20, plain->n - 20);
	p50_jit = median(jit->glass + 20, jit->n - 20);
	kg_pacer_get_state(jit->p, &st);
	print_message("recorded guest, %u frames: release-to-glass p50 flip %.2f ms, jit %.2f ms; "
		      "late flip %u, jit %u; jit releases %llu, flip releases %llu, misses %llu, "
		      "fallbacks %llu\n",
		      n, p50_plain / 1e6, p50_jit / 1e6, plain->late, jit->late,
		      (unsigned long long)st.jit_releases, (unsigned long long)st.flip_releases,
		      (unsigned long long)st.misses, (unsigned long long)st.fallbacks);
	assert_int_equal(plain->late, 0);
	assert_true(p50_jit <= 10 * MS);
	assert_true(p50_jit + 6 * MS <= p50_plain);
	assert_true(jit->late <= 8);
	assert_true(st.jit_releases >= 400);
	sim_free(plain);
	sim_free(jit);
}

static void test_parse(void **state)
{
	assert_int_equal(kg_pacing_parse("flip"), KG_PACING_FLIP);
	assert_int_equal(kg_pacing_parse("jit"), KG_PACING_JIT);
	assert_int_equal(kg_pacing_parse("JIT"), -1);
	assert_int_equal(kg_pacing_parse(""), -1);
	assert_string_equal(kg_pacing_name(KG_PACING_JIT), "jit");
	assert_null(kg_pacer_create((enum kg_pacing)7, 0));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flip_mode_releases_on_the_flip),
		cmocka_unit_test(test_jit_after_warmup_releases_just_in_time),
		cmocka_unit_test(test_jump_past_prediction_recovers),
		cmocka_unit_test(test_erratic_guest_falls_back),
		cmocka_unit_test(test_long_draw_is_clamped_to_plain),
		cmocka_unit_test(test_steady_2ms),
		cmocka_unit_test(test_steady_5ms),
		cmocka_unit_test(test_steady_10ms),
		cmocka_unit_test(test_thin_margin_learns_slack),
		cmocka_unit_test(test_recorded_guest),
		cmocka_unit_test(test_parse),
	};

	recorded_path = argc > 1 ? argv[1] : NULL;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
