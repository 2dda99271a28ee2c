// SPDX-License-Identifier: MIT
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

static const char *log_prog = "kmsgate";
static enum kg_log_level log_level = KG_LOG_INFO;

static const char *const level_names[] = {
	[KG_LOG_SILENT] = "silent", [KG_LOG_ERROR] = "error", [KG_LOG_WARN] = "warn",
	[KG_LOG_INFO] = "info",	    [KG_LOG_DEBUG] = "debug",
};

void kg_log_init(const char *prog, enum kg_log_level level)
{
	if (prog)
		log_prog = prog;
	log_level = level;
}

enum kg_log_level kg_log_get_level(void)
{
	return log_level;
}

int kg_log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

void _kg_log(enum kg_log_level level, const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	if (level > log_level || level <= KG_LOG_SILENT)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "[%5lld.%03ld] %s %s: ", (long long)ts.tv_sec, ts.tv_nsec / 1000000,
		log_prog, level_names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
