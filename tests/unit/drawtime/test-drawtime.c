// SPDX-License-Identifier: MIT
/* The synthetic guest's draw time: spec errors, and each distribution's
 * samples over a fixed seed (deterministic: the same numbers every run). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "drawtime.h"

#define MS	  1000000ull
#define SAMPLES	  10000
#define TEST_SEED 42

static void test_parse_errors_name_the_problem(void **state)
{
	static const struct {
		const char *spec, *says;
	} bad[] = {
		{ "", "expected KIND:ARGS" },
		{ "fixed", "expected KIND:ARGS" },
		{ "fixed:", "expected fixed:MS" },
		{ "fixed:-1", "expected fixed:MS" },
		{ "fixed:abc", "expected fixed:MS" },
		{ "fixed:1e3", "expected fixed:MS" },
		{ "fixed:inf", "expected fixed:MS" },
		{ "fixed:.", "expected fixed:MS" },
		{ "fixed: 5", "expected fixed:MS" },
		{ "fixed:5 ", "expected fixed:MS" },
		{ "fixed:1,2", "expected fixed:MS" },
		{ "fixed:20000", "20000 ms is more than 10000 ms" },
		{ "jitter:5", "expected jitter:MS,SD" },
		{ "jitter:5,,2", "expected jitter:MS,SD" },
		{ "jitter:5,2,", "expected jitter:MS,SD" },
		{ "spikes:5,30", "expected spikes:MS,LONG_MS,PROB" },
		{ "spikes:5,30,1.5", "PROB 1.5 is not in 0..1" },
		{ "spikes:5,30000,0.5", "30000 ms is more than" },
		{ "steps:4,2.5,8", "N1 2.5 is not a frame count" },
		{ "steps:4,60", "expected steps:MS1,N1,MS2" },
		{ "Fixed:5", "unknown kind 'Fixed'" },
		{ "gauss:5,1", "unknown kind 'gauss'" },
	};
	struct kg_drawtime d;
	char err[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = kg_drawtime_parse(&d, bad[i].spec, 1, err, sizeof(err));

		if (ret != -EINVAL || !strstr(err, bad[i].says))
			fail_msg("'%s': %d, message '%s' (expected '%s')", bad[i].spec, ret, err,
				 bad[i].says);
		/* Left as fixed:0, not half-filled. */
		assert_int_equal(kg_drawtime_next(&d), 0);
	}
	assert_int_equal(kg_drawtime_parse(&d, NULL, 1, err, sizeof(err)), -EINVAL);
	/* A message cut to the buffer is still a string; no buffer is fine. */
	assert_int_equal(kg_drawtime_parse(&d, "nope:1", 1, err, 8), -EINVAL);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(kg_drawtime_parse(&d, "nope:1", 1, NULL, 0), -EINVAL);
}

