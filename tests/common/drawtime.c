// SPDX-License-Identifier: MIT
/* A synthetic guest's draw time from a spec string (see drawtime.h). */
#include "drawtime.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 3

struct kind_desc {
	const char *name;
	enum kg_draw_kind kind;
	unsigned n_args;
	const char *usage; /* shown when the arguments are wrong */
};

static const struct kind_desc kinds[] = {
	{ "fixed", KG_DRAW_FIXED, 1, "fixed:MS (e.g. fixed:5)" },
	{ "jitter", KG_DRAW_JITTER, 2, "jitter:MS,SD (e.g. jitter:8,2)" },
	{ "spikes", KG_DRAW_SPIKES, 3, "spikes:MS,LONG_MS,PROB (e.g. spikes:5,30,0.05)" },
	{ "steps", KG_DRAW_STEPS, 3, "steps:MS1,N1,MS2 (e.g. steps:4,60,12)" },
};

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double kg_drawtime_uniform(struct kg_drawtime *d)
{
	return (double)(splitmix64(&d->rng) >> 11) * 0x1p-53;
}

/* One comma-separated number: digits with an optional fraction (no sign,
 * exponent, hex, inf or nan: strtod would take them all). */
static bool parse_number(const char *s, size_t len, double *out)
{
	char buf[32], *end;
	bool digit = false;

	if (!len || len >= sizeof(buf))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digit = true;
		else if (s[i] != '.')
			return false;
	}
	memcpy(buf, s, len);
	buf[len] = 0;
	*out = strtod(buf, &end);
	return digit && *end == 0;
}

/* Splits "a,b,c" into at most MAX_ARGS numbers; returns how many, or -1. */
static int parse_args(const char *s, double *v)
{
	int n = 0;

	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (n == MAX_ARGS || !parse_number(s, len, &v[n]))
			return -1;
		n++;
		if (!comma)
			return n;
		s = comma + 1;
	}
}

static uint64_t ms_to_ns(double ms)
{
	return (uint64_t)(ms * 1e6 + 0.5);
}

/* Range checks per kind, then the fields. */
static int fill(struct kg_drawtime *d, const struct kind_desc *k, const double *v, const char *spec,
		char *err, size_t err_len)
{
	for (unsigned i = 0; i < k->n_args; i++) {
		bool is_prob = k->kind == KG_DRAW_SPIKES && i == 2;
		bool is_count = k->kind == KG_DRAW_STEPS && i == 1;

		if (is_prob && v[i] > 1.0)
			return fail(err, err_len, "draw spec '%s': PROB %g is not in 0..1", spec,
				    v[i]);
		if (is_count && (v[i] != (double)(uint64_t)v[i] || v[i] > 1e9))
			return fail(err, err_len, "draw spec '%s': N1 %g is not a frame count",
				    spec, v[i]);
		if (!is_prob && !is_count && v[i] > KG_DRAW_MAX_MS)
			return fail(err, err_len, "draw spec '%s': %g ms is more than %g ms", spec,
				    v[i], KG_DRAW_MAX_MS);
	}
	d->kind = k->kind;
	d->base_ns = ms_to_ns(v[0]);
	if (k->kind == KG_DRAW_JITTER)
		d->sd_ns = ms_to_ns(v[1]);
	if (k->kind == KG_DRAW_SPIKES) {
		d->other_ns = ms_to_ns(v[1]);
		d->prob = v[2];
	}
	if (k->kind == KG_DRAW_STEPS) {
		d->steps_n = (uint64_t)v[1];
		d->other_ns = ms_to_ns(v[2]);
	}
	return 0;
}

int kg_drawtime_parse(struct kg_drawtime *d, const char *spec, uint64_t seed, char *err,
		      size_t err_len)
{
	const char *colon = spec ? strchr(spec, ':') : NULL;
	double v[MAX_ARGS];

	*d = (struct kg_drawtime){ .kind = KG_DRAW_FIXED, .rng = seed };
	if (err_len)
		err[0] = 0;
	if (!colon)
		return fail(err, err_len,
			    "draw spec '%s': expected KIND:ARGS, KIND one of fixed, jitter, "
			    "spikes, steps",
			    spec ? spec : "");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const struct kind_desc *k = &kinds[i];
		int ret;

		if (strlen(k->name) != (size_t)(colon - spec) ||
		    strncmp(spec, k->name, (size_t)(colon - spec)))
			continue;
		if (parse_args(colon + 1, v) != (int)k->n_args)
			return fail(err, err_len,
				    "draw spec '%s': expected %s, times in ms as plain numbers",
				    spec, k->usage);
		ret = fill(d, k, v, spec, err, err_len);
		if (ret < 0)
			*d = (struct kg_drawtime){ .kind = KG_DRAW_FIXED, .rng = seed };
		return ret;
	}
	return fail(err, err_len,
		    "draw spec '%s': unknown kind '%.*s' (fixed, jitter, spikes or steps)", spec,
		    (int)(colon - spec), spec);
}

/* Standard normal, approximately: the sum of 12 uniforms on [0, 1) has mean
 * 6 and variance 1. No libm (kg-frames links static for any guest). */
static double std_normal(struct kg_drawtime *d)
{
	double sum = 0;

	for (int i = 0; i < 12; i++)
		sum += kg_drawtime_uniform(d);
	return sum - 6.0;
}

uint64_t kg_drawtime_next(struct kg_drawtime *d)
{
	uint64_t n = d->drawn++;
	double x;

	switch (d->kind) {
	case KG_DRAW_JITTER:
		x = (double)d->base_ns + std_normal(d) * (double)d->sd_ns;
		return x > 0 ? (uint64_t)(x + 0.5) : 0;
	case KG_DRAW_SPIKES:
		return kg_drawtime_uniform(d) < d->prob ? d->other_ns : d->base_ns;
	case KG_DRAW_STEPS:
		return n < d->steps_n ? d->base_ns : d->other_ns;
	case KG_DRAW_FIXED:
	default:
		return d->base_ns;
	}
}
