/* SPDX-License-Identifier: MIT */
/*
 * kg_log: the one logging path of every kmsgate program and library.
 *
 * Messages go to stderr (journald picks them up under systemd) with a level
 * prefix. Libraries never print on their own: they log through here, and a
 * program chooses the threshold with kg_log_init().
 */
#ifndef KG_LOG_H
#define KG_LOG_H

#include <errno.h>
#include <string.h>

enum kg_log_level {
	KG_LOG_SILENT = 0,
	KG_LOG_ERROR,
	KG_LOG_WARN,
	KG_LOG_INFO,
	KG_LOG_DEBUG,
};

/* Sets the threshold and the program name printed before each message. */
void kg_log_init(const char *prog, enum kg_log_level level);
enum kg_log_level kg_log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int kg_log_level_parse(const char *name);

void _kg_log(enum kg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define kg_log(level, fmt, ...) _kg_log(level, fmt, ##__VA_ARGS__)
#define kg_err(fmt, ...)	_kg_log(KG_LOG_ERROR, fmt, ##__VA_ARGS__)
#define kg_warn(fmt, ...)	_kg_log(KG_LOG_WARN, fmt, ##__VA_ARGS__)
#define kg_info(fmt, ...)	_kg_log(KG_LOG_INFO, fmt, ##__VA_ARGS__)
#define kg_dbg(fmt, ...)	_kg_log(KG_LOG_DEBUG, fmt, ##__VA_ARGS__)
/* Appends ": <strerror(errno)>"; errno is read before anything else runs. */
#define kg_log_errno(level, fmt, ...)                                                     \
	do {                                                                              \
		int kg_log_errno_saved_ = errno;                                          \
		_kg_log(level, fmt ": %s", ##__VA_ARGS__, strerror(kg_log_errno_saved_)); \
		errno = kg_log_errno_saved_;                                              \
	} while (0)

#endif