static void test_fixed_gives_exactly_ms(void **state)
{
	struct kg_drawtime d;
	char err[160];

	assert_int_equal(kg_drawtime_parse(&d, "fixed:5", 1, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	for (int i = 0; i < 1000; i++)
		assert_int_equal(kg_drawtime_next(&d), 5 * MS);
	assert_int_equal(kg_drawtime_parse(&d, "fixed:2.5", 1, err, sizeof(err)), 0);
	assert_int_equal(kg_drawtime_next(&d), 2500000);
	assert_int_equal(kg_drawtime_parse(&d, "fixed:0.000001", 1, err, sizeof(err)), 0);
	assert_int_equal(kg_drawtime_next(&d), 1);
	assert_int_equal(kg_drawtime_parse(&d, "fixed:0", 1, err, sizeof(err)), 0);
	assert_int_equal(kg_drawtime_next(&d), 0);
	assert_int_equal(kg_drawtime_parse(&d, "fixed:10000", 1, err, sizeof(err)), 0);
	assert_int_equal(kg_drawtime_next(&d), 10000 * MS);
}

/* Mean, variance, least and greatest of SAMPLES samples of spec. */
static void sample_stats(const char *spec, double *mean_ms, double *var_ms2, uint64_t *min_ns,
			 uint64_t *max_ns)
{
	struct kg_drawtime d;
	double sum = 0, sq = 0;
	char err[160];

	assert_int_equal(kg_drawtime_parse(&d, spec, TEST_SEED, err, sizeof(err)), 0);
	*min_ns = UINT64_MAX;
	*max_ns = 0;
	for (int i = 0; i < SAMPLES; i++) {
		uint64_t v = kg_drawtime_next(&d);
		double ms = (double)v / MS;

		sum += ms;
		sq += ms * ms;
		if (v < *min_ns)
			*min_ns = v;
		if (v > *max_ns)
			*max_ns = v;
	}
	*mean_ms = sum / SAMPLES;
	*var_ms2 = sq / SAMPLES - *mean_ms * *mean_ms;
}

/* Mean and variance within about four standard errors (SE of the mean
 * 0.02 ms, of the variance about 0.055 ms^2 here); with the fixed seed the
 * figures are the same every run. */
static void test_jitter_mean_and_sd(void **state)
{
	double mean, var;
	uint64_t min, max;

	sample_stats("jitter:8,2", &mean, &var, &min, &max);
	print_message("jitter:8,2 over %d: mean %.4f ms, variance %.4f ms^2, %.3f..%.3f ms\n",
		      SAMPLES, mean, var, (double)min / MS, (double)max / MS);
	assert_true(mean > 7.92 && mean < 8.08);
	assert_true(var > 3.78 && var < 4.22);
	/* The sum of 12 uniforms never goes beyond 6 SD. */
	assert_true(max <= 20 * MS);
	sample_stats("jitter:8,0", &mean, &var, &min, &max);
	assert_true(min == 8 * MS && max == 8 * MS);
}

/* Normal in shape, not only in its first two moments: 68.3 % of the
 * samples within one SD of the mean, 95.4 % within two. */
static void test_jitter_is_bell_shaped(void **state)
{
	struct kg_drawtime d;
	unsigned in1 = 0, in2 = 0;

	assert_int_equal(kg_drawtime_parse(&d, "jitter:8,2", TEST_SEED, NULL, 0), 0);
	for (int i = 0; i < SAMPLES; i++) {
		uint64_t v = kg_drawtime_next(&d);

		in1 += v > 6 * MS && v < 10 * MS;
		in2 += v > 4 * MS && v < 12 * MS;
	}
	print_message("jitter:8,2: %u within 1 SD, %u within 2 SD of %d\n", in1, in2, SAMPLES);
	assert_in_range(in1, 6690, 6970);
	assert_in_range(in2, 9450, 9630);
}

static void test_jitter_clamped_at_zero(void **state)
{
	double mean, var;
	uint64_t min, max;

	/* Half the samples would be negative: they are 0, so the mean rises
	 * to about SD / sqrt(2 pi) = 0.8 ms. */
	sample_stats("jitter:0,2", &mean, &var, &min, &max);
	assert_int_equal(min, 0);
	assert_true(mean > 0.7 && mean < 0.9);
}

static void test_same_seed_same_sequence(void **state)
{
	struct kg_drawtime a, b, c;
	int differ = 0;

	assert_int_equal(kg_drawtime_parse(&a, "jitter:8,2", 7, NULL, 0), 0);
	assert_int_equal(kg_drawtime_parse(&b, "jitter:8,2", 7, NULL, 0), 0);
	assert_int_equal(kg_drawtime_parse(&c, "jitter:8,2", 8, NULL, 0), 0);
	for (int i = 0; i < 100; i++) {
		uint64_t x = kg_drawtime_next(&a);

		assert_int_equal(x, kg_drawtime_next(&b));
		differ += x != kg_drawtime_next(&c);
	}
	assert_true(differ > 90);
}

/* splitmix64 exactly (the reference's first output for seed 0), so a seed
 * gives the same run on every libc and architecture. */
static void test_generator_is_splitmix64(void **state)
{
	struct kg_drawtime d;

	assert_int_equal(kg_drawtime_parse(&d, "fixed:1", 0, NULL, 0), 0);
	assert_true(kg_drawtime_uniform(&d) == (double)(0xe220a8397b1dcdafull >> 11) * 0x1p-53);
	for (int i = 0; i < SAMPLES; i++) {
		double u = kg_drawtime_uniform(&d);

		assert_true(u >= 0 && u < 1);
	}
}

static unsigned count_long(const char *spec, uint64_t short_ns, uint64_t long_ns)
{
	struct kg_drawtime d;
	unsigned n = 0;

	assert_int_equal(kg_drawtime_parse(&d, spec, TEST_SEED, NULL, 0), 0);
	for (int i = 0; i < SAMPLES; i++) {
		uint64_t v = kg_drawtime_next(&d);

		if (v != short_ns && v != long_ns)
			fail_msg("%s: sample %d is %llu ns", spec, i, (unsigned long long)v);
		n += v == long_ns;
	}
	return n;
}

static void test_spikes_frequency(void **state)
{
	/* Binomial(10000, 0.05): 500 expected, SD 21.8. */
	unsigned n = count_long("spikes:5,30,0.05", 5 * MS, 30 * MS);

	print_message("spikes:5,30,0.05 over %d: %u long\n", SAMPLES, n);
	assert_in_range(n, 430, 570);
	assert_int_equal(count_long("spikes:5,30,0", 5 * MS, 30 * MS), 0);
	assert_int_equal(count_long("spikes:5,30,1", 5 * MS, 30 * MS), SAMPLES);
}

static void test_steps(void **state)
{
	struct kg_drawtime d;

	assert_int_equal(kg_drawtime_parse(&d, "steps:4,60,12.5", 1, NULL, 0), 0);
	for (int i = 0; i < 60; i++)
		assert_int_equal(kg_drawtime_next(&d), 4 * MS);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(kg_drawtime_next(&d), 12500000);
	assert_int_equal(kg_drawtime_parse(&d, "steps:4,0,12", 1, NULL, 0), 0);
	assert_int_equal(kg_drawtime_next(&d), 12 * MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors_name_the_problem),
		cmocka_unit_test(test_fixed_gives_exactly_ms),
		cmocka_unit_test(test_jitter_mean_and_sd),
		cmocka_unit_test(test_jitter_is_bell_shaped),
		cmocka_unit_test(test_jitter_clamped_at_zero),
		cmocka_unit_test(test_same_seed_same_sequence),
		cmocka_unit_test(test_generator_is_splitmix64),
		cmocka_unit_test(test_spikes_frequency),
		cmocka_unit_test(test_steps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
